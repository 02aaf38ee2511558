"""Localization: does a heatmap point at the object? The pointing game and its energy version against ground-truth masks, and the chance-level maps to compare with."""

from __future__ import annotations

import numpy as np
from convviz.core.errors import InputError

__all__ = [
    "pointing_game",
    "energy_pointing_game",
    "relevance_mass",
    "relevance_rank",
    "center_baseline",
    "random_baseline",
]


def _check_maps_masks(heatmaps: np.ndarray, masks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    h = np.asarray(heatmaps, np.float64)
    m = np.asarray(masks).astype(bool)
    if h.ndim == 2:
        h, m = h[None], m[None] if m.ndim == 2 else m
    if h.ndim != 3 or h.shape != m.shape:
        raise InputError(f"heatmaps {h.shape} and masks {m.shape} must both be (N, H, W) of the same shape")
    if not np.all(np.isfinite(h)):
        raise InputError("heatmaps contain NaN or infinite values")
    return h, m


def pointing_game(heatmaps: np.ndarray, masks: np.ndarray, *, tolerance: int = 0) -> np.ndarray:
    """Per image: does the map's single maximum lie in the object mask? (Zhang et al. 2016)

    One point per map, as in the paper: when several pixels tie for the maximum, the
    point is one of them drawn uniformly at random, and the score is the *expected* hit,
    the share of the tied maxima inside the mask (computed exactly, no randomness). A map
    with a unique maximum scores 0 or 1; a constant map scores the mask's area fraction,
    the chance rate, never 1. ``tolerance`` (pixels) also accepts a maximum within that
    distance of the mask (Zhang et al. used 15 px at 224). An all-zero map counts as a miss.

    Returns
    -------
    np.ndarray
        float (N,) in [0, 1]; its mean is the pointing-game accuracy.
    """
    h, m = _check_maps_masks(heatmaps, masks)
    if tolerance < 0:
        raise InputError(f"tolerance must be >= 0, got {tolerance}")
    if tolerance:
        from scipy.ndimage import binary_dilation

        y, x = np.ogrid[-tolerance : tolerance + 1, -tolerance : tolerance + 1]
        disk = x * x + y * y <= tolerance * tolerance
        m = np.stack([binary_dilation(mi, structure=disk) for mi in m])
    hits = np.zeros(len(h))
    for i, (hi, mi) in enumerate(zip(h, m)):
        peak = hi.max()
        if peak <= 0:
            continue
        tied = hi == peak
        hits[i] = mi[tied].sum() / tied.sum()
    return hits


def energy_pointing_game(heatmaps: np.ndarray, masks: np.ndarray) -> np.ndarray:
    """Per image: the share of the map's (non-negative) mass inside the mask, in [0, 1].

    An all-zero map scores 0.
    """
    h, m = _check_maps_masks(heatmaps, masks)
    h = np.maximum(h, 0)
    total = h.sum(axis=(1, 2))
    inside = (h * m).sum(axis=(1, 2))
    return np.where(total > 0, inside / np.where(total > 0, total, 1), 0.0)


def relevance_mass(heatmaps: np.ndarray, masks: np.ndarray) -> np.ndarray:
    """Relevance Mass Accuracy (Arras et al. 2022): the share of each map's positive relevance
    inside its mask, in [0, 1] (the energy pointing game's measure, by the name the
    localisation family of Quantus uses). A uniform map scores the mask's area. Returns (N,)."""
    return energy_pointing_game(heatmaps, masks)


def relevance_rank(heatmaps: np.ndarray, masks: np.ndarray) -> np.ndarray:
    """Relevance Rank Accuracy (Arras et al. 2022): with K the mask's size in pixels, the share
    of the map's K most relevant pixels that lie in the mask, in [0, 1] (ties broken by pixel
    order). A random map scores the mask's area on average; an empty mask gives NaN. Returns (N,)."""
    h, m = _check_maps_masks(heatmaps, masks)
    flat, inside = h.reshape(len(h), -1), m.reshape(len(m), -1)
    out = np.full(len(h), np.nan)
    for i, (hi, mi) in enumerate(zip(flat, inside)):
        k = int(mi.sum())
        if k:
            top = np.argsort(-hi, kind="stable")[:k]
            out[i] = mi[top].mean()
    return out


def center_baseline(shape: tuple[int, int], n: int = 1, *, sigma: float = 0.25) -> np.ndarray:
    """A centered Gaussian map (sigma as a fraction of the size), the usual trivial baseline."""
    h, w = shape
    y, x = np.mgrid[0:h, 0:w]
    g = np.exp(-(((y - (h - 1) / 2) / (sigma * h)) ** 2 + ((x - (w - 1) / 2) / (sigma * w)) ** 2) / 2)
    return np.repeat(g[None], n, axis=0)


def random_baseline(shape: tuple[int, int], n: int = 1, *, seed: int = 0) -> np.ndarray:
    """Uniform random maps (a chance-level baseline)."""
    return np.random.default_rng(seed).random((n, *shape))
