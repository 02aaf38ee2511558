"""The ``convviz`` MkDocs plugin: a zoo file becomes gallery pages, in any repository.

In ``mkdocs.yml``::

    plugins:
      - search
      - convviz:
          zoo: models/zoo.yml        # the zoo file (default: zoo.yml beside mkdocs.yml)

The plugin writes every usable zoo model's page scripts from the templates shipped in
``convviz/templates/`` (``templates:`` names a folder whose scripts replace them), runs them
through mkdocs-gallery (which it configures and drives itself: do not list ``gallery`` as
well), writes each model's unit and class pages and the data of its embedding explorer and layer browser
(with the explorer's script and style, bundled in the package), adds the zoo to the navigation and fills
``{{ number MODEL.PAGE.NAME }}`` in hand-written pages with what the pages recorded.
Scripts are rewritten only when their content changes and each carries a fingerprint of
its zoo entry, template and convviz code, so a rebuild re-runs exactly the pages whose
inputs changed.

Options (paths relative to ``mkdocs.yml``):

``zoo``
    The zoo file. ``$CONVVIZ_ZOO`` overrides it.
``templates``
    A folder of page-template overrides (``gradcam.py``...).
``pages_dir``
    Where the generated page scripts go (default ``.convviz/pages``; not for version control).
``gallery_dir``
    The zoo's folder inside ``docs_dir``, i.e. its URL (default ``gallery``).
``nav_title``
    The zoo's title in the navigation (default ``Model zoo``).
``examples``
    Folders of hand-written example scripts that use the zoo, each mapped to its output
    folder inside ``docs_dir``; a script re-runs when the zoo models it loads
    (``zoo.entry("name")``) or the convviz code it calls change.
``benchmarks``
    A folder whose ``report.py`` defines ``summary(name)`` and ``table(name)``, for
    ``{{ number bench-NAME.KEY }}`` and ``{{ table bench-NAME }}``.
``gallery``
    Further mkdocs-gallery options (``thumbnail_size``...).
``colab``
    ``OWNER/REPO@BRANCH``: the GitHub branch the built site is published from (e.g.
    ``gh-pages``, written by ``mkdocs gh-deploy``); each page gets an "Open in Colab" button
    for its notebook there. Unset: no such button (the site makes no request to Colab).
``jobs``
    Worker processes that compute the pages of several models at the same time before the
    gallery runs (:mod:`convviz.prerender`). Default: ``$CONVVIZ_JOBS``, else one per CPU
    core (at most 4); ``1``: none, one process computes everything.
"""

from __future__ import annotations

import contextlib
import hashlib
import html
import logging
import os
import re
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

from mkdocs.config import config_options as c
from mkdocs.config.base import Config, ValidationError
from mkdocs.exceptions import PluginError
from mkdocs.plugins import BasePlugin

from convviz import markup

__all__ = [
    "ConvvizPlugin",
    "ChapterOrder",
    "Layout",
    "generate_pages",
    "refresh_examples",
    "fill_numbers",
    "forget_failed",
    "clean_downloads",
]

log = logging.getLogger("mkdocs.plugins.convviz")
GUIDE = "https://convviz.github.io/convviz/add-your-model/"
ASSETS = "assets/convviz"  # the explorer's and layer browser's scripts and style, shipped in convviz/assets/
_EXTRA_PAGES = {
    "units": "unit pages",
    "layers": "layer browser",
    "explorer": "embedding explorer",
    "classes": "class page",
}


def _assets() -> list[Path]:
    return sorted(p for p in (Path(__file__).resolve().parent / "assets").iterdir() if p.suffix in (".js", ".css"))


# mkdocs-gallery options the plugin sets; ``gallery:`` may change any but the folders
_GALLERY_DEFAULTS: dict[str, Any] = {
    "filename_pattern": r"\.py$",  # every script of a zoo or example folder runs
    "ignore_pattern": r"__init__\.py",
    "within_subsection_order": "FileNameSortKey",
    "only_warn_on_example_error": False,
    "abort_on_example_error": True,
    "reset_modules": ["matplotlib", "keras"],
    "download_all_examples": False,
    "show_memory": False,
    "remove_config_comments": True,
    "capture_repr": [],  # print() only: no "<Axes: ...>" under a cell
}
_GALLERY_FOLDERS = ("examples_dirs", "gallery_dirs")


class _Options(Config):
    zoo = c.Type(str, default="zoo.yml")
    templates = c.Optional(c.Type(str))
    pages_dir = c.Type(str, default=".convviz/pages")
    gallery_dir = c.Type(str, default="gallery")
    nav_title = c.Type(str, default="Model zoo")
    examples = c.Type(dict, default={})
    benchmarks = c.Optional(c.Type(str))
    gallery = c.Type(dict, default={})
    colab = c.Optional(c.Type(str))
    jobs = c.Optional(c.Type(int))


@dataclass(frozen=True)
class Layout:
    """Where a build's files go: the generated scripts, the zoo's output folder inside
    ``docs_dir``, the example folders (source → output) and the benchmark folder."""

    pages: Path
    out: Path
    docs: Path = Path("docs")
    zoo: Path = Path("zoo.yml")
    root: Path = Path(".")
    examples: dict[Path, Path] = field(default_factory=dict)
    benchmarks: Path | None = None
    templates: Path | None = None
    zoo_label: str = "zoo.yml"
    guide: str = GUIDE

    @property
    def out_dirs(self) -> tuple[Path, ...]:
        return (self.out, *self.examples.values())


# ---------------------------------------------------------------- page generation


def _accuracy(entry: Any, load: bool) -> float | None:
    """A trained entry's test accuracy; ``load=False``: only if the cache holds it (the
    build's configuration loads no model: its workers do, then :func:`write_model_readmes`
    writes the indexes again, with it)."""
    from convviz import zoo

    if load:
        return zoo.test_accuracy(entry)
    record = zoo.cached_record(entry)
    return None if record is None else float(record["test_accuracy"])


