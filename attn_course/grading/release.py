"""Release: write student notebooks from the nbgrader source notebooks.

The sources in ``solutions/`` hold everything (solutions, hidden tests, rubrics, outputs). A student
notebook is the same notebook passed through nbgrader's own preprocessors, used as a library (no
course directory, no gradebook database):

    LockCells → ClearSolutions → ClearOutput → ClearHiddenTests → ClearMarkScheme
              → ComputeChecksums → CheckCellMetadata

plus the removal of stored widget state, so nothing of the solution run leaks.
"""

from __future__ import annotations

import copy
import difflib
from dataclasses import dataclass
from pathlib import Path

import nbformat
from nbconvert.preprocessors import Preprocessor
from nbformat import NotebookNode

SOURCE_GLOB = "[0-9][0-9]_*.ipynb"


def _preprocessors() -> list[Preprocessor]:
    # Imported here: nbgrader is heavy to import and only release/grade need it.
    from nbgrader.preprocessors import (
        CheckCellMetadata,
        ClearHiddenTests,
        ClearMarkScheme,
        ClearOutput,
        ClearSolutions,
        ComputeChecksums,
        LockCells,
    )

    return [
        LockCells(),
        ClearSolutions(),
        ClearOutput(),
        ClearHiddenTests(),
        ClearMarkScheme(),
        ComputeChecksums(),
        CheckCellMetadata(),
    ]


def student_version(source: NotebookNode) -> NotebookNode:
    """Return the student notebook for one source notebook (the input is not modified)."""
    nb = copy.deepcopy(source)
    resources: dict = {}
    for preprocessor in _preprocessors():
        nb, resources = preprocessor.preprocess(nb, resources)
    nb.metadata.pop("widgets", None)  # widget state of the solution run
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
        cell.metadata.pop("execution", None)  # timing metadata written by nbclient
    return nb


def serialize(nb: NotebookNode) -> str:
    """The exact text release writes: stable key order, one trailing newline."""
    return nbformat.writes(nb, version=4).rstrip("\n") + "\n"


def source_notebooks(source_dir: Path) -> list[Path]:
    """The course's source notebooks, in course order (``NN_name.ipynb``)."""
    return sorted(Path(source_dir).glob(SOURCE_GLOB))


@dataclass
class Difference:
    """One way ``notebooks/`` differs from what release would write."""

    path: Path
    reason: str
    diff: str = ""

    def __str__(self) -> str:
        return f"{self.path}: {self.reason}"


def _planned(source_dir: Path, dest_dir: Path) -> dict[Path, str]:
    planned = {}
    for src in source_notebooks(source_dir):
        nb = nbformat.read(src, as_version=4)
        planned[Path(dest_dir) / src.name] = serialize(student_version(nb))
    return planned


def release(source_dir: Path, dest_dir: Path) -> list[Path]:
    """Write every student notebook; remove student notebooks that no longer have a source."""
    dest_dir = Path(dest_dir)
    dest_dir.mkdir(parents=True, exist_ok=True)
    planned = _planned(source_dir, dest_dir)
    for path, text in planned.items():
        path.write_text(text, encoding="utf-8")
    for stale in set(dest_dir.glob(SOURCE_GLOB)) - set(planned):
        stale.unlink()
    return sorted(planned)


def check_release(source_dir: Path, dest_dir: Path) -> list[Difference]:
    """List how ``dest_dir`` differs from what :func:`release` would write (empty = in sync)."""
    dest_dir = Path(dest_dir)
    planned = _planned(source_dir, dest_dir)
    differences = []
    for path, text in planned.items():
        if not path.exists():
            differences.append(Difference(path, "missing"))
            continue
        current = path.read_text(encoding="utf-8")
        if current != text:
            diff = "".join(
                difflib.unified_diff(
                    current.splitlines(keepends=True),
                    text.splitlines(keepends=True),
                    fromfile=f"{path} (committed)",
                    tofile=f"{path} (release would write)",
                    n=1,
                )
            )
            differences.append(Difference(path, "differs from its source", diff))
    for stale in sorted(set(dest_dir.glob(SOURCE_GLOB)) - set(planned)):
        differences.append(Difference(stale, "has no source notebook"))
    return differences
