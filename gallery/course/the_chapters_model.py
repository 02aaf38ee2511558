"""
The chapter's model: Xception on ImageNet
=========================================

The chapter's own setup, computed at build time: Grad-CAM at Xception's last convolution
block, then the filter patterns of `block3_sepconv1`.

!!! {{ number course.the_chapters_model.note_kind }} "Which model: {{ number course.the_chapters_model.note_title }}"
    {{ number course.the_chapters_model.note }}
"""

# %%
# Grad-CAM at the last convolution block
# --------------------------------------
# With the chapter's model, the cat photo; offline, a ring from the shapes. The title names the
# class the map explains, the model's top prediction, with its probability.
import matplotlib.pyplot as plt
import numpy as np

import convviz
from convviz import record, zoo
from convviz.figures.style import figsize

# mkdocs_gallery_thumbnail_number = 1
convviz.use_site_style()
chapter = [
    e
    for e in zoo.read()
    if e.source == "keras.applications"
    and e.options.get("application") == "Xception"
    and e.options.get("weights") == "imagenet"
]
if chapter and zoo.usable(chapter[0])[0]:
    entry = chapter[0]  # zoo.entry("xception-imagenet") in the default zoo
    size, n_filters = 200, 64  # the chapter's figure: 64 patterns at 200 px
    record("note_kind", "success")
    record("note_title", f"the chapter's model, {entry.name}")
    record("note", "Xception with its ImageNet weights, on real photos, as in the chapter.")
else:
    entry = zoo.entry("shapes-xception")
    size, n_filters = 64, 64
    why = zoo.usable(chapter[0])[1] if chapter else "the zoo has no Xception entry with ImageNet weights"
    record("note_kind", "warning")
    record("note_title", "this build could not use the chapter's model: the figures show shapes-xception")
    record(
        "note",
        f"{why}. Shown instead: shapes-xception, the small Xception convviz trains on generated shapes, "
        "with the same layer names. To see the chapter's figures, run convviz zoo fetch (or set "
        "CONVVIZ_ALLOW_DOWNLOAD=1) and build again; the published site has them.",
    )
model = zoo.load(entry)
data = zoo.dataset(entry, "test")
names = data.class_names
pick = (
    data.image_names.index("cat")
    if data.image_names and "cat" in data.image_names
    else int(np.flatnonzero(data.y == list(names).index("ring"))[0])
)
layer = entry.cam_layer(model)
result = convviz.cam_with_predictions(model, data.x[pick : pick + 1], layer=layer)
explained = names[int(result.classes[0])]
p = float(result.probabilities[0, int(result.classes[0])])
truth = names[data.y[pick]] if data.y[pick] >= 0 else "no label"
fig, axes = plt.subplots(1, 2, figsize=figsize(0.5))
axes[0].imshow(data.x[pick].squeeze())
axes[0].set_title(f"input (label: {truth})")
axes[0].set_axis_off()
convviz.plot_heatmap_overlay(data.x[pick], result.maps[0], ax=axes[1], title=f"Grad-CAM for '{explained}' ({p:.0%})")
convviz.plot_heat_colorbar(axes[1])
right = data.subset(slice(pick, pick + 1)).correct(result.classes)[0]
print(
    f"{entry.name} predicts '{explained}' with probability {p:.1%} (map at {layer}); the label is '{truth}': "
    + ("right." if right else "wrong." if data.y[pick] >= 0 else "unlabelled.")
)
print("Top-5:", ", ".join(f"{n} {q:.1%}" for n, q in convviz.top_k(result.probabilities, names)[0]))

# %%
# Filter patterns of ``block3_sepconv1``
# --------------------------------------
# The chapter's recipe (30 steps of normalized gradient ascent from a gray image), all
# filters in one batch. Red frames: filters that never fire on the dataset's images. Deeper
# down, the zoo's pages switch to the robust recipe (lucid's), whose transforms keep the
# noise that only fools the network out; MaCo, which keeps real images' spectrum and moves
# only its phase, is measured against it on [the performance page](../../performance.md#feature-visualizations-robust-or-maco).
patterns = convviz.visualize_filters(model, "block3_sepconv1", n_filters, image_size=size, data=data.x[:256])
fig, ax = plt.subplots(figsize=figsize(1.0))
convviz.plot_filter_grid(
    patterns, ax=ax, margin=2, title=f"{entry.name}: block3_sepconv1, {n_filters} filters at {size} px"
)
print(
    f"{len(patterns)} filters in {patterns.seconds:.1f} s; mean objective over them {patterns.losses.mean():.2f}; "
    f"{int(patterns.dead.sum())} dead on data, {int(patterns.unexcited.sum())} not excited"
)
