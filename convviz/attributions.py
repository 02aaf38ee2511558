"""Pixel attributions: saliency, gradient × input, SmoothGrad, Integrated Gradients,
Guided Backprop and Guided Grad-CAM, batched, on TensorFlow, JAX and torch.

Every method is one small function of an :class:`AttributionContext`: the images, the
classes to explain and ``ctx.gradients(points, weights, guided=...)``, which evaluates the
gradient of each image's class score (before the softmax) at ``R`` points per image and
returns their weighted sum. The points of several images travel together in one compiled
call of about ``batch_size`` rows (the last call padded so that one trace serves all), so
SmoothGrad's noisy copies and Integrated Gradients' path points are batched with the
images, and memory stays bounded by the batch, never by ``N × R``.

Attributions are float32 (N, H, W, C), signed, in the model's input space;
:func:`attribution_map` reduces them to (N, H, W) for overlays and the metrics.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import keras
import numpy as np

from convviz import _backend
from convviz import cache as _cache
from convviz._batches import run_batches
from convviz.cam import _class_indices, grad_cam, probabilities
from convviz.layers import applies_relu, class_scores, get_layer, layer_infos
from convviz.validation import check_images

__all__ = [
    "ATTRIBUTION_METHODS",
    "BASELINES",
    "INTEGRATION_RULES",
    "REDUCTIONS",
    "Attribution",
    "AttributionContext",
    "attribute",
    "attribute_with_predictions",
    "attribution_map",
    "register_attribution_method",
    "integration_points",
    "COMPLETENESS_TOLERANCE",
]

BASELINES = ("black", "blur", "uniform")
INTEGRATION_RULES = ("gausslegendre", "trapezoid")
REDUCTIONS = ("abs_sum", "sum", "l2")
COMPLETENESS_TOLERANCE = 0.05
"""Integrated Gradients warns when the attributions of an image miss
``y_c(x) − y_c(baseline)`` by more than this share: too few ``steps`` for the path."""


@dataclass(frozen=True)
class Options:
    """The documented options of every method (each method reads the ones it uses)."""

    steps: int = 50
    samples: int = 25
    noise: float = 0.15
    baseline: str | float | np.ndarray = "black"
    rule: str = "gausslegendre"
    layer: str | None = None
    seed: int = 0


@dataclass
class AttributionContext:
    """What an attribution method may use.

    Attributes
    ----------
    model, images, classes
        The model, float32 (N, H, W, C) images and the (N,) classes to explain.
    options
        :class:`Options` with the caller's values.
    batch_size
        Rows (images × points) per compiled call.
    """

    model: keras.Model
    images: np.ndarray
    classes: np.ndarray
    options: Options
    batch_size: int
    extras: dict[str, Any] = field(default_factory=dict)

    def gradients(
        self,
        points: Callable[[np.ndarray, np.ndarray], np.ndarray],
        weights: Sequence[float] | np.ndarray,
        *,
        guided: bool = False,
    ) -> np.ndarray:
        """Σ_r weights[r] · ∂y_c/∂x at ``points(images, indices)[:, r]``, per image.

        ``points`` maps a group of images (g, H, W, C) and their indices in the batch (g,) to
        (g, R, H, W, C) inputs, with R = ``len(weights)``; groups are sized so that g · R
        rows make one compiled call. ``guided``: guided backpropagation's rule at every ReLU.
        """
        w = np.asarray(weights, np.float32)
        r = len(w)
        x, n = self.images, len(self.images)
        g = max(1, self.batch_size // r)
        step = _gradient_step(self.model, guided)
        out = np.zeros_like(x)
        for s in range(0, n, g):
            idx = np.arange(s, min(s + g, n))
            pts = np.asarray(points(x[idx], idx), np.float32)
            if pts.shape != (len(idx), r, *x.shape[1:]):
                raise ValueError(f"points must be {(len(idx), r, *x.shape[1:])}, got {pts.shape}")
            rows = pts.reshape(len(idx) * r, *x.shape[1:])
            cls = np.repeat(self.classes[idx], r).astype(np.int32)
            grads = run_batches(step, [rows, cls], batch_size=g * r, pad=n > g, no_grad=False)
            out[idx] = np.einsum("r,grhwc->ghwc", w, grads.reshape(len(idx), r, *x.shape[1:]))
        return out

    def scores(self, points: np.ndarray) -> np.ndarray:
        """Class scores (before the softmax) of (N, H, W, C) ``points``, each image's class."""
        fn = _backend.cached_jit(self.model, ("attr_scores",), lambda: class_scores(self.model))
        z = run_batches(fn, [np.asarray(points, np.float32)], batch_size=self.batch_size)
        return z[np.arange(len(z)), self.classes].astype(np.float64)


