"""Concepts (CRAFT-style): the factorization, the Sobol estimator, and a hand-built model whose
layer has two known concepts (red blobs, green vertical stripes) and a head that uses one."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from convviz.core.errors import InputError
from convviz.represent.concepts import concept_logits, concept_maps, concepts, crop_boxes, default_concept_layer
from convviz.represent.factorize import choose_bank, fit_bank, project_onto, r2_score
from convviz.represent.sobol import sobol_design, total_indices

L = keras.layers
RED_GAINS = np.array([1.0, 0.7, 0.5])
STRIPE_GAINS = np.array([0.9, 0.6, 0.4])


# -- the factorization


def test_fit_bank_recovers_a_known_factorization():
    rng = np.random.default_rng(0)
    w0 = np.array([[1.0, 1, 0, 0, 0], [0, 0, 1, 1, 1]])
    u0 = rng.uniform(0, 2, (200, 2))
    u, w = fit_bank(u0 @ w0, 2)
    assert r2_score(u0 @ w0, u, w) > 0.999
    assert np.allclose(np.linalg.norm(w, axis=1), 1, atol=1e-5)
    # each concept is one of the true directions, up to order
    cos = (w / np.linalg.norm(w, axis=1, keepdims=True)) @ (w0 / np.linalg.norm(w0, axis=1, keepdims=True)).T
    assert np.sort(cos.max(axis=1)).min() > 0.999


def test_choose_bank_takes_the_smallest_k_that_reconstructs():
    rng = np.random.default_rng(1)
    w0 = np.kron(np.eye(3), np.ones((1, 4))) * rng.uniform(0.5, 1, (3, 12))  # disjoint channels
    a = rng.exponential(1, (300, 3)) * (rng.uniform(size=(300, 3)) < 0.5) @ w0  # sparse parts
    u, w, r2 = choose_bank(a)
    assert len(w) == 3 and len(r2) == 3
    assert r2[-1] >= 0.9 > r2[-2]
    assert choose_bank(a, k=5)[1].shape == (5, 12)


def test_r2_of_the_mean_is_zero_and_of_the_truth_one():
    a = np.array([[1.0, 2], [3, 4], [5, 6]])
    assert r2_score(a, np.ones((3, 1)), a.mean(axis=0, keepdims=True)) == pytest.approx(0.0)
    assert r2_score(a, np.eye(3), a) == pytest.approx(1.0)


def test_project_onto_solves_nonnegative_least_squares():
    w = np.array([[1.0, 0, 0], [0.6, 0.8, 0]])
    u0 = np.array([[2.0, 1.0], [0.0, 3.0], [1.0, 0.0]])
    assert np.allclose(project_onto(u0 @ w, w), u0, atol=1e-3)
    # a direction the bank cannot reach gets no negative coefficient
    assert (project_onto(np.array([[0.0, 0.0, 1.0], [0.0, 1.0, 0.0]]), w) >= 0).all()


def test_negative_activations_are_refused_with_the_reason():
    with pytest.raises(InputError, match="negative values.*after a ReLU"):
        fit_bank(np.array([[1.0, -1.0], [0.5, 0.5]]), 1)
    with pytest.raises(InputError, match="k must be between 1 and 2"):
        fit_bank(np.ones((4, 2)), 3)


# -- Sobol total indices


def _indices(f, k, n=256):
    design = sobol_design(k, n, seed=0)
    return total_indices(f(design), k)


def test_sobol_design_shape_and_columns():
    d = sobol_design(3, 8, seed=1)
    assert d.shape == (8 * 5, 3) and (d >= 0).all() and (d <= 1).all()
    a, b, c = d[:8], d[8:16], d[16:].reshape(3, 8, 3)
    for i in range(3):
        assert np.array_equal(c[i][:, i], b[:, i])
        assert np.array_equal(np.delete(c[i], i, axis=1), np.delete(a, i, axis=1))
    assert np.array_equal(d, sobol_design(3, 8, seed=1))


def test_total_indices_of_known_functions():
    # only x0 matters
    assert np.allclose(_indices(lambda m: m[:, 0], 2), [1, 0], atol=0.02)
    # additive 2 x0 + x1: variances 4 : 1 of uniform inputs
    assert np.allclose(_indices(lambda m: 2 * m[:, 0] + m[:, 1], 2), [0.8, 0.2], atol=0.03)
    # a pure interaction: each input takes part in all the variance
    st = _indices(lambda m: (m[:, 0] - 0.5) * (m[:, 1] - 0.5), 2)
    assert np.allclose(st, [1, 1], atol=0.05)
    assert np.array_equal(total_indices(np.zeros(4 * 8), 2), [0, 0])
    with pytest.raises(InputError, match="design of 2 inputs"):
        total_indices(np.zeros(7), 2)


# -- a hand-built model with two known concepts


def _known_model() -> keras.Model:
    """Channels 0-2 see red (R − G − B), channels 3-5 green vertical stripes (G's horizontal
    second difference); class 0's logit is the red channels' mean (×4), class 1's the stripes'."""
    kernel = np.zeros((3, 3, 3, 6), np.float32)
    for c, g in enumerate(RED_GAINS):
        kernel[1, 1, :, c] = g * np.array([1.0, -1.0, -1.0])
    for c, g in enumerate(STRIPE_GAINS, start=3):
        kernel[:, :, 1, c] = g * np.array([-1.0, 2.0, -1.0])[None, :] / 3
    dense = np.zeros((6, 2), np.float32)
    dense[:3, 0] = 4.0  # red outweighs the stripes: the images are predicted class 0
    dense[3:, 1] = 1.0
    inp = keras.Input((32, 32, 3))
    conv = L.Conv2D(6, 3, padding="same", name="conv")
    z = conv(inp)
    a = L.ReLU(name="features")(z)
    pooled = L.GlobalAveragePooling2D()(a)
    head = L.Dense(2, name="scores")
    out = head(pooled)
    model = keras.Model(inp, out, name="known_concepts")
    conv.set_weights([kernel, np.zeros(6, np.float32)])
    head.set_weights([dense, np.zeros(2, np.float32)])
    return model


def _known_images(n: int = 24, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Black images, each with a red blob and a patch of green vertical stripes elsewhere;
    the blobs' and the stripes' masks."""
    rng = np.random.default_rng(seed)
    x = np.zeros((n, 32, 32, 3), np.float32)
    red = np.zeros((n, 32, 32), bool)
    stripes = np.zeros((n, 32, 32), bool)
    yy, xx = np.mgrid[:32, :32]
    for i in range(n):
        left = rng.integers(0, 2)  # the blob on the left or the right half
        cy, cx = rng.integers(6, 26), rng.integers(5, 11) + 16 * left
        red[i] = (yy - cy) ** 2 + (xx - cx) ** 2 <= rng.integers(9, 25)
        top, x0 = rng.integers(0, 18), 16 * (1 - left) + rng.integers(1, 4)
        stripes[i, top : top + 12, x0 : x0 + 12] = (xx[top : top + 12, x0 : x0 + 12] % 2) == 0
        x[i, red[i], 0] = 1.0
        x[i, stripes[i], 1] = 1.0
    return x, red, stripes


