"""Markdown with math to safe, self-contained HTML, for the feedback and written-answer pages.

Students' answers are untrusted, so everything goes through the same rules: raw HTML is shown as
text, links only to http(s) and mailto (others are shown as text), images are named rather than
loaded, and math (``$...$``, ``$$...$$``) is drawn as inline SVG by `mathsvg`, never by a
script; TeX that mathtext cannot draw is shown as TeX.
"""

from __future__ import annotations

import html
import re

import mistune
from mistune.plugins.math import math as math_syntax

from attn_course.grading.mathsvg import tex_svg

SAFE_LINKS = ("http://", "https://", "mailto:")
MATH_BUDGET = 5000, 200  # characters and formulas drawn per text; the rest is shown as TeX
CSS = (".math-block{display:block;text-align:center;margin:.6em 0}"
       "code.tex{color:#555}table{border-collapse:collapse}"
       "td,th{border:1px solid #ccc;padding:.2em .5em}")


class SafeRenderer(mistune.HTMLRenderer):
    """mistune's HTML renderer with raw HTML escaped, links and images made harmless, and math
    drawn offline."""

    def __init__(self) -> None:
        super().__init__(escape=True)
        self.chars, self.formulas = MATH_BUDGET

    def link(self, text: str, url: str, title: str | None = None) -> str:
        if url.strip().lower().startswith(SAFE_LINKS):
            return (f'<a href="{html.escape(url.strip())}" rel="nofollow noopener noreferrer">'
                    f"{text}</a>")
        return f"{text} (<code>{html.escape(url)}</code>)"

    def image(self, text: str, url: str, title: str | None = None) -> str:
        return f"<em>[image: {text}]</em>"

    def math(self, tex: str, display: bool) -> str:
        """`tex` drawn, or shown between its delimiters when it cannot be (or the budget of
        this text is spent)."""
        self.chars -= len(tex)
        self.formulas -= 1
        svg = tex_svg(tex, display) if self.chars >= 0 and self.formulas >= 0 else None
        if svg is None:
            fence = "$$" if display else "$"
            return f"<code class='tex'>{html.escape(fence + tex + fence)}</code>"
        return f"<span class='math-block'>{svg}</span>" if display else svg


def _math(md: mistune.Markdown) -> None:
    """mistune's $ and $$ syntax, rendered by `SafeRenderer.math`."""
    math_syntax(md)
    md.renderer.register("block_math", lambda r, text: r.math(text, True))
    md.renderer.register("inline_math", lambda r, text: r.math(text, False))


def to_html(text: str) -> str:
    """`text` (Markdown with math, possibly a student's) as safe HTML; as escaped text in <pre>
    should the Markdown parser fail on it."""
    md = mistune.create_markdown(renderer=SafeRenderer(),
                                 plugins=["strikethrough", "table", _math])
    try:
        return md(text)
    except Exception:  # a parser bug must not cost the report
        return f"<pre>{html.escape(text)}</pre>"


def inline_html(text: str) -> str:
    """One line of Markdown (a title) as inline HTML: a single paragraph loses its <p>."""
    out = to_html(text).strip()
    match = re.fullmatch(r"<p>(.*)</p>", out, re.S)
    return match.group(1) if match and "<p>" not in match.group(1) else out
