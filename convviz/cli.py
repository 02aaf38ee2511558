"""The ``convviz`` command line."""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from convviz.zoo import ZooEntry

__all__ = ["main"]

DESCRIPTION = """\
convviz: see what ConvNets learn.

Commands:
  convviz zoo list [--json]   the models of the zoo, and whether each is usable here
  convviz zoo train [NAME...] train and cache the zoo's trained models (all when no name is given),
                              or read their shipped weights (weights/ beside the zoo file); --ship, --check
  convviz zoo fetch [NAME...] download the ImageNet weights of the zoo's keras.applications entries
  convviz render MODEL        render one model's figures (PNG) and numbers (manifest.json), no MkDocs
  convviz diff OLD NEW        what changed between two versions of a model (zoo entries, model
                              files or ENTRY@REV): figures, diff.json and a markdown summary;
                              --changed-since REV: every zoo model that changed since REV
  convviz site build|serve    build the site into site/, or serve it while you edit
  convviz cache merge DIR...  merge other cache folders (e.g. from parallel CI jobs) into this one
  convviz doctor              versions, Keras backend, cache size, which zoo models are usable and why
  convviz init [--ci]         start a site in a repository: zoo.yml, mkdocs.yml (the convviz plugin),
                              docs/index.md; --ci also the GitHub workflow

The zoo file is $CONVVIZ_ZOO, --zoo, the plugin's zoo option in the nearest mkdocs.yml, or the
nearest zoo.yml or gallery/zoo.yml; the cache is .convviz-cache/ in the project (or
$CONVVIZ_CACHE_DIR). The Keras backend comes from
$KERAS_BACKEND (tensorflow by default).
"""


def _quiet_tensorflow() -> None:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def _zoo_list(args: argparse.Namespace) -> int:
    from convviz import zoo

    entries = zoo.read(args.zoo)
    width = max(len(e.name) for e in entries)
    for e in entries:
        ok, why = zoo.usable(e)
        mark = "usable " if ok else "skipped"
        detail = e.options.get("architecture") or e.options.get("application") or e.options.get("path")
        print(
            f"{e.name:<{width}}  {mark}  {e.source:<18} {detail} on {e.dataset or '-'}" + ("" if ok else f"  ({why})")
        )
    return 0


def _zoo_list_json(args: argparse.Namespace) -> int:
    import json

    from convviz import zoo

    print(json.dumps([e.name for e in zoo.read(args.zoo) if zoo.usable(e)[0]]))
    return 0


def _render(args: argparse.Namespace) -> int:
    from convviz import site

    what = [w.strip() for w in args.what.split(",") if w.strip()]
    manifest = site.render(args.model, what=what, out=args.out, figures=not args.no_figures, pages_out=args.pages_out)
    for page, numbers in manifest["pages"].items():
        print(f"{args.model}/{page}: {numbers['seconds']:.1f} s")
    print(f"wrote {args.out}/{args.model}/manifest.json")
    return 0


def _safe(label: str) -> str:
    import re

    return re.sub(r"[^A-Za-z0-9_.-]+", "_", Path(label).stem if label.endswith((".keras", ".h5")) else label)


def _diff(args: argparse.Namespace, reasons: tuple[str, ...] = ()) -> int:
    from convviz import gate, zoo
    from convviz.diff import diff_models
    from convviz.diff_report import summary_markdown, write_report
    from convviz.revisions import load_version
    from convviz.seedband import seed_band

    if args.changed_since:
        return _diff_changed(args)
    if not args.old or not args.new:
        raise ValueError("give OLD and NEW (zoo entries, model files or ENTRY@REV), or --changed-since REV")
    start = time.perf_counter()
    try:
        cli_limits = gate.parse_fail_on(args.fail_on or [])
    except gate.GateError as exc:
        raise ValueError(str(exc)) from None
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
            raise ValueError("neither version is a zoo entry: name the test data with --data ENTRY (a zoo entry)")
    d = zoo.dataset(data_entry)
    n = len(d.x) if args.limit is None else min(args.limit, len(d.x))
    if n < 1:
        raise ValueError(f"--limit must be at least 1, got {args.limit}")
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

    from convviz.determinants import changes_since

    if args.old or args.new:
        raise ValueError("--changed-since compares every changed zoo entry: give no OLD and NEW with it")
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
        status = max(status, _diff(sub, reasons=c.reasons))
    _write_comment(base, rev, changes, status)
    return status


