"""Finding layers and splitting models: body then head equals the whole model."""

import keras
import numpy as np
import pytest

from convviz.graph import layers
from convviz.graph import split as split_module
from conftest import nested_model, residual_model, small_functional, small_sequential, to_np


def _check_split(model, layer, x, *, atol=1e-5):
    split = split_module.split_model(model, layer)
    a = split.body(keras.ops.convert_to_tensor(x))
    np.testing.assert_allclose(to_np(split.head(a)), to_np(model(x)), atol=atol)
    return split, to_np(a)


@pytest.mark.parametrize("layer", ["rescale", "c1", "p1", "c2", "gap"])
def test_functional_split_every_layer(rng, layer):
    model = small_functional()
    _check_split(model, layer, rng.random((3, 16, 16, 3), dtype=np.float32))


@pytest.mark.parametrize("layer", ["sc1", "sp1", "sc2", "flat"])
def test_sequential_split(rng, layer):
    model = small_sequential()
    _check_split(model, layer, rng.random((2, 12, 12, 1), dtype=np.float32))


def test_body_equals_layer_output_of_submodel(rng):
    model = small_functional()
    x = rng.random((2, 16, 16, 3), dtype=np.float32)
    ref = keras.Model(model.inputs, model.get_layer("c2").output)(x)
    _, a = _check_split(model, "c2", x)
    np.testing.assert_allclose(a, to_np(ref), atol=1e-6)


@pytest.mark.parametrize("layer", ["b_conv1", "backbone/b_pool1", "b_conv2", "backbone", "head_conv"])
def test_nested_backbone_split(rng, layer):
    model = nested_model()
    x = rng.random((2, 16, 16, 3), dtype=np.float32) * 255
    split, a = _check_split(model, layer, x)
    if layer == "b_conv1":  # the body includes the outer Rescaling
        inner = model.get_layer("backbone").get_layer("b_conv1")
        np.testing.assert_allclose(a, to_np(inner(x / 255.0)), atol=1e-5)


def test_reloaded_model_split(rng, tmp_path):
    model = nested_model()
    path = tmp_path / "m.keras"
    model.save(path)
    reloaded = keras.saving.load_model(path)
    x = rng.random((2, 16, 16, 3), dtype=np.float32) * 255
    _check_split(reloaded, "backbone/b_conv2", x)
    _check_split(reloaded, "head_conv", x)


def test_logits_head_drops_softmax_without_mutating(rng):
    model = small_functional()
    x = rng.random((2, 16, 16, 3), dtype=np.float32)
    split = split_module.split_model(model, "c2", logits=True)
    logits = to_np(split.head(split.body(x)))
    dense = model.get_layer("dense")
    gap = to_np(keras.Model(model.inputs, model.get_layer("gap").output)(x))
    expected = gap @ to_np(dense.kernel) + to_np(dense.bias)
    np.testing.assert_allclose(logits, expected, rtol=1e-5, atol=1e-6)
    probs = to_np(model(x))
    np.testing.assert_allclose(probs.sum(1), 1.0, rtol=1e-5)  # model untouched


def test_skip_connection_bypass_is_refused_with_suggestions():
    model = residual_model()
    with pytest.raises(layers.SplitError) as err:
        split_module.split_model(model, "b")
    msg = str(err.value)
    assert "'b'" in msg and "skip connection" in msg
    assert "add" in msg and "d" in msg
    split_module.split_model(model, "add")  # after the merge it works


def test_conv_layers_in_forward_order_and_last_conv():
    assert layers.conv_layers(small_functional()) == ["c1", "p1", "c2"]
    assert layers.last_conv_layer(small_functional()) == "c2"
    assert layers.conv_layers(nested_model()) == ["b_conv1", "b_pool1", "b_conv2", "head_conv"]
    assert layers.conv_layers(small_sequential(), pooling=False) == ["sc1", "sc2"]


def test_unknown_layer_lists_closest_first():
    with pytest.raises(ValueError, match=r"no layer named 'c3'.*Did you mean 'c2'.*Valid layers: c1, p1, c2"):
        layers.resolve_layer(small_functional(), "c3")


def test_ambiguous_plain_name_asks_for_path():
    def inner(name):
        inp = keras.Input((8, 8, 1))
        return keras.Model(inp, keras.layers.Conv2D(1, 3, padding="same", name="conv")(inp), name=name)

    outer_in = keras.Input((8, 8, 1))
    y = inner("second")(inner("first")(outer_in))
    y = keras.layers.Conv2D(1, 1, name="top")(y)
    model = keras.Model(outer_in, y)
    with pytest.raises(ValueError, match="ambiguous.*'first/conv', 'second/conv'"):
        layers.resolve_layer(model, "conv")
    assert layers.resolve_layer(model, "second/conv").name == "second/conv"
    assert layers.conv_layers(model) == ["first/conv", "second/conv", "top"]


def test_subclassed_and_unbuilt_models_are_refused():
    class Sub(keras.Model):
        def __init__(self):
            super().__init__()
            self.c = keras.layers.Conv2D(2, 3)

        def call(self, x):
            return self.c(x)

    with pytest.raises(ValueError, match="subclassed"):
        layers.conv_layers(Sub())
    seq = keras.Sequential([keras.layers.Conv2D(2, 3)])
    with pytest.raises(ValueError, match="no known input shape"):
        layers.conv_layers(seq)


def test_model_without_spatial_layers_has_no_last_conv():
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    with pytest.raises(ValueError, match="rank-4"):
        layers.last_conv_layer(model)


def test_forward_taps_many_layers_in_one_pass(rng):
    model = nested_model()
    x = rng.random((2, 16, 16, 3), dtype=np.float32)
    out, taps = split_module.forward(model, x, ["b_conv1", "b_conv2", "head_conv"], need_output=True)
    np.testing.assert_allclose(to_np(out), to_np(model(x)), atol=1e-6)
    for name in taps:
        split = split_module.split_model(model, name)
        np.testing.assert_allclose(to_np(taps[name]), to_np(split.body(x)), atol=1e-6)
