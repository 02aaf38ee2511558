"""MkDocs hooks: turn gallery/zoo.yml into gallery pages before mkdocs-gallery runs.

For every usable zoo model, the page templates in ``gallery/templates/`` become
``gallery/zoo_pages/<model>/{activations,filters,gradcam,attributions,latent}.py`` (files are written
only when their content changes, so mkdocs-gallery's MD5 cache re-runs exactly the
pages of a model whose zoo entry, weights or template changed: each page carries a
fingerprint of them). Models removed from the zoo lose their pages.

Also: reset Keras and Matplotlib between scripts, keep TensorFlow's logging away from
the gallery's output tee, forget the MD5 of a failed build (no stale traceback page),
and print a per-page timing summary.
"""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

log = logging.getLogger("mkdocs.hooks.convviz")
ROOT = Path(__file__).resolve().parents[1]
TEMPLATES = ROOT / "gallery" / "templates"
PAGES = ROOT / "gallery" / "zoo_pages"
OUT_DIRS = (ROOT / "docs" / "gallery", ROOT / "docs" / "course" / "figures")
from convviz.site import pages_for  # noqa: E402


def _reset_keras(gallery_conf, fname):
    import keras

    keras.backend.clear_session()
    keras.utils.set_random_seed(0)


def _register_resetter() -> None:
    from mkdocs_gallery import scrapers

    scrapers._reset_dict["keras"] = _reset_keras


def _patch_logging_tee() -> None:
    """TF's absl handler calls close()/fileno() on sys.stdout at exit: give the tee them."""
    from mkdocs_gallery import gen_single

    tee = gen_single._LoggingTee
    if not hasattr(tee, "close"):
        tee.close = lambda self: None
    if not hasattr(tee, "isatty"):
        tee.isatty = lambda self: False


class _SameNamesAcrossModels(logging.Filter):
    """Every model's pages share file names (activations.py...) by design, so their URLs are
    ``gallery/<model>/<page>/``. mkdocs-gallery warns because duplicate names break its
    backreference links, which this site does not use (no ``doc_module``)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("Duplicate example file name(s) found")


def on_startup(command, dirty, **kwargs):
    """Before any plugin reads its configuration: register the Keras resetter (the gallery's
    ``reset_modules`` takes names only) and make the gallery's output tee safe for
    TensorFlow's logging at exit. Done here, once per run, not when this file is imported."""
    _register_resetter()
    _patch_logging_tee()
    logging.getLogger("mkdocs.plugins.mkdocs-gallery").addFilter(_SameNamesAcrossModels())


def _zoo_index(entries, skipped) -> str:
    from convviz import zoo

    lines = [
        "# Model zoo",
        "",
        "Every model of [`gallery/zoo.yml`](https://github.com/convviz/convviz/blob/main/gallery/zoo.yml) "
        "gets five pages: intermediate activations, filter patterns, Grad-CAM, pixel attributions and latent space, "
        "a page per conv layer with every unit, and a page with every class; an entry with `compare_to` also gets "
        "a page of what changed against the model it names. "
        "Adding an entry to the zoo adds its pages ([how](../add-your-model.md)).",
        "",
        "| model | source | dataset | test accuracy | pages |",
        "|---|---|---|---|---|",
    ]
    for e in entries:
        acc = zoo.test_accuracy(e)
        detail = e.options.get("architecture") or e.options.get("application") or e.options.get("path")
        acc_text = f"{acc:.2%}" if acc is not None else "—"
        pages = " · ".join(
            [f"[{p}]({e.name}/{p}.md)" for p in pages_for(e)]
            + [f"[units]({e.name}/units/index.md)", f"[classes]({e.name}/classes/index.md)"]
        )
        lines.append(f"| [{e.name}](#{e.name}) | {e.source} (`{detail}`) | {e.dataset} | {acc_text} | {pages} |")
    for e, why in skipped:
        lines.append(f"| {e.name} (skipped) | {e.source} | {e.dataset} | — | not built here: {why} |")
    lines.append("")
    return "\n".join(lines)


def _model_readme(entry) -> str:
    from convviz import zoo

    acc = zoo.test_accuracy(entry)
    shape = "×".join(str(d) for d in entry.input_shape)
    text = [
        f"## {entry.name}",
        "",
        f"**{entry.title}**. {entry.description}",
        "",
        f"Input {shape}, {len(entry.class_names)} classes, dataset `{entry.dataset}`"
        + (f", test accuracy **{acc:.2%}**." if acc is not None else "."),
        "",
        f"[Every layer and unit]({entry.name}/units/index.md): each conv layer's output shape, receptive "
        "field and dead units, and every unit's feature visualization beside the test images that excite "
        "it most. [Every class](" + entry.name + "/classes/index.md): the input that maximizes its score, its "
        "most confident and most confused test images, its average Grad-CAM, and the confusion matrix.",
        "",
    ]
    if entry.compare_to is not None:
        from convviz.revisions import reference_entry

        label = reference_entry(entry)[0]
        text += [
            f"[What changed]({entry.name}/changes.md) against `{label}`: accuracy, flipped predictions with both "
            "Grad-CAMs, per-layer CKA, the units that changed most and the aligned latent spaces.",
            "",
        ]
    return "\n".join(text)