def _write_comment(base: Path, rev: str, changes: Any, status: int) -> Path:
    """``comment.md``: the pull request's comment, every entry's status and each changed
    entry's summary (the workflow posts it, and updates it on every push)."""
    from convviz import markup

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


def _site(args: argparse.Namespace) -> int:
    import subprocess

    from convviz.cache import project_root

    root = project_root()
    if not (root / "mkdocs.yml").is_file():
        print(f"convviz: error: no mkdocs.yml in {root}: run from the project folder", file=sys.stderr)
        return 2
    cmd = [sys.executable, "-m", "mkdocs", args.action] + (["--strict"] if args.action == "build" else [])
    return subprocess.call(cmd, cwd=root)


def _init(args: argparse.Namespace) -> int:
    from convviz.init import init, report

    done = init(args.folder, ci=args.ci, force=args.force)
    print(f"convviz init in {Path(args.folder).resolve()}:")
    print(report(done, args.folder))
    return 0


def _cache_merge(args: argparse.Namespace) -> int:
    from convviz.cache import default_cache, merge

    target = default_cache()
    copied = merge(args.folders, target.root)
    print(f"merged {copied} entr{'y' if copied == 1 else 'ies'} into {target.root}")
    return 0


def _doctor(args: argparse.Namespace) -> int:
    import platform

    from convviz import _backend, zoo
    from convviz.cache import default_cache

    print(f"python     {platform.python_version()} ({sys.executable})")
    for name, version in _backend.versions().items():
        print(f"{name:<10} {version}")
    cache = default_cache()
    print(f"cache      {cache.root} ({len(cache.keys())} entries, {cache.size_bytes() / 2**20:.1f} MiB)")
    try:
        entries = zoo.read(args.zoo)
    except zoo.ZooError as exc:
        print(f"zoo        {exc}")
        return 1
    print(f"zoo        {zoo.path() if args.zoo is None else args.zoo}")
    for e in entries:
        ok, why = zoo.usable(e)
        print(f"  {e.name:<20} {'usable' if ok else 'not usable'}: {why}")
    return 0


def _zoo_train(args: argparse.Namespace) -> int:
    from convviz import zoo
    from convviz.revisions import trained_variants

    entries = zoo.read(args.zoo)
    if args.names:
        wanted = [zoo.entry(n, args.zoo) for n in args.names]
    else:
        wanted = [e for e in entries if e.source == "trained"]
    wanted += trained_variants(wanted)  # the changes pages' reference models
    if args.check:
        return _zoo_check(wanted)
    failed = 0
    total = time.perf_counter()
    for e in wanted:
        if e.source != "trained":
            print(f"{e.name}: source {e.source!r} needs no training")
            continue
        start = time.perf_counter()
        record = zoo.training_record(e)
        acc = float(record["test_accuracy"])
        took = time.perf_counter() - start
        goal = e.min_accuracy
        status = "ok" if goal is None or acc >= goal else f"BELOW min_accuracy {goal:.2f}"
        failed += status != "ok"
        how = (
            "from the shipped weights"
            if record.get("shipped") is not None
            else f"trained in {record.get('seconds') or 0:.0f} s"
        )
        print(f"{e.name}: test accuracy {acc:.4f} ({status}), {took:.1f} s, {how}", flush=True)
        if args.ship:
            print(f"{e.name}: weights shipped in {zoo.ship(e)}", flush=True)
    print(f"zoo train: {len(wanted)} model(s) in {time.perf_counter() - total:.1f} s")
    return 1 if failed else 0


def _zoo_check(wanted: list[ZooEntry]) -> int:
    from convviz import zoo

    failed = 0
    for e in wanted:
        if e.source != "trained":
            print(f"{e.name}: source {e.source!r} is not trained by convviz; nothing to check")
            continue
        r = zoo.retrain_check(e)
        verdict = "ok" if r.ok else f"DIFFERS by more than {r.tolerance:.1%}"
        failed += not r.ok
        print(
            f"{e.name}: shipped test accuracy {r.shipped:.4f}, retrained from source {r.retrained:.4f} "
            f"({(r.retrained - r.shipped) * 100:+.2f} points, {verdict}), {r.seconds:.0f} s",
            flush=True,
        )
    return 1 if failed else 0


