"""Embedded datasets are deterministic, well-formed, with fixed splits."""

import numpy as np
import pytest

from convviz.zoo import datasets
from convviz.zoo import folders as folders_module
from convviz.zoo import shapes as shapes_module


def test_digits_shapes_and_split():
    train, test = datasets.load("digits", "train"), datasets.load("digits", "test")
    assert train.x.shape == (1437, 32, 32, 1) and test.x.shape == (360, 32, 32, 1)
    assert train.x.dtype == np.float32 and 0 <= train.x.min() and train.x.max() <= 1
    assert set(np.unique(test.y)) == set(range(10))
    assert train.class_names == tuple("0123456789") and train.masks is None


def test_shapes_deterministic_and_prefix_stable():
    a = shapes_module.generate_shapes(12, seed=3)
    b = shapes_module.generate_shapes(12, seed=3)
    np.testing.assert_array_equal(a.x, b.x)
    np.testing.assert_array_equal(a.masks, b.masks)
    c = shapes_module.generate_shapes(12, seed=4)
    assert not np.array_equal(a.x, c.x)


def test_shapes_have_objects_masks_and_balanced_classes():
    d = shapes_module.generate_shapes(60, seed=0)
    assert d.x.shape == (60, 64, 64, 3) and d.masks.shape == (60, 64, 64)
    assert np.bincount(d.y, minlength=6).tolist() == [10] * 6
    frac = d.masks.mean(axis=(1, 2))
    assert frac.min() > 0.02 and frac.max() < 0.6
    # the object differs from the background: mean color inside vs outside the mask
    for img, m in zip(d.x[:10], d.masks[:10]):
        assert np.linalg.norm(img[m].mean(0) - img[~m].mean(0)) > 0.1


def test_ring_has_a_hole_and_circle_does_not():
    """At a ring's center the pixels are background, unlike a circle's; both masks cover the
    whole region (the hole is the ring's evidence, so it counts as the object's region)."""
    d = shapes_module.generate_shapes(60, seed=0)
    for img, mask, label in zip(d.x, d.masks, d.y):
        ys, xs = np.nonzero(mask)
        cy, cx = int(round(ys.mean())), int(round(xs.mean()))
        edge = np.median(img[mask], axis=0)  # the object's color (a ring covers 70% of its disc)
        name = d.class_names[label]
        if name in ("ring", "circle"):
            assert mask[cy, cx]
            centre_is_object = np.linalg.norm(img[cy, cx] - edge) < 0.15
            assert centre_is_object == (name == "circle")


@pytest.mark.slow
def test_shapes_splits_are_fixed_and_disjoint_seeds():
    test = datasets.load("shapes", "test")
    assert len(test) == shapes_module.SHAPES_COUNTS["test"]
    again = shapes_module.generate_shapes(5, seed=1)
    np.testing.assert_array_equal(test.x[:5], again.x)


def test_photos_are_real_images_with_imagenet_labels():
    p = datasets.load("photos")
    assert len(p) >= 12 and p.x.shape[1:] == (299, 299, 3) and p.x.std() > 0.1
    assert len(p.class_names) == 1000 and p.class_names[281] == "tabby"
    named = dict(zip(p.image_names, p.accepted))
    assert {p.class_names[c] for c in named["cat"]} == {"tabby", "tiger cat", "Egyptian cat"}
    assert p.class_names[named["grace_hopper"][0]] == "military uniform"
    assert named["dahlia"] == () and p.y[p.image_names.index("dahlia")] == -1  # no ImageNet class fits
    assert 0 < p.labelled.sum() < len(p)
    # any accepted class counts as right; unlabelled images are never "right"
    pred = np.array([ok[-1] if ok else 0 for ok in p.accepted])
    assert p.correct(pred).sum() == p.labelled.sum() and p.accuracy(pred) == 1.0
    with pytest.raises(ValueError, match=r"one class per image: shape \(15,\), got \(1,\)"):
        p.correct(pred[:1])


def test_imagenet_class_index_is_keras_own_file():
    """The shipped index is byte for byte the file decode_predictions downloads (Keras pins
    its MD5 in imagenet_utils)."""
    import hashlib
    import inspect

    from keras.src.applications import imagenet_utils

    from convviz.zoo import architectures as models

    digest = hashlib.md5(models._CLASS_INDEX.read_bytes()).hexdigest()
    assert f'file_hash="{digest}"' in inspect.getsource(imagenet_utils)
    names = models.imagenet_class_names()
    assert len(names) == 1000 and names[0] == "tench" and names[999] == "toilet tissue"


