"""Receptive fields against their analytic values, dataset examples against brute force."""

from __future__ import annotations

import keras
import numpy as np
import pytest

import convviz
from convviz.units import ReceptiveField, dataset_examples, receptive_field, to_uint8

L = keras.layers


def _model(*layers, shape=(16, 16, 1)):
    inp = keras.Input(shape)
    x = inp
    for layer in layers:
        x = layer(x)
    return keras.Model(inp, x)


def _rf(model, layer):
    f = receptive_field(model, layer)
    return f.size[0], f.jump[0], f.offset[0]


def test_receptive_fields_equal_the_analytic_values():
    m = _model(
        L.Conv2D(2, 3, name="a"),
        L.Conv2D(2, 3, name="b"),
        L.MaxPooling2D(2, name="p"),
        L.Conv2D(2, 3, dilation_rate=2, name="d"),
    )
    assert _rf(m, "a") == (3, 1, 1.0)  # 'valid': unit 0 is centred on pixel 1
    assert _rf(m, "b") == (5, 1, 2.0)  # 3×3 twice -> 5
    assert _rf(m, "p") == (6, 2, 2.5)  # + 2×2 pool, stride 2 -> 6, jump 2
    assert _rf(m, "d") == (6 + 4 * 2, 2, 2.5 + 2 * 2)  # dilated 3×3 spans 5 units of jump 2
    same = _model(
        L.Conv2D(2, 3, padding="same", name="s"), L.Conv2D(2, 3, strides=2, padding="same", name="s2"), shape=(8, 8, 1)
    )
    assert _rf(same, "s") == (3, 1, 0.0)  # 'same': centred on pixel 0
    # stride 2 'same' on 8 pixels pads 1 in total, all of it after (TensorFlow's rule): no shift
    assert _rf(same, "s2") == (5, 2, 1.0)
    padded = _model(L.ZeroPadding2D(1), L.Conv2D(2, 3, name="c"), L.Cropping2D(1), L.Conv2D(2, 1, name="after"))
    assert _rf(padded, "c") == (3, 1, 0.0)
    assert _rf(padded, "after") == (3, 1, 1.0)


def test_separable_depthwise_and_rectangular_fields():
    m = _model(L.SeparableConv2D(2, 3, name="sep"), L.DepthwiseConv2D((5, 3), name="dw"), shape=(12, 10, 1))
    assert _rf(m, "sep") == (3, 1, 1.0)
    f = receptive_field(m, "dw")
    assert f.size == (7, 5) and f.jump == (1, 1) and f.offset == (3.0, 2.0)


def test_nested_backbone_and_residual_merge():
    inner_in = keras.Input((16, 16, 1))
    y = L.Conv2D(2, 3, name="conv_a")(inner_in)
    y = L.Conv2D(2, 3, name="conv_b")(y)
    backbone = keras.Model(inner_in, y, name="backbone")
    inp = keras.Input((16, 16, 1))
    z = L.Conv2D(2, 3, name="head_conv")(backbone(inp))
    m = keras.Model(inp, z)
    assert _rf(m, "backbone/conv_b") == (5, 1, 2.0)
    assert _rf(m, "head_conv") == (7, 1, 3.0)
    # a residual branch: the union of both inputs' fields
    inp = keras.Input((16, 16, 1))
    a = L.Conv2D(2, 1, padding="same", name="skip")(inp)
    b = L.Conv2D(2, 5, padding="same", name="wide")(inp)
    m = keras.Model(inp, L.Add(name="sum")([a, b]))
    assert _rf(m, "sum") == (5, 1, 0.0)


def test_undefined_fields_name_the_layer():
    m = _model(L.Conv2D(2, 3, name="c"), L.UpSampling2D(2, name="up"), L.Conv2D(2, 3, name="after"))
    with pytest.raises(ValueError, match=r"'after' is undefined: it comes after an upsampling \('up'\)"):
        receptive_field(m, "after")
    m = _model(L.Conv2D(2, 3, name="c"), L.GlobalAveragePooling2D(name="gap"), L.Dense(2, name="fc"))
    with pytest.raises(ValueError, match=r"layer 'fc' has output shape \(None, 2\), not \(batch"):
        receptive_field(m, "fc")


def test_window_is_the_field_clipped_and_shifted_inside_the_image():
    f = ReceptiveField(size=(5, 5), jump=(2, 2), offset=(1.0, 1.0))
    assert f.window(0, 0, 10, 10) == (slice(0, 5), slice(0, 5))  # centred on 1: shifted in
    assert f.window(2, 3, 10, 10) == (slice(3, 8), slice(5, 10))
    assert f.window(4, 4, 10, 10) == (slice(5, 10), slice(5, 10))  # centred on 9: shifted in
    big = ReceptiveField(size=(40, 40), jump=(8, 8), offset=(3.5, 3.5))
    assert big.window(1, 1, 16, 16) == (slice(0, 16), slice(0, 16))  # never larger than the image


