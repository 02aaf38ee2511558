"""Latent space: planted structure, determinism, bad inputs, extraction on every backend."""

import keras
import numpy as np

import convviz
import pytest

from convviz.represent import latent
from conftest import default_backend_only, nested_model, small_functional, small_sequential, to_np


def clusters(n_per=40, d=8, seed=0):
    rng = np.random.default_rng(seed)
    centers = rng.normal(0, 10, (3, d))
    x = np.concatenate([c + rng.normal(0, 1, (n_per, d)) for c in centers])
    y = np.repeat(np.arange(3), n_per)
    return x.astype(np.float32), y


def test_swapped_labels_score_on_top():
    x, y = clusters()
    swapped = np.array([5, 50, 100])
    y2 = y.copy()
    y2[swapped] = (y[swapped] + 1) % 3
    top = latent.find_outliers(x, y2, top=3)
    assert set(top.tolist()) == set(swapped.tolist())


def test_trustworthiness_orders_faithful_and_scrambled():
    x, _ = clusters()
    faithful = latent.project(x, method="pca")
    scrambled = np.random.default_rng(0).permutation(faithful)
    assert latent.trustworthiness(x, faithful) > 0.9
    assert latent.trustworthiness(x, scrambled) < 0.7


@pytest.mark.parametrize("method", ["pca", "tsne", pytest.param("umap", marks=pytest.mark.slow)])
def test_projection_deterministic(method):
    x, _ = clusters(n_per=15)
    a = latent.project(x, method=method, random_state=3)
    b = latent.project(x, method=method, random_state=3)
    assert a.shape == (45, 2)
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize(
    "call,match",
    [
        (lambda: latent.project(np.zeros((5, 2)), method="lle"), "valid: umap, tsne, pca"),
        (lambda: latent.outlier_scores(np.zeros((5, 2)), np.zeros(4)), "one label per sample"),
        (lambda: latent.outlier_scores(np.zeros((5, 2)), np.zeros(5), k=5), r"k must be in \[1, N\)"),
        (lambda: latent.outlier_scores(np.full((5, 2), np.nan), np.zeros(5)), "NaN"),
        (lambda: latent.trustworthiness(np.zeros((6, 2)), np.zeros((5, 2))), "different lengths"),
        (lambda: latent.project(np.zeros((5,))), "2-D array"),
    ],
)
def test_bad_inputs(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_extract_embeddings_default_layer_and_batches(rng):
    model = small_functional()
    x = rng.random((7, 16, 16, 3), dtype=np.float32)
    emb = latent.extract_embeddings(model, x, batch_size=3)
    ref = to_np(keras.Model(model.inputs, model.get_layer("gap").output)(x))
    np.testing.assert_allclose(emb, ref, atol=1e-5)
    spatial = latent.extract_embeddings(model, x, layer="c2")
    assert spatial.shape == (7, 6)  # pooled over space


def test_extract_embeddings_sequential_and_nested(rng):
    assert latent.default_embedding_layer(small_sequential()) == "flat"
    assert latent.extract_embeddings(small_sequential(), rng.random((2, 12, 12, 1))).shape == (
        2,
        36,
    )  # flatten of 3×3×4
    assert latent.extract_embeddings(nested_model(), rng.random((2, 16, 16, 3)) * 255).shape == (2, 6)


def test_projection_cache_reuses_result(tmp_path, monkeypatch):
    from convviz.store.cache import Cache

    x, _ = clusters(n_per=10)
    store = Cache(tmp_path / "c")
    a = convviz.project(x, method="pca", cache=store)
    assert len(store.keys()) == 1
    calls = []
    monkeypatch.setattr("sklearn.decomposition.PCA.fit_transform", lambda *a, **k: calls.append(1))
    b = convviz.project(x, method="pca", cache=store)
    np.testing.assert_array_equal(a, b)
    assert calls == []  # read from the cache, not recomputed
    monkeypatch.undo()
    convviz.project(x * 2, method="pca", cache=store)
    assert len(store.keys()) == 2  # other features, other entry


def test_too_few_says_why_and_how_many():
    from convviz.represent.latent import MIN_SAMPLES, too_few

    assert too_few(MIN_SAMPLES["trustworthiness"], "trustworthiness") is None
    msg = too_few(15, "trustworthiness")
    assert msg == (
        "Skipped trustworthiness (it compares each sample's 10 nearest neighbours): it needs at "
        "least 21 images and this dataset has 15."
    )
    # the thresholds are the ones the functions enforce: one fewer sample is refused
    import numpy as np

    import convviz

    n = MIN_SAMPLES["trustworthiness"] - 1
    f = np.random.default_rng(0).random((n, 4))
    with pytest.raises(ValueError, match="n_neighbors must be in"):
        convviz.trustworthiness(f, f[:, :2], n_neighbors=10)
    with pytest.raises(ValueError, match="unknown analysis 'umap'; valid: projection, trustworthiness, outliers"):
        too_few(5, "umap")


def test_exact_neighbours_list_each_sample_first_then_the_nearest_others():
    g = np.random.default_rng(0)
    f = g.normal(size=(60, 5))
    f[7] = f[3]  # a duplicate: each of the two lists itself first, the other second
    idx, dist = latent.exact_neighbours(f, 4)
    full = np.sqrt(((f[:, None] - f[None]) ** 2).sum(-1))
    np.testing.assert_array_equal(idx[:, 0], np.arange(60))
    assert idx[3, 1] == 7 and idx[7, 1] == 3 and dist[3, 1] == 0
    for i in range(60):
        others = np.argsort(np.where(np.arange(60) == i, np.inf, full[i]), kind="stable")[:3]
        np.testing.assert_allclose(np.sort(full[i, idx[i, 1:]]), full[i, others], rtol=1e-5)
        np.testing.assert_allclose(dist[i], full[i, idx[i]], rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(latent.exact_neighbours(f, 1)[0][:, 0], np.arange(60))
    with pytest.raises(ValueError, match=r"k must be between 1 and the number of samples \(60\)"):
        latent.exact_neighbours(f, 61)


@pytest.mark.slow
def test_umap_of_thousands_of_samples_uses_exact_neighbours_not_pynndescent(monkeypatch):
    """Above umap-learn's 4,096 samples its neighbours would come from pynndescent, whose
    functions numba cannot cache (compiled again in every process): convviz gives it exact ones."""
    import umap.umap_

    class Refused(umap.umap_.NNDescent):  # still a type: umap checks isinstance against it
        def __init__(self, *args, **kwargs):
            raise AssertionError("pynndescent's approximate search was used")

    monkeypatch.setattr(umap.umap_, "NNDescent", Refused)
    x, y = clusters(n_per=1400, d=6)  # 4,200 samples
    xy = latent.project(x, method="umap", random_state=0, n_epochs=30)
    idx, _ = latent.exact_neighbours(xy, 6)
    assert (y[idx[:, 1:]] == y[:, None]).mean() > 0.99  # the three clusters stay apart


_UMAP_RUN = """
import json, os, sys
from pathlib import Path
import numpy as np
rng = np.random.default_rng(0)
x = np.concatenate([c + rng.normal(0, 1, (30, 8)) for c in rng.normal(0, 10, (3, 8))]).astype(np.float32)
from convviz.represent import latent
entries = lambda: sorted(p.name for p in Path(os.environ["NUMBA_CACHE_DIR"]).rglob("*.nb[ic]"))
warmed = None
if sys.argv[1] == "compile":
    latent.compile_umap()  # what `make` runs after installing, on data of another size
    warmed = entries()
xy = latent.project(x, method="umap", random_state=0)
import umap.umap_
hits = {f: len(getattr(umap.umap_, f).stats.cache_hits) for f in ("smooth_knn_dist", "compute_membership_strengths")}
print(json.dumps({"xy": np.asarray(xy, np.float32).tolist(), "hits": hits, "warmed": warmed, "after": entries()}))
"""


@pytest.mark.slow
@default_backend_only("numba's cache of umap-learn's functions does not depend on the Keras backend")
def test_umap_compiles_once_per_machine_not_per_process(tmp_path):
    """`compile_umap` (run once after the install) compiles umap-learn's functions from
    source (no cache entry: umap-learn's own compilation) and writes every cache entry that a
    projection of other data needs; a second process loads them and projects exactly as the
    first (turning the cache on changes where the machine code is kept, not the code)."""
    import json
    import os
    import subprocess
    import sys

    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path / "numba")}

    def run(mode):
        out = subprocess.run(
            [sys.executable, "-c", _UMAP_RUN, mode], env=env, capture_output=True, text=True, timeout=600
        )
        assert out.returncode == 0, out.stderr[-3000:]
        return json.loads(out.stdout.strip().splitlines()[-1])

    first, second = run("compile"), run("cached")
    assert list((tmp_path / "numba").rglob("*smooth_knn_dist*.nbi")), "nothing was cached"
    assert first["warmed"] and first["after"] == first["warmed"], "the projection compiled more than compile_umap"
    assert second["after"] == first["warmed"]
    assert first["hits"] == {"smooth_knn_dist": 0, "compute_membership_strengths": 0}
    assert all(n > 0 for n in second["hits"].values()), second["hits"]
    np.testing.assert_array_equal(np.array(second["xy"]), np.array(first["xy"]))
