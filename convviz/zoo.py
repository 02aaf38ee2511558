"""The model zoo: entries from the zoo file (``zoo.yml``), validated, loaded and cached.

An entry names a model, where it comes from and what to show::

    models:
      - name: shapes-cnn
        title: VGG-style ConvNet on generated shapes
        source: trained            # trained | keras.applications | file
        architecture: vgg_cnn      # trained: an architecture defined in convviz
        dataset: shapes            # digits | shapes | photos | an image folder
        epochs: 12
        augment: dihedral          # none | shift | dihedral
        seed: 0
        min_accuracy: 0.95

Sources:

* ``trained``: convviz trains the architecture on an embedded dataset (seeded) and
  caches the model; the test accuracy is recorded for the site. Weights shipped next to
  the zoo file (``weights/<name>.keras``, written by :func:`ship`) are read instead when
  their recipe digest is the entry's (:mod:`convviz.shipped`).
* ``keras.applications``: a real ImageNet model (``application: Xception``...) with
  ImageNet preprocessing inside. With ``weights: imagenet`` it is used only when the
  weights are in the Keras cache (or ``CONVVIZ_ALLOW_DOWNLOAD=1``); otherwise it is
  skipped with one log line, never built with random weights.
* ``file``: a ``.keras`` or legacy ``.h5`` file (``path``, relative to the zoo file) and a
  dataset (an embedded one or an image folder, labelled ``root/<class>/<image>`` or not
  ``root/<image>``). ``preprocess`` says what the model expects from [0, 1] images
  (``none``, ``uint8``, ``tf``, ``torch``, ``caffe``): convviz puts it in front of the
  model as a fixed layer. Class names come from ``class_names``, the folder's
  sub-folders, the embedded dataset, or ImageNet's for a 1000-class model. Files with
  ``Lambda`` layers or custom objects are refused (Keras ``safe_mode``) unless the entry
  sets ``trust_code: true``.
"""

from __future__ import annotations

import collections
import difflib
import hashlib
import json
import logging
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from convviz import _catalog, _imagenet, datasets, shipped
from convviz._lazy import lazy_module

if TYPE_CHECKING:
    import keras

    from convviz import models
else:
    # imported on first use: reading and checking a zoo file needs neither (see _catalog)
    keras = lazy_module("keras")
    models = lazy_module("convviz.models")
from convviz.cache import Cache, default_cache, make_key

__all__ = [
    "ZooError",
    "ZooEntry",
    "path",
    "read",
    "names",
    "entry",
    "load",
    "usable",
    "test_accuracy",
    "dataset",
    "recipe_digest",
    "shipped_path",
    "ship",
    "retrain_check",
    "training_record",
    "cached_record",
    "needs_training",
    "Retrained",
    "valid_revision",
]

log = logging.getLogger("convviz")
ENV_VAR = "CONVVIZ_ZOO"
MAX_SEED_BAND = 5  # other seeds a seed band may train
SOURCES = ("trained", "keras.applications", "file")

_COMMON: dict[str, type | tuple[type, ...]] = {
    "name": str,
    "title": str,
    "description": str,
    "source": str,
    "dataset": str,
    "class_names": list,
    "layers": list,
    "last_conv_layer": str,
    "input_shape": list,
    "units": (str, list),
    "compare_to": (str, dict),
    "gate": dict,
}
# recipe keys a ``compare_to`` mapping may change (a variant of a trained entry)
_VARIANT_KEYS: dict[str, type | tuple[type, ...]] = {
    "epochs": int,
    "batch_size": int,
    "learning_rate": (float, int),
    "seed": int,
    "augment": str,
}
_BY_SOURCE: dict[str, dict[str, type | tuple[type, ...]]] = {
    "trained": {
        "architecture": str,
        "epochs": int,
        "batch_size": int,
        "learning_rate": (float, int),
        "seed": int,
        "min_accuracy": (float, int),
        "augment": str,
        "seed_band": int,
    },
    "keras.applications": {"application": str, "weights": (str, type(None))},
    "file": {"path": str, "trust_code": bool, "preprocess": str},
}
_REQUIRED = {
    "trained": ("architecture", "dataset"),
    "keras.applications": ("application",),
    "file": ("path", "dataset"),
}


class ZooError(ValueError):
    """A problem in the zoo file; the message names the key and its line."""


def path() -> Path:
    """The zoo file: ``$CONVVIZ_ZOO``, else the project's (:func:`convviz.paths.find`: the
    ``zoo`` option of the convviz plugin in the nearest ``mkdocs.yml``, or the nearest
    ``zoo.yml`` or ``gallery/zoo.yml``)."""
    from convviz.paths import find

    return find().zoo


