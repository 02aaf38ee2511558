"""
Latent space · {{MODEL}}
============================

Where **{{MODEL}}** places every test image in the space of its layer before the last
(chapter section 5), projected to 2-D with UMAP and t-SNE, with a number for how
faithful each projection is, the misclassified images, and the most suspicious samples.

*Model: {{TITLE}}.*

<!-- convviz page fingerprint: {{FINGERPRINT}} -->
"""
# mkdocs_gallery_thumbnail_number = 1

# %%
# Embeddings and two projections
# ------------------------------
# Trustworthiness (1 is best) tells how well each 2-D map keeps the nearest neighbours
# of the features: the chapter's warning that projections distort, as a number.
import matplotlib.pyplot as plt

import convviz
from convviz import zoo
from convviz.site import record

MODEL = "{{MODEL}}"
entry = zoo.entry(MODEL)
model = zoo.load(entry)
test = zoo.dataset(entry, "test")
features = convviz.extract_embeddings(model, test.x, cache=True)
pred = convviz.predict(model, test.x).argmax(1)
wrong = pred != test.y
suspicious = convviz.find_outliers(features, test.y, top=12)
print(f"{len(features)} test images, {features.shape[1]}-d features, {int(wrong.sum())} misclassified")

fig, axes = plt.subplots(1, 2, figsize=(14, 6.5))
for ax, method in zip(axes, ("umap", "tsne")):
    xy = convviz.project(features, method=method, random_state=0, cache=True)  # kept across builds
    trust = convviz.trustworthiness(features, xy, n_neighbors=10)
    convviz.plot_embedding(xy, test.y, class_names=test.class_names, ax=ax, misclassified=wrong,
                           highlight=suspicious, trust=trust, title=method.upper())
    print(f"{method}: trustworthiness {trust:.3f}")
    record(f"trustworthiness_{method}", trust)

# %%
# The most suspicious samples
# ---------------------------
# Scored by disagreement with their 10 nearest neighbours in feature space plus their
# distance from their class: mislabeled, ambiguous or atypical images come first.
captions = [f"#{r} given {test.class_names[test.y[i]]}\npredicted {test.class_names[pred[i]]}"
            for r, i in enumerate(suspicious, start=1)]
colors = ["red" if wrong[i] else "black" for i in suspicious]
convviz.plot.plot_thumbnails(test.x[suspicious], captions, ncols=6, colors=colors)
