"""Filter patterns: known answers on hand-set filters, batched == one-at-a-time, errors."""

import keras
import numpy as np
import pytest

from convviz.core import backend as _backend
from convviz.optvis.filters import DEFAULT_LEARNING_RATES, book_objective_reference, deprocess_image, visualize_filters
from conftest import nested_model, small_functional, to_np

ops = keras.ops


def color_model():
    """conv0 responds to red minus green+blue, conv1 to blue, conv2 to vertical edges, conv3 dead."""
    inp = keras.Input((24, 24, 3))
    conv = keras.layers.Conv2D(4, 3, padding="same", name="conv")
    model = keras.Model(inp, conv(inp))
    k = np.zeros((3, 3, 3, 4), np.float32)
    k[1, 1, :, 0] = [1.0, -0.5, -0.5]
    k[1, 1, :, 1] = [0.0, 0.0, 1.0]
    k[:, 0, :, 2], k[:, 2, :, 2] = -1.0, 1.0  # horizontal gradient -> vertical edges
    conv.set_weights([k, np.array([0, 0, 0, -1000], np.float32)])
    relu = keras.layers.ReLU(name="relu")(model.output)
    return keras.Model(inp, relu)


def test_color_filters_find_their_color():
    res = visualize_filters(color_model(), "relu", [0, 1], crop=2, steps=10)
    red = res.raw[0].mean(axis=(0, 1))
    blue = res.raw[1].mean(axis=(0, 1))
    assert red[0] > red[1] + 1 and red[0] > red[2] + 1
    assert blue[2] > blue[0] + 1 and blue[2] > blue[1] + 1
    assert not res.dead.any() and not res.unexcited.any()
    assert res.origin.tolist() == ["gray", "gray"]


def test_level_filters_show_flat_and_are_counted_edges_are_not():
    import matplotlib.pyplot as plt

    from convviz.figures.patterns import flat_patterns, plot_filter_grid

    res = visualize_filters(color_model(), "relu", [0, 1, 2, 3], crop=2, steps=10)
    # blue fires on every pixel of the gray start: the ascent raises the whole inside evenly.
    # red minus green and blue sits at zero there, so its ReLU lets half the pixels through: a
    # speckle, not flat. The edge has a shape; 3 is framed (not excited).
    assert flat_patterns(res).tolist() == [False, True, False, False]
    spread = res.images.std(axis=(1, 2)).max(axis=-1)
    assert spread[1] < 4 < min(spread[0], spread[2])
    ax = plot_filter_grid(res, title="relu")
    assert ax.get_title(loc="left") == "relu\n1 not excited (orange)\n1 flat: a uniform field"
    for bad in (0, -1, 300):
        with pytest.raises(ValueError, match=r"levels must be in \(0, 255\]"):
            flat_patterns(res, levels=bad)
    plt.close(ax.figure)


def test_edge_filter_pattern_correlates_with_its_orientation():
    res = visualize_filters(color_model(), "relu", [2], crop=2, steps=20)
    gray = res.raw[0].mean(-1)
    dx = np.abs(np.diff(gray, axis=1)).mean()
    dy = np.abs(np.diff(gray, axis=0)).mean()
    assert dx > 3 * dy  # intensity varies across columns: vertical stripes


def test_unexcitable_filter_is_flagged_not_nan():
    res = visualize_filters(color_model(), "relu", [3], crop=2, steps=5)
    assert res.dead.tolist() == [False]  # no data given: dead on data is not claimed
    assert res.unexcited.tolist() == [True] and res.origin.tolist() == ["none"]
    assert np.isfinite(res.raw).all() and np.isfinite(res.losses).all()
    assert (res.images == 128).all()  # nothing to show: flat gray