def _gradient_step(model: keras.Model, guided: bool) -> Callable[..., Any]:
    def make() -> Callable[..., Any]:
        scores = class_scores(model, guided=guided)
        ops = keras.ops

        def step(xb: Any, cls: Any) -> Any:
            def score(t: Any) -> Any:
                z = scores(t)
                return ops.take_along_axis(z, ops.expand_dims(ops.cast(cls, "int32"), -1), axis=-1)[:, 0]

            return _backend.value_and_grad(score, xb)[1]

        return step

    return _backend.cached_jit(model, ("attr_grad", guided), make)


def _identity(x: np.ndarray, _: np.ndarray) -> np.ndarray:
    return x[:, None]


def _saliency(c: AttributionContext) -> np.ndarray:
    """∂y_c/∂x (Simonyan et al. 2014), signed."""
    return c.gradients(_identity, [1.0])


def _gradient_x_input(c: AttributionContext) -> np.ndarray:
    """x ⊙ ∂y_c/∂x (Shrikumar et al. 2016): for a linear model, each term of its logit."""
    return c.images * c.gradients(_identity, [1.0])


def _smoothgrad(c: AttributionContext) -> np.ndarray:
    """The mean gradient over ``samples`` copies of the image with Gaussian noise of
    σ = ``noise`` × (the image's max − min) (Smilkov et al. 2017). The noise of image i
    is drawn from a generator seeded with (seed, i): results do not depend on batching."""
    o = c.options

    def noisy(xg: np.ndarray, idx: np.ndarray) -> np.ndarray:
        out = np.empty((len(xg), o.samples, *xg.shape[1:]), np.float32)
        for j, (img, i) in enumerate(zip(xg, idx)):
            sigma = o.noise * float(img.max() - img.min())
            rng = np.random.default_rng([o.seed, int(i)])
            out[j] = img[None] + sigma * rng.standard_normal((o.samples, *img.shape), dtype=np.float32)
        return out

    return c.gradients(noisy, np.full(o.samples, 1.0 / o.samples))


def integration_points(steps: int, rule: str) -> tuple[np.ndarray, np.ndarray]:
    """Points α in [0, 1] and weights summing to 1 for ∫₀¹ f(α) dα.

    ``"gausslegendre"`` (captum's default: exact for polynomials of degree 2·steps − 1) or
    ``"trapezoid"`` (``steps`` evenly spaced points, both ends included; one step: the
    midpoint).
    """
    if rule not in INTEGRATION_RULES:
        raise ValueError(f"unknown integration rule {rule!r}; valid: {', '.join(INTEGRATION_RULES)}")
    if steps < 1:
        raise ValueError(f"steps must be at least 1, got {steps}")
    if rule == "gausslegendre":
        t, w = np.polynomial.legendre.leggauss(steps)
        return (t + 1) / 2, w / 2
    if steps == 1:
        return np.array([0.5]), np.array([1.0])
    alphas = np.linspace(0.0, 1.0, steps)
    w = np.full(steps, 1.0 / (steps - 1))
    w[[0, -1]] /= 2
    return alphas, w


def _baseline(c: AttributionContext) -> np.ndarray:
    b = c.options.baseline
    x = c.images
    if isinstance(b, str):
        if b == "black":
            return np.zeros_like(x)
        if b == "blur":
            from convviz.metrics import blurred

            return blurred(x)
        if b == "uniform":
            out = np.empty_like(x)
            for i, img in enumerate(x):
                rng = np.random.default_rng([c.options.seed, i, 1])
                out[i] = rng.uniform(img.min(), img.max(), img.shape)
            return out
        raise ValueError(
            f"unknown baseline {b!r}; valid: {', '.join(BASELINES)}, a number, or an array "
            f"shaped like one image {x.shape[1:]} or the images {x.shape}"
        )
    arr = np.asarray(b, np.float32)
    if arr.ndim == 0:
        return np.full_like(x, float(arr))
    if arr.shape == x.shape[1:]:
        return np.broadcast_to(arr, x.shape).copy()
    if arr.shape == x.shape:
        return arr
    raise ValueError(
        f"baseline of shape {arr.shape} does not fit the images {x.shape}: give one image "
        f"{x.shape[1:]}, one per image {x.shape}, a number, or one of {', '.join(BASELINES)}"
    )