def test_folder_unlabelled_corrupt_and_mixed(tmp_path, caplog):
    from PIL import Image

    rng = np.random.default_rng(0)
    flat = tmp_path / "flat"
    flat.mkdir()
    Image.fromarray((rng.random((20, 30, 3)) * 255).astype(np.uint8)).save(flat / "a.jpg")
    Image.fromarray((rng.random((20, 20, 4)) * 255).astype(np.uint8), "RGBA").save(flat / "b.png")
    Image.fromarray((rng.random((16, 16)) * 255).astype(np.uint8), "L").save(flat / "c.webp")
    Image.fromarray((rng.random((16, 16, 3)) * 255).astype(np.uint8)).save(flat / "d.bmp")
    (flat / "broken.png").write_bytes(b"not an image")
    with caplog.at_level("WARNING", logger="convviz"):
        d = folders_module.load_folder(flat, size=(12, 12), class_names=("x", "y"))
        folders_module.load_folder(flat, size=(12, 12))  # loaded again: no second warning
    assert len(caplog.records) == 1 and "skipped 1 unreadable image" in caplog.text
    assert "broken.png" in caplog.text
    assert d.x.shape == (4, 12, 12, 3) and (d.y == -1).all() and not d.has_labels
    assert d.image_names == ("a", "b", "c", "d") and d.accuracy(np.zeros(4, int)) is None
    (flat / "sub").mkdir()
    with pytest.raises(ValueError, match="mixes class sub-folders"):
        folders_module.load_folder(flat, size=(12, 12))
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "notes.txt").write_text("x")
    with pytest.raises(ValueError, match="no readable images found"):
        folders_module.load_folder(empty, size=(12, 12))


def test_convert_channels():
    rgb = np.random.default_rng(0).random((2, 4, 4, 3)).astype(np.float32)
    gray = folders_module.convert_channels(rgb, 1)
    np.testing.assert_allclose(gray[..., 0], rgb @ np.array([0.299, 0.587, 0.114]), rtol=1e-6)
    np.testing.assert_array_equal(folders_module.convert_channels(gray, 3), np.repeat(gray, 3, -1))
    with pytest.raises(ValueError, match="between 1 .gray., 3 .RGB. and 4"):
        folders_module.convert_channels(rgb[..., :2], 3)


@pytest.mark.parametrize(
    "name,split,match",
    [("mnist", "train", "valid datasets: digits, shapes, photos"), ("digits", "val", "valid splits: train, test")],
)
def test_bad_names(name, split, match):
    with pytest.raises(ValueError, match=match):
        datasets.load(name, split)


def test_generate_shapes_bad_arguments():
    with pytest.raises(ValueError, match="at least 1"):
        shapes_module.generate_shapes(0)
    with pytest.raises(ValueError, match="at least 32"):
        shapes_module.generate_shapes(4, size=16)


def test_load_image_modes(tmp_path):
    from PIL import Image

    rgba = Image.new("RGBA", (10, 8), (255, 0, 0, 0))  # fully transparent -> white
    rgba.save(tmp_path / "a.png")
    gray = Image.new("L", (10, 8), 128)
    gray.save(tmp_path / "g.png")
    a = folders_module.load_image(tmp_path / "a.png")
    assert a.shape == (8, 10, 3) and np.allclose(a, 1.0)
    g = folders_module.load_image(tmp_path / "g.png", size=(4, 4))
    assert g.shape == (4, 4, 3) and np.allclose(g, 128 / 255, atol=1e-2)
    (tmp_path / "bad.png").write_bytes(b"not an image")
    with pytest.raises(ValueError, match="not a valid image"):
        folders_module.load_image(tmp_path / "bad.png")
    with pytest.raises(FileNotFoundError, match="not found"):
        folders_module.load_image(tmp_path / "missing.png")


def test_resizing_a_split_resizes_its_masks_instead_of_dropping_them():
    from convviz.core.image import resize_images
    from convviz.zoo.shapes import generate_shapes

    d = generate_shapes(12, seed=3, split="test")
    small = d.with_images(resize_images(d.x, (32, 32)))
    assert small.masks is not None and small.masks.shape == (12, 32, 32)
    # each object keeps its place and about its share of the image
    np.testing.assert_allclose(small.masks.mean(axis=(1, 2)), d.masks.mean(axis=(1, 2)), atol=0.03)
    assert d.with_images(d.x).masks is d.masks  # same size: the same masks
