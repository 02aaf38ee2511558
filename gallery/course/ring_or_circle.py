"""
Ring or circle? The part that decides
=====================================

The chapter's elephant example, offline: an African elephant is told from an Indian one by
its ear. Our `shapes` dataset has a pair of classes that differ by one local part only: a
**ring** is a **circle** with a hole. Grad-CAM of *both* classes on the same images shows
where the evidence for each lies; the numbers under the figure say how much of each map
falls in the central disc, where a ring has its hole.
"""

# %%
# Evidence for "ring" and for "circle" on the same images
# -------------------------------------------------------
# Three rings and three circles from the test set. Row 1: Grad-CAM for class *ring*; row 2:
# for class *circle*; each titled with the probability of that class. All twelve maps share
# one scale (the largest value among them), so a dim map is weak evidence: scaled one by one,
# as the chapter does, a map with almost no evidence would light up as brightly as the
# strongest. A map can be all zero: no positive evidence for that class on that image (said
# below the figure).
import warnings

import matplotlib.pyplot as plt
import numpy as np

import convviz
from convviz import record, zoo
from convviz.figures.style import figsize

# mkdocs_gallery_thumbnail_number = 1
convviz.use_site_style()
entry = zoo.entry("shapes-cnn")
model = zoo.load(entry)
test = zoo.dataset(entry, "test")
names = list(test.class_names)
ring, circle = names.index("ring"), names.index("circle")
images = np.concatenate([test.x[test.y == ring][:3], test.x[test.y == circle][:3]])
masks = np.concatenate([test.masks[test.y == ring][:3], test.masks[test.y == circle][:3]])
probs = convviz.predict(model, images)
layer = entry.cam_layer(model)  # the Grad-CAM page's layer: its cached maps are these
with warnings.catch_warnings():  # an all-zero map is said in words below
    warnings.simplefilter("ignore", convviz.BlankMapWarning)
    as_ring = convviz.grad_cam(model, images, layer=layer, class_index=ring, normalize=False)
    as_circle = convviz.grad_cam(model, images, layer=layer, class_index=circle, normalize=False)
top = max(float(as_ring.max()), float(as_circle.max()), 1e-12)  # one scale for the twelve maps
fig, axes = plt.subplots(2, len(images), figsize=figsize(0.4))
for j, img in enumerate(images):
    convviz.plot_heatmap_overlay(img, as_ring[j] / top, ax=axes[0, j], title=f"ring? {probs[j, ring]:.0%}")
    convviz.plot_heatmap_overlay(img, as_circle[j] / top, ax=axes[1, j], title=f"circle? {probs[j, circle]:.0%}")
convviz.plot_heat_colorbar(axes, label="Grad-CAM, one scale\nfor all 12 maps")
for name, maps_ in (("ring", as_ring), ("circle", as_circle)):
    for j in np.flatnonzero(~maps_.any(axis=(1, 2))):
        shown = f"{'ring' if j < 3 else 'circle'} image {j % 3 + 1}"
        print(f"No evidence for '{name}' on {shown}: its map is all zero.")

# %%
# Where is the evidence, in numbers?
# ----------------------------------
# The share of each map's mass in the central disc of the shape (half its radius: where a
# ring has its hole), for the three rings.
h, w = images.shape[1:3]
yy, xx = np.mgrid[0:h, 0:w]


def centre_share(heat, region):
    ys, xs = np.nonzero(region)
    r = 0.5 * np.sqrt(len(ys) / np.pi)
    disc = (yy - ys.mean()) ** 2 + (xx - xs.mean()) ** 2 <= r**2
    return float((heat * disc).sum() / max(heat.sum(), 1e-9))


ring_share = [centre_share(as_ring[j], masks[j]) for j in range(3)]
circle_share = [centre_share(as_circle[j], masks[j]) for j in range(3)]
for j in range(3):
    print(f"ring image {j + 1}: {ring_share[j]:.0%} of the 'ring' map, {circle_share[j]:.0%} of the 'circle' map")
record("ring_map_centre_share", float(np.mean(ring_share)))
record("circle_map_centre_share", float(np.mean(circle_share)))
more = "more" if np.mean(ring_share) > np.mean(circle_share) else "no more"
print(
    f"On these rings, the 'ring' map puts {np.mean(ring_share):.0%} of its mass in the central disc on average, "
    f"the 'circle' map {np.mean(circle_share):.0%}: the evidence for 'ring' lies {more} in the hole than the "
    "evidence for 'circle' does."
)

# %%
# What "the object" means decides the score
# -----------------------------------------
# The pointing game asks whether a map's maximum lies on the object. Scored against the
# ring's *pixels* only, every maximum in the hole is a miss; scored against the ring's
# *region* (the hole included, as the dataset's masks are), it is a hit. Same maps, two
# definitions of the object, on the first test images: those of shapes-cnn's Grad-CAM page
# (its page budget says how many), so these are its maps, read from the cache.

n = min(zoo.page_budget(entry, model, images=len(test.x)).cam_images, len(test.x))
x, y, regions = test.x[:n], test.y[:n], test.masks[:n]
with warnings.catch_warnings():  # all-zero maps are counted below
    warnings.simplefilter("ignore", convviz.BlankMapWarning)
    maps = convviz.grad_cam(model, x, layer=layer, cache=True)
blank = int((~maps.any(axis=(1, 2))).sum())
if blank:
    print(f"{blank} of the {n} maps are all zero (no evidence for the predicted class); an all-zero map scores a miss.")
pixels = regions.copy()
for i in np.flatnonzero(y == ring):  # remove each ring's hole: radius 0.55 r about its centre
    ys, xs = np.nonzero(regions[i])
    r = np.sqrt(len(ys) / np.pi)
    pixels[i] &= (yy - ys.mean()) ** 2 + (xx - xs.mean()) ** 2 > (0.55 * r) ** 2
rings = y == ring
scores = {
    "rings_pixels": convviz.pointing_game(maps[rings], pixels[rings]).mean(),
    "rings_region": convviz.pointing_game(maps[rings], regions[rings]).mean(),
    "all_pixels": convviz.pointing_game(maps, pixels).mean(),
    "all_region": convviz.pointing_game(maps, regions).mean(),
}
for name, value in scores.items():
    record(name, value)
print(
    f"rings ({int(rings.sum())} images): pointing game {scores['rings_pixels']:.1%} against the ring's "
    f"pixels, {scores['rings_region']:.1%} against its region"
)
print(f"all {n} images: {scores['all_pixels']:.1%} (pixels) vs {scores['all_region']:.1%} (regions)")
