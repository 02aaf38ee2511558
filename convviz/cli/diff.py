"""``convviz diff``: two versions of a model compared on the same test images (zoo entries, model files or ENTRY@REV), the report written, the gate's checks said and its exit status; ``--changed-since`` diffs every model a commit range changed and writes the pull request's comment."""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Any
from convviz.core.errors import InputError

__all__ = ["run_diff"]


def _safe(label: str) -> str:
    import re

    return re.sub(r"[^A-Za-z0-9_.-]+", "_", Path(label).stem if label.endswith((".keras", ".h5")) else label)


def run_diff(args: argparse.Namespace, reasons: tuple[str, ...] = ()) -> int:
    from convviz import zoo
    from convviz.compare import gate
    from convviz.review.report import summary_markdown, write_report
    from convviz.review.revisions import load_version
    from convviz.review.seedband import seed_band
    from convviz.store.cached import diff_models

    if args.changed_since:
        return _diff_changed(args)
    if not args.old or not args.new:
        raise InputError("give OLD and NEW (zoo entries, model files or ENTRY@REV), or --changed-since REV")
    start = time.perf_counter()
    try:
        cli_limits = gate.parse_fail_on(args.fail_on or [])
    except gate.GateError as exc:
        raise InputError(str(exc)) from None
    old = load_version(args.old, zoo_file=args.zoo)
    new = load_version(args.new, zoo_file=args.zoo)
    for v in (old, new):
        if v.note:
            print(f"{v.label}: {v.note}", flush=True)
    if args.data:
        data_entry = zoo.entry(args.data, args.zoo)
    else:
        data_entry = new.entry or old.entry
        if data_entry is None:
            raise InputError("neither version is a zoo entry: name the test data with --data ENTRY (a zoo entry)")
    d = zoo.dataset(data_entry)
    n = len(d.x) if args.limit is None else min(args.limit, len(d.x))
    if n < 1:
        raise InputError(f"--limit must be at least 1, got {args.limit}")
    print(f"comparing {old.label} and {new.label} on {n:,} test images of {data_entry.name}", flush=True)
    result = diff_models(
        old.model,
        new.model,
        d.x[:n],
        None if (d.y[:n] < 0).all() else d.y[:n],
        masks=None if d.masks is None else d.masks[:n],
        cache=not args.no_cache,
    )
    entry = new.entry if new.entry is not None else data_entry
    band = seed_band(entry, cache=not args.no_cache) if entry is not None and entry.source == "trained" else None
    limits = {**(entry.gate if entry is not None else {}), **cli_limits}
    checks = gate.evaluate(result, limits, band=None if band is None else band.low())
    review: dict[str, Any] = {
        "sides": (old.describe(), new.describe()),
        "reasons": reasons,
        "checks": checks,
        "band": band,
    }
    out = Path(args.out) if args.out else Path("convviz-diff") / f"{_safe(old.label)}-vs-{_safe(new.label)}"
    written = write_report(
        result,
        out,
        d.x[:n],
        old=old.label,
        new=new.label,
        class_names=d.class_names,
        models=(old.model, new.model),
        cache=not args.no_cache,
        review=review,
    )
    summary = summary_markdown(result, old=old.label, new=new.label, class_names=d.class_names, **review)
    print(summary)
    step_summary = os.environ.get("GITHUB_STEP_SUMMARY")
    if step_summary:
        with open(step_summary, "a", encoding="utf-8") as fh:
            fh.write(summary + "\n")
    print(f"wrote {len(written)} files to {out} in {time.perf_counter() - start:.1f} s")
    failed = [c for c in checks if not c.passed]
    for c in failed:
        print(f"convviz diff: {new.label}: gate failed: {c.sentence()}", file=sys.stderr)
    return 1 if failed else 0


def _diff_changed(args: argparse.Namespace) -> int:
    import json

    from convviz.review.determinants import changes_since

    if args.old or args.new:
        raise InputError("--changed-since compares every changed zoo entry: give no OLD and NEW with it")
    rev = args.changed_since
    changes = changes_since(rev, zoo_file=args.zoo)
    base = Path(args.out) if args.out else Path("convviz-diff")
    base.mkdir(parents=True, exist_ok=True)
    (base / "changes.json").write_text(
        json.dumps({"since": rev, "entries": [c.to_json() for c in changes]}, indent=1) + "\n", encoding="utf-8"
    )
    for c in changes:
        if c.status == "new":
            print(f"{c.name}: new since {rev}, nothing to compare it with")
        elif c.status == "changed":
            print(f"{c.name}: changed since {rev}: {'; '.join(c.reasons)}")
    changed = [c for c in changes if c.status == "changed"]
    unchanged = sum(c.status == "unchanged" for c in changes)
    status = 0
    if not changed:
        print(f"no zoo model changed since {rev} ({unchanged} unchanged)")
    for c in changed:
        sub = argparse.Namespace(**{**vars(args), "old": f"{c.name}@{rev}", "new": c.name, "changed_since": None})
        sub.out = str(base / c.name)
        status = max(status, run_diff(sub, reasons=c.reasons))
    _write_comment(base, rev, changes, status)
    return status


def _write_comment(base: Path, rev: str, changes: Any, status: int) -> Path:
    """``comment.md``: the pull request's comment, every entry's status and each changed
    entry's summary (the workflow posts it, and updates it on every push)."""
    from convviz.core import markup

    lines = [f"## convviz: what this pull request changes in the zoo's models (against {markup.code_span(rev)})", ""]
    lines += ["| model | | why |", "|---|---|---|"]
    for c in changes:
        why = markup.text("; ".join(c.reasons)) if c.reasons else ""
        lines.append(f"| {markup.text(c.name)} | {c.status} | {why} |")
    if not any(c.status == "changed" for c in changes):
        lines += ["", "No model changed: nothing to compare."]
    elif status:
        lines += ["", "**The gate failed**: see the thresholds below."]
    for c in changes:
        summary = base / c.name / "summary.md"
        if c.status == "changed" and summary.is_file():
            lines += ["", summary.read_text(encoding="utf-8").strip()]
    path = base / "comment.md"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path
