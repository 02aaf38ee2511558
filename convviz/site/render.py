"""``convviz render``: a model's pages run without MkDocs, in the page folder as if in the project, their figures saved as PNG and their recorded numbers as a JSON manifest."""

from __future__ import annotations

import contextlib
import json
import os
import runpy
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from convviz.site.pages import WHAT, pages_for, write_pages
from convviz.site.record import collecting
from convviz.core.files import atomic_write
from convviz.core.errors import InputError

__all__ = ["render", "RENDERABLE"]


@contextlib.contextmanager
def _in_folder(folder: Path) -> Iterator[None]:
    """Run in ``folder`` (a page's scripts folder) as if in the project: the zoo file and the
    cache stay the project's (``$CONVVIZ_ZOO``, ``$CONVVIZ_CACHE_DIR`` for the duration, unless
    already set), wherever ``folder`` is (``convviz render --out /elsewhere``)."""
    from convviz import zoo
    from convviz.store import cache

    pinned = {zoo.ENV_VAR: str(zoo.path()), cache.ENV_VAR: str(cache.default_cache().root)}
    added = [k for k in pinned if not os.environ.get(k)]
    old = Path.cwd()
    os.environ.update({k: pinned[k] for k in added})
    os.chdir(folder)
    try:
        yield
    finally:
        os.chdir(old)
        for k in added:
            os.environ.pop(k, None)


RENDERABLE = (*WHAT, "units", "classes", "concepts", "atlas")


def render(
    name: str,
    *,
    what: Sequence[str] = RENDERABLE,
    out: str | Path = "renders",
    progress: bool = True,
    figures: bool = True,
    pages_out: str | Path | None = None,
) -> dict[str, Any]:
    """Render one zoo model's pages without MkDocs: PNG figures and ``manifest.json``.

    Parameters
    ----------
    name
        A zoo model.
    what
        Any of ``"activations"``, ``"filters"``, ``"cam"``, ``"attributions"``, ``"latent"``,
        ``"units"`` (the unit pages, :mod:`convviz.site.unit_pages`, in ``<out>/<model>/units/``),
        ``"classes"`` (the class page, :mod:`convviz.site.class_pages`, in ``<out>/<model>/classes/``),
        ``"concepts"`` (the concepts page, :mod:`convviz.site.concept_pages`, in ``<out>/<model>/concepts/``),
        ``"atlas"`` (the activation atlas, :mod:`convviz.site.atlas_page`, in ``<out>/<model>/atlas/``).
        ``"activations"`` also writes the layer browser (``<out>/<model>/layers/``), ``"latent"`` the
        embedding explorer (``<out>/<model>/explorer/``), each with its time in the manifest and
        whether it was written (``written``: false when it was up to date).
    out
        Output folder: ``<out>/<model>/<page>_<n>.png`` and ``<out>/<model>/manifest.json``.
    figures
        False: the pages run (their arrays fill the cache, their numbers the manifest) but
        their figures are not saved (the site build's workers: the gallery plots them again).
    pages_out
        Where the unit and class pages, the layer browser and the embedding explorer go
        (``<pages_out>/<model>/units/``...; default: ``out``). The site build's workers write
        them into the site's gallery folder, where the build finds them up to date.

    Returns
    -------
    dict
        The manifest: test accuracy, and per page its recorded numbers and time.
    """
    import keras
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from tqdm.auto import tqdm

    from convviz import zoo
    from convviz.figures.output import save_figure
    from convviz.figures.style import use_site_style

    unknown = [w for w in what if w not in RENDERABLE]
    if unknown:
        raise InputError(f"unknown page(s) {unknown}; valid: {', '.join(RENDERABLE)}")
    entry = zoo.entry(name)
    ok, why = zoo.usable(entry)
    if not ok:
        raise InputError(f"zoo model {name!r} is not usable here: {why}")
    target = Path(out).resolve() / name
    target.mkdir(parents=True, exist_ok=True)
    scripts = target / "scripts"
    pages = [WHAT[w] for w in what if w in WHAT and WHAT[w] in pages_for(entry)]
    from convviz.store.project import find

    write_pages(entry, scripts, pages=pages, templates=find().templates)  # the project's overrides, if any
    manifest: dict[str, Any] = {"model": name, "test_accuracy": zoo.test_accuracy(entry), "pages": {}}
    for page in tqdm(pages, desc=f"render {name}", unit="page", disable=not progress):
        plt.close("all")
        use_site_style()
        keras.backend.clear_session(free_memory=False)  # no full garbage collection per page
        numbers: dict[str, Any] = {}
        start = time.perf_counter()
        with collecting(numbers), _in_folder(scripts):
            runpy.run_path(str(scripts / f"{page}.py"), run_name="__main__")
        for i, num in enumerate(plt.get_fignums() if figures else [], start=1):
            save_figure(plt.figure(num), target / f"{page}_{i:02d}.png")
        plt.close("all")
        manifest["pages"][page] = {"seconds": round(time.perf_counter() - start, 2), **numbers}
    pages_dir = target if pages_out is None else Path(pages_out).resolve() / name
    if "activations" in pages:
        from convviz.site.layer_browser import write_layer_browser

        start = time.perf_counter()
        written = bool(write_layer_browser(entry, pages_dir / "layers", progress=progress))
        manifest["pages"]["layers"] = {"seconds": round(time.perf_counter() - start, 2), "written": written}
    if "latent" in pages:
        from convviz.site.explorer import write_explorer

        start = time.perf_counter()
        written = bool(write_explorer(entry, pages_dir / "explorer", progress=progress))
        manifest["pages"]["explorer"] = {"seconds": round(time.perf_counter() - start, 2), "written": written}
    if "units" in what:
        from convviz.site.unit_pages import LAYERS_FILE, write_unit_pages

        start = time.perf_counter()
        written = write_unit_pages(entry, pages_dir / "units", progress=progress) is not None
        layers = json.loads((pages_dir / "units" / LAYERS_FILE).read_text(encoding="utf-8"))
        for info in layers.values():
            info.pop("seconds", None)  # the manifest holds results; the page's own time is below
        seconds = round(time.perf_counter() - start, 2)
        manifest["pages"]["units"] = {"seconds": seconds, "written": written, "layers": layers}
    if "classes" in what:
        from convviz.site.class_pages import write_class_pages

        start = time.perf_counter()
        written = write_class_pages(entry, pages_dir / "classes", progress=progress) is not None
        manifest["pages"]["classes"] = {"seconds": round(time.perf_counter() - start, 2), "written": written}
    if "concepts" in what:
        from convviz.site.concept_pages import write_concept_pages

        start = time.perf_counter()
        written = write_concept_pages(entry, pages_dir / "concepts", progress=progress) is not None
        manifest["pages"]["concepts"] = {"seconds": round(time.perf_counter() - start, 2), "written": written}
    if "atlas" in what:
        from convviz.site.atlas_page import write_atlas_page

        start = time.perf_counter()
        written = write_atlas_page(entry, pages_dir / "atlas", progress=progress) is not None
        manifest["pages"]["atlas"] = {"seconds": round(time.perf_counter() - start, 2), "written": written}
    atomic_write(target / "manifest.json", json.dumps(manifest, indent=2))
    return manifest
