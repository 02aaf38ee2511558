"""The other commands of ``convviz``: the zoo (list, train and ship, check, fetch), ``render``, ``site``, ``init``, ``cache merge`` and ``doctor``. Each turns convviz's own input errors into one ``convviz: error:`` line (see :func:`convviz.cli.main`)."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from convviz.zoo.entry import ZooEntry


__all__ = [
    "cache_merge",
    "doctor",
    "run_init",
    "run_render",
    "run_site",
    "zoo_check",
    "zoo_fetch",
    "zoo_list",
    "zoo_list_json",
    "zoo_train",
]


def zoo_list(args: argparse.Namespace) -> int:
    from convviz import zoo

    entries = zoo.read(args.zoo)
    if not entries:
        print(f"the zoo {zoo.path() if args.zoo is None else args.zoo} lists no models")
        return 0
    width = max(len(e.name) for e in entries)
    for e in entries:
        ok, why = zoo.usable(e)
        mark = "usable " if ok else "skipped"
        detail = e.options.get("architecture") or e.options.get("application") or e.options.get("path")
        print(
            f"{e.name:<{width}}  {mark}  {e.source:<18} {detail} on {e.dataset or '-'}" + ("" if ok else f"  ({why})")
        )
    return 0


def zoo_list_json(args: argparse.Namespace) -> int:
    import json

    from convviz import zoo

    print(json.dumps([e.name for e in zoo.read(args.zoo) if zoo.usable(e)[0]]))
    return 0


def run_render(args: argparse.Namespace) -> int:
    from convviz import site

    what = [w.strip() for w in args.what.split(",") if w.strip()]
    manifest = site.render(args.model, what=what, out=args.out, figures=not args.no_figures, pages_out=args.pages_out)
    for page, numbers in manifest["pages"].items():
        print(f"{args.model}/{page}: {numbers['seconds']:.1f} s")
    print(f"wrote {args.out}/{args.model}/manifest.json")
    return 0


def run_site(args: argparse.Namespace) -> int:
    import subprocess

    from convviz.store.cache import project_root

    root = project_root()
    if not (root / "mkdocs.yml").is_file():
        print(f"convviz: error: no mkdocs.yml in {root}: run from the project folder", file=sys.stderr)
        return 2
    cmd = [sys.executable, "-m", "mkdocs", args.action] + (["--strict"] if args.action == "build" else [])
    return subprocess.call(cmd, cwd=root)


def run_init(args: argparse.Namespace) -> int:
    from convviz.site.init import init, report

    done = init(args.folder, ci=args.ci, force=args.force)
    print(f"convviz init in {Path(args.folder).resolve()}:")
    print(report(done, args.folder))
    return 0


def cache_merge(args: argparse.Namespace) -> int:
    from convviz.store.cache import default_cache, merge

    target = default_cache()
    copied = merge(args.folders, target.root)
    print(f"merged {copied} entr{'y' if copied == 1 else 'ies'} into {target.root}")
    return 0


def _versions() -> dict[str, str]:
    """Versions of Keras and of the installed backends, and the active backend."""
    import importlib.metadata as md

    import keras

    out = {"keras": keras.__version__, "backend": keras.backend.backend()}
    for pkg in ("tensorflow", "jax", "torch"):
        try:
            out[pkg] = md.version(pkg)
        except md.PackageNotFoundError:
            out[pkg] = "not installed"
    return out


def doctor(args: argparse.Namespace) -> int:
    import platform

    from convviz import zoo
    from convviz.store.cache import default_cache

    print(f"python     {platform.python_version()} ({sys.executable})")
    for name, version in _versions().items():
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


def zoo_train(args: argparse.Namespace) -> int:
    from convviz import zoo
    from convviz.review.revisions import trained_variants

    entries = zoo.read(args.zoo)
    if args.names:
        wanted = [zoo.entry(n, args.zoo) for n in args.names]
    else:
        wanted = [e for e in entries if e.source == "trained"]
    wanted += trained_variants(wanted)  # the changes pages' reference models
    if args.check:
        return zoo_check(wanted)
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


def zoo_check(wanted: list[ZooEntry]) -> int:
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


def zoo_fetch(args: argparse.Namespace) -> int:
    from convviz import zoo
    from convviz.zoo import architectures as models
    from convviz.zoo import catalog as _catalog

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
