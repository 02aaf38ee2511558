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
    "plot_heat_colorbar",
    "heat_colormap",
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
    from convviz.style import figsize

    mosaic = activation_mosaic(activation, ncols=ncols)
    ax = _axes(ax, figsize(max(0.12, mosaic.shape[0] / mosaic.shape[1] + 0.06)))
    ax.imshow(mosaic, interpolation="nearest")
    ax.set_axis_off()
    if title:
        ax.set_title(title, loc="left", fontsize=10)
    return ax


def plot_sparsity(
    sparsity: Mapping[str, np.ndarray] | Mapping[str, float],
    *,
    dead: Mapping[str, float] | None = None,
    ax: Axes | None = None,
    title: str | None = "Blank channels per layer",
) -> Axes:
    """How many channels of each layer are blank, in forward order, one row per layer.

    ``sparsity`` maps each layer to the share of its channels blank for each image
    (:func:`convviz.blank_channel_share`, the chapter's sparsity): drawn as a box over the
    images (the box holds the middle half of them, the line their median, the whiskers 5% to
    95%). A plain number per layer is drawn as a bar. ``dead`` (:func:`convviz.layer_sparsity`:
    channels blank on every image) adds a red diamond per layer.
    """
    from convviz.style import figsize

    names = list(sparsity)
    ax = _axes(ax, figsize(max(0.3, 0.045 * len(names) + 0.2)))
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
        ax.scatter(
            [100 * float(dead.get(n, np.nan)) for n in names],
            y,
            marker="D",
            s=22,
            color="#d62728",
            zorder=3,
            label="dead: blank for every image",
        )
    ax.set_yticks(y, names)
    ax.invert_yaxis()  # the first layer on top
    top = max([float(np.max(v)) for v in values] + [100 * float(v) for v in (dead or {}).values()] + [0.0])
    ax.set_xlim(0, 100 if top > 60 else max(5.0, 1.2 * top))
    ax.set_xlabel("channels blank (%)")
    ax.legend(loc="upper left", bbox_to_anchor=(0, -0.12 - 0.4 / max(len(names), 1)), ncols=1, frameon=False)
    if title:
        ax.set_title(title)
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


def _gray(img: np.ndarray) -> np.ndarray:
    """(H, W, 3) luminance of an RGB or gray image in [0, 1]."""
    lum = img[..., :1] if img.shape[-1] == 1 else img @ np.array([0.299, 0.587, 0.114])[:, None]
    return np.repeat(lum, 3, axis=-1)


