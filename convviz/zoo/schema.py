"""The zoo file's schema: YAML parsed into validated entries, each problem said with its key and line."""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any

import yaml

from convviz.zoo import catalog as _catalog
from convviz.zoo import datasets
from convviz.zoo.entry import ZooEntry
from convviz.zoo.errors import ZooError

__all__ = ["valid_revision", "MAX_SEED_BAND", "SOURCES", "parse"]


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
    "budget": dict,
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
        from convviz.compare.gate import GateError, thresholds

        try:
            values["gate"] = thresholds(values["gate"])
        except GateError as exc:
            raise ZooError(f"{source}:{_line(raw['gate'][1])}: gate: {exc}") from None
    if "budget" in values:
        from convviz.zoo.budget import check_budget

        try:
            values["budget"] = check_budget(values["budget"])
        except ValueError as exc:
            raise ZooError(f"{source}:{_line(raw['budget'][1])}: {exc}") from None
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
        given_class_names=tuple(values["class_names"]) if "class_names" in values else None,
        given_input_shape=tuple(shape) if shape else None,
        given_last_conv_layer=values.get("last_conv_layer"),
        units_option=tuple(values["units"]) if isinstance(values.get("units"), list) else values.get("units"),
        compare_to=values.get("compare_to"),
        gate=values.get("gate") or {},
        budget=values.get("budget") or {},
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
