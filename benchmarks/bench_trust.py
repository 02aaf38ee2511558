"""The trust scorecard (issue 39): each metric batched against a plain per-image loop of the same
computation, ROAD's imputation against the number of images, and the whole scorecard of each
embedded model cold.

- **Metrics**: on shapes-cnn's first 32 test images with saliency maps, each metric called once on
  all images (convviz: batched explanations and predictions) and once per image in a loop (the
  same function on one image at a time): the ratio is the loop's time over the batched time, min
  of 3 repeats. Beside it, the model calls the metric makes, alone (the same images and
  batches, without the metric's own arithmetic), batched and in the loop: their ratio is the
  most batching can give. ROAD's cost is its imputation, one banded solve per image, level and
  order in both: batching saves only its predictions.
- **ROAD's imputation**: noisy linear imputation of 10 to 100 images at 9 levels, MoRF and LeRF
  (a banded Cholesky solve per image, level and order), seconds per image.
- **Scorecard**: every CAM and attribution method with every metric, as the attribution page
  computes it (200 test images; ROAD on 50), per embedded model in a fresh process, cold.

    python benchmarks/bench_trust.py
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

MODELS = ("digits-cnn", "shapes-cnn", "shapes-xception")
N = 32


def _best(fn, repeats: int = 3) -> float:
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def metrics() -> dict:
    import numpy as np

    import convviz
    from convviz import zoo
    from convviz.evaluate.complexity import complexity, sparseness
    from convviz.evaluate.explain import method_explainer
    from convviz.evaluate.faithfulness import confidence_change
    from convviz.evaluate.randomization import random_logit, smooth_mprt
    from convviz.evaluate.road import noisy_linear_impute, road_curves
    from convviz.evaluate.robustness import sensitivity

    e = zoo.entry("shapes-cnn")
    m = zoo.load(e, progress=False)
    x = zoo.dataset(e, "test").x[:100]
    cls = convviz.predict(m, x).argmax(1)
    ex = method_explainer("saliency")
    maps = ex(m, x, cls)
    xs, cs, ms = x[:N], cls[:N], maps[:N]
    cases = {
        "ROAD (9 levels, MoRF and LeRF)": lambda i: road_curves(m, xs[i], ms[i], class_index=cs[i]),
        "Average Drop / Increase": lambda i: confidence_change(m, xs[i], ms[i], class_index=cs[i]),
        "RandomLogit": lambda i: random_logit(m, xs[i], ex, classes=cs[i], num_classes=6),
        "Smooth MPRT (4 depths, 2 samples)": lambda i: smooth_mprt(m, xs[i], ex, classes=cs[i], samples=2),
        "Max/Avg-Sensitivity (4 samples)": lambda i: sensitivity(m, xs[i], ex, classes=cs[i], samples=4),
        "Sparseness and Complexity": lambda i: (sparseness(ms[i]), complexity(ms[i])),
    }

    def predictions(per_image: int):
        return lambda i: convviz.predict(m, np.repeat(xs[i], per_image, axis=0))

    def explanations(*per_image: int):
        return lambda i: [ex(m, np.repeat(xs[i], k, axis=0), np.repeat(cs[i], k)) for k in per_image]

    # the model calls each metric makes, alone (same images, same batches): what batching can
    # save at most, were the metric's own arithmetic free
    calls = {
        "ROAD (9 levels, MoRF and LeRF)": predictions(18),
        "Average Drop / Increase": predictions(2),
        "RandomLogit": explanations(1, 1),
        "Smooth MPRT (4 depths, 2 samples)": explanations(2, 2, 2, 2, 2),
        "Max/Avg-Sensitivity (4 samples)": explanations(1, 4),
    }
    rows = []
    for name, run in cases.items():
        run(slice(0, 2))  # compile
        batched = _best(lambda: run(slice(0, N)))
        loop = _best(lambda: [run(slice(i, i + 1)) for i in range(N)], repeats=1 if "MPRT" in name else 3)
        row = {"metric": name, "batched": batched, "loop": loop, "ratio": loop / batched}
        if name in calls:
            alone = calls[name]
            row["calls_batched"] = _best(lambda: alone(slice(0, N)))
            row["calls_loop"] = _best(lambda: [alone(slice(i, i + 1)) for i in range(N)])
            row["calls_ratio"] = row["calls_loop"] / row["calls_batched"]
        rows.append(row)
        print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
    imputation = []
    rng = np.random.default_rng(0)
    for n in (10, 25, 50, 100):
        order = np.argsort(np.argsort(-rng.random((n, 64 * 64)), axis=1), axis=1).reshape(n, 64, 64)
        imgs = x[:n] if n <= len(x) else np.concatenate([x] * 2)[:n]

        def impute_all(order=order, imgs=imgs) -> None:
            for p in range(1, 10):
                count = int(round(p / 10 * 64 * 64))
                noisy_linear_impute(imgs, order < count)
                noisy_linear_impute(imgs, order >= 64 * 64 - count)

        seconds = _best(impute_all, repeats=1)
        imputation.append({"images": n, "seconds": seconds, "per_image": seconds / n})
        print(json.dumps(imputation[-1]), file=sys.stderr, flush=True)
    return {"rows": rows, "imputation": imputation, "images": N}


def card(model: str) -> dict:
    from convviz import zoo
    from convviz.zoo.evidence import scorecard_inputs
    from convviz.evaluate.scorecard import scorecard

    e = zoo.entry(model)
    m = zoo.load(e, progress=False)
    inputs = scorecard_inputs(e, m, zoo.dataset(e, "test"))
    x = inputs.pop("images")
    t = time.perf_counter()
    sc = scorecard(m, x, **inputs)
    return {"model": model, "seconds": time.perf_counter() - t, "images": sc.images, "methods": len(sc.methods)}


def main() -> int:
    if len(sys.argv) == 3 and sys.argv[1] == "--child":
        print(json.dumps(metrics() if sys.argv[2] == "metrics" else card(sys.argv[2])))
        return 0
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import datetime as dt

    from _harness import RESULTS, machine, versions

    out = {}
    for what in ("metrics", *MODELS):
        proc = subprocess.run([sys.executable, __file__, "--child", what], capture_output=True, text=True, check=False)
        if proc.returncode:
            print(proc.stderr[-3000:])
            return proc.returncode
        out[what] = json.loads(proc.stdout.strip().splitlines()[-1])
        print(f"{what}: done", flush=True)
    res = {
        "benchmark": "trust",
        "date": dt.date.today().isoformat(),
        "machine": machine(),
        "versions": versions(("keras", "tensorflow", "scipy", "numpy")),
        "repeats": 3,
        "config": {"metric_images": N, "method": "saliency", "model": "shapes-cnn"},
        "metrics": out["metrics"]["rows"],
        "imputation": out["metrics"]["imputation"],
        "scorecards": [out[m] for m in MODELS],
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "trust.json").write_text(json.dumps(res, indent=1) + "\n")
    print(f"wrote {RESULTS / 'trust.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
