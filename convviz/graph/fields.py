"""Receptive fields: the input pixels a unit of a layer sees, walked back through the graph from the layers' kernels, strides, padding and dilation (no gradient, no image)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import keras

from convviz.graph.layers import functional_graph, graph_nodes, is_graph_model, require_spatial
from convviz.core.errors import InputError

__all__ = ["ReceptiveField", "receptive_field"]


@dataclass(frozen=True)
class ReceptiveField:
    """Where a layer's units look in the input image, per spatial axis (rows, columns).

    Unit ``i`` along an axis sees the input pixels centred on ``offset + i * jump`` and
    spanning ``size`` pixels (``size`` counts pixels outside the image when the layer pads).

    Attributes
    ----------
    size
        Receptive-field size in input pixels, (rows, columns).
    jump
        Input pixels between two neighbouring units (the product of the strides), (rows, columns).
    offset
        Input pixel index of the centre of unit 0's field, (rows, columns); negative when
        padding puts it outside the image, ``x.5`` when the field has an even size.
    """

    size: tuple[int, int]
    jump: tuple[int, int]
    offset: tuple[float, float]

    def window(self, row: int, col: int, height: int, width: int) -> tuple[slice, slice]:
        """The crop of a ``height``×``width`` image around unit (``row``, ``col``): the field,
        clipped to the image size and shifted inside the image (every crop of a layer has
        the same shape)."""
        out = []
        for center, size, jump, offset, limit in zip((row, col), self.size, self.jump, self.offset, (height, width)):
            size = min(size, limit)
            middle = offset + center * jump
            lo = int(math.floor(middle - (size - 1) / 2 + 1e-9))
            lo = min(max(lo, 0), limit - size)
            out.append(slice(lo, lo + size))
        return out[0], out[1]


# A field per axis: (size, jump, start) with start the centre of unit 0 in pixel indices;
# _Undefined carries why a layer has none.
_Axis = tuple[float, float, float]


@dataclass(frozen=True)
class _Undefined:
    reason: str


_POINTWISE = (
    "InputLayer",
    "Activation",
    "ReLU",
    "LeakyReLU",
    "PReLU",
    "ELU",
    "Softmax",
    "BatchNormalization",
    "LayerNormalization",
    "GroupNormalization",
    "UnitNormalization",
    "Rescaling",
    "Normalization",
    "Dropout",
    "SpatialDropout2D",
    "GaussianNoise",
    "GaussianDropout",
    "AlphaDropout",
    "ActivityRegularization",
    "Add",
    "Subtract",
    "Multiply",
    "Average",
    "Maximum",
    "Minimum",
    "Concatenate",
    "Identity",
)


_CONVS = ("Conv2D", "SeparableConv2D", "DepthwiseConv2D")


_POOLS = ("MaxPooling2D", "AveragePooling2D")


def _pair(value: Any) -> tuple[int, int]:
    if isinstance(value, int):
        return value, value
    return int(value[0]), int(value[1])


def _spatial(tensor: Any) -> tuple[Any, Any] | None:
    shape = tuple(tensor.shape)
    return (shape[1], shape[2]) if len(shape) == 4 else None


def _sliding(
    field: tuple[_Axis, _Axis],
    op: Any,
    kernel: tuple[int, int],
    strides: tuple[int, int],
    dilation: tuple[int, int],
    in_size: tuple[Any, Any],
) -> tuple[_Axis, _Axis] | _Undefined:
    out = []
    for (r, j, start), k, s, d, n in zip(field, kernel, strides, dilation, in_size):
        k_eff = d * (k - 1) + 1
        if op.padding == "same":
            if n is None and s > 1:
                return _Undefined(
                    f"layer {op.name!r} pads 'same' with stride {s} on an input of "
                    "unknown size (give the model a fixed input size)"
                )
            if n is None:
                pad = (k_eff - 1) // 2
            else:
                pad = max((-(-n // s) - 1) * s + k_eff - n, 0) // 2
        else:
            pad = 0
        out.append((r + (k_eff - 1) * j, j * s, start + ((k_eff - 1) / 2 - pad) * j))
    return out[0], out[1]


def _merge(fields: list[Any], out_size: tuple[Any, Any] | None, op: Any) -> Any:
    """The union of the fields a layer's inputs see; an input broadcast from 1×1 (a global
    context such as a squeeze-and-excitation branch) is left out."""
    defined = [f for f in fields if not isinstance(f[0], _Undefined)]
    broadcast = [f for f in defined if f[1] == (1, 1) and out_size not in (None, (1, 1))]
    spatial = [f[0] for f in defined if f not in broadcast]
    undefined = [f[0] for f in fields if isinstance(f[0], _Undefined)]
    if undefined:
        return undefined[0]
    if not spatial:
        return _Undefined(f"layer {op.name!r} has no spatial input")
    axes = []
    for axis in range(2):
        jumps = {f[axis][1] for f in spatial}
        if len(jumps) > 1:
            return _Undefined(f"layer {op.name!r} merges inputs with different strides {sorted(jumps)}")
        lo = min(f[axis][2] - (f[axis][0] - 1) / 2 for f in spatial)
        hi = max(f[axis][2] + (f[axis][0] - 1) / 2 for f in spatial)
        axes.append((hi - lo + 1, spatial[0][axis][1], (lo + hi) / 2))
    return axes[0], axes[1]


def _layer_field(op: Any, inputs: list[tuple[Any, Any]], out_size: tuple[Any, Any] | None) -> Any:
    kind = type(op).__name__
    if out_size is None:
        return _Undefined(f"layer {op.name!r} ({kind}) has no spatial output")
    first, in_size = inputs[0]
    if isinstance(first, _Undefined) and kind not in _POINTWISE:
        return first
    if kind in _CONVS:
        return _sliding(first, op, _pair(op.kernel_size), _pair(op.strides), _pair(op.dilation_rate), in_size)
    if kind in _POOLS:
        return _sliding(first, op, _pair(op.pool_size), _pair(op.strides), (1, 1), in_size)
    if kind == "ZeroPadding2D":
        (top, _), (left, _) = op.padding
        return tuple((r, j, s - p * j) for (r, j, s), p in zip(first, (top, left)))
    if kind == "Cropping2D":
        (top, _), (left, _) = op.cropping
        return tuple((r, j, s + c * j) for (r, j, s), c in zip(first, (top, left)))
    if kind in _POINTWISE:
        return _merge(inputs, out_size, op)
    why = {
        "GlobalAveragePooling2D": "global pooling",
        "GlobalMaxPooling2D": "global pooling",
        "Resizing": "a resize",
        "UpSampling2D": "an upsampling",
        "Conv2DTranspose": "a transposed convolution",
        "MultiHeadAttention": "attention",
        "Attention": "attention",
        "Reshape": "a reshape",
        "Flatten": "a flatten",
        "Dense": "a dense layer",
    }.get(kind)
    if why:
        return _Undefined(
            f"it comes after {why} ({op.name!r}), where every unit sees the whole input or no fixed window"
        )
    return _Undefined(
        f"layer {op.name!r} is a {kind}, whose receptive field convviz does not know "
        f"(it knows {', '.join(_CONVS + _POOLS)}, ZeroPadding2D, Cropping2D and element-wise layers)"
    )


def _walk(model: keras.Model, field: Any, prefix: str, found: dict[str, Any]) -> Any:
    """Fields of every layer of ``model`` (nested ones as ``outer/inner``) given the field of
    its input; returns the field of its output."""
    fn = functional_graph(model)
    fields: dict[int, tuple[Any, Any]] = {id(fn.inputs[0]): (field, _spatial(fn.inputs[0]))}
    for node in graph_nodes(model):
        op = node.operation
        inputs = [fields[id(t)] for t in node.input_tensors if id(t) in fields]
        if not inputs:
            continue
        out_size = _spatial(node.outputs[0]) if node.outputs else None
        if is_graph_model(op):
            result = _walk(op, inputs[0][0], prefix + op.name + "/", found)
        else:
            result = _layer_field(op, inputs, out_size)
        found[prefix + op.name] = result
        for ref in node.outputs:
            fields[id(ref)] = (result, _spatial(ref))
    return fields.get(id(fn.outputs[0]), (_Undefined("the output is not reached"), None))[0]


def receptive_field(model: keras.Model, layer: str) -> ReceptiveField:
    """The receptive field of ``layer``'s units in ``model``'s input, read from the graph.

    Convolutions (with stride, dilation, 'same' or 'valid' padding; separable and depthwise
    ones), max and average pooling, zero padding and cropping change the field; element-wise
    layers (activations, normalization, additions, concatenation) pass it on, and merges
    take the union of their inputs' fields. Nested models are entered.

    Raises
    ------
    ValueError
        When the layer has no spatial output, or its field is undefined because it comes
        after global pooling, a resize, attention or a layer convviz does not know (the
        message names that layer).
    """
    info = require_spatial(model, layer, "a receptive field needs")
    one: _Axis = (1.0, 1.0, 0.0)
    found: dict[str, Any] = {}
    _walk(model, (one, one), "", found)
    field = found[info.name]
    if isinstance(field, _Undefined):
        raise InputError(f"the receptive field of layer {info.name!r} is undefined: {field.reason}")
    return ReceptiveField(
        size=(int(field[0][0]), int(field[1][0])),
        jump=(int(field[0][1]), int(field[1][1])),
        offset=(float(field[0][2]), float(field[1][2])),
    )
