"""The pages a build generates from the zoo: the zoo index and each model's README (the gallery's section headers), each model's page scripts from the templates, example scripts re-run when what they use changes, failed examples forgotten, downloads cleaned."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

from convviz.core import markup

__all__ = [
    "Layout",
    "generate_pages",
    "refresh_examples",
    "forget_failed",
    "clean_downloads",
    "GUIDE",
    "write_model_readmes",
]

log = logging.getLogger("mkdocs.plugins.convviz")


GUIDE = "https://convviz.github.io/convviz/add-your-model/"


@dataclass(frozen=True)
class Layout:
    """Where a build's files go: the generated scripts, the zoo's output folder inside
    ``docs_dir``, the example folders (source → output) and the benchmark folder."""

    pages: Path
    out: Path
    docs: Path = Path("docs")
    zoo: Path = Path("zoo.yml")
    root: Path = Path(".")
    examples: dict[Path, Path] = field(default_factory=dict)
    benchmarks: Path | None = None
    templates: Path | None = None
    zoo_label: str = "zoo.yml"
    guide: str = GUIDE

    @property
    def out_dirs(self) -> tuple[Path, ...]:
        return (self.out, *self.examples.values())


def _accuracy(entry: Any, load: bool) -> float | None:
    """A trained entry's test accuracy; ``load=False``: only if the cache holds it (the
    build's configuration loads no model: its workers do, then :func:`write_model_readmes`
    writes the indexes again, with it)."""
    from convviz import zoo

    if load:
        return zoo.test_accuracy(entry)
    record = zoo.cached_record(entry)
    return None if record is None else float(record["test_accuracy"])


def zoo_index(entries: list[Any], skipped: list[Any], layout: Layout, *, load: bool = True) -> str:
    from convviz.site.pages import pages_for

    lines = [
        "# Model zoo",
        "",
        f"Every model of {markup.code_span(layout.zoo_label)} gets its pages, in the chapter's order: intermediate "
        "activations, filter patterns, Grad-CAM, pixel attributions, latent space; then every layer with its "
        "units, and every class; an entry with `compare_to` also gets a page of what changed against the model "
        f"it names. Adding an entry to the zoo adds its pages ([how]({layout.guide})).",
        "",
    ]
    if entries:
        # the links second: on a phone the first columns are what shows without scrolling the table
        lines += ["| model | pages | test accuracy | dataset | source |", "|---|---|---|---|---|"]
    for e in entries:
        acc = _accuracy(e, load)
        detail = e.options.get("architecture") or e.options.get("application") or e.options.get("path")
        acc_text = f"{acc:.2%}" if acc is not None else "—"
        url = quote(e.name)
        pages = " · ".join(
            [f"[{p}]({url}/{p}.md)" for p in pages_for(e)]
            + [
                f"[units]({url}/units/index.md)",
                f"[atlas]({url}/atlas/index.md)",
                f"[classes]({url}/classes/index.md)",
                f"[concepts]({url}/concepts/index.md)",
            ]
        )
        lines.append(
            f"| [{markup.text(e.name)}](#{url}) | {pages} | {acc_text} | {markup.text(e.dataset)} "
            f"| {e.source} ({markup.code(detail)}) |"
        )
    if not entries:
        lines.append("No model of the zoo file can be built here." if skipped else "The zoo file has no models.")
    if skipped:
        lines += ["", f'!!! note "Not built here: {len(skipped)} model{"s" if len(skipped) != 1 else ""}"', ""]
        lines += [f"    - {markup.text(e.name)} ({e.source}): {markup.text(why)}" for e, why in skipped]
    lines.append("")
    return "\n".join(lines)


def model_readme(entry: Any, *, load: bool = True) -> str:
    """A model's gallery index (``load``: see :func:`_accuracy`)."""
    acc = _accuracy(entry, load)
    shape = "×".join(str(d) for d in entry.input_shape)
    url = quote(entry.name)
    lines = [
        f"## {markup.text(entry.name)}",
        "",
        f"**{markup.text(entry.title)}**. {markup.text(entry.description)}",
        "",
        f"Input {shape}, {len(entry.class_names)} classes, dataset {markup.code(entry.dataset)}"
        + (f", test accuracy **{acc:.2%}**." if acc is not None else "."),
        "",
        f"[Every layer and unit]({url}/units/index.md): each conv layer's output shape, receptive "
        "field and dead units, and every unit's feature visualization beside the test images that excite "
        f"it most. [The activation atlas]({url}/atlas/index.md): the deepest layer's activation vectors of "
        "every test image position laid out as a map, each region rendered. "
        f"[Every class]({url}/classes/index.md): the input that maximizes its score, its "
        "most confident and most confused test images, its average Grad-CAM, and the confusion matrix. "
        f"[What each class is made of]({url}/concepts/index.md): the parts (concepts) the model recognizes "
        "each class by, ranked by their importance for its score, where each lies in an image, and the "
        "classes that rely on the same part.",
        "",
    ]
    if entry.compare_to is not None:
        from convviz.review.revisions import reference_entry

        label = reference_entry(entry)[0]
        lines += [
            f"[What changed]({url}/changes.md) against {markup.code(label)}: accuracy, flipped predictions with both "
            "Grad-CAMs, per-layer CKA, the units that changed most and the aligned latent spaces.",
            "",
        ]
    return "\n".join(lines)


def _usable_entries(*, say: bool = True) -> tuple[list[Any], list[tuple[Any, str]]]:
    """The zoo's usable entries, and the others with the reason (logged when ``say``)."""
    from convviz import zoo

    entries, skipped = [], []
    for e in zoo.read():
        ok, why = zoo.usable(e)
        if ok:
            entries.append(e)
        else:
            if say:
                log.info("convviz: skipping zoo model %s: %s", e.name, why)
            skipped.append((e, why))
    return entries, skipped


