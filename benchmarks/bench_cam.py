"""Grad-CAM speed: convviz against keras.io's recipe (as published, and at its best) and
tf-keras-vis, each method in its own fresh process (order alternated over repeats).

``keras.applications.Xception(weights=None, classifier_activation=None)`` at 299×299,
layer ``block14_sepconv2_act``, 16 images; every method explains the same classes (each
image's predicted class). Per method: cold (the first call, tracing included) and warm
(the best of two more calls).

* ``kerasio``: keras.io's ``make_gradcam_heatmap``, as published: one image at a time,
  the gradient model built in every call, an eager ``GradientTape``;
* ``kerasio_best``: the best a user can do with that recipe: the gradient model built
  once, a ``tf.function`` over the whole batch;
* ``convviz``: ``convviz.grad_cam`` (one compiled call per batch, the head differentiated);
* ``tfkerasvis``: tf-keras-vis ``Gradcam`` (``pip install -e '.[bench]'``);
* ``floor``: one compiled forward pass of the same batch.

    python benchmarks/bench_cam.py [--images 16] [--repeats 3]
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, str(Path(__file__).resolve().parent))

LAYER = "block14_sepconv2_act"
METHODS = ("kerasio", "kerasio_best", "convviz", "tfkerasvis", "floor")


def make_gradcam_heatmap(img_array, model, last_conv_layer_name, pred_index=None):
    """keras.io/examples/vision/grad_cam, as published."""
    import keras
    import tensorflow as tf

    grad_model = keras.models.Model(model.inputs, [model.get_layer(last_conv_layer_name).output, model.output])
    with tf.GradientTape() as tape:
        last_conv_layer_output, preds = grad_model(img_array)
        if pred_index is None:
            pred_index = tf.argmax(preds[0])
        class_channel = preds[:, pred_index]
    grads = tape.gradient(class_channel, last_conv_layer_output)
    pooled_grads = tf.reduce_mean(grads, axis=(0, 1, 2))
    last_conv_layer_output = last_conv_layer_output[0]
    heatmap = last_conv_layer_output @ pooled_grads[..., tf.newaxis]
    heatmap = tf.squeeze(heatmap)
    heatmap = tf.maximum(heatmap, 0) / tf.math.reduce_max(heatmap)
    return heatmap.numpy()


def kerasio_best(model, layer_name):
    """The keras.io recipe made as fast as a user can: built once, compiled, batched."""
    import keras
    import tensorflow as tf

    grad_model = keras.models.Model(model.inputs, [model.get_layer(layer_name).output, model.output])

    @tf.function
    def heatmaps(images, classes):
        with tf.GradientTape() as tape:
            conv, preds = grad_model(images)
            chosen = tf.gather(preds, classes, axis=1, batch_dims=1)
        grads = tape.gradient(chosen, conv)  # each image's score depends on its own conv only
        pooled = tf.reduce_mean(grads, axis=(1, 2))
        heat = tf.nn.relu(tf.einsum("nhwk,nk->nhw", conv, pooled))
        return heat / tf.maximum(tf.reduce_max(heat, axis=(1, 2), keepdims=True), 1e-12)

    return heatmaps


def child(a) -> None:
    import keras
    import numpy as np

    from _harness import child_report

    keras.utils.set_random_seed(0)  # the same weights in every process: objectives and classes compare
    model = keras.applications.Xception(weights=None, classifier_activation=None)
    x = np.random.default_rng(0).uniform(0, 255, (a.images, 299, 299, 3)).astype(np.float32)
    classes = model.predict(x, batch_size=16, verbose=0).argmax(1)
    if a.child == "kerasio":

        def run():
            return [make_gradcam_heatmap(x[i : i + 1], model, LAYER, int(classes[i])) for i in range(len(x))]
    elif a.child == "kerasio_best":
        fn = kerasio_best(model, LAYER)

        def run():
            return fn(x, classes.astype("int32")).numpy()
    elif a.child == "convviz":
        from convviz import grad_cam

        def run():
            return grad_cam(model, x, layer=LAYER, class_index=classes)
    elif a.child == "tfkerasvis":
        from tf_keras_vis.gradcam import Gradcam
        from tf_keras_vis.utils.scores import CategoricalScore

        cam = Gradcam(model, clone=True)
        score = CategoricalScore([int(c) for c in classes])

        def run():
            return cam(score, x, penultimate_layer=LAYER)
    else:
        from convviz.core import backend as _backend

        fwd = _backend.jit(lambda t: model(t))

        def run():
            return [_backend.to_numpy(fwd(keras.ops.convert_to_tensor(x[s : s + 16]))) for s in range(0, len(x), 16)]

    t = time.perf_counter()
    run()
    cold = time.perf_counter() - t
    warm = []
    for _ in range(2):
        t = time.perf_counter()
        run()
        warm.append(time.perf_counter() - t)
    child_report(min(warm), cold=cold, images=a.images)


def main(argv=None) -> int:
    from _harness import child_args, compare, parse

    options = {"images": 16}
    a = parse(__doc__, METHODS, argv, options)
    if a.child:
        child(a)
        return 0
    methods = list(METHODS)
    try:
        import tf_keras_vis  # noqa: F401
    except ImportError:
        methods.remove("tfkerasvis")
        print("(tf-keras-vis not installed: pip install -e '.[bench]' to compare with it)")
    config = {
        "model": "keras.applications.Xception(weights=None, classifier_activation=None)",
        "layer": LAYER,
        "images": a.images,
        "size": 299,
        "backend": "tensorflow",
    }
    res = compare(__file__, "cam", methods, child_args(a, options), repeats=a.repeats, config=config)
    from report import cam_table

    print(cam_table(res))
    return 0


if __name__ == "__main__":
    sys.exit(main())
