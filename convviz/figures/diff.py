"""Figures, summary and files of a model diff (what ``convviz diff`` and the changes page show).

Plot functions take the :class:`~convviz.compare.result.ModelDiff` and ``ax: Axes | None = None`` and return the Axes;
:func:`summary_markdown` writes the pull-request comment; :func:`write_report` saves
everything. :mod:`convviz.review.revisions` reads the two sides (zoo entries, model files,
``ENTRY@REV``)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from convviz.compare.result import ModelDiff
from convviz.figures.heatmaps import overlay_heatmap, plot_heat_colorbar
from convviz.figures.style import HEAT_SCALE
from convviz.figures.output import given_or_new_axes
from convviz.core.errors import InputError

if TYPE_CHECKING:
    from matplotlib.axes import Axes

    from convviz.optvis.filters import FilterPatterns


__all__ = [
    "plot_cam_agreement",
    "plot_cka",
    "plot_confusion_change",
    "plot_flips",
    "plot_latent_shift",
    "plot_unit_change",
    "plot_unit_patterns",
    "changed_units",
    "confusion_figsize",
    "figure_size",
]


def plot_cka(
    diff: ModelDiff,
    *,
    ax: Axes | None = None,
    title: str | None = "Layer similarity, old vs new (linear CKA)",
    band: Mapping[str, float] | None = None,
) -> Axes:
    """One bar per matched layer in forward order: 1 = the layer represents the images as
    before; lower = it changed. ``band`` (each layer's lowest CKA between seeds of the recipe,
    :class:`convviz.review.seedband.SeedBand`) draws a black mark per layer, and the bars that
    end left of their mark (changed more than a reseed) are red; without a band the most
    changed layer is red. The legend says which."""
    keys = list(diff.cka)
    values = np.array([diff.cka[k] for k in keys], np.float64)
    ax = given_or_new_axes(ax, (7, 0.35 * len(keys) + 1.2))
    if band:  # red: changed more than retraining with another seed does
        red = {k for k, v in zip(keys, values) if k in band and math.isfinite(v) and v < band[k]}
        red_label, blue_label = "changed more than a reseed", "within the seeds' range"
    else:  # red: the most changed layer
        worst = diff.most_changed_layer()  # None: every layer has CKA 1
        red = set() if worst is None else {worst}
        red_label, blue_label = "most changed layer", "other layers"
    colors = ["#d62728" if k in red else "#1f77b4" for k in keys]
    y = np.arange(len(keys))
    ax.barh(y, np.nan_to_num(values, nan=0.0), color=colors)
    from matplotlib.patches import Patch

    handles: list[Any] = [Patch(color="#d62728", label=red_label)] if red & set(keys) else []
    handles.append(Patch(color="#1f77b4", label=blue_label))
    for i, v in enumerate(values):
        mark = band.get(keys[i], v) if band else v
        end = min(v, mark) if abs(mark - v) < 0.12 else v  # the label ends left of a seed mark near the bar's end
        ax.text(
            min(end, 1.0) - 0.02 if math.isfinite(v) else 0.01,
            i,
            "undefined" if not math.isfinite(v) else f" {v:.3f}",
            va="center",
            ha="right" if math.isfinite(v) and v > 0.15 else "left",
            fontsize=9,
            color="white" if math.isfinite(v) and v > 0.15 else "black",
        )
    if band:
        marks = [(i, band[k]) for i, k in enumerate(keys) if k in band]
        handles.append(
            ax.scatter(
                [m[1] for m in marks],
                [m[0] for m in marks],
                marker="|",
                s=260,
                linewidths=2.2,
                color="black",
                zorder=3,
                label="lowest CKA between seeds",
            )
        )
    ax.legend(
        handles=handles,
        loc="upper left",
        bbox_to_anchor=(0, -0.14 - 0.3 / max(len(keys), 1)),
        frameon=False,
        fontsize=9,
    )
    ax.set_yticks(y, keys, fontsize=9)
    ax.invert_yaxis()
    ax.set_xlim(0, 1)
    ax.set_xlabel("CKA (1 = unchanged)")
    if title:
        ax.set_title(title)
    return ax


def figure_size(kind: str, diff: ModelDiff) -> tuple[float, float]:
    """The size (inches) of one of the diff's figures as the changes page and ``convviz diff``
    draw it: ``"cka"``, ``"confusion"``, ``"cam agreement"``, ``"latent shift"``, ``"units"``."""
    from convviz.figures.style import COLUMN_WIDTH

    sizes = {
        "cka": (0.85 * COLUMN_WIDTH, 0.3 * len(diff.cka) + 2.1),  # the legend: up to three rows under the axes
        "confusion": confusion_figsize(diff.num_classes),
        "cam agreement": (0.85 * COLUMN_WIDTH, 3.0),
        "latent shift": (COLUMN_WIDTH, 0.72 * COLUMN_WIDTH),
        "units": (0.85 * COLUMN_WIDTH, 3.0),
    }
    if kind not in sizes:
        raise InputError(f"unknown figure {kind!r}; valid: {', '.join(sizes)}")
    return sizes[kind]


def confusion_figsize(classes: int) -> tuple[float, float]:
    """A figure size for :func:`plot_confusion_change` that keeps a few classes readable and
    many classes on a page."""
    return min(0.45 * classes + 2.5, 7.5), min(0.45 * classes + 2, 6.5)


def plot_confusion_change(
    diff: ModelDiff, *, class_names: Sequence[str] | None = None, ax: Axes | None = None, title: str | None = None
) -> Axes:
    """The new confusion matrix minus the old one, each cell's change written in it; colored
    by what it means: blue = better (more right on the diagonal, fewer confusions off it),
    red = worse. Needs labels."""
    c = diff.confusion()
    if c is None:
        raise InputError("the diff has no labels: a confusion matrix needs the true classes")
    d = c[1] - c[0]
    k = len(d)
    good = np.where(np.eye(k, dtype=bool), d, -d)
    names = list(class_names) if class_names is not None else [str(i) for i in range(k)]
    ax = given_or_new_axes(ax, confusion_figsize(k))
    lim = max(1, int(np.abs(d).max()))
    ax.imshow(good, cmap="RdBu", vmin=-lim, vmax=lim)
    if k <= 20:
        for (i, j), v in np.ndenumerate(d):
            if v:
                color = "white" if abs(v) > lim / 2 else "black"
                ax.text(j, i, f"{v:+d}", ha="center", va="center", fontsize=9, color=color)
        ax.set_xticks(range(k), names, rotation=45, ha="right", fontsize=9)
        ax.set_yticks(range(k), names, fontsize=9)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    ax.set_title(title or "Confusion matrix, new − old (blue: better, red: worse)")
    return ax


def plot_cam_agreement(diff: ModelDiff, *, ax: Axes | None = None, title: str | None = None) -> Axes:
    """Histogram of the per-image correlation of the two versions' Grad-CAMs."""
    r = diff.cam_correlation[np.isfinite(diff.cam_correlation)]
    ax = given_or_new_axes(ax, (6, 3))
    ax.hist(r, bins=np.linspace(-1, 1, 41).tolist(), color="#1f77b4")
    if len(r):
        ax.axvline(float(np.median(r)), color="black", linestyle="--", linewidth=1)
        med = float(np.median(r))
        right = med > 0  # the label on the side of the line away from most of the bars
        label = f"median {med:.2f} " if right else f" median {med:.2f}"
        ax.text(med, ax.get_ylim()[1] * 0.95, label, va="top", ha="right" if right else "left", fontsize=9)
    ax.set_xlim(-1, 1)
    ax.set_xlabel("correlation of old and new Grad-CAM, per image")
    ax.set_ylabel("images")
    flat = int(np.sum(~np.isfinite(diff.cam_correlation)))
    text = title or "Do the explanations still point at the same place?"
    ax.set_title(text + (f"\n{flat} image(s) with a flat map left out" if flat else ""))
    return ax


