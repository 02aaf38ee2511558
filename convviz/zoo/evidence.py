"""The scorecard of a zoo model as its pages compute it (issue 39): which images, methods and
options, from the model's page budget; the attribution page and the zoo-wide Trust page call
:func:`scorecard_of` with the same arguments and so read one cached result."""

from __future__ import annotations

from typing import Any

from convviz.zoo.budget import ROAD_IMAGES, ROAD_PIXELS

__all__ = ["IMAGES", "ROAD_PIXELS", "scorecard_inputs", "scorecard_of"]

IMAGES = 200  # test images of a small model's scorecard (ROAD on 50, the randomization on 8)


def scorecard_inputs(entry: Any, model: Any, test: Any) -> dict[str, Any]:
    """The arguments of a zoo model's scorecard: every CAM and attribution method on the first
    :data:`IMAGES` test images (a costly model, or an entry's few ``passes``: its budget's evidence images), ROAD on
    :data:`~convviz.zoo.budget.ROAD_IMAGES` of them (none on images over :data:`ROAD_PIXELS`
    pixels), the randomization and sensitivity metrics on the budget's ``trust_images``, Smooth
    MPRT at its ``trust_depths`` with its ``mprt_samples`` noisy copies, the sensitivities with
    its ``sensitivity_samples``, CAMs at the entry's CAM layer, the methods' options from the
    page budget (:mod:`convviz.zoo.budget`, whose ``trust`` share the scorecard spends)."""
    from convviz.attr.cam import CAM_METHODS
    from convviz.attr.gradients import ATTRIBUTION_METHODS
    from convviz.zoo.budget import SMALL_SECONDS, page_budget

    budget = page_budget(entry, model, images=len(test.x))
    small = budget.planned_seconds <= SMALL_SECONDS  # the full recipe (a cheap pass, or passes enough for it)
    n = min(IMAGES if small else budget.evidence_images, len(test.x))
    h, w = test.x.shape[1:3]
    few = max(2, budget.trust_images)  # 8 for a small model
    return {
        "images": test.x[:n],
        "methods": [*CAM_METHODS, *ATTRIBUTION_METHODS],
        "masks": None if test.masks is None else test.masks[:n],
        "layer": entry.cam_layer(model),
        "options": {
            "integrated_gradients": {"steps": budget.ig_steps},
            "smoothgrad": {"samples": budget.sg_samples},
            "scorecam": {"scorecam_channels": budget.scorecam_channels},
        },
        "road_images": min(ROAD_IMAGES, n) if h * w <= ROAD_PIXELS else 0,
        "randomization_images": few,
        "sensitivity_images": few,
        "depths": budget.trust_depths,
        "mprt_samples": budget.mprt_samples,
        "sensitivity_samples": budget.sensitivity_samples,
    }


def scorecard_of(entry: Any, model: Any, test: Any) -> Any:
    """The scorecard of a zoo model (:func:`convviz.evaluate.scorecard.scorecard` with
    :func:`scorecard_inputs`), from the cache when a page computed it."""
    from convviz.store.cached import scorecard

    inputs = scorecard_inputs(entry, model, test)
    return scorecard(model, inputs.pop("images"), **inputs, cache=True)
