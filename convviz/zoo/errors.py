"""The zoo's one error: a problem in a zoo file or entry, said with the key and line it comes from."""

from __future__ import annotations
from convviz.core.errors import InputError

__all__ = ["ZooError"]


class ZooError(InputError):
    """A problem in the zoo file; the message names the key and its line."""
