"""Release: write the student notebooks (``notebooks/``) from the sources (``solutions/``).

The sources hold everything (solutions, hidden tests, rubrics, outputs). A student notebook is
the same notebook passed through nbgrader's own preprocessors, used as a library (no course
directory, no gradebook database), and the course's two clean-up steps, so nothing of the
solution run leaks:

    LockCells → ClearSolutions → ClearOutput → ClearWidgetState → ClearExecutionMetadata
              → ClearHiddenTests → ClearMarkScheme → ComputeChecksums → CheckCellMetadata
"""

from __future__ import annotations

from pathlib import Path

import nbformat
from nbconvert.preprocessors import Preprocessor
from nbformat import NotebookNode

from attn_course.authoring.preprocessors import (
    ClearExecutionMetadata,
    ClearWidgetState,
    preprocessed,
)

SOURCE_GLOB = "[0-9][0-9]_*.ipynb"


def student_preprocessors() -> list[Preprocessor]:
    """The release pipeline, in order."""
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
        ClearWidgetState(),
        ClearExecutionMetadata(),
        ClearHiddenTests(),
        ClearMarkScheme(),
        ComputeChecksums(),
        CheckCellMetadata(),
    ]


def student_version(source: NotebookNode) -> NotebookNode:
    """Return the student notebook for one source notebook (the input is not modified)."""
    return preprocessed(source, student_preprocessors())


def serialize(nb: NotebookNode) -> str:
    """The exact text release writes: stable key order, one trailing newline."""
    return nbformat.writes(nb, version=4).rstrip("\n") + "\n"


def source_notebooks(source_dir: Path) -> list[Path]:
    """The course's source notebooks, in course order (``NN_name.ipynb``)."""
    return sorted(Path(source_dir).glob(SOURCE_GLOB))


def planned_notebooks(source_dir: Path, dest_dir: Path) -> dict[Path, str]:
    """What release writes: the text of each student notebook, by its path in ``dest_dir``."""
    planned = {}
    for src in source_notebooks(source_dir):
        nb = nbformat.read(src, as_version=4)
        planned[Path(dest_dir) / src.name] = serialize(student_version(nb))
    return planned


def release(source_dir: Path, dest_dir: Path) -> list[Path]:
    """Write every student notebook; remove student notebooks that no longer have a source."""
    dest_dir = Path(dest_dir)
    dest_dir.mkdir(parents=True, exist_ok=True)
    planned = planned_notebooks(source_dir, dest_dir)
    for path, text in planned.items():
        path.write_text(text, encoding="utf-8")
    for stale in set(dest_dir.glob(SOURCE_GLOB)) - set(planned):
        stale.unlink()
    return sorted(planned)
