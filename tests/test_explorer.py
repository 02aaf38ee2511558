"""The embedding explorer: its sprite sheets, its data on a hand-built model whose Grad-CAM
is known, and (in Chromium) its panel, links, colours and touch gestures."""

import numpy as np
import pytest
from test_classes import LABEL, PRED, build_channel_model, channel_images, expected_pair

from convviz.site import explorer as explorer_module
from convviz.site.explorer import sprite_sheet


def test_sprite_sheet_places_each_image_in_its_cell():
    images = np.stack([np.full((4, 4, 1), i / 10, np.float32) for i in range(5)])  # gray levels 0..0.4
    sheet, cols = sprite_sheet(images, size=2)
    assert cols == 3 and sheet.shape == (2 * 2, 3 * 2, 3) and sheet.dtype == np.uint8
    for i in range(5):
        r, c = divmod(i, cols)
        cell = sheet[r * 2 : (r + 1) * 2, c * 2 : (c + 1) * 2]
        assert (cell == round(i / 10 * 255)).all(), i
    assert (sheet[2:, 4:] == 0).all()  # the empty last cell


def test_sprite_sheet_keeps_rgb_and_refuses_bad_input():
    rgb = np.zeros((1, 3, 3, 3), np.uint8)
    rgb[..., 0] = 200
    sheet, cols = sprite_sheet(rgb, size=3)
    assert cols == 1 and (sheet[..., 0] == 200).all() and (sheet[..., 1:] == 0).all()
    with pytest.raises(ValueError, match=r"images must be \(N, H, W\) or \(N, H, W, C\) with N >= 1, got shape \(3,\)"):
        sprite_sheet(np.zeros(3), size=2)


# -- the explorer's data on the class page tests' hand-built model (Grad-CAM known in closed form)


@pytest.fixture
def hand_entry(monkeypatch):
    from types import SimpleNamespace

    from convviz import zoo
    from convviz.zoo.splits import Dataset

    model = build_channel_model()
    x = channel_images()
    test = Dataset("hand", "test", x, np.array(LABEL), ("red", "green", "blue"))
    monkeypatch.setattr(zoo, "load", lambda entry, progress=True: model)
    monkeypatch.setattr(zoo, "dataset", lambda entry, split="test": test)
    monkeypatch.setattr(explorer_module, "fingerprint", lambda entry, text, extra="": "stamp")
    return SimpleNamespace(name="hand", cam_layer=lambda m: "feat"), x


def test_a_misclassified_point_gets_its_true_class_map_on_the_pairs_scale(hand_entry):
    from convviz.site.explorer import explorer_data
    from convviz.figures.heatmaps import overlay_heatmap

    entry, x = hand_entry
    data = explorer_data(entry, progress=False)
    meta = data.meta
    assert meta["pred"] == PRED and meta["label"] == LABEL and meta["method"] == "PCA"  # 9 points: PCA
    wrong = [i for i in range(len(PRED)) if LABEL[i] >= 0 and LABEL[i] != PRED[i]]
    assert meta["true_cam"] == wrong == [1, 2, 4, 6, 7]
    assert meta["cams_true"] == "cams_true.png" and meta["class_page"] == "../classes/"
    # 9 points are too few to rank outliers: no scores, and no point called suspicious
    assert meta["score"] is None and meta["suspicious"] == []
    assert meta["outliers_skipped"].startswith("Skipped the outlier ranking") and "has 9" in meta["outliers_skipped"]
    size = meta["thumb"]
    assert size == 8 and meta["true_cols"] == 3 and data.cams_true.shape == (2 * 8, 3 * 8, 3)

    def cell(sheet, k, cols):
        r, c = divmod(k, cols)
        return sheet[r * size : (r + 1) * size, c * size : (c + 1) * size].astype(int)

    for k, i in enumerate(wrong):  # both maps of a wrong point: its two channels, on one scale
        want_true, want_pred = expected_pair(x, i, LABEL[i], PRED[i])
        np.testing.assert_allclose(cell(data.cams_true, k, meta["true_cols"]), overlay_heatmap(x[i], want_true), atol=1)
        np.testing.assert_allclose(cell(data.cams, i, meta["cols"]), overlay_heatmap(x[i], want_pred), atol=1)
        assert meta["true_prob"][k] < meta["prob"][i]  # the predicted class is the likelier
    for i in set(range(len(PRED))) - set(wrong):  # a right (or unlabelled) one: its one map, to its own peak
        heat = x[i, ..., PRED[i]] / x[i, ..., PRED[i]].max()
        np.testing.assert_allclose(cell(data.cams, i, meta["cols"]), overlay_heatmap(x[i], heat), atol=1)