def plot_latent_shift(
    diff: ModelDiff,
    *,
    top: int = 10,
    class_names: Sequence[str] | None = None,
    ax: Axes | None = None,
    title: str | None = None,
) -> Axes:
    """Both versions' penultimate features after Procrustes alignment, on the old version's
    two principal axes: new places colored by class, old places as gray rings, an arrow from
    old to new for the ``top`` images that moved most, labelled with their rank (``#1`` moved
    most; a rank, not a class)."""
    from convviz.figures.embedding import plot_embedding

    y = diff.explained_classes()
    ax = given_or_new_axes(ax, (7, 6))
    ax.scatter(
        diff.latent_old[:, 0],
        diff.latent_old[:, 1],
        s=9,
        facecolors="none",
        edgecolors="0.75",
        linewidths=0.5,
        label="old place (any class)",
    )
    plot_embedding(diff.latent_new, y, class_names=class_names, ax=ax, s=5)
    moved = np.argsort(-diff.latent_shift, kind="stable")[:top]
    for rank, i in enumerate(moved, start=1):
        (x0, y0), (x1, y1) = diff.latent_old[i], diff.latent_new[i]
        ax.annotate("", (x1, y1), (x0, y0), arrowprops=dict(arrowstyle="->", color="black", lw=0.8))
        ax.annotate(f"#{rank}", (x1, y1), xytext=(3, 3), textcoords="offset points", fontsize=9)
    if len(moved):
        ax.plot([], [], color="black", lw=0.8, label=f"#1–#{len(moved)}: moved most, old → new")
        ax.legend(fontsize=9, markerscale=2, loc="upper left", bbox_to_anchor=(1.01, 1), frameon=False)
    ax.set_title(title or f"Latent space, aligned (Procrustes disparity {diff.latent_disparity:.3f})")
    return ax


