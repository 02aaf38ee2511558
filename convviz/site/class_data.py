"""What a model's class pages show, computed: the classes that get a page, the confusions between them on the test split, and the Grad-CAMs of a confused pair (the true and the predicted class's, on one scale)."""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["class_facts", "shown_classes", "visualized_classes", "confusions", "pair_cams", "K"]


K = 6  # images per strip, and per confusion


def shown_classes(y: np.ndarray, predicted: np.ndarray) -> np.ndarray:
    """The classes a page shows: those that occur in the test split as a label or as a
    prediction (a 1,000-class model on 15 photos gets the few classes that matter)."""
    return np.unique(np.concatenate([y[y >= 0], predicted])).astype(int)


def visualized_classes(shown: np.ndarray, y: np.ndarray, predicted: np.ndarray, most: int) -> np.ndarray:
    """The shown classes a page visualizes: all of them (``most`` 0, or at least as many), else
    the ``most`` with the most test images labelled or predicted as them (ties: the lower
    class), in class order."""
    shown = np.asarray(shown, int)
    if not most or most >= len(shown):
        return shown
    y, predicted = np.asarray(y), np.asarray(predicted)
    count = np.array([int((y == c).sum() + (predicted == c).sum()) for c in shown])
    keep = np.argsort(-count, kind="stable")[:most]
    return np.sort(shown[keep])


def class_facts(c: int, name: str, y: np.ndarray, predicted: np.ndarray) -> str:
    """The sentence under a class's heading: test images labelled and predicted ``c``, its
    recall and precision (labels ``-1``: unlabelled; without labels, the predictions only)."""
    y, predicted = np.asarray(y), np.asarray(predicted)
    labelled = y >= 0
    of_class, said = labelled & (y == c), predicted == c
    facts = [f"{int(said.sum())} test images predicted {name}"]
    if labelled.any():
        facts.insert(0, f"{int(of_class.sum())} test images labelled {name}")
        if of_class.any():
            facts.append(f"recall {float((predicted[of_class] == c).mean()):.0%}")
        if said[labelled].any():
            facts.append(f"precision {float((y[said & labelled] == c).mean()):.0%}")
    return "; ".join(facts) + "."


def confusions(y: np.ndarray, predicted: np.ndarray, probs: np.ndarray) -> dict[tuple[int, int], np.ndarray]:
    """The misclassified labelled images by (true, predicted) class, in the order of the pairs;
    each pair's image indices with the most confident mistake (the predicted class's
    probability) first, ties in index order. Unlabelled images (``y == -1``) are left out."""
    y, predicted = np.asarray(y), np.asarray(predicted)
    wrong = np.flatnonzero((y >= 0) & (predicted != y))
    wrong = wrong[np.argsort(-np.asarray(probs)[wrong, predicted[wrong]], kind="stable")]
    pairs: dict[tuple[int, int], list[int]] = {}
    for i in wrong:
        pairs.setdefault((int(y[i]), int(predicted[i])), []).append(int(i))
    return {pair: np.array(pairs[pair], int) for pair in sorted(pairs)}


def pair_cams(
    model: Any, x: np.ndarray, first: np.ndarray, second: np.ndarray, *, layer: str, cache: Any = True
) -> tuple[np.ndarray, np.ndarray]:
    """Grad-CAM of each image for two classes (``first[i]`` and ``second[i]``), both maps of an
    image divided by the larger one's peak: one colour scale per image, so that the class with
    less evidence shows less. Returns two float32 (N, H, W) arrays in [0, 1]."""
    import convviz

    n = len(x)
    if n == 0:
        empty = np.zeros((0, *np.shape(x)[1:3]), np.float32)
        return empty, empty.copy()
    maps = convviz.grad_cam(
        model,
        np.concatenate([x, x]),
        layer=layer,
        class_index=np.concatenate([first, second]).astype(int).tolist(),
        normalize=False,
        cache=cache,
    )
    peak = maps.reshape(2, n, -1).max(axis=(0, 2))
    scale = np.where(peak > 0, peak, 1).astype(np.float32)[:, None, None]
    return maps[:n] / scale, maps[n:] / scale
