"""Units: the receptive field of a layer, and the dataset images that excite each unit most.

A *unit* is one channel of a convolutional layer (OpenAI Microscope's "neuron" of a
channel objective). :func:`dataset_examples` ranks real images by each unit's maximum
activation and crops every example to the unit's receptive field around that maximum;
:func:`receptive_field` reads that field from the model's graph.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import keras
import numpy as np

from convviz import _backend
from convviz._batches import run_batches
from convviz.layers import _function, _is_graph_model, _nodes, forward, layer_output, require_spatial
from convviz.validation import check_images

if TYPE_CHECKING:
    from convviz.cache import Cache

__all__ = [
    "ReceptiveField",
    "DatasetExamples",
    "receptive_field",
    "dataset_examples",
    "dataset_examples_of_layers",
    "to_uint8",
]


@dataclass(frozen=True)
class ReceptiveField:
    """Where a layer's units look in the input image, per spatial axis (rows, columns).

    Unit ``i`` along an axis sees the input pixels centred on ``offset + i * jump`` and
    spanning ``size`` pixels (``size`` counts pixels outside the image when the layer pads).

    Attributes
    ----------
    size
        Receptive-field size in input pixels, (rows, columns).
    jump
        Input pixels between two neighbouring units (the product of the strides), (rows, columns).
    offset
        Input pixel index of the centre of unit 0's field, (rows, columns); negative when
        padding puts it outside the image, ``x.5`` when the field has an even size.
    """

    size: tuple[int, int]
    jump: tuple[int, int]
    offset: tuple[float, float]

    def window(self, row: int, col: int, height: int, width: int) -> tuple[slice, slice]:
        """The crop of a ``height``×``width`` image around unit (``row``, ``col``): the field,
        clipped to the image size and shifted inside the image (every crop of a layer has
        the same shape)."""
        out = []
        for center, size, jump, offset, limit in zip((row, col), self.size, self.jump, self.offset, (height, width)):
            size = min(size, limit)
            middle = offset + center * jump
            lo = int(math.floor(middle - (size - 1) / 2 + 1e-9))
            lo = min(max(lo, 0), limit - size)
            out.append(slice(lo, lo + size))
        return out[0], out[1]


# A field per axis: (size, jump, start) with start the centre of unit 0 in pixel indices;
# _Undefined carries why a layer has none.
_Axis = tuple[float, float, float]


@dataclass(frozen=True)
class _Undefined:
    reason: str


_POINTWISE = (
    "InputLayer",
    "Activation",
    "ReLU",
    "LeakyReLU",
    "PReLU",
    "ELU",
    "Softmax",
    "BatchNormalization",
    "LayerNormalization",
    "GroupNormalization",
    "UnitNormalization",
    "Rescaling",
    "Normalization",
    "Dropout",
    "SpatialDropout2D",
    "GaussianNoise",
    "GaussianDropout",
    "AlphaDropout",
    "ActivityRegularization",
    "Add",
    "Subtract",
    "Multiply",
    "Average",
    "Maximum",
    "Minimum",
    "Concatenate",
    "Identity",
)
_CONVS = ("Conv2D", "SeparableConv2D", "DepthwiseConv2D")
_POOLS = ("MaxPooling2D", "AveragePooling2D")


def _pair(value: Any) -> tuple[int, int]:
    if isinstance(value, int):
        return value, value
    return int(value[0]), int(value[1])


def _spatial(tensor: Any) -> tuple[Any, Any] | None:
    shape = tuple(tensor.shape)
    return (shape[1], shape[2]) if len(shape) == 4 else None


def _sliding(
    field: tuple[_Axis, _Axis],
    op: Any,
    kernel: tuple[int, int],
    strides: tuple[int, int],
    dilation: tuple[int, int],
    in_size: tuple[Any, Any],
) -> tuple[_Axis, _Axis] | _Undefined:
    out = []
    for (r, j, start), k, s, d, n in zip(field, kernel, strides, dilation, in_size):
        k_eff = d * (k - 1) + 1
        if op.padding == "same":
            if n is None and s > 1:
                return _Undefined(
                    f"layer {op.name!r} pads 'same' with stride {s} on an input of "
                    "unknown size (give the model a fixed input size)"
                )
            if n is None:
                pad = (k_eff - 1) // 2
            else:
                pad = max((-(-n // s) - 1) * s + k_eff - n, 0) // 2
        else:
            pad = 0
        out.append((r + (k_eff - 1) * j, j * s, start + ((k_eff - 1) / 2 - pad) * j))
    return out[0], out[1]


def _merge(fields: list[Any], out_size: tuple[Any, Any] | None, op: Any) -> Any:
    """The union of the fields a layer's inputs see; an input broadcast from 1×1 (a global
    context such as a squeeze-and-excitation branch) is left out."""
    defined = [f for f in fields if not isinstance(f[0], _Undefined)]
    broadcast = [f for f in defined if f[1] == (1, 1) and out_size not in (None, (1, 1))]
    spatial = [f[0] for f in defined if f not in broadcast]
    undefined = [f[0] for f in fields if isinstance(f[0], _Undefined)]
    if undefined:
        return undefined[0]
    if not spatial:
        return _Undefined(f"layer {op.name!r} has no spatial input")
    axes = []
    for axis in range(2):
        jumps = {f[axis][1] for f in spatial}
        if len(jumps) > 1:
            return _Undefined(f"layer {op.name!r} merges inputs with different strides {sorted(jumps)}")
        lo = min(f[axis][2] - (f[axis][0] - 1) / 2 for f in spatial)
        hi = max(f[axis][2] + (f[axis][0] - 1) / 2 for f in spatial)
        axes.append((hi - lo + 1, spatial[0][axis][1], (lo + hi) / 2))
    return axes[0], axes[1]


def _layer_field(op: Any, inputs: list[tuple[Any, Any]], out_size: tuple[Any, Any] | None) -> Any:
    kind = type(op).__name__
    if out_size is None:
        return _Undefined(f"layer {op.name!r} ({kind}) has no spatial output")
    first, in_size = inputs[0]
    if isinstance(first, _Undefined) and kind not in _POINTWISE:
        return first
    if kind in _CONVS:
        return _sliding(first, op, _pair(op.kernel_size), _pair(op.strides), _pair(op.dilation_rate), in_size)
    if kind in _POOLS:
        return _sliding(first, op, _pair(op.pool_size), _pair(op.strides), (1, 1), in_size)
    if kind == "ZeroPadding2D":
        (top, _), (left, _) = op.padding
        return tuple((r, j, s - p * j) for (r, j, s), p in zip(first, (top, left)))
    if kind == "Cropping2D":
        (top, _), (left, _) = op.cropping
        return tuple((r, j, s + c * j) for (r, j, s), c in zip(first, (top, left)))
    if kind in _POINTWISE:
        return _merge(inputs, out_size, op)
    why = {
        "GlobalAveragePooling2D": "global pooling",
        "GlobalMaxPooling2D": "global pooling",
        "Resizing": "a resize",
        "UpSampling2D": "an upsampling",
        "Conv2DTranspose": "a transposed convolution",
        "MultiHeadAttention": "attention",
        "Attention": "attention",
        "Reshape": "a reshape",
        "Flatten": "a flatten",
        "Dense": "a dense layer",
    }.get(kind)
    if why:
        return _Undefined(
            f"it comes after {why} ({op.name!r}), where every unit sees the whole input or no fixed window"
        )
    return _Undefined(
        f"layer {op.name!r} is a {kind}, whose receptive field convviz does not know "
        f"(it knows {', '.join(_CONVS + _POOLS)}, ZeroPadding2D, Cropping2D and element-wise layers)"
    )


def _walk(model: keras.Model, field: Any, prefix: str, found: dict[str, Any]) -> Any:
    """Fields of every layer of ``model`` (nested ones as ``outer/inner``) given the field of
    its input; returns the field of its output."""
    fn = _function(model)
    fields: dict[int, tuple[Any, Any]] = {id(fn.inputs[0]): (field, _spatial(fn.inputs[0]))}
    for node in _nodes(model):
        op = node.operation
        inputs = [fields[id(t)] for t in node.input_tensors if id(t) in fields]
        if not inputs:
            continue
        out_size = _spatial(node.outputs[0]) if node.outputs else None
        if _is_graph_model(op):
            result = _walk(op, inputs[0][0], prefix + op.name + "/", found)
        else:
            result = _layer_field(op, inputs, out_size)
        found[prefix + op.name] = result
        for ref in node.outputs:
            fields[id(ref)] = (result, _spatial(ref))
    return fields.get(id(fn.outputs[0]), (_Undefined("the output is not reached"), None))[0]


def receptive_field(model: keras.Model, layer: str) -> ReceptiveField:
    """The receptive field of ``layer``'s units in ``model``'s input, read from the graph.

    Convolutions (with stride, dilation, 'same' or 'valid' padding; separable and depthwise
    ones), max and average pooling, zero padding and cropping change the field; element-wise
    layers (activations, normalization, additions, concatenation) pass it on, and merges
    take the union of their inputs' fields. Nested models are entered.

    Raises
    ------
    ValueError
        When the layer has no spatial output, or its field is undefined because it comes
        after global pooling, a resize, attention or a layer convviz does not know (the
        message names that layer).
    """
    info = require_spatial(model, layer, "a receptive field needs")
    one: _Axis = (1.0, 1.0, 0.0)
    found: dict[str, Any] = {}
    _walk(model, (one, one), "", found)
    field = found[info.name]
    if isinstance(field, _Undefined):
        raise ValueError(f"the receptive field of layer {info.name!r} is undefined: {field.reason}")
    return ReceptiveField(
        size=(int(field[0][0]), int(field[1][0])),
        jump=(int(field[0][1]), int(field[1][1])),
        offset=(float(field[0][2]), float(field[1][2])),
    )


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
        """Per unit: True when it is never above zero on any image."""
        return ~np.any(self.maxima > 0, axis=0)


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
    cache: Cache | bool | None = None,
) -> DatasetExamples:
    """The ``k`` images that excite each unit (channel) of ``layer`` most.

    One pass over ``images`` per layer, all units together, a batch at a time: only each
    image's maximum (and where it is) per unit is kept, never the layer's activations for
    the whole set.

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
    cache
        ``True`` (the default cache) or a :class:`convviz.cache.Cache`: reuse a result
        computed with the same weights, images and arguments (only with the default
        ``display``).

    Returns
    -------
    DatasetExamples
    """
    info = require_spatial(model, layer, "dataset examples need")
    x = check_images(model, images)
    channels = int(info.output_shape[-1])
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise ValueError(f"k must be a positive integer, got {k!r}")
    if k > len(x):
        raise ValueError(f"k = {k} is larger than the number of images ({len(x)}): use k <= {len(x)}")
    chosen = np.arange(channels) if units is None else np.asarray(list(units), dtype=np.int64).reshape(-1)
    if chosen.size == 0:
        raise ValueError(f"units is empty: pass channel indices in 0..{channels - 1} or None for all")
    bad = chosen[(chosen < 0) | (chosen >= channels)]
    if bad.size:
        raise ValueError(
            f"unit indices {bad.tolist()} are out of range: layer {info.name!r} has "
            f"{channels} channels, valid indices 0..{channels - 1}"
        )
    field = receptive_field(model, info.name) if crop else None

    def compute() -> dict[str, np.ndarray]:
        return _examples(
            model, info.name, int(info.output_shape[2]), channels, x, k, chosen, field, batch_size, display
        )

    if display is None:
        from convviz import cache as _cache

        arrays = _cache.memo(
            cache,
            "dataset_examples",
            compute,
            code=("units",),
            key=lambda: dict(
                model=_cache.model_digest(model),
                images=_cache.array_digest(x),
                layer=info.name,
                k=k,
                units=chosen.tolist(),
                crop=crop,
            ),
        )
    else:
        arrays = compute()
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
    cache: Cache | bool | None = None,
) -> dict[str, DatasetExamples]:
    """:func:`dataset_examples` of every unit of several layers, from one pass over ``images``.

    One compiled function computes all the layers (a deep network's layers one at a time
    traced the network again for each), in batches whose outputs stay under
    :data:`LAYERS_PASS_BYTES`; only the layers not found in ``cache`` are computed, and each
    is stored as :func:`dataset_examples` stores it (the same entry serves both).

    Returns
    -------
    dict
        Layer name (as given) to its :class:`DatasetExamples`.
    """
    x = check_images(model, images)
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise ValueError(f"k must be a positive integer, got {k!r}")
    if k > len(x):
        raise ValueError(f"k = {k} is larger than the number of images ({len(x)}): use k <= {len(x)}")
    infos = {name: require_spatial(model, name, "dataset examples need") for name in layers}
    fields = {name: receptive_field(model, info.name) if crop else None for name, info in infos.items()}
    pending: dict[str, np.ndarray] = {}
    left = list(infos)

    def stats(name: str) -> np.ndarray:
        if name not in pending:  # the first layer not cached: every layer still to come in one pass
            todo = [n for n in left if n not in pending]
            pending.update(_layers_stats(model, [infos[n] for n in todo], todo, x, batch_size))
        return pending.pop(name)

    from convviz import cache as _cache

    digests: dict[str, str] = {}

    def digest(what: str, make: Callable[[], str]) -> str:
        if what not in digests:
            digests[what] = make()
        return digests[what]

    out = {}
    for name, info in infos.items():
        channels = int(info.output_shape[-1])
        field = fields[name]

        def compute(name: str = name, info: Any = info, field: ReceptiveField | None = field) -> dict[str, np.ndarray]:
            return _finish(stats(name), int(info.output_shape[2]), x, k, field, None)

        def key(info: Any = info, channels: int = channels) -> dict[str, Any]:
            return dict(
                model=digest("model", lambda: _cache.model_digest(model)),
                images=digest("images", lambda: _cache.array_digest(x)),
                layer=info.name,
                k=k,
                units=list(range(channels)),
                crop=crop,
            )

        arrays = _cache.memo(cache, "dataset_examples", compute, code=("units",), key=key)
        left.remove(name)
        pending.pop(name, None)
        out[name] = _from_arrays(info.name, np.arange(channels), arrays, field)
    return out


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