def write_model_readmes(layout: Layout) -> None:
    """The zoo's and each usable model's gallery index, with the test accuracies (loading a
    model when the cache does not hold it yet)."""
    from convviz.core.files import write_if_changed

    entries, skipped = _usable_entries(say=False)
    write_if_changed(layout.pages / "README.md", zoo_index(entries, skipped, layout))
    for e in entries:
        write_if_changed(layout.pages / e.name / "README.md", model_readme(e))


def generate_pages(layout: Layout) -> dict[str, list[str]]:
    """Write the per-model gallery scripts into ``layout.pages`` (only those whose content
    changed); returns {model: [pages written]}, with ``"course"``-style keys for example
    folders whose scripts must re-run."""
    from convviz.core.files import write_if_changed
    from convviz.site.pages import pages_for, remove_stale_pages, write_pages

    entries, skipped = _usable_entries()
    changed: dict[str, list[str]] = {}
    write_if_changed(layout.pages / "README.md", zoo_index(entries, skipped, layout, load=False))
    for e in entries:
        folder = layout.pages / e.name
        write_if_changed(folder / "README.md", model_readme(e, load=False))
        written = write_pages(e, folder, templates=layout.templates)
        if e.compare_to is None and (folder / "changes.py").is_file():
            (folder / "changes.py").unlink()  # compare_to removed: its page goes too
            out = layout.out / e.name
            for stale in [
                *out.glob("changes.*"),
                *out.glob("images/*_changes_*"),
                *out.glob("images/thumb/*_changes_*"),
            ]:
                stale.unlink()
            written.append("changes")
        # and the pages mkdocs-gallery will run although their script is unchanged: its output is
        # gone or older (a deleted docs/gallery folder), so that the workers compute them too
        written += [
            p for p in pages_for(e) if p not in written and _gallery_will_run(folder / f"{p}.py", layout.out / e.name)
        ]
        if written:
            changed[e.name] = written
    remove_stale_pages(layout.pages, {e.name for e in entries}, (layout.out,))
    for src, out in layout.examples.items():
        changed.update(refresh_examples(src, out))
    return changed


def _gallery_will_run(script: Path, out: Path) -> bool:
    """Whether mkdocs-gallery will run ``script``: the md5 of the script it ran last (kept next
    to its download copy in ``out``) is missing or another (its own rule)."""
    from mkdocs_gallery.utils import get_md5sum

    if not script.is_file():
        return False
    try:
        return (out / f"{script.name}.md5").read_text() != get_md5sum(script, mode="t")
    except OSError:
        return True


_ENTRY = re.compile(r"""zoo\.entry\(["']([\w-]+)["']\)""")


def refresh_examples(src: Path, out: Path) -> dict[str, list[str]]:
    """mkdocs-gallery re-runs a script only when its text changes; an example script also
    depends on the zoo models it loads (``zoo.entry("shapes-cnn")``), on the convviz code it
    calls and on the backend. Keep a fingerprint of all that beside its output and forget
    the script's MD5 when it changes, so the figure is recomputed. Returns
    {folder name: [scripts to re-run]}."""
    from convviz import zoo
    from convviz.site.freshness import gallery_fingerprint, up_to_date, write_stamp

    rerun: dict[str, list[str]] = {}
    known = {e.name: e for e in zoo.read()}
    for script in sorted(Path(src).glob("*.py")):
        text = script.read_text(encoding="utf-8")
        # the recipes of the models it loads, and whether each is usable here (an example
        # may use an ImageNet model when its weights are present)
        # (and their page budgets: an example may take an image count from one)
        recipes = [
            repr((known[n].recipe(), sorted(known[n].budget.items()))) if n in known else f"{n}: not in the zoo"
            for n in sorted(set(_ENTRY.findall(text)))
        ]
        recipes += [f"{e.name}: {zoo.usable(e)[0]}" for e in known.values() if e.source == "keras.applications"]
        digest = gallery_fingerprint(None, text, recipes)
        stamp = f"{script.stem}.fingerprint"
        if up_to_date(out, digest, stamp=stamp):
            continue
        (out / f"{script.name}.md5").unlink(missing_ok=True)
        write_stamp(out, digest, stamp=stamp)
        rerun.setdefault(Path(src).name, []).append(script.stem)
    return rerun


def forget_failed(out_dirs: tuple[Path, ...]) -> list[Path]:
    """A failed example must not leave its MD5 behind: mkdocs-gallery writes it even on
    failure, and the next build would silently keep the traceback page. Forget the MD5 of
    every example whose page is missing or shows a traceback; returns the MD5 files removed."""
    gone = []
    for out in out_dirs:
        for md5 in Path(out).rglob("*.py.md5"):
            page = md5.with_name(md5.name[: -len(".py.md5")] + ".md")
            if not page.is_file() or "Traceback (most recent call last)" in page.read_text(encoding="utf-8"):
                md5.unlink()
                gone.append(md5)
    return gone


def clean_downloads(out_dirs: tuple[Path, ...]) -> list[Path]:
    """Remove mkdocs-gallery's config comments (the page fingerprint) from the downloadable
    scripts, as the gallery does for the page and the notebook: a reader downloads the code
    as shown. Returns the scripts changed."""
    from mkdocs_gallery.py_source_parser import remove_config_comments

    changed = []
    for out in out_dirs:
        for script in Path(out).rglob("*.py"):
            text = script.read_text(encoding="utf-8")
            clean = remove_config_comments(text)
            if clean != text:
                script.write_text(clean, encoding="utf-8")
                changed.append(script)
    return changed
