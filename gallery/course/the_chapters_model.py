"""
The chapter's model: Xception on ImageNet
=========================================

The chapter's own setup, computed at build time: the filter patterns of Xception's
`block3_sepconv1` at 200×200 pixels, and Grad-CAM at the last convolution block on a
photo, with the class it explains named. It uses Xception with its ImageNet weights
whenever they are on the machine (the published site has them); offline it falls back to
`shapes-xception`, the small Xception convviz trains, which has the same layer names,
and says so first.
"""

# %%
# Which model
# -----------
# mkdocs_gallery_thumbnail_number = 2
import textwrap

import matplotlib.pyplot as plt
import numpy as np

import convviz
from convviz import zoo

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
    print(f"Using {entry.name}: Xception with its ImageNet weights, as in the chapter.")
else:
    entry = zoo.entry("shapes-xception")
    size, n_filters = 64, 64
    why = zoo.usable(chapter[0])[1] if chapter else "the zoo has no Xception ImageNet entry"
    print(
        "NOTE: the chapter's Xception is not available here.\n"
        + textwrap.fill(
            f"{why}. These figures use shapes-xception, the small Xception convviz trains on "
            "generated shapes, with the same layer names. Run `convviz zoo fetch` (or set "
            "CONVVIZ_ALLOW_DOWNLOAD=1) and rebuild to see the chapter's model.",
            70,
        )
    )
model = zoo.load(entry)
data = zoo.dataset(entry, "test")

# %%
# Filter patterns of ``block3_sepconv1``
# --------------------------------------
# The chapter's recipe (30 steps of normalized gradient ascent from a gray image), all
# filters in one batch. Red frames: filters that never fire on the dataset's images.
patterns = convviz.visualize_filters(model, "block3_sepconv1", n_filters, image_size=size, data=data.x[:256])
fig, ax = plt.subplots(figsize=(8, 8))
convviz.plot_filter_grid(
    patterns, ax=ax, margin=2, title=f"{entry.name}: block3_sepconv1, {n_filters} filters at {size} px"
)
print(
    f"{len(patterns)} filters in {patterns.seconds:.1f} s; mean objective {patterns.losses.mean():.2f}; "
    f"{int(patterns.dead.sum())} dead on data, {int(patterns.unexcited.sum())} not excited"
)

# %%
# Grad-CAM at the last convolution block
# --------------------------------------
# On the photos (ImageNet) the cat; on the shapes, a ring. The title names the class the
# map explains, the model's top prediction, with its probability.
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
fig, axes = plt.subplots(1, 2, figsize=(8, 4.2))
axes[0].imshow(data.x[pick].squeeze())
axes[0].set_title(f"input (label: {truth})", fontsize=10)
axes[0].set_axis_off()
convviz.plot_heatmap_overlay(
    data.x[pick], result.maps[0], ax=axes[1], title=f"explains '{explained}' (p = {p:.0%}) at {layer}"
)
fig.tight_layout()
right = data.subset(slice(pick, pick + 1)).correct(result.classes)[0]
print(
    f"{entry.name} predicts '{explained}' with probability {p:.1%}; the label is '{truth}': "
    + ("right." if right else "wrong." if data.y[pick] >= 0 else "unlabelled.")
)
print("Top-5:", ", ".join(f"{n} {q:.1%}" for n, q in convviz.top_k(result.probabilities, names)[0]))
