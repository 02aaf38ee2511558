"""The site hook: page generation from the zoo, and no stale MD5 after a failed example."""

import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def hooks(tmp_path, monkeypatch):
    pytest.importorskip("mkdocs_gallery")
    spec = importlib.util.spec_from_file_location("convviz_site_hooks", ROOT / "docs" / "hooks.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    monkeypatch.setattr(mod, "PAGES", tmp_path / "zoo_pages")
    monkeypatch.setattr(mod, "OUT_DIRS", (tmp_path / "out", tmp_path / "figures"))
    monkeypatch.setattr(mod, "COURSE_PAGES", tmp_path / "no-course")
    monkeypatch.setattr(mod, "ROOT", tmp_path)
    (tmp_path / "zoo_pages").mkdir()
    return mod


def test_failed_example_md5_is_forgotten(hooks, tmp_path):
    out = tmp_path / "out" / "m"
    out.mkdir(parents=True)
    (out / "ok.md").write_text("fine")
    (out / "ok.py.md5").write_text("1")
    (out / "bad.md").write_text("```\nTraceback (most recent call last):\n  boom\n```")
    (out / "bad.py.md5").write_text("2")
    (out / "gone.py.md5").write_text("3")  # failed before its page was written
    hooks.on_build_error(RuntimeError("example failed"))
    assert sorted(p.name for p in out.glob("*.md5")) == ["ok.py.md5"]


def test_pages_written_only_when_changed_and_removed_with_the_model(hooks, tmp_path, monkeypatch):
    zoo_file = tmp_path / "zoo.yml"
    zoo_file.write_text(
        "models:\n  - name: m1\n    source: trained\n    architecture: plain_cnn\n    dataset: digits\n    epochs: 1\n"
    )
    monkeypatch.setenv("CONVVIZ_ZOO", str(zoo_file))
    monkeypatch.setattr("convviz.zoo.test_accuracy", lambda e, **k: 0.5)
    first = hooks.generate_pages()
    assert first == {"m1": ["activations", "filters", "gradcam", "attributions", "latent"]}
    page = tmp_path / "zoo_pages" / "m1" / "gradcam.py"
    assert 'MODEL = "m1"' in page.read_text()
    assert hooks.generate_pages() == {}  # nothing changed: nothing written
    zoo_file.write_text(zoo_file.read_text().replace("epochs: 1", "epochs: 2"))
    assert hooks.generate_pages() == {"m1": ["activations", "filters", "gradcam", "attributions", "latent"]}
    zoo_file.write_text(zoo_file.read_text() + "    compare_to: {seed: 1}\n")
    assert hooks.generate_pages() == {"m1": ["changes"]}  # the other pages do not depend on it
    assert 'MODEL = "m1"' in (tmp_path / "zoo_pages" / "m1" / "changes.py").read_text()
    zoo_file.write_text(zoo_file.read_text().replace("{seed: 1}", "{seed: 2}"))
    assert hooks.generate_pages() == {"m1": ["changes"]}  # another reference: the page reruns
    zoo_file.write_text(zoo_file.read_text().replace("    compare_to: {seed: 2}\n", ""))
    assert hooks.generate_pages() == {"m1": ["changes"]}
    assert not (tmp_path / "zoo_pages" / "m1" / "changes.py").exists()
    zoo_file.write_text(
        "models:\n  - name: m2\n    source: trained\n    architecture: plain_cnn\n    dataset: digits\n"
    )
    hooks.generate_pages()
    assert not (tmp_path / "zoo_pages" / "m1").exists()
    assert (tmp_path / "zoo_pages" / "m2" / "latent.py").is_file()


def test_numbers_in_prose_come_from_the_pages(hooks, tmp_path, monkeypatch):
    import json

    folder = tmp_path / "zoo_pages" / "m1"
    folder.mkdir()
    (folder / "numbers.json").write_text(json.dumps({"gradcam": {"pointing_game": {"gradcam": 0.9251}}}))
    text = (
        "Grad-CAM scores {{ number m1.gradcam.pointing_game.gradcam | pct }} here, "
        "{{ number m2.gradcam.x }} there; `{{ number m1.as.code }}` stays code."
    )
    out = hooks.fill_numbers(text)
    assert out == "Grad-CAM scores 92.5% here, (not built here) there; `{{ number m1.as.code }}` stays code."
    with pytest.raises(ValueError, match=r"page.md: .*no 'energy'.*valid here: pointing_game"):
        hooks.fill_numbers("{{ number m1.gradcam.energy }}", "page.md")


def test_record_writes_the_pages_numbers(tmp_path, monkeypatch):
    from convviz.site import read_number, record

    monkeypatch.chdir(tmp_path)
    script = tmp_path / "gradcam.py"
    script.write_text("from convviz.site import record\nrecord('accuracy', 0.5)\n")
    import runpy

    runpy.run_path(str(script), run_name="__main__")
    record("other", 2)  # called from here: filed under this test module's name
    assert read_number(tmp_path, "gradcam.accuracy") == 0.5
    assert read_number(tmp_path, "test_hooks.other") == 2


def test_course_figures_rerun_when_their_model_changes(hooks, tmp_path, monkeypatch):
    course = tmp_path / "course"
    course.mkdir()
    (course / "fig.py").write_text('from convviz import zoo\nentry = zoo.entry("m1")\n')
    monkeypatch.setattr(hooks, "COURSE_PAGES", course)
    monkeypatch.setattr(hooks, "OUT_DIRS", (tmp_path / "out", tmp_path / "figures"))
    zoo_file = tmp_path / "zoo.yml"
    zoo_file.write_text(
        "models:\n  - name: m1\n    source: trained\n    architecture: plain_cnn\n    dataset: digits\n    epochs: 1\n"
    )
    monkeypatch.setenv("CONVVIZ_ZOO", str(zoo_file))
    assert hooks.refresh_course_figures() == {"course": ["fig"]}
    md5 = tmp_path / "figures" / "fig.py.md5"
    md5.write_text("x")  # what mkdocs-gallery writes after running it
    assert hooks.refresh_course_figures() == {}
    assert md5.is_file()
    zoo_file.write_text(zoo_file.read_text().replace("epochs: 1", "epochs: 2"))
    assert hooks.refresh_course_figures() == {"course": ["fig"]}
    assert not md5.exists()  # forgotten: the gallery re-runs the script
