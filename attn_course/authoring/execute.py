"""Execute a notebook in a fresh kernel and store its outputs (used to refresh the sources)."""

from __future__ import annotations

from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbformat import NotebookNode

from attn_course.authoring.preprocessors import ClearExecutionMetadata
from attn_course.authoring.release import serialize


def run_notebook(
    nb: NotebookNode, cwd: Path, *, timeout: int = 120, kernel_name: str = "python3"
) -> NotebookNode:
    """Run every cell of ``nb`` top to bottom in a new kernel started in ``cwd``; return ``nb``.

    Widget state is stored so that a saved notebook renders its widgets where no kernel runs.
    Per-run timestamps are dropped, so that a rerun does not churn the diff.
    Raises ``nbclient.exceptions.CellExecutionError`` on the first failing cell.
    """
    client = NotebookClient(
        nb,
        timeout=timeout,
        kernel_name=kernel_name,
        resources={"metadata": {"path": str(Path(cwd).resolve())}},
        store_widget_state=True,
    )
    client.execute()
    ClearExecutionMetadata().preprocess(nb, {})
    return nb


def execute_notebook(path: Path, *, timeout: int = 120, kernel_name: str = "python3") -> None:
    """Run the notebook at ``path`` and write its outputs back (left unchanged if a cell fails)."""
    path = Path(path)
    nb = nbformat.read(path, as_version=4)
    run_notebook(nb, path.parent, timeout=timeout, kernel_name=kernel_name)
    path.write_text(serialize(nb), encoding="utf-8")
