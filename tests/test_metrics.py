"""Localization and faithfulness metrics on synthetic masks with known answers."""

import keras
import numpy as np

import convviz
import pytest


def square_mask(n=2, size=10):
    m = np.zeros((n, size, size), bool)
    m[:, 2:5, 2:5] = True
    return m


def test_pointing_game_known_answers():
    masks = square_mask()
    maps = np.zeros((2, 10, 10))
    maps[0, 3, 3] = 1.0  # inside
    maps[1, 8, 8] = 1.0  # outside
    assert convviz.pointing_game(maps, masks).tolist() == [True, False]
    maps[1, 8, 8], maps[1, 6, 4] = 0, 1.0  # 2 px below the mask's edge at (4, 4)
    assert convviz.pointing_game(maps, masks, tolerance=2)[1]
    assert not convviz.pointing_game(maps, masks, tolerance=1)[1]
    assert convviz.pointing_game(np.zeros((2, 10, 10)), masks).tolist() == [False, False]


def test_energy_pointing_game_known_answers():
    masks = square_mask(1)
    maps = np.zeros((1, 10, 10))
    maps[0, 3, 3], maps[0, 8, 8] = 3.0, 1.0
    assert convviz.energy_pointing_game(maps, masks)[0] == pytest.approx(0.75)
    assert convviz.energy_pointing_game(np.zeros((1, 10, 10)), masks)[0] == 0.0
    assert convviz.energy_pointing_game(masks.astype(float), masks)[0] == pytest.approx(1.0)


def test_baselines():
    g = convviz.center_baseline((9, 9), 2)
    assert g.shape == (2, 9, 9) and np.unravel_index(g[0].argmax(), (9, 9)) == (4, 4)
    r = convviz.random_baseline((5, 5), 3, seed=1)
    assert r.shape == (3, 5, 5) and np.array_equal(r, convviz.random_baseline((5, 5), 3, seed=1))


def test_shape_mismatch_and_nan():
    with pytest.raises(ValueError, match="same shape"):
        convviz.pointing_game(np.zeros((2, 5, 5)), np.zeros((2, 4, 4)))
    with pytest.raises(ValueError, match="NaN"):
        convviz.energy_pointing_game(np.full((1, 4, 4), np.nan), np.zeros((1, 4, 4)))


class BrightnessModel:
    """p(class 0) = mean brightness of the top-left quadrant (a model with a known answer)."""

    def predict(self, x, batch_size=None, verbose=0):
        p = x[:, :4, :4, :].mean(axis=(1, 2, 3))
        return np.stack([p, 1 - p], axis=1)


def test_deletion_and_insertion_reward_the_right_map():
    x = np.zeros((1, 8, 8, 1), np.float32)
    x[0, :4, :4] = 1.0
    good = np.zeros((1, 8, 8))
    good[0, :4, :4] = 1.0
    bad = 1.0 - good
    model = BrightnessModel()
    d_good = convviz.deletion_curve(model, x, good, class_index=0, steps=4)
    d_bad = convviz.deletion_curve(model, x, bad, class_index=0, steps=4)
    np.testing.assert_allclose(d_good[0], [1.0, 0.0, 0.0, 0.0, 0.0])
    assert convviz.auc(d_good)[0] < convviz.auc(d_bad)[0]
    i_good = convviz.insertion_curve(model, x, good, class_index=0, steps=4)
    assert convviz.auc(i_good)[0] > convviz.auc(convviz.insertion_curve(model, x, bad, class_index=0, steps=4))[0]
    assert convviz.auc(np.array([[0.0, 1.0]]))[0] == pytest.approx(0.5)


def test_spearman_and_ssim():
    a = np.arange(16, dtype=float).reshape(4, 4)
    assert convviz.spearman(a, a * 2 + 1) == pytest.approx(1.0)
    assert convviz.spearman(a, -a) == pytest.approx(-1.0)
    assert convviz.spearman(a, np.ones((4, 4))) == 0.0
    img = np.random.default_rng(0).random((16, 16))
    assert convviz.ssim(img, img) == pytest.approx(1.0)
    assert convviz.ssim(img, np.random.default_rng(1).random((16, 16))) < 0.3


