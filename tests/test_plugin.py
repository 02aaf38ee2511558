"""The MkDocs plugin: page generation from the zoo, numbers in prose, example folders, no
stale MD5 after a failed example, and a clear error for every bad configuration."""

import re
from pathlib import Path

import pytest
from convviz.site import gallery as site_gallery
from convviz.site import generate as site_generate
from convviz.site import macros as site_macros
from conftest import default_backend_only

ROOT = Path(__file__).resolve().parents[1]
ZOO = "models:\n  - name: m1\n    source: trained\n    architecture: plain_cnn\n    dataset: digits\n    epochs: 1\n"


@pytest.fixture
def plugin(tmp_path):
    pytest.importorskip("mkdocs_gallery")
    from convviz.site import plugin as mkdocs_plugin

    (tmp_path / "zoo_pages").mkdir()
    return mkdocs_plugin


@pytest.fixture
def layout(tmp_path):
    from convviz.site.generate import Layout

    return Layout(pages=tmp_path / "zoo_pages", out=tmp_path / "out")


def test_failed_example_md5_is_forgotten(plugin, tmp_path):
    out = tmp_path / "out" / "m"
    out.mkdir(parents=True)
    (out / "ok.md").write_text("fine")
    (out / "ok.py.md5").write_text("1")
    (out / "bad.md").write_text("```\nTraceback (most recent call last):\n  boom\n```")
    (out / "bad.py.md5").write_text("2")
    (out / "gone.py.md5").write_text("3")  # failed before its page was written
    gone = site_generate.forget_failed((tmp_path / "out",))
    assert sorted(p.name for p in gone) == ["bad.py.md5", "gone.py.md5"]
    assert sorted(p.name for p in out.glob("*.md5")) == ["ok.py.md5"]


def _gallery_ran(layout):
    """What mkdocs-gallery leaves after running every page script: each one's md5 next to its copy."""
    from mkdocs_gallery.utils import get_md5sum

    for script in layout.pages.glob("*/*.py"):
        out = layout.out / script.parent.name
        out.mkdir(parents=True, exist_ok=True)
        (out / f"{script.name}.md5").write_text(get_md5sum(script, mode="t"))


def test_pages_written_only_when_changed_and_removed_with_the_model(plugin, layout, tmp_path, monkeypatch):
    zoo_file = tmp_path / "zoo.yml"
    zoo_file.write_text(
        "models:\n  - name: m1\n    source: trained\n    architecture: plain_cnn\n    dataset: digits\n    epochs: 1\n"
    )
    monkeypatch.setenv("CONVVIZ_ZOO", str(zoo_file))
    monkeypatch.setattr("convviz.zoo.records.test_accuracy", lambda e, **k: 0.5)
    every = ["activations", "filters", "gradcam", "attributions", "latent"]
    first = site_generate.generate_pages(layout)
    assert first == {"m1": every}
    page = tmp_path / "zoo_pages" / "m1" / "gradcam.py"
    assert 'MODEL = "m1"' in page.read_text()
    assert site_generate.generate_pages(layout) == {"m1": every}  # unchanged, but the gallery has not run them yet
    _gallery_ran(layout)
    assert site_generate.generate_pages(layout) == {}  # nothing changed: nothing written
    (layout.out / "m1" / "filters.py.md5").unlink()  # its output is gone: the gallery runs it again
    (layout.out / "m1" / "latent.py.md5").write_text("an older script's md5")
    assert site_generate.generate_pages(layout) == {"m1": ["filters", "latent"]}
    _gallery_ran(layout)
    zoo_file.write_text(zoo_file.read_text().replace("epochs: 1", "epochs: 2"))
    assert site_generate.generate_pages(layout) == {"m1": every}
    _gallery_ran(layout)
    zoo_file.write_text(zoo_file.read_text() + "    compare_to: {seed: 1}\n")
    assert site_generate.generate_pages(layout) == {"m1": ["changes"]}  # the other pages do not depend on it
    assert 'MODEL = "m1"' in (tmp_path / "zoo_pages" / "m1" / "changes.py").read_text()
    _gallery_ran(layout)
    zoo_file.write_text(zoo_file.read_text().replace("{seed: 1}", "{seed: 2}"))
    assert site_generate.generate_pages(layout) == {"m1": ["changes"]}  # another reference: the page reruns
    _gallery_ran(layout)
    zoo_file.write_text(zoo_file.read_text().replace("    compare_to: {seed: 2}\n", ""))
    assert site_generate.generate_pages(layout) == {"m1": ["changes"]}
    assert not (tmp_path / "zoo_pages" / "m1" / "changes.py").exists()
    zoo_file.write_text(
        "models:\n  - name: m2\n    source: trained\n    architecture: plain_cnn\n    dataset: digits\n"
    )
    site_generate.generate_pages(layout)
    assert not (tmp_path / "zoo_pages" / "m1").exists()
    assert (tmp_path / "zoo_pages" / "m2" / "latent.py").is_file()


