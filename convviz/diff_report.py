"""Figures, summary and files of a model diff (what ``convviz diff`` and the changes page show).

Plot functions take the :class:`~convviz.diff.ModelDiff` and ``ax: Axes | None = None`` and return the Axes;
:func:`summary_markdown` writes the pull-request comment; :func:`write_report` saves
everything. :mod:`convviz.revisions` reads the two sides (zoo entries, model files,
``ENTRY@REV``).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import keras
import numpy as np

from convviz import markup
from convviz.diff import ModelDiff
from convviz.plot import _axes, overlay_heatmap, save_figure

if TYPE_CHECKING:
    from collections.abc import Callable

    from matplotlib.axes import Axes

    from convviz.filters import FilterPatterns

__all__ = [
    "plot_cam_agreement",
    "plot_cka",
    "plot_confusion_change",
    "plot_flips",
    "plot_latent_shift",
    "plot_unit_change",
    "plot_unit_patterns",
    "unit_patterns",
    "changed_units",
    "confusion_figsize",
    "figure_size",
    "summary_markdown",
    "write_report",
]


# ----------------------------------------------------------------------------- figures


def plot_cka(
    diff: ModelDiff,
    *,
    ax: Axes | None = None,
    title: str | None = "Layer similarity, old vs new (linear CKA)",
    band: Mapping[str, float] | None = None,
) -> Axes:
    """One bar per matched layer in forward order: 1 = the layer represents the images as
    before; lower = it changed. The most changed layer is drawn in red. ``band`` (each
    layer's lowest CKA between seeds of the recipe, :class:`convviz.seedband.SeedBand`)
    draws a black mark per layer: a bar that ends left of it changed more than a reseed."""
    keys = list(diff.cka)
    values = np.array([diff.cka[k] for k in keys], np.float64)
    ax = _axes(ax, (7, 0.35 * len(keys) + 1.2))
    worst = diff.most_changed_layer()
    colors = ["#d62728" if k == worst else "#1f77b4" for k in keys]
    y = np.arange(len(keys))
    ax.barh(y, np.nan_to_num(values, nan=0.0), color=colors)
    for i, v in enumerate(values):
        ax.text(
            min(v, 0.98) if math.isfinite(v) else 0.01,
            i,
            "undefined" if not math.isfinite(v) else f" {v:.3f}",
            va="center",
            ha="right" if math.isfinite(v) and v > 0.15 else "left",
            fontsize=9,
            color="white" if math.isfinite(v) and v > 0.15 else "black",
        )
    if band:
        marks = [(i, band[k]) for i, k in enumerate(keys) if k in band]
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
        ax.legend(loc="upper left", bbox_to_anchor=(0, -0.14 - 0.3 / max(len(keys), 1)), frameon=False)
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
    from convviz.style import COLUMN_WIDTH

    sizes = {
        "cka": (0.85 * COLUMN_WIDTH, 0.3 * len(diff.cka) + 1.3),
        "confusion": confusion_figsize(diff.num_classes),
        "cam agreement": (0.85 * COLUMN_WIDTH, 3.0),
        "latent shift": (COLUMN_WIDTH, 0.72 * COLUMN_WIDTH),
        "units": (0.85 * COLUMN_WIDTH, 3.0),
    }
    if kind not in sizes:
        raise ValueError(f"unknown figure {kind!r}; valid: {', '.join(sizes)}")
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
        raise ValueError("the diff has no labels: a confusion matrix needs the true classes")
    d = c[1] - c[0]
    k = len(d)
    good = np.where(np.eye(k, dtype=bool), d, -d)
    names = list(class_names) if class_names is not None else [str(i) for i in range(k)]
    ax = _axes(ax, confusion_figsize(k))
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
    ax = _axes(ax, (6, 3))
    ax.hist(r, bins=np.linspace(-1, 1, 41).tolist(), color="#1f77b4")
    if len(r):
        ax.axvline(float(np.median(r)), color="black", linestyle="--", linewidth=1)
        ax.text(float(np.median(r)), ax.get_ylim()[1] * 0.95, f" median {np.median(r):.2f}", va="top", fontsize=9)
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
    old to new for the ``top`` images that moved most."""
    from convviz.plot import plot_embedding

    y = diff.explained_classes()
    ax = _axes(ax, (7, 6))
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
        ax.annotate(str(rank), (x1, y1), xytext=(3, 3), textcoords="offset points", fontsize=9)
    ax.set_title(title or f"Latent space, aligned (Procrustes disparity {diff.latent_disparity:.3f})")
    return ax


def plot_unit_change(diff: ModelDiff, layer: str, *, ax: Axes | None = None, title: str | None = None) -> Axes:
    """Per unit of ``layer``, sorted: 1 − the correlation of its response across the images."""
    if layer not in diff.unit_change:
        raise ValueError(f"no per-unit change for {layer!r}; layers with one: {', '.join(diff.unit_change) or 'none'}")
    v = np.sort(diff.unit_change[layer])[::-1]
    ax = _axes(ax, (6, 3))
    ax.bar(np.arange(len(v)), v, width=1.0, color="#1f77b4")
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


def unit_patterns(
    diff: ModelDiff, models: tuple[keras.Model, keras.Model], images: np.ndarray, *, n: int = 4, cache: Any = None
) -> tuple[str, Any, Any] | None:
    """Filter patterns of the :func:`changed_units` in both versions (the ``fast`` recipe at
    the filters page's size: 64 pixels for small inputs): (layer, old patterns, new patterns),
    or None when no conv layer changed."""
    from convviz.filters import visualize_filters

    picked = changed_units(diff, n=n)
    if picked is None:
        return None
    layer, units = picked
    size = max(64, int(np.asarray(images).shape[1]))
    old, new = (
        visualize_filters(
            m, name, units, image_size=size, crop=size // 16, recipe="fast", data=images[:256], cache=cache
        )
        for m, name in zip(models, diff.pair(layer))
    )
    return layer, old, new


def plot_unit_patterns(
    old_patterns: FilterPatterns, new_patterns: FilterPatterns, change: np.ndarray, *, axes: Any = None
) -> Any:
    """Filter patterns of the same units in both versions: a column per unit, old above new,
    titled with the unit's response change. Returns the (2, K) array of Axes."""
    import matplotlib.pyplot as plt

    k = len(old_patterns.filters)
    if axes is None:
        from convviz.style import COLUMN_WIDTH

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
    then the old and the new version's Grad-CAM with their prediction and probability.
    Returns the (rows, 3) array of Axes."""
    import matplotlib.pyplot as plt

    order = _flip_order(diff)[:n]
    if not len(order):
        raise ValueError("no prediction flipped: nothing to show")
    names = list(class_names) if class_names is not None else [str(i) for i in range(diff.num_classes)]
    if axes is None:
        from convviz.style import COLUMN_WIDTH

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
    return axes


# ----------------------------------------------------------------------------- summary


def _pct(v: float) -> str:
    return f"{v * 100:.2f}%"


def _short(side: dict[str, Any]) -> str:
    commit = side.get("commit") or "working tree"
    parts = [markup.code_span(commit[:12] + ("+" if commit.endswith("+") else ""))]
    if side.get("recipe_digest"):
        parts.append(f"recipe {markup.code_span(side['recipe_digest'][:12])}")
    if side.get("weights_sha256"):
        parts.append(f"weights {markup.code_span(side['weights_sha256'][:12])}")
    return ", ".join(parts)


def summary_markdown(
    diff: ModelDiff,
    *,
    old: str = "old",
    new: str = "new",
    class_names: Sequence[str] | None = None,
    figures: str | None = None,
    sides: tuple[dict[str, Any], dict[str, Any]] | None = None,
    reasons: Sequence[str] = (),
    checks: Sequence[Any] = (),
    band: Any = None,
) -> str:
    """A short markdown summary for a pull-request comment or a job summary: ``reasons`` why
    the model counts as changed, the two ``sides`` (commit, recipe digest, weights), the
    numbers, each layer against the seed ``band`` and the gate's ``checks``."""
    lines = [f"### convviz diff: {markup.code_span(old)} → {markup.code_span(new)}", ""]
    if reasons:
        lines += [f"**Why it counts as changed**: {markup.text('; '.join(reasons))}.", ""]
    if sides is not None:
        lines += [f"**Compared**: old {_short(sides[0])}; new {_short(sides[1])}.", ""]
    if checks:
        failed = [c for c in checks if not c.passed]
        lines += [
            f"**Gate**: {'FAILED, ' + str(len(failed)) + ' of ' if failed else 'passed, all '}{len(checks)} thresholds"
            + (" failed." if failed else "."),
            "",
            "| threshold | this diff | limit | |",
            "|---|---:|---:|---|",
        ]
        for c in checks:
            value = "not measured" if c.value is None else f"{c.value:.3f}" if c.key == "min_cka" else f"{c.value:g}"
            lines.append(
                f"| {c.key.replace('_', ' ')} | {value} | {c.limit:g} | {'passed' if c.passed else '**failed**'} |"
            )
        lines.append("")
    flips = diff.flips
    if diff.unchanged():
        lines += [
            f"**No change**: none of the {diff.n:,} predictions flipped and every compared layer has CKA 1.000.",
            "",
        ]
    acc = diff.accuracy()
    lines += ["| | old | new | change |", "|---|---:|---:|---:|"]
    if acc is not None:
        lines.append(f"| accuracy | {_pct(acc[0])} | {_pct(acc[1])} | {(acc[1] - acc[0]) * 100:+.2f} points |")
    if diff.pointing_old is not None and diff.pointing_new is not None:
        po, pn = float(diff.pointing_old.mean()), float(diff.pointing_new.mean())
        lines.append(f"| Grad-CAM pointing game | {_pct(po)} | {_pct(pn)} | {(pn - po) * 100:+.2f} points |")
    if diff.sanity_old is not None and diff.sanity_new is not None:
        (vo, so), (vn, sn) = diff.sanity_old, diff.sanity_new
        lines.append(
            f"| Grad-CAM randomization check (rank correlation once randomized) | {vo} ({so:.2f}) | {vn} ({sn:.2f}) | |"
        )
    lines += [
        "",
        f"**Predictions flipped**: {len(flips):,} of {diff.n:,}"
        + (
            f" ({len(diff.broken)} right → wrong, {len(diff.fixed)} wrong → right)." if diff.labels is not None else "."
        ),
    ]
    pca = diff.per_class_accuracy()
    if pca is not None and class_names is not None:
        change = pca[1] - pca[0]
        moved = [
            (class_names[c], change[c])
            for c in np.argsort(change)
            if np.isfinite(change[c]) and abs(change[c]) >= 0.005
        ]
        if moved:
            lines.append(
                "Per-class accuracy moved for "
                + ", ".join(f"{markup.text(n)} ({v * 100:+.1f})" for n, v in moved[:6])
                + "."
            )
    if band is not None:
        low = band.low()
        below = [(k, v, low[k]) for k, v in diff.cka.items() if k in low and math.isfinite(v) and v < low[k]]
        lines.append(
            f"**Against seed noise** ({len(band.seeds)} other seed{'s' if len(band.seeds) != 1 else ''} of the recipe): "
            + (
                f"{len(below)} of {len(low)} layers changed more than a reseed changes them: "
                + ", ".join(f"{markup.code_span(k)} ({v:.3f} < {b:.3f})" for k, v, b in below[:6])
                + "."
                if below
                else f"every one of the {len(low)} layers stays within what a reseed changes."
            )
        )
    worst = diff.most_changed_layer()
    if worst is not None:
        changed = [k for k, v in diff.cka.items() if math.isfinite(v) and v < 0.99]
        lines.append(
            f"**Layers**: lowest CKA {diff.cka[worst]:.3f} at {markup.code_span(worst)}; {len(changed)} of {len(diff.cka)} "
            "compared layers below 0.99" + (f" (first: {markup.code_span(changed[0])})." if changed else ".")
        )
    corr = diff.cam_correlation[np.isfinite(diff.cam_correlation)]
    if len(corr):
        lines.append(
            f"**Explanations**: median correlation of the two Grad-CAMs {np.median(corr):.3f}; "
            f"{int(np.sum(corr < 0.5))} image(s) below 0.5."
        )
    lines.append(
        f"**Latent space**: Procrustes disparity {diff.latent_disparity:.3f} (0 = same up to rotation and scale)."
    )
    if figures:
        lines += ["", f"Figures: {markup.text(figures)}"]
    return "\n".join(lines) + "\n"


# ----------------------------------------------------------------------------- files


def write_report(
    diff: ModelDiff,
    out: str | Path,
    images: np.ndarray,
    *,
    old: str = "old",
    new: str = "new",
    class_names: Sequence[str] | None = None,
    flips: int = 6,
    models: tuple[keras.Model, keras.Model] | None = None,
    cache: Any = None,
    review: Mapping[str, Any] | None = None,
) -> dict[str, Path]:
    """Save the figures (PNG, in the site's figure style), ``diff.json`` and ``summary.md``
    into ``out``; returns them by name.

    With ``models`` (old, new), also the filter patterns of the most changed conv layer's
    most changed units in both versions (``unit_patterns.png``). ``review``: what a
    pull request's review adds (``sides``, ``reasons``, ``checks``, ``band``: see
    :func:`summary_markdown`), into the summary and ``diff.json``."""
    from convviz.style import site_style

    with site_style():
        return _write_report(diff, out, images, old, new, class_names, flips, models, cache, dict(review or {}))


def _write_report(
    diff: ModelDiff,
    out: str | Path,
    images: np.ndarray,
    old: str,
    new: str,
    class_names: Sequence[str] | None,
    flips: int,
    models: tuple[keras.Model, keras.Model] | None,
    cache: Any,
    review: dict[str, Any],
) -> dict[str, Path]:
    import matplotlib.pyplot as plt

    from convviz.shipped import _atomic

    def write_text(path: Path, text: str) -> Path:
        _atomic(path, text.encode())
        return path

    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    written: dict[str, Path] = {}

    def save(name: str, kind: str, draw: Callable[[Axes], object]) -> None:
        fig, ax = plt.subplots(figsize=figure_size(kind, diff))
        draw(ax)
        written[name] = save_figure(fig, folder / f"{name}.png")
        plt.close(fig)

    save("cka", "cka", lambda ax: plot_cka(diff, ax=ax))
    if diff.labels is not None:
        save("confusion", "confusion", lambda ax: plot_confusion_change(diff, class_names=class_names, ax=ax))
    save("cam_agreement", "cam agreement", lambda ax: plot_cam_agreement(diff, ax=ax))
    save("latent", "latent shift", lambda ax: plot_latent_shift(diff, class_names=class_names, ax=ax))
    worst = diff.most_changed_layer()
    if worst is not None and worst in diff.unit_change:
        save("units", "units", lambda ax: plot_unit_change(diff, worst, ax=ax))
    patterns = None if models is None else unit_patterns(diff, models, images, cache=cache)
    if patterns is not None:
        layer, old_patterns, new_patterns = patterns
        axes = plot_unit_patterns(old_patterns, new_patterns, diff.unit_change[layer])
        fig = axes[0, 0].figure
        fig.suptitle(f"{layer}: the units whose response changed most", x=0.02, ha="left")
        written["unit_patterns"] = save_figure(fig, folder / "unit_patterns.png")
        plt.close(fig)
    if len(diff.flips):
        axes = plot_flips(diff, images, class_names=class_names, n=flips)
        fig = axes[0, 0].figure
        written["flips"] = save_figure(fig, folder / "flips.png")
        plt.close(fig)
    numbers = {"old": old, "new": new, **diff.numbers()}
    if review.get("sides"):
        numbers["sides"] = {"old": review["sides"][0], "new": review["sides"][1]}
    if review.get("reasons"):
        numbers["changed_because"] = list(review["reasons"])
    if review.get("checks"):
        numbers["gate"] = [
            {"threshold": c.key, "limit": c.limit, "value": c.value, "passed": c.passed} for c in review["checks"]
        ]
    if review.get("band") is not None:
        numbers["seed_band"] = review["band"].to_json()
    written["diff.json"] = write_text(folder / "diff.json", json.dumps(numbers, indent=1) + "\n")
    figures = ", ".join(f"{p.name}" for n, p in written.items() if p.suffix == ".png")
    written["summary.md"] = write_text(
        folder / "summary.md",
        summary_markdown(diff, old=old, new=new, class_names=class_names, figures=figures, **review),
    )
    return written
