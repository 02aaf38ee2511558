"""Class visualizations on a hand-weighted model whose class scores are known."""

from __future__ import annotations

import keras
import numpy as np
import pytest

import convviz
from convviz.site.class_data import shown_classes

L = keras.layers


@pytest.fixture(scope="module")
def color_model():
    """Score 0 = mean red, score 1 = mean blue, score 2 = mean green, then a softmax."""
    inp = keras.Input((24, 24, 3))
    x = L.GlobalAveragePooling2D()(inp)
    out = L.Dense(3, activation="softmax", name="scores")(x)
    m = keras.Model(inp, out)
    m.get_layer("scores").set_weights(
        [np.array([[1, 0, 0], [0, 0, 1], [0, 1, 0]], "float32") * 4, np.zeros(3, "float32")]
    )
    return m


@pytest.mark.slow
def test_each_class_image_raises_its_own_score(color_model):
    p = convviz.visualize_classes(color_model, [0, 1, 2], steps=24, crop=0)
    assert p.layer == "logits" and p.filters.tolist() == [0, 1, 2] and p.images.shape == (3, 24, 24, 3)
    means = p.raw.mean(axis=(1, 2))  # (classes, RGB)
    assert means[0].argmax() == 0 and means[1].argmax() == 2 and means[2].argmax() == 1
    # the reported score is the logit (before the softmax) of the raw image
    logits = 4 * means[:, [0, 2, 1]]
    np.testing.assert_allclose(p.losses, logits[np.arange(3), np.arange(3)], rtol=1e-4)


def test_class_visualizations_are_cached(color_model, tmp_path):
    from convviz.store.cache import Cache

    store = Cache(tmp_path)
    a = convviz.visualize_classes(color_model, 2, steps=8, cache=store)
    b = convviz.visualize_classes(color_model, 2, steps=8, cache=store)
    np.testing.assert_array_equal(a.images, b.images)
    assert len([p for p in tmp_path.iterdir() if not p.name.startswith(".")]) == 1


def test_bad_classes_name_the_valid_range(color_model):
    with pytest.raises(
        ValueError,
        match=r"filter indices \[3\] out of range: layer 'the output' has 3 filters "
        r"\(valid 0..2\)",
    ):
        convviz.visualize_classes(color_model, [0, 3])
    conv = keras.Sequential([keras.Input((8, 8, 1)), L.Conv2D(2, 3)])
    with pytest.raises(ValueError, match=r"must output class scores \(batch, classes\)"):
        convviz.visualize_classes(conv, 1)


def test_shown_classes_are_those_in_labels_or_predictions():
    y = np.array([0, 0, 2, -1])
    assert shown_classes(y, np.array([0, 5, 2, 7])).tolist() == [0, 2, 5, 7]


# -- the class page's confusions, on a model whose Grad-CAM is known in closed form

HOSTILE = '<img src=x onerror="window.__pwned=1">'


def build_channel_model():
    """Class c's score is 4 × the mean of channel c (a 1×1 identity conv "feat", then global
    average pooling): its Grad-CAM at "feat" is channel c of the image, times 4/64."""
    inp = keras.Input((8, 8, 3))
    x = L.Conv2D(3, 1, use_bias=False, activation="relu", name="feat")(inp)
    x = L.GlobalAveragePooling2D(name="gap")(x)
    out = L.Dense(3, activation="softmax", name="scores")(x)
    m = keras.Model(inp, out)
    m.get_layer("feat").set_weights([np.eye(3, dtype="float32")[None, None]])
    m.get_layer("scores").set_weights([np.eye(3, dtype="float32") * 4, np.zeros(3, "float32")])
    return m


@pytest.fixture(scope="module")
def channel_model():
    return build_channel_model()


# image i is predicted PRED[i] (its brightest channel); LABEL[i] its label (-1: none)
PRED = [0, 0, 0, 1, 1, 2, 2, 2, 2]
LABEL = [0, 1, 1, 1, 2, 2, 0, 0, -1]


def channel_images() -> np.ndarray:
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 0.5, (len(PRED), 8, 8, 3)).astype("float32")
    for i, p in enumerate(PRED):
        x[i, ..., p] += 0.3 + 0.02 * i  # a different confidence per image
    return x


def expected_pair(x: np.ndarray, i: int, t: int, p: int) -> tuple[np.ndarray, np.ndarray]:
    """The two maps of image i on one scale: channels t and p over the larger one's peak."""
    peak = max(x[i, ..., t].max(), x[i, ..., p].max())
    return x[i, ..., t] / peak, x[i, ..., p] / peak


def test_confusions_group_the_wrong_labelled_images_most_confident_first():
    from convviz.site.class_data import confusions

    y = np.array([0, 1, 1, 2, -1, 1])
    pred = np.array([0, 0, 0, 0, 0, 0])
    probs = np.zeros((6, 3))
    probs[:, 0] = [0.9, 0.5, 0.7, 0.6, 0.99, 0.7]  # 2 and 5 tie: index order
    pairs = confusions(y, pred, probs)
    assert list(pairs) == [(1, 0), (2, 0)]  # the matrix's order; unlabelled 4 is no confusion
    assert pairs[1, 0].tolist() == [2, 5, 1] and pairs[2, 0].tolist() == [3]
    assert confusions(y[:1], pred[:1], probs[:1]) == {}