def plot_unit_change(diff: ModelDiff, layer: str, *, ax: Axes | None = None, title: str | None = None) -> Axes:
    """Per unit of ``layer``, sorted: 1 − the correlation of its response across the images."""
    if layer not in diff.unit_change:
        raise InputError(f"no per-unit change for {layer!r}; layers with one: {', '.join(diff.unit_change) or 'none'}")
    v = np.sort(diff.unit_change[layer])[::-1]
    ax = given_or_new_axes(ax, (6, 3))
    # a unit constant (dead) in one version only has no correlation: its change is set to 1
    one_sided = v == 1.0
    x = np.arange(len(v))
    ax.bar(x[~one_sided], v[~one_sided], width=1.0, color="#1f77b4", label="alive in both: 1 − correlation")
    if one_sided.any():
        ax.bar(x[one_sided], v[one_sided], width=1.0, color="0.6", label="dead in one version only (set to 1)")
        ax.legend(loc="upper right", frameon=False, fontsize=9)
    ax.set_xlabel(f"units of {layer}, most changed first")
    ax.set_ylabel("1 − response correlation")
    ax.set_ylim(0, max(1.0, float(v.max()) if len(v) else 1.0))
    ax.set_title(title or f"How much each unit of {layer} changed")
    return ax


def changed_units(diff: ModelDiff, *, n: int = 4, spatial_only: bool = True) -> tuple[str, np.ndarray] | None:
    """The most changed layer that has per-unit numbers (a conv layer when ``spatial_only``,
    by lowest CKA) and its ``n`` most changed units, or None when no such layer changed."""
    candidates = [
        k
        for k, v in diff.cka.items()
        if k in diff.unit_change and math.isfinite(v) and v < 1 - 1e-6 and (not spatial_only or diff.pooled_layer(k))
    ]
    if not candidates:
        return None
    layer = min(candidates, key=diff.cka.__getitem__)
    change = diff.unit_change[layer]
    return layer, np.argsort(-change, kind="stable")[:n]


