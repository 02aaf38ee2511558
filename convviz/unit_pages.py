"""The site's unit pages: every unit (channel) of every conv layer of a zoo model, with its
feature visualization beside the test images that excite it most.

One Markdown page per layer, ``<folder>/<layer>/index.md`` (URL ``gallery/<model>/units/<layer>/``),
every unit at the anchor ``#unit-<index>``, and a layer index ``<folder>/index.md`` with each
layer's output shape, receptive field and dead units. The expensive parts (the filter
ascent) use the cache; the whole folder is skipped when its fingerprint (the zoo entry,
this module and the code it uses, the numerical environment) is unchanged.
"""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from convviz import markup

__all__ = [
    "layer_folder",
    "unit_layers",
    "unit_recipe",
    "selected_layers",
    "write_unit_pages",
    "LAYERS_FILE",
    "MAX_DEFAULT_UNITS",
]

LAYERS_FILE = "layers.json"
_STAMP = ".fingerprint"
K = 9
THUMB = 72  # displayed size of a crop or a pattern, CSS pixels


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


ROBUST_STEPS, ROBUST_SIZE = 40, 48


def unit_recipe(index: int, count: int, field: int, input_size: int) -> tuple[str, int, int]:
    """Feature-visualization recipe, steps and image size of the ``index``-th of ``count``
    unit layers whose receptive field is ``field`` pixels wide.

    The chapter's recipe (30 steps) for the shallower half, on an image twice the receptive
    field (at least 32 pixels, at most the model's input): a few repeats of the pattern a
    unit looks for. The robust (lucid-style) recipe for the deeper half, where the book's
    images turn into high-frequency noise: 40 Adam steps on a 48-pixel image (the input
    size when smaller), short of lucid's 512 so that every unit of a zoo model fits the
    site's build time (see ``docs/performance.md``).
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
    recipe: str
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


def _compute(entry: Any, model: Any, x: np.ndarray, *, progress: bool) -> list[_Layer]:
    import convviz
    from convviz.layers import resolve_layer
    from convviz.units import dataset_examples_of_layers, receptive_field

    names = unit_layers(model)
    pages = selected_layers(entry, model, names)
    t0 = time.perf_counter()
    every = dataset_examples_of_layers(model, names, x, k=min(K, len(x)), cache=True)  # one pass for all
    shared = (time.perf_counter() - t0) / max(len(names), 1)  # each layer's share of it
    out = []
    for i, name in enumerate(names):
        t0 = time.perf_counter() - shared
        info = resolve_layer(model, name)
        examples = every[name]
        field = receptive_field(model, name)
        recipe, steps, size = unit_recipe(i, len(names), max(field.size), min(entry.input_shape[:2]))
        if name not in pages:
            out.append(
                _Layer(
                    name,
                    info.class_name,
                    tuple(int(d) for d in info.output_shape[1:]),
                    field,
                    examples,
                    None,
                    recipe,
                    time.perf_counter() - t0,
                )
            )
            continue
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
        out.append(
            _Layer(
                name,
                info.class_name,
                tuple(int(d) for d in info.output_shape[1:]),
                field,
                examples,
                patterns,
                recipe,
                time.perf_counter() - t0,
            )
        )
    return out


def _svg_histogram(values: np.ndarray, *, bins: int = 24, width: int = 216, height: int = 48) -> str:
    """An inline SVG histogram of a unit's per-image maxima (zero marked)."""
    lo, hi = float(min(values.min(), 0.0)), float(max(values.max(), 1e-6))
    counts, edges = np.histogram(values, bins=bins, range=(lo, hi))
    top = max(int(counts.max()), 1)
    w = width / bins
    bars = "".join(
        f'<rect x="{i * w:.1f}" y="{height - 12 - c / top * (height - 14):.1f}" width="{max(w - 1, 1):.1f}" '
        f'height="{c / top * (height - 14):.1f}"/>'
        for i, c in enumerate(counts)
        if c
    )
    return (
        f'<svg class="cv-hist" width="{width}" height="{height}" role="img" '
        f'aria-label="histogram of the unit\'s maximum activation per test image">'
        f'<g fill="#5c6bc0">{bars}</g>'
        f'<text x="0" y="{height - 1}" font-size="10">{lo:.2g}</text>'
        f'<text x="{width}" y="{height - 1}" font-size="10" text-anchor="end">{hi:.3g}</text></svg>'
    )


