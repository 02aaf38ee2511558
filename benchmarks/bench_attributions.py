"""Integrated Gradients and SmoothGrad speed: convviz against the floor (every gradient
the method needs, as one batched compiled call) and the common tutorial recipe (an eager
``GradientTape`` per path point or noisy sample), each method in its own fresh process
(order alternated over repeats).

The model is shapes-xception's architecture (``convviz.zoo.architectures.mini_xception``, 64×64×3,
6 classes, seeded random weights: no training needed), 16 images; Integrated Gradients
with 50 points from a black baseline, SmoothGrad with 25 samples. Every method explains
each image's predicted class with the score before the softmax.

* ``ig_convviz`` / ``sg_convviz``: ``convviz.attribute`` (images × points in compiled
  batches of 64 rows);
* ``ig_floor`` / ``sg_floor``: the 800 (400) forward+backward passes as one
  ``tf.function`` call, nothing else;
* ``ig_loop`` / ``sg_loop``: one eager ``GradientTape`` per image and point, as in the
  usual tutorials.

    python benchmarks/bench_attributions.py [--images 16] [--repeats 3]
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, str(Path(__file__).resolve().parent))

METHODS = ("ig_convviz", "ig_floor", "ig_loop", "sg_convviz", "sg_floor", "sg_loop")
STEPS, SAMPLES, NOISE = 50, 25, 0.15


def _logits_model(model):
    """The model with its softmax removed (what every method differentiates)."""
    import keras

    head = model.layers[-1]
    inner = keras.Model(model.inputs, head.input)
    dense = keras.layers.Dense(head.units, name="logits")
    out = dense(inner.output)
    dense.set_weights(head.get_weights())
    return keras.Model(model.inputs, out)


def _points(kind: str, x, rng):
    import numpy as np

    if kind == "ig":
        t, w = np.polynomial.legendre.leggauss(STEPS)
        alphas = ((t + 1) / 2).astype(np.float32)
        return (alphas[None, :, None, None, None] * x[:, None]).reshape(-1, *x.shape[1:])
    sigma = NOISE * (x.max(axis=(1, 2, 3)) - x.min(axis=(1, 2, 3)))
    noise = rng.standard_normal((len(x), SAMPLES, *x.shape[1:])).astype(np.float32)
    return (x[:, None] + sigma[:, None, None, None, None] * noise).reshape(-1, *x.shape[1:])


def child(a) -> None:
    import keras
    import numpy as np
    import tensorflow as tf

    from _harness import child_report
    from convviz.zoo import architectures as models

    keras.utils.set_random_seed(0)  # the same weights in every process
    model = models.mini_xception((64, 64, 3), 6)
    x = np.random.default_rng(0).random((a.images, 64, 64, 3), dtype=np.float32)
    kind, how = a.child.split("_")
    reps = STEPS if kind == "ig" else SAMPLES
    rng = np.random.default_rng(1)
    if how == "convviz":
        import convviz

        options = dict(steps=STEPS) if kind == "ig" else dict(samples=SAMPLES, noise=NOISE)
        method = "integrated_gradients" if kind == "ig" else "smoothgrad"

        def run():
            return convviz.attribute(model, x, method=method, **options)
    else:
        logits = _logits_model(model)
        classes = logits(x).numpy().argmax(1).astype("int32")
        rows = _points(kind, x, rng)
        row_classes = np.repeat(classes, reps)
        if how == "floor":

            @tf.function
            def grads(points, cls):
                with tf.GradientTape() as tape:
                    tape.watch(points)
                    score = tf.gather(logits(points, training=False), cls, axis=1, batch_dims=1)
                return tape.gradient(score, points)

            def run():
                return grads(tf.constant(rows), tf.constant(row_classes)).numpy()
        else:

            def run():
                out = []
                for p, c in zip(rows, row_classes):
                    t = tf.constant(p[None])
                    with tf.GradientTape() as tape:
                        tape.watch(t)
                        score = logits(t, training=False)[0, int(c)]
                    out.append(tape.gradient(score, t).numpy())
                return out

    t = time.perf_counter()
    run()
    cold = time.perf_counter() - t
    t = time.perf_counter()
    run()
    child_report(time.perf_counter() - t, cold=cold, images=a.images, passes=a.images * reps)


def main(argv=None) -> int:
    from _harness import child_args, compare, parse

    options = {"images": 16}
    a = parse(__doc__, METHODS, argv, options)
    if a.child:
        child(a)
        return 0
    config = {
        "model": "convviz.zoo.architectures.mini_xception((64, 64, 3), 6), seeded random weights",
        "images": a.images,
        "size": 64,
        "ig_steps": STEPS,
        "sg_samples": SAMPLES,
        "backend": "tensorflow",
    }
    res = compare(__file__, "attributions", list(METHODS), child_args(a, options), repeats=a.repeats, config=config)
    from report import attributions_table

    print(attributions_table(res))
    return 0


if __name__ == "__main__":
    sys.exit(main())
