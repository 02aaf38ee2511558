"""One validated zoo entry: its options, input shape, class names and the layers its pages show."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from convviz.core.lazy import lazy_module
from convviz.zoo import catalog as _catalog
from convviz.zoo import datasets
from convviz.zoo import imagenet as _imagenet
from convviz.zoo.files import load_file
from convviz.zoo import folders
from convviz.zoo import shapes

if TYPE_CHECKING:
    import keras

    from convviz.zoo import architectures as models
else:
    # imported on first use
    keras = lazy_module("keras")
    models = lazy_module("convviz.zoo.architectures")


__all__ = ["ZooEntry"]


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
    given_class_names: tuple[str, ...] | None = None
    given_input_shape: tuple[int, int, int] | None = None
    given_last_conv_layer: str | None = None
    units_option: str | tuple[str, ...] | None = None
    compare_to: str | dict[str, Any] | None = field(default=None, compare=False)
    gate: dict[str, float] = field(default_factory=dict, compare=False)
    budget: dict[str, int] = field(default_factory=dict, compare=False)

    @property
    def class_names(self) -> tuple[str, ...]:
        """The model's class names: from the zoo file, else ImageNet's (keras.applications
        and 1000-class models), the embedded dataset's, the folder's class sub-folders,
        or ``class 0``, ``class 1``..."""
        if self.given_class_names:
            return self.given_class_names
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
            subs = folders.folder_classes(folder)
            if len(subs) == n:
                return subs
        return tuple(f"class {i}" for i in range(n))

    @property
    def num_classes(self) -> int:
        """Number of the model's outputs (class scores)."""
        return int(self.structure.outputs[0].shape[-1])

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
        if self.given_input_shape:
            return self.given_input_shape
        if self.source == "keras.applications":
            size = _catalog.APPLICATIONS[self.options["application"]].size
            return (size, size, 3)
        if self.source == "trained":
            return _embedded(self.dataset)[0]
        return tuple(int(d) for d in self.structure.input_shape[1:])  # type: ignore[return-value]

    def cam_layer(self, model: keras.Model) -> str:
        """Grad-CAM's layer in ``model`` (this entry's loaded model): ``last_conv_layer``
        from the zoo file, else the last layer with a spatial output found in ``model``
        itself (auto-generated names such as ``add_17`` differ between two builds)."""
        if self.given_last_conv_layer:
            return self.given_last_conv_layer
        from convviz.graph.layers import last_conv_layer

        return last_conv_layer(model)

    @cached_property
    def structure(self) -> keras.Model:
        """The entry's model structure (untrained), built once, for layer lookups."""
        if self.source == "trained":
            return models.build(self.options["architecture"], self.input_shape, len(self.class_names))
        if self.source == "keras.applications":
            return models.build_application(self.options["application"], weights=None, input_size=self.input_shape[:2])
        return load_file(self)

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
        return (shapes.SHAPES_SIZE, shapes.SHAPES_SIZE, 3), shapes.SHAPE_CLASSES
    if name == "digits":  # what datasets.load("digits") gives (a test checks), without scikit-learn
        return (32, 32, 1), tuple(str(i) for i in range(10))
    d = datasets.load(name, "test")
    return tuple(d.x.shape[1:]), d.class_names
