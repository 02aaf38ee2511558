"""What filter-pattern ascent maximizes: one channel of a layer per image, its mean with
the chapter's 2-pixel border dropped, and each unit's response on real data."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import keras
import numpy as np

from convviz.core import backend as _backend
from convviz.graph.layers import get_layer
from convviz.graph.split import layer_input, layer_output
from convviz.core.batches import stream_batches

if TYPE_CHECKING:
    from convviz.optvis.ascent import Maps

__all__ = ["channel_maps", "objective", "unit_peaks"]

ops = keras.ops


def channel_maps(model: keras.Model, layer: str, channels: int, *, redirect: bool = False) -> Maps:
    """``fn(x, fidx) -> (B, h, w)``: each image's own channel of the layer output.

    When the layer ends with a pointwise (1×1) convolution, as ``SeparableConv2D`` does,
    only the needed kernel columns are applied instead of computing every channel.

    ``redirect``: where the layer's output is a ReLU's (or ReLU6's) whose input can be
    computed (a ``ReLU`` or ``Activation`` layer, a ``Conv2D`` or ``SeparableConv2D`` with a
    ReLU activation),
    the ReLU gets :func:`convviz.core.backend.redirected_relu`'s gradient: the same values, but
    a unit that the start image leaves off everywhere is pushed towards firing instead of
    getting no gradient at all (lucid's redirected ReLU, at the objective's own unit).
    """
    obj = get_layer(model, layer)
    top = _relu_top(obj) if redirect else None
    pointwise = None
    if isinstance(obj, keras.layers.SeparableConv2D) and obj.data_format == "channels_last":
        pointwise = "separable"
    elif (
        isinstance(obj, keras.layers.Conv2D)
        and tuple(obj.kernel_size) == (1, 1)
        and tuple(obj.strides) == (1, 1)
        and obj.groups == 1
        and obj.data_format == "channels_last"
    ):
        pointwise = "conv1x1"
    if pointwise:
        act = obj.activation if top is None else (lambda m: _backend.redirected_relu(m, top))
        pre = layer_input(model, layer)

        def maps(x: Any, fidx: Any) -> Any:
            inp = pre(x)
            if pointwise == "separable":
                inp = ops.depthwise_conv(
                    inp, obj.depthwise_kernel, strides=obj.strides, padding=obj.padding, dilation_rate=obj.dilation_rate
                )
                kernel = obj.pointwise_kernel[0, 0]
            else:
                kernel = obj.kernel[0, 0]
            cols = ops.take(kernel, fidx, axis=1)  # (C_in, B): only the needed filters
            m = ops.einsum("bhwc,cb->bhw", inp, cols)
            if obj.use_bias:
                m = m + ops.reshape(ops.take(obj.bias, fidx), (-1, 1, 1))
            return act(m)

        return maps
    if top is not None:  # the ReLU's input, each image's channel, through the redirected ReLU
        before = layer_input(model, layer)
        linear = _pre_activation(obj)

        def redirected(x: Any, fidx: Any) -> Any:
            z = linear(before(x))
            return _backend.redirected_relu(
                ops.einsum("bhwc,bc->bhw", z, ops.one_hot(fidx, channels, dtype=z.dtype)), top
            )

        return redirected
    body = layer_output(model, layer)

    def maps(x: Any, fidx: Any) -> Any:  # type: ignore[no-redef]
        a = body(x)
        return ops.einsum("bhwc,bc->bhw", a, ops.one_hot(fidx, channels, dtype=a.dtype))

    return maps


def _relu_top(obj: Any) -> float | None:
    """The upper bound of the ReLU whose output ``obj`` gives (inf for a plain ReLU), when
    its input can be computed (:func:`_pre_activation`); None otherwise."""
    from convviz.graph.heads import applies_relu

    if not applies_relu(obj):
        return None
    if isinstance(obj, keras.layers.ReLU):
        return float("inf") if obj.max_value is None else float(obj.max_value)
    if isinstance(obj, (keras.layers.Conv2D, keras.layers.SeparableConv2D)):
        if obj.data_format != "channels_last":
            return None
    elif not isinstance(obj, keras.layers.Activation):
        return None
    return 6.0 if getattr(obj.activation, "__name__", "") == "relu6" else float("inf")


def _pre_activation(obj: Any) -> Any:
    """The layer's output before its ReLU, from the layer's input: the input itself for a
    ``ReLU`` or ``Activation`` layer; the convolution and bias for a ``Conv2D`` (a
    ``SeparableConv2D``'s is computed by :func:`channel_maps`' pointwise path)."""
    if not isinstance(obj, keras.layers.Conv2D):
        return lambda inp: inp

    def conv(inp: Any) -> Any:
        z = obj.convolution_op(inp, obj.kernel)
        return z + ops.reshape(obj.bias, (1, 1, 1, -1)) if obj.use_bias else z

    return conv


def objective(maps: Any) -> Any:
    """Mean of each (B, h, w) map with a 2-pixel border dropped (the chapter's loss)."""
    h, w = maps.shape[1], maps.shape[2]
    if h is not None and w is not None and h > 4 and w > 4:
        maps = maps[:, 2:-2, 2:-2]
    return ops.mean(maps, axis=(1, 2))


def unit_peaks(
    model: keras.Model, layer: str, filters: np.ndarray, data: np.ndarray, *, batch_size: int = 64
) -> tuple[np.ndarray, np.ndarray]:
    """Each unit's maximum response over ``data`` and the image that gives it.

    One streamed pass over the images (memory bounded by ``batch_size``).

    Returns
    -------
    peaks, best
        float32 (K,) the maximum over images and positions; int (K,) the image index.
    """
    body = _backend.cached_jit(model, ("layer_output", layer), lambda: layer_output(model, layer))
    peaks = np.full(len(filters), -np.inf, np.float32)
    best = np.zeros(len(filters), np.int64)
    for s, out in stream_batches(body, [data], batch_size=batch_size):
        per_image = out[..., filters].max(axis=(1, 2))  # (n, K)
        top = per_image.argmax(axis=0)
        value = per_image[top, np.arange(len(filters))]
        better = value > peaks
        peaks[better] = value[better]
        best[better] = s + top[better]
    return peaks, best
