"""convviz: see what ConvNets learn.

Intermediate activations, filter patterns (gradient ascent in input space),
Grad-CAM heatmaps, pixel attributions and latent-space embeddings for Keras 3 models, on the
TensorFlow, JAX and PyTorch backends.

Importing convviz never sets ``KERAS_BACKEND``: set it before importing Keras.
"""

from __future__ import annotations

__version__ = "0.1.0"

import importlib
from typing import TYPE_CHECKING, Any

# What ``convviz.NAME`` is, and the module that defines it. Imported on first use (PEP 562), so
# that ``import convviz`` (e.g. by the MkDocs plugin on a rebuild with nothing to compute) does
# not import Keras and its backend: that alone takes seconds.
_EXPORTS: dict[str, str] = {
    "InputError": "core.errors",
    "ConvvizWarning": "core.errors",
    "BlankMapWarning": "core.errors",
    "IncompleteAttributionWarning": "core.errors",
    "NonFiniteWarning": "core.errors",
    "SquashedOutputWarning": "core.errors",
    "EquivalentMethodWarning": "core.errors",
    "activation_layers": "graph.choice",
    "extract_activations": "represent.activations",
    "layer_sparsity": "represent.activations",
    "blank_channel_share": "represent.activations",
    "never_fires": "represent.activations",
    "ATTRIBUTION_METHODS": "attr.gradients",
    "attribute": "store.cached",
    "attribution_map": "attr.attribute",
    "CAM_METHODS": "attr.cam",
    "cam_with_predictions": "store.cached",
    "grad_cam": "store.cached",
    "ModelDiff": "compare.result",
    "cka": "represent.similarity",
    "diff_models": "store.cached",
    "FilterPatterns": "optvis.filters",
    "visualize_classes": "store.cached",
    "visualize_filters": "store.cached",
    "visualize_diverse": "store.cached",
    "DiversePatterns": "optvis.diversity",
    "activation_atlas": "store.cached",
    "ActivationAtlas": "optvis.atlas",
    "extract_embeddings": "store.cached",
    "find_outliers": "represent.latent",
    "outlier_scores": "represent.latent",
    "project": "store.cached",
    "trustworthiness": "represent.latent",
    "Concepts": "represent.concepts",
    "concepts": "store.cached",
    "concept_maps": "store.cached",
    "concept_logits": "represent.concepts",
    "scorecard": "store.cached",
    "Scorecard": "evaluate.scorecard",
    "plot_scorecard": "figures.evidence",
    "conv_layers": "graph.layers",
    "last_conv_layer": "graph.layers",
    "split_model": "graph.split",
    "pick_examples": "site.record",
    "record": "site.record",
    "attribute_with_predictions": "store.cached",
    "deletion_curve": "store.cached",
    "insertion_curve": "store.cached",
    "randomization_check": "store.cached",
    "RandomizationResult": "evaluate.sanity",
    "pointing_game": "evaluate.localization",
    "energy_pointing_game": "evaluate.localization",
    "center_baseline": "evaluate.localization",
    "random_baseline": "evaluate.localization",
    "auc": "evaluate.faithfulness",
    "spearman": "evaluate.sanity",
    "ssim": "evaluate.sanity",
    "blurred": "core.image",
    "resize_images": "core.image",
    "procrustes": "represent.similarity",
    "representative_layers": "graph.choice",
    "evenly_spaced": "graph.choice",
    "deprocess_image": "optvis.filters",
    "resolve_layer": "graph.layers",
    "layer_infos": "graph.layers",
    "default_embedding_layer": "represent.latent",
    "too_few": "represent.latent",
    "figsize": "figures.style",
    "overlay_heatmap": "figures.heatmaps",
    "plot_activation_grid": "figures.activations",
    "plot_embedding": "figures.embedding",
    "plot_atlas_classes": "figures.atlas",
    "plot_filter_grid": "figures.patterns",
    "flat_patterns": "figures.patterns",
    "plot_transparency": "figures.patterns",
    "plot_heatmap_overlay": "figures.heatmaps",
    "plot_sparsity": "figures.activations",
    "plot_attribution": "figures.heatmaps",
    "plot_heat_colorbar": "figures.heatmaps",
    "plot_randomization": "figures.evidence",
    "plot_thumbnails": "figures.embedding",
    "use_site_style": "figures.style",
    "display_name": "figures.style",
    "save_figure": "figures.output",
    "save_image": "figures.output",
    "DatasetExamples": "represent.examples",
    "ReceptiveField": "graph.fields",
    "dataset_examples": "store.cached",
    "dataset_examples_of_layers": "store.cached",
    "receptive_field": "graph.fields",
    "predict": "store.cached",
    "top_k": "core.checks",
}

