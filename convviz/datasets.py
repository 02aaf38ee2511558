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

Pixel values are float32 in [0, 1], NHWC.
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = [
    "Dataset",
    "NAMES",
    "SHAPE_CLASSES",
    "load",
    "generate_shapes",
    "load_folder",
    "load_image",
    "resize_images",
    "convert_channels",
    "folder_classes",
]

NAMES = ("digits", "shapes", "photos")
SPLITS = ("train", "test")
SHAPE_CLASSES = ("circle", "ring", "square", "triangle", "star", "cross")
SHAPES_SIZE = 64
SHAPES_COUNTS = {"train": 4800, "test": 1200}
_SHAPES_SEEDS = {"train": 0, "test": 1}


@dataclass(frozen=True, eq=False)
class Dataset:
    """Images with labels.

    Attributes
    ----------
    x
        float32 images, shape (N, H, W, C), values in [0, 1].
    y
        int64 labels, shape (N,).
    class_names
        Name of each label.
    masks
        bool masks of the object's region (N, H, W), or None when the dataset has none.
    name, split
        Where it came from.
    accepted
        Per image, every class that counts as correct (``photos``: all the ImageNet
        classes that fit), or None when only ``y`` does.
    image_names
        A name per image (file stem), or None.

    An image whose label is unknown has ``y == -1``; a dataset may be wholly unlabelled.
    """

    name: str
    split: str
    x: np.ndarray
    y: np.ndarray
    class_names: tuple[str, ...]
    masks: np.ndarray | None = None
    accepted: tuple[tuple[int, ...], ...] | None = None
    image_names: tuple[str, ...] | None = None

    def __len__(self) -> int:
        return len(self.x)

    @property
    def labelled(self) -> np.ndarray:
        """bool (N,): which images have a label."""
        return np.asarray(self.y) >= 0

    @property
    def has_labels(self) -> bool:
        """True when at least one image has a label."""
        return bool(self.labelled.any())

    def correct(self, pred: np.ndarray) -> np.ndarray:
        """bool (N,): predicted class ``pred`` is right (any accepted class counts);
        False for unlabelled images (mask them with :attr:`labelled`)."""
        pred = np.asarray(pred)
        if pred.shape != (len(self),):
            raise ValueError(f"pred must hold one class per image: shape ({len(self)},), got {pred.shape}")
        if self.accepted is None:
            return (pred == self.y) & self.labelled
        return np.array([int(p) in ok for p, ok in zip(pred, self.accepted)], bool)

    def accuracy(self, pred: np.ndarray) -> float | None:
        """Share of labelled images predicted right, or None without labels."""
        if not self.has_labels:
            return None
        return float(self.correct(pred)[self.labelled].mean())

    def subset(self, index: np.ndarray | slice) -> Dataset:
        """A view of some samples (same names and split)."""
        masks = None if self.masks is None else self.masks[index]
        pick = np.arange(len(self.x))[index]
        accepted = None if self.accepted is None else tuple(self.accepted[i] for i in pick)
        names = None if self.image_names is None else tuple(self.image_names[i] for i in pick)
        return Dataset(self.name, self.split, self.x[index], self.y[index], self.class_names, masks, accepted, names)

    def with_images(self, x: np.ndarray) -> Dataset:
        """The same samples with other pixels (resized or converted)."""
        keep = self.masks is not None and self.masks.shape[1:3] == x.shape[1:3]
        return Dataset(
            self.name,
            self.split,
            x,
            self.y,
            self.class_names,
            self.masks if keep else None,
            self.accepted,
            self.image_names,
        )


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
        raise ValueError(f"unknown dataset {name!r}; valid datasets: {', '.join(NAMES)}")
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; valid splits: {', '.join(SPLITS)}")
    return _load_cached(name, split)


@functools.lru_cache(maxsize=8)
def _load_cached(name: str, split: str) -> Dataset:
    if name == "digits":
        return _digits(split)
    if name == "shapes":
        return _shapes(split)
    return _photos(split)


