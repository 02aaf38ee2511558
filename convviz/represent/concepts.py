"""What a class is made of: concepts of a layer, found and ranked as CRAFT does (Fel et al.,
"CRAFT: Concept Recursive Activation FacTorization for Explainability", CVPR 2023).

1. **Crops.** Each image of the class is cut into a grid of overlapping crops (``crops`` per
   side, each 2 / (crops + 1) of the image's side, half a crop apart), each resized to the
   model's input, as CRAFT does: a concept is a part of an object, seen at the model's scale.
2. **Factorization.** The crops' activations at ``layer``, averaged over space (n crops × c
   channels, non-negative after a ReLU), are factored ``A ≈ U W`` by NMF
   (:func:`convviz.represent.factorize.choose_bank`): the rows of W are the concepts
   (unit-length channel directions), U says how much of each a crop holds. ``k`` is the
   smallest number of concepts whose reconstruction reaches R² ≥ 0.9 (at most 10).
3. **Importance.** For each image, every spatial activation vector is projected onto the bank
   (non-negative least squares), the concept coefficients are multiplied by masks from a
   Sobol design and the class logit is computed from the rebuilt activations; Sobol total
   indices (Jansen's estimator, :mod:`convviz.represent.sobol`), averaged over the images,
   rank the concepts. Beside them, a cheaper estimate: the logit's mean drop when one
   concept is removed (ablation), and their rank agreement.
4. **Maps.** :func:`concept_maps` projects an image's activation vectors onto the bank and
   upsamples the coefficients to the image: where each concept lies.

CRAFT fits NMF on crops of training images and ranks on held-out ones; here the caller gives
the images (the site: the class's correctly predicted test images). Unlike CRAFT, the
reconstruction's fidelity is also reported: the share of the class logit the rebuilt
activations keep.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import keras
import numpy as np

from convviz.core import backend as _backend
from convviz.core.batches import chunks, run_batches
from convviz.core.checks import check_images
from convviz.core.errors import InputError
from convviz.core.image import resize_images, upsample_maps
from convviz.graph.layers import SplitError, conv_layers, resolve_layer
from convviz.graph.split import class_scores, layer_output, split_model
from convviz.represent.factorize import choose_bank, project_onto
from convviz.represent.sobol import sobol_design, total_indices

__all__ = [
    "Concepts",
    "concepts",
    "concept_maps",
    "concept_logits",
    "crop_boxes",
    "default_concept_layer",
    "libraries",
]


def libraries() -> dict[str, str]:
    """Versions of the libraries the concepts come from (scikit-learn's NMF, scipy's Sobol
    sequence): part of their cache key."""
    import importlib.metadata as md

    return {pkg: md.version(pkg) for pkg in ("scikit-learn", "scipy")}


@dataclass(frozen=True)
class Concepts:
    """The concepts of one class at one layer, most important first.

    Attributes
    ----------
    layer, class_index
        Where and for which class.
    bank
        (k, channels) float32, non-negative, unit-length rows: each concept's channel direction.
    coefficients
        (n_crops, k): how much of each concept each crop holds (its spatially averaged
        activations ≈ ``coefficients @ bank``).
    boxes
        (n_crops, 4) int: each crop's image index (into the images given), top, left and side
        in pixels.
    importance
        (k,) Sobol total indices of the class logit, averaged over the images ranked (sorted
        descending; they need not sum to 1).
    ablation
        (k,) the class logit's mean drop when only that concept is removed, as a share of the
        logit of the reconstruction (the cheaper estimate).
    r2, r2_by_k
        R² of the crops' reconstruction with the k concepts; R² for each k tried (1, 2, ...).
    logit_kept
        Median over the ranked images of the class logit of the rebuilt activations divided by
        the logit of the real ones (1: the concepts keep all the model uses).
    ranked
        Indices (into the images given) of the images whose Sobol indices were averaged.
    """

    layer: str
    class_index: int
    bank: np.ndarray
    coefficients: np.ndarray
    boxes: np.ndarray
    importance: np.ndarray
    ablation: np.ndarray
    r2: float
    r2_by_k: np.ndarray
    logit_kept: float
    ranked: np.ndarray

    @property
    def k(self) -> int:
        """The number of concepts."""
        return int(len(self.bank))

    def agreement(self) -> float:
        """Spearman rank correlation of :attr:`importance` and :attr:`ablation` over the
        concepts (1: both rank them alike; NaN with fewer than 3 concepts or a constant one)."""
        if self.k < 3 or np.ptp(self.importance) == 0 or np.ptp(self.ablation) == 0:
            return float("nan")
        from scipy.stats import spearmanr

        return float(spearmanr(self.importance, self.ablation).statistic)

    def top_crops(self, concept: int, n: int = 9) -> np.ndarray:
        """Indices (into :attr:`boxes`) of the ``n`` crops holding most of ``concept``, at most
        one per image (so the strip shows ``n`` different images when it can)."""
        order = np.argsort(-self.coefficients[:, concept], kind="stable")
        seen: set[int] = set()
        out = []
        for i in order:
            if int(self.boxes[i, 0]) not in seen:
                seen.add(int(self.boxes[i, 0]))
                out.append(int(i))
            if len(out) == n:
                break
        return np.asarray(out, int)


def crop_boxes(size: tuple[int, int], n_images: int, crops: int) -> np.ndarray:
    """The crops of :func:`concepts`: a ``crops`` × ``crops`` grid of squares per image, each
    2 / (crops + 1) of the shorter side, half a crop apart. Returns (n_images · crops², 4) int:
    image, top, left, side."""
    if crops < 1:
        raise InputError(f"crops (per side) must be at least 1, got {crops}")
    h, w = size
    side = max(1, int(round(2 * min(h, w) / (crops + 1))))
    tops = np.linspace(0, h - side, crops).round().astype(int)
    lefts = np.linspace(0, w - side, crops).round().astype(int)
    grid = [(t, left) for t in tops for left in lefts]
    return np.asarray([(i, t, left, side) for i in range(n_images) for t, left in grid], int)


def _cut(x: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    size = x.shape[1:3]
    parts = [x[i, t : t + s, left : left + s] for i, t, left, s in boxes]
    return resize_images(np.stack(parts), size)


def _nonnegative(model: keras.Model, layer: str, x: np.ndarray) -> bool:
    a = run_batches(layer_output(model, layer), [x[:8]], batch_size=8)
    return bool(np.asarray(a).min() >= 0) and np.asarray(a).ndim == 4


def default_concept_layer(model: keras.Model, images: np.ndarray) -> str:
    """The deepest layer with a spatial output (conv or activation; a pooling layer only when
    no other qualifies) whose activations on ``images`` are all non-negative and at which the
    model can be split (no skip connection around it). Raises InputError when none is."""
    x = check_images(model, images)
    candidates = [*reversed(conv_layers(model, pooling=False))]
    candidates += [n for n in reversed(conv_layers(model)) if n not in candidates]
    for name in candidates:
        try:
            split_model(model, name, logits=True)
        except SplitError:
            continue
        if _nonnegative(model, name, x):
            return name
    raise InputError(
        f"model {model.name!r} has no spatial layer with non-negative activations that it can be split at; "
        "pass layer= (the output of a ReLU)"
    )


def _head_step(model: keras.Model, layer: str) -> Callable[..., Any]:
    """``step(u, w, masks)``: the class scores of the activations rebuilt from coefficients
    ``u`` (1, h, w, k) masked by each row of ``masks`` (b, k), ``(u ⊙ mask) @ w``."""
    head = split_model(model, layer, logits=True).head

    def step(u: Any, w: Any, masks: Any) -> Any:
        rebuilt = keras.ops.einsum("hwk,bk,kc->bhwc", u[0], masks, w)
        return head(rebuilt)

    return _backend.cached_jit(model, ("concept_head", layer), lambda: step)


def _coefficients(a: np.ndarray, bank: np.ndarray) -> np.ndarray:
    """(N, h, w, k): each spatial activation vector of ``a`` (N, h, w, c) projected onto the bank."""
    n, h, w, c = a.shape
    return project_onto(a.reshape(-1, c), bank).reshape(n, h, w, len(bank))


def concept_logits(
    model: keras.Model, result: Concepts, images: np.ndarray, masks: np.ndarray, *, batch_size: int = 128
) -> np.ndarray:
    """The class logit of each image when its concept coefficients are multiplied by each row
    of ``masks`` (m, k) (a row of ones: the reconstruction; a 0: that concept removed).
    Returns (N, m) float32."""
    x = check_images(model, images)
    masks = np.asarray(masks, np.float32)
    if masks.ndim != 2 or masks.shape[1] != result.k:
        raise InputError(f"masks must have shape (m, {result.k}) for {result.k} concepts, got {masks.shape}")
    a = run_batches(layer_output(model, result.layer), [x], batch_size=batch_size)
    u = _coefficients(np.asarray(a), result.bank)
    step = _head_step(model, result.layer)
    w = keras.ops.convert_to_tensor(result.bank)
    out = np.empty((len(x), len(masks)), np.float32)
    with _backend.no_grad():
        for i in range(len(x)):
            ui = keras.ops.convert_to_tensor(u[i : i + 1])
            for s, n, (batch,) in chunks([masks], batch_size=batch_size, pad=len(masks) > batch_size):
                scores = _backend.to_numpy(step(ui, w, keras.ops.convert_to_tensor(batch)))
                out[i, s : s + n] = scores[:n, result.class_index]
    return out


def concepts(
    model: keras.Model,
    images: np.ndarray,
    *,
    class_index: int,
    layer: str | None = None,
    k: int | None = None,
    crops: int = 3,
    designs: int = 32,
    rank_images: int = 32,
    seed: int = 0,
    batch_size: int = 64,
) -> Concepts:
    """The concepts of class ``class_index`` in ``images`` (the class's images), ranked by
    importance (see the module's description for each step).

    Parameters
    ----------
    model
        A Keras model; its class scores are taken before a final softmax.
    images
        (N, H, W, C) images of the class, in the model's input space.
    class_index
        The class whose logit the concepts are ranked by.
    layer
        Default :func:`default_concept_layer`.
    k
        Number of concepts; default: the smallest k ≤ 10 with R² ≥ 0.9.
    crops
        Crops per side of each image (``crops²`` crops per image).
    designs
        Rows of each Sobol design (a power of two; ``designs · (k + 2)`` logits per image).
    rank_images
        The first this many images are ranked (importance is their mean).
    seed
        Seeds the factorization's start and the Sobol design.

    Returns
    -------
    Concepts
    """
    x = check_images(model, images)
    num_classes = int(model.output_shape[-1])
    if not 0 <= int(class_index) < num_classes:
        raise InputError(f"class_index must be between 0 and {num_classes - 1}, got {class_index}")
    if rank_images < 1 or designs < 2:
        raise InputError(f"rank_images must be ≥ 1 and designs ≥ 2, got {rank_images} and {designs}")
    name = default_concept_layer(model, x) if layer is None else resolve_layer(model, layer).name
    boxes = crop_boxes(x.shape[1:3], len(x), crops)
    body = layer_output(model, name)
    vectors = []
    for _, _, (part,) in chunks([boxes], batch_size=max(batch_size, crops * crops)):
        a = run_batches(body, [_cut(x, part)], batch_size=batch_size)
        if np.asarray(a).ndim != 4:
            raise InputError(
                f"layer {name!r} has no spatial output (shape {np.asarray(a).shape[1:]}); pick a conv layer"
            )
        vectors.append(np.asarray(a).mean(axis=(1, 2)))
    u, bank, r2_by_k = choose_bank(np.concatenate(vectors), k=k, seed=seed)
    kk = len(bank)
    design = sobol_design(kk, designs, seed=seed)
    ones = np.ones((1, kk), np.float32)
    drop_one = ones - np.eye(kk, dtype=np.float32)
    ranked = np.arange(min(rank_images, len(x)))
    provisional = Concepts(name, int(class_index), bank, u, boxes, *(np.zeros(kk),) * 2, 0.0, r2_by_k, 0.0, ranked)
    logits = concept_logits(model, provisional, x[ranked], np.concatenate([design, ones, drop_one]))
    sobol = total_indices(logits[:, : len(design)], kk).mean(axis=0)
    full = logits[:, len(design)]
    scale = np.maximum(np.abs(full), 1e-6)
    ablation = ((full[:, None] - logits[:, len(design) + 1 :]) / scale[:, None]).mean(axis=0)
    real = np.asarray(run_batches(class_scores(model), [x[ranked]], batch_size=batch_size))
    kept = float(np.median(full / np.where(np.abs(real[:, class_index]) > 1e-6, real[:, class_index], 1e-6)))
    order = np.argsort(-sobol, kind="stable")
    return Concepts(
        layer=name,
        class_index=int(class_index),
        bank=bank[order],
        coefficients=u[:, order],
        boxes=boxes,
        importance=sobol[order].astype(np.float32),
        ablation=ablation[order].astype(np.float32),
        r2=float(r2_by_k[-1]),
        r2_by_k=r2_by_k,
        logit_kept=kept,
        ranked=ranked,
    )


def concept_maps(model: keras.Model, result: Concepts, images: np.ndarray, *, batch_size: int = 64) -> np.ndarray:
    """Where each concept lies in each image: the coefficients of every spatial activation
    vector on the bank, upsampled (bilinear) to the image. Returns (N, H, W, k) float32,
    non-negative, in the coefficients' units (comparable across images and concepts)."""
    x = check_images(model, images)
    a = np.asarray(run_batches(layer_output(model, result.layer), [x], batch_size=batch_size))
    u = _coefficients(a, result.bank)
    maps = upsample_maps(u.transpose(0, 3, 1, 2).reshape(-1, *u.shape[1:3]), x.shape[1:3])
    return np.maximum(maps.reshape(len(x), result.k, *x.shape[1:3]).transpose(0, 2, 3, 1), 0).astype(np.float32)
