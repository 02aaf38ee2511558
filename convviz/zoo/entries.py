"""Finding entries: the zoo file in use, an entry by name (with a suggestion), whether it can load here, and its dataset at the model's input size."""

from __future__ import annotations

import difflib
import os
from pathlib import Path
from typing import TYPE_CHECKING

from convviz.zoo import catalog as _catalog
from convviz.core.image import resize_images
from convviz.zoo import datasets
from convviz.zoo.errors import ZooError
from convviz.zoo.schema import parse
from convviz.zoo import folders
from convviz.zoo import splits

if TYPE_CHECKING:
    from convviz.zoo.entry import ZooEntry


__all__ = ["path", "read", "names", "entry", "usable", "dataset", "ENV_VAR"]


ENV_VAR = "CONVVIZ_ZOO"


def path() -> Path:
    """The zoo file: ``$CONVVIZ_ZOO``, else the project's (:func:`convviz.store.project.find`: the
    ``zoo`` option of the convviz plugin in the nearest ``mkdocs.yml``, or the nearest
    ``zoo.yml`` or ``gallery/zoo.yml``)."""
    from convviz.store.project import find

    return find().zoo


def read(zoo: str | Path | None = None) -> list[ZooEntry]:
    """All entries of a zoo file (default :func:`path`)."""
    p = Path(zoo) if zoo is not None else path()
    if not p.is_file():
        raise ZooError(f"zoo file not found: {p} (set {ENV_VAR} or run from the project folder)")
    return parse(p.read_text(encoding="utf-8"), source=str(p), zoo_file=p.resolve())


def names(zoo: str | Path | None = None) -> list[str]:
    """Names of all zoo entries, in file order."""
    return [e.name for e in read(zoo)]


def entry(name: str, zoo: str | Path | None = None) -> ZooEntry:
    """The entry called ``name``; an unknown name raises an error listing the valid names."""
    entries = read(zoo)
    for e in entries:
        if e.name == name:
            return e
    valid = [e.name for e in entries]
    close = difflib.get_close_matches(name, valid, n=1)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    raise ZooError(f"unknown zoo model {name!r}.{hint} Valid names: {', '.join(valid)}")


def usable(e: ZooEntry) -> tuple[bool, str]:
    """Whether an entry can be loaded here, and why not."""
    if e.source == "keras.applications" and e.options.get("weights") == "imagenet":
        if _catalog.imagenet_weights_available(e.options["application"]):
            return True, "ImageNet weights in the Keras cache"
        if os.environ.get("CONVVIZ_ALLOW_DOWNLOAD") == "1":
            return True, "ImageNet weights will be downloaded (CONVVIZ_ALLOW_DOWNLOAD=1)"
        return False, (
            f"ImageNet weights for {e.options['application']} are not in the Keras cache "
            "and downloads are off (set CONVVIZ_ALLOW_DOWNLOAD=1 to fetch them)"
        )
    if e.source == "file":
        fp = e.file_path
        if fp is None or not fp.is_file():
            return False, f"model file not found: {fp}"
    return True, "ok"


def dataset(e: ZooEntry, split: str = "test") -> splits.Dataset:
    """The entry's dataset at the model's input size and channel count."""
    h, w, c = e.input_shape
    folder = e.dataset_folder
    if folder is None:
        d = datasets.load(e.dataset, split)
        x = folders.convert_channels(resize_images(d.x, (h, w)), c)
        return d if x is d.x else d.with_images(x)
    if not folder.is_dir():
        raise ZooError(f"zoo model {e.name!r}: image folder not found: {folder}")
    labelled = bool(folders.folder_classes(folder))
    try:
        d = folders.load_folder(
            folder,
            size=(h, w),
            channels=1 if c == 1 else 3,
            class_names=e.given_class_names if labelled else e.class_names,
        )
    except (ValueError, OSError) as exc:  # the folder's problem (names, images), said as the zoo's
        raise ZooError(f"zoo model {e.name!r}: {exc}") from None
    if labelled and len(d.class_names) != e.num_classes:
        raise ZooError(
            f"zoo model {e.name!r}: {folder} has {len(d.class_names)} classes "
            f"({', '.join(d.class_names[:5])}...) but the model has {e.num_classes} outputs; "
            "give class_names in the model's output order"
        )
    return d.with_images(folders.convert_channels(d.x, c)) if d.x.shape[-1] != c else d
