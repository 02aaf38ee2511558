"""mkdocs-gallery, adjusted for convviz's pages (the pinned 0.10.4 is unmaintained; see ``shared/notes/mkdocs-gallery.md``): figures before the code that makes them (code folded under its text), printed output fenced and wrapped, figure titles escaped, a page's compute time in its footer, data problems reported as one build error, notebooks with a Colab button, outputs linked instead of copied."""

from __future__ import annotations

import contextlib
import logging
import os
import re
import shutil
from pathlib import Path
from typing import Any

from mkdocs.exceptions import PluginError

from convviz.core import markup
from convviz.site.printed import OutputBlock, folded_code
from convviz.site.nav import SameNamesAcrossModels
from convviz.core.errors import InputError

__all__ = ["COLAB", "prepare_gallery", "quiet_gallery_import", "colab_buttons", "link_instead_of_copy"]


COLAB = re.compile(r"(?P<repo>[\w.-]+/[\w.-]+)@(?P<branch>[\w./-]+)")


_NOTEBOOK_BUTTON = re.compile(r"(\]\(\./(?P<nb>[\w.-]+\.ipynb)\)\{[^}\n]*\})")


def colab_buttons(markdown: str, colab: str, src_uri: str) -> str:
    """After each gallery "Download Jupyter notebook" button, an "Open in Colab" button for
    the same notebook on the branch the site is published from (``OWNER/REPO@BRANCH``)."""
    m = COLAB.fullmatch(colab)
    if m is None:
        raise InputError(f"colab must be OWNER/REPO@BRANCH, got {colab!r}")
    folder = Path(src_uri).parent.as_posix()
    base = f"https://colab.research.google.com/github/{m.group('repo')}/blob/{m.group('branch')}"

    def button(b: re.Match[str]) -> str:
        path = f"{folder}/{b.group('nb')}".lstrip("./")
        return f"{b.group(1)}\n\n[Open in Colab: {b.group('nb')}]({base}/{path}){{ .md-button .center }}"

    return _NOTEBOOK_BUTTON.sub(button, markdown)


def quiet_gallery_import() -> None:
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
    import gc

    import keras

    # without Keras' full garbage collection: 0.2-0.5 s before and after every page (the
    # zoo's models are kept between pages anyway, see zoo.load)
    keras.backend.clear_session(free_memory=False)
    keras.utils.set_random_seed(0)
    if not gc.get_freeze_count():
        # mkdocs-gallery collects garbage before every page script, and each collection scanned
        # every object of TensorFlow, Keras and their modules (0.42 s a page, 18 pages: 7.6 s of
        # a build from the cache). Once, with them imported: collect, then move what is alive to
        # the permanent generation, which a collection skips (what dies later is still freed by
        # its reference count; cycles among these objects wait for the plugin's gc.unfreeze()
        # at the end of the build)
        gc.collect()
        gc.freeze()


def _reset_matplotlib(gallery_conf: Any, fname: Any) -> None:
    """mkdocs-gallery's reset (matplotlib's defaults), then the site's figure style; and the
    count of the seconds the page's cached results took starts again (its footer says it)."""
    from convviz.figures.style import use_site_style
    from convviz.store.memo import reset_cached_seconds

    reset_cached_seconds()
    use_site_style()


_DOWNLOAD_NOTE = re.compile(
    r"\n!!! note\n\n +Click \[here\]\(#download_links\)\n +to download the full example code[^\n]*\n"
)


_TIMING = re.compile(r"\*\*Total running time of the script:\*\*[^\n]*\n")


def _header_and_footer(wrapper: Any) -> Any:
    """mkdocs-gallery's page header without its download note, and its footer's running time
    replaced by the page's compute time: the seconds its cached results took to compute
    (:func:`convviz.store.memo.cached_seconds`, wherever they were computed), and how long
    the page ran in this build."""

    def header_and_footer(script: Any, time_elapsed: float, memory_used: float) -> tuple[str, str]:
        from convviz.store.memo import cached_seconds

        before, after = wrapper(script, time_elapsed, memory_used)
        computed = cached_seconds()
        if computed < 0.05:
            line = f"**Computed** in {time_elapsed:.1f} s by this build (results and figures).\n"
        else:
            line = (
                f"**Computed:** its cached results took {computed:.1f} s to compute; this build ran the page "
                f"in {time_elapsed:.1f} s (reading or computing them, and drawing the figures).\n"
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
    """A page that stops on a data problem (a :class:`convviz.zoo.errors.ZooError`: the zoo file, an
    image folder, a model file) ends the build with that one line, as MkDocs' PluginError;
    any other exception is a bug and keeps mkdocs-gallery's traceback."""

    def handle_exception(exc_info: Any, script: Any) -> Any:
        from convviz.zoo.errors import ZooError

        if isinstance(exc_info[1], ZooError):
            raise PluginError(str(exc_info[1])) from None
        return handle(exc_info, script)

    handle_exception._convviz = True  # type: ignore[attr-defined]
    return handle_exception


def prepare_gallery() -> None:
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
    gen_single.CODE_OUTPUT = OutputBlock()
    # figures first: a page's code is folded under its text (downloads keep it whole), the
    # header's download note (the buttons are at the end) goes, the footer says compute time
    if not getattr(gen_single.codestr2md, "_convviz", False):
        gen_single.codestr2md = folded_code(gen_single.codestr2md)
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
    if not any(isinstance(f, SameNamesAcrossModels) for f in gallery_log.filters):
        gallery_log.addFilter(SameNamesAcrossModels())
