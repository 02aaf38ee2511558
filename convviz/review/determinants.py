"""What determines a zoo entry's model, and what of it changed since a git revision.

A pull request changes a model when it changes anything its weights depend on: the entry's
recipe, the code that trains it (the architecture function, the training loop, the dataset
generators), its shipped weights, its model file, its preprocessing, its application.
:func:`changes_since` compares each of these between a revision and the working tree and
says, per entry, *why* it counts as changed; a change to anything else (documentation,
the site, the CLI) changes no model.

The training code is compared where it lives: in the repository when convviz is part of it
(as in convviz's own repository), else it is the installed package, the same on both sides.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["Change", "changes_since", "reasons", "DATASET_MODULES"]

# modules whose definitions are "dataset code" when training reaches them
DATASET_MODULES = ("zoo.datasets", "zoo.shapes", "zoo.folders", "zoo.splits", "zoo.imagenet")


@dataclass(frozen=True)
class Change:
    """What happened to one zoo entry since a revision: ``status`` ``"changed"`` (with the
    ``reasons``), ``"new"`` (not in the zoo file at the revision) or ``"unchanged"``."""

    name: str
    status: str
    reasons: tuple[str, ...] = field(default_factory=tuple)

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "status": self.status, "reasons": list(self.reasons)}


class _Code:
    """convviz's source as it is at a revision (``rev``) or in the working tree (None), read
    from the repository when the package lives in it."""

    def __init__(self, top: Path, rev: str | None) -> None:
        from convviz.store.digests import PACKAGE_DIR

        self.rev = rev
        self.top = top
        self.package: str | None
        try:
            self.package = PACKAGE_DIR.relative_to(top).as_posix()
        except ValueError:  # installed elsewhere: the same code on both sides
            self.package = None
        self._texts: dict[str, str | None] = {}

    def text(self, module: str) -> str | None:
        """The source of convviz module ``module`` (dotted: ``zoo.training``), or None."""
        if module not in self._texts:
            from convviz.store.digests import PACKAGE_DIR

            parts = module.split(".")
            candidates = ("/".join(parts) + ".py", "/".join(parts) + "/__init__.py")
            text = None
            for rel in candidates:
                if self.package is None or self.rev is None:
                    path = PACKAGE_DIR / rel
                    text = path.read_text(encoding="utf-8") if path.is_file() else None
                else:
                    from convviz.review.revisions import git_show

                    text = git_show(self.rev, f"{self.package}/{rel}", self.top)
                if text is not None:
                    break
            self._texts[module] = text
        return self._texts[module]

    def definition(self, module: str, name: str) -> str | None:
        """The normalized source of a top-level definition (function, class or assignment),
        or None."""
        import ast

        from convviz.store.digests import normalized

        text = self.text(module)
        if text is None:
            return None
        try:
            body = ast.parse(text).body
        except SyntaxError:
            return None
        for node in body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and node.name == name:
                return normalized(ast.unparse(node))
            targets = (
                node.targets
                if isinstance(node, ast.Assign)
                else [node.target]
                if isinstance(node, ast.AnnAssign)
                else []
            )
            if any(isinstance(n, ast.Name) and n.id == name for t in targets for n in ast.walk(t)):
                return normalized(ast.unparse(node))
        return None

    def modules(self, names: tuple[str, ...]) -> tuple[str | None, ...]:
        from convviz.store.digests import normalized

        return tuple(None if (t := self.text(m)) is None else normalized(t) for m in names)


def _record(zoo_file: Path, name: str, rev: str | None, top: Path) -> dict[str, Any] | None:
    """The shipped weights' record of entry ``name`` at ``rev`` (None: the working tree)."""
    from convviz.zoo import shipped
    from convviz.review.revisions import git_show

    path = shipped.location(zoo_file, name).with_suffix(".json")
    if rev is None:
        text = path.read_text(encoding="utf-8") if path.is_file() else None
    else:
        text = git_show(rev, path.resolve().relative_to(top).as_posix(), top)
    try:
        record = json.loads(text) if text else None
    except ValueError:
        return None
    return record if isinstance(record, dict) else None


