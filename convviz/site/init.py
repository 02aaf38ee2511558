"""``convviz init``: start a convviz site in a repository.

Writes a starter ``zoo.yml`` (one small model trained on the bundled digits, and commented
examples of every entry kind), a ``mkdocs.yml`` that uses the convviz plugin, ``docs/index.md``,
the ignore lines for what the build generates and, with ``ci=True``, a GitHub workflow. An
existing file is never overwritten unless ``force=True``: it is kept and reported.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from convviz.core.files import atomic_write
from convviz.core.errors import InputError

__all__ = ["FILES", "CI_FILE", "Written", "init"]

_STARTER = Path(__file__).resolve().parent / "starter"
# target path in the repository -> starter file
FILES = {"zoo.yml": "zoo.yml", "mkdocs.yml": "mkdocs.yml", "docs/index.md": "index.md"}
CI_FILE = ".github/workflows/convviz.yml"
_IGNORE = "gitignore.txt"
PLUGIN_SNIPPET = "plugins:\n  - search\n  - convviz:\n      zoo: zoo.yml\n"


@dataclass(frozen=True)
class Written:
    """What ``init`` did with one file: ``"written"``, ``"overwritten"``, ``"unchanged"``,
    ``"kept"`` (it exists and ``force`` was not given) or ``"extended"`` (lines added)."""

    path: str
    action: str


def init(folder: str | Path = ".", *, ci: bool = False, force: bool = False) -> list[Written]:
    """Write the starter files into ``folder``; returns what was done with each.

    Parameters
    ----------
    folder
        The repository (created when missing).
    ci
        Also write the GitHub workflow ``.github/workflows/convviz.yml``.
    force
        Overwrite existing files that differ from the starter.
    """
    root = Path(folder)
    if root.exists() and not root.is_dir():
        raise InputError(f"convviz init: {root} is a file, not a folder")
    root.mkdir(parents=True, exist_ok=True)
    files = {**FILES, **({CI_FILE: "workflow.yml"} if ci else {})}
    done = []
    for target, source in files.items():
        text = (_STARTER / source).read_text(encoding="utf-8")
        path = root / target
        if path.is_dir():
            raise InputError(f"convviz init: {path} is a folder; it should be the file {target}")
        if not path.exists():
            atomic_write(path, text)
            done.append(Written(target, "written"))
        elif path.read_text(encoding="utf-8") == text:
            done.append(Written(target, "unchanged"))
        elif force:
            atomic_write(path, text)
            done.append(Written(target, "overwritten"))
        else:
            done.append(Written(target, "kept"))
    ignore = root / ".gitignore"
    lines = (_STARTER / _IGNORE).read_text(encoding="utf-8").splitlines()
    have = ignore.read_text(encoding="utf-8").splitlines() if ignore.is_file() else []
    missing = [line for line in lines if line and not line.startswith("#") and line not in have]
    if missing:
        head = [] if not have else ([""] if have[-1].strip() else [])
        comment = [lines[0]] if lines[0].startswith("#") else []
        atomic_write(ignore, "\n".join([*have, *head, *comment, *missing]) + "\n")
        done.append(Written(".gitignore", "extended" if have else "written"))
    else:
        done.append(Written(".gitignore", "unchanged"))
    return done


def report(done: list[Written], folder: str | Path = ".") -> str:
    """The lines ``convviz init`` prints: each file's fate, and what to do next."""
    from convviz.store.project import plugin_options

    out = [
        f"  {w.action:<11} {w.path}" + (" (exists; --force overwrites it)" if w.action == "kept" else "") for w in done
    ]
    mk = Path(folder) / "mkdocs.yml"
    if any(w.path == "mkdocs.yml" and w.action == "kept" for w in done) and plugin_options(mk) is None:
        out += ["", "Your mkdocs.yml does not use the convviz plugin yet; add it:", "", PLUGIN_SNIPPET]
    out += ["", "Next: mkdocs build (or mkdocs serve). Add your models to zoo.yml."]
    return "\n".join(out)
