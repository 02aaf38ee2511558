"""The built site: the real zoo (its shipped weights) rendered into a temporary copy of the project.

Builds once per session (slow, TensorFlow backend only: the site is built with the
default backend), then checks the pages, the images, rebuild caching and, in a real
headless Chromium, console errors, image sizes, search and the theme toggle.
"""

from __future__ import annotations

import functools
import html
import json
import http.server
import os
import re
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from conftest import default_backend_only

pytestmark = [
    pytest.mark.slow,
    default_backend_only("the site is built with the default (TensorFlow) backend"),
]

ROOT = Path(__file__).resolve().parents[1]
MODELS = ("digits-cnn", "shapes-cnn", "shapes-xception")
PAGES = ("activations", "filters", "gradcam", "attributions", "latent")
# The real zoo: its trained models come from the shipped weights (nothing is trained); the
# ImageNet entries are skipped (no weights offline). To keep the build short, as a team's zoo
# would: shapes-xception's unit pages only for two of its eight layers (the `units:` key), and
# every model's pages on a pass budget (`budget: {passes: ...}`): every page and section is
# built, the budgeted ones on fewer images and steps than the published site's (its numbers are
# the build's own; the full recipe is what `make site` builds).
ZOO_UNITS = {"shapes-xception": ["block1_conv1_act", "block4_sepconv2_act"]}
PASSES = 3000


def _test_zoo() -> str:
    import yaml

    doc = yaml.safe_load((ROOT / "gallery" / "zoo.yml").read_text())
    for entry in doc["models"]:
        if entry["name"] in ZOO_UNITS:
            entry["units"] = ZOO_UNITS[entry["name"]]
        entry["budget"] = {**entry.get("budget", {}), "passes": PASSES}
    return yaml.safe_dump(doc, sort_keys=False)


def _copy_project(dest: Path) -> None:
    shutil.copy(ROOT / "mkdocs.yml", dest / "mkdocs.yml")
    shutil.copytree(
        ROOT / "docs", dest / "docs", ignore=shutil.ignore_patterns("gallery", "figures", "generated", "__pycache__")
    )
    shutil.copytree(
        ROOT / "gallery", dest / "gallery", ignore=shutil.ignore_patterns("zoo_pages", "__pycache__", "numbers.json")
    )
    (dest / "gallery" / "zoo_pages").mkdir()
    (dest / "gallery" / "zoo.yml").write_text(_test_zoo())
    (dest / "convviz").symlink_to(ROOT / "convviz")  # mkdocstrings reads the sources
    shutil.copytree(ROOT / ".github", dest / ".github")  # the CI page includes the workflow
    shutil.copytree(
        ROOT / "benchmarks",
        dest / "benchmarks",  # the performance page's results
        ignore=shutil.ignore_patterns("__pycache__"),
    )


def _env(project: Path, cache: Path) -> dict[str, str]:
    env = {
        **os.environ,
        "KERAS_BACKEND": "tensorflow",
        "CONVVIZ_CACHE_DIR": str(cache),
        "CONVVIZ_ZOO": str(project / "gallery" / "zoo.yml"),
        "TF_CPP_MIN_LOG_LEVEL": "3",
        "NO_MKDOCS_2_WARNING": "1",
        "KERAS_HOME": str(project / "keras-home"),
        "CONVVIZ_JOBS": "1",  # the builds read the merged render caches: no worker processes
    }
    env.pop("CONVVIZ_ALLOW_DOWNLOAD", None)
    return env


# `mkdocs build --strict` that says at its end whether Keras was imported
_PROBED = (
    "import sys\nfrom mkdocs.__main__ import cli\nsys.argv = ['mkdocs', 'build', '--strict']\ncode = 0\n"
    "try:\n    cli()\nexcept SystemExit as exc:\n    code = exc.code\n"
    "print('keras imported:', 'keras' in sys.modules)\nsys.exit(code)\n"
)


def _build(project: Path, cache: Path, *, probe: bool = False) -> subprocess.CompletedProcess:
    proc = subprocess.run(
        [sys.executable, "-c", _PROBED] if probe else [sys.executable, "-m", "mkdocs", "build", "--strict"],
        cwd=project,
        env=_env(project, cache),
        capture_output=True,
        text=True,
        timeout=1500,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-6000:]
    return proc


def _convviz(project: Path, cache: Path, *args: str, stdout=subprocess.PIPE) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "convviz.cli", *args],
        cwd=project,
        env=_env(project, cache),
        stdout=stdout,
        stderr=subprocess.STDOUT,
        text=True,
    )


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """The CI split: one process per model renders it into its own cache (in parallel, as
    the workflow's matrix does), the caches are merged, then the site is built from the
    merged cache."""
    project = tmp_path_factory.mktemp("project")
    _copy_project(project)
    parts = [tmp_path_factory.mktemp(f"cache_{m}") for m in MODELS]
    cache = tmp_path_factory.mktemp("cache")
    logs = [project / f"render-{m}.log" for m in MODELS]  # files: a full pipe would block a job
    jobs = []
    for m, part, log in zip(MODELS, parts, logs):
        with log.open("w") as f:
            jobs.append(_convviz(project, part, "render", m, "--out", "renders", stdout=f))
    for job, log in zip(jobs, logs):
        job.wait(timeout=1500)
        assert job.returncode == 0, log.read_text()[-4000:]
    merge = _convviz(project, cache, "cache", "merge", *map(str, parts))
    out, _ = merge.communicate(timeout=300)
    assert merge.returncode == 0, out
    before = sorted(p.name for p in cache.iterdir() if not p.name.startswith("."))
    first = _build(project, cache)
    after = sorted(p.name for p in cache.iterdir() if not p.name.startswith("."))
    return project, cache, first, before, after


