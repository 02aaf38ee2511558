"""The images of a unit page: each top example shown with its receptive field framed (the whole image around a small field, the field itself when it covers most of it), the pages' PNGs, and the response histogram as inline SVG."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from convviz.site.unit_data import UnitLayer


__all__ = [
    "field_box",
    "shows_context",
    "example_view",
    "draw_field",
    "CONTEXT",
    "THUMB",
    "VIS",
    "WHOLE_BELOW",
    "svg_histogram",
    "write_unit_images",
]


THUMB = 60  # displayed size of an example, CSS pixels


VIS = 96  # displayed size of a visualization


WHOLE_BELOW = 0.5  # a field under this share of the image's side: the image around it, field framed


CONTEXT = 64  # the least context (input pixels a side) shown around a small field


def field_box(field: Any, row: int, col: int, height: int, width: int) -> tuple[int, int, int, int]:
    """The input pixels that unit (``row``, ``col``) of a layer sees, clipped to a
    ``height``×``width`` image.

    Parameters
    ----------
    field
        The layer's :class:`convviz.graph.fields.ReceptiveField`.
    row, col
        The unit's position in the layer's output grid (e.g. a
        :attr:`convviz.represent.examples.DatasetExamples.locations` entry).
    height, width
        The input image's size.

    Returns
    -------
    tuple
        ``(top, left, bottom, right)``, bottom and right exclusive. Unlike
        :meth:`~convviz.graph.fields.ReceptiveField.window` (a crop of the field's size, shifted
        inside the image), the box stays where the field is: where padding puts part of
        the field outside the image, the box is the part inside.
    """
    bounds = []
    for center, size, jump, offset, limit in zip((row, col), field.size, field.jump, field.offset, (height, width)):
        lo = int(math.floor(offset + center * jump - (size - 1) / 2 + 1e-9))
        bounds.append((min(max(lo, 0), limit), min(max(lo + size, 0), limit)))
    (top, bottom), (left, right) = bounds
    return top, left, bottom, right


def shows_context(field: Any, height: int, width: int) -> bool:
    """True when a layer's examples show the image around the field, the field framed:
    when the field covers less than half of the image's side (a smaller crop is a swatch
    of a few pixels)."""
    return field.size[0] < WHOLE_BELOW * height and field.size[1] < WHOLE_BELOW * width


def example_view(
    image: np.ndarray, field: Any, row: int, col: int
) -> tuple[np.ndarray, tuple[int, int, int, int] | None]:
    """What a unit page shows of a test image that excites unit (``row``, ``col``).

    Parameters
    ----------
    image
        The test image, (H, W, C), as displayed (uint8).
    field
        The layer's :class:`convviz.graph.fields.ReceptiveField`.
    row, col
        Where the unit's maximum is, in the layer's output grid.

    Returns
    -------
    pixels, box
        When the field covers less than half of the image's side: the image around the
        field (the whole image when its side is at most ``max(64, 4 × field)`` pixels, else
        a window of that size) and ``box``, the field's ``(top, left, bottom, right)`` in
        those pixels (see :func:`field_box`). Otherwise the crop of the field, as
        :attr:`convviz.represent.examples.DatasetExamples.crops` holds it, and ``box`` None.
    """
    h, w = image.shape[:2]
    if not shows_context(field, h, w):
        rows, cols = field.window(row, col, h, w)
        return image[rows, cols], None
    context = replace(field, size=tuple(max(CONTEXT, 4 * s) for s in field.size))
    rows, cols = context.window(row, col, h, w)
    top, left, bottom, right = field_box(field, row, col, h, w)
    return image[rows, cols], (top - rows.start, left - cols.start, bottom - rows.start, right - cols.start)


_FRAME_DARK = np.array([0, 0, 0], np.uint8)


_FRAME_BRIGHT = np.array([255, 214, 0], np.uint8)  # amber: seen on dark, light and coloured images


def draw_field(pixels: np.ndarray, box: tuple[int, int, int, int], *, scale: int = 1, line: int = 1) -> np.ndarray:
    """``pixels`` enlarged ``scale`` times with ``box`` framed: a bright line inside a dark
    one, each ``line`` pixels wide (after enlarging), drawn around the box so that the
    field's own pixels stay visible (inside it where the box meets the image's edge).

    Parameters
    ----------
    pixels
        uint8 image, (H, W), (H, W, 1) or (H, W, 3).
    box
        ``(top, left, bottom, right)`` in ``pixels``, bottom and right exclusive.
    scale, line
        Enlargement by pixel repetition; width of each of the frame's two lines.

    Returns
    -------
    np.ndarray
        uint8 RGB, (H × scale, W × scale, 3).
    """
    img = np.asarray(pixels, np.uint8)
    img = img[..., None] if img.ndim == 2 else img
    img = np.repeat(img, 3, axis=-1) if img.shape[-1] == 1 else img[..., :3]
    out = np.repeat(np.repeat(img, scale, axis=0), scale, axis=1)
    height, width = out.shape[:2]
    top, left, bottom, right = (v * scale for v in box)
    t, l = max(top - 2 * line, 0), max(left - 2 * line, 0)  # noqa: E741
    b, r = min(bottom + 2 * line, height), min(right + 2 * line, width)
    for colour, inset in ((_FRAME_DARK, 0), (_FRAME_BRIGHT, line)):
        t0, l0, b0, r0 = t + inset, l + inset, b - inset, r - inset
        out[t0 : t0 + line, l0:r0] = colour
        out[b0 - line : b0, l0:r0] = colour
        out[t0:b0, l0 : l0 + line] = colour
        out[t0:b0, r0 - line : r0] = colour
    return out


def _example_png(pixels: np.ndarray, field: Any, row: int, col: int) -> np.ndarray:
    """An example's image: the field framed on the image around it, enlarged to at least the
    displayed size (so that a line of the frame is about one CSS pixel), or the field's crop."""
    view, box = example_view(pixels, field, row, col)
    if box is None:
        return view
    side = max(view.shape[:2])
    scale = max(1, -(-THUMB // side))
    return draw_field(view, box, scale=scale, line=max(1, round(side * scale / THUMB)))


def write_unit_images(folder: Path, layer: UnitLayer, pixels: Mapping[int, np.ndarray]) -> None:
    """``u<unit>.png`` (the visualization), ``u<unit>_e<j>.png`` (the j-th example) and, on the
    layer with diverse visualizations, ``u<unit>_d<j>.png`` (the j-th of them) of every unit of
    the layer; ``pixels``: the test images shown, as uint8, by index."""
    from convviz.figures.output import save_image

    ex = layer.examples
    for u, unit in enumerate(ex.units):
        save_image(folder / f"u{unit}.png", layer.patterns.images[u])
    if layer.diverse is not None:
        for unit, group in zip(layer.diverse.filters, layer.diverse.images):
            for j, img in enumerate(group):
                save_image(folder / f"u{unit}_d{j}.png", img)
    for u, unit in enumerate(ex.units):
        for j, (i, (row, col)) in enumerate(zip(ex.indices[u], ex.locations[u])):
            save_image(folder / f"u{unit}_e{j}.png", _example_png(pixels[int(i)], layer.field, int(row), int(col)))


def svg_histogram(values: np.ndarray, *, bins: int = 24, width: int = 180, height: int = 52) -> str:
    """An inline SVG histogram of a unit's per-image maxima, its range under it (colours
    from the page's scheme, see ``units.css``)."""
    lo, hi = float(min(values.min(), 0.0)), float(max(values.max(), 1e-6))
    counts, _ = np.histogram(values, bins=bins, range=(lo, hi))
    top = max(int(counts.max()), 1)
    w = width / bins
    plot = height - 15
    bars = "".join(
        f'<rect x="{i * w:.1f}" y="{plot - c / top * (plot - 2):.1f}" width="{max(w - 1, 1):.1f}" '
        f'height="{c / top * (plot - 2):.1f}"/>'
        for i, c in enumerate(counts)
        if c
    )
    return (
        f'<svg class="cv-hist" width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="histogram of the unit\'s response over the test images, from {lo:.3g} to {hi:.3g}">'
        f'<g class="cv-hist-bars" fill="#5c6bc0">{bars}</g>'
        f'<line x1="0" x2="{width}" y1="{plot + 0.5}" y2="{plot + 0.5}" stroke="currentColor" stroke-opacity=".4"/>'
        f'<g fill="currentColor" font-size="12"><text x="0" y="{height - 2}">{lo:.3g}</text>'
        f'<text x="{width}" y="{height - 2}" text-anchor="end">{hi:.3g}</text></g></svg>'
    )
