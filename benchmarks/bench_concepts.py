"""Concepts (issue 40): the cost of every class's concepts of each embedded model, cold, and
whether they hold on each class, as the concepts page computes them.

Each model runs in a fresh process without the cache (cold: loading the model is not
counted; compiling the head and the layer's forward pass is). Per class: the number of
concepts, R² of the crops' reconstruction, the share of the class score the rebuilt
activations keep, the removal test (removing the 3 most important concepts lowers the class
score more than removing 3 random ones: on what share of the images) and, on the shapes,
the share of the most important concept's map on the object against the object's area.
Then how the cost grows with the crops per side and the number of concepts (shapes-cnn, one
class, 64 images).

    python benchmarks/bench_concepts.py
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

MODELS = ("digits-cnn", "shapes-cnn", "shapes-xception")
GROWTH = [(crops, k) for crops in (2, 3, 4) for k in (3, 6, 10)]


def child(model: str) -> dict:
    import numpy as np

    import convviz
    from convviz import zoo
    from convviz.evaluate.concepts import mask_mass, removal_test
    from convviz.represent.concepts import concept_maps, concepts
    from convviz.site.concept_pages import FIT_IMAGES, RANK_IMAGES, class_images

    e = zoo.entry(model)
    m = zoo.load(e, progress=False)
    test = zoo.dataset(e, "test")
    pred = convviz.predict(m, test.x).argmax(1)
    ok = test.correct(pred)
    rows = []
    start = time.perf_counter()
    for c in range(len(test.class_names)):
        idx = class_images(test.y, pred, ok, c)[:FIT_IMAGES]
        t = time.perf_counter()
        r = concepts(m, test.x[idx], class_index=c, rank_images=RANK_IMAGES)
        ranked = idx[r.ranked]
        top, rand = removal_test(m, r, test.x[ranked])
        row = {
            "class": test.class_names[c],
            "images": len(idx),
            "k": r.k,
            "r2": r.r2,
            "kept": r.logit_kept,
            "removal": float((top > rand).mean()),
            "same_first": bool(np.argmax(r.ablation) == 0),
        }
        if test.masks is not None:
            maps = concept_maps(m, r, test.x[ranked])
            mass = mask_mass(maps[..., 0], test.masks[ranked])
            area = test.masks[ranked].mean(axis=(1, 2))
            row |= {
                "mass": float(np.nanmean(mass)),
                "area": float(area.mean()),
                "on_object": float(np.mean(mass > area)),
            }
        row["seconds"] = time.perf_counter() - t
        rows.append(row)
        print(json.dumps(row), file=sys.stderr, flush=True)
    out = {"model": model, "layer": r.layer, "seconds": time.perf_counter() - start, "classes": rows}
    if model == "shapes-cnn":
        idx = class_images(test.y, pred, ok, 0)[:FIT_IMAGES]
        growth = []
        for crops, k in GROWTH:
            t = time.perf_counter()
            concepts(m, test.x[idx], class_index=0, crops=crops, k=k, rank_images=RANK_IMAGES)
            growth.append({"crops": crops, "k": k, "seconds": time.perf_counter() - t})
            print(json.dumps(growth[-1]), file=sys.stderr, flush=True)
        out["growth"] = growth
    return out


def main() -> int:
    if len(sys.argv) == 3 and sys.argv[1] == "--child":
        print(json.dumps(child(sys.argv[2])))
        return 0
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import datetime as dt

    from _harness import RESULTS, machine, versions

    models = []
    for model in MODELS:
        proc = subprocess.run([sys.executable, __file__, "--child", model], capture_output=True, text=True, check=False)
        if proc.returncode:
            print(proc.stderr[-3000:])
            return proc.returncode
        models.append(json.loads(proc.stdout.strip().splitlines()[-1]))
        m = models[-1]
        print(f"{model}: {len(m['classes'])} classes at {m['layer']} in {m['seconds']:.1f} s", flush=True)
    res = {
        "benchmark": "concepts",
        "date": dt.date.today().isoformat(),
        "machine": machine(),
        "versions": versions(("keras", "tensorflow", "scikit-learn", "scipy", "numpy")),
        "repeats": 1,
        "config": {
            "crops": "3 per side (9 per image, each half the image's side)",
            "images": "each class's right predictions on the test split, at most 64; 32 ranked",
            "sobol": "32-row designs, Jansen's total-order estimator",
            "removal": "3 most important vs 3 random (mean of 8 draws), k - 1 when k <= 3",
        },
        "models": models,
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "concepts.json").write_text(json.dumps(res, indent=1) + "\n")
    print(f"wrote {RESULTS / 'concepts.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