@pytest.fixture(scope="module")
def small():
    keras.utils.set_random_seed(3)
    m = _model(
        L.Conv2D(6, 3, activation="relu", name="c1"),
        L.MaxPooling2D(2, name="p1"),
        L.Conv2D(5, 3, activation="relu", name="c2"),
        L.GlobalAveragePooling2D(),
        L.Dense(3, name="dense"),
        shape=(12, 12, 1),
    )
    x = np.random.default_rng(0).uniform(0, 1, (23, 12, 12, 1)).astype("float32")
    return m, x


def _brute(model, x, layer):
    a = convviz.extract_activations(model, x, layers=[layer])[layer]
    flat = a.reshape(len(a), -1, a.shape[-1])
    maxima = flat.max(axis=1)
    order = np.array([sorted(range(len(x)), key=lambda i: (-maxima[i, u], i)) for u in range(a.shape[-1])])
    return maxima, order, flat.argmax(axis=1)


def test_top_k_equal_brute_force_and_streaming_equals_one_batch(small):
    m, x = small
    maxima, order, where = _brute(m, x, "c2")
    ex = dataset_examples(m, "c2", x, k=4, batch_size=5)
    np.testing.assert_array_equal(ex.indices, order[:, :4])
    np.testing.assert_allclose(ex.values, np.take_along_axis(maxima.T, order[:, :4], 1), rtol=1e-5)
    width = 3  # 12 -> c1 10 -> pool 5 -> c2 3
    for u in range(5):
        for j in range(4):
            i = ex.indices[u, j]
            assert tuple(ex.locations[u, j]) == divmod(int(where[i, u]), width)
    whole = dataset_examples(m, "c2", x, k=4, batch_size=64)
    np.testing.assert_array_equal(whole.indices, ex.indices)
    np.testing.assert_array_equal(whole.crops, ex.crops)
    np.testing.assert_allclose(whole.maxima, ex.maxima, rtol=1e-5)


def test_several_layers_in_one_pass_equal_each_layer_alone_and_share_its_cache(small, tmp_path, monkeypatch):
    from convviz import units
    from convviz.cache import Cache

    m, x = small
    store = Cache(tmp_path)
    alone = {layer: dataset_examples(m, layer, x, k=4, batch_size=5) for layer in ("c1", "p1", "c2")}
    monkeypatch.setattr(units, "LAYERS_PASS_BYTES", 1)  # the memory bound: one image per batch
    together = units.dataset_examples_of_layers(m, ["c1", "p1", "c2"], x, k=4, batch_size=5, cache=store)
    assert list(together) == ["c1", "p1", "c2"]
    for layer, ex in together.items():
        for field in ("indices", "locations", "crops", "units"):
            np.testing.assert_array_equal(getattr(ex, field), getattr(alone[layer], field))
        np.testing.assert_allclose(ex.maxima, alone[layer].maxima, rtol=1e-5, atol=1e-6)  # other batch sizes
        assert ex.field == alone[layer].field and ex.layer == alone[layer].layer
        cached = dataset_examples(m, layer, x, k=4, cache=store)  # the entry each layer alone would use
        np.testing.assert_array_equal(cached.maxima, ex.maxima)
    assert len(store.keys()) == 3
    monkeypatch.setattr(units, "_layers_stats", lambda *a, **k: pytest.fail("computed again"))
    units.dataset_examples_of_layers(m, ["c1", "p1", "c2"], x, k=4, cache=store)
    with pytest.raises(ValueError, match="k = 40 is larger"):
        units.dataset_examples_of_layers(m, ["c1"], x, k=40)


def test_ties_go_to_the_lower_index_and_units_subset(small):
    m, x = small
    dup = np.concatenate([x[:3], x[:3], x[:3]])  # images 0, 3, 6 are the same image
    ex = dataset_examples(m, "c1", dup, k=9, units=[4, 1], crop=False)
    assert ex.units.tolist() == [4, 1] and ex.crops is None
    for u in range(2):
        by_image = {int(i) % 3: [] for i in ex.indices[u]}
        for i in ex.indices[u]:
            by_image[int(i) % 3].append(int(i))
        for copies in by_image.values():
            assert copies == sorted(copies)  # equal values: lower index first
    full = dataset_examples(m, "c1", dup, k=9, crop=False)
    np.testing.assert_array_equal(full.indices[[4, 1]], ex.indices)


