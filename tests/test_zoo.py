"""Zoo parsing and validation (errors name the key and line), loading, caching."""

import textwrap
from pathlib import Path
import time

import keras
import numpy as np
import pytest

from conftest import default_backend_only
from convviz import zoo
from convviz.zoo.errors import ZooError

GOOD = """\
models:
  - name: tiny
    source: trained
    architecture: plain_cnn
    dataset: digits
    epochs: 1
  - name: img
    source: keras.applications
    application: MobileNetV2
"""


def write(tmp_path, text):
    p = tmp_path / "zoo.yml"
    p.write_text(textwrap.dedent(text))
    return p


def test_names_and_entry(tmp_path):
    p = write(tmp_path, GOOD)
    assert zoo.names(p) == ["tiny", "img"]
    e = zoo.entry("tiny", p)
    assert e.dataset == "digits" and e.input_shape == (32, 32, 1)
    assert e.class_names == tuple("0123456789")
    assert e.cam_layer(e.structure) == "conv3"
    img = zoo.entry("img", p)
    assert img.dataset == "photos" and img.input_shape == (224, 224, 3)
    assert img.options["weights"] == "imagenet"


def test_unknown_name_lists_valid(tmp_path):
    p = write(tmp_path, GOOD)
    with pytest.raises(ValueError, match=r"unknown zoo model 'tiny2'.*Did you mean 'tiny'.*tiny, img"):
        zoo.entry("tiny2", p)


@pytest.mark.parametrize(
    "text,match",
    [
        (
            "models:\n  - name: a\n    source: trained\n    architecture: plain_cnn\n    dataset: digits\n    epoch: 3\n",
            r":6: unknown key 'epoch' \(did you mean 'epochs'\?\)",
        ),
        (
            "models:\n  - name: a\n    source: trained\n    architecture: plain_cnn\n    dataset: digits\n    epochs: three\n",
            r":6: 'epochs' must be an integer, got 'three'",
        ),
        (
            "models:\n  - name: a\n    source: magic\n",
            r":3: unknown source 'magic'; valid: trained, keras.applications, file",
        ),
        (
            "models:\n  - name: a\n    source: trained\n    architecture: resnet9000\n    dataset: digits\n",
            r":4: unknown architecture 'resnet9000'; valid: plain_cnn, vgg_cnn, mini_xception",
        ),
        (
            "models:\n  - name: a\n    source: trained\n    architecture: plain_cnn\n    dataset: digits\n"
            "  - name: a\n    source: trained\n    architecture: plain_cnn\n    dataset: digits\n",
            r":6: duplicate model name 'a' \(first defined at line 2\)",
        ),
        (
            "models:\n  - name: a\n    source: trained\n    architecture: plain_cnn\n    dataset: digits\n    compare_to: nope\n",
            r":2: model 'a' has compare_to 'nope', which is not in the zoo; name another entry \(none\)",
        ),
        (
            "models:\n  - name: a\n    source: trained\n    architecture: plain_cnn\n    dataset: digits\n    compare_to: a\n",
            r"model 'a' has compare_to itself",
        ),
        (
            'models:\n  - name: a\n    source: trained\n    architecture: plain_cnn\n    dataset: digits\n    compare_to: "a@"\n',
            r":6: compare_to must be a zoo entry name, NAME@REV",
        ),
        (
            "models:\n  - name: a\n    source: trained\n    architecture: plain_cnn\n    dataset: digits\n    compare_to: {depth: 3}\n",
            r":6: compare_to cannot change 'depth'; valid keys: epochs, batch_size, learning_rate, seed, augment",
        ),
        (
            "models:\n  - name: a\n    source: trained\n    architecture: plain_cnn\n    dataset: digits\n    compare_to: {seed: x}\n",
            r":6: compare_to 'seed' must be an integer, got 'x'",
        ),
        (
            "models:\n  - name: a\n    source: trained\n    architecture: plain_cnn\n    dataset: digits\n    compare_to: {augment: spin}\n",
            r"compare_to augment 'spin' is unknown; valid: none",
        ),
        (
            "models:\n  - name: a\n    source: trained\n    architecture: plain_cnn\n    dataset: digits\n    compare_to: {}\n",
            r"compare_to mapping is empty",
        ),
        (
            "models:\n  - name: a\n    source: file\n    path: m.keras\n    dataset: x\n    compare_to: {seed: 1}\n",
            r"a compare_to mapping \(a variant's recipe\) needs a trained entry, not source 'file'",
        ),
        ("models:\n  - source: trained\n", r":2: model entry has no 'name'"),
        ("models:\n  - name: a\n    source: trained\n    dataset: digits\n", r"needs the key 'architecture'"),
        ("models:\n  - name: a b\n    source: trained\n", r"must be non-empty and use only letters"),
        ("modles: []\n", r":1: unknown top-level key 'modles'"),
        ("", r"empty"),
        ("models: [\n", r"not valid YAML"),
        (
            "models:\n  - name: a\n    source: keras.applications\n    application: AlexNet\n",
            r":4: unknown application 'AlexNet'; valid: Xception",
        ),
        (
            "models:\n  - name: a\n    source: trained\n    architecture: plain_cnn\n    dataset: digits\n    epochs: true\n",
            r"'epochs' must be an integer, got True",
        ),
        (
            "models:\n  - name: a\n    source: file\n    path: m.keras\n    dataset: x\n    input_shape: [3, 3]\n",
            r":6: input_shape must be \[height, width, channels\]",
        ),
        (
            "models:\n  - name: a\n    source: trained\n    architecture: plain_cnn\n    dataset: digits\n    units: some\n",
            r":6: units must be 'all', 'none' or a list of layer names, got 'some'",
        ),
        (
            "models:\n  - name: a\n    source: trained\n    architecture: plain_cnn\n    dataset: digits\n    units: 3\n",
            r"'units' must be a string or a list, got 3",
        ),
        (
            "models:\n  - name: a\n    source: trained\n    architecture: plain_cnn\n    dataset: digits\n"
            "    budget: {filters: 8, ig_step: 4}\n",
            r":6: unknown budget knob 'ig_step'; valid: passes, filters, filter_size",
        ),
        (
            "models:\n  - name: a\n    source: trained\n    architecture: plain_cnn\n    dataset: digits\n"
            "    budget: {filters: 0}\n",
            r":6: budget filters must be an integer ≥ 1, got 0",
        ),
        (
            "models:\n  - name: a\n    source: trained\n    architecture: plain_cnn\n    dataset: digits\n"
            "    budget: 8\n",
            r":6: 'budget' must be dict, got 8",
        ),
    ],
)
def test_validation_errors_name_key_and_line(tmp_path, text, match):
    p = write(tmp_path, text)
    with pytest.raises(ZooError, match=match):
        zoo.read(p)


