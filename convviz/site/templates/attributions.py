"""
Pixel attributions · {{MODEL}}
==============================

Which pixels drove {{MODEL}}'s decision, six methods side by side on the images of the
[Grad-CAM page](gradcam.md). Look at whether a method's map follows the object or merely
redraws the image's edges; the evidence for each method follows. *Model: {{TITLE}}.*

"""

# %%
# Every method on the same images
# -------------------------------
# Each map explains the predicted class; shown: each pixel's magnitude, Grad-CAM beside them.
# The methods, their options and what each map measures are below the figure.
import textwrap
import warnings

import matplotlib.pyplot as plt
import numpy as np

import convviz
from convviz import pick_examples, record, zoo
from convviz.attr.attribute import method_options
from convviz.attr.gradients import COMPLETENESS_TOLERANCE
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
budget = zoo.page_budget(entry, model, images=len(test.x))
record("budget", budget.knobs())
pick = pick_examples(ok, labelled, n=budget.examples)
show = pick[:5]
PATH = {"steps": budget.ig_steps, "samples": budget.sg_samples}  # Integrated Gradients' and SmoothGrad's
methods = list(convviz.ATTRIBUTION_METHODS)


def explain(method, x):
    """Attributions of the predicted class (cached like every figure of the site); what the
    library would warn about is said below, in words, from the results themselves."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", convviz.BlankMapWarning)
        warnings.simplefilter("ignore", convviz.IncompleteAttributionWarning)
        return convviz.attribute_with_predictions(model, x, method=method, layer=layer, **PATH, cache=True)


def issues(r):
    """Sentences about a result: all-zero maps, Integrated Gradients' completeness."""
    out = []
    zero = int((~r.attributions.reshape(len(r.attributions), -1).any(axis=1)).sum())
    if zero:
        out.append(
            f"{zero} of {len(r.attributions)} maps are all zero (the class score does not depend on the input there)"
        )
    c = r.completeness
    if c is not None and (c > COMPLETENESS_TOLERANCE).any():
        out.append(
            f"{int((c > COMPLETENESS_TOLERANCE).sum())} of the table's {len(c)} images (not the figure's) "
            f"miss completeness by more than {COMPLETENESS_TOLERANCE:.0%} (up to {c.max():.0%}): "
            "more steps would fix them"
        )
    return out


results = {m: explain(m, test.x[pick]) for m in methods}
cams = convviz.grad_cam(model, test.x[pick], layer=layer, cache=True)
cols = ["image", "gradcam", *methods]
fig, axes = plt.subplots(len(show), len(cols), figsize=figsize(0.16 * len(show) + 0.16), squeeze=False)
for r, i in enumerate(show):
    img = test.x[i]
    axes[r, 0].imshow(img[..., 0] if img.shape[-1] == 1 else img, cmap="gray", vmin=0, vmax=1)
    axes[r, 0].set_axis_off()
    truth = names[test.y[i]] if labelled[i] else "?"
    axes[r, 0].set_title(
        f"{truth}\n→ {names[pred[i]]}",
        fontsize=9,
        loc="center",
        color="black" if not labelled[i] else "green" if ok[i] else "red",
    )
    convviz.plot_heatmap_overlay(img, cams[r], ax=axes[r, 1])
    for c, m in enumerate(methods, start=2):
        convviz.plot_attribution(convviz.attribution_map(results[m].attributions[r]), ax=axes[r, c])
for c, name in enumerate(cols):
    if name != "image":
        axes[0, c].set_title(textwrap.fill(display_name(name), 11), fontsize=9, loc="center")
convviz.plot_heat_colorbar(
    axes[:, 2:], kind="magnitude", orientation="horizontal", label="magnitude, each map scaled by its 99th percentile"
)
print(f"{len(methods)} methods on the first {len(show)} of the {len(pick)} images of the Grad-CAM page.")
print(
    "Each map: the attribution's absolute values summed over the color channels, scaled by\n"
    "its 99th percentile so that a few extreme pixels do not darken the rest (the colour bar)."
)
print()  # the sentences above wrap; the options below keep their columns
print(f"Grad-CAM at layer {layer}; the methods' options:")
for m in methods:
    opts = method_options(m, {**PATH, "layer": layer})
    print(f"  {display_name(m):<22}" + (", ".join(f"{k}={v}" for k, v in opts.items()) if opts else "no options"))
