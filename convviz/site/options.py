"""The ``convviz`` MkDocs plugin's options, their defaults, and the mkdocs-gallery options it sets.

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
    gallery runs (:mod:`convviz.site.prerender`). Default: ``$CONVVIZ_JOBS``, else one per CPU
    core (at most 4); ``1``: none, one process computes everything.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mkdocs.config import config_options as c
from mkdocs.config.base import Config

__all__ = ["ASSETS", "GALLERY_DEFAULTS", "GALLERY_FOLDERS", "Options", "assets"]

ASSETS = "assets/convviz"  # the explorer's and layer browser's scripts and style, shipped in convviz/assets/


def assets() -> list[Path]:
    return sorted(p for p in (Path(__file__).resolve().parent / "assets").iterdir() if p.suffix in (".js", ".css"))


# mkdocs-gallery options the plugin sets; ``gallery:`` may change any but the folders
GALLERY_DEFAULTS: dict[str, Any] = {
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


GALLERY_FOLDERS = ("examples_dirs", "gallery_dirs")


class Options(Config):
    """The plugin's options (see the module text)."""

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