def test_write_explorer_writes_the_true_class_sheet_and_skips_when_up_to_date(hand_entry, tmp_path):
    import json

    from PIL import Image

    from convviz.site.explorer import write_explorer

    entry, _ = hand_entry
    folder = tmp_path / "explorer"
    assert write_explorer(entry, folder, progress=False) is True
    meta = json.loads((folder / "data.json").read_text())
    sheet = Image.open(folder / meta["cams_true"])
    assert sheet.size == (meta["true_cols"] * meta["thumb"], 2 * meta["thumb"])
    assert write_explorer(entry, folder, progress=False) is False


# -- in Chromium: a synthetic explorer (six points, solid-colour sprite cells) on a page styled
#    with Material's own stylesheets, in its light and dark scheme, on a desktop and a phone

HOSTILE = '<img src=x onerror="window.__pwned=1">'
CELL = 4  # pixels of a sprite cell
# six points on a 3 × 2 grid; 1 and 4 misclassified, 5 unlabelled
POINTS = {
    "x": [0, 1, 2, 0, 1, 2],
    "y": [0, 0, 0, 1, 1, 1],
    "label": [0, 1, 2, 0, 2, -1],
    "pred": [0, 0, 2, 0, 1, 2],
    "prob": [0.9, 0.6, 0.8, 0.7, 0.55, 0.5],
}
TRUE_CAM = [1, 4]
TRUE_PROB = [0.3, 0.25]


def _solid_sheet(colors: list[tuple[int, int, int]]) -> np.ndarray:
    return sprite_sheet(np.array([np.full((CELL, CELL, 3), c, np.uint8) for c in colors]), size=CELL)[0]


@pytest.fixture(scope="module")
def explorer_site(tmp_path_factory):
    """``/gallery/m/latent/<scheme>.html`` with the bundled script and style, and the data in
    ``/gallery/m/explorer/``; yields the server's URL."""
    import functools
    import http.server
    import json
    import shutil
    import threading
    from pathlib import Path

    from convviz.site.record import save_png

    material = pytest.importorskip("material")
    root = tmp_path_factory.mktemp("site")
    assets = root / "assets"
    assets.mkdir()
    sheets = Path(material.__file__).parent / "templates" / "assets" / "stylesheets"
    for css in sheets.glob("*.min.css"):
        shutil.copy(css, assets / ("main.css" if css.name.startswith("main") else "palette.css"))
    for name in ("explorer.js", "explorer.css"):
        shutil.copy(Path(__file__).parents[1] / "convviz" / "site" / "assets" / name, assets / name)
    data = root / "gallery" / "m" / "explorer"
    data.mkdir(parents=True)
    save_png(_solid_sheet([(10 * i, 0, 0) for i in range(6)]), data / "images.png")
    save_png(_solid_sheet([(0, 40 * i, 0) for i in range(6)]), data / "cams.png")
    save_png(_solid_sheet([(0, 0, 100 + 50 * k) for k in range(2)]), data / "cams_true.png")
    meta = {
        "model": "m",
        "classes": ["red", HOSTILE, "blue"],
        "method": "UMAP",
        "trustworthiness": None,
        "cam_layer": "feat",
        "points": 6,
        "of": 6,
        **POINTS,
        "score": [0.0] * 6,
        "suspicious": [],
        "thumb": CELL,
        "cols": 3,
        "images": "images.png",
        "cams": "cams.png",
        "cams_true": "cams_true.png",
        "true_cam": TRUE_CAM,
        "true_prob": TRUE_PROB,
        "true_cols": 2,
        "class_page": "../classes/",
    }
    (data / "data.json").write_text(json.dumps(meta))
    latent = root / "gallery" / "m" / "latent"
    latent.mkdir()
    filler = "<p>" + "Text above and below the explorer, so that the page scrolls. " * 40 + "</p>"
    for scheme in ("default", "slate"):
        (latent / f"{scheme}.html").write_text(
            '<!doctype html><html><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">'
            '<link rel="icon" href="data:,"><link rel="stylesheet" href="/assets/main.css">'
            '<link rel="stylesheet" href="/assets/palette.css"><link rel="stylesheet" href="/assets/explorer.css">'
            f'</head><body data-md-color-scheme="{scheme}" data-md-color-primary="indigo">'
            '<article class="md-content__inner md-typeset">'
            f'{filler}<a class="convviz-explorer" href="../explorer/data.json">data</a>{filler * 3}'
            '</article><script src="/assets/explorer.js"></script></body></html>'
        )

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def handle(self):
            try:
                super().handle()
            except (BrokenPipeError, ConnectionResetError):  # the browser dropped a request
                pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(root)))
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


