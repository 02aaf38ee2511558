"""The 1,000 ImageNet class names, shipped with convviz (no download at run time).

``data/imagenet_class_index.json`` is byte for byte the index that Keras'
``decode_predictions`` downloads (its MD5 is the one ``keras.applications`` pins).
A module of its own so that the datasets (the ``photos`` labels) do not depend on the
model code.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path

CLASS_INDEX = Path(__file__).parent / "data" / "imagenet_class_index.json"


@functools.lru_cache(maxsize=1)
def class_names() -> tuple[str, ...]:
    """The class names in the order of the models' outputs, underscores as spaces."""
    index = json.loads(CLASS_INDEX.read_text(encoding="utf-8"))
    return tuple(index[str(i)][1].replace("_", " ") for i in range(1000))
