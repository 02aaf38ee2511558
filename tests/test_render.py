"""Results keyed on the weights: changing one model's file invalidates only its entries;
cache merging; the render CLI's errors."""

import keras
import numpy as np

import convviz
import pytest

from convviz.store import cache as cache_mod
from convviz import grad_cam, site, zoo
from convviz.store.cache import Cache


def _save(path, seed):
    keras.utils.set_random_seed(seed)
    inp = keras.Input((12, 12, 3))
    x = keras.layers.Conv2D(4, 3, activation="relu", name="conv")(inp)
    x = keras.layers.GlobalAveragePooling2D()(x)
    keras.Model(inp, keras.layers.Dense(2, activation="softmax", name="dense")(x)).save(path)


def _zoo(tmp_path):
    (tmp_path / "data").mkdir(exist_ok=True)
    text = "models:\n" + "".join(
        f"  - name: {n}\n    source: file\n    path: {n}.keras\n    dataset: data\n    class_names: [a, b]\n"
        for n in ("a", "b")
    )
    (tmp_path / "zoo.yml").write_text(text)
    return tmp_path / "zoo.yml"


def _results(store, zoo_file):
    x = np.random.default_rng(0).random((3, 12, 12, 3)).astype(np.float32)
    for name in ("a", "b"):
        model = zoo.load(zoo.entry(name, zoo_file))
        convviz.visualize_filters(model, "conv", 2, steps=2, crop=1, cache=store)
        grad_cam(model, x, layer="conv", cache=store)


@pytest.mark.slow
def test_changing_one_weights_file_invalidates_only_its_entries(tmp_path):
    _save(tmp_path / "a.keras", 1)
    _save(tmp_path / "b.keras", 2)
    zoo_file = _zoo(tmp_path)
    store = Cache(tmp_path / "cache")
    _results(store, zoo_file)
    first = set(store.keys())
    assert len(first) == 4
    fp_b = site.fingerprint(zoo.entry("b", zoo_file), "t")
    fp_a = site.fingerprint(zoo.entry("a", zoo_file), "t")
    _save(tmp_path / "a.keras", 3)  # new weights for model a only
    _results(store, zoo_file)
    added = set(store.keys()) - first
    assert len(added) == 2  # a's filters and CAM; b's two results were reused
    assert site.fingerprint(zoo.entry("b", zoo_file), "t") == fp_b  # b's pages do not re-run
    assert site.fingerprint(zoo.entry("a", zoo_file), "t") != fp_a  # a's pages do


def test_cached_results_equal_computed(tmp_path):
    _save(tmp_path / "a.keras", 1)
    model = keras.saving.load_model(tmp_path / "a.keras")
    store = Cache(tmp_path / "c")
    x = np.random.default_rng(1).random((2, 12, 12, 3)).astype(np.float32)
    direct = grad_cam(model, x)
    np.testing.assert_allclose(grad_cam(model, x, cache=store), direct, atol=1e-6)
    np.testing.assert_allclose(grad_cam(model, x, cache=store), direct, atol=1e-6)  # from the cache
    p = convviz.visualize_filters(model, "conv", 2, steps=2, crop=1, cache=store)
    q = convviz.visualize_filters(model, "conv", 2, steps=2, crop=1, cache=store)
    np.testing.assert_array_equal(p.raw, q.raw)
    assert p.seconds == q.seconds and p.dead.dtype == bool


def test_merge_copies_valid_entries_and_skips_corrupt(tmp_path):
    a, b = Cache(tmp_path / "a"), Cache(tmp_path / "b")
    a.put_bytes("k1", b"one")
    b.put_bytes("k2", b"two")
    b.put_bytes("k3", b"three")
    (tmp_path / "b" / "k3").write_bytes(b"garbage")
    assert cache_mod.merge([tmp_path / "a", tmp_path / "b"], tmp_path / "m") == 2
    m = Cache(tmp_path / "m")
    assert m.keys() == ["k1", "k2"] and m.get_bytes("k2") == b"two"
    assert cache_mod.merge([tmp_path / "a"], tmp_path / "m") == 0  # already there


def test_model_digest_tracks_weights():
    inp = keras.Input((4,))
    dense = keras.layers.Dense(2)
    model = keras.Model(inp, dense(inp))
    d1 = cache_mod.model_digest(model)
    assert cache_mod.model_digest(model) == d1
    dense.set_weights([w + 1 for w in dense.get_weights()])
    assert cache_mod.model_digest(model) != d1


def test_model_digest_tracks_the_architecture_it_keeps():
    """The architecture's JSON is kept on the model between digests, and made again when a
    layer is added, removed or frozen, in the model or in a nested one."""
    inner = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, name="d1")], name="inner")
    model = keras.Sequential([keras.Input((4,)), inner], name="outer")
    digests = [cache_mod.model_digest(model)]
    assert model._convviz_architecture[1] == model.to_json()
    inner.add(keras.layers.Dense(2, name="d2"))
    digests.append(cache_mod.model_digest(model))
    inner.layers[-1].trainable = False
    digests.append(cache_mod.model_digest(model))
    inner.pop()
    digests.append(cache_mod.model_digest(model))
    assert model._convviz_architecture[1] == model.to_json()
    assert len(set(digests[:3])) == 3 and digests[3] == digests[0]


def test_render_rejects_unknown_pages_and_models(tmp_path, monkeypatch):
    _save(tmp_path / "a.keras", 1)
    _save(tmp_path / "b.keras", 2)
    monkeypatch.setenv("CONVVIZ_ZOO", str(_zoo(tmp_path)))
    with pytest.raises(ValueError, match="valid: activations, filters, cam, attributions, latent"):
        site.render("a", what=["heatmaps"], out=tmp_path / "r")
    with pytest.raises(ValueError, match="unknown zoo model 'c'"):
        site.render("c", out=tmp_path / "r")