def test_pair_cams_are_each_class_grad_cam_on_one_scale(channel_model):
    from convviz.site.class_data import pair_cams

    x = channel_images()
    first, second = pair_cams(channel_model, x[:3], np.array([1, 2, 0]), np.array([0, 0, 0]), layer="feat")
    for i, t in enumerate([1, 2, 0]):
        want_t, want_p = expected_pair(x, i, t, 0)
        np.testing.assert_allclose(first[i], want_t, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(second[i], want_p, rtol=1e-5, atol=1e-6)
    assert max(first[i].max(), second[i].max()) == pytest.approx(1)  # the larger map peaks at 1
    empty = pair_cams(channel_model, x[:0], np.zeros(0, int), np.zeros(0, int), layer="feat")
    assert empty[0].shape == (0, 8, 8) and empty[1].shape == (0, 8, 8)


def test_class_page_links_each_confusion_to_its_images_and_both_maps(channel_model, tmp_path, monkeypatch):
    """The page of the hand-built model: each off-diagonal count links to a section that holds
    exactly that pair's images (most confident first), each beside its Grad-CAM for the true
    and for the predicted class (the images' channels, on one scale)."""
    import re
    from types import SimpleNamespace

    from PIL import Image

    import convviz.site
    from convviz import zoo
    from convviz.site import class_pages
    from convviz.zoo.splits import Dataset
    from convviz.figures.heatmaps import overlay_heatmap
    from convviz.represent.examples import to_uint8

    x = channel_images()
    names = ("red", HOSTILE, "blue")
    test = Dataset("hand", "test", x, np.array(LABEL), names)
    monkeypatch.setattr(zoo, "load", lambda entry, progress=True: channel_model)
    monkeypatch.setattr(zoo, "dataset", lambda entry, split="test": test)
    monkeypatch.setattr(class_pages, "fingerprint", lambda entry, text, extra="": "stamp")
    entry = SimpleNamespace(
        name="hand", cam_layer=lambda model: "feat", input_shape=x.shape[1:], budget={"class_steps": 4}
    )
    folder = tmp_path / "classes"
    assert class_pages.write_class_pages(entry, folder, progress=False) is not None
    page = (folder / "index.md").read_text()
    assert "<img src=x" not in page and class_pages.markup.text(HOSTILE) in page

    probs = convviz.predict(channel_model, x)
    assert probs.argmax(1).tolist() == PRED
    want = {(1, 0): [2, 1], (2, 1): [4], (0, 2): [7, 6]}  # most confident first
    assert [probs[i, 0] for i in (2, 1)] == sorted([probs[i, 0] for i in (2, 1)], reverse=True)
    sections = dict(re.findall(r"\{#confused-(\d+-\d+)\}\n(.*?)(?=\n### |\n## |\Z)", page, re.S))
    assert set(sections) == {f"{t}-{p}" for t, p in want}
    for (t, p), images in want.items():
        body = sections[f"{t}-{p}"]
        assert [int(j) for j in re.findall(r'src="x(\d+)\.png"', body)] == images
        assert re.findall(r'src="x(\d+)_cam(\d+)\.png"', body) == [(str(j), str(c)) for j in images for c in (t, p)]
        assert body.lstrip().startswith(f"{len(images)} test image{'s' if len(images) > 1 else ''} labelled ")
        # its count in the matrix links here, in the wrong-prediction colour
        assert re.search(
            rf'<a href="#confused-{t}-{p}" title="[^"]*" style="color:var\(--convviz-wrong[^"]*">{len(images)}</a>',
            page,
        )
        for j in images:
            want_t, want_p = expected_pair(x, j, t, p)
            for c, heat in ((t, want_t), (p, want_p)):
                got = np.asarray(Image.open(folder / f"x{j}_cam{c}.png").convert("RGB")).astype(int)
                np.testing.assert_allclose(got, overlay_heatmap(to_uint8(x)[j], heat), atol=1)
            text = class_pages.markup.text
            assert text(f"true: {names[t]} {probs[j, t]:.0%}") in body
            assert text(f"predicted: {names[p]} {probs[j, p]:.0%}") in body
    # the section's computed conclusions: the largest pairs, and where the predicted class's map is the stronger
    text = class_pages.markup.text
    stronger = sum(x[j, ..., p].max() > x[j, ..., t].max() for (t, p), images in want.items() for j in images)
    assert (
        f"The most frequent confusions are {text(f'red taken for blue, {HOSTILE} taken for red')} (2 test images "
        f"each); in {stronger} of the 5 images shown, the predicted class's map peaks higher" in page
    )
    # the diagonal links to the classes; a zero links nowhere
    assert (
        '<td style="font-weight:bold"><a href="#class-0" title="1 test image of red predicted red">1</a></td>' in page
    )
    assert ">0</td>" in page and not re.search(r'href="#confused-0-1"', page)
    # the strips under each class link their images to the confusion they belong to
    assert '<a href="#confused-1-0"><img src="x2.png"' in page
    assert class_pages.write_class_pages(entry, folder, progress=False) is None  # up to date
