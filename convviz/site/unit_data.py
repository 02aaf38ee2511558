"""What a model's unit pages show, computed: which layers get pages (the zoo entry's ``units:``), each unit's top test images with their receptive fields (one pass over the test set for every layer), its visualization (the recipe by depth) and how strongly it responds to it compared with its best test image, and its preferred class."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from convviz.core import markup

__all__ = [
    "layer_folder",
    "unit_layers",
    "unit_recipe",
    "selected_layers",
    "preferred_class",
    "tied_classes",
    "visualization_response",
    "diverse_responses",
    "MAX_DEFAULT_UNITS",
    "K",
    "RESPONSE",
    "ROBUST_SIZE",
    "ROBUST_STEPS",
    "N_DIVERSE",
    "DIVERSE_UNITS",
    "facet_units",
    "UnitLayer",
    "UnitStats",
    "compute_layers",
    "unit_comparison",
    "comparison_text",
    "unit_stats",
]


K = 9


RESPONSE = "the unit's strongest response, its maximum over positions"


def layer_folder(name: str) -> str:
    """The folder (and URL segment) of a layer's unit page: the layer's name when it is a safe
    file name (``block1_conv1``), else :func:`convviz.core.markup.path_part` of it (a model file
    may name a layer ``..`` or ``<b>``)."""
    return markup.path_part(name)


def unit_layers(model: Any) -> list[str]:
    """The conv layers whose units get pages: the layers the activations page shows, less
    pooling (a pooling unit is its conv unit, subsampled)."""
    from convviz.graph.choice import conv_layers_after_activation  # Keras: not for a build that changes nothing

    return conv_layers_after_activation(model)


# The robust recipe's steps, measured on the zoo's three models (shapes-cnn, digits-cnn,
# shapes-xception: 653 live units in their deeper halves, 2-core CPU): the share of those
# units whose visualization excites them at least as much as their best test image (both
# the unit's maximum over positions), and the time of the three models' unit pages against
# their time at 40 steps before the pages compared the two:
#   40 steps: 42% (1.04×)   56: 60% (1.23×)   64: 68% (1.4×)   72: 72% (1.55×)
#   96 steps: 81% (~1.7×)  160: 87% (~2.3×)
# 56 steps keep the unit pages within about 30% of their former build time.
ROBUST_STEPS, ROBUST_SIZE = 56, 48


# On the deepest paged layer, the DIVERSE_UNITS units whose top test images are most mixed
# across classes (:func:`facet_units`) also get N_DIVERSE visualizations optimized together with
# lucid's diversity term (:func:`convviz.optvis.diversity.visualize_diverse`): the facets of a
# unit that responds to several things. Every unit of the layer would cost 4× its robust
# visualizations (shapes-cnn's unit pages cold: 84 s instead of 33 s); benchmarks/bench_diversity.py
# measures what these few add to the unit pages' cold build (the goal: at most 20%).
N_DIVERSE, DIVERSE_UNITS = 4, 12


def facet_units(examples: Any, labels: np.ndarray, *, count: int = DIVERSE_UNITS) -> np.ndarray:
    """The positions (in ``examples.units``) of the ``count`` units, dead ones left out, whose
    top test images are least of one class (the fewest of them share the preferred class;
    ties: the lower position first), in ascending order of position."""
    share = np.array([preferred_class(labels[row])[1] for row in examples.indices], int)
    live = np.flatnonzero(~np.asarray(examples.dead, bool))
    order = live[np.argsort(share[live], kind="stable")]
    return np.sort(order[:count])


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
class UnitLayer:
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
    diverse: Any = None  # DiversePatterns of some units of the deepest paged layer (facet_units), else None
    diverse_response: np.ndarray | None = None  # (K, N_DIVERSE): each diverse image's response


MAX_DEFAULT_UNITS = 2048


def selected_layers(entry: Any, model: Any, names: list[str]) -> list[str]:
    """The layers whose units get pages: the zoo entry's ``units:`` (``all``, ``none`` or a
    list of layers); by default every layer when the model has at most
    ``MAX_DEFAULT_UNITS`` units in them, else none (an ImageNet model has tens of thousands:
    list the layers you want)."""
    from convviz.graph.layers import resolve_layer

    choice = entry.units_option
    if choice == "all":
        return names
    if choice == "none":
        return []
    if choice is None:
        total = sum(int(resolve_layer(model, n).output_shape[-1]) for n in names)
        return names if total <= MAX_DEFAULT_UNITS else []
    unknown = [n for n in choice if n not in names]
    if unknown:
        from convviz.zoo.errors import ZooError

        raise ZooError(
            f"zoo model {entry.name!r}: units lists {unknown}, which are not conv layers of the "
            f"model; valid: {', '.join(names)}"
        )
    return [n for n in names if n in choice]


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


def tied_classes(labels: np.ndarray, preferred: int, count: int) -> tuple[int, ...]:
    """The other classes as frequent as ``preferred`` (``count`` images) among a unit's top test
    images (``labels``, best first; -1 unlabelled), in the order of their first image; none when
    ``count`` is 1 (no class occurs twice: a tie of that kind says nothing)."""
    known = np.asarray(labels)
    if count < 2:
        return ()
    order = dict.fromkeys(int(v) for v in known[known >= 0])  # in rank order, once each
    return tuple(c for c in order if c != preferred and int((known == c).sum()) == count)


def visualization_response(model: Any, layer: str, patterns: Any) -> np.ndarray:
    """Each unit's response to its own visualization: its maximum over positions on the
    optimized image, the measure :attr:`convviz.represent.examples.DatasetExamples.values` gives for
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
    from convviz.represent.activations import extract_activations

    out = extract_activations(model, patterns.raw, layers=[layer])[layer]
    own = out[np.arange(len(out)), :, :, np.asarray(patterns.filters)]  # (K, h, w): each image's own unit
    return own.max(axis=(1, 2)).astype(np.float32)


