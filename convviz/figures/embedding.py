"""Figures of a latent space: a 2-D projection coloured by class with wrong predictions marked, and captioned thumbnails of its images."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from convviz.figures.output import given_or_new_axes
from convviz.core.errors import InputError

if TYPE_CHECKING:
    from matplotlib.axes import Axes


__all__ = ["label_offsets", "plot_embedding", "plot_thumbnails"]


def plot_embedding(
    points: np.ndarray,
    labels: np.ndarray,
    *,
    class_names: Sequence[str] | None = None,
    ax: Axes | None = None,
    misclassified: np.ndarray | None = None,
    highlight: np.ndarray | None = None,
    trust: float | None = None,
    title: str | None = None,
    s: float = 6,
    max_classes: int = 10,
) -> Axes:
    """A 2-D projection colored by class, with a legend outside the axes (on the right).

    ``misclassified`` (bool mask) draws red crosses (red marks wrong predictions on the whole
    site, so no class is red); ``highlight`` (indices) circles the most suspicious samples in
    black and numbers every one of them in order (1 first), each number on a white patch with
    a short line to its ring, placed by :func:`label_offsets`; ``trust`` adds the trustworthiness to the
    title. Only the ``max_classes`` most frequent classes get a
    color and a legend entry (the others are light gray, "other"), so a 1,000-class
    model stays readable.
    """
    import matplotlib

    p = np.asarray(points)
    y = np.asarray(labels)
    if p.ndim != 2 or p.shape[1] != 2 or len(p) != len(y):
        raise InputError(f"points must be (N, 2) with one label each, got {p.shape} and {y.shape}")
    if max_classes < 1:
        raise InputError(f"max_classes must be at least 1, got {max_classes}")
    ax = given_or_new_axes(ax, (7, 6))
    classes, counts = np.unique(y, return_counts=True)
    shown = classes[np.argsort(-counts, kind="stable")[:max_classes]]
    rest = np.isin(y, shown, invert=True)
    if rest.any():
        others = len(classes) - len(shown)
        ax.scatter(p[rest, 0], p[rest, 1], s=s, color="0.8", linewidths=0, label=f"other ({others} classes)")
    from convviz.figures.style import CLASS_COLORS, WRONG

    cmap = matplotlib.colormaps["tab20"]
    # a model of at most 10 classes: each class its colour by class index, as every figure of
    # the site draws it (the atlas's class map too), whichever classes are present
    known = len(class_names) if class_names is not None else int(y.max(initial=-1)) + 1
    by_index = known <= len(CLASS_COLORS) and bool((shown >= 0).all())
    for i, c in enumerate(sorted(shown)):
        sel = y == c
        name = class_names[c] if class_names is not None else str(c)
        color: Any
        if by_index:
            color = CLASS_COLORS[int(c)]
        else:
            color = CLASS_COLORS[i] if len(shown) <= len(CLASS_COLORS) else cmap(i % cmap.N)
        ax.scatter(p[sel, 0], p[sel, 1], s=s, color=color, label=name, alpha=0.8, linewidths=0)
    if misclassified is not None and np.any(misclassified):
        m = np.asarray(misclassified, bool)
        ax.scatter(
            p[m, 0], p[m, 1], s=28, marker="x", color=WRONG, linewidths=1.2, label=f"misclassified ({int(m.sum())})"
        )
    if highlight is not None and len(highlight):
        h = np.asarray(highlight)
        ax.scatter(
            p[h, 0], p[h, 1], s=110, facecolors="none", edgecolors="black", linewidths=1.8, label="most suspicious"
        )
    ax.margins(0.04)
    if highlight is not None and len(highlight):
        ax.autoscale_view()  # the limits the numbers are placed in
        shown_h = np.asarray(highlight)
        at = ax.transData.transform(p[shown_h]) * 72 / ax.figure.dpi  # points on the page
        for rank, (j, offset) in enumerate(zip(shown_h, label_offsets(at)), start=1):
            ax.annotate(  # every one numbered (the page's thumbnails carry the same numbers), a line to its ring
                str(rank),
                p[j],
                xytext=tuple(offset),
                textcoords="offset points",
                fontsize=9,
                ha="center",
                va="center",
                color="black",
                bbox=dict(boxstyle="round,pad=0.1", facecolor="white", edgecolor="none", alpha=0.8),
                arrowprops=dict(arrowstyle="-", color="0.25", linewidth=0.6, shrinkA=0, shrinkB=5),
            )
    ax.legend(fontsize=9, markerscale=2, loc="upper left", bbox_to_anchor=(1.01, 1), frameon=False)  # outside the data
    ax.set_xticks([])
    ax.set_yticks([])
    for spine in ax.spines.values():
        spine.set_visible(True)
        spine.set_color("0.8")
    head = [title] if title else []
    if trust is not None:
        head.append(f"trustworthiness {trust:.3f} (k=10)")
    if head:
        ax.set_title(" · ".join(head), loc="left")
    return ax


def label_offsets(at: np.ndarray, *, radius: float = 12.0) -> np.ndarray:
    """Where to write a number beside each of the points ``at`` (N, 2), in points on the page:
    the offsets (N, 2) from each point, each chosen in turn among 16 places around it (two
    rings, ``radius`` and 1.9 × ``radius`` away) as the place farthest from every point and
    every number already placed (a place at least ``radius`` from all of them is taken first,
    the inner ring before the outer). Numbers of points close together fan out instead of
    covering one another; a lone point's number goes to its upper right."""
    at = np.asarray(at, float)
    if at.ndim != 2 or at.shape[1] != 2:
        raise InputError(f"at must be (N, 2) positions in points, got shape {at.shape}")
    if not radius > 0:
        raise InputError(f"radius must be positive (points), got {radius}")
    angles = np.deg2rad(np.arange(45, 405, 45))
    ring = np.stack([np.cos(angles), np.sin(angles)], axis=1)
    candidates = np.concatenate([ring * radius, ring * radius * 1.9])
    placed: list[np.ndarray] = []
    out = np.zeros_like(at)
    for i, point in enumerate(at):
        spots = point + candidates
        others = np.concatenate([at, np.asarray(placed)]) if placed else at
        gap = np.linalg.norm(spots[:, None] - others[None], axis=-1).min(axis=1)
        # room enough (a ring's radius from everything) is as good as more: ties go to the
        # first place, the inner ring from the upper right round
        best = int(np.argmax(np.round(np.minimum(gap, radius), 6)))
        out[i] = candidates[best]
        placed.append(spots[best])
    return out


