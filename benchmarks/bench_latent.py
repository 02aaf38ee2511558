"""Latent-space speed: UMAP (numba-compiled on first use) and t-SNE, cold and warm.

Cold = the first call in a fresh process (UMAP compiles its numba kernels; their on-disk
cache makes later processes faster); warm = the same call again. On more than 4,096 samples,
UMAP with convviz's exact neighbours and with umap-learn's approximate search (pynndescent,
whose functions numba compiles again in every process: its cold time includes that). On digits (all 1,797
images) and 10,000 generated shapes, features from the zoo's trained models.

    python benchmarks/bench_latent.py
"""

from __future__ import annotations

import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402

import convviz  # noqa: E402
from convviz import zoo  # noqa: E402
from convviz.zoo import shapes as datasets  # noqa: E402


def timed(fn):
    t = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t


def main() -> int:
    cases = []
    e = zoo.entry("digits-cnn")
    m = zoo.load(e)
    x = np.concatenate([zoo.dataset(e, "train").x, zoo.dataset(e, "test").x])
    cases.append(("digits (1,797)", convviz.extract_embeddings(m, x)))
    e = zoo.entry("shapes-cnn")
    m = zoo.load(e)
    shapes, gen = timed(lambda: datasets.generate_shapes(10_000, seed=5))
    feats, emb = timed(lambda: convviz.extract_embeddings(m, shapes.x))
    print(f"10,000 shapes: generated in {gen:.1f} s, embedded in {emb:.1f} s")
    cases.append(("shapes (10,000)", feats))
    print(f"{'data':<18}{'method':<7}{'cold s':>8}{'warm s':>8}{'trust':>7}")
    rows = []
    labels = {"umap": "UMAP", "tsne": "t-SNE", "approximate": "UMAP, umap-learn's approximate neighbours"}
    for name, f in cases:
        # above 4,096 samples convviz gives UMAP exact neighbours (EXACT_NEIGHBOURS); umap-learn's
        # own approximate search (pynndescent) is timed after it, its compilation in its cold time
        methods = ("umap", "approximate", "tsne") if len(f) >= 4096 else ("umap", "tsne")
        for method in methods:
            kw = (
                {"method": "umap", "precomputed_knn": (None, None, None)}
                if method == "approximate"
                else {"method": method}
            )
            xy, cold = timed(lambda: convviz.project(f, **kw))
            _, warm = timed(lambda: convviz.project(f, **kw))
            sub = np.random.default_rng(0).choice(len(f), min(2000, len(f)), replace=False)
            trust = convviz.trustworthiness(f[sub], xy[sub])
            print(f"{name:<18}{method:<7}{cold:>8.1f}{warm:>8.1f}{trust:>7.3f}", flush=True)
            rows.append(
                {
                    "data": name,
                    "method": labels[method],
                    "cold": cold,
                    "warm": warm,
                    "trust": trust,
                }
            )
    write_results(rows)
    return 0


def write_results(rows) -> None:
    import datetime as dt
    import json

    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from _harness import RESULTS, machine, versions

    res = {
        "benchmark": "latent",
        "date": dt.date.today().isoformat(),
        "machine": machine(),
        "versions": versions(("keras", "tensorflow", "umap-learn", "scikit-learn", "numpy")),
        "repeats": None,
        "config": {"trustworthiness": "k = 10 on a 2,000-point sample"},
        "rows": rows,
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "latent.json").write_text(json.dumps(res, indent=1) + "\n")
    print(f"wrote {RESULTS / 'latent.json'}")


if __name__ == "__main__":
    sys.exit(main())
