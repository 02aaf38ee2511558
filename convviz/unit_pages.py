"""The site's unit pages: every unit (channel) of every conv layer of a zoo model, with its
feature visualization beside the test images that excite it most.

One Markdown page per layer, ``<folder>/<layer>/index.md`` (URL ``gallery/<model>/units/<layer>/``),
and a layer index ``<folder>/index.md`` with each layer's output shape, receptive field and
dead units. A layer page opens with a table of its units (sorted and filtered in the
browser by ``convviz/assets/units.js``; a plain table without it), then one compact row
per unit at the anchor ``#unit-<index>``: its visualization, its top test images and the
histogram of its response over the test split.

Every number is a *response*: the unit's maximum over positions on one image, measured
the same way on its visualization (one forward pass over the layer's visualizations) as on
the test images. A test image is shown whole with the unit's receptive field framed on it
when the field is small (a 3×3 crop is a flat swatch), else cropped to the field.

The expensive parts (the filter ascent, the dataset examples) use the cache; the whole
folder is skipped when its fingerprint (the zoo entry, this module and the code it uses,
the numerical environment) is unchanged.
"""

from __future__ import annotations

import json
import math
import shutil
import time
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from convviz import markup

__all__ = [
    "layer_folder",
    "unit_layers",
    "unit_recipe",
    "selected_layers",
    "field_box",
    "shows_context",
    "example_view",
    "draw_field",
    "preferred_class",
    "visualization_response",
    "write_unit_pages",
    "LAYERS_FILE",
    "MAX_DEFAULT_UNITS",
]

LAYERS_FILE = "layers.json"
_STAMP = ".fingerprint"
K = 9
THUMB = 60  # displayed size of an example, CSS pixels
VIS = 96  # displayed size of a visualization
WHOLE_BELOW = 0.5  # a field under this share of the image's side: the image around it, field framed
CONTEXT = 64  # the least context (input pixels a side) shown around a small field
RESPONSE = "the unit's strongest response, its maximum over positions"


def layer_folder(name: str) -> str:
    """The folder (and URL segment) of a layer's unit page: the layer's name when it is a safe
    file name (``block1_conv1``), else :func:`convviz.markup.path_part` of it (a model file
    may name a layer ``..`` or ``<b>``)."""
    return markup.path_part(name)


def unit_layers(model: Any) -> list[str]:
    """The conv layers whose units get pages: the layers the activations page shows, less
    pooling (a pooling unit is its conv unit, subsampled)."""
    from convviz.activations import activation_layers
    from convviz.layers import resolve_layer

    return [n for n in activation_layers(model) if "Pooling" not in resolve_layer(model, n).class_name]


# The robust recipe's steps, measured on the zoo's three models (shapes-cnn, digits-cnn,
# shapes-xception: 653 live units in their deeper halves, 2-core CPU): the share of those
# units whose visualization excites them at least as much as their best test image (both
# the unit's maximum over positions), and the time of the three models' unit pages against
# their time at 40 steps before the pages compared the two:
#   40 steps: 42% (1.04×)   56: 60% (1.23×)   64: 68% (1.4×)   72: 72% (1.55×)
#   96 steps: 81% (~1.7×)  160: 87% (~2.3×)
# 56 steps keep the unit pages within about 30% of their former build time.
ROBUST_STEPS, ROBUST_SIZE = 56, 48


