"""convviz: see what ConvNets learn.

Intermediate activations, filter patterns (gradient ascent in input space),
Grad-CAM heatmaps, pixel attributions and latent-space embeddings for Keras 3 models, on the
TensorFlow, JAX and PyTorch backends.

Importing convviz never sets ``KERAS_BACKEND``: set it before importing Keras.
"""

from __future__ import annotations

__version__ = "0.1.0"

from convviz.activations import activation_layers, extract_activations, layer_sparsity  # noqa: E402
from convviz.attributions import ATTRIBUTION_METHODS, attribute, attribution_map  # noqa: E402
from convviz.cam import CAM_METHODS, cam_with_predictions, grad_cam  # noqa: E402
from convviz.diff import ModelDiff, cka, diff_models  # noqa: E402
from convviz.filters import FilterPatterns, visualize_classes, visualize_filters  # noqa: E402
from convviz.latent import (  # noqa: E402
    extract_embeddings,
    find_outliers,
    outlier_scores,
    project,
    trustworthiness,
)
from convviz.layers import conv_layers, last_conv_layer, split_model  # noqa: E402
from convviz.pages import pick_examples, record  # noqa: E402
from convviz.units import DatasetExamples, ReceptiveField, dataset_examples, receptive_field  # noqa: E402
from convviz.validation import predict, top_k  # noqa: E402
from convviz.plot import (  # noqa: E402
    overlay_heatmap,
    plot_activation_grid,
    plot_embedding,
    plot_filter_grid,
    plot_heatmap_overlay,
    plot_sparsity,
    save_figure,
    save_image,
)

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
    "extract_activations",
    "extract_embeddings",
    "find_outliers",
    "grad_cam",
    "last_conv_layer",
    "layer_sparsity",
    "outlier_scores",
    "overlay_heatmap",
    "pick_examples",
    "record",
    "plot_activation_grid",
    "plot_embedding",
    "plot_filter_grid",
    "plot_heatmap_overlay",
    "plot_sparsity",
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
