"""What a cached result or a page depends on: digests of convviz's own source code and
of the numerical environment (Keras backend, versions).

A cache key or page fingerprint that includes :func:`code_digest` of the modules that
computed it changes exactly when the code of one of those modules (or of a convviz module
they import, at top level or inside a function) changes, so an edit of ``cam.py``
recomputes the heatmaps and re-runs the Grad-CAM page, and nothing else. Digests are of
the syntax tree (:func:`normalized`): reformatting, comments, docstrings and type
annotations change none.
"""

from __future__ import annotations

import ast
import functools
import hashlib
import importlib.metadata as md
import json
import os
import sys
import textwrap
from collections.abc import Iterable, Iterator
from pathlib import Path

__all__ = [
    "PACKAGE_DIR",
    "module_imports",
    "module_closure",
    "code_digest",
    "source_digest",
    "normalized",
    "environment",
    "keras_backend",
    "definition_source",
]

PACKAGE_DIR = Path(__file__).resolve().parent
_PKG = "convviz"


def _source(module: str) -> str:
    path = PACKAGE_DIR / f"{module}.py"
    if not path.is_file():
        raise ValueError(
            f"no convviz module {module!r}; valid: " + ", ".join(sorted(p.stem for p in PACKAGE_DIR.glob("*.py")))
        )
    return path.read_text(encoding="utf-8")


def _module_of(name: str) -> str | None:
    """``convviz.cam`` -> ``cam``; the package itself (``convviz``) re-exports everything and
    counts as no module: what is used from it is resolved where it is used."""
    parts = name.split(".")
    if parts[0] != _PKG or len(parts) < 2:
        return None
    return parts[1] if (PACKAGE_DIR / f"{parts[1]}.py").is_file() else None


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _run_time_nodes(tree: ast.AST) -> Iterator[ast.AST]:
    """``ast.walk`` without the bodies of ``if TYPE_CHECKING:`` (imports for type checkers
    only: they compute nothing)."""
    todo = [tree]
    while todo:
        node = todo.pop()
        yield node
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            todo.extend(node.orelse)
        else:
            todo.extend(ast.iter_child_nodes(node))


def imports_in(text: str) -> set[str]:
    """convviz modules imported anywhere in ``text`` (module level or inside functions, or
    on first use through ``lazy_module("convviz.x")``); not those imported only for type
    checkers (``if TYPE_CHECKING:``)."""
    found: set[str] = set()
    for node in _run_time_nodes(ast.parse(text)):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id == "lazy_module"
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            mod = _module_of(node.args[0].value)
            if mod:
                found.add(mod)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                mod = _module_of(alias.name)
                if mod:
                    found.add(mod)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            mod = _module_of(node.module)
            if mod:
                found.add(mod)
            elif node.module == _PKG:  # from convviz import zoo, metrics
                found.update(a.name for a in node.names if (PACKAGE_DIR / f"{a.name}.py").is_file())
    return found


@functools.lru_cache(maxsize=None)
def module_imports(module: str) -> frozenset[str]:
    """The convviz modules that ``module`` imports directly."""
    return frozenset(imports_in(_source(module)) - {module})


def module_closure(modules: Iterable[str]) -> tuple[str, ...]:
    """``modules`` and every convviz module they import, transitively, sorted."""
    seen: set[str] = set()
    todo = list(modules)
    while todo:
        m = todo.pop()
        if m not in seen:
            seen.add(m)
            todo.extend(module_imports(m))
    return tuple(sorted(seen))


@functools.lru_cache(maxsize=None)
def definition_source(module: str, name: str) -> str:
    """The source text of the top-level function or class ``name`` of convviz module
    ``module`` (decorators included), as :func:`inspect.getsource` gives it, read from the
    file without importing the module."""
    text = _source(module)
    for node in ast.parse(text).body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and node.name == name:
            start = min([node.lineno] + [d.lineno for d in node.decorator_list])
            return "".join(text.splitlines(keepends=True)[start - 1 : node.end_lineno])
    raise ValueError(f"convviz.{module} defines no top-level function or class {name!r}")


def normalized(text: str) -> str:
    """What of Python source ``text`` can change a result: its syntax tree without
    docstrings, type annotations, comments, line numbers or formatting (a reformatted,
    re-documented or re-typed module has the digest it had). Text that is not Python (e.g. a
    digest) is kept as it is."""
    try:
        tree = ast.parse(textwrap.dedent(text))
    except SyntaxError:
        return text
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            node.returns = None  # type annotations compute nothing
        elif isinstance(node, ast.arg):
            node.annotation = None
        elif isinstance(node, ast.AnnAssign):
            node.annotation = ast.Constant(None)
        body = getattr(node, "body", None)
        if (
            isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
            and body
            and isinstance(body[0], ast.Expr)
            and isinstance(body[0].value, ast.Constant)
            and isinstance(body[0].value.value, str)
        ):
            node.body = body[1:] or [ast.Pass()]
    return ast.dump(tree, annotate_fields=False, include_attributes=False)


@functools.lru_cache(maxsize=None)
def _normalized_module(module: str) -> str:
    return normalized(_source(module))


@functools.lru_cache(maxsize=None)
def _digest_of(modules: tuple[str, ...]) -> str:
    h = hashlib.sha256()
    for m in modules:
        h.update(m.encode() + b"\0" + _normalized_module(m).encode() + b"\0")
    return h.hexdigest()[:16]


def code_digest(*modules: str) -> str:
    """SHA-256 (16 hex digits) of the source of ``modules`` and of the convviz modules they
    import, transitively: what a result computed by these modules depends on (no module:
    the digest of nothing)."""
    return _digest_of(module_closure(modules))


def source_digest(*texts: str) -> str:
    """SHA-256 (16 hex digits) of source texts (e.g. one function's ``inspect.getsource``),
    :func:`normalized`: formatting, comments and docstrings do not enter it."""
    h = hashlib.sha256()
    for t in texts:
        h.update(normalized(t).encode() + b"\0")
    return h.hexdigest()[:16]


def _version(pkg: str) -> str:
    try:
        return md.version(pkg)
    except md.PackageNotFoundError:
        return "not installed"


@functools.lru_cache(maxsize=4)
def _environment(backend: str) -> tuple[tuple[str, str], ...]:
    lib = {"tensorflow": "tensorflow", "jax": "jaxlib", "torch": "torch"}.get(backend, backend)
    return (("backend", backend), ("keras", _version("keras")), (lib, _version(lib)), ("numpy", _version("numpy")))


def keras_backend() -> str:
    """The Keras backend in use, or the one ``import keras`` will pick, found without
    importing Keras (seconds) when it is not imported yet, as Keras decides it:
    ``$KERAS_BACKEND``, else ``backend`` in ``keras.json`` in
    :func:`convviz._catalog.keras_home`, else TensorFlow."""
    keras = sys.modules.get("keras")
    if keras is not None:
        return str(keras.backend.backend())
    if os.environ.get("KERAS_BACKEND"):
        return os.environ["KERAS_BACKEND"]
    from convviz._catalog import keras_home

    try:
        config = json.loads((keras_home() / "keras.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        config = {}
    backend = config.get("backend") if isinstance(config, dict) else None
    return backend if isinstance(backend, str) and backend else "tensorflow"


def environment() -> dict[str, str]:
    """The Keras backend and the versions of Keras, the backend library and NumPy: results
    computed under another backend or version are other results."""
    return dict(_environment(keras_backend()))
