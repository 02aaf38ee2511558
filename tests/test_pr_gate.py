"""A pull request that changes a model is seen, compared with the real old model, and gated.

A test repository holds a copy of convviz (so the architecture code is the repository's, as
in convviz's own) and a zoo of one trained entry, its weights shipped. Each case commits one
kind of change and runs `convviz diff --changed-since` as the workflow does, in a process of
the repository's own code.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import default_backend_only

ROOT = Path(__file__).resolve().parents[1]

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("git") is None, reason="needs git"),
    # what the gate sees and says (git, the changed entries, their keys) is the same on every backend, and
    # the workflow runs it on the default one; training and the comparison are tested on every backend by
    # test_zoo.py and test_diff.py
    default_backend_only("the gate runs in the workflow on the default backend; its parts are tested on each"),
]

ZOO = """\
models:
  - name: digits-cnn
    source: trained
    architecture: plain_cnn
    dataset: digits
    epochs: 1
    seed: 0
"""


def _git(repo: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=repo, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def _env(repo: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONVVIZ_") and k != "PYTHONPATH"}
    env.update(CONVVIZ_CACHE_DIR=str(repo.parent / "cache"), TF_CPP_MIN_LOG_LEVEL="3")
    return env


def _convviz(repo: Path, *args: str) -> subprocess.CompletedProcess:
    """The repository's own convviz (its folder comes first on sys.path with ``-m``)."""
    return subprocess.run(
        [sys.executable, "-m", "convviz.cli", "--zoo", "gallery/zoo.yml", *args],
        cwd=repo,
        env=_env(repo),
        capture_output=True,
        text=True,
        timeout=900,
    )


