"""Units: the receptive field of a layer, and the dataset images that excite each unit most.

A *unit* is one channel of a convolutional layer (OpenAI Microscope's "neuron" of a
channel objective). :func:`dataset_examples` ranks real images by each unit's maximum
activation and crops every example to the unit's receptive field around that maximum;
:func:`receptive_field` reads that field from the model's graph."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import keras
import numpy as np

from convviz.core import backend as _backend
from convviz.core.batches import run_batches
from convviz.core.checks import check_images
from convviz.graph.fields import receptive_field
from convviz.graph.split import forward, layer_output
from convviz.graph.layers import require_spatial
from convviz.core.errors import InputError
from convviz.represent.activations import never_fires

if TYPE_CHECKING:
    from convviz.graph.fields import ReceptiveField


__all__ = ["DatasetExamples", "dataset_examples", "dataset_examples_of_layers", "to_uint8"]


@dataclass(frozen=True)
class DatasetExamples:
    """The images that excite each unit of a layer most.

    Attributes
    ----------
    layer
        The layer's address.
    units
        Channel index of each row, (U,).
    indices
        Image indices, (U, k) int, by decreasing activation (ties: the lower index first).
    values
        Each unit's maximum activation over the positions of that image, (U, k) float32.
    locations
        (row, column) of that maximum in the layer's output, (U, k, 2) int.
    crops
        uint8 (U, k, h, w, C): each example cropped to the unit's receptive field around its
        maximum, or None when ``crop=False``.
    maxima
        Every image's maximum activation per unit, (N, U) float32: the distribution a
        histogram of the unit shows, and "dead on data" (never above zero).
    field
        The layer's :class:`ReceptiveField`, or None when the crops were not asked for.
    """

    layer: str
    units: np.ndarray
    indices: np.ndarray
    values: np.ndarray
    locations: np.ndarray
    crops: np.ndarray | None
    maxima: np.ndarray
    field: ReceptiveField | None

    @property
    def dead(self) -> np.ndarray:
        """Per unit: True when it is never above zero on any image (:func:`never_fires`)."""
        return never_fires(self.maxima)


def to_uint8(images: np.ndarray, *, value_range: tuple[float, float] | None = None) -> np.ndarray:
    """Images in a model's input space shown as uint8: [0, 1] is scaled by 255, [0, 255] kept,
    any other range stretched from the set's minimum to its maximum.

    ``value_range``: the (min, max) of the whole set when ``images`` is a part of it (crops
    of a few images are shown like the set)."""
    x = np.asarray(images, dtype=np.float32)
    lo, hi = value_range if value_range is not None else (float(x.min()), float(x.max()))
    if lo >= 0 and hi <= 1:
        x = x * 255
    elif not (lo >= 0 and hi <= 255):
        x = (x - lo) / max(hi - lo, 1e-12) * 255
    return np.clip(np.round(x), 0, 255).astype(np.uint8)


def dataset_examples(
    model: keras.Model,
    layer: str,
    images: np.ndarray,
    *,
    k: int = 9,
    units: Sequence[int] | None = None,
    crop: bool = True,
    batch_size: int = 64,
    display: Callable[[np.ndarray], np.ndarray] | None = None,
) -> DatasetExamples:
    """The ``k`` images that excite each unit (channel) of ``layer`` most.

    One pass over ``images`` per layer, all units together, a batch at a time: only each
    image's maximum (and where it is) per unit is kept, never the layer's activations for
    the whole set.

    ``convviz.dataset_examples(..., cache=True)`` reuses a result computed with the same
    weights, images and arguments (with the default ``display``).

    Parameters
    ----------
    model
        A Functional or Sequential model.
    layer
        A layer with a spatial (batch, height, width, channels) output.
    images
        float32 (N, H, W, C) in the model's input space, e.g. the test split.
    k
        Examples per unit (at most N).
    units
        Channel indices; None: every channel of the layer.
    crop
        Also return each example cropped to the unit's receptive field around its maximum
        (needs :func:`receptive_field`).
    batch_size
        Images per forward pass.
    display
        Maps the images to uint8 for the crops; default :func:`to_uint8`.

    Returns
    -------
    DatasetExamples
    """
    info = require_spatial(model, layer, "dataset examples need")
    x = check_images(model, images)
    channels = int(info.output_shape[-1])
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise InputError(f"k must be a positive integer, got {k!r}")
    if k > len(x):
        raise InputError(f"k = {k} is larger than the number of images ({len(x)}): use k <= {len(x)}")
    chosen = np.arange(channels) if units is None else np.asarray(list(units), dtype=np.int64).reshape(-1)
    if chosen.size == 0:
        raise InputError(f"units is empty: pass channel indices in 0..{channels - 1} or None for all")
    bad = chosen[(chosen < 0) | (chosen >= channels)]
    if bad.size:
        raise InputError(
            f"unit indices {bad.tolist()} are out of range: layer {info.name!r} has "
            f"{channels} channels, valid indices 0..{channels - 1}"
        )
    field = receptive_field(model, info.name) if crop else None

    arrays = _examples(model, info.name, int(info.output_shape[2]), channels, x, k, chosen, field, batch_size, display)
    return _from_arrays(info.name, chosen, arrays, field if crop else None)


def _from_arrays(
    layer: str, units: np.ndarray, arrays: dict[str, np.ndarray], field: ReceptiveField | None
) -> DatasetExamples:
    """The examples of ``units`` of ``layer`` from their (cached) arrays; crops with ``field``."""
    return DatasetExamples(
        layer=layer,
        units=units,
        indices=arrays["indices"],
        values=arrays["values"],
        locations=arrays["locations"],
        crops=arrays["crops"] if field is not None else None,
        maxima=arrays["maxima"],
        field=field,
    )


def _examples(
    model: keras.Model,
    layer: str,
    width: int,
    channels: int,
    x: np.ndarray,
    k: int,
    chosen: np.ndarray,
    field: ReceptiveField | None,
    batch_size: int,
    display: Callable[[np.ndarray], np.ndarray] | None,
) -> dict[str, np.ndarray]:
    step = _backend.cached_jit(model, ("layer", layer), lambda: layer_output(model, layer))
    every = len(chosen) == channels and bool(np.all(chosen == np.arange(channels)))
    stats = run_batches(step, [x], batch_size=batch_size, post=lambda a: _reduce(a, None if every else chosen))
    return _finish(stats, width, x, k, field, display)


def _reduce(a: np.ndarray, chosen: np.ndarray | None = None) -> np.ndarray:
    """A batch of a layer's outputs (B, H, W, C) reduced to each image's maximum per unit and
    its flat position: (B, 2, U)."""
    a = a.reshape(a.shape[0], -1, a.shape[-1])
    if chosen is not None:
        a = a[..., chosen]
    where = a.argmax(axis=1)  # the first maximum: row-major order decides ties
    best = np.take_along_axis(a, where[:, None, :], axis=1)[:, 0]
    return np.stack([best, where.astype(np.float64)], axis=1)


def _finish(
    stats: np.ndarray,
    width: int,
    x: np.ndarray,
    k: int,
    field: ReceptiveField | None,
    display: Callable[[np.ndarray], np.ndarray] | None,
) -> dict[str, np.ndarray]:
    """The examples of a layer's units from its per-image maxima and positions (N, 2, U)."""
    maxima = stats[:, 0].astype(np.float32)
    where = stats[:, 1].astype(np.int64)
    units = maxima.shape[1]
    order = np.argsort(-maxima, axis=0, kind="stable")[:k].T  # (U, k): stable, so ties keep the lower index
    rows = np.arange(units)[:, None]
    values = maxima[order, rows]
    flat = where[order, rows]
    locations = np.stack([flat // width, flat % width], axis=-1)
    crops = None
    if field is not None:
        needed = np.unique(order)  # only the images shown are converted
        if display is None:
            span = (float(x.min()), float(x.max()))
            shown = to_uint8(x[needed], value_range=span)
        else:
            shown = np.asarray(display(x[needed]))
        row_of = {int(i): r for r, i in enumerate(needed)}
        h, w = x.shape[1], x.shape[2]
        ch, cw = min(field.size[0], h), min(field.size[1], w)
        crops = np.zeros((units, k, ch, cw, shown.shape[-1]), np.uint8)
        for u in range(units):
            for j in range(k):
                rs, cs = field.window(int(locations[u, j, 0]), int(locations[u, j, 1]), h, w)
                crops[u, j] = shown[row_of[int(order[u, j])], rs, cs]
    out: dict[str, np.ndarray] = {
        "indices": order.astype(np.int64),
        "values": values,
        "locations": locations.astype(np.int64),
        "maxima": maxima,
    }
    if crops is not None:
        out["crops"] = crops
    return out


LAYERS_PASS_BYTES = 256 * 2**20  # the outputs of one batch of a several-layer pass, at most


def dataset_examples_of_layers(
    model: keras.Model,
    layers: Sequence[str],
    images: np.ndarray,
    *,
    k: int = 9,
    crop: bool = True,
    batch_size: int = 64,
) -> dict[str, DatasetExamples]:
    """:func:`dataset_examples` of every unit of several layers, from one pass over ``images``.

    One compiled function computes all the layers (a deep network's layers one at a time
    traced the network again for each), in batches whose outputs stay under
    :data:`LAYERS_PASS_BYTES` (``convviz.dataset_examples_of_layers(..., cache=True)`` keeps
    the result).

    Returns
    -------
    dict
        Layer name (as given) to its :class:`DatasetExamples`.
    """
    x = check_images(model, images)
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise InputError(f"k must be a positive integer, got {k!r}")
    if k > len(x):
        raise InputError(f"k = {k} is larger than the number of images ({len(x)}): use k <= {len(x)}")
    infos = {name: require_spatial(model, name, "dataset examples need") for name in layers}
    fields = {name: receptive_field(model, info.name) if crop else None for name, info in infos.items()}
    every = _layers_stats(model, list(infos.values()), list(infos), x, batch_size)
    return {
        name: _from_arrays(
            info.name,
            np.arange(int(info.output_shape[-1])),
            _finish(every[name], int(info.output_shape[2]), x, k, fields[name], None),
            fields[name],
        )
        for name, info in infos.items()
    }


def _layers_stats(
    model: keras.Model, infos: Sequence[Any], names: list[str], x: np.ndarray, batch_size: int
) -> dict[str, np.ndarray]:
    """Per-image maxima and positions (N, 2, C) of several layers from one compiled pass."""
    resolved = [info.name for info in infos]
    per_image = sum(4 * math.prod(int(d) for d in info.output_shape[1:]) for info in infos)
    bs = max(1, min(batch_size, LAYERS_PASS_BYTES // max(per_image, 1)))
    step = _backend.cached_jit(model, ("layers", tuple(resolved)), lambda: lambda t: forward(model, t, resolved)[1])
    stats = run_batches(step, [x], batch_size=bs, post=_reduce)
    return {name: stats[r] for name, r in zip(names, resolved)}
