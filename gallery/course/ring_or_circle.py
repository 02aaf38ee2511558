"""
Ring or circle? The part that decides
=====================================

The chapter's elephant example, offline: an African elephant is told from an Indian
one by its ear. Our `shapes` dataset has a pair of classes that differ by one local
part only: a **ring** is a **circle** with a hole. Grad-CAM of *both* classes on the
same image shows where the evidence for each lies.
"""
# mkdocs_gallery_thumbnail_number = 1

# %%
# Rings and circles from the test set
# -----------------------------------
import matplotlib.pyplot as plt
import numpy as np

import convviz
from convviz import zoo

entry = zoo.entry("shapes-cnn")
model = zoo.load(entry)
test = zoo.dataset(entry, "test")
names = list(test.class_names)
ring, circle = names.index("ring"), names.index("circle")
images = np.concatenate([test.x[test.y == ring][:3], test.x[test.y == circle][:3]])
probs = model.predict(images, verbose=0)

# %%
# Evidence for "ring" and for "circle" on each image
# --------------------------------------------------
# Row 1: Grad-CAM for class *ring*; row 2: for class *circle*. On a ring, the "ring" map
# lights up the hole and the inner edge, the part a circle does not have.
as_ring = convviz.grad_cam(model, images, class_index=ring)
as_circle = convviz.grad_cam(model, images, class_index=circle)
fig, axes = plt.subplots(2, len(images), figsize=(2.1 * len(images), 4.6))
for j, img in enumerate(images):
    convviz.plot_heatmap_overlay(img, as_ring[j], ax=axes[0, j], title=f"ring? p={probs[j, ring]:.2f}")
    convviz.plot_heatmap_overlay(img, as_circle[j], ax=axes[1, j], title=f"circle? p={probs[j, circle]:.2f}")

# %%
# Where is the evidence, in numbers?
# ----------------------------------
# The share of each map's mass in the central disc (where a ring has its hole).
h, w = images.shape[1:3]
for j in range(3):
    ys, xs = np.nonzero(test.masks[test.y == ring][j])
    cy, cx = ys.mean(), xs.mean()
    r = 0.5 * np.sqrt(len(ys) / np.pi)
    yy, xx = np.mgrid[0:h, 0:w]
    centre = (yy - cy) ** 2 + (xx - cx) ** 2 <= r ** 2
    share = lambda m: float((m * centre).sum() / max(m.sum(), 1e-9))  # noqa: E731
    print(f"ring image {j}: centre share of the 'ring' map {share(as_ring[j]):.0%}, "
          f"of the 'circle' map {share(as_circle[j]):.0%}")