@pytest.fixture(scope="module")
def repo(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("prgate") / "repo"
    shutil.copytree(ROOT / "convviz", root / "convviz", ignore=shutil.ignore_patterns("__pycache__"))
    (root / "gallery").mkdir()
    (root / "gallery" / "zoo.yml").write_text(ZOO)
    (root / "README.md").write_text("# A team's models\n")
    done = _convviz(root, "zoo", "train", "--ship")
    assert done.returncode == 0, done.stdout + done.stderr
    assert (root / "gallery" / "weights" / "digits-cnn.keras").is_file()
    _git(root, "init", "-q")
    _git(root, "add", ".")
    _git(root, "commit", "-q", "-m", "base: digits-cnn and its shipped weights")
    return root


def _branch(repo: Path, name: str) -> None:
    """A branch from the base commit: each case is one pull request against it."""
    base = _git(repo, "rev-list", "--max-parents=0", "HEAD").split()[0]
    _git(repo, "checkout", "-q", "-B", name, base)


def _base_model(repo: Path):
    """The model the base commit ships, read from git."""
    import keras

    payload = subprocess.run(
        ["git", "show", "HEAD~1:gallery/weights/digits-cnn.keras"], cwd=repo, capture_output=True, check=True
    ).stdout
    path = repo.parent / "base-shipped.keras"
    path.write_bytes(payload)
    return keras.saving.load_model(path, compile=False)


def test_an_architecture_edit_is_seen_and_its_old_side_is_the_shipped_model(repo):
    from convviz.review.revisions import weights_sha256

    _branch(repo, "arch")
    models = repo / "convviz" / "zoo" / "architectures.py"
    text = models.read_text()
    edited = text.replace(
        'L.Conv2D(32, 3, activation="relu", name="conv1")', 'L.Conv2D(32, 3, activation="elu", name="conv1")'
    )
    assert edited != text
    models.write_text(edited)
    _git(repo, "commit", "-q", "-am", "plain_cnn: elu in its first convolution")
    out = repo.parent / "out-arch"
    done = _convviz(repo, "diff", "--changed-since", "HEAD~1", "--out", str(out), "--limit", "60")
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert "digits-cnn: changed since HEAD~1: architecture code" in done.stdout
    changes = json.loads((out / "changes.json").read_text())["entries"]
    assert changes == [{"name": "digits-cnn", "status": "changed", "reasons": ["architecture code"]}]
    numbers = json.loads((out / "digits-cnn" / "diff.json").read_text())
    base = _base_model(repo)
    old_side = numbers["sides"]["old"]
    assert old_side["weights_sha256"] == weights_sha256(base)  # the model the base commit ships
    assert old_side["commit"] == _git(repo, "rev-parse", "HEAD~1").strip()
    assert (
        old_side["recipe_digest"]
        == json.loads(_git(repo, "show", "HEAD~1:gallery/weights/digits-cnn.json"))["recipe_digest"]
    )
    assert numbers["sides"]["new"]["recipe_digest"] != old_side["recipe_digest"]  # the new code trained it
    assert "shipped weights" in old_side["note"]
    # its predictions are the shipped model's: the exported old side, read back from the cache
    import keras

    from convviz import zoo

    exported = next((repo.parent / "cache" / "revisions").rglob("digits-cnn.keras"))
    x = zoo.dataset(zoo.parse(ZOO, zoo_file=repo / "gallery" / "zoo.yml")[0], "test").x[:32]
    np.testing.assert_allclose(
        keras.saving.load_model(exported, compile=False).predict(x, verbose=0), base.predict(x, verbose=0), atol=1e-6
    )
    summary = (out / "digits-cnn" / "summary.md").read_text()
    assert "**Why it counts as changed**: architecture code." in summary and "**Compared**: old `" in summary

    # the same diff, gated: a team that allows no right → wrong flip and no accuracy drop
    broken = len(numbers["broken"])
    drop = -numbers["accuracy"]["change"] * 100
    gated = _convviz(
        repo, "diff", "--changed-since", "HEAD~1", "--out", str(out), "--limit", "60",
        "--fail-on", "broken=0", "--fail-on", "accuracy_drop=100",
    )  # fmt: skip
    expected = 1 if broken > 0 else 0
    assert gated.returncode == expected, gated.stderr[-2000:]
    if broken:
        assert f"gate failed: broken: {broken} images (limit 0): FAILED" in gated.stderr
    assert "accuracy drop" not in gated.stderr or drop > 100
    gate = json.loads((out / "digits-cnn" / "diff.json").read_text())["gate"]
    assert [(g["threshold"], g["passed"]) for g in gate] == [("broken", broken == 0), ("accuracy_drop", True)]
    bad = _convviz(repo, "diff", "--changed-since", "HEAD~1", "--fail-on", "flips=3")
    assert bad.returncode == 2 and "unknown threshold 'flips'; valid: accuracy_drop, broken" in bad.stderr


def test_replacing_only_the_shipped_weights_is_seen(repo):
    import keras

    from convviz.zoo import shipped

    _branch(repo, "weights")
    path = repo / "gallery" / "weights" / "digits-cnn.keras"
    record = json.loads(path.with_suffix(".json").read_text())
    model = keras.saving.load_model(path, compile=False)
    model.get_layer("fc").set_weights([w * 0.9 for w in model.get_layer("fc").get_weights()])
    tmp = repo.parent / "replaced.keras"
    model.save(tmp)
    shipped.write(path, tmp.read_bytes(), {k: v for k, v in record.items() if k != "sha256"})
    _git(repo, "commit", "-q", "-am", "digits-cnn: other weights, same recipe")
    from convviz.review.determinants import Change, changes_since

    assert changes_since("HEAD~1", zoo_file=repo / "gallery" / "zoo.yml") == [
        Change("digits-cnn", "changed", ("shipped weights",))
    ]


def test_a_documentation_change_changes_no_model_and_a_new_entry_is_listed(repo):
    _branch(repo, "docs")
    (repo / "README.md").write_text("# A team's models\n\nNow documented.\n")
    _git(repo, "commit", "-q", "-am", "docs only")
    done = _convviz(repo, "diff", "--changed-since", "HEAD~1", "--out", str(repo.parent / "out-docs"))
    assert done.returncode == 0 and "no zoo model changed since HEAD~1 (1 unchanged)" in done.stdout, done.stdout
    zoo = repo / "gallery" / "zoo.yml"
    zoo.write_text(
        zoo.read_text() + ZOO.split("models:\n")[1].replace("digits-cnn", "digits-wide").replace("seed: 0", "seed: 3")
    )
    _git(repo, "commit", "-q", "-am", "a new entry")
    from convviz.review.determinants import Change, changes_since

    assert changes_since("HEAD~1", zoo_file=zoo) == [Change("digits-cnn", "unchanged"), Change("digits-wide", "new")]


def test_a_recipe_edit_says_which_keys_changed(repo):
    _branch(repo, "recipe")
    zoo = repo / "gallery" / "zoo.yml"
    zoo.write_text(zoo.read_text().replace("epochs: 1", "epochs: 2"))
    _git(repo, "commit", "-q", "-am", "two epochs")
    from convviz.review.determinants import changes_since

    (change,) = changes_since("HEAD~1", zoo_file=zoo)
    assert change.status == "changed" and change.reasons[0] == "recipe: epochs 1 → 2"
    assert "shipped weights" not in change.reasons  # the file is the same; it no longer fits the recipe
