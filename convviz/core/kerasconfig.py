"""Keras' own configuration, read without importing Keras (which takes seconds): the folder
it keeps its settings and downloaded weights in, and the backend ``import keras`` will pick.
A rebuild with nothing to compute keys its pages on the backend without importing it."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

__all__ = ["keras_home", "keras_backend"]


def keras_home() -> Path:
    """Keras' folder, as Keras picks it: ``$KERAS_HOME``, else ``~/.keras`` (``/tmp/.keras``
    when the home folder is not writable)."""
    if "KERAS_HOME" in os.environ:
        return Path(os.path.expanduser(os.environ["KERAS_HOME"]))
    base = os.path.expanduser("~")
    return Path(base if os.access(base, os.W_OK) else "/tmp") / ".keras"


def keras_backend() -> str:
    """The Keras backend in use, or the one ``import keras`` will pick, found without
    importing Keras (seconds) when it is not imported yet, as Keras decides it:
    ``$KERAS_BACKEND``, else ``backend`` in ``keras.json`` in
    :func:`keras_home`, else TensorFlow."""
    keras = sys.modules.get("keras")
    if keras is not None:
        return str(keras.backend.backend())
    if os.environ.get("KERAS_BACKEND"):
        return os.environ["KERAS_BACKEND"]
    try:
        config = json.loads((keras_home() / "keras.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        config = {}
    backend = config.get("backend") if isinstance(config, dict) else None
    return backend if isinstance(backend, str) and backend else "tensorflow"