def test_missing_zoo_file(tmp_path):
    with pytest.raises(ZooError, match="zoo file not found"):
        zoo.read(tmp_path / "nope.yml")


def test_imagenet_entry_without_weights_is_skipped_clearly(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    monkeypatch.delenv("CONVVIZ_ALLOW_DOWNLOAD", raising=False)
    p = write(tmp_path, GOOD)
    ok, why = zoo.usable(zoo.entry("img", p))
    assert not ok and "not in the Keras cache" in why
    with pytest.raises(ZooError, match="not usable here"):
        zoo.load(zoo.entry("img", p))


@pytest.mark.slow
def test_application_builds_with_preprocessing_inside():
    from convviz.zoo import architectures as models

    m = models.build_application("MobileNetV2", weights=None, input_size=96)
    assert m.input_shape == (None, 96, 96, 3) and m.output_shape == (None, 1000)
    assert m.layers[1].name == "preprocess"
    from convviz.graph.layers import conv_layers, last_conv_layer

    assert last_conv_layer(m) == "out_relu"
    assert "block_16_project" in conv_layers(m)


def test_caffe_preprocessing_matches_keras_reference():
    from convviz.zoo import architectures as models

    m = models.build_application("VGG16", weights=None, input_size=32)
    pre = keras.Model(m.inputs, m.get_layer("preprocess").output)
    x = np.random.default_rng(0).random((2, 32, 32, 3)).astype(np.float32)
    ref = keras.applications.vgg16.preprocess_input(x * 255.0)
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(pre(x)), keras.ops.convert_to_numpy(ref), rtol=1e-5, atol=1e-3
    )


@pytest.mark.slow
def test_trained_entry_is_cached(tmp_path):
    p = write(tmp_path, GOOD)
    e = zoo.entry("tiny", p)
    t0 = time.perf_counter()
    m1 = zoo.load(e, progress=False)
    first = time.perf_counter() - t0
    t0 = time.perf_counter()
    m2 = zoo.load(e, progress=False)
    second = time.perf_counter() - t0
    assert second < first
    for w1, w2 in zip(m1.get_weights(), m2.get_weights()):
        np.testing.assert_array_equal(w1, w2)
    acc = zoo.test_accuracy(e)
    assert 0.5 < acc <= 1.0  # one epoch on digits is far above chance (0.1)


def _save_model(path, *, with_lambda=False):
    inp = keras.Input((8, 8, 1))
    x = keras.layers.Conv2D(2, 3, name="c")(inp)
    if with_lambda:
        x = keras.layers.Lambda(lambda t: t * 2.0, name="double")(x)
    model = keras.Model(inp, keras.layers.Dense(2)(keras.layers.Flatten()(x)))
    model.save(path)
    return model