def unit_recipe(index: int, count: int, field: int, input_size: int) -> tuple[str, int, int]:
    """Feature-visualization recipe, steps and image size of the ``index``-th of ``count``
    unit layers whose receptive field is ``field`` pixels wide.

    The chapter's recipe (30 steps) for the shallower half, on an image twice the receptive
    field (at least 32 pixels, at most the model's input): a few repeats of the pattern a
    unit looks for. The robust (lucid-style) recipe for the deeper half, where the book's
    images turn into high-frequency noise: :data:`ROBUST_STEPS` Adam steps on a 48-pixel
    image (the input size when smaller), short of lucid's 512 so that every unit of a zoo
    model fits the site's build time; at 40 steps most of the zoo's deep visualizations
    excited their unit less than its best test image, at 56 most reach it.
    """
    if index < (count + 1) // 2:
        return "book", 30, min(input_size, max(32, -(-2 * field // 8) * 8))
    return "robust", ROBUST_STEPS, min(input_size, ROBUST_SIZE)


@dataclass(frozen=True)
class _Layer:
    name: str
    kind: str
    shape: tuple[int, ...]
    field: Any
    examples: Any
    patterns: Any  # None: the layer's units get no page (see selected_layers)
    response: np.ndarray | None  # each unit's response to its visualization
    image: tuple[int, int]  # the input images' (height, width)
    data_range: tuple[float, float]  # their smallest and largest pixel value
    recipe: str
    steps: int
    seconds: float


MAX_DEFAULT_UNITS = 2048


def up_to_date(folder: Path, stamp: str) -> bool:
    """True when ``folder`` holds pages written under the fingerprint ``stamp``."""
    return (folder / _STAMP).is_file() and (folder / _STAMP).read_text() == stamp and (folder / "index.md").is_file()


def _fingerprint(entry: Any) -> str:
    return Path(__file__).read_text(encoding="utf-8") + f"\nunits: {entry._units!r}"


def selected_layers(entry: Any, model: Any, names: list[str]) -> list[str]:
    """The layers whose units get pages: the zoo entry's ``units:`` (``all``, ``none`` or a
    list of layers); by default every layer when the model has at most
    ``MAX_DEFAULT_UNITS`` units in them, else none (an ImageNet model has tens of thousands:
    list the layers you want)."""
    from convviz.layers import resolve_layer

    choice = entry._units
    if choice == "all":
        return names
    if choice == "none":
        return []
    if choice is None:
        total = sum(int(resolve_layer(model, n).output_shape[-1]) for n in names)
        return names if total <= MAX_DEFAULT_UNITS else []
    unknown = [n for n in choice if n not in names]
    if unknown:
        from convviz.zoo import ZooError

        raise ZooError(
            f"zoo model {entry.name!r}: units lists {unknown}, which are not conv layers of the "
            f"model; valid: {', '.join(names)}"
        )
    return [n for n in names if n in choice]


# ----------------------------------------------------------------------------- measures


def field_box(field: Any, row: int, col: int, height: int, width: int) -> tuple[int, int, int, int]:
    """The input pixels that unit (``row``, ``col``) of a layer sees, clipped to a
    ``height``×``width`` image.

    Parameters
    ----------
    field
        The layer's :class:`convviz.units.ReceptiveField`.
    row, col
        The unit's position in the layer's output grid (e.g. a
        :attr:`convviz.units.DatasetExamples.locations` entry).
    height, width
        The input image's size.

    Returns
    -------
    tuple
        ``(top, left, bottom, right)``, bottom and right exclusive. Unlike
        :meth:`~convviz.units.ReceptiveField.window` (a crop of the field's size, shifted
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
        The layer's :class:`convviz.units.ReceptiveField`.
    row, col
        Where the unit's maximum is, in the layer's output grid.

    Returns
    -------
    pixels, box
        When the field covers less than half of the image's side: the image around the
        field (the whole image when its side is at most ``max(64, 4 × field)`` pixels, else
        a window of that size) and ``box``, the field's ``(top, left, bottom, right)`` in
        those pixels (see :func:`field_box`). Otherwise the crop of the field, as
        :attr:`convviz.units.DatasetExamples.crops` holds it, and ``box`` None.
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


def preferred_class(labels: np.ndarray) -> tuple[int, int]:
    """The class most frequent among a unit's top test images, and how many have it.

    Parameters
    ----------
    labels
        The class of each top image, best first; ``-1`` for an unlabelled image (never
        preferred).

    Returns
    -------
    tuple
        ``(class, count)``; ties go to the class of the better-ranked image; ``(-1, 0)``
        when no image is labelled.
    """
    known = np.asarray(labels)
    known = known[known >= 0]
    if not known.size:
        return -1, 0
    classes, first, counts = np.unique(known, return_index=True, return_counts=True)
    best = max(range(len(classes)), key=lambda i: (counts[i], -first[i]))
    return int(classes[best]), int(counts[best])


def visualization_response(model: Any, layer: str, patterns: Any) -> np.ndarray:
    """Each unit's response to its own visualization: its maximum over positions on the
    optimized image, the measure :attr:`convviz.units.DatasetExamples.values` gives for
    test images (the visualization's objective, its loss, is a mean over positions).

    Parameters
    ----------
    model
        The model.
    layer
        The visualized layer.
    patterns
        :func:`convviz.visualize_filters`'s result for ``layer``: its ``raw`` images, one
        per unit of ``filters``, in one batched forward pass.

    Returns
    -------
    np.ndarray
        float32 (K,): unit ``filters[i]``'s maximum on ``raw[i]``.
    """
    from convviz.activations import extract_activations

    out = extract_activations(model, patterns.raw, layers=[layer])[layer]
    own = out[np.arange(len(out)), :, :, np.asarray(patterns.filters)]  # (K, h, w): each image's own unit
    return own.max(axis=(1, 2)).astype(np.float32)


@dataclass(frozen=True)
class _Units:
    """Per unit of a layer: what its overview row and its section say."""

    preferred: np.ndarray  # class index, -1: none
    count: np.ndarray  # top images of that class
    firing: np.ndarray  # share of the test images where its maximum is above zero
    dead: np.ndarray
    best: np.ndarray  # its best test image's response
    response: np.ndarray  # its visualization's response (NaN: nothing to show)


def _units_of(layer: _Layer, labels: np.ndarray) -> _Units:
    ex, pat = layer.examples, layer.patterns
    prefs = [preferred_class(labels[row]) for row in ex.indices]
    response = np.asarray(layer.response, np.float64).copy()
    response[ex.dead | pat.unexcited | pat.dead] = np.nan  # no visualization: gray
    return _Units(
        preferred=np.array([p for p, _ in prefs], int),
        count=np.array([c for _, c in prefs], int),
        firing=(ex.maxima > 0).mean(axis=0),
        dead=ex.dead,
        best=ex.values[:, 0].astype(np.float64),
        response=response,
    )


def _comparison(units: _Units) -> tuple[int, int, float]:
    """How many visualizations excite their unit at least as much as its best test image,
    of how many that can be compared, and the median ratio (NaN: none)."""
    ok = np.isfinite(units.response) & (units.best > 0)
    if not ok.any():
        return 0, 0, float("nan")
    ratio = units.response[ok] / units.best[ok]
    return int((ratio >= 1).sum()), int(ok.sum()), float(np.median(ratio))


# ----------------------------------------------------------------------------- compute


def _compute(entry: Any, model: Any, x: np.ndarray, *, progress: bool) -> list[_Layer]:
    import convviz
    from convviz.layers import resolve_layer
    from convviz.units import dataset_examples_of_layers, receptive_field

    names = unit_layers(model)
    pages = selected_layers(entry, model, names)
    data_range = (float(x.min()), float(x.max()))
    t0 = time.perf_counter()
    every = dataset_examples_of_layers(model, names, x, k=min(K, len(x)), cache=True)  # one pass for all
    shared = (time.perf_counter() - t0) / max(len(names), 1)  # each layer's share of it
    out = []
    for i, name in enumerate(names):
        t0 = time.perf_counter() - shared
        info = resolve_layer(model, name)
        field = receptive_field(model, name)
        recipe, steps, size = unit_recipe(i, len(names), max(field.size), min(entry.input_shape[:2]))
        patterns = response = None
        if name in pages:
            patterns = convviz.visualize_filters(
                model,
                name,
                int(info.output_shape[-1]),
                image_size=size,
                crop=size // 16,
                recipe=recipe,
                steps=steps,
                data=x[:512],
                progress=progress,
                cache=True,
            )
            response = visualization_response(model, name, patterns)
        shape = tuple(int(d) for d in info.output_shape[1:])
        seconds = time.perf_counter() - t0
        out.append(
            _Layer(
                name,
                info.class_name,
                shape,
                field,
                every[name],
                patterns,
                response,
                (int(x.shape[1]), int(x.shape[2])),
                data_range,
                recipe,
                steps,
                seconds,
            )
        )
    return out


# ----------------------------------------------------------------------------- images


def _example_png(pixels: np.ndarray, field: Any, row: int, col: int) -> np.ndarray:
    """An example's image: the field framed on the image around it, enlarged to at least the
    displayed size (so that a line of the frame is about one CSS pixel), or the field's crop."""
    view, box = example_view(pixels, field, row, col)
    if box is None:
        return view
    side = max(view.shape[:2])
    scale = max(1, -(-THUMB // side))
    return draw_field(view, box, scale=scale, line=max(1, round(side * scale / THUMB)))


def _write_images(folder: Path, layer: _Layer, pixels: Mapping[int, np.ndarray]) -> None:
    """``u<unit>.png`` (the visualization) and ``u<unit>_e<j>.png`` (the j-th example) of
    every unit of the layer; ``pixels``: the test images shown, as uint8, by index."""
    from convviz.plot import save_image

    ex = layer.examples
    for u, unit in enumerate(ex.units):
        save_image(folder / f"u{unit}.png", layer.patterns.images[u])
        for j, (i, (row, col)) in enumerate(zip(ex.indices[u], ex.locations[u])):
            save_image(folder / f"u{unit}_e{j}.png", _example_png(pixels[int(i)], layer.field, int(row), int(col)))


# ----------------------------------------------------------------------------- pages


def _svg_histogram(values: np.ndarray, *, bins: int = 24, width: int = 180, height: int = 52) -> str:
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


def _img(src: str, alt: str, *, size: int = THUMB) -> str:
    return f'<img src="{src}" alt="{markup.text(alt)}" width="{size}" height="{size}" loading="lazy">'


def _class_name(c: int, class_names: tuple[str, ...]) -> str:
    return class_names[c] if 0 <= c < len(class_names) else "unlabelled"


def _layer_nav(names: list[str], at: int) -> str:
    """Links to the previous and the next layer's page and to the layer index: a Markdown
    paragraph (MkDocs resolves its ``.md`` links), left out of the site search (a page
    would otherwise be found by its neighbours' names)."""
    parts = []
    if at > 0:
        parts.append(f"[← {markup.text(names[at - 1])}](../{layer_folder(names[at - 1])}/index.md)")
    parts.append("[All layers](../index.md)")
    if at < len(names) - 1:
        parts.append(f"[{markup.text(names[at + 1])} →](../{layer_folder(names[at + 1])}/index.md)")
    return " · ".join(parts) + "\n{ .cv-layer-nav data-search-exclude }"


def _recipe_text(layer: _Layer) -> str:
    if layer.recipe == "book":
        return f"the chapter's recipe: {layer.steps} steps of normalized gradient ascent on the pixels"
    return (
        "the robust recipe: a decorrelated Fourier image under random jitter, scale and rotation, "
        f"{layer.steps} Adam steps (fewer than the filter patterns page's 256, so that every unit of a "
        "layer fits the site's build time)"
    )


def _comparison_text(units: _Units) -> str:
    above, of, median = _comparison(units)
    if not of:
        return "No unit of this layer fires on its visualization and on a test image, so none can be compared."
    if above * 2 > of:
        verdict = (
            f"the visualization excites its unit more than the unit's best test image for {above} of the "
            f"{of} units compared"
        )
    else:
        verdict = (
            f"the visualization excites its unit *less* than the unit's best test image for {of - above} of the "
            f"{of} units compared: for those it shows a pattern the unit responds to, not the strongest input known"
        )
    return f"On that measure {verdict} (median ratio {median:.2g}×)."


def _shown_text(layer: _Layer) -> str:
    """How the page shows the layer's examples (see :func:`example_view`)."""
    rf, (h, w) = layer.field, layer.image
    if not shows_context(rf, h, w):
        return "each cropped to the unit's receptive field around the position of its maximum"
    whole = h <= max(CONTEXT, 4 * rf.size[0]) and w <= max(CONTEXT, 4 * rf.size[1])
    where = "the whole image" if whole else f"the image around it (at most {CONTEXT} pixels a side)"
    return f"each shown as {where} with the unit's receptive field framed where its maximum is"


def _range_note(layer: _Layer, units: _Units) -> str:
    """Where the visualizations' pixels leave the test images' range by far, say so: a real
    image cannot reach their responses."""
    live = np.isfinite(units.response)
    if not live.any():
        return ""
    raw = np.asarray(layer.patterns.raw)[live]
    lo, hi = float(raw.min()), float(raw.max())
    dlo, dhi = layer.data_range
    if hi - lo <= 2 * (dhi - dlo):
        return ""
    return (
        f" The visualizations' pixels range from {lo:.3g} to {hi:.3g}, the test images' from {dlo:.3g} to "
        f"{dhi:.3g}: the recipe does not keep them in the images' range, so no real image can reach "
        "their responses."
    )


def _intro(entry: Any, layer: _Layer, units: _Units) -> list[str]:
    ex, rf = layer.examples, layer.field
    n = len(ex.units)
    apart = f"{rf.jump[0]} pixel{'s' if rf.jump[0] != 1 else ''}"
    return [
        f"Layer {markup.code(layer.name)} ({markup.text(layer.kind)}) of **{markup.text(entry.name)}**: output "
        f"{'×'.join(map(str, layer.shape))}, {n} units. Each unit's receptive field is {rf.size[0]}×{rf.size[1]} "
        f"input pixels, and neighbouring units are {apart} apart. {int(units.dead.sum())} of {n} units never "
        f"fire on the {len(ex.maxima)} test images (*dead on data*).",
        "",
        f"For every unit: its feature visualization ({_recipe_text(layer)}), the {ex.indices.shape[1]} test "
        f"images that excite it most, {_shown_text(layer)}, with its class and the unit's response under it, "
        "and the histogram of the unit's response over every test image. A unit's *response* to an image is "
        f"{RESPONSE}: the same number for its visualization and for a test image. "
        f"{_comparison_text(units)}{_range_note(layer, units)}",
    ]


def _num(v: float) -> str:
    """A sort key for ``data-value``: empty for a missing value (sorted last)."""
    return f"{v:.6g}" if np.isfinite(v) else ""


def _overview_row(unit: int, u: int, units: _Units, k: int, class_names: tuple[str, ...]) -> str:
    dead = bool(units.dead[u])
    name = "" if dead or units.preferred[u] < 0 else markup.text(_class_name(int(units.preferred[u]), class_names))
    thumbs = _img(f"u{unit}.png", f"unit {unit} visualization", size=32) + _img(
        f"u{unit}_e0.png", f"unit {unit} best test image", size=32
    )
    fires = f"{units.firing[u]:.0%}" + (' <span class="cv-dead-badge">dead</span>' if dead else "")
    vis = units.response[u]
    row_class = ' class="cv-dead"' if dead else ""
    return (
        f'<tr data-class="{name}" data-dead="{int(dead)}"{row_class}>'
        f'<td data-value="{unit}"><a href="#unit-{unit}">{unit}</a></td>'
        f'<td><a href="#unit-{unit}" class="cv-unit-thumbs">{thumbs}</a></td>'
        f'<td data-value="{name}">{name or "—"}</td>'
        f'<td data-value="{"" if not name else units.count[u]}">{f"{units.count[u]}/{k}" if name else "—"}</td>'
        f'<td data-value="{units.firing[u]:.6g}">{fires}</td>'
        f'<td data-value="{_num(units.best[u])}">{units.best[u]:.3g}</td>'
        f'<td data-value="{_num(vis)}">{f"{vis:.3g}" if np.isfinite(vis) else "—"}</td></tr>'
    )


def _overview(layer: _Layer, units: _Units, class_names: tuple[str, ...]) -> list[str]:
    """The table of the layer's units, one row each; ``units.js`` sorts and filters it (left
    out of the site search, which finds each unit's own section)."""
    k = layer.examples.indices.shape[1]
    desc = 'data-sort="num" data-first="descending"'
    head = (
        '<th scope="col" data-sort="num">unit</th><th scope="col">visualization, best image</th>'
        '<th scope="col" data-sort="text">preferred class</th>'
        f'<th scope="col" {desc} title="how many of its top {k} test images have that class">of top {k}</th>'
        f'<th scope="col" {desc} title="share of the test images where its maximum is above zero">fires on</th>'
        f'<th scope="col" {desc}>best test image</th><th scope="col" {desc}>visualization</th>'
    )
    rows = [_overview_row(int(unit), u, units, k, class_names) for u, unit in enumerate(layer.examples.units)]
    return [
        '<div class="cv-unit-overview" data-search-exclude>',
        f'<table class="cv-unit-table" aria-label="units of {markup.text(layer.name)}">',
        f"<thead><tr>{head}</tr></thead>",
        "<tbody>",
        *rows,
        "</tbody>",
        "</table>",
        "</div>",
    ]


def _unit_status(u: int, units: _Units, unexcited: bool, k: int, class_names: tuple[str, ...]) -> str:
    """The sentence above a unit's row (HTML): how often it fires, the class it prefers, and
    its visualization's response against its best test image's."""
    if units.dead[u]:
        return "<strong>Dead on data</strong>: it is zero on every test image, so there is nothing to visualize."
    text = f"Fires on {units.firing[u]:.0%} of the test images"
    if units.preferred[u] >= 0:
        name = markup.text(_class_name(int(units.preferred[u]), class_names))
        text += f"; {units.count[u]} of its top {k} are <em>{name}</em>"
    best, vis = units.best[u], units.response[u]
    if unexcited:
        return (
            f"{text}. The ascent ended with the unit silent from every start it tried (gray, noise, its "
            f"best test image resized to the ascent's size), although that image at full size excites it "
            f"to {best:.3g}: the visualization is left gray."
        )
    if not np.isfinite(vis):  # dead on the images the ascent was tested on, a subset of the test split
        return f"{text}. It fires on none of the test images the visualization was tested on: left gray."
    if best <= 0:
        return f"{text}."
    if vis >= best:
        return f"{text}. Its visualization excites it more than any test image: {vis:.3g} against {best:.3g}."
    return f"{text}. Its visualization excites it less than its best test image: {vis:.3g} against {best:.3g}."


def _unit_nav(units: list[int], at: int) -> str:
    """Links to the previous and the next unit and to the overview (left out of the search)."""
    prev = f'<a href="#unit-{units[at - 1]}" title="previous unit">← {units[at - 1]}</a> · ' if at > 0 else ""
    nxt = f' · <a href="#unit-{units[at + 1]}" title="next unit">{units[at + 1]} →</a>' if at < len(units) - 1 else ""
    return f'<span class="cv-unit-nav" data-search-exclude>{prev}<a href="#overview">all units</a>{nxt}</span>'


def _unit_section(
    entry: Any, layer: _Layer, u: int, units: _Units, labels: np.ndarray, class_names: tuple[str, ...]
) -> list[str]:
    ex = layer.examples
    unit = int(ex.units[u])
    k = ex.indices.shape[1]
    vis = units.response[u]
    caption = "visualization" + (f"<br>{vis:.3g}" if np.isfinite(vis) else "")
    framed = ", its receptive field framed" if shows_context(layer.field, *layer.image) else ", the crop of its field"
    examples = []
    for j in range(k):
        idx = int(ex.indices[u, j])
        name = _class_name(int(labels[idx]), class_names)
        value = f"{float(ex.values[u, j]):.3g}"
        alt = f"test image {idx} ({name}): response {value}{framed}"
        examples.append(
            f'<figure class="cv-unit-ex">{_img(f"u{unit}_e{j}.png", alt)}'
            f'<figcaption><span title="{markup.text(name)}">{markup.text(name)}</span>{value}</figcaption></figure>'
        )
    status = _unit_status(u, units, bool(layer.patterns.unexcited[u]), k, class_names)
    return [
        f"## {markup.text(entry.name)} · {markup.text(layer.name)} · unit {unit} {{#unit-{unit} .cv-unit}}",
        "",
        f'<p class="cv-unit-status">{_unit_nav([int(v) for v in ex.units], u)} {status}</p>',
        "",
        '<div class="cv-unit-row">',
        f'<figure class="cv-unit-vis">{_img(f"u{unit}.png", f"unit {unit} visualization", size=VIS)}'
        f"<figcaption>{caption}</figcaption></figure>",
        *examples,
        f'<figure class="cv-unit-hist">{_svg_histogram(ex.maxima[:, u])}'
        "<figcaption>response over the test images</figcaption></figure>",
        "</div>",
        "",
    ]


def _layer_page(entry: Any, layer: _Layer, paged: list[str], class_names: tuple[str, ...], labels: np.ndarray) -> str:
    units = _units_of(layer, labels)
    lines = [
        "---",
        "hide:",
        "  - toc",  # the overview table is the page's table of contents
        "---",
        "",
        f"# {markup.text(entry.name)} · {markup.text(layer.name)}: every unit",
        "",
        _layer_nav(paged, paged.index(layer.name)),
        "",
        *_intro(entry, layer, units),
        "",
        "## Overview {#overview}",
        "",
        "Every unit of the layer: click a column's header to sort by it; a unit's number leads to its row.",
        "",
        *_overview(layer, units, class_names),
        "",
    ]
    for u in range(len(layer.examples.units)):
        lines += _unit_section(entry, layer, u, units, labels, class_names)
    lines += [_layer_nav(paged, paged.index(layer.name)), ""]
    return "\n".join(lines)


def _index_row(layer: _Layer, labels: np.ndarray) -> str:
    rf = layer.field
    if layer.patterns is None:
        link, recipe, compared = markup.code(layer.name), "—", "—"
    else:
        above, of, _ = _comparison(_units_of(layer, labels))
        link = f"[{markup.text(layer.name)}]({layer_folder(layer.name)}/index.md)"
        recipe, compared = f"{layer.recipe} ({layer.steps})", f"{above} of {of}"
    return (
        f"| {link} | {'×'.join(map(str, layer.shape))} | {rf.size[0]}×{rf.size[1]} ({rf.jump[0]}) "
        f"| {len(layer.examples.units)} | {int(layer.examples.dead.sum())} | {recipe} | {compared} "
        f"| {layer.seconds:.1f} |"
    )


def _index_page(entry: Any, layers: list[_Layer], labels: np.ndarray) -> str:
    lines = [
        f"# {markup.text(entry.name)}: layers and units",
        "",
        f"Every conv layer of **{markup.text(entry.name)}** with its output shape, the receptive field of its units "
        "(size and the distance between neighbouring units, in input pixels) and the number of units "
        "that never fire on the test images (*dead*). Each layer's page shows every unit, visualized by "
        "the *recipe* (its steps in brackets). *Visualization ≥ best* counts the units whose visualization "
        f"excites them at least as much as their best test image ({RESPONSE}, on each); *s* is the time "
        "this build spent on the layer. The same layers on one image at a time: the "
        "[activations](../activations.md) (with the layer browser, where each channel links to its unit) "
        "and the [filter patterns](../filters.md).",
        "",
        "| layer | output | receptive field (jump) | units | dead | recipe | visualization ≥ best | s |",
        "|---|---|---|---|---|---|---|---|",
        *(_index_row(layer, labels) for layer in layers),
    ]
    skipped = [la.name for la in layers if la.patterns is None]
    if skipped:
        units = sum(len(la.examples.units) for la in layers)
        lines += [
            "",
            f"{len(skipped)} of {len(layers)} layers have no unit pages here: this model has {units} "
            f"units in its conv layers, more than the {MAX_DEFAULT_UNITS} built by default. List the layers "
            "to show under `units:` in its zoo entry (or `units: all`); each unit costs one feature "
            "visualization.",
        ]
    total = sum(layer.seconds for layer in layers)
    lines += [
        "",
        f"This build computed (or read from the cache) all {sum(len(la.examples.units) for la in layers)} "
        f"units of the {len(layers)} layers in {total:.1f} s: the dataset examples, a pass over the test "
        "split per layer, and one feature visualization per unit, every unit of a layer optimized "
        "together.",
        "",
    ]
    return "\n".join(lines)


def _summary(layers: list[_Layer], labels: np.ndarray) -> dict[str, Any]:
    """``layers.json``: per layer, what the index shows."""
    out = {}
    for layer in layers:
        above, of, median = _comparison(_units_of(layer, labels)) if layer.patterns is not None else (0, 0, np.nan)
        out[layer.name] = {
            "kind": layer.kind,
            "shape": list(layer.shape),
            "receptive_field": list(layer.field.size),
            "jump": list(layer.field.jump),
            "units": len(layer.examples.units),
            "dead": int(layer.examples.dead.sum()),
            "page": layer.patterns is not None,
            "recipe": layer.recipe,
            "steps": layer.steps,
            "visualization_above_best": [above, of],
            "median_ratio": round(median, 3) if np.isfinite(median) else None,
            "seconds": round(layer.seconds, 2),
        }
    return out


def write_unit_pages(entry: Any, folder: Path, *, progress: bool = True) -> dict[str, float] | None:
    """Write the unit pages of a zoo model into ``folder`` (its ``units/`` folder).

    Returns the seconds spent per layer, or None when the pages were up to date (nothing is
    loaded or computed then).
    """
    from convviz import zoo
    from convviz.pages import _write_if_changed
    from convviz.site import _fingerprint as fingerprint
    from convviz.units import to_uint8

    folder = Path(folder)
    stamp = fingerprint(entry, _fingerprint(entry))
    if up_to_date(folder, stamp):
        return None
    model = zoo.load(entry, progress=progress)
    test = zoo.dataset(entry, "test")
    layers = _compute(entry, model, test.x, progress=progress)
    if folder.is_dir():
        shutil.rmtree(folder)  # layers renamed or removed leave no page behind
    folder.mkdir(parents=True)
    labels = np.asarray(test.y)
    paged = [layer.name for layer in layers if layer.patterns is not None]
    shown = np.array(
        sorted({int(i) for la in layers if la.patterns is not None for i in la.examples.indices.flat}), int
    )
    span = (float(test.x.min()), float(test.x.max()))  # as the dataset examples' crops show them
    pixels = dict(zip(shown.tolist(), to_uint8(test.x[shown], value_range=span)))
    for layer in layers:
        if layer.patterns is None:
            continue
        here = folder / layer_folder(layer.name)
        _write_images(here, layer, pixels)
        _write_if_changed(here / "index.md", _layer_page(entry, layer, paged, test.class_names, labels))
    _write_if_changed(folder / "index.md", _index_page(entry, layers, labels))
    _write_if_changed(folder / LAYERS_FILE, json.dumps(_summary(layers, labels), indent=1))
    (folder / _STAMP).write_text(stamp)
    return {layer.name: layer.seconds for layer in layers if layer.patterns is not None}