@dataclass(frozen=True)
class ZooEntry:
    """One validated zoo entry.

    Attributes
    ----------
    name, title, description, source
        As in the zoo file.
    dataset
        Embedded dataset name, or a folder path (``file`` entries).
    options
        The source-specific keys (``architecture``, ``epochs``, ``application``...).
    """

    name: str
    source: str
    dataset: str
    title: str = ""
    description: str = ""
    layers: tuple[str, ...] = ()
    options: dict[str, Any] = field(default_factory=dict, compare=False)
    zoo_file: Path | None = None
    _class_names: tuple[str, ...] | None = None
    _input_shape: tuple[int, int, int] | None = None
    _last_conv_layer: str | None = None
    _units: str | tuple[str, ...] | None = None
    compare_to: str | dict[str, Any] | None = field(default=None, compare=False)
    gate: dict[str, float] = field(default_factory=dict, compare=False)

    @property
    def class_names(self) -> tuple[str, ...]:
        """The model's class names: from the zoo file, else ImageNet's (keras.applications
        and 1000-class models), the embedded dataset's, the folder's class sub-folders,
        or ``class 0``, ``class 1``..."""
        if self._class_names:
            return self._class_names
        if self.source == "keras.applications":
            return _imagenet.class_names()
        if self.source == "trained":
            return _embedded(self.dataset)[1]
        n = self.num_classes
        if n == 1000:
            return _imagenet.class_names()
        if self.dataset in ("digits", "shapes"):
            names = _embedded(self.dataset)[1]
            if len(names) == n:
                return names
        folder = self.dataset_folder
        if folder is not None and folder.is_dir():
            subs = datasets.folder_classes(folder)
            if len(subs) == n:
                return subs
        return tuple(f"class {i}" for i in range(n))

    @property
    def num_classes(self) -> int:
        """Number of the model's outputs (class scores)."""
        return int(self._architecture.outputs[0].shape[-1])

    @property
    def dataset_folder(self) -> Path | None:
        """The image folder of the entry (None for an embedded dataset)."""
        if self.dataset in datasets.NAMES or not self.dataset:
            return None
        folder = Path(self.dataset)
        if not folder.is_absolute() and self.zoo_file is not None:
            folder = self.zoo_file.parent / folder
        return folder

    @property
    def preprocess(self) -> str:
        """What the model expects from [0, 1] images (a key of ``_catalog.PREPROCESS_MODES``)."""
        if self.source == "keras.applications":
            return _catalog.APPLICATIONS[self.options["application"]].mode
        return self.options.get("preprocess", "none")

    @property
    def input_shape(self) -> tuple[int, int, int]:
        """(height, width, channels) of the model input."""
        if self._input_shape:
            return self._input_shape
        if self.source == "keras.applications":
            size = _catalog.APPLICATIONS[self.options["application"]].size
            return (size, size, 3)
        if self.source == "trained":
            return _embedded(self.dataset)[0]
        return tuple(int(d) for d in self._architecture.input_shape[1:])  # type: ignore[return-value]

    def cam_layer(self, model: keras.Model) -> str:
        """Grad-CAM's layer in ``model`` (this entry's loaded model): ``last_conv_layer``
        from the zoo file, else the last layer with a spatial output found in ``model``
        itself (auto-generated names such as ``add_17`` differ between two builds)."""
        if self._last_conv_layer:
            return self._last_conv_layer
        from convviz.layers import last_conv_layer

        return last_conv_layer(model)

    @cached_property
    def _architecture(self) -> keras.Model:
        """The entry's model structure (untrained), built once, for layer lookups."""
        if self.source == "trained":
            return models.build(self.options["architecture"], self.input_shape, len(self.class_names))
        if self.source == "keras.applications":
            return models.build_application(self.options["application"], weights=None, input_size=self.input_shape[:2])
        return _load_file(self)

    @property
    def file_path(self) -> Path | None:
        if self.source != "file":
            return None
        p = Path(self.options["path"])
        return p if p.is_absolute() or self.zoo_file is None else self.zoo_file.parent / p

    @property
    def min_accuracy(self) -> float | None:
        v = self.options.get("min_accuracy")
        return None if v is None else float(v)

    def recipe(self) -> dict[str, Any]:
        """Everything that determines this entry's model (the cache key)."""
        if self.source == "trained":
            o = self.options
            return {
                "architecture": o["architecture"],
                "dataset": self.dataset,
                "epochs": o.get("epochs", 10),
                "batch_size": o.get("batch_size", 64),
                "learning_rate": float(o.get("learning_rate", 2e-3)),
                "seed": o.get("seed", 0),
                "augment": o.get("augment", "none"),
            }
        if self.source == "keras.applications":
            return {"application": self.options["application"], "weights": self.options.get("weights")}
        fp = self.file_path
        digest = hashlib.sha256(fp.read_bytes()).hexdigest() if fp and fp.is_file() else "missing"
        return {"file_sha256": digest, "preprocess": self.preprocess}


def _embedded(name: str) -> tuple[tuple[int, int, int], tuple[str, ...]]:
    """(image shape, class names) of an embedded training dataset, without generating the
    shapes (seconds; a rebuild of the site asks for these of every model)."""
    if name == "shapes":
        return (datasets.SHAPES_SIZE, datasets.SHAPES_SIZE, 3), datasets.SHAPE_CLASSES
    if name == "digits":  # what datasets.load("digits") gives (a test checks), without scikit-learn
        return (32, 32, 1), tuple(str(i) for i in range(10))
    d = datasets.load(name, "test")
    return tuple(d.x.shape[1:]), d.class_names