@pytest.fixture(scope="module")
def chromium():
    import shutil

    path = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    if path is None:
        pytest.skip("chromium is not installed (apt-get install chromium): browser checks skipped")
    playwright = pytest.importorskip("playwright.sync_api")
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=path, args=["--headless", "--no-sandbox", "--disable-gpu"])
        yield browser
        browser.close()


def _open(context, url):
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.goto(url, wait_until="networkidle")
    page.locator(".convviz-explorer-widget[data-ready='1']").wait_for(timeout=10000)
    page.evaluate("() => document.querySelector('.convviz-explorer-canvas').scrollIntoView({block: 'center'})")
    return page, errors


def _at(page, i):
    box = page.locator(".convviz-explorer-canvas").bounding_box()
    x, y = page.evaluate(f"() => window.convvizExplorers[0].screen({i})")
    return box["x"] + x, box["y"] + y


def _pixel(page, selector):
    return page.evaluate(
        f"() => Array.from(document.querySelector({selector!r}).getContext('2d').getImageData(1, 1, 1, 1).data)"
    )[:3]


def _rgba(css: str) -> tuple[float, ...]:
    import re

    v = [float(n) for n in re.findall(r"[\d.]+", css)]
    return (*v[:3], v[3] if len(v) > 3 else 1.0)


def _contrast(fg: str, bg: str) -> float:
    """WCAG contrast of a CSS colour (its alpha blended over ``bg``) against ``bg``."""

    def luminance(rgb):
        lin = [c / 255 / 12.92 if c / 255 <= 0.03928 else ((c / 255 + 0.055) / 1.055) ** 2.4 for c in rgb]
        return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]

    f, b = _rgba(fg), _rgba(bg)
    shown = [f[3] * f[k] + (1 - f[3]) * b[k] for k in range(3)]
    hi, lo = sorted([luminance(shown), luminance(b[:3])], reverse=True)
    return (hi + 0.05) / (lo + 0.05)


@pytest.mark.browser
@pytest.mark.parametrize("scheme", ["default", "slate"])
def test_a_misclassified_point_shows_both_maps_and_links_its_classes(chromium, explorer_site, scheme):
    context = chromium.new_context(viewport={"width": 1200, "height": 900})
    page, errors = _open(context, f"{explorer_site}/gallery/m/latent/{scheme}.html")
    page.mouse.click(*_at(page, 1))  # labelled HOSTILE, predicted red
    page.locator(".convviz-explorer-panel canvas.convviz-explorer-cams-true").wait_for(timeout=5000)
    panel = page.inner_text(".convviz-explorer-panel")
    assert f"Grad-CAM for {HOSTILE} (true class, 30%)" in panel and "Grad-CAM for red (predicted, 60%)" in panel
    assert _pixel(page, "canvas.convviz-explorer-cams-true") == [0, 0, 100]  # cams_true.png, cell 0
    assert _pixel(page, "canvas.convviz-explorer-cams") == [0, 40, 0]  # cams.png, cell 1
    links = page.eval_on_selector_all(".convviz-explorer-panel a", "els => els.map(e => [e.textContent, e.href])")
    classes = f"{explorer_site}/gallery/m/classes/"
    assert links == [
        [HOSTILE, classes + "#class-1"],
        ["red", classes + "#class-0"],
        [f"every {HOSTILE} taken for red", classes + "#confused-1-0"],
    ]
    # every colour the panel and the tip use reads on the scheme's background (text: 4.5:1)
    page.mouse.move(*_at(page, 4))
    page.locator(".convviz-explorer-tip").wait_for(state="visible")
    bg = page.evaluate("() => getComputedStyle(document.body).backgroundColor")
    tip_bg = page.evaluate("() => getComputedStyle(document.querySelector('.convviz-explorer-tip')).backgroundColor")
    assert _rgba(tip_bg) == _rgba(bg)
    colours = page.evaluate(
        "() => ['.convviz-explorer-panel .convviz-explorer-wrong', '.convviz-explorer-panel a',"
        " '.convviz-explorer-tip .convviz-explorer-wrong', '.convviz-explorer-tip div', '.convviz-explorer-hint',"
        " '.convviz-explorer-legend', '.convviz-explorer-class']"
        ".map(s => [s, getComputedStyle(document.querySelector(s)).color])"
    )
    for selector, colour in colours:
        assert _contrast(colour, bg) >= 4.5, (scheme, selector, colour, bg)
    # a right point: its one map, for the predicted class
    page.mouse.click(*_at(page, 2))
    assert page.locator("canvas.convviz-explorer-cams-true").count() == 0
    assert "Grad-CAM for blue" in page.inner_text(".convviz-explorer-panel")
    assert _pixel(page, "canvas.convviz-explorer-cams") == [0, 80, 0]
    # the wheel zooms, a drag pans
    page.mouse.move(*_at(page, 2))
    page.mouse.wheel(0, -100)
    page.wait_for_function("() => window.convvizExplorers[0].view.k > 1", timeout=5000)
    before = page.evaluate("() => window.convvizExplorers[0].view")
    assert before["k"] == pytest.approx(1.2)
    box = page.locator(".convviz-explorer-canvas").bounding_box()
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move(x + 30, y + 10, steps=4)
    page.mouse.up()
    view = page.evaluate("() => window.convvizExplorers[0].view")
    page.mouse.wheel(0, 100)
    page.wait_for_function("() => Math.abs(window.convvizExplorers[0].view.k - 1) < 1e-9", timeout=5000)
    assert page.evaluate("() => window.__pwned") is None
    context.close()
    assert view["k"] == pytest.approx(1.2) and view["tx"] - before["tx"] == pytest.approx(30)
    assert not errors, errors


