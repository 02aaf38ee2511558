"""Receptive fields against their analytic values, dataset examples against brute force."""

from __future__ import annotations

import re

import keras
import numpy as np
import pytest

import convviz
from convviz.graph.fields import ReceptiveField, receptive_field
from convviz.represent.examples import dataset_examples, to_uint8

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


def test_several_layers_in_one_pass_equal_each_layer_alone_and_are_kept_as_one_result(small, tmp_path, monkeypatch):
    from convviz.represent import examples as units
    from convviz.store.cache import Cache

    m, x = small
    store = Cache(tmp_path)
    alone = {layer: dataset_examples(m, layer, x, k=4, batch_size=5) for layer in ("c1", "p1", "c2")}
    monkeypatch.setattr(units, "LAYERS_PASS_BYTES", 1)  # the memory bound: one image per batch
    together = convviz.dataset_examples_of_layers(m, ["c1", "p1", "c2"], x, k=4, batch_size=5, cache=store)
    assert list(together) == ["c1", "p1", "c2"]
    for layer, ex in together.items():
        for field in ("indices", "locations", "crops", "units"):
            np.testing.assert_array_equal(getattr(ex, field), getattr(alone[layer], field))
        np.testing.assert_allclose(ex.maxima, alone[layer].maxima, rtol=1e-5, atol=1e-6)  # other batch sizes
        assert ex.field == alone[layer].field and ex.layer == alone[layer].layer
    assert len(store.keys()) == 1  # the pass's result, kept whole
    monkeypatch.setattr(units, "_layers_stats", lambda *a, **k: pytest.fail("computed again"))
    convviz.dataset_examples_of_layers(m, ["c1", "p1", "c2"], x, k=4, batch_size=5, cache=store)
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
    from convviz.graph.split import layer_output

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

    from convviz.site.unit_data import MAX_DEFAULT_UNITS, selected_layers, unit_layers

    small = _model(
        L.Conv2D(4, 3, activation="relu", name="a"),
        L.MaxPooling2D(2, name="p"),
        L.Conv2D(4, 3, activation="relu", name="b"),
    )
    names = unit_layers(small)
    assert names == ["a", "b"]  # pooling units are their conv units, subsampled: no page
    entry = SimpleNamespace(name="m", units_option=None)
    assert selected_layers(entry, small, names) == ["a", "b"]
    big = _model(
        L.Conv2D(MAX_DEFAULT_UNITS, 1, activation="relu", name="wide"),
        L.Conv2D(8, 1, activation="relu", name="narrow"),
        shape=(4, 4, 1),
    )
    assert selected_layers(entry, big, unit_layers(big)) == []
    assert selected_layers(SimpleNamespace(name="m", units_option=("narrow",)), big, unit_layers(big)) == ["narrow"]
    assert selected_layers(SimpleNamespace(name="m", units_option="all"), big, unit_layers(big)) == ["wide", "narrow"]
    with pytest.raises(
        ValueError,
        match=r"units lists \['nope'\], which are not conv layers of the model; "
        r"valid: wide, narrow",
    ):
        selected_layers(SimpleNamespace(name="m", units_option=("nope",)), big, unit_layers(big))


# ----------------------------------------------------------------------------- unit pages


