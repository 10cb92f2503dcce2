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


def preprocessed(nb: NotebookNode, preprocessors: Iterable[Preprocessor]) -> NotebookNode:
    """A copy of ``nb`` passed through each preprocessor in turn (``nb`` is not modified)."""
    nb, resources = copy.deepcopy(nb), {}
    for preprocessor in preprocessors:
        nb, resources = preprocessor.preprocess(nb, resources)
    return nb
