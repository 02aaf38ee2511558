"""The algorithms a page or a reader's script calls with ``cache=True``: each one wrapped by
the memo step (:func:`convviz.store.memo.memoized`). ``convviz.grad_cam`` is this module's
``grad_cam``; the algorithm itself, :func:`convviz.attr.cam.grad_cam`, knows nothing of a cache.
"""

from __future__ import annotations

from typing import Any

from convviz.attr import attribute as attribution, cam
from convviz.compare import diff
from convviz.core import checks
from convviz.evaluate import faithfulness, sanity, scorecard as trust
from convviz.graph import cost
from convviz.optvis import atlas, classes, diversity, filters
from convviz.represent import concepts as concept_search, examples, latent
from convviz.store.memo import memoized

__all__ = [
    "predict",
    "grad_cam",
    "cam_with_predictions",
    "attribute",
    "attribute_with_predictions",
    "deletion_curve",
    "insertion_curve",
    "randomization_check",
    "visualize_filters",
    "visualize_classes",
    "visualize_diverse",
    "activation_atlas",
    "extract_embeddings",
    "project",
    "dataset_examples",
    "dataset_examples_of_layers",
    "diff_models",
    "pass_seconds",
    "concepts",
    "concept_maps",
    "scorecard",
]

predict = memoized(checks.predict, kind="predictions")


_NO_CHANNELS = frozenset(set(cam.CAM_METHODS) - {"scorecam"})  # the built-in CAMs that read no ctx.scorecam_channels


def _score_cam_only(arguments: dict[str, Any]) -> tuple[str, ...]:
    """Score-CAM's channels are no option of the other built-in CAMs: one key for their maps (a
    method added with ``register_cam_method`` may read them: they stay in its key)."""
    return ("scorecam_channels",) if arguments.get("method") in _NO_CHANNELS else ()


grad_cam = memoized(cam.grad_cam, kind="gradcam", unused=_score_cam_only)
cam_with_predictions = memoized(cam.cam_with_predictions, kind="cam", unused=_score_cam_only)
attribute = memoized(attribution.attribute, kind="attribute")
attribute_with_predictions = memoized(attribution.attribute_with_predictions, kind="attributions")
deletion_curve = memoized(faithfulness.deletion_curve, kind="deletion")
insertion_curve = memoized(faithfulness.insertion_curve, kind="insertion")
randomization_check = memoized(sanity.randomization_check, kind="randomization")
visualize_filters = memoized(filters.visualize_filters, kind="filters")
visualize_classes = memoized(classes.visualize_classes, kind="class_patterns")
visualize_diverse = memoized(diversity.visualize_diverse, kind="diverse_patterns")
activation_atlas = memoized(
    atlas.activation_atlas,
    kind="atlas",
    extra=lambda a: {"libs": latent.projection_libs(a["method"]) if a["method"] in latent.PROJECTIONS else {}},
)
extract_embeddings = memoized(latent.extract_embeddings, kind="embeddings")
project = memoized(latent.project, kind="projection", extra=lambda a: {"libs": latent.projection_libs(a["method"])})
dataset_examples = memoized(examples.dataset_examples, kind="dataset_examples")
dataset_examples_of_layers = memoized(examples.dataset_examples_of_layers, kind="dataset_examples_of_layers")
diff_models = memoized(diff.diff_models, kind="diff")
pass_seconds = memoized(cost.pass_seconds, kind="pass_seconds")
concepts = memoized(concept_search.concepts, kind="concepts", extra=lambda a: {"libs": concept_search.libraries()})
concept_maps = memoized(concept_search.concept_maps, kind="concept_maps")
scorecard = memoized(trust.scorecard, kind="scorecard")  # a build measures a model once
