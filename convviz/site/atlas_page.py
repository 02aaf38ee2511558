"""The site's activation atlas of a zoo model (:mod:`convviz.optvis.atlas`): the deepest unit
layer's activation vectors over the test split, laid out by UMAP, each grid cell's mean
rendered, as one large image with each cell's count and dominant predicted class on hover; the
same grid coloured by that class; the regions each class owns; and how much purer the cells are
than chance.

One Markdown page, ``<folder>/index.md`` (URL ``gallery/<model>/atlas/``), its image
``atlas.png``, its class map ``atlas-classes.png`` and one thumbnail per cell shown in the class
table. The atlas is cached; the
folder is skipped when its fingerprint is unchanged."""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Any

import numpy as np

from convviz.core import markup
from convviz.core.errors import InputError
from convviz.site.freshness import fingerprint, module_text, up_to_date, write_stamp
from convviz.site.unit_data import ROBUST_SIZE, ROBUST_STEPS, layer_folder

__all__ = [
    "write_atlas_page",
    "model_atlas",
    "atlas_plan",
    "purity",
    "ATLAS_VECTORS",
    "ATLAS_EPOCHS",
    "ATLAS_GRID",
    "MIN_COUNT",
    "CELLS_PER_CLASS",
]

# Sampled vectors, UMAP's epochs and the grid: benchmarks/bench_atlas.py times the page of each
# embedded model (goal: 60 s cold on this machine's 2 cores). UMAP takes most of it: on
# shapes-cnn 52 s for 19,200 vectors and 24-27 s for 12,000 (both at 200 epochs, UMAP's own above
# 10,000 vectors; 500 below), and shapes-xception's page took 64 s at 12,000. lucid's atlases
# sample 100k vectors on a GPU.
ATLAS_VECTORS, ATLAS_EPOCHS, ATLAS_GRID, MIN_COUNT = 8_000, 200, 16, 4
CELLS_PER_CLASS = 6  # thumbnails per class in the regions table
ICON_SECONDS = 40.0  # seconds of icon passes a costly model's atlas may spend (see atlas_plan)
MIN_GRID, MIN_STEPS = 8, 24
_CLASS_MAP_CODE = Path(__file__).parents[1] / "figures" / "atlas.py"  # the class map's code: in the fingerprint


def atlas_plan(seconds_per_pass: float) -> tuple[int, int]:
    """The grid and the icons' steps, for the pass cost the pages plan with
    (:attr:`convviz.zoo.budget.PageBudget.planned_seconds`): :data:`ATLAS_GRID` and the unit pages' robust steps for
    a small model (a pass of at most :data:`convviz.zoo.budget.SMALL_SECONDS`); for a costly
    one, the largest grid (down to :data:`MIN_GRID`), then the most steps (down to
    :data:`MIN_STEPS`), whose icons' passes fit :data:`ICON_SECONDS`, counting up to two
    thirds of the grid's cells drawn (the embedded zoo's atlases draw 43-68%; an icon is
    smaller than the model's input, so its pass costs less than the one measured)."""
    from convviz.zoo.budget import SMALL_SECONDS

    if seconds_per_pass <= SMALL_SECONDS:
        return ATLAS_GRID, ROBUST_STEPS

    def cost(grid: int, steps: int) -> float:
        return 2 / 3 * grid * grid * steps * seconds_per_pass

    grid = ATLAS_GRID
    while grid > MIN_GRID and cost(grid, ROBUST_STEPS) > ICON_SECONDS:
        grid -= 1
    steps = ROBUST_STEPS
    while steps > MIN_STEPS and cost(grid, steps) > ICON_SECONDS:
        steps -= 4
    return grid, max(steps, MIN_STEPS)


def _class_name(c: int, names: tuple[str, ...]) -> str:
    return names[c] if 0 <= c < len(names) else str(c)


def _overlay(atlas: Any, names: tuple[str, ...]) -> str:
    """The hover layer: one transparent box per drawn cell, its title its count and dominant
    class (a phone reads the table below instead)."""
    g = atlas.grid
    boxes = []
    for i in np.flatnonzero(atlas.drawn):
        r, c = (int(v) for v in atlas.cells[i])
        cls = markup.text(_class_name(int(atlas.dominant[i]), names))
        title = f"{int(atlas.counts[i])} vectors; {atlas.share[i]:.0%} from images predicted {cls}"
        boxes.append(
            f'<span class="cv-atlas-cell" style="left:{100 * c / g:.4g}%;top:{100 * r / g:.4g}%;'
            f'width:{100 / g:.4g}%;height:{100 / g:.4g}%" title="{title}"></span>'
        )
    return "".join(boxes)


def _purest(atlas: Any) -> Any:
    """The order of a class's cells in its row: the highest share first, then the most vectors."""
    return lambda i: (-round(float(atlas.share[i]), 6), -int(atlas.counts[i]), i)


