"""What a page script uses besides the computations: the numbers it records for the site's
prose, and the test images it explains.

Both are public (``convviz.record``, ``convviz.pick_examples``), so a page downloaded from
the site as a script or notebook runs as it is: outside a site build or ``convviz render``,
:func:`record` only returns its value.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
from convviz.core.files import write_if_changed

__all__ = ["collecting", "record", "recording", "pick_examples", "read_number", "lookup", "save_png", "NUMBERS_FILE"]

NUMBERS_FILE = "numbers.json"
# the manifest of the page ``convviz render`` is running (None otherwise)
_RECORDER: list[dict[str, Any] | None] = [None]
_RECORDING = [False]


@contextlib.contextmanager
def recording() -> Iterator[None]:
    """While active, :func:`record` writes each page's numbers to ``numbers.json`` (the site
    build runs its pages inside it)."""
    before = _RECORDING[0]
    _RECORDING[0] = True
    try:
        yield
    finally:
        _RECORDING[0] = before


@contextlib.contextmanager
def collecting(numbers: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """While active, every :func:`record` also puts its number in ``numbers`` (``convviz
    render`` keeps a page's numbers for its manifest this way)."""
    before = _RECORDER[0]
    _RECORDER[0] = numbers
    try:
        yield numbers
    finally:
        _RECORDER[0] = before


def record(name: str, value: Any) -> Any:
    """Keep a number of the page being run, for the prose of other pages; returns ``value``.

    During a site build (:func:`recording`) or ``convviz render`` it is written to
    ``numbers.json`` in the page's folder, under the page's name, where the site reads it
    to fill ``{{ number model.page.name }}`` in hand-written pages: no number in prose is
    typed by hand. ``convviz render`` also puts it in its manifest. Anywhere else (a
    downloaded notebook) nothing is written.
    """
    plain = _plain(value)
    if _RECORDER[0] is not None:
        _RECORDER[0][name] = plain
    if not _RECORDING[0] and _RECORDER[0] is None:
        return value
    import inspect

    caller = inspect.currentframe()
    frame = caller.f_back if caller else None
    # the running script: its code's file name (set by runpy and by mkdocs-gallery's compile)
    script = frame.f_code.co_filename if frame else ""
    if not script or script.startswith("<"):
        script = frame.f_globals.get("__file__", "") if frame else ""
    page = Path(script).stem if script and not script.startswith("<") else "page"
    path = Path.cwd() / NUMBERS_FILE
    try:
        numbers = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
    except ValueError:
        numbers = {}
    numbers.setdefault(page, {})[name] = plain
    write_if_changed(path, json.dumps(numbers, indent=1, sort_keys=True))
    return value


def read_number(folder: Path, key: str) -> Any:
    """The number ``page.name[.sub...]`` recorded in ``folder/numbers.json``; KeyError names
    what is missing."""
    path = Path(folder) / NUMBERS_FILE
    if not path.is_file():
        raise KeyError(f"no numbers recorded in {path}")
    return lookup(json.loads(path.read_text(encoding="utf-8")), key, str(path))


def lookup(value: Any, key: str, where: str) -> Any:
    """``value[a][b]...`` for the dotted ``key``; KeyError names the missing part and the
    valid ones at that level."""
    for part in key.split("."):
        if not isinstance(value, dict) or part not in value:
            valid = ", ".join(sorted(value)) if isinstance(value, dict) else "none"
            raise KeyError(f"{key!r}: no {part!r} in {where} (valid here: {valid})")
        value = value[part]
    return value


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, np.ndarray):
        return _plain(value.tolist())
    if isinstance(value, np.generic):
        return _plain(value.item())
    if isinstance(value, float) and not np.isfinite(value):
        return None  # JSON has no NaN: "not measured"
    return value


def save_png(array: np.ndarray, path: Path, *, scale: int = 1) -> None:
    """Write an image (float in [0, 1] or uint8; gray, (H, W, 1) or RGB) as a PNG, enlarged
    ``scale`` times by pixel repetition; atomically (a temporary file renamed into place)."""
    from PIL import Image

    img = np.asarray(array)
    if img.dtype != np.uint8:
        img = (np.clip(img, 0, 1) * 255).round().astype(np.uint8)
    if img.ndim == 3 and img.shape[-1] == 1:
        img = img[..., 0]
    if scale > 1:
        img = np.repeat(np.repeat(img, scale, axis=0), scale, axis=1)
    tmp = path.with_name(path.name + ".tmp")
    Image.fromarray(img).save(tmp, format="PNG", optimize=True)
    tmp.replace(path)


def pick_examples(correct: np.ndarray, labelled: np.ndarray, *, n: int = 8, wrong: int = 3) -> np.ndarray:
    """The test images a page explains: up to ``wrong`` misclassified ones, right ones
    before them, then unlabelled ones to fill ``n`` (the Grad-CAM and attribution pages
    show the same images).

    Parameters
    ----------
    correct, labelled
        Per test image: whether the prediction is right, and whether the image has a label.
    n, wrong
        How many images in all, and at most how many misclassified ones.
    """
    correct, labelled = np.asarray(correct, bool), np.asarray(labelled, bool)
    bad = np.flatnonzero(labelled & ~correct)
    good = np.flatnonzero(correct)
    pick = np.concatenate([good[: n - min(wrong, len(bad))], bad[:wrong]])
    return np.concatenate([pick, np.flatnonzero(~labelled)[: n - len(pick)]]).astype(int)
