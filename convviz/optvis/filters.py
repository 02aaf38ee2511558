"""Filter patterns: the input that a filter responds to most, by gradient ascent.

Three recipes, all optimizing every requested filter of a layer together, one
image per filter in a batch (each image's loss is its own filter):

``"book"``
    The chapter's: start uniform(0.4, 0.6); loss = mean activation of the filter with
    a 2-pixel border dropped; the gradient is L2-normalized over the whole image
    (per image: not ``keras.ops.normalize``'s per-pixel default); ``img += lr * grad``
    with ``lr = 10``. The batched result equals the chapter's one-filter-at-a-time loop.
``"fast"``
    A third of ``steps`` with momentum (0.9) on the same normalized gradient and step
    size: consecutive gradients of one filter point the same way, so momentum covers
    the book's distance in far fewer steps.
``"robust"``
    lucid's: the image is a Fourier spectrum scaled by 1/frequency (``fft_image``:
    parameters N(0, 0.01), the same spectrum scale and initial pixel spread), with
    decorrelated color and a sigmoid range; every step applies a random jitter, scale
    and rotation; Adam with learning rate 0.05. Pass ``steps=256`` or more. A ReLU unit
    that the gray start leaves off everywhere gets lucid's *redirected* ReLU gradient
    (:func:`convviz.core.backend.redirected_relu`): it is pushed towards firing instead of
    getting no gradient, so the recipe's own images replace most restarts.
``"maco"``
    MaCo (Fel et al., NeurIPS 2023): Adam on the phase of the image's spectrum alone, its
    magnitude fixed to that of ``data`` (required) on their uncorrelated colour axes, under
    the robust recipe's transforms; with a transparency map (:func:`~convviz.optvis.ascent.maco_ascent`).

``learning_rate=None`` takes the recipe's own (:data:`DEFAULT_LEARNING_RATES`).

**Dead or not excited.** A filter whose objective stays at or below zero from the start
image has not been excited, which does not mean it is dead. Given ``data`` (real images,
e.g. the test split), a filter is *dead on data* when it never fires on any of them
(:func:`convviz.represent.activations.never_fires`, the one definition of dead)
(found first: it is not optimized and shows flat gray); the others are restarted, first from full-range noise, then from the data image that
excites them most, until they fire. Only what still does not fire is reported as *not
excited*.

The pieces live in small modules: what is maximized (``_objectives``), how the image
is represented (``_params``), the robustness transforms (``_transforms``) and the loops
(``_ascent``)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

import keras
import numpy as np

from convviz.core import backend as _backend
from convviz.core.image import resize_images
from convviz.graph.layers import require_spatial
from convviz.graph.split import layer_output
from convviz.optvis import ascent as _ascent
from convviz.optvis.objectives import channel_maps, unit_peaks
from convviz.optvis.param import maco_spectrum, pixel_start
from convviz.core.errors import InputError
from convviz.represent.activations import never_fires

__all__ = [
    "FilterPatterns",
    "RECIPES",
    "DEFAULT_LEARNING_RATES",
    "visualize_filters",
    "deprocess_image",
    "book_objective_reference",
]


ops = keras.ops

MACO_LEARNING_RATE = 0.5  # radians; the best of 0.1, 0.5, 1, 2 in bench_maco.py's class test (2 seeds)


RECIPES = ("book", "fast", "robust", "maco")


DEFAULT_LEARNING_RATES = {"book": 10.0, "fast": 10.0, "robust": 0.05, "maco": MACO_LEARNING_RATE}


_FAST_SHARE, _FAST_MOMENTUM = 1 / 3, 0.9


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
        standardization; robust: a 1-99 percentile contrast stretch); flat gray for
        filters that are dead on data or were not excited.
    raw
        float32 (K, h, w, C): the optimized inputs before post-processing, in the
        model's input space.
    losses
        float32 (K,): the final objective (mean activation of each filter on its raw image);
        0 for a filter dead on data (it is not optimized).
    dead
        bool (K,): dead on data: zero on every image of ``data`` (all False without data).
    unexcited
        bool (K,): alive (or untested) filters that no start (gray, noise, the best data
        image) made fire.
    origin
        str (K,): the start of each shown pattern: ``"gray"`` (the recipe's own start),
        ``"noise"`` or ``"data"`` (a restart), or ``"none"`` (dead or not excited).
    seconds
        Wall time of the optimization.
    steps, momentum
        The gradient steps each pattern was optimized for (the ``fast`` recipe runs a third
        of ``steps``) and the momentum of its updates (0: none; the robust recipe: Adam's).
    transparency
        float32 (K, h, w), the ``maco`` recipe's alone (None for the others): MaCo's
        transparency map of each raw image, uncropped (see
        :func:`convviz.optvis.ascent.maco_ascent`); zero where the image shown is not MaCo's
        (a filter dead on data, not excited, or restarted).
    """

    layer: str
    recipe: str
    filters: np.ndarray
    images: np.ndarray
    raw: np.ndarray
    losses: np.ndarray
    dead: np.ndarray
    unexcited: np.ndarray
    origin: np.ndarray
    seconds: float
    steps: int
    momentum: float
    transparency: np.ndarray | None = None

    def describe(self) -> str:
        """The recipe in words, as a figure title says it: ``book, 30 steps``, ``fast, 10 steps
        with momentum 0.9``, ``robust, 256 Adam steps``, ``maco, 128 Adam steps on the phase``."""
        if self.recipe == "robust":
            return f"robust, {self.steps} Adam steps"
        if self.recipe == "maco":
            return f"maco, {self.steps} Adam steps on the phase"
        return f"{self.recipe}, {self.steps} steps" + (f" with momentum {self.momentum:g}" if self.momentum else "")

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