def test_file_entry_loads_and_lambda_is_refused(tmp_path):
    (tmp_path / "data" / "a").mkdir(parents=True)
    _save_model(tmp_path / "ok.keras")
    _save_model(tmp_path / "lam.keras", with_lambda=True)
    p = write(
        tmp_path,
        """\
        models:
          - name: ok
            source: file
            path: ok.keras
            dataset: data
            class_names: [a, b]
          - name: lam
            source: file
            path: lam.keras
            dataset: data
            class_names: [a, b]
          - name: lam-trusted
            source: file
            path: lam.keras
            dataset: data
            class_names: [a, b]
            trust_code: true
          - name: missing
            source: file
            path: nope.keras
            dataset: data
        """,
    )
    assert zoo.load(zoo.entry("ok", p)).output_shape == (None, 2)
    assert zoo.entry("ok", p).input_shape == (8, 8, 1)
    assert zoo.load(zoo.entry("lam-trusted", p)).get_layer("double") is not None
    with pytest.raises(ZooError, match="safe mode.*trust_code: true"):  # the same file, loaded trusted before
        zoo.load(zoo.entry("lam", p))
    assert zoo.usable(zoo.entry("missing", p)) == (False, f"model file not found: {tmp_path / 'nope.keras'}")
    (tmp_path / "corrupt.keras").write_bytes(b"PK\x03\x04garbage")
    bad = write(tmp_path, "models:\n  - name: c\n    source: file\n    path: corrupt.keras\n    dataset: data\n")
    with pytest.raises(ZooError, match="not a valid .keras model file"):
        zoo.load(zoo.entry("c", bad))


def test_a_model_loaded_again_is_the_same_until_it_changes(tmp_path):
    """Each page loads its model: the second load is the first model object (its compiled
    functions with it), unless that model was changed in place or its file changed."""
    (tmp_path / "data" / "a").mkdir(parents=True)
    _save_model(tmp_path / "m.keras")
    p = write(tmp_path, "models:\n  - name: m\n    source: file\n    path: m.keras\n    dataset: data\n")
    first = zoo.load(zoo.entry("m", p))
    assert zoo.load(zoo.entry("m", p)) is first
    saved = [np.array(w) for w in first.get_weights()]
    first.set_weights([np.zeros_like(w) for w in saved])  # a page changed it in place
    again = zoo.load(zoo.entry("m", p))
    assert again is not first
    for w, s in zip(again.get_weights(), saved):
        np.testing.assert_array_equal(w, s)
    model = _save_model(tmp_path / "m.keras")  # another file, same path
    changed = zoo.load(zoo.entry("m", p))
    assert changed is not again
    np.testing.assert_array_equal(changed.get_weights()[0], model.get_weights()[0])


def test_default_zoo_is_valid():
    entries = zoo.read()
    names = [e.name for e in entries]
    assert {"digits-cnn", "shapes-cnn", "shapes-xception"} <= set(names)
    assert zoo.entry("shapes-xception").options["architecture"] == "mini_xception"


@pytest.mark.slow  # generates the shapes test split (seconds)
@pytest.mark.parametrize("dataset", ["shapes", "digits"])
def test_shape_and_classes_of_a_trained_entry_match_its_data_without_generating_it(monkeypatch, dataset):
    from convviz.zoo import datasets, shapes

    text = f"models:\n  - name: s\n    source: trained\n    architecture: vgg_cnn\n    dataset: {dataset}\n"
    e = zoo.parse(text)[0]
    with monkeypatch.context() as m:
        m.setattr(shapes, "generate_shapes", lambda *a, **k: pytest.fail("generated the shapes"))
        m.setattr(datasets, "_digits", lambda *a, **k: pytest.fail("loaded the digits"))
        datasets._load_cached.cache_clear()
        shape, names = e.input_shape, e.class_names
    datasets._load_cached.cache_clear()
    d = datasets.load(dataset, "test")
    assert shape == d.x.shape[1:] and names == d.class_names


def test_the_catalog_names_what_models_builds():
    """The zoo checks names against convviz.zoo.catalog (no Keras import); models builds them."""
    from convviz.zoo import catalog as _catalog
    from convviz.zoo import architectures as models

    assert _catalog.ARCHITECTURE_NAMES == tuple(models.ARCHITECTURES)
    assert all(f.__name__ == name for name, f in models.ARCHITECTURES.items())  # training_code reads them by name
    assert models.APPLICATIONS is _catalog.APPLICATIONS and models.AUGMENTATIONS is _catalog.AUGMENTATIONS