def _integrated_gradients(c: AttributionContext) -> np.ndarray:
    """(x − x') ⊙ ∫₀¹ ∂y_c/∂x (x' + α(x − x')) dα (Sundararajan et al. 2017), the integral
    by ``rule`` over ``steps`` points, all points of a batch in one call. Reports
    completeness in ``ctx.extras["completeness"]``."""
    alphas, w = integration_points(c.options.steps, c.options.rule)
    base = _baseline(c)
    diff = c.images - base

    def path(xg: np.ndarray, idx: np.ndarray) -> np.ndarray:
        a = alphas.astype(np.float32)[None, :, None, None, None]
        return base[idx][:, None] + a * diff[idx][:, None]

    attr = diff * c.gradients(path, w)
    delta = c.scores(c.images) - c.scores(base)
    total = attr.reshape(len(attr), -1).sum(axis=1, dtype=np.float64)
    c.extras["completeness"] = (np.abs(total - delta) / np.maximum(np.abs(delta), 1e-3)).astype(np.float32)
    return attr


def _guided_backprop(c: AttributionContext) -> np.ndarray:
    """∂y_c/∂x with guided backpropagation's rule at every ReLU (Springenberg et al. 2015):
    the gradient passes only where the ReLU's input is positive **and** the incoming
    gradient is positive. A custom gradient of one op: the model is not edited."""
    if not any(applies_relu(get_layer(c.model, i)) for i in layer_infos(c.model) if not i.is_model):
        _warn_once(
            c.model,
            "guided_backprop: the model has no ReLU, so guided backpropagation equals the plain gradient (saliency)",
        )
    return c.gradients(_identity, [1.0], guided=True)


def _guided_gradcam(c: AttributionContext) -> np.ndarray:
    """Guided Backprop ⊙ Grad-CAM (Selvaraju et al. 2017): the Grad-CAM of ``layer``
    (default: the last conv layer), upsampled to the input and scaled to [0, 1], times
    the guided gradient of every channel."""
    cam = grad_cam(c.model, c.images, layer=c.options.layer, class_index=c.classes, normalize=True)
    return _guided_backprop(c) * cam[..., None]


_WARNED: set[tuple[str, str]] = set()


def _warn_once(model: keras.Model, message: str) -> None:
    if (model.name, message) not in _WARNED:
        _WARNED.add((model.name, message))
        warnings.warn(f"model {model.name!r}: {message}", RuntimeWarning, stacklevel=4)


ATTRIBUTION_METHODS: dict[str, Callable[[AttributionContext], np.ndarray]] = {
    "saliency": _saliency,
    "gradient_x_input": _gradient_x_input,
    "smoothgrad": _smoothgrad,
    "integrated_gradients": _integrated_gradients,
    "guided_backprop": _guided_backprop,
    "guided_gradcam": _guided_gradcam,
}


def register_attribution_method(name: str, fn: Callable[[AttributionContext], np.ndarray]) -> None:
    """Add a method: ``fn(ctx) -> (N, H, W, C)`` attributions (see :class:`AttributionContext`)."""
    if not name or not isinstance(name, str):
        raise ValueError(f"a method needs a non-empty name, got {name!r}")
    ATTRIBUTION_METHODS[name] = fn


@dataclass(frozen=True)
class Attribution:
    """Attributions with the predictions they explain.

    Attributes
    ----------
    attributions
        float32 (N, H, W, C), signed, in the model's input space.
    classes
        (N,) the class each attribution explains.
    predicted
        (N,) the model's top class.
    probabilities
        (N, num_classes) the model's output (see :class:`convviz.cam.CamResult`).
    method
        The method's name.
    completeness
        Integrated Gradients only: per image, |Σ attributions − (y_c(x) − y_c(baseline))|
        relative to |y_c(x) − y_c(baseline)|; None for the other methods.
    """

    attributions: np.ndarray
    classes: np.ndarray
    predicted: np.ndarray
    probabilities: np.ndarray
    method: str
    completeness: np.ndarray | None = None