def _html(site: Path, rel: str) -> str:
    return (site / rel / "index.html").read_text(encoding="utf-8")


def test_every_model_has_its_five_pages(built):
    site = built[0] / "site"
    for model in MODELS:
        for page in PAGES:
            html = _html(site, f"gallery/{model}/{page}")
            assert model in html
    assert not (site / "gallery" / "xception-imagenet").exists()
    # digits-cnn has compare_to (a variant without augmentation): its changes page, linked
    changes = re.sub(r"<[^>]+>", "", _html(site, "gallery/digits-cnn/changes"))  # output lines are highlighted
    assert "old: digits-cnn with augment: none" in changes and "predictions flipped" in changes
    assert "randomization check: old passes" in changes or "randomization check: old fails" in changes
    assert not (site / "gallery" / "shapes-cnn" / "changes").exists()
    assert "digits-cnn/changes/" in _html(site, "gallery") and "shapes-cnn/changes/" not in _html(site, "gallery")
    index = _html(site, "gallery")
    assert "Not built here: 2 models" in index and "xception-imagenet (keras.applications)" in index
    assert "not in the Keras cache" in index


def test_images_resolve_and_open(built):
    from PIL import Image

    site = built[0] / "site"
    count = 0
    for html_file in site.rglob("*.html"):
        html = html_file.read_text(encoding="utf-8")
        for src in re.findall(r'<img[^>]+src="([^"]+)"', html):
            if src.startswith(("http:", "https:", "data:")):
                continue
            target = (html_file.parent / src.split("#")[0]).resolve()
            assert target.is_file(), f"{html_file.relative_to(site)}: missing image {src}"
            if target.suffix == ".svg":  # a drawing: well-formed XML with a root <svg>
                import xml.etree.ElementTree as ET

                assert ET.parse(target).getroot().tag.endswith("svg"), target
            else:
                with Image.open(target) as img:
                    img.verify()
            count += 1
    assert count > 50


def test_no_broken_examples_and_no_tracebacks(built):
    site = built[0] / "site"
    for html_file in (site / "gallery").rglob("*.html"):
        html = html_file.read_text(encoding="utf-8")
        assert "broken_example" not in html, html_file
        assert "Traceback (most recent call last)" not in html, html_file


_LEAKS = re.compile(
    r"\w*Warning\b|site-packages|/usr/lib|/root/|/home/|/tmp/|pytest-of-|"
    r"object at 0x[0-9a-f]+|&lt;Axes|array\(\[\[&lt;|&lt;matplotlib|&lt;Figure"
)


def test_no_warning_path_or_repr_in_any_page(built):
    site = built[0] / "site"
    pages = list((site / "gallery").rglob("*.html")) + list((site / "course").rglob("*.html"))
    assert len(pages) > 12
    for html_file in pages:
        text = re.sub(r"<script.*?</script>", "", html_file.read_text(encoding="utf-8"), flags=re.S)
        # the folded code may name a warning it silences; what a reader is shown may not
        text = re.sub(r'<details class="convviz-code">.*?</details>', "", text, flags=re.S)
        found = _LEAKS.findall(text)
        assert not found, f"{html_file.relative_to(site)}: {sorted(set(found))}"


def test_prose_numbers_come_from_the_build(built):
    site = built[0] / "site"
    for html_file in site.rglob("*.html"):
        prose = re.sub(r"<code.*?</code>", "", html_file.read_text(encoding="utf-8"), flags=re.S)
        assert "{{ number" not in prose and "{{ table" not in prose, html_file.relative_to(site)
    text = _html(site, "course/gradcam")
    assert "{{" not in text and "number course." not in text
    numbers = json.loads((built[0] / "gallery" / "course" / "numbers.json").read_text())
    shown = f"{numbers['ring_or_circle']['rings_region']:.1%}"
    assert shown in text


