"""Class activation maps: Grad-CAM and friends, batched, on every model shape.

The model is split at the layer (body: input → layer output; head: layer output →
class scores, without a final softmax) and the gradient of each image's class score is
taken with respect to the layer output as an input of the head: one compiled call for
the whole batch, on TensorFlow, JAX and torch, for Sequential, nested, ``Rescaling``
and reloaded models. The user's model is never modified.

Each method is one small NumPy function of the activations ``A`` (N, h, w, K) and the
gradients ``G`` (same shape), registered by name in :data:`CAM_METHODS`.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import keras
import numpy as np

from convviz.core import backend as _backend
from convviz.core.batches import run_batches
from convviz.core.image import upsample_maps
from convviz.graph.cost import fitting_batch
from convviz.graph.layers import last_conv_layer, require_spatial
from convviz.graph.split import split_model
from convviz.graph.heads import stripped_activation
from convviz.core.checks import check_images
from convviz.core.batches import chunks
from convviz.core.errors import InputError
from convviz.core.errors import BlankMapWarning, NonFiniteWarning

__all__ = ["CAM_METHODS", "CamResult", "grad_cam", "cam_with_predictions", "upsample_maps", "register_cam_method"]

ops = keras.ops


@dataclass
class _Context:
    """What a CAM method may use: activations, gradients, and (Score-CAM) the head."""

    activations: np.ndarray  # (N, h, w, K)
    gradients: np.ndarray  # (N, h, w, K)
    classes: np.ndarray  # (N,)
    score_masked: Callable[[int, np.ndarray], np.ndarray] | None = None  # (image index, masks) -> scores
    scorecam_channels: int | None = 32


def _gradcam(c: _Context) -> np.ndarray:
    weights = c.gradients.mean(axis=(1, 2))  # α_k: spatial mean of ∂y_c/∂A^k
    return np.einsum("nhwk,nk->nhw", c.activations, weights)


def _gradcam_pp(c: _Context) -> np.ndarray:
    """Grad-CAM++ (Chattopadhay et al. 2018, eq. 19 with exponential class scores):
    α = g² / (2g² + Σ A·g³), weights = Σ relu(g)·α. No constant is added to the denominator:
    α is set to 0 where it is 0 (there g = 0 or the formula is undefined). pytorch-grad-cam
    adds 1e-6 to it (this code had 1e-7), which biases α toward 0 when gradients are small:
    by up to 5.6% of a map on a small randomly initialized model."""
    g, a = c.gradients.astype(np.float64), c.activations.astype(np.float64)
    g2, g3 = g**2, g**3
    sum_a = a.sum(axis=(1, 2), keepdims=True)
    denom = 2 * g2 + sum_a * g3
    ok = (g != 0) & (denom != 0)
    alpha = np.where(ok, g2 / np.where(ok, denom, 1.0), 0.0)
    weights = (np.maximum(g, 0) * alpha).sum(axis=(1, 2))
    return np.einsum("nhwk,nk->nhw", a, weights).astype(np.float32)


def _layercam(c: _Context) -> np.ndarray:
    return (np.maximum(c.gradients, 0) * c.activations).sum(axis=-1)


def _hirescam(c: _Context) -> np.ndarray:
    """HiResCAM (Draelos & Carin 2020): the element-wise product of gradient and activation,
    summed over channels: each position keeps its own gradient instead of Grad-CAM's
    spatial mean, so the map shows where the score is computed (equal to Grad-CAM when the
    layer output is 1×1)."""
    return (c.gradients * c.activations).sum(axis=-1)


def _scorecam(c: _Context) -> np.ndarray:
    """Score-CAM (Wang et al. 2020), with three documented choices:

    * **Masks**: each channel min-max normalized to [0, 1] (the paper's normalization),
      before the bilinear upsampling to the input size rather than after: bilinear
      interpolation is a convex combination, so the upsampled mask stays in [0, 1] and
      keeps the same ordering of regions.
    * **Channel weights**: the class score of the image multiplied by each mask, with a
      softmax over the channels (the paper's Algorithm 1, and tf-keras-vis). The score is
      taken before the model's softmax, as for every other method here, so a saturated
      probability cannot flatten the weights (pytorch-grad-cam uses the probability).
    * **Channels**: the paper masks the input with every channel; by default the 32 most
      active (largest spatial mean) are used, ``scorecam_channels=None`` uses all.
    """
    if c.score_masked is None:
        raise InputError("scorecam needs the model")
    a = c.activations
    k = a.shape[-1] if c.scorecam_channels is None else min(c.scorecam_channels, a.shape[-1])
    out = np.zeros(a.shape[:3], np.float32)
    for i in range(len(a)):
        top = np.argsort(-a[i].mean(axis=(0, 1)), kind="stable")[:k]  # most active channels
        maps = np.moveaxis(a[i][..., top], -1, 0)  # (k, h, w)
        lo = maps.min(axis=(1, 2), keepdims=True)
        hi = maps.max(axis=(1, 2), keepdims=True)
        norm = np.where(hi > lo, (maps - lo) / np.where(hi > lo, hi - lo, 1), 0.0)
        scores = c.score_masked(i, norm)  # class score of the image masked by each map
        w = np.exp(scores - scores.max())
        w /= w.sum()
        out[i] = np.einsum("khw,k->hw", maps, w)
    return out


CAM_METHODS: dict[str, Callable[[_Context], np.ndarray]] = {
    "gradcam": _gradcam,
    "gradcam++": _gradcam_pp,
    "layercam": _layercam,
    "hirescam": _hirescam,
    "scorecam": _scorecam,
}


def register_cam_method(name: str, fn: Callable[[_Context], np.ndarray]) -> None:
    """Add a CAM method: ``fn(ctx) -> (N, h, w)`` from ``ctx.activations`` and ``ctx.gradients``."""
    CAM_METHODS[name] = fn


@dataclass(frozen=True)
class CamResult:
    """Maps with the predictions they explain.

    Attributes
    ----------
    maps
        (N, H, W) heatmaps (or (N, h, w) without upsampling).
    classes
        (N,) the class each map explains.
    predicted
        (N,) the model's top class.
    probabilities
        (N, num_classes) the model's output: the softmax (or sigmoid) of the class scores
        when its output layer applies one, else the output as it is.
    layer, method
        What was computed.
    """

    maps: np.ndarray
    classes: np.ndarray
    predicted: np.ndarray
    probabilities: np.ndarray
    layer: str
    method: str


def class_indices(class_index: Any, n: int, num_classes: int) -> np.ndarray:
    if class_index is None:
        return np.full(n, -1, np.int32)
    idx = np.atleast_1d(np.asarray(class_index))
    if not np.issubdtype(idx.dtype, np.integer):
        raise InputError(f"class_index must be an int or a sequence of ints, got {class_index!r}")
    if idx.size == 1:
        idx = np.full(n, int(idx[0]))
    if idx.shape != (n,):
        raise InputError(f"class_index has {idx.size} entries for {n} images: give one int or one per image")
    bad = np.unique(idx[(idx < 0) | (idx >= num_classes)])
    if len(bad):
        raise InputError(
            f"class_index {bad.tolist()} out of range: the model has {num_classes} classes (valid 0..{num_classes - 1})"
        )
    return idx.astype(np.int32)


def probabilities(model: keras.Model, scores: np.ndarray) -> np.ndarray:
    """The model's output from its class scores (``split_model(..., logits=True)``): the
    softmax or sigmoid that convviz removed is applied again; else the scores as they are."""
    z = np.asarray(scores, np.float32)
    squash = stripped_activation(model)
    if squash == "sigmoid":  # multi-label head: each class its own probability
        return (1.0 / (1.0 + np.exp(-z))).astype(np.float32)
    if squash == "softmax":
        p = np.exp(z - z.max(axis=1, keepdims=True))
        return (p / p.sum(axis=1, keepdims=True)).astype(np.float32)
    return z  # linear logits, or a squashing convviz cannot remove: the output as it is


def _cam_step(model: keras.Model, layer: str) -> Callable[[Any, Any], tuple[Any, Any, Any]]:
    """step(x, cls) -> (A, dy_c/dA, logits): one pass for the batch; cls < 0 means top class."""
    split = split_model(model, layer, logits=True)

    def step(xb: Any, cls: Any) -> tuple[Any, Any, Any]:
        a = split.body(xb)

        def score(t: Any) -> Any:
            logits = split.head(t)
            chosen = ops.where(cls < 0, ops.argmax(logits, axis=-1), cls)
            return ops.take_along_axis(logits, ops.expand_dims(ops.cast(chosen, "int32"), -1), axis=-1)[:, 0]

        _, g = _backend.value_and_grad(score, a)
        return a, g, split.head(a)

    return step


def cam_with_predictions(
    model: keras.Model,
    images: np.ndarray,
    *,
    layer: str | None = None,
    class_index: int | Sequence[int] | np.ndarray | None = None,
    method: str = "gradcam",
    upsample: bool = True,
    normalize: bool = True,
    batch_size: int | None = None,
    scorecam_channels: int | None = 32,
) -> CamResult:
    """Like :func:`grad_cam`, also returning the classes explained and the predictions.

    ``convviz.cam_with_predictions(..., cache=True)`` reuses a result computed with the same
    weights, images and arguments, in this or another process.
    """
    if method not in CAM_METHODS:
        raise InputError(f"unknown CAM method {method!r}; valid methods: {', '.join(CAM_METHODS)}")
    x = check_images(model, images, exact_size=True)
    name = require_spatial(
        model, last_conv_layer(model) if layer is None else layer, "Grad-CAM needs the output of"
    ).name
    out_shape = model.outputs[0].shape
    if len(out_shape) != 2:
        raise InputError(
            f"model {model.name!r} output has shape {tuple(out_shape)}; Grad-CAM needs "
            "class scores of shape (batch, num_classes)"
        )
    num_classes = int(out_shape[-1])
    classes_in = class_indices(class_index, len(x), num_classes)
    if batch_size is None:  # 32 images, fewer where their activations would not fit in memory
        batch_size = fitting_batch(model, 32, cap=32)
    jstep = _backend.cached_jit(model, ("grad_cam", name), lambda: _cam_step(model, name))
    A, G, Z = run_batches(
        jstep, [x, classes_in], batch_size=batch_size, no_grad=False, post=lambda v: v.astype(np.float32)
    )
    predicted = Z.argmax(axis=1)
    classes = np.where(classes_in < 0, predicted, classes_in)
    probs = probabilities(model, Z)

    score_masked = None
    if method == "scorecam":
        split = split_model(model, name, logits=True)
        head_logits = _backend.cached_jit(model, ("logits", name), lambda: lambda t: split.head(split.body(t)))

        def score_masked(i: int, masks: np.ndarray) -> np.ndarray:
            out = []  # masks upsampled and applied a batch at a time: memory bounded for any channel count
            for _, _, (chunk,) in chunks([masks], batch_size=batch_size):
                up = upsample_maps(chunk, x.shape[1:3])
                batch = x[i][None] * up[..., None]
                out.append(run_batches(head_logits, [batch], batch_size=batch_size, pad=True)[:, classes[i]])
            return np.concatenate(out)

    ctx = _Context(A, G, classes, score_masked, scorecam_channels)
    maps = np.maximum(CAM_METHODS[method](ctx), 0).astype(np.float32)  # ReLU
    bad = ~np.isfinite(maps)
    if bad.any():
        warnings.warn(
            f"{method}: {int(bad.sum())} NaN or infinite value(s) in the maps of image(s) "
            f"{np.flatnonzero(bad.any(axis=(1, 2))).tolist()} set to 0",
            NonFiniteWarning,
            stacklevel=3,
        )
        maps = np.where(bad, 0.0, maps).astype(np.float32)
    if upsample:
        maps = np.maximum(upsample_maps(maps, x.shape[1:3]), 0)
    if normalize:
        peak = maps.max(axis=(1, 2))
        zero = peak <= 0
        if zero.any():
            warnings.warn(
                f"{method}: the map of image(s) {np.flatnonzero(zero).tolist()} is all zero "
                "(no positive evidence for the class at this layer); left as zeros",
                BlankMapWarning,
                stacklevel=3,
            )
        maps = maps / np.where(zero, 1.0, peak)[:, None, None]
    return CamResult(maps, classes, predicted, probs, name, method)


def grad_cam(
    model: keras.Model,
    images: np.ndarray,
    *,
    layer: str | None = None,
    class_index: int | Sequence[int] | np.ndarray | None = None,
    method: str = "gradcam",
    upsample: bool = True,
    normalize: bool = True,
    scorecam_channels: int | None = 32,
) -> np.ndarray:
    """Class activation maps for a batch of images (``convviz.grad_cam(..., cache=True)``
    reuses a result computed with the same weights, images and arguments).

    Parameters
    ----------
    model
        A classifier (Functional or Sequential; nested, reloaded and ``Rescaling`` work).
    images
        (N, H, W, C) or (H, W, C), the model's input size, channels and value range.
    layer
        A layer with a rank-4 output; None: :func:`convviz.graph.layers.last_conv_layer`.
    class_index
        None: each image's top class; an int, or one index per image.
    method
        ``"gradcam"`` (Selvaraju et al.: ReLU(Σ_k α_k A^k), α_k the spatial mean of
        ∂y_c/∂A^k, y_c the score before the softmax), ``"gradcam++"``, ``"layercam"``,
        ``"hirescam"`` (gradient × activation per position, summed over channels) or
        ``"scorecam"`` (masked inputs in batches, the 32 most active channels; see
        ``_scorecam`` for its choices against the paper).
    upsample
        Resize to the input size (bilinear); False keeps the layer's resolution.
    normalize
        Divide each map by its maximum (the chapter's [0, 1]); an all-zero map stays
        zero, with a warning.
    scorecam_channels
        Score-CAM only: how many channels (the most active) mask the input; None: all,
        as in the paper.

    Returns
    -------
    np.ndarray
        float32 (N, H, W), or (N, h, w) with ``upsample=False``. Never NaN.
    """
    return cam_with_predictions(
        model,
        images,
        layer=layer,
        class_index=class_index,
        method=method,
        upsample=upsample,
        normalize=normalize,
        scorecam_channels=scorecam_channels,
    ).maps