def plot_unit_patterns(
    old_patterns: FilterPatterns, new_patterns: FilterPatterns, change: np.ndarray, *, axes: Any = None
) -> Any:
    """Filter patterns of the same units in both versions: a column per unit, old above new,
    titled with the unit's response change. Returns the (2, K) array of Axes."""
    import matplotlib.pyplot as plt

    k = len(old_patterns.filters)
    if axes is None:
        from convviz.figures.style import COLUMN_WIDTH

        _, axes = plt.subplots(2, k, figsize=(min(COLUMN_WIDTH, 1.9 * k + 0.6), 4.3), squeeze=False)
    for j in range(k):
        unit = int(old_patterns.filters[j])
        for row, (who, p) in enumerate((("old", old_patterns), ("new", new_patterns))):
            ax = axes[row, j]
            img = p.images[j]
            gray = img.shape[-1] == 1
            ax.imshow(img[..., 0] if gray else img, cmap="gray" if gray else None, vmin=0, vmax=255)
            ax.set_xticks([])
            ax.set_yticks([])
            if p.dead[j] or p.unexcited[j]:
                ax.set_xlabel("dead on data" if p.dead[j] else "not excited", fontsize=9)
            if j == 0:
                ax.set_ylabel(who)
        axes[0, j].set_title(f"unit {unit}\nchange {change[unit]:.2f}", fontsize=9)
    return axes


def _flip_order(diff: ModelDiff) -> np.ndarray:
    flips = diff.flips
    if diff.labels is None:
        return flips[np.argsort(-np.abs(diff.probability_change()[flips]), kind="stable")]
    broken, fixed = set(diff.broken.tolist()), set(diff.fixed.tolist())
    rank = np.array([0 if i in broken else 1 if i in fixed else 2 for i in flips])
    return flips[np.lexsort((-np.abs(diff.probability_change()[flips]), rank))]


def plot_flips(
    diff: ModelDiff, images: np.ndarray, *, class_names: Sequence[str] | None = None, n: int = 6, axes: Any = None
) -> Any:
    """The prediction flips (right→wrong first, then wrong→right), one row each: the image,
    then the old and the new version's Grad-CAM with their prediction and probability, and
    the maps' colour bar under them. Returns the (rows, 3) array of Axes."""
    import matplotlib.pyplot as plt

    order = _flip_order(diff)[:n]
    if not len(order):
        raise InputError("no prediction flipped: nothing to show")
    names = list(class_names) if class_names is not None else [str(i) for i in range(diff.num_classes)]
    if axes is None:
        from convviz.figures.style import COLUMN_WIDTH

        _, axes = plt.subplots(len(order), 3, figsize=(COLUMN_WIDTH, 2.6 * len(order)), squeeze=False)
    imgs = np.asarray(images)
    broken, fixed, explained = set(diff.broken.tolist()), set(diff.fixed.tolist()), diff.explained_classes()
    for row, i in zip(axes, order):
        img = imgs[i] if imgs.shape[-1] == 3 else np.repeat(imgs[i], 3, axis=-1)
        truth = "" if diff.labels is None or diff.labels[i] < 0 else f"true: {names[diff.labels[i]]}"
        kind = "right → wrong" if i in broken else "wrong → right" if i in fixed else "changed"
        row[0].imshow(img)
        c = int(explained[i])
        p_old, p_new = diff.probabilities_old[i, c], diff.probabilities_new[i, c]
        head = [f"#{i} {kind}", *([truth] if truth else []), f"p({names[c]}): {p_old:.0%} → {p_new:.0%}"]
        row[0].set_title("\n".join(head), fontsize=9, loc="left")
        for ax, maps, pred, probs, who in (
            (row[1], diff.cam_old, diff.predicted_old, diff.probabilities_old, "old"),
            (row[2], diff.cam_new, diff.predicted_new, diff.probabilities_new, "new"),
        ):
            ax.imshow(overlay_heatmap(img, maps[i]))
            ax.set_title(
                f"{who}: Grad-CAM for {names[c]}\n{who} predicts {names[pred[i]]} ({probs[i, pred[i]]:.0%})",
                fontsize=9,
                loc="left",
            )
        for ax in row:
            ax.set_axis_off()
    plot_heat_colorbar(axes[:, 1:], label=f"Grad-CAM, {HEAT_SCALE}", orientation="horizontal")
    engine = axes[0, 0].figure.get_layout_engine()
    if engine is not None and hasattr(engine, "set") and "h_pad" in engine.get():
        engine.set(h_pad=0.12)  # room between a row's images and the next row's titles
    return axes
