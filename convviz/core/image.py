"""Image helpers shared by the algorithms, the figures and the datasets: resizing heatmaps
and images, and blurring (a baseline of attributions and of the insertion curve). Importing
it imports no Keras (the datasets of a rebuild with nothing to compute use it)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from convviz.core.lazy import lazy_module

if TYPE_CHECKING:
    import keras

    from convviz.core import backend as _backend
else:
    # imported on first use
    keras = lazy_module("keras")
    _backend = lazy_module("convviz.core.backend")

__all__ = ["upsample_maps", "blurred", "resize_images"]


def upsample_maps(maps: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Bilinear resize of (N, h, w) maps to ``size`` = (H, W)."""
    maps = np.asarray(maps, np.float32)
    if maps.shape[1:3] == tuple(size):
        return maps
    out = keras.ops.image.resize(keras.ops.convert_to_tensor(maps[..., None]), size, interpolation="bilinear")
    return _backend.to_numpy(out)[..., 0]


def blurred(images: np.ndarray, *, sigma: float | None = None) -> np.ndarray:
    """Gaussian-blurred copies of (N, H, W, C) images, RISE's insertion start: ``sigma``
    defaults to RISE's 5 px at 224 px, scaled to the image size (at least 1 px)."""
    from scipy.ndimage import gaussian_filter

    x = np.asarray(images, np.float32)
    s = max(1.0, 5.0 * x.shape[1] / 224) if sigma is None else float(sigma)
    return gaussian_filter(x, sigma=(0, s, s, 0), mode="reflect").astype(np.float32)


def resize_images(x: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Resize a float batch (N, H, W, C) to ``size`` = (height, width), bilinear."""
    from PIL import Image

    x = np.asarray(x, dtype=np.float32)
    h, w = size
    if x.shape[1:3] == (h, w):
        return x
    out = np.empty((len(x), h, w, x.shape[-1]), np.float32)
    for i, img in enumerate(x):
        for c in range(x.shape[-1]):
            out[i, :, :, c] = np.asarray(Image.fromarray(img[:, :, c], mode="F").resize((w, h), Image.BILINEAR))  # type: ignore[attr-defined]
    return out
