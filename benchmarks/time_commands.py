"""Time the README's commands the way a newcomer runs them: in a fresh clone of this
repository, one quiet run, the venv shared from this checkout (``--venv``) or created by
``make`` (``--cold``).

Measures the install, ``make site`` cold (the zoo trained inside, with each model's time
and test accuracy; no pages), ``make site`` again (nothing changed) and ``make test``, and writes
``benchmarks/results/commands.json`` (rendered into the README and the site by
``benchmarks/report.py``).

    python benchmarks/time_commands.py [--skip-test]
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
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONVVIZ_")}
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
    p.add_argument(
        "--zoo-cache",
        metavar="DIR",
        help="copy this trained zoo cache into the clone first: `make site` then times the "
        "pages, not the training (labelled so in the results)",
    )
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
            "what": "venv + install (`make` creates `.venv`)",
            "seconds": run("make .venv/.dev-installed", clone, logs / "install.log"),
        }
    )
    if a.zoo_cache:
        shutil.copytree(a.zoo_cache, clone / ".convviz-cache")
    site = run("make site", clone, logs / "site.log")
    text = (logs / "site.log").read_text(errors="replace")
    per_model = re.findall(r"^(\S+): test accuracy ([0-9.]+) \(\w+\), ([0-9.]+) s", text, re.M)
    trained = "zoo training: " if not a.zoo_cache else "zoo read from a copied cache: "
    rows.append(
        {
            "what": "`make site`, cold (venv present, no pages"
            + (", zoo untrained)" if not a.zoo_cache else ", zoo already trained)"),
            "seconds": site,
            "detail": trained + ", ".join(f"{m} {float(t):.0f} s ({float(acc):.2%})" for m, acc, t in per_model),
            "log_kb": round((logs / "site.log").stat().st_size / 1024),
        }
    )
    rows.append({"what": "`make site`, nothing changed", "seconds": run("make site", clone, logs / "site2.log")})
    if not a.skip_test:
        rows.append(
            {
                "what": "`make test` (3 backends, site build and browser included)",
                "seconds": run("make test", clone, logs / "test.log"),
            }
        )
        tail = (logs / "test.log").read_text().splitlines()
        rows[-1]["detail"] = "; ".join(line.strip() for line in tail if re.search(r"\d+ passed", line))
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
