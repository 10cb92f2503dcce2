"""The grader judges the hidden test cells' calls (`seed=7`, with the cases that seed draws) the
way the student's kernel ran them: every graded check cell of solutions/, as probes, without a
kernel. The reference passes them; an answer right only on the public cases' sizes fails."""

from __future__ import annotations

import os
from pathlib import Path

import nbformat
import pytest

from attn_course.grading import kernel_probe
from attn_course.grading.probes import judge_probe, plan_test_cell, read_result
from tests.unit.checks.test_contract import REFERENCES
from tests.unit.checks.test_hidden import KERNELS, _public_only

SOLUTIONS = Path(__file__).resolve().parents[2] / "solutions"


def _hidden_probes():
    found = []
    for path in sorted(SOLUTIONS.glob("[0-9][0-9]_*.ipynb")):
        for cell in nbformat.read(path, 4).cells:
            meta = cell.metadata.get("nbgrader", {})
            if cell.cell_type == "code" and meta.get("grade") and not meta.get("solution"):
                found += [(meta["grade_id"], p) for p in plan_test_cell(cell.source, "").probes
                          if p.hidden]
    return found


HIDDEN = _hidden_probes()


def test_every_hidden_test_is_a_probe_with_a_seed_that_draws_cases():
    assert len(HIDDEN) >= 9
    assert all(p.options.get("seed", 0) != 0 for _, p in HIDDEN)


def _judged(probe, fn, tmp_path):
    kernel_probe.probe(str(tmp_path), "r.json", probe.check, lambda: fn, probe.options)
    fd = os.open(tmp_path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        data = read_result(fd, "r.json")
    finally:
        os.close(fd)
    return judge_probe(probe, data)


@pytest.mark.parametrize(("grade_id", "probe"), HIDDEN, ids=[g for g, _ in HIDDEN])
def test_the_grader_judges_the_hidden_calls(grade_id, probe, tmp_path):
    outcome = _judged(probe, REFERENCES[probe.check], tmp_path)
    assert outcome.passed and outcome.hidden, outcome.message
    if probe.check in KERNELS:  # a kernel cannot be wrapped: tests/unit/checks/test_flash_kernel
        return
    options = {k: v for k, v in probe.options.items() if k != "seed"}
    outcome = _judged(probe, _public_only(probe.check, options), tmp_path)
    assert not outcome.passed and outcome.message.startswith("Hidden test failed"), outcome.message
    assert "drawn: " in outcome.message
