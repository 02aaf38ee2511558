"""Compute several zoo models' pages at the same time, in worker processes, before a build.

mkdocs-gallery runs the page scripts one after another in one process, and TensorFlow keeps
little more than one core busy on small models. Before the gallery runs, the MkDocs plugin
starts up to ``jobs`` worker processes, one ``convviz render`` per model whose pages will
re-run; each fills the cache with its model's arrays (activations, filter patterns, CAMs,
attributions, embeddings, unit and class pages), so that the gallery's own run of each page
reads them and only plots, and writes the model's unit and class pages, layer browser and
explorer into the site's gallery folder, where the build finds them up to date. The workers
save no figures: the gallery plots each page itself. A worker that fails changes nothing: the
gallery computes that model's pages itself and reports the error where it happens.

The number of workers: the plugin's ``jobs`` option, else ``$CONVVIZ_JOBS``, else one per
CPU core (at most 4); ``1`` turns the workers off (e.g. for a build from the merged cache of
parallel ``convviz render`` jobs, which has nothing left to compute).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from convviz.core.files import atomic_write
from convviz.core.errors import InputError

__all__ = ["Outcome", "default_jobs", "order", "prerender", "what_for", "worker_env"]

MAX_DEFAULT_JOBS = 4  # each worker holds a model, its data and TensorFlow: ~1-2 GB
_TIMES = ".prerender-seconds.json"  # in the cache folder: each model's last worker time


@dataclass(frozen=True)
class Outcome:
    """One worker's result: the model, whether it succeeded, its seconds, the end of its log
    and the seconds of each extra page it wrote into ``pages_out`` (``units``, ``layers``,
    ``explorer``, ``classes``, ``concepts``, ``atlas``; pages it found up to date are not listed)."""

    model: str
    ok: bool
    seconds: float
    log_tail: str = ""
    written: Mapping[str, float] = field(default_factory=dict)


def default_jobs(value: int | str | None = None) -> int:
    """Workers to use: ``value`` (the plugin's option), else ``$CONVVIZ_JOBS``, else the CPU
    cores (at most :data:`MAX_DEFAULT_JOBS`). Raises ValueError for anything but a positive
    whole number."""
    source = "jobs"
    if value is None:
        value, source = os.environ.get("CONVVIZ_JOBS") or None, "$CONVVIZ_JOBS"
    if value is None:
        return max(1, min(os.cpu_count() or 1, MAX_DEFAULT_JOBS))
    try:
        jobs = int(value)
    except (TypeError, ValueError):
        jobs = 0
    if jobs < 1 or str(value).strip() != str(jobs):
        raise InputError(f"{source} must be a positive whole number of worker processes (1: none), got {value!r}")
    return jobs


def what_for(pages: Sequence[str]) -> list[str]:
    """``convviz render --what`` names of gallery pages (``gradcam`` is ``cam``), plus the
    unit and class pages, which the plugin writes after the gallery."""
    from convviz.site.pages import WHAT

    names = {page: what for what, page in WHAT.items()}
    return [names[p] for p in pages if p in names] + ["units", "classes", "concepts", "atlas"]


def _read_times(cache_dir: Path) -> dict[str, float]:
    try:
        seconds = json.loads((cache_dir / _TIMES).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return seconds if isinstance(seconds, dict) else {}


def order(models: Sequence[str], cache_dir: Path) -> list[str]:
    """Longest first, by each model's time in the last build that had workers (so that one
    slow model does not start last); models never timed first of all, in reverse zoo order
    (a zoo usually lists its small models first)."""
    seconds = _read_times(cache_dir)
    unknown = [m for m in reversed(models) if not isinstance(seconds.get(m), (int, float))]
    known = sorted((m for m in models if m not in unknown), key=lambda m: -float(seconds[m]))
    return unknown + known


def _record(cache_dir: Path, outcomes: Sequence[Outcome]) -> None:
    seconds = _read_times(cache_dir)
    seconds.update({o.model: round(o.seconds, 1) for o in outcomes if o.ok})
    atomic_write(cache_dir / _TIMES, json.dumps(seconds, indent=1, sort_keys=True) + "\n")


THREAD_POOLS = (
    "TF_NUM_INTRAOP_THREADS",
    "TF_NUM_INTEROP_THREADS",
    "OMP_NUM_THREADS",
    "NUMBA_NUM_THREADS",
    "MKL_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
)


def worker_env(jobs: int) -> dict[str, str]:
    """The environment of a worker: each thread pool (TensorFlow's, OpenMP's, numba's, BLAS)
    gets the worker's share of the cores, unless the environment already sets it; more
    threads than cores made two workers slower together than one process alone."""
    env = os.environ.copy()
    share = str(max(1, (os.cpu_count() or 1) // max(1, jobs)))
    for name in THREAD_POOLS:
        env.setdefault(name, share)
    return env


def _run(
    model: str,
    what: Sequence[str],
    out: Path,
    cwd: Path,
    env: dict[str, str],
    say: Callable[[str], None],
    pages_out: Path | None = None,
) -> Outcome:
    log = out / f"{model}.log"
    start = time.perf_counter()
    # no figures: the gallery plots every page again (from the cache) and keeps its own
    cmd = [sys.executable, "-m", "convviz.cli", "render", model, "--what", ",".join(what), "--out", str(out)]
    cmd += ["--no-figures"] + (["--pages-out", str(pages_out)] if pages_out is not None else [])
    with log.open("w", encoding="utf-8") as fh:
        proc = subprocess.run(cmd, cwd=cwd, stdout=fh, stderr=subprocess.STDOUT, env=env)
    seconds = time.perf_counter() - start
    tail = "" if proc.returncode == 0 else _failure(log.read_text(encoding="utf-8", errors="replace"))
    outcome = Outcome(model, proc.returncode == 0, seconds, tail, _written(out / model / "manifest.json"))
    if outcome.ok:
        say(f"convviz: {model}: pages computed by a worker in {seconds:.1f} s")
    else:
        say(f"convviz: {model}: the worker failed after {seconds:.1f} s; the gallery computes its pages itself")
    return outcome


def _failure(log: str) -> str:
    """What a failed worker's log says: its one-line error (``convviz: error: ...``, a problem
    with the zoo's data or the command) when it ends with one, else the end of the log (a
    traceback)."""
    lines = log.rstrip().splitlines()
    if lines and lines[-1].startswith("convviz: error: "):
        return lines[-1]
    return log[-2000:]


def _written(manifest: Path) -> dict[str, float]:
    """The extra pages a worker wrote (not found up to date), with their seconds."""
    try:
        pages = json.loads(manifest.read_text(encoding="utf-8"))["pages"]
    except (OSError, ValueError, KeyError, TypeError):
        return {}
    return {name: float(p["seconds"]) for name, p in pages.items() if isinstance(p, dict) and p.get("written")}


def prerender(
    pages: Mapping[str, Sequence[str]],
    *,
    jobs: int,
    cwd: str | Path = ".",
    cache_dir: str | Path | None = None,
    pages_out: str | Path | None = None,
    say: Callable[[str], None] = print,
) -> list[Outcome]:
    """Fill the cache for ``pages`` ({model: [gallery pages that will re-run]}) with up to
    ``jobs`` ``convviz render`` processes at a time. Returns one :class:`Outcome` per model
    (none when there are fewer than two models or ``jobs`` is 1: one process is then as
    fast, without the workers' duplicate plotting).

    ``pages_out``: the site's gallery folder; each worker writes its model's unit and class
    pages, layer browser and explorer there (``<pages_out>/<model>/units/``...), so that the
    build finds them up to date instead of writing them again one model after another.
    Without it they go to a temporary folder (only the cache is filled)."""
    from convviz.store.cache import default_cache

    models = [m for m, p in pages.items() if p]
    jobs = min(jobs, len(models))
    if jobs < 2:
        return []
    store = Path(cache_dir) if cache_dir is not None else default_cache().root
    queue = order(models, store)
    say(f"convviz: computing the pages of {len(queue)} models in {jobs} worker processes: {', '.join(queue)}")
    env = worker_env(jobs)
    with tempfile.TemporaryDirectory(prefix="convviz-workers-") as tmp:
        with ThreadPoolExecutor(jobs) as pool:
            target = None if pages_out is None else Path(pages_out).resolve()
            outcomes = list(
                pool.map(lambda m: _run(m, what_for(pages[m]), Path(tmp), Path(cwd), env, say, target), queue)
            )
    for o in outcomes:
        if not o.ok:
            say(o.log_tail)
    _record(store, outcomes)
    return outcomes
