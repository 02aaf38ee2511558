"""Evidence for heatmaps: localization against ground-truth masks, faithfulness curves,
and the model-randomization sanity check (Adebayo et al., 2018)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import keras
import numpy as np

from convviz._weights import reinitialized_weights

if TYPE_CHECKING:
    from convviz.cache import Cache

__all__ = [
    "pointing_game",
    "energy_pointing_game",
    "deletion_curve",
    "insertion_curve",
    "auc",
    "center_baseline",
    "random_baseline",
    "ssim",
    "spearman",
    "RandomizationResult",
    "randomization_check",
    "reinitialized_weights",
    "PASS_THRESHOLD",
    "blurred",
]


def _check_maps_masks(heatmaps: np.ndarray, masks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    h = np.asarray(heatmaps, np.float64)
    m = np.asarray(masks).astype(bool)
    if h.ndim == 2:
        h, m = h[None], m[None] if m.ndim == 2 else m
    if h.ndim != 3 or h.shape != m.shape:
        raise ValueError(f"heatmaps {h.shape} and masks {m.shape} must both be (N, H, W) of the same shape")
    if not np.all(np.isfinite(h)):
        raise ValueError("heatmaps contain NaN or infinite values")
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
        raise ValueError(f"tolerance must be >= 0, got {tolerance}")
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


def center_baseline(shape: tuple[int, int], n: int = 1, *, sigma: float = 0.25) -> np.ndarray:
    """A centered Gaussian map (sigma as a fraction of the size), the usual trivial baseline."""
    h, w = shape
    y, x = np.mgrid[0:h, 0:w]
    g = np.exp(-(((y - (h - 1) / 2) / (sigma * h)) ** 2 + ((x - (w - 1) / 2) / (sigma * w)) ** 2) / 2)
    return np.repeat(g[None], n, axis=0)


def random_baseline(shape: tuple[int, int], n: int = 1, *, seed: int = 0) -> np.ndarray:
    """Uniform random maps (a chance-level baseline)."""
    return np.random.default_rng(seed).random((n, *shape))


def _predict(model: Any, x: np.ndarray, batch_size: int) -> np.ndarray:
    if isinstance(model, keras.Model):
        from convviz._backend import predict

        return predict(model, x, batch_size=batch_size)
    return model.predict(x, batch_size=batch_size, verbose=0)  # any object with Keras' predict


def _scores(model: keras.Model, x: np.ndarray, classes: np.ndarray, batch_size: int) -> np.ndarray:
    probs = _predict(model, x, batch_size)
    return probs[np.arange(len(x)), classes]


def blurred(images: np.ndarray, *, sigma: float | None = None) -> np.ndarray:
    """Gaussian-blurred copies of (N, H, W, C) images, RISE's insertion start: ``sigma``
    defaults to RISE's 5 px at 224 px, scaled to the image size (at least 1 px)."""
    from scipy.ndimage import gaussian_filter

    x = np.asarray(images, np.float32)
    s = max(1.0, 5.0 * x.shape[1] / 224) if sigma is None else float(sigma)
    return gaussian_filter(x, sigma=(0, s, s, 0), mode="reflect").astype(np.float32)


def _cached_curve(
    model: Any,
    images: np.ndarray,
    heatmaps: np.ndarray,
    class_index: Any,
    steps: int,
    batch_size: int,
    insertion: bool,
    baseline: float | str | np.ndarray,
    cache: Cache | bool | None,
) -> np.ndarray:
    """:func:`_curve`, read from ``cache`` (a Keras model only) when it holds the same curve."""
    from convviz import cache as _cache

    if not isinstance(model, keras.Model) or _cache.resolve(cache) is None:
        return _curve(model, images, heatmaps, class_index, steps, batch_size, insertion, baseline)

    def key() -> dict[str, Any]:
        return dict(
            model=_cache.model_digest(model),
            images=_cache.array_digest(np.asarray(images, np.float32)),
            heatmaps=_cache.array_digest(np.asarray(heatmaps, np.float64)),
            class_index=None if class_index is None else np.asarray(class_index).tolist(),
            steps=steps,
            insertion=insertion,
            baseline=baseline
            if isinstance(baseline, str) or np.isscalar(baseline)
            else _cache.array_digest(np.asarray(baseline, np.float32)),
        )

    def compute() -> dict[str, np.ndarray]:
        return {"curve": _curve(model, images, heatmaps, class_index, steps, batch_size, insertion, baseline)}

    return _cache.memo(cache, "curve", compute, code=("metrics",), key=key)["curve"]


