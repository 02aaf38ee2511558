"""The command line: help a newcomer understands, clear errors with exit status 2."""

import json
import re

import pytest

from convviz.cli import main


def test_help_lists_commands(capsys):
    assert main([]) == 0
    out = capsys.readouterr().out
    for cmd in ("zoo list", "zoo train", "render MODEL", "site build|serve", "doctor", "cache merge"):
        assert cmd in out


def test_zoo_list_and_json(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "k"))
    assert main(["zoo", "list"]) == 0
    out = capsys.readouterr().out
    assert "digits-cnn" in out and re.search(r"xception-imagenet +skipped", out)
    assert main(["zoo", "list", "--json"]) == 0
    names = json.loads(capsys.readouterr().out)
    assert "shapes-cnn" in names and "xception-imagenet" not in names


def test_unknown_model_is_one_clear_line(capsys):
    assert main(["zoo", "train", "nope"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("convviz: error: unknown zoo model 'nope'") and "digits-cnn" in err


def test_bad_zoo_file(capsys, tmp_path):
    bad = tmp_path / "z.yml"
    bad.write_text(
        "models:\n  - name: a\n    source: trained\n    architecture: plain_cnn\n    dataset: digits\n    epoch: 3\n"
    )
    assert main(["--zoo", str(bad), "zoo", "list"]) == 2
    assert ":6: unknown key 'epoch'" in capsys.readouterr().err


def test_doctor(capsys):
    assert main(["doctor"]) == 0
    out = capsys.readouterr().out
    assert "keras" in out and "backend" in out and "cache" in out and "digits-cnn" in out


def test_bad_arguments_exit_2():
    with pytest.raises(SystemExit) as e:
        main(["render"])
    assert e.value.code == 2


def test_zoo_fetch_without_imagenet_entries_says_so(capsys, tmp_path):
    zoo_file = tmp_path / "zoo.yml"
    zoo_file.write_text("models:\n  - {name: t, source: trained, architecture: plain_cnn, dataset: digits}\n")
    assert main(["--zoo", str(zoo_file), "zoo", "fetch"]) == 0
    assert "no keras.applications entry with ImageNet weights" in capsys.readouterr().out


def test_an_empty_zoo_is_listed_as_empty(capsys, tmp_path):
    empty = tmp_path / "zoo.yml"
    empty.write_text("models: []\n")
    assert main(["--zoo", str(empty), "zoo", "list"]) == 0
    assert "lists no models" in capsys.readouterr().out
    assert main(["--zoo", str(empty), "zoo", "list", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == []


def test_only_convviz_input_errors_become_one_line_others_keep_their_traceback(capsys, monkeypatch):
    """A ValueError that convviz did not raise about its input (a bug: ``max()`` of nothing)
    is not dressed up as the user's mistake."""
    from convviz.cli import commands
    from convviz.core.errors import InputError
    from convviz.zoo import ZooError

    assert issubclass(ZooError, InputError) and issubclass(InputError, ValueError)
    monkeypatch.setattr(commands, "doctor", lambda args: max([]))
    monkeypatch.setattr("convviz.cli.doctor", commands.doctor)
    with pytest.raises(ValueError, match="empty"):
        main(["doctor"])
    assert "convviz: error" not in capsys.readouterr().err
