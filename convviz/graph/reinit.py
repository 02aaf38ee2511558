"""Fresh weights for a layer, drawn by its own initializers from explicit seeds: the
randomization check's cascade (:func:`convviz.evaluate.sanity.randomization_check`) and the
``weights: null`` keras.applications twins (:func:`convviz.zoo.architectures.build_application`)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import keras
import numpy as np

from convviz.core.backend import to_numpy

__all__ = ["reinitialized_weights", "restored", "weighted_layers"]


def _initializer_names(weight: str) -> list[str]:
    """The attributes that may hold the initializer of a weight named ``weight``: ``kernel`` →
    ``kernel_initializer``; a separable convolution's ``depthwise_kernel`` and ``pointwise_kernel``
    → ``depthwise_initializer``, ``pointwise_initializer``; a depthwise convolution keeps its
    kernel as ``kernel`` with a ``depthwise_initializer``."""
    names = [f"{weight}_initializer"]
    if weight.endswith("_kernel"):
        names.append(weight.removesuffix("_kernel") + "_initializer")
    if weight == "kernel":
        names.append("depthwise_initializer")
    return names


def reinitialized_weights(layer: keras.layers.Layer, seed: int, *, keep_others: bool = False) -> list[np.ndarray]:
    """Fresh weights for ``layer``, drawn by the layer's own initializers with explicit
    seeds (no global random state is read or changed). A weight without an initializer
    attribute gets normal noise with its trained mean and spread, from a local generator,
    or keeps its value with ``keep_others`` (e.g. a Normalization layer's constants)."""
    out = []
    rng = np.random.default_rng(seed)
    for j, var in enumerate(layer.weights):
        short = var.name.split("/")[-1]
        shape = tuple(int(d) for d in var.shape)
        init = next((getattr(layer, a) for a in _initializer_names(short) if getattr(layer, a, None) is not None), None)
        if init is not None:
            init = keras.initializers.get(init)
            config = init.get_config()
            if "seed" in config:
                config["seed"] = int(seed) * 1000 + j
            value = to_numpy(type(init).from_config(config)(shape, dtype=var.dtype))
        elif keep_others:
            value = to_numpy(var)
        else:
            old = to_numpy(var)
            value = rng.normal(old.mean(), old.std() or 1.0, shape).astype(old.dtype)
        out.append(np.asarray(value))
    return out


@contextlib.contextmanager
def restored(model: keras.Model) -> Iterator[keras.Model]:
    """``model`` itself, for a check to re-initialize in place; every weight is set back to its
    value on entry when the block ends, by an error too.

    The check runs on the model's own variables, so the functions already compiled for it
    (`convviz.core.backend.cached_jit`: TensorFlow and torch read variables when they run, JAX
    receives them as arguments) explain the re-initialized model too. A copy would cost a clone
    and a trace of every function the check calls, seconds each for a deep network: on a
    ResNet50V2 the scorecard's cascades traced more than they computed."""
    saved = [to_numpy(w).copy() for w in model.weights]
    try:
        yield model
    finally:
        for var, value in zip(model.weights, saved):
            var.assign(value)


def weighted_layers(model: keras.Model) -> list[tuple[str, keras.layers.Layer]]:
    """(name, layer) of every layer with weights (nested models' layers included), the output
    layer first: the order in which a randomization cascade re-initializes them."""
    from convviz.graph.layers import get_layer, layer_infos

    out = []
    for info in layer_infos(model):
        if info.is_model:
            continue
        layer = get_layer(model, info.name)
        if layer.weights:
            out.append((info.name, layer))
    return out[::-1]  # top (output) first
