"""Figures: data in, Axes out; overlays and grids have the right pixels."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from convviz.figures import activations as activations_module
from convviz.figures import embedding as embedding_module
from convviz.figures import heatmaps as heatmaps_module
from convviz.figures import output as output_module
from convviz.figures import patterns as patterns_module


def teardown_function():
    plt.close("all")


def test_mosaic_marks_blank_channels_and_normalizes():
    a = np.zeros((4, 4, 3))
    a[..., 0] = np.arange(16).reshape(4, 4)
    a[..., 2] = 5.0  # constant, not blank
    m = activations_module.activation_mosaic(a, ncols=3, margin=1)
    assert m.shape == (4, 14, 3)
    blank = m[:, 5:9]
    assert np.allclose(blank[0, 1], activations_module._BLANK) and np.allclose(blank[0, 0], activations_module._CROSS)
    assert not np.allclose(m[:, 10:14], activations_module._BLANK)


def test_sparsity_marks_only_layers_with_dead_channels():
    """A dead marker only where a layer has dead channels; none at 0% for the others, and the
    legend says when no layer has any."""
    per_image = {"a": np.array([0.0, 0.1]), "b": np.array([0.2, 0.3])}
    ax = activations_module.plot_sparsity(per_image, dead={"a": 0.0, "b": 0.25})
    (markers,) = ax.collections
    assert markers.get_offsets().tolist() == [[25.0, 1.0]]
    ax = activations_module.plot_sparsity(per_image, dead={"a": 0.0, "b": 0.0})
    assert len(ax.collections[0].get_offsets()) == 0
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "dead: blank for every image (none in any layer)" in labels


def test_plots_return_axes():
    ax = activations_module.plot_activation_grid(np.random.rand(5, 5, 8))
    assert ax.figure is not None
    assert activations_module.plot_sparsity({"a": 0.0, "b": 0.5}).get_xlabel() == "channels blank (%)"
    ax = embedding_module.plot_embedding(
        np.random.rand(10, 2),
        np.arange(10) % 2,
        class_names=["x", "y"],
        misclassified=np.arange(10) < 2,
        highlight=np.array([3]),
        trust=0.9,
    )
    assert ax.get_title(loc="left") == "trustworthiness 0.900 (k=10)"


def test_overlay_puts_the_map_over_a_gray_image():
    img = np.zeros((8, 8, 3))
    img[..., 0] = 1.0  # pure red: drawn gray (its luminance), so that no image colour reads as heat
    heat = np.zeros((4, 4))
    heat[0, 0] = 1.0
    out = heatmaps_module.overlay_heatmap(img, heat, alpha=1.0)
    assert out.dtype == np.uint8 and out.shape == (8, 8, 3)
    top = np.array(matplotlib.colormaps["inferno"](1.0)[:3]) * 255
    np.testing.assert_allclose(out[0, 0], top, atol=1)  # the hottest value: the colormap's top colour
    gray = round((0.12 + 0.76 * 0.299) * 255)
    assert (out[7, 7] == gray).all()  # no heat: the image's gray, as it is
    half = heatmaps_module.overlay_heatmap(img, np.full((8, 8), 0.5), alpha=0.8)[0, 0]
    expected = 0.6 * gray + 0.4 * np.array(matplotlib.colormaps["inferno"](0.5)[:3]) * 255
    np.testing.assert_allclose(half, expected, atol=1)  # opacity: alpha × the map's value
    white = heatmaps_module.overlay_heatmap(
        np.full((8, 8), 255, np.uint8), np.zeros((8, 8)), alpha=0.0, desaturate=False
    )
    assert (white == 255).all()
    with pytest.raises(ValueError, match="alpha"):
        heatmaps_module.overlay_heatmap(img, heat, alpha=2)


def test_overlay_keeps_shapes_that_differ_only_in_hue():
    img = np.zeros((16, 16, 3))
    img[..., 1] = 0.299 / 0.587  # green ground, the luminance of pure red
    img[4:12, 4:12] = (1.0, 0.0, 0.0)  # a red square: in plain luminance, the same gray
    lum = img @ np.array([0.299, 0.587, 0.114])
    assert np.ptp(lum) < 1e-6
    out = heatmaps_module.overlay_heatmap(img, np.zeros((4, 4))).astype(int)
    assert (out[..., 0] == out[..., 1]).all() and (out[..., 1] == out[..., 2]).all()  # gray
    square, ground = out[8, 8, 0], out[0, 0, 0]
    assert abs(abs(square - ground) - 0.76 * 255) <= 1  # stretched: one end of the range each
    photo = np.random.default_rng(0).random((6, 6, 1)) * np.ones(3)  # gray values in RGB
    gray = heatmaps_module.overlay_heatmap(photo, np.zeros((6, 6))).astype(float)[..., 0]
    assert np.corrcoef(gray.ravel(), photo[..., 0].ravel())[0, 1] > 0.999  # luminance order kept


def test_filter_grid_frames_dead_filters():
    imgs = np.full((4, 6, 6, 3), 128, np.uint8)
    g = patterns_module.filter_grid(imgs, margin=2, dead=np.array([False, True, False, False]))
    assert g.shape == (14, 14, 3)
    assert tuple(g[0, 8]) == (220, 30, 30) and tuple(g[0, 0]) == (128, 128, 128)


def test_save_image_and_figure(tmp_path):
    p = output_module.save_image(tmp_path / "a" / "x.png", np.zeros((3, 3, 1), np.float32))
    from PIL import Image

    assert Image.open(p).size == (3, 3)
    fig = plt.figure()
    assert output_module.save_figure(fig, tmp_path / "f.png").stat().st_size > 0


def test_numbers_of_suspicious_points_close_together_do_not_cover_one_another():
    """The latent figure numbers its most suspicious points; outliers often lie close together,
    and the numbers fanned at fixed angles overlapped (3 points apart for ten at one place)."""
    from convviz.figures.embedding import label_offsets

    np.testing.assert_allclose(label_offsets(np.array([[50.0, 50.0]])), [[12 / 2**0.5, 12 / 2**0.5]])  # upper right
    rng = np.random.default_rng(0)
    for spread in (0.0, 0.5, 2.0, 5.0):  # ten points on one spot, then ever less crowded
        at = rng.normal(size=(10, 2)) * spread + 100
        spots = at + label_offsets(at)
        apart = np.linalg.norm(spots[:, None] - spots[None], axis=-1)
        np.fill_diagonal(apart, np.inf)
        assert apart.min() >= 9, spread  # a 9-point digit is about 5 points wide, 7 tall
        assert np.linalg.norm(spots[:, None] - at[None], axis=-1).min() >= 9  # off every circle (5 points wide)
    ax = embedding_module.plot_embedding(
        np.zeros((12, 2)) + np.arange(12)[:, None] * 1e-3, np.arange(12) % 2, highlight=np.arange(12)
    )
    numbers = [t for t in ax.texts if t.get_text().isdigit()]
    assert [t.get_text() for t in numbers] == [str(k) for k in range(1, 13)]  # every one numbered, in rank order


def test_sparsity_chart_rings_the_marked_image_on_each_layer():
    shares = {"a": np.array([0.1, 0.2, 0.3]), "b": np.array([0.5, 0.6, 0.7])}
    ax = activations_module.plot_sparsity(shares, mark={"a": 0.1, "b": 0.9}, mark_label="the first image")
    (rings,) = [c for c in ax.collections if c.get_label() == "the first image"]
    np.testing.assert_allclose(rings.get_offsets(), [[10, 0], [90, 1]])  # percent, one row per layer
    assert ax.get_xlim()[1] >= 90  # the ring is inside the axes
    assert "the first image" in [t.get_text() for t in ax.get_legend().get_texts()]


def test_a_class_keeps_its_colour_when_another_class_is_missing():
    """The latent figure and the atlas's class map colour a class by its index (at most 10
    classes): with class 1 absent, class 2 is still the third colour, not the second."""
    from matplotlib.colors import to_rgba

    from convviz.figures.style import CLASS_COLORS

    ax = embedding_module.plot_embedding(np.random.rand(6, 2), np.array([0, 0, 2, 2, 3, 3]), class_names=list("abcd"))
    colours = {c.get_label(): to_rgba(c.get_facecolor()[0], 1) for c in ax.collections}
    assert colours["c"] == to_rgba(CLASS_COLORS[2], 1) and colours["d"] == to_rgba(CLASS_COLORS[3], 1)


def test_bad_marks_and_label_positions_are_named():
    from convviz.core.errors import InputError
    from convviz.figures.embedding import label_offsets

    with pytest.raises(InputError, match=r"mark names layers not in sparsity: c; valid: a, b"):
        activations_module.plot_sparsity({"a": np.ones(3), "b": np.ones(3)}, mark={"c": 0.5})
    with pytest.raises(InputError, match=r"at must be \(N, 2\) positions in points, got shape \(2, 3\)"):
        label_offsets(np.zeros((2, 3)))
    with pytest.raises(InputError, match="radius must be positive"):
        label_offsets(np.zeros((2, 2)), radius=0)