def _curve(
    model: Any,
    images: np.ndarray,
    heatmaps: np.ndarray,
    class_index: Any,
    steps: int,
    batch_size: int,
    insertion: bool,
    baseline: float | str | np.ndarray,
) -> np.ndarray:
    x = np.asarray(images, np.float32)
    h = np.asarray(heatmaps, np.float64)
    if x.ndim != 4 or h.shape != x.shape[:3]:
        raise ValueError(f"images {x.shape} must be (N, H, W, C) and heatmaps (N, H, W), got {h.shape}")
    if steps < 1:
        raise ValueError(f"steps must be at least 1, got {steps}")
    n, hh, ww = h.shape
    if class_index is None:
        classes = _predict(model, x, batch_size).argmax(1)
    else:
        classes = np.broadcast_to(np.asarray(class_index), (n,)).astype(int)
    if isinstance(baseline, str):
        if baseline != "blur":
            raise ValueError(f"baseline must be a number, an array like the images, or 'blur'; got {baseline!r}")
        base = blurred(x)
    elif np.isscalar(baseline):
        base = np.full_like(x, baseline)
    else:
        base = np.broadcast_to(np.asarray(baseline, np.float32), x.shape)
    order = np.argsort(-h.reshape(n, -1), axis=1, kind="stable")  # most important first
    counts = np.linspace(0, hh * ww, steps + 1).round().astype(int)
    curve = np.zeros((n, steps + 1))
    for j, k in enumerate(counts):
        keep = np.zeros((n, hh * ww), bool)
        rows = np.repeat(np.arange(n), k)
        keep[rows, order[:, :k].ravel()] = True
        keep = keep.reshape(n, hh, ww, 1)
        xs = np.where(keep, x, base) if insertion else np.where(keep, base, x)
        curve[:, j] = _scores(model, xs, classes, batch_size)
    return curve


def deletion_curve(
    model: keras.Model,
    images: np.ndarray,
    heatmaps: np.ndarray,
    *,
    class_index: int | Sequence[int] | None = None,
    steps: int = 16,
    baseline: float | str | np.ndarray = 0.0,
    batch_size: int = 64,
    cache: Cache | bool | None = None,
) -> np.ndarray:
    """Class probability as the most important pixels (by heatmap) are removed first
    (replaced by ``baseline``: a value, an array like the images, or ``"blur"``).

    Returns (N, steps + 1): column 0 is the intact image, the last column all pixels
    replaced. A faithful map makes it fall fast (low :func:`auc`). RISE (Petsiuk et al.
    2018) deletes to black, the default here. ``cache``: ``True`` or a
    :class:`convviz.cache.Cache` reuses a curve computed with the same weights, images,
    maps and options (Keras models only).
    """
    return _cached_curve(model, images, heatmaps, class_index, steps, batch_size, False, baseline, cache)


def insertion_curve(
    model: keras.Model,
    images: np.ndarray,
    heatmaps: np.ndarray,
    *,
    class_index: int | Sequence[int] | None = None,
    steps: int = 16,
    baseline: float | str | np.ndarray = "blur",
    batch_size: int = 64,
    cache: Cache | bool | None = None,
) -> np.ndarray:
    """Class probability as the most important pixels are inserted first into a start
    image: by default a blurred copy (:func:`blurred`), as in RISE, so that the curve
    measures the evidence of the pixels and not the shock of a blank image. A faithful
    map makes it rise fast (high :func:`auc`). ``cache``: as for :func:`deletion_curve`."""
    return _cached_curve(model, images, heatmaps, class_index, steps, batch_size, True, baseline, cache)


