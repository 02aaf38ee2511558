"""Offline datasets: deterministic, with fixed train/test splits.

* ``digits`` — scikit-learn's bundled handwritten digits (1,797 images, 8×8), resized
  to 32×32 grayscale.
* ``shapes`` — generated color images (64×64) of six shape classes at random
  positions, scales, rotations and colors on textured, cluttered backgrounds, with a
  ground-truth mask of the object's region per image (a ring's hole included).
  ``circle`` and ``ring`` differ only by a local part (the hole): our offline analogue of the chapter's African vs Indian elephant.
* ``photos`` — real photographs that ship inside installed packages (matplotlib's,
  scikit-learn's and scikit-image's sample images), labelled with the ImageNet classes
  that fit each (a cat → tabby, tiger cat, Egyptian cat); the images no class fits
  (a dahlia, coins, a galaxy field...) are unlabelled (``y == -1``).

Pixel values are float32 in [0, 1], NHWC."""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np

from convviz.core.image import resize_images
from convviz.zoo.folders import load_image
from convviz.zoo.shapes import shapes_split
from convviz.zoo.splits import SPLITS, Dataset
from convviz.core.errors import InputError

__all__ = ["NAMES", "load"]


NAMES = ("digits", "shapes", "photos")


def load(name: str, split: str = "train") -> Dataset:
    """Load an embedded dataset.

    Parameters
    ----------
    name
        ``"digits"``, ``"shapes"`` or ``"photos"``.
    split
        ``"train"`` or ``"test"`` (``photos`` has one split; both return it).

    Raises
    ------
    ValueError
        For an unknown name or split (the message lists the valid ones).
    """
    if name not in NAMES:
        raise InputError(f"unknown dataset {name!r}; valid datasets: {', '.join(NAMES)}")
    if split not in SPLITS:
        raise InputError(f"unknown split {split!r}; valid splits: {', '.join(SPLITS)}")
    return _load_cached(name, split)


@functools.lru_cache(maxsize=8)
def _load_cached(name: str, split: str) -> Dataset:
    if name == "digits":
        return _digits(split)
    if name == "shapes":
        return shapes_split(split)
    return _photos(split)


def _digits(split: str) -> Dataset:
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    raw = load_digits()
    images = (raw.images / 16.0).astype(np.float32)[..., None]
    x = resize_images(images, (32, 32))
    idx = np.arange(len(x))
    train, test = train_test_split(idx, test_size=0.2, random_state=0, stratify=raw.target)
    pick = np.sort(train if split == "train" else test)
    names = tuple(str(i) for i in range(10))
    return Dataset("digits", split, np.clip(x[pick], 0, 1), raw.target[pick].astype(np.int64), names)


# (name, package, path inside the package, ImageNet classes that fit: none when no class does)
_PHOTOS: tuple[tuple[str, str, str, tuple[int, ...]], ...] = (
    ("grace_hopper", "matplotlib", "mpl-data/sample_data/grace_hopper.jpg", (652, 906)),
    ("gift_box", "matplotlib", "mpl-data/sample_data/Minduka_Present_Blue_Pack.png", (478, 692)),
    ("summer_palace", "sklearn", "datasets/images/china.jpg", (698, 663)),
    ("dahlia", "sklearn", "datasets/images/flower.jpg", ()),
    ("cat", "skimage", "data/chelsea.png", (281, 282, 285)),
    ("coffee", "skimage", "data/coffee.png", (967, 968, 504)),
    ("rocket", "skimage", "data/rocket.jpg", (657, 744, 812)),
    ("motorcycle", "skimage", "data/motorcycle_left.png", (670, 665)),
    ("cameraman", "skimage", "data/camera.png", (872, 759)),
    ("blurred_clock", "skimage", "data/clock_motion.png", (409, 892)),
    ("horse_silhouette", "skimage", "data/horse.png", (339,)),
    ("astronaut", "skimage", "data/astronaut.png", ()),
    ("coins", "skimage", "data/coins.png", ()),
    ("bricks", "skimage", "data/brick.png", ()),
    ("hubble_deep_field", "skimage", "data/hubble_deep_field.jpg", ()),
)


PHOTOS_SIZE = 299


def _photos(split: str) -> Dataset:
    import importlib.util

    from convviz.zoo.imagenet import class_names

    xs, ys, accepted, stems = [], [], [], []
    for name, pkg, rel, classes in _PHOTOS:
        spec = importlib.util.find_spec(pkg)
        if spec is None or spec.origin is None:
            continue  # scikit-image not installed: its photos are left out
        xs.append(load_image(Path(spec.origin).parent / rel, size=(PHOTOS_SIZE, PHOTOS_SIZE)))
        ys.append(classes[0] if classes else -1)
        accepted.append(tuple(classes))
        stems.append(name)
    return Dataset(
        "photos",
        split,
        np.stack(xs),
        np.array(ys, np.int64),
        class_names(),
        accepted=tuple(accepted),
        image_names=tuple(stems),
    )
