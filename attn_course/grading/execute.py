"""Execute a notebook in a fresh kernel and store its outputs (used to refresh the sources)."""

from __future__ import annotations

from pathlib import Path

import nbformat
from nbclient import NotebookClient


def execute_notebook(path: Path, *, timeout: int = 120, kernel_name: str = "python3") -> None:
    """Run every cell of ``path`` top to bottom in a new kernel and write the outputs back.

    The kernel starts in the notebook's folder; widget state is stored so that the saved notebook
    renders its widgets where no kernel runs. Raises ``nbclient.exceptions.CellExecutionError``
    on the first failing cell (the file is then left unchanged).
    """
    path = Path(path)
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(
        nb,
        timeout=timeout,
        kernel_name=kernel_name,
        resources={"metadata": {"path": str(path.parent.resolve())}},
        store_widget_state=True,
    )
    client.execute()
    for cell in nb.cells:
        cell.metadata.pop("execution", None)  # per-run timestamps would churn the diff
    path.write_text(nbformat.writes(nb, version=4).rstrip("\n") + "\n", encoding="utf-8")
