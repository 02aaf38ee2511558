"""The site's class page of a zoo model: every class with the input that maximizes its
score, its most confident test images, the test images confused with it (and with which
class), and its average Grad-CAM; a confusion matrix whose diagonal links to the classes
and whose other cells link to the confusions: the test images of one (true, predicted)
pair, each with its Grad-CAM for both classes.

One Markdown page, ``<folder>/index.md`` (URL ``gallery/<model>/classes/``), every class at
the anchor ``#class-<index>``, every confusion at ``#confused-<true>-<predicted>``.
Expensive parts use the cache; the folder is skipped when its fingerprint is unchanged."""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from convviz.core import markup
from convviz.site.html_parts import MUTED, THUMB, WRONG
from convviz.site.html_parts import colour_bar as _colour_bar, count as _count, figure as _figure, strip as _strip
from convviz.site.class_data import K, class_facts, confusions, pair_cams, shown_classes, visualized_classes
from convviz.site.freshness import fingerprint, module_text, up_to_date, write_stamp
from convviz.core.errors import BlankMapWarning

__all__ = ["write_class_pages"]


def _confusion_table(conf: np.ndarray, names: tuple[str, ...], shown: np.ndarray) -> list[str]:
    """The matrix (Material scrolls it inside its block on a narrow screen): a count on the diagonal links
    to its class, any other count to its confusion, a zero is muted."""
    head = "".join(
        f'<th><a href="#class-{c}" title="{markup.text(names[c])}">{markup.text(names[c])}</a></th>' for c in shown
    )
    rows = []
    for t in shown:
        cells = []
        for p in shown:
            n = int(conf[t, p])
            if t == p:
                title = f"{_count(n)} of {names[t]} predicted {names[t]}"
                cells.append(
                    f'<td style="font-weight:bold"><a href="#class-{t}" title="{markup.text(title)}">{n}</a></td>'
                )
            elif n:
                title = f"{_count(n)} of {names[t]} predicted {names[p]}"
                cells.append(
                    f'<td style="font-weight:bold"><a href="#confused-{t}-{p}" title="{markup.text(title)}" '
                    f'style="color:{WRONG}">{n}</a></td>'
                )
            else:
                cells.append(f'<td style="color:{MUTED}">0</td>')
        rows.append(f'<tr><th><a href="#class-{t}">{markup.text(names[t])}</a></th>{"".join(cells)}</tr>')
    return [
        '<div class="cv-confusion">',  # Material's own wrapper scrolls the table on a phone
        '<table style="margin:0">',
        f"<tr><th>true ↓<br>predicted →</th>{head}</tr>",
        *rows,
        "</table>",
        "</div>",
        "",
    ]


def _confusion_sections(
    model_name: str,
    model: Any,
    x: np.ndarray,
    pictures: np.ndarray,
    probs: np.ndarray,
    names: tuple[str, ...],
    pairs: dict[tuple[int, int], np.ndarray],
    folder: Path,
    picture: Callable[[int], str],
    *,
    layer: str,
) -> list[str]:
    """One section per confusion (``#confused-<true>-<predicted>``): its first :data:`K` test
    images, each beside its Grad-CAM for the true and for the predicted class."""
    from convviz.figures.heatmaps import overlay_heatmap
    from convviz.figures.output import save_image

    shown = {pair: idx[:K] for pair, idx in pairs.items()}
    order = np.concatenate(list(shown.values()))
    truth = np.array([t for (t, _), idx in shown.items() for _ in idx], int)
    said = np.array([p for (_, p), idx in shown.items() for _ in idx], int)
    maps_true, maps_said = pair_cams(model, x[order], truth, said, layer=layer)
    cam = {int(j): (a, b) for j, a, b in zip(order, maps_true, maps_said)}
    total = sum(len(idx) for idx in pairs.values())
    most = max(len(idx) for idx in pairs.values())
    top = [f"{names[t]} taken for {names[p]}" for (t, p), idx in pairs.items() if len(idx) == most]
    stronger = int(sum(b.max() > a.max() for a, b in cam.values()))
    size = THUMB * 4 // 3
    lines = [
        "## Confusions",
        "",
        f"The {total} misclassified test images by true and predicted class, the most confident "
        f"mistake first ({K} at most per pair). Beside each image, its Grad-CAM at "
        f"{markup.code(layer)} for the true class and for the predicted class, on one scale: both "
        "maps divided by the larger one's peak, so that the class with less evidence shows less. "
        + (
            f"The most frequent confusion is {markup.text(top[0])} ({_count(most)}); "
            if len(top) == 1
            else f"The most frequent confusions are {markup.text(', '.join(top))} ({_count(most)} each); "
        )
        + f"in {stronger} of the {len(cam)} images shown, the predicted class's map peaks higher than the "
        "true class's.",
        "",
        _colour_bar("the larger map's peak (of the pair)"),
        "",
    ]
    for (t, p), idx in pairs.items():
        lines += [
            f"### {markup.text(model_name)} · {markup.text(names[t])} taken for {markup.text(names[p])} "
            f"{{#confused-{t}-{p}}}",
            "",
            f"{_count(len(idx))} labelled "
            f'<a href="#class-{t}">{markup.text(names[t])}</a> '
            f'{"are" if len(idx) != 1 else "is"} predicted <a href="#class-{p}">{markup.text(names[p])}</a>'
            + (f"; showing {len(shown[t, p])} of {len(idx)}, the most confident first." if len(idx) > K else ".")
            + f' Compare the parts each relies on: <a href="../concepts/#class-{t}">{markup.text(names[t])}\'s concepts</a>, '
            f'<a href="../concepts/#class-{p}">{markup.text(names[p])}\'s</a>.',
            "",
            '<div style="display:flex;flex-wrap:wrap;gap:8px 16px">',
        ]
        for j in shown[t, p]:
            j = int(j)
            group = [_figure(picture(j), f"test image {j}", f"test image {j}", size=size)]
            for c, heat, role in ((t, cam[j][0], "true"), (p, cam[j][1], "predicted")):
                save_image(folder / f"x{j}_cam{c}.png", overlay_heatmap(pictures[j], heat))
                empty = " (all zero)" if not heat.max() > 0 else ""
                group.append(
                    _figure(
                        f"x{j}_cam{c}.png",
                        f"Grad-CAM of test image {j} for {names[c]}, the {role} class{empty}",
                        f"{role}: {names[c]} {probs[j, c]:.0%}",
                        size=size,
                        title=f"Grad-CAM for {names[c]}{empty}; probability {probs[j, c]:.1%}",
                        wrong=role == "predicted",
                    )
                )
            lines.append(f'<div style="display:flex;gap:4px">{"".join(group)}</div>')
        lines += ["</div>", ""]
    return lines


