"""What a cached result or a page depends on: digests of convviz's own source code and
of the numerical environment (Keras backend, versions).

A cache key or page fingerprint that includes :func:`code_digest` of the modules that
computed it changes exactly when the code of one of those modules (or of a convviz module
they import, at top level or inside a function) changes, so an edit of ``cam.py``
recomputes the heatmaps and re-runs the Grad-CAM page, and nothing else. Digests are of
the syntax tree (:func:`normalized`): reformatting, comments, docstrings and type
annotations change none."""

from __future__ import annotations

import ast
import functools
import hashlib
import importlib.metadata as md
import textwrap
from collections.abc import Iterable, Iterator
from pathlib import Path
from convviz.core.kerasconfig import keras_backend
from convviz.core.errors import InputError

__all__ = [
    "PACKAGE_DIR",
    "module_imports",
    "module_closure",
    "code_digest",
    "source_digest",
    "normalized",
    "environment",
    "definition_source",
    "module_path",
    "modules",
    "PKG",
    "is_type_checking",
    "module_of",
    "run_time_nodes",
]


PACKAGE_DIR = Path(__file__).resolve().parents[1]


PKG = "convviz"


def module_path(module: str) -> Path | None:
    """The file of convviz module ``module`` (dotted below the package: ``attr.cam``, ``zoo``
    for a subpackage's ``__init__``), or None."""
    base = PACKAGE_DIR.joinpath(*module.split("."))
    for path in (base.with_suffix(".py"), base / "__init__.py"):
        if path.is_file():
            return path
    return None


def modules() -> list[str]:
    """Every convviz module, dotted below the package (``attr.cam``; ``zoo`` for ``zoo/__init__.py``)."""
    out = []
    for path in sorted(PACKAGE_DIR.rglob("*.py")):
        rel = path.relative_to(PACKAGE_DIR).with_suffix("")
        parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
        if parts and not any(p in ("templates", "starter") for p in parts):
            out.append(".".join(parts))
    return out


def module_source(module: str) -> str:
    path = module_path(module)
    if path is None:
        raise InputError(f"no convviz module {module!r}; valid: " + ", ".join(modules()))
    return path.read_text(encoding="utf-8")


def module_of(name: str) -> str | None:
    """``convviz.attr.cam`` -> ``attr.cam``: the longest dotted prefix that is a convviz module;
    the package itself (``convviz``) re-exports everything and counts as no module: what is
    used from it is resolved where it is used."""
    parts = name.split(".")
    if parts[0] != PKG or len(parts) < 2:
        return None
    for end in range(len(parts), 1, -1):
        mod = ".".join(parts[1:end])
        if module_path(mod) is not None:
            return mod
    return None


def is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def run_time_nodes(tree: ast.AST) -> Iterator[ast.AST]:
    """``ast.walk`` without the bodies of ``if TYPE_CHECKING:`` (imports for type checkers
    only: they compute nothing)."""
    todo = [tree]
    while todo:
        node = todo.pop()
        yield node
        if isinstance(node, ast.If) and is_type_checking(node.test):
            todo.extend(node.orelse)
        else:
            todo.extend(ast.iter_child_nodes(node))


def imports_in(text: str) -> set[str]:
    """convviz modules imported anywhere in ``text`` (module level or inside functions, or
    on first use through ``lazy_module("convviz.x")``); not those imported only for type
    checkers (``if TYPE_CHECKING:``)."""
    found: set[str] = set()
    for node in run_time_nodes(ast.parse(text)):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id == "lazy_module"
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            mod = module_of(node.args[0].value)
            if mod:
                found.add(mod)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                mod = module_of(alias.name)
                if mod:
                    found.add(mod)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            # from convviz.attr import cam (a module) / from convviz.zoo import entry (a name)
            for alias in node.names:
                mod = module_of(f"{node.module}.{alias.name}") or module_of(node.module)
                if mod:
                    found.add(mod)
    return found


@functools.lru_cache(maxsize=None)
def module_imports(module: str) -> frozenset[str]:
    """The convviz modules that ``module`` imports directly."""
    return frozenset(imports_in(module_source(module)) - {module})


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
    text = module_source(module)
    for node in ast.parse(text).body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and node.name == name:
            start = min([node.lineno] + [d.lineno for d in node.decorator_list])
            return "".join(text.splitlines(keepends=True)[start - 1 : node.end_lineno])
    raise InputError(f"convviz.{module} defines no top-level function or class {name!r}")


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
    return normalized(module_source(module))


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


def environment() -> dict[str, str]:
    """The Keras backend and the versions of Keras, the backend library and NumPy: results
    computed under another backend or version are other results."""
    return dict(_environment(keras_backend()))
