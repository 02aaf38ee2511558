"""The benchmark harness and the numbers it feeds: each method in its own process, order
alternated, results rendered into the README and the performance page (never typed)."""

from __future__ import annotations

import importlib.util
import json
import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "benchmarks"


def _module(name: str):
    sys.path.insert(0, str(BENCH))
    try:
        spec = importlib.util.spec_from_file_location(f"convviz_bench_{name}", BENCH / f"{name}.py")
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        return mod
    finally:
        sys.path.remove(str(BENCH))


FAKE = """
import json, os, sys, time
sys.path.insert(0, {bench!r})
from _harness import child_report
if sys.argv[1] == "--child":
    with open({log!r}, "a") as fh:
        fh.write(sys.argv[2] + " " + str(os.getpid()) + "\\n")
    child_report({{"a": 0.01, "b": 0.02}}[sys.argv[2]], objective=1.0)
"""


def test_each_method_runs_in_its_own_process_in_alternating_order(tmp_path, monkeypatch):
    harness = _module("_harness")
    monkeypatch.setattr(harness, "RESULTS", tmp_path / "results")
    log = tmp_path / "log.txt"
    script = tmp_path / "bench_fake.py"
    script.write_text(FAKE.format(bench=str(BENCH), log=str(log)))
    res = harness.compare(script, "fake", ["a", "b"], [], repeats=3, config={"x": 1})
    runs = [line.split() for line in log.read_text().splitlines()]
    assert [m for m, _ in runs] == ["a", "b", "b", "a", "a", "b"]
    assert len({pid for _, pid in runs}) == 6  # a fresh process every time
    rows = {r["method"]: r for r in res["rows"]}
    assert rows["a"]["min"] == 0.01 and rows["b"]["median"] == 0.02 and len(rows["a"]["seconds"]) == 3
    assert rows["a"]["peak_rss_mb"] > 1 and rows["a"]["objective"] == 1.0
    saved = json.loads((tmp_path / "results" / "fake.json").read_text())
    assert saved["machine"]["cores"] >= 1 and "date" in saved and saved["repeats"] == 3


@pytest.mark.parametrize(
    "name",
    ["filters", "cam", "attributions", "latent", "units", "diff", "concepts", "trust", "maco", "diversity", "atlas"],
)
def test_results_exist_and_render(name):
    report = _module("report")
    text = report.table(name)
    assert "Measured on" in text and text.count("|") > 10


def test_readme_benchmark_tables_are_the_rendered_results():
    report = _module("report")
    readme = (ROOT / "README.md").read_text()
    assert "<!-- bench:filters -->" in readme and "<!-- bench:cam -->" in readme
    assert report.render_readme(readme) == readme, "run: python benchmarks/report.py --readme"


def test_performance_page_types_no_measured_number():
    text = (ROOT / "docs" / "performance.md").read_text()
    prose = re.sub(r"```.*?```", "", text, flags=re.S)
    prose = re.sub(r"\{\{.*?\}\}", "", prose, flags=re.S)
    typed = re.findall(r"\d+(?:\.\d+)?\s*(?:×(?!\d)|%|\bs\b|\bms\b|\bMB\b|\bGiB\b)", prose)
    assert not typed, typed


def test_attribution_summary_is_derived_from_the_rows():
    report = _module("report")
    res = report.load("attributions")
    rows = {r["method"]: r for r in res["rows"]}
    s = report.summary("attributions")
    for kind in ("ig", "sg"):
        assert s[kind]["vs_floor"] == rows[f"{kind}_convviz"]["min"] / rows[f"{kind}_floor"]["min"]
        assert s[kind]["vs_loop"] == rows[f"{kind}_loop"]["min"] / rows[f"{kind}_convviz"]["min"]
        assert rows[f"{kind}_convviz"]["passes"] == rows[f"{kind}_floor"]["passes"] == rows[f"{kind}_loop"]["passes"]


def test_the_pages_recipe_is_the_one_other_models_recognize_best():
    """The deep layers' and classes' pages use the robust recipe, and the performance page
    says why: MaCo does not make images that the other model names more often (issue 41).
    Should a new run of bench_maco say otherwise, this fails until the pages switch."""
    report = _module("report")
    rates = report.load("maco")["recognized"]
    assert set(rates) == {"robust", "maco"}
    assert rates["robust"] >= rates["maco"], "MaCo measures better now: make it the deep pages' recipe (issue 41)"
    from convviz.site.unit_data import unit_recipe

    assert unit_recipe(1, 2, 10, 64)[0] == "robust"
    text = (ROOT / "docs" / "performance.md").read_text()
    assert "{{ table bench-maco }}" in text


@pytest.mark.parametrize("name", ["diversity", "atlas"])
def test_summaries_of_per_model_results_give_their_config_and_rows(name):
    report = _module("report")
    s = report.summary(name)
    res = report.load(name)
    assert s["config"] == res["config"]
    assert {r["model"] for r in res["rows"]} <= set(s)
