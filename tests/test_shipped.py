"""Shipped trained weights: used only for their own recipe, checked, replaced by training
when absent or stale; the repository's shipped zoo matches its recipes on every backend."""

import json
import logging
import shutil
import textwrap

import numpy as np
import pytest

from convviz import cli, zoo
from convviz.zoo import shipped
from convviz.store.cache import Cache
from conftest import default_backend_only

_TF_ONLY = default_backend_only(
    "shipping and retraining are backend-independent logic; the weights themselves are checked on every backend below"
)

TINY = """\
models:
  - name: tiny
    source: trained
    architecture: plain_cnn
    dataset: digits
    epochs: {epochs}
"""


def _zoo(folder, epochs=1):
    folder.mkdir(parents=True, exist_ok=True)
    p = folder / "zoo.yml"
    p.write_text(textwrap.dedent(TINY.format(epochs=epochs)))
    return p


def _same_weights(a, b):
    for wa, wb in zip(a.get_weights(), b.get_weights(), strict=True):
        np.testing.assert_array_equal(wa, wb)


def test_read_says_why_a_file_is_not_used(tmp_path):
    path = tmp_path / "weights" / "m.keras"
    assert shipped.read(path, "abc") == (None, "")  # nothing shipped: nothing to say
    shipped.write(path, b"model bytes", {"recipe_digest": "abc", "test_accuracy": 0.9})
    found, why = shipped.read(path, "abc")
    assert why == "" and found.payload == b"model bytes" and found.record["test_accuracy"] == 0.9
    found, why = shipped.read(path, "other")
    assert found is None and "another recipe" in why and "abc" in why and "--ship" in why
    path.write_bytes(b"model bytez")
    found, why = shipped.read(path, "abc")
    assert found is None and "checksum" in why
    path.with_suffix(".json").write_text("{not json")
    assert "not valid JSON" in shipped.read(path, "abc")[1]
    path.with_suffix(".json").unlink()
    assert "no record" in shipped.read(path, "abc")[1]
    assert not list(path.parent.glob(".*.tmp"))  # atomic writes leave no temporary files


@pytest.mark.slow
@_TF_ONLY
def test_shipped_weights_replace_training_and_deleting_them_trains(tmp_path):
    zoo_file = _zoo(tmp_path / "project")
    e = zoo.entry("tiny", zoo_file)
    first = Cache(tmp_path / "c1")
    trained = zoo.load(e, cache=first, progress=False)
    target = zoo.ship(e, cache=first)
    assert target == tmp_path / "project" / "weights" / "tiny.keras"
    record = json.loads(target.with_suffix(".json").read_text())
    assert record["recipe_digest"] == zoo.recipe_digest(e) and record["recipe"]["epochs"] == 1
    assert record["test_accuracy"] == zoo.test_accuracy(e, cache=first)

    second = Cache(tmp_path / "c2")
    _same_weights(zoo.load(e, cache=second, progress=False), trained)
    meta = zoo.training_record(e, cache=second)  # read, not trained: no training seconds
    assert meta["shipped"] == record["test_accuracy"] and meta["seconds"] == 0.0
    assert meta["test_accuracy"] == pytest.approx(record["test_accuracy"], abs=1e-9)

    target.unlink()  # a deleted weights file: the build trains, with the same result
    third = Cache(tmp_path / "c3")
    _same_weights(zoo.load(e, cache=third, progress=False), trained)
    assert zoo.training_record(e, cache=third)["seconds"] > 0


@pytest.mark.slow
@_TF_ONLY
def test_weights_of_another_recipe_are_never_used(tmp_path, caplog):
    zoo_file = _zoo(tmp_path / "project", epochs=1)
    zoo.ship(zoo.entry("tiny", zoo_file), cache=Cache(tmp_path / "c1"))
    _zoo(tmp_path / "project", epochs=2)  # the recipe changed; the shipped file did not
    e = zoo.entry("tiny", zoo_file)
    with caplog.at_level(logging.WARNING, logger="convviz"):
        zoo.load(e, cache=Cache(tmp_path / "c2"), progress=False)
    assert "trained by another recipe" in caplog.text and "--ship" in caplog.text
    assert "shipped" not in zoo.training_record(e, cache=Cache(tmp_path / "c2"))


@pytest.mark.slow
@_TF_ONLY
def test_check_retrains_from_source_and_compares(tmp_path, capsys):
    zoo_file = _zoo(tmp_path / "project")
    assert cli.main(["--zoo", str(zoo_file), "zoo", "train", "--ship"]) == 0
    out = capsys.readouterr().out
    assert "weights shipped in" in out and "trained in" in out
    assert cli.main(["--zoo", str(zoo_file), "zoo", "train", "--check"]) == 0
    out = capsys.readouterr().out
    assert "retrained from source" in out and "+0.00 points, ok" in out
    record_path = tmp_path / "project" / "weights" / "tiny.json"
    record = json.loads(record_path.read_text())
    record["test_accuracy"] -= 0.02  # a shipped number the recipe does not reproduce
    record_path.write_text(json.dumps(record))
    assert cli.main(["--zoo", str(zoo_file), "zoo", "train", "--check"]) == 1
    assert "DIFFERS" in capsys.readouterr().out


@_TF_ONLY
def test_check_without_shipped_weights_is_a_clear_error(tmp_path):
    e = zoo.entry("tiny", _zoo(tmp_path / "project"))
    with pytest.raises(zoo.ZooError, match=r"no usable shipped weights .*zoo train --ship"):
        zoo.retrain_check(e, progress=False)


def _shipped_models():
    """(entry name, whether it is the entry's compare_to variant) for every model the
    repository ships: the trained entries of gallery/zoo.yml and their variants."""
    from convviz.review.revisions import trained_variants

    trained = [e for e in zoo.read(zoo.path()) if e.source == "trained"]
    return [(e.name, False) for e in trained] + [(e.name, True) for e in trained if trained_variants([e])]


def _model(name, variant, zoo_file):
    from convviz.review.revisions import reference_entry

    e = zoo.entry(name, zoo_file)
    return reference_entry(e)[1] if variant else e


@pytest.mark.slow  # over 2 s
@pytest.mark.parametrize(
    "name, variant", _shipped_models(), ids=[f"{n}{'-variant' if v else ''}" for n, v in _shipped_models()]
)
def test_repository_ships_the_zoo_for_its_current_recipes(name, variant, tmp_path):
    """Every trained model of gallery/zoo.yml (and the variant its changes page compares it
    with) is shipped for the current training code, and its weights give the recorded test
    accuracy on this backend too."""
    e = _model(name, variant, zoo.path())
    found, why = shipped.read(zoo.shipped_path(e), zoo.recipe_digest(e))
    assert found is not None, (
        f"{zoo.shipped_path(e)}: {why or 'missing'}; run `convviz zoo train --ship {name}` and commit the weights"
    )
    project = tmp_path / "gallery"
    shutil.copytree(zoo.shipped_path(e).parent, project / "weights")
    shutil.copy(zoo.path(), project / "zoo.yml")
    acc = zoo.training_record(_model(name, variant, project / "zoo.yml"), cache=Cache(tmp_path / "c"))
    assert acc["test_accuracy"] == pytest.approx(found.record["test_accuracy"], abs=0.005)
    assert e.min_accuracy is None if variant else acc["test_accuracy"] >= e.min_accuracy
