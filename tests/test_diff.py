"""convviz.compare.diff: linear CKA against the paper's formula, streamed CKA, and model diffs on
hand-built models with a known change; ENTRY@REV from a git repository built here."""

from __future__ import annotations

import json
import math
import shutil
import subprocess

import keras
import numpy as np

import convviz
import pytest

from convviz import cli
from convviz.compare import diff as diff_algorithm
from convviz.compare.matching import match_layers
from convviz.represent.similarity import CKAStream, cka, pooled_features, procrustes
from convviz.compare.diff import diff_models
from convviz.review.report import summary_markdown, write_report
from convviz.review.revisions import load_version

RNG = np.random.default_rng(0)


def _hsic_cka(x: np.ndarray, y: np.ndarray) -> float:
    """Kornblith et al. (2019), eq. 3 with linear kernels, written as in the paper."""
    n = len(x)
    h = np.eye(n) - np.ones((n, n)) / n
    k, l_ = x @ x.T, y @ y.T

    def hsic(a, b):
        return np.trace(a @ h @ b @ h) / (n - 1) ** 2

    return hsic(k, l_) / math.sqrt(hsic(k, k) * hsic(l_, l_))


def _orthogonal(d: int, seed: int) -> np.ndarray:
    q, _ = np.linalg.qr(np.random.default_rng(seed).normal(size=(d, d)))
    return q


@pytest.mark.parametrize("shape", [(40, 5), (12, 300)])  # the feature form and the Gram form
def test_cka_equals_the_papers_formula(shape):
    x = RNG.normal(size=shape)
    y = x @ RNG.normal(size=(shape[1], 7)) + 0.5 * RNG.normal(size=(shape[0], 7))
    assert cka(x, y) == pytest.approx(_hsic_cka(x, y), rel=1e-9)
    assert cka(x, x) == pytest.approx(1.0)


def test_cka_invariances():
    x = RNG.normal(size=(50, 6)) @ np.diag([5, 3, 2, 1, 0.5, 0.1])
    y = RNG.normal(size=(50, 4)) + x[:, :4]
    base = cka(x, y)
    assert 0.1 < base < 0.99
    assert cka(x @ _orthogonal(6, 1), y) == pytest.approx(base, rel=1e-9)
    assert cka(x, 7.5 * y @ _orthogonal(4, 2)) == pytest.approx(base, rel=1e-9)
    assert cka(x + 3.0, y - 1.0) == pytest.approx(base, rel=1e-9)  # centering
    assert abs(cka(x @ np.diag([1, 10, 1, 0.1, 1, 1]), y) - base) > 0.01  # not invariant to other linear maps


def test_cka_of_images_flattens_them_and_rejects_bad_input():
    a = RNG.normal(size=(10, 3, 3, 2))
    assert cka(a, a.reshape(10, -1)) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="same samples: 10 rows vs 9"):
        cka(a, a[:9])
    with pytest.raises(ValueError, match="NaN or infinite"):
        cka(np.full((4, 2), np.nan), np.ones((4, 2)))
    with pytest.raises(ValueError, match="at least 2 samples"):
        cka(a[:1], a[:1])
    assert math.isnan(cka(np.ones((5, 3)), RNG.normal(size=(5, 3))))  # constant: nothing to compare


def test_streamed_cka_equals_one_shot():
    x = RNG.normal(size=(103, 9)) + 100.0  # a large mean: the shifted accumulators stay exact
    y = np.tanh(x @ RNG.normal(size=(9, 5)))
    s = CKAStream()
    for start, stop in ((0, 1), (1, 40), (40, 41), (41, 103)):
        s.update(x[start:stop], y[start:stop])
    assert s.n == 103
    assert s.value() == pytest.approx(cka(x, y), rel=1e-9)
    with pytest.raises(ValueError, match="earlier batches had 9 and 5"):
        s.update(x[:3, :4], y[:3])


def test_pooled_features_average_grid_cells():
    a = np.arange(2 * 4 * 4 * 1, dtype=np.float64).reshape(2, 4, 4, 1)
    assert pooled_features(a, max_features=16).shape == (2, 16)  # fits: kept whole
    p = pooled_features(a, max_features=4)  # a 2×2 grid of 2×2 cells
    np.testing.assert_allclose(
        p[0], [a[0, :2, :2].mean(), a[0, :2, 2:].mean(), a[0, 2:, :2].mean(), a[0, 2:, 2:].mean()]
    )
    assert pooled_features(RNG.normal(size=(3, 5, 5, 8)), max_features=4).shape == (3, 8)  # channel means


