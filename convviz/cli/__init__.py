"""The ``convviz`` command line."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

from convviz.cli.commands import (
    cache_merge,
    doctor,
    run_init,
    run_render,
    run_site,
    zoo_fetch,
    zoo_list,
    zoo_list_json,
    zoo_train,
)
from convviz.cli.diff import run_diff
from convviz.core.errors import InputError
from convviz.site.render import RENDERABLE


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
    lst.set_defaults(func=lambda a: zoo_list_json(a) if a.json else zoo_list(a))
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
    tr.set_defaults(func=zoo_train)
    fe = zoo_sub.add_parser(
        "fetch",
        help="download the ImageNet weights of keras.applications entries",
        description="Download (once, into the Keras cache ~/.keras/models) the "
        "ImageNet weights of the zoo's keras.applications entries, so that the "
        "site build and the tests need no network afterwards.",
    )
    fe.add_argument("names", nargs="*", metavar="NAME", help="zoo model names (default: all)")
    fe.set_defaults(func=zoo_fetch)

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
        default=",".join(RENDERABLE),
        help=f"comma-separated pages: {', '.join(RENDERABLE)} (changes: entries with compare_to; default: all)",
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
    ren.set_defaults(func=run_render)

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
    di.set_defaults(func=run_diff)

    st = sub.add_parser("site", help="build or serve the site (MkDocs, from the project folder)")
    st.add_argument("action", choices=("build", "serve"), help="build into site/ (strict), or serve")
    st.set_defaults(func=run_site)

    ca = sub.add_parser("cache", help="cache maintenance")
    ca_sub = ca.add_subparsers(dest="cache_command", metavar="CACHE_COMMAND")
    mg = ca_sub.add_parser("merge", help="merge cache folders into this project's cache")
    mg.add_argument("folders", nargs="+", metavar="DIR", help="cache folders to merge")
    mg.set_defaults(func=cache_merge)

    doc = sub.add_parser("doctor", help="versions, backend, cache and zoo status")
    doc.set_defaults(func=doctor)

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
    ini.set_defaults(func=run_init)
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
    except InputError as exc:  # convviz's own input errors (ZooError too): one clear line, no traceback
        print(f"convviz: error: {exc}", file=sys.stderr)
        return 2
    finally:  # main() may run inside another program (or a test): leave its environment as it was
        if before is None:
            os.environ.pop("CONVVIZ_ZOO", None)
        else:
            os.environ["CONVVIZ_ZOO"] = before