def _img(src: str, alt: str, *, size: int = THUMB, title: str = "") -> str:
    t = f' title="{markup.text(title)}"' if title else ""
    return (
        f'<img src="{src}" alt="{markup.text(alt)}"{t} width="{size}" height="{size}" loading="lazy" '
        f'style="image-rendering: pixelated">'
    )


def _layer_page(entry: Any, layer: _Layer, folder: Path, class_names: tuple[str, ...], y: np.ndarray) -> str:
    from convviz.plot import save_image

    ex, pat = layer.examples, layer.patterns
    dead = ex.dead
    units = len(ex.units)
    shape = "×".join(map(str, layer.shape))
    rf = layer.field
    recipe = (
        "the chapter's recipe (30 steps of normalized gradient ascent)"
        if layer.recipe == "book"
        else "the robust recipe (a decorrelated Fourier image under random jitter, scale and rotation, "
        f"{ROBUST_STEPS} Adam steps)"
    )
    lines = [
        "---",
        "hide:",
        "  - toc",  # the overview grid is the page's table of contents
        "---",
        "",
        f"# {markup.text(entry.name)} · {markup.text(layer.name)}: every unit",
        "",
        f"Layer {markup.code(layer.name)} ({layer.kind}) of **{markup.text(entry.name)}**: output {shape}, {units} units. "
        f"Each unit's receptive field is {rf.size[0]}×{rf.size[1]} input pixels, and neighbouring units "
        f"are {rf.jump[0]} pixels apart. {int(dead.sum())} of {units} units never fire on the "
        f"{len(ex.maxima)} test images (*dead on data*).",
        "",
        f"For every unit: its feature visualization ({recipe}), the {ex.indices.shape[1]} test images that "
        "excite it most, each cropped to the unit's receptive field around the position of its maximum, "
        "with that maximum under it, and the histogram of its maximum over every test image. "
        "[All layers](../index.md).",
        "",
        "## Overview",
        "",
        "Each unit's visualization and its best test image; click one to jump to the unit.",
        "",
        '<div class="cv-units" style="display:flex;flex-wrap:wrap;gap:6px">',
    ]
    for u, unit in enumerate(ex.units):
        label = f"unit {unit}" + (" (dead on data)" if dead[u] else "")
        lines.append(
            f'<a href="#unit-{unit}" title="{label}" style="display:inline-flex;gap:1px;'
            f'border:1px solid {"#e53935" if dead[u] else "#ccc"}">'
            f"{_img(f'u{unit}.png', f'{layer.name} unit {unit} visualization', size=40)}"
            f"{_img(f'u{unit}_e0.png', f'{layer.name} unit {unit} best example', size=40)}</a>"
        )
    lines += ["</div>", ""]
    for u, unit in enumerate(ex.units):
        save_image(folder / f"u{unit}.png", pat.images[u])
        for j in range(ex.indices.shape[1]):
            save_image(folder / f"u{unit}_e{j}.png", ex.crops[u, j])
        fires = f"Fires (above zero) on {float((ex.maxima[:, u] > 0).mean()):.0%} of the test images"
        if dead[u]:
            status = "**Dead on data**: it is zero on every test image, so there is nothing to visualize."
        elif pat.unexcited[u]:
            status = (
                f"{fires} (best {float(ex.values[u, 0]):.3g}), but no start image (gray, noise, its best "
                "test image) made the ascent excite it: the visualization is left gray."
            )
        else:
            status = (
                f"{fires}; its visualization reaches {float(pat.losses[u]):.3g}, the best test image "
                f"{float(ex.values[u, 0]):.3g}."
            )
        lines += [
            f"## {markup.text(entry.name)} · {markup.text(layer.name)} · unit {unit} {{#unit-{unit}}}",
            "",
            status,
            "",
            '<div style="display:flex;flex-wrap:wrap;gap:10px;align-items:flex-start">',
            f'<figure style="margin:0">{_img(f"u{unit}.png", f"unit {unit} visualization", size=2 * THUMB)}'
            f"<figcaption>visualization</figcaption></figure>",
            '<div style="display:grid;grid-template-columns:repeat(9,auto);gap:4px">',
        ]
        for j in range(ex.indices.shape[1]):
            idx = int(ex.indices[u, j])
            label = class_names[y[idx]] if 0 <= y[idx] < len(class_names) else "unlabelled"
            lines.append(
                f'<figure style="margin:0;text-align:center">'
                f"{_img(f'u{unit}_e{j}.png', f'test image {idx}', title=f'test image {idx} ({label})')}"
                f'<figcaption style="font-size:0.7em">{float(ex.values[u, j]):.3g}</figcaption></figure>'
            )
        lines += [
            "</div>",
            f'<figure style="margin:0">{_svg_histogram(ex.maxima[:, u])}'
            '<figcaption style="font-size:0.7em">maximum per test image</figcaption></figure>',
            "</div>",
            "",
        ]
    return "\n".join(lines)


