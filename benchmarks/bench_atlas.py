"""The activation atlas page of each embedded model, cold (issue 41; goal: at most 60 s on this
machine): a fresh process with an empty cache writes the page (model loading counted), then
the same process reads the atlas back from the cache for its numbers: the vectors sampled, the
cells drawn, their purity (the share of a cell's vectors from images of its dominant predicted
class, weighted by vectors) against chance (the most common class's share), and the seconds of
the sample, the UMAP layout and the icons.

    python benchmarks/bench_atlas.py     # writes benchmarks/results/atlas.json
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

MODELS = ("digits-cnn", "shapes-cnn", "shapes-xception")
HERE = Path(__file__).resolve().parent

_CHILD = """
import json, sys, time
from pathlib import Path
t = time.perf_counter()
from convviz import zoo
from convviz.site.atlas_page import model_atlas, purity, write_atlas_page
entry = zoo.entry(sys.argv[1])
write_atlas_page(entry, Path(sys.argv[2]), progress=False)
seconds = time.perf_counter() - t
import convviz
model = zoo.load(entry, progress=False)
test = zoo.dataset(entry, "test")
predicted = convviz.predict(model, test.x, cache=True).argmax(axis=1)
a = model_atlas(entry, model, test.x, predicted)
pure, chance = purity(a, predicted)
print(json.dumps({"model": sys.argv[1], "layer": a.layer, "vectors": len(a.xy), "cells": len(a.cells),
    "drawn": int(a.drawn.sum()), "purity": pure, "chance": chance, "vectors_s": a.seconds["vectors"],
    "layout_s": a.seconds["layout"], "icons_s": a.seconds["icons"], "seconds": seconds}))
"""


def main() -> int:
    sys.path.insert(0, str(HERE))
    import datetime as dt

    from _harness import RESULTS, machine, versions

    from convviz.site.atlas_page import ATLAS_EPOCHS, ATLAS_GRID, ATLAS_VECTORS, MIN_COUNT

    rows = []
    for name in MODELS:
        with tempfile.TemporaryDirectory() as tmp:
            env = dict(os.environ, CONVVIZ_CACHE_DIR=str(Path(tmp) / "cache"))
            out = subprocess.run(
                [sys.executable, "-c", _CHILD, name, str(Path(tmp) / "atlas")],
                env=env,
                capture_output=True,
                text=True,
                check=True,
            )
        rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
        print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
    res = {
        "benchmark": "atlas",
        "date": dt.date.today().isoformat(),
        "machine": machine(),
        "versions": versions(("keras", "tensorflow", "numpy", "umap-learn")),
        "config": {"max_vectors": ATLAS_VECTORS, "epochs": ATLAS_EPOCHS, "grid": ATLAS_GRID, "min_count": MIN_COUNT},
        "rows": rows,
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "atlas.json").write_text(json.dumps(res, indent=1) + "\n")
    print(f"wrote {RESULTS / 'atlas.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