def test_per_map_similarities_equal_the_reference_recipes_map_by_map():
    """The stacked versions the metrics use equal, per map, scipy's Spearman correlation, an
    SSIM computed pixel by pixel from its definition, and a per-map histogram entropy."""
    from scipy.ndimage import gaussian_filter
    from scipy.stats import spearmanr

    from convviz.evaluate.complexity import histogram_entropy
    from convviz.evaluate.sanity import flat_per_map, spearman_per_map, ssim_per_map

    g = np.random.default_rng(3)
    a = g.random((5, 12, 10))
    b = a + g.normal(0, 0.3, a.shape) * np.arange(5)[:, None, None]
    b[1] = np.round(b[1] * 3)  # ties: average ranks
    b[2] = 0.25  # a constant map: 0
    expected = [0.0 if i == 2 else spearmanr(a[i].ravel(), b[i].ravel())[0] for i in range(5)]
    np.testing.assert_allclose(spearman_per_map(a, b), expected, atol=1e-12)
    assert spearman_per_map(a, b)[0] == pytest.approx(1.0)

    def one_ssim(p, q):
        mu_p, mu_q = gaussian_filter(p, 1.5), gaussian_filter(q, 1.5)
        var_p = gaussian_filter(p * p, 1.5) - mu_p**2
        var_q = gaussian_filter(q * q, 1.5) - mu_q**2
        cov = gaussian_filter(p * q, 1.5) - mu_p * mu_q
        c1, c2 = 0.01**2, 0.03**2
        return np.mean((2 * mu_p * mu_q + c1) * (2 * cov + c2) / ((mu_p**2 + mu_q**2 + c1) * (var_p + var_q + c2)))

    np.testing.assert_allclose(ssim_per_map(a, b), [one_ssim(p, q) for p, q in zip(a, b)], rtol=1e-12)
    assert ssim_per_map(a, a) == pytest.approx(np.ones(5))
    np.testing.assert_array_equal(flat_per_map(np.stack([a[0], b[2], np.zeros((12, 10))])), [False, True, True])

    def one_entropy(m, bins=100):
        v = (m.ravel() - m.min()) / (np.ptp(m) or 1)
        p = np.bincount(np.minimum((v * bins).astype(int), bins - 1), minlength=bins) / v.size
        p = p[p > 0]
        return -(p * np.log(p)).sum()

    np.testing.assert_allclose(histogram_entropy(b), [one_entropy(m) for m in b], rtol=1e-12)
    with pytest.raises(convviz.InputError, match="same shape"):
        spearman_per_map(a, b[:, :5])
    with pytest.raises(convviz.InputError, match=r"\(N, H, W\)"):
        ssim_per_map(a[0], b[0])


def test_randomization_check_decorrelates_and_keeps_model(rng):
    from conftest import small_functional

    model = small_functional()
    before = [w.copy() for w in model.get_weights()]
    x = rng.random((4, 16, 16, 3), dtype=np.float32)
    res = convviz.randomization_check(model, x, method="gradcam")
    assert res.layers == ("dense", "c2", "c1")
    assert res.spearman.shape == (3, 4) and res.ssim.shape == (3, 4)
    assert res.spearman[-1].mean() < 0.9
    for w0, w1 in zip(before, model.get_weights()):
        np.testing.assert_array_equal(w0, w1)


def test_pointing_game_constant_map_scores_chance_not_one():
    masks = np.zeros((2, 10, 10), bool)
    masks[0, 2:7, 2:7] = True  # 25% of the image
    masks[1, :, :1] = True  # 10%
    constant = np.ones((2, 10, 10))
    np.testing.assert_allclose(convviz.pointing_game(constant, masks), [0.25, 0.10])
    # a tie of two points, one inside: an expected hit of one half
    tie = np.zeros((1, 10, 10))
    tie[0, 3, 3] = tie[0, 9, 9] = 1.0
    assert convviz.pointing_game(tie, masks[:1])[0] == pytest.approx(0.5)


def _constant_cam(c):
    return np.ones(c.activations.shape[:3], np.float32)


