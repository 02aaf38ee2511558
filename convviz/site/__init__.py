"""The site: the MkDocs plugin (:mod:`~convviz.site.plugin`) and what it builds.

A zoo model's gallery pages are written from the templates (:mod:`~convviz.site.pages`),
each with a fingerprint of what it depends on (:mod:`~convviz.site.freshness`), and run by
mkdocs-gallery or by ``convviz render`` without MkDocs (:mod:`~convviz.site.render`). Their
expensive calls use the cache (``cache=True``), keyed on the model's weights: a site built
after ``render`` (in another process, or another CI job whose cache was merged) recomputes
nothing. Beside them the extra pages: units, classes, the explorer and the layer browser.
This module names the site's functions in one place (``from convviz import site``).
"""

from __future__ import annotations

from convviz.site.freshness import fingerprint, page_modules
from convviz.site.pages import (
    PAGE_NAMES,
    WHAT,
    check_overrides,
    pages_for,
    remove_stale_pages,
    template_path,
    templates_dir,
    write_pages,
)
from convviz.site.record import pick_examples, read_number, record
from convviz.site.render import render

__all__ = [
    "PAGE_NAMES",
    "WHAT",
    "pages_for",
    "templates_dir",
    "template_path",
    "check_overrides",
    "write_pages",
    "remove_stale_pages",
    "fingerprint",
    "page_modules",
    "render",
    "record",
    "pick_examples",
    "read_number",
]
