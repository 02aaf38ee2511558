"""Progress bars that suit where they are shown: a live bar on a terminal; in a log (CI,
``make site > log``) at most one update per 10% of the work and per 10 seconds."""

from __future__ import annotations

import sys
from typing import Any

__all__ = ["bar"]


def bar(*, total: int, desc: str, unit: str = "it", disable: bool = False, leave: bool = False) -> Any:
    """A tqdm progress bar; quiet in logs (see the module docstring)."""
    from tqdm.auto import tqdm

    live = sys.stderr.isatty()
    opts: dict[str, Any] = {} if live else {"mininterval": 10.0, "miniters": max(1, total // 10), "ascii": True}
    return tqdm(total=total, desc=desc, unit=unit, disable=disable, leave=leave, dynamic_ncols=live, **opts)
