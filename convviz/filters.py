"""Filter patterns: the input that a filter responds to most, by gradient ascent.

Three recipes, all optimizing every requested filter of a layer together, one
image per filter in a batch (each image's loss is its own filter):

``"book"``
    The chapter's: start uniform(0.4, 0.6); loss = mean activation of the filter with
    a 2-pixel border dropped; the gradient is L2-normalized over the whole image
    (per image: not ``keras.ops.normalize``'s per-pixel default); ``img += lr * grad``.
    The batched result equals the chapter's one-filter-at-a-time loop.
``"fast"``
    A third of ``steps`` with momentum (0.9) on the same normalized gradient and
    ``learning_rate``: consecutive gradients of one filter point the same way, so
    momentum covers the book's distance in far fewer steps. Reaches at least the book's
    objective in about a third of its time. The schedule (:data:`FAST_SCHEDULE`) also
    supports coarse-to-fine stages, where filters with no gradient at all stop early.
``"robust"``
    lucid / xplique style: the image is parameterized by a Fourier spectrum scaled by
    1/frequency, with decorrelated color and a sigmoid range; every step applies a
    random jitter, scale and rotation; Adam (learning rate 0.05). Pass
    ``steps=256`` or more; ``learning_rate`` is Adam's (the book's 10.0 is mapped to
    0.05).

When the target layer ends with a pointwise (1×1) convolution, as ``SeparableConv2D``
does, only each image's own channel is computed: the kernel column of its filter is
gathered instead of computing all output channels.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

import keras
import numpy as np

from convviz import _backend
from convviz import cache as _cache
from convviz.layers import get_layer, layer_infos, layer_input, layer_output, require_spatial, resolve_layer

__all__ = ["FilterPatterns", "RECIPES", "visualize_filters", "deprocess_image", "representative_layers",
           "book_objective_reference"]

ops = keras.ops
RECIPES = ("book", "fast", "robust")
_ROBUST_LR = 0.05
_COLOR_SVD_SQRT = np.array([[0.26, 0.09, 0.02], [0.27, 0.00, -0.05], [0.27, -0.09, 0.03]], np.float32)


@dataclass(frozen=True)
class FilterPatterns:
    """The result of :func:`visualize_filters`.

    Attributes
    ----------
    layer, recipe
        What was optimized and how.
    filters
        Filter (channel) indices, shape (K,).
    images
        uint8 (K, H, W, C): post-processed patterns, border cropped (the chapter's
        standardization; robust: a 1-99 percentile contrast stretch); flat gray for dead filters.
    raw
        float32 (K, h, w, C): the optimized inputs before post-processing, in the
        model's input space.
    losses
        float32 (K,): the final objective (mean activation of each filter on its raw image).
    dead
        bool (K,): filters whose objective stayed <= 0 or whose gradient was zero.
    seconds
        Wall time of the optimization.
    """

    layer: str
    recipe: str
    filters: np.ndarray
    images: np.ndarray
    raw: np.ndarray
    losses: np.ndarray
    dead: np.ndarray
    seconds: float

    def __len__(self) -> int:
        return len(self.filters)


def deprocess_image(image: np.ndarray, *, crop: int = 25) -> np.ndarray:
    """The chapter's post-processing: standardize, ×64 + 128, clip, uint8, crop the border.

    A constant image (a dead filter) becomes flat gray (128), never NaN.
    """
    img = np.asarray(image, np.float64)
    img = img - img.mean()
    std = img.std()
    img = img / std if std > 1e-12 else img
    img = np.clip(img * 64 + 128, 0, 255).astype(np.uint8)
    if crop:
        img = img[crop:-crop, crop:-crop, :]
    return img


def _image_size(model: keras.Model, image_size: int | Sequence[int] | None) -> tuple[int, int]:
    if image_size is None:
        shape = model.inputs[0].shape
        h, w = shape[1], shape[2]
        return (int(h), int(w)) if h is not None and w is not None else (200, 200)
    if isinstance(image_size, (int, np.integer)):
        size = (int(image_size), int(image_size))
    else:
        size = tuple(int(s) for s in image_size)
        if len(size) != 2:
            raise ValueError(f"image_size must be an int or (height, width), got {image_size!r}")
    if min(size) < 8:
        raise ValueError(f"image_size must be at least 8 pixels, got {size}")
    return size  # type: ignore[return-value]


def _filter_indices(filters: int | Sequence[int], channels: int, layer: str) -> np.ndarray:
    if isinstance(filters, (int, np.integer)):
        if filters < 1:
            raise ValueError(f"filters must be a positive count or a sequence of indices, got {filters}")
        if filters > channels:
            raise ValueError(f"layer {layer!r} has {channels} filters; cannot show the first {filters}")
        return np.arange(int(filters))
    idx = np.asarray(list(filters))
    if idx.ndim != 1 or len(idx) == 0 or not np.issubdtype(idx.dtype, np.integer):
        raise ValueError(f"filters must be a count or a non-empty sequence of integer indices, got {filters!r}")
    bad = idx[(idx < 0) | (idx >= channels)]
    if len(bad):
        raise ValueError(f"filter indices {bad.tolist()} out of range: layer {layer!r} has {channels} "
                         f"filters (valid 0..{channels - 1})")
    return idx.astype(np.int64)


def _channel_maps_fn(model: keras.Model, layer: str, channels: int):
    """fn(x, fidx) -> (B, h, w): each image's own channel of the layer output."""
    obj = get_layer(model, layer)
    pointwise = None
    if isinstance(obj, keras.layers.SeparableConv2D) and obj.data_format == "channels_last":
        pointwise = "separable"
    elif (isinstance(obj, keras.layers.Conv2D) and tuple(obj.kernel_size) == (1, 1)
          and tuple(obj.strides) == (1, 1) and obj.groups == 1 and obj.data_format == "channels_last"):
        pointwise = "conv1x1"
    if pointwise:
        pre = layer_input(model, layer)

        def maps(x, fidx):
            inp = pre(x)
            if pointwise == "separable":
                inp = ops.depthwise_conv(inp, obj.depthwise_kernel, strides=obj.strides,
                                         padding=obj.padding, dilation_rate=obj.dilation_rate)
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

    def maps(x, fidx):
        a = body(x)
        return ops.einsum("bhwc,bc->bhw", a, ops.one_hot(fidx, channels, dtype=a.dtype))

    return maps


