"""
Grad-CAM · {{MODEL}}
========================

Which regions of a test image drove {{MODEL}}'s decision (chapter section 4). Look at
where the bright part of each map lies (on the object, on its telling part, or elsewhere)
and at the wrong predictions, in red. *Model: {{TITLE}}.*

"""

# %%
# Heatmaps of right and wrong predictions
# ---------------------------------------
# Each map explains the predicted class. Titles: true → predicted class and its probability
# ("?": no label). Below: five CAM methods, then the evidence for them.
import matplotlib.pyplot as plt
import numpy as np

import convviz
from convviz import pick_examples, record, zoo
from convviz.evaluate.sanity import PASS_THRESHOLD
from convviz.figures.style import display_name, figsize

MODEL = "{{MODEL}}"
# mkdocs_gallery_convviz_fingerprint = "{{FINGERPRINT}}"
# mkdocs_gallery_thumbnail_number = 1
convviz.use_site_style()
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
budget = zoo.page_budget(entry, model, images=len(test.x))
record("budget", budget.knobs())
pick = pick_examples(ok, labelled, n=budget.examples)
result = convviz.cam_with_predictions(model, test.x[pick], layer=layer, cache=True)


def title(i):
    truth = names[test.y[i]] if labelled[i] else "?"
    return f"{truth} → {names[pred[i]]} {probs[i, pred[i]]:.0%}"


def color(i):
    return "black" if not labelled[i] else "green" if ok[i] else "red"