def test_numbers_in_prose_come_from_the_pages(plugin, layout, tmp_path, monkeypatch):
    import json

    folder = tmp_path / "zoo_pages" / "m1"
    folder.mkdir()
    (folder / "numbers.json").write_text(json.dumps({"gradcam": {"pointing_game": {"gradcam": 0.9251}}}))
    text = (
        "Grad-CAM scores {{ number m1.gradcam.pointing_game.gradcam | pct }} here, "
        "{{ number m2.gradcam.x }} there; `{{ number m1.as.code }}` stays code."
    )
    out = site_macros.fill_numbers(text, layout)
    assert out == "Grad-CAM scores 92.5% here, (not built here) there; `{{ number m1.as.code }}` stays code."
    with pytest.raises(ValueError, match=r"page.md: .*no 'energy'.*valid here: pointing_game"):
        site_macros.fill_numbers("{{ number m1.gradcam.energy }}", layout, "page.md")
    with pytest.raises(ValueError, match=r"page.md: .*'benchmarks' option"):
        site_macros.fill_numbers("{{ table bench-units }}", layout, "page.md")


def test_record_writes_the_pages_numbers_only_while_recording(tmp_path, monkeypatch):
    import runpy

    from convviz import record
    from convviz.site.record import read_number, recording

    monkeypatch.chdir(tmp_path)
    script = tmp_path / "gradcam.py"
    script.write_text("from convviz import record\nassert record('accuracy', 0.5) == 0.5\n")
    runpy.run_path(str(script), run_name="__main__")  # a downloaded page: nothing written
    assert record("other", 2) == 2 and not (tmp_path / "numbers.json").exists()
    with recording():  # the site build
        runpy.run_path(str(script), run_name="__main__")
        record("other", 2)  # called from here: filed under this test module's name
    assert read_number(tmp_path, "gradcam.accuracy") == 0.5
    assert read_number(tmp_path, "test_plugin.other") == 2


def test_downloads_lose_the_fingerprint_comment(plugin, tmp_path):
    out = tmp_path / "out" / "m1"
    out.mkdir(parents=True)
    (out / "gradcam.py").write_text('MODEL = "m1"\n# mkdocs_gallery_convviz_fingerprint = "0123abcd"\nx = 1\n')
    (out / "plain.py").write_text("x = 1\n")
    assert site_generate.clean_downloads((tmp_path / "out",)) == [out / "gradcam.py"]
    assert (out / "gradcam.py").read_text() == 'MODEL = "m1"\nx = 1\n'


def test_example_scripts_rerun_when_their_model_changes(plugin, tmp_path, monkeypatch):
    course = tmp_path / "course"
    course.mkdir()
    (course / "fig.py").write_text('from convviz import zoo\nentry = zoo.entry("m1")\n')
    zoo_file = tmp_path / "zoo.yml"
    zoo_file.write_text(
        "models:\n  - name: m1\n    source: trained\n    architecture: plain_cnn\n    dataset: digits\n    epochs: 1\n"
    )
    monkeypatch.setenv("CONVVIZ_ZOO", str(zoo_file))
    assert site_generate.refresh_examples(course, tmp_path / "figures") == {"course": ["fig"]}
    md5 = tmp_path / "figures" / "fig.py.md5"
    md5.write_text("x")  # what mkdocs-gallery writes after running it
    assert site_generate.refresh_examples(course, tmp_path / "figures") == {}
    assert md5.is_file()
    zoo_file.write_text(zoo_file.read_text().replace("epochs: 1", "epochs: 2"))
    assert site_generate.refresh_examples(course, tmp_path / "figures") == {"course": ["fig"]}
    assert not md5.exists()  # forgotten: the gallery re-runs the script
    md5.write_text("x")
    # its page budget too: an example may take an image count from it (the course's pointing game)
    zoo_file.write_text(zoo_file.read_text() + "    budget: {passes: 3000}\n")
    assert site_generate.refresh_examples(course, tmp_path / "figures") == {"course": ["fig"]}
    assert not md5.exists()


