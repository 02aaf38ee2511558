"""The forward interpreter: a model split at a layer into a body (image to the layer's output) and a head (that output to class scores, logits), and forward passes that return any layers' outputs in one pass; Guided Backprop's gated ReLUs are applied here."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import keras

from convviz.graph.heads import call_layer, warn_if_squashed
from convviz.graph.layers import SplitError, conv_layers, functional_graph, graph_nodes, is_graph_model, resolve_layer
from convviz.core.errors import InputError

if TYPE_CHECKING:
    from convviz.graph.layers import Path


__all__ = ["Split", "class_scores", "split_model", "forward", "layer_input", "layer_output"]


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
    as every tap is collected. ``guided`` puts :func:`convviz.core.backend.guided_gate` after
    every ReLU (nested models included).
    """
    fn = functional_graph(model)
    nodes = graph_nodes(model)
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
            if sub_taps or sub_in or (guided and is_graph_model(op)):
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
                outputs = call_layer(op, args, kwargs, logits=logits and produces_output, guided=guided)
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
        raise InputError(f"model {model.name!r} has {len(fn.outputs)} outputs; convviz needs one")
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
    fn = functional_graph(model)
    nodes = graph_nodes(model)
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
    differentiated and compiled with :mod:`convviz.core.backend`.
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
        warn_if_squashed(model)
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
    warn_if_squashed(model)

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
