"""Several different visualizations of one unit: lucid's diversity term.

A unit of a deep layer often responds to several different things (a facet each); one
visualization shows one of them. lucid's ``diversity`` objective optimizes ``n_diverse`` images
of the unit together and penalizes how alike their *styles* are: the cosine between the Gram
matrices of the layer's activations (channels × channels, over positions) of every two images
of the group (Olah et al., "Feature Visualization", Distill 2017, "Diversity")::

    loss_i = objective_i − weight · Σ_{j ≠ i} cos(G_i, G_j) / n

with ``G_i = A_iᵀ A_i`` (A_i: the layer's activations of image i, positions × channels) and
the cosine the Frobenius inner product of the two L2-normalized Gram matrices. Summed over the
group this is lucid's ``channel − weight · diversity``. The images are optimized with the
robust recipe (:func:`convviz.optvis.ascent.fourier_ascent`: lucid's Fourier
parameterization, its transforms, Adam).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import keras
import numpy as np

from convviz.core.errors import InputError
from convviz.graph.layers import require_spatial
from convviz.graph.split import layer_output
from convviz.optvis import ascent as _ascent
from convviz.optvis.filters import (
    DEFAULT_LEARNING_RATES,
    checked_filter_indices,
    display_uint8,
    optimization_size,
)
from convviz.optvis.objectives import channel_maps

__all__ = [
    "DIVERSITY_WEIGHT",
    "DiversePatterns",
    "gram_cosines",
    "style_similarity",
    "visualize_diverse",
]

ops = keras.ops

# The weight of the diversity term, per unit of the unit's own scale: with ``data`` the term is
# multiplied by the unit's mean activation on those images, so one weight serves every model.
# Measured by benchmarks/bench_diversity.py on the deepest layer of shapes-cnn and
# shapes-xception (16 units × 4 images, 56 steps): at 0, 1, 1.5, 2, 3, 10 the four images' mean
# Gram cosine is .98/.95, .94/.83, .86/.74, .76/.61, .54/.44, .21/.11 and the share of images
# that still excite their unit more than its 9th best test image 100/100, 97/100, 95/95, 92/92,
# 75/84, 62/55%: 2 is the largest weight that keeps nine in ten above it.
DIVERSITY_WEIGHT = 2.0


def gram_cosines(acts: Any, n_diverse: int) -> Any:
    """Each image's diversity term: the mean cosine of its Gram matrix with those of the other
    images of its group (consecutive groups of ``n_diverse`` in the batch).

    Parameters
    ----------
    acts
        Backend tensor (B, h, w, C), B a multiple of ``n_diverse``.
    n_diverse
        Images per group.

    Returns
    -------
    Backend tensor (B,): ``Σ_{j ≠ i} <Ĝ_i, Ĝ_j> / n_diverse`` with ``Ĝ = G / ‖G‖_F``
    (lucid's ``l2_normalize``, epsilon 1e-10 on the squared norm).
    """
    shape = ops.shape(acts)
    c = shape[-1]
    flat = ops.reshape(acts, (-1, n_diverse, shape[1] * shape[2], c))
    grams = ops.einsum("gnpc,gnpd->gncd", flat, flat)
    sq = ops.sum(grams * grams, axis=(2, 3), keepdims=True)
    grams = grams / ops.sqrt(ops.maximum(sq, 1e-10))
    total = ops.sum(grams, axis=1, keepdims=True)  # Σ_j Ĝ_j of the group
    inner = ops.sum(grams * total, axis=(2, 3)) - ops.sum(grams * grams, axis=(2, 3))  # Σ_{j≠i}
    return ops.reshape(inner, (-1,)) / n_diverse


def style_similarity(model: keras.Model, layer: str, images: np.ndarray) -> float:
    """The mean Gram cosine between every two of ``images`` (n, H, W, C) at ``layer``: 1 when
    they are alike in style, lower the more they differ (the quantity the diversity term
    lowers)."""
    from convviz.core import backend as _backend

    n = len(images)
    if n < 2:
        raise InputError(f"style_similarity needs at least 2 images, got {n}")
    acts = layer_output(model, layer)(ops.convert_to_tensor(np.asarray(images, np.float32)))
    per_image = _backend.to_numpy(gram_cosines(acts, n))  # Σ_{j≠i} cos / n
    return float(per_image.sum() / (n - 1))


@dataclass(frozen=True)
class DiversePatterns:
    """The result of :func:`visualize_diverse`.

    Attributes
    ----------
    layer
        The layer.
    filters
        Unit (channel) indices (K,).
    images
        uint8 (K, n, H, W, C): each unit's ``n`` visualizations, border cropped, contrast
        stretched as the robust recipe's.
    raw
        float32 (K, n, h, w, C): the optimized inputs in (0, 1).
    losses
        float32 (K, n): each image's objective (the unit's mean activation, the chapter's
        2-pixel border dropped), the diversity term left out.
    similarity
        float32 (K,): the mean Gram cosine between every two of a unit's images (lower:
        more diverse).
    unexcited
        bool (K, n): images at which the unit does not fire (objective ≤ 0).
    weight
        The diversity weight used (in the objective's units).
    steps, seconds
        Adam steps and wall time.
    """

    layer: str
    filters: np.ndarray
    images: np.ndarray
    raw: np.ndarray
    losses: np.ndarray
    similarity: np.ndarray
    unexcited: np.ndarray
    weight: float
    steps: int
    seconds: float

    def __len__(self) -> int:
        return len(self.filters)


def visualize_diverse(
    model: keras.Model,
    layer: str,
    filters: int | Sequence[int] | np.ndarray = 4,
    *,
    n_diverse: int = 4,
    weight: float = DIVERSITY_WEIGHT,
    steps: int = 56,
    learning_rate: float | None = None,
    image_size: int | Sequence[int] | None = None,
    crop: int = 0,
    seed: int = 0,
    data: np.ndarray | None = None,
    batch_size: int | None = None,
    memory_budget_gb: float = 0.75,
    progress: bool = False,
) -> DiversePatterns:
    """``n_diverse`` different visualizations of each unit, optimized together with lucid's
    diversity term (see the module docstring; ``convviz.visualize_diverse(..., cache=True)``
    reuses a result computed with the same weights and arguments).

    Parameters
    ----------
    model, layer
        The model and a layer with a rank-4 output.
    filters
        A count (the first N units) or a sequence of unit indices.
    n_diverse
        Visualizations per unit (at least 2).
    weight
        The diversity term's weight; with ``data``, per unit of each unit's mean activation
        on those images (so that it is on the objective's scale on any model), else as is.
        0: ``n_diverse`` independent robust visualizations.
    steps, learning_rate
        Adam steps and step size (None: the robust recipe's 0.05).
    image_size, crop
        Optimization size (None: the model's input size) and the border cropped for display.
    seed
        Seed of the start spectra and the transforms.
    data
        Real images (N, H, W, C) in the model's input space that set the weight's scale.
    batch_size, memory_budget_gb
        Images per batch (a multiple of ``n_diverse``; None: what fits the budget).
    progress
        Show a progress bar.

    Returns
    -------
    DiversePatterns
    """
    if not isinstance(n_diverse, (int, np.integer)) or n_diverse < 2:
        raise InputError(f"n_diverse must be an integer of at least 2, got {n_diverse!r}")
    if not isinstance(steps, (int, np.integer)) or steps <= 0:
        raise InputError(f"steps must be a positive integer, got {steps!r}")
    if not (np.isfinite(weight) and weight >= 0):
        raise InputError(f"weight must be a finite number >= 0, got {weight!r}")
    lr = DEFAULT_LEARNING_RATES["robust"] if learning_rate is None else learning_rate
    if not lr > 0:
        raise InputError(f"learning_rate must be positive (or None for the robust recipe's), got {lr!r}")
    info = require_spatial(model, layer, "diverse visualizations need")
    channels = int(info.output_shape[-1])
    units = checked_filter_indices(filters, channels, info.name)
    size = optimization_size(model, image_size)
    if crop < 0 or size[0] - 2 * crop < 1 or size[1] - 2 * crop < 1:
        raise InputError(f"image of {size[0]}×{size[1]} pixels is too small to crop {crop} pixels from each side")
    scale = np.ones(channels, np.float32)
    if data is not None:
        scale = _mean_activation(model, info.name, data)
    in_channels = int(model.inputs[0].shape[-1] or 3)
    idx = np.repeat(units, n_diverse)
    fit = _ascent.batch_size_for(model, info.name, size, len(idx), batch_size, memory_budget_gb)
    bs = max(n_diverse, fit // n_diverse * n_diverse)
    weights = ops.convert_to_tensor((weight * scale).astype(np.float32))
    maps = _diverse_maps(model, info.name, channels, n_diverse, weights)
    rng = np.random.default_rng(seed)
    start = time.perf_counter()
    with _ascent.progress_bar(steps * -(-len(idx) // bs), "diverse visualizations", progress) as bar:
        raw, _ = _ascent.fourier_ascent(maps, idx, bs, size, in_channels, steps, lr, rng, bar=bar)
    losses = _ascent.final_objective(channel_maps(model, info.name, channels), raw, idx, bs)
    seconds = time.perf_counter() - start
    k = len(units)
    raw = raw.reshape(k, n_diverse, *raw.shape[1:])
    similarity = np.array([style_similarity(model, info.name, group) for group in raw], np.float32)
    images = np.stack([[display_uint8(r, crop) for r in group] for group in raw])
    losses = losses.reshape(k, n_diverse)
    return DiversePatterns(
        info.name,
        units,
        images,
        raw.astype(np.float32),
        losses.astype(np.float32),
        similarity,
        ~(losses > 0),
        float(weight),
        int(steps),
        seconds,
    )


def _diverse_maps(model: keras.Model, layer: str, channels: int, n_diverse: int, weights: Any) -> _ascent.Maps:
    """``fn(x, fidx) -> (B, h, w)``: each image's channel minus its diversity term (per
    position, so the ascent's mean over positions subtracts it once), weighted by its unit's
    entry of ``weights`` (C,)."""
    body = layer_output(model, layer)
    steer = channel_maps(model, layer, channels, redirect=True)  # units off at the start still move

    def maps(x: Any, fidx: Any) -> Any:
        a = body(x)
        chan = steer(x, fidx)
        w = ops.take(weights, fidx)
        return chan - ops.reshape(w * gram_cosines(a, n_diverse), (-1, 1, 1))

    return maps


def _mean_activation(model: keras.Model, layer: str, data: np.ndarray) -> np.ndarray:
    """Each channel's mean activation over ``data`` (positions and images), at least a small
    positive floor so that a silent unit keeps a non-zero weight."""
    from convviz.core.batches import run_batches
    from convviz.core.checks import check_images

    x = check_images(model, data, exact_size=True)
    body = layer_output(model, layer)
    means = run_batches(lambda xb: ops.mean(body(xb), axis=(1, 2)), [x.astype(np.float32)], batch_size=64)
    per_unit = np.abs(means).mean(axis=0)
    floor = max(float(per_unit.mean()) * 1e-2, 1e-6)
    return np.maximum(per_unit, floor).astype(np.float32)