def edge_units_model():
    """unit 0 never fires on images in [0, 1]; unit 1 fires only on a sharp, full-contrast
    vertical edge (which gray noise in [0.4, 0.6] never has); unit 2 on blue."""
    inp = keras.Input((16, 16, 3))
    conv = keras.layers.Conv2D(3, 3, name="conv")
    relu = keras.layers.ReLU(name="relu")(conv(inp))
    k = np.zeros((3, 3, 3, 3), np.float32)
    k[..., 0] = -1.0
    k[:, 0, :, 1], k[:, 2, :, 1] = -1.0, 1.0  # right column minus left column, all channels
    k[1, 1, 2, 2] = 1.0
    conv.set_weights([k, np.array([-1.0, -8.9, 0.0], np.float32)])
    return keras.Model(inp, relu)


def test_dead_on_data_versus_not_excited_from_gray():
    model = edge_units_model()
    data = np.zeros((3, 16, 16, 3), np.float32)
    data[1, :, 8:] = 1.0  # one image with a full-contrast vertical edge
    data[2] = np.random.default_rng(1).uniform(0.4, 0.6, (16, 16, 3))
    gray = visualize_filters(model, "relu", 3, crop=2, steps=10)
    assert gray.unexcited.tolist() == [True, True, False]  # from gray alone: 0 and 1 look alike
    res = visualize_filters(model, "relu", 3, crop=2, steps=10, data=data)
    assert res.dead.tolist() == [True, False, False]  # unit 0 is zero on every data image
    assert res.unexcited.tolist() == [False, False, False]
    assert res.origin.tolist() == ["none", "data", "gray"]  # unit 1 restarted from the edge image
    assert res.losses[1] > 0
    assert (res.images[0] == 128).all() and not (res.images[1] == 128).all()


@pytest.mark.slow
def test_learning_rate_default_is_the_recipes_own():
    assert DEFAULT_LEARNING_RATES == {"book": 10.0, "fast": 10.0, "robust": 0.05, "maco": 0.5}
    model = small_functional((20, 20, 3))
    a = visualize_filters(model, "c1", 2, steps=3, crop=2, recipe="robust")
    b = visualize_filters(model, "c1", 2, steps=3, crop=2, recipe="robust", learning_rate=0.05)
    c = visualize_filters(model, "c1", 2, steps=3, crop=2, recipe="robust", learning_rate=10.0)
    np.testing.assert_array_equal(a.raw, b.raw)
    assert not np.allclose(a.raw, c.raw)  # 10.0 is taken as given, not silently replaced