def _zoo_index(entries: list[Any], skipped: list[Any], layout: Layout, *, load: bool = True) -> str:
    from convviz.site import pages_for

    lines = [
        "# Model zoo",
        "",
        f"Every model of {markup.code_span(layout.zoo_label)} gets its pages, in the chapter's order: intermediate "
        "activations, filter patterns, Grad-CAM, pixel attributions, latent space; then every layer with its "
        "units, and every class; an entry with `compare_to` also gets a page of what changed against the model "
        f"it names. Adding an entry to the zoo adds its pages ([how]({layout.guide})).",
        "",
    ]
    if entries:
        lines += ["| model | source | dataset | test accuracy | pages |", "|---|---|---|---|---|"]
    for e in entries:
        acc = _accuracy(e, load)
        detail = e.options.get("architecture") or e.options.get("application") or e.options.get("path")
        acc_text = f"{acc:.2%}" if acc is not None else "—"
        url = quote(e.name)
        pages = " · ".join(
            [f"[{p}]({url}/{p}.md)" for p in pages_for(e)]
            + [f"[units]({url}/units/index.md)", f"[classes]({url}/classes/index.md)"]
        )
        lines.append(
            f"| [{markup.text(e.name)}](#{url}) | {e.source} ({markup.code(detail)}) | {markup.text(e.dataset)} "
            f"| {acc_text} | {pages} |"
        )
    if not entries:
        lines.append("No model of the zoo file can be built here." if skipped else "The zoo file has no models.")
    if skipped:
        lines += ["", f'!!! note "Not built here: {len(skipped)} model{"s" if len(skipped) != 1 else ""}"', ""]
        lines += [f"    - {markup.text(e.name)} ({e.source}): {markup.text(why)}" for e, why in skipped]
    lines.append("")
    return "\n".join(lines)


def _model_readme(entry: Any, *, load: bool = True) -> str:
    """A model's gallery index (``load``: see :func:`_accuracy`)."""
    acc = _accuracy(entry, load)
    shape = "×".join(str(d) for d in entry.input_shape)
    url = quote(entry.name)
    lines = [
        f"## {markup.text(entry.name)}",
        "",
        f"**{markup.text(entry.title)}**. {markup.text(entry.description)}",
        "",
        f"Input {shape}, {len(entry.class_names)} classes, dataset {markup.code(entry.dataset)}"
        + (f", test accuracy **{acc:.2%}**." if acc is not None else "."),
        "",
        f"[Every layer and unit]({url}/units/index.md): each conv layer's output shape, receptive "
        "field and dead units, and every unit's feature visualization beside the test images that excite "
        f"it most. [Every class]({url}/classes/index.md): the input that maximizes its score, its "
        "most confident and most confused test images, its average Grad-CAM, and the confusion matrix.",
        "",
    ]
    if entry.compare_to is not None:
        from convviz.revisions import reference_entry

        label = reference_entry(entry)[0]
        lines += [
            f"[What changed]({url}/changes.md) against {markup.code(label)}: accuracy, flipped predictions with both "
            "Grad-CAMs, per-layer CKA, the units that changed most and the aligned latent spaces.",
            "",
        ]
    return "\n".join(lines)


def _usable_entries(*, say: bool = True) -> tuple[list[Any], list[tuple[Any, str]]]:
    """The zoo's usable entries, and the others with the reason (logged when ``say``)."""
    from convviz import zoo

    entries, skipped = [], []
    for e in zoo.read():
        ok, why = zoo.usable(e)
        if ok:
            entries.append(e)
        else:
            if say:
                log.info("convviz: skipping zoo model %s: %s", e.name, why)
            skipped.append((e, why))
    return entries, skipped


def write_model_readmes(layout: Layout) -> None:
    """The zoo's and each usable model's gallery index, with the test accuracies (loading a
    model when the cache does not hold it yet)."""
    from convviz.pages import _write_if_changed

    entries, skipped = _usable_entries(say=False)
    _write_if_changed(layout.pages / "README.md", _zoo_index(entries, skipped, layout))
    for e in entries:
        _write_if_changed(layout.pages / e.name / "README.md", _model_readme(e))


def generate_pages(layout: Layout) -> dict[str, list[str]]:
    """Write the per-model gallery scripts into ``layout.pages`` (only those whose content
    changed); returns {model: [pages written]}, with ``"course"``-style keys for example
    folders whose scripts must re-run."""
    from convviz.pages import _write_if_changed
    from convviz.site import pages_for, remove_stale_pages, write_pages

    entries, skipped = _usable_entries()
    changed: dict[str, list[str]] = {}
    _write_if_changed(layout.pages / "README.md", _zoo_index(entries, skipped, layout, load=False))
    for e in entries:
        folder = layout.pages / e.name
        _write_if_changed(folder / "README.md", _model_readme(e, load=False))
        written = write_pages(e, folder, templates=layout.templates)
        if e.compare_to is None and (folder / "changes.py").is_file():
            (folder / "changes.py").unlink()  # compare_to removed: its page goes too
            out = layout.out / e.name
            for stale in [
                *out.glob("changes.*"),
                *out.glob("images/*_changes_*"),
                *out.glob("images/thumb/*_changes_*"),
            ]:
                stale.unlink()
            written.append("changes")
        # and the pages mkdocs-gallery will run although their script is unchanged: its output is
        # gone or older (a deleted docs/gallery folder), so that the workers compute them too
        written += [
            p for p in pages_for(e) if p not in written and _gallery_will_run(folder / f"{p}.py", layout.out / e.name)
        ]
        if written:
            changed[e.name] = written
    remove_stale_pages(layout.pages, {e.name for e in entries}, (layout.out,))
    for src, out in layout.examples.items():
        changed.update(refresh_examples(src, out))
    return changed


def _gallery_will_run(script: Path, out: Path) -> bool:
    """Whether mkdocs-gallery will run ``script``: the md5 of the script it ran last (kept next
    to its download copy in ``out``) is missing or another (its own rule)."""
    from mkdocs_gallery.utils import get_md5sum

    if not script.is_file():
        return False
    try:
        return (out / f"{script.name}.md5").read_text() != get_md5sum(script, mode="t")
    except OSError:
        return True


_ENTRY = re.compile(r"""zoo\.entry\(["']([\w-]+)["']\)""")


