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
naming layers that work.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import keras

__all__ = [
    "LayerInfo",
    "SplitError",
    "Split",
    "layer_infos",
    "applies_relu",
    "class_scores",
    "conv_layers",
    "last_conv_layer",
    "resolve_layer",
    "split_model",
    "forward",
    "layer_input",
    "layer_output",
    "get_layer",
    "require_spatial",
    "display_names",
    "output_layer",
    "output_squashing",
    "stripped_activation",
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


class SplitError(ValueError):
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


def _is_graph_model(op: Any) -> bool:
    return isinstance(op, keras.Model) and (isinstance(op, keras.Sequential) or hasattr(op, "_nodes_by_depth"))


def _function(model: keras.Model) -> Any:
    """The Functional graph of a model (Sequential models keep one inside)."""
    if isinstance(model, keras.Sequential):
        fn = getattr(model, "_functional", None)
        if fn is None:
            raise ValueError(
                f"Sequential model {model.name!r} has no known input shape: start it with "
                "keras.Input(shape=...) or call model.build((None, H, W, C)) first"
            )
        return fn
    if not hasattr(model, "_nodes_by_depth"):
        raise ValueError(
            f"convviz needs a Functional or Sequential model; {model.name!r} is a subclassed "
            f"{type(model).__name__}. Rebuild it with keras.Input(...) and the functional API"
        )
    return model


def _nodes(model: keras.Model) -> list[Any]:
    fn = _function(model)
    if len(fn.inputs) != 1:
        raise ValueError(
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
        for node in _nodes(m):
            op = node.operation
            shape = tuple(node.outputs[0].shape) if node.outputs else ()
            name = prefix + op.name
            nested = _is_graph_model(op)
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
        raise ValueError(
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
        raise ValueError(
            f"layer name {key!r} is ambiguous in model {model.name!r}: use one of "
            + ", ".join(repr(m.name) for m in matches)
        )
    spatial = display_names([i for i in infos if _is_feature_layer(i)], infos)
    every = display_names(infos, infos)
    close = difflib.get_close_matches(key, every, n=3, cutoff=0.5)
    hint = f" Did you mean {', '.join(map(repr, close))}?" if close else ""
    shown = spatial if spatial else every
    raise ValueError(
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
        raise ValueError(
            f"layer {info.name!r} has output shape {info.output_shape}, not (batch, height, width, "
            f"channels): {purpose} a convolutional layer, e.g. one of "
            f"{', '.join(conv_layers(model)[-5:])}"
        )
    return info


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


def _call(op: Any, args: tuple[Any, ...], kwargs: dict[str, Any], *, logits: bool, guided: bool = False) -> Any:
    if "training" in getattr(op, "_call_context_args", ()):
        kwargs = {**kwargs, "training": False}
    if logits and _strippable(op):
        if isinstance(op, keras.layers.Dense):
            out = keras.ops.matmul(args[0], op.kernel)
            return out + op.bias if op.use_bias else out
        return args[0]
    out = op(*args, **kwargs)
    if guided and applies_relu(op):
        from convviz._backend import guided_gate

        out = guided_gate(out)
    return out


def output_layer(model: keras.Model) -> tuple[str, Any]:
    """The address and Layer object that produce the model's output (nested models are
    entered)."""
    fn = _function(model)
    if len(fn.outputs) != 1:
        raise ValueError(f"model {model.name!r} has {len(fn.outputs)} outputs; convviz needs one")
    target = id(fn.outputs[0])
    for node in reversed(_nodes(model)):
        if any(id(t) == target for t in node.outputs):
            op = node.operation
            if _is_graph_model(op):
                inner, layer = output_layer(op)
                return f"{op.name}/{inner}", layer
            return op.name, op
    raise ValueError(f"model {model.name!r}: no layer produces its output")


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


def _warn_if_squashed(model: keras.Model) -> None:
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
        RuntimeWarning,
        stacklevel=3,
    )


_IN = "@in"  # key prefix of input taps in _run's result


def _run(
    model: keras.Model,
    x: Any = None,
    *,
    start: Path | None = None,
    start_value: Any = None,
    taps: Sequence[Path] = (),
    input_taps: Sequence[Path] = (),
    need_output: bool = True,
    logits: bool = False,
    guided: bool = False,
) -> tuple[Any, dict[Path, Any]]:
    """Evaluate ``model``'s graph from its input, or from layer ``start``'s output.

    Returns the model output (None when not needed) and the tapped values: the output
    of each layer in ``taps`` (keyed by its path) and the input of each layer in
    ``input_taps`` (keyed ``("@in", *path)``). Without ``need_output`` it stops as soon
    as every tap is collected. ``guided`` puts :func:`convviz._backend.guided_gate` after
    every ReLU (nested models included).
    """
    fn = _function(model)
    nodes = _nodes(model)
    values: dict[int, Any] = {}
    if start is None:
        values[id(fn.inputs[0])] = x
    tapped: dict[Path, Any] = {}
    wanted = [tuple(t) for t in taps] + [(_IN, *t) for t in input_taps]
    out_ids = {id(t) for t in fn.outputs}

    def done() -> bool:
        return len(tapped) == len(wanted)

    def absorb(op_name: str, sub: dict[Path, Any]) -> None:
        for k, v in sub.items():
            tapped[(_IN, op_name, *k[1:]) if k[0] == _IN else (op_name, *k)] = v

    for node in nodes:
        op = node.operation
        present = [id(t) in values for t in node.input_tensors]
        is_start = start is not None and op.name == start[0]
        sub_taps = [t[1:] for t in taps if t[0] == op.name and len(t) > 1]
        sub_in = [t[1:] for t in input_taps if t[0] == op.name and len(t) > 1]
        produces_output = any(id(t) in out_ids for t in node.outputs)
        outside = [
            w
            for w in wanted
            if w not in tapped
            and not ((w[0] == op.name and len(w) > 1) or (w[0] == _IN and w[1] == op.name and len(w) > 2))
        ]
        sub_need = need_output or bool(outside)
        if is_start and len(start) == 1:  # type: ignore[arg-type]
            outputs = start_value
        elif is_start:
            outputs, sub = _run(
                op,
                start=start[1:],  # type: ignore[index]
                start_value=start_value,
                taps=sub_taps,
                input_taps=sub_in,
                need_output=sub_need,
                logits=logits and produces_output,
                guided=guided,
            )
            absorb(op.name, sub)
        elif not any(present):
            continue  # upstream of the start layer
        elif not all(present):
            raise SplitError(_bypass_message(model, start, op.name))
        else:
            args, kwargs = node.arguments.fill_in(values)
            if (op.name,) in input_taps:
                tapped[(_IN, op.name)] = args[0]
                if not need_output and done():
                    return None, tapped
            if sub_taps or sub_in or (guided and _is_graph_model(op)):
                outputs, sub = _run(
                    op,
                    args[0],
                    taps=sub_taps,
                    input_taps=sub_in,
                    need_output=sub_need,
                    logits=logits and produces_output,
                    guided=guided,
                )
                absorb(op.name, sub)
            else:
                outputs = _call(op, args, kwargs, logits=logits and produces_output, guided=guided)
        flat = outputs if isinstance(outputs, (list, tuple)) else [outputs]
        for ref, val in zip(node.outputs, flat):
            values[id(ref)] = val
        if (op.name,) in taps:
            tapped[(op.name,)] = flat[0]
        if not need_output and done():
            return None, tapped
    if not need_output:
        missing = [w for w in wanted if w not in tapped]
        raise SplitError(f"layers {missing} were not reached in model {model.name!r}")
    if len(fn.outputs) != 1:
        raise ValueError(f"model {model.name!r} has {len(fn.outputs)} outputs; convviz needs one")
    ref = fn.outputs[0]
    if id(ref) not in values:
        raise SplitError(_bypass_message(model, start, None))
    return values[id(ref)], tapped


def _bypass_message(model: keras.Model, start: Path | None, blocker: str | None) -> str:
    layer = "/".join(start or ())
    where = f" (layer {blocker!r} also takes an input from before it)" if blocker else ""
    ok = []
    for name in reversed(conv_layers(model)):
        try:
            _run_check(model, name)
            ok.append(name)
        except SplitError:
            pass
        if len(ok) >= 5:
            break
    suggestion = f" Layers that work: {', '.join(ok)}." if ok else ""
    return (
        f"cannot split model {model.name!r} at layer {layer!r}: a skip connection bypasses it"
        f"{where}, so the rest of the model does not depend on this layer alone.{suggestion}"
    )


def _run_check(model: keras.Model, name: str) -> None:
    """Walk the head's graph from ``name`` (raises SplitError when a node is bypassed)."""
    _run_symbolic_head(model, resolve_layer(model, name).path, None)


def _run_symbolic_head(model: keras.Model, path: Path, spec: Any) -> None:
    fn = _function(model)
    nodes = _nodes(model)
    values: set[int] = set()
    for node in nodes:
        op = node.operation
        present = [id(t) in values for t in node.input_tensors]
        if op.name == path[0]:
            if len(path) > 1:
                _run_symbolic_head(op, path[1:], spec)
        elif not any(present):
            continue
        elif not all(present):
            raise SplitError(path)
        values.update(id(t) for t in node.outputs)
    if id(fn.outputs[0]) not in values:
        raise SplitError(path)


@dataclass(frozen=True)
class Split:
    """A model cut at one layer: ``head(body(x)) == model(x)``.

    ``body`` and ``head`` take and return backend tensors, so they can be
    differentiated and compiled with :mod:`convviz._backend`.
    """

    layer: str
    output_shape: tuple[Any, ...]  # (None, h, w, channels): None for the batch
    body: Callable[[Any], Any]
    head: Callable[[Any], Any]


def split_model(model: keras.Model, layer: str | keras.layers.Layer, *, logits: bool = False) -> Split:
    """Split ``model`` into body (input → layer output) and head (layer output → output).

    Parameters
    ----------
    model
        A Functional or Sequential model with one input and one output.
    layer
        Plain name, ``"outer/inner"`` path, or Layer object.
    logits
        When True the head stops before a final softmax (a ``Dense(activation="softmax")``
        gives its pre-activation; a trailing ``Softmax``/``Activation("softmax")`` layer is
        skipped). The model itself is not modified.

    Raises
    ------
    SplitError
        When a skip connection bypasses the layer (the message names layers that work).
    """
    info = resolve_layer(model, layer)
    path = info.path
    if logits:
        _warn_if_squashed(model)
    try:
        _run_symbolic_head(model, path, None)
    except SplitError:
        raise SplitError(_bypass_message(model, path, None)) from None

    def body(x: Any) -> Any:
        return _run(model, x, taps=[path], need_output=False)[1][path]

    def head(a: Any) -> Any:
        return _run(model, start=path, start_value=a, logits=logits)[0]

    return Split(info.name, info.output_shape, body, head)


def forward(
    model: keras.Model, x: Any, layers: Sequence[str], *, need_output: bool = False, logits: bool = False
) -> tuple[Any, dict[str, Any]]:
    """One pass over ``model`` returning the outputs of ``layers`` (and the model output).

    Only the part of the graph needed is computed when ``need_output`` is False.
    """
    infos = [resolve_layer(model, name) for name in layers]
    paths = [i.path for i in infos]
    out, tapped = _run(model, x, taps=paths, need_output=need_output or not paths, logits=logits)
    return out, {name: tapped[i.path] for name, i in zip(layers, infos)}


def class_scores(model: keras.Model, *, guided: bool = False) -> Callable[[Any], Any]:
    """A function mapping the model input to its class scores: the output without a final
    softmax or sigmoid (see :func:`split_model`). ``guided``: the gradient through it follows
    guided backpropagation's rule at every ReLU (the values are unchanged)."""
    _warn_if_squashed(model)

    def fn(x: Any) -> Any:
        return _run(model, x, logits=True, guided=guided)[0]

    return fn


def layer_output(model: keras.Model, layer: str) -> Callable[[Any], Any]:
    """A function mapping the model input to the output of ``layer`` (no head needed, so
    layers inside residual blocks work too)."""
    path = resolve_layer(model, layer).path

    def fn(x: Any) -> Any:
        return _run(model, x, taps=[path], need_output=False)[1][path]

    return fn


def layer_input(model: keras.Model, layer: str) -> Callable[[Any], Any]:
    """A function mapping the model input to the *input* of ``layer`` (the layer is not run)."""
    path = resolve_layer(model, layer).path

    def fn(x: Any) -> Any:
        return _run(model, x, input_taps=[path], need_output=False)[1][(_IN, *path)]

    return fn


def get_layer(model: keras.Model, layer: str | LayerInfo) -> keras.layers.Layer:
    """The Layer object addressed by a plain name, an ``"outer/inner"`` path or a
    :class:`LayerInfo` (used as is, without another walk of the graph)."""
    obj: Any = model
    path = layer.path if isinstance(layer, LayerInfo) else resolve_layer(model, layer).path
    for part in path:
        obj = obj.get_layer(part)
    return obj