def optimization_size(model: keras.Model, image_size: int | Sequence[int] | None) -> tuple[int, int]:
    if image_size is None:
        shape = model.inputs[0].shape
        h, w = shape[1], shape[2]
        return (int(h), int(w)) if h is not None and w is not None else (200, 200)
    if isinstance(image_size, (int, np.integer)):
        size = (int(image_size), int(image_size))
    else:
        size = tuple(int(s) for s in image_size)  # type: ignore[assignment]
        if len(size) != 2:
            raise InputError(f"image_size must be an int or (height, width), got {image_size!r}")
    if min(size) < 8:
        raise InputError(f"image_size must be at least 8 pixels, got {size}")
    return size


def checked_filter_indices(filters: int | Sequence[int] | np.ndarray, channels: int, layer: str) -> np.ndarray:
    if isinstance(filters, (int, np.integer)):
        if filters < 1:
            raise InputError(f"filters must be a positive count or a sequence of indices, got {filters}")
        if filters > channels:
            raise InputError(f"layer {layer!r} has {channels} filters; cannot show the first {filters}")
        return np.arange(int(filters))
    idx = np.asarray(list(filters))
    if idx.ndim != 1 or len(idx) == 0 or not np.issubdtype(idx.dtype, np.integer):
        raise InputError(f"filters must be a count or a non-empty sequence of integer indices, got {filters!r}")
    bad = idx[(idx < 0) | (idx >= channels)]
    if len(bad):
        raise InputError(
            f"filter indices {bad.tolist()} out of range: layer {layer!r} has {channels} "
            f"filters (valid 0..{channels - 1})"
        )
    return idx.astype(np.int64)