def test_pages_show_their_numbers(built):
    site = built[0] / "site"
    gradcam = _html(site, "gallery/shapes-cnn/gradcam")
    assert "pointing game" in gradcam and "center baseline" in gradcam and "passes" in gradcam
    attr = _html(site, "gallery/shapes-cnn/attributions")
    for words in (
        "Integrated Gradients completeness",
        "Pass the randomization check",
        "deletion",
        "Best pixel-level localizer",
        "Guided Backprop",
    ):
        assert words in attr, words
    latent = _html(site, "gallery/digits-cnn/latent")
    assert "trustworthiness" in latent
    acts = _html(site, "gallery/digits-cnn/activations")
    assert "blank" in acts
    # every course example runs (not only those a pattern names): the chapter's model, offline
    chapter = html.unescape(_html(site, "course/figures/the_chapters_model"))
    assert "this build could not use the chapter's model" in chapter  # said first, before any figure
    assert chapter.index("could not use the chapter") < chapter.index("<img")
    assert "filters in" in chapter and "Top-5:" in chapter and chapter.count("<img") >= 2
    assert "test accuracy" in _html(site, "gallery")


def test_build_output_summarizes_times(built):
    out = built[2].stdout + built[2].stderr
    assert "convviz: gallery pages run in this build" in out
    assert "skipping zoo model xception-imagenet" in out
    for model in ("digits-cnn", "shapes-cnn", "shapes-xception", "digits-cnn-variant"):  # the models' goals
        assert re.search(rf"^convviz: {model}: test accuracy 0\.9\d+ \(ok\), from the shipped weights$", out, re.M), (
            model
        )


def test_renders_have_figures_and_manifests(built):
    import json

    renders = built[0] / "renders"
    for model in MODELS:
        manifest = json.loads((renders / model / "manifest.json").read_text())
        extra = {"changes"} if model == "digits-cnn" else set()  # the entry with compare_to
        assert set(manifest["pages"]) == {*PAGES, *extra, "units", "classes", "concepts", "atlas", "layers", "explorer"}
        assert manifest["test_accuracy"] > 0.1
        assert manifest["pages"]["units"]["layers"]
        assert len(list((renders / model).glob("*.png"))) >= 8
    shapes = json.loads((renders / "shapes-cnn" / "manifest.json").read_text())["pages"]
    assert 0 <= shapes["gradcam"]["pointing_game"]["gradcam"] <= 1
    evidence = shapes["attributions"]["evidence"]
    assert set(evidence) >= {"gradcam", "integrated_gradients", "guided_backprop", "random baseline"}
    assert evidence["integrated_gradients"]["randomization"] in ("passes", "fails", "degenerate")
    assert "trustworthiness_umap" in shapes["latent"] and "blank_share_mean" in shapes["activations"]


def test_site_from_merged_caches_recomputes_nothing(built):
    _, _, _, before, after = built
    assert len(before) > 20  # models, their accuracy, filters, CAMs, checks, embeddings, projections
    # the build wrote no new result: everything came from the renders (the course's example
    # scripts, which no render runs, record only how long their first run took)
    results = [k for k in after if not k.startswith("page-seconds-")]
    assert results == [k for k in before if not k.startswith("page-seconds-")], sorted(set(after) - set(before))


def _public_only(code: str, where: str) -> None:
    """The code uses convviz's public API only: no private module or name, no convviz.site."""
    import ast

    code = "\n".join(line for line in code.splitlines() if not line.lstrip().startswith(("%", "!")))
    for node in ast.walk(ast.parse(code)):
        names: list[str] = []
        if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "convviz":
            names = [*node.module.split("."), *(a.name for a in node.names)]
        elif isinstance(node, ast.Import):
            names = [part for a in node.names if a.name.split(".")[0] == "convviz" for part in a.name.split(".")]
        elif isinstance(node, ast.Attribute):
            chain, inner = [node.attr], node.value
            while isinstance(inner, ast.Attribute):
                chain.insert(0, inner.attr)
                inner = inner.value
            if isinstance(inner, ast.Name) and inner.id == "convviz":
                names = ["convviz", *chain]
        bad = [n for n in names if n.startswith("_") or n == "site"]
        assert not bad, f"{where}: uses {'.'.join(names)}"


def test_downloaded_scripts_and_notebooks_run_as_downloaded(built, tmp_path):
    """A reader downloads a page's notebook: it uses the public API only, carries no build
    fingerprint, and runs top to bottom in a fresh kernel, offline, in another folder."""
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    project, cache = built[0], built[1]
    folder = project / "site" / "gallery" / "digits-cnn"
    pages = [*PAGES, "changes"]
    for page in pages:
        script = (folder / f"{page}.py").read_text(encoding="utf-8")
        _public_only(script, f"{page}.py")
        assert "fingerprint" not in script and "{{" not in script, page
    env = _env(project, cache)
    for page in pages:
        nb = nbformat.read(folder / f"{page}.ipynb", as_version=4)
        code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
        _public_only(code, f"{page}.ipynb")
        assert "fingerprint" not in code, page
        client = nbclient.NotebookClient(
            nb, timeout=900, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
        )
        client.execute(env=env)  # raises CellExecutionError, with the cell and traceback, on any error
        images = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs if "image/png" in o.get("data", {})]
        assert images, f"{page}.ipynb showed no figure"
    assert not (tmp_path / "numbers.json").exists()  # convviz.record writes only during a build


