"""How alike two layers' representations are, on the same images: linear CKA (Kornblith et al., 2019), computed whole or streamed over batches, on pooled features, and orthogonal Procrustes to align two embeddings."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from convviz.core.errors import InputError

__all__ = ["CKAStream", "cka", "pooled_features", "procrustes", "MAX_FEATURES"]


MAX_FEATURES = 2048


def _flat(a: Any, name: str) -> np.ndarray:
    x = np.asarray(a)
    if x.dtype == object or not (np.issubdtype(x.dtype, np.floating) or np.issubdtype(x.dtype, np.integer)):
        raise InputError(f"{name} must be a numeric array, got dtype {x.dtype}")
    if x.ndim < 2:
        raise InputError(f"{name} must be (N samples, features...), got shape {x.shape}")
    x = x.reshape(len(x), -1).astype(np.float64)
    if not np.all(np.isfinite(x)):
        raise InputError(f"{name} contains {int((~np.isfinite(x)).sum())} NaN or infinite value(s)")
    return x


def cka(a: np.ndarray, b: np.ndarray) -> float:
    """Linear CKA of two representations of the same N samples, in [0, 1].

    ``a`` (N, ...) and ``b`` (N, ...) are flattened per sample. CKA = ‖YᵀX‖²_F / (‖XᵀX‖_F ‖YᵀY‖_F)
    with X, Y centered per feature, which equals HSIC(K, L) / √(HSIC(K, K) HSIC(L, L)) for the
    linear Gram matrices K = XXᵀ, L = YYᵀ. 1 for identical representations; invariant to
    orthogonal transforms and isotropic scaling of either side, not to other linear maps.
    NaN when either side is constant over the samples (no variance: nothing to compare).
    The cheaper of the feature-space and Gram forms is used; both are exact.
    """
    x, y = _flat(a, "a"), _flat(b, "b")
    if len(x) != len(y):
        raise InputError(f"a and b must hold the same samples: {len(x)} rows vs {len(y)}")
    if len(x) < 2:
        raise InputError(f"CKA needs at least 2 samples, got {len(x)}")
    x = x - x.mean(axis=0)
    y = y - y.mean(axis=0)
    n, p, q = len(x), x.shape[1], y.shape[1]
    if p * q + p * p + q * q <= n * n * 3:
        cross = float(np.sum((x.T @ y) ** 2))
        xx, yy = float(np.linalg.norm(x.T @ x)), float(np.linalg.norm(y.T @ y))
    else:
        k, l_ = x @ x.T, y @ y.T
        cross, xx, yy = float(np.sum(k * l_)), float(np.linalg.norm(k)), float(np.linalg.norm(l_))
    return _ratio(cross, xx, yy)


def _ratio(cross: float, xx: float, yy: float) -> float:
    if xx <= 0 or yy <= 0:
        return float("nan")
    return float(min(max(cross / (xx * yy), 0.0), 1.0))


class CKAStream:
    """Linear CKA accumulated batch by batch: exact, memory independent of N.

    Keeps the feature-space cross products (p×p, q×q, p×q) of the data shifted by the first
    batch's mean (which leaves centered products unchanged and keeps them accurate), so the
    result equals :func:`cka` on all rows at once. Memory grows with the feature counts, not
    with the number of samples: reduce wide activations first (:func:`pooled_features`).
    """

    def __init__(self) -> None:
        self.n = 0
        self._shift: tuple[np.ndarray, np.ndarray] | None = None
        self._sums: list[np.ndarray] = []

    def update(self, a: np.ndarray, b: np.ndarray) -> CKAStream:
        """Add a batch: ``a`` (B, ...) and ``b`` (B, ...) for the same B samples."""
        x, y = _flat(a, "a"), _flat(b, "b")
        if len(x) != len(y):
            raise InputError(f"a and b must hold the same samples: {len(x)} rows vs {len(y)}")
        if self._shift is None:
            self._shift = (x.mean(axis=0), y.mean(axis=0))
            p, q = x.shape[1], y.shape[1]
            self._sums = [np.zeros(p), np.zeros(q), np.zeros((p, p)), np.zeros((q, q)), np.zeros((p, q))]
        elif x.shape[1] != len(self._shift[0]) or y.shape[1] != len(self._shift[1]):
            raise InputError(
                f"batch has {x.shape[1]} and {y.shape[1]} features; earlier batches had "
                f"{len(self._shift[0])} and {len(self._shift[1])}"
            )
        x, y = x - self._shift[0], y - self._shift[1]
        sx, sy, xx, yy, xy = self._sums
        sx += x.sum(axis=0)
        sy += y.sum(axis=0)
        xx += x.T @ x
        yy += y.T @ y
        xy += x.T @ y
        self.n += len(x)
        return self

    def value(self) -> float:
        """CKA of every row added so far."""
        if self.n < 2:
            raise InputError(f"CKA needs at least 2 samples, got {self.n}")
        sx, sy, xx, yy, xy = self._sums
        n = self.n
        cxy = xy - np.outer(sx, sy) / n
        cxx = xx - np.outer(sx, sx) / n
        cyy = yy - np.outer(sy, sy) / n
        return _ratio(float(np.sum(cxy**2)), float(np.linalg.norm(cxx)), float(np.linalg.norm(cyy)))


def _pool_edges(size: int, cells: int) -> list[tuple[int, int]]:
    return [(i * size // cells, max(-(-(i + 1) * size // cells), i * size // cells + 1)) for i in range(cells)]


def pooled_features(a: np.ndarray, *, max_features: int = MAX_FEATURES) -> np.ndarray:
    """A batch of activations as (B, features), at most ``max_features`` per image where the
    layer allows: (B, h, w, c) maps are averaged over the cells of the finest g×g grid
    (adaptive average pooling) with g·g·c ≤ ``max_features`` (g = 1: the channel means),
    and kept whole when h·w·c already fits; other shapes are flattened."""
    a = np.asarray(a, np.float64)
    if a.ndim != 4 or int(np.prod(a.shape[1:])) <= max_features:
        return a.reshape(len(a), -1)
    _, h, w, c = a.shape
    g = max(1, int(math.isqrt(max(max_features // c, 1))))
    gh, gw = min(g, h), min(g, w)
    cells = [a[:, r0:r1, c0:c1].mean(axis=(1, 2)) for r0, r1 in _pool_edges(h, gh) for c0, c1 in _pool_edges(w, gw)]
    return np.concatenate(cells, axis=1)


def procrustes(reference: np.ndarray, moving: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """Align ``moving`` (N, D2) to ``reference`` (N, D1) by orthogonal Procrustes.

    Both are centered and scaled to unit Frobenius norm (the narrower one padded with zero
    columns), then ``moving`` is rotated/reflected to best match. Returns the reference and
    the aligned points (both normalized, N × max(D1, D2)) and the disparity Σ‖r − m‖² in
    [0, 2] (0: the same configuration up to rotation, translation and scale).
    """
    r, m = _flat(reference, "reference"), _flat(moving, "moving")
    if len(r) != len(m):
        raise InputError(f"reference and moving must hold the same samples: {len(r)} rows vs {len(m)}")
    d = max(r.shape[1], m.shape[1])
    r = np.pad(r - r.mean(axis=0), ((0, 0), (0, d - r.shape[1])))
    m = np.pad(m - m.mean(axis=0), ((0, 0), (0, d - m.shape[1])))
    nr, nm = np.linalg.norm(r), np.linalg.norm(m)
    r, m = r / (nr or 1.0), m / (nm or 1.0)
    u, _, vt = np.linalg.svd(m.T @ r, full_matrices=False)
    aligned = m @ (u @ vt)
    return r, aligned, float(np.sum((r - aligned) ** 2))
