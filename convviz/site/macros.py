"""The macros of the site's Markdown pages, filled at build time from what the build computed: ``{{ number NAME }}`` (a number a page recorded), ``{{ table NAME }}`` (a benchmark's results) and ``{{ figure PAGE N }}`` (a gallery page's figure, linked to its page)."""

from __future__ import annotations

import html
import os
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from convviz.core import markup
from convviz.core.errors import InputError

if TYPE_CHECKING:
    from convviz.site.generate import Layout


__all__ = ["fill_numbers"]


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
        raise InputError(
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
        raise InputError(f"{where}: {m.group(0)}: no such figure on {model}'s {page} page (its figures: {valid})")
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
    from convviz.site.record import lookup, read_number

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
            raise InputError(f"{where}: {m.group(0)}: {exc.args[0]}") from None
        if isinstance(value, str) and fmt is None:  # a recorded sentence: shown as written
            return markup.text(value)
        return _FORMATS[fmt].format(int(value) if fmt == "int" else value)

    def table(m: re.Match[str]) -> str:
        try:
            return _report(layout.benchmarks).table(m.group(1))
        except KeyError as exc:
            raise InputError(f"{where}: {m.group(0)}: {exc.args[0]}") from None

    def figure(m: re.Match[str]) -> str:
        # an inline code span is left as written; a figure's caption may hold code
        return m.group(0) if m.group("code") else _figure(m, layout, where)

    def prose(text: str) -> str:
        spans = _INLINE_CODE.split(text)
        filled = "".join(q if j % 2 else _NUMBER.sub(one, _TABLE.sub(table, q)) for j, q in enumerate(spans))
        return _FIGURE_OR_CODE.sub(figure, filled)

    parts = _FENCED.split(markdown)
    return "".join(p if i % 2 else prose(p) for i, p in enumerate(parts))