cols = 4
rows = -(-len(pick) // cols)
fig, axes = plt.subplots(rows, cols, figsize=figsize(0.3 * rows + 0.08), squeeze=False)
for ax in axes.flat[len(pick) :]:
    ax.set_axis_off()
for ax, i, heat in zip(axes.flat, pick, result.maps):
    convviz.plot_heatmap_overlay(test.x[i], heat, ax=ax, color=color(i), title=title(i))
convviz.plot_heat_colorbar(axes, label="Grad-CAM, each map scaled\nto [0, 1] by its maximum")
shown_wrong = int((labelled[pick] & ~ok[pick]).sum())
shown_right = int((labelled[pick] & ok[pick]).sum())
shown_unlabelled = len(pick) - shown_wrong - shown_right
accuracy = test.accuracy(pred)
if accuracy is None:
    print(f"Grad-CAM at layer {layer}; {len(test)} unlabelled images: no accuracy, the titles show predictions.")
else:
    print(
        f"Grad-CAM at layer {layer}. Accuracy {accuracy:.2%} on the {int(labelled.sum())} labelled test images "
        f"({len(wrong)} wrong); showing {len(pick)} test images: {shown_right} right, {shown_wrong} wrong"
        + (f", {shown_unlabelled} unlabelled." if shown_unlabelled else ".")
    )
if len(names) > 10:  # many classes: the top-5 predictions say more than one name
    print("\nTop-5 predictions:")
    for i, top in zip(pick, convviz.top_k(probs[pick], names, k=5)):
        who = test.image_names[i] if test.image_names else f"image {i}"
        print(f"  {who:<18} " + ", ".join(f"{name} {p:.1%}" for name, p in top))
# what this page computes, last: the reader reads the figure's own lines first
print("\n" + budget.describe("gradcam"))

# %%
# Five methods on the same images
# -------------------------------
# Grad-CAM, Grad-CAM++, Layer-CAM, HiResCAM (each position keeps its own gradient instead of
# Grad-CAM's spatial mean) and Score-CAM (the input masked by its most active channels), each
# explaining the predicted class. Pixel-level methods (saliency, Integrated Gradients, Guided
# Backprop…) are on the [pixel attributions page](attributions.md).
methods = list(convviz.CAM_METHODS)
show = pick[:5]
fig, axes = plt.subplots(len(methods), len(show), figsize=figsize(0.19 * len(methods) + 0.05), squeeze=False)
for row, method in zip(axes, methods):
    maps = convviz.grad_cam(
        model, test.x[show], layer=layer, method=method, scorecam_channels=budget.scorecam_channels, cache=True
    )
    for ax, i, heat in zip(row, show, maps):
        convviz.plot_heatmap_overlay(test.x[i], heat, ax=ax)
    row[0].set_title(display_name(method))
convviz.plot_heat_colorbar(axes, label="each map scaled to [0, 1] by its maximum")
print(f"{len(methods)} methods on the first {len(show)} of the {len(pick)} images above.")

# %%
# Do the maps point at the object?
# --------------------------------
# The pointing game (Zhang et al. 2016) takes one point per map, its maximum, and counts a
# hit when it lies inside the object mask (a tie between several maxima counts as the share
# of them inside: a flat map scores the chance rate, not 100%). The energy-based pointing
# game measures the share of the map's mass inside the mask. Two baselines: a centered
# Gaussian (objects are often central) and random maps.
n = min(budget.cam_images, len(test.x))
x = test.x[:n]
all_maps = {
    m: convviz.grad_cam(model, x, layer=layer, method=m, scorecam_channels=budget.scorecam_channels, cache=True)
    for m in methods
}
baselines = {
    "center baseline": convviz.center_baseline(x.shape[1:3], n),
    "random baseline": convviz.random_baseline(x.shape[1:3], n),
}
if test.masks is not None:
    masks = test.masks[:n]
    rows_ = [
        (name, convviz.pointing_game(maps, masks).mean(), convviz.energy_pointing_game(maps, masks).mean())
        for name, maps in {**all_maps, **baselines}.items()
    ]
    record("pointing_game", {name: pg for name, pg, _ in rows_})
    fig, ax = plt.subplots(figsize=figsize(0.42))
    pos = np.arange(len(rows_))
    ax.barh(pos - 0.2, [r[1] * 100 for r in rows_], 0.4, label="pointing game")
    ax.barh(pos + 0.2, [r[2] * 100 for r in rows_], 0.4, label="energy pointing game")
    ax.set_yticks(pos, [display_name(r[0]) for r in rows_])
    ax.invert_yaxis()
    ax.set_xlim(0, 100)
    ax.set_xlabel("share of the maps on the object (%)")
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1), frameon=False)
    ax.set_title(f"Localization on {n} test images with object masks")
    print(f"{'method':<21}{'pointing game':>15}{'energy':>9}   ({n} test images)")
    for name, pg, energy in rows_:
        print(f"{display_name(name):<21}{pg:>15.1%}{energy:>9.1%}")
    best = max(rows_[: len(methods)], key=lambda r: r[1])
    center = rows_[len(methods)][1]
    print(
        f"\nBest: {display_name(best[0])} at {best[1]:.1%}, "
        + (
            f"{(best[1] - center) * 100:+.1f} points over the centered Gaussian."
            if best[1] > center
            else f"not above the centered Gaussian ({center:.1%}): these maps do not localize the object."
        )
    )
    hits = convviz.pointing_game(all_maps["gradcam"], masks)
    print("\nGrad-CAM pointing game per class:")
    for c, cname in enumerate(names):
        sel = test.y[:n] == c
        if sel.any():
            print(f"  {cname:<10}{hits[sel].mean():7.1%}  ({int(sel.sum())} images)")
else:
    print(f"The {entry.dataset!r} dataset has no object masks: no pointing game here.")

# %%
# Do the highlighted pixels carry the decision?
# ---------------------------------------------
# Deletion (Petsiuk et al. 2018, RISE): black out pixels in the map's order, most important
# first; a faithful map makes the class probability fall fast (a **low** area under the
# curve). Insertion: add them, in the same order, to a blurred copy of the image; the
# probability should rise fast (a **high** area). A random map is the baseline each method
# must beat on both.
k = min(budget.cam_curve_images, n)  # 48 images (8 over 128 pixels), fewer for a costly model
curves = {}
for name, maps in {
    **{m: all_maps[m][:k] for m in methods},
    "random baseline": baselines["random baseline"][:k],
}.items():
    d = convviz.deletion_curve(model, x[:k], maps, class_index=pred[:k], steps=budget.curve_steps, cache=True)
    i = convviz.insertion_curve(model, x[:k], maps, class_index=pred[:k], steps=budget.curve_steps, cache=True)
    curves[name] = (d.mean(0), i.mean(0), convviz.auc(d).mean(), convviz.auc(i).mean())
