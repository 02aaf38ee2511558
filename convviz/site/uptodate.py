"""Whether a built site is still what a build would write: the whole site's stamp.

MkDocs renders every page on every build, whatever changed; convviz's own freshness checks
(:mod:`convviz.site.freshness`) skip the pages' computation but not that rendering. So
``make site`` asks this module first, and runs ``mkdocs build`` only when something the site
is built from changed since its last successful build:

- every file of the project that git sees (tracked, or new and not ignored): the docs, the
  gallery, the zoo file, the templates, the benchmarks' results, convviz's own code;
- convviz's code when it is installed outside the project;
- the installed distributions and their versions, and the Python that runs them;
- the zoo's entries as read from the zoo file: each model file and image folder (sizes and
  modification times, wherever they are) and whether each entry can be loaded here (the
  ImageNet weights in the Keras cache, downloads allowed or not);
- the environment variables that change a build (``CONVVIZ_*``, ``KERAS_*`` and those the
  MkDocs file reads with ``!ENV``);
- the build command itself;
- and the built site: every file's size and modification time, as the build left them.

``check`` records what it read (before the build, so an edit made while the site is built
makes the next ``make site`` build again); ``record``, after a successful build, turns that
record into the stamp, with the site's listing. A project that is not a git work tree has
no stamp: its site is always built. The stamp lives in the cache folder, not in the site,
so nothing of it is published.

    python -m convviz.site.uptodate check mkdocs.yml -- mkdocs build --strict
    python -m convviz.site.uptodate record mkdocs.yml -- mkdocs build --strict
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterable, Sequence
from pathlib import Path

from convviz.core.files import atomic_write
from convviz.store.cache import cache_folder

__all__ = ["build_inputs", "check", "main", "record", "site_listing", "stamp_path"]

ENV_PREFIXES = ("CONVVIZ_", "KERAS_")
STAMP_NAME = "site-stamp"


def _digest(parts: Iterable[str | bytes]) -> str:
    h = hashlib.sha256()
    for part in parts:
        data = part.encode("utf-8") if isinstance(part, str) else part
        h.update(len(data).to_bytes(8, "little"))
        h.update(data)
    return h.hexdigest()


def _project_files(root: Path) -> list[str] | None:
    """The project's files as git sees them (tracked, or new and not ignored), or None
    outside a git work tree."""
    try:
        done = subprocess.run(
            ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
            cwd=root,
            capture_output=True,
            check=False,
        )
    except OSError:
        return None
    if done.returncode != 0:
        return None
    return sorted(set(done.stdout.decode("utf-8", "surrogateescape").split("\0")) - {""})


def _file_parts(root: Path, names: Sequence[str]) -> Iterable[str | bytes]:
    for name in names:
        yield name
        try:
            yield (root / name).read_bytes()
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            yield "<missing>"  # a tracked file deleted in the work tree


def _stat_parts(paths: Iterable[Path]) -> Iterable[str]:
    """Each path's size and modification time; a folder's files, recursively."""
    for p in paths:
        files = sorted(f for f in p.rglob("*") if f.is_file()) if p.is_dir() else [p]
        for f in files:
            try:
                s = f.stat()
            except FileNotFoundError:
                yield f"{f}:<missing>"
            else:
                yield f"{f}:{s.st_size}:{s.st_mtime_ns}"


def _packages() -> str:
    from importlib import metadata

    names = sorted(f"{d.metadata['Name']}=={d.version}" for d in metadata.distributions())
    return _digest([sys.version, sys.executable, *names])


def _code_outside(root: Path) -> str:
    """convviz's own files when it is installed outside the project (within it, git sees them)."""
    package = Path(__file__).resolve().parents[1]
    if package.is_relative_to(root.resolve()):
        return "in the project"
    return _digest(_stat_parts([package]))


def _environment(config_file: Path) -> str:
    text = config_file.read_text(encoding="utf-8")
    named = set(re.findall(r"!ENV\s*\[?\s*['\"]?([A-Za-z_][A-Za-z0-9_]*)", text))
    keys = sorted(k for k in os.environ if k.startswith(ENV_PREFIXES) or k in named)
    return _digest(f"{k}={os.environ[k]}" for k in keys)


def _zoo(config_file: Path) -> str:
    """The zoo as the build would read it: the plugin's zoo file, each entry's model file and
    image folder, and whether each entry can be loaded here."""
    from convviz import zoo
    from convviz.store.project import plugin_options

    options = plugin_options(config_file)
    if options is None:
        return "no convviz plugin"
    zoo_file = (config_file.parent / str(options.get("zoo", "zoo.yml"))).resolve()
    try:
        entries = zoo.read(zoo_file)
    except Exception as exc:  # noqa: BLE001 (a zoo the build would refuse: build, and let it say why)
        return f"unreadable: {type(exc).__name__}: {exc}"
    parts = [*_stat_parts([zoo_file])]
    for e in entries:
        paths = [p for p in (e.file_path, e.dataset_folder) if p is not None]
        parts += [e.name, repr(zoo.usable(e)), *_stat_parts(paths)]
    return _digest(parts)


