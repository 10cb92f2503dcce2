"""How nbval treats the course notebooks.

- ``solutions/``: every cell must run and reproduce its stored outputs (``--nbval``).
- ``notebooks/`` (student versions): every cell must run, except the graded test cells, which
  must FAIL — the exercises are blank. A test cell that passes there means a solution leaked into
  the student notebook, so those cells are ``xfail(strict=True)``. Their ``raises-exception``
  tag (which lets a student's Run All go on past them) would make nbval accept any outcome, so
  it is ignored here.
"""

from __future__ import annotations

import pytest

STUDENT_FOLDER = "notebooks"


def is_graded_test_cell(cell) -> bool:
    meta = cell.get("metadata", {}).get("nbgrader", {})
    return bool(meta.get("grade")) and not meta.get("solution") and cell.get("cell_type") == "code"


def pytest_collection_modifyitems(config, items):
    for item in items:
        cell = getattr(item, "cell", None)  # nbval's IPyNbCell
        if cell is None or item.path.parent.name != STUDENT_FOLDER:
            continue
        if is_graded_test_cell(cell):
            item.options["check_exception"] = False  # the error must reach pytest: xfail
            item.add_marker(
                pytest.mark.xfail(
                    strict=True,
                    reason="a test cell must fail on the blank student notebook; "
                    "passing means the solution leaked into notebooks/",
                )
            )
