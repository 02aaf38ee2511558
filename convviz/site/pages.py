"""A zoo model's gallery pages, written from the page templates (the package's, or a folder of overrides): one script per page, its placeholders filled as data and its fingerprint inside."""

from __future__ import annotations

import shutil
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from convviz.core.files import write_if_changed
from convviz.core.markup import fill_template
from convviz.site.freshness import gallery_fingerprint
from convviz.core.errors import InputError

__all__ = [
    "PAGE_NAMES",
    "pages_for",
    "WHAT",
    "templates_dir",
    "template_path",
    "check_overrides",
    "write_pages",
    "remove_stale_pages",
]


PAGE_NAMES = ("activations", "filters", "gradcam", "attributions", "latent")


WHAT = {
    "activations": "activations",
    "filters": "filters",
    "cam": "gradcam",
    "attributions": "attributions",
    "latent": "latent",
    "changes": "changes",
}


def pages_for(entry: Any) -> tuple[str, ...]:
    """The gallery pages of a zoo entry: :data:`PAGE_NAMES`, and ``changes`` when the entry
    has a ``compare_to``."""
    return (*PAGE_NAMES, "changes") if getattr(entry, "compare_to", None) is not None else PAGE_NAMES


def templates_dir() -> Path:
    """The page templates shipped inside the package."""
    return Path(__file__).resolve().parent / "templates"


def check_overrides(folder: str | Path) -> Path:
    """A folder of page-template overrides, checked: it exists and every ``.py`` in it is
    named after a page (``activations.py``, ...). Raises ValueError naming the folder and
    the valid page names."""
    folder = Path(folder)
    valid = ", ".join(f"{p}.py" for p in WHAT.values())
    if not folder.is_dir():
        raise InputError(f"template folder not found: {folder} (it overrides page templates: {valid})")
    scripts = sorted(folder.glob("*.py"))
    unknown = [p.name for p in scripts if p.stem not in WHAT.values()]
    if unknown:
        raise InputError(
            f"{folder}: {', '.join(unknown)} {'is' if len(unknown) == 1 else 'are'} not a page template; valid: {valid}"
        )
    if not scripts:
        raise InputError(f"template folder {folder} holds no page template; valid: {valid}")
    return folder


def template_path(page: str, overrides: Path | None = None) -> Path:
    """The template of a page: from ``overrides`` when it holds one, else the package's."""
    if overrides is not None and (Path(overrides) / f"{page}.py").is_file():
        return Path(overrides) / f"{page}.py"
    return templates_dir() / f"{page}.py"


def write_pages(
    entry: Any, folder: Path, *, templates: Path | None = None, pages: Sequence[str] | None = None
) -> list[str]:
    """Write ``folder/<page>.py`` for a zoo entry from the templates; only files whose
    content changed are written. Returns the pages written.

    ``templates`` is a folder of overrides (see :func:`check_overrides`): a page it holds
    replaces the package's template of that page.

    Placeholders (``{{MODEL}}``, ``{{TITLE}}``, ``{{DESCRIPTION}}``, ``{{FINGERPRINT}}``) are
    filled as data (:func:`convviz.core.markup.fill_template`): in the docstring and comments as
    text shown as written, in string literals as Python literals; a zoo file's text never
    becomes code or markup.

    Each script carries a fingerprint of the entry (its recipe or weights-file hash), the
    template and the convviz code it uses, so mkdocs-gallery's MD5 cache re-runs a model's
    pages exactly when one of them changes. The fingerprint is an mkdocs-gallery config
    comment (``# mkdocs_gallery_convviz_fingerprint = "..."``): the gallery removes it from
    the page and the notebook, and the plugin from the downloadable script. A template
    without the ``{{FINGERPRINT}}`` placeholder gets the comment as its last line.
    """
    written = []
    for page in pages_for(entry) if pages is None else pages:
        template = template_path(page, templates).read_text(encoding="utf-8")
        extra = ""
        if page == "changes":
            from convviz.review.revisions import reference_fingerprint

            extra = reference_fingerprint(entry)  # the reference model, not only this entry
        digest = gallery_fingerprint(entry, template, extra)
        if "{{FINGERPRINT}}" not in template:  # an override template without the placeholder
            template = template.rstrip("\n") + '\n# mkdocs_gallery_convviz_fingerprint = "{{FINGERPRINT}}"\n'
        values = {
            "MODEL": entry.name,
            "TITLE": entry.title,
            "DESCRIPTION": entry.description,
            "FINGERPRINT": digest,
        }
        text = fill_template(template, values, where=str(template_path(page, templates)))
        if write_if_changed(folder / f"{page}.py", text):
            written.append(page)
    return written


def remove_stale_pages(pages_root: Path, keep: Iterable[str], out_dirs: Iterable[Path] = ()) -> None:
    """Delete the page folders of models no longer in the zoo (and their rendered output)."""
    keep = set(keep)
    for folder in pages_root.iterdir():
        if folder.is_dir() and folder.name not in keep:
            shutil.rmtree(folder)
            for out in out_dirs:
                shutil.rmtree(out / folder.name, ignore_errors=True)