@pytest.mark.browser
def test_on_a_phone_one_finger_scrolls_the_page_and_two_pinch_the_plot(chromium, explorer_site):
    context = chromium.new_context(
        viewport={"width": 390, "height": 800}, has_touch=True, is_mobile=True, device_scale_factor=2
    )
    page, errors = _open(context, f"{explorer_site}/gallery/m/latent/slate.html")
    assert page.evaluate("() => document.documentElement.scrollWidth") <= 390  # nothing overflows

    def state():
        return page.evaluate("() => [window.scrollY, window.convvizExplorers[0].view]")

    page.touchscreen.tap(*_at(page, 4))  # a tap selects, as a click does
    page.locator(".convviz-explorer-panel canvas.convviz-explorer-cams-true").wait_for(timeout=5000)
    assert page.evaluate("() => window.convvizExplorers[0].selected") == 4
    assert _pixel(page, "canvas.convviz-explorer-cams-true") == [0, 0, 150]  # cams_true.png, cell 1
    cdp = context.new_cdp_session(page)

    def touch(kind, points):
        cdp.send("Input.dispatchTouchEvent", {"type": kind, "touchPoints": [{"x": x, "y": y} for x, y in points]})

    box = page.locator(".convviz-explorer-canvas").bounding_box()
    cx, cy = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    before = state()
    touch("touchStart", [(cx, cy)])  # one finger, up the canvas
    for s in range(1, 11):
        touch("touchMove", [(cx, cy - 10 * s)])
    touch("touchEnd", [])
    page.wait_for_timeout(300)
    after = state()
    assert after[0] > before[0] and after[1] == before[1]  # the page scrolled; the plot did not move
    assert page.evaluate("() => window.convvizExplorers[0].selected") == 4  # a drag is no tap
    box = page.locator(".convviz-explorer-canvas").bounding_box()
    cx, cy = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    touch("touchStart", [(cx - 20, cy), (cx + 20, cy)])  # two fingers, apart: zoom in 3x
    for s in range(1, 11):
        touch("touchMove", [(cx - 20 - 4 * s, cy), (cx + 20 + 4 * s, cy)])
    touch("touchEnd", [])
    page.wait_for_timeout(300)
    pinched = state()
    assert pinched[0] == after[0] and pinched[1]["k"] == pytest.approx(3, rel=1e-3)
    # the plot point under the fingers' midpoint stayed under it
    mid = cx - box["x"]
    assert (mid - pinched[1]["tx"]) / 3 == pytest.approx(mid - after[1]["tx"], abs=0.01)
    context.close()
    assert not errors, errors
