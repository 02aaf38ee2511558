"""The report of a diff as ``convviz diff`` writes it and a pull request shows it: its figures and ``diff.json`` in a folder, and a Markdown summary (each side's commit, recipe and weights, the gate's checks, the seed band)."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import keras
import numpy as np

from convviz.compare.result import ModelDiff
from convviz.figures.diff import (
    changed_units,
    figure_size,
    plot_cam_agreement,
    plot_cka,
    plot_confusion_change,
    plot_flips,
    plot_latent_shift,
    plot_unit_change,
    plot_unit_patterns,
)
from convviz.figures.output import save_figure
from convviz.core import markup

if TYPE_CHECKING:
    from collections.abc import Callable

    from matplotlib.axes import Axes


__all__ = ["unit_patterns", "summary_markdown", "write_report"]


def unit_patterns(
    diff: ModelDiff, models: tuple[keras.Model, keras.Model], images: np.ndarray, *, n: int = 4, cache: Any = None
) -> tuple[str, Any, Any] | None:
    """Filter patterns of the :func:`changed_units` in both versions (the ``fast`` recipe at
    the filters page's size: 64 pixels for small inputs): (layer, old patterns, new patterns),
    or None when no conv layer changed."""
    from convviz.store.cached import visualize_filters

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
    from convviz.figures.style import site_style

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

    from convviz.core.files import atomic_write

    def write_text(path: Path, text: str) -> Path:
        atomic_write(path, text.encode())
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
