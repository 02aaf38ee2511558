"""MaCo (issue 41): the phase of a spectrum whose magnitude is natural images', its
transparency map, and the recipes that use it."""

import keras
import numpy as np
import pytest

from convviz.core.errors import InputError
from convviz.optvis.ascent import maco_ascent
from convviz.optvis.classes import visualize_classes
from convviz.optvis.filters import visualize_filters
from convviz.optvis.param import (
    color_basis,
    hermitian_phase,
    maco_image,
    maco_phase_init,
    maco_spectrum,
    magnitude_spectrum,
)

ops = keras.ops


@pytest.mark.parametrize("size", [(12, 10), (11, 9), (8, 13)])
def test_the_image_has_exactly_the_given_magnitude_whatever_the_phase(size):
    rng = np.random.default_rng(0)
    data = rng.random((5, *size, 3)).astype(np.float32)
    magnitude = magnitude_spectrum(data, size)
    assert magnitude.shape == (3, size[0], size[1] // 2 + 1)
    np.testing.assert_allclose(magnitude, np.abs(np.fft.rfft2(data, axes=(1, 2))).mean(0).transpose(2, 0, 1), rtol=1e-5)
    phase = maco_phase_init(rng, 4, 3, size)
    img = ops.convert_to_numpy(maco_image(ops.convert_to_tensor(phase), ops.convert_to_tensor(magnitude), size))
    assert img.shape == (4, *size, 3)
    got = np.abs(np.fft.rfft2(img.astype(np.float64), axes=(1, 2))).transpose(0, 3, 1, 2)
    np.testing.assert_allclose(got, np.broadcast_to(magnitude, got.shape), rtol=1e-4, atol=1e-4)
    # the image's mean is the data's: the DC bin keeps phase 0
    np.testing.assert_allclose(img.mean(axis=(1, 2)), np.broadcast_to(data.mean(axis=(0, 1, 2)), (4, 3)), rtol=1e-4)


def test_in_the_data_colour_basis_the_uncorrelated_axes_have_the_magnitude():
    rng = np.random.default_rng(6)
    gray = rng.random((8, 12, 12, 1))
    data = np.concatenate([gray, 0.5 * gray + 0.1 * rng.random((8, 12, 12, 1)), 1 - gray], axis=-1).astype(np.float32)
    mean, basis = color_basis(data)
    np.testing.assert_allclose(basis.T @ basis, np.eye(3), atol=1e-5)
    axes = (data - mean) @ basis
    cov = np.cov(axes.reshape(-1, 3), rowvar=False)
    np.testing.assert_allclose(cov - np.diag(np.diag(cov)), 0, atol=1e-5)  # uncorrelated
    assert cov[0, 0] >= cov[1, 1] >= cov[2, 2]  # the strongest first
    magnitude, (m, b) = maco_spectrum(data, (12, 12))
    img = ops.convert_to_numpy(
        maco_image(
            ops.convert_to_tensor(maco_phase_init(rng, 2, 3, (12, 12))),
            ops.convert_to_tensor(magnitude),
            (12, 12),
            mean=ops.convert_to_tensor(m),
            basis=ops.convert_to_tensor(b),
        )
    )
    got = np.abs(np.fft.rfft2(((img - m) @ b).astype(np.float64), axes=(1, 2))).transpose(0, 3, 1, 2)
    np.testing.assert_allclose(got, np.broadcast_to(magnitude, got.shape), rtol=1e-4, atol=1e-4)


def test_hermitian_phase_touches_only_the_mirrored_columns():
    rng = np.random.default_rng(1)
    phase = rng.uniform(-3, 3, (1, 1, 6, 5)).astype(np.float32)  # an 6×8 image: columns 0 and 4 pair up
    out = ops.convert_to_numpy(hermitian_phase(ops.convert_to_tensor(phase), (6, 8)))
    np.testing.assert_array_equal(out[..., 1:4], phase[..., 1:4])
    for col in (0, 4):
        mirror = phase[0, 0, (-np.arange(6)) % 6, col]
        np.testing.assert_allclose(out[0, 0, :, col], (phase[0, 0, :, col] - mirror) / 2, atol=1e-6)
        assert out[0, 0, 0, col] == 0 and out[0, 0, 3, col] == 0  # the real bins


@pytest.mark.parametrize("steps", [1, 3])
def test_maco_keeps_the_magnitude_at_every_step_and_its_transparency_sums_the_pixel_gradients(steps):
    """A linear objective, the mean over pixels of 1·R + 0·G − 2·B: its gradient with respect
    to each pixel is (1, 0, −2) / (h·w) at every step, so without transforms the transparency
    map is steps × 3 / (h·w) everywhere."""
    size = (8, 10)
    rng = np.random.default_rng(2)
    magnitude = magnitude_spectrum(rng.random((3, *size, 3)).astype(np.float32), size)
    weights = ops.convert_to_tensor(np.array([1.0, 0.0, -2.0], np.float32))

    def maps(img, fidx):
        return ops.sum(img * weights, axis=-1)

    raw, stuck, transparency = maco_ascent(
        maps, np.arange(2), 2, size, magnitude, steps, 0.1, np.random.default_rng(0), transforms=False
    )
    got = np.abs(np.fft.rfft2(raw.astype(np.float64), axes=(1, 2))).transpose(0, 3, 1, 2)
    np.testing.assert_allclose(got, np.broadcast_to(magnitude, got.shape), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(transparency, np.full((2, *size), steps * 3 / 80), rtol=1e-5)
    assert transparency.dtype == np.float32 and stuck.shape == (2,)


def _classifier() -> keras.Model:
    inp = keras.Input((16, 16, 3))
    x = keras.layers.Conv2D(4, 3, padding="same", activation="relu", name="conv")(inp)
    x = keras.layers.GlobalAveragePooling2D()(x)
    out = keras.layers.Dense(3, activation="softmax")(x)
    return keras.Model(inp, out)


def test_the_recipes_take_maco_and_ask_for_data():
    keras.utils.set_random_seed(0)
    model = _classifier()
    data = np.random.default_rng(3).random((6, 16, 16, 3)).astype(np.float32)
    r = visualize_classes(model, 3, steps=4, recipe="maco", data=data, crop=0)
    assert r.recipe == "maco" and r.transparency is not None and r.transparency.shape == (3, 16, 16)
    assert r.describe() == "maco, 4 Adam steps on the phase"
    magnitude, (mean, basis) = maco_spectrum(data, (16, 16))
    got = np.abs(np.fft.rfft2(((r.raw - mean) @ basis).astype(np.float64), axes=(1, 2))).transpose(0, 3, 1, 2)
    np.testing.assert_allclose(got, np.broadcast_to(magnitude, got.shape), rtol=1e-3, atol=1e-3)
    assert visualize_classes(model, 2, steps=2, crop=0).transparency is None  # robust: none
    with pytest.raises(InputError, match="recipe 'maco' fixes the magnitude spectrum .* pass data="):
        visualize_classes(model, 2, steps=2, recipe="maco")
    with pytest.raises(InputError, match="unknown class recipe 'book'; valid: robust, maco"):
        visualize_classes(model, 2, steps=2, recipe="book")
    f = visualize_filters(model, "conv", 4, steps=4, recipe="maco", data=data, crop=0)
    assert f.transparency is not None and f.transparency.shape == (4, 16, 16)
    assert (f.transparency[f.origin != "gray"] == 0).all()
    with pytest.raises(InputError, match="pass data="):
        visualize_filters(model, "conv", 2, recipe="maco")


def test_the_transparency_figure_fades_where_maco_barely_pushed():
    from dataclasses import replace

    from convviz.figures.patterns import plot_transparency, transparent_images

    keras.utils.set_random_seed(0)
    data = np.random.default_rng(7).random((6, 16, 16, 3)).astype(np.float32)
    r = visualize_classes(_classifier(), 2, steps=2, recipe="maco", data=data, crop=2)
    t = np.zeros((2, 16, 16), np.float32)
    t[:, 2:8] = 4.0  # full effort on the top rows of the shown (cropped) image, half on the next, none below
    t[:, 8:10] = 2.0
    faded = transparent_images(replace(r, transparency=t))
    assert faded.shape == r.images.shape
    np.testing.assert_array_equal(faded[:, :6], r.images[:, :6])
    np.testing.assert_allclose(faded[:, 6:8], np.round(r.images[:, 6:8] * 0.5 + 127.5), atol=1)
    assert (faded[:, 8:] == 255).all()
    assert plot_transparency(r).get_title(loc="left").endswith("where MaCo spent its effort")
    with pytest.raises(InputError, match="the 'robust' recipe has no transparency map"):
        transparent_images(visualize_classes(_classifier(), 1, steps=1, crop=0))