def reasons(
    before: Any, after: Any, *, old_code: _Code, new_code: _Code, old_record: Any, new_record: Any
) -> list[str]:
    """Why the model of zoo entry ``after`` differs from ``before`` (the same entry at a
    revision), in words: empty when nothing that determines its weights changed."""
    from convviz.zoo.training import training_definitions

    out: list[str] = []
    if before.source != after.source:
        return [f"source: {before.source} → {after.source}"]
    if before.dataset != after.dataset and after.source != "trained":
        out.append(f"dataset: {before.dataset} → {after.dataset}")
    if before.input_shape != after.input_shape:
        out.append(f"input shape: {list(before.input_shape)} → {list(after.input_shape)}")
    if after.source == "trained":
        old, new = before.recipe(), after.recipe()
        out += [
            f"recipe: {k} {old.get(k)} → {new.get(k)}" for k in sorted(set(old) | set(new)) if old.get(k) != new.get(k)
        ]
        # the definitions training reaches today (convviz.zoo.training.training_code), each
        # compared with that at the revision: one moved or renamed since counts as changed
        arch = after.options["architecture"]
        changed = {d for d in training_definitions(arch) if old_code.definition(*d) != new_code.definition(*d)}
        if ("zoo.architectures", arch) in changed:
            out.append("architecture code")
        data = {(m, n) for m, n in changed if m in DATASET_MODULES or (m, n) == ("zoo.entries", "dataset")}
        if changed - data - {("zoo.architectures", arch)}:
            out.append("training code")
        if data:
            out.append("dataset code")
        old_sha = (old_record or {}).get("sha256")
        new_sha = (new_record or {}).get("sha256")
        if old_sha != new_sha:
            out.append(
                "shipped weights"
                if old_sha and new_sha
                else "shipped weights added"
                if new_sha
                else "shipped weights removed"
            )
    elif after.source == "file":
        old, new = before.recipe(), after.recipe()
        if old["file_sha256"] != new["file_sha256"]:
            out.append("model file")
        if old["preprocess"] != new["preprocess"]:
            out.append(f"preprocess: {old['preprocess']} → {new['preprocess']}")
    else:
        old, new = before.recipe(), after.recipe()
        out += [f"{k}: {old.get(k)} → {new.get(k)}" for k in sorted(set(old) | set(new)) if old.get(k) != new.get(k)]
    return out


def changes_since(rev: str, *, zoo_file: str | Path | None = None) -> list[Change]:
    """Every entry of the zoo file: whether its model changed since git revision ``rev``
    (anything that determines its weights: see :func:`reasons`), is new, or is unchanged."""
    import tempfile

    from convviz import zoo
    from convviz.review.revisions import NotAtRevision, commit_of, entry_at, repository_top

    zf = (Path(zoo_file) if zoo_file is not None else zoo.path()).resolve()
    top = repository_top(zf.parent)
    commit = commit_of(rev, top)
    old_code, new_code = _Code(top, commit), _Code(top, None)
    out: list[Change] = []
    with tempfile.TemporaryDirectory(prefix="convviz-changes-") as tmp:
        for e in zoo.read(zf):
            try:
                before = entry_at(e.name, commit, zf, Path(tmp))
            except NotAtRevision:
                out.append(Change(e.name, "new"))
                continue
            why = reasons(
                before,
                e,
                old_code=old_code,
                new_code=new_code,
                old_record=_record(zf, e.name, commit, top) if e.source == "trained" else None,
                new_record=_record(zf, e.name, None, top) if e.source == "trained" else None,
            )
            out.append(Change(e.name, "changed" if why else "unchanged", tuple(why)))
    return out
