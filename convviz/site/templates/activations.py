"""
Intermediate activations · {{MODEL}}
========================================

What the convolution and pooling layers of {{MODEL}} output for one test image, channel
by channel (chapter section 1). Look at how the channels change with depth: the first
layers keep the image's shapes, the deeper ones are coarser and more abstract. *Model:
{{TITLE}}.*

"""

# %%
# One image at three depths
# -------------------------
# Every channel of a shallow, a middle and the deepest layer for the test image on the
# left; a gray tile with a red cross is a channel blank (zero everywhere) for this image.
import matplotlib.pyplot as plt
import numpy as np

import convviz
from convviz import record, zoo
from convviz.figures.style import figsize

MODEL = "{{MODEL}}"
# mkdocs_gallery_convviz_fingerprint = "{{FINGERPRINT}}"
# mkdocs_gallery_thumbnail_number = 1
convviz.use_site_style()
entry = zoo.entry(MODEL)
model = zoo.load(entry)
test = zoo.dataset(entry, "test")
image = test.x[:1]
predicted = test.class_names[int(convviz.predict(model, image).argmax())]
label = (f"class {test.class_names[test.y[0]]}" if test.y[0] >= 0 else "no label") + f", predicted {predicted}"
activations = convviz.extract_activations(model, image)
names = list(activations)
MAX_CHANNELS = 64  # shown per layer in this figure; the browser below shows up to 128
depths = [names[0], names[len(names) // 2], names[-1]]


def blank(act):
    return int((act[0] == 0).all(axis=(0, 1)).sum())


width, _ = figsize(1)
tile = width * 3.2 / 4.2 / 16  # inches per channel in the grids on the right
heights = [tile * -(-min(activations[n].shape[-1], MAX_CHANNELS) // 16) + 0.3 for n in depths]
fig = plt.figure(figsize=(width, sum(heights) + 0.2))
grid = fig.add_gridspec(3, 2, width_ratios=[1, 3.2], height_ratios=heights)
ax = fig.add_subplot(grid[:, 0])
ax.imshow(image[0].squeeze(), cmap="gray" if image.shape[-1] == 1 else None)
ax.set_title("the input\n" + label.replace(", ", "\n"), loc="center", fontsize=9)
ax.set_axis_off()
for row, name in enumerate(depths):
    act = activations[name]
    channels = act.shape[-1]
    shown = min(channels, MAX_CHANNELS)
    convviz.plot_activation_grid(
        act[0, :, :, :shown],
        ncols=16 if shown >= 16 else shown,
        ax=fig.add_subplot(grid[row, 1]),
        title=f"{name}: {blank(act)} of {channels} channels blank"
        + (f" (first {shown} shown)" if shown < channels else ""),
    )
print(
    f"{MODEL}: input {entry.input_shape}, a test image ({label}). Blank for this image: "
    + ", ".join(f"{blank(activations[n])} of {activations[n].shape[-1]} channels of {n}" for n in depths)
    + "."
)

# %%
# Browse every layer
# ------------------
# Pick a layer (or step with the arrow keys) and one of a few test images: every channel
# of that layer for that image, blank ones crossed out; click a channel for its unit.
#
# [The layer browser's data (JSON)](layers/browser.json){ .convviz-layers }

# %%
# Does sparsity grow with depth?
# ------------------------------
# The chapter's observation is about one image at a time: deeper layers have more channels
# that stay blank for a given image. Per layer, the share of channels blank for each of the
# test images below (the box holds the middle half of the images, the line their median),
# and in red the channels blank for *every* one of them: dead on these images, a different
# thing. The black rings: the image of the first figure, to see whether it is a typical one.
SAMPLE = 200
many = convviz.extract_activations(model, test.x[:SAMPLE])
shares = convviz.blank_channel_share(many)
dead = convviz.layer_sparsity(many)
means = {name: float(np.mean(s)) for name, s in shares.items()}  # a few blank channels count too
record("blank_share_mean", means)
record("dead_share", dead)
record("sparsity_images", len(test.x[:SAMPLE]))
half = len(means) // 2
values = list(means.values())
shallow, deep = float(np.mean(values[:half])), float(np.mean(values[half:]))
record("blank_share_shallow", shallow)
record("blank_share_deep", deep)
fig, ax = plt.subplots(figsize=figsize(max(0.3, 0.045 * len(shares) + 0.2)))
first = {name: float(s[0]) for name, s in shares.items()}  # the first figure's image is test image 0
convviz.plot_sparsity(
    shares,
    dead=dead,
    mark=first,
    mark_label="the image of the first figure",
    ax=ax,
    title=f"Channels blank per layer, on {len(test.x[:SAMPLE])} test images",
)
# where that image stands among the others, on the layers where the images differ at all:
# the share of them with fewer blank channels than it, and the share with more
alike = [name for name, s in shares.items() if np.ptp(s) == 0]
fewer = {name: float(np.mean(s < s[0])) for name, s in shares.items() if name not in alike}
more = {name: float(np.mean(s > s[0])) for name, s in shares.items() if name not in alike}
unusual = [name for name in fewer if max(fewer[name], more[name]) > 0.75]
record("example_unusual_layers", len(unusual))
SAME = 0.005  # half a point of the channels: a smaller difference is no change
if deep - shallow >= SAME:
    verdict = "grows with depth"
elif shallow - deep >= SAME:
    verdict = "falls with depth"
else:
    verdict = "hardly changes with depth"
record("sparsity_verdict", verdict)
print(
    f"Average share of channels blank for an image: {shallow:.1%} in the shallower half of the layers, "
    f"{deep:.1%} in the deeper half: on {MODEL}, sparsity {verdict} (a difference under "
    f"{SAME:.1%} of the channels counts as no change). Most blank, on average: "
    f"{max(means, key=means.get)} ({max(means.values()):.1%} of its channels for an image)."
)
n = len(test.x[:SAMPLE])
said = [
    f"at {name} more of its channels are blank than for {fewer[name]:.0%} of the {n} images"
    if fewer[name] > 0.75
    else f"at {name} fewer of its channels are blank than for {more[name]:.0%} of the {n} images"
    for name in unusual
]
if not fewer:
    standing = f"every image has the same share of blank channels at all {len(shares)} layers: "
    standing += "this chart cannot tell it from the others."
else:
    standing = ""
    if alike:
        standing = f"every image has the same share of blank channels at {len(alike)} of the {len(shares)} layers; "
    if said:
        standing += "; ".join(said) + ": an unusual image there, read its grids with that in mind."
    else:
        where = "at every layer"
        if alike:
            where = (
                "at the one layer where they differ" if len(fewer) == 1 else f"at the {len(fewer)} where they differ"
            )
        standing += f"within the middle half of the {n} images {where}: a typical image for this chart."
print("The image of the first figure (the black rings): " + standing)
print(
    "Dead on all these images: "
    + (", ".join(f"{n} {v:.0%}" for n, v in dead.items() if v > 0) or "no channel of any layer")
    + "."
)

# %%
# Every layer, channel by channel
# -------------------------------
# One grid per layer in forward order. A deep model (ImageNet's have dozens of such
# layers, thousands of channels each) gets evenly spaced layers and their first
# channels; the box plot above measures every layer and every channel.
MAX_LAYERS, MAX_GRID = 16, 128
shown_layers = convviz.evenly_spaced(names, MAX_LAYERS)
if len(shown_layers) < len(names):
    print(f"{len(names)} layers: the grids show {len(shown_layers)} evenly spaced ones")
for name in shown_layers:
    act = activations[name]
    channels = act.shape[-1]
    shown = min(channels, MAX_GRID)
    convviz.plot_activation_grid(
        act[0, :, :, :shown],
        ncols=16 if shown >= 16 else shown,
        title=f"{name}: {act.shape[1]}×{act.shape[2]}, {blank(act)} of {channels} channels blank"
        + (f" (first {shown} shown)" if shown < channels else ""),
    )
