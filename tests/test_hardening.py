"""Bad input everywhere gets a clear error; property-based checks; offline by construction."""

import socket

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from convviz import zoo
from convviz.core.checks import check_images
from convviz.zoo import folders as folders_module
from conftest import small_functional


def test_network_is_refused_in_tests():
    with pytest.raises(RuntimeError, match="network connection"):
        socket.create_connection(("203.0.113.1", 80), timeout=1)


def test_loading_the_zoo_opens_no_connection():
    entries = zoo.read()
    assert all(zoo.usable(e)[0] in (True, False) for e in entries)  # the guard would have raised


def test_huge_image_is_downscaled_with_a_warning(tmp_path):
    from PIL import Image

    Image.new("RGB", (5000, 20), (10, 20, 30)).save(tmp_path / "wide.png")
    with pytest.warns(RuntimeWarning, match="downscaled"):
        img = folders_module.load_image(tmp_path / "wide.png")
    assert max(img.shape[:2]) <= folders_module.MAX_SIDE


def test_tiny_image_is_refused(tmp_path):
    from PIL import Image

    Image.new("RGB", (4, 40)).save(tmp_path / "tiny.png")
    with pytest.raises(ValueError, match="too small"):
        folders_module.load_image(tmp_path / "tiny.png")


def test_empty_folder_dataset(tmp_path):
    (tmp_path / "data" / "cats").mkdir(parents=True)
    with pytest.raises(ValueError, match="no readable images found"):
        folders_module.load_folder(tmp_path / "data", size=(16, 16))


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    mode=st.sampled_from(["L", "RGB", "RGBA", "P", "LA", "I;16"]),
    w=st.integers(8, 64),
    h=st.integers(8, 64),
    seed=st.integers(0, 2**16),
    channels=st.sampled_from([1, 3]),
    size=st.none() | st.tuples(st.integers(8, 40), st.integers(8, 40)),
)
def test_load_image_property(tmp_path, mode, w, h, seed, channels, size):
    from PIL import Image

    rng = np.random.default_rng(seed)
    base = Image.fromarray(rng.integers(0, 255, (h, w, 3), dtype=np.uint8))
    img = base.convert(mode)
    path = tmp_path / f"x_{mode.replace(';', '')}.png"
    img.save(path)
    out = folders_module.load_image(path, size=size, channels=channels)
    assert out.dtype == np.float32 and out.ndim == 3 and out.shape[-1] == channels
    assert out.shape[:2] == ((h, w) if size is None else size)
    assert np.isfinite(out).all() and out.min() >= 0 and out.max() <= 1


@settings(max_examples=40, deadline=None)
@given(
    st.one_of(st.floats(allow_nan=True, allow_infinity=True, width=32), st.integers(-3, 3)).flatmap(
        lambda v: st.tuples(
            st.just(v),
            st.sampled_from([(2, 16, 16, 3), (16, 16, 3), (1, 16, 16, 1), (0, 16, 16, 3), (16, 16), (2, 8, 8, 3, 1)]),
        )
    )
)
def test_check_images_property(case):
    value, shape = case
    model = small_functional()
    x = np.full(shape, value, dtype=np.float32)
    try:
        out = check_images(model, x)
    except ValueError as exc:  # a clear error that names the problem, never anything else
        assert any(w in str(exc) for w in ("channel", "empty", "NaN", "shape", "numeric"))
    else:
        assert out.dtype == np.float32 and np.isfinite(out).all() and out.ndim == 4


_KEYS = [
    "name",
    "source",
    "architecture",
    "dataset",
    "epochs",
    "seed",
    "augment",
    "application",
    "weights",
    "path",
    "class_names",
    "layers",
    "input_shape",
    "bogus",
    "min_accuracy",
]
_VALUES = st.one_of(
    st.text(max_size=12),
    st.integers(-5, 50),
    st.floats(allow_nan=False),
    st.booleans(),
    st.none(),
    st.lists(st.text(max_size=5), max_size=3),
    st.lists(st.integers(0, 300), max_size=4),
    st.sampled_from(
        [
            "trained",
            "file",
            "keras.applications",
            "plain_cnn",
            "digits",
            "shapes",
            "Xception",
            "imagenet",
            "dihedral",
            "m1",
        ]
    ),
)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.dictionaries(st.sampled_from(_KEYS), _VALUES, max_size=8), max_size=3))
def test_zoo_parsing_property(entries):
    import yaml

    text = yaml.safe_dump({"models": entries})
    try:
        parsed = zoo.parse(text)
    except zoo.ZooError as exc:
        msg = str(exc)
        assert msg and ("<zoo>" in msg or "zoo model" in msg)
    else:
        assert len(parsed) == len(entries)
        assert len({e.name for e in parsed}) == len(parsed)
        for e in parsed:
            assert e.source in zoo.SOURCES


def test_custom_object_is_refused(tmp_path):
    import keras

    @keras.saving.register_keras_serializable(package="convviz_test")
    class Double(keras.layers.Layer):
        def call(self, x):
            return x * 2

    inp = keras.Input((4,))
    keras.Model(inp, Double()(inp)).save(tmp_path / "custom.keras")
    keras.saving.get_custom_objects().pop("convviz_test>Double")
    (tmp_path / "z.yml").write_text(
        "models:\n  - name: c\n    source: file\n    path: custom.keras\n    dataset: x\n    class_names: [a]\n"
    )
    with pytest.raises(zoo.ZooError, match="custom layer or object that is not registered"):
        zoo.load(zoo.entry("c", tmp_path / "z.yml"))
