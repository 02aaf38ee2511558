"""Budgets by model size (issue 43): what a model's pages compute, from the measured cost
of one image's forward and backward pass."""

import re

import numpy as np
import pytest

from convviz.core.errors import InputError
from convviz.zoo.budget import KNOBS, SHARES, TARGET_SECONDS, PageBudget, check_budget, choose_budget, full_recipe

PAGES = tuple(SHARES)


def test_a_cheap_model_keeps_every_default_of_todays_pages():
    """The embedded zoo's models cost a few milliseconds a pass: nothing is reduced, and the
    knobs are the constants the pages used before budgets (so their figures do not change)."""
    small = choose_budget(0.004, input_size=64, layers=12, images=1200, classes=6)
    assert small.reduced == ()
    assert small.knobs() == {
        "filters": 16,
        "filter_size": 64,
        "robust_filters": 16,
        "robust_steps": 256,
        "examples": 8,
        "scorecam_channels": 32,
        "cam_images": 240,
        "cam_curve_images": 48,
        "cam_checkpoints": 0,
        "curve_steps": 16,
        "evidence_images": 96,
        "attr_curve_images": 32,
        "ig_steps": 50,
        "sg_samples": 25,
        "sanity_images": 8,
        "sanity_depths": 4,
        "class_steps": 96,
        "class_patterns": 0,
        "trust_images": 8,
        "trust_depths": 4,
        "mprt_samples": 2,
        "sensitivity_samples": 4,
    }
    # over 128 pixels, today's pages already used fewer curve images and a shorter check
    big = full_recipe(224)
    assert (big.filter_size, big.cam_curve_images, big.attr_curve_images, big.sanity_images, big.sanity_depths) == (
        224,
        8,
        8,
        4,
        3,
    )


@pytest.mark.parametrize(
    "seconds, size, layers", [(0.08, 224, 104), (0.24, 224, 140), (0.44, 299, 154), (1.5, 331, 400)]
)
def test_a_costly_model_fits_each_page_in_its_share(seconds, size, layers):
    b = choose_budget(seconds, input_size=size, layers=layers, images=15)
    assert b.passes == int(TARGET_SECONDS / seconds)
    for page in PAGES:
        estimate = b.estimate(page, input_size=size, layers=layers, images=15)
        # within its share, unless every reduction of the page was taken (the floor: one pass
        # allowed); a model that costly needs a budget: of its own
        floor = choose_budget(seconds, input_size=size, layers=layers, images=15, overrides={"passes": 1})
        assert estimate <= SHARES[page] * b.passes or estimate == floor.estimate(
            page, input_size=size, layers=layers, images=15
        ), (page, estimate)
    full = full_recipe(size)
    assert all(getattr(b, k) <= getattr(full, k) or getattr(full, k) == 0 for k in KNOBS)
    assert [k for k, _ in b.reduced] and all(getattr(b, k) != was for k, was in b.reduced)


def test_a_model_just_over_the_small_threshold_is_budgeted():
    from convviz.zoo.budget import SMALL_SECONDS

    assert choose_budget(SMALL_SECONDS, input_size=64, layers=12, images=1200, classes=6).reduced == ()
    assert choose_budget(0.1, input_size=64, layers=12, images=1200, classes=6).reduced != ()


def test_budgets_shrink_as_the_cost_grows_and_are_a_pure_function_of_it():
    costs = [0.01, 0.05, 0.1, 0.2, 0.4, 0.8]
    budgets = [choose_budget(s, input_size=224, layers=100, images=15) for s in costs]
    for a, b in zip(budgets, budgets[1:]):
        assert all(getattr(b, k) <= getattr(a, k) for k in KNOBS if k not in ("cam_checkpoints", "class_patterns"))
        assert (b.class_patterns or 1000) <= (a.class_patterns or 1000)  # 0: every class shown
    assert choose_budget(0.2, input_size=224, layers=100, images=15) == budgets[3]


def test_what_the_entry_sets_is_never_reduced():
    b = choose_budget(0.44, input_size=299, layers=154, images=15, overrides={"filters": 16, "ig_steps": 64})
    assert (b.filters, b.ig_steps) == (16, 64)
    assert "filters" not in dict(b.reduced) and "ig_steps" not in dict(b.reduced)
    roomy = choose_budget(0.44, input_size=299, layers=154, images=15, overrides={"passes": 10**6})
    assert roomy.reduced == () and roomy.passes == 10**6


