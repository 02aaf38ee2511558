"""The trust metrics (issue 39) against hand-computed values, and the scorecard's rules."""

from __future__ import annotations

import math

import keras
import numpy as np
import pytest
from conftest import small_functional

from convviz.core.errors import InputError
from convviz.evaluate.complexity import complexity, histogram_entropy, sparseness
from convviz.evaluate.explain import baseline_explainer, baseline_maps, method_explainer
from convviz.evaluate.faithfulness import confidence_change
from convviz.evaluate.localization import relevance_mass, relevance_rank
from convviz.evaluate.randomization import efficient_mprt, mprt_scores, random_logit, smooth_mprt
from convviz.evaluate.road import noisy_linear_impute, road_curves, road_score
from convviz.evaluate.robustness import sensitivity

L = keras.layers


# -- complexity


def test_sparseness_is_the_gini_index():
    assert sparseness(np.ones((1, 4, 4))) == pytest.approx([0.0])
    one = np.zeros((1, 4, 4))
    one[0, 1, 2] = 5.0
    assert sparseness(one) == pytest.approx([15 / 16])  # (n - 1) / n
    # sorted |a| = 0, 0, 1, 3: Σ (2i − n − 1) aᵢ = 1 + 9 = 10, over n Σ a = 16
    assert sparseness(np.array([[[0.0, -3.0], [1.0, 0.0]]])) == pytest.approx([0.625])
    assert np.isnan(sparseness(np.zeros((1, 2, 2))))[0]


def test_complexity_is_the_entropy_of_the_shares():
    assert complexity(np.ones((1, 4, 4))) == pytest.approx([math.log(16)])
    one = np.zeros((1, 3, 3))
    one[0, 0, 0] = 2.0
    assert complexity(one) == pytest.approx([0.0])
    p = np.array([0.25, 0.25, 0.5])
    assert complexity(np.array([[[1.0, -1.0, 2.0]]])) == pytest.approx([-(p * np.log(p)).sum()])
    with pytest.raises(InputError, match="NaN"):
        complexity(np.full((1, 2, 2), np.nan))


def test_histogram_entropy():
    assert histogram_entropy(np.ones((1, 4, 4))) == pytest.approx([0.0])
    half = np.zeros((1, 4, 4))
    half[0, :2] = 1.0
    assert histogram_entropy(half) == pytest.approx([math.log(2)])


# -- localisation


def test_relevance_mass_and_rank():
    mask = np.zeros((1, 4, 4), bool)
    mask[0, :2, :2] = True
    on = mask.astype(float)
    assert relevance_mass(on, mask) == pytest.approx([1.0])
    assert relevance_mass(np.ones((1, 4, 4)), mask) == pytest.approx([0.25])  # a uniform map: the area
    assert relevance_rank(on + 0.01 * np.arange(16).reshape(1, 4, 4), mask) == pytest.approx([1.0])
    off = 1.0 - on
    assert relevance_rank(off, mask) == pytest.approx([0.0])
    # 4 mask pixels; the top 4 of this map: two inside, two outside
    m = np.zeros((1, 4, 4))
    m[0, 0, 0], m[0, 1, 1], m[0, 3, 3], m[0, 2, 3] = 4, 3, 2, 1
    assert relevance_rank(m, mask) == pytest.approx([0.5])
    assert np.isnan(relevance_rank(m, np.zeros((1, 4, 4), bool)))[0]


# -- ROAD


def test_noisy_linear_imputation_is_exact_on_a_ramp():
    """A linear ramp is its own weighted neighbour mean: without noise, the imputation puts it
    back exactly inside the image (on the border the neighbours are one-sided)."""
    yy, xx = np.mgrid[:12, :12]
    ramp = (0.03 * xx + 0.05 * yy)[None, ..., None].repeat(2, axis=-1).astype(np.float32)
    removed = np.zeros((1, 12, 12), bool)
    removed[0, 3:9, 2:10] = True
    out = noisy_linear_impute(ramp, removed, noise=0.0)
    np.testing.assert_allclose(out, ramp, atol=1e-5)
    noisy = noisy_linear_impute(
        np.zeros((1, 32, 32, 1), np.float32), np.pad(np.ones((1, 30, 30), bool), ((0, 0), (1, 1), (1, 1))), noise=0.5
    )
    assert noisy[0, 1:-1, 1:-1].std() == pytest.approx(0.5, rel=0.05)
    assert np.array_equal(
        noisy,
        noisy_linear_impute(
            np.zeros((1, 32, 32, 1), np.float32),
            np.pad(np.ones((1, 30, 30), bool), ((0, 0), (1, 1), (1, 1))),
            noise=0.5,
        ),
    )
    with pytest.raises(InputError, match="whole image"):
        noisy_linear_impute(ramp, np.ones((1, 12, 12), bool))