def _regions(atlas: Any, names: tuple[str, ...]) -> list[str]:
    """Per predicted class: the drawn cells it dominates, how many of them it holds at least half
    of, their vectors, and its purest cells (the highest share first, then the most vectors): a
    cell it dominates at a fifth of its vectors is no part of its vocabulary."""
    rows = [
        "| predicted class | cells it dominates | of them at least half its own | their vectors "
        "| its purest cells (a tile's title: vectors, share) |",
        "|---|---|---|---|---|",
    ]
    drawn = np.flatnonzero(atlas.drawn)
    for c in sorted({int(atlas.dominant[i]) for i in drawn}):
        mine = [int(i) for i in drawn if int(atlas.dominant[i]) == c]
        mine.sort(key=_purest(atlas))
        half = sum(1 for i in mine if float(atlas.share[i]) >= 0.5)
        thumbs = " ".join(
            f'<img src="cell{i}.png" width="48" height="48" loading="lazy" alt="atlas cell {i}" '
            f'title="{int(atlas.counts[i])} vectors, {atlas.share[i]:.0%} {markup.text(_class_name(c, names))}">'
            for i in mine[:CELLS_PER_CLASS]
        )
        rows.append(
            f"| {markup.text(_class_name(c, names))} | {len(mine)} | {half} | {int(atlas.counts[mine].sum())} "
            f"| {thumbs} |"
        )
    return rows


def purity(atlas: Any, classes: np.ndarray) -> tuple[float, float]:
    """The drawn cells' mean share of their dominant class, weighted by their vectors, and
    the same for cells of random vectors: the most common class's share of the sample."""
    drawn = atlas.drawn
    pure = float((atlas.share[drawn] * atlas.counts[drawn]).sum() / max(int(atlas.counts[drawn].sum()), 1))
    sampled = np.asarray(classes)[atlas.origin[:, 0]]
    chance = float(np.bincount(np.clip(sampled, 0, None)).max() / len(sampled))
    return pure, chance


def page(
    entry: Any, atlas: Any, classes: np.ndarray, names: tuple[str, ...], images: int, *, unit_page: bool = True
) -> str:
    """The page's Markdown; ``unit_page``: whether the atlas's layer has a unit page to link."""
    pure, chance = purity(atlas, classes)
    per_image = len(atlas.xy) // max(images, 1)
    g, drawn = atlas.grid, int(atlas.drawn.sum())
    sec = atlas.seconds
    icon = atlas.icons.shape[1]
    return "\n".join(
        [
            f"# {markup.text(entry.name)} · activation atlas of {markup.text(atlas.layer)}",
            "",
            f"What the whole layer {markup.code(atlas.layer)} represents, as one map (Carter et al., *Activation "
            f"Atlas*, Distill 2019). Every position of every test image gives the layer an activation vector; "
            f"{len(atlas.xy):,} of them ({per_image} from each of the {images:,} test images, a seeded sample) are "
            f"laid out in 2-D by UMAP ({ATLAS_EPOCHS} epochs), so that similar vectors lie close, and the layout is cut into a {g}×{g} "
            f"grid. Each of the {drawn} cells that hold at least {MIN_COUNT} vectors shows their *mean* "
            f"vector rendered as an image: the input that points the layer's activation that way "
            f"({atlas.steps} Adam steps on a {icon}×{icon}-pixel image, the robust recipe of the "
            "[unit pages](../units/index.md), with lucid's direction objective). Hover a cell for its number "
            "of vectors and the class its images are most often predicted as (on a phone: the table below lists "
            "each class's purest cells).",
            "",
            '<figure class="cv-atlas-figure">',
            f'<div class="cv-atlas"><a href="atlas.png"><img src="atlas.png" alt="activation atlas of '
            f'{markup.text(atlas.layer)}: {drawn} rendered cells on a {g} by {g} grid" '
            f'width="{g * icon}" height="{g * icon}"></a>{_overlay(atlas, names)}</div>',
            f"<figcaption>The atlas of {markup.code(atlas.layer)}: open the image for its full size.</figcaption>",
            "</figure>",
            "",
            "Which class each region stands for: the same grid, each drawn cell in the colour of the class its "
            "vectors' images are most often predicted as, the more opaque the larger that class's share of them "
            "(a pale cell mixes classes; the colours are the latent space's).",
            "",
            '<figure class="cv-atlas-figure">',
            f'<img src="atlas-classes.png" alt="class map of the atlas of {markup.text(atlas.layer)}: each of '
            f'the {drawn} drawn cells coloured by its dominant predicted class">',
            "</figure>",
            "",
            "## How much of a class a region is",
            "",
            f"A drawn cell's vectors come, on average (weighted by its vectors), {pure:.0%} from images of its "
            f"dominant predicted class; cells of vectors drawn at random would hold {chance:.0%} (the most common "
            "predicted class's share of the sample). "
            + (
                "The layout groups the layer's vectors by what the model concludes from them: a class's purest "
                "cells below are the layer's vocabulary for it, and a cell it dominates at a small share (a pale "
                "cell of the class map) mixes it with others."
                if pure > chance + 0.1
                else "The layer's vectors mix the classes: at this depth the model has not yet separated them, "
                "and a region stands for a texture or a part that several classes share."
            ),
            "",
            *_regions(atlas, names),
            "",
            "## Where it comes from",
            "",
            f"The [latent space](../latent.md) shows one vector per image, from the layer before the last; the atlas "
            f"shows the vectors of every position of {markup.code(atlas.layer)}, and "
            + (
                f"the [unit page of that layer](../units/{layer_folder(atlas.layer)}/index.md) shows its units "
                "one at a time."
                if unit_page
                else "the [layers and units](../units/index.md) page lists the model's layers (this one has no "
                "unit pages here: name it under `units:` in the zoo entry)."
            )
            + " <span data-search-exclude>Seconds: sample "
            f"{sec.get('vectors', 0):.1f}, UMAP {sec.get('layout', 0):.1f}, icons {sec.get('icons', 0):.1f}.</span>",
            "",
        ]
    )


