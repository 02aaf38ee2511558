"""How the optimized image is represented: plain pixels (the chapter), a Fourier
spectrum with decorrelated color through a sigmoid (lucid's ``fft_image`` +
``to_valid_rgb``), or MaCo's phase under a fixed magnitude spectrum (Fel et al., "Unlocking
Feature Visualization for Deeper Networks with MAgnitude Constrained Optimization", NeurIPS
2023): only the phase of each channel's spectrum is optimized, its magnitude stays that of
natural images, so the image keeps their distribution of energy over frequencies."""

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
    "magnitude_spectrum",
    "maco_phase_init",
    "hermitian_phase",
    "maco_image",
    "color_basis",
    "maco_spectrum",
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


def color_basis(images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The images' colour statistics: the mean colour (C,) and the orthonormal basis (C, C) of
    their principal colour axes (columns, the strongest first). In that basis the channels
    are uncorrelated: MaCo's phases can be drawn for each independently."""
    x = np.asarray(images, np.float64).reshape(-1, np.shape(images)[-1])
    mean = x.mean(axis=0)
    _, vectors = np.linalg.eigh(np.cov(x - mean, rowvar=False).reshape(x.shape[1], x.shape[1]))
    return mean.astype(np.float32), np.ascontiguousarray(vectors[:, ::-1]).astype(np.float32)


def magnitude_spectrum(images: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """MaCo's magnitude: the mean over ``images`` (N, H, W, C), resized to ``size`` when they
    differ, of each channel's 2-D real FFT magnitude, shape (C, h, w // 2 + 1), float32.
    Pass images in :func:`color_basis` coordinates (``(x − mean) @ basis``) for the spectrum
    of uncorrelated channels."""
    from convviz.core.errors import InputError
    from convviz.core.image import resize_images

    x = np.asarray(images, np.float32)
    if x.ndim != 4 or not len(x):
        raise InputError(f"images for a magnitude spectrum must be a non-empty (N, H, W, C) batch, got {x.shape}")
    if x.shape[1:3] != tuple(size):
        x = resize_images(x, size)
    spectrum = np.abs(np.fft.rfft2(x.astype(np.float64), axes=(1, 2))).mean(axis=0)  # (h, wf, C)
    return np.ascontiguousarray(spectrum.transpose(2, 0, 1)).astype(np.float32)


def maco_phase_init(rng: np.random.Generator, b: int, channels: int, size: tuple[int, int]) -> np.ndarray:
    """MaCo's start: phases (B, C, h, w // 2 + 1) uniform in [-π, π): with the natural
    magnitude, an image of natural-looking noise."""
    h, w = size
    return rng.uniform(-np.pi, np.pi, (b, channels, h, w // 2 + 1)).astype(np.float32)


def _paired_columns(h: int, w: int) -> np.ndarray:
    """(h, w // 2 + 1): True on the columns of the real FFT whose bins pair up with another
    bin of the same column (column 0 and, for an even width, the last)."""
    wf = w // 2 + 1
    paired = np.zeros((h, wf), bool)
    paired[:, [0] + ([wf - 1] if w % 2 == 0 else [])] = True
    return paired


def hermitian_phase(phase: Any, size: tuple[int, int]) -> Any:
    """The phase a real image can have: on the columns of the real FFT that hold both a
    frequency and its mirror (column 0; the last for an even width) the odd part
    ``(φ[k] − φ[−k]) / 2``, on the real bins 0. Without it the inverse transform would drop
    part of those bins and the image's magnitude would not be the one given."""
    h, w = size
    paired = _paired_columns(h, w)
    mirror = (-np.arange(h)) % h  # bin k's mirror -k; bins 0 and h/2 are their own: their odd part is 0
    odd = (phase - ops.take(phase, ops.convert_to_tensor(mirror.astype("int32")), axis=-2)) / 2.0
    keep_t = ops.convert_to_tensor((~paired).astype("float32"))
    paired_t = ops.convert_to_tensor(paired.astype("float32"))
    return phase * keep_t + odd * paired_t


def maco_image(phase: Any, magnitude: Any, size: tuple[int, int], *, mean: Any = None, basis: Any = None) -> Any:
    """phases (B, C, h, w // 2 + 1) and a magnitude (C, h, w // 2 + 1) -> images (B, h, w, C):
    ``irfft2(magnitude · exp(i · φ))`` with φ made :func:`hermitian_phase`, so the image's
    real FFT has exactly ``magnitude`` as its magnitude (NumPy's convention: the inverse
    divides by h·w). With a colour ``basis`` (C, C) and ``mean`` (C,) (:func:`color_basis`)
    the spectrum is that of the uncorrelated colour axes: the image is ``z @ basis.T + mean``.
    No squashing: the values are the magnitude's, in the data's range."""
    h, w = size
    phi = hermitian_phase(phase, size)
    re, im = magnitude * ops.cos(phi), magnitude * ops.sin(phi)  # (B, C, h, wf)
    re_t = ops.expand_dims(ops.swapaxes(re, -1, -2), -1)
    im_t = ops.expand_dims(ops.swapaxes(im, -1, -2), -1)
    re_h, im_h = ops.ifft2((re_t, im_t))
    re_h, im_h = ops.swapaxes(re_h[..., 0], -1, -2), ops.swapaxes(im_h[..., 0], -1, -2)
    img = ops.transpose(ops.irfft((re_h, im_h), fft_length=w), (0, 2, 3, 1))
    if basis is not None:
        img = ops.einsum("bhwk,ck->bhwc", img, basis) + mean
    return img


def maco_spectrum(images: np.ndarray, size: tuple[int, int]) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray]]:
    """What MaCo fixes, from real images (N, H, W, C): the magnitude spectrum (C, h, w // 2 + 1)
    of their uncorrelated colour axes and the colours ``(mean, basis)``
    (:func:`color_basis`), for :func:`maco_image`."""
    x = np.asarray(images, np.float32)
    mean, basis = color_basis(x)
    return magnitude_spectrum((x - mean) @ basis, size), (mean, basis)
