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
:func:`attribution_map` reduces them to (N, H, W) for overlays and the metrics."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import keras
import numpy as np

from convviz.attr.cam import grad_cam
from convviz.core import backend as _backend
from convviz.core.batches import run_batches
from convviz.graph.heads import applies_relu
from convviz.graph.layers import get_layer, layer_infos
from convviz.graph.split import class_scores
from convviz.core.batches import chunks
from convviz.core.errors import InputError
from convviz.core.errors import EquivalentMethodWarning

__all__ = [
    "ATTRIBUTION_METHODS",
    "BASELINES",
    "INTEGRATION_RULES",
    "REDUCTIONS",
    "AttributionContext",
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
        for _, _, (idx,) in chunks([np.arange(n)], batch_size=g):
            pts = np.asarray(points(x[idx], idx), np.float32)
            if pts.shape != (len(idx), r, *x.shape[1:]):
                raise InputError(f"points must be {(len(idx), r, *x.shape[1:])}, got {pts.shape}")
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
        raise InputError(f"unknown integration rule {rule!r}; valid: {', '.join(INTEGRATION_RULES)}")
    if steps < 1:
        raise InputError(f"steps must be at least 1, got {steps}")
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
            from convviz.core.image import blurred

            return blurred(x)
        if b == "uniform":
            out = np.empty_like(x)
            for i, img in enumerate(x):
                rng = np.random.default_rng([c.options.seed, i, 1])
                out[i] = rng.uniform(img.min(), img.max(), img.shape)
            return out
        raise InputError(
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
    raise InputError(
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
        warnings.warn(f"model {model.name!r}: {message}", EquivalentMethodWarning, stacklevel=4)


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
        raise InputError(f"a method needs a non-empty name, got {name!r}")
    ATTRIBUTION_METHODS[name] = fn
