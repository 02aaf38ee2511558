"""Caches and pages can't go stale: keys follow the code that computed them, an older
cache can never serve an entry for newer code, and compiled functions don't keep models
alive."""

from __future__ import annotations

import gc
import io
import json
import os
import shutil
import subprocess
import sys
import weakref
from pathlib import Path

import numpy as np
import pytest

import convviz
from convviz.site.pages import PAGE_NAMES
from conftest import default_backend_only, small_functional

ROOT = Path(__file__).resolve().parents[1]

# Prints the code digest of every cached result (each public function that takes cache=, and
# each architecture's trained model) and the fingerprint of every page, as computed by the
# convviz package found first on sys.path (a temporary copy in the test).
PROBE = r"""
import json, sys
from pathlib import Path
import convviz
from convviz.site.pages import PAGE_NAMES
from convviz import zoo, site
from convviz.store import cached, reach
assert Path(convviz.__file__).resolve().parent == Path(sys.argv[1]).resolve(), convviz.__file__
keys = {name: reach.reached_digest(getattr(cached, name)) for name in cached.__all__}
for arch in ("plain_cnn", "vgg_cnn", "mini_xception"):
    keys["model-" + arch] = zoo.training_code(arch)
entry = zoo.parse("models:\n  - {name: m, source: trained, architecture: plain_cnn, dataset: digits}\n")[0]
for page in (*site.PAGE_NAMES, "changes"):
    keys["page-" + page] = site.fingerprint(entry, Path(sys.argv[2], page + ".py").read_text())
print(json.dumps(keys))
"""


def _keys(pkg_parent: Path) -> dict[str, str]:
    # Keras on its NumPy backend: no TensorFlow to import in each probe. The keys of results
    # and models are the same on every backend; pages' include it (the same in every probe).
    env = {**os.environ, "PYTHONPATH": str(pkg_parent), "TF_CPP_MIN_LOG_LEVEL": "3", "KERAS_BACKEND": "numpy"}
    out = subprocess.run(
        [sys.executable, "-c", PROBE, str(pkg_parent / "convviz"), str(pkg_parent / "convviz" / "site" / "templates")],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        cwd=pkg_parent,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1))


def _changed(a: dict[str, str], b: dict[str, str]) -> set[str]:
    return {k for k in a if a[k] != b[k]}


RESULTS = {
    "predict",
    "grad_cam",
    "cam_with_predictions",
    "attribute",
    "attribute_with_predictions",
    "deletion_curve",
    "insertion_curve",
    "randomization_check",
    "visualize_filters",
    "visualize_classes",
    "visualize_diverse",
    "activation_atlas",
    "extract_embeddings",
    "project",
    "dataset_examples",
    "dataset_examples_of_layers",
    "diff_models",
    "pass_seconds",  # a model's cost per pass, which its pages' budget reads
    "concepts",
    "concept_maps",
    "scorecard",
}
MODELS = {"model-plain_cnn", "model-vgg_cnn", "model-mini_xception"}


def _results(changed: set[str]) -> set[str]:
    return {k for k in changed if not k.startswith("page-")}


