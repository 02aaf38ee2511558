"""Intermediate activations: one multi-output pass, and how sparse each layer is: the share of
channels blank for each image (the chapter's sparsity) and the channels dead on every image."""

from __future__ import annotations

from collections.abc import Sequence

import keras
import numpy as np

from convviz import _backend
from convviz._batches import run_batches
from convviz.layers import display_names, forward, get_layer, layer_infos, resolve_layer
from convviz.validation import check_images

__all__ = ["activation_layers", "extract_activations", "blank_channel_share", "layer_sparsity"]

_CONV = ("Conv2D", "SeparableConv2D", "DepthwiseConv2D", "Conv2DTranspose")
_POOL = ("MaxPooling2D", "AveragePooling2D")
_ACT = ("Activation", "ReLU", "LeakyReLU", "ELU", "PReLU")


def _is_linear(layer: keras.layers.Layer) -> bool:
    act = getattr(layer, "activation", None)
    return act is None or getattr(act, "__name__", "") == "linear"


def activation_layers(model: keras.Model) -> list[str]:
    """The layers the chapter shows: conv and pooling outputs, after their nonlinearity.

    A convolution with a built-in activation (``Conv2D(..., activation="relu")``) is
    shown itself; a linear convolution followed by batch normalization and an
    activation layer (Xception, VGG with BN) is shown through that activation layer.
    """
    every = layer_infos(model)
    chosen = []
    for info in every:
        if not info.is_spatial or info.is_model:
            continue
        kind = info.class_name
        if kind in _POOL or kind in _ACT or (kind in _CONV and not _is_linear(get_layer(model, info))):
            chosen.append(info)
    return display_names(chosen, every)


def extract_activations(
    model: keras.Model, images: np.ndarray, *, layers: Sequence[str] | None = None, batch_size: int = 64
) -> dict[str, np.ndarray]:
    """Outputs of many layers for ``images``, in one compiled forward pass per batch.

    Parameters
    ----------
    model
        A Functional or Sequential model (nested backbones, ``Rescaling`` and reloaded
        models work).
    images
        float32 array (N, H, W, C) in the model's input space.
    layers
        Layer names (plain or ``"outer/inner"``); default :func:`activation_layers`.
    batch_size
        Images per forward pass (bounds memory for large N).

    Returns
    -------
    dict
        Layer name → float32 array (N, h, w, c), keys in forward order.
    """
    x = check_images(model, images)
    if layers is None:
        names = activation_layers(model)
    else:
        if isinstance(layers, str):
            raise TypeError("layers must be a sequence of layer names, not a single string")
        names = list(layers)
    order = {info.name: i for i, info in enumerate(layer_infos(model))}
    names = sorted(names, key=lambda n: order[resolve_layer(model, n).name])
    if not names:
        raise ValueError(f"model {model.name!r} has no conv or pooling layer to show")
    step = _backend.cached_jit(model, ("activations", tuple(names)), lambda: lambda t: forward(model, t, names)[1])
    out = run_batches(step, [x], batch_size=batch_size, post=lambda a: a.astype(np.float32))
    return {n: out[n] for n in names}


def _check(name: str, a: np.ndarray) -> np.ndarray:
    a = np.asarray(a)
    if a.ndim != 4:
        raise ValueError(f"activation {name!r} must be (N, H, W, C), got shape {a.shape}")
    return a


def blank_channel_share(activations: dict[str, np.ndarray], *, atol: float = 0.0) -> dict[str, np.ndarray]:
    """Per layer and per image, the share of channels that are blank for that image.

    The chapter's sparsity: a channel is *blank for an image* when ``|activation| <= atol``
    at every position (the pattern it encodes is not in that image). How these shares are
    spread over the images, layer by layer, shows whether blank channels grow with depth.

    Returns
    -------
    dict
        Layer name → float array (N,), one share in [0, 1] per image; layers in the order given.
    """
    out: dict[str, np.ndarray] = {}
    for name, a in activations.items():
        blank = np.all(np.abs(_check(name, a)) <= atol, axis=(1, 2))  # (N, C)
        out[name] = blank.mean(axis=1)
    return out


def layer_sparsity(activations: dict[str, np.ndarray], *, atol: float = 0.0) -> dict[str, float]:
    """Per layer, the share of channels that are blank for *every* given image: channels
    dead on these images (never on), not the chapter's per-image sparsity, which is
    :func:`blank_channel_share`.

    A channel counts as dead when ``|activation| <= atol`` at every position of every image.
    """
    out: dict[str, float] = {}
    for name, a in activations.items():
        blank = np.all(np.abs(_check(name, a)) <= atol, axis=(0, 1, 2))
        out[name] = float(blank.mean())
    return out