def _shapes(split: str) -> Dataset:
    """A split of the shapes dataset. The test split, which every page of a shapes model
    reads, is kept in the convviz cache (generating it took ~3 s of every process that
    read it: each worker of a site build, the gallery, each downloaded notebook), keyed on
    this module's code; the training split (4× larger, read only to train) is generated."""
    n, seed = SHAPES_COUNTS[split], _SHAPES_SEEDS[split]
    if split != "test":
        return generate_shapes(n, seed=seed, split=split)
    from convviz import cache

    def compute() -> dict[str, np.ndarray]:
        d = generate_shapes(n, seed=seed, split=split)
        assert d.masks is not None
        return {"x": d.x, "y": d.y, "masks": d.masks}

    try:
        arrays = cache.memo(
            True, "dataset", compute, code=("datasets",), key=lambda: dict(name="shapes", split=split, n=n, seed=seed)
        )
    except OSError as err:  # a cache folder that cannot be written: generate
        logging.getLogger("convviz").info("convviz: the shapes %s split is not cached (%s)", split, err)
        arrays = compute()
    return Dataset("shapes", split, arrays["x"], arrays["y"], SHAPE_CLASSES, arrays["masks"])


# ----------------------------------------------------------------------------- digits


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


# ----------------------------------------------------------------------------- images