def test_the_field_box_frames_the_pixels_that_drive_the_unit():
    from convviz.site.unit_images import example_view, field_box

    m = _model(L.Conv2D(1, 3, name="a"), L.Conv2D(1, 3, strides=2, name="b"), shape=(24, 24, 1))
    f = receptive_field(m, "b")
    assert (f.size, f.jump, f.offset) == ((5, 5), (2, 2), (2.0, 2.0))
    assert field_box(f, 3, 1, 24, 24) == (6, 2, 11, 7)  # centred on pixel (2 + 3·2, 2 + 1·2)
    # 'same' padding: unit (0, 0) is centred on pixel 0, its box is the part inside the image
    same = _model(L.Conv2D(1, 5, padding="same", name="s"), shape=(24, 24, 1))
    assert field_box(receptive_field(same, "s"), 0, 0, 24, 24) == (0, 0, 3, 3)
    # a unit of ones over a bright 3×3 block: its maximum is where its field is the block
    one = _model(
        L.Conv2D(1, 3, activation="relu", use_bias=False, kernel_initializer="ones", name="c"), shape=(24, 24, 1)
    )
    x = np.zeros((2, 24, 24, 1), "float32")
    x[0, 10:13, 5:8] = 1.0
    x[1, 0:3, 20:23] = 0.5
    ex = dataset_examples(one, "c", x, k=2)
    field = ex.field
    assert [field_box(field, *map(int, ex.locations[0, j]), 24, 24) for j in range(2)] == [
        (10, 5, 13, 8),
        (0, 20, 3, 23),
    ]
    # a field under half of the image: the whole (24-pixel) image, the box in it
    image = (np.arange(24 * 24).reshape(24, 24, 1) % 251).astype(np.uint8)
    pixels, box = example_view(image, field, 10, 5)
    assert box == (10, 5, 13, 8) and pixels.shape == (24, 24, 1)
    # a field of half the image or more: the crop, as the dataset examples hold it
    big = ReceptiveField(size=(12, 12), jump=(2, 2), offset=(5.5, 5.5))
    pixels, box = example_view(image, big, 3, 4)
    rows, cols = big.window(3, 4, 24, 24)
    assert box is None and (rows, cols) == (slice(6, 18), slice(8, 20))
    np.testing.assert_array_equal(pixels, image[rows, cols])
    # a large image: a window of 64 pixels around a small field, the box shifted into it
    large = np.zeros((200, 200, 3), np.uint8)
    pixels, box = example_view(large, ReceptiveField(size=(3, 3), jump=(1, 1), offset=(1.0, 1.0)), 100, 150)
    assert pixels.shape == (64, 64, 3) and box == (100 - 69, 150 - 119, 103 - 69, 153 - 119)


def test_draw_field_frames_the_box_outside_it_and_inside_at_the_edge():
    from convviz.site.unit_images import draw_field

    img = np.full((3, 4), 7, np.uint8)
    out = draw_field(img, (1, 1, 2, 3), scale=2, line=1)  # the box: rows 2..3, columns 2..5 once enlarged
    assert out.shape == (6, 8, 3)
    dark, bright = (0, 0, 0), (255, 214, 0)
    assert all(tuple(out[0, c]) == dark and tuple(out[5, c]) == dark for c in range(8))
    assert all(tuple(out[r, 0]) == dark and tuple(out[r, 7]) == dark for r in range(6))
    assert all(tuple(out[1, c]) == bright and tuple(out[4, c]) == bright for c in range(1, 7))
    assert all(tuple(out[r, 1]) == bright and tuple(out[r, 6]) == bright for r in range(1, 5))
    assert (out[2:4, 2:6] == 7).all()  # the field itself is untouched
    # at the image's edge the frame moves inside the box
    edge = draw_field(np.full((8, 8, 1), 7, np.uint8), (0, 0, 3, 3))
    assert [tuple(edge[i, i]) for i in range(6)] == [dark, bright, (7, 7, 7), bright, dark, (7, 7, 7)]


def test_preferred_class_counts_the_top_images_and_breaks_ties_by_rank():
    from convviz.site.unit_data import preferred_class

    assert preferred_class(np.array([2, 1, 1, 2, 0])) == (2, 2)  # 2 and 1 tie: 2 has the best image
    assert preferred_class(np.array([0, 1, 1, -1, 1])) == (1, 3)
    assert preferred_class(np.array([-1, -1, 3])) == (3, 1)  # unlabelled images never count
    assert preferred_class(np.array([-1, -1])) == (-1, 0)


