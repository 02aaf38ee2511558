"""The model-randomization sanity check (Adebayo et al., 2018): a map that does not change when the model's weights are re-drawn, top layer first, explains the image, not the model."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import keras
import numpy as np

from convviz.evaluate.explain import explain
from convviz.graph.reinit import reinitialized_weights, restored, weighted_layers
from convviz.core.errors import InputError

__all__ = [
    "cascade_steps",
    "is_flat",
    "flat_per_map",
    "ssim",
    "ssim_per_map",
    "spearman",
    "spearman_per_map",
    "RandomizationResult",
    "randomization_check",
    "PASS_THRESHOLD",
]


def spearman_per_map(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Spearman rank correlation of each pair of maps ``a[i]``, ``b[i]`` (ties get average ranks;
    0 where either map is constant), all pairs at once. Returns (N,)."""
    from scipy.stats import rankdata

    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if a.shape != b.shape or a.ndim < 2:
        raise InputError(f"spearman_per_map needs two stacks of maps of the same shape, got {a.shape} and {b.shape}")
    ra = rankdata(a.reshape(len(a), -1), axis=1)
    rb = rankdata(b.reshape(len(b), -1), axis=1)
    ra -= ra.mean(axis=1, keepdims=True)
    rb -= rb.mean(axis=1, keepdims=True)
    den = np.sqrt((ra * ra).sum(axis=1) * (rb * rb).sum(axis=1))
    return np.divide((ra * rb).sum(axis=1), den, out=np.zeros(len(a)), where=den > 0)


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman rank correlation of two maps (ties get average ranks); 0 when one is constant."""
    return float(spearman_per_map(np.asarray(a)[None], np.asarray(b)[None])[0])


def ssim_per_map(a: np.ndarray, b: np.ndarray, *, data_range: float = 1.0, sigma: float = 1.5) -> np.ndarray:
    """Structural similarity (Gaussian window, Wang et al. 2004 constants) of each pair of 2-D
    maps ``a[i]``, ``b[i]`` of two (N, H, W) stacks, all pairs at once. Returns (N,)."""
    from scipy.ndimage import gaussian_filter

    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if a.shape != b.shape or a.ndim != 3:
        raise InputError(f"ssim_per_map needs two (N, H, W) stacks of the same shape, got {a.shape} and {b.shape}")

    def blur(v: np.ndarray) -> np.ndarray:
        return np.asarray(gaussian_filter(v, sigma, axes=(1, 2)))

    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    mu_a, mu_b = blur(a), blur(b)
    saa = blur(a * a) - mu_a**2
    sbb = blur(b * b) - mu_b**2
    sab = blur(a * b) - mu_a * mu_b
    num = (2 * mu_a * mu_b + c1) * (2 * sab + c2)
    den = (mu_a**2 + mu_b**2 + c1) * (saa + sbb + c2)
    return np.asarray((num / den).mean(axis=(1, 2)))


def ssim(a: np.ndarray, b: np.ndarray, *, data_range: float = 1.0, sigma: float = 1.5) -> float:
    """Structural similarity of two 2-D maps (Gaussian window, Wang et al. 2004 constants)."""
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape or a.ndim != 2:
        raise InputError(f"ssim needs two 2-D maps of the same shape, got {a.shape} and {b.shape}")
    return float(ssim_per_map(a[None], b[None], data_range=data_range, sigma=sigma)[0])


PASS_THRESHOLD = 0.5


"""A method passes the randomization check when the mean rank correlation of its maps with
the trained model's falls below this once every weighted layer is re-initialized: closer
to "unrelated" (0) than to "identical" (1). Adebayo et al. (2018) found Grad-CAM near 0 and
Guided Backprop well above 0.5 at that point; the threshold separates those two outcomes."""


@dataclass(frozen=True)
class RandomizationResult:
    """Cascading model randomization: similarity of maps to the original at each step.

    Attributes
    ----------
    layers
        Step k re-initializes every weighted layer from the top of the model down to
        ``layers[k]`` (inclusive); without ``checkpoints`` there is one step per layer.
    spearman, ssim
        (steps, N) per step and image: similarity to the trained model's map; NaN where
        either map is degenerate.
    degenerate
        (steps, N) bool: the trained model's map or the randomized one is constant (all
        zero, or flat): there is nothing to compare, which is reported, never a pass.
    method
        The CAM method tested.
    """

    method: str
    layers: tuple[str, ...]
    spearman: np.ndarray
    ssim: np.ndarray
    degenerate: np.ndarray
    threshold: ClassVar[float] = PASS_THRESHOLD

    def final_spearman(self) -> float:
        """Mean rank correlation over the non-degenerate maps once every layer is
        randomized (NaN when all of them are degenerate)."""
        last = self.spearman[-1][~self.degenerate[-1]]
        return float(last.mean()) if len(last) else float("nan")

    def degenerate_share(self) -> float:
        """The share of images whose map is degenerate once every layer is randomized."""
        return float(self.degenerate[-1].mean())

    def verdict(self, *, threshold: float | None = None) -> str:
        """``"passes"`` (maps decorrelate), ``"fails"`` (they stay similar) or
        ``"degenerate"`` (half or more of the final maps are constant: no verdict)."""
        if self.degenerate_share() >= 0.5:
            return "degenerate"
        limit = self.threshold if threshold is None else threshold
        return "passes" if self.final_spearman() < limit else "fails"

    def passes(self, *, threshold: float | None = None) -> bool:
        """True only for the verdict ``"passes"``: degenerate maps never pass."""
        return self.verdict(threshold=threshold) == "passes"


def cascade_steps(n: int, checkpoints: int | None) -> set[int]:
    """The steps (0: the top layer re-initialized, ``n - 1``: every layer) at which a cascade of
    ``n`` steps compares maps: ``checkpoints`` evenly spaced ones, the last always included, or
    every step (``None``)."""
    if checkpoints is None:
        return set(range(n))
    return {int(round(v)) for v in np.linspace(n - 1, -1, min(checkpoints, n) + 1)[:-1]}


def flat_per_map(maps: np.ndarray) -> np.ndarray:
    """Whether each map of a stack is constant (all zero, or flat to rounding): it has no
    ranking to compare. Returns (N,) bool."""
    m = np.asarray(maps, np.float64).reshape(len(maps), -1)
    return np.ptp(m, axis=1) <= 1e-12 * np.maximum(1.0, np.abs(m).max(axis=1))


def is_flat(m: np.ndarray) -> bool:
    """Whether a map is constant (all zero, or flat to rounding): it has no ranking to compare."""
    return bool(flat_per_map(np.asarray(m)[None])[0])


def randomization_check(
    model: keras.Model,
    images: np.ndarray,
    *,
    method: str = "gradcam",
    layer: str | None = None,
    class_index: int | Sequence[int] | np.ndarray | None = None,
    max_steps: int | None = None,
    seed: int = 0,
    options: Mapping[str, Any] | None = None,
    checkpoints: int | None = None,
) -> RandomizationResult:
    """Re-initialize the model's weighted layers from the top down, one more each step, and
    compare each step's maps with the trained model's (Adebayo et al., 2018).

    The check re-initializes the model in place and sets every weight back when it ends (by
    an error too: :func:`convviz.graph.reinit.restored`); no global random generator is reseeded: new weights come from each layer's initializers with seeds
    derived from ``seed``. Maps explain the trained model's class for each image at every
    step. A map that is constant (e.g. all zero) has no ranking to compare: it is marked
    ``degenerate`` and never counts toward a pass. ``method``: a CAM method (maps at
    ``layer``) or an attribution method (:func:`convviz.attr.attribute.attribution_map` of its
    attributions, with ``options`` such as ``steps``). ``checkpoints``: compare the maps
    only at that many evenly spaced depths of the cascade (the last one always: every
    layer re-initialized), for methods that cost many passes per map.
    ``convviz.randomization_check(..., cache=True)`` reuses a result computed with the same
    weights and arguments.
    """

    opts = dict(options or {})
    ref_maps, ref_classes, ref_layer = explain(
        model, images, method=method, layer=layer, class_index=class_index, options=opts
    )
    ref_flat = flat_per_map(ref_maps)
    ref_top = np.asarray(ref_maps, np.float64).max(axis=(1, 2), keepdims=True)
    if checkpoints is not None and checkpoints < 1:
        raise InputError(f"checkpoints must be at least 1 (or None: every layer), got {checkpoints}")
    names, sp, ss, deg = [], [], [], []
    with restored(model):
        steps = weighted_layers(model)
        if max_steps is not None:
            steps = steps[:max_steps]
        shown = cascade_steps(len(steps), checkpoints)
        for k, (name, lay) in enumerate(steps):
            lay.set_weights(reinitialized_weights(lay, 10_007 * (seed + 1) + k))
            if k not in shown:
                continue
            names.append(name)
            maps = explain(model, images, method=method, layer=ref_layer, class_index=ref_classes, options=opts)[0]
            flat = ref_flat | flat_per_map(maps)
            deg.append(flat)
            sp.append(np.where(flat, np.nan, spearman_per_map(ref_maps, maps)))
            with np.errstate(divide="ignore", invalid="ignore"):  # a flat map's ratio is dropped below
                m = np.asarray(maps, np.float64)
                ss.append(
                    np.where(flat, np.nan, ssim_per_map(ref_maps / ref_top, m / m.max(axis=(1, 2), keepdims=True)))
                )
    return RandomizationResult(method, tuple(names), np.array(sp, float), np.array(ss, float), np.array(deg, bool))
