"""execute: a source notebook run in a fresh kernel keeps its outputs, not its run timestamps."""

from __future__ import annotations

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook

from attn_course.cli import main

pytestmark = pytest.mark.slow


def write_notebook(path, *sources):
    nb = new_notebook(cells=[new_code_cell(s) for s in sources])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    nbformat.write(nb, path)
    return path


def test_execute_stores_outputs_without_timestamps(tmp_path, capsys):
    path = write_notebook(tmp_path / "01_ok.ipynb", "print(6 * 7)")
    assert main(["execute", str(path)]) == 0
    assert f"executed {path}" in capsys.readouterr().out
    (cell,) = nbformat.read(path, as_version=4).cells
    assert cell.outputs[0]["text"] == "42\n" and cell.execution_count == 1
    assert "execution" not in cell.metadata


def test_execute_leaves_a_failing_notebook_unchanged(tmp_path, capsys):
    path = write_notebook(tmp_path / "01_bad.ipynb", "print('ran')", "1 / 0")
    before = path.read_text()
    assert main(["execute", str(path)]) == 1
    assert "a cell failed; the notebook was not rewritten" in capsys.readouterr().err
    assert path.read_text() == before