def test_a_unit_whose_top_images_tie_says_which_class_ties_and_who_wins():
    """Unit 0 of shapes-cnn's block3_relu1 showed "3 of its top 9 are star" while as many were
    circles: the sentence names every tied class and the rule that broke the tie."""
    from convviz.site.unit_data import UnitStats, preferred_class, tied_classes
    from convviz.site.unit_pages import _unit_status

    # the best image is a square (2), then star (4) and circle (0) three each: star's first ranks higher
    top = np.array([2, 4, 0, 4, -1, 0, 4, 0, 1])
    assert preferred_class(top) == (4, 3) and tied_classes(top, 4, 3) == (0,)
    assert tied_classes(np.array([4, 4, 0, -1]), 4, 2) == ()  # no tie
    assert tied_classes(np.array([-1, 3, 1, 1, 3, 2, 2]), 3, 2) == (1, 2)  # several, in rank order
    assert tied_classes(np.array([1, 2, 3]), 1, 1) == ()  # every class once: no tie worth saying
    units = UnitStats(
        preferred=np.array([4, 4, 3]),
        count=np.array([3, 2, 2]),
        firing=np.array([0.5, 0.5, 0.5]),
        dead=np.array([False, False, False]),
        best=np.array([1.0, 1.0, 1.0]),
        response=np.array([2.0, 2.0, 2.0]),
        tied=((0,), (), (1, 2)),
    )
    names = ("circle", "ring", "square", "triangle", "star")
    assert (
        "3 of its top 9 are <em>star</em> (as many are <em>circle</em>: the tie goes to the class whose first "
        "image ranks higher)" in _unit_status(0, units, False, 9, names)
    )
    assert "as many" not in _unit_status(1, units, False, 9, names)
    assert "(as many are <em>ring</em> and <em>square</em>:" in _unit_status(2, units, False, 9, names)


def _signed_model():
    """Unit 0 is relu(x), unit 1 relu(-x), of a one-channel image (1×1 kernels)."""
    m = _model(L.Conv2D(2, 1, activation="relu", name="c"), shape=(6, 6, 1))
    m.get_layer("c").set_weights([np.array([[[[1.0, -1.0]]]], "float32"), np.zeros(2, "float32")])
    return m


def test_visualization_response_is_each_units_maximum_over_positions_on_its_own_image():
    from types import SimpleNamespace

    from convviz.site.unit_data import visualization_response

    m = _signed_model()
    raw = np.zeros((2, 8, 8, 1), "float32")  # another size than the model's input, as visualizations are
    raw[0, 3, 4] = 0.9
    raw[0, 1, 1] = -5.0  # unit 0 ignores it: relu
    raw[1, 2, 2] = -0.7
    raw[1, 5, 5] = 3.0  # in unit 0's channel of image 1, not unit 1's
    got = visualization_response(m, "c", SimpleNamespace(raw=raw, filters=np.array([0, 1])))
    np.testing.assert_allclose(got, [0.9, 0.7], rtol=1e-6)
    got = visualization_response(m, "c", SimpleNamespace(raw=raw[::-1].copy(), filters=np.array([1, 0])))
    np.testing.assert_allclose(got, [0.7, 0.9], rtol=1e-6)


@pytest.fixture()
def signed_layer():
    """A unit page's layer on constructed data: unit 0 fires on class 0's (bright) images, unit 1
    on class 1's (dark); 8 test images, one of them unlabelled."""
    from types import SimpleNamespace

    from convviz.site.unit_data import UnitLayer

    m = _signed_model()
    values = np.array([0.9, 0.8, 0.7, -0.6, -0.5, 0.1, -0.2, 0.3], "float32")
    y = np.array([0, 0, 0, 1, 1, 1, -1, 0])
    x = np.zeros((8, 6, 6, 1), "float32")
    x[:, 2, 3, 0] = values
    ex = dataset_examples(m, "c", x, k=3)
    raw = np.full((2, 4, 4, 1), 0.5, "float32")
    patterns = SimpleNamespace(
        images=np.full((2, 4, 4, 3), 128, np.uint8), raw=raw, unexcited=np.zeros(2, bool), dead=np.zeros(2, bool)
    )
    layer = UnitLayer(
        name="c",
        kind="Conv2D",
        shape=(6, 6, 2),
        field=ex.field,
        examples=ex,
        patterns=patterns,
        response=np.array([1.5, 0.25], "float32"),  # unit 0: above its best image (0.9), unit 1: below (0.6)
        image=(6, 6),
        data_range=(-0.6, 0.9),
        recipe="robust",
        steps=64,
        seconds=0.5,
    )
    return layer, y, x


