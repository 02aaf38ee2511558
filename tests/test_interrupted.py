"""An interrupted build loses nothing; two renders on one cache give correct results.

`convviz render` runs the site's pages and fills the cache that the site build reads.
Here it is killed at several moments (training, filters, projections...), then run to
the end: its numbers must equal a clean run's and every cache entry must be valid.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from conftest import default_backend_only
from convviz.store.cache import Cache

pytestmark = [
    pytest.mark.slow,
    default_backend_only("one backend is enough for process-level checks"),
]

ROOT = Path(__file__).resolve().parents[1]
# a recipe of its own (nothing shipped: the render trains it), two epochs (a kill lands inside
# the training), and a pass budget: the filter ascent's steps are what the kills cut into, not
# how many of them there are (every render here runs the same pages at the same size)
ZOO = """\
models:
  - name: digits-cnn
    source: trained
    architecture: plain_cnn
    dataset: digits
    epochs: 2
    augment: shift
    budget: {passes: 1500}
"""


def _env(cache: Path, zoo_file: Path) -> dict[str, str]:
    return {
        **os.environ,
        "KERAS_BACKEND": "tensorflow",
        "CONVVIZ_CACHE_DIR": str(cache),
        "CONVVIZ_ZOO": str(zoo_file),
        "TF_CPP_MIN_LOG_LEVEL": "3",
    }


# the pages whose results take longest to compute and write: filter ascent, embeddings and
# their projections (every page shares the same cache and atomic writes)
PAGES = "filters,latent"


def _render(cache: Path, zoo_file: Path, out: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "convviz.cli", "render", "digits-cnn", "--what", PAGES, "--out", str(out)],
        cwd=ROOT,
        env=_env(cache, zoo_file),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )


def _numbers(out: Path) -> dict:
    manifest = json.loads((out / "digits-cnn" / "manifest.json").read_text())
    for page in manifest["pages"].values():
        page.pop("seconds")
        page.pop("written", None)  # whether this run wrote the page (an earlier one may have): history, like the time
    return manifest


def _all_valid(cache: Path, *, killed: bool = False) -> None:
    c = Cache(cache)
    for key in c.keys():
        assert c.get_bytes(key) is not None  # raises CorruptEntry on a bad entry
    if not killed:  # a kill mid-write leaves its temp file (never read); the next writer sweeps it
        assert not [p for p in cache.iterdir() if p.name.endswith(".tmp")]


@pytest.fixture(scope="module")
def clean(tmp_path_factory):
    root = tmp_path_factory.mktemp("clean")
    zoo_file = root / "zoo.yml"
    zoo_file.write_text(ZOO)
    proc = _render(root / "cache", zoo_file, root / "out")
    out, _ = proc.communicate(timeout=900)
    assert proc.returncode == 0, out[-3000:]
    return zoo_file, _numbers(root / "out"), sorted(Cache(root / "cache").keys())


def _kill_after(proc: subprocess.Popen, marker: str | None, delay: float, *, timeout: float = 300) -> bool:
    """Kill ``proc`` (its whole process group) ``delay`` seconds after ``marker`` appears in its
    output (after its start when None). Returns whether it was still running then."""
    seen = threading.Event()
    text: list[str] = []

    def read() -> None:
        assert proc.stdout is not None
        while chunk := proc.stdout.read(64):
            text.append(chunk)
            if marker is not None and marker in "".join(text[-64:]):
                seen.set()
        seen.set()  # ended

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    if marker is not None:
        seen.wait(timeout)
    time.sleep(delay)
    running = proc.poll() is None
    if running:
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    reader.join(timeout)
    return running


# when each kill lands: during start-up, training, the filter ascent, the latent page
# (embeddings and projections), each a moment after the render's own output says it began
KILLS = ((None, 3.0), ("train digits-cnn", 1.0), ("shallow, middle, deep:", 1.5), ("test images, ", 0.5))


def test_killed_renders_then_a_full_one_equal_a_clean_render(clean, tmp_path):
    zoo_file, reference, reference_keys = clean
    cache = tmp_path / "cache"
    for marker, delay in KILLS:
        assert _kill_after(_render(cache, zoo_file, tmp_path / "out"), marker, delay), f"ended before: {marker}"
        if cache.is_dir():
            _all_valid(cache, killed=True)
    proc = _render(cache, zoo_file, tmp_path / "out")
    out, _ = proc.communicate(timeout=900)
    assert proc.returncode == 0, out[-3000:]
    _all_valid(cache)
    assert _numbers(tmp_path / "out") == reference
    assert sorted(Cache(cache).keys()) == reference_keys


def test_two_renders_on_one_cache(clean, tmp_path):
    zoo_file, reference, _ = clean
    cache = tmp_path / "shared"
    procs = [_render(cache, zoo_file, tmp_path / f"out{i}") for i in (1, 2)]
    for p in procs:
        out, _ = p.communicate(timeout=900)
        assert p.returncode == 0, out[-3000:]
    _all_valid(cache)
    assert _numbers(tmp_path / "out1") == reference
    assert _numbers(tmp_path / "out2") == reference
