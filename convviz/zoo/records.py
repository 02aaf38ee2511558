"""What a trained entry recorded (its test accuracy, whether it needs training), shipping its weights beside the zoo file, and checking that they retrain."""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from convviz.core.lazy import lazy_module
from convviz.store.cache import Cache, default_cache
from convviz.zoo import shipped
from convviz.zoo.entries import dataset, entry
from convviz.zoo.entry import ZooEntry
from convviz.zoo.errors import ZooError
from convviz.zoo.loading import load
from convviz.zoo.training import model_from_bytes, model_key, model_to_bytes, recipe_digest, shipped_path, train_bytes

if TYPE_CHECKING:
    import keras
else:
    # imported on first use
    keras = lazy_module("keras")


__all__ = ["test_accuracy", "ship", "retrain_check", "training_record", "cached_record", "needs_training", "Retrained"]


def training_record(name: str | ZooEntry, *, cache: Cache | None = None) -> dict[str, Any]:
    """How a trained entry's cached model came to be: ``test_accuracy``, ``seconds`` (of
    training; 0 for shipped weights), ``backend`` and, for shipped weights, ``shipped`` (the
    test accuracy recorded when they were written)."""
    e = name if isinstance(name, ZooEntry) else entry(name)
    test_accuracy(e, cache=cache)
    cache = cache or default_cache()
    return dict(cache.read_json(model_key(e) + "-meta") or {})


def cached_record(e: ZooEntry, *, cache: Cache | None = None) -> dict[str, Any] | None:
    """The :func:`training_record` of a trained entry whose model is in the cache, else None;
    nothing is loaded, trained or imported (no Keras)."""
    if e.source != "trained":
        return None
    record = (cache or default_cache()).read_json(model_key(e) + "-meta")
    return dict(record) if isinstance(record, dict) else None


def needs_training(e: ZooEntry, *, cache: Cache | None = None) -> bool:
    """True for a trained entry whose model is neither in the cache nor shipped for its
    recipe: loading it trains it (minutes, not seconds). Nothing is loaded (no Keras)."""
    if e.source != "trained":
        return False
    if (cache or default_cache()).path(model_key(e)).is_file():
        return False
    found, _ = shipped.read(shipped_path(e), recipe_digest(e))
    return found is None


def ship(name: str | ZooEntry, *, cache: Cache | None = None) -> Path:
    """Write a trained entry's model (trained now if not cached) to :func:`shipped_path` with
    its record: recipe digest, checksum, test accuracy, what it was trained with."""
    from convviz.store.digests import environment

    e = name if isinstance(name, ZooEntry) else entry(name)
    cache = cache or default_cache()
    key = model_key(e)
    load(e, cache=cache)
    meta = cache.read_json(key + "-meta") or {}
    payload = cache.get_bytes(key)
    assert payload is not None  # load() cached it
    target = shipped_path(e)
    if meta.get("shipped") is not None and target.is_file():
        return target  # already these weights
    found, _ = shipped.read(target, recipe_digest(e))
    if found is not None and _same_weights(model_from_bytes(found.payload), model_from_bytes(payload)):
        return target  # the same weights, trained again: the shipped file stays byte for byte
    payload = model_to_bytes(model_from_bytes(payload))  # without the optimizer's state: a third
    shipped.write(
        target,
        payload,
        {
            "model": e.name,
            "recipe_digest": recipe_digest(e),
            "recipe": e.recipe(),
            "test_accuracy": test_accuracy(e, cache=cache),
            "training_seconds": meta.get("seconds"),
            "trained_with": environment(),
        },
    )
    return target


def _same_weights(a: keras.Model, b: keras.Model) -> bool:
    import numpy as np

    wa, wb = a.get_weights(), b.get_weights()
    return len(wa) == len(wb) and all(x.shape == y.shape and np.array_equal(x, y) for x, y in zip(wa, wb))


@dataclass(frozen=True)
class Retrained:
    """:func:`retrain_check`'s result: the shipped and the retrained test accuracy."""

    name: str
    shipped: float
    retrained: float
    seconds: float
    tolerance: float

    @property
    def ok(self) -> bool:
        return abs(self.retrained - self.shipped) <= self.tolerance + 1e-12


def retrain_check(name: str | ZooEntry, *, tolerance: float = 0.005, progress: bool = True) -> Retrained:
    """Train a shipped entry again from source (ignoring the shipped file and the cache) and
    compare its test accuracy with the shipped one's (``tolerance``: 0.005 = half a point)."""
    import time

    e = name if isinstance(name, ZooEntry) else entry(name)
    found, why = shipped.read(shipped_path(e), recipe_digest(e))
    if found is None:
        raise ZooError(
            f"zoo model {e.name!r}: no usable shipped weights at {shipped_path(e)}"
            + (f" ({why})" if why else "")
            + "; `convviz zoo train --ship` writes them"
        )
    with tempfile.TemporaryDirectory(prefix="convviz-retrain-") as tmp:
        scratch = Cache(tmp)
        start = time.perf_counter()
        payload = train_bytes(e, scratch, "model", progress=progress)
        took = time.perf_counter() - start
        acc = float(json.loads(scratch.get_bytes("model-meta") or b"{}")["test_accuracy"])
    del payload
    return Retrained(e.name, float(found.record["test_accuracy"]), acc, took, tolerance)


def test_accuracy(name: str | ZooEntry, *, cache: Cache | None = None) -> float | None:
    """The recorded test accuracy of a trained entry (trains it when needed)."""
    e = name if isinstance(name, ZooEntry) else entry(name)
    if e.source != "trained":
        return None
    cache = cache or default_cache()
    key = model_key(e) + "-meta"
    meta = cache.read_json(key)  # recorded by training: no need to load the model
    if meta is None:
        load(e, cache=cache)
        meta = cache.json(key, lambda: _evaluate(e, cache))
    return float(meta["test_accuracy"])


def _evaluate(e: ZooEntry, cache: Cache) -> dict[str, Any]:
    import numpy as np

    model = load(e, cache=cache)
    test = dataset(e, "test")
    from convviz.core.checks import predict

    probs = predict(model, test.x, batch_size=256)
    return {"test_accuracy": float(np.mean(np.argmax(probs, 1) == test.y)), "seconds": None}
