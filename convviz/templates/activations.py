"""
Intermediate activations · {{MODEL}}
========================================

What every convolution and pooling layer of **{{MODEL}}** outputs for one test image,
channel by channel (chapter section 1), and how the share of blank channels grows
with depth.

*Model: {{TITLE}}.*

"""

# %%
# The model and one test image
# ----------------------------
# `zoo.load` trains the model on first use and then reads it from the cache.
import matplotlib.pyplot as plt

import convviz
from convviz import zoo
from convviz import record

MODEL = "{{MODEL}}"
# mkdocs_gallery_convviz_fingerprint = "{{FINGERPRINT}}"
entry = zoo.entry(MODEL)
model = zoo.load(entry)
test = zoo.dataset(entry, "test")
image = test.x[:1]
predicted = test.class_names[int(convviz.predict(model, image).argmax())]
label = (f"class {test.class_names[test.y[0]]}" if test.y[0] >= 0 else "no label") + f", predicted {predicted}"
print(f"{MODEL}: input {entry.input_shape}, a test image ({label})")

fig, ax = plt.subplots(figsize=(2.5, 2.5))
ax.imshow(image[0].squeeze(), cmap="gray" if image.shape[-1] == 1 else None)
ax.set_title(label, fontsize=9)
ax.set_axis_off()

# %%
# Browse the layers
# -----------------
# Pick a layer (or step with the arrow keys) and one of a few test images: every channel
# of that layer for that image, blank ones crossed out.
#
# [The layer browser's data (JSON)](layers/browser.json){ .convviz-layers }

# %%
# One forward pass over every layer
# ---------------------------------
# `extract_activations` runs the model once and keeps the output of every conv and
# pooling layer (after its nonlinearity), in forward order.
activations = convviz.extract_activations(model, image)
for name, act in activations.items():
    print(f"{name:<24} {act.shape[1]}×{act.shape[2]}×{act.shape[3]}")

# %%
# Every channel of every layer
# ----------------------------
# Each channel is standardized and scaled like in the chapter. **Blank channels**
# (zero everywhere) are gray with a red cross. The chapter's observation: early layers
# keep most of the image, deeper ones are coarser, more abstract and sparser. The next
# section checks the last part on this model. A deep model (ImageNet's have 40 to 100 such
# layers, up to 2,048 channels each) gets 16 evenly spaced layers and their first 128
# channels; the next section measures every layer and every channel.
MAX_LAYERS, MAX_CHANNELS = 16, 128
names = list(activations)
if len(names) > MAX_LAYERS:
    names = [names[i] for i in sorted({round(j * (len(names) - 1) / (MAX_LAYERS - 1)) for j in range(MAX_LAYERS)})]
    print(f"{len(activations)} layers: the grids show {len(names)} evenly spaced ones")
for name in names:
    act = activations[name]
    channels = act.shape[-1]
    shown = min(channels, MAX_CHANNELS)
    ncols = 16 if shown >= 16 else shown
    rows = -(-shown // ncols)
    fig, ax = plt.subplots(figsize=(12, 0.8 * rows + 0.6))
    blank = int((act[0] == 0).all(axis=(0, 1)).sum())
    convviz.plot_activation_grid(
        act[0, :, :, :shown],
        ncols=ncols,
        ax=ax,
        title=f"{name} — {channels} channels"
        + (f" (first {shown} shown)" if shown < channels else "")
        + f", {blank} blank",
    )

# %%
# Does sparsity grow with depth?
# ------------------------------
# The share of channels that stay blank for *all* of 200 test images, per layer: the
# chapter's observation as a number, and whether it holds here.
many = convviz.extract_activations(model, test.x[:200])
sparsity = convviz.layer_sparsity(many)
for name, value in sparsity.items():
    print(f"{name:<24} {value:6.1%} blank")
record("sparsity", sparsity)  # kept in `convviz render`'s manifest
values = list(sparsity.values())
half = len(values) // 2
shallow, deep = sum(values[:half]) / max(half, 1), sum(values[half:]) / max(len(values) - half, 1)
if deep > shallow:
    print(
        f"\nThe deeper half of the layers has more blank channels ({deep:.1%} on average) than the "
        f"shallower half ({shallow:.1%}): sparsity grows with depth on this model."
    )
else:
    print(
        f"\nNot on this model: the deeper half of the layers has {deep:.1%} blank channels on "
        f"average, the shallower half {shallow:.1%}."
    )
convviz.plot_sparsity(sparsity, title="Blank channels per layer (all of 200 test images)")
