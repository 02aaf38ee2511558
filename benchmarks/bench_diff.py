"""Model diffs: `convviz diff` of two shapes-cnn versions trained with different seeds, a pull
request's `--changed-since`, the seed band's cost, and streamed CKA against the one-shot recipe.

1. The command on the whole test split (1,200 images), each run in a fresh process: cold
   (``--no-cache``: every forward pass, Grad-CAM, feature and filter pattern computed),
   then with the cache filled by a first run. The two models are trained (and cached)
   before the timing; their training is not part of it.
2. A pull request in a test repository (a copy of convviz and the shapes-cnn entry with its
   shipped weights) that replaces shapes-cnn's shipped weights: `convviz diff --changed-since
   HEAD~1` in a fresh process with an empty cache: the change found, the old side loaded by
   the base commit's own convviz from its shipped weights (no training), the diff written.
3. The seed band of digits-cnn (2 other seeds): training one seed variant from source, and the
   band itself (two diffs with the entry) from the shipped variants, in one process.
4. Linear CKA of one layer between the two versions: the one-shot recipe (every image's
   activations in memory, then :func:`convviz.cka`) against :class:`convviz.represent.similarity.CKAStream`
   fed a batch at a time, for growing numbers of images: time, peak traced memory, and the
   difference of the two values.

    python benchmarks/bench_diff.py
"""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


from convviz import zoo  # noqa: E402
from convviz.represent.similarity import CKAStream, cka, pooled_features
from convviz.review.revisions import reference_entry  # noqa: E402
from convviz.zoo import shapes as shapes_module

REPEATS = 3
LAYER = "block2_relu1"


def _zoo_file(folder: Path) -> Path:
    """A zoo with shapes-cnn and the same entry trained with seed 1."""
    import yaml

    doc = yaml.safe_load(zoo.path().read_text())
    entry = next(e for e in doc["models"] if e["name"] == "shapes-cnn")
    doc["models"] = [entry, {**entry, "name": "shapes-cnn-seed1", "seed": 1}]
    path = folder / "zoo.yml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def _run(zoo_file: Path, out: Path, *extra: str) -> float:
    cmd = [sys.executable, "-m", "convviz.cli", "--zoo", str(zoo_file), "diff", "shapes-cnn", "shapes-cnn-seed1"]
    start = time.perf_counter()
    subprocess.run([*cmd, "--out", str(out), *extra], check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def _cka_rows(old, new) -> list[dict]:
    import convviz

    more = shapes_module.generate_shapes(4800, seed=11).x
    for model in (old, new):  # warm-up: tracing is not part of either recipe
        convviz.extract_activations(model, more[:200], layers=[LAYER])
    rows = []
    for n in (600, 1200, 2400, 4800):
        x = more[:n]
        tracemalloc.start()
        t = time.perf_counter()
        a = pooled_features(convviz.extract_activations(old, x, layers=[LAYER])[LAYER])
        b = pooled_features(convviz.extract_activations(new, x, layers=[LAYER])[LAYER])
        one = cka(a, b)
        t_one = time.perf_counter() - t
        peak_one = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        del a, b
        tracemalloc.start()
        t = time.perf_counter()
        s = CKAStream()
        for i in range(0, n, 200):
            xb = x[i : i + 200]
            s.update(
                pooled_features(convviz.extract_activations(old, xb, layers=[LAYER])[LAYER]),
                pooled_features(convviz.extract_activations(new, xb, layers=[LAYER])[LAYER]),
            )
        streamed = s.value()
        t_stream = time.perf_counter() - t
        peak_stream = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        row = {
            "images": n,
            "one_shot_s": t_one,
            "streamed_s": t_stream,
            "one_shot_mb": peak_one / 2**20,
            "streamed_mb": peak_stream / 2**20,
            "cka": one,
            "difference": abs(one - streamed),
        }
        print(
            f"CKA {LAYER}, {n} images: one-shot {t_one:.2f} s {row['one_shot_mb']:.0f} MB, "
            f"streamed {t_stream:.2f} s {row['streamed_mb']:.0f} MB "
            f"({t_stream / t_one:.2f}× the time, {row['streamed_mb'] / row['one_shot_mb']:.2f}× the memory), "
            f"CKA {one:.4f}, |difference| {row['difference']:.1e}",
            flush=True,
        )
        rows.append(row)
    return rows


def _git(repo: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "user.name=b", "-c", "user.email=b@b", *args], cwd=repo, check=True, capture_output=True
    )


