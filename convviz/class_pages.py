"""The site's class page of a zoo model: every class with the input that maximizes its
score, its most confident test images, the test images confused with it (and with which
class), and its average Grad-CAM; a confusion matrix whose cells link to the classes.

One Markdown page, ``<folder>/index.md`` (URL ``gallery/<model>/classes/``), every class at
the anchor ``#class-<index>``. Expensive parts use the cache; the folder is skipped when
its fingerprint is unchanged.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Any

import numpy as np

from convviz import markup
from convviz.unit_pages import _STAMP, THUMB, _img, up_to_date

__all__ = ["write_class_pages", "shown_classes", "CLASS_STEPS"]

CLASS_STEPS = 96
K = 6


def shown_classes(y: np.ndarray, predicted: np.ndarray) -> np.ndarray:
    """The classes a page shows: those that occur in the test split as a label or as a
    prediction (a 1,000-class model on 15 photos gets the few classes that matter)."""
    return np.unique(np.concatenate([y[y >= 0], predicted])).astype(int)


def _figure(src: str, alt: str, caption: str, *, size: int = THUMB, title: str = "") -> str:
    return (
        f'<figure style="margin:0;text-align:center">{_img(src, alt, size=size, title=title)}'
        f'<figcaption style="font-size:0.7em">{markup.text(caption)}</figcaption></figure>'
    )


def _strip(items: list[str]) -> list[str]:
    return ['<div style="display:flex;flex-wrap:wrap;gap:4px">', *items, "</div>", ""]


def _confusion_table(conf: np.ndarray, names: tuple[str, ...], shown: np.ndarray) -> list[str]:
    head = "".join(
        f'<th><a href="#class-{c}" title="{markup.text(names[c])}">{markup.text(names[c])}</a></th>' for c in shown
    )
    rows = []
    for t in shown:
        cells = []
        for p in shown:
            n = int(conf[t, p])
            style = "font-weight:bold" if t == p else ("color:#e53935" if n else "color:#999")
            cells.append(
                f'<td style="{style}"><a href="#class-{p if t != p else t}">{n}</a></td>'
                if n
                else f'<td style="{style}">0</td>'
            )
        rows.append(f'<tr><th><a href="#class-{t}">{markup.text(names[t])}</a></th>{"".join(cells)}</tr>')
    return ["<table>", f"<tr><th>true ↓ · predicted →</th>{head}</tr>", *rows, "</table>", ""]


def write_class_pages(entry: Any, folder: Path, *, progress: bool = True) -> float | None:
    """Write the class page of a zoo model into ``folder`` (its ``classes/`` folder).

    Returns the seconds spent, or None when the page was up to date.
    """
    from convviz.site import _fingerprint

    folder = Path(folder)
    stamp = _fingerprint(entry, Path(__file__).read_text(encoding="utf-8"))
    if up_to_date(folder, stamp):
        return None
    import convviz  # only now: they import Keras (seconds)
    from convviz import zoo
    from convviz.pages import _write_if_changed
    from convviz.plot import overlay_heatmap, save_image
    from convviz.units import to_uint8

    start = time.perf_counter()
    model = zoo.load(entry, progress=progress)
    test = zoo.dataset(entry, "test")
    x, y, names = test.x, np.asarray(test.y), tuple(test.class_names)
    probs = convviz.predict(model, x, cache=True)
    names = names if len(names) == probs.shape[1] else tuple(str(i) for i in range(probs.shape[1]))
    predicted = probs.argmax(axis=1)
    shown = shown_classes(y, predicted)
    patterns = convviz.visualize_classes(model, shown.tolist(), steps=CLASS_STEPS, progress=progress, cache=True)
    labelled = y >= 0
    explain = np.where(labelled, y, predicted)
    import warnings

    with warnings.catch_warnings():  # all-zero maps are counted and said on the page instead
        warnings.simplefilter("ignore")
        cams = convviz.grad_cam(model, x, layer=entry.cam_layer(model), class_index=explain.tolist(), cache=True)
    blank = ~np.any(cams > 0, axis=(1, 2))
    pictures = to_uint8(x)
    if folder.is_dir():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    for i, c in enumerate(shown):
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
        f"maximizes the class score (the robust recipe, {CLASS_STEPS} Adam steps on the score before "
        "the softmax), the test images the model is most confident about, the test images it confuses "
        "with the class, and the class's average Grad-CAM over its test images.",
        "",
    ]
    if accuracy is not None:
        lines += [
            "## Confusion matrix",
            "",
            f"Test accuracy {accuracy:.2%} on {int(labelled.sum())} labelled images. Rows are the true "
            "classes, columns the predictions; every number links to a class.",
            "",
            *_confusion_table(conf, names, shown),
        ]
    else:
        lines += [
            "The test images have no labels: classes are those the model predicts, and there is no confusion to show.",
            "",
        ]
    for i, c in enumerate(shown):
        name = names[c]
        lines += [f"## {markup.text(entry.name)} · class {c} · {markup.text(name)} {{#class-{c}}}", ""]
        of_class = labelled & (y == c)
        said = predicted == c
        facts = [f"{int(said.sum())} test images predicted {name}"]
        if labelled.any():
            facts.insert(0, f"{int(of_class.sum())} test images labelled {name}")
            if of_class.any():
                facts.append(f"recall {float((predicted[of_class] == c).mean()):.0%}")
            if said[labelled].any():
                facts.append(f"precision {float((y[said & labelled] == c).mean()):.0%}")
        lines += [markup.text("; ".join(facts) + "."), ""]
        mine = (explain == c) & ~blank
        mean_cam = cams[mine].mean(axis=0) if mine.any() else None
        top = [
            _figure(
                f"c{c}.png", f"input that maximizes {name}", f"score {float(patterns.losses[i]):.3g}", size=2 * THUMB
            )
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
                            )
                            for j in wrong_out
                        ]
                    ),
                ]
            if not wrong_in and not wrong_out:
                lines += [f"No test image is confused with {markup.text(name)}.", ""]
    seconds = time.perf_counter() - start
    lines += [f"This build computed (or read from the cache) this page in {seconds:.1f} s.", ""]
    _write_if_changed(folder / "index.md", "\n".join(lines))
    (folder / _STAMP).write_text(stamp)
    return seconds
