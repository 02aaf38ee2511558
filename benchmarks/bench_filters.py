"""Filter patterns: convviz's batched recipes against the chapter's one-filter-at-a-time loop.

Each method runs in its own fresh process (order alternated over repeats; min and median
reported; peak RSS per process), timed on its first call, tracing included:

* ``chapter``: the chapter's code, on TensorFlow: ``keras.Model(model.inputs,
  layer.output)`` as the feature extractor, a ``tf.function`` gradient-ascent step with a
  ``GradientTape``, one filter at a time (retraced per filter), 30 steps, learning rate 10,
  the gradient L2-normalized over the whole image;
* ``book`` and ``fast``: ``convviz.visualize_filters`` with those recipes;
* ``setup``: the process with the model built and nothing run (the RSS baseline).

The mean objective of each method is recomputed in float32 on the images it returns.

    python benchmarks/bench_filters.py [--filters 64] [--steps 30] [--size 200] [--repeats 3]
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, str(Path(__file__).resolve().parent))

METHODS = ("chapter", "book", "fast", "setup")


def chapter_loop(model, layer_name, filters, *, steps, lr, size, seed=0):
    """The chapter's recipe, as written there (TensorFlow)."""
    import keras
    import numpy as np
    import tensorflow as tf

    layer = model.get_layer(name=layer_name)
    feature_extractor = keras.Model(inputs=model.inputs, outputs=layer.output)

    def compute_loss(image, filter_index):
        activation = feature_extractor(image)
        return tf.reduce_mean(activation[:, 2:-2, 2:-2, filter_index])

    @tf.function
    def gradient_ascent_step(image, filter_index, learning_rate):
        with tf.GradientTape() as tape:
            tape.watch(image)
            loss = compute_loss(image, filter_index)
        grads = tape.gradient(loss, image)
        grads = tf.math.l2_normalize(grads)
        return image + learning_rate * grads

    rng = np.random.default_rng(seed)
    out = []
    for f in filters:
        image = tf.constant(rng.uniform(0.4, 0.6, (1, size, size, 3)).astype(np.float32))
        for _ in range(steps):
            image = gradient_ascent_step(image, int(f), lr)
        out.append(image[0].numpy())
    return np.stack(out)


def child(a) -> None:
    import keras
    import numpy as np

    from _harness import child_report
    from convviz.optvis.filters import book_objective_reference, visualize_filters

    keras.utils.set_random_seed(0)  # the same weights in every process: objectives and classes compare
    model = keras.applications.Xception(weights=None, include_top=False)  # the chapter's: any input size
    filters = np.arange(a.filters)
    t = time.perf_counter()
    if a.child == "setup":
        child_report(0.0)
        return
    if a.child == "chapter":
        raw = chapter_loop(model, a.layer, filters, steps=a.steps, lr=10.0, size=a.size)
    else:
        raw = visualize_filters(model, a.layer, a.filters, steps=a.steps, image_size=a.size, recipe=a.child).raw
    seconds = time.perf_counter() - t
    objective = float(book_objective_reference(model, a.layer, raw, filters).mean())
    child_report(seconds, objective=objective)


def main(argv=None) -> int:
    from _harness import child_args, compare, parse

    options = {"filters": 64, "steps": 30, "size": 200, "layer": "block3_sepconv1"}
    a = parse(__doc__, METHODS, argv, options)
    if a.child:
        child(a)
        return 0
    args = child_args(a, options)
    config = {
        "model": "keras.applications.Xception(weights=None, include_top=False)",
        "layer": a.layer,
        "filters": a.filters,
        "steps": a.steps,
        "size": a.size,
        "backend": "tensorflow",
    }
    print(f"filter patterns: {config}", flush=True)
    res = compare(__file__, "filters", METHODS, args, repeats=a.repeats, config=config)
    from report import filters_table

    print(filters_table(res))
    return 0


if __name__ == "__main__":
    sys.exit(main())