def test_a_page_says_how_long_its_cached_results_took_to_compute(built):
    """The renders computed the results; the build read them: each gradient page's footer says
    the seconds its results took where they were computed (before, it said the time of the
    page's first run, which may have read them all from an older cache)."""
    site = built[0] / "site"
    for page in ("filters", "gradcam", "attributions"):
        text = html.unescape(re.sub(r"<[^>]+>", "", _html(site, f"gallery/shapes-cnn/{page}")))
        found = re.search(r"its cached results took ([\d.]+) s to compute; this build ran the page in ([\d.]+) s", text)
        assert found, page
        assert float(found[1]) > 0, page


def test_rebuild_runs_only_what_changed(built):
    project, cache = built[0], built[1]
    again = _build(project, cache, probe=True)
    assert "executed 0 out of 0" in again.stdout + again.stderr
    # learning that nothing changed needs no Keras (importing TensorFlow alone takes seconds)
    assert "keras imported: False" in again.stdout
    zoo_file = project / "gallery" / "zoo.yml"
    # digits-cnn only; one epoch misses its accuracy goal, which would fail the strict build
    zoo_file.write_text(zoo_file.read_text().replace("epochs: 20", "epochs: 1").replace("min_accuracy: 0.97", ""))
    changed = _build(project, cache)
    out = changed.stdout + changed.stderr
    assert (
        "convviz: digits-cnn: pages to (re)build: activations, filters, gradcam, attributions, latent, changes" in out
    )
    assert "shapes-cnn: pages to" not in out and "shapes-xception: pages to" not in out
    assert "executed 6 out of 6" in out  # its five pages and its changes page
    assert "convviz: digits-cnn: neither cached nor shipped for its recipe: training it" in out  # first, in view
    assert "convviz: digits-cnn: unit pages of 3 layers written" in out
    assert "shapes-cnn: unit pages" not in out and "shapes-xception: unit pages" not in out


def test_every_unit_of_every_conv_layer_has_its_anchor_and_images(built):
    project = built[0]
    site = project / "site"
    for model in MODELS:
        layers = json.loads((project / "docs" / "gallery" / model / "units" / "layers.json").read_text())
        index = _html(site, f"gallery/{model}/units")
        assert "receptive field" in index
        paged = [layer for layer, info in layers.items() if info["page"]]
        assert paged == ZOO_UNITS.get(model, list(layers)), model  # the zoo's `units:` or every layer
        for layer, info in layers.items():
            assert f"{info['receptive_field'][0]}×{info['receptive_field'][1]}" in index
            assert (f'href="{layer}/"' in index) == info["page"], (model, layer)
            if not info["page"]:
                assert not (site / "gallery" / model / "units" / layer).exists()
                continue
            page = _html(site, f"gallery/{model}/units/{layer}")
            for unit in range(info["units"]):
                assert f'id="unit-{unit}"' in page, (model, layer, unit)
                assert f'href="#unit-{unit}"' in page
                for src in (f"u{unit}.png", *(f"u{unit}_e{j}.png" for j in range(9))):
                    assert f'src="{src}"' in page and (site / "gallery" / model / "units" / layer / src).is_file()
            assert page.count('<svg class="cv-hist"') == info["units"]
    shapes = json.loads((project / "docs" / "gallery" / "shapes-cnn" / "units" / "layers.json").read_text())
    assert list(shapes) == ["block1_relu1", "block2_relu1", "block3_relu1", "block3_relu2", "block4_relu1"]
    assert shapes["block1_relu1"]["receptive_field"] == [3, 3] and shapes["block4_relu1"]["jump"] == [8, 8]
    assert "units/index.md" in (project / "gallery" / "zoo_pages" / "shapes-cnn" / "README.md").read_text()


# ----------------------------------------------------------------------------- browser

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def server(built):
    site = built[0] / "site"
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(site))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


@pytest.fixture(scope="module")
def browser():
    if CHROMIUM is None:
        pytest.skip("chromium is not installed (apt-get install chromium): browser checks skipped")
    playwright = pytest.importorskip("playwright.sync_api")
    with playwright.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield b
        b.close()


@pytest.mark.browser
@pytest.mark.parametrize(
    "path",
    [
        "",
        "course/",
        "gallery/",
        "gallery/shapes-cnn/gradcam/",
        "gallery/shapes-cnn/attributions/",
        "gallery/digits-cnn/activations/",
        "course/activations/",  # the course pages show the zoo's figures inline
        "course/filters/",
        "course/gradcam/",
        "course/latent/",
        "api/",
        "performance/",
    ],
)
def test_pages_load_without_console_errors(browser, server, path):
    page = browser.new_page()
    errors, foreign = _watch(page)
    page.goto(f"{server}/{path}", wait_until="networkidle")
    page.evaluate("() => document.querySelectorAll('article img').forEach(i => i.loading = 'eager')")
    page.wait_for_load_state("networkidle")
    sizes = page.eval_on_selector_all("article img", "imgs => imgs.map(i => [i.src, i.naturalWidth])")
    page.close()
    assert not errors, errors
    assert not foreign, foreign  # no request leaves the site
    assert all(width > 0 for _, width in sizes), [s for s, w in sizes if w == 0]
    if path.startswith("course/") and path != "course/":
        assert sum(1 for src, _ in sizes if "/gallery/" in src or "/figures/" in src) >= 1, sizes


