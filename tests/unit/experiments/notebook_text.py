"""The words of a solution notebook, for the tests that hold its text to the shipped results."""

from pathlib import Path

import nbformat

SOLUTIONS = Path(__file__).resolve().parents[3] / "solutions"


def notebook_text(name: str, *, code: bool = False) -> str:
    """The markdown cells of solutions/`name` (and the code cells too, with code=True), with
    one space between words."""
    cells = nbformat.read(SOLUTIONS / name, as_version=4).cells
    return " ".join(" ".join(c.source for c in cells
                             if code or c.cell_type == "markdown").split())
