"""The two sides of a model diff: zoo entries, model files, and zoo entries as they were at a
git revision (``ENTRY@REV``); what a zoo entry's ``compare_to`` names; which entries changed
since a revision.

Kept apart from :mod:`convviz.diff_report` (figures) so that the site's page bookkeeping,
which needs :func:`reference_fingerprint`, does not make every page depend on the diff code.
"""

from __future__ import annotations

import dataclasses
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from convviz._lazy import lazy_module

if TYPE_CHECKING:
    import keras
else:
    keras = lazy_module("keras")  # not needed to read a zoo entry's reference


__all__ = ["Version", "changed_since", "load_version", "reference_entry", "reference_fingerprint", "trained_variants"]


@dataclass(frozen=True)
class Version:
    """One side of a diff: its label, model, and the zoo entry it came from (or None)."""

    label: str
    model: keras.Model
    entry: Any = None
    note: str = ""


def _git(args: list[str], cwd: Path) -> bytes:
    try:
        done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, check=False)
    except FileNotFoundError as exc:
        raise ValueError("ENTRY@REV needs git, which is not installed") from exc
    if done.returncode:
        raise ValueError(f"git {' '.join(args)}: {done.stderr.decode(errors='replace').strip()}")
    return done.stdout


def _revisions_dir() -> Path:
    """Where model files read from git revisions are kept: beside the cache, reused."""
    from convviz.cache import default_cache

    folder = default_cache().root / "revisions"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


class _NotAtRevision(ValueError):
    """The zoo entry did not exist at that revision."""


def _entry_at(name: str, rev: str, zoo_file: Path, workdir: Path) -> Any:
    from convviz import zoo

    folder = zoo_file.resolve().parent
    top = Path(_git(["rev-parse", "--show-toplevel"], folder).decode().strip())
    try:
        _git(["rev-parse", "--verify", "--quiet", "--end-of-options", f"{rev}^{{commit}}"], top)
    except ValueError:
        raise ValueError(f"unknown revision {rev!r} in the git repository {top}") from None
    rel = zoo_file.resolve().relative_to(top).as_posix()
    try:
        text = _git(["show", "--end-of-options", f"{rev}:{rel}"], top).decode()
    except ValueError:
        raise ValueError(f"{rel} does not exist at revision {rev!r}") from None
    entries = {e.name: e for e in zoo.parse(text, source=f"{rel}@{rev}", zoo_file=zoo_file.resolve())}
    if name not in entries:
        raise _NotAtRevision(f"zoo entry {name!r} is not in {rel} at {rev}; entries there: {', '.join(entries)}")
    e = entries[name]
    if e.source != "file":
        return e
    path = e.file_path.resolve()  # type: ignore[union-attr]
    try:
        frel = path.relative_to(top).as_posix()
    except ValueError:
        raise ValueError(f"model file {path} of {name!r} is outside the git repository {top}") from None
    try:
        payload = _git(["show", "--end-of-options", f"{rev}:{frel}"], top)
    except ValueError:
        raise ValueError(f"model file {frel} of {name!r} does not exist at revision {rev!r}") from None
    safe_rev = "".join(c if c.isalnum() or c in "-_." else "_" for c in rev)
    local = workdir / f"{name}@{safe_rev}-{path.name}"
    from convviz.shipped import _atomic

    _atomic(local, payload)  # concurrent diffs of the same revision never see half a file
    return dataclasses.replace(e, options={**e.options, "path": str(local)})


