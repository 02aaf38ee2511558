"""
Filter patterns · {{MODEL}}
===============================

The input each filter of **{{MODEL}}** responds to most, found by gradient ascent in
input space (chapter sections 2–3): a shallow, a middle and a deep layer with the
chapter's recipe, and the robust (lucid-style) recipe beside it on the deep layer.
Dead filters are framed in red.

*Model: {{TITLE}}.*

<!-- convviz page fingerprint: {{FINGERPRINT}} -->
"""
# mkdocs_gallery_thumbnail_number = 3

# %%
# The model and its convolution layers
# ------------------------------------
import matplotlib.pyplot as plt

import convviz
from convviz import zoo
from convviz.filters import representative_layers
from convviz.site import record

MODEL = "{{MODEL}}"
entry = zoo.entry(MODEL)
model = zoo.load(entry)
layers = representative_layers(model)
size = max(64, entry.input_shape[0])  # small models: optimize a 64-pixel image
crop = size // 16
print("shallow, middle, deep:", layers)

# %%
# The chapter's recipe on three depths
# ------------------------------------
# 30 steps of gradient ascent with the gradient L2-normalized over the whole image,
# learning rate 10, all filters of a layer optimized together in one batch.
results = {}
for layer in layers:
    patterns = convviz.visualize_filters(model, layer, min(16, convviz.layers.resolve_layer(model, layer).output_shape[-1]),
                                         image_size=size, crop=crop, cache=True)
    results[layer] = patterns
    fig, ax = plt.subplots(figsize=(6, 6))
    convviz.plot_filter_grid(patterns, ax=ax, margin=2)
    print(f"{layer}: {len(patterns)} filters, {int(patterns.dead.sum())} dead, "
          f"mean objective {patterns.losses.mean():.3f}, {patterns.seconds:.1f} s")

# %%
# Book and robust recipes, side by side on the deep layer
# --------------------------------------------------------
# The robust recipe optimizes a Fourier spectrum with decorrelated color through a
# sigmoid, with random jitter, scale and rotation at every step (Adam, 256 steps).
# High-frequency noise that exploits the network disappears and the motifs become legible.
deep = layers[-1]
robust = convviz.visualize_filters(model, deep, results[deep].filters, image_size=size, crop=crop,
                                   recipe="robust", steps=256, cache=True)
fig, axes = plt.subplots(1, 2, figsize=(12, 6))
convviz.plot_filter_grid(results[deep], ax=axes[0], margin=2, title=f"{deep}: book recipe")
convviz.plot_filter_grid(robust, ax=axes[1], margin=2, title=f"{deep}: robust recipe")
print(f"robust: {robust.seconds:.1f} s for {len(robust)} filters × 256 steps")

# %%
# The fast recipe beside the book's
# ---------------------------------
# A third of the steps with momentum on the same normalized gradient: the same kind of
# pattern, at least the book's objective, in a fraction of the time.
middle = layers[len(layers) // 2]
fast = convviz.visualize_filters(model, middle, results[middle].filters, image_size=size, crop=crop,
                                 recipe="fast", cache=True)
fig, axes = plt.subplots(1, 2, figsize=(12, 6))
convviz.plot_filter_grid(results[middle], ax=axes[0], margin=2, title=f"{middle}: book, 30 steps")
convviz.plot_filter_grid(fast, ax=axes[1], margin=2, title=f"{middle}: fast, 10 steps with momentum")
print(f"book: mean objective {results[middle].losses.mean():.3f} in {results[middle].seconds:.1f} s; "
      f"fast: {fast.losses.mean():.3f} in {fast.seconds:.1f} s")

# %%
# Dead filters
# ------------
# A filter whose objective stays at or below zero, or whose gradient is zero, never
# fires on any input the ascent can reach: it is dead (drawn flat gray, red frame).
for layer, patterns in results.items():
    dead = patterns.filters[patterns.dead]
    print(f"{layer}: dead filters {dead.tolist() if len(dead) else 'none'}")
record("dead_filters", {layer: p.filters[p.dead] for layer, p in results.items()})