def generate_pages() -> dict[str, list[str]]:
    """Write the per-model gallery scripts; returns {model: [pages written]}."""
    from convviz import zoo
    from convviz.site import _write_if_changed, remove_stale_pages, write_pages

    entries, skipped = [], []
    for e in zoo.read():
        ok, why = zoo.usable(e)
        if ok:
            entries.append(e)
        else:
            log.info("convviz: skipping zoo model %s: %s", e.name, why)
            skipped.append((e, why))
    changed: dict[str, list[str]] = {}
    _write_if_changed(PAGES / "README.md", _zoo_index(entries, skipped))
    for e in entries:
        _write_if_changed(PAGES / e.name / "README.md", _model_readme(e))
        written = write_pages(e, PAGES / e.name, templates=TEMPLATES)
        if e.compare_to is None and (PAGES / e.name / "changes.py").is_file():
            (PAGES / e.name / "changes.py").unlink()  # compare_to removed: its page goes too
            out = OUT_DIRS[0] / e.name
            for stale in [
                *out.glob("changes.*"),
                *out.glob("images/*_changes_*"),
                *out.glob("images/thumb/*_changes_*"),
            ]:
                stale.unlink()
            written.append("changes")
        if written:
            changed[e.name] = written
    remove_stale_pages(PAGES, {e.name for e in entries}, OUT_DIRS)
    changed.update(refresh_course_figures())
    return changed


_ENTRY = re.compile(r"""zoo\.entry\(["']([\w-]+)["']\)""")


def refresh_course_figures() -> dict[str, list[str]]:
    """mkdocs-gallery re-runs a script only when its text changes; a course script also
    depends on the zoo models it loads (``zoo.entry("shapes-cnn")``), on the convviz code it
    calls and on the backend. Keep a fingerprint of all that beside its output and forget
    the script's MD5 when it changes, so the figure is recomputed."""
    import hashlib

    from convviz import zoo
    from convviz._code import code_digest, environment
    from convviz.site import page_modules

    out = OUT_DIRS[1]
    rerun: dict[str, list[str]] = {}
    known = {e.name: e for e in zoo.read()}
    for script in sorted(COURSE_PAGES.glob("*.py")):
        text = script.read_text(encoding="utf-8")
        # the recipes of the models it loads, and whether each is usable here (a course page
        # may use the chapter's ImageNet model when its weights are present)
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
        rerun.setdefault("course", []).append(script.stem)
    return rerun


_BUILD_START = [0.0]


def on_config(config, **kwargs):
    import time

    _BUILD_START[0] = time.time()
    changed = generate_pages()
    for model, pages in changed.items():
        print(f"convviz: {model}: pages to (re)build: {', '.join(pages)}")
    return config


_UNIT_SECONDS: dict[tuple[str, str], float] = {}


def on_pre_build(config, **kwargs):
    """After mkdocs-gallery ran the pages (its own ``on_pre_build``; hooks come after the
    plugins) and before MkDocs collects the files: write every model's unit pages
    (``docs/gallery/<model>/units/``), skipped where their fingerprint is unchanged."""
    import time

    from convviz import zoo
    from convviz.class_pages import write_class_pages
    from convviz.unit_pages import write_unit_pages

    _UNIT_SECONDS.clear()
    for e in zoo.read():
        if not zoo.usable(e)[0]:
            continue
        start = time.perf_counter()
        done = write_unit_pages(e, OUT_DIRS[0] / e.name / "units")
        if done is not None:
            _UNIT_SECONDS[(e.name, "units")] = time.perf_counter() - start
            print(
                f"convviz: {e.name}: unit pages of {len(done)} layers written in "
                f"{_UNIT_SECONDS[(e.name, 'units')]:.1f} s"
            )
        seconds = write_class_pages(e, OUT_DIRS[0] / e.name / "classes")
        if seconds is not None:
            _UNIT_SECONDS[(e.name, "classes")] = seconds
            print(f"convviz: {e.name}: class page written in {seconds:.1f} s")


def on_build_error(error, **kwargs):
    """A failed example must not leave its MD5 behind: mkdocs-gallery writes it even on
    failure, and the next build would silently keep the traceback page. Forget the MD5 of
    every example whose page is missing or shows a traceback."""
    for out in OUT_DIRS:
        for md5 in out.rglob("*.py.md5"):
            page = md5.with_name(md5.name[: -len(".py.md5")] + ".md")
            if not page.is_file() or "Traceback (most recent call last)" in page.read_text(encoding="utf-8"):
                md5.unlink()
                print(f"convviz: {md5.relative_to(ROOT)} forgotten: its example failed")