def _zoo_fetch(args: argparse.Namespace) -> int:
    from convviz import _catalog, models, zoo

    entries = [zoo.entry(n, args.zoo) for n in args.names] if args.names else zoo.read(args.zoo)
    wanted = [e for e in entries if e.source == "keras.applications" and e.options.get("weights") == "imagenet"]
    if not wanted:
        print("zoo fetch: no keras.applications entry with ImageNet weights")
        return 0
    for e in wanted:
        app = e.options["application"]
        if models.imagenet_weights_available(app):
            print(f"{e.name}: {app} ImageNet weights already in {_catalog.keras_models_dir()}")
            continue
        start = time.perf_counter()
        models.build_application(app, weights="imagenet")  # Keras downloads and checks them
        print(f"{e.name}: downloaded {app} ImageNet weights in {time.perf_counter() - start:.1f} s", flush=True)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="convviz", description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--zoo",
        help="zoo file to use (default: $CONVVIZ_ZOO, else the zoo option of the convviz plugin in the "
        "nearest mkdocs.yml, else the nearest zoo.yml or gallery/zoo.yml)",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log what convviz does")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    zoo_p = sub.add_parser(
        "zoo", help="list and train the model zoo", description="List the model zoo or train its models."
    )
    zoo_sub = zoo_p.add_subparsers(dest="zoo_command", metavar="ZOO_COMMAND")
    lst = zoo_sub.add_parser("list", help="list the zoo's models and whether each is usable here")
    lst.add_argument("--json", action="store_true", help="print the usable models' names as a JSON list")
    lst.set_defaults(func=lambda a: _zoo_list_json(a) if a.json else _zoo_list(a))
    tr = zoo_sub.add_parser(
        "train",
        help="train and cache models (all trained models by default)",
        description="Train the zoo's 'trained' models and cache them. A model "
        "already in the cache loads in seconds; one whose weights are shipped "
        "(gallery/weights/<name>.keras, same recipe digest) is read, not trained.",
    )
    tr.add_argument("names", nargs="*", metavar="NAME", help="zoo model names (default: all)")
    how = tr.add_mutually_exclusive_group()
    how.add_argument(
        "--ship",
        action="store_true",
        help="also write each model to <zoo folder>/weights/<name>.keras with its recipe "
        "digest, so that a fresh clone builds without training",
    )
    how.add_argument(
        "--check",
        action="store_true",
        help="retrain each shipped model from source (ignoring the shipped file and the "
        "cache) and fail unless its test accuracy is within 0.5 points of the shipped one's",
    )
    tr.set_defaults(func=_zoo_train)
    fe = zoo_sub.add_parser(
        "fetch",
        help="download the ImageNet weights of keras.applications entries",
        description="Download (once, into the Keras cache ~/.keras/models) the "
        "ImageNet weights of the zoo's keras.applications entries, so that the "
        "site build and the tests need no network afterwards.",
    )
    fe.add_argument("names", nargs="*", metavar="NAME", help="zoo model names (default: all)")
    fe.set_defaults(func=_zoo_fetch)

    ren = sub.add_parser(
        "render",
        help="render one model's figures and numbers without MkDocs",
        description="Run a zoo model's site pages without MkDocs: figures as PNG and "
        "their numbers (accuracy, sparsity, dead filters, pointing game, "
        "trustworthiness) in manifest.json. Fills the cache, so a site build that "
        "uses this cache recomputes nothing.",
    )
    ren.add_argument("model", metavar="MODEL", help="a zoo model name (see `convviz zoo list`)")
    ren.add_argument(
        "--what",
        default="activations,filters,cam,attributions,latent,changes,units,classes",
        help="comma-separated pages: activations, filters, cam, attributions, latent, changes (entries with "
        "compare_to), units, classes (default: all)",
    )
    ren.add_argument("--out", default="renders", help="output folder (default: renders/)")
    ren.add_argument(
        "--no-figures",
        action="store_true",
        help="run the pages (fill the cache, record their numbers) without saving their figures",
    )
    ren.add_argument(
        "--pages-out",
        metavar="DIR",
        help="write the unit, class, layer-browser and explorer pages under DIR/MODEL/ (default: --out)",
    )
    ren.set_defaults(func=_render)

    di = sub.add_parser(
        "diff",
        help="what changed between two versions of a model",
        description="Compare two versions of a classifier on a zoo entry's test split: accuracy, "
        "per-class accuracy and confusion change, the predictions that flipped (with both Grad-CAMs), "
        "per-layer linear CKA, the units that changed most, Grad-CAM agreement and the latent space "
        "aligned by Procrustes. Writes PNG figures, diff.json and summary.md (also appended to "
        "$GITHUB_STEP_SUMMARY when set).",
    )
    di.add_argument(
        "old", metavar="OLD", nargs="?", help="zoo entry, model file (.keras/.h5) or ENTRY@REV (a git revision)"
    )
    di.add_argument("new", metavar="NEW", nargs="?", help="zoo entry, model file (.keras/.h5) or ENTRY@REV")
    di.add_argument(
        "--changed-since",
        metavar="REV",
        help="diff every zoo entry whose model changed since git revision REV against itself at REV "
        "(what the pull-request workflow runs), each into OUT/ENTRY",
    )
    di.add_argument("--data", metavar="ENTRY", help="zoo entry whose test split to use (default: NEW's, else OLD's)")
    di.add_argument("--out", metavar="DIR", help="output folder (default: convviz-diff/OLD-vs-NEW)")
    di.add_argument("--limit", type=int, metavar="N", help="compare on the first N test images only")
    di.add_argument("--no-cache", action="store_true", help="recompute instead of reading the cache")
    di.add_argument(
        "--fail-on",
        action="append",
        metavar="KEY=VALUE",
        help="a gate threshold (repeat for several; the zoo entry's gate: sets them too): accuracy_drop=POINTS, "
        "broken=N (right → wrong flips), recall_drop=POINTS (any class), min_cka=X, below_band=N (layers below "
        "the seed band); exit status 1 when one is broken",
    )
    di.set_defaults(func=_diff)

    st = sub.add_parser("site", help="build or serve the site (MkDocs, from the project folder)")
    st.add_argument("action", choices=("build", "serve"), help="build into site/ (strict), or serve")
    st.set_defaults(func=_site)

    ca = sub.add_parser("cache", help="cache maintenance")
    ca_sub = ca.add_subparsers(dest="cache_command", metavar="CACHE_COMMAND")
    mg = ca_sub.add_parser("merge", help="merge cache folders into this project's cache")
    mg.add_argument("folders", nargs="+", metavar="DIR", help="cache folders to merge")
    mg.set_defaults(func=_cache_merge)

    doc = sub.add_parser("doctor", help="versions, backend, cache and zoo status")
    doc.set_defaults(func=_doctor)

    ini = sub.add_parser(
        "init",
        help="start a convviz site in a repository (zoo.yml, mkdocs.yml, docs/index.md)",
        description="Write a starter zoo.yml (one small model trained on the bundled digits, and "
        "commented examples of every entry kind), a mkdocs.yml using the convviz plugin, "
        "docs/index.md and the .gitignore lines for what the build generates. Existing files "
        "are kept unless --force is given.",
    )
    ini.add_argument("folder", nargs="?", default=".", metavar="FOLDER", help="the repository (default: here)")
    ini.add_argument("--ci", action="store_true", help="also write the GitHub workflow .github/workflows/convviz.yml")
    ini.add_argument("--force", action="store_true", help="overwrite existing files that differ from the starter")
    ini.set_defaults(func=_init)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    _quiet_tensorflow()
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(message)s")
    if not getattr(args, "func", None):
        parser.print_help()
        return 0 if args.command is None else 2
    before = os.environ.get("CONVVIZ_ZOO")
    if args.zoo:
        os.environ["CONVVIZ_ZOO"] = str(Path(args.zoo).resolve())  # page scripts read the zoo from it
    try:
        return args.func(args)
    except ValueError as exc:  # ZooError and bad input: one clear line, no traceback
        print(f"convviz: error: {exc}", file=sys.stderr)
        return 2
    finally:  # main() may run inside another program (or a test): leave its environment as it was
        if before is None:
            os.environ.pop("CONVVIZ_ZOO", None)
        else:
            os.environ["CONVVIZ_ZOO"] = before


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
