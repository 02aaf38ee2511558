"""The one memo step: an algorithm's result read from the cache, wrapped around it from outside.

Algorithms are pure functions of their arguments: they never import the cache. The public
functions that a page or a reader's script calls with ``cache=True`` are the algorithms wrapped
by :func:`memoized`, which keys a result on

* every argument the result depends on, bound to the signature with its defaults (a model by
  the digest of its architecture and weights, an array by its bytes, shape and dtype; a value
  it cannot key is an error, never a silent ``str()``), all but ``progress``;
* the code that computes it: the functions the algorithm reaches, read from the source
  (:func:`convviz.store.reach.reached_digest`), so that editing the site, the CLI or the
  cache itself recomputes nothing, and editing a function the result comes from recomputes
  exactly that result;
* the numerical environment (backend and versions).

Each result is stored with the seconds its computation took, and every process adds up the
seconds of the results its top-level cached calls return (:func:`cached_seconds`): a page that
reads results another process computed says how long they took to compute.

Results are stored without pickle: arrays in an ``.npz``, the structure around them (a
dataclass of convviz's, a dict, a tuple, numbers, strings) as JSON beside them.
"""

from __future__ import annotations

import dataclasses
import functools
import importlib
import inspect
import io
import json
import math
import time
from collections.abc import Callable, Iterable
from typing import Any, ParamSpec, TypeVar

import numpy as np

from convviz.store import reach
from convviz.store.cache import Cache, array_digest, make_key, model_digest, resolve
from convviz.core.errors import InputError

__all__ = ["memoized", "key_token", "encode", "decode", "IGNORED", "cached_seconds", "reset_cached_seconds"]

P = ParamSpec("P")
R = TypeVar("R")
IGNORED = frozenset({"progress"})  # arguments that change how a result is computed, never what it is
_TREE = "__convviz_tree__"
_SECONDS = "__convviz_seconds__"
# the seconds of the results of this process's top-level cached calls, and how deep in cached calls it is
_CLOCK = {"seconds": 0.0, "depth": 0}


def cached_seconds() -> float:
    """The seconds the results returned by this process's cached calls took to compute, since
    :func:`reset_cached_seconds`: a result read from the cache counts the time stored with it,
    a result computed here the time it took (a cached call inside another counts once, in the
    outer one). Entries written before convviz stored times count 0."""
    return float(_CLOCK["seconds"])


def reset_cached_seconds() -> None:
    """Start :func:`cached_seconds` again from 0 (a page's run starts so)."""
    _CLOCK["seconds"] = 0.0


