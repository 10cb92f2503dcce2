"""The course's own preprocessors: each removes one thing and leaves the rest alone."""

from __future__ import annotations

from nbconvert.preprocessors import Preprocessor

from attn_course.authoring.preprocessors import (
    ClearExecutionMetadata,
    ClearWidgetState,
    preprocessed,
)


def test_clear_widget_state_removes_only_the_widget_state(source):
    nb, _ = ClearWidgetState().preprocess(source, {})
    assert "widgets" not in nb.metadata
    assert nb.metadata["kernelspec"]["name"] == "python3"
    answer = nb.cells[1]
    assert answer.outputs and "execution" in answer.metadata


def test_clear_execution_metadata_removes_only_the_timestamps(source):
    nb, _ = ClearExecutionMetadata().preprocess(source, {})
    answer = nb.cells[1]
    assert "execution" not in answer.metadata
    assert answer.metadata["nbgrader"]["grade_id"] == "double-answer"
    assert answer.outputs and answer.execution_count == 2
    assert "widgets" in nb.metadata


class Append(Preprocessor):
    """Appends its tag to the notebook's ``order`` metadata (to see the order of a pipeline)."""

    def __init__(self, tag):
        super().__init__()
        self.tag = tag

    def preprocess(self, nb, resources):
        nb.metadata["order"] = nb.metadata.get("order", "") + self.tag
        return nb, resources


def test_preprocessed_runs_each_step_in_order_on_a_copy(source):
    nb = preprocessed(source, [Append("a"), ClearWidgetState(), Append("b")])
    assert nb.metadata["order"] == "ab" and "widgets" not in nb.metadata
    assert "order" not in source.metadata and "widgets" in source.metadata