if TYPE_CHECKING:  # the same names, for type checkers and editors
    from convviz.attr.attribute import attribution_map
    from convviz.attr.cam import CAM_METHODS
    from convviz.attr.gradients import ATTRIBUTION_METHODS
    from convviz.compare.result import ModelDiff
    from convviz.core.checks import top_k
    from convviz.core.errors import (
        BlankMapWarning,
        ConvvizWarning,
        EquivalentMethodWarning,
        IncompleteAttributionWarning,
        InputError,
        NonFiniteWarning,
        SquashedOutputWarning,
    )
    from convviz.core.image import blurred, resize_images
    from convviz.evaluate.faithfulness import auc
    from convviz.evaluate.localization import center_baseline, energy_pointing_game, pointing_game, random_baseline
    from convviz.evaluate.sanity import RandomizationResult, spearman, ssim
    from convviz.figures.activations import plot_activation_grid, plot_sparsity
    from convviz.figures.atlas import plot_atlas_classes
    from convviz.figures.embedding import plot_embedding, plot_thumbnails
    from convviz.evaluate.scorecard import Scorecard
    from convviz.figures.evidence import plot_randomization, plot_scorecard
    from convviz.figures.heatmaps import overlay_heatmap, plot_attribution, plot_heat_colorbar, plot_heatmap_overlay
    from convviz.figures.output import save_figure, save_image
    from convviz.figures.patterns import flat_patterns, plot_filter_grid, plot_transparency
    from convviz.figures.style import display_name, figsize, use_site_style
    from convviz.graph.choice import activation_layers, evenly_spaced, representative_layers
    from convviz.graph.fields import ReceptiveField, receptive_field
    from convviz.graph.layers import conv_layers, last_conv_layer, layer_infos, resolve_layer
    from convviz.graph.split import split_model
    from convviz.optvis.atlas import ActivationAtlas
    from convviz.optvis.diversity import DiversePatterns
    from convviz.optvis.filters import FilterPatterns, deprocess_image
    from convviz.represent.activations import blank_channel_share, extract_activations, layer_sparsity, never_fires
    from convviz.represent.examples import DatasetExamples
    from convviz.represent.latent import (
        default_embedding_layer,
        find_outliers,
        outlier_scores,
        too_few,
        trustworthiness,
    )
    from convviz.represent.concepts import Concepts, concept_logits
    from convviz.represent.similarity import cka, procrustes
    from convviz.site.record import pick_examples, record
    from convviz.store.cached import (
        activation_atlas,
        attribute,
        attribute_with_predictions,
        cam_with_predictions,
        concept_maps,
        concepts,
        dataset_examples,
        dataset_examples_of_layers,
        deletion_curve,
        diff_models,
        extract_embeddings,
        grad_cam,
        insertion_curve,
        predict,
        project,
        randomization_check,
        scorecard,
        visualize_classes,
        visualize_diverse,
        visualize_filters,
    )

__all__ = [
    "__version__",
    "activation_layers",
    "attribute",
    "attribute_with_predictions",
    "attribution_map",
    "ATTRIBUTION_METHODS",
    "auc",
    "blank_channel_share",
    "BlankMapWarning",
    "blurred",
    "CAM_METHODS",
    "cam_with_predictions",
    "center_baseline",
    "cka",
    "concept_logits",
    "concept_maps",
    "concepts",
    "Concepts",
    "scorecard",
    "Scorecard",
    "plot_scorecard",
    "conv_layers",
    "ConvvizWarning",
    "dataset_examples",
    "dataset_examples_of_layers",
    "DatasetExamples",
    "default_embedding_layer",
    "deletion_curve",
    "deprocess_image",
    "diff_models",
    "display_name",
    "energy_pointing_game",
    "EquivalentMethodWarning",
    "evenly_spaced",
    "extract_activations",
    "extract_embeddings",
    "figsize",
    "flat_patterns",
    "FilterPatterns",
    "find_outliers",
    "grad_cam",
    "IncompleteAttributionWarning",
    "InputError",
    "insertion_curve",
    "last_conv_layer",
    "layer_infos",
    "layer_sparsity",
    "ModelDiff",
    "never_fires",
    "NonFiniteWarning",
    "outlier_scores",
    "overlay_heatmap",
    "pick_examples",
    "plot_activation_grid",
    "plot_atlas_classes",
    "plot_attribution",
    "plot_embedding",
    "plot_filter_grid",
    "plot_heat_colorbar",
    "plot_heatmap_overlay",
    "plot_randomization",
    "plot_sparsity",
    "plot_thumbnails",
    "plot_transparency",
    "pointing_game",
    "predict",
    "procrustes",
    "project",
    "random_baseline",
    "randomization_check",
    "RandomizationResult",
    "receptive_field",
    "ReceptiveField",
    "record",
    "representative_layers",
    "resize_images",
    "resolve_layer",
    "save_figure",
    "save_image",
    "spearman",
    "split_model",
    "SquashedOutputWarning",
    "ssim",
    "too_few",
    "top_k",
    "trustworthiness",
    "use_site_style",
    "visualize_classes",
    "visualize_filters",
    "visualize_diverse",
    "DiversePatterns",
    "activation_atlas",
    "ActivationAtlas",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'convviz' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"convviz.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