@pytest.fixture(scope="module")
def known():
    model = _known_model()
    x, red, stripes = _known_images()
    return model, x, red, stripes, concepts(model, x, class_index=0, seed=0)


def test_default_layer_is_the_deepest_nonnegative_one(known):
    model, x, *_ = known
    assert default_concept_layer(model, x) == "features"


def test_factorization_recovers_both_known_concepts(known):
    *_, result = known
    assert result.k == 2 and result.r2 >= 0.9 and result.r2_by_k[0] < 0.9  # one concept is not enough
    truth = {"red": np.r_[RED_GAINS, 0, 0, 0], "stripes": np.r_[0, 0, 0, STRIPE_GAINS]}
    corr = {n: [np.corrcoef(row, t)[0, 1] for row in result.bank] for n, t in truth.items()}
    assert max(corr["red"]) >= 0.9 and max(corr["stripes"]) >= 0.9
    assert np.argmax(corr["red"]) != np.argmax(corr["stripes"])


def test_importance_ranks_the_used_concept_first(known):
    model, x, *_, result = known
    red_first = np.corrcoef(result.bank[0], np.r_[RED_GAINS, 0, 0, 0])[0, 1]
    assert red_first >= 0.9  # concepts are sorted by importance: the red one leads
    assert result.importance[0] > 0.9 and result.importance[1] < 0.01
    assert result.ablation[0] > 0.9 and abs(result.ablation[1]) < 0.01
    assert result.logit_kept == pytest.approx(1.0, abs=0.05)  # the head is linear in the layer
    # removing the stripes concept leaves class 0's logit; removing the red one removes it
    logits = concept_logits(model, result, x[:4], np.array([[1, 1], [1, 0], [0, 1]], np.float32))
    assert np.allclose(logits[:, 1], logits[:, 0], rtol=1e-3, atol=1e-4)
    assert np.allclose(logits[:, 2], 0, atol=1e-3 * np.abs(logits[:, 0]).max())