def test_procrustes_undoes_rotation_scale_and_shift():
    x = RNG.normal(size=(30, 4))
    _, _, d = procrustes(x, 3.0 * x @ _orthogonal(4, 3) + 2.0)
    assert d == pytest.approx(0.0, abs=1e-12)
    _, aligned, d2 = procrustes(x, RNG.normal(size=(30, 2)))  # narrower side padded
    assert aligned.shape == (30, 4) and 0.5 < d2 <= 2.0


def _model(seed: int, *, classes: int = 4, size: int = 16, name: str = "m") -> keras.Model:
    keras.utils.set_random_seed(seed)
    inp = keras.Input((size, size, 3), name="image")
    x = keras.layers.Conv2D(4, 3, padding="same", activation="relu", name="conv1")(inp)
    x = keras.layers.MaxPooling2D(name="pool1")(x)
    x = keras.layers.Conv2D(8, 3, padding="same", activation="relu", name="conv2")(x)
    x = keras.layers.Conv2D(8, 3, padding="same", activation="relu", name="conv3")(x)
    x = keras.layers.GlobalAveragePooling2D(name="gap")(x)
    out = keras.layers.Dense(classes, activation="softmax", name="predictions")(x)
    return keras.Model(inp, out, name=name)


def _copy(model: keras.Model, *, reinit: str | None = None) -> keras.Model:
    c = _model(0, classes=int(model.outputs[0].shape[-1]), name="copy")
    c.set_weights(model.get_weights())
    if reinit:
        layer = c.get_layer(reinit)
        rng = np.random.default_rng(7)
        layer.set_weights([rng.normal(0, 0.5, w.shape).astype(np.float32) for w in layer.get_weights()])
    return c


X = np.random.default_rng(1).random((24, 16, 16, 3)).astype(np.float32)
Y = np.arange(24) % 4


def test_a_model_diffed_with_itself_shows_no_change():
    m = _model(0)
    d = diff_models(m, _copy(m), X, Y)
    assert list(d.cka) == ["conv1", "pool1", "conv2", "conv3", "predictions"]
    assert len(d.flips) == 0 and d.unchanged()
    assert all(v == pytest.approx(1.0, abs=1e-9) for v in d.cka.values())
    assert d.most_changed_layer() is None
    assert d.latent_disparity == pytest.approx(0.0, abs=1e-9)
    np.testing.assert_allclose(d.cam_correlation[np.isfinite(d.cam_correlation)], 1.0, atol=1e-6)
    assert "**No change**" in summary_markdown(d)
    assert d.sanity_old == d.sanity_new and d.sanity_old[0] in ("passes", "fails", "degenerate")
    assert d.numbers()["accuracy"]["change"] == 0.0


def test_a_reinitialized_layer_changes_it_and_the_layers_after_it():
    m = _model(0)
    d = diff_models(m, _copy(m, reinit="conv2"), X, Y)
    assert d.cka["conv1"] == pytest.approx(1.0, abs=1e-9)
    assert d.cka["pool1"] == pytest.approx(1.0, abs=1e-9)
    for later in ("conv2", "conv3", "predictions"):
        assert d.cka[later] < 0.99, later
    assert not d.unchanged()
    # per-unit response: unchanged units in conv1, changed ones in conv2
    np.testing.assert_allclose(d.unit_change["conv1"], 0.0, atol=1e-6)
    assert d.unit_change["conv2"].max() > 0.05
    # flips are exactly the images whose prediction differs, split by the labels
    old_pred = m.predict(X, verbose=0).argmax(1)
    np.testing.assert_array_equal(d.predicted_old, old_pred)
    np.testing.assert_array_equal(d.flips, np.flatnonzero(d.predicted_old != d.predicted_new))
    assert set(d.fixed) | set(d.broken) <= set(d.flips)
    conf = d.confusion()
    assert conf is not None and conf[0].sum() == conf[1].sum() == 24
    acc = d.accuracy()
    assert acc == (pytest.approx(np.mean(old_pred == Y)), pytest.approx(np.mean(d.predicted_new == Y)))


def test_layers_renamed_in_the_new_version_pair_by_position():
    m = _model(0)
    renamed = keras.models.clone_model(
        m,
        clone_function=lambda layer: layer.__class__.from_config(
            {**layer.get_config(), "name": layer.name.replace("conv", "c")}
        ),
    )
    renamed.set_weights(m.get_weights())
    pairs = match_layers(m, renamed)
    assert ("conv1", "c1") in pairs and ("pool1", "pool1") in pairs and ("conv3", "c3") in pairs
    d = diff_models(m, renamed, X, Y)
    assert d.cka["conv2 → c2"] == pytest.approx(1.0, abs=1e-9)


