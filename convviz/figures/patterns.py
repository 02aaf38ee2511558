"""Figures of filter patterns: a grid of the images that maximize each filter, dead and unexcited filters framed."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from convviz.figures.output import given_or_new_axes
from convviz.core.errors import InputError

if TYPE_CHECKING:
    from matplotlib.axes import Axes

    from convviz.optvis.filters import FilterPatterns


__all__ = ["filter_grid", "plot_filter_grid", "flat_patterns", "transparent_images", "plot_transparency", "FLAT_LEVELS"]


_DEAD_RGB = np.array([220, 30, 30], np.uint8)  # dead on data: red frame


_UNEXCITED_RGB = np.array([240, 150, 0], np.uint8)  # alive, but no start made it fire: orange


FLAT_LEVELS = 10.0  # a shown pattern whose pixels spread less than this (std, of 255 levels) looks flat


def flat_patterns(patterns: FilterPatterns, *, levels: float = FLAT_LEVELS) -> np.ndarray:
    """bool (K,): the filters that fired whose shown pattern is flat (in each colour channel,
    its pixels' standard deviation under ``levels`` of 255: one gray or one colour).

    On such a filter the ascent moved the inside of the image by a uniform field (only the
    border, which the display crops, took a shape): the filter responds to the input's
    overall level (brightness, or a colour), not to a shape, and the chapter's
    standardization draws that as an even tile (mid-gray, on a gray-image model). Filters dead on data or not excited are not
    counted (they are flat by construction, and framed). Raises ``InputError`` unless
    ``levels`` is in (0, 255].
    """
    if not 0 < levels <= 255:
        raise InputError(f"levels must be in (0, 255] (a spread of the shown image's 0..255 values), got {levels}")
    imgs = np.asarray(patterns.images, np.float64)
    spread = imgs.std(axis=(1, 2)).max(axis=-1) if len(imgs) else np.zeros(0)
    return (spread < levels) & ~np.asarray(patterns.dead, bool) & ~np.asarray(patterns.unexcited, bool)


def _frame(grid: np.ndarray, y: int, x: int, h: int, w: int, color: np.ndarray) -> None:
    t = max(1, min(h, w) // 16)
    grid[y : y + t, x : x + w] = color
    grid[y + h - t : y + h, x : x + w] = color
    grid[y : y + h, x : x + t] = color
    grid[y : y + h, x + w - t : x + w] = color


def filter_grid(
    images: np.ndarray,
    *,
    ncols: int | None = None,
    margin: int = 5,
    dead: np.ndarray | None = None,
    unexcited: np.ndarray | None = None,
) -> np.ndarray:
    """The chapter's grid of filter patterns as one uint8 image; filters dead on data get a
    red frame, filters that nothing excited an orange one."""
    imgs = np.asarray(images)
    if imgs.ndim != 4:
        raise InputError(f"images must be (K, H, W, C), got {imgs.shape}")
    k, h, w, c = imgs.shape
    cols = ncols or int(np.ceil(np.sqrt(k)))
    rows = -(-k // cols)
    grid = np.full(((h + margin) * rows - margin, (w + margin) * cols - margin, 3), 255, np.uint8)
    for i in range(k):
        r, q = divmod(i, cols)
        y, x = r * (h + margin), q * (w + margin)
        tile = imgs[i] if c == 3 else np.repeat(imgs[i][..., :1], 3, axis=-1)
        grid[y : y + h, x : x + w] = tile
        if dead is not None and dead[i]:
            _frame(grid, y, x, h, w, _DEAD_RGB)
        elif unexcited is not None and unexcited[i]:
            _frame(grid, y, x, h, w, _UNEXCITED_RGB)
    return grid


def plot_filter_grid(
    patterns: FilterPatterns,
    *,
    ncols: int | None = None,
    margin: int = 5,
    ax: Axes | None = None,
    title: str | None = None,
) -> Axes:
    """Grid of a :class:`~convviz.optvis.filters.FilterPatterns`: filters dead on data framed in
    red, filters no start excited framed in orange; the title counts each kind, and the
    flat patterns of filters that fired (:func:`flat_patterns`)."""
    grid = filter_grid(patterns.images, ncols=ncols, margin=margin, dead=patterns.dead, unexcited=patterns.unexcited)
    ax = given_or_new_axes(ax, (8, 8))
    ax.imshow(grid, interpolation="nearest")
    ax.set_axis_off()
    if title is None:
        title = f"{patterns.layer} — {patterns.recipe} recipe"
    notes = []
    if int(np.sum(patterns.dead)):
        notes.append(f"{int(np.sum(patterns.dead))} dead on data (red)")
    if int(np.sum(patterns.unexcited)):
        notes.append(f"{int(np.sum(patterns.unexcited))} not excited (orange)")
    flat = int(np.sum(flat_patterns(patterns)))
    if flat:
        notes.append(f"{flat} flat: a uniform field")
    ax.set_title("\n".join([title, *notes]), loc="left", fontsize=10)
    return ax


def transparent_images(patterns: FilterPatterns) -> np.ndarray:
    """MaCo's way of showing where the optimization spent its effort: each shown image
    (uint8, K × H × W × C) faded to white where its transparency map is low (opacity: the
    map over its own maximum, cropped as the images are). Raises ``InputError`` for a result
    without a transparency map (a recipe other than ``"maco"``)."""
    if patterns.transparency is None:
        raise InputError(f"the {patterns.recipe!r} recipe has no transparency map: only recipe='maco' makes one")
    t = np.asarray(patterns.transparency, np.float64)
    h, w = patterns.images.shape[1:3]
    cy, cx = (t.shape[1] - h) // 2, (t.shape[2] - w) // 2  # the images' border crop
    t = t[:, cy : cy + h, cx : cx + w]
    peak = t.reshape(len(t), -1).max(axis=1).reshape(-1, 1, 1)
    alpha = np.divide(t, peak, out=np.zeros_like(t), where=peak > 0)[..., None]
    return (patterns.images * alpha + 255 * (1 - alpha)).round().astype(np.uint8)


def plot_transparency(
    patterns: FilterPatterns,
    *,
    ncols: int | None = None,
    margin: int = 5,
    ax: Axes | None = None,
    title: str | None = None,
) -> Axes:
    """The grid of :func:`transparent_images`: a MaCo result with each image opaque where the
    optimization pushed hardest and faded where it barely moved."""
    grid = filter_grid(transparent_images(patterns), ncols=ncols, margin=margin)
    ax = given_or_new_axes(ax, (8, 8))
    ax.imshow(grid, interpolation="nearest")
    ax.set_axis_off()
    ax.set_title(title or f"{patterns.layer}: where MaCo spent its effort", loc="left", fontsize=10)
    return ax