def test_the_banded_solve_equals_a_general_sparse_solve_of_the_neighbour_equations():
    """Scattered removals and one large hole with a few kept pixels, on a ragged image: every
    removed pixel equals the weighted mean of its neighbours (1/6 edge, 1/12 diagonal, over
    the weights of the neighbours inside the image), solved here by SciPy's general solver."""
    import scipy.sparse as sp
    from scipy.sparse.linalg import spsolve

    rng = np.random.default_rng(5)
    x = rng.random((2, 23, 17, 3)).astype(np.float64)
    removed = np.stack([rng.random((23, 17)) < 0.3, rng.random((23, 17)) < 0.95])
    out = noisy_linear_impute(x, removed, noise=0.0)
    for img, gone, got in zip(x, removed, out):
        pixels = list(zip(*np.nonzero(gone)))
        at = {p: k for k, p in enumerate(pixels)}
        a = sp.lil_matrix((len(pixels), len(pixels)))
        rhs = np.zeros((len(pixels), 3))
        for k, (y, xx) in enumerate(pixels):
            for dy in (-1, 0, 1):
                for dx in (-1, 0, 1):
                    ny, nx = y + dy, xx + dx
                    if (dy, dx) == (0, 0) or not (0 <= ny < 23 and 0 <= nx < 17):
                        continue
                    weight = 1 / 12 if dy and dx else 1 / 6
                    a[k, k] += weight
                    if (ny, nx) in at:
                        a[k, at[ny, nx]] -= weight
                    else:
                        rhs[k] += weight * img[ny, nx]
        want = spsolve(a.tocsc(), rhs)
        np.testing.assert_allclose(got[gone], want, atol=1e-5)
        assert np.array_equal(got[~gone], img[~gone].astype(np.float32))


def _left_half_model() -> keras.Model:
    """Class 0's logit is a quarter of the left half's sum minus 4 (0 for pixels of 0.5 on
    average), class 1's its negative: the right half is ignored."""
    inp = keras.Input((8, 8, 1))
    left = L.Cropping2D(((0, 0), (0, 4)))(inp)
    flat = L.Flatten()(left)
    dense = L.Dense(2, activation="softmax")
    model = keras.Model(inp, dense(flat))
    w = np.zeros((32, 2), np.float32)
    w[:, 0], w[:, 1] = 0.25, -0.25
    dense.set_weights([w, np.array([-4.0, 4.0], np.float32)])
    return model


def test_road_rewards_the_map_on_the_half_the_model_reads():
    model = _left_half_model()
    x = np.random.default_rng(0).uniform(0.01, 1.0, (6, 8, 8, 1)).astype(np.float32)
    left = np.zeros((6, 8, 8))
    left[:, :, :4] = x[:, :, :4, 0]  # the input itself, where the model reads it
    right = np.zeros((6, 8, 8))
    right[:, :, 4:] = x[:, :, 4:, 0]
    levels = (0.1, 0.2, 0.3)  # at most 19 of the left half's 32 pixels
    morf, lerf = road_curves(model, x, left, class_index=0, levels=levels)
    assert morf.shape == lerf.shape == (6, 3)
    # the brightest pixels the model reads go first under MoRF (filled by their darker
    # neighbours' mean): the score falls; LeRF takes the ignored half first
    assert (road_score(morf, lerf) > 0.1).all()
    morf_r, lerf_r = road_curves(model, x, right, class_index=0, levels=levels)
    assert (road_score(morf, lerf) > road_score(morf_r, lerf_r) + 0.1).all()
    np.testing.assert_allclose(lerf[:, 2], model.predict(x, verbose=0)[:, 0], atol=1e-4)  # only ignored pixels gone
    with pytest.raises(InputError, match="levels"):
        road_curves(model, x, left, levels=(0.5, 1.0))


