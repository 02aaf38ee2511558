"""Latent space: embeddings, 2-D projections with a distortion score, suspicious samples."""

from __future__ import annotations

import sys
from typing import Any

import keras
import numpy as np

from convviz.core import backend as _backend
from convviz.core.batches import run_batches
from convviz.graph.layers import display_names, layer_infos, resolve_layer
from convviz.graph.split import forward
from convviz.core.checks import check_images
from convviz.core.errors import InputError

__all__ = [
    "PROJECTIONS",
    "default_embedding_layer",
    "extract_embeddings",
    "project",
    "trustworthiness",
    "outlier_scores",
    "find_outliers",
    "MIN_SAMPLES",
    "too_few",
    "compile_umap",
    "projection_libs",
    "EXACT_NEIGHBOURS",
    "exact_neighbours",
]

PROJECTIONS = ("umap", "tsne", "pca")

# umap-learn finds the nearest neighbours exactly below 4,096 samples, and above with
# pynndescent's approximate search, whose numba functions (taking the distance function as an
# argument) cannot enter numba's on-disk cache: every process that projects that many samples
# compiled them again (~15 s here). With exact neighbours, UMAP of 10,000 samples is faster cold
# and warm, with the same trustworthiness (bench_latent). Up to this many samples, UMAP gets exact
# neighbours at every size (the search is quadratic in the samples).
EXACT_NEIGHBOURS = 30_000
_UMAP_EXACT_BELOW = 4096  # umap-learn's own switch to the approximate search


def default_embedding_layer(model: keras.Model) -> str:
    """The layer before the last (the chapter's choice), skipping dropout."""
    every = layer_infos(model)
    infos = [i for i in every if not i.is_model and i.class_name != "Dropout"]
    if len(infos) < 2:
        raise InputError(f"model {model.name!r} has no layer before its output")
    return display_names([infos[-2]], every)[0]


def extract_embeddings(
    model: keras.Model, images: np.ndarray, *, layer: str | None = None, batch_size: int = 64
) -> np.ndarray:
    """Features of ``images`` at ``layer``, one row per image.

    ``convviz.extract_embeddings(..., cache=True)`` reuses features computed with the same
    weights, images and layer.

    Parameters
    ----------
    layer
        None: the layer before the last. Spatial outputs (N, h, w, c) are averaged over
        space to (N, c).
    batch_size
        Images per forward pass: memory stays bounded for any N.

    Returns
    -------
    np.ndarray
        float32 (N, D).
    """
    x = check_images(model, images)
    name = default_embedding_layer(model) if layer is None else resolve_layer(model, layer).name
    if batch_size < 1:
        raise InputError(f"batch_size must be at least 1, got {batch_size}")
    step = _backend.cached_jit(model, ("embeddings", name), lambda: lambda t: forward(model, t, [name])[1][name])

    def pool(f: np.ndarray) -> np.ndarray:  # per batch: memory stays bounded
        return (f.mean(axis=(1, 2)) if f.ndim == 4 else f).reshape(len(f), -1).astype(np.float32)

    return run_batches(step, [x], batch_size=batch_size, post=pool)


def _check_features(features: Any, name: str = "features") -> np.ndarray:
    f = np.asarray(features, np.float64)
    if f.ndim != 2:
        raise InputError(f"{name} must be a 2-D array (N samples, D features), got shape {f.shape}")
    if len(f) < 3:
        raise InputError(f"{name} needs at least 3 samples, got {len(f)}")
    if not np.all(np.isfinite(f)):
        raise InputError(f"{name} contain {int((~np.isfinite(f)).sum())} NaN or infinite value(s)")
    return f


