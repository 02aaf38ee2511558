"""The one way convviz writes a file: all at once. The bytes go to a temporary file beside
the target, are flushed to disk, and replace the target in one rename, so a reader (a site
server, another build worker, a cache lookup) never sees half a file and an interrupted
write leaves the old file as it was."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

__all__ = ["atomic_path", "atomic_write", "write_if_changed", "stale_temporaries"]


@contextlib.contextmanager
def atomic_path(target: str | Path, *, mode: int = 0o644) -> Iterator[Path]:
    """A temporary path beside ``target`` to write to (a library that saves to a path:
    ``fig.savefig``, ``model.save``); on leaving the block it replaces ``target``, readable
    with ``mode`` (``mkstemp``'s 0600 would keep a web server from reading a site's copy). On
    an error the temporary file is removed and ``target`` is untouched."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    # ".<name>.<pid>.<random>.tmp": the writer's process id lets stale_temporaries tell a
    # killed writer's leftover from a file being written
    fd, name = tempfile.mkstemp(prefix=f".{target.name}.{os.getpid()}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise


def atomic_write(target: str | Path, data: bytes | str, *, mode: int = 0o644) -> Path:
    """Write ``data`` (text as UTF-8) to ``target`` atomically; returns ``target``."""
    payload = data.encode("utf-8") if isinstance(data, str) else data
    with atomic_path(target, mode=mode) as tmp:
        tmp.write_bytes(payload)
    return Path(target)


def write_if_changed(target: str | Path, text: str) -> bool:
    """Write ``text`` to ``target`` (atomically) unless the file already holds it; whether it
    wrote. An unchanged file keeps its modification time (MkDocs' live reload and the
    gallery's staleness checks read it)."""
    target = Path(target)
    if target.is_file() and target.read_text(encoding="utf-8") == text:
        return False
    atomic_write(target, text)
    return True


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def stale_temporaries(folder: str | Path) -> list[Path]:
    """The temporary files that :func:`atomic_path` left in ``folder`` when its writer died
    mid-write (a killed build): its target was never replaced, so nothing is lost by removing
    them. Files of living writers are not listed."""
    out = []
    for p in sorted(Path(folder).glob(".*.tmp")):
        parts = p.name[: -len(".tmp")].rsplit(".", 2)
        if len(parts) == 3 and parts[1].isdigit() and not _alive(int(parts[1])):
            out.append(p)
    return out
