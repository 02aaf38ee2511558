"""How text from a zoo file, a model file or an image folder reaches the site: as data, never
as code or markup.

A team's site is built from its zoo file (in CI, from a pull request's), so every string it
gives (names, titles, descriptions, class names, folder and image names, paths) and every
layer name a model file holds is untrusted:

* into a page script it goes as a Python literal (:func:`fill_template`, which substitutes
  placeholders token by token and writes each string it touches with ``repr``), never spliced
  into code;
* into Markdown or HTML it goes through :func:`text`, which writes every character that any
  Markdown extension or HTML could read as syntax as a numeric character reference, so that
  the page shows the string as written and nothing in it renders, links or runs;
* into a URL or a file name through :func:`path_part`;
* into a fenced block (a gallery page's printed output) behind a fence longer than any run
  of backticks in it (:func:`fenced`).
"""

from __future__ import annotations

import ast
import hashlib
import io
import re
import string
import tokenize
from collections.abc import Mapping
from convviz.core.errors import InputError

__all__ = ["TemplateError", "text", "code", "code_span", "path_part", "fenced", "fill_template", "PLACEHOLDER"]

# letters, digits and the few ASCII characters no Markdown extension or HTML reads as syntax
_PLAIN = frozenset(string.ascii_letters + string.digits + " ,;/?%")
# these read as syntax only at the edge of a word (`_emphasis_`, `--`, `1.`); inside a word
# (`shapes-cnn_v2.1`) they stay as they are, so that names read as typed in the page source
_INWORD = frozenset("-_.")


def _char(s: str, i: int) -> str:
    c = s[i]
    if c in _PLAIN or ord(c) > 127 and c.isprintable() and c not in "\u2028\u2029\x85":
        return c
    if c in _INWORD and 0 < i < len(s) - 1 and s[i - 1].isalnum() and s[i + 1].isalnum():
        return c
    if not c.isprintable() or c.isspace():
        return " "  # a line break would end a heading, a table row or a raw HTML block
    return f"&#{ord(c)};"


def text(value: object) -> str:
    """``value`` as text for Markdown or HTML (text or a quoted attribute value): shown as
    written, never read as markup.

    Every ASCII character that Markdown (with any extension: emphasis, links, attribute
    lists, tables, emoji, math, smart quotes...) or HTML could read as syntax becomes a
    numeric character reference (``<`` is ``&#60;``); line breaks and other control
    characters become spaces (HTML shows them as spaces anyway). Letters, digits, spaces
    and non-ASCII characters (``café``, ``·``) stay as they are.

    >>> text('Faces "v2" <unk> a&b')
    'Faces &#34;v2&#34; &#60;unk&#62; a&#38;b'
    >>> text("shapes-cnn_v2.1")
    'shapes-cnn_v2.1'
    """
    s = str(value)
    return "".join(_char(s, i) for i in range(len(s)))


def code(value: object) -> str:
    """``value`` shown as inline code in Markdown or HTML: ``<code>`` around :func:`text`
    (a Markdown code span cannot hold every string: a backtick in it ends the span)."""
    return f"<code>{text(value)}</code>"


def code_span(value: object) -> str:
    """``value`` as a Markdown code span, readable as plain text too (a job summary printed in
    a terminal): delimited by more backticks than any run in it, line breaks as spaces. Not
    for table cells (a ``|`` splits the cell): use :func:`code` there."""
    s = " ".join(str(value).splitlines()) or " "
    longest = max((len(m) for m in re.findall(r"`+", s)), default=0)
    ticks = "`" * (longest + 1)
    pad = " " if s.startswith("`") or s.endswith("`") else ""
    return f"{ticks}{pad}{s}{pad}{ticks}"


_SAFE_PART = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,79}")


def path_part(value: str) -> str:
    """A file or folder name (and URL segment) for ``value``: ``value`` itself when it is
    made of ASCII letters, digits, ``_``, ``-`` and ``.`` (starting with a letter or digit,
    at most 80 characters), else a readable form with a digest of ``value`` (so ``..``,
    ``a/b`` or ``<x>`` never name a path outside their folder, and two names never share one).

    >>> path_part("block1_conv1")
    'block1_conv1'
    >>> path_part("..")
    'x-2fbf7ba6'
    """
    if _SAFE_PART.fullmatch(value) and not value.endswith("."):
        return value
    readable = re.sub(r"[^A-Za-z0-9_.-]+", "-", value).strip(".-_")[:40]
    digest = hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()[:8]
    return f"{readable or 'x'}-{digest}"


