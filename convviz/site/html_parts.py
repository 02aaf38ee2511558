"""HTML pieces of the generated pages (class and concept pages): thumbnails with captions,
strips of them, a colour scale; colours that read in light and dark mode."""

from __future__ import annotations

from convviz.core import markup

__all__ = ["THUMB", "WRONG", "MUTED", "img_tag", "figure", "strip", "count", "colour_bar"]


THUMB = 72  # displayed size of a test image, CSS pixels


# a wrong prediction's colour: the site's stylesheet (assets/explorer.css) sets it per colour
# scheme (light #c62828, dark #ff7b72: 5.6:1 and 6.4:1 against Material's backgrounds)
WRONG = "var(--convviz-wrong, #c62828)"


MUTED = "var(--md-default-fg-color--light, #757575)"  # 4.6:1 (light) and 4.9:1 (dark)


def img_tag(src: str, alt: str, *, size: int = THUMB, title: str = "") -> str:
    """An ``<img>`` of ``size`` CSS pixels, drawn pixelated (small images stay sharp)."""
    t = f' title="{markup.text(title)}"' if title else ""
    return (
        f'<img src="{src}" alt="{markup.text(alt)}"{t} width="{size}" height="{size}" loading="lazy" '
        'style="image-rendering: pixelated">'
    )


def figure(
    src: str, alt: str, caption: str, *, size: int = THUMB, title: str = "", href: str = "", wrong: bool = False
) -> str:
    """An image with its caption below (red for a wrong prediction), linked to ``href``."""
    img = img_tag(src, alt, size=size, title=title)
    if href:
        img = f'<a href="{href}">{img}</a>'
    color = f";color:{WRONG}" if wrong else ""
    return (  # a long class name wraps under its image instead of widening the strip
        f'<figure style="margin:0;text-align:center;max-width:{max(size, 96)}px">{img}'
        f'<figcaption style="font-size:0.8em;font-style:normal;overflow-wrap:anywhere{color}">{markup.text(caption)}</figcaption></figure>'
    )


def strip(items: list[str]) -> list[str]:
    """Lines of a wrapping row of :func:`figure` items."""
    return ['<div style="display:flex;flex-wrap:wrap;gap:4px">', *items, "</div>", ""]


def count(n: int) -> str:
    """ "1 test image", "2 test images"."""
    return f"{n} test image{'' if n == 1 else 's'}"


def colour_bar(what: str, *, label: str = "Grad-CAM") -> str:
    """The heat overlays' colour scale, from 0 to ``what`` (over a mid-gray pixel: the
    colours :func:`convviz.figures.heatmaps.overlay_heatmap` blends in), named ``label``."""
    from convviz.figures.heatmaps import heat_colormap

    cmap = heat_colormap()
    stops = ", ".join("#{:02x}{:02x}{:02x}".format(*(round(255 * c) for c in cmap(v / 8)[:3])) for v in range(9))
    return (
        '<p style="display:flex;flex-wrap:wrap;align-items:center;gap:.4em;font-size:0.7em;margin:.4em 0">'
        f'{markup.text(label)}: 0<span role="img" aria-label="colour scale of the {markup.text(label)} overlays, '
        f'from 0 to {markup.text(what)}" '
        f'style="display:inline-block;width:8em;height:.8em;background:linear-gradient(to right, {stops})"></span>'
        f"{markup.text(what)}</p>"
    )