def _clean_env(monkeypatch):
    """No zoo or cache from the environment; the plugin's own settings are undone after the
    test (set first, so that monkeypatch restores the variables' absence)."""
    for name in ("CONVVIZ_ZOO", "CONVVIZ_CACHE_DIR"):
        monkeypatch.setenv(name, "unset")
        monkeypatch.delenv(name)


def _site(tmp_path: Path, options: str, *, plugins: str = "") -> Path:
    (tmp_path / "docs").mkdir(exist_ok=True)
    (tmp_path / "docs" / "index.md").write_text("# Home\n")
    (tmp_path / "zoo.yml").write_text(ZOO)
    mk = tmp_path / "mkdocs.yml"
    mk.write_text(f"site_name: t\nplugins:\n  - search\n{plugins}  - convviz:{options}\nnav:\n  - Home: index.md\n")
    return mk


def _configure(mk: Path):
    """Load the config as `mkdocs build` does and run the plugins' on_config."""
    from mkdocs.config import load_config

    config = load_config(str(mk))
    return config.plugins.on_config(config)


@pytest.mark.parametrize(
    "options, plugins, message",
    [
        ("\n      zoo: models/zoo.yml\n", "", r"mkdocs.yml: convviz zoo file not found: .*models/zoo.yml"),
        (
            "\n      zooo: zoo.yml\n",
            "",
            r"unknown convviz option 'zooo'; valid: benchmarks, colab, examples, gallery, .*zoo",
        ),
        ("\n      templates: mine\n", "", r"'templates': template folder not found: .*mine .*gradcam.py"),
        (
            "\n      gallery: {examples_dirs: [x]}\n",
            "",
            r"'gallery' may not set examples_dirs",
        ),
        (" {}\n", "  - gallery\n", r"configures mkdocs-gallery itself: remove 'gallery'"),
        ("\n      examples: {nowhere: figures}\n", "", r"'examples': folder not found: .*nowhere"),
        ("\n      colab: team/models\n", "", r"'colab' must be OWNER/REPO@BRANCH .*got 'team/models'"),
        ("\n      jobs: 0\n", "", r"mkdocs.yml: convviz jobs must be a positive whole number .*\(1: none\), got 0"),
    ],
)
def test_bad_configuration_is_one_clear_error(plugin, tmp_path, monkeypatch, caplog, options, plugins, message):
    import re

    from mkdocs.exceptions import MkDocsException

    _clean_env(monkeypatch)
    mk = _site(tmp_path, options, plugins=plugins)
    with pytest.raises(MkDocsException) as exc:  # a build error (an option error is logged, then aborts)
        _configure(mk)
    assert re.search(message, f"{exc.value}\n{caplog.text}"), f"{exc.value}\n{caplog.text}"


def test_template_override_folder_must_hold_pages(plugin, tmp_path, monkeypatch):
    from mkdocs.exceptions import PluginError

    _clean_env(monkeypatch)
    (tmp_path / "mine").mkdir()
    mk = _site(tmp_path, "\n      templates: mine\n")
    with pytest.raises(PluginError, match=r"mine holds no page template; valid: activations.py, .*latent.py"):
        _configure(mk)
    (tmp_path / "mine" / "gradcamm.py").write_text("")
    with pytest.raises(PluginError, match=r"gradcamm.py is not a page template; valid: activations.py, filters.py"):
        _configure(mk)


