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
the numerical environment) is unchanged."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from convviz.core import markup
from convviz.site.freshness import fingerprint, module_text, up_to_date, write_stamp
from convviz.site.unit_data import (
    RESPONSE,
    comparison_text,
    compute_layers,
    layer_folder,
    unit_stats,
)
from convviz.site.unit_images import CONTEXT, THUMB, VIS, shows_context, write_unit_images
from convviz.site.unit_index import index_page, layers_summary
from convviz.site.unit_images import svg_histogram

if TYPE_CHECKING:
    from convviz.site.unit_data import UnitLayer, UnitStats


__all__ = ["write_unit_pages", "LAYERS_FILE"]


LAYERS_FILE = "layers.json"


def _fingerprint(entry: Any) -> str:
    return fingerprint(entry, module_text(__file__), f"units: {entry.units_option!r}")


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


def _recipe_text(layer: UnitLayer) -> str:
    if layer.recipe == "book":
        return f"the chapter's recipe: {layer.steps} steps of normalized gradient ascent on the pixels"
    return (
        "the robust recipe: a decorrelated Fourier image under random jitter, scale and rotation, "
        f"{layer.steps} Adam steps (fewer than the filter patterns page's 256, so that every unit of a "
        "layer fits the site's build time)"
    )


def _shown_text(layer: UnitLayer) -> str:
    """How the page shows the layer's examples (see :func:`example_view`)."""
    rf, (h, w) = layer.field, layer.image
    if not shows_context(rf, h, w):
        return "each cropped to the unit's receptive field around the position of its maximum"
    whole = h <= max(CONTEXT, 4 * rf.size[0]) and w <= max(CONTEXT, 4 * rf.size[1])
    where = "the whole image" if whole else f"the image around it (at most {CONTEXT} pixels a side)"
    return f"each shown as {where} with the unit's receptive field framed where its maximum is"


def _range_note(layer: UnitLayer, units: UnitStats) -> str:
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


def _intro(entry: Any, layer: UnitLayer, units: UnitStats) -> list[str]:
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
        f"{comparison_text(units)}{_range_note(layer, units)}{_diverse_text(layer)}",
    ]


def _num(v: float) -> str:
    """A sort key for ``data-value``: empty for a missing value (sorted last)."""
    return f"{v:.6g}" if np.isfinite(v) else ""


def _overview_row(
    unit: int, u: int, units: UnitStats, k: int, class_names: tuple[str, ...], *, facets: bool = False
) -> str:
    dead = bool(units.dead[u])
    name = "" if dead or units.preferred[u] < 0 else markup.text(_class_name(int(units.preferred[u]), class_names))
    thumbs = _img(f"u{unit}.png", f"unit {unit} visualization", size=32) + _img(
        f"u{unit}_e0.png", f"unit {unit} best test image", size=32
    )
    fires = f"{units.firing[u]:.0%}" + (' <span class="cv-dead-badge">dead</span>' if dead else "")
    vis = units.response[u]
    row_class = ' class="cv-dead"' if dead else ""
    mark = ' <span title="shows its facets: diverse visualizations">◆</span>' if facets else ""
    return (
        f'<tr data-class="{name}" data-dead="{int(dead)}"{row_class}>'
        f'<td data-value="{unit}"><a href="#unit-{unit}">{unit}</a>{mark}</td>'
        f'<td><a href="#unit-{unit}" class="cv-unit-thumbs">{thumbs}</a></td>'
        f'<td data-value="{name}">{name or "—"}</td>'
        f'<td data-value="{"" if not name else units.count[u]}">{f"{units.count[u]}/{k}" if name else "—"}</td>'
        f'<td data-value="{units.firing[u]:.6g}">{fires}</td>'
        f'<td data-value="{_num(units.best[u])}">{units.best[u]:.3g}</td>'
        f'<td data-value="{_num(vis)}">{f"{vis:.3g}" if np.isfinite(vis) else "—"}</td></tr>'
    )


def overview(layer: UnitLayer, units: UnitStats, class_names: tuple[str, ...]) -> list[str]:
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
    faceted = set() if layer.diverse is None else {int(f) for f in layer.diverse.filters}
    rows = [
        _overview_row(int(unit), u, units, k, class_names, facets=int(unit) in faceted)
        for u, unit in enumerate(layer.examples.units)
    ]
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


