"""How the optimized image is represented: plain pixels (the chapter) or a Fourier
spectrum with decorrelated color through a sigmoid (lucid's ``fft_image`` +
``to_valid_rgb``)."""

from __future__ import annotations

from typing import Any

import keras
import numpy as np

__all__ = [
    "pixel_start",
    "rfft_freqs",
    "spectrum_scale",
    "fourier_init",
    "fourier_image",
    "color_matrix",
    "COLOR_SVD_SQRT",
    "FOURIER_SD",
]

ops = keras.ops
COLOR_SVD_SQRT = np.array([[0.26, 0.09, 0.02], [0.27, 0.00, -0.05], [0.27, -0.09, 0.03]], np.float32)
FOURIER_SD = 0.01  # lucid's initial standard deviation of the spectrum's parameters


def pixel_start(
    rng: np.random.Generator, n: int, size: tuple[int, int], channels: int, *, low: float = 0.4, high: float = 0.6
) -> np.ndarray:
    """The chapter's start images: uniform noise in [low, high]."""
    return rng.uniform(low, high, (n, *size, channels)).astype(np.float32)


def rfft_freqs(h: int, w: int) -> np.ndarray:
    """|frequency| of each bin of a real 2-D FFT of an h×w image, shape (h, w // 2 + 1)."""
    fy = np.fft.fftfreq(h)[:, None]
    fx = np.fft.rfftfreq(w)[None, :]
    return np.sqrt(fx * fx + fy * fy)


def spectrum_scale(h: int, w: int) -> np.ndarray:
    """lucid's spectrum scale: 1 / max(freq, 1 / max(h, w)), times sqrt(h·w)."""
    scale = 1.0 / np.maximum(rfft_freqs(h, w), 1.0 / max(h, w))
    return (scale * np.sqrt(h * w)).astype(np.float32)


def fourier_init(rng: np.random.Generator, b: int, channels: int, size: tuple[int, int]) -> np.ndarray:
    """Parameters (B, 2, C, h, w // 2 + 1): real and imaginary parts, N(0, 0.01) as in lucid."""
    h, w = size
    return rng.normal(0, FOURIER_SD, (b, 2, channels, h, w // 2 + 1)).astype(np.float32)


def color_matrix(channels: int) -> np.ndarray | None:
    """lucid's color decorrelation (the ImageNet color-correlation square root divided by
    its largest column norm) for RGB; None for other channel counts."""
    if channels != 3:
        return None
    return COLOR_SVD_SQRT / np.max(np.linalg.norm(COLOR_SVD_SQRT, axis=0))


def fourier_image(params: Any, scale: Any, color: Any, size: tuple[int, int], *, sigmoid: bool = True) -> Any:
    """params (B, 2, C, h, w // 2 + 1) -> image (B, h, w, C).

    ``irfft2(scale · spectrum) / 4`` (the inverse FFT divides by h·w, as TensorFlow's and
    NumPy's do), then the color decorrelation and a sigmoid into (0, 1): lucid's
    ``fft_image`` followed by ``to_valid_rgb``.
    """
    h, w = size
    re, im = params[:, 0] * scale, params[:, 1] * scale  # (B, C, h, wf)
    # inverse transform along the height: ifft2 over (h, 1) is a 1-D inverse FFT over h
    re_t = ops.expand_dims(ops.swapaxes(re, -1, -2), -1)
    im_t = ops.expand_dims(ops.swapaxes(im, -1, -2), -1)
    re_h, im_h = ops.ifft2((re_t, im_t))
    re_h, im_h = ops.swapaxes(re_h[..., 0], -1, -2), ops.swapaxes(im_h[..., 0], -1, -2)
    img = ops.irfft((re_h, im_h), fft_length=w) / 4.0  # lucid's "magic" 4
    img = ops.transpose(img, (0, 2, 3, 1))
    if color is not None:
        img = ops.einsum("bhwc,dc->bhwd", img, color)
    return ops.sigmoid(img) if sigmoid else img
