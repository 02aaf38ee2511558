"""Dataset examples: the cost of ranking every unit of a layer on the test split, against one
forward pass over the same split to that layer (the floor: the examples need that pass).

Each zoo model's unit layers, on its full test split; min of 5 repeats after a warm-up, in
one process (both sides share the compiled forward function's warm state). Then how the
unit pages' cost grows: dataset examples against the number of images, and the feature
visualizations of one layer (the unit pages' robust setting) against the number of units.

    python benchmarks/bench_units.py
"""

from __future__ import annotations

import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import convviz  # noqa: E402
from convviz import zoo  # noqa: E402
from convviz.site.unit_data import unit_layers
from convviz.zoo import shapes as shapes_module

REPEATS = 5


def best(fn) -> float:
    fn()  # warm-up: tracing and compilation
    times = []
    for _ in range(REPEATS):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def main() -> int:
    rows = []
    print(f"{'model':<18}{'layer':<22}{'units':>6}{'images':>8}{'forward s':>11}{'examples s':>12}{'ratio':>7}")
    for name in ("digits-cnn", "shapes-cnn", "shapes-xception"):
        e = zoo.entry(name)
        m = zoo.load(e)
        x = zoo.dataset(e, "test").x
        for layer in unit_layers(m):
            units = int(convviz.graph.layers.resolve_layer(m, layer).output_shape[-1])
            fwd = best(lambda: convviz.extract_activations(m, x, layers=[layer]))
            ex = best(lambda: convviz.dataset_examples(m, layer, x, k=9))
            print(f"{name:<18}{layer:<22}{units:>6}{len(x):>8}{fwd:>11.3f}{ex:>12.3f}{ex / fwd:>7.2f}", flush=True)
            rows.append(
                {
                    "model": name,
                    "layer": layer,
                    "units": units,
                    "images": len(x),
                    "forward": fwd,
                    "examples": ex,
                    "ratio": ex / fwd,
                }
            )
    growth = []
    e = zoo.entry("shapes-cnn")
    m = zoo.load(e)

    more = shapes_module.generate_shapes(2400, seed=7).x
    for n in (300, 600, 1200, 2400):
        sec = best(lambda: convviz.dataset_examples(m, "block3_relu2", more[:n], k=9))
        print(f"dataset examples, shapes-cnn block3_relu2, {n} images: {sec:.3f} s", flush=True)
        growth.append({"what": "dataset examples (shapes-cnn block3_relu2)", "n": n, "per": "images", "seconds": sec})
    from convviz.site.unit_data import ROBUST_SIZE, ROBUST_STEPS

    e = zoo.entry("shapes-xception")
    m = zoo.load(e)
    for n in (16, 32, 64, 128):
        t = time.perf_counter()
        convviz.visualize_filters(
            m,
            "block5_sepconv1_act",
            n,
            image_size=ROBUST_SIZE,
            crop=ROBUST_SIZE // 16,
            recipe="robust",
            steps=ROBUST_STEPS,
        )
        sec = time.perf_counter() - t
        print(f"feature visualizations, shapes-xception block5_sepconv1_act, {n} units: {sec:.1f} s", flush=True)
        growth.append(
            {
                "what": "feature visualizations (shapes-xception block5_sepconv1_act, robust)",
                "n": n,
                "per": "units",
                "seconds": sec,
            }
        )
    write_results(rows, growth)
    return 0


def write_results(rows, growth) -> None:
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from _harness import save

    config = {"k": 9, "crop": True, "reference": "extract_activations(layers=[layer]) over the same images"}
    save("units", repeats=REPEATS, config=config, libs=("keras", "tensorflow", "numpy"), rows=rows, growth=growth)


if __name__ == "__main__":
    sys.exit(main())
