"""A classifier's head: its output layer, the activation that squashes logits into probabilities (softmax, sigmoid), and where a ReLU applies; gradients are taken of the logits, before the squashing."""

from __future__ import annotations

from typing import Any

import keras

from convviz.graph.layers import functional_graph, graph_nodes, is_graph_model
from convviz.core.errors import InputError
from convviz.core.errors import SquashedOutputWarning

__all__ = ["applies_relu", "output_layer", "output_squashing", "stripped_activation", "call_layer", "warn_if_squashed"]


_STRIPPED = ("softmax", "sigmoid")  # output squashings removed to get class scores (logits)


_LINEAR = ("linear", "relu", "leaky_relu", "elu", "gelu", "silu", "swish", "selu", "softplus")


def _act_name(fn: Any) -> str:
    return getattr(fn, "__name__", type(fn).__name__)


def _strippable(op: Any) -> bool:
    if isinstance(op, keras.layers.Softmax):
        return True
    if isinstance(op, (keras.layers.Activation, keras.layers.Dense)):
        return _act_name(op.activation) in _STRIPPED
    return False


def applies_relu(op: Any) -> bool:
    """True for a layer whose output is a ReLU's (``ReLU`` without a negative slope or
    threshold, ``ReLU6``, ``Activation("relu")``, a conv or dense layer with
    ``activation="relu"``): where guided backpropagation gates the gradient."""
    if isinstance(op, keras.layers.ReLU):
        return not float(op.negative_slope) and not float(op.threshold)
    act = getattr(op, "activation", None)
    return act is not None and _act_name(act) in ("relu", "relu6")


def call_layer(op: Any, args: tuple[Any, ...], kwargs: dict[str, Any], *, logits: bool, guided: bool = False) -> Any:
    if "training" in getattr(op, "_call_context_args", ()):
        kwargs = {**kwargs, "training": False}
    if logits and _strippable(op):
        if isinstance(op, keras.layers.Dense):
            out = keras.ops.matmul(args[0], op.kernel)
            return out + op.bias if op.use_bias else out
        return args[0]
    out = op(*args, **kwargs)
    if guided and applies_relu(op):
        from convviz.core.backend import guided_gate

        out = guided_gate(out)
    return out


def output_layer(model: keras.Model) -> tuple[str, Any]:
    """The address and Layer object that produce the model's output (nested models are
    entered)."""
    fn = functional_graph(model)
    if len(fn.outputs) != 1:
        raise InputError(f"model {model.name!r} has {len(fn.outputs)} outputs; convviz needs one")
    target = id(fn.outputs[0])
    for node in reversed(graph_nodes(model)):
        if any(id(t) == target for t in node.outputs):
            op = node.operation
            if is_graph_model(op):
                inner, layer = output_layer(op)
                return f"{op.name}/{inner}", layer
            return op.name, op
    raise InputError(f"model {model.name!r}: no layer produces its output")


def stripped_activation(model: keras.Model) -> str | None:
    """``"softmax"`` or ``"sigmoid"`` when the output layer applies one that convviz removes
    to read class scores (``split_model(..., logits=True)``), else None."""
    _, op = output_layer(model)
    if not _strippable(op):
        return None
    return "softmax" if isinstance(op, keras.layers.Softmax) else _act_name(op.activation)


def output_squashing(model: keras.Model) -> str:
    """How class scores are read from the model's output layer:

    ``"stripped"`` (a softmax or sigmoid convviz removes: the scores before it),
    ``"linear"`` (no squashing: the output is the scores), or ``"unknown"`` (a ``Lambda``,
    a custom layer or another saturating activation that convviz cannot remove: gradients
    are those of its output, which saturate for confident predictions).
    """
    _, op = output_layer(model)
    if _strippable(op):
        return "stripped"
    if isinstance(op, keras.layers.Lambda):
        return "unknown"
    act = getattr(op, "activation", None)
    if act is None:
        known = (
            keras.layers.Dense,
            keras.layers.GlobalAveragePooling2D,
            keras.layers.GlobalMaxPooling2D,
            keras.layers.Flatten,
            keras.layers.Reshape,
            keras.layers.Add,
            keras.layers.Dropout,
        )
        return "linear" if isinstance(op, known) or type(op).__module__.startswith("keras.") else "unknown"
    return "linear" if _act_name(act) in _LINEAR else "unknown"


_WARNED: set[tuple[str, str]] = set()


def warn_if_squashed(model: keras.Model) -> None:
    if output_squashing(model) != "unknown":
        return
    name, op = output_layer(model)
    if (model.name, name) in _WARNED:
        return
    _WARNED.add((model.name, name))
    import warnings

    kind = type(op).__name__ + (
        f"(activation={_act_name(op.activation)!r})" if getattr(op, "activation", None) is not None else ""
    )
    warnings.warn(
        f"model {model.name!r}: its output layer {name!r} is a {kind} that convviz cannot remove, "
        "so class scores are read after it: if it squashes (softmax, sigmoid, tanh), gradients "
        "of confident predictions vanish. Give the model a Dense/Activation output with a "
        "softmax or sigmoid (removed automatically) or linear logits.",
        SquashedOutputWarning,
        stacklevel=3,
    )
