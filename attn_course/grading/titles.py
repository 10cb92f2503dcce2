"""A human title for each graded item, read from the source notebook (Markdown, may hold math).

In order: the first line of a comment opening a test cell (``# Test: a stable softmax``), or the
first heading of a task cell; else the heading of the section the item is in (the nearest
heading above it, its number dropped), written answers marked as such; else the grade id.
Titles that would repeat get " (2)", " (3)" and so on.
"""

from __future__ import annotations

import re

from nbformat import NotebookNode

from attn_course.grading.source import Assignment, Item, role

MARKER = re.compile(r"#+\s*(BEGIN|END)\s+(SOLUTION|HIDDEN TESTS|MARK SCHEME)\b")
HEADING = re.compile(r"#{1,6}\s+(.+?)\s*#*\s*$")
NUMBER = re.compile(r"(\d+\.)+\s+|\d+\s+")
STUB = "YOUR CODE HERE"


def titles(assignment: Assignment) -> dict[str, str]:
    """{grade_id: title} for every item of `assignment`."""
    out: dict[str, str] = {}
    seen: dict[str, int] = {}
    for item in assignment.items:
        title = item_title(assignment.notebook.cells, item)
        seen[title] = seen.get(title, 0) + 1
        out[item.grade_id] = title if seen[title] == 1 else f"{title} ({seen[title]})"
    return out


def item_title(cells: list[NotebookNode], item: Item) -> str:
    """The title of one item (see the module's docstring)."""
    cell = cells[item.index]
    own = _own_title(cell)
    if own:
        return own
    section = _section(cells, item.index)
    if item.kind == "manual" and cell.cell_type == "markdown" and role(cell) == "manual":
        return f"Written answer: {section}" if section else f"Written answer ({item.grade_id})"
    return section or item.grade_id


def _own_title(cell: NotebookNode) -> str:
    """The comment opening a test cell, or the first heading of a task cell ("" if none)."""
    kind = role(cell)
    for line in cell.source.splitlines():
        line = line.strip()
        if not line or MARKER.match(line):
            continue
        if kind == "test" and line.startswith("#"):
            text = line.lstrip("#").strip()
            return "" if STUB in text else text
        if kind == "task" and HEADING.match(line):
            return _heading_text(line)
        if kind == "test":
            return ""
    return ""


def _section(cells: list[NotebookNode], index: int) -> str:
    """The nearest Markdown heading above cell `index` ("" if none)."""
    for cell in reversed(cells[:index]):
        if cell.cell_type != "markdown":
            continue
        headings = [ln for ln in cell.source.splitlines()
                    if HEADING.match(ln) and not MARKER.match(ln.strip())]
        if headings:
            return _heading_text(headings[-1])
    return ""


def _heading_text(line: str) -> str:
    """A heading's text without its #s and its section number ("## 3. Masks" -> "Masks")."""
    text = HEADING.match(line.strip()).group(1)
    return NUMBER.sub("", text, count=1) if NUMBER.match(text) else text
