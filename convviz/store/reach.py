"""The code a result comes from: every convviz definition a function reaches through the names it uses, found in the source (nothing imported), and the digest of those definitions. A cached result is keyed on it, so editing a function recomputes exactly what it computes, and editing what it does not reach (the site, the command line, the store itself) recomputes nothing."""

from __future__ import annotations

import ast
import dataclasses
import functools
import hashlib
import io
from collections.abc import Iterable, Iterator
from typing import Any

from convviz.store.digests import (
    PACKAGE_DIR,
    PKG,
    is_type_checking,
    module_of,
    module_path,
    module_source,
    normalized,
    run_time_nodes,
)
from convviz.core.errors import InputError

__all__ = ["package_exports", "reached", "reached_digest", "where"]


@dataclasses.dataclass(frozen=True)
class _Module:
    """One module's top-level definitions and the convviz names it imports."""

    text: str
    # the text's lines as the parser numbers them (split on \n, \r\n and \r only), once
    lines: tuple[str, ...]
    defs: dict[str, ast.AST]
    # local name -> (module, name in it) or (module, "") for a module itself
    aliases: dict[str, tuple[str, str]]


def _top_level(tree: ast.Module) -> Iterator[ast.stmt]:
    """The module's statements, those under top-level ``if``/``try`` included (not the
    ``if TYPE_CHECKING:`` branch)."""
    for node in tree.body:
        if isinstance(node, ast.If) and is_type_checking(node.test):
            yield from node.orelse
        elif isinstance(node, (ast.If, ast.Try)):
            yield from node.body
            yield from getattr(node, "orelse", [])
        else:
            yield node


