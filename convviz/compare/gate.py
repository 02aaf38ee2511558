"""A pull request's gate: thresholds on what a model diff may change, set by the team.

Thresholds come from the zoo entry (``gate:``) and the command line (``convviz diff
--fail-on KEY=VALUE``, which wins); none is set by default, so a diff fails nothing unless the
team asks. Each threshold is checked on a :class:`convviz.compare.result.ModelDiff` (and, for
``below_band``, on the entry's seed band) and reported passed or failed with its value, in
words a reviewer reads in the pull request.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from convviz.core.errors import InputError

__all__ = ["GATES", "GateError", "Check", "thresholds", "parse_fail_on", "evaluate"]

# key → (type, what it limits, unit)
GATES: Mapping[str, tuple[type, str, str]] = {
    "accuracy_drop": (float, "the test accuracy may drop by at most", "points"),
    "broken": (int, "at most this many predictions may turn from right to wrong", "images"),
    "recall_drop": (float, "no class's recall may drop by more than", "points"),
    "min_cka": (float, "every compared layer's CKA must stay at least", ""),
    "below_band": (int, "at most this many layers may fall below the seed band's CKA", "layers"),
}


class GateError(InputError):
    """A threshold that is not one of :data:`GATES` or not a number of its kind."""


@dataclass(frozen=True)
class Check:
    """One threshold checked: its key, limit, the diff's value and whether it passed."""

    key: str
    limit: float
    value: float | None
    passed: bool

    def sentence(self) -> str:
        """The check in words (``accuracy drop 2.10 points, limit 1.00: failed``)."""
        kind, _, unit = GATES[self.key]
        digits = 0 if kind is int else 3 if self.key == "min_cka" else 2
        value = "not measured" if self.value is None else f"{self.value:.{digits}f}{' ' + unit if unit else ''}"
        return f"{self.key.replace('_', ' ')}: {value} (limit {self.limit:.{digits}f}): " + (
            "passed" if self.passed else "FAILED"
        )


def thresholds(values: Mapping[str, Any]) -> dict[str, float]:
    """Checked thresholds: every key one of :data:`GATES`, every value a number of its kind
    (non-negative; ``min_cka`` in [0, 1])."""
    out: dict[str, float] = {}
    for key, value in values.items():
        if key not in GATES:
            raise GateError(f"unknown threshold {key!r}; valid: {', '.join(GATES)}")
        kind = GATES[key][0]
        if isinstance(value, bool) or not isinstance(value, (int, float)) or (kind is int and value != int(value)):
            raise GateError(f"{key} must be {'a whole number' if kind is int else 'a number'}, got {value!r}")
        if value < 0 or (key == "min_cka" and value > 1) or not math.isfinite(value):
            raise GateError(f"{key} must be {'in [0, 1]' if key == 'min_cka' else 'at least 0'}, got {value!r}")
        out[key] = float(value)
    return out


def parse_fail_on(items: Iterable[str]) -> dict[str, float]:
    """``--fail-on KEY=VALUE`` arguments as thresholds."""
    raw: dict[str, Any] = {}
    for item in items:
        key, sep, text = item.partition("=")
        if not sep:
            raise GateError(
                f"--fail-on takes KEY=VALUE (e.g. accuracy_drop=1.0), got {item!r}; keys: {', '.join(GATES)}"
            )
        try:
            raw[key.strip()] = int(text) if text.strip().lstrip("-").isdigit() else float(text)
        except ValueError:
            raise GateError(f"--fail-on {key}: {text!r} is not a number") from None
    return thresholds(raw)


def _recall_drop(diff: Any) -> float | None:
    pca = diff.per_class_accuracy()
    if pca is None:
        return None
    drop = (pca[0] - pca[1]) * 100
    drop = drop[np.isfinite(drop)]
    return float(drop.max()) if len(drop) else None


def evaluate(diff: Any, limits: Mapping[str, float], *, band: Mapping[str, float] | None = None) -> list[Check]:
    """Each threshold of ``limits`` checked on ``diff`` (``band``: each layer's lowest CKA
    between seeds of the recipe, for ``below_band``). A threshold whose value cannot be
    measured (no labels for an accuracy, no seed band) fails: a gate never passes silently."""
    checks = []
    for key, limit in limits.items():
        value: float | None
        if key == "accuracy_drop":
            acc = diff.accuracy()
            value = None if acc is None else (acc[0] - acc[1]) * 100
            ok = value is not None and value <= limit + 1e-9
        elif key == "broken":
            value = float(len(diff.broken)) if diff.labels is not None else None
            ok = value is not None and value <= limit
        elif key == "recall_drop":
            value = _recall_drop(diff)
            ok = value is not None and value <= limit + 1e-9
        elif key == "min_cka":
            finite = [v for v in diff.cka.values() if math.isfinite(v)]
            value = min(finite) if finite else None
            ok = value is not None and value >= limit - 1e-12
        else:  # below_band
            below = None if band is None else [k for k, v in diff.cka.items() if k in band and v < band[k]]
            value = None if below is None else float(len(below))
            ok = value is not None and value <= limit
        checks.append(Check(key, limit, value, ok))
    return checks