def test_randomization_check_reports_degenerate_maps_never_as_a_pass(rng):
    from conftest import small_functional
    from convviz.attr import cam

    cam.register_cam_method("constant-test", _constant_cam)
    try:
        model = small_functional()
        x = rng.random((3, 16, 16, 3), dtype=np.float32)
        res = convviz.randomization_check(model, x, method="constant-test", layer="c2")
    finally:
        del cam.CAM_METHODS["constant-test"]
    assert res.degenerate.all() and np.isnan(res.spearman).all()
    assert res.verdict() == "degenerate" and not res.passes()


def test_randomization_check_leaves_global_random_state_alone(rng):
    import random

    from conftest import small_functional

    model = small_functional()
    x = rng.random((2, 16, 16, 3), dtype=np.float32)
    random.seed(123)
    np.random.seed(123)
    expected = (random.random(), np.random.random())
    random.seed(123)
    np.random.seed(123)
    a = convviz.randomization_check(model, x, layer="c2", seed=3)
    assert (random.random(), np.random.random()) == expected
    b = convviz.randomization_check(model, x, layer="c2", seed=3)
    np.testing.assert_array_equal(a.spearman, b.spearman)  # reproducible from its own seed
    c = convviz.randomization_check(model, x, layer="c2", seed=4)
    assert not np.allclose(a.spearman, c.spearman)


def test_randomization_check_emits_no_warning(rng, recwarn):
    from conftest import small_functional

    import warnings

    model = small_functional()
    with warnings.catch_warnings(record=True) as caught:  # DeprecationWarnings too (pytest hides them)
        warnings.simplefilter("always")
        convviz.randomization_check(model, rng.random((2, 16, 16, 3), dtype=np.float32), layer="c2")
    assert not [str(w.message) for w in caught], [str(w.message) for w in caught]
    assert not [w for w in recwarn if issubclass(w.category, RuntimeWarning)]


def test_insertion_starts_from_a_blurred_image_by_default():
    x = np.zeros((1, 32, 32, 1), np.float32)
    x[0, 10:20, 10:20] = 1.0
    model = BrightnessModel()
    curve = convviz.insertion_curve(model, x, np.ones((1, 32, 32)), class_index=0, steps=2)
    start = convviz.blurred(x)
    assert curve[0, 0] == pytest.approx(model.predict(start)[0, 0])  # nothing inserted yet
    assert curve[0, -1] == pytest.approx(model.predict(x)[0, 0])  # everything inserted
    assert 0 < start[0, 10, 10, 0] < 1 and start.sum() == pytest.approx(x.sum(), rel=1e-3)
    zero = convviz.insertion_curve(model, x, np.ones((1, 32, 32)), class_index=0, steps=2, baseline=0.0)
    assert zero[0, 0] == 0.0
    with pytest.raises(ValueError, match="'blur'"):
        convviz.insertion_curve(model, x, np.ones((1, 32, 32)), baseline="noise")


def test_randomization_checkpoints_compare_fewer_depths_with_the_same_end(rng):
    from conftest import small_functional

    model = small_functional()
    x = rng.random((4, 16, 16, 3), dtype=np.float32)
    full = convviz.randomization_check(model, x, method="gradcam")
    some = convviz.randomization_check(model, x, method="gradcam", checkpoints=2)
    assert some.layers == ("dense", "c1") and some.spearman.shape == (2, 4)
    np.testing.assert_allclose(some.spearman, full.spearman[[0, 2]])
    with pytest.raises(ValueError, match="checkpoints must be at least 1"):
        convviz.randomization_check(model, x, checkpoints=0)


def test_cached_curves_equal_computed_ones_and_key_on_maps_and_options(tmp_path, monkeypatch):
    from conftest import small_functional
    from convviz.core import checks
    from convviz.store.cache import Cache

    model = small_functional()
    x = np.random.default_rng(1).random((3, 16, 16, 3)).astype(np.float32)
    hm = np.random.default_rng(2).random((3, 16, 16))
    store = Cache(tmp_path)
    fresh = convviz.deletion_curve(model, x, hm, class_index=1, steps=4)
    cached = convviz.deletion_curve(model, x, hm, class_index=1, steps=4, cache=store)
    np.testing.assert_allclose(cached, fresh, rtol=1e-6)
    calls = []
    real = checks.run_batches
    monkeypatch.setattr(checks, "run_batches", lambda *a, **k: calls.append(1) or real(*a, **k))
    np.testing.assert_array_equal(convviz.deletion_curve(model, x, hm, class_index=1, steps=4, cache=store), cached)
    assert calls == []  # read back: no forward pass
    convviz.deletion_curve(model, x, hm[::-1], class_index=1, steps=4, cache=store)  # other maps
    convviz.insertion_curve(model, x, hm, class_index=1, steps=4, cache=store)  # the other curve
    convviz.deletion_curve(model, x, hm, class_index=1, steps=4, baseline=0.5, cache=store)  # another baseline
    assert len(calls) == 3 * 5
    assert len([p for p in tmp_path.iterdir() if not p.name.startswith(".")]) == 4
    with pytest.raises(ValueError, match="baseline must be a number"):
        convviz.deletion_curve(model, x, hm, steps=4, baseline="noise", cache=store)