def refresh_examples(src: Path, out: Path) -> dict[str, list[str]]:
    """mkdocs-gallery re-runs a script only when its text changes; an example script also
    depends on the zoo models it loads (``zoo.entry("shapes-cnn")``), on the convviz code it
    calls and on the backend. Keep a fingerprint of all that beside its output and forget
    the script's MD5 when it changes, so the figure is recomputed. Returns
    {folder name: [scripts to re-run]}."""
    from convviz import zoo
    from convviz._code import code_digest, environment
    from convviz.site import page_modules

    rerun: dict[str, list[str]] = {}
    known = {e.name: e for e in zoo.read()}
    for script in sorted(Path(src).glob("*.py")):
        text = script.read_text(encoding="utf-8")
        # the recipes of the models it loads, and whether each is usable here (an example
        # may use an ImageNet model when its weights are present)
        recipes = [
            repr(known[n].recipe()) if n in known else f"{n}: not in the zoo" for n in sorted(set(_ENTRY.findall(text)))
        ]
        recipes += [f"{e.name}: {zoo.usable(e)[0]}" for e in known.values() if e.source == "keras.applications"]
        parts = [text, code_digest(*page_modules(text)), repr(sorted(environment().items())), *recipes]
        digest = hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]
        stamp = out / f"{script.stem}.fingerprint"
        if stamp.is_file() and stamp.read_text() == digest:
            continue
        (out / f"{script.name}.md5").unlink(missing_ok=True)
        out.mkdir(parents=True, exist_ok=True)
        stamp.write_text(digest)
        rerun.setdefault(Path(src).name, []).append(script.stem)
    return rerun


def forget_failed(out_dirs: tuple[Path, ...]) -> list[Path]:
    """A failed example must not leave its MD5 behind: mkdocs-gallery writes it even on
    failure, and the next build would silently keep the traceback page. Forget the MD5 of
    every example whose page is missing or shows a traceback; returns the MD5 files removed."""
    gone = []
    for out in out_dirs:
        for md5 in Path(out).rglob("*.py.md5"):
            page = md5.with_name(md5.name[: -len(".py.md5")] + ".md")
            if not page.is_file() or "Traceback (most recent call last)" in page.read_text(encoding="utf-8"):
                md5.unlink()
                gone.append(md5)
    return gone


def clean_downloads(out_dirs: tuple[Path, ...]) -> list[Path]:
    """Remove mkdocs-gallery's config comments (the page fingerprint) from the downloadable
    scripts, as the gallery does for the page and the notebook: a reader downloads the code
    as shown. Returns the scripts changed."""
    from mkdocs_gallery.py_source_parser import remove_config_comments

    changed = []
    for out in out_dirs:
        for script in Path(out).rglob("*.py"):
            text = script.read_text(encoding="utf-8")
            clean = remove_config_comments(text)
            if clean != text:
                script.write_text(clean, encoding="utf-8")
                changed.append(script)
    return changed


# ---------------------------------------------------------------- numbers in prose

_NUMBER = re.compile(r"\{\{\s*number\s+([\w-]+)\.([\w.]+?)(?:\s*\|\s*(pct|pct0|f1|f2|f3|int))?\s*\}\}")
_TABLE = re.compile(r"\{\{\s*table\s+bench-(\w+)\s*\}\}")
_FENCED = re.compile(r"(```.*?```)", re.S)
_INLINE_CODE = re.compile(r"(`[^`\n]*`)")
_FIGURE = re.compile(
    r"\{\{\s*figure\s+(?P<model>[\w-]+)\.(?P<page>\w+)\s+(?P<which>\d+|\"[^\"]*\")"
    r"\s*(?:\|\s*(?P<caption>[^\n]*?))?\s*\}\}"
)
_FIGURE_OR_CODE = re.compile(r"(?P<code>`[^`\n]*`)|" + _FIGURE.pattern)
_GALLERY_IMAGE = re.compile(
    r"!\[(?P<a>[^\]]*)\]\(\./images/(?P<f>mkd_glr_\w+?_(?P<n>\d{3})\.png)\)"
    r'|<img alt="(?P<a2>[^"]*)" src="\.\./images/(?P<f2>mkd_glr_\w+?_(?P<n2>\d{3})\.png)"'
)


def _gallery_images(md: str) -> list[tuple[int, str, str]]:
    """(number, alt text, file) of every figure of a gallery page's markdown, in order."""
    found = []
    for m in _GALLERY_IMAGE.finditer(md):
        if m.group("f"):
            found.append((int(m.group("n")), m.group("a"), m.group("f")))
        else:
            found.append((int(m.group("n2")), m.group("a2"), m.group("f2")))
    return found


def _figure(m: re.Match[str], layout: Layout, where: str) -> str:
    """``{{ figure MODEL.PAGE N | caption }}`` or ``{{ figure MODEL.PAGE "alt prefix" | caption }}``:
    the page's N-th figure (or the first whose alt text starts so), as built by the gallery
    in this build, with its alt text, the caption and a link to the page."""
    model, page, which, caption = m.group("model"), m.group("page"), m.group("which"), m.group("caption")
    folders = {src.name: out for src, out in layout.examples.items()}
    out = folders.get(model, layout.out / model)
    md = out / f"{page}.md"
    if not md.is_file():
        if model not in folders and not (layout.pages / model).is_dir():
            return f"*(The figure of {model}'s {page} page: {model} is not built here.)*"
        raise ValueError(
            f"{where}: {m.group(0)}: no page {page!r} of {model} (its pages: "
            + ", ".join(sorted(p.stem for p in out.glob("*.md") if p.stem != "index"))
            + ")"
        )
    images = _gallery_images(md.read_text(encoding="utf-8"))
    if which.startswith('"'):
        hit = [img for img in images if html.unescape(img[1]).startswith(which.strip('"'))]  # alt: escaped text
    else:
        hit = [img for img in images if img[0] == int(which)]
    if not hit:
        valid = "; ".join(f'{n} "{alt[:50]}"' for n, alt, _ in images) or "none"
        raise ValueError(f"{where}: {m.group(0)}: no such figure on {model}'s {page} page (its figures: {valid})")
    _, alt, name = hit[0]
    here = (layout.docs / where).parent
    image = Path(os.path.relpath(out / "images" / name, here)).as_posix()
    link = Path(os.path.relpath(md, here)).as_posix()
    # the caption (numbers already filled), else the figure's own title, which the page computed
    text = f"{caption or alt} [{model} · {page}]({link})"
    return (
        f'<figure markdown="span">\n  ![{alt}]({image})\n  <figcaption markdown="span">{text}</figcaption>\n</figure>'
    )


