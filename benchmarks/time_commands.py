"""Time the README's commands the way a newcomer runs them: in a fresh clone of this
repository (a new ``.venv`` created by ``make``), one quiet run.

Measures the install, ``make site`` cold (the zoo read from its shipped weights, each
model's test accuracy, every page's seconds, the log's size), ``make site`` again (nothing
changed; the minimum of 3 runs), ``make check`` (the minimum of 2) and ``make test`` (seconds per backend), each against the goals of
issue 37 (from nothing ≤ 4 min, nothing changed ≤ 5 s, ``make check`` ≤ 60 s, ``make test`` ≤ 15 min), and writes ``benchmarks/results/commands.json``, which ``benchmarks/report.py
--readme`` renders into the README's ``bench:commands`` block.

    python benchmarks/time_commands.py [--skip-test] [--keep]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))


def run(cmd: str, cwd: Path, log: Path) -> float:
    # a newcomer's shell: no convviz settings, and Python writes its bytecode (a machine that
    # turns that off makes every process compile convviz and the tests again)
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONVVIZ_") and k != "PYTHONDONTWRITEBYTECODE"}
    t = time.perf_counter()
    with open(log, "w") as fh:
        proc = subprocess.run(cmd, shell=True, cwd=cwd, stdout=fh, stderr=subprocess.STDOUT, env=env)
    took = time.perf_counter() - t
    if proc.returncode != 0:
        raise SystemExit(f"{cmd} failed in {cwd} (see {log})")
    print(f"{cmd}: {took:.0f} s", flush=True)
    return took


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--skip-test", action="store_true", help="time the site only")
    p.add_argument("--keep", action="store_true", help="keep the clone")
    a = p.parse_args(argv)
    from _harness import RESULTS, machine, versions

    work = Path(tempfile.mkdtemp(prefix="convviz-timing-"))
    clone = work / "c"
    subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True)
    logs = work / "logs"
    logs.mkdir()
    rows = []
    rows.append(
        {
            "what": "venv + install (`make` creates `.venv`, compiles the bytecode and umap-learn once)",
            "seconds": run("make .venv/.dev-installed .venv/.umap-compiled", clone, logs / "install.log"),
            "goal": None,
        }
    )
    site = run("make site", clone, logs / "site.log")
    text = (logs / "site.log").read_text(errors="replace")
    per_model = re.findall(r"^convviz: (\S+): test accuracy ([0-9.]+) \(\w+\), (.*)$", text, re.M)
    pages = re.search(r"convviz: gallery pages run in this build \(seconds\):\n(.*?)\n  total ([0-9.]+) s", text, re.S)
    workers = re.findall(r"^convviz: (\S+): pages computed by a worker in ([0-9.]+) s$", text, re.M)
    per_page: dict[str, float] = {}
    for line in pages.group(1).splitlines() if pages else []:
        folder, page, sec = line.split()
        key = page if folder == "figures" else f"{folder.removeprefix('gallery/')} {page}"
        per_page[key] = float(sec)
    rows.append(
        {
            "what": "`make site`, cold (venv present)",
            "seconds": site,
            "goal": None,
            "detail": "zoo: "
            + ", ".join(f"{m} {float(acc):.2%} {how}" for m, acc, how in per_model)
            + (
                f"; {len(workers)} models computed by worker processes first ("
                + ", ".join(f"{m} {float(t):.0f} s" for m, t in workers)
                + ")"
                if workers
                else ""
            )
            + (f"; pages {float(pages.group(2)):.0f} s" if pages else ""),
            "per_page": per_page,
            "log_kb": round((logs / "site.log").stat().st_size / 1024),
        }
    )
    rows.append(
        {"what": "the site from nothing (install + `make site`)", "seconds": rows[0]["seconds"] + site, "goal": 240}
    )
    unchanged = [run("make site", clone, logs / f"site{i}.log") for i in (2, 3, 4)]  # short: the minimum of 3
    rows.append(
        {
            "what": "`make site`, nothing changed",
            "seconds": min(unchanged),
            "goal": 5,
            "detail": "minimum of 3 runs: " + ", ".join(f"{t:.1f}" for t in unchanged) + " s",
        }
    )
    # the minimum of 2 runs, as the other timings: the first with mypy's cache cold, the
    # second as a contributor's loop runs it (mypy reads its cache; the tests run again)
    checks = [run("make check", clone, logs / f"check{i}.log") for i in (1, 2)]
    rows.append(
        {
            "what": "`make check` (lint, types, fast unit tests on TensorFlow)",
            "seconds": min(checks),
            "goal": 60,
            "detail": "minimum of 2 runs: "
            + ", ".join(f"{t:.1f}" for t in checks)
            + " s (the first with mypy's cache cold)",
        }
    )
    if not a.skip_test:
        # as CI runs it: a clean checkout of its own, so the install (and nothing the site
        # build left in the first clone's venv or caches) counts
        fresh = work / "t"
        subprocess.run(["git", "clone", "-q", str(ROOT), str(fresh)], check=True)
        rows.append(
            {
                "what": "`make test` in a fresh clone (install, lint, 3 backends, site build and browser)",
                "seconds": run("make test", fresh, logs / "test.log"),
                "goal": 900,
            }
        )
        text = (logs / "test.log").read_text()
        rows[-1]["detail"] = "; ".join(
            f"{b} {s} s" for b, s in re.findall(r"^=== KERAS_BACKEND=(\w+): (\d+) s$", text, re.M)
        )
        rows[-1]["log_kb"] = round((logs / "test.log").stat().st_size / 1024)
        if not a.keep:
            shutil.rmtree(fresh, ignore_errors=True)
    res = {
        "benchmark": "commands",
        "date": dt.date.today().isoformat(),
        "machine": machine(),
        "versions": versions(),
        "repeats": None,
        "config": {
            "commit": subprocess.run(
                ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
            ).stdout.strip()
        },
        "rows": rows,
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "commands.json").write_text(json.dumps(res, indent=1) + "\n")
    print(f"wrote {RESULTS / 'commands.json'}; logs in {logs}")
    if not a.keep:
        shutil.rmtree(clone, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
