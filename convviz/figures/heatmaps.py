"""Heatmaps over images: a map over a desaturated copy of its image in a perceptual colormap, the colour bar that states its scale, and signed pixel attributions."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from convviz.figures.output import given_or_new_axes
from convviz.figures.style import HEAT_SCALE
from convviz.core.errors import InputError

if TYPE_CHECKING:
    from matplotlib.axes import Axes


__all__ = [
    "overlay_heatmap",
    "plot_heatmap_overlay",
    "plot_heat_colorbar",
    "heat_colormap",
    "scale_attribution",
    "plot_attribution",
    "HEAT_KINDS",
]


_LUMA = np.array([0.299, 0.587, 0.114])


def _gray(img: np.ndarray) -> np.ndarray:
    """(H, W, 3) gray copy of an RGB or gray image in [0, 1] that keeps its shapes visible.

    A gray image is kept as it is. An RGB image is projected on its main axis of colour (the
    first principal component of its pixels, turned so that it grows with luminance) and
    stretched to [0, 1]: two regions that differ only in hue, at equal luminance (a red ring
    on a green ground), stay apart, where plain luminance would draw them the same gray.
    For natural images that axis is close to luminance. An image of one colour is drawn as
    its luminance.
    """
    if img.shape[-1] == 1:
        return np.repeat(img, 3, axis=-1)
    lum = img @ _LUMA
    pixels = img.reshape(-1, 3)
    centred = pixels - pixels.mean(axis=0)
    values, vectors = np.linalg.eigh(centred.T @ centred / len(pixels))
    axis = vectors[:, -1]
    proj = (centred @ axis).reshape(img.shape[:2])
    spread = float(proj.max() - proj.min())
    if values[-1] < 1e-10 or spread < 1e-6:
        return np.repeat(lum[..., None], 3, axis=-1)
    if float(np.sum((proj - proj.mean()) * (lum - lum.mean()))) < 0:
        proj = -proj
    gray = (proj - proj.min()) / spread
    return np.repeat(gray[..., None], 3, axis=-1)


def overlay_heatmap(
    image: np.ndarray, heatmap: np.ndarray, *, alpha: float = 0.75, cmap: str | None = None, desaturate: bool = True
) -> np.ndarray:
    """A [0, 1] heatmap (resized to the image) over the image; returns uint8 RGB.

    The image is shown in gray (``desaturate``) so that its own colours never read as heat
    (along its main axis of colour, stretched, so that shapes that differ only in hue stay
    visible);
    each pixel of the map is blended in with an opacity of ``alpha`` × its value, so that a
    zero leaves the image as it is and 1 shows the colormap's top colour (perceptual:
    :data:`convviz.figures.style.HEATMAP_CMAP`). ``image`` is float in [0, 1] or uint8, gray or RGB.
    """
    import matplotlib

    from convviz.core.image import upsample_maps
    from convviz.figures.style import HEATMAP_CMAP

    if not 0 <= alpha <= 1:
        raise InputError(f"alpha must be in [0, 1], got {alpha}")
    img = np.asarray(image)
    img = img.astype(np.float64) / 255.0 if img.dtype == np.uint8 else np.asarray(img, np.float64)
    if img.ndim == 2:
        img = img[..., None]
    if img.ndim != 3 or img.shape[-1] not in (1, 3):
        raise InputError(f"image must be (H, W), (H, W, 1) or (H, W, 3), got {np.shape(image)}")
    img = np.clip(img, 0, 1)
    base = 0.12 + 0.76 * _gray(img) if desaturate else np.repeat(img, 3 // img.shape[-1], axis=-1)
    heat = np.asarray(heatmap, np.float32)
    if heat.ndim != 2:
        raise InputError(f"heatmap must be 2-D, got shape {heat.shape}")
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

    from convviz.figures.style import HEATMAP_CMAP

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

    if kind not in HEAT_KINDS:
        raise InputError(f"unknown colour bar kind {kind!r}; valid: {', '.join(HEAT_KINDS)}")
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
        raise InputError(f"orientation must be 'vertical' or 'horizontal', got {orientation!r}")
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
    ax = given_or_new_axes(ax, (4, 4))
    ax.imshow(overlay_heatmap(image, heatmap, alpha=alpha))
    ax.set_axis_off()
    if title:
        ax.set_title(title, fontsize=9, color=color, loc="center")
    return ax


def scale_attribution(attribution_map: np.ndarray, *, percentile: float = 99.0) -> np.ndarray:
    """Scale a (H, W) or (N, H, W) attribution map for display: divided by its
    ``percentile``-th absolute value (per image) and clipped to [-1, 1] (to [0, 1] for a
    non-negative map), so that a few extreme pixels do not turn the rest black."""
    if not 0 < percentile <= 100:
        raise InputError(f"percentile must be in (0, 100], got {percentile}")
    a = np.asarray(attribution_map, np.float64)
    single = a.ndim == 2
    a = a[None] if single else a
    if a.ndim != 3:
        raise InputError(f"attribution map must be (H, W) or (N, H, W), got shape {np.shape(attribution_map)}")
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
    ax = given_or_new_axes(ax, (4, 4))
    a = scale_attribution(attribution_map, percentile=percentile)
    if signed:
        ax.imshow(a, cmap="bwr", vmin=-1, vmax=1)
    else:
        ax.imshow(np.abs(a), cmap="inferno", vmin=0, vmax=1)
    ax.set_axis_off()
    if title:
        ax.set_title(title, fontsize=9, color=color, loc="center")
    return ax
