"""Fair timing for the benchmarks: every method in its own fresh process, the order of the
methods alternated between repeats, min and median reported, peak RSS per process.

A benchmark script calls :func:`compare` with its method names; each repeat starts one
child per method (``python SCRIPT --child METHOD ...``), which builds its inputs, times
only the method and prints one JSON line. Each child reports its own peak RSS (``ru_maxrss``): imports, model and method.
Results are written to ``benchmarks/results/<name>.json`` with the date, the machine and
the versions, and rendered into the docs and the README by ``benchmarks/report.py``.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import statistics
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"


def machine() -> dict[str, Any]:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = None
    try:
        mem = round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30)
    except (ValueError, OSError):
        pass
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gib": mem,
        "gpu": "none",
        "python": platform.python_version(),
        "system": platform.system(),
    }


def versions(
    packages: Sequence[str] = ("keras", "tensorflow", "jax", "torch", "numpy", "tf-keras-vis"),
) -> dict[str, str]:
    import importlib.metadata as md

    out = {}
    for p in packages:
        try:
            out[p] = md.version(p)
        except md.PackageNotFoundError:
            pass
    return out


def _run_child(script: Path, method: str, args: Sequence[str]) -> dict[str, Any]:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    proc = subprocess.Popen(
        [sys.executable, str(script), "--child", method, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    out, err = proc.communicate()
    if proc.returncode != 0:
        raise RuntimeError(f"{method} failed:\n{err[-3000:]}")
    return json.loads(out.strip().splitlines()[-1])


def compare(
    script: str | Path, name: str, methods: Sequence[str], args: Sequence[str], *, repeats: int, config: dict[str, Any]
) -> dict[str, Any]:
    """Run every method ``repeats`` times, each in a new process, order alternated."""
    script = Path(script).resolve()
    runs: dict[str, list[dict[str, Any]]] = {m: [] for m in methods}
    for r in range(repeats):
        order = list(methods) if r % 2 == 0 else list(reversed(methods))
        for m in order:
            res = _run_child(script, m, args)
            runs[m].append(res)
            print(
                f"  repeat {r + 1}/{repeats} {m:<24} {res['seconds']:8.2f} s  peak RSS {res['peak_rss_mb']:7.0f} MB",
                flush=True,
            )
    rows = []
    for m in methods:
        secs = [x["seconds"] for x in runs[m]]
        rss = [x["peak_rss_mb"] for x in runs[m]]
        extra = {k: v for k, v in runs[m][0].items() if k not in ("seconds", "peak_rss_mb")}
        rows.append(
            {
                "method": m,
                "seconds": secs,
                "min": min(secs),
                "median": statistics.median(secs),
                "peak_rss_mb": max(rss),
                **extra,
            }
        )
    return save(name, repeats=repeats, config=config, rows=rows)


def save(
    name: str, *, repeats: int, config: dict[str, Any], libs: Sequence[str] | None = None, **fields: Any
) -> dict[str, Any]:
    """Write ``results/<name>.json`` (atomically) with the date, the machine, the versions and
    ``fields`` (the rows); returns what was written."""
    result = {
        "benchmark": name,
        "date": dt.date.today().isoformat(),
        "machine": machine(),
        "versions": versions() if libs is None else versions(tuple(libs)),
        "repeats": repeats,
        "config": config,
        **fields,
    }
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{name}.json"
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(result, indent=1) + "\n")
    os.replace(tmp, path)
    print(f"wrote {path.relative_to(Path.cwd()) if path.is_relative_to(Path.cwd()) else path}")
    return result


def parse(doc: str, methods: Sequence[str], argv: Sequence[str] | None, options: dict[str, Any]) -> Any:
    """The benchmark's arguments: ``options`` (``--name default``, typed by the default),
    ``--repeats`` and the hidden ``--child METHOD`` a repeat starts each method with."""
    import argparse

    p = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    for name, default in options.items():
        p.add_argument(f"--{name}", type=type(default), default=default)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--child", choices=list(methods), help=argparse.SUPPRESS)
    return p.parse_args(argv)


def child_args(a: Any, options: dict[str, Any]) -> list[str]:
    """The options of ``a`` again as command-line arguments, for the children."""
    return [x for name in options for x in (f"--{name}", str(getattr(a, name)))]


def child_report(seconds: float, **extra: Any) -> None:
    """Print a child's result line (with its own peak RSS)."""
    import resource

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"seconds": seconds, "peak_rss_mb": peak, **extra}), flush=True)
