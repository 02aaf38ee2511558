"""Fresh weights for a layer, drawn by its own initializers from explicit seeds: the
randomization check's cascade (:func:`convviz.evaluate.sanity.randomization_check`) and the
``weights: null`` keras.applications twins (:func:`convviz.zoo.architectures.build_application`)."""

from __future__ import annotations

import keras
import numpy as np

from convviz.core.backend import to_numpy

__all__ = ["reinitialized_weights", "work_copy", "weighted_layers"]


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


_WORK_ATTR = "_convviz_work_copy"


def work_copy(model: keras.Model) -> keras.Model:
    """A clone of ``model`` holding ``model``'s current weights, for a check to re-initialize.

    The clone is kept on the model itself (as its compiled functions are, see
    `convviz.core.backend.cached_jit`): a page checks several methods, and each check after
    the first reuses the clone and the functions compiled for it instead of cloning and tracing
    the network again (seconds each for a deep one). Its weights are set from ``model`` at every
    call, so a check never starts from another check's re-initialized layers."""
    import random

    from convviz.core.backend import to_numpy

    work = model.__dict__.get(_WORK_ATTR)
    if work is None:
        py_state = random.getstate()  # cloning draws default seeds from Python's generator
        try:
            work = keras.models.clone_model(model)
        finally:
            random.setstate(py_state)
        object.__setattr__(model, _WORK_ATTR, work)  # not a tracked Keras attribute
    work.set_weights([to_numpy(w) for w in model.weights])  # get_weights() warns (NumPy 2 copy keyword)
    return work


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
