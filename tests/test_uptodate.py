"""The whole site's stamp (convviz.site.uptodate): a site is up to date exactly while nothing
it is built from changed, and a build that was not recorded leaves it out of date."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from convviz.site import uptodate

CMD = ["mkdocs", "build", "--strict"]


def _git(root: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=root, check=True, capture_output=True)


@pytest.fixture
def project(tmp_path, monkeypatch):
    """A git project with a convviz site: a zoo whose model file lies outside it, a page, an
    ignored output folder, a built site; recorded as freshly built."""
    monkeypatch.delenv("CONVVIZ_CACHE_DIR", raising=False)
    for k in [k for k in os.environ if k.startswith(uptodate.ENV_PREFIXES)]:
        monkeypatch.delenv(k)
    root = tmp_path / "proj"
    (root / "docs").mkdir(parents=True)
    (root / "docs" / "index.md").write_text("# Home\n")
    (root / "mkdocs.yml").write_text(
        "site_name: t\nsite_url: !ENV [SITE_URL, 'http://x']\nplugins:\n  - convviz:\n      zoo: zoo.yml\n"
    )
    outside = tmp_path / "models" / "m.keras"
    outside.parent.mkdir()
    outside.write_bytes(b"weights")
    (root / "zoo.yml").write_text(f"models:\n  - name: m\n    source: file\n    path: {outside}\n    dataset: digits\n")
    (root / ".gitignore").write_text("/site/\n.convviz-cache/\ndocs/generated/\n")
    _git(root, "init", "-q")
    (root / "site").mkdir()
    (root / "site" / "index.html").write_text("<h1>Home</h1>")
    cfg = root / "mkdocs.yml"
    fresh, why = uptodate.check(cfg, CMD)
    assert not fresh and why == "no record of an earlier build"
    assert uptodate.record(cfg)
    return cfg, outside


def _fresh(cfg: Path) -> tuple[bool, str]:
    fresh, why = uptodate.check(cfg, CMD)
    if not fresh:
        uptodate.record(cfg)  # as if built again
    return fresh, why


def test_nothing_changed_is_up_to_date_and_outputs_do_not_count(project):
    cfg, _ = project
    assert _fresh(cfg)[0]
    (cfg.parent / "docs" / "generated").mkdir()
    (cfg.parent / "docs" / "generated" / "page.md").write_text("an output of the build (ignored)")
    fresh, why = _fresh(cfg)
    assert fresh and why.startswith("site/ is up to date"), why
    assert uptodate.stamp_path(cfg).parent == cfg.parent / ".convviz-cache"  # not published with the site


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (lambda cfg, out: (cfg.parent / "docs" / "index.md").write_text("# Home, edited\n"), "project files"),
        (lambda cfg, out: (cfg.parent / "docs" / "new.md").write_text("# New\n"), "project files"),
        (lambda cfg, out: (cfg.parent / "docs" / "index.md").unlink(), "project files"),
        (lambda cfg, out: out.write_bytes(b"other weights"), "zoo"),  # outside the project
        (lambda cfg, out: out.unlink(), "zoo"),  # the entry can no longer be loaded
        (lambda cfg, out: os.environ.__setitem__("SITE_URL", "http://y"), "environment"),  # an !ENV of mkdocs.yml
        (lambda cfg, out: os.environ.__setitem__("CONVVIZ_JOBS", "1"), "environment"),
    ],
)
def test_a_changed_input_builds_again(project, change, reason, monkeypatch):
    cfg, outside = project
    monkeypatch.setenv("SITE_URL", "http://x")
    monkeypatch.setenv("CONVVIZ_JOBS", "2")
    _fresh(cfg)  # the variables' starting state recorded
    monkeypatch.setenv("UNRELATED_VARIABLE", "1")  # not an input
    assert _fresh(cfg)[0]
    change(cfg, outside)
    fresh, why = _fresh(cfg)
    assert not fresh and why == f"changed since the last build: {reason}"
    assert _fresh(cfg)[0]  # recorded: up to date again


def test_the_build_command_is_an_input(project):
    cfg, _ = project
    fresh, why = uptodate.check(cfg, ["mkdocs", "build"])
    assert not fresh and why == "changed since the last build: command"


def test_an_edited_or_deleted_page_of_the_site_builds_again(project):
    cfg, _ = project
    page = cfg.parent / "site" / "index.html"
    page.write_text("<h1>edited by hand</h1>")
    fresh, why = _fresh(cfg)
    assert not fresh and "site is missing or changed since it was built" in why
    page.unlink()
    assert not _fresh(cfg)[0]


def test_a_failed_build_leaves_it_out_of_date(project):
    cfg, _ = project
    (cfg.parent / "docs" / "index.md").write_text("# Edited\n")
    assert not uptodate.check(cfg, CMD)[0]
    # the build fails: nothing is recorded, so the next check still builds
    assert not uptodate.check(cfg, CMD)[0]
    assert not uptodate.stamp_path(cfg).exists()


def test_an_edit_made_during_the_build_builds_again(project):
    cfg, _ = project
    (cfg.parent / "docs" / "index.md").write_text("# Edited\n")
    assert not uptodate.check(cfg, CMD)[0]
    (cfg.parent / "docs" / "index.md").write_text("# Edited while the site was built\n")
    assert uptodate.record(cfg)  # the build ends
    fresh, why = uptodate.check(cfg, CMD)
    assert not fresh and why == "changed since the last build: project files"


def test_force_and_a_project_outside_git(project, tmp_path):
    cfg, _ = project
    assert uptodate.check(cfg, CMD, force=True) == (False, "a build was asked for")
    plain = tmp_path / "plain"
    plain.mkdir()
    (plain / "mkdocs.yml").write_text("site_name: t\n")
    fresh, why = uptodate.check(plain / "mkdocs.yml", CMD)
    assert not fresh and "is not a git work tree" in why


def test_the_command_line(project):
    cfg, _ = project
    run = [sys.executable, "-m", "convviz.site.uptodate"]
    probe = "import sys; from convviz.site import uptodate; r = uptodate.main(sys.argv[1:]); print('keras' in sys.modules); sys.exit(r)"
    done = subprocess.run([sys.executable, "-c", probe, "check", str(cfg), "--", *CMD], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    said, keras_imported = done.stdout.splitlines()
    assert said.startswith("convviz: site/ is up to date: nothing it is built from changed (checked in ")
    assert keras_imported == "False"  # a check that needs no Keras
    done = subprocess.run([*run, "check", "--force", str(cfg), "--", *CMD], capture_output=True, text=True)
    assert done.returncode == 1 and done.stdout.strip() == "convviz: a build was asked for: building"
    done = subprocess.run([*run, "check", str(cfg.parent / "nope.yml")], capture_output=True, text=True)
    assert done.returncode == 2 and "nope.yml: no such MkDocs file" in done.stderr


def test_outputs_git_does_not_ignore_are_not_inputs(project):
    """A project that does not ignore its site or cache folder: the build's own writes there
    (the site, the stamp) do not make the next check build again."""
    cfg, _ = project
    (cfg.parent / ".gitignore").unlink()  # a change: the next check builds once
    assert not _fresh(cfg)[0]
    (cfg.parent / "site" / "sitemap.xml").write_text("a new file of the next build")
    assert not _fresh(cfg)[0]  # the site changed since it was recorded
    fresh, why = _fresh(cfg)
    assert fresh, why
