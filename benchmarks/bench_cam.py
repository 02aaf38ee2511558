"""Grad-CAM speed: keras.io's per-image recipe against ``convviz.grad_cam``, in one run.

On ``keras.applications.Xception(weights=None)`` at 299×299 with 16 and 64 images:

* keras.io: one image at a time, a grad model over ``block14_sepconv2_act``, an eager
  ``GradientTape`` through the whole network (TensorFlow only, as on keras.io);
* convviz: ``grad_cam`` (one compiled call per batch, gradient of the head only);
* floor: one compiled forward pass of the same batch (the backward pass from the
  logits to the last conv layer costs almost nothing);
* tf-keras-vis ``Gradcam`` when it is installed (``pip install tf-keras-vis``).

Each timed on its first call (tracing included), then warm. Map equality is checked
on a trained zoo model (random-init Xception's maps are rounding noise).

    python benchmarks/bench_cam.py
"""

from __future__ import annotations

import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402

from convviz import _backend, grad_cam  # noqa: E402
from convviz.layers import split_model  # noqa: E402

LAYER = "block14_sepconv2_act"


def keras_io_gradcam(model, img, layer, pred_index=None):
    """keras.io/examples/vision/grad_cam (TensorFlow), softmax removed beforehand."""
    import tensorflow as tf

    grad_model = keras.models.Model(model.inputs, [model.get_layer(layer).output, model.output])
    with tf.GradientTape() as tape:
        conv, preds = grad_model(img)
        if pred_index is None:
            pred_index = tf.argmax(preds[0])
        channel = preds[:, pred_index]
    grads = tape.gradient(channel, conv)
    pooled = tf.reduce_mean(grads, axis=(0, 1, 2))
    heat = conv[0] @ pooled[..., tf.newaxis]
    heat = tf.squeeze(heat)
    heat = tf.maximum(heat, 0) / tf.math.reduce_max(heat)
    return heat.numpy()


def timed(fn):
    t = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t


def main() -> int:
    backend = keras.backend.backend()
    model = keras.applications.Xception(weights=None, classifier_activation=None)
    rng = np.random.default_rng(0)
    print(f"backend={backend} Xception(weights=None) layer={LAYER}, 299x299")
    print(f"{'images':>6} {'method':<22}{'cold s':>8}{'warm s':>8}{'img/s warm':>11}{'vs keras.io':>12}{'vs floor':>9}")
    for n in (16, 64):
        x = rng.uniform(0, 255, (n, 299, 299, 3)).astype(np.float32)
        rows = []
        if backend == "tensorflow":
            _, cold = timed(lambda: [keras_io_gradcam(model, x[i:i + 1], LAYER) for i in range(n)])
            _, warm = timed(lambda: [keras_io_gradcam(model, x[i:i + 1], LAYER) for i in range(n)])
            rows.append(("keras.io loop", cold, warm))
        _, cold = timed(lambda: grad_cam(model, x, layer=LAYER))
        _, warm = timed(lambda: grad_cam(model, x, layer=LAYER))
        rows.append(("convviz grad_cam", cold, warm))
        body = split_model(model, LAYER).body
        fwd = _backend.jit(lambda t: model(t))
        with _backend.no_grad():
            _, fcold = timed(lambda: [_backend.to_numpy(fwd(keras.ops.convert_to_tensor(x[s:s + 32])))
                                      for s in range(0, n, 32)])
            _, fwarm = timed(lambda: [_backend.to_numpy(fwd(keras.ops.convert_to_tensor(x[s:s + 32])))
                                      for s in range(0, n, 32)])
        del body
        rows.append(("floor: forward pass", fcold, fwarm))
        try:
            from tf_keras_vis.gradcam import Gradcam
            from tf_keras_vis.utils.scores import CategoricalScore

            cam = Gradcam(model, clone=True)
            score = CategoricalScore(list(np.zeros(n, int)))
            _, cold = timed(lambda: cam(score, x, penultimate_layer=LAYER))
            _, warm = timed(lambda: cam(score, x, penultimate_layer=LAYER))
            rows.append(("tf-keras-vis Gradcam", cold, warm))
        except ImportError:
            print("       (tf-keras-vis not installed: pip install tf-keras-vis to compare)")
        base = rows[0][2] if rows[0][0] == "keras.io loop" else None
        floor = [r for r in rows if r[0].startswith("floor")][0][2]
        for name, cold, warm in rows:
            vs = f"{base / warm:>11.1f}x" if base else f"{'-':>12}"
            print(f"{n:>6} {name:<22}{cold:>8.2f}{warm:>8.2f}{n / warm:>11.1f}{vs}{warm / floor:>8.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
