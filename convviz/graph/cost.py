"""What one image costs a model: the seconds of a forward and backward pass here (the unit
of work of every gradient method: filter ascent, Grad-CAM, attributions), measured once, and
the memory its activations hold for the backward pass, which sets how many images a batch
may take."""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from convviz.core import backend as _backend
from convviz.core.errors import InputError
from convviz.graph.layers import layer_infos, resolve_layer

__all__ = ["MEMORY_BUDGET_GB", "backward_bytes", "fitting_batch", "pass_seconds"]

# memory one batch of a gradient method may hold (activations kept for the backward pass)
MEMORY_BUDGET_GB = 1.0


def pass_seconds(model: Any, *, batch: int = 4, repeats: int = 2) -> float:
    """Seconds per image of a forward and backward pass through ``model`` (the gradient of its
    summed outputs with respect to a batch of ``batch`` mid-gray inputs), on this machine.

    The function is traced once first (its compile time is not the cost of a pass); the
    result is the fastest of ``repeats`` timed calls, divided by ``batch``.

    Parameters
    ----------
    model
        A Keras model with a fixed input shape.
    batch, repeats
        Images per timed call, and timed calls (positive integers).
    """
    import keras

    if batch < 1 or repeats < 1:
        raise InputError(f"batch and repeats must be positive integers, got batch={batch}, repeats={repeats}")
    shape = tuple(model.input_shape[1:])
    if any(d is None for d in shape):
        raise InputError(f"the model's input shape {model.input_shape} has a free dimension: give it a fixed size")
    x = np.full((batch, *shape), 0.5, np.float32)

    def grad(t: Any) -> Any:
        return _backend.value_and_grad(lambda u: keras.ops.sum(model(u, training=False)), t)[1]

    step = _backend.jit(grad)
    _backend.to_numpy(step(x))  # traced and compiled: not part of the cost
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        _backend.to_numpy(step(x))
        best = min(best, time.perf_counter() - start)
    return best / batch


def backward_bytes(model: Any, *, up_to: str | None = None, size: tuple[int, int] | None = None) -> int:
    """Bytes one image's forward pass through ``model`` (to layer ``up_to``, default: the
    whole model) keeps for its backward pass: its spatial layers' float32 outputs (measured:
    the peak RSS of a gradient is about their sum), at input size ``size`` (default: the
    model's), and the image itself."""
    target = None if up_to is None else resolve_layer(model, up_to).name
    in_shape = model.inputs[0].shape
    size = size or (int(in_shape[1] or 224), int(in_shape[2] or 224))
    area0 = (in_shape[1] or size[0]) * (in_shape[2] or size[1])
    scale = size[0] * size[1] / area0
    total = 0
    for info in layer_infos(model):
        if info.is_spatial and not info.is_model:
            h, w, c = info.output_shape[1:]
            total += int((h or size[0]) * (w or size[1]) * (c or 1) * scale)
        if info.name == target:
            break
    return 4 * total + 4 * 8 * size[0] * size[1] * 3


def fitting_batch(
    model: Any,
    count: int,
    *,
    cap: int,
    memory_budget_gb: float = MEMORY_BUDGET_GB,
    up_to: str | None = None,
    size: tuple[int, int] | None = None,
) -> int:
    """Images per batch for a gradient through ``model``: at most ``cap`` and ``count``, and
    no more than ``memory_budget_gb`` of activations (:func:`backward_bytes`) hold, the
    batches evenly filled. A small model keeps ``cap``; Xception at 299 pixels (about 250 MB
    an image) gets 4."""
    if not memory_budget_gb > 0:
        raise InputError(f"memory_budget_gb must be positive, got {memory_budget_gb!r}")
    count = max(1, int(count))
    per = backward_bytes(model, up_to=up_to, size=size)
    most = int(max(1, min(cap, count, (memory_budget_gb * 2**30) // max(per, 1))))
    return -(-count // -(-count // most))
