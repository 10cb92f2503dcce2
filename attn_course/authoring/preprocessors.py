"""Notebook transforms that nbgrader's preprocessors leave to the course, one job each.

Each is an ``nbconvert`` preprocessor, like nbgrader's own, so they line up with them in one
pipeline (see ``release.student_preprocessors``).
"""

from __future__ import annotations

import copy
from collections.abc import Iterable

from nbconvert.preprocessors import Preprocessor
from nbformat import NotebookNode


class ClearWidgetState(Preprocessor):
    """Remove the widget state a run stored in the notebook (``metadata.widgets``)."""

    def preprocess(self, nb, resources):
        nb.metadata.pop("widgets", None)
        return nb, resources


class ClearExecutionMetadata(Preprocessor):
    """Remove each cell's run timestamps (``metadata.execution``, written by nbclient)."""

    def preprocess_cell(self, cell, resources, index):
        cell.metadata.pop("execution", None)
        return cell, resources


class ContinueAfterChecks(Preprocessor):
    """Tag each graded test cell ``raises-exception``, so Run All goes on past a failed check.

    On a blank notebook the first check fails; without the tag JupyterLab's Run All stops
    there and no demo or widget below it ever runs. With it, every check shows its verdict and
    the demos run (on the reference until the student's code passes). The check still raises:
    nbgrader and the grader score it as failed.
    """

    TAG = "raises-exception"

    def preprocess_cell(self, cell, resources, index):
        meta = cell.metadata.get("nbgrader", {})
        if cell.cell_type == "code" and meta.get("grade") and not meta.get("solution"):
            tags = list(cell.metadata.get("tags", []))
            if self.TAG not in tags:
                cell.metadata["tags"] = [*tags, self.TAG]
        return cell, resources


def preprocessed(nb: NotebookNode, preprocessors: Iterable[Preprocessor]) -> NotebookNode:
    """A copy of ``nb`` passed through each preprocessor in turn (``nb`` is not modified)."""
    nb, resources = copy.deepcopy(nb), {}
    for preprocessor in preprocessors:
        nb, resources = preprocessor.preprocess(nb, resources)
    return nb
