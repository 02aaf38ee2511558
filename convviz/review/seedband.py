"""What seed noise looks like: the same recipe trained with other seeds, as a yardstick for a diff.

Two trainings of one recipe that differ only in their seed already differ: their layers'
linear CKA is below 1, their Grad-CAMs agree only so far (Kornblith et al. 2019 report CKA
between seeds well below 1 in the upper layers; a CKA reads as "changed" only against that
noise). A trained zoo entry with ``seed_band: N`` gets N variants, ``<name>-seed<k>`` (its
seed + k), trained, cached, shipped and checked like a ``compare_to`` variant; its band is,
per layer, the CKA between the entry and each variant, and the median correlation of their
Grad-CAMs. A diff layer whose CKA is below every seed's is below what a reseed gives: the
signal worth a reviewer's time.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["SeedBand", "seed_variants", "seed_band"]


def seed_variants(entry: Any) -> list[Any]:
    """The variants a trained entry's ``seed_band`` names (none without one): the same entry
    with the seed moved by 1…N, named ``<name>-seed<k>``."""
    n = int(entry.options.get("seed_band") or 0) if entry.source == "trained" else 0
    base = int(entry.options.get("seed", 0))
    options = {k: v for k, v in entry.options.items() if k not in ("seed_band", "min_accuracy")}
    return [
        dataclasses.replace(
            entry,
            name=f"{entry.name}-seed{k}",
            title=f"{entry.name} with seed {base + k}",
            options={**options, "seed": base + k},
            compare_to=None,
            gate={},
        )
        for k in range(1, n + 1)
    ]


@dataclass(frozen=True)
class SeedBand:
    """The diffs between a trained entry and its seed variants.

    Attributes
    ----------
    seeds
        The variants' seeds.
    cka
        Per layer, the CKA between the entry and each variant (one value per seed).
    cam
        Per seed, the median correlation of the entry's and the variant's Grad-CAMs.
    """

    seeds: tuple[int, ...]
    cka: dict[str, list[float]]
    cam: list[float]

    def low(self) -> dict[str, float]:
        """Per layer, the lowest CKA between seeds: a diff below it is below what a reseed gives."""
        return {k: float(np.nanmin(v)) for k, v in self.cka.items() if np.isfinite(v).any()}

    def to_json(self) -> dict[str, Any]:
        return {"seeds": list(self.seeds), "cka": self.cka, "cam_median_correlation": self.cam, "low": self.low()}


def seed_band(entry: Any, *, cache: Any = True, progress: bool = True) -> SeedBand | None:
    """The seed band of a trained zoo entry with ``seed_band:`` (None without one): each seed
    variant loaded (shipped, cached or trained) and diffed with the entry on its test split."""
    from convviz import zoo
    from convviz.store.cached import diff_models

    variants = seed_variants(entry)
    if not variants:
        return None
    model = zoo.load(entry, progress=progress)
    test = zoo.dataset(entry, "test")
    labels = test.y if test.labelled.any() else None
    cka: dict[str, list[float]] = {}
    cam: list[float] = []
    for v in variants:
        d = diff_models(model, zoo.load(v, progress=progress), test.x, labels, masks=test.masks, cache=cache)
        for layer, value in d.cka.items():
            cka.setdefault(layer, []).append(float(value))
        corr = d.cam_correlation[np.isfinite(d.cam_correlation)]
        cam.append(float(np.median(corr)) if len(corr) else float("nan"))
    return SeedBand(tuple(int(v.options["seed"]) for v in variants), cka, cam)
