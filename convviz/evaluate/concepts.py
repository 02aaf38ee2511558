"""Evidence for concepts (:mod:`convviz.represent.concepts`): does removing the concepts ranked
most important cost the class more than removing random ones; does the most important
concept's map fall on the object; which concepts of different classes are alike."""

from __future__ import annotations

from typing import Any

import numpy as np

from convviz.core.errors import InputError
from convviz.represent.concepts import Concepts, concept_logits

__all__ = ["SIMILAR", "MATTERS", "removal_test", "mask_mass", "similar_concepts"]

SIMILAR = 0.8  # cosine of two concept vectors above which two classes share a concept
MATTERS = 0.05  # Sobol index from which a concept counts as one its class uses


def removal_test(
    model: Any, result: Concepts, images: np.ndarray, *, n: int = 3, draws: int = 8, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """The class logit's drop when the ``n`` most important concepts are removed, and its mean
    drop over ``draws`` random sets of ``n`` concepts (seeded), per image; both relative to the
    logit of the reconstruction with every concept. With ``n ≥ k``, ``n`` becomes ``k − 1``
    (removing all concepts is the same set every time). Returns ``(top, random)``, (N,) each."""
    k = result.k
    n = min(n, k - 1)
    if n < 1:
        raise InputError(f"a removal test needs at least 2 concepts, the result has {k}")
    rng = np.random.default_rng(seed)
    masks = np.ones((2 + draws, k), np.float32)
    masks[1, :n] = 0  # concepts are sorted by importance
    for d in range(draws):
        masks[2 + d, rng.choice(k, n, replace=False)] = 0
    logits = concept_logits(model, result, images, masks)
    scale = np.maximum(np.abs(logits[:, 0]), 1e-6)
    top = (logits[:, 0] - logits[:, 1]) / scale
    rand = (logits[:, :1] - logits[:, 2:]).mean(axis=1) / scale
    return top.astype(np.float32), rand.astype(np.float32)


def mask_mass(maps: np.ndarray, masks: np.ndarray) -> np.ndarray:
    """The share of each map's mass (N, H, W, non-negative) inside its object mask (N, H, W);
    NaN for an all-zero map. A uniform map's share is the mask's area."""
    maps, masks = np.asarray(maps, np.float64), np.asarray(masks, bool)
    if maps.shape != masks.shape:
        raise InputError(f"maps {maps.shape} and masks {masks.shape} must have the same shape")
    total = maps.sum(axis=(1, 2))
    inside = (maps * masks).sum(axis=(1, 2))
    return np.divide(inside, total, out=np.full(len(maps), np.nan), where=total > 0)


def similar_concepts(
    banks: dict[int, np.ndarray],
    *,
    threshold: float = SIMILAR,
    importance: dict[int, np.ndarray] | None = None,
    min_importance: float = MATTERS,
) -> dict[tuple[int, int], list[tuple[int, int, float]]]:
    """For each (class, concept), the concepts of *other* classes whose vector has a cosine
    ≥ ``threshold`` with it: ``[(other class, its concept, cosine), ...]``, most similar first.

    With ``importance`` (each class's Sobol indices), only concepts with an index ≥
    ``min_importance`` take part, on both sides: non-negative activation vectors all point
    into one orthant, and the parts every class has (the background) are alike in every
    class; a shared concept that matters is one both classes use."""
    unit = {c: b / np.maximum(np.linalg.norm(b, axis=1, keepdims=True), 1e-12) for c, b in banks.items()}

    def used(c: int, i: int) -> bool:
        return importance is None or float(importance[c][i]) >= min_importance

    out: dict[tuple[int, int], list[tuple[int, int, float]]] = {}
    for c, b in unit.items():
        for i, row in enumerate(b):
            found = [
                (d, int(j), float(cos))
                for d, other in unit.items()
                if d != c and used(c, i)
                for j, cos in enumerate(other @ row)
                if cos >= threshold and used(d, j)
            ]
            out[(c, i)] = sorted(found, key=lambda t: -t[2])
    return out
