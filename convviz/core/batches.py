"""The one batching loop: split arrays into batches, pad the last one so that a single
compiled trace serves them all, run, convert to NumPy, trim the padding, concatenate.

Every batched computation in convviz goes through :func:`chunks`, the one loop:
:func:`run_batches` (predictions, activations, embeddings, CAMs, attributions) and
:func:`stream_batches` (streamed reductions: a unit's peak over a dataset, the diff's CKA)
run a compiled step over its batches; the filter ascent batches filters and Score-CAM its
masks with it directly.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

import keras
import numpy as np

from convviz.core import backend as _backend
from convviz.core.errors import InputError

__all__ = ["chunks", "run_batches", "stream_batches", "pad_to"]


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


def chunks(
    arrays: Sequence[np.ndarray], *, batch_size: int, pad: bool = False
) -> Iterator[tuple[int, int, list[np.ndarray]]]:
    """(start, rows, batch) over ``arrays`` (equal first dimension) in batches of
    ``batch_size`` rows: the one batching loop. ``pad``: the last batch padded to
    ``batch_size`` rows by repeating its last row (``rows`` still counts the real ones)."""
    if batch_size < 1:
        raise InputError(f"batch_size must be at least 1, got {batch_size}")
    total = len(arrays[0])
    if any(len(a) != total for a in arrays):
        raise InputError(f"arrays of {[len(a) for a in arrays]} rows: they must have the same number")
    if total == 0:
        raise InputError("no rows to run: the input is empty")
    for s in range(0, total, batch_size):
        chunk = [a[s : s + batch_size] for a in arrays]
        n = len(chunk[0])
        yield s, n, [pad_to(c, batch_size) for c in chunk] if pad else chunk


def stream_batches(
    step: Callable[..., Any],
    arrays: Sequence[np.ndarray],
    *,
    batch_size: int,
    pad: bool | None = None,
    no_grad: bool = True,
) -> Iterator[tuple[int, Any]]:
    """(start, outputs) of ``step(*batch)`` per batch, as NumPy with the padding removed,
    for a reduction that keeps only a summary of each batch (memory bounded by
    ``batch_size``). Options as :func:`run_batches`."""
    padded = len(arrays[0]) > batch_size if pad is None else pad
    with _backend.no_grad() if no_grad else _nullcontext():
        for s, n, chunk in chunks(arrays, batch_size=batch_size, pad=padded):
            yield s, _numpy(step(*(keras.ops.convert_to_tensor(c) for c in chunk)), n, None)


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
        ``step`` with :func:`convviz.core.backend.value_and_grad` still work.

    Returns
    -------
    The outputs' structure with NumPy arrays concatenated along the first axis.
    """
    parts = []
    for _, out in stream_batches(step, arrays, batch_size=batch_size, pad=pad, no_grad=no_grad):
        parts.append(out if post is None else _apply(out, post))
    return _concat(parts)


def _apply(out: Any, post: Callable[[np.ndarray], np.ndarray]) -> Any:
    if isinstance(out, dict):
        return {k: _apply(v, post) for k, v in out.items()}
    if isinstance(out, tuple):
        return tuple(_apply(v, post) for v in out)
    return post(out)


def _nullcontext() -> Any:
    import contextlib

    return contextlib.nullcontext()