@pytest.mark.parametrize("architecture", ["plain_cnn", "vgg_cnn", "mini_xception"])
def test_training_code_is_the_digest_of_the_code_training_reaches(architecture):
    """The architecture's own function, the loop, the dataset generators: nothing of another
    architecture, the cache, the site, the command line or the catalog of applications."""
    from convviz.store.reach import reached, reached_digest

    roots = (("zoo.architectures", architecture), ("zoo.training", "train_entry"))
    exclude = (("zoo.architectures", "ARCHITECTURES"), ("zoo.entry", "ZooEntry"))
    got = reached(*roots, exclude=exclude)
    assert zoo.training_code(architecture) == reached_digest(*roots, exclude=exclude)
    names = {f"{m}.{n}" for m, n in got}
    assert {f"zoo.architectures.{architecture}", "zoo.architectures.train", "core.backend.seed_everything"} <= names
    assert {"zoo.shapes.generate_shapes", "zoo.folders.load_folder", "zoo.entries.dataset"} <= names
    others = {"plain_cnn", "vgg_cnn", "mini_xception"} - {architecture}
    assert not {f"zoo.architectures.{a}" for a in others} & names
    modules = {m for m, _ in got}
    assert not {m for m in modules if m.split(".")[0] in ("store", "site", "cli", "review", "figures")}
    assert "zoo.catalog.APPLICATIONS" not in names
    assert len({zoo.training_code(a) for a in ("plain_cnn", "vgg_cnn", "mini_xception")}) == 3
    with pytest.raises(ValueError, match="unknown architecture 'nope'; valid: plain_cnn, vgg_cnn, mini_xception"):
        zoo.training_code("nope")


@default_backend_only("the process imports no backend at all")
@pytest.mark.slow  # over 2 s
def test_reading_the_zoo_and_fingerprinting_pages_does_not_import_keras(tmp_path):
    """A rebuild with nothing to compute reads the zoo, keys the models and fingerprints the
    pages: importing Keras and its backend for that took seconds of every rebuild; a cold
    build's configuration loads no model either (its workers do, at the same time)."""
    import subprocess
    import sys

    code = f"""
import sys
from pathlib import Path
import convviz
from convviz import site, zoo
from convviz.store import digests as _code
for e in zoo.read():
    zoo.usable(e)
    e.class_names, e.input_shape
    if e.source == "trained":
        zoo.training.model_key(e)
    site.write_pages(e, Path({str(tmp_path)!r}) / e.name)
_code.environment()
from convviz.site import generate  # the build's configuration: every page script and index
(Path({str(tmp_path)!r}) / "pages").mkdir()
generate.generate_pages(generate.Layout(pages=Path({str(tmp_path)!r}) / "pages", out=Path({str(tmp_path)!r}) / "out"))
assert "grad_cam" in dir(convviz)
assert "keras" not in sys.modules, "keras was imported"
print(convviz.grad_cam.__module__, "keras" in sys.modules)
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=Path(__file__).parents[1])
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split() == ["convviz.attr.cam", "True"]  # the name resolves on first use


def test_the_lazy_namespace_lists_each_public_name_once_where_it_is_defined():
    """convviz/__init__.py names its exports three times (the lazy map, the imports for type
    checkers, __all__): they must agree, and each name must come from its module."""
    import ast
    import importlib

    import convviz

    tree = ast.parse(Path(convviz.__file__).read_text(encoding="utf-8"))
    typed = {
        alias.name: node.module.removeprefix("convviz.")
        for block in tree.body
        if isinstance(block, ast.If)
        for node in block.body
        if isinstance(node, ast.ImportFrom) and node.module
        for alias in node.names
    }
    assert typed == convviz._EXPORTS
    assert sorted(set(convviz.__all__) - {"__version__"}) == sorted(convviz._EXPORTS)
    for name, module in convviz._EXPORTS.items():
        assert hasattr(importlib.import_module(f"convviz.{module}"), name), (name, module)
    with pytest.raises(AttributeError, match="module 'convviz' has no attribute 'nope'"):
        convviz.nope  # noqa: B018


def test_a_model_is_stored_without_a_warning():
    """Saving a model to the cache printed NumPy 2's `copy` DeprecationWarning into the page
    that trained it (TensorFlow's variables)."""
    import warnings

    from conftest import small_functional
    from convviz.zoo.training import model_from_bytes as _model_from_bytes, model_to_bytes as _model_to_bytes

    model = small_functional()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        payload = _model_to_bytes(model)
    assert not [str(w.message) for w in caught], [str(w.message) for w in caught]
    back = _model_from_bytes(payload)
    for a, b in zip(model.weights, back.weights):
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(a), keras.ops.convert_to_numpy(b))
