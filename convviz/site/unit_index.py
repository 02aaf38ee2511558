"""A model's layer index of unit pages (each layer's output shape, receptive field, dead units and how its visualizations compare with its best test images) and ``layers.json``, the summary the layer browser and the class pages link with."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from convviz.core import markup
from convviz.site.unit_data import (
    MAX_DEFAULT_UNITS,
    RESPONSE,
    layer_folder,
    unit_comparison,
    unit_stats,
)

if TYPE_CHECKING:
    from convviz.site.unit_data import UnitLayer


__all__ = ["index_page", "layers_summary"]


def _seconds(value: float) -> str:
    """A build time, left out of the site search: it changes from build to build, and the
    search matches a query's last term as a prefix (a unit's number matched it)."""
    return f"<span data-search-exclude>{value:.1f}</span>"


def _index_row(layer: UnitLayer, labels: np.ndarray) -> str:
    rf = layer.field
    if layer.patterns is None:
        link, recipe, compared = markup.code(layer.name), "—", "—"
    else:
        stats = unit_stats(layer, labels)
        above, of, _ = unit_comparison(stats)
        # the live units left out of "of" (left gray: no start image excited them, or they were
        # silent on the images the ascent was tested on) are said, so that the counts add up to
        # the units column: "56 of 56 (8 gray)" beside 64 units, 0 dead
        blank = len(stats.best) - of - int((stats.best <= 0).sum())
        link = f"[{markup.text(layer.name)}]({layer_folder(layer.name)}/index.md)"
        recipe = f"{layer.recipe} ({layer.steps})"
        compared = f"{above} of {of}" + (f" ({blank} gray)" if blank else "")
    return (
        f"| {link} | {'×'.join(map(str, layer.shape))} | {rf.size[0]}×{rf.size[1]} ({rf.jump[0]}) "
        f"| {len(layer.examples.units)} | {int(layer.examples.dead.sum())} | {recipe} | {compared} "
        f"| {_seconds(layer.seconds)} |"
    )


def index_page(entry: Any, layers: list[UnitLayer], labels: np.ndarray) -> str:
    lines = [
        f"# {markup.text(entry.name)}: layers and units",
        "",
        f"Every conv layer of **{markup.text(entry.name)}** with its output shape, the receptive field of its units "
        "(size and the distance between neighbouring units, in input pixels) and the number of units "
        "that never fire on the test images (*dead*). Each layer's page shows every unit, visualized by "
        "the *recipe* (its steps in brackets). *Visualization ≥ best* counts the units whose visualization "
        f"excites them at least as much as their best test image ({RESPONSE}, on each), of the units that "
        "have both (not those dead on the test images, nor those whose visualization is left gray: counted in "
        "brackets); *s* is the time "
        "this build spent on the layer. The same layers on one image at a time: the "
        "[activations](../activations.md) (with the layer browser, where each channel links to its unit) "
        "and the [filter patterns](../filters.md). The whole deepest layer at once, its activation vectors of every "
        "test image laid out as a map: the [activation atlas](../atlas/index.md).",
        "",
        # out of the site search: its cells are layer names and counts, which outranked a unit's own
        # section for "shapes-cnn block3_relu1 12" (the search matches the last term as a prefix,
        # so "12" matched 128 and the build's numbers); each layer's own page is found by its name
        '<div class="cv-layer-table" data-search-exclude markdown>',
        "",
        "| layer | output | receptive field (jump) | units | dead | recipe | visualization ≥ best | s |",
        "|---|---|---|---|---|---|---|---|",
        *(_index_row(layer, labels) for layer in layers),
        "",
        "</div>",
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
        f"units of the {len(layers)} layers in {_seconds(total)} s: the dataset examples, a pass over the test "
        "split per layer, and one feature visualization per unit, every unit of a layer optimized "
        "together.",
        "",
    ]
    return "\n".join(lines)


def layers_summary(layers: list[UnitLayer], labels: np.ndarray) -> dict[str, Any]:
    """``layers.json``: per layer, what the index shows."""
    out = {}
    for layer in layers:
        above, of, median = unit_comparison(unit_stats(layer, labels)) if layer.patterns is not None else (0, 0, np.nan)
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
