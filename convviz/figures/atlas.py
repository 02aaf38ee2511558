"""The class map of an activation atlas: its grid, each drawn cell in the colour of the class
its vectors' images are most often predicted as."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from convviz.core.errors import InputError
from convviz.figures.output import given_or_new_axes

if TYPE_CHECKING:
    from matplotlib.axes import Axes


__all__ = ["atlas_class_colors", "plot_atlas_classes"]

OTHER = "#b0b0b0"  # a class past the coloured ones
MIN_OPACITY = 0.3  # a cell's opacity at a share of 0 (1 at a share of 1): a mixed cell keeps its hue


def atlas_class_colors(dominant: np.ndarray, counts: np.ndarray, *, classes: int) -> dict[int, str]:
    """The colour of each class that dominates a cell.

    Parameters
    ----------
    dominant, counts
        (M,) each cell's dominant class and its number of vectors.
    classes
        The model's number of classes.

    Returns
    -------
    dict
        Class → colour: a model of at most 10 classes keeps the colours of
        :data:`convviz.figures.style.CLASS_COLORS` by class index, as the latent space's figure
        draws them (:func:`convviz.plot_embedding`); a model of more gives its 10 classes with
        the most vectors those colours, in class order, and every other class gray
        (:data:`OTHER`).
    """
    from convviz.figures.style import CLASS_COLORS

    dominant = np.asarray(dominant, int)
    present = sorted({int(c) for c in dominant})
    if classes <= len(CLASS_COLORS):
        return {c: CLASS_COLORS[c] for c in present}
    weight = {c: int(np.asarray(counts)[dominant == c].sum()) for c in present}
    top = sorted(sorted(present, key=lambda c: (-weight[c], c))[: len(CLASS_COLORS)])
    return {c: CLASS_COLORS[top.index(c)] if c in top else OTHER for c in present}


def plot_atlas_classes(atlas: Any, class_names: Sequence[str], *, ax: Axes | None = None) -> Axes:
    """The grid of ``atlas`` (a :class:`convviz.ActivationAtlas`), each drawn cell filled with
    the colour of its dominant predicted class (:func:`atlas_class_colors`), the more opaque the
    larger that class's share of the cell's vectors (from :data:`MIN_OPACITY` at none to 1 at
    all: a pale cell mixes classes, and still shows whose it is); cells not drawn stay
    blank. The legend names the classes that dominate a cell and how many cells each does.
    Row 0 is at the top, as in the atlas's image."""
    from matplotlib.colors import to_rgb
    from matplotlib.patches import Patch

    g = int(atlas.grid)
    cells, dominant = np.asarray(atlas.cells, int), np.asarray(atlas.dominant, int)
    drawn, share = np.asarray(atlas.drawn, bool), np.asarray(atlas.share, float)
    counts = np.asarray(atlas.counts)
    if (
        cells.ndim != 2
        or cells.shape[1] != 2
        or not len(cells) == len(dominant) == len(drawn) == len(share) == len(counts)
    ):
        raise InputError(
            f"an atlas's cells must be (M, 2) with a class, share, count and drawn flag each, got {cells.shape}"
        )
    if len(cells) and (cells.min() < 0 or cells.max() >= g):
        raise InputError(f"an atlas's cells must lie on its {g}×{g} grid (rows and columns 0 to {g - 1})")
    classes = max(len(class_names), int(dominant.max(initial=-1)) + 1)
    on = np.flatnonzero(drawn)
    colors = atlas_class_colors(dominant[on], counts[on], classes=classes)
    rgba = np.ones((g, g, 4))
    rgba[..., 3] = 0.0
    for i in on:
        r, c = cells[i]
        rgba[r, c, :3] = to_rgb(colors[int(dominant[i])])
        rgba[r, c, 3] = MIN_OPACITY + (1 - MIN_OPACITY) * float(np.clip(share[i], 0.0, 1.0))
    ax = given_or_new_axes(ax, (6, 5))
    ax.imshow(rgba, interpolation="nearest", extent=(0, g, g, 0))
    ax.set_xlim(0, g)
    ax.set_ylim(g, 0)
    ax.set_aspect("equal")
    ax.set_xticks([])
    ax.set_yticks([])
    for spine in ax.spines.values():
        spine.set_color("0.8")

    def name(c: int) -> str:
        return class_names[c] if 0 <= c < len(class_names) else str(c)

    cells_of = {c: int((dominant[on] == c).sum()) for c in colors}
    handles = [Patch(color=colors[c], label=f"{name(c)} ({cells_of[c]})") for c in sorted(colors) if colors[c] != OTHER]
    rest = [c for c in colors if colors[c] == OTHER]
    if rest:
        handles.append(Patch(color=OTHER, label=f"other ({len(rest)} classes, {sum(cells_of[c] for c in rest)})"))
    ax.legend(
        handles=handles,
        title="dominant class (cells)",
        fontsize=9,
        title_fontsize=9,
        loc="upper left",
        bbox_to_anchor=(1.01, 1),
        frameon=False,
    )
    return ax
