"""
Filter patterns · {{MODEL}}
===============================

The input each filter of **{{MODEL}}** responds to most, found by gradient ascent in
input space (chapter sections 2–3): a shallow, a middle and a deep layer with the
chapter's recipe, and the robust (lucid-style) recipe beside it on the deep layer.
Filters that never fire on the test images are framed in red; filters that fire on data
but that no start image could excite, in orange. Every unit of every conv layer, beside
the test images that excite it most: [layers and units](units/index.md).

*Model: {{TITLE}}.*

"""

# %%
# The model and its convolution layers
# ------------------------------------
import matplotlib.pyplot as plt
import numpy as np

import convviz
from convviz import zoo
from convviz.filters import representative_layers
from convviz import record

MODEL = "{{MODEL}}"
# mkdocs_gallery_convviz_fingerprint = "{{FINGERPRINT}}"
entry = zoo.entry(MODEL)
model = zoo.load(entry)
layers = representative_layers(model)
data = zoo.dataset(entry, "test").x[:512]  # tells dead filters from unexcited ones
size = max(64, entry.input_shape[0])  # small models: optimize a 64-pixel image
crop = size // 16
print("shallow, middle, deep:", layers)

# %%
# Four patterns of the deepest layer
# ----------------------------------
# The most excited filters of the last layer, with the robust recipe: what this
# model's deepest units look for.
deep = layers[-1]
n_deep = min(16, convviz.layers.resolve_layer(model, deep).output_shape[-1])
top4 = convviz.visualize_filters(
    model, deep, n_deep, image_size=size, crop=crop, recipe="robust", steps=256, data=data, cache=True
)
order = [i for i in np.argsort(-top4.losses) if not (top4.dead[i] or top4.unexcited[i])][:4]
if order:
    fig, axes = plt.subplots(1, len(order), figsize=(2.6 * len(order), 2.9), squeeze=False)
    for ax, i in zip(axes[0], order):
        ax.imshow(top4.images[i].squeeze(), cmap="gray" if top4.images.shape[-1] == 1 else None)
        ax.set_title(f"{deep} #{top4.filters[i]}", fontsize=10)
        ax.set_axis_off()
else:
    print(f"No filter of {deep} could be excited: nothing to show.")

# %%
# The chapter's recipe on three depths
# ------------------------------------
# 30 steps of gradient ascent with the gradient L2-normalized over the whole image,
# learning rate 10, all filters of a layer optimized together in one batch. A filter the
# gray start does not excite is restarted from noise, then from the test image that
# excites it most.
results = {}
for layer in layers:
    patterns = convviz.visualize_filters(
        model,
        layer,
        min(16, convviz.layers.resolve_layer(model, layer).output_shape[-1]),
        image_size=size,
        crop=crop,
        data=data,
        cache=True,
    )
    results[layer] = patterns
    fig, ax = plt.subplots(figsize=(6, 6))
    convviz.plot_filter_grid(patterns, ax=ax, margin=2)
    print(
        f"{layer}: {len(patterns)} filters, {int(patterns.dead.sum())} dead on data, "
        f"{int(patterns.unexcited.sum())} not excited, mean objective {patterns.losses.mean():.3f}, "
        f"{patterns.seconds:.1f} s"
    )

# %%
# Book and robust recipes, side by side on the deep layer
# --------------------------------------------------------
# The robust recipe optimizes a Fourier spectrum with decorrelated color through a
# sigmoid, with random jitter, scale and rotation at every step (Adam, 256 steps), as
# lucid does: the transforms are meant to keep high-frequency noise that only fools the
# network out of the picture. Compare the two grids.
robust = convviz.visualize_filters(
    model, deep, results[deep].filters, image_size=size, crop=crop, recipe="robust", steps=256, data=data, cache=True
)
fig, axes = plt.subplots(1, 2, figsize=(12, 6))
convviz.plot_filter_grid(results[deep], ax=axes[0], margin=2, title=f"{deep}: book recipe")
convviz.plot_filter_grid(robust, ax=axes[1], margin=2, title=f"{deep}: robust recipe")
print(f"robust: {robust.seconds:.1f} s for {len(robust)} filters × 256 steps")

# %%
# The fast recipe beside the book's
# ---------------------------------
# A third of the steps with momentum on the same normalized gradient. The line below the
# grids says what share of the book's objective it reaches, in what share of the time.
middle = layers[len(layers) // 2]
fast = convviz.visualize_filters(
    model, middle, results[middle].filters, image_size=size, crop=crop, recipe="fast", data=data, cache=True
)
fig, axes = plt.subplots(1, 2, figsize=(12, 6))
convviz.plot_filter_grid(results[middle], ax=axes[0], margin=2, title=f"{middle}: book, 30 steps")
convviz.plot_filter_grid(fast, ax=axes[1], margin=2, title=f"{middle}: fast, 10 steps with momentum")
book, quick = results[middle].losses, fast.losses
both = ~(results[middle].dead | results[middle].unexcited | fast.dead | fast.unexcited)
ratio = quick[both].mean() / book[both].mean() if both.any() and book[both].mean() > 0 else float("nan")
print(
    f"book: mean objective {book[both].mean():.3f} in {results[middle].seconds:.1f} s; "
    f"fast: {quick[both].mean():.3f} in {fast.seconds:.1f} s ({ratio:.0%} of the book's objective, "
    f"{fast.seconds / max(results[middle].seconds, 1e-9):.0%} of its time)"
)
record("fast_vs_book_objective", ratio)

# %%
# Dead, or only not excited?
# --------------------------
# A filter whose objective stays at zero from the gray start has not been excited, which
# does not mean it is dead. It is **dead on data** when it is zero on every one of the
# test images above; otherwise it was restarted from noise, then from its best test
# image, until it fired.
for layer, patterns in results.items():
    origin = {o: int((patterns.origin == o).sum()) for o in ("gray", "noise", "data")}
    print(
        f"{layer}: {origin['gray']} from the gray start, {origin['noise']} restarted from noise, "
        f"{origin['data']} from a test image; dead on data: "
        f"{patterns.filters[patterns.dead].tolist() or 'none'}; not excited: "
        f"{patterns.filters[patterns.unexcited].tolist() or 'none'}"
    )
record("dead_on_data", {layer: p.filters[p.dead] for layer, p in results.items()})
record("not_excited", {layer: p.filters[p.unexcited] for layer, p in results.items()})
