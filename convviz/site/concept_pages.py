"""The site's concepts page of a zoo model: for every class, the parts the model recognizes it
by (CRAFT-style concepts, :mod:`convviz.represent.concepts`), ordered by importance, each with
its importance bar, its top crops, where it lies in three test images, and the other classes
with a similar concept; the evidence that the ranking and the maps hold, per class.

One Markdown page, ``<folder>/index.md`` (URL ``gallery/<model>/concepts/``), every class at
``#class-<index>``, every concept at ``#class-<index>-concept-<rank>``. The concepts are
cached; the folder is skipped when its fingerprint is unchanged."""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Any

import numpy as np

from convviz.core import markup
from convviz.core.errors import InputError
from convviz.site.class_data import shown_classes
from convviz.site.freshness import fingerprint, module_text, up_to_date, write_stamp
from convviz.site.html_parts import MUTED, THUMB, colour_bar, figure, strip

__all__ = [
    "write_concept_pages",
    "class_images",
    "fit_images",
    "FIT_IMAGES",
    "RANK_IMAGES",
    "MAP_IMAGES",
    "TOP_CROPS",
    "CROP_SECONDS",
]

FIT_IMAGES = 64  # a class's test images whose crops are factored (a costly model: fewer, see fit_images)
MIN_FIT_IMAGES = 4
CROP_SECONDS = 40.0  # seconds of crop passes a costly model's concepts page may spend, all classes together
RANK_IMAGES = 32  # ... of which the first these many rank the concepts (Sobol) and test the ranking
MAP_IMAGES = 3  # test images each concept's map is drawn on
TOP_CROPS = 9  # crops shown per concept
REMOVE = 3  # concepts removed by the removal test
GOOD = 0.8  # the share of images on which the removal test must hold for the ranking to count


def class_images(y: np.ndarray, predicted: np.ndarray, ok: np.ndarray, c: int) -> np.ndarray:
    """The test images a class's concepts come from: predicted ``c`` and right (an unlabelled
    image predicted ``c`` counts), in index order."""
    y, predicted, ok = np.asarray(y), np.asarray(predicted), np.asarray(ok, bool)
    return np.flatnonzero((predicted == c) & (ok | (y < 0)))


def _bar(value: float, label: str) -> str:
    """An importance bar: ``value`` in [0, 1] of the bar's width, in the theme's accent."""
    width = max(0.0, min(1.0, value)) * 100
    return (
        f'<span role="img" aria-label="{markup.text(label)}" style="display:inline-block;width:8em;height:.7em;'
        f'background:var(--md-default-fg-color--lightest, #e0e0e0);vertical-align:middle">'
        f'<span style="display:block;width:{width:.1f}%;height:100%;background:var(--md-accent-fg-color, #526cfe)">'
        "</span></span>"
    )


def fit_images(seconds_per_pass: float, classes: int, *, crops: int = 9) -> int:
    """Images per class whose crops are factored, for the pass cost the pages plan with
    (:attr:`convviz.zoo.budget.PageBudget.planned_seconds`): :data:`FIT_IMAGES` for a small model (a pass
    of at most :data:`convviz.zoo.budget.SMALL_SECONDS`), else as many as let every class's
    crops' forward passes (a third of a forward and backward pass each) fit in
    :data:`CROP_SECONDS`, between 4 and :data:`FIT_IMAGES`."""
    from convviz.zoo.budget import SMALL_SECONDS

    if seconds_per_pass <= SMALL_SECONDS:
        return FIT_IMAGES
    fit = CROP_SECONDS / (max(1, classes) * crops * seconds_per_pass / 3)
    return int(np.clip(fit, MIN_FIT_IMAGES, FIT_IMAGES))


def _signed(share: float) -> str:
    """A change as a signed percentage with a true minus sign: "−42%", "+3%", "0%"."""
    text = f"{share:+.0%}"
    return "0%" if text in ("+0%", "-0%") else text.replace("-", "−")


