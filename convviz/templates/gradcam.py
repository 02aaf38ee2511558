"""
Grad-CAM · {{MODEL}}
========================

Which regions of a test image drove **{{MODEL}}**'s decision (chapter section 4),
five CAM methods compared, and the evidence behind them: the pointing game against
ground-truth object masks where the dataset has them, deletion and insertion curves
(does removing the highlighted pixels change the decision?), and the
model-randomization sanity check.

*Model: {{TITLE}}.*

"""

# %%
# Heatmaps of correct and wrong predictions
# -----------------------------------------
# Grad-CAM weights the last conv layer's channels by the mean gradient of the class
# score (before the softmax) and keeps the positive part; each map explains the
# predicted class. Titles: true → predicted class and its probability, green when right,
# red when wrong (any class that fits the image counts as right); an image without a
# label shows "?".
import matplotlib.pyplot as plt
import numpy as np

import convviz
from convviz import metrics, zoo
from convviz import pick_examples, record

MODEL = "{{MODEL}}"
# mkdocs_gallery_convviz_fingerprint = "{{FINGERPRINT}}"
entry = zoo.entry(MODEL)
model = zoo.load(entry)
test = zoo.dataset(entry, "test")
names = test.class_names
layer = entry.cam_layer(model)
probs = convviz.predict(model, test.x, cache=True)
pred = probs.argmax(1)
labelled = test.labelled
ok = test.correct(pred)
wrong = np.flatnonzero(labelled & ~ok)
others = np.flatnonzero(~labelled)
pick = pick_examples(ok, labelled)
result = convviz.cam_with_predictions(model, test.x[pick], layer=layer, cache=True)
accuracy = test.accuracy(pred)
if accuracy is None:
    print(f"layer {layer}; {len(test)} unlabelled images: no accuracy, the titles show predictions")
else:
    print(
        f"layer {layer}; accuracy {accuracy:.2%} on the {int(labelled.sum())} labelled test images "
        f"({len(wrong)} wrong)" + (f"; {len(others)} more have no label" if len(others) else "")
    )


def title(i):
    truth = names[test.y[i]] if labelled[i] else "?"
    return f"{truth} → {names[pred[i]]} {probs[i, pred[i]]:.0%}"


def color(i):
    return "black" if not labelled[i] else "green" if ok[i] else "red"


fig, ax = plt.subplots(figsize=(3.6, 3.6))  # one image, large: the page's thumbnail
convviz.plot_heatmap_overlay(
    test.x[pick[0]], result.maps[0], ax=ax, title=f"{names[pred[pick[0]]]}: Grad-CAM at {layer}"
)

