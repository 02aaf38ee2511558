"""
Ring or circle? The part that decides
=====================================

The chapter's elephant example, offline: an African elephant is told from an Indian
one by its ear. Our `shapes` dataset has a pair of classes that differ by one local
part only: a **ring** is a **circle** with a hole. Grad-CAM of *both* classes on the
same image shows where the evidence for each lies.
"""

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
probs = convviz.predict(model, images)

# %%
# Evidence for "ring" and for "circle" on each image
# --------------------------------------------------
# Row 1: Grad-CAM for class *ring*; row 2: for class *circle*. On a ring, the "ring" map
# lights up the hole and the inner edge, the part a circle does not have.
# A map can be all zero: no positive evidence at all for that class on that image. The
# page says so in words (the library warns about it).
import warnings

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    as_ring = convviz.grad_cam(model, images, class_index=ring)
    as_circle = convviz.grad_cam(model, images, class_index=circle)
for name, maps_ in (("ring", as_ring), ("circle", as_circle)):
    for j in np.flatnonzero(~maps_.any(axis=(1, 2))):
        shown = f"{'ring' if j < 3 else 'circle'} image {j % 3}"
        print(f"No evidence for '{name}' on {shown}: its map is all zero (blank).")
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
    centre = (yy - cy) ** 2 + (xx - cx) ** 2 <= r**2
    share = lambda m: float((m * centre).sum() / max(m.sum(), 1e-9))  # noqa: E731
    print(
        f"ring image {j}: centre share of the 'ring' map {share(as_ring[j]):.0%}, "
        f"of the 'circle' map {share(as_circle[j]):.0%}"
    )

# %%
# What "the object" means decides the score
# -----------------------------------------
# The pointing game asks whether a map's maximum lies on the object. Scored against the
# ring's *pixels* only, every maximum in the hole is a miss; scored against the ring's
# *region* (the hole included, as the dataset's masks are), it is a hit. Same maps, two
# definitions of the object, on the first 240 test images.
from convviz import metrics
from convviz import record

n = 240
x, y, regions = test.x[:n], test.y[:n], test.masks[:n]
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    maps = convviz.grad_cam(model, x, cache=True)
blank = int((~maps.any(axis=(1, 2))).sum())
if blank:
    print(f"{blank} of the {n} maps are all zero (no evidence for the predicted class);")
    print("an all-zero map scores a miss.")
pixels = regions.copy()
for i in np.flatnonzero(y == ring):  # remove each ring's hole: radius 0.55 r about its centre
    ys, xs = np.nonzero(regions[i])
    r = np.sqrt(len(ys) / np.pi)
    yy, xx = np.mgrid[0:h, 0:w]
    pixels[i] &= (yy - ys.mean()) ** 2 + (xx - xs.mean()) ** 2 > (0.55 * r) ** 2
rings = y == ring
scores = {
    "rings_pixels": metrics.pointing_game(maps[rings], pixels[rings]).mean(),
    "rings_region": metrics.pointing_game(maps[rings], regions[rings]).mean(),
    "all_pixels": metrics.pointing_game(maps, pixels).mean(),
    "all_region": metrics.pointing_game(maps, regions).mean(),
}
for name, value in scores.items():
    record(name, value)
print(
    f"rings ({int(rings.sum())} images): pointing game {scores['rings_pixels']:.1%} against the ring's "
    f"pixels, {scores['rings_region']:.1%} against its region"
)
print(f"all {n} images: {scores['all_pixels']:.1%} (pixels) vs {scores['all_region']:.1%} (regions)")
