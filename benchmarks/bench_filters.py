"""Filter patterns: convviz's batched recipes against the chapter's one-filter-at-a-time loop.

Measured in one run, on the same machine, each timed on its first call (tracing
included): the chapter's loop (one image, one trace per filter, whole-image L2
normalized gradient), ``recipe="book"`` and ``recipe="fast"``. The mean objective of
each is recomputed here in float32 on the returned raw images. Peak memory is the
process's peak RSS growth during each run.

    python benchmarks/bench_filters.py [--filters 64] [--steps 30] [--size 200]
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402

from convviz import _backend  # noqa: E402
from convviz.filters import book_objective_reference, visualize_filters  # noqa: E402
from convviz.layers import layer_output  # noqa: E402

ops = keras.ops


def chapter_loop(model, layer, filters, *, steps, lr, size, seed=0):
    """The chapter's recipe: one filter at a time, a new compiled step per filter."""
    body = layer_output(model, layer)
    rng = np.random.default_rng(seed)
    out = []
    for f in filters:
        def loss(img, f=int(f)):
            return ops.mean(body(img)[:, 2:-2, 2:-2, f])

        def step(img, loss=loss):
            _, grad = _backend.value_and_grad(loss, img)
            grad = grad / ops.sqrt(ops.maximum(ops.sum(grad * grad), 1e-12))
            return img + lr * grad

        step = _backend.jit(step)  # the chapter's @tf.function, retraced per filter
        img = ops.convert_to_tensor(rng.uniform(0.4, 0.6, (1, size, size, 3)).astype(np.float32))
        for _ in range(steps):
            img = step(img)
        out.append(_backend.to_numpy(img)[0])
    return np.stack(out)


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--filters", type=int, default=64)
    p.add_argument("--steps", type=int, default=30)
    p.add_argument("--size", type=int, default=200)
    p.add_argument("--layer", default="block3_sepconv1")
    p.add_argument("--memory-budget-gb", type=float, default=0.75)
    a = p.parse_args(argv)
    model = keras.applications.Xception(weights=None)
    filters = np.arange(a.filters)
    from convviz.filters import _batch_size

    bs = _batch_size(model, a.layer, (a.size, a.size), a.filters, None, a.memory_budget_gb)
    print(f"memory budget {a.memory_budget_gb} GiB -> batch size {bs}", flush=True)
    print(f"backend={keras.backend.backend()} Xception(weights=None) layer={a.layer} "
          f"{a.filters} filters x {a.steps} steps at {a.size}x{a.size}", flush=True)
    rows = []
    rss0 = peak_rss_mb()
    t = time.perf_counter()
    raw = chapter_loop(model, a.layer, filters, steps=a.steps, lr=10.0, size=a.size)
    ref_time = time.perf_counter() - t
    ref_obj = float(book_objective_reference(model, a.layer, raw, filters).mean())
    rows.append(("chapter loop", ref_time, ref_obj, peak_rss_mb() - rss0))
    for recipe in ("book", "fast"):
        rss0 = peak_rss_mb()
        t = time.perf_counter()
        res = visualize_filters(model, a.layer, a.filters, steps=a.steps, image_size=a.size,
                                recipe=recipe, memory_budget_gb=a.memory_budget_gb)
        el = time.perf_counter() - t
        obj = float(book_objective_reference(model, a.layer, res.raw, res.filters).mean())
        rows.append((f"convviz {recipe}", el, obj, peak_rss_mb() - rss0))
    print(f"{'method':<16}{'seconds':>9}{'speed-up':>10}{'mean objective':>16}{'vs loop':>9}{'peak RSS +MB':>14}")
    for name, sec, obj, mem in rows:
        print(f"{name:<16}{sec:>9.1f}{ref_time / sec:>9.2f}x{obj:>16.5f}{obj / ref_obj:>8.1%}{mem:>14.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
