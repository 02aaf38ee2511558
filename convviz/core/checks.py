"""Checks of user input shared by the public functions: clear errors, never NaN."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import keras
import numpy as np

from convviz.core import backend
from convviz.core.batches import run_batches
from convviz.core.errors import InputError

__all__ = ["check_images", "model_input_shape", "predict", "top_k"]


def model_input_shape(model: keras.Model) -> tuple[int | None, int | None, int | None]:
    """(height, width, channels) the model takes (None where free)."""
    shape = model.inputs[0].shape if getattr(model, "inputs", None) else None
    if shape is None or len(shape) != 4:
        raise InputError(
            f"model {model.name!r} must take images (batch, height, width, channels); "
            f"its input shape is {None if shape is None else tuple(shape)}"
        )
    return tuple(shape[1:])


def check_images(model: keras.Model, images: Any, *, exact_size: bool = False) -> np.ndarray:
    """Validate a batch of images for ``model``; returns float32 (N, H, W, C).

    A single image (H, W, C) is accepted and gets a batch dimension.
    """
    if getattr(model, "inputs", None) is not None and len(model.inputs) != 1:
        raise InputError(
            f"model {model.name!r} has {len(model.inputs)} inputs; convviz supports models with exactly one image input"
        )
    x = np.asarray(images)
    if x.dtype == object or not (np.issubdtype(x.dtype, np.floating) or np.issubdtype(x.dtype, np.integer)):
        raise InputError(f"images must be a numeric array, got dtype {x.dtype}")
    h, w, c = model_input_shape(model)
    if x.ndim == 3:
        x = x[None]
    if x.ndim != 4:
        raise InputError(
            f"images must have shape (N, height, width, channels) or (height, width, channels); got shape {x.shape}"
        )
    if len(x) == 0:
        raise InputError("images is empty (N = 0)")
    if c is not None and x.shape[-1] != c:
        raise InputError(
            f"model {model.name!r} expects {c} channel(s) per image, got {x.shape[-1]} (images shape {x.shape})"
        )
    if exact_size and ((h is not None and x.shape[1] != h) or (w is not None and x.shape[2] != w)):
        raise InputError(
            f"model {model.name!r} expects {h}×{w} images, got {x.shape[1]}×{x.shape[2]}; "
            "resize them first (convviz.resize_images)"
        )
    x = x.astype(np.float32, copy=False)
    if not np.all(np.isfinite(x)):
        bad = int(np.sum(~np.isfinite(x)))
        raise InputError(f"images contain {bad} NaN or infinite value(s)")
    return x


def predict(model: keras.Model, images: Any, *, batch_size: int = 64) -> np.ndarray:
    """The model's output (class probabilities for a classifier) for a batch of images,
    float32 (N, classes): checked input, compiled batches (the last padded so that one trace
    serves all), without Keras' progress output or its conversion warnings.

    ``convviz.predict(..., cache=True)`` keeps the outputs (every page of a model predicts its
    whole test set: with the cache, once per build).
    """
    if batch_size < 1:
        raise InputError(f"batch_size must be at least 1, got {batch_size}")
    x = check_images(model, images, exact_size=True)
    step = backend.cached_jit(model, ("predict",), lambda: lambda t: model(t, training=False))
    return run_batches(step, [x], batch_size=batch_size).astype(np.float32)


def top_k(probabilities: Any, class_names: Sequence[str], *, k: int = 5) -> list[list[tuple[str, float]]]:
    """The ``k`` most probable classes of each row of ``probabilities`` (N, classes), as
    ``(name, probability)`` pairs, most probable first (ImageNet's ``decode_predictions``
    for any model, offline)."""
    p = np.asarray(probabilities, dtype=np.float64)
    if p.ndim != 2:
        raise InputError(f"probabilities must be (N, classes), got shape {p.shape}")
    if len(class_names) != p.shape[1]:
        raise InputError(f"{len(class_names)} class names for {p.shape[1]} classes")
    if k < 1:
        raise InputError(f"k must be at least 1, got {k}")
    order = np.argsort(-p, axis=1, kind="stable")[:, :k]
    return [[(class_names[c], float(row[c])) for c in idx] for row, idx in zip(p, order)]