def test_reinitialized_weights_use_each_kernels_own_initializer():
    """Depthwise and separable convolutions name their initializers after the kernel's role:
    each weight is drawn by its own (constants here: known answers), not replaced by noise."""
    from convviz.graph.reinit import reinitialized_weights

    depthwise = keras.layers.DepthwiseConv2D(3, depthwise_initializer="ones", bias_initializer="zeros")
    separable = keras.layers.SeparableConv2D(
        4, 3, depthwise_initializer=keras.initializers.Constant(0.5), pointwise_initializer="ones"
    )
    for layer in (depthwise, separable):
        layer.build((None, 8, 8, 2))
        layer.set_weights([np.full(w.shape, -7.0, np.float32) for w in layer.weights])
    d_kernel, d_bias = reinitialized_weights(depthwise, 3)
    assert np.all(d_kernel == 1.0) and np.all(d_bias == 0.0)
    s_depth, s_point, s_bias = reinitialized_weights(separable, 3)
    assert np.all(s_depth == 0.5) and np.all(s_point == 1.0) and np.all(s_bias == 0.0)
    norm = keras.layers.Normalization(mean=2.0, variance=4.0)
    norm.build((None, 3))
    kept = reinitialized_weights(norm, 0, keep_others=True)  # constants without an initializer stay
    assert [np.asarray(w).tolist() for w in kept] == [np.asarray(w).tolist() for w in norm.weights]


def test_randomization_checks_in_a_row_equal_checks_on_a_fresh_model(rng):
    """Checks run on the model itself and set its weights back: each starts from the model's
    current weights (not from the layers the previous check re-initialized), and its values
    equal a check on a fresh copy's."""
    from conftest import small_functional

    model = small_functional()
    x = rng.random((3, 16, 16, 3), dtype=np.float32)
    convviz.randomization_check(model, x, method="gradcam", layer="c2")
    again = convviz.randomization_check(model, x, method="saliency")

    def fresh_copy(m):
        twin = keras.models.clone_model(m)
        twin.set_weights([np.array(w) for w in m.weights])
        return twin

    np.testing.assert_array_equal(
        again.spearman, convviz.randomization_check(fresh_copy(model), x, method="saliency").spearman
    )
    model.set_weights([np.array(w) * 0.5 for w in model.weights])  # the model changed in place
    changed = convviz.randomization_check(model, x, method="gradcam", layer="c2")
    reference = convviz.randomization_check(fresh_copy(model), x, method="gradcam", layer="c2")
    np.testing.assert_array_equal(changed.spearman, reference.spearman)
    np.testing.assert_array_equal(changed.ssim, reference.ssim)


def test_a_check_sets_every_weight_back_after_an_error_too(rng):
    from conftest import small_functional

    from convviz.graph.reinit import restored

    model = small_functional()
    before = [np.array(w) for w in model.weights]
    x = rng.random((2, 16, 16, 3), dtype=np.float32)
    convviz.randomization_check(model, x, method="saliency")
    for a, b in zip(before, model.weights):
        np.testing.assert_array_equal(a, np.array(b))
    with pytest.raises(RuntimeError, match="mid-cascade"):
        with restored(model):
            model.weights[0].assign(np.zeros(model.weights[0].shape, np.float32))
            raise RuntimeError("mid-cascade")
    for a, b in zip(before, model.weights):
        np.testing.assert_array_equal(a, np.array(b))