@functools.lru_cache(maxsize=None)
def _module(module: str) -> _Module:
    text = module_source(module)
    tree = ast.parse(text)
    defs: dict[str, ast.AST] = {}
    for stmt in _top_level(tree):
        if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            defs[stmt.name] = stmt
        elif isinstance(stmt, ast.Assign):
            for t in stmt.targets:
                for n in ast.walk(t):
                    if isinstance(n, ast.Name):
                        defs[n.id] = stmt
        elif isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name):
            defs[stmt.target.id] = stmt
    aliases: dict[str, tuple[str, str]] = {}
    for node in run_time_nodes(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for a in node.names:
                full = f"{node.module}.{a.name}"
                sub = module_of(full)
                if sub is not None and full == f"{PKG}.{sub}":
                    aliases[a.asname or a.name] = (sub, "")  # from convviz.attr import cam
                elif node.module == PKG:
                    aliases[a.asname or a.name] = ("", a.name)  # from convviz import record
                else:
                    owner = module_of(node.module)
                    if owner is not None:
                        aliases[a.asname or a.name] = (owner, a.name)
        elif isinstance(node, ast.Import):
            for a in node.names:
                sub = module_of(a.name)
                if a.name == PKG or (sub is None and a.name.startswith(PKG + ".")):
                    aliases[(a.asname or a.name).split(".")[0]] = ("", "")
                elif sub is not None:
                    aliases[a.asname or a.name.split(".")[0]] = (sub, "") if a.asname else ("", "")
        elif (
            isinstance(node, ast.Assign)
            and isinstance(node.value, ast.Call)
            and isinstance(node.value.func, ast.Name)
            and node.value.func.id == "lazy_module"
            and node.value.args
            and isinstance(node.value.args[0], ast.Constant)
        ):
            sub = module_of(str(node.value.args[0].value))
            for t in node.targets:
                if sub is not None and isinstance(t, ast.Name):
                    aliases[t.id] = (sub, "")
    return _Module(text, tuple(io.StringIO(text, newline="").readlines()), defs, aliases)


@functools.lru_cache(maxsize=None)
def package_exports() -> dict[str, tuple[str, str]]:
    """``convviz.NAME`` -> (module, name), from the package's ``_EXPORTS`` table."""
    tree = ast.parse((PACKAGE_DIR / "__init__.py").read_text(encoding="utf-8"))
    for node in tree.body:
        target: ast.expr
        if isinstance(node, ast.AnnAssign):
            target, value = node.target, node.value
        elif isinstance(node, ast.Assign):
            target, value = node.targets[0], node.value
        else:
            continue
        if isinstance(target, ast.Name) and target.id == "_EXPORTS" and value is not None:
            table = ast.literal_eval(value)
            return {name: (module, name) for name, module in table.items()}
    return {}


def _resolve(module: str, name: str) -> tuple[str, str] | None:
    """Where ``name`` as seen in ``module`` is defined: (module, top-level name), or None when
    it is not convviz's (a builtin, NumPy, Keras...)."""
    seen = set()
    while (module, name) not in seen:
        seen.add((module, name))
        if module == "":
            if name in package_exports():
                module, name = package_exports()[name]
                continue
            return None
        info = _module(module)
        if name in info.defs:
            return module, name
        if name in info.aliases:
            module, name = info.aliases[name]
            if not name:
                return None  # a module, not a definition
            continue
        return None
    return None


def _code_nodes(node: ast.AST) -> Iterator[ast.AST]:
    """The nodes under ``node`` that run: not type annotations (with ``from __future__
    import annotations`` they are never evaluated)."""
    todo = [node]
    while todo:
        n = todo.pop()
        yield n
        for field, value in ast.iter_fields(n):
            if field in ("annotation", "returns"):
                continue
            if isinstance(value, ast.AST):
                todo.append(value)
            elif isinstance(value, list):
                todo.extend(v for v in value if isinstance(v, ast.AST))


# The store keeps results and never computes one: its code is not part of a result's code
# (a change of the stored format changes the cache's format version instead).
_BOUNDARY = ("store",)


def _inside_boundary(module: str) -> bool:
    return any(module == b or module.startswith(b + ".") for b in _BOUNDARY)


def _references(module: str, node: ast.AST) -> Iterator[tuple[str, str]]:
    """The convviz definitions ``node`` (in ``module``) refers to: names, and attributes of
    imported modules (``backend.jit``, ``convviz.grad_cam``, ``convviz.attr.cam.grad_cam``)."""
    info = _module(module)
    for sub in _code_nodes(node):
        if isinstance(sub, ast.Name):
            hit = _resolve(module, sub.id)
            if hit is not None:
                yield hit
        elif isinstance(sub, ast.Attribute):
            chain = [sub.attr]
            base = sub.value
            while isinstance(base, ast.Attribute):
                chain.insert(0, base.attr)
                base = base.value
            if not isinstance(base, ast.Name) or base.id not in info.aliases:
                continue
            owner, leaf = info.aliases[base.id]
            if leaf:
                continue  # an attribute of a definition (a method, a field): the definition is reached
            for i, part in enumerate(chain):
                below = f"{owner}.{part}" if owner else part
                if module_path(below) is not None:
                    owner = below  # a submodule: go on along the chain
                    continue
                hit = _resolve(owner, part)
                if hit is not None:
                    yield hit
                break


def reached(*roots: tuple[str, str], exclude: Iterable[tuple[str, str]] = ()) -> tuple[tuple[str, str], ...]:
    """Every convviz definition (module, name) that the definitions ``roots`` reach through
    the names they use, transitively, from the source (nothing is imported); ``exclude``
    stops at those (a registry of architectures, say, whose other entries are not reached)."""
    skip = set(exclude)
    seen: set[tuple[str, str]] = set()
    todo = [r for r in roots if r not in skip]
    while todo:
        module, name = todo.pop()
        if (module, name) in seen:
            continue
        seen.add((module, name))
        todo.extend(r for r in _uses(module, name) if r not in seen and r not in skip and not _inside_boundary(r[0]))
    return tuple(sorted(seen))


@functools.lru_cache(maxsize=None)
def _uses(module: str, name: str) -> tuple[tuple[str, str], ...]:
    """The definitions that definition ``name`` of ``module`` refers to, found once per process
    (every digest of a build walks the same shared helpers)."""
    return tuple(dict.fromkeys(_references(module, _module(module).defs[name])))


def _segment(info: _Module, node: ast.AST) -> str:
    """:func:`ast.get_source_segment` of ``node``, on the module's lines split once (the
    standard function splits the whole module again for every definition)."""
    first, last = node.lineno - 1, node.end_lineno - 1  # type: ignore[attr-defined]
    start, end = node.col_offset, node.end_col_offset  # type: ignore[attr-defined]
    if first == last:
        return info.lines[first].encode()[start:end].decode()
    head = info.lines[first].encode()[start:].decode()
    tail = info.lines[last].encode()[:end].decode()
    return head + "".join(info.lines[first + 1 : last]) + tail


@functools.lru_cache(maxsize=None)
def _normalized_definition(module: str, name: str) -> str:
    """The definition's source, :func:`normalized`, once per process."""
    return normalized(_segment(_module(module), _module(module).defs[name]))


def where(fn: Any) -> tuple[str, str]:
    """(module, top-level name) of a convviz function or class, as :func:`reached` names it."""
    fn = getattr(fn, "__convviz_memoized__", fn)
    module = fn.__module__
    if not module.startswith(PKG + "."):
        raise InputError(f"{fn!r} is not convviz's: no digest of its code")
    return module[len(PKG) + 1 :], fn.__qualname__.split(".")[0]


@functools.lru_cache(maxsize=None)
def _reached_digest(roots: tuple[tuple[str, str], ...], exclude: tuple[tuple[str, str], ...]) -> str:
    h = hashlib.sha256()
    for module, name in reached(*roots, exclude=exclude):
        h.update(f"{module}:{name}\0{_normalized_definition(module, name)}\0".encode())
    return "src:" + h.hexdigest()[:24]


def reached_digest(*functions: Any, exclude: Iterable[tuple[str, str]] = ()) -> str:
    """``src:<digest>`` of the code ``functions`` reach (:func:`reached`), normalized: exactly
    the code that can change their result. Editing a function that is not reached (the site,
    the command line, the cache, another algorithm) leaves it as it is."""
    roots = tuple(sorted(f if isinstance(f, tuple) else where(f) for f in functions))
    return _reached_digest(roots, tuple(sorted(exclude)))