@pytest.mark.browser
def test_search_finds_a_model(browser, server):
    page = browser.new_page()
    page.goto(f"{server}/", wait_until="networkidle")
    page.click("label.md-search__icon, .md-search__input")
    page.locator("input.md-search__input").press_sequentially("xception", delay=30)  # key events
    page.wait_for_selector(".md-search-result__item", timeout=15000)
    text = page.inner_text(".md-search-result")
    page.close()
    assert "xception" in text.lower()


@pytest.mark.browser
def test_search_finds_a_unit_and_its_images_load(browser, server):
    page = browser.new_page()
    page.goto(f"{server}/", wait_until="networkidle")
    page.click("label.md-search__icon, .md-search__input")
    page.locator("input.md-search__input").press_sequentially("shapes-cnn block3_relu1 12", delay=30)
    # results update as the query is typed (and, under load, lag behind it): wait for the
    # full query's, then read them (a timeout falls through to the assertions, which show them)
    try:
        page.wait_for_function(
            "() => { const l = Array.from(document.querySelectorAll('.md-search-result__link')).slice(0, 3);"
            " return l.some(a => a.href.includes('units/block3_relu1/'))"
            " && l.some(a => a.href.endsWith('#unit-12')); }",
            timeout=20000,
        )
    except Exception:  # playwright's TimeoutError
        pass
    links = page.locator(".md-search-result__link")
    top = [links.nth(i).get_attribute("href") for i in range(min(3, links.count()))]
    page.close()
    assert any("units/block3_relu1/" in h for h in top), top  # the layer's page, the unit among its sections
    assert any("units/block3_relu1/" in h and h.endswith("#unit-12") for h in top), top
    page = browser.new_page()
    page.goto(f"{server}/gallery/shapes-cnn/units/block3_relu1/#unit-12", wait_until="networkidle")
    page.wait_for_timeout(500)
    sizes = page.eval_on_selector_all("#unit-12 ~ div img", "imgs => imgs.slice(0, 10).map(i => i.naturalWidth)")
    page.close()
    assert len(sizes) == 10 and all(w > 0 for w in sizes), sizes


@pytest.mark.browser
def test_theme_toggle(browser, server):
    page = browser.new_page(color_scheme="light")
    page.goto(f"{server}/", wait_until="networkidle")
    before = page.get_attribute("body", "data-md-color-scheme")
    page.click("label.md-header__button[for^='__palette']:visible")
    page.wait_for_timeout(300)
    after = page.get_attribute("body", "data-md-color-scheme")
    page.close()
    assert (before, after) == ("default", "slate")


def _watch(page) -> tuple[list[str], list[str]]:
    """Console errors and requests to another host, on a Playwright page."""
    errors: list[str] = []
    foreign: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("request", lambda r: foreign.append(r.url) if not r.url.startswith(("http://127.0.0.1", "data:")) else None)
    return errors, foreign


