"""What a build says: which models it trains first (with their progress), and at its end each
trained model's test accuracy against its goal and the time of every gallery page run."""

from __future__ import annotations

import logging
import re
from typing import Any

from convviz.site.generate import Layout

__all__ = ["trained_models", "train_first", "print_accuracies", "print_times"]

log = logging.getLogger("mkdocs.plugins.convviz")
_TIME = re.compile(r"\|\s*\[([^\]]+)\]\([^)]*\)[^|]*\|\s*(\d+):(\d+(?:\.\d+)?)\s*\|")


def trained_models(names: Any = None) -> list[Any]:
    """The zoo's usable trained models (those in ``names`` when given) and the variants
    their changes pages compare them with."""
    from convviz import zoo
    from convviz.review.revisions import trained_variants

    trained = [e for e in zoo.read() if e.source == "trained" and (names is None or e.name in names)]
    return [e for e in trained if zoo.usable(e)[0]] + trained_variants(trained)


def train_first(names: Any) -> None:
    """Train, here and before the workers start, the models of the pages that will run
    (those in ``names``, all when None) that neither the cache nor the shipped weights hold: with the training's progress
    shown (a worker's output is read only when it ends), and once."""
    from convviz import zoo

    for e in trained_models(names):
        if zoo.needs_training(e):
            print(f"convviz: {e.name}: neither cached nor shipped for its recipe: training it", flush=True)
            zoo.load(e)


def print_accuracies() -> None:
    """Each trained model's test accuracy against its goal, and where its weights came
    from (read from the cache: nothing is loaded). A model below its ``min_accuracy``
    is a warning, which fails a ``--strict`` build."""
    from convviz import zoo

    for e in trained_models():
        record = zoo.cached_record(e)
        if record is None:
            continue
        acc, goal = float(record["test_accuracy"]), e.min_accuracy
        status = "ok" if goal is None or acc >= goal else f"BELOW min_accuracy {goal:.2f}"
        how = (
            "from the shipped weights"
            if record.get("shipped") is not None
            else f"trained in {record.get('seconds') or 0:.0f} s"
        )
        print(f"convviz: {e.name}: test accuracy {acc:.4f} ({status}), {how}")
        if status != "ok":
            log.warning("convviz: %s: test accuracy %.4f is below its min_accuracy %.2f", e.name, acc, goal)


def print_times(layout: Layout, start: float, seconds: dict[tuple[str, str], float]) -> None:
    """Print the time of every gallery page run in this build (from mkdocs-gallery's
    execution-time tables), per model, and which galleries were unchanged."""
    rows, unchanged = [], []
    for out in layout.out_dirs:
        for table in sorted(out.rglob("mg_execution_times.md")):
            folder = table.parent.relative_to(out.parent).as_posix()
            if table.stat().st_mtime < start:
                unchanged.append(folder)
                continue
            for line in table.read_text(encoding="utf-8").splitlines():
                m = _TIME.search(line)
                if m:
                    rows.append((folder, m.group(1).strip(), int(m.group(2)) * 60 + float(m.group(3))))
    gallery = layout.out.name
    rows += [(f"{gallery}/{model}", page, sec) for (model, page), sec in seconds.items()]
    print("convviz: gallery pages run in this build (seconds):")
    for folder, page, sec in rows:
        print(f"  {folder:<28} {page:<16} {sec:7.1f}")
    print(
        f"  total {sum(r[2] for r in rows):.1f} s"
        + (f"; unchanged (not re-run): {', '.join(unchanged)}" if unchanged else "")
    )
    per_model: dict[str, float] = {}
    for folder, _, sec in rows:
        key = folder.removeprefix(f"{gallery}/")
        per_model[key] = per_model.get(key, 0.0) + sec
    if per_model:
        print(
            "  per model: " + ", ".join(f"{m} {s:.0f} s" for m, s in sorted(per_model.items(), key=lambda kv: -kv[1]))
        )