def test_the_page_says_what_it_reduced_and_from_what():
    b = choose_budget(0.44, input_size=299, layers=154, images=15)
    text = b.describe("filters")
    assert "440 ms" in text and f"{b.passes:,} passes" in text
    assert f"filters per layer on the filters page: {b.filters} (of 16)" in text
    assert f"side of the image the filter ascent optimizes: {b.filter_size} (of 299)" in text
    assert "(of 15)" in b.describe("attributions")  # an image count is never more than the split's
    small = choose_budget(0.004, input_size=64, layers=12, images=1200, classes=6)
    assert small.describe("gradcam") == (
        "Budget: the full recipe (no image or step count cut). One image's forward and backward pass costs this "
        "model 4 ms here; a model under 20 ms keeps every default."
    )


def test_the_page_says_what_the_entry_set_and_what_its_passes_are_worth():
    own = choose_budget(0.004, input_size=64, layers=12, images=1200, overrides={"ig_steps": 8})
    assert own.describe("attributions") == (
        "Budget: the defaults (no image or step count cut). One image's forward and backward pass costs this model "
        "4 ms here; a model under 20 ms keeps every default. Its zoo entry's budget sets Integrated Gradients' "
        "points on the path: 8 (default 50)."
    )
    assert "sets" not in own.describe("filters")  # a knob of another page
    passes = choose_budget(0.005, input_size=32, layers=50, images=15, overrides={"passes": 3000})
    text = passes.describe("filters")
    assert "its zoo entry allows 3,000 passes (15 s)" in text and "To fit, this page reduced" in text
    costly = choose_budget(0.44, input_size=299, layers=154, images=15)
    assert f"the pages may spend {costly.passes:,} passes ({TARGET_SECONDS:.0f} s)" in costly.describe("filters")


def test_an_entrys_passes_bound_the_pages_without_knobs_too():
    """The scorecard's images, the concepts' images and the atlas plan with the measured cost of a
    pass, or, where the zoo entry sets `passes`, with the cost that fills TARGET_SECONDS with them:
    a small model's entry that asks for fewer passes gets fewer of those too."""
    from convviz.site.atlas_page import ATLAS_GRID, atlas_plan
    from convviz.site.concept_pages import FIT_IMAGES, fit_images
    from convviz.zoo.budget import SMALL_SECONDS

    small = choose_budget(0.004, input_size=64, layers=12, images=1200, classes=6)
    assert small.planned_seconds == 0.004  # measured: the full recipe
    costly = choose_budget(0.44, input_size=299, layers=154, images=15)
    assert costly.planned_seconds == 0.44
    bounded = choose_budget(0.004, input_size=64, layers=12, images=1200, classes=6, overrides={"passes": 3000})
    assert bounded.planned_seconds == pytest.approx(TARGET_SECONDS / 3000) == 0.05
    assert bounded.planned_seconds > SMALL_SECONDS
    assert fit_images(small.planned_seconds, 6) == FIT_IMAGES > fit_images(bounded.planned_seconds, 6)
    assert atlas_plan(small.planned_seconds)[0] == ATLAS_GRID > atlas_plan(bounded.planned_seconds)[0]
    roomy = choose_budget(0.44, input_size=299, layers=154, images=15, overrides={"passes": 10**7})
    assert roomy.planned_seconds < SMALL_SECONDS  # every default, however long it takes


def test_the_scorecard_of_a_small_model_follows_its_entrys_passes(monkeypatch, tmp_path):
    """The scorecard's images: 200 on a small model's full recipe, the budget's evidence images
    where its zoo entry sets `passes`."""
    from types import SimpleNamespace

    import keras

    from convviz.zoo.budget import page_budget
    from convviz.zoo.evidence import IMAGES, scorecard_inputs
    from convviz.zoo.splits import Dataset

    monkeypatch.setenv("CONVVIZ_CACHE_DIR", str(tmp_path))
    import convviz.store.cached

    # a small model's pass cost, whatever this machine's load makes of a measurement
    monkeypatch.setattr(convviz.store.cached, "pass_seconds", lambda model, cache=None: 0.003)
    model = keras.Sequential(
        [
            keras.Input((16, 16, 3)),
            keras.layers.Conv2D(4, 3, activation="relu", name="conv"),
            keras.layers.GlobalAveragePooling2D(),
            keras.layers.Dense(2, activation="softmax"),
        ]
    )
    x = np.random.default_rng(0).random((300, 16, 16, 3), dtype=np.float32)
    test = Dataset("t", "test", x, np.zeros(300, np.int64), ("a", "b"))

    def entry(name, budget):  # what the scorecard reads of a zoo entry
        return SimpleNamespace(name=name, budget=budget, input_shape=(16, 16, 3), cam_layer=lambda m: "conv")

    full = scorecard_inputs(entry("full", {}), model, test)
    assert len(full["images"]) == IMAGES and full["road_images"] == 50
    bounded = entry("bounded", {"passes": 3000})
    inputs = scorecard_inputs(bounded, model, test)
    n = page_budget(bounded, model, images=300).evidence_images
    assert len(inputs["images"]) == n < IMAGES and inputs["road_images"] == min(50, n)


