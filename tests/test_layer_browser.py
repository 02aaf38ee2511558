"""The layer browser's data (the mosaic's geometry, each layer's link to its unit page) and
its script in headless Chromium: a numbered cell over each channel, linked to its unit."""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path
from types import SimpleNamespace

import keras
import numpy as np
import pytest

from convviz.site.layer_browser import mosaic_grid, unit_links
from convviz.core.markup import path_part
from convviz.figures.activations import _CROSS, activation_mosaic

L = keras.layers
ASSETS = Path(__file__).resolve().parents[1] / "convviz" / "site" / "assets"


def test_the_grid_is_the_mosaics_geometry():
    shape = (5, 7, 20)
    act = np.random.default_rng(0).normal(size=shape)
    act[:, :, 17] = 0  # blank: drawn crossed out, the cross starting at its tile's top-left pixel
    grid = mosaic_grid(shape, 20, scale=3)
    assert grid == {"cols": 16, "rows": 2, "tile": [5, 7], "margin": 1, "scale": 3, "size": [33, 381]}
    mosaic = activation_mosaic(act, ncols=grid["cols"])
    assert [3 * n for n in mosaic.shape[:2]] == grid["size"]
    row, col = divmod(17, grid["cols"])
    top, left = row * (grid["tile"][0] + grid["margin"]), col * (grid["tile"][1] + grid["margin"])
    np.testing.assert_allclose(mosaic[top, left], _CROSS)
    assert mosaic_grid((3, 3, 8), 8, scale=4)["cols"] == 8  # fewer than 16 channels: one row


def test_each_layer_links_to_its_unit_page_or_to_none():
    inp = keras.Input((12, 12, 1))
    x = L.Conv2D(2, 3, activation="relu", name="a")(inp)  # a linear conv is shown through its activation
    x = L.MaxPooling2D(name="p")(x)
    x = L.Conv2D(2, 3, activation="relu", name="b<x>")(x)
    model = keras.Model(inp, x)
    names = ["a", "p", "b<x>"]
    every = unit_links(SimpleNamespace(name="m", units_option=None), model, names)
    assert every == {"a": "../units/a/", "p": None, "b<x>": f"../units/{path_part('b<x>')}/"}
    assert path_part("b<x>") != "b<x>"  # a URL segment, never the raw name
    listed = unit_links(SimpleNamespace(name="m", units_option=("b<x>",)), model, names)
    assert listed["a"] is None and listed["b<x>"] == every["b<x>"]


# ----------------------------------------------------------------------------- the script

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
SITE = "http://convviz.test"


@pytest.fixture(scope="module")
def chromium():
    if CHROMIUM is None:
        pytest.skip("chromium is not installed (apt-get install chromium): browser checks skipped")
    playwright = pytest.importorskip("playwright.sync_api")
    with playwright.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=["--headless", "--no-sandbox", "--disable-gpu"])
        yield b
        b.close()


def _png(height: int, width: int) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(np.full((height, width, 3), 90, np.uint8)).save(buf, format="PNG")
    return buf.getvalue()


def _serve(page, files: dict[str, bytes | str]) -> None:
    """Answer every request to SITE from ``files`` (path → body), nothing leaves the page."""

    def handle(route):
        path = route.request.url[len(SITE) :].split("#")[0]
        if path not in files:
            return route.fulfill(status=404, body="not found")
        body = files[path]
        kind = "text/html" if path.endswith("/") else "application/json" if path.endswith(".json") else "image/png"
        kind = {".js": "text/javascript", ".css": "text/css"}.get(Path(path).suffix, kind)
        kind += "; charset=utf-8" if not kind.startswith("image/") else ""
        route.fulfill(status=200, body=body, content_type=kind)

    page.route(f"{SITE}/**", handle)


@pytest.mark.browser
def test_the_browser_numbers_each_channel_and_links_it_to_its_unit(chromium):
    conv, pool = mosaic_grid((5, 7, 20), 20, scale=3), mosaic_grid((2, 3, 20), 20, scale=4)
    data = {
        "model": "m",
        "layers": [
            {
                "name": "a",
                "kind": "Conv2D",
                "shape": [5, 7, 20],
                "shown": 20,
                "blank": [1],
                "units": "../units/a/",
                "grid": conv,
            },
            {
                "name": "p",
                "kind": "MaxPooling2D",
                "shape": [2, 3, 20],
                "shown": 20,
                "blank": [2],
                "units": None,
                "grid": pool,
            },
        ],
        "images": [{"label": "ring", "pred": "ring"}],
        "of": 2,
    }
    html = (
        '<!doctype html><html><head><link rel="stylesheet" href="/assets/units.css"></head><body style="width:800px">'
        '<a class="convviz-layers" href="../layers/browser.json">data</a>'
        '<script src="/assets/layers.js"></script></body></html>'
    )
    files = {
        "/g/m/activations/": html,
        "/assets/layers.js": (ASSETS / "layers.js").read_text(),
        "/assets/units.css": (ASSETS / "units.css").read_text(),
        "/g/m/layers/browser.json": json.dumps(data),
        "/g/m/layers/a0_0.png": _png(*conv["size"]),
        "/g/m/layers/a0_1.png": _png(*pool["size"]),
        "/g/m/layers/i0.png": _png(32, 32),
    }
    page = chromium.new_page(viewport={"width": 900, "height": 700})
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    _serve(page, files)
    page.goto(f"{SITE}/g/m/activations/")
    page.locator(".convviz-layers-widget[data-ready='1']").wait_for(timeout=10000)
    page.wait_for_function("() => document.querySelector('.convviz-layers-mosaic').naturalWidth > 0")
    assert page.inner_text(".convviz-layers-info").startswith("a: 5×7×20, 20 channels, 1 blank for image 1")
    cells = page.eval_on_selector_all(
        ".convviz-layers-cell", "cs => cs.map(c => [c.tagName, c.href || null, c.textContent])"
    )
    assert len(cells) == 20
    assert cells[17] == ["A", f"{SITE}/g/m/units/a/#unit-17", "17"]
    # channel 17's cell lies over its tile: row 1, column 1 of 16, tiles 7 wide and 5 high, 1 apart
    box = page.locator(".convviz-layers-cell").nth(17).bounding_box()
    img = page.locator(".convviz-layers-mosaic").bounding_box()
    width, height = 16 * 8 - 1, 2 * 6 - 1
    assert box["x"] - img["x"] == pytest.approx(8 / width * img["width"], abs=0.5)
    assert box["y"] - img["y"] == pytest.approx(6 / height * img["height"], abs=0.5)
    assert box["width"] == pytest.approx(7 / width * img["width"], abs=0.5)
    page.select_option(".convviz-layers-select", "1")  # the pooling layer: numbered, no unit page
    cells = page.eval_on_selector_all(".convviz-layers-cell", "cs => cs.map(c => [c.tagName, c.textContent])")
    assert len(cells) == 20 and all(tag == "SPAN" for tag, _ in cells) and cells[3][1] == "3"
    assert "pooling layer" in page.inner_text(".convviz-layers-hint")
    page.close()
    assert not errors, errors
