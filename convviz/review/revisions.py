"""The two sides of a model diff: zoo entries, model files, and zoo entries as they were at a
git revision (``ENTRY@REV``); what a zoo entry's ``compare_to`` names.

``ENTRY@REV`` is the model that revision would have used: its shipped weights when they were
valid there, else the model trained by *that revision's* code (:func:`model_at`), never this
checkout's code under the old recipe. Each side carries the commit, the recipe digest and the
SHA-256 of its weights, so a diff says exactly which two models it compared.

Kept apart from :mod:`convviz.figures.diff` (figures) so that the site's page bookkeeping,
which needs :func:`reference_fingerprint`, does not make every page depend on the diff code.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from convviz.core.lazy import lazy_module
from convviz.core.files import atomic_write
from convviz.core.errors import InputError

if TYPE_CHECKING:
    import keras
else:
    keras = lazy_module("keras")  # not needed to read a zoo entry's reference


__all__ = [
    "Version",
    "NotAtRevision",
    "commit_of",
    "entry_at",
    "git_show",
    "load_version",
    "model_at",
    "reference_entry",
    "reference_fingerprint",
    "reference_version",
    "repository_top",
    "trained_variants",
    "weights_sha256",
]


@dataclass(frozen=True)
class Version:
    """One side of a diff: its label, model, and the zoo entry it came from (or None); the
    commit it was read at (None: the working tree), its recipe digest (trained entries) and
    the SHA-256 of its weights."""

    label: str
    model: keras.Model
    entry: Any = None
    note: str = ""
    commit: str | None = None
    recipe_digest: str | None = None
    weights: str = ""

    def describe(self) -> dict[str, Any]:
        """What ``diff.json`` says of this side."""
        return {
            "label": self.label,
            "commit": self.commit,
            "recipe_digest": self.recipe_digest,
            "weights_sha256": self.weights,
            "note": self.note or None,
        }


def _git(args: list[str], cwd: Path) -> bytes:
    try:
        done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, check=False)
    except FileNotFoundError as exc:
        raise InputError("ENTRY@REV needs git, which is not installed") from exc
    if done.returncode:
        raise InputError(f"git {' '.join(args)}: {done.stderr.decode(errors='replace').strip()}")
    return done.stdout


def repository_top(folder: Path) -> Path:
    """The top folder of the git repository that holds ``folder``."""
    return Path(_git(["rev-parse", "--show-toplevel"], Path(folder)).decode().strip())


def commit_of(rev: str, top: Path) -> str:
    """The commit a revision names (its full hash); a ValueError for an unknown revision."""
    try:
        return _git(["rev-parse", "--verify", "--quiet", "--end-of-options", f"{rev}^{{commit}}"], top).decode().strip()
    except ValueError:
        raise InputError(f"unknown revision {rev!r} in the git repository {top}") from None


def git_show(rev: str, path: str, top: Path) -> str | None:
    """The text of ``path`` (relative to the repository's top) at ``rev``, or None when the
    file did not exist there."""
    payload = _show_bytes(rev, path, top)
    return None if payload is None else payload.decode("utf-8", errors="replace")


def _show_bytes(rev: str, path: str, top: Path) -> bytes | None:
    try:
        return _git(["show", "--end-of-options", f"{rev}:{path}"], top)
    except ValueError:
        return None


def weights_sha256(model: keras.Model) -> str:
    """SHA-256 of a model's weights (their values in order, with shapes and dtypes): two
    models with this digest compute the same function."""
    import numpy as np

    from convviz.core.backend import to_numpy

    h = hashlib.sha256()
    for w in model.weights:
        a = np.ascontiguousarray(to_numpy(w))
        h.update(f"{a.shape}{a.dtype}".encode())
        h.update(a.tobytes())
    return h.hexdigest()


def _revisions_dir() -> Path:
    """Where what is read from git revisions is kept: beside the cache, reused."""
    from convviz.store.cache import default_cache

    folder = default_cache().root / "revisions"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


class NotAtRevision(ValueError):
    """The zoo entry did not exist at that revision."""


def entry_at(name: str, rev: str, zoo_file: Path, workdir: Path) -> Any:
    """Zoo entry ``name`` as the zoo file had it at revision ``rev`` (a ``file`` entry's model
    file read from that revision into ``workdir``); :class:`NotAtRevision` when it was not there."""
    from convviz import zoo

    top = repository_top(zoo_file.resolve().parent)
    commit_of(rev, top)
    rel = zoo_file.resolve().relative_to(top).as_posix()
    text = git_show(rev, rel, top)
    if text is None:
        raise InputError(f"{rel} does not exist at revision {rev!r}")
    entries = {e.name: e for e in zoo.parse(text, source=f"{rel}@{rev}", zoo_file=zoo_file.resolve())}
    if name not in entries:
        raise NotAtRevision(f"zoo entry {name!r} is not in {rel} at {rev}; entries there: {', '.join(entries)}")
    e = entries[name]
    if e.source != "file":
        return e
    path = e.file_path.resolve()  # type: ignore[union-attr]
    try:
        frel = path.relative_to(top).as_posix()
    except ValueError:
        raise InputError(f"model file {path} of {name!r} is outside the git repository {top}") from None
    payload = _show_bytes(rev, frel, top)
    if payload is None:
        raise InputError(f"model file {frel} of {name!r} does not exist at revision {rev!r}")
    safe_rev = "".join(c if c.isalnum() or c in "-_." else "_" for c in rev)
    local = workdir / f"{name}@{safe_rev}-{path.name}"

    atomic_write(local, payload)  # concurrent diffs of the same revision never see half a file
    return dataclasses.replace(e, options={**e.options, "path": str(local)})


def _snapshot(commit: str, top: Path) -> Path:
    """The repository's files at ``commit``, extracted once into the revisions folder
    (``git archive``): that revision's own convviz, zoo file and shipped weights."""
    import tarfile

    tree = _revisions_dir() / commit / "tree"
    if tree.is_dir():
        return tree
    tmp = Path(tempfile.mkdtemp(prefix=".tree-", dir=tree.parent if tree.parent.is_dir() else _mkdir(tree.parent)))
    archive = _git(["archive", "--format=tar", commit], top)
    import io

    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(tmp, filter="data")
    try:
        os.replace(tmp, tree)
    except OSError:  # another process extracted it first
        import shutil

        shutil.rmtree(tmp, ignore_errors=True)
    return tree


def _mkdir(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    return folder


# run by that revision's own convviz, in a process of its own: the model it would use
_AT_REVISION = r"""
import json, os, sys
tree, zoo_file, name, out = sys.argv[1:5]
sys.path.insert(0, tree)
import convviz
if not os.path.realpath(convviz.__file__).startswith(os.path.realpath(tree)):
    raise SystemExit(f"convviz was imported from {convviz.__file__}, not from the revision in {tree}")
from convviz import zoo
entry = zoo.entry(name, zoo_file)
model = zoo.load(entry)
info = {"recipe_digest": None, "shipped": None}
try:
    info["recipe_digest"] = zoo.recipe_digest(entry)
    record = zoo.cached_record(entry) or {}
    info["shipped"] = record.get("shipped") is not None
except Exception:
    pass
model.save(out)
print("convviz-revision " + json.dumps(info))
"""


def model_at(entry: Any, commit: str, zoo_file: Path, *, progress: bool = True) -> tuple[keras.Model, dict[str, Any]]:
    """The model a trained zoo entry had at ``commit``: loaded by that revision's own convviz
    (its shipped weights when they were valid for its recipe there, else trained by its
    code), exported to a ``.keras`` file kept in the cache per commit and backend, so a second
    diff against the same commit reads it. Returns the model and what that revision said of
    it (``recipe_digest``, ``shipped``)."""
    top = repository_top(zoo_file.resolve().parent)
    folder = _mkdir(_revisions_dir() / commit / keras.backend.backend())
    out, info_file = folder / f"{entry.name}.keras", folder / f"{entry.name}.json"
    if not (out.is_file() and info_file.is_file()):
        tree = _snapshot(commit, top)
        rel = zoo_file.resolve().relative_to(top)
        env = {**os.environ, "CONVVIZ_CACHE_DIR": str(folder / "cache"), "CONVVIZ_ZOO": str(tree / rel)}
        env.pop("PYTHONPATH", None)
        tmp = folder / f".{entry.name}.{os.getpid()}.keras"
        done = subprocess.run(
            [sys.executable, "-c", _AT_REVISION, str(tree), str(tree / rel), entry.name, str(tmp)],
            cwd=tree,
            env=env,
            capture_output=True,
            text=True,
        )
        lines = [line for line in done.stdout.splitlines() if line.startswith("convviz-revision ")]
        if done.returncode or not lines or not tmp.is_file():
            tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
            raise InputError(
                f"{entry.name}@{commit[:12]}: that revision's convviz could not load or train the model: "
                + " / ".join(tail)
            )
        atomic_write(info_file, lines[-1].split(" ", 1)[1])
        os.replace(tmp, out)
    info = json.loads(info_file.read_text(encoding="utf-8"))
    return keras.saving.load_model(out, compile=False, safe_mode=True), info


def load_version(spec: str, *, zoo_file: str | Path | None = None, workdir: str | Path | None = None) -> Version:
    """Read one side of a diff.

    ``spec``: a zoo entry name; a model file (``.keras``/``.h5``, taking images in [0, 1]);
    or ``ENTRY@REV``, the zoo entry as the zoo file had it at git revision ``REV``: a ``file``
    entry's model file read from that revision, a ``trained`` entry's model as that revision
    had it (:func:`model_at`: its shipped weights, else trained by its own code).
    """
    from convviz import zoo

    zf = Path(zoo_file) if zoo_file is not None else zoo.path()
    if "@" in spec:
        name, rev = spec.rsplit("@", 1)
        if not name or not zoo.valid_revision(rev):
            raise InputError(f"{spec!r}: write ENTRY@REV, e.g. shapes-cnn@main or shapes-cnn@HEAD~1")
        commit = commit_of(rev, repository_top(zf.resolve().parent))
        wd = Path(workdir) if workdir is not None else _revisions_dir()
        e = entry_at(name, rev, zf, wd)
        if e.source == "trained":
            model, info = model_at(e, commit, zf)
            how = "its shipped weights" if info.get("shipped") else "trained by that revision's code"
            note = f"the model {name} had at {rev} ({commit[:12]}): {how}"
            return Version(spec, model, e, note, commit, info.get("recipe_digest"), weights_sha256(model))
        model = zoo.load(e)
        return Version(spec, model, e, "", commit, None, weights_sha256(model))
    p = Path(spec)
    if p.suffix in (".keras", ".h5") or p.is_file():
        if not p.is_file():
            raise InputError(f"model file not found: {p}")
        model = keras.saving.load_model(p, compile=False)
        return Version(spec, model, weights=weights_sha256(model))
    names = zoo.names(zf)
    if spec not in names:
        raise InputError(
            f"{spec!r} is not a zoo entry, a model file or ENTRY@REV; zoo entries in {zf}: {', '.join(names)}"
        )
    e = zoo.entry(spec, zf)
    model = zoo.load(e)
    digest = zoo.recipe_digest(e) if e.source == "trained" else None
    return Version(spec, model, e, "", _working_tree_commit(zf), digest, weights_sha256(model))


def _working_tree_commit(zoo_file: Path) -> str | None:
    """The commit the working tree is at (with ``+`` when it has changes), None outside git."""
    try:
        top = repository_top(zoo_file.resolve().parent)
        head = commit_of("HEAD", top)
        dirty = _git(["status", "--porcelain", "--untracked-files=no"], top).strip()
    except ValueError:
        return None
    return head + ("+" if dirty else "")


def reference_entry(entry: Any) -> tuple[str, Any]:
    """What a zoo entry's ``compare_to`` names: (a label for it, its zoo entry).

    ``NAME``: another entry of the zoo; ``NAME@REV``: that entry as the zoo file had it at a
    git revision; a mapping: this (trained) entry with those recipe keys changed, named
    ``<entry>-variant`` (its weights ship beside the entry's: :func:`trained_variants`).
    """
    from convviz import zoo

    ref = entry.compare_to
    if ref is None:
        raise InputError(f"zoo model {entry.name!r} has no compare_to: nothing to compare it with")
    if isinstance(ref, dict):
        label = f"{entry.name} with " + ", ".join(f"{k}: {v}" for k, v in ref.items())
        # the entry's accuracy goal is the entry's: the variant has none unless the mapping sets one
        options = {k: v for k, v in entry.options.items() if k not in ("min_accuracy", "seed_band")}
        variant = dataclasses.replace(
            entry,
            name=f"{entry.name}-variant",
            title=label,
            options={**options, **ref},
            compare_to=None,
            gate={},
        )
        return label, variant
    zoo_file = entry.zoo_file or zoo.path()
    if "@" in ref:
        name, rev = ref.rsplit("@", 1)
        return ref, entry_at(name, rev, Path(zoo_file), _revisions_dir())
    return ref, zoo.entry(ref, zoo_file)


def trained_variants(entries: Any) -> list[Any]:
    """The variants that trained ``entries`` name: their ``compare_to`` mappings' and their
    seed bands' (:func:`convviz.review.seedband.seed_variants`). Models convviz trains for the
    entries' changes pages and diffs, shipped, read and checked like the entries themselves
    (``convviz zoo train``, ``--ship``, ``--check``)."""
    from convviz.review.seedband import seed_variants

    out = [reference_entry(e)[1] for e in entries if e.source == "trained" and isinstance(e.compare_to, dict)]
    return out + [v for e in entries for v in seed_variants(e)]


def reference_version(entry: Any) -> Version:
    """The model a zoo entry's ``compare_to`` names, as a diff's old side: for ``NAME@REV``
    the model that revision had (:func:`load_version`), else the other entry or the variant."""
    from convviz import zoo

    ref = entry.compare_to
    if isinstance(ref, str) and "@" in ref:
        return load_version(ref, zoo_file=entry.zoo_file)
    label, e = reference_entry(entry)
    model = zoo.load(e)
    return Version(
        label, model, e, "", None, zoo.recipe_digest(e) if e.source == "trained" else None, weights_sha256(model)
    )


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