def plot_thumbnails(
    images: np.ndarray,
    captions: Sequence[str],
    *,
    axes: Any = None,
    ncols: int = 10,
    colors: Sequence[str] | None = None,
) -> Any:
    """A strip of thumbnails with captions (e.g. "given: ring / predicted: circle"), each
    caption wrapped to its thumbnail's width.

    Returns the array of Axes.
    """
    import matplotlib.pyplot as plt

    from convviz.figures.style import COLUMN_WIDTH

    imgs = np.asarray(images)
    n = len(imgs)
    if len(captions) != n:
        raise InputError(f"{n} images but {len(captions)} captions")
    if axes is None:
        rows = -(-n // ncols)
        side = COLUMN_WIDTH / ncols
        lines = max((len(_wrap(c, side)) for c in captions), default=1)
        _, axes = plt.subplots(rows, ncols, figsize=(COLUMN_WIDTH, (side + 0.18 * lines + 0.1) * rows), squeeze=False)
    flat = np.ravel(axes)
    fig = flat[0].figure
    width = fig.get_size_inches()[0] * flat[0].get_position().width
    for i, ax in enumerate(flat):
        ax.set_axis_off()
        if i >= n:
            continue
        img = imgs[i]
        ax.imshow(
            img[..., 0] if img.shape[-1] == 1 else img, cmap="gray" if img.shape[-1] == 1 else None, vmin=0, vmax=1
        )
        text = "\n".join(_wrap(captions[i], width))
        ax.set_title(text, fontsize=9, color=(colors[i] if colors else "black"), loc="center")
    return axes


def _wrap(caption: str, width_in: float, *, fontsize: float = 9) -> list[str]:
    """A caption's lines, each short enough for ``width_in`` inches at ``fontsize``."""
    import textwrap

    chars = max(6, int(width_in * 72 / (0.58 * fontsize)))
    return [w for line in caption.splitlines() for w in (textwrap.wrap(line, chars) or [""])]
