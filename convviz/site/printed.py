"""How a gallery page shows what its script printed and the code that printed it: output cut
at its blank lines, each part a block (a table keeps its columns, a sentence wraps), and each
code block folded under its text. The pages' fingerprints include this module's source
(:data:`convviz.site.freshness.PAGE_MARKUP`): a change here writes every page again."""

from __future__ import annotations

import re
from typing import Any

from convviz.core import markup

__all__ = ["OutputBlock", "folded_code", "tabular"]


class OutputBlock(str):
    """mkdocs-gallery's template of a page's printed output, with a fence longer than any run
    of backticks in the output (its own fence is three: a printed class name could end it and
    the rest would be read as Markdown)."""

    def __new__(cls) -> OutputBlock:
        return super().__new__(cls, "Out:\n{: .mkd-glr-script-out }\n\n{0}\n\n")

    def format(self, *args: Any, **kwargs: Any) -> str:
        body = str(args[0]).rstrip("\n") if args else ""
        blocks = "\n\n".join(
            markup.fenced(part, "{.text .mkd-glr-script-out-disp" + (" .convviz-table" if tabular(part) else "") + " }")
            for part in _paragraphs(body)
        )
        return f"Out:\n{{: .mkd-glr-script-out }}\n\n{blocks}\n\n"


_COLUMN_GAP = re.compile(r"\S {2,}\S")


def _paragraphs(body: str) -> list[str]:
    """``body`` cut at its blank lines (each part is a block of its own: a table keeps its
    columns and scrolls, a sentence wraps), or ``[body]`` where it has none to cut at."""
    parts = [part.strip("\n") for part in re.split(r"\n[ \t]*\n", body)]
    parts = [part for part in parts if part.strip()]
    return parts or [body]


def tabular(text: str) -> bool:
    """Whether printed ``text`` is a table: two or more of its lines hold columns (text, two
    or more spaces, text). A table is shown with its columns kept, scrolling sideways on a
    narrow screen; any other text wraps."""
    return sum(1 for line in text.splitlines() if _COLUMN_GAP.search(line.strip())) >= 2


def folded_code(codestr2md: Any) -> Any:
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