@pytest.mark.slow
@default_backend_only("cache keys do not depend on the backend: checked once, on the default one")
def test_an_edit_recomputes_exactly_what_depends_on_it(tmp_path):
    shutil.copytree(ROOT / "convviz", tmp_path / "convviz", ignore=shutil.ignore_patterns("__pycache__"))
    base = _keys(tmp_path)
    assert set(base) == RESULTS | MODELS | {f"page-{p}" for p in PAGE_NAMES} | {"page-changes"}
    # what cannot change a result changes no key and re-runs no page: a comment, a docstring,
    # formatting (the shipped weights' recipe digests rest on this too)
    _edit(tmp_path / "convviz" / "zoo" / "shapes.py", "SHAPES_SIZE = 64", "SHAPES_SIZE = (\n    64  # pixels\n)")
    _edit(tmp_path / "convviz" / "attr" / "cam.py", '"""', '"""A new first line.\n\n')
    _edit(tmp_path / "convviz" / "evaluate" / "faithfulness.py", "def ", "# a comment\ndef ")
    assert _keys(tmp_path) == base
    _edit(tmp_path / "convviz" / "zoo" / "shapes.py", "SHAPES_SIZE = (\n    64  # pixels\n)", "SHAPES_SIZE = 64")
    # code that computes no result, added, edited or removed: the site, the command line, the
    # project lookup, the catalog of applications, the cache and the memo step recompute no
    # array and retrain no model
    unused = "\n\ndef _an_unused_function():\n    return 1\n"
    for module in ("site/plugin.py", "site/__init__.py", "site/explorer.py", "cli/__init__.py", "zoo/catalog.py"):
        (tmp_path / "convviz" / module).write_text((tmp_path / "convviz" / module).read_text() + unused)
    for module in ("store/project.py", "store/cache.py", "store/memo.py", "store/cached.py", "figures/output.py"):
        (tmp_path / "convviz" / module).write_text((tmp_path / "convviz" / module).read_text() + unused)
    _edit(tmp_path / "convviz" / "store" / "cache.py", '"_convviz_architecture"', '"_convviz_arch"')  # inside
    _edit(tmp_path / "convviz" / "zoo" / "catalog.py", '"Xception"', '"Xception" ')
    after_site = _keys(tmp_path)
    assert _results(_changed(base, after_site)) == set()
    # a change inside one CAM method's function body: what computes Grad-CAMs, nothing else
    _edit(
        tmp_path / "convviz" / "attr" / "cam.py",
        "weights = c.gradients.mean(axis=(1, 2))",
        "weights = c.gradients.mean(axis=(2, 1))",
    )
    after_cam = _keys(tmp_path)
    assert _results(_changed(after_site, after_cam)) == {
        "grad_cam",
        "cam_with_predictions",
        "randomization_check",  # it checks Grad-CAM too
        "scorecard",  # it scores every CAM method
        "attribute",  # Grad-CAM is one of the attribution page's methods
        "attribute_with_predictions",
        "diff_models",  # the diff compares Grad-CAMs
    }
    assert {"page-gradcam", "page-attributions", "page-changes"} <= _changed(after_site, after_cam)
    # a change in one architecture retrains that model only
    _edit(
        tmp_path / "convviz" / "zoo" / "architectures.py",
        'L.Dropout(0.3, name="dropout")',
        'L.Dropout(0.25, name="dropout")',
    )
    after_arch = _keys(tmp_path)
    assert _results(_changed(after_cam, after_arch)) == {"model-plain_cnn"}
    # the dataset generators feed every trained model, and no algorithm
    _edit(tmp_path / "convviz" / "zoo" / "shapes.py", "SHAPES_SIZE = 64", "SHAPES_SIZE = 64 + 0")
    after_data = _keys(tmp_path)
    assert _results(_changed(after_arch, after_data)) == MODELS
    # an attribution method's edit reaches its results, the randomization check (which runs
    # attribution methods) and the diff's, never Grad-CAM's cached maps
    _edit(
        tmp_path / "convviz" / "attr" / "gradients.py",
        "return c.images * c.gradients(_identity, [1.0])",
        "return c.gradients(_identity, [1.0]) * c.images",
    )
    after_attr = _keys(tmp_path)
    assert _results(_changed(after_data, after_attr)) == {
        "attribute",
        "attribute_with_predictions",
        "randomization_check",
        "scorecard",  # it scores every attribution method
        "diff_models",  # its randomization check reaches every method (by name, at run time)
    }
    # the similarity code reaches only the diff
    _edit(
        tmp_path / "convviz" / "represent" / "similarity.py",
        "return float(min(max(cross / (xx * yy), 0.0), 1.0))",
        "return float(min(1.0, max(0.0, cross / (xx * yy))))",
    )
    after_similarity = _keys(tmp_path)
    assert _results(_changed(after_attr, after_similarity)) == {"diff_models"}
    # the factorization's options reach the concepts, not their maps (which project onto a bank)
    _edit(tmp_path / "convviz" / "represent" / "factorize.py", "tol=1e-5", "tol=1e-6")
    assert _results(_changed(after_similarity, _keys(tmp_path))) == {"concepts"}


