"""Pixel attributions of a batch of images by any registered method (:data:`~convviz.attr.gradients.ATTRIBUTION_METHODS`): the options checked per method, the class explained (the prediction or a given one), the maps and the predictions they explain."""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import keras
import numpy as np

from convviz.attr.cam import class_indices, probabilities
from convviz.attr.gradients import (
    ATTRIBUTION_METHODS,
    BASELINES,
    COMPLETENESS_TOLERANCE,
    INTEGRATION_RULES,
    REDUCTIONS,
    AttributionContext,
    Options,
)
from convviz.core import backend as _backend
from convviz.core.batches import run_batches
from convviz.core.checks import check_images
from convviz.graph.cost import fitting_batch
from convviz.graph.split import class_scores
from convviz.core.errors import InputError
from convviz.core.errors import BlankMapWarning, IncompleteAttributionWarning, NonFiniteWarning

__all__ = ["Attribution", "attribute", "attribute_with_predictions", "attribution_map", "method_options"]


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
        (N, num_classes) the model's output (see :class:`convviz.attr.cam.CamResult`).
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
        raise InputError(f"unknown attribution method {method!r}; valid methods: {', '.join(ATTRIBUTION_METHODS)}")
    for name in ("steps", "samples"):
        v = getattr(o, name)
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
            raise InputError(f"{name} must be an integer of at least 1, got {v!r}")
    if not np.isfinite(o.noise) or o.noise < 0:
        raise InputError(f"noise must be a finite number >= 0 (a share of the image's value range), got {o.noise!r}")
    if o.rule not in INTEGRATION_RULES:
        raise InputError(f"unknown integration rule {o.rule!r}; valid: {', '.join(INTEGRATION_RULES)}")
    if isinstance(o.baseline, str) and o.baseline not in BASELINES:
        raise InputError(
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
    batch_size: int | None = None,
) -> Attribution:
    """Like :func:`attribute`, also returning the classes explained, the predictions and
    (Integrated Gradients) the completeness error of each image
    (``convviz.attribute_with_predictions(..., cache=True)`` reuses a computed result)."""
    o = Options(steps=steps, samples=samples, noise=noise, baseline=baseline, rule=rule, layer=layer, seed=seed)
    _check_options(method, o)
    x = check_images(model, images, exact_size=True)
    if batch_size is None:  # 64 rows, fewer where their activations would not fit in memory
        batch_size = fitting_batch(model, 64, cap=64)
    if batch_size < 1:
        raise InputError(f"batch_size must be at least 1, got {batch_size}")
    result = _attribute(model, x, method, class_index, o, batch_size)
    c = result.completeness
    if c is not None and (c > COMPLETENESS_TOLERANCE).any():
        off = np.flatnonzero(c > COMPLETENESS_TOLERANCE)
        warnings.warn(
            f"{method}: the attributions of image(s) {off.tolist()} miss y_c(x) − y_c(baseline) by up "
            f"to {float(c.max()):.0%} (completeness); {steps} steps are too few for this "
            "path: use more",
            IncompleteAttributionWarning,
            stacklevel=2,
        )
    return result


def _attribute(
    model: keras.Model, x: np.ndarray, method: str, class_index: Any, o: Options, batch_size: int
) -> Attribution:
    out_shape = model.outputs[0].shape
    if len(out_shape) != 2:
        raise InputError(
            f"model {model.name!r} output has shape {tuple(out_shape)}; attributions need "
            "class scores of shape (batch, num_classes)"
        )
    classes_in = class_indices(class_index, len(x), int(out_shape[-1]))
    fn = _backend.cached_jit(model, ("attr_scores",), lambda: class_scores(model))
    z = run_batches(fn, [x], batch_size=batch_size).astype(np.float32)
    predicted = z.argmax(axis=1)
    classes = np.where(classes_in < 0, predicted, classes_in).astype(np.int32)
    ctx = AttributionContext(model, x, classes, o, batch_size)
    attr = np.asarray(ATTRIBUTION_METHODS[method](ctx), np.float32)
    if attr.shape != x.shape:
        raise InputError(f"attribution method {method!r} returned shape {attr.shape}, expected {x.shape}")
    bad = ~np.isfinite(attr)
    if bad.any():
        warnings.warn(
            f"{method}: {int(bad.sum())} NaN or infinite attribution value(s) set to 0", NonFiniteWarning, stacklevel=3
        )
        attr = np.where(bad, 0.0, attr).astype(np.float32)
    zero = ~attr.reshape(len(attr), -1).any(axis=1)
    if zero.any():
        warnings.warn(
            f"{method}: the attributions of image(s) {np.flatnonzero(zero).tolist()} are all zero "
            "(the class score does not depend on the input there); left as zeros",
            BlankMapWarning,
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

    ``convviz.attribute(..., cache=True)`` reuses a result computed with the same weights,
    images and options.

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
          (:func:`convviz.core.image.blurred`), ``"uniform"`` (noise in the image's range,
          seeded), a number, or an array like one image or like the images;
        * ``samples=25``, ``noise=0.15`` — SmoothGrad's noisy copies and their σ as a share
          of each image's value range;
        * ``layer=None`` — Guided Grad-CAM's layer (default: the last conv layer);
        * ``seed=0`` — SmoothGrad's noise and the uniform baseline;
        * ``batch_size=None`` — rows (images × points) per compiled call: 64, fewer for a
          model whose activations would not fit :data:`convviz.graph.cost.MEMORY_BUDGET_GB`.

    Returns
    -------
    np.ndarray
        float32 (N, H, W, C), signed. Never NaN; an image whose gradient is zero gets zeros
        and a warning. Integrated Gradients warns when an image's attributions miss the
        score difference to the baseline by more than :data:`COMPLETENESS_TOLERANCE`
        (completeness).
    """
    return attribute_with_predictions(model, images, method=method, class_index=class_index, **options).attributions


def attribution_map(attributions: np.ndarray, *, reduce: str = "abs_sum") -> np.ndarray:
    """(N, H, W) maps from (N, H, W, C) attributions (one (H, W) map from (H, W, C)), for
    overlays and the metrics.

    ``reduce``: ``"abs_sum"`` (Σ_c |a|, the usual saliency map), ``"sum"`` (signed: what the
    pixel adds to the score, for gradient × input and Integrated Gradients) or ``"l2"``.
    """
    if reduce not in REDUCTIONS:
        raise InputError(f"unknown reduce {reduce!r}; valid: {', '.join(REDUCTIONS)}")
    a = np.asarray(attributions, np.float32)
    if a.ndim not in (3, 4):
        raise InputError(f"attributions must be (N, H, W, C) or (H, W, C), got shape {a.shape}")
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