@pytest.mark.browser
@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_embedding_explorer_hover_click_and_filter(browser, server, built, scheme):
    """On a latent page: hovering a point shows its image with its classes (read back from
    the data), clicking shows its Grad-CAM, the class filter hides the other points."""
    data = json.loads((built[0] / "site" / "gallery" / "shapes-cnn" / "explorer" / "data.json").read_text())
    page = browser.new_page(color_scheme=scheme, viewport={"width": 1200, "height": 900})
    errors, foreign = _watch(page)
    page.goto(f"{server}/gallery/shapes-cnn/latent/", wait_until="networkidle")
    widget = page.locator(".convviz-explorer-widget[data-ready='1']")
    widget.wait_for(timeout=15000)
    widget.scroll_into_view_if_needed()
    wrong = [i for i in range(data["points"]) if data["label"][i] >= 0 and data["label"][i] != data["pred"][i]]
    i = wrong[0] if wrong else 0
    box = page.locator(".convviz-explorer-canvas").bounding_box()
    xy = page.evaluate(f"() => window.convvizExplorers[0].screen({i})")
    # the nearest point to its own position is itself, unless another sits on it: pick one alone
    page.mouse.move(box["x"] + xy[0], box["y"] + xy[1])
    tip = page.locator(".convviz-explorer-tip")
    tip.wait_for(state="visible", timeout=5000)
    shown = page.evaluate("() => window.convvizExplorers[0].hover")
    truth = data["classes"][data["label"][shown]] if data["label"][shown] >= 0 else "no label"
    text = tip.inner_text()
    assert f"true: {truth}" in text and f"predicted: {data['classes'][data['pred'][shown]]}" in text, text
    assert f"outlier score: {data['score'][shown]:.2f}" in text
    tip_pixels = page.evaluate(
        "() => { const c = document.querySelector('.convviz-explorer-tip canvas');"
        " const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;"
        " let s = 0; for (let k = 0; k < d.length; k += 4) s += d[k] + d[k+1] + d[k+2]; return [c.width, s]; }"
    )
    assert tip_pixels[0] > 0 and tip_pixels[1] > 0, tip_pixels  # the image is drawn
    page.mouse.click(box["x"] + xy[0], box["y"] + xy[1])
    cam = page.locator(".convviz-explorer-panel canvas.convviz-explorer-cams")
    cam.wait_for(timeout=5000)
    assert f"Grad-CAM for {data['classes'][data['pred'][shown]]}" in page.inner_text(".convviz-explorer-panel")
    colorful = page.evaluate(
        "() => { const c = document.querySelector('canvas.convviz-explorer-cams');"
        " const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;"
        " let n = 0; for (let k = 0; k < d.length; k += 4) if (Math.abs(d[k] - d[k+2]) > 40) n++; return n; }"
    )
    assert colorful > 0  # a heatmap, not the gray image
    if wrong and shown in wrong:  # a misclassified point: both classes' maps, and links to them
        assert page.locator(".convviz-explorer-panel canvas.convviz-explorer-cams-true").count() == 1
        t, p = data["label"][shown], data["pred"][shown]
        hrefs = page.eval_on_selector_all(".convviz-explorer-panel a", "els => els.map(e => e.href)")
        assert hrefs[-1].endswith(f"/gallery/shapes-cnn/classes/#confused-{t}-{p}"), hrefs
        assert f'id="confused-{t}-{p}"' in _html(built[0] / "site", "gallery/shapes-cnn/classes")
    total = page.evaluate("() => window.convvizExplorers[0].visibleCount()")
    assert total == data["points"]
    page.locator(".convviz-explorer-classes input[value='0']").uncheck()
    keep = sum(
        1 for k in range(data["points"]) if (data["label"][k] if data["label"][k] >= 0 else data["pred"][k]) != 0
    )
    assert page.evaluate("() => window.convvizExplorers[0].visibleCount()") == keep
    hidden = next(k for k in range(data["points"]) if data["label"][k] == 0)
    xy = page.evaluate(f"() => window.convvizExplorers[0].screen({hidden})")
    page.mouse.move(box["x"] + xy[0], box["y"] + xy[1])
    page.wait_for_timeout(100)
    now = page.evaluate("() => window.convvizExplorers[0].hover")
    assert now == -1 or data["label"][now] != 0  # a hidden point is never picked
    page.close()
    assert not errors, errors
    assert not foreign, foreign


@pytest.mark.browser
def test_embedding_explorer_paints_10000_points_within_a_second(browser, server, built, tmp_path):
    """A synthetic 10,000-point explorer beside the built one: first paint < 1 s."""
    import numpy as np

    site = built[0] / "site"
    src = site / "gallery" / "shapes-cnn" / "explorer"
    big = site / "bigexplorer"
    big.mkdir(exist_ok=True)
    data = json.loads((src / "data.json").read_text())
    rng = np.random.default_rng(0)
    n = 10_000
    data.update(
        x=rng.normal(size=n).round(3).tolist(),
        y=rng.normal(size=n).round(3).tolist(),
        label=rng.integers(0, len(data["classes"]), n).tolist(),
        pred=rng.integers(0, len(data["classes"]), n).tolist(),
        prob=rng.random(n).round(3).tolist(),
        score=rng.random(n).round(3).tolist(),
        points=n,
        of=n,
        suspicious=list(range(12)),
        images=str(src / "images.png").replace(str(site), ""),
        cams=str(src / "cams.png").replace(str(site), ""),
        true_cam=[],  # no point here has a true-class map to fetch
    )
    data.pop("cams_true", None)
    (big / "data.json").write_text(json.dumps(data))
    (big / "index.html").write_text(
        '<!doctype html><html><head><link rel="icon" href="data:,">'
        '<link rel="stylesheet" href="/assets/convviz/explorer.css"></head><body>'
        '<a class="convviz-explorer" href="data.json">data</a>'
        '<script src="/assets/convviz/explorer.js"></script></body></html>'
    )
    page = browser.new_page(viewport={"width": 1200, "height": 900})
    errors, foreign = _watch(page)
    page.goto(f"{server}/bigexplorer/", wait_until="networkidle")
    page.locator(".convviz-explorer-widget[data-ready='1']").wait_for(timeout=10000)
    first_paint = int(page.get_attribute(".convviz-explorer-widget", "data-first-paint"))
    assert page.evaluate("() => window.convvizExplorers[0].visibleCount()") == n
    page.close()
    assert first_paint < 1000, f"first paint {first_paint} ms"
    assert not errors and not foreign, (errors, foreign)