def test_a_layer_page_tables_its_units_and_compares_like_with_like(signed_layer):
    from dataclasses import replace
    from types import SimpleNamespace

    from convviz.core import markup
    from convviz.site.unit_data import RESPONSE, unit_comparison, unit_stats
    from convviz.site.unit_pages import layer_page

    layer, y, _ = signed_layer
    units = unit_stats(layer, y)
    assert units.preferred.tolist() == [0, 1] and units.count.tolist() == [3, 2]  # unit 1's top 3: 1, 1, unlabelled
    np.testing.assert_allclose(units.firing, [5 / 8, 3 / 8])
    np.testing.assert_allclose(units.best, [0.9, 0.6], rtol=1e-6)
    assert unit_comparison(units)[:2] == (1, 2)
    names = ("<b>bright</b>", "dark")
    page = layer_page(SimpleNamespace(name="m"), layer, ["a", "c", "z"], names, y)
    assert "<b>" not in page  # class names are escaped
    assert "[← a](../a/index.md) · [All layers](../index.md) · [z →](../z/index.md)" in page
    assert page.count(f"is {RESPONSE}") == 1  # the measure is said once
    assert '<tr data-class="&#60;b&#62;bright&#60;/b&#62;" data-dead="0">' in page
    assert '<td data-value="0.625">62%</td>' in page and '<td data-value="3">3/3</td>' in page
    assert "Its visualization excites it more than any test image: 1.5 against 0.9." in page
    assert "Its visualization excites it less than its best test image: 0.25 against 0.6." in page
    assert "## m · c · unit 1 {#unit-1 .cv-unit}" in page
    assert '<a href="#unit-0" title="previous unit">← 0</a>' in page and 'href="#unit-1"' in page
    alt = "test image 0 (<b>bright</b>): response 0.9, its receptive field framed"
    assert f'alt="{markup.text(alt)}"' in page  # escaped once
    assert "no real image can reach" not in page  # the visualizations' pixels are in the images' range
    wild = SimpleNamespace(**{**vars(layer.patterns), "raw": np.linspace(-30, 28, 32).reshape(2, 4, 4, 1)})
    page = layer_page(SimpleNamespace(name="m"), replace(layer, patterns=wild), ["c"], names, y)
    assert "pixels range from -30 to 28, the test images' from -0.6 to 0.9" in page
    assert "\n[All layers](../index.md)\n{ .cv-layer-nav data-search-exclude }\n" in page and "../a/" not in page
    assert "not compared" not in page  # both units are
    # a unit no start image could excite has no visualization, so no comparison: the page says so
    blank = SimpleNamespace(**{**vars(layer.patterns), "unexcited": np.array([False, True])})
    units = unit_stats(replace(layer, patterns=blank), y)
    assert unit_comparison(units)[:2] == (1, 1)
    page = layer_page(SimpleNamespace(name="m"), replace(layer, patterns=blank), ["c"], names, y)
    assert (
        "for 1 of the 1 units compared (median ratio 1.7×). The other unit is not compared: 1 has no "
        "visualization, as no start image could excite it in this page's ascent (the filter patterns page, "
        "on a larger image, may; each unit's section says more)." in page
    )