def test_average_drop_and_increase_on_the_left_half_model():
    model = _left_half_model()
    x = np.random.default_rng(1).uniform(0.6, 1.0, (4, 8, 8, 1)).astype(np.float32)  # class 0: p > 0.5
    keep_left = np.zeros((4, 8, 8))
    keep_left[:, :, :4] = 1.0
    drop, up = confidence_change(model, x, keep_left, class_index=0)
    assert drop == pytest.approx(np.zeros(4), abs=1e-5) and not up.any()  # the map keeps all the model reads
    y = model.predict(x, verbose=0)[:, 0]
    drop, up = confidence_change(model, x, 1.0 - keep_left, class_index=0)  # the left half blacked out: p = 1/(1+e^8)
    o = 1 / (1 + math.exp(8))
    np.testing.assert_allclose(drop, (y - o) / y, rtol=1e-4)


# -- randomization and robustness


def test_random_logit_flags_a_class_blind_explainer():
    model = small_functional(classes=3)
    x = np.random.default_rng(0).random((4, 16, 16, 3)).astype(np.float32)
    classes = np.zeros(4, int)
    blind = random_logit(model, x, baseline_explainer("edge detector"), classes=classes, num_classes=3)
    assert blind == pytest.approx(np.ones(4))

    def by_class(m, images, cls):  # a bright square where the class says: different for every class
        out = np.zeros(images.shape[:3])
        for i, c in enumerate(cls):
            out[i, 5 * c : 5 * c + 5, 5 * c : 5 * c + 5] = 1.0
        return out

    assert (random_logit(model, x, by_class, classes=classes, num_classes=3) < 0.5).all()
    with pytest.raises(InputError, match="2 classes"):
        random_logit(model, x, by_class, classes=classes, num_classes=1)


def test_mprt_of_a_model_blind_map_and_of_gradients():
    model = small_functional(classes=3)
    x = np.random.default_rng(2).random((3, 16, 16, 3)).astype(np.float32)
    classes = np.array([0, 1, 2])
    corr, layers = smooth_mprt(model, x, baseline_explainer("edge detector"), classes=classes, depths=2, samples=2)
    assert corr.shape == (2, 3) and np.allclose(corr, 1.0) and len(layers) == 2
    assert efficient_mprt(model, x, baseline_explainer("edge detector"), classes=classes) == pytest.approx(np.ones(3))
    weights = [w.copy() for w in model.get_weights()]
    corr, _ = smooth_mprt(model, x, method_explainer("saliency"), classes=classes, depths=2, samples=2)
    assert np.nanmean(corr) < 0.9  # re-drawn weights move a gradient map
    assert all(np.array_equal(a, b) for a, b in zip(weights, model.get_weights()))  # the user's model is untouched


def test_one_cascade_gives_both_mprts_and_given_maps_are_used():
    model = small_functional(classes=3)
    x = np.random.default_rng(4).random((3, 16, 16, 3)).astype(np.float32)
    classes = np.array([0, 1, 2])
    ex = method_explainer("saliency")
    smooth, efficient = mprt_scores(model, x, ex, classes=classes, depths=2, samples=2, seed=1)
    alone, _ = smooth_mprt(model, x, ex, classes=classes, depths=2, samples=2, seed=1)
    np.testing.assert_allclose(smooth, alone, atol=1e-6)
    np.testing.assert_allclose(efficient, efficient_mprt(model, x, ex, classes=classes, seed=1), rtol=1e-5)
    calls = []

    def counted(m, images, cls):
        calls.append(len(images))
        return ex(m, images, cls)

    maps = ex(model, x, classes)
    mprt_scores(model, x, counted, classes=classes, depths=2, samples=2, maps=maps)
    # the trained model's 2 noisy copies, then each depth's (the last with the clean images): no clean map at the trained model
    assert calls == [6, 6, 9]
    calls.clear()
    sensitivity(model, x, counted, classes=classes, samples=4, maps=maps)
    random_logit(model, x, counted, classes=classes, num_classes=3, maps=maps)
    assert calls == [12, 3]  # the noisy copies, the other class: the given maps stand for the first call


