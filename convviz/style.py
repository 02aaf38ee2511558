"""The site's figure style: one set of Matplotlib settings for every figure a page draws.

:func:`use_site_style` applies it (the site build before every page, ``convviz render`` and
``convviz diff``); a reader's own script keeps Matplotlib's defaults unless it calls it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from typing import Any, cast

__all__ = ["SITE_STYLE", "use_site_style", "site_style"]

SITE_STYLE: Mapping[str, Any] = {
    # titles and labels hold names from zoo files and model files (class, layer, image
    # names): a '$' in them is text, never the start of mathtext
    "text.parse_math": False,
}


def use_site_style() -> None:
    """Matplotlib's defaults, then :data:`SITE_STYLE`."""
    import matplotlib

    matplotlib.rcdefaults()
    matplotlib.rcParams.update(cast(Any, SITE_STYLE))  # matplotlib types its keys as literals


@contextlib.contextmanager
def site_style() -> Iterator[None]:
    """:data:`SITE_STYLE` for the figures drawn and saved inside the block (the caller's
    settings are restored after it)."""
    import matplotlib

    with matplotlib.rc_context(cast(Any, dict(SITE_STYLE))):
        yield
