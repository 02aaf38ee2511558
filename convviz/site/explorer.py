"""The embedding explorer of a latent page: the data behind a zoomable scatter.

Every test image (up to :data:`MAX_POINTS`, a seeded sample beyond) becomes a point at its
2-D UMAP position (the latent page's projection, from the same cache entry), with its
true and predicted class, the predicted probability, its outlier score and its Grad-CAM
for the predicted class; a misclassified image also gets its Grad-CAM for the true class,
both maps on one scale (:func:`convviz.site.class_data.pair_cams`). :func:`write_explorer`
writes ``data.json`` and the sprite sheets (``images.png``: the images; ``cams.png``:
their Grad-CAM overlays, same grid; ``cams_true.png``: the true class's overlays of the
misclassified images, in the order of ``true_cam``), which the page's script
(``convviz/assets/explorer.js``, bundled: no request leaves the page) draws. The class
names link to the model's class page (``class_page``, relative to ``data.json``).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from convviz.site.freshness import fingerprint, module_text, up_to_date, write_stamp
from convviz.core.errors import InputError

__all__ = ["MAX_POINTS", "DATA_FILE", "Explorer", "explorer_data", "sprite_sheet", "write_explorer"]

MAX_POINTS = 10_000
DATA_FILE = "data.json"
THUMB = 64  # largest side of a thumbnail in the sprite sheets, pixels
CLASS_PAGE = "../classes/"  # the class page (convviz.site.class_pages), from the explorer's folder


@dataclass(frozen=True)
class Explorer:
    """The explorer's data: ``meta`` (JSON-able: points and classes), and the sprite sheets
    as uint8 RGB arrays (``cams_true`` is None when no point is misclassified)."""

    meta: dict[str, Any]
    images: np.ndarray
    cams: np.ndarray
    cams_true: np.ndarray | None = None


def sprite_sheet(images: np.ndarray, *, size: int) -> tuple[np.ndarray, int]:
    """Tile images (N, H, W[, C], float in [0, 1] or uint8) into one uint8 RGB sheet of
    ``size``×``size`` cells, ``ceil(sqrt(N))`` to a row; returns the sheet and the columns."""
    from PIL import Image

    images = np.asarray(images)
    if images.ndim not in (3, 4) or len(images) == 0:
        raise InputError(f"images must be (N, H, W) or (N, H, W, C) with N >= 1, got shape {images.shape}")
    if images.dtype != np.uint8:
        images = (np.clip(images, 0, 1) * 255).round().astype(np.uint8)
    if images.ndim == 3:
        images = images[..., None]
    if images.shape[-1] == 1:
        images = np.repeat(images, 3, axis=-1)
    n = len(images)
    cols = math.ceil(math.sqrt(n))
    rows = math.ceil(n / cols)
    sheet = np.zeros((rows * size, cols * size, 3), np.uint8)
    for i, img in enumerate(images[..., :3]):
        cell = np.asarray(Image.fromarray(img).resize((size, size), Image.Resampling.BILINEAR))
        r, c = divmod(i, cols)
        sheet[r * size : (r + 1) * size, c * size : (c + 1) * size] = cell
    return sheet, cols


def _pca2(features: np.ndarray) -> np.ndarray:
    centered = features - features.mean(0)
    _, _, vt = np.linalg.svd(centered, full_matrices=False)
    return centered @ vt[:2].T


def explorer_data(entry: Any, *, max_points: int = MAX_POINTS, progress: bool = True) -> Explorer:
    """Compute the explorer of a zoo entry's test split (cached calls: the latent and
    Grad-CAM pages' results are reused)."""
    import convviz
    from convviz import zoo
    from convviz.represent import latent
    from convviz.site.class_data import pair_cams
    from convviz.figures.heatmaps import overlay_heatmap

    model = zoo.load(entry, progress=progress)
    test = zoo.dataset(entry, "test")
    features = convviz.extract_embeddings(model, test.x, cache=True)
    probs = convviz.predict(model, test.x, cache=True)
    pred = probs.argmax(1)
    labelled = test.labelled
    colors_by = test.y if labelled.all() else pred
    n = len(features)
    if latent.too_few(n, "projection"):
        xy, method = _pca2(features), "PCA"
    else:
        xy, method = convviz.project(features, method="umap", random_state=0, cache=True), "UMAP"
    trust = None if latent.too_few(n, "trustworthiness") else convviz.trustworthiness(features, xy, n_neighbors=10)
    # too few images to rank outliers: no scores, and no point is called suspicious
    skipped = latent.too_few(n, "outliers")
    scores = None if skipped else convviz.outlier_scores(features, colors_by)
    shown = np.arange(n)
    if n > max_points:
        shown = np.sort(np.random.default_rng(0).choice(n, max_points, replace=False))
    layer = entry.cam_layer(model)
    cams = np.array(convviz.grad_cam(model, test.x[shown], layer=layer, class_index=pred[shown], cache=True))
    # a misclassified point: its maps for the true and the predicted class, on one scale
    wrong = np.flatnonzero(labelled[shown] & (pred[shown] != test.y[shown]))
    true_cams, true_maps = None, cams[:0]
    if len(wrong):
        idx = shown[wrong]
        true_maps, cams[wrong] = pair_cams(model, test.x[idx], test.y[idx], pred[idx], layer=layer)
    size = min(THUMB, max(test.x.shape[1:3]))
    images, cols = sprite_sheet(test.x[shown], size=size)
    overlays = np.stack([overlay_heatmap(test.x[i], cam) for i, cam in zip(shown, cams)])
    cam_sheet, _ = sprite_sheet(overlays, size=size)
    true_cols = 0
    if len(wrong):
        true_overlays = np.stack([overlay_heatmap(test.x[i], cam) for i, cam in zip(shown[wrong], true_maps)])
        true_cams, true_cols = sprite_sheet(true_overlays, size=size)
    top = min(12, max(1, n // 5))
    ranked: list[int] = [] if scores is None else np.argsort(-scores, kind="stable")[:top].tolist()
    suspicious = [int(np.flatnonzero(shown == i)[0]) for i in ranked if i in shown]
    meta = {
        "model": entry.name,
        "classes": list(test.class_names),
        "method": method,
        "trustworthiness": None if trust is None else round(float(trust), 4),
        "cam_layer": layer,
        "points": int(len(shown)),
        "of": int(n),
        "x": [round(float(v), 4) for v in xy[shown, 0]],
        "y": [round(float(v), 4) for v in xy[shown, 1]],
        "label": [int(test.y[i]) if labelled[i] else -1 for i in shown],
        "pred": [int(p) for p in pred[shown]],
        "prob": [round(float(probs[i, pred[i]]), 4) for i in shown],
        "score": None if scores is None else [round(float(scores[i]), 4) for i in shown],
        "outliers_skipped": skipped,
        "suspicious": suspicious,
        "thumb": size,
        "cols": cols,
        "images": "images.png",
        "cams": "cams.png",
        "cams_true": "cams_true.png" if true_cams is not None else None,
        "true_cam": [int(k) for k in wrong],
        "true_prob": [round(float(probs[i, test.y[i]]), 4) for i in shown[wrong]],
        "true_cols": true_cols,
        "class_page": CLASS_PAGE,
    }
    return Explorer(meta, images, cam_sheet, true_cams)


def _fingerprint(entry: Any) -> str:
    return fingerprint(entry, module_text(__file__))


def is_current(folder: Path, entry: Any) -> bool:
    """Whether ``folder`` holds the explorer of ``entry`` as this code writes it."""
    return up_to_date(folder, _fingerprint(entry), DATA_FILE)


def write_explorer(entry: Any, folder: str | Path, *, progress: bool = True) -> bool:
    """Write a zoo entry's explorer (``data.json``, ``images.png``, ``cams.png`` and, when a
    point is misclassified, ``cams_true.png``) into ``folder``; skipped (returns False) when
    it is up to date for the entry and the code."""
    from convviz.core.files import write_if_changed
    from convviz.site.record import save_png

    folder = Path(folder)
    if is_current(folder, entry):
        return False
    data = explorer_data(entry, progress=progress)
    folder.mkdir(parents=True, exist_ok=True)
    save_png(data.images, folder / "images.png")
    save_png(data.cams, folder / "cams.png")
    if data.cams_true is not None:
        save_png(data.cams_true, folder / "cams_true.png")
    else:
        (folder / "cams_true.png").unlink(missing_ok=True)
    write_if_changed(folder / DATA_FILE, json.dumps(data.meta, separators=(",", ":")))
    write_stamp(folder, _fingerprint(entry))
    return True
