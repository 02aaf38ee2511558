"""The site's figure style: one set of Matplotlib settings and names for every figure a page
draws, and the check that keeps figures legible.

Figures are sized for the page's content column (:data:`COLUMN_WIDTH` inches at
:data:`DPI`, i.e. shown at their natural size on a desktop screen): text of
:data:`MIN_FONT_PT` points or more stays that size on the page. Constrained layout keeps
every label inside its figure; legends go outside the data; heatmaps are drawn over a
desaturated image with a perceptual colormap and a colour bar that states the scale.

:func:`use_site_style` applies the settings (the site build before every page, ``convviz
render``, ``convviz diff``); a reader's own script keeps Matplotlib's defaults unless it
calls it. :func:`figure_problems` lists what a reader could not read in a figure.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any, cast
from convviz.core.errors import InputError

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = [
    "COLUMN_WIDTH",
    "COLUMN_PX",
    "DPI",
    "MIN_FONT_PT",
    "HEATMAP_CMAP",
    "HEAT_SCALE",
    "WRONG",
    "CLASS_COLORS",
    "SITE_STYLE",
    "METHOD_NAMES",
    "display_name",
    "figsize",
    "use_site_style",
    "site_style",
    "figure_problems",
]

DPI = 100
COLUMN_PX = 680  # Material's content column on a desktop screen, in CSS pixels
COLUMN_WIDTH = COLUMN_PX / DPI  # inches: a figure this wide is shown at its natural size
MIN_FONT_PT = 9.0  # the smallest text a figure may show, at its displayed size
HEATMAP_CMAP = "inferno"  # perceptual; dark to yellow, apart from any image's own colours
HEAT_SCALE = "each map scaled to [0, 1] by its own maximum"
WRONG = "#c62828"  # a wrong prediction, everywhere on the site
# matplotlib's tab10 with its red replaced: red marks wrong predictions, never a class
CLASS_COLORS = (
    "#1f77b4", "#ff7f0e", "#2ca02c", "#393b79", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf",
)  # fmt: skip

SITE_STYLE: Mapping[str, Any] = {
    "figure.dpi": DPI,
    "savefig.dpi": DPI,
    "savefig.bbox": "tight",  # nothing a layout leaves at the edge is cut off
    "savefig.pad_inches": 0.04,
    "figure.figsize": (COLUMN_WIDTH, 0.55 * COLUMN_WIDTH),
    "figure.constrained_layout.use": True,  # labels, titles, colour bars, legends: inside the figure
    "font.size": 10,
    "axes.titlesize": 10.5,
    "axes.titlelocation": "left",
    "axes.labelsize": 10,
    "xtick.labelsize": 9,
    "ytick.labelsize": 9,
    "legend.fontsize": 9,
    "figure.titlesize": 11,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "image.cmap": "viridis",
    # titles and labels hold names from zoo files and model files (class, layer, image
    # names): a '$' in them is text, never the start of mathtext
    "text.parse_math": False,
}

# what each method is called on the page (code names such as ``gradient_x_input`` never are)
METHOD_NAMES: Mapping[str, str] = {
    "gradcam": "Grad-CAM",
    "gradcam++": "Grad-CAM++",
    "layercam": "Layer-CAM",
    "hirescam": "HiResCAM",
    "scorecam": "Score-CAM",
    "saliency": "saliency",
    "gradient_x_input": "gradient × input",
    "smoothgrad": "SmoothGrad",
    "integrated_gradients": "Integrated Gradients",
    "guided_backprop": "Guided Backprop",
    "guided_gradcam": "Guided Grad-CAM",
    "random baseline": "random map",
    "center baseline": "centered Gaussian",
}


def display_name(method: str) -> str:
    """A method's name as a reader knows it (``"gradient_x_input"`` → ``"gradient × input"``);
    an unknown name is returned as it is."""
    return METHOD_NAMES.get(method, method)


def figsize(height_ratio: float, *, width: float = 1.0) -> tuple[float, float]:
    """A figure size (inches) for the content column: ``width`` of the column (1 = all of
    it), ``height_ratio`` × that width high."""
    if not 0 < width <= 1:
        raise InputError(f"width must be in (0, 1] of the content column, got {width}")
    if height_ratio <= 0:
        raise InputError(f"height_ratio must be positive, got {height_ratio}")
    w = COLUMN_WIDTH * width
    return (w, w * height_ratio)


def use_site_style() -> None:
    """Matplotlib's defaults, then :data:`SITE_STYLE`."""
    import matplotlib

    matplotlib.rcdefaults()
    matplotlib.rcParams.update(cast(Any, SITE_STYLE))  # matplotlib types its keys as literals


