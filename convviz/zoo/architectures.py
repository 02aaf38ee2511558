"""Architectures of the embedded zoo, their training, and keras.applications wrappers."""

from __future__ import annotations

import collections
import contextlib
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import keras
import numpy as np

from convviz.core import backend as _backend
from convviz.zoo import imagenet as _imagenet
from convviz.zoo.catalog import APPLICATIONS, AUGMENTATIONS, PREPROCESS_MODES, imagenet_weights_available
from convviz.core.errors import InputError

if TYPE_CHECKING:
    from convviz.zoo.splits import Dataset

__all__ = [
    "ARCHITECTURES",
    "build",
    "train",
    "TrainResult",
    "APPLICATIONS",
    "PREPROCESS_MODES",
    "build_application",
    "imagenet_weights_available",
    "imagenet_class_names",
    "preprocessing_layer",
    "with_preprocessing",
]

log = logging.getLogger("convviz")
L = keras.layers


def plain_cnn(input_shape: tuple[int, int, int], num_classes: int) -> keras.Model:
    """A small plain ConvNet (the chapter's MNIST model), as a ``Sequential`` model."""
    return keras.Sequential(
        [
            keras.Input(input_shape),
            L.Conv2D(32, 3, activation="relu", name="conv1"),
            L.MaxPooling2D(2, name="pool1"),
            L.Conv2D(64, 3, activation="relu", name="conv2"),
            L.MaxPooling2D(2, name="pool2"),
            L.Conv2D(64, 3, activation="relu", name="conv3"),
            L.Flatten(name="flatten"),
            L.Dropout(0.3, name="dropout"),
            L.Dense(64, activation="relu", name="fc"),
            L.Dense(num_classes, activation="softmax", name="predictions"),
        ],
        name="plain_cnn",
    )


def vgg_cnn(input_shape: tuple[int, int, int], num_classes: int) -> keras.Model:
    """A VGG-style ConvNet: stacks of 3×3 convolutions and 2×2 max pooling, then global pooling."""
    inputs = keras.Input(input_shape, name="image")
    x = inputs
    for block, (filters, convs) in enumerate([(16, 1), (32, 1), (64, 2), (128, 1)], start=1):
        for i in range(1, convs + 1):
            x = L.Conv2D(filters, 3, padding="same", use_bias=False, name=f"block{block}_conv{i}")(x)
            x = L.BatchNormalization(momentum=0.9, name=f"block{block}_bn{i}")(x)
            x = L.Activation("relu", name=f"block{block}_relu{i}")(x)
        if block < 4:
            x = L.MaxPooling2D(2, name=f"block{block}_pool")(x)
    x = L.GlobalAveragePooling2D(name="avg_pool")(x)
    outputs = L.Dense(num_classes, activation="softmax", name="predictions")(x)
    return keras.Model(inputs, outputs, name="vgg_cnn")


