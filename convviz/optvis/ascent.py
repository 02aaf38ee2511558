"""The ascent loops of filter patterns: normalized-gradient ascent in pixel space (the
chapter's, with optional momentum) and Adam on a Fourier parameterization (robust), all
filters of a batch at once, one compiled step per batch shape."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import keras
import numpy as np

from convviz.core import backend as _backend
from convviz.optvis.objectives import objective
from convviz.optvis.param import (
    color_matrix,
    fourier_image,
    fourier_init,
    maco_image,
    maco_phase_init,
    spectrum_scale,
)
from convviz.optvis.transforms import apply_transforms, random_transforms
from convviz.graph.cost import fitting_batch
from convviz.core.batches import chunks, pad_to
from convviz.core.errors import InputError

__all__ = [
    "batches",
    "batch_size_for",
    "pixel_ascent",
    "fourier_ascent",
    "maco_ascent",
    "final_objective",
    "progress_bar",
]

ops = keras.ops
Maps = Callable[[Any, Any], Any]


def batches(idx: np.ndarray, bs: int) -> Iterator[tuple[int, int, np.ndarray]]:
    """(start, real count, chunk padded to ``bs``) over ``idx``: one trace for all batches."""
    for s, n, (chunk,) in chunks([idx], batch_size=bs, pad=True):
        yield s, n, chunk


def batch_size_for(
    model: keras.Model, layer: str, size: tuple[int, int], k: int, batch_size: int | None, memory_budget_gb: float
) -> int:
    """``batch_size`` when given, else as many images as fit the memory budget, with the
    batches evenly filled."""
    if batch_size is not None:
        if batch_size < 1:
            raise InputError(f"batch_size must be at least 1, got {batch_size}")
        return min(batch_size, k)
    return fitting_batch(model, k, cap=k, memory_budget_gb=memory_budget_gb, up_to=layer, size=size)


def progress_bar(total: int, desc: str, progress: bool) -> Any:
    from convviz.core.progress import bar

    return bar(total=total, desc=desc, unit="step", disable=not progress)


def _ascent_step(maps: Maps, momentum: float) -> Callable[[Any, Any, Any, Any], tuple[Any, Any, Any, Any]]:
    """Compiled step: ``step(img, vel, fidx, lr)`` -> new image, velocity, objective at
    ``img`` and gradient norm; ``lr=0`` evaluates without moving (no new trace)."""

    def step(img: Any, vel: Any, fidx: Any, lr: Any) -> tuple[Any, Any, Any, Any]:
        value, grad = _backend.value_and_grad(lambda t: objective(maps(t, fidx)), img)
        sq = ops.sum(grad * grad, axis=(1, 2, 3), keepdims=True)
        unit = grad / ops.sqrt(ops.maximum(sq, 1e-12))  # whole-image L2 norm, per image
        vel = momentum * vel + unit
        return img + lr * vel, vel, value, ops.reshape(ops.sqrt(sq), (-1,))

    return _backend.jit(step)


def pixel_ascent(
    maps: Maps,
    idx: np.ndarray,
    starts: np.ndarray,
    bs: int,
    steps: int,
    lr: float,
    *,
    momentum: float = 0.0,
    bar: Any = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Normalized-gradient ascent from ``starts`` (K, h, w, C), one image per filter.

    Returns
    -------
    images, losses, stuck
        The optimized images; the objective at them; whether each filter's objective
        stayed <= 0 or its gradient was zero throughout (nothing excited it).
    """
    step = _ascent_step(maps, momentum)
    raw = np.empty_like(starts)
    losses = np.empty(len(idx), np.float32)
    stuck = np.zeros(len(idx), bool)
    lr_t, zero = ops.convert_to_tensor(np.float32(lr)), ops.convert_to_tensor(np.float32(0.0))
    for s, n, chunk in batches(idx, bs):
        img = ops.convert_to_tensor(pad_to(starts[s : s + n], bs))
        vel = ops.zeros_like(img)
        fidx = ops.convert_to_tensor(chunk.astype("int32"))
        best = np.full(bs, -np.inf)
        moved = np.zeros(bs, bool)
        for _ in range(steps):
            img, vel, value, gnorm = step(img, vel, fidx, lr_t)
            best = np.maximum(best, _backend.to_numpy(value))
            moved |= _backend.to_numpy(gnorm) > 0
            if bar is not None:
                bar.update(1)
        _, _, last, _ = step(img, vel, fidx, zero)
        raw[s : s + n] = _backend.to_numpy(img)[:n]
        losses[s : s + n] = _backend.to_numpy(last)[:n]
        stuck[s : s + n] = ((best <= 0) | ~moved)[:n]
    return raw, losses, stuck


