"""A zoo file is data: every text a team writes (and every layer name a model file holds)
reaches the pages quoted and escaped, never as code or markup.

The fast tests check the mechanism (:mod:`convviz.core.markup`) on strings built to break out of
every context a page puts them in; the slow ones build a site with the plugin, as a team
does, from a zoo entry whose every free-text field, folder, image and layer name carries
Python that would run if spliced, Markdown and HTML that would render, and quotes of each
kind, then open every page in Chromium.
"""

from __future__ import annotations

import ast
import functools
import html.parser
import http.server
import os
import shutil
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import markdown
import pytest

from convviz.core import markup
from convviz.core.markup import TemplateError, fill_template

ROOT = Path(__file__).resolve().parents[1]

# Each would do something if it reached code or markup as it is.
PYTHON = 'Faces"""\nimport pathlib; pathlib.Path(\'PWNED\').touch()\n"""'
PYTHON_1 = "x'''; __import__('pathlib').Path('PWNED').touch(); '''"
HOSTILE = [
    PYTHON,
    PYTHON_1,
    'a\\" + __import__("os").getcwd() + "\\',  # a backslash before a quote
    "<script>window.__pwned = 1</script>",
    '<img src=x onerror="window.__pwned = 2">',
    "[click](javascript:window.__pwned=3) ![i](x.png)",
    '*bold* _it_ `code` {: onclick="window.__pwned=4" } {{TITLE}} {{ number x.y.z }}',
    "| a | b |\n|---|---|\n| c | d |",
    "# heading\n\n---\n1. list\n> quote",
    "```\n</code></pre><script>window.__pwned=5</script>\n```",
    ":smile: $x^2$ ~~strike~~ ==mark== ^^ins^^ <!-- c --> &amp; &#60;",
    'Faces "v2"',
    "<unk>",
    "a&b",
    "café · naïve",
    "tab\there\r\nand\x0bvertical",
    "ends with a backslash \\",
    'ends with a quote "',
]


def _norm(s: str) -> str:
    """As HTML shows text: runs of whitespace are one space."""
    return " ".join(s.split())


class _Collect(html.parser.HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data):
        self.text.append(data)


def _parse(page: str) -> _Collect:
    c = _Collect()
    c.feed(page)
    return c


def _md() -> markdown.Markdown:
    """Markdown as this site (and the starter's mkdocs.yml) configures it, and then some."""
    return markdown.Markdown(
        extensions=[
            "admonition",
            "attr_list",
            "md_in_html",
            "tables",
            "toc",
            "pymdownx.details",
            "pymdownx.superfences",
            "pymdownx.highlight",
            "pymdownx.inlinehilite",
            "pymdownx.tilde",
            "pymdownx.caret",
            "pymdownx.mark",
            "pymdownx.emoji",
            "pymdownx.magiclink",
            "smarty",
        ]
    )


@pytest.mark.parametrize("value", HOSTILE)
def test_text_is_shown_as_written_in_every_markdown_context(value):
    t = markup.text(value)
    contexts = {
        "paragraph": f"Model: {t}.",
        "emphasis": f"*Model: {t}.*",
        "heading": f"## {t} {{#anchor}}",
        "table": f"| name | x |\n|---|---|\n| {t} | 1 |",
        "link text": f"[{t}](page.md)",
        "list": f"- {t}\n- other",
        "raw html": f'<div class="x"><a href="#a" title="{t}">{t}</a></div>',
        "alt": f"![{t}](img.png)",
        "code": f"Dataset {markup.code(value)}.",
        "code span": f"Label {markup.code_span(value)}.",
    }
    for where, source in contexts.items():
        page = _md().convert(source)
        parsed = _parse(page)
        tags = {tag for tag, _ in parsed.tags}
        assert tags <= {
            "p",
            "em",
            "h2",
            "table",
            "thead",
            "tbody",
            "tr",
            "th",
            "td",
            "a",
            "ul",
            "li",
            "div",
            "img",
            "code",
        }, (
            where,
            page,
        )
        for _, attrs in parsed.tags:
            assert not any(k.startswith("on") for k in attrs), (where, page)
            assert not any(str(v).lower().startswith("javascript") for v in attrs.values()), (where, page)
        shown = "".join(parsed.text)
        if where == "alt":
            shown = next(attrs["alt"] for tag, attrs in parsed.tags if tag == "img")
        elif where == "raw html":
            assert next(attrs["title"] for tag, attrs in parsed.tags if tag == "a") == value.translate(_SPACES)
        assert _norm(value) in _norm(shown), (where, page)


