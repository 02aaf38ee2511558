"""The ``convviz`` command line."""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time

__all__ = ["main"]

DESCRIPTION = """\
convviz: see what ConvNets learn.

Commands:
  convviz zoo list            the models of the zoo (gallery/zoo.yml), and whether each is usable here
  convviz zoo train [NAME...] train and cache the zoo's trained models (all when no name is given)

The zoo file is gallery/zoo.yml in the project (or $CONVVIZ_ZOO); the cache is
.convviz-cache/ in the project (or $CONVVIZ_CACHE_DIR). The Keras backend comes from
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
        print(f"{e.name:<{width}}  {mark}  {e.source:<18} {detail} on {e.dataset or '-'}"
              + ("" if ok else f"  ({why})"))
    return 0


def _zoo_train(args: argparse.Namespace) -> int:
    from convviz import zoo

    entries = zoo.read(args.zoo)
    if args.names:
        wanted = [zoo.entry(n, args.zoo) for n in args.names]
    else:
        wanted = [e for e in entries if e.source == "trained"]
    failed = 0
    total = time.perf_counter()
    for e in wanted:
        if e.source != "trained":
            print(f"{e.name}: source {e.source!r} needs no training")
            continue
        start = time.perf_counter()
        acc = zoo.test_accuracy(e)
        took = time.perf_counter() - start
        goal = e.min_accuracy
        status = "ok" if goal is None or acc >= goal else f"BELOW min_accuracy {goal:.2f}"
        failed += status != "ok"
        print(f"{e.name}: test accuracy {acc:.4f} ({status}), {took:.1f} s", flush=True)
    print(f"zoo train: {len(wanted)} model(s) in {time.perf_counter() - total:.1f} s")
    return 1 if failed else 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="convviz", description=DESCRIPTION,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--zoo", help="zoo file to use (default: gallery/zoo.yml or $CONVVIZ_ZOO)")
    parser.add_argument("-v", "--verbose", action="store_true", help="log what convviz does")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    zoo_p = sub.add_parser("zoo", help="list and train the model zoo",
                           description="List the model zoo or train its models.")
    zoo_sub = zoo_p.add_subparsers(dest="zoo_command", metavar="ZOO_COMMAND")
    lst = zoo_sub.add_parser("list", help="list the zoo's models and whether each is usable here")
    lst.set_defaults(func=_zoo_list)
    tr = zoo_sub.add_parser("train", help="train and cache models (all trained models by default)",
                            description="Train the zoo's 'trained' models and cache them. A model "
                            "already in the cache loads in seconds.")
    tr.add_argument("names", nargs="*", metavar="NAME", help="zoo model names (default: all)")
    tr.set_defaults(func=_zoo_train)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    _quiet_tensorflow()
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(message)s")
    if not getattr(args, "func", None):
        parser.print_help()
        return 0 if args.command is None else 2
    try:
        return args.func(args)
    except ValueError as exc:  # ZooError and bad input: one clear line, no traceback
        print(f"convviz: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