def _check_options(method: str, o: Options) -> None:
    if method not in ATTRIBUTION_METHODS:
        raise ValueError(f"unknown attribution method {method!r}; valid methods: {', '.join(ATTRIBUTION_METHODS)}")
    for name in ("steps", "samples"):
        v = getattr(o, name)
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
            raise ValueError(f"{name} must be an integer of at least 1, got {v!r}")
    if not np.isfinite(o.noise) or o.noise < 0:
        raise ValueError(f"noise must be a finite number >= 0 (a share of the image's value range), got {o.noise!r}")
    if o.rule not in INTEGRATION_RULES:
        raise ValueError(f"unknown integration rule {o.rule!r}; valid: {', '.join(INTEGRATION_RULES)}")
    if isinstance(o.baseline, str) and o.baseline not in BASELINES:
        raise ValueError(
            f"unknown baseline {o.baseline!r}; valid: {', '.join(BASELINES)}, a number, or an "
            "array shaped like one image or like the images"
        )


def attribute_with_predictions(
    model: keras.Model,
    images: np.ndarray,
    *,
    method: str = "integrated_gradients",
    class_index: int | Sequence[int] | None = None,
    steps: int = 50,
    samples: int = 25,
    noise: float = 0.15,
    baseline: str | float | np.ndarray = "black",
    rule: str = "gausslegendre",
    layer: str | None = None,
    seed: int = 0,
    batch_size: int = 64,
    cache: _cache.Cache | bool | None = None,
) -> Attribution:
    """Like :func:`attribute`, also returning the classes explained, the predictions and
    (Integrated Gradients) the completeness error of each image."""
    o = Options(steps=steps, samples=samples, noise=noise, baseline=baseline, rule=rule, layer=layer, seed=seed)
    _check_options(method, o)
    x = check_images(model, images, exact_size=True)
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    if _cache.resolve(cache) is None:
        result = _attribute(model, x, method, class_index, o, batch_size)
    else:

        def compute() -> dict[str, np.ndarray]:
            r = _attribute(model, x, method, class_index, o, batch_size)
            out = {
                "attributions": r.attributions,
                "classes": r.classes,
                "predicted": r.predicted,
                "probabilities": r.probabilities,
            }
            return out if r.completeness is None else {**out, "completeness": r.completeness}

        b = baseline if isinstance(baseline, str) else _cache.array_digest(np.asarray(baseline, np.float32))
        a = _cache.memo(
            cache,
            "attributions",
            compute,
            code=("attributions",),
            key=lambda: dict(
                model=_cache.model_digest(model),
                images=_cache.array_digest(x),
                method=method,
                class_index=None if class_index is None else np.asarray(class_index).tolist(),
                steps=steps,
                samples=samples,
                noise=float(noise),
                baseline=b,
                rule=rule,
                layer=layer,
                seed=seed,
            ),
        )
        result = Attribution(
            a["attributions"], a["classes"], a["predicted"], a["probabilities"], method, a.get("completeness")
        )
    c = result.completeness
    if c is not None and (c > COMPLETENESS_TOLERANCE).any():
        off = np.flatnonzero(c > COMPLETENESS_TOLERANCE)
        warnings.warn(
            f"{method}: the attributions of image(s) {off.tolist()} miss y_c(x) − y_c(baseline) by up "
            f"to {float(c.max()):.0%} (completeness); {steps} steps are too few for this "
            "path: use more",
            RuntimeWarning,
            stacklevel=2,
        )
    return result


def _attribute(
    model: keras.Model, x: np.ndarray, method: str, class_index: Any, o: Options, batch_size: int
) -> Attribution:
    out_shape = model.outputs[0].shape
    if len(out_shape) != 2:
        raise ValueError(
            f"model {model.name!r} output has shape {tuple(out_shape)}; attributions need "
            "class scores of shape (batch, num_classes)"
        )
    classes_in = _class_indices(class_index, len(x), int(out_shape[-1]))
    fn = _backend.cached_jit(model, ("attr_scores",), lambda: class_scores(model))
    z = run_batches(fn, [x], batch_size=batch_size).astype(np.float32)
    predicted = z.argmax(axis=1)
    classes = np.where(classes_in < 0, predicted, classes_in).astype(np.int32)
    ctx = AttributionContext(model, x, classes, o, batch_size)
    attr = np.asarray(ATTRIBUTION_METHODS[method](ctx), np.float32)
    if attr.shape != x.shape:
        raise ValueError(f"attribution method {method!r} returned shape {attr.shape}, expected {x.shape}")
    bad = ~np.isfinite(attr)
    if bad.any():
        warnings.warn(
            f"{method}: {int(bad.sum())} NaN or infinite attribution value(s) set to 0", RuntimeWarning, stacklevel=3
        )
        attr = np.where(bad, 0.0, attr).astype(np.float32)
    zero = ~attr.reshape(len(attr), -1).any(axis=1)
    if zero.any():
        warnings.warn(
            f"{method}: the attributions of image(s) {np.flatnonzero(zero).tolist()} are all zero "
            "(the class score does not depend on the input there); left as zeros",
            RuntimeWarning,
            stacklevel=3,
        )
    return Attribution(attr, classes, predicted, probabilities(model, z), method, ctx.extras.get("completeness"))


