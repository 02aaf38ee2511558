"""The site's zoo pages, shared by the MkDocs hook and ``convviz render``.

The page scripts of a zoo model are written from the templates shipped in
``convviz/templates/`` (a folder of overrides may replace any of them); ``render`` runs them without MkDocs, saves their figures as PNG
and the numbers they :func:`record` as a JSON manifest. Their expensive calls use the
cache (``cache=True``), keyed on the model's weights: a site built after ``render``
(in another process, or another CI job whose cache was merged) recomputes nothing.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import runpy
import shutil
import time
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from convviz.markup import fill_template
from convviz.pages import _RECORDER, _write_if_changed, pick_examples, read_number, record

__all__ = [
    "PAGE_NAMES",
    "pages_for",
    "WHAT",
    "pick_examples",
    "record",
    "read_number",
    "templates_dir",
    "template_path",
    "check_overrides",
    "write_pages",
    "remove_stale_pages",
    "render",
    "page_seconds",
    "remember_page_seconds",
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
        raise ValueError(f"template folder not found: {folder} (it overrides page templates: {valid})")
    scripts = sorted(folder.glob("*.py"))
    unknown = [p.name for p in scripts if p.stem not in WHAT.values()]
    if unknown:
        raise ValueError(
            f"{folder}: {', '.join(unknown)} {'is' if len(unknown) == 1 else 'are'} not a page template; valid: {valid}"
        )
    if not scripts:
        raise ValueError(f"template folder {folder} holds no page template; valid: {valid}")
    return folder


def template_path(page: str, overrides: Path | None = None) -> Path:
    """The template of a page: from ``overrides`` when it holds one, else the package's."""
    if overrides is not None and (Path(overrides) / f"{page}.py").is_file():
        return Path(overrides) / f"{page}.py"
    return templates_dir() / f"{page}.py"


def page_modules(template_text: str) -> tuple[str, ...]:
    """The convviz modules a page script uses, and those they import (transitively).

    Found in the script's code: ``from convviz import zoo`` and ``from convviz.x import y``
    name modules; ``convviz.NAME`` resolves a re-exported function to the module that
    defines it (``convviz.grad_cam`` -> ``cam``).
    """
    import ast

    import convviz
    from convviz._code import PACKAGE_DIR, imports_in, module_closure

    mods = set(imports_in(template_text))

    def resolve(name: str) -> None:
        if (PACKAGE_DIR / f"{name}.py").is_file():
            mods.add(name)
        elif name in convviz._EXPORTS:  # known without importing it (and Keras)
            mods.add(convviz._EXPORTS[name])

    for node in ast.walk(ast.parse(template_text)):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "convviz":
            resolve(node.attr)  # convviz.grad_cam(...)
        elif isinstance(node, ast.ImportFrom) and node.module == "convviz" and node.level == 0:
            for alias in node.names:  # from convviz import record
                resolve(alias.name)
    return module_closure(mods)


def _fingerprint(entry: Any, template_text: str, extra: str = "") -> str:
    """What a page's output depends on: the zoo entry, the template, the source of the
    convviz modules the page uses and the numerical environment."""
    from convviz._code import code_digest, environment

    parts = [
        entry.name,
        entry.source,
        entry.dataset,
        repr(sorted(entry.options.items())),
        repr(entry.recipe()),
        template_text,
        code_digest(*page_modules(template_text)),
        repr(sorted(environment().items())),
    ]
    if extra:
        parts.append(extra)
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]


