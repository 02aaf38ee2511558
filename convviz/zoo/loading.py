"""An entry's model: trained or read from its shipped weights and cached, built from keras.applications, or read from its file; kept per process while unchanged."""

from __future__ import annotations

import collections
import json
from collections.abc import Callable
from typing import TYPE_CHECKING

from convviz.core.lazy import lazy_module
from convviz.store.cache import Cache, default_cache
from convviz.zoo.entries import entry, usable
from convviz.zoo.entry import ZooEntry
from convviz.zoo.errors import ZooError
from convviz.zoo.training import model_from_bytes, model_key, shipped_bytes, train_bytes

if TYPE_CHECKING:
    import keras

    from convviz.zoo import architectures as models
else:
    # imported on first use
    keras = lazy_module("keras")
    models = lazy_module("convviz.zoo.architectures")


__all__ = ["load"]


def load(name: str | ZooEntry, *, cache: Cache | None = None, progress: bool = True) -> keras.Model:
    """The model of a zoo entry: trained (and cached) on first use, then read from the cache."""
    e = name if isinstance(name, ZooEntry) else entry(name)
    ok, why = usable(e)
    if not ok:
        raise ZooError(f"zoo model {e.name!r} is not usable here: {why}")
    if e.source == "keras.applications":
        return _remembered(
            _entry_key(e),
            lambda: models.build_application(
                e.options["application"], weights=e.options.get("weights"), input_size=e.input_shape[:2]
            ),
        )
    if e.source == "file":
        return _remembered(_entry_key(e), lambda: e.structure)  # class names need it too
    store = cache or default_cache()
    key = model_key(e)

    def compute() -> bytes:
        payload = shipped_bytes(e, store, key)
        return payload if payload is not None else train_bytes(e, store, key, progress=progress)

    return _remembered(f"{store.root}:{key}", lambda: model_from_bytes(store.get_or_compute(key, compute)))


def _entry_key(e: ZooEntry) -> str:
    """Everything about an entry that may change the model it loads: its file's bytes, every
    option (``trust_code`` too: a model read without safe mode is never handed to an entry
    that wants it), the zoo file it comes from."""
    parts = {"source": e.source, "options": e.options, "recipe": e.recipe(), "zoo": str(e.zoo_file)}
    return json.dumps(parts, sort_keys=True, default=str)


_LOADED: collections.OrderedDict[str, tuple[keras.Model, str]] = collections.OrderedDict()


_LOADED_MAX = 4  # models kept per process (the pages of a build load a few models many times)


def _remembered(key: str, make: Callable[[], keras.Model]) -> keras.Model:
    """``make()``, or the model made for ``key`` before in this process when its architecture
    and weights are still those it was made with (:func:`convviz.store.cache.model_digest`).

    Every page of a model loads it: a new model object each time re-read its file (or rebuilt
    it: seconds for a keras.applications network) and traced each compiled function again
    (the functions are kept on the model). A model changed in place (weights set, say) is
    made anew, so no page ever gets another page's modified model."""
    from convviz.store.cache import model_digest

    hit = _LOADED.get(key)
    if hit is not None and model_digest(hit[0]) == hit[1]:
        _LOADED.move_to_end(key)
        return hit[0]
    model = make()
    _LOADED[key] = (model, model_digest(model))
    while len(_LOADED) > _LOADED_MAX:
        _LOADED.popitem(last=False)
    return model