def mini_xception(input_shape: tuple[int, int, int], num_classes: int) -> keras.Model:
    """A small Xception: separable convolutions and residual blocks, Xception's layer names."""
    inputs = keras.Input(input_shape, name="image")
    x = L.Conv2D(24, 3, strides=2, padding="same", use_bias=False, name="block1_conv1")(inputs)
    x = L.BatchNormalization(momentum=0.9, name="block1_conv1_bn")(x)
    x = L.Activation("relu", name="block1_conv1_act")(x)
    x = L.Conv2D(32, 3, padding="same", use_bias=False, name="block1_conv2")(x)
    x = L.BatchNormalization(momentum=0.9, name="block1_conv2_bn")(x)
    x = L.Activation("relu", name="block1_conv2_act")(x)
    for block, filters in ((2, 48), (3, 96)):
        residual = L.Conv2D(filters, 1, strides=2, padding="same", use_bias=False, name=f"conv2d_res{block}")(x)
        residual = L.BatchNormalization(momentum=0.9, name=f"batch_normalization_res{block}")(residual)
        if block > 2:
            x = L.Activation("relu", name=f"block{block}_sepconv1_act")(x)
        x = L.SeparableConv2D(filters, 3, padding="same", use_bias=False, name=f"block{block}_sepconv1")(x)
        x = L.BatchNormalization(momentum=0.9, name=f"block{block}_sepconv1_bn")(x)
        x = L.Activation("relu", name=f"block{block}_sepconv2_act")(x)
        x = L.SeparableConv2D(filters, 3, padding="same", use_bias=False, name=f"block{block}_sepconv2")(x)
        x = L.BatchNormalization(momentum=0.9, name=f"block{block}_sepconv2_bn")(x)
        x = L.MaxPooling2D(3, strides=2, padding="same", name=f"block{block}_pool")(x)
        x = L.Add(name=f"add_{block}")([x, residual])
    # middle flow: one residual block at 8×8
    residual = x
    for i in (1, 2):
        x = L.Activation("relu", name=f"block4_sepconv{i}_act")(x)
        x = L.SeparableConv2D(96, 3, padding="same", use_bias=False, name=f"block4_sepconv{i}")(x)
        x = L.BatchNormalization(momentum=0.9, name=f"block4_sepconv{i}_bn")(x)
    x = L.Add(name="add_4")([x, residual])
    # exit flow
    x = L.SeparableConv2D(128, 3, padding="same", use_bias=False, name="block5_sepconv1")(x)
    x = L.BatchNormalization(momentum=0.9, name="block5_sepconv1_bn")(x)
    x = L.Activation("relu", name="block5_sepconv1_act")(x)
    x = L.GlobalAveragePooling2D(name="avg_pool")(x)
    outputs = L.Dense(num_classes, activation="softmax", name="predictions")(x)
    return keras.Model(inputs, outputs, name="mini_xception")


ARCHITECTURES: dict[str, Callable[[tuple[int, int, int], int], keras.Model]] = {
    "plain_cnn": plain_cnn,
    "vgg_cnn": vgg_cnn,
    "mini_xception": mini_xception,
}


def build(architecture: str, input_shape: tuple[int, int, int], num_classes: int) -> keras.Model:
    """Build an untrained model of a named architecture."""
    if architecture not in ARCHITECTURES:
        raise InputError(f"unknown architecture {architecture!r}; valid: {', '.join(ARCHITECTURES)}")
    return ARCHITECTURES[architecture](tuple(input_shape), num_classes)  # type: ignore[arg-type]


@dataclass(frozen=True)
class TrainResult:
    """A trained model with its test accuracy and training time."""

    model: keras.Model
    test_accuracy: float
    seconds: float


class _Progress(keras.callbacks.Callback):
    """One tqdm bar over all training steps, with loss and accuracy."""

    def __init__(self, total: int, desc: str):
        super().__init__()
        from convviz.core.progress import bar

        self.bar = bar(total=total, desc=desc, unit="step", leave=True)

    def on_train_batch_end(self, batch: int, logs: dict[str, float] | None = None) -> None:
        self.bar.update(1)
        if logs and batch % 10 == 0:
            self.bar.set_postfix(refresh=False, loss=f"{logs.get('loss', 0):.3f}", acc=f"{logs.get('accuracy', 0):.3f}")

    def on_epoch_end(self, epoch: int, logs: dict[str, float] | None = None) -> None:
        if logs and "val_accuracy" in logs:
            self.bar.set_postfix(
                refresh=False,
                loss=f"{logs['loss']:.3f}",
                acc=f"{logs['accuracy']:.3f}",
                val_acc=f"{logs['val_accuracy']:.3f}",
            )

    def on_train_end(self, logs: dict[str, float] | None = None) -> None:
        self.bar.close()