def test_diff_rejects_models_that_are_not_versions_of_one_another():
    m = _model(0)
    with pytest.raises(ValueError, match=r"different inputs: old 'm' takes \(16, 16, 3\), new 'm' takes \(20, 20, 3\)"):
        diff_models(m, _model(0, size=20), X)
    with pytest.raises(ValueError, match="different class counts: old 'm' has 4 outputs, new 'm' has 5"):
        diff_models(m, _model(0, classes=5), X)
    with pytest.raises(ValueError, match="layer 'nope' is not in the old and the new model"):
        diff_models(m, _copy(m), X, layers=["nope"])
    with pytest.raises(ValueError, match="sanity_images must be 0 \\(skip\\) or more, got -1"):
        diff_models(m, _copy(m), X, sanity_images=-1)
    with pytest.raises(ValueError, match="labels has 3 entries for 24 images"):
        diff_models(m, _copy(m), X, [0, 1, 2])
    with pytest.raises(ValueError, match="labels must be class indices in \\[0, 3\\]"):
        diff_models(m, _copy(m), X, np.full(24, 4))


@pytest.mark.slow  # over 2 s
def test_report_files_and_summary(tmp_path):
    m = _model(0)
    d = diff_models(m, _copy(m, reinit="conv3"), X, Y)
    written = write_report(d, tmp_path, X, old="v1", new="v2", class_names=list("abcd"))
    assert {"cka", "confusion", "cam_agreement", "latent", "diff.json", "summary.md"} <= set(written)
    numbers = json.loads((tmp_path / "diff.json").read_text())
    assert numbers["old"] == "v1" and numbers["flips"] == d.flips.tolist()
    assert [row["old"] for row in numbers["layers"]] == list(d.cka)
    text = (tmp_path / "summary.md").read_text()
    assert "### convviz diff: `v1` → `v2`" in text and f"{len(d.flips):,} of 24" in text
    if len(d.flips):
        assert (tmp_path / "flips.png").stat().st_size > 1000


def _git(cwd, *args):
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True)


@pytest.mark.slow  # over 2 s
@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_entry_at_a_revision_reads_the_zoo_and_model_file_of_that_commit(tmp_path, monkeypatch):
    repo = tmp_path / "repo"
    (repo / "models").mkdir(parents=True)
    zoo_file = repo / "zoo.yml"
    zoo_file.write_text("models:\n  - name: m\n    source: file\n    path: models/m.keras\n    dataset: digits\n")
    gray = keras.Sequential(
        [
            keras.Input((16, 16, 1)),
            keras.layers.Conv2D(4, 3, activation="relu", name="conv1"),
            keras.layers.GlobalAveragePooling2D(name="gap"),
            keras.layers.Dense(10, activation="softmax", name="out"),
        ]
    )
    gray.save(repo / "models" / "m.keras")
    _git(repo, "init", "-q")
    _git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "add", ".")
    _git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "v1")
    first = gray.get_weights()
    gray.get_layer("conv1").set_weights([w + 0.3 for w in gray.get_layer("conv1").get_weights()])
    gray.save(repo / "models" / "m.keras")
    _git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-am", "v2")

    old = load_version("m@HEAD~1", zoo_file=zoo_file, workdir=tmp_path)
    for a, b in zip(old.model.get_weights(), first):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="unknown revision 'nope'"):
        load_version("m@nope", zoo_file=zoo_file, workdir=tmp_path)
    with pytest.raises(ValueError, match="zoo entry 'x' is not in zoo.yml at HEAD; entries there: m"):
        load_version("x@HEAD", zoo_file=zoo_file, workdir=tmp_path)
    with pytest.raises(ValueError, match="is not a zoo entry, a model file or ENTRY@REV"):
        load_version("x", zoo_file=zoo_file)
    with pytest.raises(ValueError, match="model file not found"):
        load_version(str(tmp_path / "missing.keras"), zoo_file=zoo_file)

    out = tmp_path / "out"
    status = cli.main(
        ["--zoo", str(zoo_file), "diff", "m@HEAD~1", "m", "--out", str(out), "--limit", "40", "--no-cache"]
    )
    assert status == 0
    numbers = json.loads((out / "diff.json").read_text())
    assert numbers["images"] == 40 and numbers["old"] == "m@HEAD~1"
    assert numbers["sides"]["old"]["weights_sha256"] != numbers["sides"]["new"]["weights_sha256"]
    assert (tmp_path / "cache" / "revisions" / "m@HEAD_1-m.keras").is_file()  # beside the cache, not in /tmp
    assert numbers["layers"][0]["cka"] < 1.0  # conv1 changed
    assert cli.main(["--zoo", str(zoo_file), "diff", "m@nope", "m"]) == 2

    # what the pull-request workflow runs: every entry changed since the base, into OUT/ENTRY
    from convviz.review.determinants import Change, changes_since

    zoo_file.write_text(
        zoo_file.read_text() + "  - name: added\n    source: file\n    path: models/m.keras\n    dataset: digits\n"
    )
    assert changes_since("HEAD~1", zoo_file=zoo_file) == [
        Change("m", "changed", ("model file",)),
        Change("added", "new"),
    ]
    assert changes_since("HEAD", zoo_file=zoo_file) == [Change("m", "unchanged"), Change("added", "new")]
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(tmp_path / "job-summary.md"))
    status = cli.main(
        ["--zoo", str(zoo_file), "diff", "--changed-since", "HEAD~1", "--out", str(tmp_path / "pr"), "--limit", "40"]
    )
    assert status == 0 and (tmp_path / "pr" / "m" / "summary.md").is_file()
    assert not (tmp_path / "pr" / "added").exists()
    assert "### convviz diff: `m@HEAD~1` → `m`" in (tmp_path / "job-summary.md").read_text()


