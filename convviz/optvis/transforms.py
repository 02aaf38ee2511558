"""Robustness transforms applied at every step of the robust recipe (lucid style)."""

from __future__ import annotations

from typing import Any

import keras
import numpy as np

__all__ = ["random_transforms", "apply_transforms"]


def random_transforms(rng: np.random.Generator, b: int, size: tuple[int, int]) -> np.ndarray:
    """Per image: jitter ±8 px, scale 0.95-1.05, rotation ±10° (projective matrices, 8 values)."""
    h, w = size
    out = np.zeros((b, 8), np.float32)
    for i in range(b):
        s = rng.uniform(0.95, 1.05)
        a = np.deg2rad(rng.uniform(-10, 10))
        tx, ty = rng.integers(-8, 9, 2)
        c, si = np.cos(a) / s, np.sin(a) / s
        cx, cy = (w - 1) / 2, (h - 1) / 2
        # output (x, y) -> input: rotate/scale about the center, then shift
        out[i] = [c, -si, cx - c * cx + si * cy + tx, si, c, cy - si * cx - c * cy + ty, 0, 0]
    return out


def apply_transforms(images: Any, transforms: Any) -> Any:
    """Warp each image by its transform (bilinear, reflected borders)."""
    return keras.ops.image.affine_transform(images, transforms, fill_mode="reflect")
