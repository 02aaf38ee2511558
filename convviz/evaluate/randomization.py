"""Randomization metrics: does an explanation depend on what it claims to explain?

- **RandomLogit** (Sixt et al., "When Explanations Lie", ICML 2020): the map of a random other
  class should differ from the map of the explained class (SSIM; lower is better).
- **Smooth MPRT** (Hedström et al., "Sanity Checks Revisited", 2023): the model parameter
  randomization test (Adebayo et al. 2018: re-initialize the layers from the top down, compare
  the maps with the trained model's) on maps averaged over noisy copies of the image, which
  removes the shattered-gradient noise that makes plain MPRT's correlations unstable. Its score
  is the mean rank correlation over the cascade's depths (lower: the maps follow the weights).
- **Efficient MPRT** (Hedström et al. 2024): the rise in the maps' complexity (discrete entropy
  of their values) from the trained to the fully randomized model; above 1, the randomized
  model's maps are noisier, as they should be (higher is better).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from convviz.core.errors import InputError
from convviz.evaluate.complexity import histogram_entropy
from convviz.evaluate.explain import Explainer
from convviz.evaluate.robustness import unit_scaled
from convviz.evaluate.sanity import cascade_steps, flat_per_map, spearman_per_map, ssim_per_map
from convviz.graph.reinit import reinitialized_weights, restored, weighted_layers

__all__ = ["random_logit", "smooth_mprt", "efficient_mprt", "mprt_scores", "cascade_maps"]


def random_logit(
    model: Any,
    images: np.ndarray,
    explainer: Explainer,
    *,
    classes: np.ndarray,
    num_classes: int,
    maps: np.ndarray | None = None,
    seed: int = 0,
) -> np.ndarray:
    """SSIM between each image's map for its class and its map for a random other class (drawn
    from ``seed``), both scaled by their largest absolute value; NaN where either map is
    constant. ``maps``: the images' maps for ``classes`` where they are already computed.
    Returns (N,)."""
    classes = np.asarray(classes, int)
    if num_classes < 2:
        raise InputError(f"RandomLogit needs at least 2 classes, got {num_classes}")
    rng = np.random.default_rng(seed)
    other = (classes + rng.integers(1, num_classes, len(classes))) % num_classes
    a = unit_scaled(explainer(model, images, classes) if maps is None else maps)
    b = unit_scaled(explainer(model, images, other))
    return np.where(flat_per_map(a) | flat_per_map(b), np.nan, ssim_per_map(a, b))


def cascade_maps(
    model: Any,
    images: np.ndarray,
    explainer: Explainer,
    *,
    classes: np.ndarray,
    depths: int | None = 4,
    samples: int = 1,
    noise: float = 0.0,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray, tuple[str, ...]]:
    """The maps of the trained model and at ``depths`` evenly spaced depths of the top-down
    randomization cascade (the last: every weighted layer re-initialized; ``None``: every
    depth), each the mean over ``samples`` copies of the images with Gaussian noise of
    ``noise`` × their value range. The model is re-initialized in place and set back. Returns
    ``(trained (N, H, W), randomized (depths, N, H, W), layers reached)``."""
    trained, randomized, names, _ = _cascade(
        model, images, explainer, classes=classes, depths=depths, samples=samples, noise=noise, seed=seed
    )
    return trained, randomized, names


def _cascade(
    model: Any,
    images: np.ndarray,
    explainer: Explainer,
    *,
    classes: np.ndarray,
    depths: int | None,
    samples: int,
    noise: float,
    seed: int,
    plain: bool = False,
) -> tuple[np.ndarray, np.ndarray, tuple[str, ...], np.ndarray | None]:
    """:func:`cascade_maps`, and with ``plain`` the maps of the clean images at the fully
    randomized model (explained in the same call as the last depth's noisy copies)."""
    x = np.asarray(images, np.float32)
    classes = np.asarray(classes, int)
    if samples < 1 or noise < 0:
        raise InputError(f"samples must be ≥ 1 and noise ≥ 0, got {samples} and {noise}")
    if depths is not None and depths < 1:
        raise InputError(f"depths must be at least 1 (or None: every layer), got {depths}")
    span = float(x.max() - x.min()) or 1.0
    rng = np.random.default_rng(seed)
    copies = x[None] + (rng.normal(0, noise * span, (samples, *x.shape)).astype(np.float32) if noise else 0)
    copies = np.broadcast_to(copies, (samples, *x.shape)).reshape(-1, *x.shape[1:])

    def smoothed(m: Any, *, with_plain: bool = False) -> tuple[np.ndarray, np.ndarray | None]:
        batch = np.concatenate([copies, x]) if with_plain else copies
        maps = np.asarray(explainer(m, batch, np.tile(classes, samples + with_plain)), np.float64)
        mean = maps[: len(copies)].reshape(samples, len(x), *maps.shape[1:]).mean(axis=0)
        return mean, (maps[len(copies) :] if with_plain else None)

    trained, _ = smoothed(model)
    names, out, last = [], [], None
    with restored(model):
        steps = weighted_layers(model)
        shown = cascade_steps(len(steps), depths)
        for k, (name, layer) in enumerate(steps):
            layer.set_weights(reinitialized_weights(layer, 10_007 * (seed + 1) + k))
            if k in shown:
                names.append(name)
                mean, last = smoothed(model, with_plain=plain and k == len(steps) - 1)
                out.append(mean)
    return trained, np.stack(out), tuple(names), last


def _entropy_ratio(trained: np.ndarray, randomized: np.ndarray) -> np.ndarray:
    before, after = histogram_entropy(trained), histogram_entropy(randomized)
    return np.divide(after, before, out=np.full(len(before), np.nan), where=before > 0)


def _rank_correlations(trained: np.ndarray, randomized: np.ndarray) -> np.ndarray:
    flat = flat_per_map(trained)
    return np.stack(
        [np.where(flat | flat_per_map(step), np.nan, spearman_per_map(trained, step)) for step in randomized]
    )


def mprt_scores(
    model: Any,
    images: np.ndarray,
    explainer: Explainer,
    *,
    classes: np.ndarray,
    depths: int = 4,
    samples: int = 4,
    noise: float = 0.1,
    maps: np.ndarray | None = None,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Smooth MPRT and Efficient MPRT from one cascade: the same values as
    :func:`smooth_mprt` and :func:`efficient_mprt` (whose fully randomized model is the
    cascade's last depth, drawn from the same seeds), for one re-initialization of the model
    and one explanation per depth. ``maps``: the clean images' maps at the trained model,
    where they are already computed. Returns ``(spearman (depths, N), entropy ratio (N,))``."""
    x = np.asarray(images, np.float32)
    trained, randomized, _, last = _cascade(
        model, x, explainer, classes=classes, depths=depths, samples=samples, noise=noise, seed=seed, plain=True
    )
    plain = np.asarray(explainer(model, x, np.asarray(classes, int)) if maps is None else maps, np.float64)
    assert last is not None  # plain=True
    return _rank_correlations(trained, randomized), _entropy_ratio(plain, last)


def smooth_mprt(
    model: Any,
    images: np.ndarray,
    explainer: Explainer,
    *,
    classes: np.ndarray,
    depths: int = 4,
    samples: int = 4,
    noise: float = 0.1,
    seed: int = 0,
) -> tuple[np.ndarray, tuple[str, ...]]:
    """Smooth MPRT: the rank correlation of each image's noise-averaged map with the trained
    model's at each depth of the cascade (:func:`cascade_maps`); NaN where either map is
    constant. Returns ``(spearman (depths, N), layers reached)``; its mean is the score (lower:
    the maps depend on the weights)."""
    trained, randomized, names = cascade_maps(
        model, images, explainer, classes=classes, depths=depths, samples=samples, noise=noise, seed=seed
    )
    return _rank_correlations(trained, randomized), names


def efficient_mprt(
    model: Any, images: np.ndarray, explainer: Explainer, *, classes: np.ndarray, seed: int = 0
) -> np.ndarray:
    """Efficient MPRT: per image, the discrete entropy of the fully randomized model's map over
    the trained model's (:func:`convviz.evaluate.complexity.histogram_entropy`); above 1 the
    randomized maps are more complex, as a map that explains the model's weights should become.
    NaN where the trained map is constant. Returns (N,)."""
    trained, randomized, _ = cascade_maps(model, images, explainer, classes=classes, depths=1, seed=seed)
    return _entropy_ratio(trained, randomized[-1])
