"""ImageNet-sized models: every page of an untrained twin (``weights: null``) on the photos,
cold cache, one process per model, under the budget its measured pass cost chooses
(:mod:`convviz.zoo.budget`), against the issue's limits (Xception at 299 pixels: 10 minutes;
MobileNetV2 and ResNet50V2 at 224: 5 minutes).

Quality: the filters page's budgeted patterns (fewer filters, a smaller image) against the
unbudgeted recipe (the book's, on the input's size) on the filters both compute: the share
of the unbudgeted objective the budgeted patterns reach.

    python benchmarks/bench_large.py                      # the three twins
    python benchmarks/bench_large.py --models Xception:299 --no-quality
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

LIMITS = {"Xception": 600, "MobileNetV2": 300, "ResNet50V2": 300}
PAGES = "activations,filters,cam,attributions,latent,units,classes,concepts"


def zoo_file(folder: Path, app: str, size: int) -> tuple[Path, str]:
    name = f"{app.lower()}-twin"
    text = (
        "models:\n"
        f"  - name: {name}\n"
        f"    title: {app} twin (untrained)\n"
        "    source: keras.applications\n"
        f"    application: {app}\n"
        "    weights: null\n"
        f"    input_shape: [{size}, {size}, 3]\n"
        "    dataset: photos\n"
    )
    path = folder / "zoo.yml"
    path.write_text(text)
    return path, name


def render(app: str, size: int, folder: Path) -> dict:
    """`convviz render` of every page in a fresh process with an empty cache."""
    zoo, name = zoo_file(folder, app, size)
    env = {**os.environ, "CONVVIZ_ZOO": str(zoo), "CONVVIZ_CACHE_DIR": str(folder / "cache")}
    cmd = [sys.executable, "-m", "convviz.cli", "render", name, "--what", PAGES, "--out", str(folder / "out")]
    start = time.perf_counter()
    done = subprocess.run(cmd, env=env, cwd=folder, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if done.returncode:
        raise SystemExit(f"render of {name} failed:\n{done.stderr[-3000:]}")
    manifest = json.loads((folder / "out" / name / "manifest.json").read_text())
    pages = {p: v["seconds"] for p, v in manifest["pages"].items()}
    budget = next((v["budget"] for v in manifest["pages"].values() if "budget" in v), {})
    return {"model": app, "size": size, "seconds": seconds, "pages": pages, "budget": budget, "env": env}


QUALITY = r"""
import json, sys
import numpy as np
from convviz import zoo
from convviz.store.cached import visualize_filters
from convviz.graph.choice import representative_layers
entry = zoo.entry(sys.argv[1])
model = zoo.load(entry, progress=False)
test = zoo.dataset(entry, "test")
budget = zoo.page_budget(entry, model, images=len(test.x))
data = test.x[:512]
size = max(64, entry.input_shape[0])
rows = []
for layer in representative_layers(model):
    kept = visualize_filters(model, layer, budget.filters, image_size=budget.filter_size,
                             crop=budget.filter_size // 16, data=data, cache=True)
    full = visualize_filters(model, layer, kept.filters, image_size=size, crop=size // 16, data=data)
    both = ~(kept.dead | kept.unexcited | full.dead | full.unexcited)
    rows.append({"layer": layer, "filters": int(both.sum()),
                 "budgeted": float(kept.losses[both].mean()) if both.any() else None,
                 "unbudgeted": float(full.losses[both].mean()) if both.any() else None,
                 "unbudgeted_seconds": full.seconds, "budgeted_seconds": kept.seconds})
print(json.dumps(rows))
"""


def quality(run: dict) -> list[dict]:
    """The budgeted filter patterns (read from the render's cache) against the unbudgeted
    recipe on the same filters, per layer of the filters page."""
    name = f"{run['model'].lower()}-twin"
    cmd = [sys.executable, "-c", QUALITY, name]
    done = subprocess.run(cmd, env=run["env"], capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"quality check of {name} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", default="Xception:299,MobileNetV2:224,ResNet50V2:224")
    parser.add_argument("--no-quality", action="store_true", help="skip the unbudgeted filter comparison")
    a = parser.parse_args(argv)
    rows = []
    for spec in a.models.split(","):
        app, size = spec.split(":")
        with tempfile.TemporaryDirectory() as tmp:
            run = render(app, int(size), Path(tmp))
            if not a.no_quality:
                run["quality"] = quality(run)
            run.pop("env")
        limit = LIMITS.get(app)
        print(
            f"{app} @ {size}: {run['seconds']:.0f} s for every page"
            + (f" (limit {limit} s: {'within' if run['seconds'] <= limit else 'OVER'})" if limit else "")
            + "; "
            + ", ".join(f"{p} {s:.0f} s" for p, s in run["pages"].items()),
            flush=True,
        )
        for q in run.get("quality", []):
            if q["budgeted"] is not None:
                share = q["budgeted"] / q["unbudgeted"] if q["unbudgeted"] else float("nan")
                print(
                    f"   {q['layer']}: budgeted {q['budgeted']:.4g} vs unbudgeted {q['unbudgeted']:.4g} ({share:.0%})"
                )
        rows.append({**run, "limit": limit})
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from _harness import save

    from convviz.zoo.budget import TARGET_SECONDS

    config = {"pages": PAGES, "target_seconds": TARGET_SECONDS, "cache": "cold", "weights": "null (untrained twins)"}
    save("large", repeats=1, config=config, libs=("keras", "tensorflow", "numpy"), rows=rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