def _index_page(entry: Any, layers: list[_Layer]) -> str:
    lines = [
        f"# {markup.text(entry.name)}: layers and units",
        "",
        f"Every conv layer of **{markup.text(entry.name)}** with its output shape, the receptive field of its units "
        "(size and the distance between neighbouring units, in input pixels) and the number of units "
        "that never fire on the test images (*dead*). Each layer's page shows every unit, visualized by "
        "the *recipe*; *s* is the time this build spent on the layer.",
        "",
        "| layer | output | receptive field (jump) | units | dead | recipe | s |",
        "|---|---|---|---|---|---|---|",
    ]
    skipped = [la.name for la in layers if la.patterns is None]
    for layer in layers:
        rf = layer.field
        link = (
            f"[{markup.text(layer.name)}]({layer_folder(layer.name)}/index.md)"
            if layer.patterns is not None
            else markup.code(layer.name)
        )
        lines.append(
            f"| {link} | {'×'.join(map(str, layer.shape))} "
            f"| {rf.size[0]}×{rf.size[1]} ({rf.jump[0]}) | {len(layer.examples.units)} "
            f"| {int(layer.examples.dead.sum())} | {layer.recipe if layer.patterns is not None else '—'} "
            f"| {layer.seconds:.1f} |"
        )
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


def write_unit_pages(entry: Any, folder: Path, *, progress: bool = True) -> dict[str, float] | None:
    """Write the unit pages of a zoo model into ``folder`` (its ``units/`` folder).

    Returns the seconds spent per layer, or None when the pages were up to date (nothing is
    loaded or computed then).
    """
    from convviz import zoo
    from convviz.site import _fingerprint as fingerprint
    from convviz.pages import _write_if_changed

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
    for layer in layers:
        if layer.patterns is None:
            continue
        here = folder / layer_folder(layer.name)
        _write_if_changed(here / "index.md", _layer_page(entry, layer, here, test.class_names, test.y))
    _write_if_changed(folder / "index.md", _index_page(entry, layers))
    summary = {
        layer.name: {
            "kind": layer.kind,
            "shape": list(layer.shape),
            "receptive_field": list(layer.field.size),
            "jump": list(layer.field.jump),
            "units": len(layer.examples.units),
            "dead": int(layer.examples.dead.sum()),
            "page": layer.patterns is not None,
            "seconds": round(layer.seconds, 2),
        }
        for layer in layers
    }
    _write_if_changed(folder / LAYERS_FILE, json.dumps(summary, indent=1))
    (folder / _STAMP).write_text(stamp)
    return {layer.name: layer.seconds for layer in layers if layer.patterns is not None}
