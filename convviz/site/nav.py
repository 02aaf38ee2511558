"""The site's navigation: the generated unit, layer and class pages added under their model, the gallery's pages in the chapter's order, every page reachable."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from convviz.core import markup

__all__ = ["ChapterOrder", "EXTRA_PAGES", "SameNamesAcrossModels", "nav_has", "with_extra_pages", "with_trust_page"]


EXTRA_PAGES = {
    "units": "unit pages",
    "layers": "layer browser",
    "explorer": "embedding explorer",
    "classes": "class page",
    "concepts": "concepts page",
    "atlas": "activation atlas",
}


def _extra_pages(model_dir: Path, docs: Path) -> list[Any]:
    """Nav entries for a model's unit pages (the layer index, then one page per layer in
    forward order), its activation atlas, its class page and its concepts page, as far as they exist."""
    import json

    from convviz.site.unit_pages import LAYERS_FILE
    from convviz.site.unit_data import layer_folder

    def rel(p: Path) -> str:
        return Path(os.path.relpath(p, docs)).as_posix()

    entries: list[Any] = []
    units = model_dir / "units"
    if (units / "index.md").is_file():
        layers: list[Any] = [{"All layers": rel(units / "index.md")}]
        try:
            summary = json.loads((units / LAYERS_FILE).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            summary = {}
        for name in summary:
            page = units / layer_folder(name) / "index.md"
            if page.is_file():
                layers.append({markup.text(name): rel(page)})
        if (model_dir / "atlas" / "index.md").is_file():
            # inside the section, after its index (Material's navigation.indexes makes an index.md
            # that opens a section the section's own page)
            layers.append({"Activation atlas": rel(model_dir / "atlas" / "index.md")})
        entries.append({"Layers and units": layers})
    if (model_dir / "classes" / "index.md").is_file():
        # a section of its own: with Material's navigation.indexes, an index.md directly in the
        # model's section would become the section's own page
        classes = [{"Every class": rel(model_dir / "classes" / "index.md")}]
        if (model_dir / "concepts" / "index.md").is_file():
            classes.append({"What each class is made of": rel(model_dir / "concepts" / "index.md")})
        entries.append({"Classes": classes})
    return entries


def with_extra_pages(nav: Any, out: Path, docs: Path) -> Any:
    """``nav`` with :func:`_extra_pages` appended to each model's section (a list holding
    that model's gallery pages, ``<gallery>/<model>/<page>.md``)."""
    gallery = Path(os.path.relpath(out, docs)).as_posix()

    def model_of(item: Any) -> str | None:
        path = item if isinstance(item, str) else next(iter(item.values())) if isinstance(item, dict) else None
        if not isinstance(path, str) or not path.startswith(gallery + "/"):
            return None
        parts = path[len(gallery) + 1 :].split("/")
        return parts[0] if len(parts) == 2 and parts[1].endswith(".md") and parts[1] != "index.md" else None

    def walk(item: Any) -> Any:
        if isinstance(item, list):
            models = {m for m in map(model_of, item) if m}
            done = [walk(x) for x in item]
            if len(models) == 1:
                model = models.pop()
                if not any(isinstance(x, dict) and "Layers and units" in x for x in done):
                    done += _extra_pages(out / model, docs)
            return done
        if isinstance(item, dict):
            return {k: walk(v) for k, v in item.items()}
        return item

    return walk(nav)


def with_trust_page(nav: Any, out: Path, docs: Path) -> Any:
    """``nav`` with the zoo's Trust page (``<gallery>/trust/index.md``, when written) as a
    top-level entry right after the one that holds the gallery (a tab of its own beside the
    model zoo), or at the end when no entry holds it."""
    page = out / "trust" / "index.md"
    if not page.is_file() or not isinstance(nav, list):
        return nav
    gallery = Path(os.path.relpath(out, docs)).as_posix()
    entry = {"Which explanation to trust": Path(os.path.relpath(page, docs)).as_posix()}
    if entry in nav:
        return nav
    at = next((i for i, item in enumerate(nav) if _holds(item, gallery)), len(nav) - 1)
    return [*nav[: at + 1], entry, *nav[at + 1 :]]


def _holds(item: Any, gallery: str) -> bool:
    """Whether a nav item is, or holds, a page or folder under ``gallery``."""
    if isinstance(item, str):
        return item.rstrip("/") == gallery or item.startswith(gallery + "/")
    if isinstance(item, dict):
        return any(_holds(v, gallery) for v in item.values())
    if isinstance(item, list):
        return any(_holds(v, gallery) for v in item)
    return False


class ChapterOrder:
    """mkdocs-gallery's sort key for a model's pages: the chapter's order (activations, filter
    patterns, Grad-CAM, pixel attributions, latent space, then the changes page), any other
    script after them by name."""

    def __init__(self, *args: Any) -> None:
        from convviz.site.pages import PAGE_NAMES

        self.order = (*PAGE_NAMES, "changes")

    def __call__(self, filename: str) -> tuple[int, str]:
        stem = Path(filename).stem
        return (self.order.index(stem) if stem in self.order else len(self.order), str(filename))


class SameNamesAcrossModels(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("Duplicate example file name(s) found")


def nav_has(nav: Any, target: str) -> bool:
    if isinstance(nav, str):
        return nav.rstrip("/").removesuffix("/index.md").rstrip("/") == target
    if isinstance(nav, dict):
        return any(nav_has(v, target) for v in nav.values())
    if isinstance(nav, list):
        return any(nav_has(v, target) for v in nav)
    return False