def test_imports_for_type_checkers_are_no_dependency_and_lazy_ones_are():
    """A module imported only under ``if TYPE_CHECKING:`` computes nothing (editing it must
    not re-run pages); one imported on first use through ``lazy_module`` does."""
    from convviz.store.digests import imports_in

    text = """
from typing import TYPE_CHECKING
import typing
from convviz import zoo
if TYPE_CHECKING:
    from convviz.evaluate.sanity import RandomizationResult
    import convviz.optvis.filters
else:
    from convviz.store import project as paths
if typing.TYPE_CHECKING:
    from convviz.compare import diff
models = lazy_module("convviz.zoo.architectures")
keras = lazy_module("keras")
def f():
    from convviz.attr.cam import grad_cam
"""
    assert imports_in(text) == {"zoo", "store.project", "zoo.architectures", "attr.cam"}


def test_each_definition_is_read_as_the_parser_reads_it():
    """The digest's source of every top-level definition of the package, on lines split once,
    is what ``ast.get_source_segment`` gives (multi-line strings, decorators, several targets,
    an indented assignment under a top-level ``if``, a ``\\r`` or non-ASCII text included)."""
    import ast

    from convviz.store import digests, reach

    checked = 0
    for module in digests.modules():
        info = reach._module(module)
        for name, node in info.defs.items():
            assert reach._segment(info, node) == ast.get_source_segment(info.text, node), (module, name)
            checked += 1
    assert checked > 500
    # a module of odd text: a carriage-return line end, a form feed, non-ASCII before a node
    text = 'if True:\n    é = "ü"; x = (1,\r  2)\n\x0cdef f():\n    return "ß"\n'
    tree = ast.parse(text)
    lines = tuple(io.StringIO(text, newline="").readlines())
    odd = reach._Module(text, lines, {}, {})
    for node in ast.walk(tree):
        if isinstance(node, (ast.stmt, ast.expr)):
            assert reach._segment(odd, node) == ast.get_source_segment(text, node), ast.dump(node)


def test_a_cache_of_older_code_cannot_serve_a_stale_entry(tmp_path, monkeypatch):
    """The CI workflow restores older caches (restore-keys): their entries must be misses."""
    import convviz.store.reach as code
    from convviz.store.cache import Cache, merge

    model = small_functional()
    x = np.random.default_rng(0).random((3, 16, 16, 3)).astype(np.float32)
    old_cache = Cache(tmp_path / "old")
    real = code.reached_digest
    monkeypatch.setattr(code, "reached_digest", lambda *f, **k: "src:0ld" + real(*f, **k)[7:])
    convviz.grad_cam(model, x, layer="c2", cache=old_cache)
    (old_key,) = old_cache.keys()
    poisoned = {
        "maps": np.full((3, 16, 16), 0.5, np.float32),
        "classes": np.zeros(3, np.int64),
        "predicted": np.zeros(3, np.int64),
        "probabilities": np.full((3, 3), 1 / 3, np.float32),
    }
    import io

    buf = io.BytesIO()
    np.savez(buf, **poisoned)
    old_cache.put_bytes(old_key, buf.getvalue())  # what an older code version computed
    monkeypatch.setattr(code, "reached_digest", real)
    new_cache = Cache(tmp_path / "new")
    assert merge([old_cache.root], new_cache.root) == 1
    maps = convviz.grad_cam(model, x, layer="c2", cache=new_cache)
    np.testing.assert_allclose(maps, convviz.grad_cam(model, x, layer="c2"), atol=1e-6)
    assert not np.allclose(maps, 0.5)
    assert len(new_cache.keys()) == 2  # the stale entry stays unused beside the fresh one


@pytest.mark.parametrize("call", ["grad_cam", "activations", "embeddings", "filters"])
def test_compiled_functions_do_not_keep_a_model_alive(call):
    model = small_functional()
    x = np.random.default_rng(0).random((2, 16, 16, 3)).astype(np.float32)
    if call == "grad_cam":
        convviz.grad_cam(model, x, layer="c2")
    elif call == "activations":
        convviz.extract_activations(model, x)
    elif call == "embeddings":
        convviz.extract_embeddings(model, x)
    else:
        convviz.visualize_filters(model, "c2", 2, steps=2, crop=2, data=x)
    ref = weakref.ref(model)
    del model
    gc.collect()
    assert ref() is None


def test_randomization_check_copies_do_not_accumulate():

    model = small_functional()
    x = np.random.default_rng(0).random((2, 16, 16, 3)).astype(np.float32)
    convviz.randomization_check(model, x, layer="c2")
    ref = weakref.ref(model)
    del model
    gc.collect()
    assert ref() is None
