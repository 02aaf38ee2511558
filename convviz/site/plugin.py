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

Its options are documented in :mod:`convviz.site.options`; the work is done by
:mod:`~convviz.site.generate` (pages from the zoo), :mod:`~convviz.site.prerender` (models
computed in parallel), :mod:`~convviz.site.gallery` (mkdocs-gallery, adjusted),
:mod:`~convviz.site.nav` (navigation), :mod:`~convviz.site.macros` (numbers in pages) and
:mod:`~convviz.site.summary` (what the build prints)."""

from __future__ import annotations

import gc
import logging
import os
import time
from pathlib import Path
from typing import Any

from mkdocs.config.base import ValidationError
from mkdocs.exceptions import PluginError
from mkdocs.plugins import BasePlugin

from convviz.store.cache import ENV_VAR as CACHE_ENV, cache_folder
from convviz.site.gallery import COLAB, colab_buttons, link_instead_of_copy, prepare_gallery, quiet_gallery_import
from convviz.site.generate import GUIDE, Layout, clean_downloads, forget_failed, generate_pages, write_model_readmes
from convviz.site.macros import fill_numbers
from convviz.site.nav import EXTRA_PAGES, ChapterOrder, nav_has, with_extra_pages, with_trust_page
from convviz.site.options import ASSETS, GALLERY_DEFAULTS, GALLERY_FOLDERS, Options, assets
from convviz.site.summary import print_accuracies, print_times, train_first

THEME_DIR = str(Path(__file__).with_name("theme"))  # template overrides: theme/partials/

__all__ = ["ConvvizPlugin"]


log = logging.getLogger("mkdocs.plugins.convviz")


class ConvvizPlugin(BasePlugin[Options]):
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
            from convviz.site.pages import check_overrides

            try:
                templates = check_overrides(root / opts.templates)
            except ValueError as exc:
                raise PluginError(f"{where}: convviz 'templates': {exc}") from None
        examples = {}
        for src, out in opts.examples.items():
            if not (root / src).is_dir():
                raise PluginError(f"{where}: convviz 'examples': folder not found: {root / src}")
            examples[(root / src).resolve()] = (docs / str(out)).resolve()
        unknown = sorted(set(opts.gallery) & set(GALLERY_FOLDERS))
        if opts.colab is not None and not COLAB.fullmatch(opts.colab):
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
            **GALLERY_DEFAULTS,
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
        quiet_gallery_import()  # before any other import of mkdocs-gallery
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
        os.environ[CACHE_ENV] = str(cache_folder(layout.root))
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
        if "md_in_html" not in config.markdown_extensions:  # folded code: <details markdown="1">
            config.markdown_extensions.append("md_in_html")
        # convviz's partials (the footer that names a neighbour's section) after the site's own
        # custom_dir, before the theme's
        theme = config.theme
        if THEME_DIR not in theme.dirs:
            theme.dirs.insert(1 if theme.custom_dir else 0, THEME_DIR)
        prepare_gallery()
        from convviz.zoo.errors import ZooError

        layout.pages.mkdir(parents=True, exist_ok=True)
        try:
            changed = generate_pages(layout)
        except ZooError as exc:
            raise PluginError(str(exc)) from None
        for model, pages in changed.items():
            print(f"convviz: {model}: pages to (re)build: {', '.join(pages)}")
        from convviz.site.prerender import default_jobs

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
        if config.nav is not None and not nav_has(config.nav, rel_out):
            config.nav.append({self.config.nav_title: rel_out})
        for asset in assets():
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
        from convviz.zoo.errors import ZooError

        try:
            self._build_pages(config)
        except ZooError as exc:
            raise PluginError(str(exc)) from None

    def _build_pages(self, config: Any) -> None:
        from convviz import zoo
        from convviz.site.atlas_page import write_atlas_page
        from convviz.site.class_pages import write_class_pages
        from convviz.site.concept_pages import write_concept_pages
        from convviz.site.explorer import write_explorer
        from convviz.site.layer_browser import write_layer_browser
        from convviz.site.prerender import prerender
        from convviz.site.record import recording
        from convviz.site.unit_pages import write_unit_pages

        assert self.layout is not None
        train_first(self._changed)
        # models at once, in worker processes; they also write the unit and class pages, layer
        # browsers and explorers, which the loop below then finds up to date
        outcomes = prerender(self._changed, jobs=self._jobs, cwd=self.layout.root, pages_out=self.layout.out)
        self._changed = {}
        write_model_readmes(self.layout)  # with the accuracies the workers found
        self._seconds.clear()
        for o in outcomes:  # said here; the times table at the end is this process's pages
            for page, sec in o.written.items():
                print(f"convviz: {o.model}: {EXTRA_PAGES.get(page, page)} written by its worker in {sec:.1f} s")
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
            seconds = write_concept_pages(e, self.layout.out / e.name / "concepts")
            if seconds is not None:
                self._seconds[(e.name, "concepts")] = seconds
                print(f"convviz: {e.name}: concepts page written in {seconds:.1f} s")
            seconds = write_atlas_page(e, self.layout.out / e.name / "atlas")
            if seconds is not None:
                self._seconds[(e.name, "atlas")] = seconds
                print(f"convviz: {e.name}: activation atlas written in {seconds:.1f} s")
        from convviz.site.trust import TRUST_FOLDER, write_trust_page

        seconds = write_trust_page([e for e in zoo.read() if zoo.usable(e)[0]], self.layout.out / TRUST_FOLDER)
        if seconds is not None:
            self._seconds[("zoo", "trust")] = seconds
            print(f"convviz: the Trust page written in {seconds:.1f} s")
        self._extend_nav(config)

    def _extend_nav(self, config: Any) -> None:
        """Each model's section of the navigation gets its unit, layer and class pages (the
        gallery lists only the pages of its scripts): a reader reaches every page from the
        sidebar, in the chapter's order after the gallery pages."""
        assert self.layout is not None
        docs = Path(config.docs_dir).resolve()
        config["nav"] = with_trust_page(with_extra_pages(config["nav"], self.layout.out, docs), self.layout.out, docs)

    def on_files(self, files: Any, config: Any, **kwargs: Any) -> Any:
        """The gallery's files, and the explorer's script and style from the package."""
        from mkdocs.structure.files import File

        files = self._gallery.on_files(files, config)
        for asset in assets():
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
        gc.unfreeze()  # see on_post_build
        if self.layout is None:
            return
        for md5 in forget_failed(self.layout.out_dirs):
            print(f"convviz: {md5} forgotten: its example failed")

    def on_post_build(self, config: Any, **kwargs: Any) -> None:
        # the heap the first page script froze (site/gallery.py) is collectable again: a model
        # dropped from zoo.load's memory, or this build's pages under `mkdocs serve`, is not kept
        gc.unfreeze()
        self._gallery.on_post_build(config)
        assert self.layout is not None
        print_accuracies()
        print_times(self.layout, self._start, self._seconds)
