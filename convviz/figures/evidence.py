"""Figures of the evidence for heatmaps: the randomization check's similarity as the weights are re-drawn, layer by layer; the scorecard's marks per method and family."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from convviz.figures.output import given_or_new_axes

if TYPE_CHECKING:
    from matplotlib.axes import Axes

    from convviz.evaluate.sanity import RandomizationResult
    from convviz.evaluate.scorecard import Scorecard


__all__ = ["plot_randomization", "plot_scorecard", "MARK_COLORS"]

# pass, warn, fail, not applicable: green, amber, red, gray (white text reads on each)
MARK_COLORS = {"pass": "#2e7d32", "warn": "#9a5c00", "fail": "#c62828", "n/a": "#757575"}  # white at 4.5:1 or more


_LINES = ("-", "--", "-.", ":")


_MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")


def plot_randomization(
    results: Sequence[RandomizationResult], *, ax: Axes | None = None, metric: str = "spearman"
) -> Axes:
    """Similarity to the trained model's maps as layers are randomized, one line per method
    (mean over the images whose maps are not degenerate), with each method's verdict. Each
    method has its own line style and marker (two methods that agree stay visible); the
    legend sits outside the data, on the right."""
    from convviz.figures.style import display_name, figsize

    ax = given_or_new_axes(ax, figsize(0.5))
    for k, r in enumerate(results):
        vals = np.asarray(getattr(r, metric), float)
        counts = np.sum(np.isfinite(vals), axis=1)
        mean = np.where(counts > 0, np.nansum(vals, axis=1) / np.maximum(counts, 1), np.nan)
        ax.plot(
            range(1, len(mean) + 1),
            mean,
            ls=_LINES[k % len(_LINES)],
            marker=_MARKERS[k % len(_MARKERS)],
            markersize=5 + (len(results) - k) % 3,
            label=f"{display_name(r.method)} ({r.verdict()})",
        )
    if results:
        names = results[0].layers
        ax.set_xticks(range(1, len(names) + 1), names, rotation=45, ha="right")
    if metric == "spearman" and results:
        ax.axhline(results[0].threshold, color="gray", lw=0.8, ls="--", label=f"pass below {results[0].threshold:g}")
    ax.set_xlabel("randomized from the top down to layer")
    ax.set_ylabel("rank correlation with\nthe trained model's maps" if metric == "spearman" else "SSIM")
    ax.set_ylim(-0.2, 1.05)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1), frameon=False)
    ax.set_title("Do the maps change when the weights are destroyed?")
    return ax


def plot_scorecard(card: Scorecard, *, ax: Axes | None = None) -> Axes:
    """The scorecard as a grid: a row per method (the two baselines last, below a line), a
    column per metric family, each cell coloured and labelled by its mark (pass, warn, fail,
    n/a) with the values of the metrics that decide it under it (short names: SHORT)."""
    from matplotlib.colors import to_rgb

    from convviz.evaluate.scorecard import FAMILIES, METRICS, SHORT
    from convviz.figures.style import MIN_FONT_PT, display_name, figsize

    families = [f for f in FAMILIES if f in {METRICS[m][0] for m in card.metrics}]
    rows = len(card.methods)
    ax = given_or_new_axes(ax, figsize(0.12 + 0.075 * rows))
    grid = np.ones((rows, len(families), 3))
    for i, method in enumerate(card.methods):
        for j, family in enumerate(families):
            mark = card.mark(method, family)
            grid[i, j] = to_rgb(MARK_COLORS[mark])
            deciding = [m for m in card.metrics if METRICS[m][0] == family and METRICS[m][2]]
            values = "\n".join(
                f"{SHORT[m]} {card.value(method, m):.2f}" for m in deciding if np.isfinite(card.value(method, m))
            )
            text = f"{mark}\n{values}" if values else mark
            ax.text(j, i, text, ha="center", va="center", color="white", fontsize=MIN_FONT_PT, linespacing=1.0)
    ax.imshow(grid, aspect="auto", interpolation="nearest")
    ax.set_xticks(range(len(families)), families)
    ax.xaxis.tick_top()
    ax.set_yticks(range(rows), [display_name(m) for m in card.methods])
    baselines = sum(1 for m in card.methods if m in ("random map", "edge detector"))
    if baselines:
        ax.axhline(rows - baselines - 0.5, color="white", lw=3)
    ax.tick_params(length=0)
    for side in ax.spines.values():
        side.set_visible(False)
    return ax
