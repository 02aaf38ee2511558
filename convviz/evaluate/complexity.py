"""Complexity of an explanation map: how concentrated its relevance is. Sparseness, the Gini
index of the absolute relevance (Chalasani et al. 2020), and Complexity, the entropy of each
pixel's share of it (Bhatt et al. 2020); and the discrete entropy of a map's values, which
Efficient MPRT compares before and after randomization (Hedström et al. 2024)."""

from __future__ import annotations

import numpy as np

from convviz.core.errors import InputError

__all__ = ["sparseness", "complexity", "histogram_entropy"]


def _flat(maps: np.ndarray) -> np.ndarray:
    a = np.asarray(maps, np.float64)
    if a.ndim < 2:
        raise InputError(f"maps must be (N, H, W) or (N, ...) with one map per row, got shape {a.shape}")
    if not np.isfinite(a).all():
        raise InputError("maps contain NaN or infinite values")
    return np.abs(a.reshape(len(a), -1))


def sparseness(maps: np.ndarray) -> np.ndarray:
    """Gini index of each map's absolute values (Chalasani et al. 2020; Quantus' Sparseness):

        G = Σᵢ (2i − n − 1) aᵢ / (n Σᵢ aᵢ),   a sorted ascending, i = 1 … n,

    0 for a uniform map, (n − 1) / n for a map with one non-zero pixel: higher is sparser.
    NaN for an all-zero map. Returns (N,)."""
    a = np.sort(_flat(maps), axis=1)
    n = a.shape[1]
    i = np.arange(1, n + 1)
    total = a.sum(axis=1)
    g = ((2 * i - n - 1) * a).sum(axis=1)
    return np.divide(g, n * total, out=np.full(len(a), np.nan), where=total > 0)


def complexity(maps: np.ndarray) -> np.ndarray:
    """Entropy of each pixel's share of the absolute relevance, pᵢ = |aᵢ| / Σ|a| (Bhatt et al.
    2020; Quantus' Complexity), in nats: 0 for one pixel, log n for a uniform map; lower is
    simpler. NaN for an all-zero map. Returns (N,)."""
    a = _flat(maps)
    total = a.sum(axis=1, keepdims=True)
    p = np.divide(a, total, out=np.zeros_like(a), where=total > 0)
    h = -(p * np.log(np.where(p > 0, p, 1))).sum(axis=1)
    return np.where(total[:, 0] > 0, h, np.nan)


def histogram_entropy(maps: np.ndarray, *, bins: int = 100) -> np.ndarray:
    """Discrete entropy (nats) of the histogram of each map's values scaled to [0, 1] by its
    range (``bins`` equal bins): 0 for a constant map, log(bins) at most (values spread evenly).
    Efficient MPRT's complexity measure. Returns (N,)."""
    a = np.asarray(maps, np.float64).reshape(len(maps), -1)
    lo, hi = a.min(axis=1, keepdims=True), a.max(axis=1, keepdims=True)
    span = np.where(hi > lo, hi - lo, 1)
    idx = np.minimum(((a - lo) / span * bins).astype(int), bins - 1)
    counts = np.bincount((idx + bins * np.arange(len(a))[:, None]).ravel(), minlength=len(a) * bins)
    p = counts.reshape(len(a), bins) / a.shape[1]
    return -(p * np.log(np.where(p > 0, p, 1))).sum(axis=1)
