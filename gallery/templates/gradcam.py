"""
Grad-CAM · {{MODEL}}
========================

Which regions of a test image drove **{{MODEL}}**'s decision (chapter section 4),
four CAM methods compared, and the evidence behind them: pointing-game scores
against the ground-truth object masks where the dataset has them, and the
model-randomization sanity check.

*Model: {{TITLE}}.*

<!-- convviz page fingerprint: {{FINGERPRINT}} -->
"""
# mkdocs_gallery_thumbnail_number = 1

# %%
# Heatmaps of correct and wrong predictions
# -----------------------------------------
# Grad-CAM weights the last conv layer's channels by the mean gradient of the class
# score (before the softmax) and keeps the positive part. Titles: true → predicted
# class, green when right, red when wrong.
import matplotlib.pyplot as plt
import numpy as np

import convviz
from convviz import metrics, zoo
from convviz.site import record

MODEL = "{{MODEL}}"
entry = zoo.entry(MODEL)
model = zoo.load(entry)
test = zoo.dataset(entry, "test")
names = test.class_names
layer = entry.last_conv_layer
pred = model.predict(test.x, batch_size=256, verbose=0).argmax(1)
wrong = np.flatnonzero(pred != test.y)
right = np.flatnonzero(pred == test.y)
pick = np.concatenate([right[:8 - min(3, len(wrong))], wrong[:3]])
result = convviz.cam_with_predictions(model, test.x[pick], layer=layer, cache=True)
print(f"layer {layer}; test accuracy {np.mean(pred == test.y):.2%} ({len(wrong)} wrong of {len(test.y)})")

fig, axes = plt.subplots(1, len(pick), figsize=(2.1 * len(pick), 2.6))
for ax, i, heat in zip(axes, pick, result.maps):
    ok = pred[i] == test.y[i]
    convviz.plot_heatmap_overlay(test.x[i], heat, ax=ax, color="green" if ok else "red",
                                 title=f"{names[test.y[i]]} → {names[pred[i]]}")

# %%
# Four methods on the same images
# -------------------------------
# Grad-CAM, Grad-CAM++, Layer-CAM and Score-CAM (masked inputs, the 32 most active
# channels), each explaining the predicted class.
methods = list(convviz.CAM_METHODS)
show = pick[:5]
fig, axes = plt.subplots(len(methods), len(show), figsize=(2.1 * len(show), 2.2 * len(methods)))
for row, method in zip(axes, methods):
    maps = convviz.grad_cam(model, test.x[show], layer=layer, method=method, cache=True)
    for ax, i, heat in zip(row, show, maps):
        convviz.plot_heatmap_overlay(test.x[i], heat, ax=ax)
    row[0].set_title(method, loc="left", fontsize=10)

# %%
# Do the maps point at the object?
# --------------------------------
# The pointing game counts a hit when a map's maximum lies inside the object mask; the
# energy-based pointing game measures the share of the map's mass inside it. Two
# baselines: a centered Gaussian (objects are often central) and random maps.
if test.masks is not None:
    n = min(240, len(test.x))
    x, masks = test.x[:n], test.masks[:n]
    rows = []
    for method in methods:
        maps = convviz.grad_cam(model, x, layer=layer, method=method, cache=True)
        rows.append((method, metrics.pointing_game(maps, masks).mean(),
                     metrics.energy_pointing_game(maps, masks).mean()))
    for name, maps in (("center baseline", metrics.center_baseline(x.shape[1:3], n)),
                       ("random baseline", metrics.random_baseline(x.shape[1:3], n))):
        rows.append((name, metrics.pointing_game(maps, masks).mean(),
                     metrics.energy_pointing_game(maps, masks).mean()))
    print(f"{'method':<18}{'pointing game':>15}{'energy':>9}   ({n} test images)")
    for name, pg, energy in rows:
        print(f"{name:<18}{pg:>15.1%}{energy:>9.1%}")
    record("pointing_game", {name: pg for name, pg, _ in rows})
    hits = metrics.pointing_game(convviz.grad_cam(model, x, layer=layer, cache=True), masks)
    print("\nGrad-CAM pointing game per class (a ring's mask includes its hole):")
    for c, cname in enumerate(names):
        sel = test.y[:n] == c
        print(f"  {cname:<10}{hits[sel].mean():7.1%}  ({int(sel.sum())} images)")
    fig, ax = plt.subplots(figsize=(8, 3.2))
    pos = np.arange(len(rows))
    ax.bar(pos - 0.2, [r[1] for r in rows], 0.4, label="pointing game")
    ax.bar(pos + 0.2, [r[2] for r in rows], 0.4, label="energy pointing game")
    ax.set_xticks(pos, [r[0] for r in rows], rotation=20, ha="right")
    ax.set_ylim(0, 1)
    ax.legend()
    ax.set_title(f"Localization on {n} test images with object masks", loc="left")
else:
    print(f"The {entry.dataset!r} dataset has no object masks: no pointing game here.")

# %%
# Sanity check: do the maps depend on the weights?
# ------------------------------------------------
# Adebayo et al. (2018): re-initialize the layers from the top down, one more at each
# step. A map that explains the model must change (rank correlation with the trained
# model's map falls); one that stays the same only shows edges of the input.
checks = [metrics.randomization_check(model, test.x[pick], method=m, layer=layer, cache=True)
          for m in ("gradcam", "gradcam++", "layercam")]
for r in checks:
    print(f"{r.method:<10} final rank correlation {r.spearman[-1].mean():+.2f}, "
          f"SSIM {r.ssim[-1].mean():.2f}: {'passes' if r.passes() else 'fails'}")
record("sanity_check_passes", {r.method: r.passes() for r in checks})
convviz.plot.plot_randomization(checks)
