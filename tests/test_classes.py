"""Class visualizations on a hand-weighted model whose class scores are known."""

from __future__ import annotations

import keras
import numpy as np
import pytest

import convviz
from convviz.class_pages import shown_classes

L = keras.layers


@pytest.fixture(scope="module")
def color_model():
    """Score 0 = mean red, score 1 = mean blue, score 2 = mean green, then a softmax."""
    inp = keras.Input((24, 24, 3))
    x = L.GlobalAveragePooling2D()(inp)
    out = L.Dense(3, activation="softmax", name="scores")(x)
    m = keras.Model(inp, out)
    m.get_layer("scores").set_weights(
        [np.array([[1, 0, 0], [0, 0, 1], [0, 1, 0]], "float32") * 4, np.zeros(3, "float32")]
    )
    return m


@pytest.mark.slow
def test_each_class_image_raises_its_own_score(color_model):
    p = convviz.visualize_classes(color_model, [0, 1, 2], steps=24, crop=0)
    assert p.layer == "logits" and p.filters.tolist() == [0, 1, 2] and p.images.shape == (3, 24, 24, 3)
    means = p.raw.mean(axis=(1, 2))  # (classes, RGB)
    assert means[0].argmax() == 0 and means[1].argmax() == 2 and means[2].argmax() == 1
    # the reported score is the logit (before the softmax) of the raw image
    logits = 4 * means[:, [0, 2, 1]]
    np.testing.assert_allclose(p.losses, logits[np.arange(3), np.arange(3)], rtol=1e-4)


def test_class_visualizations_are_cached(color_model, tmp_path):
    from convviz.cache import Cache

    store = Cache(tmp_path)
    a = convviz.visualize_classes(color_model, 2, steps=8, cache=store)
    b = convviz.visualize_classes(color_model, 2, steps=8, cache=store)
    np.testing.assert_array_equal(a.images, b.images)
    assert len([p for p in tmp_path.iterdir() if not p.name.startswith(".")]) == 1


def test_bad_classes_name_the_valid_range(color_model):
    with pytest.raises(
        ValueError,
        match=r"filter indices \[3\] out of range: layer 'the output' has 3 filters "
        r"\(valid 0..2\)",
    ):
        convviz.visualize_classes(color_model, [0, 3])
    conv = keras.Sequential([keras.Input((8, 8, 1)), L.Conv2D(2, 3)])
    with pytest.raises(ValueError, match=r"must output class scores \(batch, classes\)"):
        convviz.visualize_classes(conv, 1)


def test_shown_classes_are_those_in_labels_or_predictions():
    y = np.array([0, 0, 2, -1])
    assert shown_classes(y, np.array([0, 5, 2, 7])).tolist() == [0, 2, 5, 7]
