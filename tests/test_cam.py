"""Grad-CAM family: maps computed by hand on hand-weighted models, the keras.io recipe, errors."""

import warnings

import keras
import numpy as np
import pytest

from convviz.core import backend as _backend
from convviz.attr.cam import CAM_METHODS, cam_with_predictions, grad_cam
from convviz.core.errors import BlankMapWarning
from conftest import nested_model, small_functional, small_sequential, to_np

ops = keras.ops


def hand_model():
    """Identity 'conv' (2 channels), GAP, Dense with known weights, softmax."""
    inp = keras.Input((4, 4, 2))
    conv = keras.layers.Conv2D(2, 1, use_bias=False, name="conv")
    x = conv(inp)
    x = keras.layers.GlobalAveragePooling2D()(x)
    dense = keras.layers.Dense(2, activation="softmax", name="dense")
    model = keras.Model(inp, dense(x))
    conv.set_weights([np.eye(2, dtype=np.float32).reshape(1, 1, 2, 2)])
    dense.set_weights([np.array([[2.0, -1.0], [-1.0, 3.0]], np.float32), np.zeros(2, np.float32)])
    return model


def test_gradcam_by_hand():
    x = np.zeros((1, 4, 4, 2), np.float32)
    x[0, 0, 0, 0] = 1.0  # channel 0 bright top-left
    x[0, 3, 3, 1] = 1.0  # channel 1 bright bottom-right
    # logits = mean(A) @ W; dy_c/dA^k = W[k, c] / 16 everywhere: alpha = W[:, c] / 16
    m0 = grad_cam(hand_model(), x, class_index=0, upsample=False, normalize=False)
    expected0 = np.maximum(2.0 / 16 * x[0, :, :, 0] - 1.0 / 16 * x[0, :, :, 1], 0)
    np.testing.assert_allclose(m0[0], expected0, atol=1e-7)
    m1 = grad_cam(hand_model(), x, class_index=1, upsample=False)
    assert m1[0, 3, 3] == pytest.approx(1.0) and m1[0, 0, 0] == 0.0


def test_softmax_is_dropped_without_mutating():
    model = hand_model()
    x = np.random.default_rng(0).random((3, 4, 4, 2)).astype(np.float32)
    r = cam_with_predictions(model, x, normalize=False, upsample=False)
    probs = to_np(model(x))
    np.testing.assert_allclose(r.probabilities, probs, rtol=1e-5)
    assert r.predicted.tolist() == probs.argmax(1).tolist()
    assert model.get_layer("dense").activation.__name__ == "softmax"


def keras_io_gradcam(model, img, layer, pred_index=None):
    """keras.io's recipe: a grad model over the last conv layer; the top logit (softmax dropped)."""
    grad_model = keras.Model(model.inputs, [model.get_layer(layer).output, model.output])
    conv = grad_model(img)[0]
    dense = model.get_layer("dense")
    if pred_index is None:
        pred_index = int(np.argmax(to_np(model(img))[0]))

    def score_from_conv(a):
        z = ops.matmul(model.get_layer("gap")(a), dense.kernel) + dense.bias
        return z[:, pred_index]

    _, grads = _backend.value_and_grad(score_from_conv, conv)
    pooled = ops.mean(grads, axis=(0, 1, 2))
    heat = to_np(conv[0] @ pooled[..., None])[..., 0]
    return np.maximum(heat, 0) / heat.max()


