"""What changed between two versions of a model.

:func:`cka` and :class:`CKAStream` compare two representations of the same images (linear CKA,
Kornblith et al. 2019); :func:`diff_models` compares two versions of a classifier on a test set:
accuracy and confusion, the predictions that flipped, per-layer CKA, the units whose response
changed most, the agreement of their Grad-CAMs and the shift of the latent space after a
Procrustes alignment. :mod:`convviz.diff_report` draws the figures and writes the summary.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import keras
import numpy as np

from convviz import _backend
from convviz import cache as _cache
from convviz._batches import run_batches
from convviz.activations import activation_layers
from convviz.layers import forward, layer_infos
from convviz.validation import check_images

__all__ = ["CKAStream", "ModelDiff", "cka", "diff_models", "match_layers", "pooled_features", "procrustes"]

MAX_FEATURES = 2048


def _flat(a: Any, name: str) -> np.ndarray:
    x = np.asarray(a)
    if x.dtype == object or not (np.issubdtype(x.dtype, np.floating) or np.issubdtype(x.dtype, np.integer)):
        raise ValueError(f"{name} must be a numeric array, got dtype {x.dtype}")
    if x.ndim < 2:
        raise ValueError(f"{name} must be (N samples, features...), got shape {x.shape}")
    x = x.reshape(len(x), -1).astype(np.float64)
    if not np.all(np.isfinite(x)):
        raise ValueError(f"{name} contains {int((~np.isfinite(x)).sum())} NaN or infinite value(s)")
    return x


def cka(a: np.ndarray, b: np.ndarray) -> float:
    """Linear CKA of two representations of the same N samples, in [0, 1].

    ``a`` (N, ...) and ``b`` (N, ...) are flattened per sample. CKA = ‖YᵀX‖²_F / (‖XᵀX‖_F ‖YᵀY‖_F)
    with X, Y centered per feature, which equals HSIC(K, L) / √(HSIC(K, K) HSIC(L, L)) for the
    linear Gram matrices K = XXᵀ, L = YYᵀ. 1 for identical representations; invariant to
    orthogonal transforms and isotropic scaling of either side, not to other linear maps.
    NaN when either side is constant over the samples (no variance: nothing to compare).
    The cheaper of the feature-space and Gram forms is used; both are exact.
    """
    x, y = _flat(a, "a"), _flat(b, "b")
    if len(x) != len(y):
        raise ValueError(f"a and b must hold the same samples: {len(x)} rows vs {len(y)}")
    if len(x) < 2:
        raise ValueError(f"CKA needs at least 2 samples, got {len(x)}")
    x = x - x.mean(axis=0)
    y = y - y.mean(axis=0)
    n, p, q = len(x), x.shape[1], y.shape[1]
    if p * q + p * p + q * q <= n * n * 3:
        cross = float(np.sum((x.T @ y) ** 2))
        xx, yy = float(np.linalg.norm(x.T @ x)), float(np.linalg.norm(y.T @ y))
    else:
        k, l_ = x @ x.T, y @ y.T
        cross, xx, yy = float(np.sum(k * l_)), float(np.linalg.norm(k)), float(np.linalg.norm(l_))
    return _ratio(cross, xx, yy)


def _ratio(cross: float, xx: float, yy: float) -> float:
    if xx <= 0 or yy <= 0:
        return float("nan")
    return float(min(max(cross / (xx * yy), 0.0), 1.0))


class CKAStream:
    """Linear CKA accumulated batch by batch: exact, memory independent of N.

    Keeps the feature-space cross products (p×p, q×q, p×q) of the data shifted by the first
    batch's mean (which leaves centered products unchanged and keeps them accurate), so the
    result equals :func:`cka` on all rows at once. Memory grows with the feature counts, not
    with the number of samples: reduce wide activations first (:func:`pooled_features`).
    """

    def __init__(self) -> None:
        self.n = 0
        self._shift: tuple[np.ndarray, np.ndarray] | None = None
        self._sums: list[np.ndarray] = []

    def update(self, a: np.ndarray, b: np.ndarray) -> CKAStream:
        """Add a batch: ``a`` (B, ...) and ``b`` (B, ...) for the same B samples."""
        x, y = _flat(a, "a"), _flat(b, "b")
        if len(x) != len(y):
            raise ValueError(f"a and b must hold the same samples: {len(x)} rows vs {len(y)}")
        if self._shift is None:
            self._shift = (x.mean(axis=0), y.mean(axis=0))
            p, q = x.shape[1], y.shape[1]
            self._sums = [np.zeros(p), np.zeros(q), np.zeros((p, p)), np.zeros((q, q)), np.zeros((p, q))]
        elif x.shape[1] != len(self._shift[0]) or y.shape[1] != len(self._shift[1]):
            raise ValueError(
                f"batch has {x.shape[1]} and {y.shape[1]} features; earlier batches had "
                f"{len(self._shift[0])} and {len(self._shift[1])}"
            )
        x, y = x - self._shift[0], y - self._shift[1]
        sx, sy, xx, yy, xy = self._sums
        sx += x.sum(axis=0)
        sy += y.sum(axis=0)
        xx += x.T @ x
        yy += y.T @ y
        xy += x.T @ y
        self.n += len(x)
        return self

    def value(self) -> float:
        """CKA of every row added so far."""
        if self.n < 2:
            raise ValueError(f"CKA needs at least 2 samples, got {self.n}")
        sx, sy, xx, yy, xy = self._sums
        n = self.n
        cxy = xy - np.outer(sx, sy) / n
        cxx = xx - np.outer(sx, sx) / n
        cyy = yy - np.outer(sy, sy) / n
        return _ratio(float(np.sum(cxy**2)), float(np.linalg.norm(cxx)), float(np.linalg.norm(cyy)))


def _pool_edges(size: int, cells: int) -> list[tuple[int, int]]:
    return [(i * size // cells, max(-(-(i + 1) * size // cells), i * size // cells + 1)) for i in range(cells)]


def pooled_features(a: np.ndarray, *, max_features: int = MAX_FEATURES) -> np.ndarray:
    """A batch of activations as (B, features), at most ``max_features`` per image where the
    layer allows: (B, h, w, c) maps are averaged over the cells of the finest g×g grid
    (adaptive average pooling) with g·g·c ≤ ``max_features`` (g = 1: the channel means),
    and kept whole when h·w·c already fits; other shapes are flattened."""
    a = np.asarray(a, np.float64)
    if a.ndim != 4 or int(np.prod(a.shape[1:])) <= max_features:
        return a.reshape(len(a), -1)
    _, h, w, c = a.shape
    g = max(1, int(math.isqrt(max(max_features // c, 1))))
    gh, gw = min(g, h), min(g, w)
    cells = [a[:, r0:r1, c0:c1].mean(axis=(1, 2)) for r0, r1 in _pool_edges(h, gh) for c0, c1 in _pool_edges(w, gw)]
    return np.concatenate(cells, axis=1)


def procrustes(reference: np.ndarray, moving: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """Align ``moving`` (N, D2) to ``reference`` (N, D1) by orthogonal Procrustes.

    Both are centered and scaled to unit Frobenius norm (the narrower one padded with zero
    columns), then ``moving`` is rotated/reflected to best match. Returns the reference and
    the aligned points (both normalized, N × max(D1, D2)) and the disparity Σ‖r − m‖² in
    [0, 2] (0: the same configuration up to rotation, translation and scale).
    """
    r, m = _flat(reference, "reference"), _flat(moving, "moving")
    if len(r) != len(m):
        raise ValueError(f"reference and moving must hold the same samples: {len(r)} rows vs {len(m)}")
    d = max(r.shape[1], m.shape[1])
    r = np.pad(r - r.mean(axis=0), ((0, 0), (0, d - r.shape[1])))
    m = np.pad(m - m.mean(axis=0), ((0, 0), (0, d - m.shape[1])))
    nr, nm = np.linalg.norm(r), np.linalg.norm(m)
    r, m = r / (nr or 1.0), m / (nm or 1.0)
    u, _, vt = np.linalg.svd(m.T @ r, full_matrices=False)
    aligned = m @ (u @ vt)
    return r, aligned, float(np.sum((r - aligned) ** 2))


def _comparable_layers(model: keras.Model) -> list[str]:
    """The layers compared: the activation layers the site shows, then the non-spatial
    layers with weights after them (dense layers up to the output)."""
    names = activation_layers(model)
    infos = layer_infos(model)
    last_spatial = max((i for i, info in enumerate(infos) if info.is_spatial and not info.is_model), default=-1)
    for info in infos[last_spatial + 1 :]:
        layer = _get(model, info.name)
        if not info.is_model and layer is not None and layer.weights and info.name not in names:
            names.append(info.name)
    return names


def _get(model: keras.Model, name: str) -> keras.layers.Layer | None:
    from convviz.layers import get_layer

    try:
        return get_layer(model, name)
    except (ValueError, KeyError):
        return None


def match_layers(
    old: keras.Model, new: keras.Model, *, layers: Sequence[str] | None = None
) -> tuple[tuple[str, str], ...]:
    """Corresponding layers of two versions: pairs ``(old name, new name)`` in forward order.

    Layers with the same name pair up first; the remaining ones pair by position when both
    versions have as many left (a renamed layer), else stay unmatched. ``layers``: names
    present in both versions, to compare only those.
    """
    if layers is not None:
        if isinstance(layers, str):
            raise TypeError("layers must be a sequence of layer names, not a single string")
        for name in layers:
            missing = [v for v, m in (("old", old), ("new", new)) if _get(m, name) is None]
            if missing:
                raise ValueError(f"layer {name!r} is not in the {' and the '.join(missing)} model")
        return tuple((name, name) for name in layers)
    a, b = _comparable_layers(old), _comparable_layers(new)
    common = [n for n in a if n in set(b)]
    rest_a = [n for n in a if n not in set(common)]
    rest_b = [n for n in b if n not in set(common)]
    pairs = [(n, n) for n in common]
    if rest_a and len(rest_a) == len(rest_b):
        pairs += list(zip(rest_a, rest_b))
    order = {n: i for i, n in enumerate(a)}
    return tuple(sorted(pairs, key=lambda p: order[p[0]]))


def _key(pair: tuple[str, str]) -> str:
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
            if _key(p) == layer:
                return p
        raise ValueError(f"no compared layer {layer!r}; compared: {', '.join(self.cka)}")

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
            "layers": [{"old": a, "new": b, "cka": _num(self.cka[_key((a, b))])} for a, b in self.layers],
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


def _check_pair(old: keras.Model, new: keras.Model) -> None:
    from convviz.validation import model_input_shape

    so, sn = model_input_shape(old), model_input_shape(new)
    if so != sn:
        raise ValueError(
            f"the two versions take different inputs: old {old.name!r} takes {so}, new {new.name!r} takes {sn} "
            "(height, width, channels); a diff compares versions of one model on the same images"
        )
    ko, kn = int(old.outputs[0].shape[-1]), int(new.outputs[0].shape[-1])
    if ko != kn:
        raise ValueError(
            f"the two versions have different class counts: old {old.name!r} has {ko} outputs, "
            f"new {new.name!r} has {kn}; a diff compares classifiers over the same classes"
        )


def _layer_pass(
    old: keras.Model,
    new: keras.Model,
    x: np.ndarray,
    pairs: Sequence[tuple[str, str]],
    batch_size: int,
    max_features: int,
) -> tuple[dict[str, float], dict[str, int], dict[str, np.ndarray]]:
    """One streamed pass over ``x``: CKA per matched layer and per-unit response correlation."""
    a_names = [p[0] for p in pairs]
    b_names = [p[1] for p in pairs]
    step_a = _backend.cached_jit(old, ("diff", tuple(a_names)), lambda: lambda t: forward(old, t, a_names)[1])
    step_b = _backend.cached_jit(new, ("diff", tuple(b_names)), lambda: lambda t: forward(new, t, b_names)[1])
    streams = {_key(p): CKAStream() for p in pairs}
    pooled: dict[str, int] = {}
    unit_sums: dict[str, list[np.ndarray]] = {}
    for s in range(0, len(x), batch_size):
        xb = x[s : s + batch_size]
        fa = run_batches(step_a, [xb], batch_size=batch_size, pad=True)
        fb = run_batches(step_b, [xb], batch_size=batch_size, pad=True)
        for pair in pairs:
            k = _key(pair)
            a, b = np.asarray(fa[pair[0]], np.float64), np.asarray(fb[pair[1]], np.float64)
            pa = pooled_features(a, max_features=max_features)
            streams[k].update(pa, pooled_features(b, max_features=max_features))
            if k not in pooled:
                whole = pa.shape[1] == int(np.prod(a.shape[1:]))
                grid = 0 if whole else int(round(math.sqrt(pa.shape[1] / a.shape[-1])))
                pooled[k] = grid if a.ndim == 4 else -1
            if a.shape[-1] == b.shape[-1] and a.ndim == b.ndim:
                ua = a.mean(axis=tuple(range(1, a.ndim - 1))) if a.ndim > 2 else a
                ub = b.mean(axis=tuple(range(1, b.ndim - 1))) if b.ndim > 2 else b
                sums = unit_sums.setdefault(k, [np.zeros(a.shape[-1]) for _ in range(5)])
                for acc, v in zip(sums, (ua, ub, ua * ua, ub * ub, ua * ub)):
                    acc += v.sum(axis=0)
    n = len(x)
    unit_change = {}
    for k, (sa, sb, saa, sbb, sab) in unit_sums.items():
        cov = sab / n - (sa / n) * (sb / n)
        var_a = np.maximum(saa / n - (sa / n) ** 2, 0)
        var_b = np.maximum(sbb / n - (sb / n) ** 2, 0)
        va, vb = var_a > 1e-24, var_b > 1e-24
        corr = np.where(va & vb, cov / np.sqrt(np.where(va & vb, var_a * var_b, 1.0)), 0.0)
        # a unit constant in both versions (dead) did not change; constant in one only: it did
        change = np.where(va & vb, 1 - np.clip(corr, -1, 1), np.where(va | vb, 1.0, 0.0))
        unit_change[k] = change.astype(np.float64)
    return {k: s.value() for k, s in streams.items()}, pooled, unit_change


def _correlation(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a = a.reshape(len(a), -1).astype(np.float64)
    b = b.reshape(len(b), -1).astype(np.float64)
    a = a - a.mean(axis=1, keepdims=True)
    b = b - b.mean(axis=1, keepdims=True)
    den = np.sqrt((a * a).sum(axis=1) * (b * b).sum(axis=1))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 1e-12, (a * b).sum(axis=1) / den, np.nan)


def diff_models(
    old: keras.Model,
    new: keras.Model,
    images: np.ndarray,
    labels: np.ndarray | None = None,
    *,
    layers: Sequence[str] | None = None,
    masks: np.ndarray | None = None,
    batch_size: int = 64,
    max_features: int = MAX_FEATURES,
    sanity_images: int = 32,
    cache: _cache.Cache | bool | None = None,
) -> ModelDiff:
    """Compare two versions of a classifier on the same images.

    Parameters
    ----------
    old, new
        Two models with the same input shape and number of classes (else a ``ValueError``
        saying what differs).
    images
        (N, H, W, C) in the models' input space, N ≥ 3.
    labels
        (N,) true classes (−1 for unknown), or None.
    layers
        Layers to compare (names present in both); default :func:`match_layers`.
    masks
        (N, H, W) bool object masks: adds the pointing game of each version's Grad-CAM.
    batch_size
        Images per forward pass: memory does not grow with N.
    max_features
        Activations wider than this are pooled before CKA (see :func:`pooled_features`).
    sanity_images
        Run each version's Grad-CAM randomization check on this many of the images
        (0: skip it).
    cache
        ``True`` or a :class:`convviz.cache.Cache`: reuse a diff (and the Grad-CAMs and
        features) computed with the same weights, images and arguments.

    Returns
    -------
    ModelDiff
    """
    _check_pair(old, new)
    x = check_images(old, images, exact_size=True)
    if len(x) < 3:
        raise ValueError(f"a diff needs at least 3 images, got {len(x)}")
    y = None
    if labels is not None:
        y = np.asarray(labels).astype(np.int64).reshape(-1)
        if len(y) != len(x):
            raise ValueError(f"labels has {len(y)} entries for {len(x)} images")
        k = int(old.outputs[0].shape[-1])
        if y.min() < -1 or y.max() >= k:
            raise ValueError(f"labels must be class indices in [0, {k - 1}] (or -1 for unknown)")
    if sanity_images < 0:
        raise ValueError(f"sanity_images must be 0 (skip) or more, got {sanity_images}")
    if masks is not None:
        masks = np.asarray(masks, bool)
        if masks.shape != x.shape[:3]:
            raise ValueError(f"masks must be (N, H, W) = {x.shape[:3]}, got {masks.shape}")
    pairs = match_layers(old, new, layers=layers)
    if not pairs:
        raise ValueError(f"models {old.name!r} and {new.name!r} have no layers that correspond (by name or position)")

    def compute() -> dict[str, np.ndarray]:
        d = _compute(old, new, x, y, masks, pairs, batch_size, max_features, sanity_images, cache)
        return _to_arrays(d)

    arrays = _cache.memo(
        cache,
        "diff",
        compute,
        code=("diff", "cam", "latent"),
        key=lambda: dict(
            old=_cache.model_digest(old),
            new=_cache.model_digest(new),
            images=_cache.array_digest(x),
            labels=None if y is None else _cache.array_digest(y),
            masks=None if masks is None else _cache.array_digest(masks),
            pairs=[list(p) for p in pairs],
            max_features=max_features,
            sanity_images=sanity_images,
        ),
    )
    return _from_arrays(arrays, pairs)


def _compute(
    old: keras.Model,
    new: keras.Model,
    x: np.ndarray,
    y: np.ndarray | None,
    masks: np.ndarray | None,
    pairs: tuple[tuple[str, str], ...],
    batch_size: int,
    max_features: int,
    sanity_images: int,
    cache: _cache.Cache | bool | None,
) -> ModelDiff:
    from convviz.cam import cam_with_predictions
    from convviz.latent import extract_embeddings
    from convviz.layers import last_conv_layer

    cka_values, pooled, unit_change = _layer_pass(old, new, x, pairs, batch_size, max_features)
    cls = None if y is None else y
    if y is not None and (y < 0).any():
        from convviz.validation import predict

        cls = np.where(y >= 0, y, predict(old, x, batch_size=batch_size).argmax(axis=1))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # an all-zero map counts as a flat map
        r_old = cam_with_predictions(
            old, x, layer=last_conv_layer(old), class_index=cls, batch_size=batch_size, cache=cache
        )
        cls = r_old.classes
        r_new = cam_with_predictions(
            new, x, layer=last_conv_layer(new), class_index=cls, batch_size=batch_size, cache=cache
        )
    point_old = point_new = None
    if masks is not None:
        from convviz.metrics import pointing_game

        point_old, point_new = pointing_game(r_old.maps, masks), pointing_game(r_new.maps, masks)
    sanity: list[tuple[str, float] | None] = [None, None]
    if sanity_images:
        from convviz.metrics import randomization_check

        k = min(sanity_images, len(x))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            for i, (m, layer) in enumerate(((old, r_old.layer), (new, r_new.layer))):
                r = randomization_check(m, x[:k], layer=layer, class_index=cls[:k], cache=cache)
                sanity[i] = (r.verdict(), r.final_spearman())
    f_old = extract_embeddings(old, x, batch_size=batch_size, cache=cache)
    f_new = extract_embeddings(new, x, batch_size=batch_size, cache=cache)
    ref, aligned, disparity = procrustes(f_old, f_new)
    _, _, vt = np.linalg.svd(ref, full_matrices=False)
    axes = vt[:2].T
    return ModelDiff(
        labels=y,
        predicted_old=r_old.predicted,
        predicted_new=r_new.predicted,
        probabilities_old=r_old.probabilities,
        probabilities_new=r_new.probabilities,
        cka=cka_values,
        pooled=pooled,
        unit_change=unit_change,
        cam_layer_old=r_old.layer,
        cam_layer_new=r_new.layer,
        cam_old=r_old.maps,
        cam_new=r_new.maps,
        cam_correlation=_correlation(r_old.maps, r_new.maps),
        latent_old=(ref @ axes).astype(np.float32),
        latent_new=(aligned @ axes).astype(np.float32),
        latent_shift=np.linalg.norm(ref - aligned, axis=1),
        latent_disparity=disparity,
        pointing_old=None if point_old is None else np.asarray(point_old, np.float64),
        pointing_new=None if point_new is None else np.asarray(point_new, np.float64),
        layers=tuple(pairs),
        sanity_old=sanity[0],
        sanity_new=sanity[1],
    )


_ARRAYS = (
    "predicted_old",
    "predicted_new",
    "probabilities_old",
    "probabilities_new",
    "cam_old",
    "cam_new",
    "cam_correlation",
    "latent_old",
    "latent_new",
    "latent_shift",
)


def _to_arrays(d: ModelDiff) -> dict[str, np.ndarray]:
    out = {name: np.asarray(getattr(d, name)) for name in _ARRAYS}
    keys = [_key(p) for p in d.layers]
    out["cka"] = np.array([d.cka[k] for k in keys], np.float64)
    out["pooled"] = np.array([d.pooled[k] for k in keys], np.int64)
    for i, k in enumerate(keys):
        if k in d.unit_change:
            out[f"unit_change_{i}"] = d.unit_change[k]
    out["cam_layers"] = np.array([d.cam_layer_old, d.cam_layer_new])
    out["latent_disparity"] = np.array(d.latent_disparity)
    for name in ("labels", "pointing_old", "pointing_new"):
        v = getattr(d, name)
        if v is not None:
            out[name] = np.asarray(v)
    if d.sanity_old is not None and d.sanity_new is not None:
        out["sanity_verdicts"] = np.array([d.sanity_old[0], d.sanity_new[0]])
        out["sanity_spearman"] = np.array([d.sanity_old[1], d.sanity_new[1]], np.float64)
    return out


def _from_arrays(a: dict[str, np.ndarray], pairs: Sequence[tuple[str, str]]) -> ModelDiff:
    keys = [_key(p) for p in pairs]
    return ModelDiff(
        **{name: a[name] for name in _ARRAYS},
        labels=a.get("labels"),
        pointing_old=a.get("pointing_old"),
        pointing_new=a.get("pointing_new"),
        cka={k: float(v) for k, v in zip(keys, a["cka"])},
        pooled={k: int(v) for k, v in zip(keys, a["pooled"])},
        unit_change={k: a[f"unit_change_{i}"] for i, k in enumerate(keys) if f"unit_change_{i}" in a},
        cam_layer_old=str(a["cam_layers"][0]),
        cam_layer_new=str(a["cam_layers"][1]),
        latent_disparity=float(a["latent_disparity"]),
        layers=tuple(pairs),
        sanity_old=(str(a["sanity_verdicts"][0]), float(a["sanity_spearman"][0])) if "sanity_verdicts" in a else None,
        sanity_new=(str(a["sanity_verdicts"][1]), float(a["sanity_spearman"][1])) if "sanity_verdicts" in a else None,
    )