def test_the_used_concepts_map_lies_on_the_red_blobs(known):
    model, x, red, stripes, result = known
    maps = concept_maps(model, result, x[:8])
    assert maps.shape == (8, 32, 32, 2) and (maps >= 0).all()
    near = np.array(
        [
            np.pad(r, 1)[:-2, 1:-1] | np.pad(r, 1)[2:, 1:-1] | np.pad(r, 1)[1:-1, :-2] | np.pad(r, 1)[1:-1, 2:] | r
            for r in red[:8]
        ]
    )
    mass_on_red = (maps[..., 0] * near).sum(axis=(1, 2)) / maps[..., 0].sum(axis=(1, 2))
    assert (mass_on_red > 0.9).all()
    mass_on_stripes = (maps[..., 1] * stripes[:8]).sum(axis=(1, 2)) / maps[..., 1].sum(axis=(1, 2))
    assert (mass_on_stripes > 0.5).all()


def test_top_crops_hold_the_concept(known):
    model, x, red, stripes, result = known
    for concept, mask in ((0, red), (1, stripes)):
        for i in result.top_crops(concept, 5):
            img, top, left, side = result.boxes[i]
            assert mask[img, top : top + side, left : left + side].any()
    assert len({int(result.boxes[i, 0]) for i in result.top_crops(0, 9)}) == 9  # nine different images


def test_same_seed_same_concepts(known):
    model, x, *_, result = known
    again = concepts(model, x, class_index=0, seed=0)
    assert np.array_equal(again.bank, result.bank) and np.array_equal(again.importance, result.importance)


def test_crop_boxes_cover_the_image_half_a_crop_apart():
    boxes = crop_boxes((64, 64), 2, 3)
    assert boxes.shape == (18, 4)
    assert set(boxes[:, 3]) == {32} and sorted(set(boxes[:, 1])) == [0, 16, 32]
    assert (boxes[:9, 0] == 0).all() and (boxes[9:, 0] == 1).all()
    with pytest.raises(InputError, match="crops"):
        crop_boxes((64, 64), 1, 0)


def test_bad_input_is_named(known):
    model, x, *_, result = known
    with pytest.raises(InputError, match="class_index must be between 0 and 1"):
        concepts(model, x[:2], class_index=2)
    with pytest.raises(InputError, match=r"masks must have shape \(m, 2\)"):
        concept_logits(model, result, x[:1], np.ones((1, 3)))
    with pytest.raises(InputError, match="negative values"):
        concepts(model, x[:4] - 0.5, class_index=0, layer="conv")  # before the ReLU


# -- the evidence and the page


def test_removal_test_and_mask_mass_on_the_known_model(known):
    from convviz.evaluate.concepts import mask_mass, removal_test

    model, x, red, stripes, result = known
    top, rand = removal_test(model, result, x[:6], n=3)  # n becomes k - 1 = 1: the red concept
    assert np.allclose(top, 1.0, atol=1e-3)  # removing red removes class 0's whole score
    assert ((rand > 0.3) & (rand < 0.7)).all()  # a random one of two: red half of the time
    maps = concept_maps(model, result, x[:6])
    assert (mask_mass(maps[..., 0], red[:6]) > red[:6].mean(axis=(1, 2))).all()
    uniform = np.ones((2, 4, 4))
    masks = np.zeros((2, 4, 4), bool)
    masks[:, :2] = True
    assert np.allclose(mask_mass(uniform, masks), 0.5)  # a uniform map's share is the area
    assert np.isnan(mask_mass(np.zeros((1, 4, 4)), masks[:1])).all()


