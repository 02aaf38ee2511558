"""Class visualizations: the input that maximizes a class's score (the logit, before the
softmax), by the robust recipe or MaCo, one class per image of the batch."""

from __future__ import annotations

import time
from collections.abc import Sequence

import keras
import numpy as np

from convviz.optvis import ascent as _ascent
from convviz.optvis.filters import (
    DEFAULT_LEARNING_RATES,
    FilterPatterns,
    checked_filter_indices,
    display_uint8,
    ops,
    optimization_size,
)
from convviz.core.errors import InputError
from convviz.graph.cost import fitting_batch
from convviz.optvis.param import maco_spectrum

CLASS_RECIPES = ("robust", "maco")

__all__ = ["CLASS_RECIPES", "visualize_classes"]


def visualize_classes(
    model: keras.Model,
    classes: int | Sequence[int] | np.ndarray,
    *,
    steps: int = 128,
    recipe: str = "robust",
    data: np.ndarray | None = None,
    image_size: int | Sequence[int] | None = None,
    crop: int | None = None,
    seed: int = 0,
    batch_size: int | None = None,
    progress: bool = False,
) -> FilterPatterns:
    """The input that maximizes each class's score, by the robust recipe or MaCo (cached as
    :func:`visualize_filters`).

    The objective is the class score before the output's softmax or sigmoid (the logit:
    maximizing a probability would also push the other classes down), optimized like
    ``visualize_filters(..., recipe=...)``: ``"robust"``, a decorrelated Fourier image under
    random jitter, scale and rotation, Adam with learning rate 0.05; ``"maco"``, the phase of a
    spectrum whose magnitude is that of ``data``, under the same transforms.

    Parameters
    ----------
    model
        A classifier with one output (its last layer's softmax or sigmoid is removed).
    classes
        A count (the first N classes) or class indices.
    steps
        Adam steps.
    recipe
        ``"robust"`` or ``"maco"`` (:data:`CLASS_RECIPES`).
    data
        Real images (N, H, W, C) in the model's input space: the ``maco`` recipe's magnitude
        spectrum is their mean (required there; unused by ``"robust"``).
    image_size
        int or (height, width); None: the model's input size.
    crop
        Border cropped from the shown image; None: a sixteenth of the size.
    seed, batch_size, progress
        As for :func:`visualize_filters`.

    Returns
    -------
    FilterPatterns
        ``layer`` is ``"logits"``; ``filters`` the class indices, ``losses`` each class's
        score on its image; ``dead`` is all False; ``transparency`` MaCo's map (``"maco"``).
    """
    from convviz.graph.split import class_scores

    if not isinstance(steps, (int, np.integer)) or steps <= 0:
        raise InputError(f"steps must be a positive integer, got {steps!r}")
    if recipe not in CLASS_RECIPES:
        raise InputError(f"unknown class recipe {recipe!r}; valid: {', '.join(CLASS_RECIPES)}")
    if recipe == "maco" and data is None:
        raise InputError("recipe 'maco' fixes the magnitude spectrum to that of real images: pass data=")
    n_classes = model.outputs[0].shape[-1] if getattr(model, "outputs", None) else None
    if n_classes is None or len(model.outputs[0].shape) != 2:
        raise InputError(
            f"model {model.name!r} must output class scores (batch, classes); its output shape "
            f"is {None if not getattr(model, 'outputs', None) else tuple(model.outputs[0].shape)}"
        )
    idx = checked_filter_indices(classes, int(n_classes), "the output")
    size = optimization_size(model, image_size)
    crop = size[0] // 16 if crop is None else crop
    if crop < 0 or size[0] - 2 * crop < 1 or size[1] - 2 * crop < 1:
        raise InputError(f"image of {size[0]}×{size[1]} pixels is too small to crop {crop} pixels from each side")
    scores = class_scores(model)
    total = int(n_classes)

    def maps(x: object, fidx: object) -> object:
        s = scores(x)
        return ops.reshape(ops.sum(s * ops.one_hot(fidx, total, dtype=s.dtype), axis=1), (-1, 1, 1))

    in_channels = int(model.inputs[0].shape[-1] or 3)
    if batch_size is None:  # 16 images, fewer where their activations would not fit in memory
        batch_size = fitting_batch(model, 16, cap=16, size=(int(size[0]), int(size[1])))
    bs = max(1, min(int(batch_size), len(idx)))
    rng = np.random.default_rng(seed)
    start = time.perf_counter()
    transparency = None
    with _ascent.progress_bar(steps * -(-len(idx) // bs), f"classes ({recipe})", progress) as bar:
        if recipe == "maco":
            magnitude, colors = maco_spectrum(np.asarray(data, np.float32), (int(size[0]), int(size[1])))
            raw, _, transparency = _ascent.maco_ascent(
                maps, idx, bs, size, magnitude, steps, DEFAULT_LEARNING_RATES["maco"], rng, colors=colors, bar=bar
            )
        else:
            raw, _ = _ascent.fourier_ascent(
                maps, idx, bs, size, in_channels, steps, DEFAULT_LEARNING_RATES["robust"], rng, bar=bar
            )
    losses = _ascent.final_objective(maps, raw, idx, bs)
    images = np.stack([display_uint8(r, crop) for r in raw])
    none = np.zeros(len(idx), bool)
    return FilterPatterns(
        "logits",
        recipe,
        idx,
        images,
        raw.astype(np.float32),
        losses.astype(np.float32),
        none,
        ~np.isfinite(losses),
        np.array(["gray"] * len(idx), dtype="<U5"),
        time.perf_counter() - start,
        steps,
        0.0,
        transparency,
    )
