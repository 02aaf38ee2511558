"""A zoo entry's model file: read (safe mode unless the entry trusts its code), checked (one image input, one class-score output) and put behind its preprocessing layer."""

from __future__ import annotations

from typing import TYPE_CHECKING

from convviz.core.lazy import lazy_module
from convviz.zoo.errors import ZooError

if TYPE_CHECKING:
    import keras

    from convviz.zoo import architectures as models
    from convviz.zoo.entry import ZooEntry
else:
    # imported on first use
    keras = lazy_module("keras")
    models = lazy_module("convviz.zoo.architectures")


__all__ = ["load_file"]


def load_file(e: ZooEntry) -> keras.Model:
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