# what this page computes, last: the reader reads the figure's own lines first
print("\n" + budget.describe("attributions"))

# %%
# Signed evidence: for the class, or against it
# ---------------------------------------------
# Gradient × input and Integrated Gradients are signed: summed over the color channels,
# red pixels raise the class score and blue pixels lower it. Integrated Gradients is
# *complete*: its attributions add up to the score of the image minus the score of the
# black baseline, which tells how well its path integral converged.
signed = ["gradient_x_input", "integrated_gradients"]
fig, axes = plt.subplots(len(signed), len(show), figsize=figsize(0.2 * len(signed) + 0.12), squeeze=False)
for row, m in zip(axes, signed):
    for ax, r in zip(row, range(len(show))):
        convviz.plot_attribution(convviz.attribution_map(results[m].attributions[r], reduce="sum"), ax=ax, signed=True)
    row[0].set_title(display_name(m))
convviz.plot_heat_colorbar(axes, kind="signed")
err = results["integrated_gradients"].completeness
print(
    f"Integrated Gradients completeness on these {len(err)} images: the attributions miss\n"
    f"y(image) − y(black) by {np.median(err):.2%} (median), {err.max():.2%} at most;\n"
    + (
        f"every image within the {COMPLETENESS_TOLERANCE:.0%} tolerance."
        if (err <= COMPLETENESS_TOLERANCE).all()
        else f"{int((err > COMPLETENESS_TOLERANCE).sum())} image(s) above the "
        f"{COMPLETENESS_TOLERANCE:.0%} tolerance "
        "(more steps would fix them)."
    )
)
record("ig_completeness_median", float(np.median(err)))

# %%
# The evidence, method by method
# ------------------------------
# The same tests as the Grad-CAM page, on each method's magnitude map:
#
# * **pointing game** and **energy pointing game** against the object masks, where the
#   dataset has them (the share of maps whose maximum, or whose mass, lies on the object);
# * **deletion** AUC (black out pixels in the map's order: low is faithful) and
#   **insertion** AUC (add them to a blurred copy: high is faithful), Petsiuk et al. 2018;
# * the **randomization check**: re-initialize the weighted layers from the top down and
#   compare each method's maps with the trained model's (rank correlation; a method
#   *passes* when it ends closer to unrelated (0) than to identical (1) — its maps depend
#   on what the model learned; the maps
#   are compared at a few depths of the cascade, the last with every layer re-initialized).
#
# Grad-CAM and a random map are the reference rows.
n = min(budget.evidence_images, len(test.x))
x = test.x[:n]
maps = {"gradcam": convviz.grad_cam(model, x, layer=layer, cache=True)}
notes = {}
for m in methods:
    r = explain(m, x)
    maps[m] = convviz.attribution_map(r.attributions)
    notes[m] = issues(r)
maps["random baseline"] = convviz.random_baseline(x.shape[1:3], n)
k = min(budget.attr_curve_images, n)  # 32 images (8 over 128 pixels), fewer for a costly model
table = {}
for name, hm in maps.items():
    row = {}
    if test.masks is not None:
        row["pointing game"] = float(convviz.pointing_game(hm, test.masks[:n]).mean())
        row["energy"] = float(convviz.energy_pointing_game(hm, test.masks[:n]).mean())
    row["deletion AUC"] = float(
        convviz.auc(
            convviz.deletion_curve(model, x[:k], hm[:k], class_index=pred[:k], steps=budget.curve_steps, cache=True)
        ).mean()
    )
    row["insertion AUC"] = float(
        convviz.auc(
            convviz.insertion_curve(model, x[:k], hm[:k], class_index=pred[:k], steps=budget.curve_steps, cache=True)
        ).mean()
    )
    table[name] = row