@pytest.mark.parametrize("size", [(24, 24), (20, 31)])
def test_fourier_image_is_lucids_fft_image(size):
    """Same spectrum scale, same normalization (irfft2 divides by h·w) and the same initial
    pixel spread as lucid's fft_image, computed with NumPy."""
    from convviz.optvis.param import fourier_image, fourier_init, spectrum_scale

    h, w = size
    rng = np.random.default_rng(0)
    params = fourier_init(rng, 64, 3, size)
    scale = spectrum_scale(h, w)
    ours = to_np(fourier_image(ops.convert_to_tensor(params), ops.convert_to_tensor(scale), None, size, sigmoid=False))
    fy = np.fft.fftfreq(h)[:, None]
    fx = np.fft.fftfreq(w)[: w // 2 + 1 + (w % 2)]
    freqs = np.sqrt(fx * fx + fy * fy)
    lucid_scale = 1.0 / np.maximum(freqs, 1.0 / max(w, h)) * np.sqrt(w * h)
    np.testing.assert_allclose(scale, lucid_scale[:, : w // 2 + 1], rtol=1e-6)
    spectrum = params[:, 0] + 1j * params[:, 1]
    lucid = np.fft.irfft2(lucid_scale[:, : w // 2 + 1] * spectrum, s=(h, w)) / 4.0
    np.testing.assert_allclose(ours, np.transpose(lucid, (0, 2, 3, 1)), rtol=1e-4, atol=1e-6)
    # lucid's initial pixel spread at this size, not sqrt(h·w) times smaller
    assert ours.std() == pytest.approx(lucid.std(), rel=1e-3) and ours.std() > 0.005


def chapter_loop(model, layer, filters, *, steps, size, lr=10.0, seed=0):
    """The chapter's loop, one filter at a time (reference)."""
    from convviz.graph.split import layer_output

    body = layer_output(model, layer)
    starts = np.random.default_rng(seed).uniform(0.4, 0.6, (len(filters), size, size, 3)).astype(np.float32)
    out = []
    for f, start in zip(filters, starts):
        img = ops.convert_to_tensor(start[None])
        for _ in range(steps):
            _, g = _backend.value_and_grad(lambda t: ops.mean(body(t)[:, 2:-2, 2:-2, int(f)]), img)
            g = g / ops.sqrt(ops.maximum(ops.sum(g * g), 1e-12))
            img = img + lr * g
        out.append(_backend.to_numpy(img)[0])
    return np.stack(out)


@pytest.mark.parametrize("layer", ["c1", "c2"])
def test_batched_book_equals_one_at_a_time(layer):
    model = small_functional((20, 20, 3))
    res = visualize_filters(model, layer, 3, steps=6, crop=2, batch_size=2)
    ref = chapter_loop(model, layer, [0, 1, 2], steps=6, size=20)
    np.testing.assert_allclose(res.raw, ref, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(
        res.losses, book_objective_reference(model, layer, ref, np.arange(3)), rtol=1e-4, atol=1e-5
    )


def test_pointwise_path_equals_full_layer():
    """SeparableConv2D targets gather one kernel column; results equal the full layer."""
    inp = keras.Input((20, 20, 3))
    x = keras.layers.Conv2D(4, 3, activation="relu", name="c")(inp)
    x = keras.layers.SeparableConv2D(6, 3, name="sep")(x)
    model = keras.Model(inp, x)
    res = visualize_filters(model, "sep", [5, 0, 3], steps=4, crop=2)
    ref = chapter_loop(model, "sep", [5, 0, 3], steps=4, size=20)
    np.testing.assert_allclose(res.raw, ref, rtol=1e-4, atol=1e-4)


def test_fast_reaches_book_objective_in_fewer_steps():
    model = small_functional((24, 24, 3))
    book = visualize_filters(model, "c2", 4, steps=30, crop=2)
    fast = visualize_filters(model, "c2", 4, steps=30, crop=2, recipe="fast")
    alive = ~book.unexcited
    assert fast.losses[alive].mean() >= book.losses[alive].mean()


def blue_unit_models():
    """One unit, off on gray (3 × 0.5 − 2 < 0), on where blue > 2/3: as a ReLU layer after
    the conv, as a conv with activation="relu", and as a SeparableConv2D with it."""
    inp = keras.Input((16, 16, 3))
    k = np.zeros((3, 3, 3, 2), np.float32)
    k[1, 1, 2, 0] = 3.0  # unit 0: blue; unit 1: never used
    bias = np.array([-2.0, 0.0], np.float32)
    conv = keras.layers.Conv2D(2, 3, padding="same", name="conv")
    split = keras.Model(inp, keras.layers.ReLU(name="act")(conv(inp)))
    conv.set_weights([k, bias])
    fused = keras.layers.Conv2D(2, 3, padding="same", activation="relu", name="act")
    joined = keras.Model(inp, fused(inp))
    fused.set_weights([k, bias])
    sep = keras.layers.SeparableConv2D(2, 1, activation="relu", name="act")
    separable = keras.Model(inp, sep(inp))
    sep.set_weights([np.ones((1, 1, 3, 1), np.float32), k[1:2, 1:2, :, :], bias])
    return {"relu layer": split, "fused conv": joined, "separable": separable}


@pytest.mark.parametrize("kind", ["relu layer", "fused conv", "separable"])
def test_robust_recipe_moves_a_unit_the_gray_start_leaves_off(kind):
    """The redirected ReLU at the objective's unit: the same values as the layer, a gradient
    where the plain ReLU gives none, and the robust recipe's own start ends up firing the
    unit (before: no gradient for all its steps, then a restart from noise)."""
    from convviz.optvis.objectives import channel_maps

    model = blue_unit_models()[kind]
    gray = np.full((2, 16, 16, 3), 0.5, np.float32)
    fidx = ops.convert_to_tensor(np.zeros(2, "int32"))
    plain, steer = (channel_maps(model, "act", 2, redirect=r) for r in (False, True))
    np.testing.assert_allclose(to_np(steer(gray, fidx)), to_np(plain(gray, fidx)))
    v, g0 = _backend.value_and_grad(lambda t: ops.mean(plain(t, fidx), axis=(1, 2)), gray)
    _, g1 = _backend.value_and_grad(lambda t: ops.mean(steer(t, fidx), axis=(1, 2)), gray)
    assert (to_np(v) == 0).all() and not to_np(g0).any()
    assert (to_np(g1)[..., 2] > 0).all() and not to_np(g1)[..., :2].any()  # more blue, nothing else
    res = visualize_filters(model, "act", [0], steps=96, crop=2, recipe="robust")
    assert res.origin.tolist() == ["gray"] and res.losses[0] > 0
    assert (res.raw[0, 2:-2, 2:-2, 2] > 2 / 3).any()  # blue enough somewhere: where the unit fires


def test_filters_dead_on_data_are_not_optimized():
    """Found before the ascent: a dead filter keeps its start image and a zero objective;
    the live one beside it is optimized from its own start, as the chapter's loop does."""
    model = edge_units_model()
    data = np.random.default_rng(1).uniform(0.0, 1.0, (4, 16, 16, 3)).astype(np.float32)
    res = visualize_filters(model, "relu", [0, 2], crop=2, steps=6, data=data)
    assert res.dead.tolist() == [True, False] and res.origin.tolist() == ["none", "gray"]
    start = np.random.default_rng(0).uniform(0.4, 0.6, (2, 16, 16, 3)).astype(np.float32)
    np.testing.assert_array_equal(res.raw[0], start[0])  # untouched
    assert res.losses[0] == 0 and (res.images[0] == 128).all()
    ref = chapter_loop(model, "relu", [0, 2], steps=6, size=16)
    np.testing.assert_allclose(res.raw[1], ref[1], rtol=1e-4, atol=1e-4)
    assert res.losses[1] > 0


def test_robust_recipe_gives_valid_images_in_range():
    res = visualize_filters(small_functional((24, 24, 3)), "c1", 2, steps=8, crop=0, recipe="robust")
    assert res.raw.min() >= 0 and res.raw.max() <= 1
    assert res.images.dtype == np.uint8 and res.images.shape == (2, 24, 24, 3)


def test_nested_layer_and_image_size():
    res = visualize_filters(nested_model(), "backbone/b_conv2", 2, steps=2, image_size=(30, 40), crop=3)
    assert res.raw.shape == (2, 30, 40, 3) and res.images.shape == (2, 24, 34, 3)


def test_deprocess_matches_the_chapter():
    img = np.random.default_rng(0).normal(size=(60, 60, 3))
    out = deprocess_image(img, crop=25)
    ref = img - img.mean()
    ref /= ref.std()
    ref = np.clip(ref * 64 + 128, 0, 255).astype("uint8")[25:-25, 25:-25, :]
    np.testing.assert_array_equal(out, ref)


@pytest.mark.parametrize(
    "kwargs,match",
    [
        (dict(layer="c9"), "Did you mean"),
        (dict(layer="gap"), "not \\(batch, height, width, channels\\)"),
        (dict(filters=[0, 7]), r"filter indices \[7\] out of range.*has 6 filters"),
        (dict(filters=99), "has 6 filters"),
        (dict(steps=0), "steps must be a positive integer"),
        (dict(crop=10), "too small to crop 10 pixels"),
        (dict(recipe="magic"), "valid recipes: book, fast, robust"),
        (dict(image_size=(4, 4)), "at least 8 pixels"),
    ],
)
def test_bad_input(kwargs, match):
    args = dict(layer="c2", filters=2, crop=2, steps=1)
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        visualize_filters(small_functional(), args.pop("layer"), args.pop("filters"), **args)