_SPACES = {c: " " for c in range(32)}


def test_text_keeps_names_readable():
    assert markup.text("shapes-cnn_v2.1") == "shapes-cnn_v2.1"
    assert markup.text("café · 12%, a/b; why?") == "café · 12%, a/b; why?"
    assert markup.text("-x_") == "&#45;x&#95;"  # at the edge of a word they would be syntax
    assert markup.text("a\nb") == "a b"
    assert markup.code("`x`") == "<code>&#96;x&#96;</code>"


def test_path_part_is_a_safe_unique_name():
    assert markup.path_part("block1_conv1") == "block1_conv1"
    names = ["..", ".", "a/b", "<b>", "a b", "A b", "x" * 100, "-rf", "conv.", "conv"]
    parts = [markup.path_part(n) for n in names]
    assert len(set(parts)) == len(parts)
    for p in parts:
        assert p not in (".", "..") and "/" not in p and not p.startswith("-")
        assert all(c.isalnum() or c in "_.-" for c in p) and len(p) <= 80


def test_fenced_output_cannot_be_closed_by_what_it_shows():
    body = "```\n<script>window.__pwned = 5</script>\n````"
    page = _md().convert(markup.fenced(body, "{.shell}"))
    assert "<script>" not in page and "&lt;script&gt;" in page


TEMPLATE = '''"""
Page · {{MODEL}}
================

*Model: {{TITLE}}.* {{DESCRIPTION}}
"""

# %%
# About {{TITLE}}
# ---------------
import json

MODEL = "{{MODEL}}"
TITLE = r"{{TITLE}}"
BOTH = """{{MODEL}}: {{DESCRIPTION}}"""
print(json.dumps([MODEL, TITLE, BOTH]))
'''


@pytest.mark.parametrize("value", HOSTILE)
def test_fill_template_keeps_values_as_data(value, tmp_path, monkeypatch):
    values = {"MODEL": "my-model", "TITLE": value, "DESCRIPTION": value}
    script = fill_template(TEMPLATE, values)
    tree, original = ast.parse(script), ast.parse(TEMPLATE)
    # the same statements, the same names: only string constants differ
    assert [type(n) for n in tree.body] == [type(n) for n in original.body]
    assert [getattr(t, "id", None) for n in ast.walk(tree) for t in getattr(n, "targets", [])] == [
        getattr(t, "id", None) for n in ast.walk(original) for t in getattr(n, "targets", [])
    ]
    doc = ast.get_docstring(tree, clean=False)
    assert f"*Model: {markup.text(value)}.* {markup.text(value)}" in doc
    assert f"# About {markup.text(value)}" in script  # the comment is one line still
    monkeypatch.chdir(tmp_path)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout
    assert ast.literal_eval(out.strip().replace("null", "None")) == ["my-model", value, f"my-model: {value}"]
    assert list(tmp_path.iterdir()) == []  # nothing ran


@pytest.mark.parametrize(
    "template, message",
    [
        ("'''doc'''\nx = {{MODEL}}\n", r"t.py:2: placeholder outside a string literal or a comment"),
        ("'''doc'''\nx = f\"{{MODEL}}\"\n", r"t.py:2: a placeholder in an f-string"),
        ("'''doc'''\nx = b\"{{MODEL}}\"\n", r"t.py:2: a placeholder in an f-string or bytes"),
        ("'''doc {{NAME}}'''\n", r"t.py:1: unknown placeholder \{\{NAME\}\}; valid: \{\{MODEL\}\}"),
        ("'''doc'''\nx = (\n", r"t.py: not valid Python"),
    ],
)
def test_fill_template_refuses_a_placeholder_that_could_become_code(template, message):
    with pytest.raises(TemplateError, match=message):
        fill_template(template, {"MODEL": "m"}, where="t.py")


def _hostile_zoo(folder: Path, model_file: str = "model.h5", *, dataset: str = "data") -> str:
    """A zoo entry whose every free-text field is hostile (YAML double-quoted scalars)."""

    def q(s: str) -> str:
        return '"' + s.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\t", "\\t") + '"'

    return textwrap.dedent(
        f"""\
        models:
          - name: hostile_model-1
            title: {q(PYTHON + " " + HOSTILE[4])}
            description: {q(HOSTILE[5] + " " + HOSTILE[6] + " " + PYTHON_1)}
            source: file
            path: {q(model_file)}
            dataset: {q(dataset)}
            preprocess: none
            class_names: [{", ".join(q(c) for c in CLASSES)}]
        """
    )


