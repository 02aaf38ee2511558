"""Render the benchmark results (``benchmarks/results/*.json``) as Markdown: the tables and
numbers of ``docs/performance.md`` (filled in by the site's hook) and of the README
(rewritten between ``<!-- bench:NAME -->`` and ``<!-- /bench -->`` by
``python benchmarks/report.py --readme``). No benchmark number is typed by hand.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
README = HERE.parent / "README.md"
NAMES = (
    "filters",
    "cam",
    "attributions",
    "latent",
    "units",
    "diff",
    "commands",
    "large",
    "concepts",
    "trust",
    "maco",
    "diversity",
    "atlas",
)


def load(name: str) -> dict[str, Any]:
    path = RESULTS / f"{name}.json"
    if not path.is_file():
        raise KeyError(
            f"no benchmark results {path} (run benchmarks/bench_{name}.py); valid: "
            + ", ".join(p.stem for p in sorted(RESULTS.glob("*.json")))
        )
    return json.loads(path.read_text())


def _rows(res: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {r["method"]: r for r in res["rows"]}


def measured(res: dict[str, Any]) -> str:
    m, v = res["machine"], res["versions"]
    libs = ", ".join(
        f"{k} {v[k]}" for k in ("keras", "tensorflow", "tf-keras-vis", "umap-learn", "scikit-learn") if k in v
    )
    how = {
        "commands": f"one quiet run at commit {res['config'].get('commit', '?')}",
        "latent": "cold = the first call in a fresh process, warm = the same call again",
        "units": f"in one process after a warm-up, min of {res.get('repeats')} repeats",
        "large": "one cold `convviz render` per model in a fresh process (empty cache), one quiet run",
        "trust": "the metrics in one warm process, min of 3 repeats (the Smooth MPRT loop: 1); each scorecard cold "
        "in a fresh process without the cache (model loading not counted)",
        "concepts": "each model cold in a fresh process without the cache (model loading not counted), one quiet run; "
        "the cost table in one warm process",
        "diff": f"each command run in a fresh process, min of {res.get('repeats')} repeats; CKA in one process",
        "maco": "one process, one quiet run; seeds 0 to {} for the classes".format(res["config"].get("seeds", 0) - 1),
        "diversity": "the weights in one process; each unit-page build cold in a fresh process with an empty cache, "
        "one quiet run",
        "atlas": "each model cold in a fresh process with an empty cache (model loading counted), one quiet run",
    }.get(
        res["benchmark"],
        f"each method in its own process, order alternated, min (median) of {res.get('repeats')} repeats",
    )
    return (
        f"Measured on {res['date']}: {m['cpu']}, {m['cores']} cores, {m['memory_gib']} GiB, "
        f"no GPU; Python {m['python']}, {libs}; {how}."
    )


_FILTER_NAMES = {
    "chapter": "the chapter's loop (one filter at a time)",
    "book": '`recipe="book"` (batched, one trace)',
    "fast": '`recipe="fast"` (a third of the steps, momentum 0.9)',
}


def summary(name: str) -> dict[str, Any]:
    """Derived numbers for prose: ``{{ number bench-NAME.method.key }}``."""
    res = load(name)
    rows = _rows(res) if name not in ("units", "large", "maco", "diversity", "atlas") else {}
    out: dict[str, Any] = {"date": res["date"], "config": res["config"]}
    if name == "filters":
        ref = rows["chapter"]
        base = rows["setup"]["peak_rss_mb"]
        for m in ("chapter", "book", "fast"):
            r = rows[m]
            out[m] = {
                "min": r["min"],
                "median": r["median"],
                "speedup": ref["min"] / r["min"],
                "objective": r["objective"] / ref["objective"],
                "rss_mb": r["peak_rss_mb"],
                "rss_over_setup_mb": r["peak_rss_mb"] - base,
            }
    elif name == "large":
        for r in res["rows"]:
            out[r["model"]] = {"seconds": r["seconds"], "limit": r["limit"], "pages": r["pages"]}
    elif name == "maco":
        out["recognized"] = res["recognized"]
    elif name == "units":
        out["worst_ratio"] = max(r["ratio"] for r in res["rows"])
        out["median_ratio"] = sorted(r["ratio"] for r in res["rows"])[len(res["rows"]) // 2]
    elif name == "cam":
        io, best, floor = rows["kerasio"]["min"], rows["kerasio_best"]["min"], rows["floor"]["min"]
        for m, r in rows.items():
            out[m] = {
                "warm": r["min"],
                "cold": r["cold"],
                "per_s": r["images"] / r["min"],
                "vs_kerasio": io / r["min"],
                "vs_best": best / r["min"],
                "vs_floor": r["min"] / floor,
            }
        if "tfkerasvis" in rows:
            out["convviz"]["vs_tfkerasvis"] = rows["tfkerasvis"]["min"] / rows["convviz"]["min"]
    elif name == "attributions":
        for kind in ("ig", "sg"):
            c, f, loop = rows[f"{kind}_convviz"], rows[f"{kind}_floor"], rows[f"{kind}_loop"]
            out[kind] = {
                "convviz": c["min"],
                "floor": f["min"],
                "loop": loop["min"],
                "passes": c["passes"],
                "vs_floor": c["min"] / f["min"],
                "vs_loop": loop["min"] / c["min"],
                "rss_mb": c["peak_rss_mb"],
                "floor_rss_mb": f["peak_rss_mb"],
            }
    elif name in ("diversity", "atlas"):
        for r in res["rows"]:
            out.setdefault(r["model"], {})[str(r.get("weight", "page"))] = r
    else:
        for r in res["rows"]:
            out[r["method"]] = r
    return out


def filters_table(res: dict[str, Any]) -> str:
    rows, s = _rows(res), None
    ref = rows["chapter"]
    base = rows["setup"]["peak_rss_mb"]
    lines = [
        "| method | min s (median) | speed-up | mean objective vs the loop | peak RSS (over the model alone) |",
        "|---|---|---|---|---|",
    ]
    for m in ("chapter", "book", "fast"):
        r = rows[m]
        lines.append(
            f"| {_FILTER_NAMES[m]} | {r['min']:.1f} ({r['median']:.1f}) | "
            f"**{ref['min'] / r['min']:.2f}×** | {r['objective'] / ref['objective']:.1%} | "
            f"{r['peak_rss_mb']:.0f} MB ({r['peak_rss_mb'] - base:+.0f}) |"
        )
    del s
    return "\n".join(lines)


_CAM_NAMES = {
    "kerasio": "keras.io `make_gradcam_heatmap`, as published (per image)",
    "kerasio_best": "keras.io recipe at its best (built once, `tf.function`, batched)",
    "convviz": "**`convviz.grad_cam`**",
    "tfkerasvis": "tf-keras-vis `Gradcam`",
    "floor": "floor: one compiled forward pass",
}


def cam_table(res: dict[str, Any]) -> str:
    rows = _rows(res)
    io, best, floor = rows["kerasio"]["min"], rows["kerasio_best"]["min"], rows["floor"]["min"]
    n = res["config"]["images"]
    lines = [
        f"| {n} images | cold s | warm s (median) | images/s | vs keras.io | vs its best | vs floor |",
        "|---|---|---|---|---|---|---|",
    ]
    for m in ("kerasio", "kerasio_best", "tfkerasvis", "convviz", "floor"):
        if m not in rows:
            continue
        r = rows[m]
        lines.append(
            f"| {_CAM_NAMES[m]} | {r['cold']:.2f} | {r['min']:.2f} ({r['median']:.2f}) | "
            f"{n / r['min']:.1f} | {io / r['min']:.1f}× | {best / r['min']:.2f}× | "
            f"{r['min'] / floor:.2f}× |"
        )
    return "\n".join(lines)


_ATTR_NAMES = {
    "convviz": "`convviz.attribute` (batched rows, compiled)",
    "floor": "floor: every gradient as one compiled call",
    "loop": "tutorial loop: an eager `GradientTape` per point",
}


def attributions_table(res: dict[str, Any]) -> str:
    rows = _rows(res)
    lines = [
        "| method | passes | cold (s) | warm (s) | × floor | speed-up over the loop | peak RSS (MB) |",
        "|---|---|---|---|---|---|---|",
    ]
    for kind, label in (("ig", "Integrated Gradients"), ("sg", "SmoothGrad")):
        floor, loop = rows[f"{kind}_floor"]["min"], rows[f"{kind}_loop"]["min"]
        for how in ("convviz", "floor", "loop"):
            r = rows[f"{kind}_{how}"]
            lines.append(
                f"| {label}: {_ATTR_NAMES[how]} | {r['passes']} | {r['cold']:.2f} | "
                f"{r['min']:.2f} ({r['median']:.2f}) | {r['min'] / floor:.2f}× | {loop / r['min']:.1f}× | "
                f"{r['peak_rss_mb']:.0f} |"
            )
    return "\n".join(lines)


def latent_table(res: dict[str, Any]) -> str:
    lines = ["| data | method | cold s | warm s | trustworthiness |", "|---|---|---|---|---|"]
    for r in res["rows"]:
        lines.append(f"| {r['data']} | {r['method']} | {r['cold']:.1f} | {r['warm']:.1f} | {r['trust']:.3f} |")
    return "\n".join(lines)


def units_table(res: dict[str, Any]) -> str:
    lines = [
        "| model | layer | units | test images | one forward pass s | dataset examples s | ratio |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in res["rows"]:
        lines.append(
            f"| {r['model']} | {r['layer']} | {r['units']} | {r['images']} | {r['forward']:.3f} "
            f"| {r['examples']:.3f} | {r['ratio']:.2f}× |"
        )
    lines += ["", "| how the cost grows | n | seconds | seconds per 100 |", "|---|---|---|---|"]
    for g in res.get("growth", []):
        lines.append(f"| {g['what']} | {g['n']} {g['per']} | {g['seconds']:.2f} | {100 * g['seconds'] / g['n']:.2f} |")
    return "\n".join(lines)


DIFF_GOAL_S = 60  # issue: the diff of two shapes-cnn versions on the test split in a minute


def diff_table(res: dict[str, Any]) -> str:
    c = res["config"]
    lines = ["| `convviz diff` | seconds | goal |", "|---|---|---|"]
    for r in res["rows"]:
        goal = ""
        if r["what"] == "cold":
            goal = f"≤ {DIFF_GOAL_S} s: " + ("**met**" if r["seconds"] <= DIFF_GOAL_S else "not met")
        if r["what"] == "changed_since":
            goal = f"≤ {DIFF_GOAL_S} s: " + ("**met**" if r["seconds"] <= DIFF_GOAL_S else "not met")
        what = {
            "cold": "cold (`--no-cache`)",
            "cached": "with the cache filled",
            "changed_since": "`--changed-since HEAD~1`: a pull request that replaces shapes-cnn's shipped weights "
            "(the old side loaded by the base commit's own convviz, no training; empty cache)",
        }[r["what"]]
        lines.append(f"| {what} | {r['seconds']:.1f} | {goal} |")
    band = res.get("seed_band")
    if band:
        lines += [
            "",
            f"Seed band of `{band['model']}` ({band['seeds']} other seeds): training one seed variant "
            f"{band['train_one_s']:.1f} s (done once, then shipped); the band, {band['seeds']} diffs with the "
            f"entry, {band['band_s']:.1f} s (cached after). Lowest CKA between seeds: "
            + ", ".join(f"`{k}` {v:.3f}" for k, v in band["low"].items())
            + ".",
        ]
    n = res["numbers"]
    acc = n["accuracy"]
    worst = min(n["layers"], key=lambda row: row["cka"] if row["cka"] is not None else 2.0)
    lines += [
        "",
        f"What it found ({c['old']} → {c['new']}, {c['images']:,} images): accuracy "
        f"{acc['old']:.2%} → {acc['new']:.2%}, {n['flips']} predictions flipped, lowest CKA "
        f"{worst['cka']:.3f} at `{worst['old']}`, median Grad-CAM correlation {n['cam_median']:.3f}, "
        f"Procrustes disparity {n['disparity']:.3f}.",
        "",
        f"| CKA of `{c['cka_layer']}`, images | one-shot s | one-shot peak MB | streamed s | streamed peak MB "
        "| streamed / one-shot: time, memory | difference of the two values |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in res["cka"]:
        lines.append(
            f"| {r['images']:,} | {r['one_shot_s']:.2f} | {r['one_shot_mb']:.0f} | {r['streamed_s']:.2f} "
            f"| {r['streamed_mb']:.0f} | {r['streamed_s'] / r['one_shot_s']:.2f}×, "
            f"{r['streamed_mb'] / r['one_shot_mb']:.2f}× | {r['difference']:.1e} |"
        )
    return "\n".join(lines)


def _duration(seconds: float) -> str:
    m, s = divmod(round(seconds), 60)
    return f"{m} min {s:02d} s" if m else f"{s} s"


def commands_table(res: dict[str, Any]) -> str:
    lines = ["| what | time on a fresh clone | goal | detail |", "|---|---|---|---|"]
    for r in res["rows"]:
        detail = r.get("detail", "")
        if "log_kb" in r:
            detail = (detail + "; " if detail else "") + f"log {r['log_kb']} KB"
        goal = r.get("goal")
        verdict = "" if goal is None else f"≤ {_duration(goal)}: " + ("**met**" if r["seconds"] <= goal else "not met")
        lines.append(f"| {r['what']} | {_duration(r['seconds'])} | {verdict} | {detail} |")
    if not any(r["what"].startswith("`make test`") for r in res["rows"]):
        lines.append(
            "| `make test` in a fresh clone | not timed in this run (`time_commands.py --skip-test`) | ≤ 10 min 00 s |  |"
        )
    row = next((r for r in res["rows"] if r.get("per_page")), None)
    if row:
        slow = sorted(row["per_page"].items(), key=lambda kv: -kv[1])[:6]
        which = (
            "Slowest pages of the gallery's run (after the workers filled the cache)"
            if "worker processes" in row.get("detail", "")
            else "Slowest pages of the cold build"
        )
        lines += ["", f"{which}: " + ", ".join(f"{k} {v:.0f} s" for k, v in slow) + "."]
    return "\n".join(lines)


_PAGE_ORDER = ("activations", "layers", "filters", "gradcam", "attributions", "latent", "explorer", "units", "classes")


def large_table(res: dict[str, Any]) -> str:
    lines = [
        "| model | input | every page | limit | "
        + " | ".join(p for p in _PAGE_ORDER)
        + " | filters kept (objective vs unbudgeted) |",
        "|---|---|---|---|" + "---|" * len(_PAGE_ORDER) + "---|",
    ]
    for r in res["rows"]:
        limit = r.get("limit")
        verdict = (
            "" if limit is None else f"≤ {_duration(limit)}: " + ("**met**" if r["seconds"] <= limit else "not met")
        )
        pages = " | ".join(_duration(r["pages"][p]) if p in r["pages"] else "–" for p in _PAGE_ORDER)
        kept = [q for q in r.get("quality", []) if q.get("unbudgeted")]
        quality = (
            ", ".join(f"{q['layer']} {q['budgeted'] / q['unbudgeted']:.0%}" for q in kept) if kept else "not measured"
        )
        lines.append(f"| {r['model']} | {r['size']} px | {_duration(r['seconds'])} | {verdict} | {pages} | {quality} |")
    budgets = [r for r in res["rows"] if r.get("budget")]
    if budgets:
        lines += ["", "The knobs each model's pages ran under (`budget` in the render's manifest):", ""]
        keys = list(budgets[0]["budget"])
        lines += ["| knob | " + " | ".join(r["model"] for r in budgets) + " |", "|---|" + "---|" * len(budgets)]
        for k in keys:
            lines.append(f"| `{k}` | " + " | ".join(str(r["budget"].get(k, "")) for r in budgets) + " |")
    return "\n".join(lines)


def concepts_table(res: dict[str, Any]) -> str:
    """Per embedded model: the cold cost of every class's concepts and whether the goals hold
    (R² ≥ 0.9 with at most 10 concepts, the removal test on ≥ 80% of the images, the top
    concept's map on the object more than a uniform map); then the cost against crops and k."""
    lines = [
        "| model | layer | classes | cold s | concepts | R² (min) | score kept (median) | removal test holds "
        "| same first concept by ablation | top concept's map on the object vs area |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for m in res["models"]:
        rows = m["classes"]
        ks = [r["k"] for r in rows]
        kept = sorted(r["kept"] for r in rows)[len(rows) // 2]
        held = sum(r["removal"] >= 0.8 for r in rows)
        first = sum(r["same_first"] for r in rows)
        if "mass" in rows[0]:
            mass = sum(r["mass"] for r in rows) / len(rows)
            area = sum(r["area"] for r in rows) / len(rows)
            on = sum(r["on_object"] >= 0.5 for r in rows)
            where = f"{mass:.0%} vs {area:.0%} ({on}/{len(rows)} classes)"
        else:
            where = "no masks"
        lines.append(
            f"| {m['model']} | `{m['layer']}` | {len(rows)} | {m['seconds']:.1f} | {min(ks)}–{max(ks)} | "
            f"{min(r['r2'] for r in rows):.2f} | {kept:.0%} | {held}/{len(rows)} classes | {first}/{len(rows)} | {where} |"
        )
    growth = next((m["growth"] for m in res["models"] if "growth" in m), None)
    if growth:
        crops = sorted({g["crops"] for g in growth})
        ks = sorted({g["k"] for g in growth})
        cell = {(g["crops"], g["k"]): g["seconds"] for g in growth}
        lines += [
            "",
            "Cost of one class (64 images, seconds, warm process) against the crops per side and the concepts k:",
            "",
            "| crops per side (crops per image) | " + " | ".join(f"k = {k}" for k in ks) + " |",
            "|---|" + "---|" * len(ks),
        ]
        for c in crops:
            lines.append(f"| {c} ({c * c}) | " + " | ".join(f"{cell[c, k]:.2f}" for k in ks) + " |")
    return "\n".join(lines)


def trust_table(res: dict[str, Any]) -> str:
    """The scorecard's metrics batched against a per-image loop, ROAD's imputation against the
    number of images, and the whole scorecard of each embedded model, cold."""
    lines = [
        f"| metric ({res['config']['metric_images']} images) | batched s | per-image loop s | loop / batched "
        "| its model calls alone: batched s | loop / batched (the most batching can give) |",
        "|---|---|---|---|---|---|",
    ]

    def sec(v: float) -> str:  # two significant digits at least: the NumPy-only metrics take milliseconds
        return f"{v:.2f}" if v >= 0.1 else f"{v:.2g}"

    for r in res["metrics"]:
        alone = f"{sec(r['calls_batched'])} | {r['calls_ratio']:.1f}×" if "calls_ratio" in r else "none | (NumPy only)"
        lines.append(f"| {r['metric']} | {sec(r['batched'])} | {sec(r['loop'])} | {r['ratio']:.1f}× | {alone} |")
    lines += [
        "",
        "ROAD's noisy linear imputation (9 levels, MoRF and LeRF: 18 banded solves per image, 64×64):",
        "",
        "| images | seconds | ms per image |",
        "|---|---|---|",
    ]
    for r in res["imputation"]:
        lines.append(f"| {r['images']} | {r['seconds']:.2f} | {1000 * r['per_image']:.0f} |")
    lines += [
        "",
        "| model | methods (with the 2 baselines) | images (ROAD, randomization) | cold s |",
        "|---|---|---|---|",
    ]
    for r in res["scorecards"]:
        imgs = r["images"]
        lines.append(
            f"| {r['model']} | {r['methods']} | {imgs['Sparseness']} ({imgs['ROAD']}, {imgs['Smooth MPRT']}) "
            f"| {r['seconds']:.1f} |"
        )
    return "\n".join(lines)


def maco_table(res: dict[str, Any]) -> str:
    """Robust recipe against MaCo: classes recognized by the other model, units of the deepest
    layer against their 9th best test image, high-frequency energy, seconds."""
    c = res["config"]
    lines = [
        f"| recipe | visualizations of | classified by | named the class ({c['seeds']} seeds) | by their own model |",
        "|---|---|---|---|---|",
    ]
    for r in res["classes"]:
        lines.append(
            f"| {r['recipe']} | {r['source']} | {r['judge']} | {100 * r['other']:.0f}% | {100 * r['own']:.0f}% |"
        )
    for recipe, rate in res["recognized"].items():
        lines.append(f"| **{recipe}** | both | the other | **{100 * rate:.0f}%** | |")
    lines += [
        "",
        f"| model | deepest layer | recipe | units shown (of {c['units']}) | beat their 9th best test image "
        "| high-frequency energy | the test images' | seconds |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in res["units"]:
        lines.append(
            f"| {r['model']} | `{r['layer']}` | {r['recipe']} | {r['units']} | {100 * r['beats_9th']:.0f}% "
            f"| {100 * r['high_frequency']:.1f}% | {100 * r['data_high_frequency']:.1f}% | {r['seconds']:.1f} |"
        )
    return "\n".join(lines)


def diversity_table(res: dict[str, Any]) -> str:
    """The diversity weight's effect (style similarity, images above the 9th best test image)
    and the facets' cost on the unit pages."""
    c = res["config"]
    lines = [
        f"| model | deepest layer | diversity weight | style similarity of a unit's {c['n_diverse']} images "
        "| images above the unit's 9th best test image | seconds |",
        "|---|---|---|---|---|---|",
    ]
    for r in res["rows"]:
        weight = f"**{r['weight']:g}** (default)" if r["weight"] == c["default_weight"] else f"{r['weight']:g}"
        lines.append(
            f"| {r['model']} | `{r['layer']}` | {weight} | {r['similarity']:.2f} | {100 * r['beats_9th']:.0f}% "
            f"| {r['seconds']:.1f} |"
        )
    lines += [
        "",
        "| model | unit pages cold, without facets (s) | with the facets of "
        f"{res['pages'][0]['units'] if res['pages'] else '?'} units (s) | added |",
        "|---|---|---|---|",
    ]
    for r in res["pages"]:
        lines.append(
            f"| {r['model']} | {r['without']:.1f} | {r['with']:.1f} | {100 * (r['with'] / r['without'] - 1):+.0f}% |"
        )
    return "\n".join(lines)


def atlas_table(res: dict[str, Any]) -> str:
    """Each embedded model's atlas page cold, its steps and what it shows."""
    lines = [
        "| model | layer | vectors | cells drawn | purity (chance) | sample (s) | UMAP (s) | icons (s) | page cold (s) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in res["rows"]:
        lines.append(
            f"| {r['model']} | `{r['layer']}` | {r['vectors']:,} | {r['drawn']} | {100 * r['purity']:.0f}% "
            f"({100 * r['chance']:.0f}%) | {r['vectors_s']:.1f} | {r['layout_s']:.1f} | {r['icons_s']:.1f} "
            f"| **{r['seconds']:.1f}** |"
        )
    return "\n".join(lines)


def table(name: str) -> str:
    res = load(name)
    body = {
        "filters": filters_table,
        "cam": cam_table,
        "attributions": attributions_table,
        "latent": latent_table,
        "units": units_table,
        "diff": diff_table,
        "commands": commands_table,
        "large": large_table,
        "concepts": concepts_table,
        "trust": trust_table,
        "maco": maco_table,
        "diversity": diversity_table,
        "atlas": atlas_table,
    }[name](res)
    return body + "\n\n" + measured(res)


_BLOCK = re.compile(r"(<!-- bench:(\w+) -->\n)(.*?)(<!-- /bench -->)", re.S)


def render_readme(text: str) -> str:
    """The README with every ``<!-- bench:NAME -->`` block rendered from the results."""

    def block(name: str) -> str:
        try:
            return table(name)
        except KeyError:  # no results yet: say how to get them, never a typed number
            script = "time_commands" if name == "commands" else f"bench_{name}"
            return f"*Not measured yet: `python benchmarks/{script}.py` writes these numbers.*"

    return _BLOCK.sub(lambda m: m.group(1) + block(m.group(2)) + "\n" + m.group(4), text)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--readme", action="store_true", help="rewrite the README's benchmark blocks")
    a = p.parse_args(argv)
    if a.readme:
        README.write_text(render_readme(README.read_text()))
        print(f"updated {README}")
    else:
        for name in NAMES:
            try:
                print(f"## {name}\n\n{table(name)}\n")
            except KeyError as exc:
                print(exc)
    return 0


if __name__ == "__main__":
    sys.exit(main())