def load_version(spec: str, *, zoo_file: str | Path | None = None, workdir: str | Path | None = None) -> Version:
    """Read one side of a diff.

    ``spec``: a zoo entry name; a model file (``.keras``/``.h5``, taking images in [0, 1]);
    or ``ENTRY@REV``, the zoo entry as the zoo file had it at git revision ``REV`` (a
    ``file`` entry's model file is read from that revision too; a ``trained`` entry is
    trained from that revision's recipe with this checkout's training code).
    """
    from convviz import zoo

    zf = Path(zoo_file) if zoo_file is not None else zoo.path()
    if "@" in spec:
        name, rev = spec.rsplit("@", 1)
        if not name or not zoo.valid_revision(rev):
            raise ValueError(f"{spec!r}: write ENTRY@REV, e.g. shapes-cnn@main or shapes-cnn@HEAD~1")
        wd = Path(workdir) if workdir is not None else _revisions_dir()
        e = _entry_at(name, rev, zf, wd)
        note = "trained from that revision's recipe with this checkout's code" if e.source == "trained" else ""
        return Version(spec, zoo.load(e), e, note)
    p = Path(spec)
    if p.suffix in (".keras", ".h5") or p.is_file():
        if not p.is_file():
            raise ValueError(f"model file not found: {p}")
        return Version(spec, keras.saving.load_model(p, compile=False))
    names = zoo.names(zf)
    if spec not in names:
        raise ValueError(
            f"{spec!r} is not a zoo entry, a model file or ENTRY@REV; zoo entries in {zf}: {', '.join(names)}"
        )
    return Version(spec, zoo.load(zoo.entry(spec, zf)), zoo.entry(spec, zf))


def reference_entry(entry: Any) -> tuple[str, Any]:
    """What a zoo entry's ``compare_to`` names: (a label for it, its zoo entry).

    ``NAME``: another entry of the zoo; ``NAME@REV``: that entry as the zoo file had it at a
    git revision; a mapping: this (trained) entry with those recipe keys changed, named
    ``<entry>-variant`` (its weights ship beside the entry's: :func:`trained_variants`).
    """
    from convviz import zoo

    ref = entry.compare_to
    if ref is None:
        raise ValueError(f"zoo model {entry.name!r} has no compare_to: nothing to compare it with")
    if isinstance(ref, dict):
        label = f"{entry.name} with " + ", ".join(f"{k}: {v}" for k, v in ref.items())
        # the entry's accuracy goal is the entry's: the variant has none unless the mapping sets one
        options = {k: v for k, v in entry.options.items() if k != "min_accuracy"}
        variant = dataclasses.replace(
            entry,
            name=f"{entry.name}-variant",
            title=label,
            options={**options, **ref},
            compare_to=None,
        )
        return label, variant
    zoo_file = entry.zoo_file or zoo.path()
    if "@" in ref:
        name, rev = ref.rsplit("@", 1)
        return ref, _entry_at(name, rev, Path(zoo_file), _revisions_dir())
    return ref, zoo.entry(ref, zoo_file)


def trained_variants(entries: Any) -> list[Any]:
    """The variants that the ``compare_to`` mappings of trained ``entries`` name: models
    convviz trains for the entries' changes pages, shipped, read and checked like the
    entries themselves (``convviz zoo train``, ``--ship``, ``--check``)."""
    return [reference_entry(e)[1] for e in entries if e.source == "trained" and isinstance(e.compare_to, dict)]


def changed_since(rev: str, *, zoo_file: str | Path | None = None) -> tuple[list[str], list[str]]:
    """The zoo entries whose model differs from what the zoo file gave at git revision ``rev``
    (another recipe, another model file or another application), and the entries that are
    new since then. Entries whose model is the same are in neither list."""
    from convviz import zoo

    zf = Path(zoo_file) if zoo_file is not None else zoo.path()
    changed, new = [], []
    with tempfile.TemporaryDirectory(prefix="convviz-diff-") as tmp:
        for e in zoo.read(zf):
            try:
                before = _entry_at(e.name, rev, zf, Path(tmp))
            except _NotAtRevision:
                new.append(e.name)
                continue
            if (before.source, before.recipe(), before.input_shape) != (e.source, e.recipe(), e.input_shape):
                changed.append(e.name)
    return changed, new


def reference_fingerprint(entry: Any) -> str:
    """What the page of a ``compare_to`` depends on besides the entry itself: the reference's
    source and recipe (for ``NAME@REV``, the commit the revision names)."""
    ref = entry.compare_to
    if isinstance(ref, str) and "@" in ref:
        from convviz import zoo

        folder = Path(entry.zoo_file or zoo.path()).resolve().parent
        commit = _git(["rev-parse", "--verify", "--quiet", f"{ref.rsplit('@', 1)[1]}^{{commit}}"], folder)
        return f"{ref} {commit.decode().strip()}"
    _, e = reference_entry(entry)
    return f"{ref!r} {e.source} {e.recipe()!r}"
