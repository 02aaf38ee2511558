"""The layer browser of an activations page: every shown layer's channels for a few test
images, to pick from instead of scrolling one grid per layer.

:func:`write_layer_browser` writes, per image and layer, the activation mosaic
(:func:`convviz.figures.activations.activation_mosaic`: every channel, blank ones crossed out) as a PNG,
each input image, and ``browser.json``; the page's script (``convviz/assets/layers.js``)
shows one mosaic with a layer menu and the images to choose from, each channel numbered
and linked to its unit on the unit pages (:mod:`convviz.site.unit_pages`) where its layer has
them. ``browser.json`` gives, per layer, that page's URL (relative to ``browser.json``) and
the mosaic's geometry, so that the script can place a cell over each channel.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
from convviz.site.freshness import fingerprint, module_text, up_to_date, write_stamp

__all__ = [
    "DATA_FILE",
    "N_IMAGES",
    "MAX_LAYERS",
    "MAX_CHANNELS",
    "browser_layers",
    "mosaic_grid",
    "unit_links",
    "write_layer_browser",
]

DATA_FILE = "browser.json"
N_IMAGES = 6
MAX_LAYERS, MAX_CHANNELS = 16, 128  # as the activations page: evenly spaced layers, first channels


def browser_layers(names: list[str], *, max_layers: int = MAX_LAYERS) -> list[str]:
    """At most ``max_layers`` of the layers, evenly spaced, the first and last kept."""
    from convviz.graph.choice import evenly_spaced  # imports Keras: not for a build that changes nothing

    return evenly_spaced(names, max_layers)


def _pick_images(y: np.ndarray, n: int) -> np.ndarray:
    """One test image per class first (in class order), then the next ones, up to ``n``."""
    y = np.asarray(y)
    first = [int(np.flatnonzero(y == c)[0]) for c in sorted(set(y[y >= 0].tolist()))]
    rest = [i for i in range(len(y)) if i not in first]
    return np.array((first + rest)[:n], int)


def _fingerprint(entry: Any) -> str:
    # the unit_pages module is in the code digest (imported); the entry's `units:` here
    return fingerprint(entry, module_text(__file__), f"units: {entry.units_option!r}")


def mosaic_grid(shape: tuple[int, ...], shown: int, *, scale: int, margin: int = 1) -> dict[str, Any]:
    """Where each channel lies in a layer's mosaic (:func:`convviz.figures.activations.activation_mosaic`,
    16 columns or one row of fewer): channel ``c`` is the tile at row ``c // cols``,
    column ``c % cols``, tiles ``tile`` (height, width) pixels apart by ``margin``, the
    whole enlarged ``scale`` times in the PNG.

    Parameters
    ----------
    shape
        The layer's output shape, (height, width, channels).
    shown
        Channels drawn (the first ``shown``).
    scale, margin
        As the mosaic was saved.

    Returns
    -------
    dict
        ``cols``, ``rows``, ``tile``, ``margin``, ``scale`` and ``size`` (the PNG's
        height and width).
    """
    cols = _columns(shown)
    rows = -(-shown // cols)
    h, w = int(shape[0]), int(shape[1])
    size = [((h + margin) * rows - margin) * scale, ((w + margin) * cols - margin) * scale]
    return {"cols": cols, "rows": rows, "tile": [h, w], "margin": margin, "scale": scale, "size": size}


def _columns(shown: int) -> int:
    return 16 if shown >= 16 else shown


def unit_links(entry: Any, model: Any, names: list[str]) -> dict[str, str | None]:
    """Per layer of the browser: the URL of its unit page relative to ``browser.json``
    (``../units/<layer folder>/``), or None where the layer has none (a pooling layer, or
    one the zoo entry's ``units:`` leaves out)."""
    from convviz.site.unit_data import layer_folder, selected_layers, unit_layers

    paged = set(selected_layers(entry, model, unit_layers(model)))
    return {name: f"../units/{layer_folder(name)}/" if name in paged else None for name in names}


def write_layer_browser(entry: Any, folder: str | Path, *, progress: bool = True) -> bool:
    """Write a zoo entry's layer browser into ``folder``; skipped (returns False) when it is
    up to date for the entry and the code."""
    folder = Path(folder)
    stamp = _fingerprint(entry)
    if up_to_date(folder, stamp, DATA_FILE):
        return False
    import convviz  # Keras, and what only a build that writes the browser needs
    from convviz import zoo
    from convviz.core.files import write_if_changed
    from convviz.figures.activations import activation_mosaic
    from convviz.graph.layers import resolve_layer
    from convviz.site.record import save_png

    model = zoo.load(entry, progress=progress)
    test = zoo.dataset(entry, "test")
    pick = _pick_images(np.where(test.labelled, test.y, -1), N_IMAGES)
    images = test.x[pick]
    pred = convviz.predict(model, images).argmax(1)
    names = browser_layers(convviz.activation_layers(model))
    acts = convviz.extract_activations(model, images, layers=names)  # only the layers shown
    links = unit_links(entry, model, names)
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("*.png"):
        old.unlink()  # layers renamed or removed leave nothing behind
    layers = []
    for li, name in enumerate(names):
        act = acts[name]
        channels = act.shape[-1]
        shown = min(channels, MAX_CHANNELS)
        blank = []
        scale = 1
        for k in range(len(pick)):
            mosaic = activation_mosaic(act[k, :, :, :shown], ncols=_columns(shown))
            scale = max(1, min(4, 480 // max(mosaic.shape[1], 1)))
            save_png(mosaic, folder / f"a{k}_{li}.png", scale=scale)
            blank.append(int((act[k] == 0).all(axis=(0, 1)).sum()))
        layers.append(
            {
                "name": name,
                "kind": resolve_layer(model, name).class_name,
                "shape": list(act.shape[1:]),
                "shown": shown,
                "blank": blank,
                "units": links[name],
                "grid": mosaic_grid(act.shape[1:], shown, scale=scale),
            }
        )
    side = max(images.shape[1:3])
    for k, img in enumerate(images):
        save_png(img, folder / f"i{k}.png", scale=max(1, 96 // side))
    names_ = test.class_names
    meta = {
        "model": entry.name,
        "layers": layers,
        "images": [
            {
                "label": names_[int(test.y[i])] if test.labelled[i] else None,
                "pred": names_[int(p)],
            }
            for i, p in zip(pick, pred)
        ],
        "of": len(acts),
    }
    write_if_changed(folder / DATA_FILE, json.dumps(meta, separators=(",", ":")))
    write_stamp(folder, stamp)
    return True
