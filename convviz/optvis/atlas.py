"""An activation atlas (Carter et al., "Activation Atlas", Distill 2019): what a whole layer
represents, as a map.

1. **Vectors**: the layer's activation vector (C values) at every spatial position of every
   image, a seeded sample of at most ``max_vectors`` of them (the same number from each image);
   each keeps its image's predicted class.
2. **Layout**: the vectors projected to 2-D by UMAP (:func:`convviz.represent.latent.project`;
   ``method=`` another of its projections).
3. **Grid**: the layout's bounding box cut into ``grid × grid`` cells; every vector falls in
   exactly one cell (the cells partition the sample); a cell with at least ``min_count``
   vectors is drawn.
4. **Icons**: each drawn cell's mean activation vector rendered as an image by the
   *direction* objective (lucid's ``direction_neuron`` with ``cossim_pow=1``, averaged over
   positions): ``⟨a, v̂⟩ · max(cos(a, v), 0.1)`` with ``a`` the activation vector at a position
   and ``v`` the cell's mean; optimized with the robust recipe
   (:func:`convviz.optvis.ascent.fourier_ascent`).

Nearby cells hold similar vectors, so the atlas reads as a map: regions of one class, the
transitions between classes, the textures that no class owns.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import keras
import numpy as np

from convviz.core.batches import stream_batches
from convviz.core.errors import InputError
from convviz.graph.layers import require_spatial
from convviz.graph.split import layer_output
from convviz.optvis import ascent as _ascent
from convviz.optvis.filters import DEFAULT_LEARNING_RATES, display_uint8, optimization_size
from convviz.represent.latent import MIN_SAMPLES, project

__all__ = [
    "ActivationAtlas",
    "activation_atlas",
    "atlas_cells",
    "direction_maps",
    "sample_vectors",
]

ops = keras.ops


def sample_vectors(
    model: keras.Model,
    layer: str,
    images: np.ndarray,
    *,
    max_vectors: int = 100_000,
    seed: int = 0,
    batch_size: int = 64,
) -> tuple[np.ndarray, np.ndarray]:
    """A seeded sample of the layer's spatial activation vectors over ``images``.

    Every position of every image when there are at most ``max_vectors``; else the same number
    from each image (``max_vectors // len(images)``, at least 1), positions drawn without
    replacement. One streamed pass: memory holds a batch of the layer's output and the sample.

    Returns
    -------
    vectors, origin
        float32 (N, C); int (N, 3): each vector's image index, row and column.
    """
    if max_vectors < 1:
        raise InputError(f"max_vectors must be at least 1, got {max_vectors}")
    info = require_spatial(model, layer, "an activation atlas needs")
    h, w = (int(d) for d in info.output_shape[1:3])
    n = len(images)
    if n == 0:
        raise InputError("an activation atlas needs at least one image")
    per = h * w if n * h * w <= max_vectors else max(1, max_vectors // n)
    rng = np.random.default_rng(seed)
    picks = np.stack([rng.choice(h * w, per, replace=False) for _ in range(n)]) if per < h * w else None
    body = layer_output(model, info.name)
    vectors, origin = [], []
    for s, out in stream_batches(body, [np.asarray(images, np.float32)], batch_size=batch_size):
        flat = out.reshape(len(out), h * w, -1)
        for i in range(len(out)):
            where = np.arange(h * w) if picks is None else np.sort(picks[s + i])
            vectors.append(flat[i, where])
            origin.append(np.stack([np.full(len(where), s + i), where // w, where % w], axis=1))
    return np.concatenate(vectors).astype(np.float32), np.concatenate(origin).astype(np.int64)


def atlas_cells(xy: np.ndarray, *, grid: int) -> tuple[np.ndarray, np.ndarray]:
    """The grid cell of every point of a 2-D layout.

    The layout's bounding box is cut into ``grid × grid`` equal cells (row 0 at the top:
    the largest y); a point on the box's far edge belongs to the last cell.

    Returns
    -------
    cell, cells
        int (N,): each point's cell, an index into ``cells``; int (M, 2): the (row, column) of
        each occupied cell, in row-major order. Every point is in exactly one cell.
    """
    xy = np.asarray(xy, np.float64)
    if xy.ndim != 2 or xy.shape[1] != 2 or not len(xy):
        raise InputError(f"the layout must be a non-empty (N, 2) array, got shape {xy.shape}")
    if grid < 1:
        raise InputError(f"grid must be at least 1, got {grid}")
    lo, hi = xy.min(axis=0), xy.max(axis=0)
    span = np.where(hi > lo, hi - lo, 1.0)
    col = np.minimum((grid * (xy[:, 0] - lo[0]) / span[0]).astype(np.int64), grid - 1)
    row = grid - 1 - np.minimum((grid * (xy[:, 1] - lo[1]) / span[1]).astype(np.int64), grid - 1)
    flat = row * grid + col
    occupied, cell = np.unique(flat, return_inverse=True)
    return cell.reshape(-1), np.stack([occupied // grid, occupied % grid], axis=1)


def direction_maps(model: keras.Model, layer: str, directions: np.ndarray) -> Callable[[Any, Any], Any]:
    """``fn(x, idx) -> (B, h, w)``: for each image the direction objective of its direction
    ``directions[idx]`` at every position: ``⟨a, v̂⟩ · max(cos(a, v), 0.1)`` (lucid's
    ``direction_neuron`` with ``cossim_pow=1``)."""
    body = layer_output(model, layer)
    d = np.asarray(directions, np.float32)
    unit = d / np.maximum(np.linalg.norm(d, axis=1, keepdims=True), 1e-12)
    table = ops.convert_to_tensor(unit)

    def maps(x: Any, idx: Any) -> Any:
        a = body(x)
        v = ops.take(table, idx, axis=0)  # (B, C)
        dot = ops.einsum("bhwc,bc->bhw", a, v)
        norm = ops.sqrt(ops.sum(a * a, axis=-1) + 1e-8)
        return dot * ops.maximum(dot / norm, 0.1)

    return maps


@dataclass(frozen=True)
class ActivationAtlas:
    """The result of :func:`activation_atlas`.

    Attributes
    ----------
    layer
        The layer.
    grid
        Cells per side.
    xy
        float32 (N, 2): each sampled vector's UMAP place.
    origin
        int (N, 3): each vector's image, row and column in the layer's output.
    cell
        int (N,): each vector's cell (an index into ``cells``).
    cells
        int (M, 2): (row, column) of each occupied cell.
    counts
        int (M,): vectors per cell.
    drawn
        bool (M,): cells with at least ``min_count`` vectors (rendered).
    dominant, share
        int (M,), float32 (M,): the predicted class most frequent among a cell's vectors and its
        share of them.
    icons
        uint8 (M, s, s, C): each drawn cell's rendering (zeros for cells not drawn).
    objective
        float32 (M,): the direction objective at each icon (NaN for cells not drawn).
    steps
        The icons' Adam steps.
    seconds
        dict of the wall time of each step (``vectors``, ``layout``, ``icons``).
    """

    layer: str
    grid: int
    xy: np.ndarray
    origin: np.ndarray
    cell: np.ndarray
    cells: np.ndarray
    counts: np.ndarray
    drawn: np.ndarray
    dominant: np.ndarray
    share: np.ndarray
    icons: np.ndarray
    objective: np.ndarray
    steps: int
    seconds: dict[str, float]

    def image(self, *, background: int | None = 255) -> np.ndarray:
        """The atlas as one image: every drawn cell's icon at its place on the grid, the rest
        ``background`` (0..255); None: RGBA, transparent where no cell is drawn (a grayscale
        model's icons in gray RGB)."""
        s, c = self.icons.shape[1], self.icons.shape[3]
        icons = self.icons if background is not None or c != 1 else np.repeat(self.icons, 3, axis=3)
        depth = icons.shape[3] + (background is None)
        out = np.full((self.grid * s, self.grid * s, depth), 0 if background is None else background, np.uint8)
        for (r, col), icon, on in zip(self.cells, icons, self.drawn):
            if on:
                out[r * s : (r + 1) * s, col * s : (col + 1) * s, : icon.shape[2]] = icon
                if background is None:
                    out[r * s : (r + 1) * s, col * s : (col + 1) * s, -1] = 255
        return out


def activation_atlas(
    model: keras.Model,
    layer: str,
    images: np.ndarray,
    classes: np.ndarray,
    *,
    max_vectors: int = 100_000,
    grid: int = 20,
    min_count: int = 3,
    icon_size: int = 48,
    steps: int = 56,
    seed: int = 0,
    method: str = "umap",
    n_neighbors: int = 15,
    n_epochs: int | None = None,
    batch_size: int | None = None,
    memory_budget_gb: float = 0.75,
    progress: bool = False,
) -> ActivationAtlas:
    """The activation atlas of ``layer`` over ``images`` (see the module docstring;
    ``convviz.activation_atlas(..., cache=True)`` keeps it across builds).

    Parameters
    ----------
    model, layer
        The model and a layer with a spatial (rank-4) output.
    images
        (N, H, W, C) in the model's input space, e.g. the test split.
    classes
        int (N,): each image's class to count per cell (e.g. the predicted class).
    max_vectors
        Sampled activation vectors at most (:func:`sample_vectors`).
    grid, min_count
        Cells per side; the fewest vectors a drawn cell holds.
    icon_size, steps
        Each icon's optimization size in pixels and its Adam steps (the robust recipe).
    seed
        Seed of the sample, the layout and the renderings.
    method
        The 2-D layout: ``"umap"`` (the atlas's), ``"tsne"`` or ``"pca"``
        (:func:`convviz.represent.latent.project`).
    n_neighbors, n_epochs
        UMAP's neighbourhood and its optimization epochs (None: UMAP's own, 500 up to 10,000
        vectors and 200 above).
    batch_size, memory_budget_gb
        Icons per batch (None: what fits the budget).
    progress
        Show a progress bar.

    Returns
    -------
    ActivationAtlas
    """
    classes = np.asarray(classes)
    if classes.shape != (len(images),):
        raise InputError(f"classes must hold one class per image ({len(images)}), got shape {classes.shape}")
    if min_count < 1:
        raise InputError(f"min_count must be at least 1, got {min_count}")
    if not isinstance(steps, (int, np.integer)) or steps <= 0:
        raise InputError(f"steps must be a positive integer, got {steps!r}")
    info = require_spatial(model, layer, "an activation atlas needs")
    size = optimization_size(model, icon_size)
    seconds = {}
    t = time.perf_counter()
    vectors, origin = sample_vectors(model, info.name, images, max_vectors=max_vectors, seed=seed)
    seconds["vectors"] = time.perf_counter() - t
    need = MIN_SAMPLES["projection"]
    if len(vectors) < need:
        raise InputError(
            f"an activation atlas needs at least {need} activation vectors to lay out, got {len(vectors)} "
            f"({len(images)} images × the positions of {info.name!r})"
        )
    t = time.perf_counter()
    opts: dict[str, Any] = {}
    if method == "umap":
        opts = {"n_neighbors": min(n_neighbors, len(vectors) - 1), "n_epochs": n_epochs}
    xy = project(vectors, method=method, random_state=seed, **opts)
    seconds["layout"] = time.perf_counter() - t
    cell, cells = atlas_cells(xy, grid=grid)
    m = len(cells)
    counts = np.bincount(cell, minlength=m)
    drawn = counts >= min_count
    n_classes = int(classes.max()) + 1 if classes.size and classes.max() >= 0 else 1
    per = np.zeros((m, n_classes), np.int64)
    np.add.at(per, (cell, np.clip(classes[origin[:, 0]], 0, None)), 1)
    dominant = per.argmax(axis=1)
    share = (per.max(axis=1) / np.maximum(counts, 1)).astype(np.float32)
    means = np.zeros((m, vectors.shape[1]), np.float64)
    np.add.at(means, cell, vectors)
    means /= np.maximum(counts, 1)[:, None]
    t = time.perf_counter()
    in_channels = int(model.inputs[0].shape[-1] or 3)
    icons = np.zeros((m, *size, in_channels), np.uint8)
    objective = np.full(m, np.nan, np.float32)
    todo = np.flatnonzero(drawn)
    if len(todo):
        maps = direction_maps(model, info.name, means)
        bs = _ascent.batch_size_for(model, info.name, size, len(todo), batch_size, memory_budget_gb)
        rng = np.random.default_rng(seed)
        lr = DEFAULT_LEARNING_RATES["robust"]
        with _ascent.progress_bar(steps * -(-len(todo) // bs), "atlas icons", progress) as bar:
            raw, _ = _ascent.fourier_ascent(maps, todo, bs, size, in_channels, steps, lr, rng, bar=bar)
        objective[todo] = _ascent.final_objective(maps, raw, todo, bs)
        icons[todo] = np.stack([display_uint8(r, 0) for r in raw])
    seconds["icons"] = time.perf_counter() - t
    return ActivationAtlas(
        info.name,
        int(grid),
        xy.astype(np.float32),
        origin,
        cell.astype(np.int64),
        cells.astype(np.int64),
        counts.astype(np.int64),
        drawn,
        dominant.astype(np.int64),
        share,
        icons,
        objective,
        int(steps),
        seconds,
    )