def test_unit_images_show_the_whole_image_with_the_field_framed(signed_layer, tmp_path):
    from PIL import Image

    from convviz.site.unit_images import write_unit_images
    from convviz.represent.examples import to_uint8

    layer, _, x = signed_layer
    write_unit_images(tmp_path, layer, dict(enumerate(to_uint8(x))))
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [f"u{u}.png" for u in range(2)] + [f"u{u}_e{j}.png" for u in range(2) for j in range(3)]
    )
    best = np.asarray(Image.open(tmp_path / "u0_e0.png"))
    # a 1×1 field at (2, 3) of a 6-pixel image, enlarged 10 times: the frame around pixels 20..29, 30..39
    assert best.shape == (60, 60, 3)
    assert tuple(best[18, 35]) == (0, 0, 0) and tuple(best[19, 35]) == (255, 214, 0)
    assert tuple(best[25, 28]) == (0, 0, 0) and tuple(best[25, 29]) == (255, 214, 0)
    assert (best[20:30, 30:40] == best[25, 35]).all() and best[25, 35, 0] == 255  # the brightest pixel


@pytest.mark.browser
def test_the_unit_table_sorts_by_a_column_and_filters_by_class_and_dead_units():
    import shutil
    from pathlib import Path
    from types import SimpleNamespace

    from convviz.site.unit_pages import overview
    from convviz.site.unit_data import UnitStats

    chromium = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    if chromium is None:
        pytest.skip("chromium is not installed (apt-get install chromium): browser checks skipped")
    playwright = pytest.importorskip("playwright.sync_api")
    units = UnitStats(
        preferred=np.array([1, 0, -1, 1, 0]),
        count=np.array([5, 9, 0, 3, 4]),
        firing=np.array([0.5, 0.9, 0.0, 0.2, 0.9]),
        dead=np.array([False, False, True, False, False]),
        best=np.array([2.0, 4.0, 0.0, 1.0, 3.0]),
        response=np.array([3.0, np.nan, np.nan, 0.5, 1.0]),  # unit 1: not excited, unit 2: dead
    )
    layer = SimpleNamespace(
        name="c", examples=SimpleNamespace(indices=np.zeros((5, 9), int), units=np.arange(5)), diverse=None
    )
    table = "\n".join(overview(layer, units, ("ring", "star <b>")))
    script = (Path(__file__).resolve().parents[1] / "convviz" / "site" / "assets" / "units.js").read_text()
    with playwright.sync_playwright() as p:
        b = p.chromium.launch(executable_path=chromium, args=["--headless", "--no-sandbox", "--disable-gpu"])
        page = b.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.set_content(f"<!doctype html><html><body>{table}</body></html>")
        page.add_script_tag(content=script)
        page.locator("table.cv-unit-table[data-ready='1']").wait_for(timeout=5000)

        def order():
            return page.evaluate("() => window.convvizUnitTables[0].order()")

        def sort(column):
            page.locator("th button", has_text=column).click()

        assert order() == [0, 1, 2, 3, 4]
        sort("fires on")  # descending first; ties keep the unit order
        assert order() == [1, 4, 0, 3, 2]
        sort("fires on")
        assert order() == [2, 3, 0, 1, 4]
        sort("visualization")  # units without a value last, whichever the direction
        assert order() == [0, 4, 3, 1, 2]
        assert page.get_attribute("th:last-child", "aria-sort") == "descending"
        sort("preferred class")  # alphabetical; the dead unit has none
        assert order() == [1, 4, 0, 3, 2]
        options = page.eval_on_selector_all(".cv-unit-class option", "os => os.map(o => [o.value, o.textContent])")
        assert options == [["", "all classes"], ["ring", "ring (2)"], ["star <b>", "star <b> (2)"]]
        page.select_option(".cv-unit-class", "star <b>")
        assert order() == [0, 3]
        page.select_option(".cv-unit-class", "")
        page.check(".cv-unit-tools input[type=checkbox]")
        assert order() == [1, 4, 0, 3] and page.inner_text(".cv-unit-count") == "4 of 5 units shown"
        page.close()
        b.close()
    assert not errors, errors


