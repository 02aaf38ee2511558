"""
Changes · {{MODEL}}
===================

What changed between {{MODEL}} and the model its zoo entry compares it with
(`compare_to`). Look first at the confusion matrix (blue cells: better, red: worse), then at
the flipped predictions and the layers that changed. *Model: {{TITLE}}.*

"""

# %%
# The two versions on the test split
# ----------------------------------
# *Old* is the reference named by `compare_to`, *new* is this zoo entry; both see the
# same test images. A flip is an image whose predicted class changed.
import matplotlib.pyplot as plt
import numpy as np

import convviz
from convviz import zoo
from convviz.figures.diff import (
    changed_units,
    figure_size,
    plot_cam_agreement,
    plot_cka,
    plot_confusion_change,
    plot_flips,
    plot_latent_shift,
    plot_unit_change,
    plot_unit_patterns,
)
from convviz.review.report import unit_patterns
from convviz.compare.gate import evaluate
from convviz.review.revisions import reference_version
from convviz.review.seedband import seed_band
from convviz import record

MODEL = "{{MODEL}}"
# mkdocs_gallery_convviz_fingerprint = "{{FINGERPRINT}}"
# mkdocs_gallery_thumbnail_number = 1
convviz.use_site_style()
entry = zoo.entry(MODEL)
reference = reference_version(entry)
label, old = reference.label, reference.model
new = zoo.load(entry)
test = zoo.dataset(entry, "test")
labels = test.y if test.labelled.any() else None
diff = convviz.diff_models(old, new, test.x, labels, masks=test.masks, cache=True)
names = test.class_names
print(f"old: {label}" + (f" ({reference.note})" if reference.note else ""))
print(f"new: {MODEL}\n{diff.n:,} test images, {len(diff.flips):,} predictions flipped")
record("reference", label)
record("flips", int(len(diff.flips)))
accuracy = diff.accuracy()
if accuracy is not None:
    print(
        f"accuracy {accuracy[0]:.2%} → {accuracy[1]:.2%} ({(accuracy[1] - accuracy[0]) * 100:+.2f} points): "
        f"{len(diff.broken)} right → wrong, {len(diff.fixed)} wrong → right"
    )
    record("accuracy_old", accuracy[0])
    record("accuracy_new", accuracy[1])
    fig, ax = plt.subplots(figsize=figure_size("confusion", diff))
    plot_confusion_change(diff, class_names=names, ax=ax)
else:
    print("no labels: the flips are counted, the accuracy is not")

# %%
# Which layers changed
# --------------------
# Linear CKA (Kornblith et al., 2019) compares how two layers arrange the same images: 1 when
# one representation is a rotation and scaling of the other, lower as they differ. It does
# not need the units to correspond, so it also compares two independently trained versions.
# A trained entry with `seed_band: N` is compared with N other seeds of its own recipe: a
# black mark per layer is the lowest CKA two seeds reach; a bar that ends left of it changed
# more than retraining with another seed changes it, and is drawn red. Without a seed band,
# red marks the most changed layer.
band = seed_band(entry, cache=True)
low = None if band is None else band.low()
fig, ax = plt.subplots(figsize=figure_size("cka", diff))
plot_cka(diff, ax=ax, band=low)
worst = diff.most_changed_layer()
if worst is None:
    print("every compared layer has CKA 1: the two versions represent the images alike")
else:
    print(f"lowest CKA: {diff.cka[worst]:.3f} at {worst}")
    record("min_cka", diff.cka[worst])
if low is not None:
    below = [k for k, v in diff.cka.items() if k in low and v < low[k]]
    print(
        f"seed band ({len(band.seeds)} other seeds): "
        + (
            f"{len(below)} of {len(low)} layers changed more than a reseed changes them: {', '.join(below)}"
            if below
            else f"all {len(low)} layers stay within what a reseed changes"
        )
    )
    record("below_seed_band", below)
if entry.gate:
    for check in evaluate(diff, entry.gate, band=low):
        print("gate: " + check.sentence())

# %%
# The predictions that flipped
# ----------------------------
# Right → wrong first, then wrong → right, each with both versions' Grad-CAM for the true class.
SHOWN_FLIPS = 6
if len(diff.flips):
    axes = plot_flips(diff, test.x, class_names=names, n=SHOWN_FLIPS)
    print(
        f"showing {min(SHOWN_FLIPS, len(diff.flips))} of the {len(diff.flips)} flips (this page shows "
        f"{SHOWN_FLIPS} at most), right → wrong first"
    )
else:
    print("no prediction flipped")

# %%
# Do the explanations still point at the same place?
# --------------------------------------------------
# Per image, the correlation of the two versions' Grad-CAMs; with object masks, how often
# each map's peak falls on the object (the pointing game); and whether each version's maps
# still depend on its weights (the randomization check).
fig, ax = plt.subplots(figsize=figure_size("cam agreement", diff))
plot_cam_agreement(diff, ax=ax)
corr = diff.cam_correlation[np.isfinite(diff.cam_correlation)]
if len(corr):
    print(f"median correlation of the two Grad-CAMs: {np.median(corr):.3f}")
    record("cam_median_correlation", float(np.median(corr)))
if diff.pointing_old is not None and diff.pointing_new is not None:
    print(f"pointing game: {diff.pointing_old.mean():.2%} → {diff.pointing_new.mean():.2%}")
else:
    print("pointing game: not computed (this dataset has no object masks)")
if diff.sanity_old is not None and diff.sanity_new is not None:
    # Adebayo et al.'s check: maps of a model with re-initialized weights should not look alike
    print(
        f"randomization check: old {diff.sanity_old[0]} (rank correlation {diff.sanity_old[1]:.2f} once "
        f"randomized), new {diff.sanity_new[0]} ({diff.sanity_new[1]:.2f})"
    )

# %%
# The units that changed most
# ---------------------------
# In the most changed conv layer, each unit's response over the test images before and after
# (1 − correlation); a unit dead (constant) in one version only has no correlation and is
# drawn gray at 1. Units keep their identity only when the versions share an
# initialization (fine-tuning); between independent trainings, compare layers by CKA instead.
picked = changed_units(diff)
if picked is None:
    print("no conv layer changed")
else:
    layer = picked[0]
    fig, ax = plt.subplots(figsize=figure_size("units", diff))
    plot_unit_change(diff, layer, ax=ax)
    _, old_patterns, new_patterns = unit_patterns(diff, (old, new), test.x, cache=True)
    axes = plot_unit_patterns(old_patterns, new_patterns, diff.unit_change[layer])

# %%
# How the latent space moved
# --------------------------
# The layer before the last of both versions, aligned by orthogonal Procrustes (rotation,
# reflection and scale removed) and drawn on the old version's two principal axes; arrows
# lead from the old to the new place of the images that moved most, labelled by rank
# (#1 moved most; the colours are the classes).
fig, ax = plt.subplots(figsize=figure_size("latent shift", diff))
plot_latent_shift(diff, class_names=names, ax=ax)
print(f"Procrustes disparity: {diff.latent_disparity:.3f} (0: the same arrangement)")
record("latent_disparity", diff.latent_disparity)