def attribute(
    model: keras.Model,
    images: np.ndarray,
    *,
    method: str = "integrated_gradients",
    class_index: int | Sequence[int] | None = None,
    **options: Any,
) -> np.ndarray:
    """Pixel attributions of a batch of images.

    Parameters
    ----------
    model
        A classifier (Functional or Sequential; nested, ``Rescaling`` and reloaded models work).
        Class scores are read before a final softmax or sigmoid, as for Grad-CAM.
    images
        (N, H, W, C) or (H, W, C), the model's input size, channels and value range.
    method
        ``"saliency"``, ``"gradient_x_input"``, ``"smoothgrad"``, ``"integrated_gradients"``,
        ``"guided_backprop"``, ``"guided_gradcam"``, or a registered method
        (:data:`ATTRIBUTION_METHODS`).
    class_index
        None: each image's top class; an int, or one index per image.
    **options
        Keyword-only, each used by the methods it concerns:

        * ``steps=50`` — Integrated Gradients' points on the path;
        * ``rule="gausslegendre"`` — or ``"trapezoid"`` (:func:`integration_points`);
        * ``baseline="black"`` — the path's start: ``"black"`` (zeros), ``"blur"``
          (:func:`convviz.metrics.blurred`), ``"uniform"`` (noise in the image's range,
          seeded), a number, or an array like one image or like the images;
        * ``samples=25``, ``noise=0.15`` — SmoothGrad's noisy copies and their σ as a share
          of each image's value range;
        * ``layer=None`` — Guided Grad-CAM's layer (default: the last conv layer);
        * ``seed=0`` — SmoothGrad's noise and the uniform baseline;
        * ``batch_size=64`` — rows (images × points) per compiled call;
        * ``cache=None`` — ``True`` or a :class:`convviz.cache.Cache`.

    Returns
    -------
    np.ndarray
        float32 (N, H, W, C), signed. Never NaN; an image whose gradient is zero gets zeros
        and a warning. Integrated Gradients warns when an image's attributions miss the
        score difference to the baseline by more than 5% (completeness).
    """
    return attribute_with_predictions(model, images, method=method, class_index=class_index, **options).attributions


def attribution_map(attributions: np.ndarray, *, reduce: str = "abs_sum") -> np.ndarray:
    """(N, H, W) maps from (N, H, W, C) attributions (one (H, W) map from (H, W, C)), for
    overlays and the metrics.

    ``reduce``: ``"abs_sum"`` (Σ_c |a|, the usual saliency map), ``"sum"`` (signed: what the
    pixel adds to the score, for gradient × input and Integrated Gradients) or ``"l2"``.
    """
    if reduce not in REDUCTIONS:
        raise ValueError(f"unknown reduce {reduce!r}; valid: {', '.join(REDUCTIONS)}")
    a = np.asarray(attributions, np.float32)
    if a.ndim not in (3, 4):
        raise ValueError(f"attributions must be (N, H, W, C) or (H, W, C), got shape {a.shape}")
    if reduce == "abs_sum":
        return np.abs(a).sum(axis=-1)
    if reduce == "sum":
        return a.sum(axis=-1)
    return np.sqrt((a * a).sum(axis=-1))


def method_options(method: str, options: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The options of :func:`attribute` that ``method`` reads (for captions and cache keys)."""
    used = {
        "smoothgrad": ("samples", "noise", "seed"),
        "integrated_gradients": ("steps", "rule", "baseline", "seed"),
        "guided_gradcam": ("layer",),
    }.get(method, ())
    defaults = Options()
    return {k: (options or {}).get(k, getattr(defaults, k)) for k in used}
