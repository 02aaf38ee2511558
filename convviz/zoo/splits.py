"""A dataset split as convviz uses it: images in [0, 1] (N, H, W, C), labels (-1: unlabelled), class names, and the shapes' masks or the classes that count as correct per image."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from convviz.core.errors import InputError
from convviz.core.image import resize_images

__all__ = ["Dataset", "SPLITS"]


SPLITS = ("train", "test")


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
            raise InputError(f"pred must hold one class per image: shape ({len(self)},), got {pred.shape}")
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
        """The same samples with other pixels (resized or converted); masks are resized with
        the images (bilinear, then thresholded at one half), so the localization metrics
        still apply at the model's input size."""
        masks = self.masks
        if masks is not None and masks.shape[1:3] != x.shape[1:3]:
            resized = resize_images(masks[..., None].astype(np.float32), x.shape[1:3])[..., 0]
            masks = resized >= 0.5
        return Dataset(
            self.name,
            self.split,
            x,
            self.y,
            self.class_names,
            masks,
            self.accepted,
            self.image_names,
        )