_FORMATS = {
    "pct": "{:.1%}",
    "pct0": "{:.0%}",
    "f1": "{:.1f}",
    "f2": "{:.2f}",
    "f3": "{:.3f}",
    "int": "{:d}",
    None: "{}",
}


def _report(folder: Path | None) -> Any:
    import importlib.util

    if folder is None or not (Path(folder) / "report.py").is_file():
        raise KeyError(
            "benchmark numbers need the plugin's 'benchmarks' option: a folder with report.py"
            + (f" (none in {folder})" if folder is not None else "")
        )
    spec = importlib.util.spec_from_file_location("convviz_bench_report", Path(folder) / "report.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def fill_numbers(markdown: str, layout: Layout, where: str = "page") -> str:
    """Replace ``{{ number MODEL.PAGE.NAME | pct }}`` with what that page recorded in this
    build (:func:`convviz.site.record`), ``{{ number bench-NAME.KEY }}`` with a benchmark
    result and ``{{ table bench-NAME }}`` with its table: numbers in prose are computed,
    never typed. MODEL is a zoo model or an example folder's name; a model not built here
    reads "(not built here)". ``{{ figure MODEL.PAGE N | caption }}`` (or ``"alt prefix"``
    for N) shows a figure a gallery page made in this build, with its alt text, the caption
    (numbers filled first) and a link to the page. Code (fenced or inline) is left as written."""
    from convviz.pages import lookup, read_number

    folders = {src.name: src for src in layout.examples}

    def one(m: re.Match[str]) -> str:
        model, key, fmt = m.group(1), m.group(2), m.group(3)
        try:
            if model.startswith("bench-"):
                value = lookup(_report(layout.benchmarks).summary(model[len("bench-") :]), key, model)
            else:
                folder = folders.get(model, layout.pages / model)
                if not folder.is_dir():
                    return "(not built here)"
                value = read_number(folder, key)
        except KeyError as exc:
            raise ValueError(f"{where}: {m.group(0)}: {exc.args[0]}") from None
        if isinstance(value, str) and fmt is None:  # a recorded sentence: shown as written
            return markup.text(value)
        return _FORMATS[fmt].format(int(value) if fmt == "int" else value)

    def table(m: re.Match[str]) -> str:
        try:
            return _report(layout.benchmarks).table(m.group(1))
        except KeyError as exc:
            raise ValueError(f"{where}: {m.group(0)}: {exc.args[0]}") from None

    def figure(m: re.Match[str]) -> str:
        # an inline code span is left as written; a figure's caption may hold code
        return m.group(0) if m.group("code") else _figure(m, layout, where)

    def prose(text: str) -> str:
        spans = _INLINE_CODE.split(text)
        filled = "".join(q if j % 2 else _NUMBER.sub(one, _TABLE.sub(table, q)) for j, q in enumerate(spans))
        return _FIGURE_OR_CODE.sub(figure, filled)

    parts = _FENCED.split(markdown)
    return "".join(p if i % 2 else prose(p) for i, p in enumerate(parts))


# ---------------------------------------------------------------- mkdocs-gallery glue


_COLAB = re.compile(r"(?P<repo>[\w.-]+/[\w.-]+)@(?P<branch>[\w./-]+)")
_NOTEBOOK_BUTTON = re.compile(r"(\]\(\./(?P<nb>[\w.-]+\.ipynb)\)\{[^}\n]*\})")


def colab_buttons(markdown: str, colab: str, src_uri: str) -> str:
    """After each gallery "Download Jupyter notebook" button, an "Open in Colab" button for
    the same notebook on the branch the site is published from (``OWNER/REPO@BRANCH``)."""
    m = _COLAB.fullmatch(colab)
    if m is None:
        raise ValueError(f"colab must be OWNER/REPO@BRANCH, got {colab!r}")
    folder = Path(src_uri).parent.as_posix()
    base = f"https://colab.research.google.com/github/{m.group('repo')}/blob/{m.group('branch')}"

    def button(b: re.Match[str]) -> str:
        path = f"{folder}/{b.group('nb')}".lstrip("./")
        return f"{b.group(1)}\n\n[Open in Colab: {b.group('nb')}]({base}/{path}){{ .md-button .center }}"

    return _NOTEBOOK_BUTTON.sub(button, markdown)


def _quiet_gallery_import() -> None:
    """mkdocs-gallery 0.10.4 imports MkDocs' deprecated ``warning_filter``, and MkDocs logs that
    DeprecationWarning with a traceback at the top of every build log. Import that shim once
    with this one warning silenced: it is about mkdocs-gallery's code, nothing a reader of the
    log can act on."""
    import warnings

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="warning_filter doesn't do anything", category=DeprecationWarning)
        import mkdocs_gallery.mkdocs_compatibility  # noqa: F401


def link_instead_of_copy(file: Any) -> None:
    """Make MkDocs hard-link a static file from the docs folder into the site instead of
    copying its bytes: the gallery writes ~10,000 small images (unit pages), and copying them
    took most of a rebuild with nothing to compute. Falls back to a copy where a link cannot be
    made (another file system, no hard links) or the file is not readable by all (a web server
    could not read the link). The site's files then share the docs folder's (generated)
    images, which convviz only ever replaces, never rewrites in place."""

    def copy_file(dirty: bool = False) -> None:
        if dirty and not file.is_modified():
            return
        src, dest = file.abs_src_path, file.abs_dest_path
        os.makedirs(os.path.dirname(dest), exist_ok=True)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(dest)
        try:
            if os.stat(src).st_mode & 0o044 != 0o044:
                raise PermissionError  # a copy gets the umask's permissions: readable
            os.link(src, dest)
        except OSError:
            shutil.copyfile(src, dest)

    file.copy_file = copy_file


def _reset_keras(gallery_conf: Any, fname: Any) -> None:
    import keras

    # without Keras' full garbage collection: 0.2-0.5 s before and after every page (the
    # zoo's models are kept between pages anyway, see zoo.load)
    keras.backend.clear_session(free_memory=False)
    keras.utils.set_random_seed(0)