def test_plugin_generates_the_pages_and_uses_overrides(plugin, tmp_path, monkeypatch):
    """A team's site: zoo beside mkdocs.yml, an override of one template, no nav entry for
    the zoo (the plugin adds it) and mkdocs-gallery configured by the plugin."""
    _clean_env(monkeypatch)
    monkeypatch.setattr("convviz.zoo.records.test_accuracy", lambda e, **k: 0.5)
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "gradcam.py").write_text('"""Our Grad-CAM page."""\nMODEL = "{{MODEL}}"\n')
    mk = _site(tmp_path, "\n      templates: mine\n")
    monkeypatch.chdir(tmp_path)
    config = _configure(mk)
    pages = tmp_path / ".convviz" / "pages"
    ours = (pages / "m1" / "gradcam.py").read_text()  # the fingerprint comes last: model changes re-run it
    assert re.fullmatch(
        r'"""Our Grad-CAM page."""\nMODEL = "m1"\n# mkdocs_gallery_convviz_fingerprint = "\w{16}"\n', ours
    )
    assert 'MODEL = "m1"' in (pages / "m1" / "latent.py").read_text()  # the package's template
    assert "`zoo.yml`" in (pages / "README.md").read_text()
    assert config.nav == [{"Home": "index.md"}, {"Model zoo": "gallery"}]
    gallery = config.plugins["convviz"]._gallery.config
    assert [Path(p) for p in gallery["examples_dirs"]] == [(tmp_path / ".convviz" / "pages").resolve()]
    assert [Path(p) for p in gallery["gallery_dirs"]] == [(tmp_path / "docs" / "gallery").resolve()]
    assert gallery["filename_pattern"] == r"\.py$" and gallery["reset_modules"][-1].__name__ == "_reset_keras"
    import os

    assert os.environ["CONVVIZ_ZOO"] == str((tmp_path / "zoo.yml").resolve())
    assert os.environ["CONVVIZ_CACHE_DIR"] == str(tmp_path.resolve() / ".convviz-cache")


def test_project_is_found_from_any_folder(tmp_path, monkeypatch):
    """`convviz render` and the zoo commands find the zoo and template overrides the plugin
    uses, from the project folder or below it."""
    from convviz import zoo
    from convviz.store.project import find

    _clean_env(monkeypatch)
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "zoo.yml").write_text(ZOO)
    (tmp_path / "mkdocs.yml").write_text(
        "site_name: t\nmarkdown_extensions:\n  - pymdownx.emoji:\n      emoji_index: !!python/name:material.extensions.emoji.twemoji\n"
        "plugins:\n  - search\n  - convviz:\n      zoo: models/zoo.yml\n      templates: overrides\n"
    )
    (tmp_path / "docs" / "deep").mkdir(parents=True)
    monkeypatch.chdir(tmp_path / "docs" / "deep")
    found = find()
    assert found.root == tmp_path.resolve() and found.zoo == (tmp_path / "models" / "zoo.yml").resolve()
    assert found.templates == (tmp_path / "overrides").resolve()
    assert zoo.names() == ["m1"]
    bare = tmp_path / "bare"
    bare.mkdir()
    (bare / "zoo.yml").write_text(ZOO.replace("m1", "m2"))
    monkeypatch.chdir(bare)
    assert find().root == bare.resolve() and zoo.names() == ["m2"]
    monkeypatch.setenv("CONVVIZ_ZOO", str(tmp_path / "models" / "zoo.yml"))
    assert zoo.names() == ["m1"]  # the environment names the zoo; the project stays
    assert find().root == bare.resolve()


