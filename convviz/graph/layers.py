"""Find layers in a model and split it at a layer.

convviz runs a model's graph itself, node by node, instead of building
sub-models with ``keras.Model(model.inputs, layer.output)``. That one mechanism
covers the cases where the usual recipe fails:

* ``Sequential`` models (no ``model.output`` before they are called);
* models reloaded from ``.keras`` files;
* nested backbones (a model used as a layer: the "graph disconnected" trap);
  address an inner layer by its plain name when unique, or as
  ``"backbone/block3_sepconv1"``;
* models that start with preprocessing layers such as ``Rescaling``.

The *body* maps the model input to a layer's output; the *head* maps that output
to the model output. A head exists only when everything after the layer depends
on the layer alone: a skip connection that bypasses it raises :class:`SplitError`
naming layers that work."""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import keras
from convviz.core.errors import InputError

__all__ = [
    "LayerInfo",
    "SplitError",
    "layer_infos",
    "conv_layers",
    "last_conv_layer",
    "resolve_layer",
    "get_layer",
    "require_spatial",
    "display_names",
]


Path = tuple[str, ...]


_POOLING = ("Pooling2D",)


_NOT_FEATURES = (
    "InputLayer",
    "Rescaling",
    "Normalization",
    "Resizing",
    "CenterCrop",
    "Dropout",
    "SpatialDropout2D",
    "RandomFlip",
    "RandomRotation",
    "RandomZoom",
    "RandomTranslation",
)


class SplitError(InputError):
    """The model cannot be split at the requested layer."""


@dataclass(frozen=True)
class LayerInfo:
    """One layer of a model, in forward order.

    Attributes
    ----------
    name
        Address of the layer: ``"conv1"`` or ``"backbone/block3_sepconv1"``.
    class_name
        The Keras class, e.g. ``"Conv2D"``.
    output_shape
        Symbolic output shape, batch dimension ``None``.
    is_model
        True for a nested model used as a layer.
    """

    name: str
    class_name: str
    output_shape: tuple[Any, ...]  # (None, h, w, channels): None for the batch
    is_model: bool = False

    @property
    def path(self) -> Path:
        return tuple(self.name.split("/"))

    @property
    def is_spatial(self) -> bool:
        """True when the output is rank 4 (batch, height, width, channels)."""
        return len(self.output_shape) == 4


def is_graph_model(op: Any) -> bool:
    return isinstance(op, keras.Model) and (isinstance(op, keras.Sequential) or hasattr(op, "_nodes_by_depth"))


def functional_graph(model: keras.Model) -> Any:
    """The Functional graph of a model (Sequential models keep one inside)."""
    if isinstance(model, keras.Sequential):
        fn = getattr(model, "_functional", None)
        if fn is None:
            raise InputError(
                f"Sequential model {model.name!r} has no known input shape: start it with "
                "keras.Input(shape=...) or call model.build((None, H, W, C)) first"
            )
        return fn
    if not hasattr(model, "_nodes_by_depth"):
        raise InputError(
            f"convviz needs a Functional or Sequential model; {model.name!r} is a subclassed "
            f"{type(model).__name__}. Rebuild it with keras.Input(...) and the functional API"
        )
    return model


def graph_nodes(model: keras.Model) -> list[Any]:
    fn = functional_graph(model)
    if len(fn.inputs) != 1:
        raise InputError(
            f"model {model.name!r} has {len(fn.inputs)} inputs; convviz supports models with exactly one image input"
        )
    out = []
    for depth in sorted(fn._nodes_by_depth, reverse=True):
        for node in fn._nodes_by_depth[depth]:
            if node.operation is not None and not node.is_input:
                out.append(node)
    return out


def layer_infos(model: keras.Model) -> list[LayerInfo]:
    """Every layer of ``model`` in forward order, nested models expanded.

    A nested model appears once as itself (``is_model=True``) followed by its own
    layers, addressed as ``"outer/inner"``.
    """
    infos: list[LayerInfo] = []

    def walk(m: keras.Model, prefix: str) -> None:
        for node in graph_nodes(m):
            op = node.operation
            shape = tuple(node.outputs[0].shape) if node.outputs else ()
            name = prefix + op.name
            nested = is_graph_model(op)
            infos.append(LayerInfo(name, type(op).__name__, shape, nested))
            if nested:
                walk(op, name + "/")

    walk(model, "")
    return infos


