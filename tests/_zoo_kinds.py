"""A zoo with one entry of every kind a user writes, built offline in a folder.

Model files are small random-weight models; ImageNet entries are ``weights: null`` twins
at small input sizes (same architecture, same preprocessing, same 1,000 classes).
"""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np
from PIL import Image

L = keras.layers

APPLICATIONS = {
    "Xception": 71,
    "VGG16": 32,
    "ResNet50V2": 32,
    "MobileNetV2": 32,
    "EfficientNetB0": 32,
    "ConvNeXtTiny": 32,
}
# The entries whose pages are rendered end to end (each backend renders one; the prerender test
# two) take a pass budget, as a team's quick build would: every page and section runs, the
# budgeted ones on fewer images and steps (the twin's reduce their knobs as an ImageNet model's
# do: at 32 pixels its pass is cheap)
RENDERED = ("gray-sequential", "rgb-h5-unlabelled", "rgb-h5-labelled", "mobilenetv2-twin")
PASSES = 3000


def _sequential_gray(path: Path) -> None:
    keras.utils.set_random_seed(1)
    keras.Sequential(
        [
            keras.Input((28, 28, 1)),
            L.Conv2D(8, 3, activation="relu", name="c1"),
            L.MaxPooling2D(2),
            L.Conv2D(16, 3, activation="relu", name="c2"),
            L.GlobalAveragePooling2D(),
            L.Dense(10, activation="softmax", name="out"),
        ]
    ).save(path)


def functional_rgb(
    num_classes: int = 3, shape=(40, 48, 3), *, rescale_inside: bool = False, seed: int = 2
) -> keras.Model:
    """A small Functional RGB model; ``rescale_inside`` puts ``Rescaling(2, -1)`` first."""
    keras.utils.set_random_seed(seed)
    inp = keras.Input(shape, name="pixels")
    x = L.Rescaling(2.0, offset=-1.0, name="inside")(inp) if rescale_inside else inp
    x = L.Conv2D(8, 3, padding="same", activation="relu", name="conv_a")(x)
    x = L.MaxPooling2D(2, name="pool_a")(x)
    x = L.Conv2D(16, 3, padding="same", activation="relu", name="conv_b")(x)
    x = L.GlobalAveragePooling2D(name="gap")(x)
    return keras.Model(inp, L.Dense(num_classes, activation="softmax", name="scores")(x), name="rgb")


def _images(folder: Path, n: int, *, size=(36, 44), mode="RGB", seed=0, suffixes=(".png", ".jpg")) -> None:
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        yy, xx = np.mgrid[0 : size[0], 0 : size[1]]
        base = np.sin(xx / (3 + i % 5)) + np.cos(yy / (2 + i % 3)) + rng.normal(0, 0.3, size)
        img = ((base - base.min()) / np.ptp(base) * 255).astype(np.uint8)
        if mode == "RGB":
            img = np.stack([img, img[::-1], np.roll(img, i, 1)], -1)
        Image.fromarray(img, "L" if mode == "L" else "RGB").save(folder / f"img{i:02d}{suffixes[i % len(suffixes)]}")


def build(root: Path, *, applications: dict[str, int] = APPLICATIONS) -> Path:
    """Write the models, folders and ``zoo.yml`` under ``root``; returns the zoo file."""
    root.mkdir(parents=True, exist_ok=True)
    _sequential_gray(root / "gray_seq.keras")
    functional_rgb().save(root / "rgb_functional.h5")
    functional_rgb(1000, (48, 48, 3), seed=3).save(root / "imagenet_like.keras")
    _images(root / "unlabelled", 14, suffixes=(".png", ".jpg", ".webp", ".bmp"))
    (root / "unlabelled" / "corrupt.jpg").write_bytes(b"\xff\xd8 truncated")
    for c, name in enumerate(("cats", "dogs", "owls")):
        _images(root / "labelled" / name, 9, mode="L", seed=10 + c)
    entries = [
        ("gray-sequential", "file", {"path": "gray_seq.keras", "dataset": "digits", "preprocess": "uint8"}),
        (
            "rgb-h5-unlabelled",
            "file",
            {
                "path": "rgb_functional.h5",
                "dataset": "unlabelled",
                "preprocess": "tf",
                "class_names": "[ant, bee, wasp]",
            },
        ),
        ("rgb-h5-labelled", "file", {"path": "rgb_functional.h5", "dataset": "labelled", "preprocess": "tf"}),
        ("imagenet-1000", "file", {"path": "imagenet_like.keras", "dataset": "photos", "preprocess": "torch"}),
    ] + [
        (
            f"{app.lower()}-twin",
            "keras.applications",
            {"application": app, "weights": "null", "input_shape": f"[{size}, {size}, 3]"},
        )
        for app, size in applications.items()
    ]
    entries = [(n, s, k | ({"budget": f"{{passes: {PASSES}}}"} if n in RENDERED else {})) for n, s, k in entries]
    text = "models:\n"
    for name, source, keys in entries:
        text += f"  - name: {name}\n    source: {source}\n" + "".join(f"    {k}: {v}\n" for k, v in keys.items())
    (root / "zoo.yml").write_text(text)
    return root / "zoo.yml"
