"""Non-negative factorization of a layer's activations into concepts (CRAFT's first step):
fit a bank of ``k`` non-negative concept vectors, measure how much of the activations it
reconstructs, choose the smallest ``k`` that reconstructs enough, and project new activation
vectors onto a fixed bank."""

from __future__ import annotations

import warnings

import numpy as np

from convviz.core.errors import InputError

__all__ = ["R2_GOAL", "MAX_CONCEPTS", "fit_bank", "choose_bank", "project_onto", "r2_score"]

R2_GOAL = 0.9  # the smallest k whose reconstruction reaches this R² is chosen
MAX_CONCEPTS = 10  # ... among k = 1 .. MAX_CONCEPTS


def _check(a: np.ndarray, what: str) -> np.ndarray:
    a = np.asarray(a, np.float64)
    if a.ndim != 2:
        raise InputError(f"{what} must be a 2-D array (vectors × channels), got shape {a.shape}")
    if not np.isfinite(a).all():
        raise InputError(f"{what} holds NaN or infinite values")
    if (a < 0).any():
        raise InputError(
            f"{what} has negative values (min {a.min():.3g}): a non-negative factorization needs the "
            "activations of a layer after a ReLU (or another non-negative activation)"
        )
    return a


def r2_score(a: np.ndarray, u: np.ndarray, w: np.ndarray) -> float:
    """R² of the reconstruction ``u @ w`` of ``a``: 1 − ‖a − uw‖² / ‖a − ā‖², with ā the
    mean vector (1: exact; 0: no better than the mean)."""
    a = np.asarray(a, np.float64)
    residual = float(((a - u @ w) ** 2).sum())
    total = float(((a - a.mean(axis=0)) ** 2).sum())
    return 1.0 - residual / total if total > 0 else float(residual == 0)


def fit_bank(a: np.ndarray, k: int, *, seed: int = 0, max_iter: int = 500) -> tuple[np.ndarray, np.ndarray]:
    """Factor ``a`` (n, c) ≈ ``u`` (n, k) @ ``w`` (k, c), both non-negative, with
    scikit-learn's NMF (coordinate descent, NNDSVDA start: deterministic for a seed), as
    CRAFT (Fel et al. 2023) does. Each row of ``w`` is scaled to unit length (``u`` takes the
    scale), so coefficients of different concepts compare. Returns ``(u, w)`` as float32."""
    from sklearn.decomposition import NMF
    from sklearn.exceptions import ConvergenceWarning

    a = _check(a, "activations")
    if not 1 <= k <= min(a.shape):
        raise InputError(f"k must be between 1 and {min(a.shape)} (vectors and channels), got {k}")
    with warnings.catch_warnings():  # the R² says how good the fit is
        warnings.simplefilter("ignore", ConvergenceWarning)
        nmf = NMF(n_components=k, init="nndsvda", solver="cd", max_iter=max_iter, random_state=seed, tol=1e-5)
        u = nmf.fit_transform(a)
    w = nmf.components_
    norm = np.linalg.norm(w, axis=1)
    norm[norm == 0] = 1.0
    return (u * norm).astype(np.float32), (w / norm[:, None]).astype(np.float32)


def choose_bank(
    a: np.ndarray, *, k: int | None = None, goal: float = R2_GOAL, max_k: int = MAX_CONCEPTS, seed: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The bank of ``k`` concepts, or, with ``k=None``, of the smallest ``k ≤ max_k`` whose R²
    reaches ``goal`` (``max_k`` when none does). Returns ``(u, w, r2)`` where ``r2[j]`` is the
    R² of ``k = j + 1`` for every ``k`` tried."""
    a = _check(a, "activations")
    if not a.any():
        raise InputError("the activations are all zero on these images: there is no concept to find at this layer")
    top = min(max_k, *a.shape) if k is None else k
    if top < 1:
        raise InputError(f"max_k must be at least 1, got {max_k}")
    tried: list[float] = []
    for j in range(1 if k is None else k, top + 1):
        u, w = fit_bank(a, j, seed=seed)
        tried.append(r2_score(a, u, w))
        if k is None and tried[-1] >= goal:
            break
    return u, w, np.asarray(tried, np.float32)


def project_onto(a: np.ndarray, w: np.ndarray, *, iterations: int = 200) -> np.ndarray:
    """Non-negative coefficients ``u`` with ``u @ w ≈ a`` for a fixed bank ``w`` (k, c): the
    non-negative least-squares problem of each row of ``a`` (n, c), solved for all rows at
    once by multiplicative updates (Lee & Seung 2001; they never leave u ≥ 0 and never raise
    the squared error). Returns (n, k) float32."""
    a = _check(a, "activations")
    w = _check(w, "the concept bank")
    if a.shape[1] != w.shape[1]:
        raise InputError(f"activations have {a.shape[1]} channels but the concept bank {w.shape[1]}")
    gram = w @ w.T
    target = a @ w.T
    u = np.maximum(target @ np.linalg.pinv(gram), 1e-6)  # the unconstrained solution, clipped
    for _ in range(iterations):
        u *= target / np.maximum(u @ gram, 1e-12)
    return u.astype(np.float32)