def write_concept_pages(entry: Any, folder: Path, *, progress: bool = True) -> float | None:
    """Write the concepts page of a zoo model into ``folder`` (its ``concepts/`` folder).

    Returns the seconds spent, or None when the page was up to date.
    """
    folder = Path(folder)
    stamp = fingerprint(entry, module_text(__file__))
    if up_to_date(folder, stamp, "index.md"):
        return None
    import convviz  # only now: they import Keras (seconds)
    from convviz import zoo
    from convviz.core.files import write_if_changed
    from convviz.evaluate.concepts import MATTERS, SIMILAR, mask_mass, removal_test, similar_concepts
    from convviz.figures.heatmaps import overlay_heatmap
    from convviz.figures.output import save_image
    from convviz.represent.examples import to_uint8

    start = time.perf_counter()
    model = zoo.load(entry, progress=progress)
    test = zoo.dataset(entry, "test")
    x, y = test.x, np.asarray(test.y)
    probs = convviz.predict(model, x, cache=True)
    names = tuple(test.class_names)
    names = names if len(names) == probs.shape[1] else tuple(str(i) for i in range(probs.shape[1]))
    predicted = probs.argmax(axis=1)
    ok = test.correct(predicted)
    classes = [int(c) for c in shown_classes(y, predicted) if len(class_images(y, predicted, ok, int(c)))]
    results, rows, failed = {}, {}, {}
    from convviz.zoo.budget import page_budget

    # the measured cost of a pass, or what the zoo entry's `passes` allows (PageBudget.planned_seconds)
    budget = page_budget(entry, model, images=len(x))
    per_class = fit_images(budget.planned_seconds, len(classes))
    why = (
        f"a pass of this model is costly, so that every class's crops take about {CROP_SECONDS:.0f} s of forward passes"
    )
    if "passes" in dict(budget.entry):
        why = f"this model's zoo entry allows its pages {budget.passes:,} passes"

    from tqdm.auto import tqdm

    for c in tqdm(classes, desc=f"concepts {entry.name}", unit="class", disable=not progress):
        idx = class_images(y, predicted, ok, c)[:per_class]
        try:
            r = convviz.concepts(model, x[idx], class_index=c, rank_images=min(RANK_IMAGES, per_class), cache=True)
        except InputError as exc:  # said on the page: a class with nothing to factor
            failed[c] = str(exc)
            continue
        ranked = idx[r.ranked]
        row: dict[str, Any] = {"images": len(idx), "ranked": len(ranked)}
        if r.k >= 2:
            top, rand = removal_test(model, r, x[ranked], n=REMOVE)
            row["removal"] = float((top > rand).mean())
            row["top_drop"], row["random_drop"] = float(np.median(top)), float(np.median(rand))
        shown = ranked[:MAP_IMAGES]
        maps = convviz.concept_maps(model, r, x[shown], cache=True)
        if test.masks is not None:
            all_maps = convviz.concept_maps(model, r, x[ranked], cache=True)
            mass = mask_mass(all_maps[..., 0], test.masks[ranked])
            area = test.masks[ranked].mean(axis=(1, 2))
            finite = np.isfinite(mass)  # an all-zero map has no mass to place
            row["mass"] = float(mass[finite].mean()) if finite.any() else 0.0
            row["area"] = float(area.mean())
            row["on_object"] = float((mass[finite] > area[finite]).mean()) if finite.any() else 0.0
        results[c], rows[c] = (r, idx, shown, maps), row
    classes = [c for c in classes if c in results]
    similar = similar_concepts(
        {c: v[0].bank for c, v in results.items()}, importance={c: v[0].importance for c, v in results.items()}
    )
    pictures = to_uint8(x)
    if folder.is_dir():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    layer = next(iter(results.values()))[0].layer if results else "—"
    lines = [
        f"# {markup.text(entry.name)}: what each class is made of",
        "",
        f"For each class of **{markup.text(entry.name)}**, the *concepts* the model recognizes it by, found as CRAFT "
        "does (Fel et al., CVPR 2023): each of the class's test images (right predictions, at most "
        f"{per_class}"
        + ("" if per_class == FIT_IMAGES else f": fewer than {FIT_IMAGES} because {why}")
        + f") is cut into 9 overlapping crops, the crops' activations at layer {markup.code(layer)} "
        "are factored into a few non-negative directions (NMF: the fewest, at most 10, that rebuild the "
        "activations with R² ≥ 0.9), and each direction's importance for the class score is its Sobol total "
        "index (0 to 1: the share of the class score's variance it takes part in, when the concepts are turned "
        f"down at random), averaged over up to {min(RANK_IMAGES, per_class)} images. Each concept shows its "
        f"{TOP_CROPS} crops that hold most of it (one per image) and where it lies in {MAP_IMAGES} test images "
        "of the class.",
        "",
        "How to read a concept: the crops say *what* it is, the maps *where* it is; the bar is its Sobol "
        "index; the score change when removed is how much the class score moves without that concept alone, "
        "against the score with every concept. "
        "[The class page](../classes/index.md) shows *which images*; this page shows *which parts*.",
        "",
        colour_bar("the concept's peak over these images", label="Concept map"),
        "",
    ]
    top_end = len(lines)
    evidence = [
        "## Evidence",
        "",
        f"*Ranking*: removing the {REMOVE} most important concepts (fewer when a class has fewer than "
        f"{REMOVE + 1}) should lower the class score more than removing as many random ones (mean of 8 random "
        f"draws); the test holds for a class when it does so on at least {GOOD:.0%} of its images. "
        "*Fidelity*: R² of the crops' rebuilt activations, and the class score of the image's activations "
        "rebuilt from the concepts alone as a share of its real score (median)."
        + (
            " *Localization*: the share of the most important concept's map that lies on the object "
            "(the dataset's masks), against the object's area (a uniform map's share)."
            if test.masks is not None
            else ""
        ),
        "",
    ]
    head = "| class | images | concepts | R² | score kept | top Sobol | score without top vs random | holds on |"
    evidence += [
        head + (" map on object vs area |" if test.masks is not None else ""),
        "|---" * (8 + (test.masks is not None)) + "|",
    ]
    for c in classes:
        r, row = results[c][0], rows[c]
        removal = (
            f"{_signed(-row['top_drop'])} vs {_signed(-row['random_drop'])}" if "removal" in row else "— (one concept)"
        )
        cells = [
            f'<a href="#class-{c}">{markup.text(names[c])}</a>',
            str(row["images"]),
            str(r.k),
            f"{r.r2:.2f}",
            f"{r.logit_kept:.0%}",
            f"{r.importance[0]:.2f}",
            removal,
            f"{row['removal']:.0%}" if "removal" in row else "—",
        ]
        if test.masks is not None:
            cells.append(f"{row['mass']:.0%} vs {row['area']:.0%}")
        evidence.append("| " + " | ".join(cells) + " |")
    tested = [c for c in classes if "removal" in rows[c]]
    held = [c for c in tested if rows[c]["removal"] >= GOOD]
    evidence += [
        "",
        f"The ranking test holds for {len(held)} of the {len(tested)} classes with two or more concepts."
        if tested
        else "No class has two or more concepts: there is no ranking to test.",
    ]
    if failed:
        evidence[-1] += (
            " No concepts for "
            + "; ".join(f"{markup.text(names[c])}: {markup.text(why)}" for c, why in failed.items())
            + "."
        )
    if test.masks is not None and classes:
        better = sum(rows[c]["on_object"] >= 0.5 for c in classes)
        evidence[-1] += (
            f" The most important concept's map puts more of its mass on the object than a uniform map would on "
            f"most images in {better} of the {len(classes)} classes."
        )
    agree = [a for a in (results[c][0].agreement() for c in classes if results[c][0].k >= 3) if np.isfinite(a)]
    first = sum(int(np.argmax(results[c][0].ablation) == 0) for c in classes)
    evidence[-1] += (
        ""
        if not classes
        else (
            f" The cheaper ranking, removing one concept at a time, names the same most important concept in {first} of "
            f"the {len(classes)} classes"
            + (f" (rank correlation with Sobol: median {np.nanmedian(agree):.2f})." if agree else ".")
        )
    )
    evidence += [""]
    shared = sorted({(min(c, d), max(c, d)) for (c, _), found in similar.items() for d, _, _ in found})
    shared_part = ["## Shared concepts", ""]
    if shared:
        shared_part += [
            f"Pairs of classes that use a concept in common (cosine of the two concept vectors ≥ {SIMILAR}, "
            f"each with a Sobol index ≥ {MATTERS} in its class): a part two classes both rely on is a part that "
            "cannot tell them apart, the usual ground of a confusion. (Concepts that matter to neither, such as "
            "the background, are alike in every class and left out.)",
            "",
        ]
        for c, d in shared:
            one, other = int(((y == c) & (predicted == d)).sum()), int(((y == d) & (predicted == c)).sum())
            conf = one + other
            anchor = f"confused-{c}-{d}" if one else f"confused-{d}-{c}"
            pair = [(i, j, cos) for (cc, i), found in similar.items() if cc == c for dd, j, cos in found if dd == d]
            links = ", ".join(
                f'<a href="#class-{c}-concept-{i + 1}">{markup.text(names[c])} {i + 1}</a> ≈ '
                f'<a href="#class-{d}-concept-{j + 1}">{markup.text(names[d])} {j + 1}</a> ({cos:.2f})'
                for i, j, cos in pair
            )
            said = (
                f"; [{conf} test image{'s' if conf != 1 else ''} confused between them](../classes/index.md#{anchor})"
                if conf
                else "; never confused on the test split"
            )
            shared_part.append(f"- {links}{said}.")
        shared_part.append("")
    else:
        shared_part += [
            f"No two classes use a common concept (no pair of concepts with a Sobol index ≥ {MATTERS} each has a "
            f"cosine ≥ {SIMILAR}).",
            "",
        ]
    for c in classes:
        r, idx, shown, maps = results[c]
        name = names[c]
        kept = f"{r.logit_kept:.0%}"
        lines += [
            f"## {markup.text(entry.name)} · class {c} · {markup.text(name)} {{#class-{c}}}",
            "",
            f"{r.k} concept{'s' if r.k != 1 else ''} rebuild the crops' activations of its {len(idx)} images with "
            f"R² {r.r2:.2f}; the image activations rebuilt from them keep {kept} of the class score (median). "
            f"Concept 1 carries the most: Sobol index {r.importance[0]:.2f}, and removing it alone costs "
            f"{r.ablation[0]:.0%} of the score"
            + (
                " (more than all of it: without that concept the class score falls below zero, on average)"
                if r.ablation[0] > 1
                else ""
            )
            + f". [Its class page](../classes/index.md#class-{c}).",
            "",
        ]
        peak = maps.reshape(-1, r.k).max(axis=0)
        for i in range(r.k):
            crops = []
            for b in r.top_crops(i, TOP_CROPS):
                img, y0, x0, side = (int(v) for v in r.boxes[b])
                src = f"c{c}_k{i + 1}_crop{b}.png"
                save_image(folder / src, pictures[idx[img], y0 : y0 + side, x0 : x0 + side])
                crops.append(
                    figure(
                        src,
                        f"crop of test image {idx[img]}",
                        f"image {idx[img]}",
                        title=f"crop of test image {idx[img]}: {r.coefficients[b, i]:.2g} of concept {i + 1}",
                    )
                )
            mapped = []
            for n, j in enumerate(shown):
                src = f"c{c}_k{i + 1}_map{j}.png"
                heat = maps[n, ..., i] / peak[i] if peak[i] > 0 else maps[n, ..., i]
                save_image(folder / src, overlay_heatmap(pictures[j], heat))
                mapped.append(
                    figure(src, f"concept {i + 1} of {name} on test image {j}", f"test image {j}", size=THUMB)
                )
            also = [
                f'<a href="#class-{d}-concept-{m + 1}">{markup.text(names[d])} {m + 1}</a>'
                for d, m, _ in similar[(c, i)]
            ]
            lines += [
                f'<p id="class-{c}-concept-{i + 1}" style="margin:.8em 0 .2em"><strong>Concept {i + 1}</strong> · '
                f"Sobol {_bar(float(r.importance[i]), f'Sobol index {r.importance[i]:.2f}')} {r.importance[i]:.2f} · "
                f"score change when removed: {_signed(-r.ablation[i])}"
                + (f" · also in {', '.join(also)}" if also else "")
                + "</p>",
                '<div style="display:flex;flex-wrap:wrap;gap:4px 16px;align-items:flex-start">',
                *strip(crops)[:-1],
                f'<span style="align-self:center;color:{MUTED};font-size:.7em">where →</span>',
                *strip(mapped)[:-1],
                "</div>",
                "",
            ]
    summary = []
    if classes:
        ks = [results[c][0].k for c in classes]
        summary = [
            f"**{len(classes)} classes, {min(ks)}"
            + (f"–{max(ks)}" if max(ks) != min(ks) else "")
            + " concepts each.** "
            + (f"The ranking test holds for {len(held)} of {len(tested)} classes " if tested else "")
            + f"([evidence](#evidence)); {len(shared)} pair{'s' if len(shared) != 1 else ''} of classes rely on a "
            "common concept ([shared concepts](#shared-concepts)). Classes: "
            + " · ".join(f'<a href="#class-{c}">{markup.text(names[c])}</a>' for c in classes)
            + ".",
            "",
        ]
    lines[top_end:top_end] = summary
    lines += shared_part + evidence
    seconds = time.perf_counter() - start
    lines += [f"This build computed (or read from the cache) this page in {seconds:.1f} s.", ""]
    write_if_changed(folder / "index.md", "\n".join(lines))
    write_stamp(folder, stamp)
    return seconds
