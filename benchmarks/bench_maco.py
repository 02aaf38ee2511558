"""Feature visualizations that other models recognize (issue 41): today's robust recipe against
MaCo (the phase under natural images' magnitude spectrum).

- **Classes**: every class's visualization of shapes-cnn, classified by shapes-xception, and
  the other way round, over 4 seeds (128 Adam steps, ``visualize_classes``' default): the rate
  at which the *other* model names the intended class measures how natural an image is,
  independently of the network that made it; beside it, the rate at which the source model
  names its own images.
- **Units of the deepest layer** (the filters page's deepest layer, its first 16 units, the
  robust recipe's 256 steps): the share of units whose visualization excites the unit more than
  its 9th best test image does, and the visualizations' high-frequency energy (the share of
  spectral power above half the Nyquist frequency, the mean left out) against the test images'
  own.
- **Cost**: seconds of each recipe for the units of both models (one warm process).

MaCo's magnitude is the mean magnitude spectrum of the first 512 training images.

    python benchmarks/bench_maco.py                  # writes benchmarks/results/maco.json
    python benchmarks/bench_maco.py --maco-lr 0.2    # another step size for MaCo (not written)
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

MODELS = ("shapes-cnn", "shapes-xception")
SEEDS = (0, 1, 2, 3)
CLASS_STEPS = 128
UNITS, UNIT_STEPS = 16, 256
SPECTRUM_IMAGES = 512


def high_frequency_share(images):
    """Per image, the share of spectral power (channel mean, mean removed) above half the
    Nyquist frequency: radial frequency > 0.25 cycles per pixel."""
    import numpy as np

    from convviz.optvis.param import rfft_freqs

    x = np.asarray(images, np.float64).mean(axis=-1)
    x = x - x.mean(axis=(1, 2), keepdims=True)
    power = np.abs(np.fft.rfft2(x, axes=(1, 2))) ** 2
    high = rfft_freqs(*x.shape[1:]) > 0.25
    total = power.sum(axis=(1, 2))
    return np.divide(power[:, high].sum(axis=1), total, out=np.zeros_like(total), where=total > 0)


def run(maco_lr: float | None) -> dict:
    import numpy as np

    import convviz
    from convviz import zoo
    from convviz.optvis.filters import DEFAULT_LEARNING_RATES

    if maco_lr is not None:
        DEFAULT_LEARNING_RATES["maco"] = maco_lr
    models = {name: zoo.load(zoo.entry(name), progress=False) for name in MODELS}
    train = {name: zoo.dataset(zoo.entry(name), "train").x[:SPECTRUM_IMAGES] for name in MODELS}
    test = {name: zoo.dataset(zoo.entry(name), "test").x for name in MODELS}
    classes = int(models[MODELS[0]].outputs[0].shape[-1])
    rows = []
    for recipe in ("robust", "maco"):
        for src, dst in (MODELS, MODELS[::-1]):
            other = own = 0
            for seed in SEEDS:
                r = convviz.visualize_classes(
                    models[src], classes, steps=CLASS_STEPS, recipe=recipe, data=train[src], seed=seed
                )
                want = np.arange(classes)
                other += int((convviz.predict(models[dst], r.raw).argmax(1) == want).sum())
                own += int((convviz.predict(models[src], r.raw).argmax(1) == want).sum())
            n = classes * len(SEEDS)
            rows.append({"recipe": recipe, "source": src, "judge": dst, "other": other / n, "own": own / n})
            print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
    units = []
    for name in MODELS:
        model, x = models[name], test[name]
        deep = convviz.representative_layers(model)[-1]
        filters = np.arange(min(UNITS, int(model.get_layer(deep).output.shape[-1])))
        data_hf = float(high_frequency_share(x[:256]).mean())
        for recipe in ("robust", "maco"):
            start = time.perf_counter()
            r = convviz.visualize_filters(
                model, deep, filters, recipe=recipe, steps=UNIT_STEPS, data=x[:512], crop=0, image_size=x.shape[1]
            )
            seconds = time.perf_counter() - start
            ninth = _ninth_best(model, deep, filters, x)
            shown = ~(r.dead | r.unexcited)
            units.append(
                {
                    "model": name,
                    "layer": deep,
                    "recipe": recipe,
                    "units": int(shown.sum()),
                    "beats_9th": float((r.losses[shown] > ninth[shown]).mean()) if shown.any() else float("nan"),
                    "high_frequency": float(high_frequency_share(r.raw[shown]).mean()),
                    "data_high_frequency": data_hf,
                    "seconds": seconds,
                }
            )
            print(json.dumps(units[-1]), file=sys.stderr, flush=True)
    return {"classes": rows, "units": units}


def _ninth_best(model, layer, filters, x):
    """Each unit's 9th highest objective over the test images (its mean activation with the
    chapter's 2-pixel border dropped, as the ascent maximizes it)."""
    import keras
    import numpy as np

    from convviz.core.batches import run_batches
    from convviz.graph.split import layer_output
    from convviz.optvis.objectives import objective

    body = layer_output(model, layer)

    def step(xb):  # every channel's objective, as the ascent computes one channel's
        a = keras.ops.transpose(body(xb), (0, 3, 1, 2))
        return keras.ops.reshape(objective(keras.ops.reshape(a, (-1, *a.shape[2:]))), (-1, a.shape[1]))

    values = run_batches(step, [x.astype(np.float32)], batch_size=64)
    return np.sort(values[:, filters], axis=0)[-9]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--maco-lr", type=float, default=None, help="MaCo's Adam step on the phases (not written)")
    args = ap.parse_args()
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import datetime as dt

    from _harness import RESULTS, machine, versions

    out = run(args.maco_lr)
    summary = {}
    for recipe in ("robust", "maco"):
        mine = [r for r in out["classes"] if r["recipe"] == recipe]
        summary[recipe] = sum(r["other"] for r in mine) / len(mine)
    print(json.dumps(summary))
    if args.maco_lr is not None:
        return 0
    from convviz.optvis.filters import DEFAULT_LEARNING_RATES

    res = {
        "benchmark": "maco",
        "date": dt.date.today().isoformat(),
        "machine": machine(),
        "versions": versions(("keras", "tensorflow", "numpy")),
        "config": {
            "seeds": len(SEEDS),
            "class_steps": CLASS_STEPS,
            "units": UNITS,
            "unit_steps": UNIT_STEPS,
            "spectrum_images": SPECTRUM_IMAGES,
            "maco_lr": DEFAULT_LEARNING_RATES["maco"],
        },
        "classes": out["classes"],
        "units": out["units"],
        "recognized": summary,
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "maco.json").write_text(json.dumps(res, indent=1) + "\n")
    print(f"wrote {RESULTS / 'maco.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
