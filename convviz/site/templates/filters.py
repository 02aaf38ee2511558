"""
Filter patterns · {{MODEL}}
===============================

The input each filter of {{MODEL}} responds to most, found by gradient ascent in input
space (chapter sections 2–3). Look at how the patterns grow from edges (and colours, on a
model of colour images) in the first layer to textures and parts deeper down. *Model:
{{TITLE}}.* Every unit of every layer: [layers and units](units/index.md).

"""

# %%
# What filters respond to, at three depths
# ----------------------------------------
# The chapter's recipe (normalized gradient ascent from a gray image) on a shallow, a middle
# and the deepest conv layer. Red frame: the filter never fires on the test images; orange:
# no start image could excite it; "flat" (an even tile, no frame): the filter answers the
# overall brightness or colour of its input, not a shape.
import matplotlib.pyplot as plt
import numpy as np

import convviz
from convviz import record, zoo
from convviz.graph.layers import resolve_layer
from convviz.figures.style import figsize

MODEL = "{{MODEL}}"
# mkdocs_gallery_convviz_fingerprint = "{{FINGERPRINT}}"
# mkdocs_gallery_thumbnail_number = 1
convviz.use_site_style()
entry = zoo.entry(MODEL)
model = zoo.load(entry)
layers = convviz.representative_layers(model)
test = zoo.dataset(entry, "test")
data = test.x[:512]  # tells dead filters from unexcited ones
budget = zoo.page_budget(entry, model, images=len(test.x))
record("budget", budget.knobs())
size = budget.filter_size  # the input's size (small models: 64 pixels), less for a costly model
crop = size // 16
SHOWN = budget.filters  # filters per layer on this page (16); the unit pages show every one
native = tuple(model.inputs[0].shape[1:3])
other = native != (size, size) and None not in native  # the model's own input size, where it has one
own = f"; the model's own input is {native[0]}×{native[1]}: a conv layer runs on any size" if other else ""
print(f"{MODEL}: shallow, middle, deep: {', '.join(layers)} (images of {size}×{size} pixels{own})", flush=True)
results = {}
for layer in layers:
    results[layer] = convviz.visualize_filters(
        model,
        layer,
        min(SHOWN, resolve_layer(model, layer).output_shape[-1]),
        image_size=size,
        crop=crop,
        data=data,
        cache=True,
    )
channels = {layer: resolve_layer(model, layer).output_shape[-1] for layer in layers}
fig, axes = plt.subplots(1, len(layers), figsize=figsize(0.45))
for ax, (layer, patterns) in zip(np.ravel(axes), results.items()):
    convviz.plot_filter_grid(
        patterns,
        ax=ax,
        margin=2,
        title=f"{layer}\n{len(patterns)} of {channels[layer]} filters" if len(patterns) < channels[layer] else layer,
    )
for layer, patterns in results.items():
    print(
        f"{layer}: {len(patterns)} of {channels[layer]} filters shown, {int(patterns.dead.sum())} dead on data, "
        f"{int(patterns.unexcited.sum())} not excited; mean objective over these {len(patterns)}: "
        f"{patterns.losses.mean():.3f}"
    )
# what this page computes, last: the reader reads the figure's own lines first
print("\n" + budget.describe("filters"))

# %%
# The deepest layer's strongest patterns
# --------------------------------------
# The four filters of the deepest layer that reach the highest objective with the robust
# recipe (below): what this model's deepest units look for.
deep = layers[-1]
robust = convviz.visualize_filters(
    model,
    deep,
    results[deep].filters[: budget.robust_filters],
    image_size=size,
    crop=crop,
    recipe="robust",
    steps=budget.robust_steps,
    data=data,
    cache=True,
)
order = [i for i in np.argsort(-robust.losses) if not (robust.dead[i] or robust.unexcited[i])][:4]
if order:
    fig, axes = plt.subplots(1, len(order), figsize=figsize(0.3, width=min(1.0, 0.26 * len(order))))
    for ax, i in zip(np.ravel(axes), order):
        ax.imshow(robust.images[i].squeeze(), cmap="gray" if robust.images.shape[-1] == 1 else None)
        ax.set_title(f"filter {robust.filters[i]}", loc="center")
        ax.set_axis_off()
    fig.suptitle(f"{deep}: the 4 strongest of {len(robust)} (robust recipe)", x=0.0, ha="left")
