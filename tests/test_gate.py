"""The gate: thresholds a team sets on a model diff, their checks on known diffs, and clear
errors for a bad threshold in the zoo file or on the command line."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from convviz import zoo
from convviz.compare import gate


def _diff(old_pred, new_pred, labels, cka):
    """A stand-in for ModelDiff with the numbers the gate reads."""
    old_pred, new_pred, labels = map(np.asarray, (old_pred, new_pred, labels))

    def accuracy():
        return float((old_pred == labels).mean()), float((new_pred == labels).mean())

    def per_class_accuracy():
        classes = np.arange(labels.max() + 1)
        return tuple(np.array([(p[labels == c] == c).mean() for c in classes]) for p in (old_pred, new_pred))

    broken = np.flatnonzero((old_pred == labels) & (new_pred != labels))
    return SimpleNamespace(
        accuracy=accuracy, per_class_accuracy=per_class_accuracy, broken=broken, labels=labels, cka=cka
    )


LABELS = [0, 0, 0, 0, 1, 1, 1, 1, 2, 2]
OLD = [0, 0, 0, 0, 1, 1, 1, 1, 2, 0]  # 9 of 10 right
NEW = [0, 0, 0, 1, 1, 1, 1, 1, 2, 2]  # 9 of 10 right: one class-0 image broken, one class-2 fixed


def test_each_threshold_on_a_known_diff():
    d = _diff(OLD, NEW, LABELS, {"conv1": 0.98, "conv2": 0.7, "fc": 0.9})
    checks = {
        c.key: c
        for c in gate.evaluate(
            d,
            {"accuracy_drop": 0.0, "broken": 0, "recall_drop": 20.0, "min_cka": 0.75, "below_band": 0},
            band={"conv1": 0.95, "conv2": 0.8, "fc": 0.85},
        )
    }
    assert checks["accuracy_drop"].value == pytest.approx(0.0) and checks["accuracy_drop"].passed
    assert checks["broken"].value == 1 and not checks["broken"].passed
    assert checks["recall_drop"].value == pytest.approx(25.0) and not checks["recall_drop"].passed  # class 0: 4/4 → 3/4
    assert checks["min_cka"].value == pytest.approx(0.7) and not checks["min_cka"].passed
    assert checks["below_band"].value == 1 and not checks["below_band"].passed  # conv2: 0.7 < 0.8
    assert checks["broken"].sentence() == "broken: 1 images (limit 0): FAILED"
    assert checks["accuracy_drop"].sentence() == "accuracy drop: 0.00 points (limit 0.00): passed"


def test_a_threshold_it_cannot_measure_fails():
    d = _diff(OLD, NEW, LABELS, {"conv1": 0.9})
    (check,) = gate.evaluate(d, {"below_band": 3}, band=None)  # no seed band
    assert check.value is None and not check.passed
    assert check.sentence() == "below band: not measured (limit 3): FAILED"


@pytest.mark.parametrize(
    "items, message",
    [
        (["flips=3"], "unknown threshold 'flips'; valid: accuracy_drop, broken, recall_drop, min_cka, below_band"),
        (["broken=1.5"], "broken must be a whole number, got 1.5"),
        (["min_cka=2"], r"min_cka must be in \[0, 1\], got 2"),
        (["accuracy_drop=-1"], "accuracy_drop must be at least 0, got -1"),
        (["accuracy_drop"], "--fail-on takes KEY=VALUE"),
        (["accuracy_drop=lots"], "--fail-on accuracy_drop: 'lots' is not a number"),
    ],
)
def test_bad_fail_on_is_a_clear_error(items, message):
    with pytest.raises(gate.GateError, match=message):
        gate.parse_fail_on(items)


def test_parse_fail_on_reads_numbers():
    assert gate.parse_fail_on(["accuracy_drop=1.5", "broken=3"]) == {"accuracy_drop": 1.5, "broken": 3.0}


BASE = "models:\n  - name: a\n    source: trained\n    architecture: plain_cnn\n    dataset: digits\n"


def test_gate_and_seed_band_in_the_zoo_file():
    e = zoo.parse(BASE + "    seed_band: 2\n    gate: {accuracy_drop: 1, broken: 4}\n")[0]
    assert e.gate == {"accuracy_drop": 1.0, "broken": 4.0} and e.options["seed_band"] == 2
    assert "seed_band" not in e.recipe()  # the band does not change the entry's own model
    with pytest.raises(zoo.ZooError, match=r"<zoo>:6: gate: unknown threshold 'flips'; valid: accuracy_drop"):
        zoo.parse(BASE + "    gate: {flips: 3}\n")
    with pytest.raises(zoo.ZooError, match=r"<zoo>:6: seed_band is the number of other seeds to train \(1 to 5\)"):
        zoo.parse(BASE + "    seed_band: 9\n")
    with pytest.raises(zoo.ZooError, match=r"unknown key 'seed_band'.*for source 'file'"):
        zoo.parse("models:\n  - name: f\n    source: file\n    path: m.keras\n    dataset: digits\n    seed_band: 2\n")


def test_seed_variants_are_the_recipe_with_other_seeds():
    from convviz.review.revisions import trained_variants
    from convviz.review.seedband import seed_variants

    e = zoo.parse(BASE + "    seed: 3\n    seed_band: 2\n    gate: {broken: 1}\n")[0]
    variants = seed_variants(e)
    assert [v.name for v in variants] == ["a-seed1", "a-seed2"]
    assert [v.recipe()["seed"] for v in variants] == [4, 5]
    assert all(
        {k: v for k, v in x.recipe().items() if k != "seed"} == {k: v for k, v in e.recipe().items() if k != "seed"}
        for x in variants
    )
    assert all(not v.gate and "seed_band" not in v.options for v in variants)
    assert [v.name for v in trained_variants([e])] == ["a-seed1", "a-seed2"]