# 8 images at 4 depths (4 at 3 over 128 pixels), fewer for a costly model
checked, depths = pick[: budget.sanity_images], budget.sanity_depths
checks = {
    m: convviz.randomization_check(
        model,
        test.x[checked],
        method=m,
        layer=layer,
        checkpoints=depths,
        options=None if m == "gradcam" or PATH == {"steps": 50, "samples": 25} else PATH,
        cache=True,
    )
    for m in ["gradcam", *methods]
}
for m, c in checks.items():
    table[m]["randomization"] = c.verdict()
    table[m]["final correlation"] = c.final_spearman()  # NaN when every final map is flat
HEAD = {
    "pointing game": "pointing",
    "energy": "energy",
    "deletion AUC": "deletion↓",
    "insertion AUC": "insertion↑",
    "randomization": "verdict",
    "final correlation": "final corr.",
}


def cell(row, c):
    v = row.get(c)
    if v is None or (isinstance(v, float) and np.isnan(v)):
        return f"{'—':>12}"
    if c in ("pointing game", "energy"):
        return f"{v:>12.1%}"
    return f"{v:>+12.2f}" if c == "final correlation" else f"{v:>12.3f}" if isinstance(v, float) else f"{v:>12}"


for title, columns in (
    ("Localization and faithfulness", [c for c in table["gradcam"] if c in HEAD][:-2]),
    ("Randomization check", ["randomization", "final correlation"]),
):
    print(f"{title}:\n{'method':<21}" + "".join(f"{HEAD[c]:>12}" for c in columns))
    for name, row in table.items():
        if any(c in row for c in columns):
            print(f"{display_name(name):<21}" + "".join(cell(row, c) for c in columns))
    print()
print(
    f"{n} test images for the localization, {k} for the curves,\n{len(checked)} for the randomization check "
    f"(compared at {len(checks['gradcam'].layers)} depths of the cascade)."
)
record("evidence", table)

# %%
# What the numbers say
# --------------------
rnd = table["random baseline"]
faithful = [
    m
    for m in methods
    if table[m]["deletion AUC"] < rnd["deletion AUC"] and table[m]["insertion AUC"] > rnd["insertion AUC"]
]
passed = [m for m in methods if checks[m].verdict() == "passes"]
failed = [m for m in methods if checks[m].verdict() == "fails"]
say = lambda text: print(textwrap.fill(text, 78, break_on_hyphens=False))  # noqa: E731
words = lambda ms: ", ".join(display_name(m) for m in ms) if ms else "none"  # noqa: E731
say(f"Beat the random map on both curves: {words(faithful)}.")
fragile = [m for m in methods if table[m]["deletion AUC"] >= rnd["deletion AUC"]]
if len(fragile) == len(methods):
    say(
        f"Deleting scattered random pixels lowers the class probability faster "
        f"(AUC {rnd['deletion AUC']:.3f}) than deleting any map's most important pixels: on these "
        f"{x.shape[1]}×{x.shape[2]} images black speckles take the image out of what the model was "
        "trained on, so deletion measures that fragility more than the maps' faithfulness (the "
        "objection of Hooker et al. 2019 to pixel removal); insertion into a blurred copy is the "
        "fairer test here."
    )
say(
    f"Pass the randomization check (maps depend on the learned weights; final mean rank correlation "
    f"below {PASS_THRESHOLD}): {words(passed)}."
)


def still_similar(check):
    """The deepest layer down to which the maps still resemble the trained model's (mean rank
    correlation at or above the threshold), or None."""
    above = [
        name
        for name, v, flat in zip(check.layers, check.spearman, check.degenerate)
        if (~flat).any() and v[~flat].mean() >= check.threshold
    ]
    return above[-1] if above else None