_NUMBER = re.compile(r"\{\{\s*number\s+([\w-]+)\.([\w.]+?)(?:\s*\|\s*(pct|pct0|f1|f2|f3|int))?\s*\}\}")
_FORMATS = {
    "pct": "{:.1%}",
    "pct0": "{:.0%}",
    "f1": "{:.1f}",
    "f2": "{:.2f}",
    "f3": "{:.3f}",
    "int": "{:d}",
    None: "{}",
}
COURSE_PAGES = ROOT / "gallery" / "course"


_TABLE = re.compile(r"\{\{\s*table\s+bench-(\w+)\s*\}\}")
BENCHMARKS = ROOT / "benchmarks"


def _report():
    import importlib.util

    spec = importlib.util.spec_from_file_location("convviz_bench_report", BENCHMARKS / "report.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def fill_numbers(markdown: str, where: str = "page") -> str:
    """Replace ``{{ number MODEL.PAGE.NAME | pct }}`` with what that page recorded in this
    build (``convviz.site.record``), ``{{ number bench-NAME.KEY }}`` with a benchmark result
    and ``{{ table bench-NAME }}`` with its table (``benchmarks/report.py``): numbers in
    prose are computed, never typed. MODEL is a zoo model or ``course``; a model not built
    here reads "(not built here)"."""
    from convviz.site import lookup, read_number

    def one(m: re.Match) -> str:
        model, key, fmt = m.group(1), m.group(2), m.group(3)
        try:
            if model.startswith("bench-"):
                value = lookup(_report().summary(model[len("bench-") :]), key, model)
            else:
                folder = COURSE_PAGES if model == "course" else PAGES / model
                if not folder.is_dir():
                    return "(not built here)"
                value = read_number(folder, key)
        except KeyError as exc:
            raise ValueError(f"{where}: {m.group(0)}: {exc.args[0]}") from None
        return _FORMATS[fmt].format(int(value) if fmt == "int" else value)

    def table(m: re.Match) -> str:
        try:
            return _report().table(m.group(1))
        except KeyError as exc:
            raise ValueError(f"{where}: {m.group(0)}: {exc.args[0]}") from None

    parts = _CODE.split(markdown)  # code (fenced or inline) is shown as written
    return "".join(p if i % 2 else _NUMBER.sub(one, _TABLE.sub(table, p)) for i, p in enumerate(parts))


_CODE = re.compile(r"(```.*?```|`[^`\n]*`)", re.S)


def on_page_markdown(markdown, page, config, files, **kwargs):
    if "{{" not in markdown:
        return markdown
    from mkdocs.exceptions import PluginError

    try:
        return fill_numbers(markdown, page.file.src_uri)
    except ValueError as exc:
        raise PluginError(str(exc)) from None


_TIME = re.compile(r"\|\s*\[([^\]]+)\]\([^)]*\)[^|]*\|\s*(\d+):(\d+(?:\.\d+)?)\s*\|")


def on_post_build(config, **kwargs):
    """Print the time of every gallery page run in this build (from mkdocs-gallery's
    execution-time tables), and which galleries were unchanged."""
    rows, unchanged = [], []
    for out in OUT_DIRS:
        for table in sorted(out.rglob("mg_execution_times.md")):
            if table.stat().st_mtime < _BUILD_START[0]:
                unchanged.append(table.parent.relative_to(out.parent).as_posix())
                continue
            for line in table.read_text(encoding="utf-8").splitlines():
                m = _TIME.search(line)
                if m:
                    rows.append(
                        (
                            table.parent.relative_to(out.parent).as_posix(),
                            m.group(1).strip(),
                            int(m.group(2)) * 60 + float(m.group(3)),
                        )
                    )
    print("convviz: gallery pages run in this build (seconds):")
    for folder, page, sec in rows:
        print(f"  {folder:<28} {page:<16} {sec:7.1f}")
    for (model, page), sec in _UNIT_SECONDS.items():
        rows.append((f"gallery/{model}", page, sec))
        print(f"  {'gallery/' + model:<28} {page:<16} {sec:7.1f}")
    print(
        f"  total {sum(r[2] for r in rows):.1f} s"
        + (f"; unchanged (not re-run): {', '.join(unchanged)}" if unchanged else "")
    )
    per_model: dict[str, float] = {}
    for folder, _, sec in rows:
        per_model[folder.removeprefix("gallery/")] = per_model.get(folder.removeprefix("gallery/"), 0.0) + sec
    if per_model:
        print(
            "  per model: "
            + ", ".join(f"{m} {sec:.0f} s" for m, sec in sorted(per_model.items(), key=lambda kv: -kv[1]))
        )