record("deletion_auc", {name: c[2] for name, c in curves.items()})
record("insertion_auc", {name: c[3] for name, c in curves.items()})
fig, axes = plt.subplots(1, 2, figsize=figsize(0.5), sharey=True)
rnd = curves["random baseline"]
frac = np.linspace(0, 100, len(rnd[0]))
for j, (name, (d, i, d_auc, i_auc)) in enumerate(curves.items()):
    style = dict(ls="--", color="gray") if name == "random baseline" else dict(ls=("-", "--", "-.", ":")[j % 4])
    axes[0].plot(frac, d, **style)
    axes[1].plot(frac, i, label=f"{display_name(name)} ({d_auc:.2f} / {i_auc:.2f})", **style)
for ax, head in zip(axes, ("Deletion (low is faithful)", "Insertion (high is faithful)")):
    ax.set_xlabel("share of pixels (%)")
    ax.set_ylim(0, 1.02)
    ax.set_title(head)
axes[0].set_ylabel("class probability")
axes[1].legend(title="area: deletion / insertion", loc="upper left", bbox_to_anchor=(1.02, 1), frameon=False)
print(f"{'method':<21}{'deletion AUC (low)':>20}{'insertion AUC (high)':>22}   ({k} images)")
for name, (_, _, d_auc, i_auc) in curves.items():
    print(f"{display_name(name):<21}{d_auc:>20.3f}{i_auc:>22.3f}")
beat = [m for m in methods if curves[m][2] < rnd[2] and curves[m][3] > rnd[3]]
print(
    "\nBeat the random map on both curves: "
    + (", ".join(display_name(m) for m in beat) if beat else "none of the methods")
    + "."
)
if all(curves[m][2] >= rnd[2] for m in methods):
    print(
        f"Deleting scattered random pixels lowers the probability faster (AUC {rnd[2]:.3f}) than deleting any\n"
        f"map's most important pixels: on these {x.shape[1]}×{x.shape[2]} images black speckles take the image out\n"
        "of what the model was trained on, so deletion measures that fragility more than the maps'\n"
        "faithfulness (Hooker et al. 2019); insertion into a blurred copy is the fairer test here."
    )

# %%
# Sanity check: do the maps depend on the weights?
# ------------------------------------------------
# Adebayo et al. (2018): re-initialize the layers from the top down, one more at each
# step. A map that explains the model must change: its rank correlation with the trained
# model's map falls. A method **passes** here when the mean correlation ends closer to
# unrelated (0) than to identical (1). A map that is constant (all zero) at some
# step has nothing to rank: it is counted as *degenerate*, never as a pass. The pixel
# attributions page runs the same check on Guided Backprop and the other pixel methods.
checks = [
    convviz.randomization_check(
        model, test.x[pick], method=m, layer=layer, checkpoints=budget.cam_checkpoints or None, cache=True
    )
    for m in ("gradcam", "gradcam++", "layercam")
]
record("sanity_check", {r.method: r.verdict() for r in checks})
fig, ax = plt.subplots(figsize=figsize(0.5))
convviz.plot_randomization(checks, ax=ax)
for r in checks:
    print(
        f"{display_name(r.method):<11} final rank correlation {r.final_spearman():+.2f}, "
        f"{r.degenerate_share():.0%} degenerate maps: {r.verdict()}"
    )
print(f"(a method passes when its final mean correlation is below {PASS_THRESHOLD})")
