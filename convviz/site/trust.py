"""The zoo-wide Trust page, ``<gallery>/trust/index.md``: for every model, each method's mark per
metric family and what the marks say, from the scorecards the models' attribution pages computed
(:func:`convviz.zoo.scorecard_of`: the same arguments, so both read one cached result)."""

from __future__ import annotations

import time
from pathlib import Path
from urllib.parse import quote
from typing import Any

import numpy as np

from convviz.core import markup
from convviz.site.freshness import fingerprint, module_text, up_to_date, write_stamp

__all__ = ["write_trust_page", "TRUST_FOLDER"]

TRUST_FOLDER = "trust"
_SYMBOL = {"pass": "✓ pass", "warn": "~ warn", "fail": "✗ fail", "n/a": "—"}


def _summary(cards: dict[str, Any]) -> list[str]:
    from convviz.evaluate.explain import BASELINES
    from convviz.evaluate.scorecard import FAMILIES
    from convviz.figures.style import display_name

    models = list(cards)
    methods = [m for m in next(iter(cards.values())).methods]
    lines = [
        "| method | " + " | ".join(markup.text(m) for m in models) + " |",
        "|---|" + "---|" * len(models),
    ]
    for method in methods:
        cells = []
        for card in cards.values():
            families = [f for f in FAMILIES if card.mark(method, f) != "n/a"]
            bad = [f"{_SYMBOL[card.mark(method, f)][0]} {f}" for f in families if card.mark(method, f) != "pass"]
            cells.append("✓ every family" if not bad else "; ".join(bad))
        name = markup.text(display_name(method)) + (" *(baseline)*" if method in BASELINES else "")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return lines


def write_trust_page(entries: list[Any], folder: Path, *, progress: bool = True) -> float | None:
    """Write the Trust page of the zoo's usable ``entries`` into ``folder``. Returns the
    seconds spent, or None when it was up to date (fingerprint: every entry and this code)."""
    folder = Path(folder)
    stamp = fingerprint(None, module_text(__file__), [fingerprint(e, module_text(__file__)) for e in entries])
    if up_to_date(folder, stamp, "index.md"):
        return None
    from convviz import zoo
    from convviz.core.files import write_if_changed
    from convviz.evaluate.scorecard import BEATS, FAMILIES, METRICS, RULES
    from convviz.figures.style import display_name

    start = time.perf_counter()
    cards = {}
    for e in entries:
        model = zoo.load(e, progress=progress)
        cards[e.name] = zoo.scorecard_of(e, model, zoo.dataset(e, "test"))
    folder.mkdir(parents=True, exist_ok=True)
    lines = [
        "# Which explanation to trust",
        "",
        "Every Grad-CAM and attribution method of convviz, scored on every model of the zoo by five families "
        "of metrics (the catalogue of Quantus, computed here for Keras 3 on any backend), each beside a "
        "random map and an edge detector computed the same way. A method earns a mark per family; the rule "
        "of each mark is below. No family is enough alone: an edge detector looks sparse and localised, "
        "and fails randomization, because it explains no model.",
        "",
    ]
    if not cards:
        lines += ["No model of the zoo can be built here.", ""]
    else:
        names = {m: display_name(m) for m in next(iter(cards.values())).methods}
        lines += [
            "## Every model, every method",
            "",
            "The families each method does not pass, per model (~ warn, ✗ fail; the rules are below):",
            "",
        ]
        lines += [*_summary(cards), ""]
        lines += ["## The rules", ""] + [f"- **{f}**: {RULES[f]}." for f in FAMILIES]
        lines += ["", markup.text(BEATS), ""]
        for model, card in cards.items():
            url = f"../{quote(model)}/attributions.md#which-method-to-trust-the-scorecard"
            families = [f for f in FAMILIES if any(card.mark(m, f) != "n/a" for m in card.methods)]
            lines += [
                f"## {markup.text(model)}",
                "",
                markup.text(card.sentence(model, names)) + f" [The scorecard on its attribution page]({url}).",
                "",
                "The mark of each family, with the metrics that decide it (means over the images):",
                "",
                "| method | " + " | ".join(families) + " |",
                "|---|" + "---|" * len(families),
            ]
            for m in card.methods:
                cells = []
                for f in families:
                    deciding = [k for k in card.metrics if METRICS[k][0] == f and METRICS[k][2]]
                    values = ", ".join(f"{k} {card.value(m, k):.2f}" for k in deciding if np.isfinite(card.value(m, k)))
                    cells.append(_SYMBOL[card.mark(m, f)] + (f" ({values})" if values else ""))
                lines.append(f"| {markup.text(names[m])} | " + " | ".join(cells) + " |")
            counts = ", ".join(f"{k} {n}" for k, n in sorted(card.images.items(), key=lambda t: -t[1]))
            lines += ["", f"Images per metric: {markup.text(counts)}.", ""]
    seconds = time.perf_counter() - start
    lines += [f"This build computed (or read from the cache) this page in {seconds:.1f} s.", ""]
    write_if_changed(folder / "index.md", "\n".join(lines))
    write_stamp(folder, stamp)
    return seconds
