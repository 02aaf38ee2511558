"""Diverse visualizations of a unit (issue 41): lucid's diversity term, its weight and its cost.

- **Weight**: the first 16 units of each embedded model's deepest unit layer, 4 images each
  (the unit pages' recipe: 56 Adam steps on a 48-pixel image), at several weights of the
  diversity term (per unit of each unit's mean activation on the test images): the images'
  style similarity (the mean Gram cosine between every two of a unit's images: 1, alike) and
  the share of images that excite their unit more than its 9th best test image (the objective:
  its mean activation, the chapter's border dropped). The default weight is the largest that
  keeps nine in ten images above it.
- **Cost**: each model's unit pages built cold (a fresh process and an empty cache; model
  loading counted) with and without the facets of the deepest layer.

    python benchmarks/bench_diversity.py     # writes benchmarks/results/diversity.json
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

MODELS = ("shapes-cnn", "shapes-xception")
WEIGHTS = (0.0, 1.0, 2.0, 3.0, 10.0)
UNITS = 16
HERE = Path(__file__).resolve().parent


def sweep() -> list[dict]:
    import numpy as np

    import convviz
    from bench_maco import _ninth_best
    from convviz import zoo
    from convviz.site.unit_data import N_DIVERSE, ROBUST_SIZE, ROBUST_STEPS, unit_layers

    rows = []
    for name in MODELS:
        model = zoo.load(zoo.entry(name), progress=False)
        x = zoo.dataset(zoo.entry(name), "test").x
        deep = unit_layers(model)[-1]
        filters = np.arange(UNITS)
        ninth = _ninth_best(model, deep, filters, x)
        size = min(ROBUST_SIZE, int(x.shape[1]))
        for weight in WEIGHTS:
            start = time.perf_counter()
            r = convviz.visualize_diverse(
                model,
                deep,
                filters,
                n_diverse=N_DIVERSE,
                weight=weight,
                steps=ROBUST_STEPS,
                image_size=size,
                data=x[:512],
            )
            rows.append(
                {
                    "model": name,
                    "layer": deep,
                    "weight": weight,
                    "similarity": float(r.similarity.mean()),
                    "beats_9th": float((r.losses > ninth[:, None]).mean()),
                    "seconds": time.perf_counter() - start,
                }
            )
            print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
    return rows


_PAGES = """
import sys, time
from pathlib import Path
from convviz import zoo
import convviz.site.unit_data as ud
ud.facet_units.__kwdefaults__["count"] = int(sys.argv[2])
from convviz.site.unit_pages import write_unit_pages
t = time.perf_counter()
write_unit_pages(zoo.entry(sys.argv[1]), Path(sys.argv[3]), progress=False)
print(time.perf_counter() - t)
"""


def pages() -> list[dict]:
    from convviz.site.unit_data import DIVERSE_UNITS

    rows = []
    for name in MODELS:
        row = {"model": name, "units": DIVERSE_UNITS}
        for key, count in (("without", 0), ("with", DIVERSE_UNITS)):
            with tempfile.TemporaryDirectory() as tmp:
                env = dict(os.environ, CONVVIZ_CACHE_DIR=str(Path(tmp) / "cache"))
                out = subprocess.run(
                    [sys.executable, "-c", _PAGES, name, str(count), str(Path(tmp) / "units")],
                    env=env,
                    capture_output=True,
                    text=True,
                    check=True,
                )
                row[key] = float(out.stdout.strip().splitlines()[-1])
        rows.append(row)
        print(json.dumps(row), file=sys.stderr, flush=True)
    return rows


def main() -> int:
    sys.path.insert(0, str(HERE))
    import datetime as dt

    from _harness import RESULTS, machine, versions

    from convviz.optvis.diversity import DIVERSITY_WEIGHT
    from convviz.site.unit_data import N_DIVERSE, ROBUST_STEPS

    res = {
        "benchmark": "diversity",
        "date": dt.date.today().isoformat(),
        "machine": machine(),
        "versions": versions(("keras", "tensorflow", "numpy")),
        "config": {"units": UNITS, "n_diverse": N_DIVERSE, "steps": ROBUST_STEPS, "default_weight": DIVERSITY_WEIGHT},
        "rows": sweep(),
        "pages": pages(),
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "diversity.json").write_text(json.dumps(res, indent=1) + "\n")
    print(f"wrote {RESULTS / 'diversity.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
