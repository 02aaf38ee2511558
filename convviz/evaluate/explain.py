"""Explanation maps as the metrics compare them: any CAM or attribution method of convviz, one
(N, H, W) map per image, and the two baselines every metric is read against: a random map and
an edge detector (the image's gradient magnitude: it explains no model)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import keras
import numpy as np

from convviz.core.errors import BlankMapWarning, IncompleteAttributionWarning, InputError

__all__ = ["explain", "BASELINES", "baseline_maps", "Explainer", "method_explainer", "baseline_explainer"]

Explainer = Callable[[keras.Model, np.ndarray, np.ndarray], np.ndarray]
"""``explainer(model, images, classes) -> maps (N, H, W)``: what the model-dependent metrics
call, on the trained model, a randomized copy, noisy images or another class."""

BASELINES = ("random map", "edge detector")


def explain(
    model: keras.Model,
    images: np.ndarray,
    *,
    method: str,
    layer: str | None = None,
    class_index: Any = None,
    options: Mapping[str, Any] | None = None,
) -> tuple[np.ndarray, np.ndarray, str | None]:
    """One explanation map per image, of a CAM or an attribution method, as every metric of
    :mod:`convviz.evaluate` compares them: ``(maps (N, H, W), classes explained, CAM layer)``.

    CAMs are upsampled to the image and not normalized; an attribution becomes
    :func:`convviz.attr.attribute.attribution_map` (magnitude summed over the colour channels).
    ``options`` go to the method (``steps``, ``samples``, ``scorecam_channels``...). All-zero maps raise no
    warning: the metrics detect and report them. Nor does Integrated Gradients' completeness: the
    metrics score the maps as computed, on randomized models and noisy copies too, where it says
    nothing of the method (check it on the trained model with
    :func:`convviz.attr.attribute.attribute_with_predictions`, which warns)."""
    options = dict(options or {})
    import warnings

    from convviz.attr.cam import CAM_METHODS, cam_with_predictions
    from convviz.attr.gradients import ATTRIBUTION_METHODS
    from convviz.attr.attribute import attribute_with_predictions, attribution_map

    if method in CAM_METHODS:
        r = cam_with_predictions(
            model, images, layer=layer, class_index=class_index, method=method, normalize=False, **options
        )
        return r.maps, r.classes, r.layer
    if method in ATTRIBUTION_METHODS:
        extra = {} if layer is None else {"layer": layer}
        with warnings.catch_warnings():  # an all-zero map of a randomized model is reported as degenerate
            warnings.simplefilter("ignore", BlankMapWarning)
            warnings.simplefilter("ignore", IncompleteAttributionWarning)  # see the docstring
            a = attribute_with_predictions(
                model, images, method=method, class_index=class_index, **{**extra, **options}
            )
        return attribution_map(a.attributions), a.classes, layer
    raise InputError(
        f"unknown method {method!r}; valid: CAM methods {', '.join(CAM_METHODS)}; "
        f"attribution methods {', '.join(ATTRIBUTION_METHODS)}"
    )


def baseline_maps(kind: str, images: np.ndarray, *, seed: int = 0) -> np.ndarray:
    """The maps of a baseline for ``images`` (N, H, W, C): ``"random map"``, uniform noise drawn
    from ``seed`` (a new draw per seed: a random explainer's maps never repeat), or
    ``"edge detector"``, the Sobel gradient magnitude of the images' channel mean (it depends on
    the image only: the same whatever the model, the class or its weights)."""
    x = np.asarray(images, np.float32)
    if x.ndim != 4:
        raise InputError(f"images must be (N, H, W, C), got shape {x.shape}")
    if kind == "random map":
        return np.random.default_rng(seed).random(x.shape[:3]).astype(np.float32)
    if kind == "edge detector":
        from scipy.ndimage import sobel

        gray = x.mean(axis=-1)
        return np.hypot(sobel(gray, axis=1), sobel(gray, axis=2)).astype(np.float32)
    raise InputError(f"unknown baseline {kind!r}; valid: {', '.join(BASELINES)}")


def method_explainer(method: str, *, layer: str | None = None, options: Mapping[str, Any] | None = None) -> Explainer:
    """The :data:`Explainer` of a CAM or attribution method (:func:`explain`), its CAMs at
    ``layer``."""
    opts = dict(options or {})

    def run(model: keras.Model, images: np.ndarray, classes: np.ndarray) -> np.ndarray:
        return explain(model, images, method=method, layer=layer, class_index=np.asarray(classes), options=opts)[0]

    return run


def baseline_explainer(kind: str, *, seed: int = 0) -> Explainer:
    """The :data:`Explainer` of a baseline (:func:`baseline_maps`): the random map draws new maps
    at every call (seeded from ``seed`` and the call's number: reproducible, never repeated);
    the edge detector ignores the model and the classes."""
    if kind not in BASELINES:
        raise InputError(f"unknown baseline {kind!r}; valid: {', '.join(BASELINES)}")
    calls = [0]

    def run(model: keras.Model, images: np.ndarray, classes: np.ndarray) -> np.ndarray:
        calls[0] += 1
        return baseline_maps(kind, images, seed=seed * 1_000_003 + calls[0])

    return run
