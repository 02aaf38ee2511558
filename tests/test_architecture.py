"""The package's layout holds: layers that import only downwards, no cycle, one idea per
module (none over 400 lines), no private name used outside its module, the backend's
libraries imported in one module only, and docs/architecture.md saying all of it.

Imports are read from the source (nothing is imported): module-level and inside functions,
``lazy_module("convviz.x")`` included; imports under ``if TYPE_CHECKING:`` (types only, never
run) must respect the layering too but cannot make a cycle."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "convviz"

# bottom to top; a subpackage imports from its own package and from layers below it only
LAYERS = (
    ("core",),
    ("graph",),
    ("represent",),
    ("attr", "optvis"),
    ("evaluate",),
    ("compare",),
    ("store",),
    ("figures",),
    ("zoo",),
    ("review",),
    ("site",),
    ("cli",),
)
RANK = {pkg: i for i, layer in enumerate(LAYERS) for pkg in layer}
MAX_LINES = 400
NOT_MODULES = ("site/templates/", "site/starter/")  # page scripts with placeholders


def _modules() -> dict[str, Path]:
    out = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE).as_posix()
        if rel.startswith(NOT_MODULES):
            continue
        name = rel[: -len(".py")].replace("/", ".")
        out[name.removesuffix(".__init__") if name != "__init__" else ""] = path
    return out


MODULES = _modules()


def _owner(dotted: str) -> str | None:
    """The convviz module ``dotted`` (``convviz.x.y`` or ``convviz.x.y.NAME``) is or is in."""
    if dotted == "convviz":
        return ""
    if not dotted.startswith("convviz."):
        return None
    parts = dotted[len("convviz.") :].split(".")
    for i in range(len(parts), 0, -1):
        if ".".join(parts[:i]) in MODULES:
            return ".".join(parts[:i])
    return None


def _type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(path: Path) -> tuple[set[str], set[str], list[str]]:
    """(modules imported at run time, modules imported for type checking only, private
    names imported from another module) of one file."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    typing_only: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and _type_checking(node.test):
            typing_only.update(id(n) for n in ast.walk(ast.Module(body=node.body, type_ignores=[])))
    run, typed, private = set(), set(), []
    for node in ast.walk(tree):
        found = []
        if isinstance(node, ast.Import):
            found = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for a in node.names:
                whole = _owner(f"{node.module}.{a.name}")
                found.append(f"{node.module}.{a.name}" if whole not in (None, _owner(node.module)) else node.module)
                if a.name.startswith("_") and not a.name.startswith("__") and node.module.startswith("convviz"):
                    private.append(f"from {node.module} import {a.name}")
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id == "lazy_module"
            and node.args
            and isinstance(node.args[0], ast.Constant)
        ):
            found = [str(node.args[0].value)]
        for name in found:
            owner = _owner(name)
            if owner is not None:
                (typed if id(node) in typing_only else run).add(owner)
    return run, typed, private


GRAPH = {name: _imports(path) for name, path in MODULES.items()}


def _package(module: str) -> str:
    return module.split(".")[0]


def test_every_module_is_in_a_layer():
    assert {_package(m) for m in MODULES if m} == set(RANK), "a subpackage outside LAYERS (or a layer gone)"


@pytest.mark.parametrize("module", [m for m in MODULES if m])
def test_imports_go_down_the_layers(module):
    run, typed, _ = GRAPH[module]
    here = _package(module)
    wrong = sorted(
        f"{module} -> {other}"
        for other in run | typed
        if other and _package(other) != here and RANK[_package(other)] >= RANK[here]  # up, or sideways to a peer
    )
    assert not wrong, f"imports against the layering ({' < '.join('/'.join(layer) for layer in LAYERS)}): {wrong}"


def test_the_package_root_imports_nothing_eagerly():
    """``import convviz`` names its exports lazily (a rebuild with nothing to compute must not
    import Keras): its only convviz imports are for type checkers."""
    run, _, _ = GRAPH[""]
    assert run == set()