def test_equals_keras_io_recipe(rng):
    model = small_functional((16, 16, 3), softmax=True)
    x = rng.random((3, 16, 16, 3), dtype=np.float32)
    ours = grad_cam(model, x, layer="c2", upsample=False)
    for i in range(3):
        ref = keras_io_gradcam(model, x[i : i + 1], "c2")
        np.testing.assert_allclose(ours[i], ref, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("method", sorted(CAM_METHODS))
def test_every_method_on_every_model_shape(method, rng):
    for model, shape in [(small_sequential(), (12, 12, 1)), (nested_model(), (16, 16, 3))]:
        x = rng.random((3, *shape), dtype=np.float32)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            maps = grad_cam(model, x, method=method)
        assert maps.shape == (3, *shape[:2]) and np.isfinite(maps).all()
        assert maps.min() >= 0 and maps.max() <= 1


def test_layercam_and_gradcampp_by_hand():
    x = np.zeros((1, 4, 4, 2), np.float32)
    x[0, 1, 2, 0] = 2.0
    x[0, 2, 1, 1] = 1.0
    lc = grad_cam(hand_model(), x, class_index=0, method="layercam", upsample=False, normalize=False)
    expected = np.maximum(2.0 / 16, 0) * x[0, :, :, 0] + 0 * x[0, :, :, 1]
    np.testing.assert_allclose(lc[0], expected, atol=1e-7)
    pp = grad_cam(hand_model(), x, class_index=0, method="gradcam++", upsample=False)
    assert pp[0, 1, 2] == pytest.approx(1.0) and pp[0, 2, 1] == 0.0


def test_gradcampp_adds_no_constant_to_its_denominator():
    """With small gradients (a Dense layer of weights ~1e-3: ∂y/∂A = W/16 ~ 6e-5), a constant
    such as pytorch-grad-cam's 1e-6 would dominate 2g² and shrink α: the map must be eq. 19's."""
    model = hand_model()
    W = np.array([[2.0, -1.0], [-1.0, 3.0]], np.float32) * 1e-3
    model.get_layer("dense").set_weights([W, np.zeros(2, np.float32)])
    x = np.random.default_rng(5).random((1, 4, 4, 2)).astype(np.float32)
    got = grad_cam(model, x, class_index=0, method="gradcam++", upsample=False, normalize=False)
    a = x[0].astype(np.float64)
    g = np.broadcast_to(W[:, 0].astype(np.float64) / 16, a.shape)  # the logit's gradient, every position
    alpha = g**2 / (2 * g**2 + a.sum(axis=(0, 1)) * g**3)
    weights = (np.maximum(g, 0) * alpha).sum(axis=(0, 1))
    expected = np.maximum(a @ weights, 0)
    np.testing.assert_allclose(got[0], expected, rtol=1e-5)


def positive(model):
    """``model`` with every weight made positive (|w| + 0.01, dense weights varied by class):
    every unit fires and every class has evidence everywhere, so no Grad-CAM is all zero
    (on any backend; comparing all-zero maps would check nothing)."""
    for layer in model.layers:
        for sub in getattr(layer, "layers", [layer]):
            if sub.get_weights():
                sub.set_weights([np.abs(w) + 0.01 for w in sub.get_weights()])
    dense = model.get_layer("predictions")
    w, b = dense.get_weights()
    dense.set_weights([w * np.linspace(1, 2, w.shape[1])[None] * (1 + np.arange(w.shape[0]))[:, None], b])
    return model


def test_batch_equals_one_by_one_and_per_image_classes(rng):
    model = positive(nested_model())
    x = rng.random((4, 16, 16, 3), dtype=np.float32) * 255
    with warnings.catch_warnings():
        warnings.simplefilter("error", BlankMapWarning)  # real maps, not zeros
        batch = grad_cam(model, x, class_index=[0, 1, 2, 1])
        for i, c in enumerate([0, 1, 2, 1]):
            one = grad_cam(model, x[i], class_index=c)
            np.testing.assert_allclose(batch[i], one[0], rtol=1e-4, atol=1e-5)
    assert (batch.max(axis=(1, 2)) == 1).all() and (batch.min(axis=(1, 2)) < 1).all()  # not flat either


def test_all_zero_map_warns_and_stays_zero():
    x = np.zeros((1, 4, 4, 2), np.float32)  # no activation anywhere
    with pytest.warns(RuntimeWarning, match="all zero"):
        maps = grad_cam(hand_model(), x, class_index=0)
    assert not np.isnan(maps).any() and (maps == 0).all()


def test_reloaded_model(tmp_path, rng):
    model = positive(nested_model())
    model.save(tmp_path / "m.keras")
    again = keras.saving.load_model(tmp_path / "m.keras")
    x = rng.random((2, 16, 16, 3), dtype=np.float32) * 255
    with warnings.catch_warnings():
        warnings.simplefilter("error", BlankMapWarning)
        maps = grad_cam(model, x)
        np.testing.assert_allclose(grad_cam(again, x), maps, atol=1e-5)
    assert (maps.max(axis=(1, 2)) == 1).all()


@pytest.mark.parametrize(
    "kwargs,images,match",
    [
        (dict(layer="gap"), None, "not \\(batch, height, width, channels\\)"),
        (dict(class_index=5), None, r"class_index \[5\] out of range: the model has 3 classes"),
        (dict(class_index=[0, 1]), None, "2 entries for 3 images"),
        (dict(method="gradcam3"), None, "valid methods: gradcam, gradcam\\+\\+, layercam, hirescam, scorecam"),
        ({}, np.zeros((3, 16, 16, 4), np.float32), "expects 3 channel"),
        ({}, np.zeros((3, 20, 20, 3), np.float32), "expects 16×16 images"),
        ({}, np.full((3, 16, 16, 3), np.inf, np.float32), "NaN or infinite"),
    ],
)
def test_bad_input(kwargs, images, match):
    x = np.zeros((3, 16, 16, 3), np.float32) if images is None else images
    with pytest.raises(ValueError, match=match):
        grad_cam(small_functional(), x, **kwargs)


def test_several_inputs_refused():
    a, b = keras.Input((4, 4, 1)), keras.Input((4, 4, 1))
    model = keras.Model([a, b], keras.layers.Dense(2)(keras.layers.Flatten()(keras.layers.Add()([a, b]))))
    with pytest.raises(ValueError, match="2 inputs"):
        grad_cam(model, np.zeros((1, 4, 4, 1), np.float32))


def test_scorecam_by_hand():
    """Score-CAM on the hand model, computed from its definition: each channel of the identity
    layer min-max normalized masks the input; the class logit of each masked input (mean of
    each channel through W) gives a softmax over channels; the map is the weighted sum."""
    x = np.random.default_rng(3).random((2, 4, 4, 2)).astype(np.float32)
    W = np.array([[2.0, -1.0], [-1.0, 3.0]])
    got = grad_cam(
        hand_model(), x, method="scorecam", class_index=[0, 1], upsample=False, normalize=False, scorecam_channels=None
    )
    for i, c in enumerate([0, 1]):
        a = x[i].astype(np.float64)  # (4, 4, 2): the identity layer's output
        scores = []
        for k in range(2):
            mk = (a[..., k] - a[..., k].min()) / (a[..., k].max() - a[..., k].min())
            masked = a * mk[..., None]
            scores.append(masked.mean(axis=(0, 1)) @ W[:, c])
        w = np.exp(np.array(scores) - max(scores))
        w /= w.sum()
        expected = np.maximum(np.einsum("hwk,k->hw", a, w), 0)
        np.testing.assert_allclose(got[i], expected, rtol=1e-5, atol=1e-6)
    # top-1 channel only: the most active channel's own map, whatever its weight
    one = grad_cam(hand_model(), x[:1], method="scorecam", upsample=False, normalize=False, scorecam_channels=1)
    k = int(np.argmax(x[0].mean(axis=(0, 1))))
    np.testing.assert_allclose(one[0], x[0, :, :, k], rtol=1e-5)


def test_scorecam_streams_masks_in_batches(rng):
    """More channels than a batch holds: the masks go through a batch at a time (memory
    bounded for 2048-channel layers), with the same maps as one batch of all of them."""
    model = small_functional()  # c2: 6 channels
    x = rng.random((3, 16, 16, 3), dtype=np.float32)
    small = cam_with_predictions(
        model, x, method="scorecam", scorecam_channels=None, batch_size=4, normalize=False
    ).maps
    whole = cam_with_predictions(
        model, x, method="scorecam", scorecam_channels=None, batch_size=64, normalize=False
    ).maps
    np.testing.assert_allclose(small, whole, rtol=1e-5, atol=1e-7)


def _head_variant(kind):
    """The same convolutional body with a different output head."""
    inp = keras.Input((8, 8, 3))
    x = keras.layers.Conv2D(4, 3, activation="relu", name="c")(inp)
    x = keras.layers.GlobalAveragePooling2D()(x)
    if kind == "lambda":
        x = keras.layers.Dense(3, name="scores")(x)
        out = keras.layers.Lambda(lambda t: keras.ops.softmax(t), name="squash")(x)
    else:
        out = keras.layers.Dense(3, activation=None if kind == "linear" else kind, name="scores")(x)
    model = keras.Model(inp, out)
    keras.utils.set_random_seed(5)
    ref = keras.Model(
        inp,
        keras.layers.Dense(3, name="scores")(
            keras.layers.GlobalAveragePooling2D()(keras.layers.Conv2D(4, 3, activation="relu", name="c")(inp))
        ),
    )
    model.set_weights(ref.get_weights())
    return model


@pytest.mark.parametrize("kind", ["softmax", "sigmoid"])
def test_softmax_and_sigmoid_heads_give_the_logits_gradient(kind, rng, recwarn):
    x = rng.random((3, 8, 8, 3), dtype=np.float32)
    linear = grad_cam(_head_variant("linear"), x, layer="c", class_index=1, normalize=False)
    squashed = _head_variant(kind)
    r = cam_with_predictions(squashed, x, layer="c", class_index=1, normalize=False)
    np.testing.assert_allclose(r.maps, linear, rtol=1e-4, atol=1e-7)
    np.testing.assert_allclose(r.probabilities, to_np(squashed(x)), rtol=1e-5, atol=1e-6)
    assert not [w for w in recwarn if "cannot remove" in str(w.message)]


def test_a_squashing_it_cannot_remove_is_warned_once(rng):
    from convviz.graph.heads import output_squashing

    model = _head_variant("lambda")
    assert output_squashing(model) == "unknown"
    assert output_squashing(_head_variant("softmax")) == "stripped"
    assert output_squashing(_head_variant("linear")) == "linear"
    x = rng.random((2, 8, 8, 3), dtype=np.float32)
    with pytest.warns(RuntimeWarning, match="'squash' is a Lambda that convviz cannot remove"):
        grad_cam(model, x, layer="c")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        grad_cam(model, x, layer="c", method="layercam")  # once per model and layer


def test_non_finite_values_of_a_method_are_said_not_silently_zeroed(monkeypatch):
    from convviz.attr import cam
    from convviz.core.errors import NonFiniteWarning

    def broken(ctx):
        out = ctx.activations.sum(axis=-1)
        out[0, 0, 0] = np.nan
        out[0, 1, 1] = np.inf
        return out

    monkeypatch.setitem(cam.CAM_METHODS, "broken", broken)
    x = np.random.default_rng(0).random((2, 4, 4, 2)).astype(np.float32)
    with pytest.warns(NonFiniteWarning, match=r"broken: 2 NaN or infinite value\(s\) in the maps of image\(s\) \[0\]"):
        maps = grad_cam(hand_model(), x, method="broken", upsample=False, normalize=False)
    assert np.isfinite(maps).all() and maps[0, 0, 0] == 0 and maps[0, 1, 1] == 0