def visualize_filters(
    model: keras.Model,
    layer: str,
    filters: int | Sequence[int] | np.ndarray = 64,
    *,
    steps: int = 30,
    learning_rate: float | None = None,
    image_size: int | Sequence[int] | None = None,
    crop: int = 25,
    seed: int = 0,
    recipe: str = "book",
    data: np.ndarray | None = None,
    batch_size: int | None = None,
    memory_budget_gb: float = 0.75,
    progress: bool = False,
) -> FilterPatterns:
    """Synthesize, for each filter, the input pattern that activates it most
    (``convviz.visualize_filters(..., cache=True)`` reuses a result computed with the same
    weights and arguments, in this or another process).

    Parameters
    ----------
    model
        A Functional or Sequential model (nested, reloaded, ``Rescaling`` all work).
    layer
        A layer with a rank-4 output (plain name or ``"outer/inner"``).
    filters
        A count (the first N filters) or a sequence of filter indices.
    steps
        Gradient-ascent steps.
    learning_rate
        Step size; None: the recipe's own (:data:`DEFAULT_LEARNING_RATES`: 10 for book
        and fast, Adam's 0.05 for robust).
    image_size
        int or (height, width); None: the model's input size, or 200 when it has none.
    crop
        Border cropped by the post-processing, in pixels (the chapter's 25 at 200×200).
    seed
        Seed of the start images (and of the robust recipe's transforms).
    recipe
        ``"book"``, ``"fast"``, ``"robust"`` or ``"maco"``.
    data
        Real images (N, H, W, C) in the model's input space, e.g. the test split: tells
        filters that are dead on data from those the start image did not excite, and
        gives restarts their best image (see the module docstring); the ``maco`` recipe's
        magnitude spectrum is theirs (required there). None: no such test.
    batch_size
        Images per batch; None: as many as fit ``memory_budget_gb``.
    memory_budget_gb
        Memory the batch may use (estimated from the layer shapes). On a 2-core CPU the
        cost per image-step is flat from 16 images up and larger batches pay more on
        their first step, so the default is modest; raise it on a GPU.
    progress
        Show a progress bar.

    Returns
    -------
    FilterPatterns
    """
    if recipe not in RECIPES:
        raise InputError(f"unknown recipe {recipe!r}; valid recipes: {', '.join(RECIPES)}")
    if not isinstance(steps, (int, np.integer)) or steps <= 0:
        raise InputError(f"steps must be a positive integer, got {steps!r}")
    if recipe == "maco" and data is None:
        raise InputError("recipe 'maco' fixes the magnitude spectrum to that of real images: pass data=")
    lr = DEFAULT_LEARNING_RATES[recipe] if learning_rate is None else learning_rate
    if not lr > 0:
        raise InputError(f"learning_rate must be positive (or None for the recipe's own), got {lr!r}")
    info = require_spatial(model, layer, "filter patterns need")
    channels = int(info.output_shape[-1])
    idx = checked_filter_indices(filters, channels, info.name)
    size = optimization_size(model, image_size)
    if crop < 0 or size[0] - 2 * crop < 1 or size[1] - 2 * crop < 1:
        raise InputError(
            f"image of {size[0]}×{size[1]} pixels is too small to crop {crop} pixels from "
            f"each side: use a larger image_size or a smaller crop"
        )
    x_data = None
    if data is not None:
        from convviz.core.checks import check_images

        x_data = check_images(model, data, exact_size=True)
    in_channels = int(model.inputs[0].shape[-1] or 3)
    maps = channel_maps(model, info.name, channels)
    rng = np.random.default_rng(seed)
    start = time.perf_counter()
    dead = np.zeros(len(idx), bool)
    best = None
    if x_data is not None:  # first: a filter dead on data is shown flat gray, not optimized
        peaks, best = unit_peaks(model, info.name, idx, x_data)
        dead = never_fires(peaks[None])
    live = np.flatnonzero(~dead)
    raw = np.zeros((len(idx), *size, in_channels), np.float32)
    losses = np.zeros(len(idx), np.float32)
    stuck = np.zeros(len(idx), bool)
    n_steps, momentum = steps, 0.0  # robust and maco: Adam's own momentum
    transparency = np.zeros((len(idx), *size), np.float32) if recipe == "maco" else None
    if recipe in ("robust", "maco"):
        raw[:] = 0.5  # a dead filter's image: the recipe's gray
        if len(live):
            bs = _ascent.batch_size_for(model, info.name, size, len(live), batch_size, memory_budget_gb)
            steer = channel_maps(model, info.name, channels, redirect=True)  # units off at the start still move
            with _ascent.progress_bar(steps * -(-len(live) // bs), f"filters ({recipe})", progress) as bar:
                if transparency is not None:
                    magnitude, colors = maco_spectrum(x_data, size)  # type: ignore[arg-type]
                    raw[live], stuck[live], transparency[live] = _ascent.maco_ascent(
                        steer, idx[live], bs, size, magnitude, steps, lr, rng, colors=colors, bar=bar
                    )
                else:
                    raw[live], stuck[live] = _ascent.fourier_ascent(
                        steer, idx[live], bs, size, in_channels, steps, lr, rng, bar=bar
                    )
            losses[live] = _ascent.final_objective(maps, raw[live], idx[live], bs)
    else:
        n_steps, momentum = (steps, 0.0) if recipe == "book" else (max(1, round(steps * _FAST_SHARE)), _FAST_MOMENTUM)
        raw[:] = pixel_start(rng, len(idx), size, in_channels)  # drawn for every filter: a filter's start is its own
        if len(live):
            bs = _ascent.batch_size_for(model, info.name, size, len(live), batch_size, memory_budget_gb)
            with _ascent.progress_bar(n_steps * -(-len(live) // bs), f"filters ({recipe})", progress) as bar:
                raw[live], losses[live], stuck[live] = _ascent.pixel_ascent(
                    maps, idx[live], raw[live], bs, n_steps, lr, momentum=momentum, bar=bar
                )
    stuck |= losses <= 0
    origin = np.array(["gray"] * len(idx), dtype="<U5")
    retry = stuck & ~dead
    if retry.any():  # not excited from the start image: restart from noise, then from data
        restart_lr = DEFAULT_LEARNING_RATES["book"] if recipe in ("robust", "maco") else lr
        sources = [("noise", None)] + ([("data", best)] if best is not None else [])
        for name, pick in sources:
            sel = np.flatnonzero(retry)
            if not len(sel):
                break
            if pick is None:
                x0 = pixel_start(rng, len(sel), size, in_channels, low=0.0, high=1.0)
            else:
                x0 = np.stack([_fit(x_data[pick[i]], size) for i in sel])  # type: ignore[index]
            r_steps = max(steps, 30) if recipe in ("robust", "maco") else steps
            r_raw, r_loss, r_stuck = _ascent.pixel_ascent(maps, idx[sel], x0, min(bs, len(sel)), r_steps, restart_lr)
            fired = ~r_stuck & (r_loss > 0)
            raw[sel[fired]], losses[sel[fired]] = r_raw[fired], r_loss[fired]
            origin[sel[fired]] = name
            retry[sel[fired]] = False
    unexcited = retry | ~np.isfinite(losses)
    origin[dead | unexcited] = "none"
    if transparency is not None:
        transparency[origin != "gray"] = 0.0  # the image shown is not MaCo's
    seconds = time.perf_counter() - start
    images = np.stack(
        [
            display_uint8(r, crop) if recipe in ("robust", "maco") and o == "gray" else deprocess_image(r, crop=crop)
            for r, o in zip(raw, origin)
        ]
    )
    images[dead | unexcited] = 128  # no pattern to show: flat gray, not the noisy start image
    return FilterPatterns(
        info.name,
        recipe,
        idx,
        images,
        raw.astype(np.float32),
        losses.astype(np.float32),
        dead,
        unexcited,
        origin,
        seconds,
        n_steps,
        momentum,
        transparency,
    )


def _fit(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """A data image at the optimization size (bilinear resize when it differs)."""
    if image.shape[:2] == tuple(size):
        return image.astype(np.float32)
    return resize_images(image[None], size)[0]


def display_uint8(img: np.ndarray, crop: int) -> np.ndarray:
    """Robust-recipe display: crop, then stretch the 1st-99th percentile range to 0..255
    (the sigmoid keeps raw values near 0.5; ``raw`` keeps them as optimized)."""
    img = img[crop:-crop, crop:-crop, :] if crop else img
    lo, hi = np.percentile(img, [1, 99])
    out = (img - lo) / (hi - lo) if hi > lo else np.full_like(img, 0.5)
    return (np.clip(out, 0, 1) * 255).round().astype(np.uint8)


def book_objective_reference(model: keras.Model, layer: str, images: np.ndarray, filters: np.ndarray) -> np.ndarray:
    """Mean activation of each filter on its image, computed the plain way (float32, whole
    layer output, the chapter's 2-pixel border dropped). Used by tests and benchmarks."""
    body = layer_output(model, layer)
    out = []
    for img, f in zip(images, filters):
        a = _backend.to_numpy(body(ops.convert_to_tensor(img[None].astype(np.float32))))
        a = a[:, 2:-2, 2:-2, f] if a.shape[1] > 4 and a.shape[2] > 4 else a[..., f]
        out.append(float(a.mean()))
    return np.array(out, np.float32)