else:
    print(f"No filter of {deep} could be excited: nothing to show.")

# %%
# Book and robust recipes, side by side on the deep layer
# --------------------------------------------------------
# The robust recipe optimizes a Fourier spectrum with decorrelated color through a
# sigmoid, with random jitter, scale and rotation at every step (Adam, for many more
# steps: the grid's title says how many), as lucid does: the transforms are meant to keep high-frequency noise that only fools the
# network out of the picture. Compare the two grids.
fig, axes = plt.subplots(1, 2, figsize=figsize(0.55))
convviz.plot_filter_grid(results[deep], ax=axes[0], margin=2, title=f"{deep}: {results[deep].describe()}")
convviz.plot_filter_grid(robust, ax=axes[1], margin=2, title=f"{deep}: {robust.describe()}")
k = len(robust)  # the robust recipe's filters: the first k of the book's (all of them unless budgeted)
both = ~(results[deep].dead[:k] | results[deep].unexcited[:k] | robust.dead | robust.unexcited)
if both.any():
    print(
        f"mean objective over the {int(both.sum())} filters both recipes excited: book "
        f"{results[deep].losses[:k][both].mean():.3f} in {results[deep].seconds:.1f} s, robust "
        f"{robust.losses[both].mean():.3f} in {robust.seconds:.1f} s (each on its final image, without transforms)"
    )

# %%
# MaCo: only the phase moves
# --------------------------
# MaCo (Fel et al., 2023) keeps the magnitude of the image's Fourier spectrum fixed to that of
# real images (here the test images this page already uses, on their uncorrelated colour
# axes) and optimizes only the phase, under the same transforms as the robust recipe. Below
# its patterns, each image faded where the optimization barely pushed: MaCo's transparency
# map, the gradient's magnitude summed over the steps. The deep layers' and classes' pages
# keep the robust recipe: in convviz's benchmark (`benchmarks/bench_maco.py`), another model
# did not name the classes of MaCo's images more often than the robust recipe's.
maco = convviz.visualize_filters(
    model,
    deep,
    robust.filters,
    image_size=size,
    crop=crop,
    recipe="maco",
    steps=budget.robust_steps,
    data=data,
    cache=True,
)
fig, axes = plt.subplots(1, 2, figsize=figsize(0.55))
convviz.plot_filter_grid(maco, ax=axes[0], margin=2, title=f"{deep}\n{maco.describe()}")
convviz.plot_transparency(maco, ax=axes[1], margin=2, title=f"{deep}\nwhere MaCo spent its effort")
both = ~(robust.dead | robust.unexcited | maco.dead | maco.unexcited)
if both.any():
    print(
        f"mean objective over the {int(both.sum())} filters both recipes excited: robust "
        f"{robust.losses[both].mean():.3f}, MaCo {maco.losses[both].mean():.3f} (each on its final image, without transforms)"
    )

# %%
# The fast recipe beside the book's
# ---------------------------------
# A third of the steps with momentum on the same normalized gradient. The line below the
# grids says what share of the book's objective it reaches, in what share of the time.
middle = layers[len(layers) // 2]
fast = convviz.visualize_filters(
    model, middle, results[middle].filters, image_size=size, crop=crop, recipe="fast", data=data, cache=True
)
fig, axes = plt.subplots(1, 2, figsize=figsize(0.55))
convviz.plot_filter_grid(results[middle], ax=axes[0], margin=2, title=f"{middle}: {results[middle].describe()}")
convviz.plot_filter_grid(fast, ax=axes[1], margin=2, title=f"{middle}: {fast.describe()}")
book, quick = results[middle].losses, fast.losses
both = ~(results[middle].dead | results[middle].unexcited | fast.dead | fast.unexcited)
ratio = quick[both].mean() / book[both].mean() if both.any() and book[both].mean() > 0 else float("nan")
print(
    f"mean objective over the {int(both.sum())} filters both recipes excited: book {book[both].mean():.3f} "
    f"in {results[middle].seconds:.1f} s; fast {quick[both].mean():.3f} in {fast.seconds:.1f} s "
    f"({ratio:.0%} of the book's objective, {fast.seconds / max(results[middle].seconds, 1e-9):.0%} of its time in this build, tracing included; the performance page times both once traced)"
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