def auc(curve: np.ndarray) -> np.ndarray:
    """Area under curves sampled evenly on [0, 1] (trapezoid rule), per row."""
    c = np.atleast_2d(np.asarray(curve, np.float64))
    return ((c[:, 1:] + c[:, :-1]) / 2).mean(axis=1)


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman rank correlation of two maps (ties get average ranks); 0 when one is constant."""
    from scipy.stats import rankdata

    ra, rb = rankdata(np.ravel(a)), rankdata(np.ravel(b))
    if ra.std() == 0 or rb.std() == 0:
        return 0.0
    return float(np.corrcoef(ra, rb)[0, 1])


def ssim(a: np.ndarray, b: np.ndarray, *, data_range: float = 1.0, sigma: float = 1.5) -> float:
    """Structural similarity of two 2-D maps (Gaussian window, Wang et al. 2004 constants)."""
    from scipy.ndimage import gaussian_filter

    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if a.shape != b.shape or a.ndim != 2:
        raise ValueError(f"ssim needs two 2-D maps of the same shape, got {a.shape} and {b.shape}")
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    mu_a, mu_b = gaussian_filter(a, sigma), gaussian_filter(b, sigma)
    saa = gaussian_filter(a * a, sigma) - mu_a**2
    sbb = gaussian_filter(b * b, sigma) - mu_b**2
    sab = gaussian_filter(a * b, sigma) - mu_a * mu_b
    num = (2 * mu_a * mu_b + c1) * (2 * sab + c2)
    den = (mu_a**2 + mu_b**2 + c1) * (saa + sbb + c2)
    return float(np.mean(num / den))


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


_WORK_ATTR = "_convviz_work_copy"


def _work_copy(model: keras.Model) -> keras.Model:
    """A clone of ``model`` holding ``model``'s current weights, for a check to re-initialize.

    The clone is kept on the model itself (as its compiled functions are, see
    :func:`convviz._backend.cached_jit`): a page checks several methods, and each check after
    the first reuses the clone and the functions compiled for it instead of cloning and tracing
    the network again (seconds each for a deep one). Its weights are set from ``model`` at every
    call, so a check never starts from another check's re-initialized layers."""
    import random

    from convviz._backend import to_numpy

    work = model.__dict__.get(_WORK_ATTR)
    if work is None:
        py_state = random.getstate()  # cloning draws default seeds from Python's generator
        try:
            work = keras.models.clone_model(model)
        finally:
            random.setstate(py_state)
        object.__setattr__(model, _WORK_ATTR, work)  # not a tracked Keras attribute
    work.set_weights([to_numpy(w) for w in model.weights])  # get_weights() warns (NumPy 2 copy keyword)
    return work


def _weighted_layers(model: keras.Model) -> list[tuple[str, keras.layers.Layer]]:
    from convviz.layers import get_layer, layer_infos

    out = []
    for info in layer_infos(model):
        if info.is_model:
            continue
        layer = get_layer(model, info.name)
        if layer.weights:
            out.append((info.name, layer))
    return out[::-1]  # top (output) first


def _jsonable(options: Mapping[str, Any] | None) -> list[tuple[str, Any]]:
    from convviz.cache import array_digest

    return [
        (k, array_digest(np.asarray(v)) if isinstance(v, np.ndarray) else v) for k, v in sorted((options or {}).items())
    ]


def _flat(m: np.ndarray) -> bool:
    return bool(np.ptp(m) <= 1e-12 * max(1.0, float(np.abs(m).max())))