def overlay_heatmap(
    image: np.ndarray, heatmap: np.ndarray, *, alpha: float = 0.75, cmap: str | None = None, desaturate: bool = True
) -> np.ndarray:
    """A [0, 1] heatmap (resized to the image) over the image; returns uint8 RGB.

    The image is shown in gray (``desaturate``) so that its own colours never read as heat;
    each pixel of the map is blended in with an opacity of ``alpha`` × its value, so that a
    zero leaves the image as it is and 1 shows the colormap's top colour (perceptual:
    :data:`convviz.style.HEATMAP_CMAP`). ``image`` is float in [0, 1] or uint8, gray or RGB.
    """
    import matplotlib

    from convviz._image import upsample_maps
    from convviz.style import HEATMAP_CMAP

    if not 0 <= alpha <= 1:
        raise ValueError(f"alpha must be in [0, 1], got {alpha}")
    img = np.asarray(image)
    img = img.astype(np.float64) / 255.0 if img.dtype == np.uint8 else np.asarray(img, np.float64)
    if img.ndim == 2:
        img = img[..., None]
    if img.ndim != 3 or img.shape[-1] not in (1, 3):
        raise ValueError(f"image must be (H, W), (H, W, 1) or (H, W, 3), got {np.shape(image)}")
    img = np.clip(img, 0, 1)
    base = 0.12 + 0.76 * _gray(img) if desaturate else np.repeat(img, 3 // img.shape[-1], axis=-1)
    heat = np.asarray(heatmap, np.float32)
    if heat.ndim != 2:
        raise ValueError(f"heatmap must be 2-D, got shape {heat.shape}")
    heat = upsample_maps(heat[None], img.shape[:2])[0]
    heat = np.clip(np.nan_to_num(heat), 0, 1).astype(np.float64)
    colored = matplotlib.colormaps[cmap or HEATMAP_CMAP](heat)[..., :3]
    a = alpha * heat[..., None]
    out = (1 - a) * base + a * colored
    return (np.clip(out, 0, 1) * 255).round().astype(np.uint8)


def heat_colormap(*, alpha: float = 0.75, cmap: str | None = None, gray: float = 0.5) -> Any:
    """The colours :func:`overlay_heatmap` gives a map's values 0…1 over a mid-gray pixel: the
    colormap of its colour bar."""
    import matplotlib
    from matplotlib.colors import ListedColormap

    from convviz.style import HEATMAP_CMAP

    v = np.linspace(0, 1, 256)[:, None]
    colors = matplotlib.colormaps[cmap or HEATMAP_CMAP](v[:, 0])[:, :3]
    base = 0.12 + 0.76 * gray
    return ListedColormap((1 - alpha * v) * base + alpha * v * colors, name="convviz-heat")


HEAT_KINDS = ("overlay", "magnitude", "signed")


def plot_heat_colorbar(
    axes: Any,
    *,
    kind: str = "overlay",
    label: str | None = None,
    alpha: float = 0.75,
    orientation: str | None = None,
) -> Axes:
    """A colour bar beside ``axes`` (an Axes or several) for the maps drawn on them, with
    their scale stated in its label.

    ``kind``: ``"overlay"``, the colours :func:`overlay_heatmap` gives values 0…1 (each map
    scaled to [0, 1] by its maximum); ``"magnitude"``, :func:`plot_attribution`'s black to
    yellow for magnitudes scaled to [0, 1] by each map's 99th percentile; ``"signed"``, its
    blue-white-red for signed maps scaled to [-1, 1]. ``orientation``: ``"vertical"`` (on the
    right; the default) or ``"horizontal"`` (below; the default for ``"signed"``). Returns
    the colour bar's Axes.
    """
    import matplotlib.cm
    from matplotlib.colors import Normalize

    from convviz.style import HEAT_SCALE

    if kind not in HEAT_KINDS:
        raise ValueError(f"unknown colour bar kind {kind!r}; valid: {', '.join(HEAT_KINDS)}")
    flat = list(np.ravel(axes)) if not hasattr(axes, "figure") else [axes]
    fig = flat[0].figure
    if kind == "signed":
        mappable = matplotlib.cm.ScalarMappable(norm=Normalize(-1, 1), cmap="bwr")
        text = "attribution, scaled per map: against the class (−) … for it (+)"
    elif kind == "magnitude":
        mappable = matplotlib.cm.ScalarMappable(norm=Normalize(0, 1), cmap="inferno")
        text = "attribution magnitude, each map scaled by its 99th percentile"
    else:
        mappable = matplotlib.cm.ScalarMappable(norm=Normalize(0, 1), cmap=heat_colormap(alpha=alpha))
        text = f"heat, {HEAT_SCALE}"
    where = orientation or ("horizontal" if kind == "signed" else "vertical")
    if where not in ("vertical", "horizontal"):
        raise ValueError(f"orientation must be 'vertical' or 'horizontal', got {orientation!r}")
    bar = fig.colorbar(
        mappable, ax=flat, orientation=where, fraction=0.04, pad=0.02, aspect=30 if where == "vertical" else 40
    )
    bar.set_label(text if label is None else label)
    return bar.ax


def plot_heatmap_overlay(
    image: np.ndarray,
    heatmap: np.ndarray,
    *,
    ax: Axes | None = None,
    alpha: float = 0.75,
    title: str | None = None,
    color: str = "black",
) -> Axes:
    """Draw :func:`overlay_heatmap` with an optional title (e.g. true and predicted class);
    :func:`plot_heat_colorbar` adds its scale."""
    ax = _axes(ax, (4, 4))
    ax.imshow(overlay_heatmap(image, heatmap, alpha=alpha))
    ax.set_axis_off()
    if title:
        ax.set_title(title, fontsize=9, color=color, loc="center")
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
    """A 2-D projection colored by class, with a legend outside the axes (on the right).

    ``misclassified`` (bool mask) draws red crosses (red marks wrong predictions on the whole
    site, so no class is red); ``highlight`` (indices) circles the most suspicious samples in
    black and numbers them; ``trust`` adds the trustworthiness to the
    title. Only the ``max_classes`` most frequent classes get a
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
    from convviz.style import CLASS_COLORS, WRONG

    cmap = matplotlib.colormaps["tab20"]
    for i, c in enumerate(sorted(shown)):
        sel = y == c
        name = class_names[c] if class_names is not None else str(c)
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
        for rank, j in enumerate(h[:10], start=1):  # numbers fanned out around their points
            angle = 2.4 * rank
            ax.annotate(
                str(rank),
                p[j],
                xytext=(9 * np.cos(angle), 9 * np.sin(angle)),
                textcoords="offset points",
                fontsize=9,
                ha="center",
                va="center",
                color="black",
            )
    ax.margins(0.04)
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

    from convviz.style import COLUMN_WIDTH

    imgs = np.asarray(images)
    n = len(imgs)
    if len(captions) != n:
        raise ValueError(f"{n} images but {len(captions)} captions")
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
        ax.set_title(title, fontsize=9, color=color, loc="center")
    return ax


_LINES = ("-", "--", "-.", ":")
_MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")


def plot_randomization(
    results: Sequence[RandomizationResult], *, ax: Axes | None = None, metric: str = "spearman"
) -> Axes:
    """Similarity to the trained model's maps as layers are randomized, one line per method
    (mean over the images whose maps are not degenerate), with each method's verdict. Each
    method has its own line style and marker (two methods that agree stay visible); the
    legend sits outside the data, on the right."""
    from convviz.style import display_name, figsize

    ax = _axes(ax, figsize(0.5))
    for k, r in enumerate(results):
        vals = np.asarray(getattr(r, metric), float)
        counts = np.sum(np.isfinite(vals), axis=1)
        mean = np.where(counts > 0, np.nansum(vals, axis=1) / np.maximum(counts, 1), np.nan)
        ax.plot(
            range(1, len(mean) + 1),
            mean,
            ls=_LINES[k % len(_LINES)],
            marker=_MARKERS[k % len(_MARKERS)],
            markersize=5 + (len(results) - k) % 3,
            label=f"{display_name(r.method)} ({r.verdict()})",
        )
    if results:
        names = results[0].layers
        ax.set_xticks(range(1, len(names) + 1), names, rotation=45, ha="right")
    if metric == "spearman" and results:
        ax.axhline(results[0].threshold, color="gray", lw=0.8, ls="--", label=f"pass below {results[0].threshold:g}")
    ax.set_xlabel("randomized from the top down to layer")
    ax.set_ylabel("rank correlation with\nthe trained model's maps" if metric == "spearman" else "SSIM")
    ax.set_ylim(-0.2, 1.05)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1), frameon=False)
    ax.set_title("Do the maps change when the weights are destroyed?")
    return ax


def save_figure(fig: Figure, path: str | Path, *, dpi: float | None = None) -> Path:
    """Save a Matplotlib figure as PNG atomically (temp file + rename), at ``dpi`` (default:
    Matplotlib's ``savefig.dpi``, the site style's :data:`convviz.style.DPI`)."""
    import os
    import tempfile

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".png")
    os.close(fd)
    if dpi is None:
        fig.savefig(tmp, bbox_inches="tight", format="png")
    else:
        fig.savefig(tmp, dpi=dpi, bbox_inches="tight", format="png")
    os.chmod(tmp, 0o644)  # mkstemp's 0600 would keep a web server from reading the site's copy
    os.replace(tmp, path)
    return path
