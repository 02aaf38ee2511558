"""What filter-pattern ascent maximizes: one channel of a layer per image, its mean with
the chapter's 2-pixel border dropped, and each unit's response on real data."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import keras
import numpy as np

from convviz import _backend
from convviz.layers import get_layer, layer_input, layer_output

if TYPE_CHECKING:
    from convviz._ascent import Maps

__all__ = ["channel_maps", "objective", "unit_peaks"]

ops = keras.ops


def channel_maps(model: keras.Model, layer: str, channels: int) -> Maps:
    """``fn(x, fidx) -> (B, h, w)``: each image's own channel of the layer output.

    When the layer ends with a pointwise (1×1) convolution, as ``SeparableConv2D`` does,
    only the needed kernel columns are applied instead of computing every channel.
    """
    obj = get_layer(model, layer)
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
            return obj.activation(m)

        return maps
    body = layer_output(model, layer)

    def maps(x: Any, fidx: Any) -> Any:  # type: ignore[no-redef]
        a = body(x)
        return ops.einsum("bhwc,bc->bhw", a, ops.one_hot(fidx, channels, dtype=a.dtype))

    return maps


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
    with _backend.no_grad():
        for s in range(0, len(data), batch_size):
            chunk = data[s : s + batch_size]
            a = _backend.to_numpy(body(ops.convert_to_tensor(chunk)))[..., filters]
            per_image = a.max(axis=(1, 2))  # (n, K)
            top = per_image.argmax(axis=0)
            value = per_image[top, np.arange(len(filters))]
            better = value > peaks
            peaks[better] = value[better]
            best[better] = s + top[better]
    return peaks, best
