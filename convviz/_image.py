"""Resizing of heatmaps, shared by the CAM methods and the plots."""

from __future__ import annotations

import keras
import numpy as np

from convviz import _backend

__all__ = ["upsample_maps"]


def upsample_maps(maps: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Bilinear resize of (N, h, w) maps to ``size`` = (H, W)."""
    maps = np.asarray(maps, np.float32)
    if maps.shape[1:3] == tuple(size):
        return maps
    out = keras.ops.image.resize(keras.ops.convert_to_tensor(maps[..., None]), size, interpolation="bilinear")
    return _backend.to_numpy(out)[..., 0]