def key_token(value: Any, name: str = "argument") -> Any:
    """A JSON value that stands for ``value`` in a cache key: models by their digest, arrays by
    theirs, containers and result dataclasses element by element. Raises TypeError for anything else (a key that two
    different values could share is worse than no cache)."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        v = float(value)
        return {"float": repr(v)} if not math.isfinite(v) else v
    if isinstance(value, np.ndarray):
        return {"array": array_digest(value)}
    if isinstance(value, (list, tuple)):
        return [key_token(v, name) for v in value]
    if isinstance(value, dict):
        return {"dict": sorted((json.dumps(key_token(k, name)), key_token(v, name)) for k, v in value.items())}
    if hasattr(value, "weights") and hasattr(value, "layers"):  # a Keras model
        return {"model": model_digest(value)}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):  # a result of convviz's, field by field
        cls = type(value)
        fields = {f.name: key_token(getattr(value, f.name), name) for f in dataclasses.fields(value) if f.init}
        return {"dataclass": f"{cls.__module__}:{cls.__qualname__}", "fields": fields}
    raise TypeError(f"cannot key {name} of type {type(value).__name__} for the cache; pass arrays, numbers or strings")


def _encode(value: Any, arrays: dict[str, np.ndarray]) -> Any:
    if isinstance(value, np.ndarray):
        key = f"a{len(arrays)}"
        arrays[key] = value
        return {"array": key}
    if value is None or isinstance(value, (bool, str, int)):
        return value
    if isinstance(value, np.generic):
        return _encode(value.item(), arrays)
    if isinstance(value, float):
        return value if math.isfinite(value) else {"float": repr(value)}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        cls = type(value)
        if not cls.__module__.startswith("convviz."):
            raise TypeError(f"cannot store a {cls.__name__} in the cache: only convviz's own results")
        fields = {f.name: _encode(getattr(value, f.name), arrays) for f in dataclasses.fields(value) if f.init}
        return {"dataclass": f"{cls.__module__}:{cls.__qualname__}", "fields": fields}
    if isinstance(value, dict):
        return {"dict": [[_encode(k, arrays), _encode(v, arrays)] for k, v in value.items()]}
    if isinstance(value, tuple):
        return {"tuple": [_encode(v, arrays) for v in value]}
    if isinstance(value, list):
        return {"list": [_encode(v, arrays) for v in value]}
    raise TypeError(f"cannot store a {type(value).__name__} in the cache")


def _decode(node: Any, arrays: Any) -> Any:
    if not isinstance(node, dict):
        return node
    if "array" in node:
        return arrays[node["array"]]
    if "float" in node:
        return float(node["float"])
    if "tuple" in node:
        return tuple(_decode(v, arrays) for v in node["tuple"])
    if "list" in node:
        return [_decode(v, arrays) for v in node["list"]]
    if "dict" in node:
        return {_hashable(_decode(k, arrays)): _decode(v, arrays) for k, v in node["dict"]}
    module, _, qualname = node["dataclass"].partition(":")
    if not module.startswith("convviz."):
        raise InputError(f"a cache entry names {module}, which is not convviz's")
    cls: Any = importlib.import_module(module)
    for part in qualname.split("."):
        cls = getattr(cls, part)
    return cls(**{k: _decode(v, arrays) for k, v in node["fields"].items()})


def _hashable(key: Any) -> Any:
    return tuple(key) if isinstance(key, list) else key


def encode(value: Any, *, seconds: float | None = None) -> bytes:
    """``value`` (arrays, numbers, strings and convviz's result dataclasses, nested) as bytes:
    an ``.npz`` of its arrays and its structure as JSON, no pickle; with the ``seconds`` its
    computation took, where given."""
    arrays: dict[str, np.ndarray] = {}
    tree = _encode(value, arrays)
    arrays[_TREE] = np.frombuffer(json.dumps(tree).encode(), np.uint8)
    if seconds is not None:
        arrays[_SECONDS] = np.array([float(seconds)], np.float64)
    buf = io.BytesIO()
    np.savez(buf, **arrays)  # type: ignore[arg-type]
    return buf.getvalue()


def decode(payload: bytes) -> Any:
    """What :func:`encode` stored."""
    return _decode_timed(payload)[0]


def _decode_timed(payload: bytes) -> tuple[Any, float]:
    """What :func:`encode` stored, and the seconds stored with it (0 where none were)."""
    with np.load(io.BytesIO(payload), allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    tree = json.loads(arrays.pop(_TREE).tobytes().decode())
    seconds = arrays.pop(_SECONDS, None)
    return _decode(tree, arrays), 0.0 if seconds is None else float(seconds[0])


def memoized(
    fn: Callable[P, R],
    *,
    kind: str | None = None,
    extra: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
    unused: Callable[[dict[str, Any]], Iterable[str]] = lambda arguments: (),
) -> Callable[..., R]:
    """``fn`` with one more keyword argument, ``cache``: ``None`` or ``False`` computes,
    ``True`` reads the result from (or writes it to) the default cache, a
    :class:`~convviz.store.cache.Cache` from that one. The key: the bound arguments but
    ``progress`` (:func:`key_token`) and those ``unused(arguments)`` names (an option of one
    method when another is asked for: the same result, one key), the code ``fn`` reaches, the
    environment, and what ``extra(arguments)`` adds (the version of a library the result comes
    from, say)."""
    signature = inspect.signature(fn)
    name = kind or fn.__name__

    @functools.wraps(fn)
    def wrapper(*args: Any, cache: Cache | bool | None = None, **kwargs: Any) -> Any:
        store = resolve(cache)
        if store is None:
            return fn(*args, **kwargs)
        bound = signature.bind(*args, **kwargs)
        bound.apply_defaults()
        left_out = {*IGNORED, *unused(bound.arguments)}
        parts = {k: key_token(v, k) for k, v in bound.arguments.items() if k not in left_out}
        more = {} if extra is None else extra(dict(bound.arguments))
        key = make_key(name, code=reach.reached_digest(fn), arguments=parts, **more)

        def compute() -> bytes:
            start = time.perf_counter()
            value = fn(*args, **kwargs)
            return encode(value, seconds=time.perf_counter() - start)

        top = _CLOCK["depth"] == 0
        _CLOCK["depth"] += 1
        try:
            value, seconds = _decode_timed(store.get_or_compute(key, compute))
        finally:
            _CLOCK["depth"] -= 1
        if top:
            _CLOCK["seconds"] += seconds
        return value

    params = [*signature.parameters.values()]
    cache_param = inspect.Parameter("cache", inspect.Parameter.KEYWORD_ONLY, default=None)
    wrapper.__signature__ = signature.replace(  # type: ignore[attr-defined]
        parameters=[*params[: len(params) - (params[-1].kind == inspect.Parameter.VAR_KEYWORD)], cache_param]
        + ([params[-1]] if params and params[-1].kind == inspect.Parameter.VAR_KEYWORD else [])
    )
    wrapper.__convviz_memoized__ = fn  # type: ignore[attr-defined]
    return wrapper