cols = 4
fig, axes = plt.subplots(-(-len(pick) // cols), cols, figsize=(10, 2.9 * -(-len(pick) // cols)), squeeze=False)
for ax in axes.flat[len(pick) :]:
    ax.set_axis_off()
for ax, i, heat in zip(axes.flat, pick, result.maps):
    convviz.plot_heatmap_overlay(test.x[i], heat, ax=ax, color=color(i), title=title(i))
fig.tight_layout()
if len(names) > 10:  # many classes: the top-5 predictions say more than one name
    print("\nTop-5 predictions:")
    for i, top in zip(pick, convviz.top_k(probs[pick], names, k=5)):
        who = test.image_names[i] if test.image_names else f"image {i}"
        print(f"  {who:<18} " + ", ".join(f"{name} {p:.1%}" for name, p in top))

# %%
# Five methods on the same images
# -------------------------------
# Grad-CAM, Grad-CAM++, Layer-CAM, HiResCAM (each position keeps its own gradient
# instead of Grad-CAM's spatial mean) and Score-CAM (masked inputs, the 32 most active
# channels), each explaining the predicted class. Pixel-level methods (saliency,
# Integrated Gradients, Guided Backprop…) are on the [pixel attributions page](attributions.md).
methods = list(convviz.CAM_METHODS)
show = pick[:5]
fig, axes = plt.subplots(len(methods), len(show), figsize=(10, 2.2 * len(methods)), squeeze=False)
for row, method in zip(axes, methods):
    maps = convviz.grad_cam(model, test.x[show], layer=layer, method=method, cache=True)
    for ax, i, heat in zip(row, show, maps):
        convviz.plot_heatmap_overlay(test.x[i], heat, ax=ax)
    row[0].set_title(method, loc="left", fontsize=11)
fig.tight_layout()

# %%
# Do the maps point at the object?
# --------------------------------
# The pointing game (Zhang et al. 2016) takes one point per map, its maximum, and counts
# a hit when it lies inside the object mask (a tie between several maxima counts as the
# share of them inside: a flat map scores the chance rate, not 100%). The energy-based
# pointing game measures the share of the map's mass inside the mask. Two baselines: a
# centered Gaussian (objects are often central) and random maps.
n = min(240, len(test.x))
x = test.x[:n]
all_maps = {m: convviz.grad_cam(model, x, layer=layer, method=m, cache=True) for m in methods}
baselines = {
    "center baseline": metrics.center_baseline(x.shape[1:3], n),
    "random baseline": metrics.random_baseline(x.shape[1:3], n),
}
if test.masks is not None:
    masks = test.masks[:n]
    rows = [
        (name, metrics.pointing_game(maps, masks).mean(), metrics.energy_pointing_game(maps, masks).mean())
        for name, maps in {**all_maps, **baselines}.items()
    ]
    print(f"{'method':<18}{'pointing game':>15}{'energy':>9}   ({n} test images)")
    for name, pg, energy in rows:
        print(f"{name:<18}{pg:>15.1%}{energy:>9.1%}")
    record("pointing_game", {name: pg for name, pg, _ in rows})
    best = max(rows[: len(methods)], key=lambda r: r[1])
    center = rows[len(methods)][1]
    print(
        f"\nBest: {best[0]} at {best[1]:.1%}, "
        + (
            f"{best[1] - center:+.1%} over the center baseline."
            if best[1] > center
            else f"not above the center baseline ({center:.1%}): these maps do not localize the object."
        )
    )
    hits = metrics.pointing_game(all_maps["gradcam"], masks)
    print("\nGrad-CAM pointing game per class:")
    for c, cname in enumerate(names):
        sel = test.y[:n] == c
        if sel.any():
            print(f"  {cname:<10}{hits[sel].mean():7.1%}  ({int(sel.sum())} images)")
    fig, ax = plt.subplots(figsize=(9, 3.6))
    pos = np.arange(len(rows))
    ax.bar(pos - 0.2, [r[1] for r in rows], 0.4, label="pointing game")
    ax.bar(pos + 0.2, [r[2] for r in rows], 0.4, label="energy pointing game")
    ax.set_xticks(pos, [r[0] for r in rows], rotation=20, ha="right", fontsize=10)
    ax.set_ylim(0, 1.15)
    ax.legend(loc="upper right", ncols=2, fontsize=9)
    ax.set_title(f"Localization on {n} test images with object masks", loc="left", fontsize=11)
else:
    print(f"The {entry.dataset!r} dataset has no object masks: no pointing game here.")

# %%
# Do the highlighted pixels carry the decision?
# ---------------------------------------------
# Deletion (Petsiuk et al. 2018, RISE): black out pixels in the map's order, most
# important first; a faithful map makes the class probability fall fast (a **low** area
# under the curve). Insertion: add them, in the same order, to a blurred copy of the
# image; the probability should rise fast (a **high** area). A random map is the baseline
# each method must beat on both.
k = min(48 if max(x.shape[1:3]) <= 128 else 8, n)
curves = {}
for name, maps in {
    **{m: all_maps[m][:k] for m in methods},
    "random baseline": baselines["random baseline"][:k],
}.items():
    d = metrics.deletion_curve(model, x[:k], maps, class_index=pred[:k], cache=True)
    i = metrics.insertion_curve(model, x[:k], maps, class_index=pred[:k], cache=True)
    curves[name] = (d.mean(0), i.mean(0), metrics.auc(d).mean(), metrics.auc(i).mean())
print(f"{'method':<18}{'deletion AUC (low)':>20}{'insertion AUC (high)':>22}   ({k} images)")
for name, (_, _, d_auc, i_auc) in curves.items():
    print(f"{name:<18}{d_auc:>20.3f}{i_auc:>22.3f}")
record("deletion_auc", {name: c[2] for name, c in curves.items()})
record("insertion_auc", {name: c[3] for name, c in curves.items()})
rnd = curves["random baseline"]
beat = [m for m in methods if curves[m][2] < rnd[2] and curves[m][3] > rnd[3]]
print("\nBeat the random map on both curves: " + (", ".join(beat) if beat else "none of the methods") + ".")
fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
frac = np.linspace(0, 1, len(rnd[0]))
for name, (d, i, d_auc, i_auc) in curves.items():
    style = dict(ls="--", color="gray") if name == "random baseline" else {}
    axes[0].plot(frac, d, label=f"{name} ({d_auc:.2f})", **style)
    axes[1].plot(frac, i, label=f"{name} ({i_auc:.2f})", **style)
for ax, title in zip(
    axes, ("Deletion: probability as pixels are removed", "Insertion: probability as pixels are added")
):
    ax.set_xlabel("share of pixels")
    ax.set_ylim(0, 1.02)
    ax.set_title(title, loc="left", fontsize=10)
    ax.legend(fontsize=8, loc="upper right" if ax is axes[0] else "lower right")
axes[0].set_ylabel("class probability")
fig.tight_layout()

# %%
# Sanity check: do the maps depend on the weights?
# ------------------------------------------------
# Adebayo et al. (2018): re-initialize the layers from the top down, one more at each
# step. A map that explains the model must change: its rank correlation with the trained
# model's map falls. A method **passes** when the mean correlation ends below 0.5 — closer
# to unrelated (0) than to identical (1); Adebayo et al. saw Grad-CAM end near 0 and
# Guided Backprop well above 0.5, and this threshold separates the two. A map that is
# constant (all zero) at some step has nothing to rank: it is counted as *degenerate*,
# never as a pass.
checks = [
    metrics.randomization_check(model, test.x[pick], method=m, layer=layer, cache=True)
    for m in ("gradcam", "gradcam++", "layercam")
]
for r in checks:
    print(
        f"{r.method:<10} final rank correlation {r.final_spearman():+.2f}, "
        f"{r.degenerate_share():.0%} degenerate maps: {r.verdict()}"
    )
record("sanity_check", {r.method: r.verdict() for r in checks})
fig, ax = plt.subplots(figsize=(9, 4))
convviz.plot.plot_randomization(checks, ax=ax)