@pytest.mark.slow  # over 2 s
def test_unit_patterns_of_the_most_changed_conv_layer(tmp_path):
    from convviz.figures.diff import changed_units

    m = _model(0)
    new = _copy(m, reinit="conv3")
    d = diff_models(m, new, X, Y)
    assert d.pooled["conv1"] == 0 and d.pooled["predictions"] == -1
    layer, units = changed_units(d, n=3)
    assert layer == "conv3"  # predictions changed as much or more, but is not a conv layer
    np.testing.assert_array_equal(units, np.argsort(-d.unit_change["conv3"], kind="stable")[:3])
    written = write_report(d, tmp_path, X, models=(m, new))
    assert written["unit_patterns"].stat().st_size > 1000
    assert changed_units(diff_models(m, _copy(m), X, Y)) is None


def test_units_silent_in_both_versions_did_not_change_and_silent_in_one_did():
    m = _model(0)
    new = _copy(m)
    for model, units in ((m, [0]), (new, [0, 1])):
        kernel, bias = model.get_layer("conv1").get_weights()
        bias[units] = -100.0  # ReLU(x·w − 100) = 0 for every image in [0, 1]
        model.get_layer("conv1").set_weights([kernel, bias])
    change = diff_models(m, new, X, Y).unit_change["conv1"]
    assert change[0] == 0.0 and change[1] == 1.0
    np.testing.assert_allclose(change[2:], 0.0, atol=1e-6)


def test_compare_to_names_a_variant_another_entry_or_a_revision(tmp_path):
    from convviz import zoo
    from convviz.review.revisions import reference_entry

    (tmp_path / "zoo.yml").write_text(
        "models:\n"
        "  - name: a\n    source: trained\n    architecture: plain_cnn\n    dataset: digits\n    epochs: 3\n"
        "    compare_to: {seed: 2, augment: shift}\n"
        "  - name: b\n    source: trained\n    architecture: plain_cnn\n    dataset: digits\n    compare_to: a\n"
    )
    a, b = zoo.read(tmp_path / "zoo.yml")
    label, variant = reference_entry(a)
    assert label == "a with seed: 2, augment: shift"
    assert variant.recipe() == {**a.recipe(), "seed": 2, "augment": "shift"}
    assert variant.compare_to is None and variant.name == "a-variant"
    assert reference_entry(b) == ("a", a)
    with pytest.raises(ValueError, match="zoo model 'a-variant' has no compare_to"):
        reference_entry(variant)


def test_a_cached_diff_reads_back_the_same_numbers(tmp_path, monkeypatch):
    from convviz.store.cache import Cache

    store = Cache(tmp_path)
    m = _model(0)
    new = _copy(m, reinit="conv3")
    first = convviz.diff_models(m, new, X, Y, masks=X[..., 0] > 0.5, cache=store)
    monkeypatch.setattr(diff_algorithm, "_compute", lambda *a, **k: pytest.fail("recomputed a cached diff"))
    again = convviz.diff_models(m, new, X, Y, masks=X[..., 0] > 0.5, cache=store)
    assert again.numbers() == first.numbers()
    np.testing.assert_array_equal(again.cam_new, first.cam_new)
    assert again.unit_change.keys() == first.unit_change.keys() and again.sanity_new == first.sanity_new
