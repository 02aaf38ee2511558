"""The one batching loop: split arrays into batches, pad the last one so that a single
compiled trace serves them all, run, convert to NumPy, trim the padding, concatenate.

Every batched computation in convviz (predictions, activations, embeddings, CAMs,
attributions, Score-CAM's masked passes) goes through :func:`run_batches`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import keras
import numpy as np

from convviz import _backend

__all__ = ["run_batches", "pad_to"]


def pad_to(x: np.ndarray, size: int) -> np.ndarray:
    """``x`` with its last row repeated up to ``size`` rows (unchanged when it has them)."""
    n = len(x)
    if n >= size:
        return x
    return np.concatenate([x, np.repeat(x[-1:], size - n, 0)])


def _numpy(out: Any, n: int, post: Callable[[np.ndarray], np.ndarray] | None) -> Any:
    if isinstance(out, dict):
        return {k: _numpy(v, n, post) for k, v in out.items()}
    if isinstance(out, (list, tuple)):
        return tuple(_numpy(v, n, post) for v in out)
    a = _backend.to_numpy(out)[:n]
    return post(a) if post is not None else a


def _concat(parts: list[Any]) -> Any:
    first = parts[0]
    if isinstance(first, dict):
        return {k: _concat([p[k] for p in parts]) for k in first}
    if isinstance(first, tuple):
        return tuple(_concat([p[i] for p in parts]) for i in range(len(first)))
    return np.concatenate(parts)


def run_batches(
    step: Callable[..., Any],
    arrays: Sequence[np.ndarray],
    *,
    batch_size: int,
    post: Callable[[np.ndarray], np.ndarray] | None = None,
    pad: bool | None = None,
    no_grad: bool = True,
) -> Any:
    """Run ``step(*batch)`` over ``arrays`` (equal first dimension) in batches.

    Parameters
    ----------
    step
        A (compiled) function of backend tensors returning a tensor, a tuple or a dict of
        tensors, each with one row per input row.
    arrays
        NumPy arrays split along their first axis.
    batch_size
        Rows per call.
    post
        Applied to each output (NumPy, padding removed) of each batch, e.g. to reduce it
        before the next batch runs, so memory stays bounded.
    pad
        Pad the last batch to ``batch_size`` rows (repeating its last row). Default: only
        when there is more than one batch, so one trace serves all of them and a single
        small batch is not inflated.
    no_grad
        Turn off gradient tracking around the calls (torch); gradients taken inside
        ``step`` with :func:`convviz._backend.value_and_grad` still work.

    Returns
    -------
    The outputs' structure with NumPy arrays concatenated along the first axis.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    total = len(arrays[0])
    if any(len(a) != total for a in arrays):
        raise ValueError(f"arrays of {[len(a) for a in arrays]} rows: they must have the same number")
    if total == 0:
        raise ValueError("no rows to run: the input is empty")
    padded = total > batch_size if pad is None else pad
    parts = []
    with _backend.no_grad() if no_grad else _nullcontext():
        for s in range(0, total, batch_size):
            chunk = [a[s : s + batch_size] for a in arrays]
            n = len(chunk[0])
            if padded:
                chunk = [pad_to(c, batch_size) for c in chunk]
            out = step(*(keras.ops.convert_to_tensor(c) for c in chunk))
            parts.append(_numpy(out, n, post))
    return _concat(parts)


def _nullcontext() -> Any:
    import contextlib

    return contextlib.nullcontext()
