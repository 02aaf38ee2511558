"""Activations: one pass equals per-layer models; sparsity on known zero channels; plots."""

import keras
import numpy as np
import pytest

from convviz.graph.choice import activation_layers
from convviz.represent.activations import extract_activations, layer_sparsity
from conftest import nested_model, small_functional, small_sequential, to_np


@pytest.mark.slow
def test_multi_output_equals_per_layer_models(rng):
    model = small_functional()
    x = rng.random((5, 16, 16, 3), dtype=np.float32)
    acts = extract_activations(model, x, batch_size=2)
    assert list(acts) == ["c1", "p1", "c2"]
    for name, a in acts.items():
        ref = keras.Model(model.inputs, model.get_layer(name).output)(x)
        np.testing.assert_allclose(a, to_np(ref), atol=1e-5)


def test_sequential_and_nested(rng):
    seq = small_sequential()
    acts = extract_activations(seq, rng.random((3, 12, 12, 1), dtype=np.float32))
    assert list(acts) == ["sc1", "sp1", "sc2"] and acts["sc1"].shape == (3, 10, 10, 3)
    nested = nested_model()
    x = rng.random((2, 16, 16, 3), dtype=np.float32) * 255
    acts = extract_activations(nested, x, layers=["head_conv", "b_conv1"])
    assert list(acts) == ["b_conv1", "head_conv"]  # forward order, whatever the request order
    inner = nested.get_layer("backbone").get_layer("b_conv1")
    np.testing.assert_allclose(acts["b_conv1"], to_np(inner(x / 255.0)), atol=1e-5)


def test_activation_layers_follow_nonlinearities():
    from convviz.zoo import architectures as models

    xc = models.build("mini_xception", (64, 64, 3), 6)
    names = activation_layers(xc)
    assert names[:2] == ["block1_conv1_act", "block1_conv2_act"]
    assert "block3_sepconv1" not in names and "block3_pool" in names
    assert activation_layers(models.build("plain_cnn", (32, 32, 1), 10)) == [
        "conv1",
        "pool1",
        "conv2",
        "pool2",
        "conv3",
    ]


def test_sparsity_counts_channels_zero_for_all_images():
    inp = keras.Input((4, 4, 1))
    conv = keras.layers.Conv2D(4, 1, activation="relu", name="conv")
    model = keras.Model(inp, conv(inp))
    # channels 0, 2: positive weight; 1: negative (dead for positive inputs); 3: zero weight
    conv.set_weights([np.array([1.0, -1.0, 2.0, 0.0], np.float32).reshape(1, 1, 1, 4), np.zeros(4, np.float32)])
    x = np.random.default_rng(0).random((3, 4, 4, 1)).astype(np.float32) + 0.1
    sp = layer_sparsity(extract_activations(model, x, layers=["conv"]))
    assert sp == {"conv": 0.5}


def test_sparsity_rejects_bad_shapes():
    with pytest.raises(ValueError, match=r"must be \(N, H, W, C\)"):
        layer_sparsity({"x": np.zeros((2, 3))})


@pytest.mark.parametrize(
    "images,match",
    [
        (np.zeros((2, 16, 16, 1), np.float32), "expects 3 channel"),
        (np.zeros((0, 16, 16, 3), np.float32), "empty"),
        (np.full((1, 16, 16, 3), np.nan, np.float32), "NaN"),
        (np.zeros((16, 16), np.float32), "shape"),
        (np.array([["a"]]), "numeric"),
    ],
)
def test_bad_images(images, match):
    with pytest.raises(ValueError, match=match):
        extract_activations(small_functional(), images)


def test_unknown_layer_message():
    with pytest.raises(ValueError, match="Did you mean 'c1'"):
        extract_activations(small_functional(), np.zeros((1, 16, 16, 3), np.float32), layers=["c11"])


def test_dead_means_never_above_zero_on_any_image_for_the_statistics_and_the_unit_pages():
    from convviz.represent.activations import layer_sparsity, never_fires

    a = np.zeros((3, 2, 2, 3), np.float32)
    a[..., 1] = -1.0  # a linear layer's channel that is never positive: it never fires
    a[0, 0, 0, 2] = 0.5  # fires once
    assert never_fires(a).tolist() == [True, True, False]
    assert layer_sparsity({"l": a}) == {"l": 2 / 3}
    assert never_fires(a.max(axis=(1, 2))).tolist() == [True, True, False]  # the unit pages' per-image peaks
