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
    "activation_layers": "activations",
    "extract_activations": "activations",
    "layer_sparsity": "activations",
    "blank_channel_share": "activations",
    "ATTRIBUTION_METHODS": "attributions",
    "attribute": "attributions",
    "attribution_map": "attributions",
    "CAM_METHODS": "cam",
    "cam_with_predictions": "cam",
    "grad_cam": "cam",
    "ModelDiff": "diff",
    "cka": "diff",
    "diff_models": "diff",
    "FilterPatterns": "filters",
    "visualize_classes": "filters",
    "visualize_filters": "filters",
    "extract_embeddings": "latent",
    "find_outliers": "latent",
    "outlier_scores": "latent",
    "project": "latent",
    "trustworthiness": "latent",
    "conv_layers": "layers",
    "last_conv_layer": "layers",
    "split_model": "layers",
    "pick_examples": "pages",
    "record": "pages",
    "overlay_heatmap": "plot",
    "plot_activation_grid": "plot",
    "plot_embedding": "plot",
    "plot_filter_grid": "plot",
    "plot_heatmap_overlay": "plot",
    "plot_sparsity": "plot",
    "plot_attribution": "plot",
    "plot_heat_colorbar": "plot",
    "plot_randomization": "plot",
    "plot_thumbnails": "plot",
    "use_site_style": "style",
    "display_name": "style",
    "save_figure": "plot",
    "save_image": "plot",
    "DatasetExamples": "units",
    "ReceptiveField": "units",
    "dataset_examples": "units",
    "dataset_examples_of_layers": "units",
    "receptive_field": "units",
    "predict": "validation",
    "top_k": "validation",
}

if TYPE_CHECKING:  # the same names, for type checkers and editors
    from convviz.activations import activation_layers, blank_channel_share, extract_activations, layer_sparsity
    from convviz.attributions import ATTRIBUTION_METHODS, attribute, attribution_map
    from convviz.cam import CAM_METHODS, cam_with_predictions, grad_cam
    from convviz.diff import ModelDiff, cka, diff_models
    from convviz.filters import FilterPatterns, visualize_classes, visualize_filters
    from convviz.latent import (
        extract_embeddings,
        find_outliers,
        outlier_scores,
        project,
        trustworthiness,
    )
    from convviz.layers import conv_layers, last_conv_layer, split_model
    from convviz.pages import pick_examples, record
    from convviz.units import (
        DatasetExamples,
        ReceptiveField,
        dataset_examples,
        dataset_examples_of_layers,
        receptive_field,
    )
    from convviz.validation import predict, top_k
    from convviz.plot import (
        overlay_heatmap,
        plot_activation_grid,
        plot_embedding,
        plot_filter_grid,
        plot_heatmap_overlay,
        plot_attribution,
        plot_heat_colorbar,
        plot_randomization,
        plot_sparsity,
        plot_thumbnails,
        save_figure,
        save_image,
    )
    from convviz.style import display_name, use_site_style

__all__ = [
    "__version__",
    "ATTRIBUTION_METHODS",
    "CAM_METHODS",
    "DatasetExamples",
    "FilterPatterns",
    "activation_layers",
    "attribute",
    "attribution_map",
    "cka",
    "diff_models",
    "ModelDiff",
    "cam_with_predictions",
    "conv_layers",
    "dataset_examples",
    "dataset_examples_of_layers",
    "extract_activations",
    "extract_embeddings",
    "find_outliers",
    "grad_cam",
    "last_conv_layer",
    "layer_sparsity",
    "blank_channel_share",
    "outlier_scores",
    "overlay_heatmap",
    "pick_examples",
    "record",
    "plot_activation_grid",
    "plot_embedding",
    "plot_filter_grid",
    "plot_heatmap_overlay",
    "plot_sparsity",
    "plot_attribution",
    "plot_heat_colorbar",
    "plot_randomization",
    "plot_thumbnails",
    "use_site_style",
    "display_name",
    "predict",
    "top_k",
    "project",
    "receptive_field",
    "ReceptiveField",
    "save_figure",
    "save_image",
    "split_model",
    "trustworthiness",
    "visualize_classes",
    "visualize_filters",
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
