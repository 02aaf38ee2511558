"""Faithfulness: does the model's score follow the map? Deletion and insertion curves (RISE, Petsiuk et al., 2018) and their area."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import keras
import numpy as np

from convviz.core.checks import predict
from convviz.core.image import blurred
from convviz.core.errors import InputError

__all__ = ["deletion_curve", "insertion_curve", "auc"]


def _predict(model: Any, x: np.ndarray, batch_size: int) -> np.ndarray:
    if isinstance(model, keras.Model):
        return predict(model, x, batch_size=batch_size)
    return model.predict(x, batch_size=batch_size, verbose=0)  # any object with Keras' predict


def _scores(model: keras.Model, x: np.ndarray, classes: np.ndarray, batch_size: int) -> np.ndarray:
    probs = _predict(model, x, batch_size)
    return probs[np.arange(len(x)), classes]


def _curve(
    model: Any,
    images: np.ndarray,
    heatmaps: np.ndarray,
    class_index: Any,
    steps: int,
    batch_size: int,
    insertion: bool,
    baseline: float | str | np.ndarray,
) -> np.ndarray:
    x = np.asarray(images, np.float32)
    h = np.asarray(heatmaps, np.float64)
    if x.ndim != 4 or h.shape != x.shape[:3]:
        raise InputError(f"images {x.shape} must be (N, H, W, C) and heatmaps (N, H, W), got {h.shape}")
    if steps < 1:
        raise InputError(f"steps must be at least 1, got {steps}")
    n, hh, ww = h.shape
    if class_index is None:
        classes = _predict(model, x, batch_size).argmax(1)
    else:
        classes = np.broadcast_to(np.asarray(class_index), (n,)).astype(int)
    if isinstance(baseline, str):
        if baseline != "blur":
            raise InputError(f"baseline must be a number, an array like the images, or 'blur'; got {baseline!r}")
        base = blurred(x)
    elif np.isscalar(baseline):
        base = np.full_like(x, baseline)
    else:
        base = np.broadcast_to(np.asarray(baseline, np.float32), x.shape)
    order = np.argsort(-h.reshape(n, -1), axis=1, kind="stable")  # most important first
    counts = np.linspace(0, hh * ww, steps + 1).round().astype(int)
    curve = np.zeros((n, steps + 1))
    for j, k in enumerate(counts):
        keep = np.zeros((n, hh * ww), bool)
        rows = np.repeat(np.arange(n), k)
        keep[rows, order[:, :k].ravel()] = True
        keep = keep.reshape(n, hh, ww, 1)
        xs = np.where(keep, x, base) if insertion else np.where(keep, base, x)
        curve[:, j] = _scores(model, xs, classes, batch_size)
    return curve


def deletion_curve(
    model: keras.Model,
    images: np.ndarray,
    heatmaps: np.ndarray,
    *,
    class_index: int | Sequence[int] | None = None,
    steps: int = 16,
    baseline: float | str | np.ndarray = 0.0,
    batch_size: int = 64,
) -> np.ndarray:
    """Class probability as the most important pixels (by heatmap) are removed first
    (replaced by ``baseline``: a value, an array like the images, or ``"blur"``).

    Returns (N, steps + 1): column 0 is the intact image, the last column all pixels
    replaced. A faithful map makes it fall fast (low :func:`auc`). RISE (Petsiuk et al.
    2018) deletes to black, the default here. ``convviz.deletion_curve(..., cache=True)``
    reuses a curve computed with the same weights, images, maps and options (Keras models).
    """
    return _curve(model, images, heatmaps, class_index, steps, batch_size, False, baseline)


def insertion_curve(
    model: keras.Model,
    images: np.ndarray,
    heatmaps: np.ndarray,
    *,
    class_index: int | Sequence[int] | None = None,
    steps: int = 16,
    baseline: float | str | np.ndarray = "blur",
    batch_size: int = 64,
) -> np.ndarray:
    """Class probability as the most important pixels are inserted first into a start
    image: by default a blurred copy (:func:`blurred`), as in RISE, so that the curve
    measures the evidence of the pixels and not the shock of a blank image. A faithful
    map makes it rise fast (high :func:`auc`); cached as :func:`deletion_curve`."""
    return _curve(model, images, heatmaps, class_index, steps, batch_size, True, baseline)


def auc(curve: np.ndarray) -> np.ndarray:
    """Area under curves sampled evenly on [0, 1] (trapezoid rule), per row."""
    c = np.atleast_2d(np.asarray(curve, np.float64))
    return ((c[:, 1:] + c[:, :-1]) / 2).mean(axis=1)