def test_check_budget_names_the_problem_and_the_valid_knobs():
    assert check_budget({"filters": 8, "cam_checkpoints": 0}) == {"filters": 8, "cam_checkpoints": 0}
    with pytest.raises(ValueError, match="unknown budget knob 'filter'; valid: passes, filters"):
        check_budget({"filter": 8})
    with pytest.raises(ValueError, match="budget ig_steps must be an integer ≥ 1, got True"):
        check_budget({"ig_steps": True})
    with pytest.raises(ValueError, match="must be a mapping"):
        check_budget([1])


def test_pass_seconds_measures_a_model_and_refuses_a_free_input_size():
    keras = pytest.importorskip("keras")
    from convviz.graph.cost import pass_seconds

    inp = keras.Input((16, 16, 3))
    model = keras.Model(
        inp, keras.layers.Dense(3)(keras.layers.GlobalAveragePooling2D()(keras.layers.Conv2D(4, 3)(inp)))
    )
    seconds = pass_seconds(model, batch=2, repeats=1)
    assert 0 < seconds < 1
    anything = keras.Input((None, None, 3))
    free = keras.Model(anything, keras.layers.GlobalAveragePooling2D()(keras.layers.Conv2D(2, 3)(anything)))
    with pytest.raises(InputError, match="free dimension"):
        pass_seconds(free)
    with pytest.raises(InputError, match="positive integers"):
        pass_seconds(model, batch=0)


def test_a_budget_is_a_frozen_value():
    b = PageBudget(0.1, 100)
    with pytest.raises(AttributeError):
        b.filters = 3  # type: ignore[misc]
    assert np.isclose(b.seconds_per_pass, 0.1)


def test_add_your_model_lists_every_knob_with_its_meaning():
    from pathlib import Path

    page = (Path(__file__).parents[1] / "docs" / "add-your-model.md").read_text(encoding="utf-8")
    page = page.split("## A large model")[1].split("\n## ")[0]
    rows = dict(re.findall(r"^\| `(\w+)` \| [^|]+ \| ([^|]+) \|$", page, flags=re.M))
    assert rows == {k: v for k, v in KNOBS.items()}
    # the pass budget it states is the code's
    assert set(re.findall(r"(\d+) seconds", " ".join(page.split()))) == {f"{TARGET_SECONDS:.0f}"}


def test_a_batch_holds_no_more_activations_than_the_memory_budget():
    """64 rows for a small model; for a model whose activations take 268 MB an image, the rows
    that fit 1 GB (3), evenly filled; the filter ascent's older rule is the same function."""
    keras = pytest.importorskip("keras")
    from convviz.graph.cost import backward_bytes, fitting_batch

    small_in = keras.Input((16, 16, 3))
    small = keras.Model(small_in, keras.layers.Conv2D(4, 3, padding="same")(small_in))
    assert backward_bytes(small) == 4 * (16 * 16 * 4) + 4 * 8 * 16 * 16 * 3
    assert fitting_batch(small, 64, cap=64) == 64
    big_in = keras.Input((512, 512, 3))
    big = keras.Model(big_in, keras.layers.Conv2D(256, 3, padding="same")(big_in))
    per = backward_bytes(big)
    assert per == 4 * 512 * 512 * 256 + 4 * 8 * 512 * 512 * 3
    assert fitting_batch(big, 64, cap=64) == 2**30 // per == 3
    assert fitting_batch(big, 10, cap=64, memory_budget_gb=2.0) == 5  # 7 fit: two even batches of 5
    with pytest.raises(InputError, match="memory_budget_gb must be positive"):
        fitting_batch(big, 4, cap=4, memory_budget_gb=0)


def test_a_budgeted_class_page_visualizes_the_most_frequent_classes():
    from convviz.site.class_data import visualized_classes

    shown = np.array([1, 3, 5, 7])
    y = np.array([1, 1, 3, 5, 5, 5, 7, -1])
    predicted = np.array([1, 3, 3, 5, 7, 7, 7, 3])
    assert visualized_classes(shown, y, predicted, 0).tolist() == [1, 3, 5, 7]
    assert visualized_classes(shown, y, predicted, 2).tolist() == [3, 5]  # 3, 5 and 7 have 4 images: the lower first
    assert visualized_classes(shown, y, predicted, 9).tolist() == [1, 3, 5, 7]