def test_init_writes_the_starter_and_never_overwrites(tmp_path):
    import yaml

    from convviz import zoo
    from convviz.cli import main
    from convviz.site.init import init

    done = {w.path: w.action for w in init(tmp_path, ci=True)}
    assert done == {
        "zoo.yml": "written",
        "mkdocs.yml": "written",
        "docs/index.md": "written",
        ".github/workflows/convviz.yml": "written",
        ".gitignore": "written",
    }
    entries = zoo.read(tmp_path / "zoo.yml")
    assert [(e.name, e.source, e.dataset) for e in entries] == [("digits-cnn", "trained", "digits")]
    mk = yaml.safe_load((tmp_path / "mkdocs.yml").read_text())
    assert {"convviz": {"zoo": "zoo.yml"}} in mk["plugins"]
    workflow = yaml.safe_load((tmp_path / ".github" / "workflows" / "convviz.yml").read_text())
    assert set(workflow["jobs"]) == {"zoo", "render", "site", "diff", "deploy"}
    assert ".convviz-cache/" in (tmp_path / ".gitignore").read_text()
    # a second run changes nothing; an edited file is kept unless --force
    (tmp_path / "zoo.yml").write_text("models: []\n")
    (tmp_path / ".gitignore").write_text("node_modules/\n.convviz/\n")
    done = {w.path: w.action for w in init(tmp_path)}
    assert done["zoo.yml"] == "kept" and done["mkdocs.yml"] == "unchanged" and done[".gitignore"] == "extended"
    assert (tmp_path / "zoo.yml").read_text() == "models: []\n"
    assert (tmp_path / ".gitignore").read_text().splitlines()[:3] == ["node_modules/", ".convviz/", ""]
    assert (tmp_path / ".gitignore").read_text().count(".convviz/") == 1
    assert main(["init", str(tmp_path), "--force"]) == 0
    assert zoo.read(tmp_path / "zoo.yml")[0].name == "digits-cnn"