def test_no_import_cycle():
    edges = {m: {o for o in GRAPH[m][0] if o != m} for m in MODULES}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    cycles: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in edges[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                cycles.append(sorted(comp))

    for m in MODULES:
        if m not in index:
            visit(m)
    # a package's __init__ naming its submodules' functions (zoo, site) is not a cycle:
    # the submodules never import it
    assert not cycles, f"import cycles: {cycles}"


def test_one_idea_per_module_none_over_400_lines():
    long = {m or "convviz": n for m, p in MODULES.items() if (n := len(p.read_text().splitlines())) > MAX_LINES}
    assert not long, f"modules over {MAX_LINES} lines: {long}"


def test_no_private_name_is_used_outside_its_module():
    used = {m: GRAPH[m][2] for m in MODULES if GRAPH[m][2]}
    # module attributes too: `backend._make_gate` where `backend` is a convviz module
    for name, path in MODULES.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        aliases = {}
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("convviz"):
                for a in node.names:
                    if f"{node.module}.{a.name}".removeprefix("convviz.") in MODULES:
                        aliases[a.asname or a.name] = a.name
            elif isinstance(node, ast.Import):
                for a in node.names:
                    if a.name.startswith("convviz"):
                        aliases[a.asname or a.name.split(".")[0]] = a.name
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Attribute)
                and isinstance(node.value, ast.Name)
                and node.value.id in aliases
                and node.attr.startswith("_")
                and not node.attr.startswith("__")
            ):
                used.setdefault(name, []).append(f"{node.value.id}.{node.attr}")
    assert not used, f"private names used outside their module: {used}"


def test_only_the_backend_module_imports_the_backends():
    libraries = ("tensorflow", "jax", "torch")
    found = []
    for name, path in MODULES.items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = (
                [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else [node.module]
                if isinstance(node, ast.ImportFrom) and node.module
                else []
            )
            found += [f"{name}: {n}" for n in names if n.split(".")[0] in libraries]
    assert found and all(f.startswith("core.backend:") for f in found), found


def test_architecture_page_lists_the_layers_and_every_subpackage():
    page = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    rows = re.findall(r"^\| (\d+) \| ([^|]+) \|", page, flags=re.M)  # | 3 | `attr` `optvis` | ...
    listed = [tuple(re.findall(r"`(\w+)`", cells)) for _, cells in rows]
    assert tuple(listed) == LAYERS, "docs/architecture.md's layer table is not the layering the test checks"
    assert "tests/test_architecture.py" in page


def test_the_checks_see_a_wrong_import(tmp_path):
    """The reader the rules rest on finds what they forbid (in a file written for it)."""
    bad = tmp_path / "probe.py"
    bad.write_text(
        "from typing import TYPE_CHECKING\n"
        "from convviz.site.pages import write_pages\n"
        "from convviz.zoo.entry import _x\n"
        "if TYPE_CHECKING:\n    from convviz.cli import main\n"
        "def f():\n    from convviz import zoo\n"
        'graph = lazy_module("convviz.graph.layers")\n'
    )
    run, typed, private = _imports(bad)
    assert run == {"site.pages", "zoo.entry", "zoo", "graph.layers"} and typed == {"cli"}
    assert private == ["from convviz.zoo.entry import _x"]


def test_the_api_page_lists_the_namespace_where_each_name_is_defined():
    """docs/api.md opens with every name of ``import convviz``, each linked to the function
    that computes it, the cached ones marked."""
    import inspect

    import convviz

    page = (ROOT / "docs" / "api.md").read_text(encoding="utf-8")
    rows = re.findall(r"^\| \[`(\w+)`\]\(#([\w.]+)\) \| (\*\*cache\*\*)? \| `([\w.]+)` \|$", page, flags=re.M)
    assert sorted(r[0] for r in rows) == sorted(set(convviz.__all__) - {"__version__"})
    for name, anchor, cached, module in rows:
        obj = getattr(convviz, name)
        inner = getattr(obj, "__convviz_memoized__", None)
        target = inner or obj
        defined = target.__module__ if inspect.isfunction(target) or inspect.isclass(target) else module
        assert (anchor, module, bool(cached)) == (f"{defined}.{name}", defined, inner is not None), name
        assert f"::: {defined}\n" in page, f"{defined} (where {name} is) has no section on the page"


def test_the_architecture_figure_stacks_the_layers_in_order():
    svg = (ROOT / "docs" / "architecture.svg").read_text(encoding="utf-8")
    labels = re.findall(r'<text class="l" x="[\d.]+" y="([\d.]+)" text-anchor="middle">(\w+)</text>', svg)
    by_height: dict[float, list[str]] = {}
    for y, name in labels:
        by_height.setdefault(float(y), []).append(name)
    stacked = [tuple(by_height[y]) for y in sorted(by_height, reverse=True)]  # bottom first
    assert tuple(stacked) == LAYERS