# class names that are also folder names (no '/'), each hostile in its own way
CLASSES = ['<img src=x onerror="window.__pwned=6">', "a&b \"q\" 'q' `c` *e* {{TITLE}}", "café"]
IMAGES = ["<script>window.__pwned=7<", "x'''; import os '''", "plain"]


def test_template_pages_of_a_hostile_entry_are_data(tmp_path):
    from convviz import site, zoo

    entries = zoo.parse(_hostile_zoo(tmp_path), source="zoo.yml", zoo_file=tmp_path / "zoo.yml")
    e = entries[0]
    assert e.title.startswith(PYTHON)
    written = site.write_pages(e, tmp_path / "pages")
    assert written == list(site.PAGE_NAMES)
    for page in written:
        script = (tmp_path / "pages" / f"{page}.py").read_text()
        template = site.template_path(page).read_text()
        tree = ast.parse(script)
        assert [type(n) for n in tree.body] == [type(n) for n in ast.parse(template).body], page
        assert markup.text(e.title) in ast.get_docstring(tree, clean=False), page
        assert 'MODEL = "hostile_model-1"' in script, page


def test_model_index_escapes_every_field(tmp_path, monkeypatch):
    from convviz import zoo
    from convviz.site import generate as site_generate

    e = zoo.parse(_hostile_zoo(tmp_path, dataset=HOSTILE[4]), source="zoo.yml", zoo_file=tmp_path / "zoo.yml")[0]
    monkeypatch.setattr(type(e), "input_shape", property(lambda self: (8, 8, 3)))
    page = _md().convert(site_generate.model_readme(e, load=False))
    parsed = _parse(page)
    assert {t for t, _ in parsed.tags} <= {"h2", "p", "strong", "a", "code"}, page
    assert _norm(f"{e.title}. {e.description}") in _norm("".join(parsed.text))
    layout = site_generate.Layout(pages=tmp_path / "p", out=tmp_path / "o")
    index = _md().convert(site_generate.zoo_index([e], [(e, HOSTILE[3])], layout, load=False))
    parsed = _parse(index)
    allowed = {"h1", "p", "a", "table", "thead", "tbody", "tr", "th", "td", "code", "div", "ul", "li"}
    assert {t for t, _ in parsed.tags} <= allowed, index
    assert _norm(HOSTILE[4]) in _norm("".join(parsed.text)) and _norm(HOSTILE[3]) in _norm("".join(parsed.text))


@pytest.mark.parametrize("rev", ["--output=PWNED", "main bad", "a\nb", ""])
def test_compare_to_revision_cannot_be_an_option(rev):
    import json

    from convviz import zoo

    text = (
        "models:\n  - name: a\n    source: trained\n    architecture: plain_cnn\n    dataset: digits\n"
        f"    compare_to: {json.dumps('a@' + rev)}\n"
    )
    with pytest.raises(zoo.ZooError, match=r"<zoo>:6: compare_to must be a zoo entry name, NAME@REV"):
        zoo.parse(text)


# ----------------------------------------------------------------------------- a site built from it

# What a layer's name can hold on every backend (TensorFlow's name scopes take only
# [A-Za-z0-9_.>-], torch refuses '.' in the name of a layer with weights, Keras '/'): the conv
# layers' names still read as HTML or Markdown if used as they are, the pooling layer's would
# leave its folder
LAYERS = ["c>1--", "..", "c2>x_"]
DATASET = "data <&\"'> {{TITLE}} `x`"


def _hostile_model(path: Path) -> None:
    import keras

    L = keras.layers
    keras.utils.set_random_seed(0)
    inp = keras.Input((24, 24, 3))
    x = L.Conv2D(4, 3, padding="same", activation="relu", name=LAYERS[0])(inp)
    x = L.MaxPooling2D(2, name=LAYERS[1])(x)
    x = L.Conv2D(6, 3, padding="same", activation="relu", name=LAYERS[2])(x)
    x = L.GlobalAveragePooling2D(name="gap")(x)
    keras.Model(inp, L.Dense(3, activation="softmax", name="scores")(x)).save(path)


def _hostile_images(folder: Path, per_class: int = 8) -> None:
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    for c, name in enumerate(CLASSES):
        (folder / name).mkdir(parents=True)
        for i in range(per_class):
            img = rng.integers(0, 255, (24, 24, 3), dtype=np.uint8)
            img[:, :, c] = 255 - 20 * i  # each class its own colour
            Image.fromarray(img).save(folder / name / f"{IMAGES[i % len(IMAGES)]}{i}.png")


