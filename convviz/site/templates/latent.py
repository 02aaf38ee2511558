"""
Latent space · {{MODEL}}
============================

Where {{MODEL}} places every test image in the space of its layer before the last
(chapter section 5), projected to 2-D. Look for classes that form islands of their own and
for images inside another class's island (often mislabeled or ambiguous). *Model:
{{TITLE}}.*

"""

# %%
# Explore the embedding
# ---------------------
# Every test image on the 2-D map (UMAP): point at a dot, or tap it, to see the image, its
# true and predicted class and its outlier score; click or tap it for its Grad-CAM.
# Red rings mark misclassified images, thick rings the most suspicious ones (below).
#
# [The embedding explorer's data (JSON)](explorer/data.json){ .convviz-explorer }

# %%
# Embeddings and two projections
# ------------------------------
# One vector per image, from the layer before the last; the [activation atlas](atlas/index.md)
# maps every position of the deepest conv layer instead. Trustworthiness (1 is best) tells
# how well each 2-D map keeps the nearest neighbours of the features: the chapter's warning
# that projections distort, as a number.
import matplotlib.pyplot as plt
import numpy as np

import convviz
from convviz import record, zoo
from convviz.represent.latent import too_few
from convviz.figures.style import figsize

MODEL = "{{MODEL}}"
# mkdocs_gallery_convviz_fingerprint = "{{FINGERPRINT}}"
# mkdocs_gallery_thumbnail_number = 1
convviz.use_site_style()
entry = zoo.entry(MODEL)
model = zoo.load(entry)
test = zoo.dataset(entry, "test")
names = test.class_names
features = convviz.extract_embeddings(model, test.x, cache=True)
pred = convviz.predict(model, test.x, cache=True).argmax(1)
labelled = test.labelled
wrong = labelled & ~test.correct(pred)
# color by the true class when every image has one, else by the predicted class
colors_by = test.y if labelled.all() else pred
n = len(features)
print(
    f"{n} test images, {features.shape[1]}-d features, "
    + (
        f"{int(wrong.sum())} of {int(labelled.sum())} labelled images misclassified"
        if labelled.any()
        else "no labels: points are colored by the predicted class"
    )
    + (f", {int((~labelled).sum())} unlabelled" if labelled.any() and not labelled.all() else "")
)
skip_outliers = too_few(n, "outliers")
top = min(12, max(1, n // 5))  # a few suspects among few images, never most of them
suspicious = np.array([], int) if skip_outliers else convviz.find_outliers(features, colors_by, top=top)

skip_projection = too_few(n, "projection")
if skip_projection:
    print(skip_projection)
else:
    for method in ("umap", "tsne"):
        fig, ax = plt.subplots(figsize=figsize(0.62))
        xy = convviz.project(features, method=method, random_state=0, cache=True)  # kept across builds
        skip_trust = too_few(n, "trustworthiness")
        trust = None if skip_trust else convviz.trustworthiness(features, xy, n_neighbors=10)
        convviz.plot_embedding(
            xy,
            colors_by,
            class_names=names,
            ax=ax,
            misclassified=wrong,
            highlight=suspicious,
            trust=trust,
            s=float(np.clip(3000 / n, 6, 60)),
            title=("UMAP" if method == "umap" else "t-SNE") + ("" if labelled.all() else " (colored by prediction)"),
        )
        if trust is None:
            print(f"{method}: {skip_trust}")
        else:
            print(f"{'UMAP' if method == 'umap' else 't-SNE'}: trustworthiness {trust:.3f}")
            record(f"trustworthiness_{method}", trust)

# %%
# The most suspicious samples
# ---------------------------
# Scored by disagreement with their nearest neighbours in feature space plus their
# distance from their class (the given class, or the predicted one for unlabelled
# images): mislabeled, ambiguous or atypical images come first.
if skip_outliers:
    print(skip_outliers)
else:

    def given(i):
        return f"given {names[test.y[i]]}" if labelled[i] else "unlabelled"

    captions = [f"#{r} {given(i)}\npredicted {names[pred[i]]}" for r, i in enumerate(suspicious, start=1)]
    colors = ["red" if wrong[i] else "black" for i in suspicious]
    convviz.plot_thumbnails(test.x[suspicious], captions, ncols=4, colors=colors)