def write_class_pages(entry: Any, folder: Path, *, progress: bool = True) -> float | None:
    """Write the class page of a zoo model into ``folder`` (its ``classes/`` folder).

    Returns the seconds spent, or None when the page was up to date.
    """

    folder = Path(folder)
    stamp = fingerprint(entry, module_text(__file__))
    if up_to_date(folder, stamp, "index.md"):
        return None
    import convviz  # only now: they import Keras (seconds)
    from convviz import zoo
    from convviz.core.files import write_if_changed
    from convviz.figures.heatmaps import overlay_heatmap
    from convviz.figures.output import save_image
    from convviz.represent.examples import to_uint8

    start = time.perf_counter()
    model = zoo.load(entry, progress=progress)
    test = zoo.dataset(entry, "test")
    x, y, names = test.x, np.asarray(test.y), tuple(test.class_names)
    probs = convviz.predict(model, x, cache=True)
    names = names if len(names) == probs.shape[1] else tuple(str(i) for i in range(probs.shape[1]))
    predicted = probs.argmax(axis=1)
    shown = shown_classes(y, predicted)
    budget = zoo.page_budget(entry, model, images=len(x))
    steps = budget.class_steps  # 96 unless the model is costly (convviz.zoo.budget)
    drawn = visualized_classes(shown, y, predicted, budget.class_patterns)
    patterns = convviz.visualize_classes(model, drawn.tolist(), steps=steps, progress=progress, cache=True)
    pattern_of = {int(c): i for i, c in enumerate(drawn)}
    labelled = y >= 0
    explain = np.where(labelled, y, predicted)
    import warnings

    with warnings.catch_warnings():  # all-zero maps are counted and said on the page instead
        warnings.simplefilter("ignore", BlankMapWarning)
        cams = convviz.grad_cam(model, x, layer=entry.cam_layer(model), class_index=explain.tolist(), cache=True)
    blank = ~np.any(cams > 0, axis=(1, 2))
    pictures = to_uint8(x)
    if folder.is_dir():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    for c, i in pattern_of.items():
        save_image(folder / f"c{c}.png", patterns.images[i])
    saved: set[int] = set()

    def picture(i: int) -> str:
        if i not in saved:
            save_image(folder / f"x{i}.png", pictures[i])
            saved.add(i)
        return f"x{i}.png"

    conf = np.zeros((probs.shape[1], probs.shape[1]), int)
    np.add.at(conf, (y[labelled], predicted[labelled]), 1)
    accuracy = float((predicted[labelled] == y[labelled]).mean()) if labelled.any() else None
    lines = [
        f"# {markup.text(entry.name)}: every class",
        "",
        f"For each class of **{markup.text(entry.name)}** that occurs in its {len(x)} test images: the input that "
        f"maximizes the class score (the robust recipe, {steps} Adam steps on the score before "
        "the softmax), the test images the model is most confident about, the test images it confuses "
        "with the class, and the class's average Grad-CAM over its test images.",
        "",
    ]
    pairs = confusions(y, predicted, probs)
    if accuracy is not None:
        lines += [
            "## Confusion matrix",
            "",
            f"Test accuracy {accuracy:.2%} on {int(labelled.sum())} labelled images. Rows are the true "
            "classes, columns the predictions; a number on the diagonal links to its class, any other "
            "to its confusion: those test images with the Grad-CAM of both classes.",
            "",
            *_confusion_table(conf, names, shown),
        ]
        if pairs:
            lines += _confusion_sections(
                entry.name, model, x, pictures, probs, names, pairs, folder, picture, layer=entry.cam_layer(model)
            )
    else:
        lines += [
            "The test images have no labels: classes are those the model predicts, and there is no confusion to show.",
            "",
        ]
    for i, c in enumerate(shown):
        name = names[c]
        lines += [f"## {markup.text(entry.name)} · class {c} · {markup.text(name)} {{#class-{c}}}", ""]
        lines += [
            markup.text(class_facts(int(c), name, y, predicted))
            + f' <a href="../concepts/#class-{c}">What {markup.text(name)} is made of: its concepts.</a>',
            "",
        ]
        mine = (explain == c) & ~blank
        mean_cam = cams[mine].mean(axis=0) if mine.any() else None
        top = []
        if int(c) in pattern_of:
            score = float(patterns.losses[pattern_of[int(c)]])
            top.append(_figure(f"c{c}.png", f"input that maximizes {name}", f"score {score:.3g}", size=2 * THUMB))
        else:
            lines += [
                f"Not visualized: this model's budget visualizes the {len(drawn)} classes with the most test "
                "images (labelled or predicted).",
                "",
            ]
        if mean_cam is not None:
            base = pictures[explain == c].mean(axis=0).astype(np.uint8)
            peak = float(mean_cam.max())
            save_image(folder / f"cam{c}.png", overlay_heatmap(base, mean_cam / peak if peak > 0 else mean_cam))
            top.append(
                _figure(
                    f"cam{c}.png",
                    f"average Grad-CAM of {name}",
                    f"average Grad-CAM, {int(mine.sum())} images",
                    size=2 * THUMB,
                )
            )
        lines += _strip(top)
        if mean_cam is not None:  # the average map's scale, beside it
            lines += [_colour_bar("the map's peak"), ""]
        zero = int(((explain == c) & blank).sum())
        if zero:
            rest = "the average is over the others." if mine.any() else "there is no average to show."
            lines += [
                f"Grad-CAM finds no positive evidence for {markup.text(name)} at {markup.code(entry.cam_layer(model))} in "
                f"{zero} of its {int((explain == c).sum())} images (an all-zero map): {rest}",
                "",
            ]
        confident = np.argsort(-probs[:, c], kind="stable")
        confident = [int(j) for j in confident if predicted[j] == c][:K]  # type: ignore[assignment]
        if confident:
            lines += [
                "**Most confident**",
                "",
                *_strip(
                    [
                        _figure(
                            picture(j),
                            f"test image {j}",
                            f"{probs[j, c]:.1%}",
                            title=f"test image {j}" + (f", labelled {names[y[j]]}" if y[j] >= 0 else ""),
                        )
                        for j in confident
                    ]
                ),
            ]
        if labelled.any():
            wrong_in = [
                int(j)
                for j in np.argsort(-probs[:, c], kind="stable")
                if labelled[j] and predicted[j] == c and y[j] != c
            ][:K]
            wrong_out = [
                int(j)
                for j in np.argsort(-probs.max(axis=1), kind="stable")
                if labelled[j] and y[j] == c and predicted[j] != c
            ][:K]
            if wrong_in:
                lines += [
                    f"**Taken for {markup.text(name)}**",
                    "",
                    *_strip(
                        [
                            _figure(
                                picture(j),
                                f"test image {j}",
                                f"is {names[y[j]]}",
                                title=f"test image {j}: labelled {names[y[j]]}, predicted {name} ({probs[j, c]:.0%})",
                                href=f"#confused-{y[j]}-{c}",
                            )
                            for j in wrong_in
                        ]
                    ),
                ]
            if wrong_out:
                lines += [
                    f"**{markup.text(name)} taken for another class**",
                    "",
                    *_strip(
                        [
                            _figure(
                                picture(j),
                                f"test image {j}",
                                f"→ {names[predicted[j]]}",
                                title=f"test image {j}: "
                                f"labelled {name}, predicted {names[predicted[j]]} ({probs[j].max():.0%})",
                                href=f"#confused-{c}-{predicted[j]}",
                            )
                            for j in wrong_out
                        ]
                    ),
                ]
            if not wrong_in and not wrong_out:
                lines += [f"No test image is confused with {markup.text(name)}.", ""]
    seconds = time.perf_counter() - start
    # what the page computes, at its end with its time (the reader came for the classes)
    lines += [markup.text(budget.describe("classes")), ""]
    lines += [f"This build computed (or read from the cache) this page in {seconds:.1f} s.", ""]
    write_if_changed(folder / "index.md", "\n".join(lines))
    write_stamp(folder, stamp)
    return seconds