def test_init_says_how_to_add_the_plugin_to_an_existing_site(tmp_path, capsys):
    from convviz.cli import main

    (tmp_path / "mkdocs.yml").write_text("site_name: ours\nplugins:\n  - search\n")
    assert main(["init", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "kept        mkdocs.yml (exists; --force overwrites it)" in out
    assert "does not use the convviz plugin yet" in out and "  - convviz:\n      zoo: zoo.yml" in out
    assert (tmp_path / "mkdocs.yml").read_text() == "site_name: ours\nplugins:\n  - search\n"
    (tmp_path / "file").write_text("")
    assert main(["init", str(tmp_path / "file")]) == 2
    assert "is a file, not a folder" in capsys.readouterr().err


def test_figures_in_prose_come_from_the_gallery_pages(plugin, tmp_path):
    from convviz.site.generate import Layout

    docs = tmp_path / "docs"
    layout = Layout(pages=tmp_path / "zoo_pages", out=docs / "gallery", docs=docs)
    (layout.pages / "m1").mkdir(parents=True)
    (layout.out / "m1").mkdir(parents=True)
    (layout.pages / "m1" / "numbers.json").write_text('{"latent": {"trust": 0.98765}}')
    (layout.out / "m1" / "latent.md").write_text(
        "![UMAP, TSNE](./images/mkd_glr_latent_001.png){: .mkd-glr-single-img}\n"
        '<img alt="conv1 — 32 channels, 3 blank" src="../images/mkd_glr_latent_002.png" class="x" />\n'
    )
    text = "{{ figure m1.latent 1 | Trust {{ number m1.latent.trust | f3 }}. }}"
    out = site_macros.fill_numbers(text, layout, "course/latent.md")
    assert out == (
        '<figure markdown="span">\n  ![UMAP, TSNE](../gallery/m1/images/mkd_glr_latent_001.png)\n'
        '  <figcaption markdown="span">Trust 0.988. [m1 · latent](../gallery/m1/latent.md)</figcaption>\n</figure>'
    )
    by_alt = site_macros.fill_numbers('{{ figure m1.latent "conv1" }}', layout, "index.md")
    assert "![conv1 — 32 channels, 3 blank](gallery/m1/images/mkd_glr_latent_002.png)" in by_alt
    assert (
        '<figcaption markdown="span">conv1 — 32 channels, 3 blank [m1 · latent](gallery/m1/latent.md)' in by_alt
    )  # its title
    assert "m2 is not built here" in site_macros.fill_numbers("{{ figure m2.latent 1 }}", layout, "index.md")
    with pytest.raises(ValueError, match=r'index.md: .*no such figure .*\(its figures: 1 "UMAP, TSNE"; 2 "conv1'):
        site_macros.fill_numbers('{{ figure m1.latent "conv9" }}', layout, "index.md")
    with pytest.raises(ValueError, match=r"index.md: .*no page 'gradcam' of m1 \(its pages: latent\)"):
        site_macros.fill_numbers("{{ figure m1.gradcam 1 }}", layout, "index.md")


def test_figure_captions_may_hold_code_and_code_shows_directives_as_written(plugin, tmp_path):
    from convviz.site.generate import Layout

    docs = tmp_path / "docs"
    layout = Layout(pages=tmp_path / "zoo_pages", out=docs / "gallery", docs=docs)
    (layout.out / "m1").mkdir(parents=True)
    (layout.out / "m1" / "latent.md").write_text("![UMAP](./images/mkd_glr_latent_001.png)\n")
    out = site_macros.fill_numbers("{{ figure m1.latent 1 | `m1` in 2-D }}", layout, "index.md")
    assert '<figcaption markdown="span">`m1` in 2-D [m1 · latent](gallery/m1/latent.md)' in out
    code = "Write `{{ figure m1.latent 1 }}`, or:\n```\n{{ figure m1.latent 1 }}\n```\n"
    assert site_macros.fill_numbers(code, layout, "index.md") == code


def test_colab_button_points_at_the_published_notebook(plugin):
    md = "[Download Jupyter notebook: latent.ipynb](./latent.ipynb){ .md-button .center}\n"
    out = site_gallery.colab_buttons(md, "team/models@gh-pages", "gallery/m1/latent.md")
    assert out == md.rstrip("\n") + (
        "\n\n[Open in Colab: latent.ipynb](https://colab.research.google.com/github/team/models/blob/gh-pages/"
        "gallery/m1/latent.ipynb){ .md-button .center }\n"
    )
    with pytest.raises(ValueError, match=r"colab must be OWNER/REPO@BRANCH, got 'team/models'"):
        site_gallery.colab_buttons(md, "team/models", "gallery/m1/latent.md")


def _static_file(tmp_path, name, data, mode):
    from mkdocs.structure.files import File

    docs, site = tmp_path / "docs", tmp_path / "site"
    (docs / "img").mkdir(parents=True, exist_ok=True)
    src = docs / "img" / name
    src.write_bytes(data)
    src.chmod(mode)
    return File(f"img/{name}", str(docs), str(site), use_directory_urls=True), src, site / "img" / name


def test_static_files_are_linked_not_copied_unless_they_cannot_be(plugin, tmp_path, monkeypatch):
    """~10,000 unit-page images: copying them was most of a rebuild with nothing to compute."""
    import os

    f, src, dest = _static_file(tmp_path, "a.png", b"png-a", 0o644)
    dest.parent.mkdir(parents=True)
    dest.write_bytes(b"old")  # a file from the last build is replaced
    site_gallery.link_instead_of_copy(f)
    f.copy_file()
    assert dest.read_bytes() == b"png-a" and os.stat(dest).st_ino == os.stat(src).st_ino
    f.copy_file(dirty=True)  # unmodified: left alone
    assert os.stat(dest).st_ino == os.stat(src).st_ino
    # a file only its owner may read is copied (the copy gets the umask's permissions)
    g, src, dest = _static_file(tmp_path, "b.png", b"png-b", 0o600)
    site_gallery.link_instead_of_copy(g)
    g.copy_file()
    assert dest.read_bytes() == b"png-b" and os.stat(dest).st_ino != os.stat(src).st_ino
    # no hard links here (another file system): copied
    h, src, dest = _static_file(tmp_path, "c.png", b"png-c", 0o644)

    def no_link(*args):
        raise OSError(18, "Invalid cross-device link")

    monkeypatch.setattr(os, "link", no_link)
    site_gallery.link_instead_of_copy(h)
    h.copy_file()
    assert dest.read_bytes() == b"png-c" and os.stat(dest).st_ino != os.stat(src).st_ino


def test_saved_images_are_readable_by_all(tmp_path):
    """A web server serving the site (whose images are links to these) must read them."""
    import numpy as np
    from matplotlib.figure import Figure

    from convviz.figures.output import save_figure, save_image

    a = save_image(tmp_path / "a.png", np.zeros((4, 4, 3)))
    b = save_figure(Figure(), tmp_path / "b.png")
    assert a.stat().st_mode & 0o777 == 0o644 and b.stat().st_mode & 0o777 == 0o644


def test_the_gallerys_deprecated_import_leaves_no_warning_in_the_build_log(plugin):
    """mkdocs-gallery imports MkDocs' deprecated warning_filter: a traceback in every log."""
    import subprocess
    import sys

    code = "from convviz.site.gallery import quiet_gallery_import; quiet_gallery_import(); import mkdocs_gallery.plugin"
    out = subprocess.run(
        [sys.executable, "-W", "error::DeprecationWarning", "-c", code], capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr[-2000:]
    out = subprocess.run(  # the check can fail: without it, the import raises
        [sys.executable, "-W", "error::DeprecationWarning", "-c", "import mkdocs_gallery.plugin"],
        capture_output=True,
        text=True,
    )
    assert out.returncode != 0 and "warning_filter" in out.stderr


@pytest.mark.slow  # trains a one-epoch model
def test_the_build_trains_first_what_is_neither_cached_nor_shipped_and_says_each_accuracy(
    plugin, tmp_path, monkeypatch, capsys, caplog
):
    """Before its workers start, the build trains (here, with its progress shown) the models
    of the pages that will run that no cache or shipped file holds; at the end it says each
    trained model's test accuracy against its goal, a miss being a warning (a strict build
    fails on it)."""
    import logging

    from convviz import zoo

    zoo_file = tmp_path / "zoo.yml"
    second = ZOO.replace("models:\n", "").replace("m1", "m2") + "    seed: 1\n"  # another recipe
    zoo_file.write_text(ZOO + "    min_accuracy: 0.999\n" + second)
    monkeypatch.setenv("CONVVIZ_ZOO", str(zoo_file))
    from convviz.site.summary import print_accuracies, train_first

    p = plugin.ConvvizPlugin()
    p._changed = {"m2": ["activations"]}  # only m2's pages run in this build
    assert zoo.needs_training(zoo.entry("m1")) and zoo.needs_training(zoo.entry("m2"))
    train_first(p._changed)
    assert zoo.needs_training(zoo.entry("m1")) and not zoo.needs_training(zoo.entry("m2"))
    assert "convviz: m2: neither cached nor shipped for its recipe: training it" in capsys.readouterr().out
    p._changed = {"m1": ["activations"]}
    train_first(p._changed)
    capsys.readouterr()
    with caplog.at_level(logging.WARNING, logger="mkdocs.plugins.convviz"):
        print_accuracies()
    out = capsys.readouterr().out
    acc = {e: zoo.test_accuracy(zoo.entry(e)) for e in ("m1", "m2")}
    assert f"convviz: m1: test accuracy {acc['m1']:.4f} (BELOW min_accuracy 1.00), trained in " in out
    assert f"convviz: m2: test accuracy {acc['m2']:.4f} (ok), trained in " in out
    assert "m1: test accuracy" in caplog.text and "below its min_accuracy 1.00" in caplog.text


@pytest.mark.slow  # a process that imports Keras: over 10 s
@default_backend_only("the gallery's reset is the same on every backend")
def test_the_first_page_reset_freezes_the_imported_heap_once(tmp_path):
    """mkdocs-gallery collects garbage before every page script; a collection scanned all of
    TensorFlow's and Keras' objects (0.42 s a page). The first reset collects once and freezes
    what is alive; the next ones freeze nothing more, and a page's own garbage is still freed."""
    import subprocess
    import sys

    probe = (
        "import gc\n"
        "from convviz.site.gallery import _reset_keras\n"
        "assert gc.get_freeze_count() == 0\n"
        "_reset_keras({}, None)\n"
        "frozen = gc.get_freeze_count()\n"
        "assert frozen > 100_000, frozen  # TensorFlow's and Keras' objects\n"
        "import weakref\n"
        "class Cycle:\n    pass\n"
        "gc.disable()  # no collection but the one below\n"
        "a, b = Cycle(), Cycle(); a.b, b.a = b, a; ref = weakref.ref(a); del a, b\n"
        "_reset_keras({}, None)\n"
        "assert gc.get_freeze_count() <= frozen and ref() is not None  # nothing more frozen\n"
        "gc.collect()\n"
        "assert ref() is None  # a page's cyclic garbage, made after the freeze: collected\n"
        "print('ok')\n"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert out.returncode == 0 and out.stdout.strip().endswith("ok"), out.stderr[-2000:]