def write_pages(
    entry: Any, folder: Path, *, templates: Path | None = None, pages: Sequence[str] | None = None
) -> list[str]:
    """Write ``folder/<page>.py`` for a zoo entry from the templates; only files whose
    content changed are written. Returns the pages written.

    ``templates`` is a folder of overrides (see :func:`check_overrides`): a page it holds
    replaces the package's template of that page.

    Placeholders (``{{MODEL}}``, ``{{TITLE}}``, ``{{DESCRIPTION}}``, ``{{FINGERPRINT}}``) are
    filled as data (:func:`convviz.markup.fill_template`): in the docstring and comments as
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
            from convviz.revisions import reference_fingerprint

            extra = reference_fingerprint(entry)  # the reference model, not only this entry
        fingerprint = _fingerprint(entry, template, extra)
        if "{{FINGERPRINT}}" not in template:  # an override template without the placeholder
            template = template.rstrip("\n") + '\n# mkdocs_gallery_convviz_fingerprint = "{{FINGERPRINT}}"\n'
        values = {
            "MODEL": entry.name,
            "TITLE": entry.title,
            "DESCRIPTION": entry.description,
            "FINGERPRINT": fingerprint,
        }
        text = fill_template(template, values, where=str(template_path(page, templates)))
        if _write_if_changed(folder / f"{page}.py", text):
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


@contextlib.contextmanager
def _in_folder(folder: Path) -> Iterator[None]:
    """Run in ``folder`` (a page's scripts folder) as if in the project: the zoo file and the
    cache stay the project's (``$CONVVIZ_ZOO``, ``$CONVVIZ_CACHE_DIR`` for the duration, unless
    already set), wherever ``folder`` is (``convviz render --out /elsewhere``)."""
    from convviz import cache, zoo

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


def _page_key(script_text: str) -> str:
    return "page-seconds-" + hashlib.sha256(script_text.encode()).hexdigest()[:24]


def page_seconds(script_text: str) -> float | None:
    """How long the first run of a page script (its exact text: zoo entry, template and code
    fingerprint included) took, as recorded in the cache by :func:`remember_page_seconds`;
    None when no run recorded it. A build that reads a page's results from a cache filled by
    ``convviz render`` (a worker, a CI job) says this time, not its own reading time."""
    from convviz.cache import default_cache

    record = default_cache().read_json(_page_key(script_text))
    return float(record["seconds"]) if isinstance(record, dict) and "seconds" in record else None


def remember_page_seconds(script_text: str, seconds: float) -> None:
    """Record the time of a page script's run in the cache, unless a run of the same text is
    already recorded (the first run computes; later ones read its results from the cache)."""
    from convviz.cache import default_cache

    store = default_cache()
    key = _page_key(script_text)
    if store.read_json(key) is None:
        store.put_bytes(key, json.dumps({"seconds": round(float(seconds), 2)}).encode())


RENDERABLE = (*WHAT, "units", "classes")


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
        ``"units"`` (the unit pages, :mod:`convviz.unit_pages`, in ``<out>/<model>/units/``),
        ``"classes"`` (the class page, :mod:`convviz.class_pages`, in ``<out>/<model>/classes/``).
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
    from convviz.plot import save_figure
    from convviz.style import use_site_style

    unknown = [w for w in what if w not in RENDERABLE]
    if unknown:
        raise ValueError(f"unknown page(s) {unknown}; valid: {', '.join(RENDERABLE)}")
    entry = zoo.entry(name)
    ok, why = zoo.usable(entry)
    if not ok:
        raise ValueError(f"zoo model {name!r} is not usable here: {why}")
    target = Path(out).resolve() / name
    target.mkdir(parents=True, exist_ok=True)
    scripts = target / "scripts"
    pages = [WHAT[w] for w in what if w in WHAT and WHAT[w] in pages_for(entry)]
    from convviz.paths import find

    write_pages(entry, scripts, pages=pages, templates=find().templates)  # the project's overrides, if any
    manifest: dict[str, Any] = {"model": name, "test_accuracy": zoo.test_accuracy(entry), "pages": {}}
    for page in tqdm(pages, desc=f"render {name}", unit="page", disable=not progress):
        plt.close("all")
        use_site_style()
        keras.backend.clear_session(free_memory=False)  # no full garbage collection per page
        numbers: dict[str, Any] = {}
        _RECORDER[0] = numbers
        start = time.perf_counter()
        try:
            with _in_folder(scripts):
                runpy.run_path(str(scripts / f"{page}.py"), run_name="__main__")
        finally:
            _RECORDER[0] = None
        remember_page_seconds((scripts / f"{page}.py").read_text(encoding="utf-8"), time.perf_counter() - start)
        for i, num in enumerate(plt.get_fignums() if figures else [], start=1):
            save_figure(plt.figure(num), target / f"{page}_{i:02d}.png")
        plt.close("all")
        manifest["pages"][page] = {"seconds": round(time.perf_counter() - start, 2), **numbers}
    pages_dir = target if pages_out is None else Path(pages_out).resolve() / name
    if "activations" in pages:
        from convviz.layer_browser import write_layer_browser

        start = time.perf_counter()
        written = bool(write_layer_browser(entry, pages_dir / "layers", progress=progress))
        manifest["pages"]["layers"] = {"seconds": round(time.perf_counter() - start, 2), "written": written}
    if "latent" in pages:
        from convviz.explorer import write_explorer

        start = time.perf_counter()
        written = bool(write_explorer(entry, pages_dir / "explorer", progress=progress))
        manifest["pages"]["explorer"] = {"seconds": round(time.perf_counter() - start, 2), "written": written}
    if "units" in what:
        from convviz.unit_pages import LAYERS_FILE, write_unit_pages

        start = time.perf_counter()
        written = write_unit_pages(entry, pages_dir / "units", progress=progress) is not None
        layers = json.loads((pages_dir / "units" / LAYERS_FILE).read_text(encoding="utf-8"))
        for info in layers.values():
            info.pop("seconds", None)  # the manifest holds results; the page's own time is below
        seconds = round(time.perf_counter() - start, 2)
        manifest["pages"]["units"] = {"seconds": seconds, "written": written, "layers": layers}
    if "classes" in what:
        from convviz.class_pages import write_class_pages

        start = time.perf_counter()
        written = write_class_pages(entry, pages_dir / "classes", progress=progress) is not None
        manifest["pages"]["classes"] = {"seconds": round(time.perf_counter() - start, 2), "written": written}
    tmp = target / "manifest.json.tmp"
    tmp.write_text(json.dumps(manifest, indent=2), encoding="utf-8")
    os.replace(tmp, target / "manifest.json")
    return manifest
