"""Robustness of an explanation: Max- and Avg-Sensitivity (Yeh et al., "On the (In)fidelity and
Sensitivity of Explanations", NeurIPS 2019). The explanation of the same class is recomputed on
copies of the image with uniform noise in a radius; how far it moves, relative to its size."""

from __future__ import annotations

from typing import Any

import numpy as np

from convviz.core.errors import InputError
from convviz.evaluate.explain import Explainer

__all__ = ["sensitivity", "unit_scaled"]


def unit_scaled(maps: np.ndarray) -> np.ndarray:
    """Each map divided by its largest absolute value (an all-zero map stays zero), as Quantus
    normalizes explanations before comparing them."""
    m = np.asarray(maps, np.float64)
    peak = np.abs(m.reshape(len(m), -1)).max(axis=1).reshape(-1, *([1] * (m.ndim - 1)))
    return np.divide(m, peak, out=np.zeros_like(m), where=peak > 0)


def sensitivity(
    model: Any,
    images: np.ndarray,
    explainer: Explainer,
    *,
    classes: np.ndarray,
    radius: float = 0.2,
    samples: int = 8,
    maps: np.ndarray | None = None,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Max- and Avg-Sensitivity per image: with ``e`` the image's map and ``e′`` the map of a
    copy with uniform noise in ±``radius`` × the images' value range (Quantus' default radius
    0.2), both scaled by their largest absolute value, the relative change ‖e − e′‖ / ‖e‖ over
    ``samples`` copies: its maximum and its mean. Lower is more robust; NaN for an all-zero map
    ``e``. The explainer runs once on all the copies (one batch per call); ``maps``: the images'
    maps ``e`` where they are already computed.

    Returns ``(max, avg)``, (N,) each."""
    x = np.asarray(images, np.float32)
    if x.ndim != 4 or samples < 1 or radius <= 0:
        raise InputError(f"images must be (N, H, W, C), samples ≥ 1 and radius > 0; got {x.shape}, {samples}, {radius}")
    classes = np.asarray(classes, int)
    span = float(x.max() - x.min()) or 1.0
    rng = np.random.default_rng(seed)
    noisy = x[None] + rng.uniform(-radius * span, radius * span, (samples, *x.shape)).astype(np.float32)
    base = unit_scaled(explainer(model, x, classes) if maps is None else maps)
    moved = unit_scaled(explainer(model, noisy.reshape(-1, *x.shape[1:]), np.tile(classes, samples)))
    moved = moved.reshape(samples, *base.shape)
    norm = np.sqrt((base**2).reshape(len(base), -1).sum(axis=1))
    dist = np.sqrt(((moved - base[None]) ** 2).reshape(samples, len(base), -1).sum(axis=2))
    rel = np.divide(dist, norm[None], out=np.full_like(dist, np.nan), where=norm[None] > 0)
    return rel.max(axis=0), rel.mean(axis=0)
