"""Release: write the student notebooks (``notebooks/``) from the sources (``solutions/``).

The sources hold everything (solutions, hidden tests, rubrics, outputs). A student notebook is
the same notebook passed through nbgrader's own preprocessors, used as a library (no course
directory, no gradebook database), and the course's two clean-up steps, so nothing of the
solution run leaks:

    LockCells → ClearSolutions → ClearOutput → ClearWidgetState → ClearExecutionMetadata
              → ClearHiddenTests → ClearMarkScheme → ContinueAfterChecks → ComputeChecksums
              → CheckCellMetadata

Release records what it wrote (``notebooks/.release.json``: the SHA-256 of each notebook) and
never replaces or removes a notebook whose content no longer matches that record — someone
worked in it — unless forced; it names those notebooks instead.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import nbformat
from nbconvert.preprocessors import Preprocessor
from nbformat import NotebookNode

from attn_course.authoring.preprocessors import (
    ClearExecutionMetadata,
    ClearWidgetState,
    ContinueAfterChecks,
    preprocessed,
)

SOURCE_GLOB = "[0-9][0-9]_*.ipynb"
RECORD = ".release.json"  # in the student folder: what release wrote there
RECORD_FORMAT = 1


class EditedNotebooks(Exception):
    """Release would replace or remove notebooks that were changed after release wrote them."""

    def __init__(self, paths: list[Path]):
        self.paths = paths
        names = ", ".join(str(p) for p in paths)
        super().__init__(f"changed since release wrote them: {names}")


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
        ContinueAfterChecks(),
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


def text_sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def record_text(planned: dict[Path, str]) -> str:
    """The release record for `planned`: the SHA-256 of each notebook's text, by file name."""
    hashes = {path.name: text_sha256(text) for path, text in sorted(planned.items())}
    return json.dumps({"format": RECORD_FORMAT, "notebooks": hashes}, indent=1) + "\n"


def read_record(dest_dir: Path) -> dict[str, str]:
    """{file name: SHA-256} of what release last wrote into `dest_dir` ({} if unknown)."""
    try:
        data = json.loads((Path(dest_dir) / RECORD).read_text(encoding="utf-8"))
        hashes = data["notebooks"]
    except (OSError, ValueError, KeyError, TypeError):
        return {}
    if not isinstance(hashes, dict):
        return {}
    return {k: v for k, v in hashes.items() if isinstance(k, str) and isinstance(v, str)}


def edited_notebooks(dest_dir: Path, planned: dict[Path, str]) -> list[Path]:
    """Notebooks release would replace or remove whose content is neither what release last
    wrote (the record) nor what it would write now: someone's work."""
    dest_dir = Path(dest_dir)
    record = read_record(dest_dir)
    edited = []
    for path in sorted(set(planned) | set(dest_dir.glob(SOURCE_GLOB))):
        if not path.is_file():
            continue
        current = hashlib.sha256(path.read_bytes()).hexdigest()
        if current not in {record.get(path.name), text_sha256(planned.get(path, ""))}:
            edited.append(path)
    return edited


def release(source_dir: Path, dest_dir: Path, *, force: bool = False) -> list[Path]:
    """Write every student notebook and the record; remove student notebooks that no longer
    have a source. Raises EditedNotebooks, writing nothing, when that would replace or remove
    a notebook changed since release wrote it (unless `force`)."""
    dest_dir = Path(dest_dir)
    dest_dir.mkdir(parents=True, exist_ok=True)
    planned = planned_notebooks(source_dir, dest_dir)
    edited = edited_notebooks(dest_dir, planned)
    if edited and not force:
        raise EditedNotebooks(edited)
    for path, text in planned.items():
        path.write_text(text, encoding="utf-8")
    for stale in set(dest_dir.glob(SOURCE_GLOB)) - set(planned):
        stale.unlink()
    (dest_dir / RECORD).write_text(record_text(planned), encoding="utf-8")
    return sorted(planned)