def resize_images(x: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Resize a float batch (N, H, W, C) to ``size`` = (height, width), bilinear."""
    from PIL import Image

    x = np.asarray(x, dtype=np.float32)
    h, w = size
    if x.shape[1:3] == (h, w):
        return x
    out = np.empty((len(x), h, w, x.shape[-1]), np.float32)
    for i, img in enumerate(x):
        for c in range(x.shape[-1]):
            out[i, :, :, c] = np.asarray(Image.fromarray(img[:, :, c], mode="F").resize((w, h), Image.BILINEAR))  # type: ignore[attr-defined]
    return out


MAX_SIDE = 4096  # larger images are downscaled on load, with a warning
MIN_SIDE = 8


def load_image(path: str | Path, *, size: tuple[int, int] | None = None, channels: int = 3) -> np.ndarray:
    """Read one image file as float32 (H, W, channels) in [0, 1].

    Grayscale, palette and RGBA files are converted to ``channels`` (1 or 3); alpha is
    composited on white. A center crop keeps the aspect ratio when ``size`` is given.
    An image larger than 4096 pixels on a side is downscaled to fit, with a warning; one
    smaller than 8 pixels on a side is refused.
    """
    import warnings

    from PIL import Image, UnidentifiedImageError

    path = Path(path)
    if channels not in (1, 3):
        raise ValueError(f"channels must be 1 or 3, got {channels}")
    try:
        with Image.open(path) as img:
            if min(img.size) < MIN_SIDE:
                raise ValueError(
                    f"image {path} is {img.size[0]}×{img.size[1]} pixels: too small "
                    f"(at least {MIN_SIDE} pixels on each side)"
                )
            if max(img.size) > MAX_SIDE:
                warnings.warn(
                    f"image {path} is {img.size[0]}×{img.size[1]} pixels; downscaled to fit {MAX_SIDE}×{MAX_SIDE}",
                    RuntimeWarning,
                    stacklevel=2,
                )
                img.draft("RGB", (MAX_SIDE, MAX_SIDE))
                img.thumbnail((MAX_SIDE, MAX_SIDE))
            img.load()
            if img.mode in ("RGBA", "LA", "P"):
                img = img.convert("RGBA")  # type: ignore[assignment]
                bg = Image.new("RGBA", img.size, (255, 255, 255, 255))
                img = Image.alpha_composite(bg, img)  # type: ignore[assignment]
            img = img.convert("L" if channels == 1 else "RGB")  # type: ignore[assignment]
            if size is not None:
                img = _center_crop_resize(img, size)
            arr = np.asarray(img, dtype=np.float32) / 255.0
    except FileNotFoundError:
        raise FileNotFoundError(f"image file not found: {path}") from None
    except Image.DecompressionBombError as exc:
        raise ValueError(f"image {path} is too large to decode safely ({exc})") from None
    except (UnidentifiedImageError, OSError) as exc:
        raise ValueError(f"cannot read image {path}: not a valid image file ({exc})") from None
    return arr[..., None] if channels == 1 else arr


# img: a PIL image (unannotated: PIL is imported lazily, and a module-level import would change
# the zoo's recipe digest, which hashes this module)
def _center_crop_resize(img, size: tuple[int, int]):  # type: ignore[no-untyped-def]
    from PIL import Image

    h, w = size
    W, H = img.size
    scale = max(w / W, h / H)
    nw, nh = max(w, round(W * scale)), max(h, round(H * scale))
    img = img.resize((nw, nh), Image.BILINEAR)  # type: ignore[attr-defined]
    left, top = (nw - w) // 2, (nh - h) // 2
    return img.crop((left, top, left + w, top + h))


_WARNED: set[tuple[str, tuple[str, ...]]] = set()
_IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff")


def convert_channels(x: np.ndarray, channels: int) -> np.ndarray:
    """Images (N, H, W, C) with ``channels`` channels: gray → RGB repeats the channel,
    RGB → gray takes the luminance (ITU-R 601), RGBA drops alpha."""
    x = np.asarray(x, np.float32)
    have = x.shape[-1]
    if have == channels:
        return x
    if have == 4:
        x, have = x[..., :3], 3
        if channels == 3:
            return x
    if have == 1 and channels == 3:
        return np.repeat(x, 3, axis=-1)
    if have == 3 and channels == 1:
        return (x @ np.array([0.299, 0.587, 0.114], np.float32))[..., None]
    raise ValueError(
        f"cannot convert {have}-channel images to {channels} channels; "
        "convviz converts between 1 (gray), 3 (RGB) and 4 (RGBA) channels"
    )


def folder_classes(path: str | Path) -> tuple[str, ...]:
    """The class sub-folders of an image folder, sorted (empty for ``root/<image>``)."""
    return tuple(sorted(p.name for p in Path(path).iterdir() if p.is_dir() and not p.name.startswith(".")))


def load_folder(
    path: str | Path, *, size: tuple[int, int], channels: int = 3, class_names: tuple[str, ...] | None = None
) -> Dataset:
    """Load an image folder, labelled or not.

    * ``root/<class>/<image>``: one sub-folder per class; classes are sorted by name
      unless ``class_names`` gives their order.
    * ``root/<image>``: unlabelled images (``y == -1``); ``class_names`` (the model's
      classes) is kept for naming predictions.

    PNG, JPEG, BMP, GIF, WebP and TIFF; grayscale, palette and RGBA files are converted to
    ``channels``. A file that cannot be read is skipped with one warning naming it.
    """
    root = Path(path)
    if not root.is_dir():
        raise ValueError(f"image folder not found: {root}")
    found = folder_classes(root)
    loose = sorted(f for f in root.iterdir() if f.is_file() and f.suffix.lower() in _IMAGE_SUFFIXES)
    labelled = bool(found)
    if labelled and loose:
        raise ValueError(
            f"{root} mixes class sub-folders ({', '.join(found[:3])}...) with loose images "
            f"({loose[0].name}...): use root/<class>/<image> for labelled images or "
            "root/<image> for unlabelled ones, not both"
        )
    if labelled:
        names = tuple(class_names) if class_names else tuple(found)
        unknown = sorted(set(found) - set(names))
        if unknown:
            raise ValueError(f"folders {unknown} in {root} are not in class_names {list(names)}")
        files = [
            (f, label)
            for label, cname in enumerate(names)
            if (root / cname).is_dir()
            for f in sorted((root / cname).iterdir())
            if f.is_file() and f.suffix.lower() in _IMAGE_SUFFIXES
        ]
    else:
        names = tuple(class_names) if class_names else ()
        files = [(f, -1) for f in loose]
    xs, ys, stems, skipped = [], [], [], []
    for f, label in files:
        try:
            xs.append(load_image(f, size=size, channels=channels))
        except ValueError as exc:
            skipped.append(f"{f.relative_to(root)} ({exc})")
            continue
        ys.append(label)
        stems.append(f.stem)
    if skipped and (str(root), tuple(skipped)) not in _WARNED:
        _WARNED.add((str(root), tuple(skipped)))  # once per process, not once per page
        logging.getLogger("convviz").warning(
            "convviz: skipped %d unreadable image(s) in %s: %s", len(skipped), root, "; ".join(skipped)
        )
    if not xs:
        raise ValueError(
            f"no readable images found in {root} (expected {root}/<class>/<image> or "
            f"{root}/<image>, with a suffix among {', '.join(_IMAGE_SUFFIXES)})"
        )
    return Dataset(root.name, "test", np.stack(xs), np.array(ys, np.int64), names, image_names=tuple(stems))


# ----------------------------------------------------------------------------- photos

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

    from convviz._imagenet import class_names

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


# ----------------------------------------------------------------------------- shapes


def generate_shapes(n: int, *, seed: int = 0, size: int = SHAPES_SIZE, split: str = "generated") -> Dataset:
    """Generate ``n`` shape images with masks, reproducibly from ``seed``.

    Each image has one object of a class in :data:`SHAPE_CLASSES` (balanced) at a
    random position, scale, rotation and color, on a textured background with
    distractor strokes and dots that are not part of the mask. Image ``i`` depends
    only on ``(seed, i)``, so any prefix of a larger set is the same.
    """
    if n < 1:
        raise ValueError(f"n must be at least 1, got {n}")
    if size < 32:
        raise ValueError(f"size must be at least 32 pixels, got {size}")
    k = len(SHAPE_CLASSES)
    # every block of k consecutive images holds each class once, in an order drawn from
    # (seed, block): labels are balanced and image i depends on (seed, i) alone
    labels = np.concatenate([np.random.default_rng([seed, 2**31, b]).permutation(k) for b in range(-(-n // k))])[:n]
    x = np.empty((n, size, size, 3), np.float32)
    masks = np.empty((n, size, size), bool)
    grid = _Grid(size)
    for i in range(n):
        rng = np.random.default_rng([seed, i])
        x[i], masks[i] = _shape_image(rng, int(labels[i]), grid)
    return Dataset("shapes", split, x, labels.astype(np.int64), SHAPE_CLASSES, masks)


class _Grid:
    """Pixel-center coordinates, 2× supersampled for anti-aliased edges."""

    def __init__(self, size: int):
        s = (np.arange(2 * size) + 0.5) / 2.0
        self.yy, self.xx = np.meshgrid(s, s, indexing="ij")
        self.size = size
        k = 5
        t = np.linspace(0, k - 1, size)
        lo = np.clip(np.floor(t).astype(int), 0, k - 2)
        frac = t - lo
        self.up = np.zeros((size, k))
        self.up[np.arange(size), lo] = 1 - frac
        self.up[np.arange(size), lo + 1] = frac

    def downsample(self, a: np.ndarray) -> np.ndarray:
        s = self.size
        return a.reshape(s, 2, s, 2).mean(axis=(1, 3))


def _shape_coverage(kind: int, grid: _Grid, cx: float, cy: float, r: float, theta: float) -> np.ndarray:
    dx, dy = grid.xx - cx, grid.yy - cy
    c, s = np.cos(theta), np.sin(theta)
    u, v = c * dx + s * dy, -s * dx + c * dy
    rho = np.hypot(u, v)
    name = SHAPE_CLASSES[kind]
    if name == "circle":
        inside = rho <= r
    elif name == "ring":
        inside = (rho <= r) & (rho >= 0.55 * r)
    elif name == "square":
        half = 0.78 * r
        inside = (np.abs(u) <= half) & (np.abs(v) <= half)
    elif name == "triangle":
        inside = np.ones_like(u, bool)
        for k in range(3):
            a = theta * 0 + 2 * np.pi * k / 3 + np.pi / 2
            inside &= (u * np.cos(a) + v * np.sin(a)) <= 0.55 * r
    elif name == "star":
        outer, inner = r * 1.1, r * 0.45
        step = np.pi / 5
        phi = np.mod(np.arctan2(v, u), 2 * step)
        phi = np.where(phi > step, 2 * step - phi, phi)
        p = np.array([outer, 0.0])
        q = np.array([inner * np.cos(step), inner * np.sin(step)])
        d = q - p
        cross_pq = p[0] * q[1] - p[1] * q[0]
        boundary = cross_pq / (np.cos(phi) * d[1] - np.sin(phi) * d[0])
        inside = rho <= boundary
    else:  # cross
        w, length = 0.3 * r, r
        inside = ((np.abs(u) <= w) & (np.abs(v) <= length)) | ((np.abs(v) <= w) & (np.abs(u) <= length))
    return grid.downsample(inside.astype(np.float32))


def _segment_coverage(grid: _Grid, p0: np.ndarray, p1: np.ndarray, width: float) -> np.ndarray:
    d = p1 - p0
    px, py = grid.xx - p0[0], grid.yy - p0[1]
    t = np.clip((px * d[0] + py * d[1]) / max(float(d @ d), 1e-6), 0, 1)
    dist = np.hypot(px - t * d[0], py - t * d[1])
    return grid.downsample((dist <= width / 2).astype(np.float32))


def _shape_image(rng: np.random.Generator, kind: int, grid: _Grid) -> tuple[np.ndarray, np.ndarray]:
    size = grid.size
    # textured background: smooth color field + stripes + grain
    base = rng.uniform(0.15, 0.85, 3)
    coarse = rng.normal(0, 0.12, (5, 5, 3))
    bg = base + np.stack([grid.up @ coarse[:, :, c] @ grid.up.T for c in range(3)], axis=-1)
    yy, xx = np.mgrid[0:size, 0:size]
    f = rng.uniform(0.2, 0.8)
    a = rng.uniform(0, np.pi)
    bg += rng.uniform(0.0, 0.08) * np.sin(f * (np.cos(a) * xx + np.sin(a) * yy))[..., None]
    bg += rng.normal(0, 0.03, bg.shape)
    # clutter: thin strokes and small dots, never part of the mask
    for _ in range(rng.integers(2, 6)):
        p0 = rng.uniform(0, size, 2)
        p1 = p0 + rng.normal(0, size / 5, 2)
        cov = _segment_coverage(grid, p0, p1, rng.uniform(0.8, 1.6))
        bg = bg * (1 - cov[..., None]) + rng.uniform(0, 1, 3) * cov[..., None]
    for _ in range(rng.integers(1, 5)):
        c = rng.uniform(0, size, 2)
        cov = _shape_coverage(0, grid, c[0], c[1], rng.uniform(1.0, 2.2), 0.0)
        bg = bg * (1 - cov[..., None]) + rng.uniform(0, 1, 3) * cov[..., None]
    # the object
    r = rng.uniform(0.16, 0.3) * size
    margin = r * 1.1 + 1
    cx, cy = rng.uniform(margin, size - margin, 2)
    theta = rng.uniform(0, 2 * np.pi)
    color = rng.uniform(0, 1, 3)
    if np.linalg.norm(color - base) < 0.5:
        color = np.clip(1.0 - base + rng.normal(0, 0.1, 3), 0, 1)
    cov = _shape_coverage(kind, grid, cx, cy, r, theta)
    obj = color + rng.normal(0, 0.02, bg.shape)
    img = bg * (1 - cov[..., None]) + obj * cov[..., None]
    # the mask is the object's region: a ring's hole belongs to the ring (it is its evidence)
    region = (
        _shape_coverage(SHAPE_CLASSES.index("circle"), grid, cx, cy, r, theta) if SHAPE_CLASSES[kind] == "ring" else cov
    )
    return np.clip(img, 0, 1).astype(np.float32), region >= 0.5