def _reset_matplotlib(gallery_conf: Any, fname: Any) -> None:
    """mkdocs-gallery's reset (matplotlib's defaults), then the site's figure style."""
    from convviz.style import use_site_style

    use_site_style()


class _OutputBlock(str):
    """mkdocs-gallery's template of a page's printed output, with a fence longer than any run
    of backticks in the output (its own fence is three: a printed class name could end it and
    the rest would be read as Markdown)."""

    def __new__(cls) -> _OutputBlock:
        return super().__new__(cls, "Out:\n{: .mkd-glr-script-out }\n\n{0}\n\n")

    def format(self, *args: Any, **kwargs: Any) -> str:
        body = str(args[0]).rstrip("\n") if args else ""
        return f"Out:\n{{: .mkd-glr-script-out }}\n\n{markup.fenced(body, '{.text .mkd-glr-script-out-disp }')}\n\n"


def _folded_code(codestr2md: Any) -> Any:
    """mkdocs-gallery's code block, folded: a ``<details>`` whose summary says what it holds,
    so that each block's figures and printed conclusions come right after its text. A
    traceback (``pytb``) stays open."""

    def folded(codestr: str, lang: str = "python", lineno: Any = None, is_exc: bool = False) -> str:
        block = codestr2md(codestr, lang=lang, lineno=lineno, is_exc=is_exc)
        if is_exc or lang != "python":
            return str(block)
        lines = len(codestr.strip("\n").splitlines())
        return (
            f'<details class="convviz-code" markdown="1">\n<summary>The code ({lines} '
            f"line{'s' if lines != 1 else ''})</summary>\n\n{block}\n</details>\n"
        )

    folded._convviz = True  # type: ignore[attr-defined]
    return folded


_DOWNLOAD_NOTE = re.compile(
    r"\n!!! note\n\n +Click \[here\]\(#download_links\)\n +to download the full example code[^\n]*\n"
)
_TIMING = re.compile(r"\*\*Total running time of the script:\*\*[^\n]*\n")


def _header_and_footer(wrapper: Any) -> Any:
    """mkdocs-gallery's page header without its download note, and its footer's running time
    replaced by the page's compute time (:func:`convviz.site.page_seconds`): a page that read
    its results from the cache says how long computing them took, and how long it took here."""

    def header_and_footer(script: Any, time_elapsed: float, memory_used: float) -> tuple[str, str]:
        from convviz.site import page_seconds, remember_page_seconds

        before, after = wrapper(script, time_elapsed, memory_used)
        text = Path(script.src_py_file).read_text(encoding="utf-8")
        computed = page_seconds(text)
        if computed is None:
            remember_page_seconds(text, time_elapsed)
            line = f"**Computed** in {time_elapsed:.1f} s by this build (results and figures).\n"
        else:
            line = (
                f"**Computed** in {computed:.1f} s by the run that filled the cache; this build read the "
                f"results and drew the figures in {time_elapsed:.1f} s.\n"
            )
        before = _DOWNLOAD_NOTE.sub("\n", before)
        after = _TIMING.sub(line, after) if _TIMING.search(after) else line + after
        return before, after

    header_and_footer._convviz = True  # type: ignore[attr-defined]
    return header_and_footer


def _escaped_titles(titles: Any) -> Any:
    """A figure's titles, which mkdocs-gallery writes into the image's alt text (Markdown, or
    an HTML attribute), as text shown as written."""

    def escaped(fig: Any) -> str:
        return markup.text(titles(fig))

    escaped._convviz = True  # type: ignore[attr-defined]
    return escaped


def _data_errors_are_build_errors(handle: Any) -> Any:
    """A page that stops on a data problem (a :class:`convviz.zoo.ZooError`: the zoo file, an
    image folder, a model file) ends the build with that one line, as MkDocs' PluginError;
    any other exception is a bug and keeps mkdocs-gallery's traceback."""

    def handle_exception(exc_info: Any, script: Any) -> Any:
        from convviz.zoo import ZooError

        if isinstance(exc_info[1], ZooError):
            raise PluginError(str(exc_info[1])) from None
        return handle(exc_info, script)

    handle_exception._convviz = True  # type: ignore[attr-defined]
    return handle_exception


def _prepare_gallery() -> None:
    """Register the Keras resetter (the gallery's ``reset_modules`` takes names only), make
    the gallery's output tee safe for TensorFlow's logging at exit, and hush the gallery's
    duplicate-name warning: every model's pages share file names by design (their URLs are
    ``gallery/<model>/<page>/``); the duplicates break only backreference links, unused here."""
    from mkdocs_gallery import gen_single, scrapers

    scrapers._reset_dict["keras"] = _reset_keras
    scrapers._reset_dict["matplotlib"] = _reset_matplotlib
    # what a page prints and the titles of its figures are data (class, layer, image names):
    # printed output goes behind a fence it cannot close, figure titles into the alt text
    # escaped, and a data error in a page is the build's one-line error
    gen_single.CODE_OUTPUT = _OutputBlock()
    # figures first: a page's code is folded under its text (downloads keep it whole), the
    # header's download note (the buttons are at the end) goes, the footer says compute time
    if not getattr(gen_single.codestr2md, "_convviz", False):
        gen_single.codestr2md = _folded_code(gen_single.codestr2md)
    if not getattr(gen_single.get_example_md_wrapper, "_convviz", False):
        gen_single.get_example_md_wrapper = _header_and_footer(gen_single.get_example_md_wrapper)
    if not getattr(scrapers._matplotlib_fig_titles, "_convviz", False):
        scrapers._matplotlib_fig_titles = _escaped_titles(scrapers._matplotlib_fig_titles)
    if not getattr(gen_single.handle_exception, "_convviz", False):
        gen_single.handle_exception = _data_errors_are_build_errors(gen_single.handle_exception)
    tee = gen_single._LoggingTee
    if not hasattr(tee, "close"):
        tee.close = lambda self: None
    if not hasattr(tee, "isatty"):
        tee.isatty = lambda self: False
    gallery_log = logging.getLogger("mkdocs.plugins.mkdocs-gallery")
    if not any(isinstance(f, _SameNamesAcrossModels) for f in gallery_log.filters):
        gallery_log.addFilter(_SameNamesAcrossModels())