def fenced(body: str, info: str = "") -> str:
    """A fenced code block holding ``body`` as it is: its fence is longer than any run of
    backticks in ``body``, so nothing in ``body`` can end the block."""
    longest = max((len(m) for m in re.findall(r"`+", body)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}{info}\n{body}\n{fence}"


class TemplateError(InputError):
    """A page template that places a placeholder where a value could become code."""


PLACEHOLDER = re.compile(r"\{\{([A-Z][A-Z0-9_]*)\}\}")


def _docstring_literal(value: str) -> str:
    """A triple-quoted literal of ``value`` (read as the page's text by mkdocs-gallery),
    checked to evaluate to ``value``."""
    body = value.replace("\\", "\\\\").replace('"""', '\\"\\"\\"')
    if body.endswith('"'):
        body = body[:-1] + '\\"'
    literal = f'"""{body}"""'
    if ast.literal_eval(literal) != value:  # pragma: no cover - the escapes above make it so
        raise AssertionError("docstring literal does not round-trip")
    return literal


def _literal(value: str) -> str:
    """``repr(value)``, in double quotes where that needs no escape (as the templates write
    their strings), checked to evaluate to ``value``."""
    literal = repr(value)
    if literal.startswith("'") and '"' not in value:
        literal = '"' + literal[1:-1] + '"'
    if ast.literal_eval(literal) != value:  # pragma: no cover - repr round-trips
        raise AssertionError("string literal does not round-trip")
    return literal


def fill_template(template: str, values: Mapping[str, str], *, where: str = "template") -> str:
    """A page script from ``template`` with each ``{{NAME}}`` placeholder replaced by
    ``values[NAME]``, as data.

    A placeholder may stand inside a string literal or a comment, nowhere else:

    * in the module docstring (the page's Markdown text) and in comments (the text cells of
      mkdocs-gallery's ``# %%`` blocks), the value goes in as :func:`text`: shown as written;
    * in any other string literal, the value goes in as it is, and the literal is written
      again with ``repr``: a quote or a line break in the value cannot end the string.

    Raises :class:`TemplateError` for a placeholder in code, in an f-string or bytes, for
    a name that is not in ``values``, and for a template that is not valid Python.
    """
    try:
        tokens = list(tokenize.generate_tokens(io.StringIO(template).readline))
    except (tokenize.TokenError, SyntaxError, IndentationError) as exc:
        raise TemplateError(f"{where}: not valid Python ({exc})") from None
    lines = template.split("\n")
    starts = [0]
    for line in lines:
        starts.append(starts[-1] + len(line) + 1)

    def offset(pos: tuple[int, int]) -> int:
        return starts[pos[0] - 1] + pos[1]

    def fill(s: str, row: int, *, markup: bool) -> str:
        def one(m: re.Match[str]) -> str:
            name = m.group(1)
            if name not in values:
                raise TemplateError(
                    f"{where}:{row}: unknown placeholder {{{{{name}}}}}; valid: "
                    + ", ".join(f"{{{{{k}}}}}" for k in values)
                )
            return text(values[name]) if markup else str(values[name])

        return PLACEHOLDER.sub(one, s)

    docstring = _docstring_token(tokens)
    edits: list[tuple[int, int, str]] = []
    for i, tok in enumerate(tokens):
        if not PLACEHOLDER.search(tok.string):
            continue
        row = tok.start[0]
        if tok.type == tokenize.COMMENT:
            new = fill(tok.string, row, markup=True)
        elif tok.type == tokenize.STRING:
            prefix = re.match(r"[A-Za-z]*", tok.string).group(0).lower()  # type: ignore[union-attr]
            if "f" in prefix or "b" in prefix:
                raise TemplateError(
                    f"{where}:{row}: a placeholder in an f-string or bytes literal; put it in a plain "
                    'string (NAME = "{{NAME}}") and use that variable'
                )
            value = ast.literal_eval(tok.string)
            if i == docstring:
                new = _docstring_literal(fill(value, row, markup=True))
            else:
                new = _literal(fill(value, row, markup=False))
        else:
            raise TemplateError(
                f"{where}:{row}: placeholder outside a string literal or a comment ({tok.string!r}); "
                'a value goes into code only as a string: NAME = "{{NAME}}"'
            )
        edits.append((offset(tok.start), offset(tok.end), new))
    for m in PLACEHOLDER.finditer(template):  # one that no string or comment holds is in code
        if not any(start <= m.start() and m.end() <= end for start, end, _ in edits):
            row = template.count("\n", 0, m.start()) + 1
            raise TemplateError(
                f"{where}:{row}: placeholder outside a string literal or a comment ({m.group(0)}); "
                'a value goes into code only as a string: NAME = "{{NAME}}"'
            )
    out = template
    for start, end, new in reversed(edits):
        out = out[:start] + new + out[end:]
    return out


def _docstring_token(tokens: list[tokenize.TokenInfo]) -> int | None:
    """The index of the module docstring's token: the first token that is not a comment,
    an encoding or a line break, when it is a string standing alone as a statement."""
    skip = {tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE, tokenize.ENCODING, tokenize.INDENT}
    for i, tok in enumerate(tokens):
        if tok.type in skip:
            continue
        if tok.type != tokenize.STRING:
            return None
        after = next((t for t in tokens[i + 1 :] if t.type not in (tokenize.COMMENT, tokenize.NL)), None)
        return i if after is None or after.type in (tokenize.NEWLINE, tokenize.ENDMARKER) else None
    return None
