"""Where a figure goes: the Axes a plot draws on (the caller's, or a new figure's), and saving figures and images as the site shows them."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from convviz.core.files import atomic_path

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure


__all__ = ["save_image", "save_figure", "given_or_new_axes"]


def given_or_new_axes(ax: Axes | None, figsize: tuple[float, float] = (8, 6)) -> Axes:
    if ax is not None:
        return ax
    import matplotlib.pyplot as plt

    return plt.figure(figsize=figsize).add_subplot()


def save_image(path: str | Path, image: np.ndarray) -> Path:
    """Save a uint8 (or [0, 1] float) image as PNG, atomically."""

    from PIL import Image

    arr = np.asarray(image)
    if arr.dtype != np.uint8:
        arr = (np.clip(arr, 0, 1) * 255).round().astype(np.uint8)
    if arr.ndim == 3 and arr.shape[-1] == 1:
        arr = arr[..., 0]
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        Image.fromarray(arr).save(tmp, format="PNG")
    return path


def save_figure(fig: Figure, path: str | Path, *, dpi: float | None = None) -> Path:
    """Save a Matplotlib figure as PNG atomically (temp file + rename), at ``dpi`` (default:
    Matplotlib's ``savefig.dpi``, the site style's :data:`convviz.figures.style.DPI`)."""

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        if dpi is None:
            fig.savefig(tmp, bbox_inches="tight", format="png")
        else:
            fig.savefig(tmp, dpi=dpi, bbox_inches="tight", format="png")
    return path
