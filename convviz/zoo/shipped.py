"""Trained weights shipped in the repository, next to the zoo file.

Training the embedded zoo takes minutes on a laptop CPU; its weights are small (1–2 MB a
model). ``convviz zoo train --ship`` writes each trained model to
``<zoo folder>/weights/<name>.keras`` with a record ``<name>.json``: the *recipe digest*
(the training code, the dataset generators and the entry's recipe: architecture, dataset,
epochs, seed...), the file's SHA-256, the test accuracy and what it was trained with.

A build uses a shipped file only when its recipe digest is the entry's current one and its
checksum holds; otherwise (or when the file is deleted) it trains, as before. So shipped
weights can never stand in for another recipe, and ``convviz zoo train --check`` retrains
from source to show that the shipped weights are what the recipe gives.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from convviz.core.files import atomic_write

__all__ = ["FOLDER", "Shipped", "location", "read", "write"]

FOLDER = "weights"


@dataclass(frozen=True)
class Shipped:
    """A usable shipped model: its ``.keras`` bytes and its record."""

    path: Path
    payload: bytes
    record: dict[str, Any]


def location(zoo_file: Path, name: str) -> Path:
    """Where the weights of zoo entry ``name`` are shipped: ``<zoo folder>/weights/<name>.keras``."""
    return zoo_file.parent / FOLDER / f"{name}.keras"


def read(path: Path, digest: str) -> tuple[Shipped | None, str]:
    """The shipped model at ``path`` if it was trained by the recipe with ``digest``.

    Returns ``(shipped, "")`` when usable, else ``(None, why)``; ``why`` is ``""`` when no
    file is shipped at all (nothing to say), or says why the file is not used.
    """
    record_path = path.with_suffix(".json")
    if not path.is_file():
        return None, ""
    try:
        record = json.loads(record_path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None, f"{path.name} has no record {record_path.name}"
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        return None, f"{record_path.name} is not valid JSON ({exc})"
    if not isinstance(record, dict) or record.get("recipe_digest") != digest:
        found = record.get("recipe_digest") if isinstance(record, dict) else None
        return None, (
            f"{path.name} was trained by another recipe (digest {found}, the entry's is "
            f"{digest}): `convviz zoo train --ship` replaces it"
        )
    payload = path.read_bytes()
    if hashlib.sha256(payload).hexdigest() != record.get("sha256"):
        return None, f"{path.name} does not match the checksum in {record_path.name} (damaged or replaced)"
    return Shipped(path, payload, record), ""


def write(path: Path, payload: bytes, record: dict[str, Any]) -> None:
    """Write the model and its record (with the payload's SHA-256) atomically, record last."""
    record = {**record, "sha256": hashlib.sha256(payload).hexdigest()}
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, payload)
    atomic_write(path.with_suffix(".json"), json.dumps(record, indent=2, sort_keys=True) + "\n")
