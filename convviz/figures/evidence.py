"""Figures of the evidence for heatmaps: the randomization check's similarity as the weights are re-drawn, layer by layer."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from convviz.figures.output import given_or_new_axes

if TYPE_CHECKING:
    from matplotlib.axes import Axes

    from convviz.evaluate.sanity import RandomizationResult


__all__ = ["plot_randomization"]


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
