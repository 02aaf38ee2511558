"""convviz: see what ConvNets learn.

Intermediate activations, filter patterns (gradient ascent in input space),
Grad-CAM heatmaps and latent-space embeddings for Keras 3 models, on the
TensorFlow, JAX and PyTorch backends.

Importing convviz never sets ``KERAS_BACKEND``: set it before importing Keras.
"""

from __future__ import annotations

__version__ = "0.1.0"

from convviz.layers import conv_layers, last_conv_layer, split_model  # noqa: E402

__all__ = ["__version__", "conv_layers", "last_conv_layer", "split_model"]