def diverse_responses(model: Any, layer: str, diverse: Any) -> np.ndarray:
    """Each diverse visualization's response (:func:`visualization_response`'s measure):
    float32 (K, n), unit ``filters[i]``'s maximum on ``raw[i, j]``."""
    from convviz.represent.activations import extract_activations

    k, n = diverse.raw.shape[:2]
    out = extract_activations(model, diverse.raw.reshape(k * n, *diverse.raw.shape[2:]), layers=[layer])[layer]
    own = out[np.arange(k * n), :, :, np.repeat(np.asarray(diverse.filters), n)]
    return own.max(axis=(1, 2)).reshape(k, n).astype(np.float32)


@dataclass(frozen=True)
class UnitStats:
    """Per unit of a layer: what its overview row and its section say."""

    preferred: np.ndarray  # class index, -1: none
    count: np.ndarray  # top images of that class
    firing: np.ndarray  # share of the test images where its maximum is above zero
    dead: np.ndarray
    best: np.ndarray  # its best test image's response
    response: np.ndarray  # its visualization's response (NaN: nothing to show)
    tied: tuple[tuple[int, ...], ...] | None = None  # per unit, the classes as frequent as the preferred one


def unit_stats(layer: UnitLayer, labels: np.ndarray) -> UnitStats:
    ex, pat = layer.examples, layer.patterns
    prefs = [preferred_class(labels[row]) for row in ex.indices]
    response = np.asarray(layer.response, np.float64).copy()
    response[ex.dead | pat.unexcited | pat.dead] = np.nan  # no visualization: gray
    return UnitStats(
        preferred=np.array([p for p, _ in prefs], int),
        count=np.array([c for _, c in prefs], int),
        firing=(ex.maxima > 0).mean(axis=0),
        dead=ex.dead,
        best=ex.values[:, 0].astype(np.float64),
        response=response,
        tied=tuple(tied_classes(labels[row], p, c) for row, (p, c) in zip(ex.indices, prefs)),
    )


def unit_comparison(units: UnitStats) -> tuple[int, int, float]:
    """How many visualizations excite their unit at least as much as its best test image,
    of how many that can be compared, and the median ratio (NaN: none)."""
    ok = np.isfinite(units.response) & (units.best > 0)
    if not ok.any():
        return 0, 0, float("nan")
    ratio = units.response[ok] / units.best[ok]
    return int((ratio >= 1).sum()), int(ok.sum()), float(np.median(ratio))


def comparison_text(units: UnitStats) -> str:
    """What a layer page says of :func:`unit_comparison`: the count, the median ratio, the units left out."""
    above, of, median = unit_comparison(units)
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
    return f"On that measure {verdict} (median ratio {median:.2g}×).{_left_out_text(units, of)}"


def _left_out_text(units: UnitStats, compared: int) -> str:
    """Which units have no comparison, and why (the index's count is of the others)."""
    left = len(units.best) - compared
    if not left:
        return ""
    dead = int((units.best <= 0).sum())
    blank = left - dead  # they fire on the test images; no start image could excite them
    why = [f"{dead} never {'fires' if dead == 1 else 'fire'} on the test images"] if dead else []
    if blank:
        has = "has" if blank == 1 else "have"
        them = "it" if blank == 1 else "them"
        why.append(
            f"{blank} {has} no visualization, as no start image could excite {them} in this page's ascent "
            "(the filter patterns page, on a larger image, may; each unit's section says more)"
        )
    units_are = "unit is" if left == 1 else f"{left} units are"
    return f" The other {units_are} not compared: {' and '.join(why)}."


def compute_layers(entry: Any, model: Any, x: np.ndarray, labels: np.ndarray, *, progress: bool) -> list[UnitLayer]:
    import convviz
    from convviz.graph.fields import receptive_field
    from convviz.graph.layers import resolve_layer

    names = unit_layers(model)
    pages = selected_layers(entry, model, names)
    data_range = (float(x.min()), float(x.max()))
    t0 = time.perf_counter()
    # one pass for all; no crops: the unit images frame the field on the image themselves, and the
    # crops of a deep layer of an ImageNet model (2048 units × 9 whole images) would not fit in memory
    every = convviz.dataset_examples_of_layers(model, names, x, k=min(K, len(x)), crop=False, cache=True)
    shared = (time.perf_counter() - t0) / max(len(names), 1)  # each layer's share of it
    out = []
    for i, name in enumerate(names):
        t0 = time.perf_counter() - shared
        info = resolve_layer(model, name)
        field = receptive_field(model, name)
        recipe, steps, size = unit_recipe(i, len(names), max(field.size), min(entry.input_shape[:2]))
        patterns = response = diverse = diverse_response = None
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
            facets = (
                facet_units(every[name], np.asarray(labels))
                if name == pages[-1] and recipe == "robust"
                else np.zeros(0, int)
            )
            if len(facets):
                diverse = convviz.visualize_diverse(
                    model,
                    name,
                    np.asarray(every[name].units)[facets],
                    n_diverse=N_DIVERSE,
                    steps=steps,
                    image_size=size,
                    crop=size // 16,
                    data=x[:512],
                    progress=progress,
                    cache=True,
                )
                diverse_response = diverse_responses(model, name, diverse)
        shape = tuple(int(d) for d in info.output_shape[1:])
        seconds = time.perf_counter() - t0
        out.append(
            UnitLayer(
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
                diverse,
                diverse_response,
            )
        )
    return out