def project(
    features: np.ndarray,
    *,
    method: str = "umap",
    n_components: int = 2,
    random_state: int = 0,
    **kwargs: Any,
) -> np.ndarray:
    """Project features to ``n_components`` dimensions.

    ``method``: ``"umap"`` (umap-learn), ``"tsne"`` (scikit-learn) or ``"pca"``.
    Deterministic for a given ``random_state`` (UMAP runs single-threaded for that).
    Extra keyword arguments go to the projector (e.g. ``n_neighbors``, ``perplexity``).
    ``convviz.project(..., cache=True)`` keeps the result, keyed on the features' bytes,
    every argument and the projector's version (:func:`projection_libs`), across processes.
    """
    if method not in PROJECTIONS:
        raise InputError(f"unknown projection method {method!r}; valid: {', '.join(PROJECTIONS)}")
    f = _check_features(features)
    if method == "pca":
        from sklearn.decomposition import PCA

        return PCA(n_components=n_components, random_state=random_state, **kwargs).fit_transform(f).astype(np.float32)
    if method == "tsne":
        from sklearn.manifold import TSNE

        opts = {"perplexity": min(30.0, (len(f) - 1) / 3), "init": "pca", **kwargs}
        return TSNE(n_components=n_components, random_state=random_state, **opts).fit_transform(f).astype(np.float32)
    import warnings

    with warnings.catch_warnings():
        # umap says that a fixed random_state makes it run on one thread: that is why it is fixed
        warnings.filterwarnings("ignore", message=r"n_jobs value .* overridden", category=UserWarning)
        # numba, once per function it cannot keep in its on-disk cache (see _umap)
        warnings.filterwarnings(
            "ignore", message=r".*Cannot cache compiled function"
        )  # numba bolds it: ANSI codes first
        # exact neighbours come without pynndescent's search index, which only UMAP.transform needs
        warnings.filterwarnings("ignore", message=r"precomputed_knn\[2\]", category=UserWarning)
        umap = _umap()
        opts = {"n_neighbors": min(15, len(f) - 1), **kwargs}
        if _UMAP_EXACT_BELOW <= len(f) <= EXACT_NEIGHBOURS and opts.get("metric", "euclidean") == "euclidean":
            opts.setdefault("precomputed_knn", _neighbours(f, opts["n_neighbors"]))
        return (
            umap.UMAP(n_components=n_components, random_state=random_state, **opts).fit_transform(f).astype(np.float32)
        )