def _project(root: Path, *, class_names: list[str] | None = None) -> Path:
    from convviz.site.init import init

    init(root)
    _hostile_model(root / "model.h5")
    _hostile_images(root / DATASET)
    zoo = _hostile_zoo(root, dataset=DATASET)
    if class_names is not None:
        zoo = zoo.split("    class_names:")[0] + f"    class_names: {class_names}\n"
    # a pass budget, as a team's quick build would: every page runs, the budgeted ones on fewer
    # images and steps (what is checked here is what the pages do with the entry's texts)
    (root / "zoo.yml").write_text(zoo + "    budget: {passes: 3000}\n")
    return root


def _build_env(root: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONVVIZ_")}
    env.update(
        KERAS_BACKEND="tensorflow",
        CONVVIZ_CACHE_DIR=str(root / ".convviz-cache"),
        KERAS_HOME=str(root / "keras-home"),
        TF_CPP_MIN_LOG_LEVEL="3",
        NO_MKDOCS_2_WARNING="1",
    )
    return env


def _mkdocs(root: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict"],
        cwd=root,
        env=_build_env(root),
        capture_output=True,
        text=True,
        timeout=1200,
    )


@pytest.fixture(scope="module")
def hostile_site(tmp_path_factory):
    import keras

    if keras.backend.backend() != "tensorflow":
        pytest.skip("the site is built with the default (TensorFlow) backend")
    root = _project(tmp_path_factory.mktemp("hostile") / "repo")
    proc = _mkdocs(root)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-6000:]
    return root


@pytest.mark.slow
def test_a_hostile_zoo_builds_and_nothing_in_it_runs(hostile_site):
    root = hostile_site
    assert not list(root.parent.rglob("PWNED")), "a zoo text ran as Python"
    site = root / "site" / "gallery" / "hostile_model-1"
    for page in ("activations", "filters", "gradcam", "attributions", "latent"):
        assert (site / page / "index.html").is_file(), page
    for page in (root / "site").rglob("*.html"):
        parsed = _parse(page.read_text(encoding="utf-8"))
        for tag, attrs in parsed.tags:
            for k, v in attrs.items():
                assert not (k.startswith("on") and "__pwned" in str(v)), (page, tag, attrs)
        assert "window.__pwned" not in "".join(d for d in parsed.text if d.strip().startswith("window.__pwned")), page
    # the unit pages of hostile layer names stay inside their folder
    units = sorted(p.parent.name for p in (site / "units").glob("*/index.html"))
    assert units == sorted(markup.path_part(n) for n in (LAYERS[0], LAYERS[2])), units


def _visible_text(page_file: Path) -> str:
    parsed = _parse(page_file.read_text(encoding="utf-8"))
    return _norm("".join(parsed.text))