def test_the_crop_holds_every_pixel_that_moves_the_units_maximum(small):
    m, x = small
    ex = dataset_examples(m, "c2", x, k=2, display=lambda imgs: np.round(imgs * 255).astype(np.uint8))
    f = ex.field
    assert f.size == (8, 8) and f.jump == (2, 2) and f.offset == (3.5, 3.5)
    from convviz.layers import layer_output

    out = layer_output(m, "c2")
    alive = [int(u) for u in np.argsort(-ex.values[:, 0])[:2] if ex.values[u, 0] > 0]
    assert alive  # the random init leaves some units of c2 alive on every backend
    for u in alive:
        i, (r, c) = int(ex.indices[u, 0]), ex.locations[u, 0]
        rows, cols = f.window(int(r), int(c), 12, 12)
        # perturb each pixel alone: only those inside the window may change this unit there
        batch = np.repeat(x[i : i + 1], 145, 0)  # row 144: the image itself, in the same batch
        for p in range(144):
            batch[p, p // 12, p % 12, 0] += 0.5
        values = keras.ops.convert_to_numpy(out(keras.ops.convert_to_tensor(batch)))[:, r, c, u]
        moved = np.abs(values[:144] - values[144]) > 1e-5  # float noise of batched convolutions is smaller
        inside = np.zeros((12, 12), bool)
        inside[rows, cols] = True
        assert moved.any()
        assert not (moved.reshape(12, 12) & ~inside).any()
        expected = np.round(x[i, rows, cols] * 255).astype(np.uint8)
        np.testing.assert_array_equal(ex.crops[ex.units.tolist().index(u), 0], expected)


def test_dead_units_are_those_never_above_zero():
    m = _model(
        L.Conv2D(2, 1, activation="relu", name="c", kernel_initializer="ones", bias_initializer="zeros"),
        shape=(4, 4, 1),
    )
    m.get_layer("c").set_weights([np.array([[[[1.0, -1.0]]]], "float32"), np.zeros(2, "float32")])
    x = np.random.default_rng(1).uniform(0.1, 1, (5, 4, 4, 1)).astype("float32")
    ex = dataset_examples(m, "c", x, k=2)
    assert ex.dead.tolist() == [False, True]
    np.testing.assert_allclose(ex.values[0], np.sort(x.max(axis=(1, 2, 3)))[::-1][:2], rtol=1e-6)


def test_bad_input_names_the_problem(small):
    m, x = small
    with pytest.raises(ValueError, match=r"k = 30 is larger than the number of images \(23\): use k <= 23"):
        dataset_examples(m, "c1", x, k=30)
    with pytest.raises(
        ValueError,
        match=r"unit indices \[6, -1\] are out of range: layer 'c1' has 6 channels, "
        r"valid indices 0..5",
    ):
        dataset_examples(m, "c1", x, units=[0, 6, -1])
    with pytest.raises(ValueError, match="images is empty"):
        dataset_examples(m, "c1", x[:0], k=1)
    with pytest.raises(
        ValueError,
        match=r"not \(batch, height, width, channels\): dataset examples need a "
        "convolutional layer",
    ):
        dataset_examples(m, "dense", x)
    with pytest.raises(ValueError, match="k must be a positive integer, got 0"):
        dataset_examples(m, "c1", x, k=0)


def test_to_uint8_reads_the_value_range():
    np.testing.assert_array_equal(to_uint8(np.array([0.0, 0.5, 1.0])), [0, 128, 255])
    np.testing.assert_array_equal(to_uint8(np.array([0.0, 128.0, 255.0])), [0, 128, 255])
    np.testing.assert_array_equal(to_uint8(np.array([-1.0, 0.0, 1.0])), [0, 128, 255])


def test_unit_pages_cover_every_layer_of_a_small_model_and_the_listed_layers_of_a_large_one():
    from types import SimpleNamespace

    from convviz.unit_pages import MAX_DEFAULT_UNITS, selected_layers, unit_layers

    small = _model(
        L.Conv2D(4, 3, activation="relu", name="a"),
        L.MaxPooling2D(2, name="p"),
        L.Conv2D(4, 3, activation="relu", name="b"),
    )
    names = unit_layers(small)
    assert names == ["a", "b"]  # pooling units are their conv units, subsampled: no page
    entry = SimpleNamespace(name="m", _units=None)
    assert selected_layers(entry, small, names) == ["a", "b"]
    big = _model(
        L.Conv2D(MAX_DEFAULT_UNITS, 1, activation="relu", name="wide"),
        L.Conv2D(8, 1, activation="relu", name="narrow"),
        shape=(4, 4, 1),
    )
    assert selected_layers(entry, big, unit_layers(big)) == []
    assert selected_layers(SimpleNamespace(name="m", _units=("narrow",)), big, unit_layers(big)) == ["narrow"]
    assert selected_layers(SimpleNamespace(name="m", _units="all"), big, unit_layers(big)) == ["wide", "narrow"]
    with pytest.raises(
        ValueError,
        match=r"units lists \['nope'\], which are not conv layers of the model; "
        r"valid: wide, narrow",
    ):
        selected_layers(SimpleNamespace(name="m", _units=("nope",)), big, unit_layers(big))