def test_similar_concepts_only_between_concepts_both_classes_use():
    from convviz.evaluate.concepts import similar_concepts

    banks = {0: np.array([[1.0, 0, 0], [0, 0, 1]]), 1: np.array([[0.9, 0.1, 0], [0, 0, 1]]), 2: np.array([[0, 1.0, 0]])}
    found = similar_concepts(banks)
    assert [(d, j) for d, j, _ in found[(0, 0)]] == [(1, 0)] and found[(2, 0)] == []
    assert [(d, j) for d, j, _ in found[(0, 1)]] == [(1, 1)]
    importance = {0: np.array([0.9, 0.0]), 1: np.array([0.5, 0.5]), 2: np.array([1.0])}
    used = similar_concepts(banks, importance=importance)
    assert [(d, j) for d, j, _ in used[(0, 0)]] == [(1, 0)]
    assert used[(0, 1)] == [] and used[(1, 1)] == []  # the concept class 0 does not use is shared with no one


def test_concepts_page_of_the_known_model(tmp_path, monkeypatch):
    """The page of the hand-built model: a section per class with its concepts by importance,
    their crops and maps on disk, the evidence table, and the link to the class page."""
    import re
    from types import SimpleNamespace

    import convviz
    from convviz import zoo
    from convviz.site import concept_pages
    from convviz.zoo.splits import Dataset

    model = _known_model()
    x, red, stripes = _known_images(12)
    labels = np.zeros(len(x), int)
    test = Dataset("known", "test", x, labels, ("red <b>", "stripes"), masks=red)
    monkeypatch.setattr(zoo, "load", lambda entry, progress=True: model)
    monkeypatch.setattr(zoo, "dataset", lambda entry, split="test": test)
    monkeypatch.setattr(concept_pages, "fingerprint", lambda entry, text, extra="": "stamp")
    entry = SimpleNamespace(name="known", input_shape=x.shape[1:], budget={})
    folder = tmp_path / "concepts"
    assert concept_pages.write_concept_pages(entry, folder, progress=False) is not None
    page = (folder / "index.md").read_text()
    name = concept_pages.markup.text("red <b>")
    assert "red <b>" not in page and name in page  # names are text, never markup
    assert "{#class-0}" in page and "{#class-1}" not in page  # only the class the images show
    assert 'id="class-0-concept-1"' in page and 'id="class-0-concept-2"' in page
    assert "[Its class page](../classes/index.md#class-0)" in page
    right = int((convviz.predict(model, x).argmax(1) == 0).sum())
    row = re.search(rf'\| <a href="#class-0">{re.escape(name)}</a> \| {right} \| 2 \| (\S+) \|', page)
    assert row and float(row.group(1)) >= 0.9
    assert "| −100% vs " in page  # removing the one concept that matters removes the score
    assert "The ranking test holds for 1 of the 1 classes" in page
    crops = sorted(folder.glob("c0_k1_crop*.png"))
    assert len(crops) == 9 and len(list(folder.glob("c0_k1_map*.png"))) == 3
    assert concept_pages.write_concept_pages(entry, folder, progress=False) is None  # up to date


def test_a_costly_model_factors_fewer_images_per_class():
    from convviz.site.concept_pages import CROP_SECONDS, FIT_IMAGES, fit_images
    from convviz.zoo.budget import SMALL_SECONDS

    assert fit_images(SMALL_SECONDS, 1000) == FIT_IMAGES  # a small model keeps the full recipe
    # 0.1 s a pass, 6 classes: 40 s / (6 classes × 9 crops × 0.1 / 3 s) = 22 images
    assert fit_images(0.1, 6) == int(CROP_SECONDS / (6 * 9 * 0.1 / 3)) == 22
    assert fit_images(0.1, 1) == FIT_IMAGES and fit_images(5.0, 100) == 4  # clipped to [4, 64]