@pytest.mark.browser
def test_layer_browser_shows_the_chosen_layer_and_image(browser, server, built):
    data = json.loads((built[0] / "site" / "gallery" / "shapes-cnn" / "layers" / "browser.json").read_text())
    page = browser.new_page(viewport={"width": 1200, "height": 900})
    errors, foreign = _watch(page)
    page.goto(f"{server}/gallery/shapes-cnn/activations/", wait_until="networkidle")
    page.locator(".convviz-layers-widget[data-ready='1']").wait_for(timeout=15000)
    last = len(data["layers"]) - 1
    page.select_option(".convviz-layers-select", str(last))
    page.locator(".convviz-layers-thumb").nth(2).click()
    page.wait_for_function(
        "() => { const m = document.querySelector('.convviz-layers-mosaic'); return m.complete && m.naturalWidth > 0; }"
    )
    src = page.get_attribute(".convviz-layers-mosaic", "src")
    alt = page.get_attribute(".convviz-layers-mosaic", "alt")
    layer = data["layers"][last]
    assert src.endswith(f"a2_{last}.png")
    assert alt.startswith(f"Every channel of {layer['name']}: ") and f"{layer['blank'][2]} blank for image 3" in alt
    assert f"predicted {data['images'][2]['pred']}" in alt
    page.locator(".convviz-layers-widget").press("ArrowLeft")  # the keyboard steps through the layers
    assert page.get_attribute(".convviz-layers-mosaic", "src").endswith(f"a2_{last - 1}.png")
    page.close()
    assert not errors and not foreign, (errors, foreign)
    assert [entry["name"] for entry in data["layers"]][0] == "block1_relu1"


def test_every_figure_has_alt_text(built):
    """Every image of the gallery and the course says what it shows (its alt text)."""
    site = built[0] / "site"
    missing = []
    for page in [*(site / "gallery").rglob("index.html"), *(site / "course").rglob("index.html")]:
        for tag in re.findall(r"<img\b[^>]*>", page.read_text(encoding="utf-8")):
            alt = re.search(r'\balt="([^"]*)"', tag)
            if alt is None or len(alt.group(1).strip()) < 3:
                missing.append(f"{page.relative_to(site)}: {tag[:120]}")
    assert not missing, missing[:10]


# ----------------------------------------------------------------------------- as a reader sees it

DEVICES = {
    "desktop": {"viewport": {"width": 1400, "height": 900}},
    "phone": {
        "viewport": {"width": 390, "height": 844},
        "device_scale_factor": 2,
        "is_mobile": True,
        "has_touch": True,
    },
}
GALLERY_PAGES = [f"gallery/{m}/{p}/" for m in MODELS for p in PAGES] + ["gallery/digits-cnn/changes/"]
READER_PAGES = [
    "",
    "gallery/",
    *GALLERY_PAGES,
    "gallery/shapes-cnn/units/",
    "gallery/shapes-cnn/units/block3_relu1/",
    "gallery/shapes-cnn/classes/",
    "course/activations/",
    "course/gradcam/",
    "course/figures/the_chapters_model/",
]

# WCAG 2 contrast of an element's text on the colour it is drawn on (the first opaque
# background up its ancestors; the page's own background at the top)
_CONTRAST = """(sel) => {
  const rgba = (c) => (c.match(/[\\d.]+/g) || []).map(Number);
  const lum = ([r, g, b]) => [r, g, b].map(v => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; })
    .reduce((s, v, i) => s + v * [0.2126, 0.7152, 0.0722][i], 0);
  const bg = (e) => { for (; e; e = e.parentElement) { const c = rgba(getComputedStyle(e).backgroundColor);
      if (c.length >= 3 && (c.length < 4 || c[3] > 0.5)) return c; }
    return rgba(getComputedStyle(document.body).backgroundColor); };
  return Array.from(document.querySelectorAll(sel)).filter(e => e.innerText.trim()).map(e => {
    const a = lum(rgba(getComputedStyle(e).color)), b = lum(bg(e));
    return [e.innerText.trim().slice(0, 40), (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05)];
  });
}"""


def _shots_dir(tmp_path_factory) -> Path:
    """Where the reader's screenshots go: $CONVVIZ_SCREENSHOTS (to look at them), else a
    temporary folder. Never the repository."""
    folder = os.environ.get("CONVVIZ_SCREENSHOTS")
    return Path(folder) if folder else tmp_path_factory.mktemp("screenshots")


# A reader whose system prefers a dark theme: the media query answers "dark" and Material's palette
# takes the scheme that query selects, by its own change handler (as at a page load with that
# preference); each page of the test loads with nothing remembered, as a light reader's would.
_TO_DARK = """() => {
  const dark = document.querySelector("input[data-md-color-media='(prefers-color-scheme: dark)']");
  dark.checked = true;
  dark.dispatchEvent(new Event("change", {bubbles: true}));
}"""


def _settled(page) -> None:
    """The page and what it draws with (styles, fonts) loaded, every image of the first screen,
    no CSS transition running (a link's colour fades to the new scheme's), and two frames drawn
    since: the state a reader sees, waited for rather than slept on. The search index, fetched
    later, and the lazy images below change nothing there."""
    page.wait_for_function(
        "() => document.fonts.status === 'loaded' && Array.from(document.images).filter((i) =>"
        " i.offsetParent !== null && i.getBoundingClientRect().top < window.innerHeight).every((i) => i.complete)"
        " && document.getAnimations().every((a) => a.playState !== 'running')"
    )
    page.evaluate("() => new Promise((done) => requestAnimationFrame(() => requestAnimationFrame(done)))")