# ----------------------------------------------------------------------------- parsing


def _line(node: yaml.Node) -> int:
    return node.start_mark.line + 1


def _plain(node: yaml.Node) -> Any:
    return yaml.safe_load(yaml.serialize(node))


def _type_name(t: type | tuple[type, ...]) -> str:
    ts = t if isinstance(t, tuple) else (t,)
    names = {
        str: "a string",
        int: "an integer",
        float: "a number",
        bool: "true/false",
        list: "a list",
        type(None): "null",
    }
    return " or ".join(names.get(x, x.__name__) for x in ts)


def parse(text: str, *, source: str = "<zoo>", zoo_file: Path | None = None) -> list[ZooEntry]:
    """Parse and validate zoo YAML text; errors name the key and its line."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        raise ZooError(f"{source}: not valid YAML: {exc}") from None
    if root is None:
        raise ZooError(f"{source}: the zoo file is empty; it needs a top-level 'models:' list")
    if not isinstance(root, yaml.MappingNode):
        raise ZooError(f"{source}:{_line(root)}: the zoo file must be a mapping with a 'models:' list")
    top = {k.value: (k, v) for k, v in root.value}
    for key, (knode, _) in top.items():
        if key != "models":
            raise ZooError(f"{source}:{_line(knode)}: unknown top-level key {key!r}; valid: models")
    if "models" not in top:
        raise ZooError(f"{source}: missing top-level key 'models'")
    seq = top["models"][1]
    if not isinstance(seq, yaml.SequenceNode):
        raise ZooError(f"{source}:{_line(seq)}: 'models' must be a list of entries")
    entries: list[ZooEntry] = []
    seen: dict[str, int] = {}
    for item in seq.value:
        e = _parse_entry(item, source, zoo_file)
        if e.name in seen:
            raise ZooError(
                f"{source}:{_line(item)}: duplicate model name {e.name!r} (first defined at line {seen[e.name]})"
            )
        seen[e.name] = _line(item)
        entries.append(e)
    for e, item in zip(entries, seq.value):
        ref = e.compare_to
        if isinstance(ref, str) and "@" not in ref and (ref not in seen or ref == e.name):
            why = "itself" if ref == e.name else f"{ref!r}, which is not in the zoo"
            raise ZooError(
                f"{source}:{_line(item)}: model {e.name!r} has compare_to {why}; name another entry "
                f"({', '.join(n for n in seen if n != e.name) or 'none'}), NAME@REV or a mapping of recipe keys"
            )
    return entries


def _parse_entry(node: yaml.Node, source: str, zoo_file: Path | None) -> ZooEntry:
    if not isinstance(node, yaml.MappingNode):
        raise ZooError(f"{source}:{_line(node)}: each model entry must be a mapping (name: ..., source: ...)")
    raw: dict[str, tuple[yaml.Node, yaml.Node]] = {}
    for k, v in node.value:
        if k.value in raw:
            raise ZooError(f"{source}:{_line(k)}: key {k.value!r} appears twice in one entry")
        raw[k.value] = (k, v)
    where = f"{source}:{_line(node)}"
    if "name" not in raw:
        raise ZooError(f"{where}: model entry has no 'name'")
    if "source" not in raw:
        raise ZooError(f"{where}: model entry has no 'source'; valid: {', '.join(SOURCES)}")
    src = _plain(raw["source"][1])
    if src not in SOURCES:
        raise ZooError(f"{source}:{_line(raw['source'][1])}: unknown source {src!r}; valid: {', '.join(SOURCES)}")
    allowed: dict[str, type | tuple[type, ...]] = {**_COMMON, **_BY_SOURCE[src]}
    values: dict[str, Any] = {}
    for key, (knode, vnode) in raw.items():
        if key not in allowed:
            close = difflib.get_close_matches(key, list(allowed), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ZooError(
                f"{source}:{_line(knode)}: unknown key {key!r}{hint} for source {src!r}; "
                f"valid keys: {', '.join(sorted(allowed))}"
            )
        value = _plain(vnode)
        want = allowed[key]
        ok = isinstance(value, want) and not (isinstance(value, bool) and want in (int, (float, int)))
        if not ok:
            raise ZooError(f"{source}:{_line(vnode)}: {key!r} must be {_type_name(want)}, got {value!r}")
        values[key] = value
    name = values["name"]
    if not name or not all(c.isalnum() or c in "-_" for c in name):
        raise ZooError(
            f"{source}:{_line(raw['name'][1])}: model name {name!r} must be non-empty and use "
            "only letters, digits, '-' and '_' (it becomes part of the site's URLs)"
        )
    for key in _REQUIRED[src]:
        if key not in values:
            raise ZooError(f"{where}: model {name!r} (source {src}) needs the key {key!r}")
    if src == "trained":
        if values["architecture"] not in _catalog.ARCHITECTURE_NAMES:
            raise ZooError(
                f"{source}:{_line(raw['architecture'][1])}: unknown architecture "
                f"{values['architecture']!r}; valid: {', '.join(_catalog.ARCHITECTURE_NAMES)}"
            )
        if values["dataset"] not in ("digits", "shapes"):
            raise ZooError(
                f"{source}:{_line(raw['dataset'][1])}: a trained model needs a labelled "
                f"embedded dataset; valid: digits, shapes"
            )
        if values.get("augment", "none") not in _catalog.AUGMENTATIONS:
            raise ZooError(
                f"{source}:{_line(raw['augment'][1])}: unknown augment {values['augment']!r}; "
                f"valid: {', '.join(_catalog.AUGMENTATIONS)}"
            )
        for key in ("epochs", "batch_size"):
            if key in values and values[key] < 1:
                raise ZooError(f"{source}:{_line(raw[key][1])}: {key!r} must be at least 1")
    if src == "keras.applications":
        if values["application"] not in _catalog.APPLICATIONS:
            raise ZooError(
                f"{source}:{_line(raw['application'][1])}: unknown application "
                f"{values['application']!r}; valid: {', '.join(_catalog.APPLICATIONS)}"
            )
        if values.get("weights", "imagenet") not in ("imagenet", None):
            raise ZooError(f"{source}:{_line(raw['weights'][1])}: weights must be 'imagenet' or null")
        values.setdefault("weights", "imagenet")
        size = _catalog.APPLICATIONS[values["application"]].size
        shape = values.get("input_shape")
        if shape is not None and values["weights"] == "imagenet" and list(shape) != [size, size, 3]:
            raise ZooError(
                f"{source}:{_line(raw['input_shape'][1])}: {values['application']} with "
                f"ImageNet weights takes input_shape [{size}, {size}, 3]; another size "
                "needs 'weights: null' (an untrained twin)"
            )
        if shape is not None and len(shape) == 3 and shape[2] != 3:
            raise ZooError(
                f"{source}:{_line(raw['input_shape'][1])}: keras.applications models take "
                "RGB images: input_shape must end with 3"
            )
        values.setdefault("dataset", "photos")
    if src == "file" and values.get("preprocess", "none") not in _catalog.PREPROCESS_MODES:
        raise ZooError(
            f"{source}:{_line(raw['preprocess'][1])}: unknown preprocess "
            f"{values['preprocess']!r}; valid: " + "; ".join(f"{k} ({v})" for k, v in _catalog.PREPROCESS_MODES.items())
        )
    if "dataset" in values and values["dataset"] not in datasets.NAMES and src != "file":
        raise ZooError(
            f"{source}:{_line(raw['dataset'][1])}: unknown dataset {values['dataset']!r}; "
            f"valid: {', '.join(datasets.NAMES)}"
        )
    shape = values.get("input_shape")
    if shape is not None and (len(shape) != 3 or not all(isinstance(d, int) and d > 0 for d in shape)):
        raise ZooError(
            f"{source}:{_line(raw['input_shape'][1])}: input_shape must be "
            f"[height, width, channels] of positive integers, got {shape!r}"
        )
    if isinstance(values.get("units"), str) and values["units"] not in ("all", "none"):
        raise ZooError(
            f"{source}:{_line(raw['units'][1])}: units must be 'all', 'none' or a list of layer "
            f"names, got {values['units']!r}"
        )
    for key in ("class_names", "layers", "units"):
        if key in values and isinstance(values[key], list) and not all(isinstance(v, str) for v in values[key]):
            raise ZooError(f"{source}:{_line(raw[key][1])}: {key!r} must be a list of strings")
    if "compare_to" in values:
        _check_compare_to(values["compare_to"], src, f"{source}:{_line(raw['compare_to'][1])}")
    if "gate" in values:
        from convviz.gate import GateError, thresholds

        try:
            values["gate"] = thresholds(values["gate"])
        except GateError as exc:
            raise ZooError(f"{source}:{_line(raw['gate'][1])}: gate: {exc}") from None
    if "seed_band" in values and not 1 <= values["seed_band"] <= MAX_SEED_BAND:
        raise ZooError(
            f"{source}:{_line(raw['seed_band'][1])}: seed_band is the number of other seeds to train "
            f"(1 to {MAX_SEED_BAND}), got {values['seed_band']}"
        )
    options = {k: v for k, v in values.items() if k in _BY_SOURCE[src]}
    return ZooEntry(
        name=name,
        source=src,
        dataset=values.get("dataset", ""),
        title=values.get("title", name),
        description=values.get("description", ""),
        layers=tuple(values.get("layers", ())),
        options=options,
        zoo_file=zoo_file,
        _class_names=tuple(values["class_names"]) if "class_names" in values else None,
        _input_shape=tuple(shape) if shape else None,
        _last_conv_layer=values.get("last_conv_layer"),
        _units=tuple(values["units"]) if isinstance(values.get("units"), list) else values.get("units"),
        compare_to=values.get("compare_to"),
        gate=values.get("gate") or {},
    )


def valid_revision(rev: str) -> bool:
    """A git revision as a zoo file may name it: not empty, not an option (``-...``), no
    whitespace or control characters (git's own names have none)."""
    return bool(rev) and not rev.startswith("-") and all(c.isprintable() and not c.isspace() for c in rev)


def _check_compare_to(value: Any, src: str, where: str) -> None:
    """``compare_to``: another entry (``NAME``), an entry at a git revision (``NAME@REV``), or a
    mapping of recipe keys to change (a variant of this trained entry)."""
    if isinstance(value, str):
        name, _, rev = value.partition("@")
        if not name or not all(c.isalnum() or c in "-_" for c in name) or ("@" in value and not valid_revision(rev)):
            raise ZooError(
                f"{where}: compare_to must be a zoo entry name, NAME@REV (a git revision) or a mapping "
                f"of recipe keys to change; got {value!r}"
            )
        return
    if src != "trained":
        raise ZooError(f"{where}: a compare_to mapping (a variant's recipe) needs a trained entry, not source {src!r}")
    if not value:
        raise ZooError(f"{where}: compare_to mapping is empty; give the recipe keys to change, e.g. {{seed: 1}}")
    for key, v in value.items():
        if key not in _VARIANT_KEYS:
            raise ZooError(f"{where}: compare_to cannot change {key!r}; valid keys: {', '.join(_VARIANT_KEYS)}")
        want = _VARIANT_KEYS[key]
        if not isinstance(v, want) or (isinstance(v, bool) and want in (int, (float, int))):
            raise ZooError(f"{where}: compare_to {key!r} must be {_type_name(want)}, got {v!r}")
    if value.get("augment", "none") not in _catalog.AUGMENTATIONS:
        raise ZooError(
            f"{where}: compare_to augment {value['augment']!r} is unknown; valid: {', '.join(_catalog.AUGMENTATIONS)}"
        )


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


def dataset(e: ZooEntry, split: str = "test") -> datasets.Dataset:
    """The entry's dataset at the model's input size and channel count."""
    h, w, c = e.input_shape
    folder = e.dataset_folder
    if folder is None:
        d = datasets.load(e.dataset, split)
        x = datasets.convert_channels(datasets.resize_images(d.x, (h, w)), c)
        return d if x is d.x else d.with_images(x)
    if not folder.is_dir():
        raise ZooError(f"zoo model {e.name!r}: image folder not found: {folder}")
    labelled = bool(datasets.folder_classes(folder))
    try:
        d = datasets.load_folder(
            folder, size=(h, w), channels=1 if c == 1 else 3, class_names=e._class_names if labelled else e.class_names
        )
    except (ValueError, OSError) as exc:  # the folder's problem (names, images), said as the zoo's
        raise ZooError(f"zoo model {e.name!r}: {exc}") from None
    if labelled and len(d.class_names) != e.num_classes:
        raise ZooError(
            f"zoo model {e.name!r}: {folder} has {len(d.class_names)} classes "
            f"({', '.join(d.class_names[:5])}...) but the model has {e.num_classes} outputs; "
            "give class_names in the model's output order"
        )
    return d.with_images(datasets.convert_channels(d.x, c)) if d.x.shape[-1] != c else d


def training_code(architecture: str) -> str:
    """A digest of the code that determines a trained model: its architecture function,
    the training loop and batching, seeding, and the dataset generators (``datasets.py``).
    Editing another architecture does not retrain this one."""
    from convviz._code import code_digest, definition_source, source_digest

    if architecture not in _catalog.ARCHITECTURE_NAMES:
        raise ValueError(f"unknown architecture {architecture!r}; valid: {', '.join(_catalog.ARCHITECTURE_NAMES)}")
    # read from the files, not inspect.getsource: no import of models (Keras) on a rebuild
    # that only needs the digest; an architecture's function has the architecture's name
    parts = [
        definition_source(module, name)
        for module, name in (
            ("models", architecture),
            ("models", "build"),
            ("models", "train"),
            ("models", "_Batches"),
            ("_backend", "seed_everything"),
            ("zoo", "dataset"),
            ("zoo", "_train_bytes"),
        )
    ]
    return "src:" + source_digest(*parts, code_digest("datasets"))


def _model_key(e: ZooEntry) -> str:
    return make_key("model", code=training_code(e.options["architecture"]), source=e.source, recipe=e.recipe())


def load(name: str | ZooEntry, *, cache: Cache | None = None, progress: bool = True) -> keras.Model:
    """The model of a zoo entry: trained (and cached) on first use, then read from the cache."""
    e = name if isinstance(name, ZooEntry) else entry(name)
    ok, why = usable(e)
    if not ok:
        raise ZooError(f"zoo model {e.name!r} is not usable here: {why}")
    if e.source == "keras.applications":
        return _remembered(
            _entry_key(e),
            lambda: models.build_application(
                e.options["application"], weights=e.options.get("weights"), input_size=e.input_shape[:2]
            ),
        )
    if e.source == "file":
        return _remembered(_entry_key(e), lambda: e._architecture)  # class names need it too
    store = cache or default_cache()
    key = _model_key(e)

    def compute() -> bytes:
        payload = _shipped_bytes(e, store, key)
        return payload if payload is not None else _train_bytes(e, store, key, progress=progress)

    return _remembered(f"{store.root}:{key}", lambda: _model_from_bytes(store.get_or_compute(key, compute)))


def _entry_key(e: ZooEntry) -> str:
    """Everything about an entry that may change the model it loads: its file's bytes, every
    option (``trust_code`` too: a model read without safe mode is never handed to an entry
    that wants it), the zoo file it comes from."""
    parts = {"source": e.source, "options": e.options, "recipe": e.recipe(), "zoo": str(e.zoo_file)}
    return json.dumps(parts, sort_keys=True, default=str)


_LOADED: collections.OrderedDict[str, tuple[keras.Model, str]] = collections.OrderedDict()
_LOADED_MAX = 4  # models kept per process (the pages of a build load a few models many times)


def _remembered(key: str, make: Callable[[], keras.Model]) -> keras.Model:
    """``make()``, or the model made for ``key`` before in this process when its architecture
    and weights are still those it was made with (:func:`convviz.cache.model_digest`).

    Every page of a model loads it: a new model object each time re-read its file (or rebuilt
    it: seconds for a keras.applications network) and traced each compiled function again
    (the functions are kept on the model). A model changed in place (weights set, say) is
    made anew, so no page ever gets another page's modified model."""
    from convviz.cache import model_digest

    hit = _LOADED.get(key)
    if hit is not None and model_digest(hit[0]) == hit[1]:
        _LOADED.move_to_end(key)
        return hit[0]
    model = make()
    _LOADED[key] = (model, model_digest(model))
    while len(_LOADED) > _LOADED_MAX:
        _LOADED.popitem(last=False)
    return model


def recipe_digest(e: ZooEntry) -> str:
    """What determines a trained entry's weights, on any backend: its training code (the
    architecture, the loop, the dataset generators) and its recipe. Shipped weights carry it."""
    if e.source != "trained":
        raise ZooError(f"zoo model {e.name!r} is not trained by convviz (source {e.source!r})")
    blob = json.dumps({"code": training_code(e.options["architecture"]), "recipe": e.recipe()}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:24]


def shipped_path(e: ZooEntry) -> Path:
    """Where a trained entry's weights are shipped: ``<zoo folder>/weights/<name>.keras``."""
    return shipped.location(e.zoo_file or path(), e.name)


def _shipped_bytes(e: ZooEntry, cache: Cache, key: str) -> bytes | None:
    """The shipped model when it is this recipe's (its test accuracy measured here and recorded
    like a training's), else None (with one log line saying why a shipped file is not used)."""
    import numpy as np

    from convviz._backend import predict

    found, why = shipped.read(shipped_path(e), recipe_digest(e))
    if found is None:
        if why:
            log.warning("convviz: %s: %s; training it", e.name, why)
        return None
    model = _model_from_bytes(found.payload)
    test = dataset(e, "test")
    acc = float(np.mean(np.argmax(predict(model, test.x, batch_size=256), 1) == test.y))
    meta = {
        "test_accuracy": acc,
        "seconds": 0.0,
        "backend": keras.backend.backend(),
        "shipped": found.record.get("test_accuracy"),
        "trained_with": found.record.get("trained_with"),
    }
    cache.put_bytes(key + "-meta", json.dumps(meta).encode())
    return found.payload


def training_record(name: str | ZooEntry, *, cache: Cache | None = None) -> dict[str, Any]:
    """How a trained entry's cached model came to be: ``test_accuracy``, ``seconds`` (of
    training; 0 for shipped weights), ``backend`` and, for shipped weights, ``shipped`` (the
    test accuracy recorded when they were written)."""
    e = name if isinstance(name, ZooEntry) else entry(name)
    test_accuracy(e, cache=cache)
    cache = cache or default_cache()
    return dict(cache.read_json(_model_key(e) + "-meta") or {})


def cached_record(e: ZooEntry, *, cache: Cache | None = None) -> dict[str, Any] | None:
    """The :func:`training_record` of a trained entry whose model is in the cache, else None;
    nothing is loaded, trained or imported (no Keras)."""
    if e.source != "trained":
        return None
    record = (cache or default_cache()).read_json(_model_key(e) + "-meta")
    return dict(record) if isinstance(record, dict) else None


def needs_training(e: ZooEntry, *, cache: Cache | None = None) -> bool:
    """True for a trained entry whose model is neither in the cache nor shipped for its
    recipe: loading it trains it (minutes, not seconds). Nothing is loaded (no Keras)."""
    if e.source != "trained":
        return False
    if (cache or default_cache()).path(_model_key(e)).is_file():
        return False
    found, _ = shipped.read(shipped_path(e), recipe_digest(e))
    return found is None


def ship(name: str | ZooEntry, *, cache: Cache | None = None) -> Path:
    """Write a trained entry's model (trained now if not cached) to :func:`shipped_path` with
    its record: recipe digest, checksum, test accuracy, what it was trained with."""
    from convviz._code import environment

    e = name if isinstance(name, ZooEntry) else entry(name)
    cache = cache or default_cache()
    key = _model_key(e)
    load(e, cache=cache)
    meta = cache.read_json(key + "-meta") or {}
    payload = cache.get_bytes(key)
    assert payload is not None  # load() cached it
    target = shipped_path(e)
    if meta.get("shipped") is not None and target.is_file():
        return target  # already these weights
    found, _ = shipped.read(target, recipe_digest(e))
    if found is not None and _same_weights(_model_from_bytes(found.payload), _model_from_bytes(payload)):
        return target  # the same weights, trained again: the shipped file stays byte for byte
    payload = _model_to_bytes(_model_from_bytes(payload))  # without the optimizer's state: a third
    shipped.write(
        target,
        payload,
        {
            "model": e.name,
            "recipe_digest": recipe_digest(e),
            "recipe": e.recipe(),
            "test_accuracy": test_accuracy(e, cache=cache),
            "training_seconds": meta.get("seconds"),
            "trained_with": environment(),
        },
    )
    return target


def _same_weights(a: keras.Model, b: keras.Model) -> bool:
    import numpy as np

    wa, wb = a.get_weights(), b.get_weights()
    return len(wa) == len(wb) and all(x.shape == y.shape and np.array_equal(x, y) for x, y in zip(wa, wb))


@dataclass(frozen=True)
class Retrained:
    """:func:`retrain_check`'s result: the shipped and the retrained test accuracy."""

    name: str
    shipped: float
    retrained: float
    seconds: float
    tolerance: float

    @property
    def ok(self) -> bool:
        return abs(self.retrained - self.shipped) <= self.tolerance + 1e-12


def retrain_check(name: str | ZooEntry, *, tolerance: float = 0.005, progress: bool = True) -> Retrained:
    """Train a shipped entry again from source (ignoring the shipped file and the cache) and
    compare its test accuracy with the shipped one's (``tolerance``: 0.005 = half a point)."""
    import time

    e = name if isinstance(name, ZooEntry) else entry(name)
    found, why = shipped.read(shipped_path(e), recipe_digest(e))
    if found is None:
        raise ZooError(
            f"zoo model {e.name!r}: no usable shipped weights at {shipped_path(e)}"
            + (f" ({why})" if why else "")
            + "; `convviz zoo train --ship` writes them"
        )
    with tempfile.TemporaryDirectory(prefix="convviz-retrain-") as tmp:
        scratch = Cache(tmp)
        start = time.perf_counter()
        payload = _train_bytes(e, scratch, "model", progress=progress)
        took = time.perf_counter() - start
        acc = float(json.loads(scratch.get_bytes("model-meta") or b"{}")["test_accuracy"])
    del payload
    return Retrained(e.name, float(found.record["test_accuracy"]), acc, took, tolerance)


def test_accuracy(name: str | ZooEntry, *, cache: Cache | None = None) -> float | None:
    """The recorded test accuracy of a trained entry (trains it when needed)."""
    e = name if isinstance(name, ZooEntry) else entry(name)
    if e.source != "trained":
        return None
    cache = cache or default_cache()
    key = _model_key(e) + "-meta"
    meta = cache.read_json(key)  # recorded by training: no need to load the model
    if meta is None:
        load(e, cache=cache)
        meta = cache.json(key, lambda: _evaluate(e, cache))
    return float(meta["test_accuracy"])


def _evaluate(e: ZooEntry, cache: Cache) -> dict[str, Any]:
    import numpy as np

    model = load(e, cache=cache)
    test = dataset(e, "test")
    from convviz._backend import predict

    probs = predict(model, test.x, batch_size=256)
    return {"test_accuracy": float(np.mean(np.argmax(probs, 1) == test.y)), "seconds": None}


def _train_bytes(e: ZooEntry, cache: Cache, key: str, *, progress: bool) -> bytes:
    import json

    o = e.recipe()
    train_set, test_set = dataset(e, "train"), dataset(e, "test")
    log.info("convviz: training %s (%s on %s, %d epochs)", e.name, o["architecture"], e.dataset, o["epochs"])
    result = models.train(
        o["architecture"],
        train_set,
        test_set,
        epochs=o["epochs"],
        batch_size=o["batch_size"],
        learning_rate=o["learning_rate"],
        seed=o["seed"],
        augment=o["augment"],
        desc=f"train {e.name}",
        progress=progress,
    )
    if e.min_accuracy is not None and result.test_accuracy < e.min_accuracy:
        log.warning(
            "convviz: %s reached test accuracy %.4f, below its min_accuracy %.2f",
            e.name,
            result.test_accuracy,
            e.min_accuracy,
        )
    meta = {
        "test_accuracy": result.test_accuracy,
        "seconds": round(result.seconds, 1),
        "backend": keras.backend.backend(),
    }
    cache.put_bytes(key + "-meta", json.dumps(meta).encode())
    return _model_to_bytes(result.model)


def _model_to_bytes(model: keras.Model) -> bytes:
    import warnings

    with tempfile.TemporaryDirectory() as tmp:
        p = Path(tmp) / "model.keras"
        with warnings.catch_warnings():
            # Keras' convert_to_numpy calls np.array(variable): TensorFlow 2.21's __array__ lacks
            # NumPy 2's copy keyword (harmless; it printed into the page that trained a model)
            warnings.filterwarnings("ignore", message="__array__ implementation doesn't accept a copy keyword")
            model.save(p)
        return p.read_bytes()


def _model_from_bytes(payload: bytes) -> keras.Model:
    with tempfile.TemporaryDirectory() as tmp:
        p = Path(tmp) / "model.keras"
        p.write_bytes(payload)
        return keras.saving.load_model(p, compile=False, safe_mode=True)


def _load_file(e: ZooEntry) -> keras.Model:
    """The entry's model file, checked (one image input, one class-score output) and
    behind its preprocessing layer."""
    model = _read_model_file(e)
    _check_file_model(e, model)
    return models.with_preprocessing(model, e.preprocess)


def _check_file_model(e: ZooEntry, model: keras.Model) -> None:
    where = f"zoo model {e.name!r} ({e.file_path.name if e.file_path else '?'})"
    if len(model.inputs) != 1:
        raise ZooError(f"{where} has {len(model.inputs)} inputs; convviz explains models with one image input")
    shape = tuple(model.inputs[0].shape)
    if len(shape) != 4 or shape[-1] not in (1, 3) or any(d is None for d in shape[1:]):
        raise ZooError(
            f"{where}: its input has shape {shape}; convviz needs images of a fixed size, "
            "(batch, height, width, channels) with 1 (gray) or 3 (RGB) channels"
        )
    if len(model.outputs) != 1:
        names = ", ".join(getattr(t, "name", "?") for t in model.outputs)
        raise ZooError(
            f"{where} has {len(model.outputs)} outputs ({names}); convviz explains one "
            "output of class scores. Save a one-output model: "
            "keras.Model(model.inputs, model.outputs[i]).save('one_output.keras')"
        )
    out = tuple(model.outputs[0].shape)
    if len(out) != 2:
        raise ZooError(f"{where}: its output has shape {out}; convviz needs class scores of shape (batch, classes)")
    if out[1] == 1:
        raise ZooError(
            f"{where} has a single output unit (a binary sigmoid head): convviz explains one "
            "score per class; give the model a Dense(2, activation='softmax') head, or "
            "wrap it: p = model(x); keras.Model(x, keras.ops.concatenate([1 - p, p], -1))"
        )


def _read_model_file(e: ZooEntry) -> keras.Model:
    fp = e.file_path
    if fp is None or not fp.is_file():
        raise ZooError(f"zoo model {e.name!r}: model file not found: {fp}")
    trust = bool(e.options.get("trust_code", False))
    import zipfile

    if fp.suffix.lower() not in (".keras", ".h5", ".hdf5"):
        raise ZooError(
            f"zoo model {e.name!r}: {fp.name}: unknown model file type; valid: .keras "
            "(model.save) or legacy .h5 / .hdf5 (Keras 2)"
        )
    if fp.suffix == ".keras" and not zipfile.is_zipfile(fp):
        raise ZooError(
            f"zoo model {e.name!r}: cannot load {fp}: not a valid .keras model file "
            "(a .keras file is a zip archive written by model.save)"
        )
    try:
        return keras.saving.load_model(fp, compile=False, safe_mode=not trust)
    except ValueError as exc:
        text = str(exc)
        if "safe_mode" in text or "Lambda" in text or "unsafe" in text.lower():
            raise ZooError(
                f"zoo model {e.name!r}: {fp} contains code (a Lambda layer or custom object) that "
                "Keras refuses to deserialize in safe mode: loading it would run arbitrary Python "
                "from the file. If you wrote the file and trust it, set 'trust_code: true' on the "
                "zoo entry."
            ) from None
        raise ZooError(f"zoo model {e.name!r}: cannot load {fp}: {text}") from None
    except TypeError as exc:
        if "locate" in str(exc) or "custom" in str(exc).lower():
            raise ZooError(
                f"zoo model {e.name!r}: {fp} uses a custom layer or object that is not registered "
                "here (Keras cannot find its class). Custom code in a model file runs when it is "
                "loaded: register the class in your code (keras.saving.register_keras_serializable) "
                "before loading, and set 'trust_code: true' on the entry only if you trust the file."
            ) from None
        raise ZooError(f"zoo model {e.name!r}: cannot load {fp}: {exc}") from None
    except Exception as exc:  # corrupt zip, not a Keras file...
        kind = ".keras" if fp.suffix == ".keras" else "HDF5 (.h5)"
        raise ZooError(
            f"zoo model {e.name!r}: cannot load {fp}: not a valid {kind} model file ({type(exc).__name__}: {exc})"
        ) from None