class _Batches(keras.utils.PyDataset):
    """Shuffled mini-batches with optional augmentation: ``"shift"`` (random translations of
    up to 2 pixels, for digits) or ``"dihedral"`` (random flips and 90° rotations:
    label-preserving for shapes, not for digits)."""

    def __init__(self, x: np.ndarray, y: np.ndarray, batch_size: int, *, seed: int, augment: str):
        super().__init__()
        self.x, self.y, self.batch_size, self.augment = x, y, batch_size, augment
        self.rng = np.random.default_rng(seed)
        self.order = self.rng.permutation(len(x))

    def __len__(self) -> int:
        return int(np.ceil(len(self.x) / self.batch_size))

    def __getitem__(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        idx = self.order[i * self.batch_size : (i + 1) * self.batch_size]
        xb, yb = self.x[idx], self.y[idx]
        if self.augment == "dihedral":
            xb = xb.copy()
            for j, (k, flip) in enumerate(zip(self.rng.integers(0, 4, len(xb)), self.rng.integers(0, 2, len(xb)))):
                img = np.rot90(xb[j], k)
                xb[j] = img[:, ::-1] if flip else img
        elif self.augment == "shift":
            xb = xb.copy()
            for j, (dy, dx) in enumerate(self.rng.integers(-2, 3, (len(xb), 2))):
                xb[j] = np.roll(xb[j], (dy, dx), axis=(0, 1))
        return xb, yb

    def on_epoch_end(self) -> None:
        self.order = self.rng.permutation(len(self.x))


def train(
    architecture: str,
    train_set: Dataset,
    test_set: Dataset,
    *,
    epochs: int,
    batch_size: int = 64,
    learning_rate: float = 2e-3,
    seed: int = 0,
    augment: str = "none",
    desc: str = "training",
    progress: bool = True,
) -> TrainResult:
    """Train an architecture on a dataset, seeded; evaluate it on the test split.

    Adam with a cosine-decayed learning rate; ``augment`` is one of
    :data:`AUGMENTATIONS`. Shows one progress bar over all steps.
    """
    if augment not in AUGMENTATIONS:
        raise InputError(f"unknown augment {augment!r}; valid: {', '.join(AUGMENTATIONS)}")
    import time

    _backend.seed_everything(seed)
    model = build(architecture, train_set.x.shape[1:], len(train_set.class_names))
    steps = int(np.ceil(len(train_set.x) / batch_size))
    schedule = keras.optimizers.schedules.CosineDecay(learning_rate, decay_steps=steps * epochs)
    model.compile(
        optimizer=keras.optimizers.Adam(schedule), loss="sparse_categorical_crossentropy", metrics=["accuracy"]
    )
    callbacks = [_Progress(steps * epochs, desc)] if progress else []
    start = time.perf_counter()
    batches = _Batches(train_set.x, train_set.y, batch_size, seed=seed, augment=augment)
    model.fit(batches, epochs=epochs, verbose=0, callbacks=callbacks)
    seconds = time.perf_counter() - start
    probs = model.predict(test_set.x, batch_size=256, verbose=0)
    accuracy = float(np.mean(np.argmax(probs, axis=1) == test_set.y))
    return TrainResult(model, accuracy, seconds)


# ----------------------------------------------------------------------------- keras.applications

_CLASS_INDEX = _imagenet.CLASS_INDEX


def imagenet_class_names() -> tuple[str, ...]:
    """The 1,000 ImageNet class names, in the order of the models' outputs.

    They ship with convviz (``convviz/data/imagenet_class_index.json``, byte for byte
    the index that ``keras.applications...decode_predictions`` downloads), so nothing is
    fetched at run time. Underscores become spaces: ``tiger cat``.
    """
    return _imagenet.class_names()


def preprocessing_layer(mode: str, channels: int = 3, *, name: str = "preprocess") -> keras.layers.Layer | None:
    """A fixed layer mapping [0, 1] images to what a model expects (see
    :data:`PREPROCESS_MODES`); None for ``"none"``."""
    if mode not in PREPROCESS_MODES:
        raise InputError(f"unknown preprocess {mode!r}; valid: {', '.join(PREPROCESS_MODES)}")
    if mode in ("torch", "caffe") and channels != 3:
        raise InputError(
            f"preprocess {mode!r} needs an RGB model (3 input channels), this one has {channels}; use none, uint8 or tf"
        )
    if mode == "none":
        return None
    if mode == "uint8":
        return L.Rescaling(255.0, name=name)
    if mode == "tf":
        return L.Rescaling(2.0, offset=-1.0, name=name)
    if mode == "torch":
        return L.Normalization(mean=[0.485, 0.456, 0.406], variance=[0.229**2, 0.224**2, 0.225**2], name=name)
    # caffe: RGB -> BGR, ×255, minus the ImageNet mean, as one fixed 1×1 convolution
    conv = L.Conv2D(3, 1, name=name, trainable=False)
    conv.build((None, None, None, 3))
    kernel = np.zeros((1, 1, 3, 3), np.float32)
    kernel[0, 0, [2, 1, 0], [0, 1, 2]] = 255.0
    conv.set_weights([kernel, -np.array([103.939, 116.779, 123.68], np.float32)])
    return conv


def with_preprocessing(model: keras.Model, mode: str, *, name: str | None = None) -> keras.Model:
    """``model`` behind a fixed preprocessing layer: a model that takes [0, 1] images.

    The original model is nested as a layer (its own name), so its layers keep their
    names for every convviz function; ``"none"`` returns ``model`` itself.
    """
    shape = tuple(model.inputs[0].shape[1:])
    layer = preprocessing_layer(mode, int(shape[-1]))
    if layer is None:
        return model
    inputs = keras.Input(shape, name="image")
    outputs = model(layer(inputs))
    return keras.Model(inputs, outputs, name=name or f"{model.name}_with_{mode}_preprocessing")


@contextlib.contextmanager
def _fresh_layer_names() -> Iterator[None]:
    """Build with Keras' counter of automatic layer names fresh, then put it back.

    Keras names the layers a constructor leaves unnamed from one counter per process
    (``input_layer``, then ``input_layer_1``...): an application built after other models got
    other layer names than in a fresh process, so another model digest (every cached result
    missed) and other layer names on its pages. The counter is Keras' own global state (no
    public API swaps it)."""
    from keras.src.backend.common import global_state

    key = "object_name_uids"
    old = global_state.get_global_attribute(key)
    global_state.set_global_attribute(key, collections.defaultdict(int))
    try:
        yield
    finally:
        global_state.set_global_attribute(key, old)


def _leaf_layers(model: Any) -> list[Any]:
    """The layers of ``model`` that are not models themselves, nested ones included, in order."""
    out = []
    for layer in model.layers:
        out += _leaf_layers(layer) if isinstance(getattr(layer, "layers", None), list) else [layer]
    return out


def build_application(
    application: str, *, weights: str | None = "imagenet", input_size: int | tuple[int, int] | None = None
) -> keras.Model:
    """A keras.applications model that takes images in [0, 1], ImageNet preprocessing inside.

    The application is nested as a layer (Keras' own name, e.g. ``xception``), after a
    preprocessing layer that maps [0, 1] pixels to what its weights expect, so every
    convviz function sees the same input space for every model. ``input_size`` (height
    and width) is only for ``weights=None`` (untrained twins, in tests).

    With ``weights=None`` the weights are drawn by each layer's own initializers from fixed
    seeds: every build of a twin is the same model (Keras' unseeded draws made each page
    of a twin explain another random network, and no cached result was ever reused).
    """
    if application not in APPLICATIONS:
        raise InputError(f"unknown application {application!r}; valid: {', '.join(APPLICATIONS)}")
    spec = APPLICATIONS[application]
    if input_size is None:
        h = w = spec.size
    elif isinstance(input_size, int):
        h = w = input_size
    else:
        h, w = input_size
    if weights == "imagenet" and (h, w) != (spec.size, spec.size):
        raise InputError(
            f"{application} with ImageNet weights takes {spec.size}×{spec.size} images, "
            f"not {h}×{w}; another size needs weights=None"
        )
    with _fresh_layer_names():
        base = getattr(keras.applications, spec.constructor)(weights=weights, include_top=True, input_shape=(h, w, 3))
    if weights is None:
        from convviz.graph.reinit import reinitialized_weights

        for k, layer in enumerate(_leaf_layers(base)):
            if layer.weights:
                layer.set_weights(reinitialized_weights(layer, k, keep_others=True))
    return with_preprocessing(base, spec.mode, name=f"{application.lower()}_imagenet")
