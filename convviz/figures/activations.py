"""Figures of a layer's activations: every channel of one image as a mosaic (blank channels crossed out), and how many channels are blank per image, layer by layer."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

import numpy as np

from convviz.figures.output import given_or_new_axes
from convviz.core.errors import InputError

if TYPE_CHECKING:
    from matplotlib.axes import Axes


__all__ = ["activation_mosaic", "plot_activation_grid", "plot_sparsity"]


_BLANK = np.array([0.85, 0.85, 0.85])  # blank channels: light gray with a red cross


_CROSS = np.array([0.85, 0.2, 0.2])


def activation_mosaic(activation: np.ndarray, *, ncols: int = 16, cmap: str = "viridis", margin: int = 1) -> np.ndarray:
    """RGB mosaic of every channel of one image's activation (h, w, C).

    Each channel gets the chapter's normalization (standardize, ×64 + 128, clip to
    0..255); channels that are zero everywhere are drawn as gray tiles with a red
    cross, so blank is told apart from dark.
    """
    import matplotlib

    a = np.asarray(activation, np.float64)
    if a.ndim == 4 and len(a) == 1:
        a = a[0]
    if a.ndim != 3:
        raise InputError(f"activation must be (height, width, channels) for one image, got {a.shape}")
    if ncols < 1:
        raise InputError(f"ncols must be at least 1, got {ncols}")
    h, w, c = a.shape
    cols = min(ncols, c)
    rows = -(-c // cols)
    out = np.ones(((h + margin) * rows - margin, (w + margin) * cols - margin, 3))
    cm = matplotlib.colormaps[cmap]
    for k in range(c):
        ch = a[:, :, k]
        r, q = divmod(k, cols)
        y, x = r * (h + margin), q * (w + margin)
        if np.all(ch == 0):
            tile = np.tile(_BLANK, (h, w, 1))
            d = np.arange(min(h, w))
            tile[d * h // min(h, w), d * w // min(h, w)] = _CROSS
            tile[d * h // min(h, w), (w - 1) - d * w // min(h, w)] = _CROSS
        else:
            z = ch - ch.mean()
            z = z / ch.std() if ch.std() > 0 else z
            tile = cm(np.clip(z * 64 + 128, 0, 255) / 255.0)[..., :3]
        out[y : y + h, x : x + w] = tile
    return out


def plot_activation_grid(
    activation: np.ndarray, *, ncols: int = 16, ax: Axes | None = None, title: str | None = None
) -> Axes:
    """Every channel of one image's activation as a grid (see :func:`activation_mosaic`)."""
    from convviz.figures.style import figsize

    mosaic = activation_mosaic(activation, ncols=ncols)
    ax = given_or_new_axes(ax, figsize(max(0.12, mosaic.shape[0] / mosaic.shape[1] + 0.06)))
    ax.imshow(mosaic, interpolation="nearest")
    ax.set_axis_off()
    if title:
        ax.set_title(title, loc="left", fontsize=10)
    return ax


def plot_sparsity(
    sparsity: Mapping[str, np.ndarray] | Mapping[str, float],
    *,
    dead: Mapping[str, float] | None = None,
    mark: Mapping[str, float] | None = None,
    mark_label: str = "one image",
    ax: Axes | None = None,
    title: str | None = "Blank channels per layer",
) -> Axes:
    """How many channels of each layer are blank, in forward order, one row per layer.

    ``sparsity`` maps each layer to the share of its channels blank for each image
    (:func:`convviz.blank_channel_share`, the chapter's sparsity): drawn as a box over the
    images (the box holds the middle half of them, the line their median, the whiskers 5% to
    95%). A plain number per layer is drawn as a bar. ``dead`` (:func:`convviz.layer_sparsity`:
    channels blank on every image) adds a red diamond for each layer that has any; the legend
    says so when no layer has one. ``mark`` (a share per layer, e.g. one image's) adds a black
    ring on each layer's row, named ``mark_label`` in the legend: where an image the page shows
    stands among the others.
    """
    from convviz.figures.style import figsize

    names = list(sparsity)
    ax = given_or_new_axes(ax, figsize(max(0.3, 0.045 * len(names) + 0.2)))
    y = np.arange(len(names))
    values = [np.atleast_1d(np.asarray(sparsity[n], np.float64)) * 100 for n in names]
    if all(len(v) == 1 for v in values):
        ax.barh(y, [v[0] for v in values], color="#4c72b0", label="blank channels")
    else:
        ax.boxplot(
            values,
            positions=y,
            orientation="horizontal",
            whis=(5, 95),
            widths=0.6,
            showfliers=False,
            patch_artist=True,
            boxprops=dict(facecolor="#c6d2ea", edgecolor="#4c72b0"),
            medianprops=dict(color="#1f3d7a", linewidth=1.6),
            whiskerprops=dict(color="#4c72b0"),
            capprops=dict(color="#4c72b0"),
            label="blank for an image (middle half of the images, median, 5–95%)",
        )
    if dead is not None:
        share = np.array([100 * float(dead.get(n, np.nan)) for n in names])
        some = np.nan_to_num(share) > 0  # a layer without dead channels gets no marker at 0
        ax.scatter(
            share[some],
            y[some],
            marker="D",
            s=22,
            color="#d62728",
            zorder=3,
            label="dead: blank for every image" + ("" if some.any() else " (none in any layer)"),
        )
    if mark is not None:
        unknown = sorted(set(mark) - set(names))
        if unknown:
            raise InputError(f"mark names layers not in sparsity: {', '.join(unknown)}; valid: {', '.join(names)}")
        at = np.array([100 * float(mark.get(n, np.nan)) for n in names])
        ok = np.isfinite(at)
        ax.scatter(
            at[ok], y[ok], marker="o", s=34, facecolors="none", edgecolors="black", linewidths=1.3, zorder=4,
            label=mark_label,
        )  # fmt: skip
    ax.set_yticks(y, names)
    ax.invert_yaxis()  # the first layer on top
    marked = [100 * float(v) for v in (mark or {}).values() if np.isfinite(v)]
    top = max([float(np.max(v)) for v in values] + [100 * float(v) for v in (dead or {}).values()] + marked + [0.0])
    ax.set_xlim(0, 100 if top > 60 else max(5.0, 1.2 * top))
    ax.set_xlabel("channels blank (%)")
    ax.legend(loc="upper left", bbox_to_anchor=(0, -0.12 - 0.4 / max(len(names), 1)), ncols=1, frameon=False)
    if title:
        ax.set_title(title)
    return ax
