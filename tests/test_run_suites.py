"""`make test`'s runner (tests/run_suites.py): every part runs, its output is shown in order,
the counts add up and any failed part fails the run."""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
import run_suites  # noqa: E402


def _fake(title, code):
    return run_suites.Job(title, [sys.executable, "-c", code])


def test_counts_read_pytests_closing_line():
    text = "....\n1 failed, 360 passed, 52 skipped, 7 warnings in 61.34s (0:01:01)\n"
    assert run_suites._counts(text) == {"passed": 360, "failed": 1, "skipped": 52}
    assert run_suites._counts("= 3 passed, 2 errors in 1.0s =") == {"passed": 3, "failed": 2, "skipped": 0}
    assert run_suites._counts("no summary") == {"passed": 0, "failed": 0, "skipped": 0}


@pytest.mark.parametrize("fails", [False, True])
def test_every_part_runs_in_order_and_a_failed_one_fails_the_run(monkeypatch, capsys, fails):
    jobs = {
        "tensorflow": _fake("KERAS_BACKEND=tensorflow", "print('4 passed, 1 skipped in 0.1s')"),
        "jax": _fake("KERAS_BACKEND=jax", f"import sys; print('2 passed in 0.1s'); sys.exit({int(fails)})"),
    }
    monkeypatch.setattr(run_suites, "suite", lambda backend, workers: jobs[backend])
    rc = run_suites.main(["--backends", "tensorflow jax", "--lint", f"{sys.executable} -c \"print('lint ok')\""])
    out = capsys.readouterr().out
    order = [out.index(s) for s in ("=== KERAS_BACKEND=tensorflow ===", "4 passed", "lint ok", "2 passed")]
    assert order == sorted(order)
    assert "=== KERAS_BACKEND=jax: " in out and "=== lint: " in out
    assert out.rstrip().endswith("tests: 6 passed, 0 failed, 1 skipped")
    assert rc == int(fails)
    assert ("FAILED: KERAS_BACKEND=jax" in out) == fails


def test_no_backend_is_refused(capsys):
    with pytest.raises(SystemExit):
        run_suites.main(["--backends", " "])
    assert "valid: tensorflow, jax, torch" in capsys.readouterr().err
