"""Every kind of zoo entry a user writes: model files (.keras and .h5, Sequential and
Functional, gray and RGB, any size) with their preprocessing, image folders with and without
labels, a 1,000-class model, and keras.applications twins (``weights: null``)."""

import io
import os
import json
import sys
from contextlib import redirect_stdout
from pathlib import Path

import keras
import numpy as np
import pytest

import convviz
from convviz import site, zoo

sys.path.insert(0, str(Path(__file__).parent))
import _zoo_kinds  # noqa: E402
from conftest import default_backend_only  # noqa: E402


@pytest.fixture(scope="module")
def kinds(tmp_path_factory):
    root = tmp_path_factory.mktemp("kinds")
    return _zoo_kinds.build(root)


@pytest.fixture
def use_zoo(kinds, monkeypatch, tmp_path_factory):
    monkeypatch.setenv("CONVVIZ_ZOO", str(kinds))
    monkeypatch.setenv("CONVVIZ_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "kinds-cache"))
    return kinds


def _render(name, out):
    import warnings

    buf = io.StringIO()
    with redirect_stdout(buf), warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        manifest = site.render(name, out=out, progress=False)
    text = buf.getvalue()
    shown = [str(w.message) for w in caught if not issubclass(w.category, DeprecationWarning)]
    assert not shown, shown  # a page prints no warning (matplotlib's "more than 20 figures"...)
    # ("warn" alone is a mark of the attribution page's scorecard: pass, warn, fail)
    assert "Traceback" not in text and "warning" not in text.lower(), text[-2000:]
    assert " nan" not in text.lower(), text[-2000:]
    return manifest, text


def _on(backend: str):
    """Rendered on ``backend`` alone. Which kind of entry it is (a Sequential gray file, an
    HDF5 file on unlabelled images, a keras.applications twin) is the zoo's business, the
    same on every backend; that every page runs on a backend is the backend's: each backend
    renders one entry end to end, and each kind is rendered once (TensorFlow the twin, the
    largest; JAX and torch a small file each)."""
    return pytest.mark.skipif(
        keras.backend.backend() != backend,
        reason=f"this kind of entry is rendered on {backend}; this backend renders another kind end to end",
    )


@pytest.mark.slow
@pytest.mark.parametrize(
    "name",
    [
        pytest.param("gray-sequential", marks=_on("jax")),
        pytest.param("rgb-h5-unlabelled", marks=_on("torch")),
        # 1,000 ImageNet classes on the photos: the twin's render shows what a 1,000-class
        # model file's would (imagenet-1000's model, preprocessing and photos: the next test)
        pytest.param("mobilenetv2-twin", marks=_on("tensorflow")),
    ],
)
def test_every_entry_kind_renders_all_its_pages(use_zoo, tmp_path, name):
    manifest, text = _render(name, tmp_path / "out")
    pages = {
        "activations",
        "filters",
        "gradcam",
        "attributions",
        "latent",
        "units",
        "classes",
        "concepts",
        "atlas",
        "layers",
        "explorer",
    }
    assert set(manifest["pages"]) == pages
    out = tmp_path / "out" / name
    explorer = json.loads((out / "explorer" / "data.json").read_text())  # every kind gets its explorer
    assert explorer["points"] == len(explorer["x"]) == len(explorer["label"]) > 0
    assert (out / "explorer" / "cams.png").is_file() and (out / "layers" / "browser.json").is_file()
    units = (tmp_path / "out" / name / "units" / "index.md").read_text()
    layers = manifest["pages"]["units"]["layers"]
    assert layers and all(info["receptive_field"][0] >= 1 for info in layers.values())
    for layer, info in layers.items():
        page = tmp_path / "out" / name / "units" / layer / "index.md"
        assert page.is_file() == info["page"], layer
        if info["page"]:
            assert page.read_text().count("{#unit-") == info["units"]
    if name == "mobilenetv2-twin":  # tens of thousands of units: the layer table, no unit pages by default
        assert not any(info["page"] for info in layers.values()) and "have no unit pages here" in units
    classes = (tmp_path / "out" / name / "classes" / "index.md").read_text()
    assert "{#class-" in classes
    if name == "rgb-h5-unlabelled":
        assert "The test images have no labels" in classes
    else:
        assert "## Confusion matrix" in classes
    concepts = (tmp_path / "out" / name / "concepts" / "index.md").read_text()
    assert "{#class-" in concepts and "## Evidence" in concepts
    pngs = sorted((tmp_path / "out" / name).glob("*.png"))
    assert {p.name.split("_")[0] for p in pngs} == {"activations", "filters", "gradcam", "attributions", "latent"}
    if name in ("rgb-h5-unlabelled",):
        assert "no accuracy" in text and "colored by the predicted class" in text
    if name == "mobilenetv2-twin":  # 1000 classes on the photos: names and top-5
        assert "Top-5 predictions:" in text and "grace_hopper" in text
        # its entry's own pass budget: the pages reduced their knobs to fit, and say so
        assert manifest["pages"]["filters"]["budget"]["filters"] < 16 and "To fit, this page reduced" in text
        assert "Skipped trustworthiness" in text  # 15 photos are too few for it, and the page says so


@pytest.mark.slow
@pytest.mark.parametrize("application,size", list(_zoo_kinds.APPLICATIONS.items()))
def test_imagenet_twins_load_predict_and_explain(use_zoo, application, size):
    e = zoo.entry(f"{application.lower()}-twin")
    assert e.input_shape == (size, size, 3) and len(e.class_names) == 1000
    model = zoo.load(e)
    photos = zoo.dataset(e)
    assert photos.x.shape[1:] == (size, size, 3) and len(photos) >= 12
    x = photos.x[:2]
    probs = convviz.predict(model, x)
    assert probs.shape == (2, 1000) and np.allclose(probs.sum(1), 1, atol=1e-3)
    maps = convviz.grad_cam(model, x, layer=e.cam_layer(model))
    assert maps.shape == (2, size, size) and np.isfinite(maps).all()
    emb = convviz.extract_embeddings(model, x)
    assert emb.ndim == 2 and np.isfinite(emb).all()
    top = convviz.top_k(probs, e.class_names, k=5)
    assert len(top[0]) == 5 and top[0][0][1] >= top[0][4][1]


def test_a_1000_class_model_file_on_the_photos(use_zoo):
    """A model file with 1,000 outputs and torch preprocessing: the photos at its size,
    ImageNet's class names, top-5 by name, a Grad-CAM and the class page's shown classes."""
    from convviz.site.class_data import shown_classes

    e = zoo.entry("imagenet-1000")
    assert e.input_shape == (48, 48, 3) and len(e.class_names) == 1000 and e.preprocess == "torch"
    model = zoo.load(e)
    photos = zoo.dataset(e)
    assert photos.x.shape[1:] == (48, 48, 3) and "grace_hopper" in photos.image_names
    probs = convviz.predict(model, photos.x)
    top = convviz.top_k(probs, e.class_names, k=5)
    assert len(top) == len(photos) and all(name in e.class_names for name, _ in top[0])
    maps = convviz.grad_cam(model, photos.x[:2], layer=e.cam_layer(model))
    assert maps.shape == (2, 48, 48) and np.isfinite(maps).all()
    shown = shown_classes(photos.y, probs.argmax(1))  # the few classes that matter, not 1,000
    assert set(probs.argmax(1)) <= set(shown) and len(shown) <= 2 * len(photos)


def test_h5_with_preprocess_tf_equals_rescaling_inside(tmp_path):
    outside = _zoo_kinds.functional_rgb(shape=(24, 24, 3))
    inside = _zoo_kinds.functional_rgb(shape=(24, 24, 3), rescale_inside=True)
    inside.set_weights(outside.get_weights())
    outside.save(tmp_path / "outside.h5")
    inside.save(tmp_path / "inside.keras")
    (tmp_path / "zoo.yml").write_text(
        "models:\n"
        "  - {name: outside, source: file, path: outside.h5, dataset: shapes, preprocess: tf}\n"
        "  - {name: inside, source: file, path: inside.keras, dataset: shapes}\n"
    )
    a = zoo.load(zoo.entry("outside", tmp_path / "zoo.yml"))
    b = zoo.load(zoo.entry("inside", tmp_path / "zoo.yml"))
    x = np.random.default_rng(0).random((3, 24, 24, 3)).astype(np.float32)
    np.testing.assert_allclose(convviz.predict(a, x), convviz.predict(b, x), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(
        convviz.grad_cam(a, x, layer="conv_b"), convviz.grad_cam(b, x, layer="conv_b"), atol=1e-5
    )


@pytest.mark.parametrize(
    "mode,expect",
    [
        ("uint8", lambda x: x * 255),
        ("tf", lambda x: 2 * x - 1),
        ("torch", lambda x: (x - [0.485, 0.456, 0.406]) / [0.229, 0.224, 0.225]),
    ],
)
def test_preprocessing_layers_map_unit_pixels_to_the_models_space(mode, expect):
    from convviz.zoo import architectures as models

    layer = models.preprocessing_layer(mode)
    x = np.random.default_rng(1).random((2, 5, 5, 3)).astype(np.float32)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(layer(x)), expect(x), rtol=1e-5, atol=1e-5)
    assert models.preprocessing_layer("none") is None
    with pytest.raises(ValueError, match="needs an RGB model"):
        models.preprocessing_layer("caffe", 1)


def _file_zoo(tmp_path, model, extra=""):
    model.save(tmp_path / "m.keras")
    (tmp_path / "zoo.yml").write_text(
        f"models:\n  - name: m\n    source: file\n    path: m.keras\n    dataset: shapes\n{extra}"
    )
    return zoo.entry("m", tmp_path / "zoo.yml")


def _read_refused(tmp_path, text, match):
    (tmp_path / "zoo.yml").write_text(text)
    with pytest.raises(zoo.ZooError, match=match):
        zoo.read(tmp_path / "zoo.yml")


def _conv_head(*heads):
    """A 16×16 RGB conv body with the given Dense heads as outputs."""
    inp = keras.Input((16, 16, 3))
    x = keras.layers.GlobalAveragePooling2D()(keras.layers.Conv2D(4, 3)(inp))
    outs = [head(x) for head in heads]
    return keras.Model(inp, outs if len(outs) > 1 else outs[0])


def test_bad_preprocess_names_the_line_and_valid_values(tmp_path):
    _read_refused(
        tmp_path,
        "models:\n  - name: m\n    source: file\n    path: m.keras\n    dataset: shapes\n    preprocess: foo\n",
        r"zoo.yml:6: unknown preprocess 'foo'; valid: none .*uint8.*tf.*torch.*caffe",
    )


def test_model_whose_input_is_not_an_image(tmp_path):
    inp = keras.Input((10,))
    e = _file_zoo(tmp_path, keras.Model(inp, keras.layers.Dense(3, activation="softmax")(inp)))
    with pytest.raises(zoo.ZooError, match=r"input has shape \(None, 10\); convviz needs images"):
        zoo.load(e)


def test_two_output_model_is_refused_with_the_way_out(tmp_path):
    m = _conv_head(keras.layers.Dense(3, name="a"), keras.layers.Dense(2, name="b"))
    with pytest.raises(zoo.ZooError, match=r"has 2 outputs .*one output of class scores.*keras.Model"):
        zoo.load(_file_zoo(tmp_path, m))


def test_single_sigmoid_unit_is_refused(tmp_path):
    m = _conv_head(keras.layers.Dense(1, activation="sigmoid"))
    with pytest.raises(zoo.ZooError, match=r"single output unit .* Dense\(2, activation='softmax'\)"):
        zoo.load(_file_zoo(tmp_path, m))


def test_folder_without_images_is_a_clear_error(tmp_path):
    m = _zoo_kinds.functional_rgb(shape=(16, 16, 3))
    m.save(tmp_path / "m.keras")
    (tmp_path / "empty").mkdir()
    (tmp_path / "zoo.yml").write_text("models:\n  - {name: m, source: file, path: m.keras, dataset: empty}\n")
    with pytest.raises(ValueError, match="no readable images found in .*empty"):
        zoo.dataset(zoo.entry("m", tmp_path / "zoo.yml"))


@pytest.mark.slow  # over 2 s
def test_gray_model_on_rgb_data_and_rgb_model_on_gray_data(tmp_path):
    keras.utils.set_random_seed(0)
    gray = keras.Sequential(
        [
            keras.Input((20, 20, 1)),
            keras.layers.Conv2D(4, 3, name="c"),
            keras.layers.GlobalAveragePooling2D(),
            keras.layers.Dense(6, activation="softmax"),
        ]
    )
    e = _file_zoo(tmp_path, gray)  # shapes are RGB 64×64
    d = zoo.dataset(e)
    assert d.x.shape[1:] == (20, 20, 1) and d.class_names[:2] == ("circle", "ring")
    (tmp_path / "zoo.yml").write_text("models:\n  - {name: m, source: file, path: m.keras, dataset: digits}\n")
    rgb = _zoo_kinds.functional_rgb(10, (28, 28, 3))
    rgb.save(tmp_path / "m.keras")
    d = zoo.dataset(zoo.entry("m", tmp_path / "zoo.yml"))
    assert d.x.shape[1:] == (28, 28, 3) and np.allclose(d.x[..., 0], d.x[..., 2])


def test_application_size_must_match_imagenet_weights(tmp_path):
    _read_refused(
        tmp_path,
        "models:\n  - name: x\n    source: keras.applications\n    application: VGG16\n    input_shape: [64, 64, 3]\n",
        r"zoo.yml:5: VGG16 with ImageNet weights takes input_shape \[224, 224, 3\].*weights: null",
    )


@pytest.mark.slow
@default_backend_only("where a render reads its zoo and cache does not depend on the backend")
def test_render_out_of_the_project_uses_the_projects_zoo_and_cache(kinds, monkeypatch, tmp_path):
    """`convviz render MODEL --out /elsewhere` from the project folder: the pages still read
    the project's zoo file and fill the project's cache (they run in the output folder)."""
    monkeypatch.delenv("CONVVIZ_ZOO", raising=False)
    monkeypatch.delenv("CONVVIZ_CACHE_DIR", raising=False)
    project = tmp_path / "project"
    project.mkdir()
    for f in kinds.parent.iterdir():  # the zoo folder is a project: zoo.yml and its models
        (project / f.name).symlink_to(f)
    monkeypatch.chdir(project)
    out = tmp_path / "elsewhere"
    manifest, _ = _render_only(("latent",), "gray-sequential", out)
    assert set(manifest["pages"]) == {"latent", "explorer"}
    assert sorted((out / "gray-sequential").glob("latent_*.png"))
    assert {"embeddings", "projection"} <= {p.name.split("-")[0] for p in (project / ".convviz-cache").iterdir()}
    assert not list(out.rglob(".convviz-cache")) and "CONVVIZ_ZOO" not in os.environ
    # the site build's workers: numbers without figures, the explorer where the site wants it
    bare, pages = tmp_path / "bare", tmp_path / "gallery"
    again = site.render("gray-sequential", what=("latent",), out=bare, progress=False, figures=False, pages_out=pages)
    assert again["pages"]["latent"]["trustworthiness_umap"] == manifest["pages"]["latent"]["trustworthiness_umap"]
    assert not list(bare.rglob("*.png")) and not (bare / "gray-sequential" / "explorer").exists()
    assert (pages / "gray-sequential" / "explorer" / "data.json").is_file() and again["pages"]["explorer"]["written"]
    third = site.render("gray-sequential", what=("latent",), out=bare, progress=False, figures=False, pages_out=pages)
    assert third["pages"]["explorer"]["written"] is False  # up to date: not written again


def _render_only(what, name, out):
    buf = io.StringIO()
    with redirect_stdout(buf):
        manifest = site.render(name, what=what, out=out, progress=False)
    return manifest, buf.getvalue()


@pytest.mark.slow  # over 2 s
@pytest.mark.parametrize("application", ["MobileNetV2", "ConvNeXtTiny"])
def test_twins_are_the_same_model_at_every_load(application):
    """A `weights: null` twin is drawn from fixed seeds (nested blocks included): every page and
    every process explains the same network, and its cached results are found again."""
    from convviz.zoo import architectures as models
    from convviz.store.cache import model_digest

    a = models.build_application(application, weights=None, input_size=32)
    keras.Sequential([keras.Input((3, 2)), keras.layers.GlobalAveragePooling1D()])  # Keras' name counters move on
    b = models.build_application(application, weights=None, input_size=32)
    assert model_digest(a) == model_digest(b)  # the same layer names and weights
    assert [layer.name for layer in a.layers[-1].layers] == [layer.name for layer in b.layers[-1].layers]
    x = np.random.default_rng(0).uniform(0, 1, (2, 32, 32, 3)).astype(np.float32)
    np.testing.assert_array_equal(convviz.predict(a, x), convviz.predict(b, x))


def test_a_model_with_rescaling_inside_takes_uint8_as_the_guide_says(tmp_path):
    """The chapter's models rescale inside (``Rescaling(1/255)`` first): they were trained on
    [0, 255] pixels, so their entry says ``preprocess: uint8``, and the guide says so."""
    import re
    from pathlib import Path

    inp = keras.Input((8, 8, 3))
    out = keras.layers.Dense(2)(keras.layers.Flatten()(keras.layers.Rescaling(1 / 255)(inp)))
    raw = keras.Model(inp, out)
    raw.save(tmp_path / "m.keras")
    (tmp_path / "zoo.yml").write_text(
        "models:\n  - {name: m, source: file, path: m.keras, dataset: shapes, preprocess: uint8}\n"
    )
    model = zoo.load(zoo.entry("m", tmp_path / "zoo.yml"))
    x = np.random.default_rng(2).random((3, 8, 8, 3)).astype(np.float32)  # convviz's [0, 1] images
    expected = keras.ops.convert_to_numpy(raw(x * 255))
    np.testing.assert_allclose(keras.ops.convert_to_numpy(model(x)), expected, rtol=1e-5, atol=1e-6)
    guide = (Path(__file__).resolve().parents[1] / "docs" / "add-your-model.md").read_text(encoding="utf-8")
    row = next(line for line in guide.splitlines() if "Rescaling(1/255)" in line and line.startswith("|"))
    assert re.match(r"\| `uint8` \|", row), row
