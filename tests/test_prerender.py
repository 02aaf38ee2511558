"""Worker processes that compute several zoo models' pages at once before a build."""

from __future__ import annotations

import json

import pytest

import _zoo_kinds
from conftest import default_backend_only
from convviz.site import prerender


def test_jobs_come_from_the_option_then_the_environment_then_the_cores(monkeypatch):
    monkeypatch.delenv("CONVVIZ_JOBS", raising=False)
    assert 1 <= prerender.default_jobs() <= prerender.MAX_DEFAULT_JOBS
    monkeypatch.setenv("CONVVIZ_JOBS", "3")
    assert prerender.default_jobs() == 3
    assert prerender.default_jobs(1) == 1  # the option wins
    monkeypatch.setenv("CONVVIZ_JOBS", "two")
    with pytest.raises(ValueError, match=r"\$CONVVIZ_JOBS must be a positive whole number .*got 'two'"):
        prerender.default_jobs()
    for bad in (0, -2, "1.5"):
        with pytest.raises(ValueError, match=r"^jobs must be a positive whole number of worker processes \(1: none\)"):
            prerender.default_jobs(bad)


def test_gallery_pages_map_to_render_names_with_units_and_classes():
    assert prerender.what_for(["activations", "gradcam", "changes"]) == [
        "activations",
        "cam",
        "changes",
        "units",
        "classes",
        "concepts",
        "atlas",
    ]


def test_slowest_known_model_first_and_never_timed_ones_before_them(tmp_path):
    assert prerender.order(["a", "b", "c"], tmp_path) == ["c", "b", "a"]  # reverse zoo order
    (tmp_path / ".prerender-seconds.json").write_text(json.dumps({"a": 90.0, "b": 20.0}))
    assert prerender.order(["a", "b", "c"], tmp_path) == ["c", "a", "b"]
    (tmp_path / ".prerender-seconds.json").write_text("{not json")
    assert prerender.order(["a", "b"], tmp_path) == ["b", "a"]


def test_one_model_or_one_job_starts_no_worker(tmp_path):
    said = []
    assert prerender.prerender({"a": ["activations"]}, jobs=4, cache_dir=tmp_path, say=said.append) == []
    assert prerender.prerender({"a": ["latent"], "b": ["latent"]}, jobs=1, cache_dir=tmp_path, say=said.append) == []
    assert prerender.prerender({"a": ["latent"], "b": []}, jobs=2, cache_dir=tmp_path, say=said.append) == []
    assert said == []


@pytest.mark.slow
@default_backend_only("the workers run `convviz render`, which every backend runs the same way")
def test_workers_fill_the_cache_and_a_failing_one_is_reported(tmp_path, monkeypatch):
    from convviz import site

    zoo_file = _zoo_kinds.build(tmp_path / "zoo", applications={})
    cache = tmp_path / "cache"
    monkeypatch.setenv("CONVVIZ_ZOO", str(zoo_file))
    monkeypatch.setenv("CONVVIZ_CACHE_DIR", str(cache))
    said = []
    outcomes = prerender.prerender(
        {"gray-sequential": ["activations"], "rgb-h5-labelled": ["activations"], "no-such-model": ["filters"]},
        jobs=2,
        cwd=tmp_path,
        pages_out=tmp_path / "gallery",
        say=said.append,
    )
    assert [o.model for o in outcomes] == ["no-such-model", "rgb-h5-labelled", "gray-sequential"]
    ok = {o.model: o.ok for o in outcomes}
    assert ok == {"no-such-model": False, "rgb-h5-labelled": True, "gray-sequential": True}
    assert "computing the pages of 3 models in 2 worker processes" in said[0]
    assert any("gray-sequential: pages computed by a worker in" in s for s in said)
    assert any("no-such-model: the worker failed" in s for s in said)
    assert any("unknown zoo model 'no-such-model'" in s and "valid" in s.lower() for s in said), (
        said
    )  # the worker's own error
    # each worker wrote its model's extra pages where the site wants them; the build finds them up to date
    from convviz import zoo
    from convviz.site.class_pages import write_class_pages
    from convviz.site.atlas_page import write_atlas_page
    from convviz.site.concept_pages import write_concept_pages
    from convviz.site.unit_pages import write_unit_pages

    for o in outcomes[1:]:
        assert set(o.written) == {"units", "layers", "classes", "concepts", "atlas"} and all(
            s >= 0 for s in o.written.values()
        )
        folder = tmp_path / "gallery" / o.model
        assert (folder / "units" / "index.md").is_file() and (folder / "layers" / "browser.json").is_file()
        assert write_unit_pages(zoo.entry(o.model), folder / "units") is None
        assert write_class_pages(zoo.entry(o.model), folder / "classes") is None
        assert write_concept_pages(zoo.entry(o.model), folder / "concepts") is None
        assert write_atlas_page(zoo.entry(o.model), folder / "atlas") is None
    assert outcomes[0].written == {}
    times = json.loads((cache / ".prerender-seconds.json").read_text())
    assert set(times) == {"rgb-h5-labelled", "gray-sequential"}
    # the gallery's run of a page computed by a worker reads every array back: the cache
    # gains nothing (the unit and class pages, which the workers also wrote, too)
    before = sorted(p.name for p in cache.iterdir() if not p.name.startswith("."))
    site.render("gray-sequential", what=["activations", "units", "classes"], out=tmp_path / "again", progress=False)
    assert sorted(p.name for p in cache.iterdir() if not p.name.startswith(".")) == before