def _pull_request_rows() -> list[float]:
    """`--changed-since` on a repository whose pull request replaces shapes-cnn's shipped weights."""
    import json
    import shutil

    import keras
    import yaml

    from convviz.zoo import shipped

    root = Path(__file__).resolve().parents[1]
    times = []
    with tempfile.TemporaryDirectory() as tmp:
        repo = Path(tmp) / "repo"
        shutil.copytree(root / "convviz", repo / "convviz", ignore=shutil.ignore_patterns("__pycache__"))
        doc = yaml.safe_load(zoo.path().read_text())
        doc["models"] = [e for e in doc["models"] if e["name"] == "shapes-cnn"]
        (repo / "gallery" / "weights").mkdir(parents=True)
        (repo / "gallery" / "zoo.yml").write_text(yaml.safe_dump(doc, sort_keys=False))
        for suffix in (".keras", ".json"):
            shutil.copy(root / "gallery" / "weights" / f"shapes-cnn{suffix}", repo / "gallery" / "weights")
        _git(repo, "init", "-q")
        _git(repo, "add", ".")
        _git(repo, "commit", "-q", "-m", "base")
        weights = repo / "gallery" / "weights" / "shapes-cnn.keras"
        record = json.loads(weights.with_suffix(".json").read_text())
        model = keras.saving.load_model(weights, compile=False)
        last = model.layers[-1]
        last.set_weights([w * 0.9 for w in last.get_weights()])
        model.save(Path(tmp) / "other.keras")
        shipped.write(
            weights, (Path(tmp) / "other.keras").read_bytes(), {k: v for k, v in record.items() if k != "sha256"}
        )
        _git(repo, "commit", "-q", "-am", "other weights")
        for i in range(REPEATS):
            env = {**os.environ, "CONVVIZ_CACHE_DIR": str(Path(tmp) / f"cache{i}")}
            cmd = [sys.executable, "-m", "convviz.cli", "--zoo", "gallery/zoo.yml", "diff", "--changed-since", "HEAD~1"]
            start = time.perf_counter()
            done = subprocess.run(
                [*cmd, "--out", str(Path(tmp) / f"out{i}")], cwd=repo, env=env, capture_output=True, text=True
            )
            times.append(time.perf_counter() - start)
            if done.returncode or "shapes-cnn: changed since HEAD~1: shipped weights" not in done.stdout:
                raise SystemExit(done.stdout[-2000:] + done.stderr[-2000:])
        print(
            f"--changed-since, one entry, old side from the base's shipped weights: min {min(times):.1f} s", flush=True
        )
    return times


def _seed_band_rows() -> dict:
    from convviz.review.seedband import seed_band, seed_variants

    entry = zoo.entry("digits-cnn")
    variants = seed_variants(entry)
    trained = zoo.retrain_check(variants[0], progress=False)
    start = time.perf_counter()
    band = seed_band(entry, cache=False, progress=False)
    seconds = time.perf_counter() - start
    assert band is not None
    print(
        f"seed band of {entry.name}: training one seed variant {trained.seconds:.1f} s; "
        f"the band ({len(band.seeds)} diffs) {seconds:.1f} s",
        flush=True,
    )
    return {
        "model": entry.name,
        "seeds": len(band.seeds),
        "train_one_s": trained.seconds,
        "band_s": seconds,
        "low": band.low(),
        "cam": band.cam,
    }


def main() -> int:
    base = zoo.entry("shapes-cnn")
    _, seed1 = reference_entry(dataclasses.replace(base, compare_to={"seed": 1}))
    old, new = zoo.load(base), zoo.load(seed1)  # trained (or read) before any timing
    with tempfile.TemporaryDirectory() as tmp:
        zoo_file = _zoo_file(Path(tmp))
        cold = [_run(zoo_file, Path(tmp) / f"cold{i}", "--no-cache") for i in range(REPEATS)]
        print(
            f"convviz diff, cold (--no-cache): min {min(cold):.1f} s of {REPEATS} ({min(cold) / 60:.2f}× the 60 s goal)",
            flush=True,
        )
        _run(zoo_file, Path(tmp) / "fill")
        cached = [_run(zoo_file, Path(tmp) / f"cached{i}") for i in range(REPEATS)]
        print(f"convviz diff, cached: min {min(cached):.1f} s of {REPEATS}", flush=True)
        summary = (Path(tmp) / "fill" / "diff.json").read_text()
    import json

    numbers = json.loads(summary)
    pr = _pull_request_rows()
    rows = [
        {"what": "cold", "seconds": min(cold), "all": cold},
        {"what": "cached", "seconds": min(cached), "all": cached},
        {"what": "changed_since", "seconds": min(pr), "all": pr},
    ]
    write_results(rows, _cka_rows(old, new), numbers, _seed_band_rows())
    return 0


def write_results(rows, cka_rows, numbers, band) -> None:
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from _harness import save

    config = {
        "old": "shapes-cnn",
        "new": "shapes-cnn with seed: 1",
        "images": numbers["images"],
        "cka_layer": LAYER,
        "reference": "one-shot CKA with every image's activations in memory",
    }
    found = {
        "accuracy": numbers["accuracy"],
        "flips": len(numbers["flips"]),
        "layers": numbers["layers"],
        "cam_median": numbers["cam"]["correlation_median"],
        "disparity": numbers["latent"]["disparity"],
    }
    save(
        "diff",
        repeats=REPEATS,
        config=config,
        libs=("keras", "tensorflow", "numpy"),
        rows=rows,
        cka=cka_rows,
        numbers=found,
        seed_band=band,
    )


if __name__ == "__main__":
    sys.exit(main())
