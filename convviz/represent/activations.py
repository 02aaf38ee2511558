"""Intermediate activations: one multi-output pass, and how sparse each layer is: the share of
channels blank for each image (the chapter's sparsity) and the channels dead on every image."""

from __future__ import annotations

from collections.abc import Sequence

import keras
import numpy as np

from convviz.core import backend as _backend
from convviz.core.batches import run_batches
from convviz.core.checks import check_images
from convviz.graph.choice import activation_layers
from convviz.graph.layers import layer_infos, resolve_layer
from convviz.graph.split import forward
from convviz.core.errors import InputError

__all__ = ["never_fires", "extract_activations", "blank_channel_share", "layer_sparsity"]


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
        raise InputError(f"model {model.name!r} has no conv or pooling layer to show")
    step = _backend.cached_jit(model, ("activations", tuple(names)), lambda: lambda t: forward(model, t, names)[1])
    out = run_batches(step, [x], batch_size=batch_size, post=lambda a: a.astype(np.float32))
    return {n: out[n] for n in names}


def _check(name: str, a: np.ndarray) -> np.ndarray:
    a = np.asarray(a)
    if a.ndim != 4:
        raise InputError(f"activation {name!r} must be (N, H, W, C), got shape {a.shape}")
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


def never_fires(responses: np.ndarray, *, atol: float = 0.0) -> np.ndarray:
    """Per channel (the last axis), True when no value of ``responses`` (any leading axes:
    images, positions) is above ``atol``: a *dead* unit on these images.

    convviz's one definition of dead: the layer statistics (:func:`layer_sparsity`), the
    unit pages (:attr:`convviz.represent.examples.DatasetExamples.dead`) and the filter
    patterns (*dead on data*) all use it. On a ReLU's output it is a channel that is zero
    everywhere; on a linear layer's, one that is never positive."""
    r = np.asarray(responses)
    return ~np.any(r.reshape(-1, r.shape[-1]) > atol, axis=0)


def layer_sparsity(activations: dict[str, np.ndarray], *, atol: float = 0.0) -> dict[str, float]:
    """Per layer, the share of channels dead on every given image (:func:`never_fires`:
    never above ``atol`` at any position of any image), not the chapter's per-image
    sparsity, which is :func:`blank_channel_share`."""
    return {name: float(never_fires(_check(name, a), atol=atol).mean()) for name, a in activations.items()}
