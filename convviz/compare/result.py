"""What changed between two versions of a model, layer by layer and class by class: the result of :func:`convviz.compare.diff.diff_models`."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from convviz.core.errors import InputError

__all__ = ["ModelDiff", "pair_label"]


def pair_label(pair: tuple[str, str]) -> str:
    return pair[0] if pair[0] == pair[1] else f"{pair[0]} → {pair[1]}"


@dataclass(frozen=True)
class ModelDiff:
    """Two versions of a classifier compared on the same images (see :func:`diff_models`).

    Attributes
    ----------
    labels
        (N,) true labels, or None (then no accuracy, no fixed/broken split).
    predicted_old, predicted_new, probabilities_old, probabilities_new
        Each version's predicted class (N,) and class probabilities (N, K).
    flips
        Indices of the images whose predicted class changed.
    cka
        ``{layer: linear CKA}`` of the matched layers in forward order (a renamed layer's key
        is ``"old → new"``); NaN where a version's activations are constant.
    pooled
        ``{layer: g}``: CKA compared the layer's maps averaged over a g×g grid (0: the whole
        maps; −1: a layer without spatial maps, e.g. a dense layer).
    unit_change
        ``{layer: (c,) array}`` for matched layers with as many channels in both versions:
        per unit, 1 − the correlation of its image-mean response over the N images
        (0: responds as before, or silent in both; 1: unrelated, or silent in one version
        only; up to 2: reversed). Units correspond only
        between versions that share an initialization (fine-tuning, a retrained head).
    cam_old, cam_new
        (N, H, W) Grad-CAM of each version for the same class per image (the label where
        known, else the old prediction), each in [0, 1].
    cam_correlation
        (N,) Pearson correlation of the two versions' maps per image (NaN where a map is flat).
    pointing_old, pointing_new
        Pointing-game hit per image (the map's peak inside the object mask), when masks were given.
    latent_old, latent_new
        (N, 2): the penultimate-layer features of both versions after Procrustes alignment,
        on the reference version's two principal axes.
    latent_shift
        (N,) distance each image moved between the aligned, normalized feature spaces.
    latent_disparity
        Procrustes disparity of the two feature spaces, in [0, 2].
    sanity_old, sanity_new
        Each version's Grad-CAM randomization check (Adebayo et al., 2018) on the first
        ``sanity_images`` images: (verdict, mean rank correlation with the trained maps once
        every layer is re-initialized), or None when it was not run.
    """

    labels: np.ndarray | None
    predicted_old: np.ndarray
    predicted_new: np.ndarray
    probabilities_old: np.ndarray
    probabilities_new: np.ndarray
    cka: dict[str, float]
    pooled: dict[str, int]
    unit_change: dict[str, np.ndarray]
    cam_layer_old: str
    cam_layer_new: str
    cam_old: np.ndarray
    cam_new: np.ndarray
    cam_correlation: np.ndarray
    latent_old: np.ndarray
    latent_new: np.ndarray
    latent_shift: np.ndarray
    latent_disparity: float
    pointing_old: np.ndarray | None = None
    pointing_new: np.ndarray | None = None
    layers: tuple[tuple[str, str], ...] = field(default=())
    sanity_old: tuple[str, float] | None = None
    sanity_new: tuple[str, float] | None = None

    @property
    def n(self) -> int:
        """Number of images compared."""
        return len(self.predicted_old)

    @property
    def num_classes(self) -> int:
        """Number of classes of both versions."""
        return int(self.probabilities_old.shape[1])

    @property
    def flips(self) -> np.ndarray:
        """Indices of the images whose predicted class changed."""
        return np.flatnonzero(self.predicted_old != self.predicted_new)

    def pair(self, layer: str) -> tuple[str, str]:
        """(old name, new name) of a compared layer, by its key in :attr:`cka`."""
        for p in self.layers:
            if pair_label(p) == layer:
                return p
        raise InputError(f"no compared layer {layer!r}; compared: {', '.join(self.cka)}")

    def _known(self) -> np.ndarray:
        if self.labels is None:
            return np.zeros(self.n, bool)
        return self.labels >= 0

    @property
    def fixed(self) -> np.ndarray:
        """Flips from wrong to right (needs labels)."""
        k, y = self._known(), self.labels
        return np.flatnonzero(k & (self.predicted_old != y) & (self.predicted_new == y))

    @property
    def broken(self) -> np.ndarray:
        """Flips from right to wrong (needs labels)."""
        k, y = self._known(), self.labels
        return np.flatnonzero(k & (self.predicted_old == y) & (self.predicted_new != y))

    def accuracy(self) -> tuple[float, float] | None:
        """(old, new) accuracy on the labelled images, or None without labels."""
        k = self._known()
        if not k.any():
            return None
        y = self.labels[k]  # type: ignore[index]
        return float(np.mean(self.predicted_old[k] == y)), float(np.mean(self.predicted_new[k] == y))

    def confusion(self) -> tuple[np.ndarray, np.ndarray] | None:
        """(old, new) confusion matrices, rows true class, columns predicted (None without labels)."""
        k = self._known()
        if not k.any():
            return None
        y = self.labels[k]  # type: ignore[index]
        out = []
        for p in (self.predicted_old[k], self.predicted_new[k]):
            m = np.zeros((self.num_classes, self.num_classes), np.int64)
            np.add.at(m, (y, p), 1)
            out.append(m)
        return out[0], out[1]

    def per_class_accuracy(self) -> tuple[np.ndarray, np.ndarray] | None:
        """(old, new) accuracy per true class, NaN for a class without images."""
        c = self.confusion()
        if c is None:
            return None
        with np.errstate(invalid="ignore", divide="ignore"):
            return tuple(np.diag(m) / m.sum(axis=1) for m in c)

    def probability_change(self) -> np.ndarray:
        """(N,) change of the probability of each image's class (label, else old prediction)."""
        cls = self.explained_classes()
        rows = np.arange(self.n)
        return self.probabilities_new[rows, cls] - self.probabilities_old[rows, cls]

    def explained_classes(self) -> np.ndarray:
        """(N,) the class each image's Grad-CAMs explain: its label, else the old prediction."""
        if self.labels is None:
            return self.predicted_old
        return np.where(self.labels >= 0, self.labels, self.predicted_old)

    def pooled_layer(self, layer: str) -> bool:
        """True when ``layer``'s output is spatial (its CKA compared pooled or whole maps)."""
        return self.pooled.get(layer, -1) >= 0

    def most_changed_layer(self) -> str | None:
        """The matched layer with the lowest CKA (None when no CKA is below 1 or all are undefined)."""
        finite = {k: v for k, v in self.cka.items() if not math.isnan(v) and v < 1 - 1e-6}
        return min(finite, key=finite.__getitem__) if finite else None

    def unchanged(self, *, tol: float = 1e-6) -> bool:
        """True when no prediction flipped and every layer's CKA is 1 (within ``tol``)."""
        return len(self.flips) == 0 and all(not math.isnan(v) and v >= 1 - tol for v in self.cka.values())

    def numbers(self) -> dict[str, Any]:
        """The diff's numbers, JSON-ready (what ``diff.json`` holds)."""
        acc, pca = self.accuracy(), self.per_class_accuracy()
        conf = self.confusion()
        corr = self.cam_correlation[np.isfinite(self.cam_correlation)]
        moved = np.argsort(-self.latent_shift, kind="stable")[:10]
        out: dict[str, Any] = {
            "images": self.n,
            "unchanged": self.unchanged(),
            "accuracy": None if acc is None else {"old": acc[0], "new": acc[1], "change": acc[1] - acc[0]},
            "per_class_accuracy": None if pca is None else {"old": _list(pca[0]), "new": _list(pca[1])},
            "confusion_change": None if conf is None else (conf[1] - conf[0]).tolist(),
            "flips": self.flips.tolist(),
            "fixed": self.fixed.tolist(),
            "broken": self.broken.tolist(),
            "layers": [{"old": a, "new": b, "cka": _num(self.cka[pair_label((a, b))])} for a, b in self.layers],
            "most_changed_layer": self.most_changed_layer(),
            "cam": {
                "layer_old": self.cam_layer_old,
                "layer_new": self.cam_layer_new,
                "correlation_mean": _num(corr.mean()) if len(corr) else None,
                "correlation_median": _num(np.median(corr)) if len(corr) else None,
                "flat_maps": int(len(self.cam_correlation) - len(corr)),
            },
            "pointing_game": None
            if self.pointing_old is None or self.pointing_new is None
            else {"old": _num(self.pointing_old.mean()), "new": _num(self.pointing_new.mean())},
            "latent": {"disparity": self.latent_disparity, "moved_most": moved.tolist()},
            "randomization_check": None
            if self.sanity_old is None or self.sanity_new is None
            else {
                "old": {"verdict": self.sanity_old[0], "final_spearman": _num(self.sanity_old[1])},
                "new": {"verdict": self.sanity_new[0], "final_spearman": _num(self.sanity_new[1])},
            },
        }
        return out


def _num(v: Any) -> float | None:
    v = float(v)
    return None if math.isnan(v) else v


def _list(a: np.ndarray) -> list[float | None]:
    return [_num(v) for v in a]
