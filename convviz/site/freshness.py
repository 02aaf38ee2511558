"""The one staleness check of the site.

A generated page (a gallery script, an example's output, the unit, class, explorer and
layer-browser pages) carries a fingerprint of what it depends on: the zoo entry (its
options and recipe), the text of the code that writes it, the convviz modules that code
uses (and those they import), the numerical environment, and anything else the caller
names. Kept beside the page as a stamp, it says whether the page must be written again;
nothing else decides it. (Cached arrays and trained models are keyed more finely, on the
functions that compute them: :mod:`convviz.store.memo`.)
"""

from __future__ import annotations

import ast
import hashlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from convviz.core.files import atomic_write
from convviz.store.reach import package_exports
from convviz.store.digests import code_digest, environment, imports_in, module_closure, module_path

__all__ = [
    "PAGE_MARKUP",
    "STAMP",
    "fingerprint",
    "gallery_fingerprint",
    "module_text",
    "page_modules",
    "up_to_date",
    "write_stamp",
]

STAMP = ".fingerprint"  # the stamp file of a folder of generated pages


def page_modules(code_text: str) -> tuple[str, ...]:
    """The convviz modules a page script (or page-writing module) uses, and those they
    import (transitively).

    Found in the script's code: ``from convviz import zoo`` and ``from convviz.x import y``
    name modules; ``convviz.NAME`` resolves a top-level name to the module that defines it
    (``convviz.grad_cam`` -> ``store.cached``), without importing it (or Keras).
    """
    mods = set(imports_in(code_text))
    exports = package_exports()

    def resolve(name: str) -> None:
        if module_path(name) is not None:
            mods.add(name)
        elif name in exports:
            mods.add(exports[name][0])

    for node in ast.walk(ast.parse(code_text)):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "convviz":
            resolve(node.attr)  # convviz.grad_cam(...)
        elif isinstance(node, ast.ImportFrom) and node.module == "convviz" and node.level == 0:
            for alias in node.names:  # from convviz import record
                resolve(alias.name)
    return module_closure(mods)


PAGE_MARKUP = "site.printed"  # how mkdocs-gallery's pages show printed output and code


def gallery_fingerprint(entry: Any | None, code_text: str, extra: str | Sequence[str] = ()) -> str:
    """:func:`fingerprint` of a page that mkdocs-gallery writes: also the code that turns the
    script's output and code into the page's Markdown (:data:`PAGE_MARKUP`)."""
    more = [extra] if isinstance(extra, str) else list(extra)
    return fingerprint(entry, code_text, [*more, code_digest(PAGE_MARKUP)])


def fingerprint(entry: Any | None, code_text: str, extra: str | Sequence[str] = ()) -> str:
    """What a generated page depends on: the zoo entry (None: a page of no one entry), the
    code that writes it, the convviz modules that code uses, the numerical environment and
    ``extra`` (the recipes of the models an example loads, an entry's ``units:``...)."""
    parts = []
    if entry is not None:
        parts += [entry.name, entry.source, entry.dataset, repr(sorted(entry.options.items())), repr(entry.recipe())]
        budget = getattr(entry, "budget", None)  # what its pages compute (a stand-in entry has none)
        if budget:
            parts.append(repr(sorted(budget.items())))
    parts += [code_text, code_digest(*page_modules(code_text)), repr(sorted(environment().items()))]
    parts += [extra] if isinstance(extra, str) else list(extra)
    return hashlib.sha256("\n".join(p for p in parts if p).encode()).hexdigest()[:16]


def up_to_date(folder: str | Path, digest: str, *outputs: str, stamp: str = STAMP) -> bool:
    """Whether ``folder`` holds pages written under ``digest``: its stamp says so and each
    of ``outputs`` (file names in it) exists."""
    folder = Path(folder)
    path = folder / stamp
    return (
        path.is_file() and path.read_text(encoding="utf-8") == digest and all((folder / o).is_file() for o in outputs)
    )


def write_stamp(folder: str | Path, digest: str, *, stamp: str = STAMP) -> None:
    """Record that ``folder``'s pages were written under ``digest`` (after writing them:
    an interrupted write leaves the old stamp, so the pages are written again)."""
    atomic_write(Path(folder) / stamp, digest)


def module_text(module_file: str) -> str:
    """The source of a page-writing module (``__file__``), for its pages' fingerprint."""
    return Path(module_file).read_text(encoding="utf-8")
