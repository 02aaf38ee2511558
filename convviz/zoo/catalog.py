"""What a zoo file may name, known without importing Keras.

The MkDocs plugin reads and checks the zoo file on every build; with these names here, a
rebuild with nothing to compute never imports Keras and its backend (seconds).
:mod:`convviz.zoo.architectures` re-exports them and builds the models they name.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from convviz.core.kerasconfig import keras_home

__all__ = [
    "ARCHITECTURE_NAMES",
    "AUGMENTATIONS",
    "PREPROCESS_MODES",
    "APPLICATIONS",
    "Application",
    "keras_models_dir",
    "imagenet_weights_available",
]

# the keys of models.ARCHITECTURES, in its order (a test checks they agree)
ARCHITECTURE_NAMES = ("plain_cnn", "vgg_cnn", "mini_xception")

AUGMENTATIONS = ("none", "shift", "dihedral")

PREPROCESS_MODES = {
    "none": "[0, 1] pixels, as convviz's own datasets",
    "uint8": "[0, 255] pixels",
    "tf": "[-1, 1] pixels (Xception, ResNetV2, MobileNetV2)",
    "torch": "[0, 1] pixels normalized by the ImageNet mean and std, per channel",
    "caffe": "BGR [0, 255] pixels minus the ImageNet mean (VGG16, ResNet50)",
}


@dataclass(frozen=True)
class Application:
    """A ``keras.applications`` model convviz can load."""

    constructor: str
    size: int
    mode: str  # a key of PREPROCESS_MODES: what the weights expect from [0, 1] images
    weights_file: str


APPLICATIONS: dict[str, Application] = {
    "Xception": Application("Xception", 299, "tf", "xception_weights_tf_dim_ordering_tf_kernels.h5"),
    "VGG16": Application("VGG16", 224, "caffe", "vgg16_weights_tf_dim_ordering_tf_kernels.h5"),
    "ResNet50V2": Application("ResNet50V2", 224, "tf", "resnet50v2_weights_tf_dim_ordering_tf_kernels.h5"),
    "MobileNetV2": Application("MobileNetV2", 224, "tf", "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_224.h5"),
    # these two normalize inside the model and expect [0, 255] pixels
    "EfficientNetB0": Application("EfficientNetB0", 224, "uint8", "efficientnetb0.h5"),
    "ConvNeXtTiny": Application("ConvNeXtTiny", 224, "uint8", "convnext_tiny.h5"),
}


def keras_models_dir() -> Path:
    """Where Keras keeps downloaded weights (``models`` in :func:`keras_home`)."""
    return keras_home() / "models"


def imagenet_weights_available(application: str) -> bool:
    """True when the ImageNet weights of ``application`` are in the Keras cache."""
    return (keras_models_dir() / APPLICATIONS[application].weights_file).is_file()