@contextlib.contextmanager
def site_style() -> Iterator[None]:
    """:data:`SITE_STYLE` for the figures drawn and saved inside the block (the caller's
    settings are restored after it)."""
    import matplotlib

    with matplotlib.rc_context(cast(Any, dict(SITE_STYLE))):
        yield


def _drawn_texts(fig: Figure) -> list[Any]:
    """The texts a draw of ``fig`` actually draws (visible, not empty, inside their axes' view:
    an axis turned off or a tick outside the limits draws none)."""
    from unittest import mock

    from matplotlib.text import Text

    drawn: list[Any] = []
    draw = Text.draw

    def recording(self: Text, renderer: Any) -> Any:
        if self.get_visible() and self.get_text().strip():
            drawn.append(self)
        return draw(self, renderer)

    with mock.patch.object(Text, "draw", recording):
        fig.canvas.draw()
    return drawn


def figure_problems(fig: Figure, *, column_px: int = COLUMN_PX, min_pt: float = MIN_FONT_PT) -> list[str]:
    """What a reader could not read in ``fig`` as the site shows it: text cut off at the
    figure's edge, text smaller than ``min_pt`` points once the saved image is scaled to the
    content column (``column_px`` CSS pixels), and legends drawn over data (points, lines or
    bars of the axes they belong to). Empty when the figure is legible.
    """
    import matplotlib
    import numpy as np
    from matplotlib.collections import Collection
    from matplotlib.lines import Line2D
    from matplotlib.patches import Rectangle

    texts = _drawn_texts(fig)
    renderer = fig.canvas.get_renderer()  # type: ignore[attr-defined]
    canvas = fig.bbox
    problems: list[str] = []
    rc_dpi = matplotlib.rcParams["savefig.dpi"]
    save_dpi = float(fig.dpi if rc_dpi == "figure" else rc_dpi)
    width_px = fig.get_tightbbox(renderer).width * save_dpi  # inches × dpi: the saved image's width
    scale = min(1.0, column_px / max(width_px, 1.0))
    for t in texts:
        box = t.get_window_extent(renderer)
        text = t.get_text().strip().replace("\n", " ")[:40]
        if box.x0 < canvas.x0 - 1 or box.y0 < canvas.y0 - 1 or box.x1 > canvas.x1 + 1 or box.y1 > canvas.y1 + 1:
            problems.append(f"text {text!r} is cut off at the figure's edge")
        shown_pt = float(t.get_fontsize()) * save_dpi / 72 * scale * 0.75  # image px → CSS px → pt
        if shown_pt < min_pt - 1e-6:
            problems.append(f"text {text!r} is {shown_pt:.1f} pt on the page (under {min_pt:g} pt)")
    for ax in fig.axes:
        legend = ax.get_legend()
        if legend is None or not legend.get_visible():
            continue
        lbox = legend.get_window_extent(renderer)
        inside = ax.bbox.overlaps(lbox)
        if not inside:
            continue
        for artist in ax.get_children():
            pts = np.empty((0, 2))
            if isinstance(artist, Line2D) and artist.get_visible():
                pts = artist.get_transform().transform(np.column_stack(artist.get_data()).astype(float))
            elif isinstance(artist, Collection) and artist.get_visible():
                offsets = np.asarray(artist.get_offsets(), float).reshape(-1, 2)
                pts = artist.get_offset_transform().transform(offsets) if len(offsets) else pts
            elif isinstance(artist, Rectangle) and artist.get_visible() and artist is not ax.patch:
                b = artist.get_window_extent(renderer)
                if b.width > 0 and b.height > 0 and b.overlaps(lbox):
                    problems.append(f"the legend of {ax.get_title()[:40]!r} covers a bar")
                    break
                continue
            if len(pts) and np.any(
                (pts[:, 0] >= lbox.x0) & (pts[:, 0] <= lbox.x1) & (pts[:, 1] >= lbox.y0) & (pts[:, 1] <= lbox.y1)
            ):
                problems.append(f"the legend of {ax.get_title()[:40]!r} covers data")
                break
    return problems
