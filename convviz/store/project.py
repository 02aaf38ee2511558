"""Where a convviz project is: its folder, zoo file and page-template overrides.

Found from the current folder upwards; in each folder, the first of:

1. ``mkdocs.yml`` (or ``mkdocs.yaml``) naming the ``convviz`` plugin: its ``zoo`` option
   (default ``zoo.yml``) and ``templates`` option, relative to that file;
2. ``zoo.yml``;
3. ``gallery/zoo.yml``.

``$CONVVIZ_ZOO`` names the zoo file instead (the project folder is then still found as
above, or is the zoo file's folder). With nothing found, the project is the current folder.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["Project", "find", "plain_yaml", "plugin_options"]

ZOO_ENV = "CONVVIZ_ZOO"
MKDOCS_FILES = ("mkdocs.yml", "mkdocs.yaml")


@dataclass(frozen=True)
class Project:
    """A project's folder, its zoo file and its template overrides (or None)."""

    root: Path
    zoo: Path
    templates: Path | None = None


def plain_yaml(mkdocs_file: Path) -> Any | None:
    """An MkDocs config file as plain data (its tags, such as ``!ENV`` and
    ``!!python/name:``, read as None), or None when it cannot be read."""
    import yaml

    class _Loader(yaml.SafeLoader):
        pass

    # MkDocs files carry tags such as !ENV and !!python/name: read them as plain values
    _Loader.add_multi_constructor("!", lambda loader, suffix, node: None)
    _Loader.add_multi_constructor("tag:yaml.org,2002:python/", lambda loader, suffix, node: None)
    try:
        return yaml.load(mkdocs_file.read_text(encoding="utf-8"), Loader=_Loader)  # noqa: S506 (safe loader)
    except (OSError, yaml.YAMLError):
        return None


def plugin_options(mkdocs_file: Path) -> dict[str, Any] | None:
    """The options of the ``convviz`` plugin in an MkDocs config file ({} when it is named
    without options), or None when the file does not use it or cannot be read."""
    doc = plain_yaml(mkdocs_file)
    plugins = doc.get("plugins") if isinstance(doc, dict) else None
    if isinstance(plugins, dict):
        plugins = [{k: v} for k, v in plugins.items()]
    for item in plugins or []:
        if item == "convviz":
            return {}
        if isinstance(item, dict) and "convviz" in item:
            return dict(item["convviz"] or {})
    return None


def _in(folder: Path) -> Project | None:
    for name in MKDOCS_FILES:
        mk = folder / name
        if mk.is_file():
            options = plugin_options(mk)
            if options is not None:
                templates = options.get("templates")
                return Project(
                    folder,
                    (folder / str(options.get("zoo", "zoo.yml"))).resolve(),
                    (folder / str(templates)).resolve() if templates else None,
                )
    for rel in ("zoo.yml", "gallery/zoo.yml"):
        if (folder / rel).is_file():
            return Project(folder, (folder / rel).resolve())
    return None


def find(start: str | Path | None = None) -> Project:
    """The project around ``start`` (default: the current folder); see the module text."""
    here = Path(start or Path.cwd()).resolve()
    found = next((p for p in map(_in, (here, *here.parents)) if p is not None), None)
    env = os.environ.get(ZOO_ENV)
    if env:
        zoo = Path(env).resolve()
        root = found.root if found is not None else zoo.parent
        return Project(root, zoo, found.templates if found is not None and found.zoo == zoo else None)
    return found or Project(here, here / "zoo.yml")