def fourier_ascent(
    maps: Maps,
    idx: np.ndarray,
    bs: int,
    size: tuple[int, int],
    channels: int,
    steps: int,
    lr: float,
    rng: np.random.Generator,
    *,
    bar: Any = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Adam on lucid's Fourier parameterization with random transforms at every step.

    Returns
    -------
    images, stuck
        Images in (0, 1); whether each filter's objective stayed <= 0 or its gradient was
        zero throughout.
    """
    scale = ops.convert_to_tensor(spectrum_scale(*size))
    cm = color_matrix(channels)
    color = None if cm is None else ops.convert_to_tensor(cm)
    b1, b2, eps = 0.9, 0.999, 1e-8

    def loss(params: Any, fidx: Any, transforms: Any) -> Any:
        img = apply_transforms(fourier_image(params, scale, color, size), transforms)
        return ops.mean(maps(img, fidx), axis=(1, 2))

    def step(params: Any, m: Any, v: Any, t: Any, fidx: Any, transforms: Any) -> Any:
        value, grad = _backend.value_and_grad(lambda p: loss(p, fidx, transforms), params)
        m = b1 * m + (1 - b1) * grad
        v = b2 * v + (1 - b2) * grad * grad
        update = (m / (1 - b1**t)) / (ops.sqrt(v / (1 - b2**t)) + eps)
        return params + lr * update, m, v, value, ops.sum(ops.abs(grad), axis=(1, 2, 3, 4))

    jstep = _backend.jit(step)
    to_img = _backend.jit(lambda p: fourier_image(p, scale, color, size))
    raw = np.empty((len(idx), *size, channels), np.float32)
    stuck = np.zeros(len(idx), bool)
    for s, n, chunk in batches(idx, bs):
        params = ops.convert_to_tensor(fourier_init(rng, bs, channels, size))
        m, v = ops.zeros_like(params), ops.zeros_like(params)
        fidx = ops.convert_to_tensor(chunk.astype("int32"))
        best = np.full(bs, -np.inf)
        moved = np.zeros(bs, bool)
        for t in range(1, steps + 1):
            tr = ops.convert_to_tensor(random_transforms(rng, bs, size))
            params, m, v, value, gsum = jstep(params, m, v, ops.convert_to_tensor(np.float32(t)), fidx, tr)
            best = np.maximum(best, _backend.to_numpy(value))
            moved |= _backend.to_numpy(gsum) > 0
            if bar is not None:
                bar.update(1)
        raw[s : s + n] = _backend.to_numpy(to_img(params))[:n]
        stuck[s : s + n] = ((best <= 0) | ~moved)[:n]
    return raw, stuck


def maco_ascent(
    maps: Maps,
    idx: np.ndarray,
    bs: int,
    size: tuple[int, int],
    magnitude: np.ndarray,
    steps: int,
    lr: float,
    rng: np.random.Generator,
    *,
    colors: tuple[np.ndarray, np.ndarray] | None = None,
    transforms: bool = True,
    bar: Any = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """MaCo (see :mod:`convviz.optvis.param`): Adam on the phases of
    :func:`~convviz.optvis.param.maco_image` under ``magnitude`` (C, h, w // 2 + 1), with the
    robust recipe's random transforms at every step (``transforms=False``: none); with
    ``colors`` (mean, basis) from :func:`~convviz.optvis.param.color_basis`, the magnitude is
    that of the uncorrelated colour axes.

    Returns
    -------
    images, stuck, transparency
        The images (K, h, w, C), their real FFT's magnitude exactly ``magnitude``; whether
        each objective stayed <= 0 or its gradient was zero throughout; and MaCo's
        transparency map (K, h, w): at every step the absolute gradient of the objective with
        respect to the image's pixels (before the transforms), summed over the channels and
        the steps: where the optimization spent its effort.
    """
    channels = int(magnitude.shape[0])
    h, w = size
    wf = w // 2 + 1
    n_phase, n_pixels = channels * h * wf, h * w * channels
    mag = ops.convert_to_tensor(np.asarray(magnitude, np.float32))
    mean, basis = (None, None) if colors is None else (ops.convert_to_tensor(c) for c in colors)
    b1, b2, eps = 0.9, 0.999, 1e-8

    def image(phase: Any) -> Any:
        return maco_image(phase, mag, size, mean=mean, basis=basis)

    def loss(packed: Any, fidx: Any, warp: Any) -> Any:
        # the phases and a zero offset of the pixels in one tensor: one backward pass gives the
        # phases' gradient (the step) and the pixels' (the transparency map)
        phase = ops.reshape(packed[:, :n_phase], (-1, channels, h, wf))
        offset = ops.reshape(packed[:, n_phase:], (-1, h, w, channels))
        img = image(phase) + offset
        return ops.mean(maps(apply_transforms(img, warp) if transforms else img, fidx), axis=(1, 2))

    def step(phase: Any, m: Any, v: Any, t: Any, fidx: Any, warp: Any) -> Any:
        packed = ops.concatenate([phase, ops.zeros((ops.shape(phase)[0], n_pixels), phase.dtype)], axis=1)
        value, grad = _backend.value_and_grad(lambda p: loss(p, fidx, warp), packed)
        g, pixels = grad[:, :n_phase], ops.reshape(grad[:, n_phase:], (-1, h, w, channels))
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        update = (m / (1 - b1**t)) / (ops.sqrt(v / (1 - b2**t)) + eps)
        return phase + lr * update, m, v, value, ops.sum(ops.abs(pixels), axis=3)

    jstep = _backend.jit(step)
    to_img = _backend.jit(lambda p: image(ops.reshape(p, (-1, channels, h, wf))))
    raw = np.empty((len(idx), h, w, channels), np.float32)
    transparency = np.zeros((len(idx), h, w), np.float32)
    stuck = np.zeros(len(idx), bool)
    for s, n, chunk in batches(idx, bs):
        phase = ops.convert_to_tensor(maco_phase_init(rng, bs, channels, size).reshape(bs, -1))
        m, v = ops.zeros_like(phase), ops.zeros_like(phase)
        fidx = ops.convert_to_tensor(chunk.astype("int32"))
        best = np.full(bs, -np.inf)
        effort = np.zeros((bs, h, w), np.float64)
        for t in range(1, steps + 1):
            tr = ops.convert_to_tensor(random_transforms(rng, bs, size))
            phase, m, v, value, pixels = jstep(phase, m, v, ops.convert_to_tensor(np.float32(t)), fidx, tr)
            best = np.maximum(best, _backend.to_numpy(value))
            effort += _backend.to_numpy(pixels)
            if bar is not None:
                bar.update(1)
        raw[s : s + n] = _backend.to_numpy(to_img(phase))[:n]
        transparency[s : s + n] = effort[:n]
        stuck[s : s + n] = ((best <= 0) | ~(effort.reshape(bs, -1).sum(axis=1) > 0))[:n]
    return raw, stuck, transparency


def final_objective(maps: Maps, raw: np.ndarray, idx: np.ndarray, bs: int) -> np.ndarray:
    """The objective of each filter on its image (no transforms)."""
    fn = _backend.jit(lambda x, f: objective(maps(x, f)))
    out = np.empty(len(idx), np.float32)
    with _backend.no_grad():
        for s, n, chunk in batches(idx, bs):
            val = fn(ops.convert_to_tensor(pad_to(raw[s : s + n], bs)), ops.convert_to_tensor(chunk.astype("int32")))
            out[s : s + n] = _backend.to_numpy(val)[:n]
    return out
