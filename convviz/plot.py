"""Figures. Each function takes data (NumPy), draws on ``ax`` (a new one when None) and
returns the Axes; saving is separate (:func:`save_figure`, :func:`save_image`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from convviz.filters import FilterPatterns
    from convviz.metrics import RandomizationResult

__all__ = [
    "activation_mosaic",
    "plot_activation_grid",
    "plot_sparsity",
    "filter_grid",
    "plot_filter_grid",
    "save_image",
    "overlay_heatmap",
    "plot_heatmap_overlay",
    "plot_embedding",
    "plot_thumbnails",
    "plot_randomization",
    "save_figure",
    "scale_attribution",
    "plot_attribution",
]

_BLANK = np.array([0.85, 0.85, 0.85])  # blank channels: light gray with a red cross
_CROSS = np.array([0.85, 0.2, 0.2])


def _axes(ax: Axes | None, figsize: tuple[float, float] = (8, 6)) -> Axes:
    if ax is not None:
        return ax
    import matplotlib.pyplot as plt

    return plt.figure(figsize=figsize).add_subplot()


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
        raise ValueError(f"activation must be (height, width, channels) for one image, got {a.shape}")
    if ncols < 1:
        raise ValueError(f"ncols must be at least 1, got {ncols}")
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
    mosaic = activation_mosaic(activation, ncols=ncols)
    ax = _axes(ax, (12, max(1.5, 12 * mosaic.shape[0] / mosaic.shape[1])))
    ax.imshow(mosaic, interpolation="nearest")
    ax.set_axis_off()
    if title:
        ax.set_title(title, loc="left", fontsize=10)
    return ax


def plot_sparsity(
    sparsity: Mapping[str, float], *, ax: Axes | None = None, title: str | None = "Blank channels per layer"
) -> Axes:
    """Fraction of blank channels per layer, in forward order."""
    ax = _axes(ax, (8, 3.5))
    names = list(sparsity)
    vals = [100 * sparsity[n] for n in names]
    ax.bar(range(len(names)), vals, color="#4c72b0")
    ax.set_xticks(range(len(names)), names, rotation=60, ha="right", fontsize=8)
    ax.set_ylabel("blank channels (%)")
    ax.set_ylim(0, max(5, max(vals, default=0) * 1.15))
    for i, v in enumerate(vals):
        ax.text(i, v, f"{v:.0f}", ha="center", va="bottom", fontsize=7)
    if title:
        ax.set_title(title, loc="left")
    return ax


_DEAD_RGB = np.array([220, 30, 30], np.uint8)  # dead on data: red frame
_UNEXCITED_RGB = np.array([240, 150, 0], np.uint8)  # alive, but no start made it fire: orange


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
        raise ValueError(f"images must be (K, H, W, C), got {imgs.shape}")
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
    """Grid of a :class:`~convviz.filters.FilterPatterns`: filters dead on data framed in
    red, filters no start excited framed in orange."""
    grid = filter_grid(patterns.images, ncols=ncols, margin=margin, dead=patterns.dead, unexcited=patterns.unexcited)
    ax = _axes(ax, (8, 8))
    ax.imshow(grid, interpolation="nearest")
    ax.set_axis_off()
    if title is None:
        title = f"{patterns.layer} — {patterns.recipe} recipe"
    notes = []
    if int(np.sum(patterns.dead)):
        notes.append(f"{int(np.sum(patterns.dead))} dead on data (red)")
    if int(np.sum(patterns.unexcited)):
        notes.append(f"{int(np.sum(patterns.unexcited))} not excited (orange)")
    ax.set_title(title + (f"\n{', '.join(notes)}" if notes else ""), loc="left", fontsize=10)
    return ax


def save_image(path: str | Path, image: np.ndarray) -> Path:
    """Save a uint8 (or [0, 1] float) image as PNG, atomically."""
    import os
    import tempfile

    from PIL import Image

    arr = np.asarray(image)
    if arr.dtype != np.uint8:
        arr = (np.clip(arr, 0, 1) * 255).round().astype(np.uint8)
    if arr.ndim == 3 and arr.shape[-1] == 1:
        arr = arr[..., 0]
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".png")
    os.close(fd)
    Image.fromarray(arr).save(tmp, format="PNG")
    os.chmod(tmp, 0o644)  # mkstemp's 0600 would keep a web server from reading the site's copy
    os.replace(tmp, path)
    return path


def overlay_heatmap(image: np.ndarray, heatmap: np.ndarray, *, alpha: float = 0.4, cmap: str = "jet") -> np.ndarray:
    """Blend a [0, 1] heatmap (resized to the image) over an image; returns uint8 RGB.

    ``image`` is float in [0, 1] or uint8, grayscale or RGB.
    """
    import matplotlib

    from convviz._image import upsample_maps

    if not 0 <= alpha <= 1:
        raise ValueError(f"alpha must be in [0, 1], got {alpha}")
    img = np.asarray(image)
    img = img.astype(np.float64) / 255.0 if img.dtype == np.uint8 else np.asarray(img, np.float64)
    if img.ndim == 2:
        img = img[..., None]
    if img.ndim != 3 or img.shape[-1] not in (1, 3):
        raise ValueError(f"image must be (H, W), (H, W, 1) or (H, W, 3), got {np.shape(image)}")
    if img.shape[-1] == 1:
        img = np.repeat(img, 3, axis=-1)
    heat = np.asarray(heatmap, np.float32)
    if heat.ndim != 2:
        raise ValueError(f"heatmap must be 2-D, got shape {heat.shape}")
    heat = upsample_maps(heat[None], img.shape[:2])[0]
    heat = np.clip(np.nan_to_num(heat), 0, 1)
    colored = matplotlib.colormaps[cmap](heat)[..., :3]
    out = (1 - alpha) * np.clip(img, 0, 1) + alpha * colored
    return (np.clip(out, 0, 1) * 255).round().astype(np.uint8)


def plot_heatmap_overlay(
    image: np.ndarray,
    heatmap: np.ndarray,
    *,
    ax: Axes | None = None,
    alpha: float = 0.4,
    title: str | None = None,
    color: str = "black",
) -> Axes:
    """Draw :func:`overlay_heatmap` with an optional title (e.g. true and predicted class)."""
    ax = _axes(ax, (4, 4))
    ax.imshow(overlay_heatmap(image, heatmap, alpha=alpha))
    ax.set_axis_off()
    if title:
        ax.set_title(title, fontsize=9, color=color)
    return ax


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
    """A 2-D projection colored by class, with a legend inside the axes.

    ``misclassified`` (bool mask) draws black crosses; ``highlight`` (indices) circles
    the most suspicious samples and numbers them; ``trust`` prints the
    trustworthiness on the plot. Only the ``max_classes`` most frequent classes get a
    color and a legend entry (the others are light gray, "other"), so a 1,000-class
    model stays readable.
    """
    import matplotlib

    p = np.asarray(points)
    y = np.asarray(labels)
    if p.ndim != 2 or p.shape[1] != 2 or len(p) != len(y):
        raise ValueError(f"points must be (N, 2) with one label each, got {p.shape} and {y.shape}")
    if max_classes < 1:
        raise ValueError(f"max_classes must be at least 1, got {max_classes}")
    ax = _axes(ax, (7, 6))
    classes, counts = np.unique(y, return_counts=True)
    shown = classes[np.argsort(-counts, kind="stable")[:max_classes]]
    rest = np.isin(y, shown, invert=True)
    if rest.any():
        others = len(classes) - len(shown)
        ax.scatter(p[rest, 0], p[rest, 1], s=s, color="0.8", linewidths=0, label=f"other ({others} classes)")
    cmap = matplotlib.colormaps["tab10" if len(shown) <= 10 else "tab20"]
    for i, c in enumerate(sorted(shown)):
        sel = y == c
        name = class_names[c] if class_names is not None else str(c)
        ax.scatter(p[sel, 0], p[sel, 1], s=s, color=cmap(i % cmap.N), label=name, alpha=0.8, linewidths=0)
    if misclassified is not None and np.any(misclassified):
        m = np.asarray(misclassified, bool)
        ax.scatter(
            p[m, 0], p[m, 1], s=28, marker="x", color="black", linewidths=1.0, label=f"misclassified ({int(m.sum())})"
        )
    if highlight is not None and len(highlight):
        h = np.asarray(highlight)
        ax.scatter(p[h, 0], p[h, 1], s=90, facecolors="none", edgecolors="red", linewidths=1.2, label="most suspicious")
        for rank, j in enumerate(h[:10], start=1):
            ax.annotate(str(rank), p[j], xytext=(4, 4), textcoords="offset points", fontsize=9, color="red")
    if trust is not None:
        ax.text(
            0.01,
            0.01,
            f"trustworthiness (k=10): {trust:.3f}",
            transform=ax.transAxes,
            fontsize=9,
            va="bottom",
            bbox=dict(facecolor="white", alpha=0.8, edgecolor="none"),
        )
    ax.margins(0.25, 0.08)  # room on the right for the legend, inside the axes
    ax.legend(fontsize=9, markerscale=2, loc="upper right", framealpha=0.85)
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title, loc="left")
    return ax


def plot_thumbnails(
    images: np.ndarray,
    captions: Sequence[str],
    *,
    axes: Any = None,
    ncols: int = 10,
    colors: Sequence[str] | None = None,
) -> Any:
    """A strip of thumbnails with captions (e.g. "given: ring / predicted: circle").

    Returns the array of Axes.
    """
    import matplotlib.pyplot as plt

    imgs = np.asarray(images)
    n = len(imgs)
    if len(captions) != n:
        raise ValueError(f"{n} images but {len(captions)} captions")
    if axes is None:
        rows = -(-n // ncols)
        _, axes = plt.subplots(rows, ncols, figsize=(1.9 * ncols, 2.3 * rows), squeeze=False)
    flat = np.ravel(axes)
    for i, ax in enumerate(flat):
        ax.set_axis_off()
        if i >= n:
            continue
        img = imgs[i]
        ax.imshow(
            img[..., 0] if img.shape[-1] == 1 else img, cmap="gray" if img.shape[-1] == 1 else None, vmin=0, vmax=1
        )
        ax.set_title(captions[i], fontsize=9, color=(colors[i] if colors else "black"))
    return axes


def scale_attribution(attribution_map: np.ndarray, *, percentile: float = 99.0) -> np.ndarray:
    """Scale a (H, W) or (N, H, W) attribution map for display: divided by its
    ``percentile``-th absolute value (per image) and clipped to [-1, 1] (to [0, 1] for a
    non-negative map), so that a few extreme pixels do not turn the rest black."""
    if not 0 < percentile <= 100:
        raise ValueError(f"percentile must be in (0, 100], got {percentile}")
    a = np.asarray(attribution_map, np.float64)
    single = a.ndim == 2
    a = a[None] if single else a
    if a.ndim != 3:
        raise ValueError(f"attribution map must be (H, W) or (N, H, W), got shape {np.shape(attribution_map)}")
    top = np.percentile(np.abs(a).reshape(len(a), -1), percentile, axis=1)
    top = np.where(top > 0, top, np.abs(a).reshape(len(a), -1).max(axis=1))
    out = np.clip(a / np.where(top > 0, top, 1.0)[:, None, None], -1, 1).astype(np.float32)
    return out[0] if single else out


def plot_attribution(
    attribution_map: np.ndarray,
    *,
    ax: Axes | None = None,
    percentile: float = 99.0,
    title: str | None = None,
    color: str = "black",
    signed: bool = False,
) -> Axes:
    """Show a pixel attribution map (:func:`convviz.attribution_map`) scaled by
    :func:`scale_attribution`: magnitudes black → yellow ("inferno"), or with
    ``signed=True`` negative blue, positive red around a white zero."""
    ax = _axes(ax, (4, 4))
    a = scale_attribution(attribution_map, percentile=percentile)
    if signed:
        ax.imshow(a, cmap="bwr", vmin=-1, vmax=1)
    else:
        ax.imshow(np.abs(a), cmap="inferno", vmin=0, vmax=1)
    ax.set_axis_off()
    if title:
        ax.set_title(title, fontsize=9, color=color)
    return ax


def plot_randomization(
    results: Sequence[RandomizationResult], *, ax: Axes | None = None, metric: str = "spearman"
) -> Axes:
    """Similarity to the trained model's maps as layers are randomized, one line per method
    (mean over the images whose maps are not degenerate), with each method's verdict."""
    ax = _axes(ax, (8, 4))
    for r in results:
        vals = np.asarray(getattr(r, metric), float)
        counts = np.sum(np.isfinite(vals), axis=1)
        mean = np.where(counts > 0, np.nansum(vals, axis=1) / np.maximum(counts, 1), np.nan)
        ax.plot(range(1, len(mean) + 1), mean, marker="o", label=f"{r.method} ({r.verdict()})")
    if results:
        names = results[0].layers
        ax.set_xticks(range(1, len(names) + 1), names, rotation=60, ha="right", fontsize=9)
    if metric == "spearman" and results:
        ax.axhline(results[0].threshold, color="gray", lw=0.8, ls="--")
    ax.set_xlabel("randomized from the top down to layer")
    ax.set_ylabel("Spearman rank correlation" if metric == "spearman" else "SSIM")
    ax.set_ylim(-0.2, 1.05)
    ax.legend(fontsize=9, loc="upper right")
    ax.set_title("Model-randomization sanity check (maps should decorrelate)", loc="left", fontsize=10)
    return ax


def save_figure(fig: Figure, path: str | Path, *, dpi: int = 110) -> Path:
    """Save a Matplotlib figure as PNG atomically (temp file + rename)."""
    import os
    import tempfile

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".png")
    os.close(fd)
    fig.savefig(tmp, dpi=dpi, bbox_inches="tight", format="png")
    os.chmod(tmp, 0o644)  # mkstemp's 0600 would keep a web server from reading the site's copy
    os.replace(tmp, path)
    return path