def test_sensitivity_of_fixed_and_random_explainers():
    model = small_functional()
    x = np.random.default_rng(3).random((5, 16, 16, 3)).astype(np.float32)
    classes = np.zeros(5, int)
    fixed = sensitivity(model, x, lambda m, images, cls: np.ones(images.shape[:3]), classes=classes)
    assert np.allclose(fixed[0], 0) and np.allclose(fixed[1], 0)
    # two independent uniform maps, each over its maximum: E‖u − v‖² / E‖u‖² = (2/12) / (1/3)
    most, avg = sensitivity(model, x, baseline_explainer("random map"), classes=classes, samples=4)
    assert avg == pytest.approx(np.full(5, math.sqrt(0.5)), abs=0.03) and (most >= avg).all()
    with pytest.raises(InputError, match="radius"):
        sensitivity(model, x, baseline_explainer("random map"), classes=classes, radius=0)


def test_baselines():
    x = np.zeros((2, 8, 8, 3), np.float32)
    x[:, :, 4:] = 1.0
    edges = baseline_maps("edge detector", x)
    assert edges[:, :, 3:5].min() > 0 and edges[:, :, :2].max() == 0  # the edge, nothing else
    a, b = baseline_maps("random map", x, seed=1), baseline_maps("random map", x, seed=2)
    assert not np.array_equal(a, b) and np.array_equal(a, baseline_maps("random map", x, seed=1))
    with pytest.raises(InputError, match="valid: random map, edge detector"):
        baseline_maps("sobel", x)


# -- the scorecard


def test_bootstrap_interval_covers_the_mean():
    from convviz.evaluate.scorecard import bootstrap_interval

    v = np.random.default_rng(0).normal(1.0, 0.1, 400)
    lo, hi = bootstrap_interval(v)
    assert lo < v.mean() < hi and hi - lo == pytest.approx(2 * 1.96 * 0.1 / 20, rel=0.25)
    assert all(np.isnan(bootstrap_interval(np.array([np.nan]))))


def test_scorecard_marks_follow_the_stated_rules():
    """A tiny model and two methods: every mark is what its rule says of the values."""
    from convviz.evaluate.explain import BASELINES
    from convviz.evaluate.scorecard import FAMILIES, METRICS, SIMILAR, scorecard

    model = small_functional(classes=3)
    rng = np.random.default_rng(4)
    x = rng.random((12, 16, 16, 3)).astype(np.float32)
    masks = np.zeros((12, 16, 16), bool)
    masks[:, 4:12, 4:12] = True
    card = scorecard(
        model,
        x,
        methods=["gradcam", "saliency"],
        masks=masks,
        layer="c2",
        road_images=4,
        randomization_images=4,
        sensitivity_images=4,
    )
    assert card.methods == ("gradcam", "saliency", *BASELINES) and card.metrics == tuple(METRICS)
    assert card.images["ROAD"] == 4 and card.images["Sparseness"] == 12 and card.images["Smooth MPRT"] == 4
    for m in card.methods:
        for family in FAMILIES:
            deciding = [k for k in METRICS if METRICS[k][0] == family and METRICS[k][2]]
            if family == "randomization":
                below = [card.interval(m, k)[1] < SIMILAR for k in deciding]
                above = [card.interval(m, k)[0] >= SIMILAR for k in deciding]
                want = "pass" if all(below) else "fail" if all(above) else "warn"
            else:
                wins = [card.beats_random(m, k) for k in deciding]
                want = "pass" if all(wins) else "warn" if any(wins) else "fail"
            assert card.mark(m, family) == want, (m, family)
    # the baselines' marks are the reason to read every family
    assert card.mark("random map", "randomization") == "pass"
    assert card.mark("edge detector", "randomization") == "fail"
    assert card.mark("random map", "complexity") == "fail"  # it never beats itself
    text = card.sentence("tiny")
    assert text.startswith("On tiny, ") and "edge detector" not in text  # baselines are not judged in words
    no_masks = scorecard(model, x[:4], methods=["gradcam"], layer="c2", road_images=0, randomization_images=2)
    assert "Relevance Mass" not in no_masks.metrics and no_masks.mark("gradcam", "localisation") == "n/a"
    assert "ROAD" not in no_masks.metrics  # no ROAD: Average Drop alone decides faithfulness
    want = "pass" if no_masks.beats_random("gradcam", "Average Drop") else "fail"
    assert no_masks.mark("gradcam", "faithfulness") == want
    with pytest.raises(InputError, match="methods is empty"):
        scorecard(model, x, methods=[])
    with pytest.raises(InputError, match="unknown method 'lime'"):
        scorecard(model, x[:2], methods=["lime"], road_images=1)