def build_inputs(config_file: Path, command: Sequence[str]) -> dict[str, str] | None:
    """A digest of each kind of thing a build of the site reads (None: the project is not a
    git work tree, so its files cannot be told from the build's outputs)."""
    config_file = config_file.resolve()
    root = config_file.parent
    names = _project_files(root)
    if names is None:
        return None
    # the build's own outputs, also where git does not ignore them: the site and the stamps
    outputs = [
        f"{p.relative_to(root).as_posix()}/"
        for p in (_site_dir(config_file), stamp_path(config_file).parent)
        if p.is_relative_to(root)
    ]
    names = [n for n in names if not n.startswith(tuple(outputs))]
    return {
        "command": _digest(command),
        "project files": _digest(_file_parts(root, names)),
        "convviz outside the project": _code_outside(root),
        "packages": _packages(),
        "environment": _environment(config_file),
        "zoo": _zoo(config_file),
    }


def _site_dir(config_file: Path) -> Path:
    from convviz.store.project import plain_yaml

    doc = plain_yaml(config_file) or {}
    return (config_file.parent / str(doc.get("site_dir") or "site")).resolve()


def site_listing(site: Path) -> str:
    """A digest of the built site as it is: every file's path, size and modification time
    (an edited, added or deleted file changes it)."""
    return _digest(_stat_parts([site]))


def stamp_path(config_file: Path) -> Path:
    """Where the stamp of the site ``config_file`` builds is kept: the project's cache folder."""
    config_file = config_file.resolve()
    cache = cache_folder(config_file.parent)
    key = hashlib.sha256(str(config_file).encode()).hexdigest()[:12]
    return cache / f"{STAMP_NAME}-{key}.json"


def check(config_file: Path, command: Sequence[str], *, force: bool = False) -> tuple[bool, str]:
    """(whether the built site is up to date, why not / what was checked). Not up to date
    (always, with ``force``): what was read is kept for :func:`record`."""
    start = time.perf_counter()
    inputs = build_inputs(config_file, command)
    if inputs is None:
        return False, f"{config_file.parent} is not a git work tree: its files cannot be told from the build's outputs"
    stamp = stamp_path(config_file)
    pending = stamp.with_suffix(".pending.json")
    site = _site_dir(config_file)
    try:
        built = json.loads(stamp.read_text())
    except (OSError, ValueError):
        built = None
    if force:
        why = "a build was asked for"
    elif built is None:
        why = "no record of an earlier build"
    elif built.get("site") != site_listing(site):
        why = f"{site} is missing or changed since it was built"
    else:
        changed = [k for k, v in inputs.items() if built.get("inputs", {}).get(k) != v]
        if not changed:
            took = time.perf_counter() - start
            return True, f"{site.name}/ is up to date: nothing it is built from changed (checked in {took:.1f} s)"
        why = "changed since the last build: " + ", ".join(changed)
    atomic_write(pending, json.dumps({"inputs": inputs}))
    stamp.unlink(missing_ok=True)  # a build that fails leaves no stamp
    return False, why


def record(config_file: Path) -> bool:
    """After a successful build: the inputs :func:`check` read become the stamp, with the
    site as the build left it. False when there was nothing to record."""
    stamp = stamp_path(config_file)
    pending = stamp.with_suffix(".pending.json")
    try:
        inputs = json.loads(pending.read_text())["inputs"]
    except (OSError, ValueError, KeyError):
        return False
    atomic_write(stamp, json.dumps({"inputs": inputs, "site": site_listing(_site_dir(config_file))}, indent=1))
    pending.unlink(missing_ok=True)
    return True


def main(argv: Sequence[str] | None = None) -> int:
    """``check`` exits 0 when the site is up to date (1: build it); ``record`` stamps it."""
    p = argparse.ArgumentParser(
        prog="python -m convviz.site.uptodate", description="whether the built site is still what a build would write"
    )
    p.add_argument("action", choices=("check", "record"))
    p.add_argument("config_file", type=Path)
    p.add_argument("--force", action="store_true", help="check: say it is not up to date (build anyway)")
    p.add_argument("command", nargs="*", help="the build command (after --)")
    a = p.parse_args(argv)
    if not a.config_file.is_file():
        p.error(f"{a.config_file}: no such MkDocs file")
    if a.action == "record":
        record(a.config_file)
        return 0
    fresh, why = check(a.config_file, a.command, force=a.force)
    print(f"convviz: {why}" + ("" if fresh else ": building"), flush=True)
    return 0 if fresh else 1


if __name__ == "__main__":
    sys.exit(main())