def _extra_pages(model_dir: Path, docs: Path) -> list[Any]:
    """Nav entries for a model's unit pages (the layer index, then one page per layer in
    forward order) and its class page, as far as they exist."""
    import json

    from convviz.unit_pages import LAYERS_FILE, layer_folder

    def rel(p: Path) -> str:
        return Path(os.path.relpath(p, docs)).as_posix()

    entries: list[Any] = []
    units = model_dir / "units"
    if (units / "index.md").is_file():
        layers: list[Any] = [{"All layers": rel(units / "index.md")}]
        try:
            summary = json.loads((units / LAYERS_FILE).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            summary = {}
        for name in summary:
            page = units / layer_folder(name) / "index.md"
            if page.is_file():
                layers.append({markup.text(name): rel(page)})
        entries.append({"Layers and units": layers})
    if (model_dir / "classes" / "index.md").is_file():
        # a section of its own: with Material's navigation.indexes, an index.md directly in the
        # model's section would become the section's own page
        entries.append({"Classes": [{"Every class": rel(model_dir / "classes" / "index.md")}]})
    return entries


def _with_extra_pages(nav: Any, out: Path, docs: Path) -> Any:
    """``nav`` with :func:`_extra_pages` appended to each model's section (a list holding
    that model's gallery pages, ``<gallery>/<model>/<page>.md``)."""
    gallery = Path(os.path.relpath(out, docs)).as_posix()

    def model_of(item: Any) -> str | None:
        path = item if isinstance(item, str) else next(iter(item.values())) if isinstance(item, dict) else None
        if not isinstance(path, str) or not path.startswith(gallery + "/"):
            return None
        parts = path[len(gallery) + 1 :].split("/")
        return parts[0] if len(parts) == 2 and parts[1].endswith(".md") and parts[1] != "index.md" else None

    def walk(item: Any) -> Any:
        if isinstance(item, list):
            models = {m for m in map(model_of, item) if m}
            done = [walk(x) for x in item]
            if len(models) == 1:
                model = models.pop()
                if not any(isinstance(x, dict) and "Layers and units" in x for x in done):
                    done += _extra_pages(out / model, docs)
            return done
        if isinstance(item, dict):
            return {k: walk(v) for k, v in item.items()}
        return item

    return walk(nav)


class ChapterOrder:
    """mkdocs-gallery's sort key for a model's pages: the chapter's order (activations, filter
    patterns, Grad-CAM, pixel attributions, latent space, then the changes page), any other
    script after them by name."""

    def __init__(self, *args: Any) -> None:
        from convviz.site import PAGE_NAMES

        self.order = (*PAGE_NAMES, "changes")

    def __call__(self, filename: str) -> tuple[int, str]:
        stem = Path(filename).stem
        return (self.order.index(stem) if stem in self.order else len(self.order), str(filename))


class _SameNamesAcrossModels(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("Duplicate example file name(s) found")


def _nav_has(nav: Any, target: str) -> bool:
    if isinstance(nav, str):
        return nav.rstrip("/").removesuffix("/index.md").rstrip("/") == target
    if isinstance(nav, dict):
        return any(_nav_has(v, target) for v in nav.values())
    if isinstance(nav, list):
        return any(_nav_has(v, target) for v in nav)
    return False


_TIME = re.compile(r"\|\s*\[([^\]]+)\]\([^)]*\)[^|]*\|\s*(\d+):(\d+(?:\.\d+)?)\s*\|")


class ConvvizPlugin(BasePlugin[_Options]):
    """The plugin; see the module text for its options."""

    def __init__(self) -> None:
        self.layout: Layout | None = None
        self._gallery: Any = None
        self._start = 0.0
        self._seconds: dict[tuple[str, str], float] = {}
        self._changed: dict[str, list[str]] = {}  # models whose gallery pages re-run in this build
        self._jobs = 1

    # -- configuration
    def load_config(self, options: dict[str, Any], config_file_path: str | None = None) -> Any:
        known = {name for name, _ in self.config_scheme}
        errors, warnings = super().load_config(options, config_file_path)
        where = config_file_path or "mkdocs.yml"
        unknown = [k for k in options if k not in known]
        if unknown:
            warnings = [w for w in warnings if w[0] not in unknown]
            message = f"{where}: unknown convviz option {unknown[0]!r}; valid: {', '.join(sorted(known))}"
            errors.append((unknown[0], ValidationError(message)))
        return errors, warnings

    def _layout(self, config: Any) -> Layout:
        root = Path(config.config_file_path or "mkdocs.yml").resolve().parent
        where = config.config_file_path or "mkdocs.yml"
        docs = Path(config.docs_dir).resolve()
        opts = self.config
        zoo_file = (root / opts.zoo).resolve()
        env = os.environ.get("CONVVIZ_ZOO")
        if env:
            if Path(env).resolve() != zoo_file:
                log.info("convviz: CONVVIZ_ZOO=%s overrides the zoo option (%s)", env, opts.zoo)
            zoo_file = Path(env).resolve()
        if not zoo_file.is_file():
            raise PluginError(
                f"{where}: convviz zoo file not found: {zoo_file} (set the plugin's 'zoo' option to your "
                "zoo file, relative to mkdocs.yml; `convviz init` writes a starter zoo.yml)"
            )
        templates = None
        if opts.templates:
            from convviz.site import check_overrides

            try:
                templates = check_overrides(root / opts.templates)
            except ValueError as exc:
                raise PluginError(f"{where}: convviz 'templates': {exc}") from None
        examples = {}
        for src, out in opts.examples.items():
            if not (root / src).is_dir():
                raise PluginError(f"{where}: convviz 'examples': folder not found: {root / src}")
            examples[(root / src).resolve()] = (docs / str(out)).resolve()
        unknown = sorted(set(opts.gallery) & set(_GALLERY_FOLDERS))
        if opts.colab is not None and not _COLAB.fullmatch(opts.colab):
            raise PluginError(
                f"{where}: convviz 'colab' must be OWNER/REPO@BRANCH (the branch the site is published from, "
                f"e.g. convviz/convviz@gh-pages), got {opts.colab!r}"
            )
        if unknown:
            raise PluginError(
                f"{where}: convviz 'gallery' may not set {', '.join(unknown)}: the plugin sets them "
                "(use 'examples' for folders of your own scripts)"
            )
        guide = os.path.relpath(docs / "add-your-model.md", docs / opts.gallery_dir)
        try:
            label = zoo_file.relative_to(root).as_posix()
        except ValueError:
            label = zoo_file.name
        return Layout(
            pages=(root / opts.pages_dir).resolve(),
            docs=docs,
            zoo=zoo_file,
            root=root,
            out=(docs / opts.gallery_dir).resolve(),
            examples=examples,
            benchmarks=(root / opts.benchmarks).resolve() if opts.benchmarks else None,
            templates=templates,
            zoo_label=label,
            guide=guide if (docs / "add-your-model.md").is_file() else GUIDE,
        )

    def _gallery_plugin(self, config: Any, layout: Layout) -> Any:
        from mkdocs_gallery.plugin import GalleryPlugin

        root = Path(config.config_file_path or "mkdocs.yml").resolve().parent

        def rel(p: Path) -> str:
            return Path(os.path.relpath(p, root)).as_posix()

        options = {
            **_GALLERY_DEFAULTS,
            **self.config.gallery,
            "examples_dirs": [rel(layout.pages), *map(rel, layout.examples)],
            "gallery_dirs": [rel(layout.out), *map(rel, layout.examples.values())],
        }
        plugin = GalleryPlugin()
        errors, _ = plugin.load_config(options, config.config_file_path)
        if errors:
            name, err = errors[0]
            raise PluginError(f"{config.config_file_path}: convviz 'gallery' option {name!r}: {err}")
        if "within_subsection_order" not in self.config.gallery:
            plugin.config["within_subsection_order"] = ChapterOrder  # a class: the gallery's own check takes names
        return plugin

    def on_config(self, config: Any, **kwargs: Any) -> Any:
        _quiet_gallery_import()  # before any other import of mkdocs-gallery
        if "gallery" in config.plugins:
            raise PluginError(
                f"{config.config_file_path}: the convviz plugin configures mkdocs-gallery itself: remove 'gallery' "
                "from plugins (its options go under convviz's 'gallery' option, its folders under 'examples')"
            )
        self._start = time.time()
        layout = self._layout(config)
        self.layout = layout
        # the page scripts, ``convviz render`` and the cache read these
        os.environ["CONVVIZ_ZOO"] = str(layout.zoo)
        os.environ.setdefault("CONVVIZ_CACHE_DIR", str(layout.root / ".convviz-cache"))
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
        if "md_in_html" not in config.markdown_extensions:  # folded code: <details markdown="1">
            config.markdown_extensions.append("md_in_html")
        _prepare_gallery()
        from convviz.zoo import ZooError

        layout.pages.mkdir(parents=True, exist_ok=True)
        try:
            changed = generate_pages(layout)
        except ZooError as exc:
            raise PluginError(str(exc)) from None
        for model, pages in changed.items():
            print(f"convviz: {model}: pages to (re)build: {', '.join(pages)}")
        from convviz.prerender import default_jobs

        try:
            self._jobs = default_jobs(self.config.jobs)
        except ValueError as exc:
            raise PluginError(f"{config.config_file_path}: convviz {exc}") from None
        from convviz import zoo as _zoo

        names = {e.name for e in _zoo.read()}
        self._changed = {m: p for m, p in changed.items() if m in names}
        for out in layout.examples.values():
            out.mkdir(parents=True, exist_ok=True)
        rel_out = Path(os.path.relpath(layout.out, Path(config.docs_dir).resolve())).as_posix()
        if config.nav is not None and not _nav_has(config.nav, rel_out):
            config.nav.append({self.config.nav_title: rel_out})
        for asset in _assets():
            kind = "extra_javascript" if asset.suffix == ".js" else "extra_css"
            if f"{ASSETS}/{asset.name}" not in [str(x) for x in config[kind]]:
                config[kind].append(f"{ASSETS}/{asset.name}")
        self._gallery = self._gallery_plugin(config, layout)
        return self._gallery.on_config(config)

    # -- build
    def on_pre_build(self, config: Any, **kwargs: Any) -> None:
        """mkdocs-gallery runs the page scripts; then every model's unit and class pages are
        written (each skipped where its fingerprint is unchanged). A data problem (the zoo
        file, an image folder, a model file) ends the build with its one line."""
        from convviz.zoo import ZooError

        try:
            self._build_pages(config)
        except ZooError as exc:
            raise PluginError(str(exc)) from None

    def _build_pages(self, config: Any) -> None:
        from convviz import zoo
        from convviz.class_pages import write_class_pages
        from convviz.explorer import write_explorer
        from convviz.layer_browser import write_layer_browser
        from convviz.unit_pages import write_unit_pages

        from convviz.pages import recording

        from convviz.prerender import prerender

        assert self.layout is not None
        self._train_first()
        # models at once, in worker processes; they also write the unit and class pages, layer
        # browsers and explorers, which the loop below then finds up to date
        outcomes = prerender(self._changed, jobs=self._jobs, cwd=self.layout.root, pages_out=self.layout.out)
        self._changed = {}
        write_model_readmes(self.layout)  # with the accuracies the workers found
        self._seconds.clear()
        for o in outcomes:  # said here; the times table at the end is this process's pages
            for page, sec in o.written.items():
                print(f"convviz: {o.model}: {_EXTRA_PAGES.get(page, page)} written by its worker in {sec:.1f} s")
        with recording():  # the pages' convviz.record() calls fill numbers.json
            self._gallery.on_pre_build(config)
        clean_downloads(self.layout.out_dirs)
        for e in zoo.read():
            if not zoo.usable(e)[0]:
                continue
            start = time.perf_counter()
            done = write_unit_pages(e, self.layout.out / e.name / "units")
            if done is not None:
                self._seconds[(e.name, "units")] = time.perf_counter() - start
                print(
                    f"convviz: {e.name}: unit pages of {len(done)} layers written in {self._seconds[(e.name, 'units')]:.1f} s"
                )
            start = time.perf_counter()
            if write_layer_browser(e, self.layout.out / e.name / "layers"):
                self._seconds[(e.name, "layers")] = time.perf_counter() - start
                print(f"convviz: {e.name}: layer browser written in {self._seconds[(e.name, 'layers')]:.1f} s")
            start = time.perf_counter()
            if write_explorer(e, self.layout.out / e.name / "explorer"):
                self._seconds[(e.name, "explorer")] = time.perf_counter() - start
                print(f"convviz: {e.name}: embedding explorer written in {self._seconds[(e.name, 'explorer')]:.1f} s")
            seconds = write_class_pages(e, self.layout.out / e.name / "classes")
            if seconds is not None:
                self._seconds[(e.name, "classes")] = seconds
                print(f"convviz: {e.name}: class page written in {seconds:.1f} s")
        self._extend_nav(config)

    def _extend_nav(self, config: Any) -> None:
        """Each model's section of the navigation gets its unit, layer and class pages (the
        gallery lists only the pages of its scripts): a reader reaches every page from the
        sidebar, in the chapter's order after the gallery pages."""
        assert self.layout is not None
        docs = Path(config.docs_dir).resolve()
        config["nav"] = _with_extra_pages(config["nav"], self.layout.out, docs)

    def on_files(self, files: Any, config: Any, **kwargs: Any) -> Any:
        """The gallery's files, and the explorer's script and style from the package."""
        from mkdocs.structure.files import File

        files = self._gallery.on_files(files, config)
        for asset in _assets():
            files.append(File.generated(config, f"{ASSETS}/{asset.name}", abs_src_path=str(asset)))
        docs = os.path.join(os.path.abspath(config["docs_dir"]), "")  # MkDocs joins src paths onto it
        for f in files:
            if not f.is_documentation_page() and f.abs_src_path and f.abs_src_path.startswith(docs):
                link_instead_of_copy(f)
        return files

    def on_page_markdown(self, markdown: str, page: Any, config: Any, files: Any, **kwargs: Any) -> str:
        if self.config.colab and ".ipynb)" in markdown:
            markdown = colab_buttons(markdown, self.config.colab, page.file.src_uri)
        if "{{" not in markdown or self.layout is None:
            return markdown
        try:
            return fill_numbers(markdown, self.layout, page.file.src_uri)
        except ValueError as exc:
            raise PluginError(str(exc)) from None

    def on_page_content(self, html: str, page: Any, config: Any, files: Any, **kwargs: Any) -> str:
        return self._gallery.on_page_content(html, page, config, files)

    def on_serve(self, server: Any, config: Any, builder: Any, **kwargs: Any) -> Any:
        assert self.layout is not None
        server.watch(str(self.layout.zoo))
        if self.layout.templates is not None:
            server.watch(str(self.layout.templates))
        return self._gallery.on_serve(server, config, builder)

    def on_build_error(self, error: Exception, **kwargs: Any) -> None:
        if self.layout is None:
            return
        for md5 in forget_failed(self.layout.out_dirs):
            print(f"convviz: {md5} forgotten: its example failed")

    def on_post_build(self, config: Any, **kwargs: Any) -> None:
        self._gallery.on_post_build(config)
        assert self.layout is not None
        self._print_accuracies()
        self._print_times()

    @staticmethod
    def _trained_models(names: Any = None) -> list[Any]:
        """The zoo's usable trained models (those in ``names`` when given) and the variants
        their changes pages compare them with."""
        from convviz import zoo
        from convviz.revisions import trained_variants

        trained = [e for e in zoo.read() if e.source == "trained" and (names is None or e.name in names)]
        return [e for e in trained if zoo.usable(e)[0]] + trained_variants(trained)

    def _train_first(self) -> None:
        """Train, here and before the workers start, the models of the pages that will run
        that neither the cache nor the shipped weights hold: with the training's progress
        shown (a worker's output is read only when it ends), and once."""
        from convviz import zoo

        for e in self._trained_models(self._changed):
            if zoo.needs_training(e):
                print(f"convviz: {e.name}: neither cached nor shipped for its recipe: training it", flush=True)
                zoo.load(e)

    def _print_accuracies(self) -> None:
        """Each trained model's test accuracy against its goal, and where its weights came
        from (read from the cache: nothing is loaded). A model below its ``min_accuracy``
        is a warning, which fails a ``--strict`` build."""
        from convviz import zoo

        for e in self._trained_models():
            record = zoo.cached_record(e)
            if record is None:
                continue
            acc, goal = float(record["test_accuracy"]), e.min_accuracy
            status = "ok" if goal is None or acc >= goal else f"BELOW min_accuracy {goal:.2f}"
            how = (
                "from the shipped weights"
                if record.get("shipped") is not None
                else f"trained in {record.get('seconds') or 0:.0f} s"
            )
            print(f"convviz: {e.name}: test accuracy {acc:.4f} ({status}), {how}")
            if status != "ok":
                log.warning("convviz: %s: test accuracy %.4f is below its min_accuracy %.2f", e.name, acc, goal)

    def _print_times(self) -> None:
        """Print the time of every gallery page run in this build (from mkdocs-gallery's
        execution-time tables), per model, and which galleries were unchanged."""
        assert self.layout is not None
        rows, unchanged = [], []
        for out in self.layout.out_dirs:
            for table in sorted(out.rglob("mg_execution_times.md")):
                folder = table.parent.relative_to(out.parent).as_posix()
                if table.stat().st_mtime < self._start:
                    unchanged.append(folder)
                    continue
                for line in table.read_text(encoding="utf-8").splitlines():
                    m = _TIME.search(line)
                    if m:
                        rows.append((folder, m.group(1).strip(), int(m.group(2)) * 60 + float(m.group(3))))
        gallery = self.layout.out.name
        rows += [(f"{gallery}/{model}", page, sec) for (model, page), sec in self._seconds.items()]
        print("convviz: gallery pages run in this build (seconds):")
        for folder, page, sec in rows:
            print(f"  {folder:<28} {page:<16} {sec:7.1f}")
        print(
            f"  total {sum(r[2] for r in rows):.1f} s"
            + (f"; unchanged (not re-run): {', '.join(unchanged)}" if unchanged else "")
        )
        per_model: dict[str, float] = {}
        for folder, _, sec in rows:
            key = folder.removeprefix(f"{gallery}/")
            per_model[key] = per_model.get(key, 0.0) + sec
        if per_model:
            print(
                "  per model: "
                + ", ".join(f"{m} {s:.0f} s" for m, s in sorted(per_model.items(), key=lambda kv: -kv[1]))
            )
