"""TeX to inline SVG with matplotlib's mathtext: formulas drawn offline, no fonts or scripts
fetched by the page that shows them.

Each SVG is self-contained: glyphs are paths (no font needed), with no ids, no style sheet and no
comments, so any number of formulas share one page. TeX that mathtext cannot draw gives None.
"""

from __future__ import annotations

import functools
import io
import re
import xml.etree.ElementTree as ET

SVG_NS = "http://www.w3.org/2000/svg"
XLINK_HREF = "{http://www.w3.org/1999/xlink}href"
MAX_TEX = 500  # longer formulas are shown as TeX (mathtext takes 0.1 s per 100 characters)
INLINE_PT, DISPLAY_PT = 13, 16  # next to 16 px (12 pt) text
DROPPED = {f"{{{SVG_NS}}}{tag}" for tag in ("defs", "metadata", "style")}

# Common TeX that mathtext spells otherwise (or lacks, where dropping it changes only spacing).
ALIASES = [
    (r"\\le(?![a-zA-Z])", r"\\leq"),
    (r"\\ge(?![a-zA-Z])", r"\\geq"),
    (r"\\[lr]Vert(?![a-zA-Z])", r"\\Vert"),
    (r"\\[lr]vert(?![a-zA-Z])", "|"),
    (r"\\(?:operatorname|text|textrm)(?![a-zA-Z])", r"\\mathrm"),
    (r"\\[Bb]igg?[lr]?(?![a-zA-Z])", ""),
    (r"\\displaystyle(?![a-zA-Z])", ""),
]


def normalised(tex: str) -> str:
    """`tex` on one line, with the aliases above applied."""
    tex = " ".join(tex.split())
    for pattern, replacement in ALIASES:
        tex = re.sub(pattern, replacement, tex)
    return tex


@functools.lru_cache(maxsize=4096)
def tex_svg(tex: str, display: bool = False) -> str | None:
    """An <svg> element drawing `tex` (without its $ delimiters), or None if mathtext cannot."""
    tex = normalised(tex)
    if not tex or len(tex) > MAX_TEX:
        return None
    try:
        text, depth = _draw(f"${tex}$", DISPLAY_PT if display else INLINE_PT)
        return _inline(text, tex, depth, display)
    except Exception:  # mathtext's parse errors (ValueError) and whatever odd TeX provokes
        return None


def _draw(mathtext: str, size: float) -> tuple[str, float]:
    """(SVG document, depth below the baseline in points) of one formula."""
    from matplotlib.figure import Figure
    from matplotlib.font_manager import FontProperties
    from matplotlib.mathtext import MathTextParser

    prop = FontProperties(size=size, math_fontfamily="cm")
    width, height, depth, _, _ = MathTextParser("path").parse(mathtext, dpi=72, prop=prop)
    fig = Figure(figsize=(width / 72, height / 72))
    fig.text(0, depth / height, mathtext, fontproperties=prop)
    buf = io.StringIO()
    fig.savefig(buf, format="svg", metadata={"Date": None}, transparent=True)
    return buf.getvalue(), depth


def _inline(document: str, tex: str, depth: float, display: bool) -> str:
    """The <svg> element of `document`: every <use> replaced by the glyph it names; ids, style
    sheets, metadata and comments dropped."""
    root = ET.fromstring(document.encode("utf-8"))
    glyphs = {el.get("id"): el for el in root.iter(f"{{{SVG_NS}}}path") if el.get("id")}
    for parent in list(root.iter()):
        for index, child in enumerate(parent):
            if child.tag == f"{{{SVG_NS}}}use":
                parent[index] = _glyph(child, glyphs)
    for parent in list(root.iter()):
        for child in [c for c in parent if c.tag in DROPPED]:
            parent.remove(child)
    for el in root.iter():
        el.attrib.pop("id", None)
        el.text = el.tail = None  # only the indentation between elements
        if el.get("d"):
            el.set("d", " ".join(el.get("d").split()))
    root.set("aria-label", tex)
    root.set("class", "math-display" if display else "math")
    root.set("role", "img")
    if not display:
        root.set("style", f"vertical-align:-{depth:.2f}pt")
    ET.register_namespace("", SVG_NS)
    return ET.tostring(root, encoding="unicode")


def _glyph(use: ET.Element, glyphs: dict[str, ET.Element]) -> ET.Element:
    """A <path> drawing the glyph that `use` points to, where `use` puts it."""
    glyph = glyphs.get((use.get(XLINK_HREF) or "").lstrip("#"))
    path = ET.Element(f"{{{SVG_NS}}}path", d=glyph.get("d", "") if glyph is not None else "")
    transform = " ".join(t for t in (use.get("transform"), glyph is not None
                                     and glyph.get("transform")) if t)
    x, y = use.get("x"), use.get("y")
    if x or y:
        transform = f"{transform} translate({x or 0} {y or 0})".strip()
    if transform:
        path.set("transform", transform)
    return path