@pytest.mark.slow
def test_every_string_shows_as_written(hostile_site):
    from convviz import zoo

    site = hostile_site / "site" / "gallery"
    e = zoo.read(hostile_site / "zoo.yml")[0]
    index = _visible_text(site / "index.html")
    for s in (e.title, e.description, DATASET):
        assert _norm(s) in index, s
    classes = _visible_text(site / "hostile_model-1" / "classes" / "index.html")
    for c in CLASSES:
        assert _norm(c) in classes, c
    units = _visible_text(site / "hostile_model-1" / "units" / "index.html")
    for layer in (LAYERS[0], LAYERS[2]):
        assert _norm(layer) in units, layer
    gradcam = (site / "hostile_model-1" / "gradcam" / "index.html").read_text(encoding="utf-8")
    alts = " ".join(a.get("alt") or "" for t, a in _parse(gradcam).tags if t == "img")
    assert any(
        _norm(name) in _norm(alts) or _norm(name) in _visible_text(site / "hostile_model-1" / "gradcam" / "index.html")
        for name in IMAGES
    )


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


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.mark.slow
@pytest.mark.browser
def test_no_script_runs_in_chromium_on_any_page(hostile_site):
    if CHROMIUM is None:
        pytest.skip("chromium is not installed (apt-get install chromium): browser checks skipped")
    playwright = pytest.importorskip("playwright.sync_api")
    site = hostile_site / "site"
    handler = functools.partial(_Quiet, directory=str(site))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{httpd.server_address[1]}"
    pages = sorted(p.relative_to(site).parent.as_posix() for p in site.rglob("index.html"))
    ran: list[str] = []
    try:
        with playwright.sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
            for path in pages:
                page = browser.new_page(viewport={"width": 1200, "height": 900})
                page.on("dialog", lambda d: (ran.append(f"dialog {d.message}"), d.dismiss()))
                page.goto(f"{base}/{'' if path == '.' else path + '/'}", wait_until="networkidle")
                # every element hovered and focused: an injected handler would run now
                page.evaluate(
                    "() => document.querySelectorAll('body *').forEach(e => { for (const t of"
                    " ['mouseover', 'mouseenter', 'focus']) e.dispatchEvent(new Event(t, {bubbles: true})); })"
                )
                if "latent" in path:  # hover every point of the explorer: its tip shows the classes
                    widget = page.locator(".convviz-explorer-widget[data-ready='1']")
                    widget.wait_for(timeout=15000)
                    widget.scroll_into_view_if_needed()
                    box = page.locator(".convviz-explorer-canvas").bounding_box()
                    n = page.evaluate("() => window.convvizExplorers[0].d.points")
                    tips = set()
                    for i in range(n):
                        xy = page.evaluate(f"() => window.convvizExplorers[0].screen({i})")
                        page.mouse.move(box["x"] + xy[0], box["y"] + xy[1])
                        page.wait_for_timeout(30)
                        tips.add(page.inner_text(".convviz-explorer-tip"))
                        page.mouse.click(box["x"] + xy[0], box["y"] + xy[1])
                    shown = _norm(" ".join(tips))
                    assert any(_norm(c) in shown for c in CLASSES), shown
                if page.evaluate("() => window.__pwned") is not None:
                    ran.append(f"{path}: window.__pwned = {page.evaluate('() => window.__pwned')}")
                page.close()
            browser.close()
    finally:
        httpd.shutdown()
    assert len(pages) >= 8, pages
    assert not ran, ran


@pytest.mark.slow
def test_a_data_problem_is_a_one_line_build_error(tmp_path):
    import keras

    if keras.backend.backend() != "tensorflow":
        pytest.skip("the site is built with the default (TensorFlow) backend")
    root = _project(tmp_path / "repo", class_names=["cats", "dogs", "owls"])
    proc = _mkdocs(root)
    assert proc.returncode != 0
    out = proc.stdout + proc.stderr
    assert "Traceback" not in out, out[-4000:]
    errors = [line for line in out.splitlines() if line.startswith("ERROR")]
    assert len(errors) == 1, out[-4000:]
    assert "zoo model 'hostile_model-1'" in errors[0] and "are not in class_names ['cats', 'dogs', 'owls']" in errors[0]
    assert not list(tmp_path.rglob("PWNED"))


@pytest.mark.slow
def test_render_of_a_hostile_entry_runs_nothing_on_this_backend(tmp_path, monkeypatch):
    """``convviz render`` runs the page scripts on every backend: the values stay data."""
    import json

    from convviz import site

    root = _project(tmp_path / "repo")
    monkeypatch.setenv("CONVVIZ_ZOO", str(root / "zoo.yml"))
    monkeypatch.setenv("CONVVIZ_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.chdir(root)
    manifest = site.render("hostile_model-1", what=["activations", "units"], out=tmp_path / "out", progress=False)
    assert set(manifest["pages"]) == {"activations", "layers", "units"}
    assert not list(tmp_path.rglob("PWNED"))
    browser = json.loads((tmp_path / "out" / "hostile_model-1" / "layers" / "browser.json").read_text())
    assert LAYERS[0] in json.dumps(browser)  # the layer browser's data: JSON, read as text by its script
    units = tmp_path / "out" / "hostile_model-1" / "units"
    assert sorted(p.name for p in units.iterdir() if p.is_dir()) == sorted(
        markup.path_part(n) for n in (LAYERS[0], LAYERS[2])
    )


def test_printed_tables_keep_their_columns_and_sentences_wrap():
    """A page's printed output, cut at its blank lines: a table (columns two spaces apart on
    two or more lines) is a block of its own that keeps its columns, a sentence wraps."""
    from convviz.site.printed import OutputBlock, tabular

    table = "layer         CKA\nconv1       1.000\nconv2       0.996"
    sentence = "accuracy 97.22% → 98.61% (+1.39 points):  1 right → wrong"
    assert tabular(table) and not tabular(sentence) and not tabular("one  two")
    page = _md().convert(OutputBlock().format(f"{sentence}\n\n{table}\n"))
    assert page.count("<pre") == 2
    first, second = page.index("accuracy"), page.index("conv1")
    assert "convviz-table" not in page[:first] and "convviz-table" in page[first:second], page
