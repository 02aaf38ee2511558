"""Pixel attributions: exact answers on hand-weighted models, the sanity check, bad input."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from conftest import nested_model, small_functional, small_sequential, to_np
from keras import layers as L

import convviz
from convviz.attr import gradients as attributions
from convviz.attr import attribute as attribute_module


def _linear(shape=(4, 4, 2), classes=3, *, bias=True, seed=0):
    """Flatten → Dense(softmax): class scores are x · W + b, known weights."""
    rng = np.random.default_rng(seed)
    inp = keras.Input(shape)
    out = L.Dense(classes, activation="softmax", use_bias=bias, name="dense")(L.Flatten()(inp))
    model = keras.Model(inp, out, name="linear")
    d = int(np.prod(shape))
    w = rng.normal(size=(d, classes)).astype(np.float32)
    model.get_layer("dense").set_weights([w, rng.normal(size=classes).astype(np.float32)] if bias else [w])
    return model, w


def test_saliency_of_a_linear_model_is_its_weights(rng):
    model, w = _linear()
    x = rng.normal(size=(5, 4, 4, 2)).astype(np.float32)
    for c in range(3):
        s = convviz.attribute(model, x, method="saliency", class_index=c)
        np.testing.assert_allclose(s, np.broadcast_to(w[:, c].reshape(4, 4, 2), s.shape), atol=1e-6)
    top = convviz.attribute(model, x, method="saliency")  # each image's own top class
    pred = (x.reshape(5, -1) @ w + to_np(model.get_layer("dense").bias)).argmax(1)
    np.testing.assert_allclose(top, w[:, pred].T.reshape(5, 4, 4, 2), atol=1e-6)


def test_gradient_x_input_of_a_linear_model_sums_to_its_logit(rng):
    model, w = _linear(bias=False)
    x = rng.normal(size=(6, 4, 4, 2)).astype(np.float32)
    a = convviz.attribute(model, x, method="gradient_x_input", class_index=2)
    np.testing.assert_allclose(a.reshape(6, -1).sum(1), x.reshape(6, -1) @ w[:, 2], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(a, x * w[:, 2].reshape(4, 4, 2), rtol=1e-5, atol=1e-6)


def _relu_unit():
    """score_0 = relu(x1 + x2 − 1), score_1 = 0: one kink on the straight path from black."""
    inp = keras.Input((1, 1, 2))
    h = L.Dense(1, activation="relu", name="h")(L.Flatten()(inp))
    out = L.Dense(2, name="out")(h)
    model = keras.Model(inp, out, name="kink")
    model.get_layer("h").set_weights([np.ones((2, 1), np.float32), np.array([-1.0], np.float32)])
    model.get_layer("out").set_weights([np.array([[1.0, 0.0]], np.float32), np.zeros(2, np.float32)])
    return model


@pytest.mark.parametrize("rule", ["trapezoid", "gausslegendre"])
def test_integrated_gradients_of_a_relu_network_matches_the_analytic_answer(rule):
    # Along α·x the gradient is (1, 1) once α(a + b) > 1, so IG_i = x_i (1 − 1/(a + b)).
    model = _relu_unit()
    x = np.array([[[[0.9, 0.7]]], [[[2.0, 1.0]]], [[[0.3, 3.0]]]], np.float32)
    r = attribute_module.attribute_with_predictions(
        model, x, method="integrated_gradients", class_index=0, steps=200, rule=rule
    )
    s = x.reshape(3, 2).sum(1)
    expected = x.reshape(3, 2) * (1 - 1 / s)[:, None]
    np.testing.assert_allclose(r.attributions.reshape(3, 2), expected, atol=0.01)
    assert r.completeness is not None and (r.completeness < 0.01).all()
    np.testing.assert_allclose(r.attributions.reshape(3, -1).sum(1), s - 1, rtol=0.01)


def test_integrated_gradients_warns_when_steps_are_too_few():
    model = _relu_unit()
    x = np.array([[[[0.9, 0.7]]]], np.float32)
    with pytest.warns(RuntimeWarning, match="completeness.*too few"):
        r = attribute_module.attribute_with_predictions(
            model, x, method="integrated_gradients", class_index=0, steps=2, rule="trapezoid"
        )
    assert r.completeness[0] > 0.05


def test_integration_points_integrate_polynomials():
    for rule, steps, degree in (("gausslegendre", 4, 7), ("trapezoid", 101, 1)):
        a, w = attributions.integration_points(steps, rule)
        assert w.sum() == pytest.approx(1.0)
        assert (a**degree * w).sum() == pytest.approx(1 / (degree + 1), rel=1e-9)
    assert attributions.integration_points(1, "trapezoid")[0].tolist() == [0.5]


def test_smoothgrad_without_noise_is_saliency_and_is_batch_independent(rng):
    model = small_functional(softmax=True)
    x = rng.random((5, 16, 16, 3), dtype=np.float32)
    sal = convviz.attribute(model, x, method="saliency")
    zero = convviz.attribute(model, x, method="smoothgrad", noise=0.0, samples=3)
    np.testing.assert_allclose(zero, sal, rtol=1e-4, atol=1e-6)
    a = convviz.attribute(model, x, method="smoothgrad", samples=6, batch_size=7)
    b = convviz.attribute(model, x, method="smoothgrad", samples=6, batch_size=64)
    np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)
    assert not np.allclose(a, sal, atol=1e-4)


def test_integrated_gradients_is_batch_independent_and_complete(rng):
    model = small_functional(softmax=True)
    x = rng.random((4, 16, 16, 3), dtype=np.float32)
    a = attribute_module.attribute_with_predictions(model, x, method="integrated_gradients", steps=32, batch_size=10)
    b = attribute_module.attribute_with_predictions(model, x, method="integrated_gradients", steps=32, batch_size=200)
    np.testing.assert_allclose(a.attributions, b.attributions, rtol=1e-4, atol=1e-6)
    assert (a.completeness < attributions.COMPLETENESS_TOLERANCE).all()


def _two_layer(seed=3):
    inp = keras.Input((1, 1, 4))
    h = L.Dense(5, activation="relu", name="h")(L.Flatten()(inp))
    out = L.Dense(3, activation="softmax", name="out")(h)
    model = keras.Model(inp, out, name="two")
    rng = np.random.default_rng(seed)
    w1, b1 = rng.normal(size=(4, 5)).astype(np.float32), rng.normal(size=5).astype(np.float32)
    w2, b2 = rng.normal(size=(5, 3)).astype(np.float32), np.zeros(3, np.float32)
    model.get_layer("h").set_weights([w1, b1])
    model.get_layer("out").set_weights([w2, b2])
    return model, w1, b1, w2


def test_guided_backprop_follows_the_rule_by_hand_and_leaves_the_model_alone(rng):
    model, w1, b1, w2 = _two_layer()
    x = rng.normal(size=(8, 1, 1, 4)).astype(np.float32)
    before = [w.copy() for w in model.get_weights()]
    out_before = convviz.predict(model, x)
    c = 1
    gb = convviz.attribute(model, x, method="guided_backprop", class_index=c).reshape(8, 4)
    pre = x.reshape(8, 4) @ w1 + b1
    g2 = np.broadcast_to(w2[:, c], pre.shape)  # ∂score/∂h
    g1 = g2 * (pre > 0) * (g2 > 0)  # the guided rule at the ReLU
    np.testing.assert_allclose(gb, g1 @ w1.T, atol=1e-5)
    plain = convviz.attribute(model, x, method="saliency", class_index=c).reshape(8, 4)
    np.testing.assert_allclose(plain, (g2 * (pre > 0)) @ w1.T, atol=1e-5)
    assert not np.allclose(gb, plain)  # w2[:, c] has negative entries: the rule matters here
    for w0, w in zip(before, model.get_weights()):
        np.testing.assert_array_equal(w0, w)
    np.testing.assert_allclose(convviz.predict(model, x), out_before, rtol=1e-6)
    np.testing.assert_allclose(
        convviz.attribute(model, x, method="saliency", class_index=c).reshape(8, 4), plain, atol=1e-6
    )  # plain gradients are not guided afterwards


@pytest.mark.parametrize("build", [small_sequential, nested_model])
def test_guided_backprop_gates_relus_inside_conv_layers_and_nested_models(build, rng):
    model = build()
    shape = tuple(model.inputs[0].shape[1:])
    x = rng.random((3, *shape), dtype=np.float32) * (255 if model.name == "transfer" else 1)
    gb = convviz.attribute(model, x, method="guided_backprop")
    sal = convviz.attribute(model, x, method="saliency")
    assert gb.shape == x.shape and np.isfinite(gb).all()
    assert np.abs(gb).sum() > 0
    assert not np.allclose(gb, sal)


def test_guided_gradcam_is_guided_backprop_times_the_upsampled_gradcam(rng):
    model = small_functional()
    x = rng.random((3, 16, 16, 3), dtype=np.float32)
    gb = convviz.attribute(model, x, method="guided_backprop")
    cam = convviz.grad_cam(model, x)
    ggc = convviz.attribute(model, x, method="guided_gradcam")
    np.testing.assert_allclose(ggc, gb * cam[..., None], rtol=1e-5, atol=1e-7)


def test_hirescam_equals_gradcam_on_a_one_by_one_layer(rng):
    inp = keras.Input((5, 5, 2))
    a = L.Conv2D(6, 5, activation="relu", name="full")(inp)  # 1×1 output
    out = L.Dense(3, activation="softmax")(L.Flatten()(a))
    model = keras.Model(inp, out)
    x = rng.random((4, 5, 5, 2), dtype=np.float32)
    hires = convviz.grad_cam(model, x, layer="full", method="hirescam", upsample=False, normalize=False)
    grad = convviz.grad_cam(model, x, layer="full", method="gradcam", upsample=False, normalize=False)
    assert hires.shape == (4, 1, 1)
    np.testing.assert_allclose(hires, grad, rtol=1e-5, atol=1e-7)
    gap = small_functional()  # global average pooling then linear: uniform gradients, equal maps
    xb = rng.random((2, 16, 16, 3), dtype=np.float32)
    np.testing.assert_allclose(
        convviz.grad_cam(gap, xb, method="hirescam", normalize=False),
        convviz.grad_cam(gap, xb, method="gradcam", normalize=False),
        rtol=1e-4,
        atol=1e-7,
    )
    flat = small_sequential()  # a Flatten head: each position its own gradient, the maps differ
    xs = rng.random((2, 12, 12, 1), dtype=np.float32)
    assert not np.allclose(
        convviz.grad_cam(flat, xs, method="hirescam", normalize=False),
        convviz.grad_cam(flat, xs, method="gradcam", normalize=False),
    )


def test_attribution_map_reductions():
    a = np.array([[[[1.0, -2.0], [0.0, 3.0]]]], np.float32)  # (1, 1, 2, 2)
    np.testing.assert_allclose(convviz.attribution_map(a), [[[3.0, 3.0]]])
    np.testing.assert_allclose(convviz.attribution_map(a, reduce="sum"), [[[-1.0, 3.0]]])
    np.testing.assert_allclose(convviz.attribution_map(a, reduce="l2"), [[[np.sqrt(5.0), 3.0]]])
    np.testing.assert_allclose(convviz.attribution_map(a[0]), [[3.0, 3.0]])  # one image: one (H, W) map
    with pytest.raises(ValueError, match="unknown reduce 'max'; valid: abs_sum, sum, l2"):
        convviz.attribution_map(a, reduce="max")
    with pytest.raises(ValueError, match=r"must be \(N, H, W, C\)"):
        convviz.attribution_map(np.zeros((2, 3)))


def test_bad_input_gets_clear_errors(rng):
    model, _ = _linear()
    x = rng.normal(size=(2, 4, 4, 2)).astype(np.float32)
    with pytest.raises(
        ValueError,
        match="unknown attribution method 'lime'; valid methods: saliency, "
        "gradient_x_input, smoothgrad, integrated_gradients",
    ):
        convviz.attribute(model, x, method="lime")
    with pytest.raises(ValueError, match="steps must be an integer of at least 1, got 0"):
        convviz.attribute(model, x, steps=0)
    with pytest.raises(ValueError, match="samples must be an integer of at least 1"):
        convviz.attribute(model, x, method="smoothgrad", samples=-1)
    with pytest.raises(ValueError, match="noise must be a finite number >= 0"):
        convviz.attribute(model, x, method="smoothgrad", noise=-0.1)
    with pytest.raises(ValueError, match=r"baseline of shape \(3, 3, 2\) does not fit the images \(2, 4, 4, 2\)"):
        convviz.attribute(model, x, baseline=np.zeros((3, 3, 2)))
    with pytest.raises(ValueError, match="unknown baseline 'gray'; valid: black, blur, uniform"):
        convviz.attribute(model, x, baseline="gray")
    with pytest.raises(ValueError, match="unknown integration rule 'simpson'; valid: gausslegendre, trapezoid"):
        convviz.attribute(model, x, rule="simpson")
    with pytest.raises(ValueError, match=r"class_index \[3\] out of range: the model has 3 classes"):
        convviz.attribute(model, x, method="saliency", class_index=3)
    with pytest.raises(ValueError, match="expects 2 channel"):
        convviz.attribute(model, np.zeros((1, 4, 4, 3)), method="saliency")


def test_a_zero_gradient_gives_zeros_and_a_warning_never_nan(rng):
    model, _ = _linear()
    model.get_layer("dense").set_weights([np.zeros((32, 3), np.float32), np.ones(3, np.float32)])
    x = rng.normal(size=(2, 4, 4, 2)).astype(np.float32)
    for method in ("saliency", "integrated_gradients", "smoothgrad"):
        with pytest.warns(RuntimeWarning, match="all zero"):
            a = convviz.attribute(model, x, method=method, steps=4, samples=2)
        assert np.isfinite(a).all() and not a.any()


def test_baselines_black_uniform_blur_and_arrays(rng):
    model, w = _linear(bias=False)
    x = rng.random((2, 4, 4, 2), dtype=np.float32)
    ones = convviz.attribute(model, x, baseline=1.0, steps=4, class_index=0)
    np.testing.assert_allclose(ones, (x - 1) * w[:, 0].reshape(4, 4, 2), rtol=1e-4, atol=1e-6)
    arr = convviz.attribute(model, x, baseline=np.full((4, 4, 2), 1.0, np.float32), steps=4, class_index=0)
    np.testing.assert_allclose(arr, ones, atol=1e-6)
    for b in ("uniform", "blur"):
        r = attribute_module.attribute_with_predictions(model, x, baseline=b, steps=4, class_index=0)
        assert (r.completeness < 1e-3).all()  # linear: exact for any baseline
    u1 = convviz.attribute(model, x, baseline="uniform", steps=4, seed=1)
    u2 = convviz.attribute(model, x, baseline="uniform", steps=4, seed=2)
    assert not np.allclose(u1, u2)


def test_cached_attributions_are_reused(rng, tmp_path):
    from convviz.store.cache import Cache

    model = small_functional()
    x = rng.random((2, 16, 16, 3), dtype=np.float32)
    store = Cache(tmp_path / "c")
    a = convviz.attribute_with_predictions(model, x, method="integrated_gradients", steps=32, cache=store)
    assert len(store.keys()) == 1
    b = convviz.attribute_with_predictions(model, x, method="integrated_gradients", steps=32, cache=store)
    np.testing.assert_array_equal(a.attributions, b.attributions)
    np.testing.assert_array_equal(a.completeness, b.completeness)
    convviz.attribute_with_predictions(model, x, method="integrated_gradients", steps=33, cache=store)
    assert len(store.keys()) == 2
    with pytest.warns(RuntimeWarning, match="completeness"):  # read from the cache: still reported
        for _ in range(2):
            convviz.attribute_with_predictions(model, x, method="integrated_gradients", steps=1, cache=store)


def _edges(c):
    """An edge detector of the input: depends on the image, not on the model."""
    g = np.abs(np.diff(c.images, axis=1, append=c.images[:, -1:])) + np.abs(
        np.diff(c.images, axis=2, append=c.images[:, :, -1:])
    )
    return g.astype(np.float32)


def _trained_shapes_model():
    """A tiny ConvNet trained for a few seconds to tell bright squares from bright bars."""
    rng = np.random.default_rng(0)
    n = 240
    x = rng.random((n, 16, 16, 1), dtype=np.float32) * 0.3
    y = np.arange(n) % 2
    for i in range(n):
        r, c = rng.integers(2, 10, 2)
        if y[i]:
            x[i, r : r + 4, c : c + 4] += 0.7
        else:
            x[i, 1:15, c : c + 2] += 0.7
    inp = keras.Input((16, 16, 1))
    h = L.Conv2D(8, 3, activation="relu", padding="same", name="c1")(inp)
    h = L.MaxPooling2D()(h)
    h = L.Conv2D(16, 3, activation="relu", padding="same", name="c2")(h)
    out = L.Dense(2, activation="softmax", name="out")(L.GlobalAveragePooling2D()(h))
    model = keras.Model(inp, out, name="tiny_trained")
    model.compile(keras.optimizers.Adam(3e-3), "sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x, y, epochs=20, batch_size=32, verbose=0)
    return model, x[:16]


@pytest.mark.slow
def test_randomization_check_flags_an_edge_detector_and_passes_gradcam():
    attributions.register_attribution_method("edges", _edges)
    try:
        model, x = _trained_shapes_model()
        edges = convviz.randomization_check(model, x, method="edges")
        assert edges.verdict() == "fails" and edges.final_spearman() > 0.99
        cam = convviz.randomization_check(model, x, method="gradcam", layer="c2")
        assert cam.verdict() == "passes"
        sal = convviz.randomization_check(model, x, method="saliency")
        assert sal.spearman.shape == (3, 16)
    finally:
        attributions.ATTRIBUTION_METHODS.pop("edges")
    with pytest.raises(ValueError, match="unknown method 'edges'; valid: CAM methods"):
        convviz.randomization_check(model, x, method="edges")