def _explanations(
    model: keras.Model, images: np.ndarray, method: str, layer: str | None, class_index: Any, options: Mapping[str, Any]
) -> tuple[np.ndarray, np.ndarray, str | None]:
    """(maps (N, H, W), classes explained, CAM layer) of a CAM or an attribution method,
    unnormalized (no warning for flat maps: they are detected by the caller)."""
    import warnings

    from convviz.attributions import ATTRIBUTION_METHODS, attribute_with_predictions, attribution_map
    from convviz.cam import CAM_METHODS, cam_with_predictions

    if method in CAM_METHODS:
        r = cam_with_predictions(model, images, layer=layer, class_index=class_index, method=method, normalize=False)
        return r.maps, r.classes, r.layer
    if method in ATTRIBUTION_METHODS:
        extra = {} if layer is None else {"layer": layer}
        with warnings.catch_warnings():  # an all-zero map of a randomized model is reported as degenerate
            warnings.simplefilter("ignore", RuntimeWarning)
            a = attribute_with_predictions(
                model, images, method=method, class_index=class_index, **{**extra, **options}
            )
        return attribution_map(a.attributions), a.classes, layer
    raise ValueError(
        f"unknown method {method!r}; valid: CAM methods {', '.join(CAM_METHODS)}; "
        f"attribution methods {', '.join(ATTRIBUTION_METHODS)}"
    )


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
    cache: Cache | bool | None = None,
) -> RandomizationResult:
    """Re-initialize the model's weighted layers from the top down, one more each step, and
    compare each step's maps with the trained model's (Adebayo et al., 2018).

    The user's model is not modified (the check works on a copy) and no global random
    generator is reseeded: new weights come from each layer's initializers with seeds
    derived from ``seed``. Maps explain the trained model's class for each image at every
    step. A map that is constant (e.g. all zero) has no ranking to compare: it is marked
    ``degenerate`` and never counts toward a pass. ``method``: a CAM method (maps at
    ``layer``) or an attribution method (:func:`convviz.attributions.attribution_map` of its
    attributions, with ``options`` such as ``steps``). ``checkpoints``: compare the maps
    only at that many evenly spaced depths of the cascade (the last one always: every
    layer re-initialized), for methods that cost many passes per map. ``cache``: ``True`` or a
    :class:`convviz.cache.Cache` reuses a result computed with the same weights and arguments.
    """
    from convviz import cache as _cache

    if _cache.resolve(cache) is not None:

        def compute() -> dict[str, np.ndarray]:
            r = randomization_check(
                model,
                images,
                method=method,
                layer=layer,
                class_index=class_index,
                max_steps=max_steps,
                seed=seed,
                options=options,
                checkpoints=checkpoints,
            )
            return {"layers": np.array(r.layers), "spearman": r.spearman, "ssim": r.ssim, "degenerate": r.degenerate}

        a = _cache.memo(
            cache,
            "randomization",
            compute,
            code=("metrics",),
            key=lambda: dict(
                model=_cache.model_digest(model),
                images=_cache.array_digest(np.asarray(images, np.float32)),
                method=method,
                layer=layer,
                max_steps=max_steps,
                seed=seed,
                options=_jsonable(options),
                checkpoints=checkpoints,
                class_index=None if class_index is None else np.asarray(class_index).tolist(),
            ),
        )
        return RandomizationResult(
            method, tuple(str(n) for n in a["layers"]), a["spearman"], a["ssim"], a["degenerate"]
        )
    from convviz.layers import get_layer

    opts = dict(options or {})
    ref_maps, ref_classes, ref_layer = _explanations(model, images, method, layer, class_index, opts)
    ref_flat = np.array([_flat(m) for m in ref_maps])
    work = _work_copy(model)
    steps = _weighted_layers(work)
    if max_steps is not None:
        steps = steps[:max_steps]
    if checkpoints is not None and checkpoints < 1:
        raise ValueError(f"checkpoints must be at least 1 (or None: every layer), got {checkpoints}")
    n = len(steps)
    shown = (
        set(range(n))
        if checkpoints is None
        else {int(round(v)) for v in np.linspace(n - 1, -1, min(checkpoints, n) + 1)[:-1]}
    )
    names, sp, ss, deg = [], [], [], []
    for k, (name, lay) in enumerate(steps):
        lay.set_weights(reinitialized_weights(get_layer(model, name), 10_007 * (seed + 1) + k))
        if k not in shown:
            continue
        names.append(name)
        maps = _explanations(work, images, method, ref_layer, ref_classes, opts)[0]
        flat = ref_flat | np.array([_flat(m) for m in maps])
        deg.append(flat)
        sp.append([np.nan if f else spearman(a, b) for a, b, f in zip(ref_maps, maps, flat)])
        ss.append([np.nan if f else ssim(a / a.max(), b / b.max()) for a, b, f in zip(ref_maps, maps, flat)])
    return RandomizationResult(method, tuple(names), np.array(sp, float), np.array(ss, float), np.array(deg, bool))
