"""ROAD: RemOve And Debias (Rong et al., "A Consistent and Efficient Evaluation Strategy for
Attribution Methods", ICML 2022).

Deletion with a constant (black) shifts the image out of the data distribution, and the
model's score falls for that reason as much as for the pixels' evidence. ROAD removes the
most (MoRF) or least (LeRF) relevant pixels at several levels and fills them by **noisy linear
imputation**: each removed pixel is the weighted mean of its 8 neighbours (weight 1/6 for the
four edge neighbours, 1/12 for the diagonal ones), the removed pixels solved together as one
sparse (banded) linear system per image, plus Gaussian noise (σ = 0.01), so that the filled region
carries no trace of the removal's shape. A faithful map: the score falls fast under MoRF and
slowly under LeRF; the ROAD score here is the mean gap LeRF − MoRF over the levels.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from convviz.core.errors import InputError

__all__ = ["LEVELS", "noisy_linear_impute", "road_curves", "road_score"]

LEVELS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)  # the paper's removal levels

_NEIGHBOURS = (
    ((1, 1), 1 / 12),
    ((0, 1), 1 / 6),
    ((-1, 1), 1 / 12),
    ((1, -1), 1 / 12),
    ((0, -1), 1 / 6),
    ((-1, -1), 1 / 12),
    ((1, 0), 1 / 6),
    ((-1, 0), 1 / 6),
)


# the neighbours after a pixel in raster order: each coupling of two removed pixels, once
_FORWARD = tuple(((dy, dx), weight) for (dy, dx), weight in _NEIGHBOURS if dy > 0 or (dy == 0 and dx > 0))


def _shift(dy: int, dx: int, h: int, w: int) -> tuple[tuple[slice, slice], tuple[slice, slice]]:
    """The slices of the pixels that have a neighbour at (dy, dx) inside the image, and of
    those neighbours."""
    rows, cols = slice(max(0, -dy), h - max(0, dy)), slice(max(0, -dx), w - max(0, dx))
    return (rows, cols), (slice(rows.start + dy, rows.stop + dy), slice(cols.start + dx, cols.stop + dx))


def _banded(diag: np.ndarray, pairs: list[tuple[np.ndarray, np.ndarray, float]], rhs: np.ndarray) -> np.ndarray:
    """The system is symmetric positive definite and, with the removed pixels in raster order,
    banded: a pixel couples only to removed pixels at most one image row (≤ w + 1 of them) away.
    ``pairs`` holds, per forward neighbour, the indices ``i < j`` of the removed pixels it couples
    and its weight. LAPACK's banded Cholesky on one BLAS thread solves ROAD's 64×64 masks 2.3×
    faster than SuperLU with a symmetric ordering on one thread, and faster than SuperLU's solves
    on two threads or the banded solve on two BLAS threads (measured; the matrices are too small
    to share)."""
    from scipy.linalg import solveh_banded

    band = max((int((j - i).max()) for i, j, _ in pairs if len(i)), default=0)
    upper = np.zeros((band + 1, len(diag)))
    upper[band] = diag
    for i, j, weight in pairs:
        upper[band - (j - i), j] = -weight
    return np.asarray(solveh_banded(upper, rhs, check_finite=False))


def noisy_linear_impute(images: np.ndarray, removed: np.ndarray, *, noise: float = 0.01, seed: int = 0) -> np.ndarray:
    """``images`` (N, H, W, C) with the pixels where ``removed`` (N, H, W) is True replaced by
    the noisy linear imputation of ROAD (see the module): the discrete harmonic interpolation
    of the kept pixels over the 8-neighbourhood, plus N(0, ``noise``²). A removed region with no
    kept pixel anywhere in the image is all noise around 0. Deterministic for a ``seed``.

    Everything but the solves is computed for all images at once on the pixel grid: each pixel's
    weighted sum of its kept neighbours (the right-hand side), its diagonal (the weights of its
    neighbours inside the image) and, per forward neighbour, the pairs of removed pixels it
    couples; then one banded solve per image."""
    x = np.asarray(images, np.float64)
    mask = np.asarray(removed, bool)
    if x.ndim != 4 or mask.shape != x.shape[:3]:
        raise InputError(f"images must be (N, H, W, C) and removed (N, H, W); got {x.shape} and {mask.shape}")
    if mask.all(axis=(1, 2)).any():
        raise InputError("removed covers a whole image: there is no pixel to impute from")
    from threadpoolctl import threadpool_limits

    n, h, w, _ = x.shape
    kept = np.where(mask[..., None], 0.0, x)
    rhs = np.zeros_like(x)
    diag = np.zeros((h, w))
    for (dy, dx), weight in _NEIGHBOURS:
        here, there = _shift(dy, dx, h, w)
        rhs[:, here[0], here[1]] += weight * kept[:, there[0], there[1]]
        diag[here] += weight
    index = np.cumsum(mask.reshape(n, -1), axis=1).reshape(n, h, w) - 1  # each removed pixel's row
    couples = []  # per forward neighbour: (image, i, j) of each coupled pair of removed pixels
    for (dy, dx), weight in _FORWARD:
        here, there = _shift(dy, dx, h, w)
        img, ys, xs = np.nonzero(mask[:, here[0], here[1]] & mask[:, there[0], there[1]])
        i = index[img, ys + here[0].start, xs + here[1].start]
        j = index[img, ys + there[0].start, xs + there[1].start]
        couples.append((np.searchsorted(img, np.arange(n + 1)), i, j, weight))
    rng = np.random.default_rng(seed)
    out = x.copy()
    with threadpool_limits(1, user_api="blas"):  # see _banded
        for k in range(n):
            where = mask[k]
            if not where.any():
                continue
            pairs = [(i[s[k] : s[k + 1]], j[s[k] : s[k + 1]], weight) for s, i, j, weight in couples]
            solved = _banded(diag[where], pairs, rhs[k][where])
            out[k][where] = solved + rng.normal(0.0, noise, solved.shape)
    return out.astype(np.float32)


def road_curves(
    model: Any,
    images: np.ndarray,
    maps: np.ndarray,
    *,
    class_index: int | Sequence[int] | np.ndarray | None = None,
    levels: Sequence[float] = LEVELS,
    noise: float = 0.01,
    seed: int = 0,
    batch_size: int = 64,
) -> tuple[np.ndarray, np.ndarray]:
    """The class probability after removing, at each level, the most relevant (MoRF) and the
    least relevant (LeRF) share of the pixels by ``maps`` (N, H, W), imputed by
    :func:`noisy_linear_impute`. Returns ``(morf, lerf)``, each (N, len(levels)). ``class_index``
    defaults to each image's predicted class."""
    from convviz.core.checks import predict

    x = np.asarray(images, np.float32)
    h = np.asarray(maps, np.float64)
    if x.ndim != 4 or h.shape != x.shape[:3]:
        raise InputError(f"images {x.shape} must be (N, H, W, C) and maps (N, H, W), got {h.shape}")
    if not levels or any(not 0 < p < 1 for p in levels):
        raise InputError(f"levels must be shares of the pixels strictly between 0 and 1, got {list(levels)}")
    n, hh, ww = h.shape
    classes = (
        predict(model, x, batch_size=batch_size).argmax(1)
        if class_index is None
        else np.broadcast_to(np.asarray(class_index), (n,)).astype(int)
    )
    rank = np.argsort(np.argsort(-h.reshape(n, -1), axis=1, kind="stable"), axis=1).reshape(n, hh, ww)
    tasks = []
    for k, p in enumerate(levels):
        count = int(round(p * hh * ww))
        tasks.append((rank < count, seed + 2 * k))  # MoRF: the most relevant gone
        tasks.append((rank >= hh * ww - count, seed + 2 * k + 1))  # LeRF: the least relevant gone
    filled = [noisy_linear_impute(x, removed, noise=noise, seed=s) for removed, s in tasks]
    probs = predict(model, np.concatenate(filled), batch_size=batch_size)
    scores = probs[np.arange(len(probs)), np.tile(classes, 2 * len(levels))].reshape(len(levels), 2, n)
    return scores[:, 0].T.astype(np.float32), scores[:, 1].T.astype(np.float32)


def road_score(morf: np.ndarray, lerf: np.ndarray) -> np.ndarray:
    """Per image, the mean over the levels of LeRF − MoRF: how much more the score keeps when
    the least relevant pixels go than when the most relevant go (0: the map orders nothing;
    higher is more faithful). Returns (N,)."""
    morf, lerf = np.atleast_2d(morf), np.atleast_2d(lerf)
    if morf.shape != lerf.shape:
        raise InputError(f"morf {morf.shape} and lerf {lerf.shape} must have the same shape")
    return (lerf - morf).mean(axis=1)
