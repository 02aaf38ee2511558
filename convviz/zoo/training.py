"""Training a trained entry, and the digest of the code that determines its weights (the key of its cached and shipped weights)."""

from __future__ import annotations

import hashlib
import json
import logging
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from convviz.core.lazy import lazy_module
from convviz.store.cache import Cache, make_key
from convviz.zoo import catalog as _catalog
from convviz.zoo import shipped
from convviz.zoo.entries import dataset, path
from convviz.zoo.errors import ZooError
from convviz.core.errors import InputError

if TYPE_CHECKING:
    import keras

    from convviz.zoo import architectures as models
    from convviz.zoo.entry import ZooEntry
else:
    # imported on first use
    keras = lazy_module("keras")
    models = lazy_module("convviz.zoo.architectures")


__all__ = [
    "training_definitions",
    "recipe_digest",
    "shipped_path",
    "model_from_bytes",
    "model_key",
    "model_to_bytes",
    "shipped_bytes",
    "train_bytes",
    "train_entry",
    "training_code",
]

log = logging.getLogger("convviz")


# where training starts, besides the architecture's own function; and what is not code of a
# model: the registry names every architecture (the entry's own is a root), and the entry's
# values (recipe, shape, classes) are keyed as data
_ROOTS = (("zoo.training", "train_entry"),)
_NOT_CODE = (("zoo.architectures", "ARCHITECTURES"), ("zoo.entry", "ZooEntry"))


def training_definitions(architecture: str) -> tuple[tuple[str, str], ...]:
    """The convviz definitions (module, name) that determine a trained model of
    ``architecture``: those :func:`train_entry` and the architecture's function reach (the
    training loop and batching, seeding, the dataset generators), read from the source."""
    from convviz.store.reach import reached

    if architecture not in _catalog.ARCHITECTURE_NAMES:
        raise InputError(f"unknown architecture {architecture!r}; valid: {', '.join(_catalog.ARCHITECTURE_NAMES)}")
    return reached(("zoo.architectures", architecture), *_ROOTS, exclude=_NOT_CODE)


def training_code(architecture: str) -> str:
    """A digest of the code that determines a trained model of ``architecture``: the
    definitions of :func:`training_definitions`, normalized
    (:func:`convviz.store.reach.reached_digest`). Editing another architecture, the site,
    the command line or the cache retrains nothing; the entry's own options enter the model's
    key as its recipe."""
    from convviz.store.reach import reached_digest

    training_definitions(architecture)  # the architecture checked
    return reached_digest(("zoo.architectures", architecture), *_ROOTS, exclude=_NOT_CODE)


def model_key(e: ZooEntry) -> str:
    return make_key("model", code=training_code(e.options["architecture"]), source=e.source, recipe=e.recipe())


def recipe_digest(e: ZooEntry) -> str:
    """What determines a trained entry's weights, on any backend: its training code (the
    architecture, the loop, the dataset generators) and its recipe. Shipped weights carry it."""
    if e.source != "trained":
        raise ZooError(f"zoo model {e.name!r} is not trained by convviz (source {e.source!r})")
    blob = json.dumps({"code": training_code(e.options["architecture"]), "recipe": e.recipe()}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:24]


def shipped_path(e: ZooEntry) -> Path:
    """Where a trained entry's weights are shipped: ``<zoo folder>/weights/<name>.keras``."""
    return shipped.location(e.zoo_file or path(), e.name)


def shipped_bytes(e: ZooEntry, cache: Cache, key: str) -> bytes | None:
    """The shipped model when it is this recipe's (its test accuracy measured here and recorded
    like a training's), else None (with one log line saying why a shipped file is not used)."""
    import numpy as np

    from convviz.core.checks import predict

    found, why = shipped.read(shipped_path(e), recipe_digest(e))
    if found is None:
        if why:
            log.warning("convviz: %s: %s; training it", e.name, why)
        return None
    model = model_from_bytes(found.payload)
    test = dataset(e, "test")
    acc = float(np.mean(np.argmax(predict(model, test.x, batch_size=256), 1) == test.y))
    meta = {
        "test_accuracy": acc,
        "seconds": 0.0,
        "backend": keras.backend.backend(),
        "shipped": found.record.get("test_accuracy"),
        "trained_with": found.record.get("trained_with"),
    }
    cache.put_bytes(key + "-meta", json.dumps(meta).encode())
    return found.payload


def train_entry(e: ZooEntry, *, progress: bool = True) -> models.TrainResult:
    """Train a trained entry's architecture on its dataset with its recipe (seeded): what its
    cached or shipped weights are, and what :func:`training_code` digests."""
    o = e.recipe()
    train_set, test_set = dataset(e, "train"), dataset(e, "test")
    log.info("convviz: training %s (%s on %s, %d epochs)", e.name, o["architecture"], e.dataset, o["epochs"])
    return models.train(
        o["architecture"],
        train_set,
        test_set,
        epochs=o["epochs"],
        batch_size=o["batch_size"],
        learning_rate=o["learning_rate"],
        seed=o["seed"],
        augment=o["augment"],
        desc=f"train {e.name}",
        progress=progress,
    )


def train_bytes(e: ZooEntry, cache: Cache, key: str, *, progress: bool) -> bytes:
    result = train_entry(e, progress=progress)
    if e.min_accuracy is not None and result.test_accuracy < e.min_accuracy:
        log.warning(
            "convviz: %s reached test accuracy %.4f, below its min_accuracy %.2f",
            e.name,
            result.test_accuracy,
            e.min_accuracy,
        )
    meta = {
        "test_accuracy": result.test_accuracy,
        "seconds": round(result.seconds, 1),
        "backend": keras.backend.backend(),
    }
    cache.put_bytes(key + "-meta", json.dumps(meta).encode())
    return model_to_bytes(result.model)


def model_to_bytes(model: keras.Model) -> bytes:
    import warnings

    with tempfile.TemporaryDirectory() as tmp:
        p = Path(tmp) / "model.keras"
        with warnings.catch_warnings():
            # Keras' convert_to_numpy calls np.array(variable): TensorFlow 2.21's __array__ lacks
            # NumPy 2's copy keyword (harmless; it printed into the page that trained a model)
            warnings.filterwarnings("ignore", message="__array__ implementation doesn't accept a copy keyword")
            model.save(p)
        return p.read_bytes()


def model_from_bytes(payload: bytes) -> keras.Model:
    with tempfile.TemporaryDirectory() as tmp:
        p = Path(tmp) / "model.keras"
        p.write_bytes(payload)
        return keras.saving.load_model(p, compile=False, safe_mode=True)
