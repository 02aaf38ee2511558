"""An on-disk cache for trained models and computed figures' data.

Keys are hashes of everything that determines an artifact: the training recipe and
seed or the weights hash, the parameters, a digest of the convviz source that computed
it (:func:`convviz.store.digests.code_digest`), the Keras backend and the versions of Keras and
the backend library. An entry computed by older code, or under another backend, has
another key: it can never be served for the current code. Each entry is one file holding a
magic header, the SHA-256 of its payload and the payload. Writes go to a temporary
file in the same folder and are renamed into place, so a reader sees a whole entry
or none; a per-key lock file keeps two processes from computing the same entry
twice. An entry whose checksum does not match is reported, deleted and recomputed.

The cache lives in ``.convviz-cache/`` at the project root (:func:`project_root`), or where the ``CONVVIZ_CACHE_DIR`` environment variable says.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import io
import json
import logging
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
from convviz.core.files import atomic_path, stale_temporaries
from convviz.core.errors import InputError

__all__ = [
    "Cache",
    "cache_folder",
    "default_cache",
    "make_key",
    "CorruptEntry",
    "resolve",
    "model_digest",
    "array_digest",
    "merge",
]

log = logging.getLogger("convviz")
ENV_VAR = "CONVVIZ_CACHE_DIR"
_MAGIC = b"CVZC1\n"


class CorruptEntry(Exception):
    """A cache entry failed its checksum."""


def make_key(kind: str, *, code: str, **parts: Any) -> str:
    """A stable key for an artifact of ``kind`` determined by ``parts`` (JSON values: keys
    of arrays and models are their digests, :func:`convviz.store.memo.key_token`).

    ``code`` is the digest of the code that computes the artifact (``"src:<hex>"``,
    :func:`convviz.store.reach.reached_digest`). The Keras backend and the versions of
    Keras, the backend library and NumPy always enter the key. A part that is not a JSON
    value is an error: a key that two different values could share is worse than none.
    """
    from convviz.store.digests import environment

    if not code.startswith("src:"):
        raise InputError(f"code must be a 'src:<digest>' string, got {code!r}")
    try:
        blob = json.dumps({"kind": kind, "code": code, "env": environment(), **parts}, sort_keys=True, allow_nan=False)
    except (TypeError, ValueError) as err:
        raise TypeError(f"cannot key a {kind!r} result: {err}") from None
    return f"{kind}-{hashlib.sha256(blob.encode()).hexdigest()[:24]}"


def project_root() -> Path:
    """The project folder (:func:`convviz.store.project.find`): the nearest folder, from the
    current one upwards, whose ``mkdocs.yml`` uses the convviz plugin or that holds
    ``zoo.yml`` or ``gallery/zoo.yml``; else the current folder."""
    from convviz.store.project import find

    return find().root


_SWEPT: set[Path] = set()  # cache folders this process has swept (see Cache.sweep)


class Cache:
    """A folder of checksummed entries.

    Parameters
    ----------
    root
        The folder (created on first write).
    """

    def __init__(self, root: str | Path):
        self.root = Path(root)

    def __repr__(self) -> str:
        return f"Cache({str(self.root)!r})"

    def path(self, key: str) -> Path:
        if not key or "/" in key or key.startswith("."):
            raise InputError(f"invalid cache key {key!r}")
        return self.root / key

    # -- raw bytes -----------------------------------------------------------------
    def get_bytes(self, key: str) -> bytes | None:
        """The payload of ``key``, or None when absent. Raises CorruptEntry on a bad checksum."""
        try:
            data = self.path(key).read_bytes()
        except FileNotFoundError:
            return None
        head = len(_MAGIC) + 32
        if len(data) < head or not data.startswith(_MAGIC):
            raise CorruptEntry(key)
        digest, payload = data[len(_MAGIC) : head], data[head:]
        if hashlib.sha256(payload).digest() != digest:
            raise CorruptEntry(key)
        return payload

    def put_bytes(self, key: str, payload: bytes) -> Path:
        """Write ``payload`` under ``key`` atomically (temp file + fsync + rename)."""
        target = self.path(key)
        self.root.mkdir(parents=True, exist_ok=True)
        if self.root not in _SWEPT:
            self.sweep()
        with atomic_path(target) as tmp:
            tmp.write_bytes(_MAGIC + hashlib.sha256(payload).digest() + payload)
        return target

    def sweep(self) -> list[str]:
        """Remove the temporary files of writers that died mid-write (a killed build: the
        entry itself was never written, so nothing is lost). A temp file's name holds its
        writer's process id; files of living processes stay. Done before this process's
        first write to the folder. Returns the names removed."""
        _SWEPT.add(self.root)
        removed: list[str] = []
        if not self.root.is_dir():
            return removed
        for p in stale_temporaries(self.root):
            with contextlib.suppress(FileNotFoundError):
                p.unlink()
                removed.append(p.name)
        return removed

    def delete(self, key: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.path(key).unlink()

    def keys(self) -> list[str]:
        if not self.root.is_dir():
            return []
        return sorted(
            p.name
            for p in self.root.iterdir()
            if p.is_file() and not p.name.startswith(".") and not p.name.endswith(".lock")
        )

    def size_bytes(self) -> int:
        return sum(self.path(k).stat().st_size for k in self.keys())

    @contextlib.contextmanager
    def lock(self, key: str) -> Iterator[None]:
        """An exclusive inter-process lock for ``key``."""
        self.root.mkdir(parents=True, exist_ok=True)
        with open(self.root / f".{key}.lock", "a+b") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    # -- typed helpers -------------------------------------------------------------
    def get_or_compute(self, key: str, compute: Callable[[], bytes]) -> bytes:
        """The payload of ``key``, computed (once, under a lock) when absent or corrupt."""
        payload = self._read_valid(key)
        if payload is not None:
            return payload
        with self.lock(key):
            payload = self._read_valid(key)  # another process may have written it
            if payload is None:
                payload = compute()
                self.put_bytes(key, payload)
        return payload

    def _read_valid(self, key: str) -> bytes | None:
        try:
            return self.get_bytes(key)
        except CorruptEntry:
            log.warning("convviz cache: entry %s is corrupt; recomputing it", key)
            self.delete(key)
            return None

    def arrays(self, key: str, compute: Callable[[], dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
        """Cached dict of NumPy arrays."""

        def make() -> bytes:
            buf = io.BytesIO()
            np.savez(buf, **compute())  # type: ignore[arg-type]
            return buf.getvalue()

        with np.load(io.BytesIO(self.get_or_compute(key, make)), allow_pickle=False) as z:
            return {k: z[k] for k in z.files}

    def read_json(self, key: str) -> Any:
        """The JSON value of ``key``, or None when absent (or corrupt: then it is deleted)."""
        payload = self._read_valid(key)
        return None if payload is None else json.loads(payload)

    def json(self, key: str, compute: Callable[[], Any]) -> Any:
        """Cached JSON value."""
        return json.loads(self.get_or_compute(key, lambda: json.dumps(compute()).encode()))


def cache_folder(root: Path) -> Path:
    """The cache folder of the project at ``root``: ``$CONVVIZ_CACHE_DIR`` or ``root/.convviz-cache``."""
    env = os.environ.get(ENV_VAR)
    return Path(env) if env else root / ".convviz-cache"


def default_cache() -> Cache:
    """The cache at ``$CONVVIZ_CACHE_DIR`` or ``<project>/.convviz-cache``."""
    return Cache(cache_folder(project_root()))


def resolve(cache: Cache | bool | None) -> Cache | None:
    """``None``/``False``: no caching; ``True``: :func:`default_cache`; a Cache: itself."""
    if cache is None or cache is False:
        return None
    if cache is True:
        return default_cache()
    if isinstance(cache, Cache):
        return cache
    raise TypeError(f"cache must be None, True, False or a convviz.store.cache.Cache, not {type(cache).__name__}")


def model_digest(model: Any) -> str:
    """SHA-256 of a model's architecture and weights: results keyed on it are invalidated
    exactly when the model changes (another weights file, retraining)."""
    from convviz.core.backend import to_numpy

    h = hashlib.sha256(_architecture(model).encode())
    for w in model.weights:
        h.update(w.path.encode())
        h.update(np.ascontiguousarray(to_numpy(w)).tobytes())
    return h.hexdigest()[:24]


_ARCHITECTURE_ATTR = "_convviz_architecture"


def _architecture(model: Any) -> str:
    """``model.to_json()``, kept on the model while its layers are the same objects with the
    same trainable flags: Keras serializes every layer's config for it (0.1 s for MobileNetV2),
    and every cached call keys on the model. Adding or removing a layer (``Sequential.add``,
    ``pop``), in the model or in a nested one, or changing a flag serializes it again."""
    signature = tuple((id(layer), type(layer), layer.name, bool(layer.trainable)) for layer in _layers(model))
    kept = model.__dict__.get(_ARCHITECTURE_ATTR)
    if kept is None or kept[0] != signature:
        kept = (signature, model.to_json())
        object.__setattr__(model, _ARCHITECTURE_ATTR, kept)  # not a tracked Keras attribute
    return str(kept[1])


def _layers(model: Any) -> list[Any]:
    """The model and every layer in it, nested models' layers included, in order."""
    out = [model]
    for layer in getattr(model, "layers", None) or []:
        out += _layers(layer) if isinstance(getattr(layer, "layers", None), list) else [layer]
    return out


def array_digest(x: np.ndarray) -> str:
    """SHA-256 of an array's shape, dtype and bytes."""
    x = np.ascontiguousarray(x)
    h = hashlib.sha256(f"{x.shape}{x.dtype}".encode())
    h.update(x.tobytes())
    return h.hexdigest()[:24]


def merge(sources: list[str | Path], target: str | Path) -> int:
    """Copy the valid entries of several cache folders into ``target`` (e.g. the caches of
    parallel CI jobs); returns how many were copied. Corrupt entries are skipped."""
    dest = Cache(target)
    copied = 0
    for src in sources:
        cache = Cache(src)
        for key in cache.keys():
            try:
                payload = cache.get_bytes(key)
            except CorruptEntry:
                log.warning("convviz cache: skipping corrupt entry %s in %s", key, src)
                continue
            if payload is not None and dest._read_valid(key) is None:
                dest.put_bytes(key, payload)
                copied += 1
    return copied
