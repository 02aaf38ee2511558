"""`make test`'s runner: the lint and one pytest run per Keras backend, packed on the cores.

The first backend's suite (the longest: the built test site, the browser) runs at normal
priority with its output live. Beside it, one after another, the lint and the other
backends' suites run at the lowest CPU priority (``nice 19``): they take only the cores the
first suite leaves idle (while it waits on a subprocess or a browser, while its last worker
finishes alone), then the whole machine once it has ended. Each side job's output is shown
whole, in order, once the first suite has ended (the running one's as it is written).

Run one after another instead, the suites left the cores about a sixth idle during the
first suite; run side by side at equal priority they slowed the first suite more than they
gained (measured: 586 s against 560 s). The exit status is non-zero when any part failed.

    python tests/run_suites.py --backends "tensorflow jax torch" --workers 2 --lint "make lint"
"""

from __future__ import annotations

import argparse
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


@dataclass
class Job:
    """One part of the run: its title, command line and extra environment."""

    title: str
    cmd: list[str]
    env: dict[str, str] = field(default_factory=dict)
    log: Path | None = None
    started: threading.Event = field(default_factory=threading.Event)
    ended: threading.Event = field(default_factory=threading.Event)
    returncode: int | None = None
    seconds: float = 0.0


def suite(backend: str, workers: int) -> Job:
    """``pytest`` over ``tests/`` on ``backend``, its files spread over ``workers`` processes."""
    # whole files per worker: a module's shared fixture (the test site) is made once
    spread = ["-n", str(workers), "--dist", "loadfile"] if workers > 1 else []
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *spread, "--durations=5", "tests"]
    return Job(f"KERAS_BACKEND={backend}", cmd, {"KERAS_BACKEND": backend})


def _run(job: Job, *, nice: bool) -> None:
    cmd = (["nice", "-n", "19"] if nice and shutil.which("nice") else []) + job.cmd
    start = time.monotonic()
    assert job.log is not None
    with job.log.open("w") as out:
        job.started.set()
        try:
            job.returncode = subprocess.run(
                cmd, cwd=ROOT, env={**os.environ, **job.env}, stdout=out, stderr=subprocess.STDOUT
            ).returncode
        finally:
            job.seconds = time.monotonic() - start
            job.ended.set()


def _side(jobs: list[Job]) -> None:
    for job in jobs:
        _run(job, nice=True)


def _follow(job: Job) -> str:
    """Copy the job's log to stdout as it grows, until the job has ended; returns the log."""
    job.started.wait()
    assert job.log is not None
    with job.log.open("rb") as f:
        while True:
            ended = job.ended.is_set()
            chunk = f.read()
            if chunk:
                sys.stdout.buffer.write(chunk)
                sys.stdout.flush()
            if ended and not chunk:
                return job.log.read_text(errors="replace")
            if not chunk:
                time.sleep(0.5)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--backends", default="tensorflow jax torch", help="space-separated, the longest suite first")
    p.add_argument("--workers", type=int, default=2, help="pytest-xdist workers per suite (1: none)")
    p.add_argument("--lint", default="", help="the lint's command line, run first beside the first suite")
    a = p.parse_args(argv)
    backends = a.backends.split()
    if not backends:
        p.error("--backends names no backend; valid: tensorflow, jax, torch")
    start = time.monotonic()
    logs = Path(tempfile.mkdtemp(prefix="convviz-test-"))
    side = ([Job("lint", shlex.split(a.lint))] if a.lint else []) + [suite(b, a.workers) for b in backends[1:]]
    first = suite(backends[0], a.workers)
    for i, job in enumerate([first, *side]):
        job.log = logs / f"{i}.log"
    threading.Thread(target=_run, args=(first,), kwargs={"nice": False}, daemon=True).start()
    beside = threading.Thread(target=_side, args=(side,), daemon=True)
    beside.start()
    if side:
        print(f"beside {first.title}, at the lowest CPU priority: {', '.join(j.title for j in side)}", flush=True)
    totals = dict.fromkeys(("passed", "failed", "skipped"), 0)
    for job in (first, *side):
        print(
            f"=== {job.title} ===" if job is first else f"=== {job.title} (started beside {first.title}) ===",
            flush=True,
        )
        text = _follow(job)
        print(f"=== {job.title}: {job.seconds:.0f} s", flush=True)
        for word, n in _counts(text).items():
            totals[word] += n
    beside.join()
    shutil.rmtree(logs, ignore_errors=True)
    failed = [j.title for j in (first, *side) if j.returncode != 0]
    print(
        f"=== make test: {time.monotonic() - start:.0f} s; "
        + ("every part passed" if not failed else f"FAILED: {', '.join(failed)}"),
        flush=True,
    )
    print(f"tests: {totals['passed']} passed, {totals['failed']} failed, {totals['skipped']} skipped", flush=True)
    return 1 if failed else 0


_SUMMARY = re.compile(r"^=*\s*(?P<body>(?:\d+ \w+(?:, )?)+) in [\d.]+s", re.M)


def _counts(text: str) -> dict[str, int]:
    """Passed, failed (errors too) and skipped tests from pytest's closing line in ``text``."""
    out = dict.fromkeys(("passed", "failed", "skipped"), 0)
    lines = _SUMMARY.findall(text)
    if lines:
        for n, word in re.findall(r"(\d+) (\w+)", lines[-1]):
            key = {"error": "failed", "errors": "failed"}.get(word, word)
            if key in out:
                out[key] += int(n)
    return out


if __name__ == "__main__":
    sys.exit(main())