slow = {m: still_similar(checks[m]) for m in methods if still_similar(checks[m])}
if slow:
    say(
        "Still similar to the trained model's maps with the top of the model re-initialized: "
        + "; ".join(f"{display_name(m)} down to {where}" for m, where in slow.items())
        + ". These maps follow the image (its edges) more than the upper layers' weights, as Adebayo "
        "et al. found for Guided Backprop."
    )
if failed:
    say(
        f"Fail it (maps barely change when the weights are destroyed, as Adebayo et al. found for "
        f"Guided Backprop): {words(failed)}: they show the image's edges more than the model's reasons."
    )
if test.masks is not None:
    best = max(methods, key=lambda m: table[m]["pointing game"])
    say(
        f"Best pixel-level localizer: {display_name(best)} at {table[best]['pointing game']:.1%} "
        f"(Grad-CAM {table['gradcam']['pointing game']:.1%}, random {rnd['pointing game']:.1%})."
    )
for m, found in notes.items():
    for sentence in found:
        say(f"Note ({display_name(m)}): {sentence}.")
fig, ax = plt.subplots(figsize=figsize(0.5))
convviz.plot_randomization(list(checks.values()), ax=ax)

# %%
# Which method to trust: the scorecard
# ------------------------------------
# Every CAM and attribution method scored by five families of metrics, each beside a random
# map and an edge detector computed the same way: **faithfulness** (ROAD, which fills the
# removed pixels by noisy linear imputation instead of black, and Average Drop),
# **randomization** (Smooth MPRT: the maps as the weights are re-drawn, averaged over noisy
# copies; RandomLogit: the map of another class), **robustness** (Max- and Avg-Sensitivity to
# small noise), **complexity** (Sparseness, Complexity) and, where the dataset has object
# masks, **localisation** (Relevance Mass, Relevance Rank). Each mark's rule is printed under
# the figure; [the Trust page](../trust/index.md) compares every model of the zoo.
#
# Its randomization family asks more than the check above, which looks at the end of the
# cascade (every layer re-drawn): Smooth MPRT averages over every depth of the cascade, and
# RandomLogit asks that another class's map differ. A method whose maps change only once most
# layers are re-drawn can pass the check above and fail here. The edge detector sees the image
# and no model: where it earns a pass, a method's pass in that family shows nothing the image
# alone would not; the randomization family fails it by construction.
from convviz.evaluate.scorecard import BEATS, FAMILIES, METRICS, RULES, SHORT

card = zoo.scorecard_of(entry, model, test)
fig, ax = plt.subplots(figsize=figsize(0.12 + 0.075 * len(card.methods)))
convviz.plot_scorecard(card, ax=ax)
names = {m: display_name(m) for m in card.methods}
say(card.sentence(MODEL, names))
print()
for family in FAMILIES:
    if any(card.mark(m, family) != "n/a" for m in card.methods):
        say(f"{family}: {RULES[family]}.")
say(BEATS)
print()
arrow = {True: "↑", False: "↓"}
half = (len(card.metrics) + 1) // 2
for part in (card.metrics[:half], card.metrics[half:]):
    print(f"{'method':<22}" + "".join(f"{SHORT[k] + arrow[METRICS[k][1]]:>11}" for k in part))
    for m in card.methods:
        print(f"{names[m]:<22}" + "".join(f"{card.value(m, k):>11.3f}".replace("nan", "  —") for k in part))
    print()
column = {k: SHORT[k] + ("" if SHORT[k] == k else f" = {k}") for k in card.metrics}
decides = {k: METRICS[k][0] + ("" if METRICS[k][2] else ", shown, not in the mark") for k in card.metrics}
say("Columns: " + "; ".join(f"{column[k]} ({decides[k]})" for k in card.metrics) + ".")
print(
    "↑: higher is better, ↓: lower. Images per metric: "
    + ", ".join(f"{SHORT[k]} {n}" for k, n in card.images.items())
    + "; noisy copies of each: "
    + ", ".join(f"{SHORT[k]} {n}" for k, n in card.copies.items())
    + "."
)
record("scorecard", {m: {f: card.mark(m, f) for f in FAMILIES} for m in card.methods})
