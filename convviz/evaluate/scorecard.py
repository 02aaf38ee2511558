"""Which explanation to trust on a model: every metric family for every method, beside a random
map and an edge detector computed the same way, and a pass / warn / fail mark per family whose
rule is stated (:data:`RULES`).

The families and the metrics that decide them (:data:`FAMILIES`):

- faithfulness: ROAD (:mod:`convviz.evaluate.road`) and Average Drop; Increase in Confidence
  is shown beside them;
- randomization: Smooth MPRT and RandomLogit (:mod:`convviz.evaluate.randomization`);
  Efficient MPRT is shown beside them;
- robustness: Max- and Avg-Sensitivity (:mod:`convviz.evaluate.robustness`);
- complexity: Sparseness and Complexity (:mod:`convviz.evaluate.complexity`);
- localisation, where the dataset has object masks: Relevance Mass and Relevance Rank
  (:mod:`convviz.evaluate.localization`).

Each metric's value is the mean over its images with a bootstrap 95% interval; a metric
*beats* the random map when the interval of the mean paired difference (method − random map,
image by image, in the metric's better direction) lies wholly on the better side of 0.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from convviz.core.errors import InputError
from convviz.evaluate.complexity import complexity, sparseness
from convviz.evaluate.explain import BASELINES, Explainer, baseline_explainer, method_explainer
from convviz.evaluate.faithfulness import confidence_change
from convviz.evaluate.localization import relevance_mass, relevance_rank
from convviz.evaluate.randomization import mprt_scores, random_logit
from convviz.evaluate.road import road_curves, road_score
from convviz.evaluate.robustness import sensitivity

__all__ = ["BEATS", "FAMILIES", "METRICS", "RULES", "SHORT", "SIMILAR", "Scorecard", "scorecard", "bootstrap_interval"]

# metric -> (family, higher is better, decides the family's mark)
METRICS: dict[str, tuple[str, bool, bool]] = {
    "ROAD": ("faithfulness", True, True),
    "Average Drop": ("faithfulness", False, True),
    "Increase in Confidence": ("faithfulness", True, False),
    "Smooth MPRT": ("randomization", False, True),
    "RandomLogit": ("randomization", False, True),
    "Efficient MPRT": ("randomization", True, False),
    "Max-Sensitivity": ("robustness", False, True),
    "Avg-Sensitivity": ("robustness", False, True),
    "Sparseness": ("complexity", True, True),
    "Complexity": ("complexity", False, True),
    "Relevance Mass": ("localisation", True, True),
    "Relevance Rank": ("localisation", True, True),
}
SHORT = {  # the metrics' names where a table or a figure cell is narrow
    "ROAD": "ROAD",
    "Average Drop": "AvgDrop",
    "Increase in Confidence": "Increase",
    "Smooth MPRT": "sMPRT",
    "RandomLogit": "RandLogit",
    "Efficient MPRT": "eMPRT",
    "Max-Sensitivity": "MaxSens",
    "Avg-Sensitivity": "AvgSens",
    "Sparseness": "Sparse",
    "Complexity": "Complex",
    "Relevance Mass": "RelMass",
    "Relevance Rank": "RelRank",
}
FAMILIES = ("faithfulness", "randomization", "robustness", "complexity", "localisation")
SIMILAR = 0.5  # a randomization similarity at or above this is closer to identical than to unrelated

# what "beats the random map" means, said once on every page that states the rules
BEATS = (
    "A metric beats the random map when the 95% bootstrap interval of its image-by-image difference from the "
    "random map lies wholly on the better side of 0 (the means printed beside it may look better and still "
    "fall short)."
)

RULES = {
    "faithfulness": "pass: ROAD and Average Drop both beat the random map; warn: one does; fail: neither",
    "randomization": (
        f"pass: the maps are closer to unrelated than identical (the interval wholly below {SIMILAR}) both when "
        "the model's weights are re-drawn (Smooth MPRT's mean rank correlation) and for another class "
        f"(RandomLogit's SSIM); fail: both wholly at or above {SIMILAR}; warn: anything between. A random map "
        "passes by construction: it explains nothing, which the other families show"
    ),
    "robustness": "pass: Max- and Avg-Sensitivity both beat the random map; warn: one does; fail: neither",
    "complexity": "pass: Sparseness and Complexity both beat the random map; warn: one does; fail: neither",
    "localisation": "pass: Relevance Mass and Relevance Rank both beat the random map; warn: one does; fail: neither",
}


def bootstrap_interval(values: np.ndarray, *, draws: int = 2000, seed: int = 0) -> tuple[float, float]:
    """The 95% percentile bootstrap interval of the mean of ``values`` (NaNs left out);
    ``(nan, nan)`` without values."""
    v = np.asarray(values, np.float64)
    v = v[np.isfinite(v)]
    if len(v) == 0:
        return float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    means = v[rng.integers(0, len(v), (draws, len(v)))].mean(axis=1)
    return float(np.percentile(means, 2.5)), float(np.percentile(means, 97.5))


@dataclass(frozen=True)
class Scorecard:
    """Every metric of every method (and of the two baselines, last), and each method's mark
    per family.

    Attributes
    ----------
    methods
        The methods, then :data:`convviz.evaluate.explain.BASELINES`.
    metrics
        The metrics computed (:data:`METRICS`; no localisation without masks).
    per_image
        ``per_image[m][k]``: the values of metric ``metrics[k]`` for method ``methods[m]`` on its
        images (arrays of different lengths: each metric has its own image count, :attr:`images`).
    marks
        (methods, families) ``"pass"``, ``"warn"``, ``"fail"`` or ``"n/a"`` (no masks).
    images
        The images each metric averaged over, by metric.
    copies
        The noisy copies of each image, by metric that draws them (Smooth MPRT, the
        sensitivities).
    """

    methods: tuple[str, ...]
    metrics: tuple[str, ...]
    per_image: tuple[tuple[np.ndarray, ...], ...]
    marks: np.ndarray
    images: dict[str, int]
    copies: dict[str, int] = field(default_factory=dict)

    def value(self, method: str, metric: str) -> float:
        """The mean of ``metric`` for ``method`` (NaNs left out)."""
        v = self.per_image[self.methods.index(method)][self.metrics.index(metric)]
        v = v[np.isfinite(v)]
        return float(v.mean()) if len(v) else float("nan")

    def interval(self, method: str, metric: str) -> tuple[float, float]:
        """The bootstrap 95% interval of :meth:`value`."""
        return bootstrap_interval(self.per_image[self.methods.index(method)][self.metrics.index(metric)])

    def mark(self, method: str, family: str) -> str:
        """The mark of ``method`` in ``family``."""
        return str(self.marks[self.methods.index(method), FAMILIES.index(family)])

    def beats_random(self, method: str, metric: str) -> bool:
        """Whether ``metric`` of ``method`` beats the random map (see the module)."""
        mine = self.per_image[self.methods.index(method)][self.metrics.index(metric)]
        rand = self.per_image[self.methods.index(BASELINES[0])][self.metrics.index(metric)]
        sign = 1.0 if METRICS[metric][1] else -1.0
        low, _ = bootstrap_interval(sign * (np.asarray(mine, np.float64) - np.asarray(rand, np.float64)))
        return bool(low > 0)

    def sentence(self, model_name: str, names: Mapping[str, str] | None = None) -> str:
        """What the marks say, in words: the methods that pass every family, and for each other
        method the families it fails or only half passes."""
        names = names or {}
        shown = [m for m in self.methods if m not in BASELINES]
        families = [f for f in FAMILIES if not all(self.mark(m, f) == "n/a" for m in shown)]

        def name(m: str) -> str:
            return names.get(m, m)

        def join(items: list[str]) -> str:
            return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]

        best = [m for m in shown if all(self.mark(m, f) == "pass" for f in families)]
        parts = []
        if best:
            parts.append(
                f"On {model_name}, {join([name(m) for m in best])} pass{'es' if len(best) == 1 else ''} every family."
            )
        else:
            parts.append(f"On {model_name}, no method passes every family.")
        for m in shown:
            if m in best:
                continue
            fails = [f for f in families if self.mark(m, f) == "fail"]
            warns = [f for f in families if self.mark(m, f) == "warn"]
            said = []
            if fails:
                said.append("fails " + join([f"{f} ({self._why(m, f)})" for f in fails]))
            if warns:
                said.append(f"is mixed on {join(warns)}")
            parts.append(f"{name(m)} {' and '.join(said)}.")
        return " ".join(parts)

    def _why(self, method: str, family: str) -> str:
        deciding = [k for k in self.metrics if METRICS[k][0] == family and METRICS[k][2]]

        def v(m: str, k: str) -> str:
            x = self.value(m, k)
            return f"{x:.2f}" if np.isfinite(x) else "n/a (constant maps)"

        if family == "randomization":
            return ", ".join(f"{k} {v(method, k)}" for k in deciding) + f", at or above {SIMILAR}"
        return ", ".join(f"{k} {v(method, k)} vs {v(BASELINES[0], k)} for a random map" for k in deciding)


def _finite_mean(values: np.ndarray) -> np.ndarray:
    """The mean over the first axis of the finite values; NaN where there is none (no warning)."""
    v = np.asarray(values, np.float64)
    ok = np.isfinite(v)
    count = ok.sum(axis=0)
    total = np.where(ok, v, 0.0).sum(axis=0)
    return np.divide(total, count, out=np.full(total.shape, np.nan), where=count > 0)


def _mark(wins: list[bool]) -> str:
    return "pass" if all(wins) else "warn" if any(wins) else "fail"


def scorecard(
    model: Any,
    images: np.ndarray,
    *,
    methods: Sequence[str],
    masks: np.ndarray | None = None,
    layer: str | None = None,
    options: Mapping[str, Mapping[str, Any]] | None = None,
    road_images: int = 50,
    randomization_images: int = 16,
    sensitivity_images: int = 16,
    depths: int = 4,
    mprt_samples: int = 2,
    sensitivity_samples: int = 4,
    radius: float = 0.05,
    seed: int = 0,
) -> Scorecard:
    """The scorecard of ``methods`` (CAM and attribution methods) on ``model`` and ``images``.

    The cheap metrics (Average Drop, Increase in Confidence, complexity, localisation) use every
    image; ROAD the first ``road_images`` (9 levels, MoRF and LeRF; 0: no ROAD, and Average Drop
    alone decides faithfulness); RandomLogit, Smooth MPRT and
    Efficient MPRT the first ``randomization_images`` (Smooth MPRT: ``mprt_samples`` noisy copies,
    ``depths`` evenly spaced depths of the cascade, the last every layer); the sensitivities the
    first ``sensitivity_images`` (``sensitivity_samples`` noisy copies each, uniform noise of
    ±``radius`` × the value range). A method whose maps equal an earlier method's on every image
    (HiResCAM and Grad-CAM before a globally pooled head) shares its values: the two are the same
    function of the model there.
    Each image is explained for its predicted class; ``options[method]`` go to that method
    (Integrated Gradients' ``steps``...), CAMs at ``layer``. Deterministic for a ``seed``."""
    from convviz.core.checks import predict

    x = np.asarray(images, np.float32)
    if not len(methods):
        raise InputError("methods is empty: name at least one CAM or attribution method")
    if masks is not None and np.asarray(masks).shape != x.shape[:3]:
        raise InputError(f"masks must be (N, H, W) like the images {x.shape[:3]}, got {np.asarray(masks).shape}")
    probs = predict(model, x)
    classes = probs.argmax(1)
    num_classes = probs.shape[1]
    metrics = tuple(
        m
        for m in METRICS
        if (masks is not None or METRICS[m][0] != "localisation") and (road_images > 0 or m != "ROAD")
    )
    explainers: dict[str, Explainer] = {
        m: method_explainer(m, layer=layer, options=(options or {}).get(m)) for m in methods
    }
    explainers |= {b: baseline_explainer(b, seed=seed) for b in BASELINES}
    nr, nq, ns = (min(k, len(x)) for k in (road_images, randomization_images, sensitivity_images))
    rows: list[tuple[np.ndarray, ...]] = []
    seen: list[tuple[np.ndarray, int]] = []
    for name, ex in explainers.items():
        maps = ex(model, x, classes)
        same = next((i for m, i in seen if name not in BASELINES and np.array_equal(m, maps)), None)
        if same is not None:  # the same maps as an earlier method (HiResCAM and Grad-CAM before a pooled head)
            rows.append(rows[same])
            continue
        seen.append((maps, len(rows)))
        drop, up = confidence_change(model, x, maps, class_index=classes)
        morf, lerf = (
            road_curves(model, x[:nr], maps[:nr], class_index=classes[:nr], seed=seed)
            if nr
            else (np.zeros((0, 1)),) * 2
        )
        # the maps above are each metric's maps of the clean images for their class: computed once
        smprt, emprt = mprt_scores(
            model, x[:nq], ex, classes=classes[:nq], depths=depths, samples=mprt_samples, maps=maps[:nq], seed=seed
        )
        most, avg = sensitivity(
            model,
            x[:ns],
            ex,
            classes=classes[:ns],
            radius=radius,
            samples=sensitivity_samples,
            maps=maps[:ns],
            seed=seed,
        )
        logit = random_logit(
            model, x[:nq], ex, classes=classes[:nq], num_classes=num_classes, maps=maps[:nq], seed=seed
        )
        values = {
            "ROAD": road_score(morf, lerf),
            "Average Drop": drop,
            "Increase in Confidence": up.astype(np.float64),
            "Smooth MPRT": _finite_mean(smprt),
            "RandomLogit": logit,
            "Efficient MPRT": emprt,
            "Max-Sensitivity": most,
            "Avg-Sensitivity": avg,
            "Sparseness": sparseness(maps),
            "Complexity": complexity(maps),
        }
        if masks is not None:
            values["Relevance Mass"] = relevance_mass(np.maximum(maps, 0), masks)
            values["Relevance Rank"] = relevance_rank(maps, masks)
        rows.append(tuple(np.asarray(values[k], np.float64) for k in metrics))
    names = tuple(explainers)
    partial = Scorecard(names, metrics, tuple(rows), np.empty((0, 0), str), {})
    marks = np.full((len(names), len(FAMILIES)), "n/a", dtype=object)
    for i, name in enumerate(names):
        for j, family in enumerate(FAMILIES):
            deciding = [k for k in metrics if METRICS[k][0] == family and METRICS[k][2]]
            if not deciding:
                continue
            if family == "randomization":
                sides = [partial.interval(name, k) for k in deciding]
                below = [hi < SIMILAR for _, hi in sides]
                above = [lo >= SIMILAR for lo, _ in sides]
                marks[i, j] = "pass" if all(below) else "fail" if all(above) else "warn"
            else:
                marks[i, j] = _mark([partial.beats_random(name, k) for k in deciding])
    counts = {k: len(rows[0][metrics.index(k)]) for k in metrics}
    copies = {
        "Smooth MPRT": mprt_samples,
        "Max-Sensitivity": sensitivity_samples,
        "Avg-Sensitivity": sensitivity_samples,
    }
    return Scorecard(names, metrics, tuple(rows), marks.astype(str), counts, copies)