def test_write_unit_pages_links_layers_and_units_and_skips_when_unchanged(tmp_path, monkeypatch):
    """The whole writer on a tiny model (its zoo entry and test split stubbed): pages, images,
    the index with its links, layers.json; a second call with nothing changed writes nothing."""
    import json
    from types import SimpleNamespace

    from convviz import zoo
    from convviz.site.unit_data import N_DIVERSE, ROBUST_STEPS
    from convviz.site.unit_pages import write_unit_pages

    keras.utils.set_random_seed(0)
    model = _model(
        L.Conv2D(3, 3, activation="relu", padding="same", name="c1"),
        L.MaxPooling2D(2, name="p1"),
        L.Conv2D(4, 3, activation="relu", padding="same", name="c2"),
        shape=(16, 16, 1),
    )
    rng = np.random.default_rng(0)
    test = SimpleNamespace(
        x=rng.uniform(0, 1, (20, 16, 16, 1)).astype("float32"), y=np.arange(20) % 2, class_names=("odd<", "even")
    )
    entry = SimpleNamespace(
        name="tiny",
        source="trained",
        dataset="none",
        options={},
        recipe=lambda: {},
        input_shape=(16, 16, 1),
        units_option=None,
    )
    monkeypatch.setattr(zoo, "load", lambda e, progress=True: model)
    monkeypatch.setattr(zoo, "dataset", lambda e, split="test": test)
    out = tmp_path / "units"
    seconds = write_unit_pages(entry, out, progress=False)
    assert list(seconds) == ["c1", "c2"]
    layers = json.loads((out / "layers.json").read_text())
    assert [layers[n]["recipe"] for n in ("c1", "c2")] == ["book", "robust"] and layers["c2"]["steps"] == ROBUST_STEPS
    index = (out / "index.md").read_text()
    assert "[c1](c1/index.md)" in index and "[c2](c2/index.md)" in index
    assert "[activations](../activations.md)" in index and "[filter patterns](../filters.md)" in index
    assert "[activation atlas](../atlas/index.md)" in index
    for name, info in layers.items():  # compared + gray + dead = the layer's units, row by row
        above, of = info["visualization_above_best"]
        row = next(line for line in index.splitlines() if line.startswith(f"| [{name}]"))
        found = re.search(rf"\| {above} of {of}(?: \((\d+) gray\))? \|", row)
        assert found and of + int(found[1] or 0) + info["dead"] == info["units"], row
    # build times stay out of the site search (a unit's number must not match them)
    assert index.count("<span data-search-exclude>") == 3  # each layer's time and the total
    assert '<div class="cv-layer-table" data-search-exclude markdown>' in index  # the table too
    first, second = (out / "c1" / "index.md").read_text(), (out / "c2" / "index.md").read_text()
    assert "[All layers](../index.md) · [c2 →](../c2/index.md)" in first
    assert "[← c1](../c1/index.md) · [All layers](../index.md)\n" in second
    assert all(f"{{#unit-{u} .cv-unit}}" in second and f'href="#unit-{u}"' in second for u in range(4))
    # the deepest layer's live units (at most DIVERSE_UNITS) also show their facets, marked in the overview
    assert sorted(p.name for p in (out / "c2").glob("u3*.png")) == [
        "u3.png",
        *(f"u3_d{j}.png" for j in range(N_DIVERSE)),
        *(f"u3_e{j}.png" for j in range(9)),
    ]
    assert not list((out / "c1").glob("*_d0.png"))  # the shallower layer has none
    live = 4 - layers["c2"]["dead"]
    assert live >= 1 and second.count('class="cv-unit-row cv-unit-diverse"') == live
    assert second.count("◆</span>") == live
    assert "also show 4 *facets*" in second and "facet 4<br>" in second
    assert "odd&#60;" in second and "odd<" not in second
    assert write_unit_pages(entry, out, progress=False) is None