def _is_feature_layer(info: LayerInfo) -> bool:
    return info.is_spatial and not info.is_model and info.class_name not in _NOT_FEATURES


def conv_layers(model: keras.Model, *, pooling: bool = True) -> list[str]:
    """Names of the layers with rank-4 outputs (conv, pooling, activations...), in forward order.

    Input and preprocessing layers (``Rescaling``, ``Normalization``...) and nested
    model containers are left out. Names are plain when unique, else ``"outer/inner"``.
    """
    every = layer_infos(model)
    infos = [i for i in every if _is_feature_layer(i)]
    if not pooling:
        infos = [i for i in infos if not i.class_name.endswith(_POOLING)]
    return display_names(infos, every)


def last_conv_layer(model: keras.Model) -> str:
    """The last layer with a spatial (rank-4) output that is not a pooling layer.

    This is Grad-CAM's default layer: for Xception it is ``block14_sepconv2_act``,
    the layer keras.io uses.
    """
    names = conv_layers(model, pooling=False)
    if not names:
        raise InputError(
            f"model {model.name!r} has no layer with a rank-4 (batch, height, width, channels) "
            "output: Grad-CAM and filter patterns need a convolutional layer"
        )
    return names[-1]


def display_names(infos: Sequence[LayerInfo], every: Sequence[LayerInfo]) -> list[str]:
    """Short addresses of ``infos``: the plain name when unique among ``every`` layer of the
    model (:func:`layer_infos`), else the ``"outer/inner"`` path."""
    from collections import Counter

    counts = Counter(i.name.split("/")[-1] for i in every)
    return [i.name.split("/")[-1] if counts[i.name.split("/")[-1]] == 1 else i.name for i in infos]


def resolve_layer(model: keras.Model, layer: str | keras.layers.Layer) -> LayerInfo:
    """Find a layer by plain name, ``"outer/inner"`` path or Layer object.

    Raises
    ------
    ValueError
        When no such layer exists (the message lists the closest names first, then the
        valid layers) or a plain name is ambiguous across nested models.
    """
    infos = layer_infos(model)
    if isinstance(layer, keras.layers.Layer):
        matches = [i for i in infos if i.name.split("/")[-1] == layer.name]
        key = layer.name
    elif isinstance(layer, str):
        key = layer
        matches = [i for i in infos if i.name == layer]
        if not matches:
            matches = [i for i in infos if i.name.split("/")[-1] == layer]
    else:
        raise TypeError(f"layer must be a name or a keras Layer, not {type(layer).__name__}")
    if len(matches) == 1:
        return matches[0]
    if len(matches) > 1:
        raise InputError(
            f"layer name {key!r} is ambiguous in model {model.name!r}: use one of "
            + ", ".join(repr(m.name) for m in matches)
        )
    spatial = display_names([i for i in infos if _is_feature_layer(i)], infos)
    every = display_names(infos, infos)
    close = difflib.get_close_matches(key, every, n=3, cutoff=0.5)
    hint = f" Did you mean {', '.join(map(repr, close))}?" if close else ""
    shown = spatial if spatial else every
    raise InputError(
        f"no layer named {key!r} in model {model.name!r}.{hint} Valid layers: "
        + ", ".join(shown[:60])
        + (" ..." if len(shown) > 60 else "")
    )


def require_spatial(model: keras.Model, layer: str | keras.layers.Layer, purpose: str) -> LayerInfo:
    """The layer's info; a ``ValueError`` naming its shape and layers that work when its
    output is not (batch, height, width, channels). ``purpose`` completes "… need(s) a
    convolutional layer" in the message."""
    info = resolve_layer(model, layer)
    if not info.is_spatial:
        raise InputError(
            f"layer {info.name!r} has output shape {info.output_shape}, not (batch, height, width, "
            f"channels): {purpose} a convolutional layer, e.g. one of "
            f"{', '.join(conv_layers(model)[-5:])}"
        )
    return info


def get_layer(model: keras.Model, layer: str | LayerInfo) -> keras.layers.Layer:
    """The Layer object addressed by a plain name, an ``"outer/inner"`` path or a
    :class:`LayerInfo` (used as is, without another walk of the graph)."""
    obj: Any = model
    path = layer.path if isinstance(layer, LayerInfo) else resolve_layer(model, layer).path
    for part in path:
        obj = obj.get_layer(part)
    return obj