def _unit_status(
    u: int, units: UnitStats, unexcited: bool, k: int, class_names: tuple[str, ...], *, ascent: str = ""
) -> str:
    """The sentence above a unit's row (HTML): how often it fires, the class it prefers, and
    its visualization's response against its best test image's."""
    if units.dead[u]:
        return "<strong>Dead on data</strong>: it is zero on every test image, so there is nothing to visualize."
    text = f"Fires on {units.firing[u]:.0%} of the test images"
    if units.preferred[u] >= 0:
        name = markup.text(_class_name(int(units.preferred[u]), class_names))
        text += f"; {units.count[u]} of its top {k} are <em>{name}</em>"
        if units.tied is not None and units.tied[u]:
            others = [f"<em>{markup.text(_class_name(c, class_names))}</em>" for c in units.tied[u]]
            named = others[0] if len(others) == 1 else ", ".join(others[:-1]) + " and " + others[-1]
            text += f" (as many are {named}: the tie goes to the class whose first image ranks higher)"
    best, vis = units.best[u], units.response[u]
    if unexcited:
        return (
            f"{text}. The ascent{ascent} ended with the unit silent from every start it tried (gray, noise, its "
            f"best test image resized to the ascent's size), although that image at full size excites it "
            f"to {best:.3g}: the visualization is left gray. A silent ascent is this recipe's limit, not the "
            "unit's: the filter patterns page, which optimizes a larger image for longer, can excite a unit "
            "that is gray here."
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
    entry: Any, layer: UnitLayer, u: int, units: UnitStats, labels: np.ndarray, class_names: tuple[str, ...]
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
    side = int(layer.patterns.raw.shape[1]) if np.ndim(layer.patterns.raw) == 4 else 0
    ascent = f" ({layer.steps} steps on a {side}×{side}-pixel image)" if side else ""
    status = _unit_status(u, units, bool(layer.patterns.unexcited[u]), k, class_names, ascent=ascent)
    return [
        f"## {markup.text(entry.name)} · {markup.text(layer.name)} · unit {unit} {{#unit-{unit} .cv-unit}}",
        "",
        f'<p class="cv-unit-status">{_unit_nav([int(v) for v in ex.units], u)} {status}</p>',
        "",
        '<div class="cv-unit-row">',
        f'<figure class="cv-unit-vis">{_img(f"u{unit}.png", f"unit {unit} visualization", size=VIS)}'
        f"<figcaption>{caption}</figcaption></figure>",
        *examples,
        f'<figure class="cv-unit-hist">{svg_histogram(ex.maxima[:, u])}'
        "<figcaption>response over the test images</figcaption></figure>",
        "</div>",
        "",
        *_diverse_row(layer, u, unit),
    ]


def _diverse_row(layer: UnitLayer, u: int, unit: int) -> list[str]:
    """The unit's diverse visualizations, each with its response, and how alike they are."""
    if layer.diverse is None or layer.diverse_response is None:
        return []
    d = layer.diverse
    at = np.flatnonzero(np.asarray(d.filters) == unit)
    if not len(at):
        return []
    i = int(at[0])
    figures = [
        f'<figure class="cv-unit-ex">{_img(f"u{unit}_d{j}.png", f"unit {unit}, diverse visualization {j + 1}")}'
        f"<figcaption>facet {j + 1}<br>{float(layer.diverse_response[i, j]):.3g}</figcaption></figure>"
        for j in range(d.images.shape[1])
    ]
    return [
        '<div class="cv-unit-row cv-unit-diverse">',
        f'<p class="cv-unit-diverse-note">{d.images.shape[1]} facets, optimized together; their styles\' '
        f"similarity {float(d.similarity[i]):.2f}</p>",
        *figures,
        "</div>",
        "",
    ]


def _diverse_text(layer: UnitLayer) -> str:
    """The intro's sentence on the diverse visualizations, with the layer's numbers."""
    d, resp = layer.diverse, layer.diverse_response
    if d is None or resp is None:
        return ""
    n, k = int(d.images.shape[1]), len(d.filters)
    pos = np.searchsorted(np.asarray(layer.examples.units), np.asarray(d.filters))
    best = np.asarray(layer.examples.values[pos, 0], np.float64)
    live = best > 0
    above = int((resp[live] >= best[live, None]).sum())
    return (
        f" On this deepest layer, the {k} units whose top test images are most mixed across classes (the "
        f"fewest of one class) also show {n} *facets*: {n} visualizations optimized together "
        f"({d.steps} Adam steps, the same recipe) with lucid's diversity term, which lowers the cosine between "
        f"the Gram matrices of the layer's activations of every two of them (weight {d.weight:g} × the unit's mean "
        "activation on the test images), so that they show different things the unit responds to. Their "
        f"similarity (that cosine, 1: alike in style) has a median of {float(np.median(d.similarity)):.2f} over "
        f"the layer's units; {above} of the {n * int(live.sum())} facets of units that fire on test images excite "
        "their unit more than its best test image. Jump to them from the overview: their rows are marked ◆."
    )


def layer_page(entry: Any, layer: UnitLayer, paged: list[str], class_names: tuple[str, ...], labels: np.ndarray) -> str:
    units = unit_stats(layer, labels)
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
        *overview(layer, units, class_names),
        "",
    ]
    for u in range(len(layer.examples.units)):
        lines += _unit_section(entry, layer, u, units, labels, class_names)
    lines += [_layer_nav(paged, paged.index(layer.name)), ""]
    return "\n".join(lines)


def write_unit_pages(entry: Any, folder: Path, *, progress: bool = True) -> dict[str, float] | None:
    """Write the unit pages of a zoo model into ``folder`` (its ``units/`` folder).

    Returns the seconds spent per layer, or None when the pages were up to date (nothing is
    loaded or computed then).
    """
    folder = Path(folder)
    stamp = _fingerprint(entry)
    if up_to_date(folder, stamp, "index.md"):
        return None
    from convviz import zoo
    from convviz.core.files import write_if_changed
    from convviz.represent.examples import to_uint8  # Keras: only for a build that writes the pages

    model = zoo.load(entry, progress=progress)
    test = zoo.dataset(entry, "test")
    layers = compute_layers(entry, model, test.x, np.asarray(test.y), progress=progress)
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
        write_unit_images(here, layer, pixels)
        write_if_changed(here / "index.md", layer_page(entry, layer, paged, test.class_names, labels))
    write_if_changed(folder / "index.md", index_page(entry, layers, labels))
    write_if_changed(folder / LAYERS_FILE, json.dumps(layers_summary(layers, labels), indent=1))
    write_stamp(folder, stamp)
    return {layer.name: layer.seconds for layer in layers if layer.patterns is not None}
