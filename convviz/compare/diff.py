"""What changed between two versions of a model.

:func:`cka` and :class:`CKAStream` compare two representations of the same images (linear CKA,
Kornblith et al. 2019); :func:`diff_models` compares two versions of a classifier on a test set:
accuracy and confusion, the predictions that flipped, per-layer CKA, the units whose response
changed most, the agreement of their Grad-CAMs and the shift of the latent space after a
Procrustes alignment. :mod:`convviz.figures.diff` draws the figures and writes the summary."""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence

import keras
import numpy as np

from convviz.compare.matching import match_layers
from convviz.compare.result import ModelDiff, pair_label
from convviz.core import backend as _backend
from convviz.core.checks import check_images
from convviz.graph.split import forward
from convviz.represent.similarity import MAX_FEATURES, CKAStream, pooled_features, procrustes
from convviz.core.batches import stream_batches
from convviz.core.errors import InputError
from convviz.core.errors import BlankMapWarning

__all__ = ["diff_models"]


def _check_pair(old: keras.Model, new: keras.Model) -> None:
    from convviz.core.checks import model_input_shape

    so, sn = model_input_shape(old), model_input_shape(new)
    if so != sn:
        raise InputError(
            f"the two versions take different inputs: old {old.name!r} takes {so}, new {new.name!r} takes {sn} "
            "(height, width, channels); a diff compares versions of one model on the same images"
        )
    ko, kn = int(old.outputs[0].shape[-1]), int(new.outputs[0].shape[-1])
    if ko != kn:
        raise InputError(
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
    streams = {pair_label(p): CKAStream() for p in pairs}
    pooled: dict[str, int] = {}
    unit_sums: dict[str, list[np.ndarray]] = {}
    for _, (fa, fb) in stream_batches(lambda t: (step_a(t), step_b(t)), [x], batch_size=batch_size, pad=True):
        for pair in pairs:
            k = pair_label(pair)
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
) -> ModelDiff:
    """Compare two versions of a classifier on the same images
    (``convviz.diff_models(..., cache=True)`` reuses a diff computed with the same weights,
    images and arguments).

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

    Returns
    -------
    ModelDiff
    """
    _check_pair(old, new)
    x = check_images(old, images, exact_size=True)
    if len(x) < 3:
        raise InputError(f"a diff needs at least 3 images, got {len(x)}")
    y = None
    if labels is not None:
        y = np.asarray(labels).astype(np.int64).reshape(-1)
        if len(y) != len(x):
            raise InputError(f"labels has {len(y)} entries for {len(x)} images")
        k = int(old.outputs[0].shape[-1])
        if y.min() < -1 or y.max() >= k:
            raise InputError(f"labels must be class indices in [0, {k - 1}] (or -1 for unknown)")
    if sanity_images < 0:
        raise InputError(f"sanity_images must be 0 (skip) or more, got {sanity_images}")
    if masks is not None:
        masks = np.asarray(masks, bool)
        if masks.shape != x.shape[:3]:
            raise InputError(f"masks must be (N, H, W) = {x.shape[:3]}, got {masks.shape}")
    pairs = match_layers(old, new, layers=layers)
    if not pairs:
        raise InputError(f"models {old.name!r} and {new.name!r} have no layers that correspond (by name or position)")

    return _compute(old, new, x, y, masks, pairs, batch_size, max_features, sanity_images)


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
) -> ModelDiff:
    from convviz.attr.cam import cam_with_predictions
    from convviz.graph.layers import last_conv_layer
    from convviz.represent.latent import extract_embeddings

    cka_values, pooled, unit_change = _layer_pass(old, new, x, pairs, batch_size, max_features)
    cls = None if y is None else y
    if y is not None and (y < 0).any():
        from convviz.core.checks import predict

        cls = np.where(y >= 0, y, predict(old, x, batch_size=batch_size).argmax(axis=1))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", BlankMapWarning)  # an all-zero map counts as a flat map
        r_old = cam_with_predictions(old, x, layer=last_conv_layer(old), class_index=cls, batch_size=batch_size)
        cls = r_old.classes
        r_new = cam_with_predictions(new, x, layer=last_conv_layer(new), class_index=cls, batch_size=batch_size)
    point_old = point_new = None
    if masks is not None:
        from convviz.evaluate.localization import pointing_game

        point_old, point_new = pointing_game(r_old.maps, masks), pointing_game(r_new.maps, masks)
    sanity: list[tuple[str, float] | None] = [None, None]
    if sanity_images:
        from convviz.evaluate.sanity import randomization_check

        k = min(sanity_images, len(x))
        with warnings.catch_warnings():  # all-zero maps of a randomized model: reported as degenerate
            warnings.simplefilter("ignore", BlankMapWarning)
            for i, (m, layer) in enumerate(((old, r_old.layer), (new, r_new.layer))):
                r = randomization_check(m, x[:k], layer=layer, class_index=cls[:k])
                sanity[i] = (r.verdict(), r.final_spearman())
    f_old = extract_embeddings(old, x, batch_size=batch_size)
    f_new = extract_embeddings(new, x, batch_size=batch_size)
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