def exact_neighbours(features: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Each sample's ``k`` nearest samples by Euclidean distance, itself first (as umap-learn
    lists them): ``(indices (N, k) int, distances (N, k) float32)``, exact (scikit-learn's
    brute-force search, in blocks)."""
    f = _check_features(features)
    if not 1 <= k <= len(f):
        raise InputError(f"k must be between 1 and the number of samples ({len(f)}), got {k}")
    return _neighbours(f, k)


def _neighbours(f: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """:func:`exact_neighbours` of checked features."""
    from sklearn.neighbors import NearestNeighbors

    own = np.arange(len(f))[:, None]
    if k == 1:
        return own, np.zeros((len(f), 1), np.float32)
    dist, idx = NearestNeighbors(n_neighbors=k - 1, algorithm="brute").fit(f).kneighbors()  # others only
    return np.hstack([own, idx]), np.hstack([np.zeros((len(f), 1)), dist]).astype(np.float32)


def _umap() -> Any:
    """umap-learn, with numba's on-disk cache turned on for its and pynndescent's compiled functions.

    Most of them are compiled without ``cache=True``: every new process spent ~14 s compiling
    them (the parallel ones most) before the first projection, for a ~2 s fit of a page's
    samples. Cached, a later process loads the machine code (numba keys each entry on the
    source file, the argument types and the CPU, so a new umap-learn or numba recompiles). The
    few functions numba cannot cache (dynamic globals) warn once when compiled: the caller runs
    this with numba's "Cannot cache compiled function" warning silenced.
    """
    import umap

    if not _UMAP_CACHING:
        from numba.core.caching import NullCache
        from numba.core.dispatcher import Dispatcher

        for name, module in list(sys.modules.items()):
            if module is None or name.split(".")[0] not in ("umap", "pynndescent"):
                continue
            for obj in list(vars(module).values()):
                func = getattr(obj, "py_func", None)
                if (
                    isinstance(obj, Dispatcher)
                    and isinstance(getattr(obj, "_cache", None), NullCache)
                    and getattr(func, "__module__", None) == name
                    and "<locals>" not in getattr(func, "__qualname__", "<locals>")
                ):
                    obj.enable_caching()
        _UMAP_CACHING.append(True)
    return umap


_UMAP_CACHING: list[bool] = []  # non-empty once _umap has turned caching on in this process


def compile_umap() -> float:
    """Compile umap-learn's functions into numba's on-disk cache now; returns the seconds taken.

    ``make`` calls this once after installing: otherwise the first processes to project
    (the build's parallel workers, the test suite's renders) would each compile the same
    functions at the same time, each spending a core on it. Numba keys its entries on the
    argument types, not the sizes: any page's features (float32 rows) reuse these.
    """
    import time

    t = time.perf_counter()
    rng = np.random.default_rng(0)
    x = np.concatenate([c + rng.normal(0, 1, (40, 16)) for c in rng.normal(0, 8, (4, 16))]).astype(np.float32)
    project(x, method="umap", random_state=0)
    return time.perf_counter() - t


def projection_libs(method: str) -> dict[str, str]:
    """Versions of the libraries a projection comes from (part of its cache key)."""
    import importlib.metadata as md

    pkgs = {"umap": ("umap-learn", "pynndescent", "scikit-learn"), "tsne": ("scikit-learn",), "pca": ("scikit-learn",)}[
        method
    ]
    out = {}
    for pkg in pkgs:
        try:
            out[pkg] = md.version(pkg)
        except md.PackageNotFoundError:
            out[pkg] = "not installed"
    return out


MIN_SAMPLES = {
    "projection": 10,  # UMAP / t-SNE: fewer points make no picture of a neighbourhood
    "trustworthiness": 21,  # 10 nearest neighbours, which the measure needs in [1, N/2)
    "outliers": 12,  # 10 nearest neighbours of each sample, plus the sample itself
}


def too_few(n: int, what: str) -> str | None:
    """Why ``what`` (a key of :data:`MIN_SAMPLES`) is skipped on ``n`` samples, or None
    when there are enough: a sentence for the page."""
    if what not in MIN_SAMPLES:
        raise InputError(f"unknown analysis {what!r}; valid: {', '.join(MIN_SAMPLES)}")
    need = MIN_SAMPLES[what]
    if n >= need:
        return None
    why = {
        "projection": "a 2-D map of the neighbourhoods",
        "trustworthiness": "trustworthiness (it compares each sample's 10 nearest neighbours)",
        "outliers": "the outlier ranking (each sample against its 10 nearest neighbours)",
    }[what]
    return f"Skipped {why}: it needs at least {need} images and this dataset has {n}."


def trustworthiness(features: np.ndarray, projection: np.ndarray, *, n_neighbors: int = 10) -> float:
    """How faithful a projection is to the neighbourhoods of the features, in [0, 1].

    1 means every point's nearest neighbours in the projection are also near it in
    feature space (Venna & Kaski; scikit-learn's implementation).
    """
    from sklearn.manifold import trustworthiness as tw

    f = _check_features(features)
    p = _check_features(projection, "projection")
    if len(f) != len(p):
        raise InputError(f"features ({len(f)}) and projection ({len(p)}) have different lengths")
    if not 1 <= n_neighbors < len(f) / 2:
        raise InputError(f"n_neighbors must be in [1, N/2) = [1, {len(f) / 2:g}), got {n_neighbors}")
    return float(tw(f, p, n_neighbors=n_neighbors))


def outlier_scores(features: np.ndarray, labels: np.ndarray, *, k: int = 10) -> np.ndarray:
    """Suspicion score per sample: higher means more likely mislabeled or ambiguous.

    The score adds two parts, each in [0, 1]:

    * disagreement: the share of the sample's ``k`` nearest neighbours (cosine distance
      in feature space) whose label differs from its own;
    * distance: how far the sample lies from its class centroid, as the rank of that
      distance within its class (0 closest, 1 farthest).
    """
    from sklearn.neighbors import NearestNeighbors

    f = _check_features(features)
    y = np.asarray(labels)
    if y.ndim != 1 or len(y) != len(f):
        raise InputError(f"labels must be 1-D with one label per sample: {len(f)} samples, labels shape {y.shape}")
    if not 1 <= k < len(f):
        raise InputError(f"k must be in [1, N) = [1, {len(f)}), got {k} (N = {len(f)} samples)")
    norm = f / np.maximum(np.linalg.norm(f, axis=1, keepdims=True), 1e-12)
    nn = NearestNeighbors(n_neighbors=k + 1).fit(norm)
    _, idx = nn.kneighbors(norm)
    neigh = idx[:, 1:]
    disagreement = (y[neigh] != y[:, None]).mean(axis=1)
    dist_rank = np.zeros(len(f))
    for c in np.unique(y):
        members = np.flatnonzero(y == c)
        centroid = norm[members].mean(axis=0)
        d = np.linalg.norm(norm[members] - centroid, axis=1)
        ranks = d.argsort().argsort()
        dist_rank[members] = ranks / max(len(members) - 1, 1)
    return (disagreement + dist_rank).astype(np.float32)


def find_outliers(features: np.ndarray, labels: np.ndarray, *, top: int = 20, k: int = 10) -> np.ndarray:
    """Indices of the ``top`` most suspicious samples, most suspicious first."""
    if top < 1:
        raise InputError(f"top must be at least 1, got {top}")
    scores = outlier_scores(features, labels, k=k)
    return np.argsort(-scores, kind="stable")[:top]