def _as_seen(page, path: str, shot: Path) -> list[str]:
    """The reader's checks of the page as it is drawn now, and its first-screen screenshot."""
    problems = []
    page.screenshot(path=str(shot))
    height = page.evaluate("() => window.innerHeight")
    if path in GALLERY_PAGES:
        top = page.evaluate(
            "() => { const f = document.querySelector('article img, article canvas');"
            " return f ? f.getBoundingClientRect().top + window.scrollY : null; }"
        )
        if top is None or top >= height:
            problems.append(f"{path}: the first figure starts at {top} px, below the first screen ({height} px)")
    for text, ratio in page.evaluate(
        _CONTRAST, ".mkd-glr-script-out-disp, article td, article th, article p, article button, article a.md-button"
    ):
        if ratio < 4.5:
            problems.append(f"{path}: {text!r} at contrast {ratio:.2f}:1")
    wide = page.evaluate("() => document.scrollingElement.scrollWidth - window.innerWidth")
    if wide > 1:
        problems.append(f"{path}: the page is {wide} px wider than the screen")
    return problems


@pytest.mark.browser
@pytest.mark.parametrize("device", list(DEVICES))
def test_pages_as_a_reader_sees_them(browser, server, device, tmp_path_factory):
    """On a desktop and a phone, light and dark: each gallery page's first figure is in the
    first screen, every output block and table reads at a contrast of 4.5:1 or more, nothing
    runs wider than the screen. A first-screen screenshot of every page kind is kept. Each page
    is loaded once per device, by a reader whose system prefers light, then drawn as a reader
    who prefers dark gets it (the theme toggle's own test checks the toggle)."""
    shots = _shots_dir(tmp_path_factory)
    shots.mkdir(parents=True, exist_ok=True)
    problems = []
    context = browser.new_context(color_scheme="light", **DEVICES[device])
    context.add_init_script("localStorage.clear()")  # no page remembers the last one's scheme
    for path in READER_PAGES:
        page = context.new_page()
        page.goto(f"{server}/{path}", wait_until="load")
        _settled(page)
        name = path.strip("/").replace("/", "_") or "home"
        assert page.get_attribute("body", "data-md-color-scheme") == "default", path
        problems += _as_seen(page, path, shots / f"{name}-{device}-light.png")
        page.emulate_media(color_scheme="dark")
        page.evaluate(_TO_DARK)
        page.wait_for_function("() => document.body.getAttribute('data-md-color-scheme') === 'slate'")
        _settled(page)
        problems += [f"(dark) {p}" for p in _as_seen(page, path, shots / f"{name}-{device}-dark.png")]
        page.close()
    context.close()
    assert not problems, problems[:20]


def test_every_unit_layer_and_class_page_is_in_the_navigation(built):
    """The sidebar of a model's page links its layer index, every layer page and its class page."""
    site = built[0] / "site"
    for model in MODELS:
        html = _html(site, f"gallery/{model}/activations")
        nav = html[html.index("md-nav--primary") : html.index('class="md-content"')]
        here = site / f"gallery/{model}/activations"
        links = {(here / href).resolve() for href in re.findall(r'<a href="([^"#]+)"', nav)}
        pages = [p.parent for p in (site / "gallery" / model / "units").rglob("index.html")]
        pages += [site / "gallery" / model / p for p in ("classes", "concepts", "atlas")]
        missing = [p.relative_to(site).as_posix() for p in pages if p.resolve() not in links]
        assert not missing, (model, missing)
        # each under its own name: not taken for a section's own page (Material's navigation.indexes)
        assert "Activation atlas" in nav and "What each class is made of" in nav


def test_footer_links_name_the_section_of_a_neighbour_in_another_one(built):
    """At the edge of a model's pages the previous and next links say whose page they lead to
    (convviz's footer partial): before, "Previous: What each class is made of" on
    shapes-xception's first page did not say it was shapes-cnn's."""
    site = built[0] / "site"

    def footer(rel: str) -> list[str]:
        return re.findall(r'class="md-footer__link md-footer__link--\w+" aria-label="([^"]+)"', _html(site, rel))

    assert footer("gallery/shapes-xception/activations") == [
        "Previous: shapes-cnn › What each class is made of",  # another model's section
        "Next: Filter patterns · shapes-xception",  # the same section: the title alone
    ]
    assert "Next: Layers and units › All layers" in footer("gallery/shapes-cnn/latent")
    # a title that names its section already is not prefixed again
    assert "Next: Intermediate activations · shapes-xception" in footer("gallery/shapes-cnn/concepts")
    assert "Next: block1_relu1" in footer("gallery/shapes-cnn/units")


def test_every_atlas_page_shows_which_class_each_region_stands_for(built):
    site = built[0] / "site"
    for model in MODELS:
        html = _html(site, f"gallery/{model}/atlas")
        assert 'src="atlas-classes.png"' in html and "dominant predicted class" in html, model
        png = site / "gallery" / model / "atlas" / "atlas-classes.png"
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 2000, model
