"""Faithfulness: does the model's score follow the map? Deletion and insertion curves (RISE, Petsiuk et al., 2018) and their area."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import keras
import numpy as np

from convviz.core.checks import predict
from convviz.core.image import blurred
from convviz.core.errors import InputError

__all__ = ["deletion_curve", "insertion_curve", "auc", "confidence_change"]


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


def confidence_change(
    model: Any,
    images: np.ndarray,
    maps: np.ndarray,
    *,
    class_index: int | Sequence[int] | np.ndarray | None = None,
    batch_size: int = 64,
) -> tuple[np.ndarray, np.ndarray]:
    """Average Drop and Increase in Confidence (Chattopadhay et al. 2018, as torchcam reports
    them), per image: the image is multiplied by its map scaled to [0, 1] (by its maximum; a
    negative value counts as 0), and the class probability Y of the image is compared with O of
    the explanation-masked image.

    Returns ``(drop, increase)``: ``max(0, Y − O) / Y`` (lower is more faithful: the map keeps
    what the class needs; its mean × 100 is the Average Drop) and whether ``O > Y`` (its mean
    × 100 is the Increase in Confidence), each (N,). An all-zero map masks out the whole image.
    ``class_index`` defaults to each image's predicted class."""
    x = np.asarray(images, np.float32)
    h = np.maximum(np.asarray(maps, np.float32), 0)
    if x.ndim != 4 or h.shape != x.shape[:3]:
        raise InputError(f"images {x.shape} must be (N, H, W, C) and maps (N, H, W), got {h.shape}")
    peak = h.reshape(len(h), -1).max(axis=1)
    scale = np.divide(h, peak[:, None, None], out=np.zeros_like(h), where=peak[:, None, None] > 0)
    probs = _predict(model, np.concatenate([x, x * scale[..., None]]), batch_size)
    n = len(x)
    classes = probs[:n].argmax(1) if class_index is None else np.broadcast_to(np.asarray(class_index), (n,)).astype(int)
    y, o = probs[np.arange(n), classes], probs[n + np.arange(n), classes]
    drop = np.maximum(0.0, y - o) / np.maximum(y, 1e-12)
    return drop.astype(np.float32), o > y
