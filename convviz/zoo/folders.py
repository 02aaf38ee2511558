"""Image folders as datasets: images read (any size, grayscale, palette or alpha, downscaled past 4096 pixels), center-cropped to the model's input size, labelled by sub-folder or not."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from convviz.zoo.splits import Dataset
from convviz.core.errors import InputError

__all__ = ["load_folder", "load_image", "convert_channels", "folder_classes", "MAX_SIDE", "MIN_SIDE"]


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
        raise InputError(f"channels must be 1 or 3, got {channels}")
    try:
        with Image.open(path) as img:
            if min(img.size) < MIN_SIDE:
                raise InputError(
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
        raise InputError(f"image {path} is too large to decode safely ({exc})") from None
    except (UnidentifiedImageError, OSError) as exc:
        raise InputError(f"cannot read image {path}: not a valid image file ({exc})") from None
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
    raise InputError(
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
        raise InputError(f"image folder not found: {root}")
    found = folder_classes(root)
    loose = sorted(f for f in root.iterdir() if f.is_file() and f.suffix.lower() in _IMAGE_SUFFIXES)
    labelled = bool(found)
    if labelled and loose:
        raise InputError(
            f"{root} mixes class sub-folders ({', '.join(found[:3])}...) with loose images "
            f"({loose[0].name}...): use root/<class>/<image> for labelled images or "
            "root/<image> for unlabelled ones, not both"
        )
    if labelled:
        names = tuple(class_names) if class_names else tuple(found)
        unknown = sorted(set(found) - set(names))
        if unknown:
            raise InputError(f"folders {unknown} in {root} are not in class_names {list(names)}")
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
        raise InputError(
            f"no readable images found in {root} (expected {root}/<class>/<image> or "
            f"{root}/<image>, with a suffix among {', '.join(_IMAGE_SUFFIXES)})"
        )
    return Dataset(root.name, "test", np.stack(xs), np.array(ys, np.int64), names, image_names=tuple(stems))