def model_atlas(entry: Any, model: Any, x: np.ndarray, predicted: np.ndarray, *, progress: bool = False) -> Any:
    """The atlas the page shows: the deepest unit layer's, over ``x`` (the test split), counted
    by ``predicted`` class (cached)."""
    import convviz
    from convviz.site.unit_data import unit_layers
    from convviz.zoo.budget import page_budget

    # the measured cost of a pass, or what the zoo entry's `passes` allows (PageBudget.planned_seconds)
    grid, steps = atlas_plan(page_budget(entry, model, images=len(x)).planned_seconds)
    return convviz.activation_atlas(
        model,
        unit_layers(model)[-1],
        x,
        predicted,
        max_vectors=ATLAS_VECTORS,
        n_epochs=ATLAS_EPOCHS,
        grid=grid,
        min_count=MIN_COUNT,
        icon_size=min(ROBUST_SIZE, *entry.input_shape[:2]),
        steps=steps,
        progress=progress,
        cache=True,
    )


def save_class_map(path: Path, atlas: Any, names: tuple[str, ...]) -> Path:
    """The atlas's class map (:func:`convviz.plot_atlas_classes`) as a PNG in the site's style."""
    from matplotlib.figure import Figure

    from convviz.figures.atlas import plot_atlas_classes
    from convviz.figures.output import save_figure
    from convviz.figures.style import figsize, site_style

    with site_style():
        fig = Figure(figsize=figsize(0.62, width=0.75))
        plot_atlas_classes(atlas, names, ax=fig.add_subplot())
        return save_figure(fig, path)


def write_atlas_page(entry: Any, folder: Path, *, progress: bool = True) -> float | None:
    """Write the activation atlas page of a zoo model into ``folder`` (its ``atlas/`` folder).

    Returns the seconds spent, or None when the page was up to date.
    """
    folder = Path(folder)
    stamp = fingerprint(entry, module_text(__file__) + module_text(str(_CLASS_MAP_CODE)))
    if up_to_date(folder, stamp, "index.md", "atlas.png", "atlas-classes.png"):
        return None
    import convviz  # only now: it imports Keras (seconds)
    from convviz import zoo
    from convviz.core.files import write_if_changed
    from convviz.figures.output import save_image

    start = time.perf_counter()
    model = zoo.load(entry, progress=progress)
    test = zoo.dataset(entry, "test")
    predicted = convviz.predict(model, test.x, cache=True).argmax(axis=1)
    names = tuple(test.class_names)
    try:
        atlas = model_atlas(entry, model, test.x, predicted, progress=progress)
    except InputError as exc:  # said on the page: too few test images or positions to lay out
        if folder.is_dir():
            shutil.rmtree(folder)
        folder.mkdir(parents=True)
        save_image(folder / "atlas.png", np.zeros((1, 1, 4), np.uint8))
        write_if_changed(
            folder / "index.md",
            f"# {markup.text(entry.name)} · activation atlas\n\nNo atlas for this model: {markup.text(str(exc))}.\n",
        )
        write_stamp(folder, stamp)
        return time.perf_counter() - start
    if folder.is_dir():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    save_image(folder / "atlas.png", atlas.image(background=None))
    save_class_map(folder / "atlas-classes.png", atlas, names)
    drawn = np.flatnonzero(atlas.drawn)
    for c in {int(atlas.dominant[i]) for i in drawn}:
        mine = sorted((int(i) for i in drawn if int(atlas.dominant[i]) == c), key=_purest(atlas))
        for i in mine[:CELLS_PER_CLASS]:
            save_image(folder / f"cell{i}.png", atlas.icons[i])
    from convviz.site.unit_data import selected_layers, unit_layers

    paged = atlas.layer in selected_layers(entry, model, unit_layers(model))
    write_if_changed(folder / "index.md", page(entry, atlas, predicted, names, len(test.x), unit_page=paged))
    write_stamp(folder, stamp)
    return time.perf_counter() - start
