"""Which layers a page shows: the chapter's layers (conv and pooling outputs, each after its nonlinearity), a few representative ones spread over the depth, and an even subset of a long list."""

from __future__ import annotations

from collections.abc import Sequence

import keras

from convviz.graph.layers import display_names, get_layer, layer_infos, resolve_layer
from convviz.core.errors import InputError

__all__ = ["conv_layers_after_activation", "evenly_spaced", "representative_layers", "activation_layers"]


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


def conv_layers_after_activation(model: keras.Model) -> list[str]:
    """The chapter's layers (:func:`activation_layers`) less pooling: the layers whose units
    are convolution units (a pooling unit is its conv unit, subsampled)."""
    return [n for n in activation_layers(model) if "Pooling" not in resolve_layer(model, n).class_name]


def evenly_spaced(names: Sequence[str], n: int) -> list[str]:
    """At most ``n`` of ``names`` (``n`` at least 1), spread evenly over them in order: the
    first and (for ``n`` > 1) the last kept; all of them when there are at most ``n``."""
    if n < 1:
        raise InputError(f"n must be at least 1, got {n}")
    if len(names) <= n:
        return list(names)
    picks = sorted({round(k * (len(names) - 1) / max(n - 1, 1)) for k in range(n)})
    return [names[p] for p in picks]


def representative_layers(model: keras.Model, n: int = 3) -> list[str]:
    """``n`` layers spread over the depth of ``model`` (first, middle(s), last), each taken
    after its nonlinearity (a ``Conv2D(activation="relu")`` itself, or the activation layer
    that follows a linear convolution and its batch normalization), without pooling layers.

    After a ReLU an objective that stays at zero means the unit never fires: "dead" then
    means dead, not merely negatively biased as on a linear convolution's output.
    """
    names = conv_layers_after_activation(model)
    if not names:
        raise InputError(f"model {model.name!r} has no convolution layer")
    return evenly_spaced(names, n)