def _objective(maps):
    h, w = maps.shape[1], maps.shape[2]
    if h is not None and w is not None and h > 4 and w > 4:
        maps = maps[:, 2:-2, 2:-2]
    return ops.mean(maps, axis=(1, 2))


def _per_image_bytes(model: keras.Model, layer: str, size: tuple[int, int]) -> int:
    infos = layer_infos(model)
    target = resolve_layer(model, layer).name
    in_shape = model.inputs[0].shape
    area0 = (in_shape[1] or size[0]) * (in_shape[2] or size[1])
    scale = size[0] * size[1] / area0
    total = 0
    for info in infos:
        if info.is_spatial and not info.is_model:
            h, w, c = info.output_shape[1:]
            total += int((h or size[0]) * (w or size[1]) * (c or 1) * scale)
        if info.name == target:
            break
    # float32 activations kept for the backward pass (measured: peak RSS ≈ 1× their sum) + images
    return 4 * total + 4 * 8 * size[0] * size[1] * 3


def _batch_size(model, layer, size, k, batch_size, memory_budget_gb) -> int:
    if batch_size is not None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        return min(batch_size, k)
    if not memory_budget_gb > 0:
        raise ValueError(f"memory_budget_gb must be positive, got {memory_budget_gb!r}")
    per = _per_image_bytes(model, layer, size)
    most = int(max(1, min(k, (memory_budget_gb * 2**30) // max(per, 1))))
    return -(-k // -(-k // most))  # the same number of batches, evenly filled (no padding waste)


def visualize_filters(
    model: keras.Model,
    layer: str,
    filters: int | Sequence[int] = 64,
    *,
    steps: int = 30,
    learning_rate: float = 10.0,
    image_size: int | Sequence[int] | None = None,
    crop: int = 25,
    seed: int = 0,
    recipe: str = "book",
    batch_size: int | None = None,
    memory_budget_gb: float = 0.75,
    progress: bool = False,
    cache: object = None,
) -> FilterPatterns:
    """Synthesize, for each filter, the input pattern that activates it most.

    Parameters
    ----------
    model
        A Functional or Sequential model (nested, reloaded, ``Rescaling`` all work).
    layer
        A layer with a rank-4 output (plain name or ``"outer/inner"``).
    filters
        A count (the first N filters) or a sequence of filter indices.
    steps, learning_rate
        Gradient-ascent steps and step size (see the module docstring per recipe).
    image_size
        int or (height, width); None: the model's input size, or 200 when it has none.
    crop
        Border cropped by the post-processing, in pixels (the chapter's 25 at 200×200).
    seed
        Seed of the start images (and of the robust recipe's transforms).
    recipe
        ``"book"``, ``"fast"`` or ``"robust"``.
    batch_size
        Images per batch; None: as many as fit ``memory_budget_gb``.
    memory_budget_gb
        Memory the batch may use (estimated from the layer shapes). On a 2-core CPU the
        cost per image-step is flat from 16 images up and larger batches pay more on
        their first step, so the default is modest; raise it on a GPU.
    progress
        Show a progress bar.
    cache
        ``True`` (the default cache) or a :class:`convviz.cache.Cache`: reuse a result
        computed with the same weights and arguments, in this or another process.

    Returns
    -------
    FilterPatterns
    """
    if recipe not in RECIPES:
        raise ValueError(f"unknown recipe {recipe!r}; valid recipes: {', '.join(RECIPES)}")
    if not isinstance(steps, (int, np.integer)) or steps <= 0:
        raise ValueError(f"steps must be a positive integer, got {steps!r}")
    if not learning_rate > 0:
        raise ValueError(f"learning_rate must be positive, got {learning_rate!r}")
    info = require_spatial(model, layer, "filter patterns need")
    channels = int(info.output_shape[-1])
    idx = _filter_indices(filters, channels, info.name)
    size = _image_size(model, image_size)
    if crop < 0 or size[0] - 2 * crop < 1 or size[1] - 2 * crop < 1:
        raise ValueError(f"image of {size[0]}×{size[1]} pixels is too small to crop {crop} pixels from "
                         f"each side: use a larger image_size or a smaller crop")
    store = _cache.resolve(cache)
    if store is not None:
        key = _cache.make_key("filters", model=_cache.model_digest(model), layer=info.name,
                              filters=idx.tolist(), steps=int(steps), lr=float(learning_rate),
                              size=size, crop=crop, seed=seed, recipe=recipe)
        arrays = store.arrays(key, lambda: _patterns_to_arrays(visualize_filters(
            model, info.name, idx, steps=steps, learning_rate=learning_rate, image_size=size, crop=crop,
            seed=seed, recipe=recipe, batch_size=batch_size, memory_budget_gb=memory_budget_gb,
            progress=progress)))
        return FilterPatterns(info.name, recipe, arrays["filters"], arrays["images"], arrays["raw"],
                              arrays["losses"], arrays["dead"], float(arrays["seconds"]))
    in_channels = model.inputs[0].shape[-1] or 3
    bs = _batch_size(model, info.name, size, len(idx), batch_size, memory_budget_gb)
    maps = _channel_maps_fn(model, info.name, channels)
    rng = np.random.default_rng(seed)
    start = time.perf_counter()
    run = {"book": _run_book, "fast": _run_fast, "robust": _run_robust}[recipe]
    raw, dead, losses = run(maps, idx, bs, size, int(in_channels), steps, float(learning_rate), rng,
                            progress)
    if recipe == "robust" or (recipe == "fast" and dead.any()):
        losses = _final_objective(maps, raw, idx, bs)
    dead = dead | ~np.isfinite(losses) | (losses <= 0)
    seconds = time.perf_counter() - start
    images = np.stack([_to_uint8(r, crop) if recipe == "robust" else deprocess_image(r, crop=crop)
                       for r in raw])
    images[dead] = 128  # a dead filter has no pattern: flat gray, not its noisy start image
    return FilterPatterns(info.name, recipe, idx, images, raw.astype(np.float32),
                          losses.astype(np.float32), dead, seconds)


def _patterns_to_arrays(p: FilterPatterns) -> dict[str, np.ndarray]:
    return {"filters": p.filters, "images": p.images, "raw": p.raw, "losses": p.losses,
            "dead": p.dead, "seconds": np.float64(p.seconds)}


def _to_uint8(img: np.ndarray, crop: int) -> np.ndarray:
    """Robust-recipe display: crop, then stretch the 1st-99th percentile range to 0..255
    (the sigmoid keeps raw values near 0.5; ``raw`` keeps them as optimized)."""
    img = img[crop:-crop, crop:-crop, :] if crop else img
    lo, hi = np.percentile(img, [1, 99])
    out = (img - lo) / (hi - lo) if hi > lo else np.full_like(img, 0.5)
    return (np.clip(out, 0, 1) * 255).round().astype(np.uint8)


def _batches(idx: np.ndarray, bs: int):
    """Chunks of filter indices, padded to the batch size (one trace for all)."""
    for s in range(0, len(idx), bs):
        chunk = idx[s:s + bs]
        n = len(chunk)
        yield s, n, np.concatenate([chunk, np.repeat(chunk[-1:], bs - n)]) if n < bs else chunk


def _bar(total: int, desc: str, progress: bool):
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit="step", disable=not progress, leave=False)


def _ascent_step(maps, momentum: float):
    """Compiled step: normalized-gradient ascent (with optional momentum).

    ``step(img, vel, fidx, lr)`` returns the new image and velocity, the objective at
    ``img`` and the gradient norm; ``lr=0`` evaluates without moving (no new trace).
    """

    def objective(x, fidx):
        return _objective(maps(x, fidx))

    def step(img, vel, fidx, lr):
        value, grad = _backend.value_and_grad(lambda t: objective(t, fidx), img)
        sq = ops.sum(grad * grad, axis=(1, 2, 3), keepdims=True)
        gnorm = ops.sqrt(sq)
        unit = grad / ops.sqrt(ops.maximum(sq, 1e-12))  # whole-image L2 norm, per image
        vel = momentum * vel + unit
        return img + lr * vel, vel, value, ops.reshape(gnorm, (-1,))

    return _backend.jit(step)


def _ascend(step, img, fidx, steps, lr, bar, *, final: bool = False):
    """Run ``steps`` ascent steps; returns the images, whether each objective stayed <= 0,
    whether each gradient was zero throughout, and (``final``) the objective at the result."""
    vel = ops.zeros_like(img)
    best = np.full(len(fidx), -np.inf)
    moved = np.zeros(len(fidx), bool)
    fidx_t = ops.convert_to_tensor(fidx.astype("int32"))
    lr_t = ops.convert_to_tensor(np.float32(lr))
    for _ in range(steps):
        img, vel, value, gnorm = step(img, vel, fidx_t, lr_t)
        best = np.maximum(best, _backend.to_numpy(value))
        moved |= _backend.to_numpy(gnorm) > 0
        bar.update(1)
    last = None
    if final:
        _, _, value, _ = step(img, vel, fidx_t, ops.convert_to_tensor(np.float32(0.0)))
        last = _backend.to_numpy(value)
    return img, best <= 0, ~moved, last


def _run_book(maps, idx, bs, size, channels, steps, lr, rng, progress):
    step = _ascent_step(maps, 0.0)
    raw = np.empty((len(idx), *size, channels), np.float32)
    dead = np.zeros(len(idx), bool)
    losses = np.empty(len(idx), np.float32)
    starts = rng.uniform(0.4, 0.6, (len(idx), *size, channels)).astype(np.float32)
    with _bar(steps * int(np.ceil(len(idx) / bs)), "filters (book)", progress) as bar:
        for s, n, chunk in _batches(idx, bs):
            x0 = starts[s:s + n]
            if n < bs:
                x0 = np.concatenate([x0, np.repeat(x0[-1:], bs - n, 0)])
            img, nonpositive, flat, last = _ascend(step, ops.convert_to_tensor(x0), chunk, steps, lr,
                                                   bar, final=True)
            raw[s:s + n] = _backend.to_numpy(img)[:n]
            dead[s:s + n] = (nonpositive | flat)[:n]
            losses[s:s + n] = last[:n]
    return raw, dead, losses


# (resolution scale, share of ``steps``, momentum, learning-rate factor) per stage
# Measured on Xception block3_sepconv1 (16 filters, 200 px): one full-resolution stage of a
# third of the steps with momentum 0.9 reached 117% of the book's objective; octave schedules
# (half resolution first) reached 56-94%: they lose the fine detail these filters want.
FAST_SCHEDULE: tuple[tuple[float, float, float, float], ...] = ((1.0, 1 / 3, 0.9, 1.0),)


def _run_stage(step, starts, idx, bs, n_steps, lr, bar, final):
    raw = np.empty_like(starts)
    nonpos = np.zeros(len(idx), bool)
    flat = np.zeros(len(idx), bool)
    losses = np.empty(len(idx), np.float32)
    for s, n, chunk in _batches(idx, bs):
        x0 = starts[s:s + n]
        if n < bs:
            x0 = np.concatenate([x0, np.repeat(x0[-1:], bs - n, 0)])
        img, np_, fl, last = _ascend(step, ops.convert_to_tensor(x0), chunk, n_steps, lr, bar, final=final)
        raw[s:s + n] = _backend.to_numpy(img)[:n]
        nonpos[s:s + n], flat[s:s + n] = np_[:n], fl[:n]
        if final:
            losses[s:s + n] = last[:n]
    return raw, nonpos, flat, losses


def _run_fast(maps, idx, bs, size, channels, steps, lr, rng, progress):
    stages = [((max(8, round(size[0] * sc)), max(8, round(size[1] * sc))), max(1, round(steps * share)), mom, lf)
              for sc, share, mom, lf in FAST_SCHEDULE]
    steppers = {mom: _ascent_step(maps, mom) for _, _, mom, _ in stages}
    img = rng.uniform(0.4, 0.6, (len(idx), *stages[0][0], channels)).astype(np.float32)
    alive = np.arange(len(idx))
    dead = np.zeros(len(idx), bool)
    losses = np.zeros(len(idx), np.float32)
    nb = int(np.ceil(len(idx) / bs))
    with _bar(sum(n for _, n, _, _ in stages) * nb, "filters (fast)", progress) as bar:
        for k, (shape, n_steps, mom, lf) in enumerate(stages):
            if img.shape[1:3] != shape:
                img = _backend.to_numpy(ops.image.resize(ops.convert_to_tensor(img), shape,
                                                         interpolation="bilinear")).astype(np.float32)
            last_stage = k == len(stages) - 1
            if not len(alive):
                break
            out, nonpos, flat, fin = _run_stage(steppers[mom], img[alive], idx[alive], bs, n_steps,
                                                lr * lf, bar, last_stage)
            img[alive] = out
            if last_stage:
                dead[alive] = nonpos | flat
                losses[alive] = fin
            else:  # no gradient at all: dead, nothing to refine
                dead[alive[flat]] = True
                alive = alive[~flat]
    return img, dead, losses


def _spectrum_scale(h: int, w: int) -> np.ndarray:
    fy = np.fft.fftfreq(h)[:, None]
    fx = np.fft.fftfreq(w)[None, :]
    freqs = np.sqrt(fx * fx + fy * fy)
    scale = 1.0 / np.maximum(freqs, 1.0 / max(h, w))
    return (scale * np.sqrt(h * w) / 4.0).astype(np.float32)  # lucid's "magic" 4


def _robust_image(params, scale, color):
    """params (B, 2, C, h, w) -> image (B, h, w, C) in (0, 1)."""
    re, im = params[:, 0] * scale, params[:, 1] * scale
    real, _ = ops.ifft2((re, im))
    h, w = scale.shape
    img = ops.transpose(real, (0, 2, 3, 1)) * (h * w) ** 0.5 / (h * w)
    if color is not None:
        img = ops.einsum("bhwc,dc->bhwd", img, color)
    return ops.sigmoid(img)


def _random_transforms(rng: np.random.Generator, b: int, size: tuple[int, int]) -> np.ndarray:
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


def _run_robust(maps, idx, bs, size, channels, steps, lr, rng, progress):
    lr = _ROBUST_LR if lr == 10.0 else lr
    scale = ops.convert_to_tensor(_spectrum_scale(*size))
    color = None
    if channels == 3:
        color = ops.convert_to_tensor(_COLOR_SVD_SQRT / np.max(np.linalg.norm(_COLOR_SVD_SQRT, axis=0)))
    b1, b2, eps = 0.9, 0.999, 1e-8

    def objective(params, fidx, transforms):
        img = _robust_image(params, scale, color)
        img = ops.image.affine_transform(img, transforms, fill_mode="reflect")
        return ops.mean(maps(img, fidx), axis=(1, 2))

    def step(params, m, v, t, fidx, transforms):
        value, grad = _backend.value_and_grad(lambda p: objective(p, fidx, transforms), params)
        m = b1 * m + (1 - b1) * grad
        v = b2 * v + (1 - b2) * grad * grad
        mhat = m / (1 - b1 ** t)
        vhat = v / (1 - b2 ** t)
        return params + lr * mhat / (ops.sqrt(vhat) + eps), m, v, value, ops.sum(ops.abs(grad), axis=(1, 2, 3, 4))

    jstep = _backend.jit(step)
    to_img = _backend.jit(lambda p: _robust_image(p, scale, color))
    raw = np.empty((len(idx), *size, channels), np.float32)
    dead = np.zeros(len(idx), bool)
    with _bar(steps * int(np.ceil(len(idx) / bs)), "filters (robust)", progress) as bar:
        for s, n, chunk in _batches(idx, bs):
            params = ops.convert_to_tensor(
                rng.normal(0, 0.01, (bs, 2, channels, *size)).astype(np.float32))
            m, v = ops.zeros_like(params), ops.zeros_like(params)
            fidx = ops.convert_to_tensor(chunk.astype("int32"))
            best = np.full(bs, -np.inf)
            moved = np.zeros(bs, bool)
            for t in range(1, steps + 1):
                tr = ops.convert_to_tensor(_random_transforms(rng, bs, size))
                params, m, v, value, gsum = jstep(params, m, v, ops.convert_to_tensor(np.float32(t)),
                                                  fidx, tr)
                best = np.maximum(best, _backend.to_numpy(value))
                moved |= _backend.to_numpy(gsum) > 0
                bar.update(1)
            raw[s:s + n] = _backend.to_numpy(to_img(params))[:n]
            dead[s:s + n] = ((best <= 0) | ~moved)[:n]
    return raw, dead, None


def _final_objective(maps, raw: np.ndarray, idx: np.ndarray, bs: int) -> np.ndarray:
    fn = _backend.jit(lambda x, f: _objective(maps(x, f)))
    out = np.empty(len(idx), np.float32)
    with _backend.no_grad():
        for s, n, chunk in _batches(idx, bs):
            x = raw[s:s + n]
            if n < bs:
                x = np.concatenate([x, np.repeat(x[-1:], bs - n, 0)])
            val = fn(ops.convert_to_tensor(x), ops.convert_to_tensor(chunk.astype("int32")))
            out[s:s + n] = _backend.to_numpy(val)[:n]
    return out


def book_objective_reference(model: keras.Model, layer: str, images: np.ndarray,
                             filters: np.ndarray) -> np.ndarray:
    """Mean activation of each filter on its image, computed the plain way (float32, whole
    layer output, the chapter's 2-pixel border dropped). Used by tests and benchmarks."""
    body = layer_output(model, layer)
    out = []
    for img, f in zip(images, filters):
        a = _backend.to_numpy(body(ops.convert_to_tensor(img[None].astype(np.float32))))
        a = a[:, 2:-2, 2:-2, f] if a.shape[1] > 4 and a.shape[2] > 4 else a[..., f]
        out.append(float(a.mean()))
    return np.array(out, np.float32)


def representative_layers(model: keras.Model, n: int = 3) -> list[str]:
    """``n`` layers spread over the depth of ``model`` (first, middle(s), last), each taken
    after its nonlinearity (a ``Conv2D(activation="relu")`` itself, or the activation layer
    that follows a linear convolution and its batch normalization), without pooling layers.

    After a ReLU an objective that stays at zero means the unit never fires: "dead" then
    means dead, not merely negatively biased as on a linear convolution's output.
    """
    from convviz.activations import activation_layers

    names = [n_ for n_ in activation_layers(model)
             if not resolve_layer(model, n_).class_name.endswith("Pooling2D")]
    if not names:
        raise ValueError(f"model {model.name!r} has no convolution layer")
    picks = sorted({round(k * (len(names) - 1) / max(n - 1, 1)) for k in range(n)})
    return [names[p] for p in picks]