@pytest.mark.slow
def test_the_literature_on_the_embedded_zoo():
    """Adebayo et al. 2018 on shapes-cnn: Guided Backprop fails the randomization family and
    Grad-CAM passes it; gradients' maps follow the weights (Smooth MPRT below 0.5). An edge
    detector beats the random map on complexity and localisation, and fails randomization:
    one family is never enough."""
    from convviz import zoo
    from convviz.evaluate.scorecard import SIMILAR, scorecard

    e = zoo.entry("shapes-cnn")
    model = zoo.load(e, progress=False)
    test = zoo.dataset(e, "test")
    card = scorecard(
        model,
        test.x[:64],
        methods=["gradcam", "saliency", "guided_backprop"],
        masks=test.masks[:64],
        layer=e.cam_layer(model),
        road_images=8,
        randomization_images=8,
        sensitivity_images=4,
    )
    assert card.mark("guided_backprop", "randomization") == "fail"
    assert card.mark("gradcam", "randomization") == "pass"
    assert card.interval("saliency", "Smooth MPRT")[1] < SIMILAR
    assert card.mark("edge detector", "randomization") == "fail"
    assert card.mark("edge detector", "complexity") == "pass" and card.mark("edge detector", "localisation") == "pass"
    assert card.mark("gradcam", "faithfulness") == "pass"  # ROAD and Average Drop beat the random map
    assert "Guided Backprop fails randomization" in card.sentence("shapes-cnn", {"guided_backprop": "Guided Backprop"})


def test_trust_page_and_its_place_in_the_navigation(tmp_path, monkeypatch):
    from types import SimpleNamespace

    from convviz import zoo
    from convviz.evaluate.scorecard import scorecard
    from convviz.site import trust
    from convviz.site.nav import with_trust_page

    model = small_functional(classes=3)
    x = np.random.default_rng(5).random((6, 16, 16, 3)).astype(np.float32)
    card = scorecard(model, x, methods=["gradcam"], layer="c2", road_images=2, randomization_images=2)
    monkeypatch.setattr(zoo, "load", lambda entry, progress=True: model)
    monkeypatch.setattr(zoo, "dataset", lambda entry, split="test": None)
    monkeypatch.setattr(zoo, "scorecard_of", lambda entry, m, test: card)
    monkeypatch.setattr(trust, "fingerprint", lambda entry, text, extra=(): "stamp")
    entries = [SimpleNamespace(name="tiny <b>"), SimpleNamespace(name="other")]
    folder = tmp_path / "docs" / "gallery" / "trust"
    assert trust.write_trust_page(entries, folder, progress=False) is not None
    page = (folder / "index.md").read_text()
    assert "| method | tiny &#60;b&#62; | other |" in page and "tiny <b>" not in page
    assert page.count("## ") == 4  # every model, the rules, and a section per model
    assert markup_text(card.sentence("other", {"gradcam": "Grad-CAM"})) in page
    assert f"{_symbol(card.mark('gradcam', 'faithfulness'))}" in page
    assert trust.write_trust_page(entries, folder, progress=False) is None  # up to date
    nav = [{"Home": "index.md"}, {"Model zoo": "gallery"}, {"Guides": ["ci.md"]}]
    placed = with_trust_page(nav, tmp_path / "docs" / "gallery", tmp_path / "docs")
    assert placed[2] == {"Which explanation to trust": "gallery/trust/index.md"} and len(placed) == 4
    assert with_trust_page(placed, tmp_path / "docs" / "gallery", tmp_path / "docs") == placed


def markup_text(s: str) -> str:
    from convviz.core import markup

    return markup.text(s)


def _symbol(mark: str) -> str:
    return {"pass": "✓ pass", "warn": "~ warn", "fail": "✗ fail"}[mark]
