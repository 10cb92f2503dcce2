"""Honest answers are never flagged: not the course's own solutions, and not the independently
written correct answers of `honest_answers.ANSWERS` (at least ten per graded exercise).

Each honest answer is read by the grader's answer policy in place of every solution answer cell
that defines the same name, next to the solution's other answer cells, and must pass it;
executed, it must pass the exercise's public check, which also reads its source with the
self-study policy. A check added without honest answers fails
`test_every_check_has_honest_answers`.
"""

from __future__ import annotations

import itertools
import linecache
import math
from functools import cache
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

import attn_course.checks
from attn_course.checks import CHECKS
from attn_course.grading.answer_policy import violations_in
from attn_course.grading.source import Assignment, load_source, role
from attn_course.policy import bound_names
from attn_course.reference.flash_triton import import_triton
from tests.grading.honest_answers import ANSWERS

SOLUTIONS = Path(__file__).resolve().parents[2] / "solutions"
MIN_ANSWERS = 10


class Exercise(NamedTuple):
    notebook: str  # the solution notebook, under solutions/
    grade_id: str  # its answer cell
    name: str  # what the answer cell defines, passed to the check


EXERCISES: dict[str, Exercise] = {
    "softmax": Exercise("00_setup.ipynb", "softmax-answer", "softmax"),
    "scaled_dot_product_attention": Exercise("01_scaled_dot_product_attention.ipynb",
                                             "sdpa-answer", "scaled_dot_product_attention"),
    "causal_mask": Exercise("02_masking.ipynb", "causal-answer", "causal_mask"),
    "self_attention": Exercise("03_self_attention.ipynb", "self-attention-answer",
                               "SelfAttention"),
    "positional_encoding": Exercise("03_self_attention.ipynb", "pe-answer",
                                    "sinusoidal_positional_encoding"),
    "split_heads": Exercise("04_multi_head_attention.ipynb", "split-answer", "split_heads"),
    "merge_heads": Exercise("04_multi_head_attention.ipynb", "merge-answer", "merge_heads"),
    "multi_head_self_attention": Exercise("04_multi_head_attention.ipynb", "mha-answer",
                                          "MultiHeadSelfAttention"),
    "cross_attention": Exercise("03_self_attention.ipynb", "cross-attention-answer",
                                "cross_attention"),
    "offset_profile": Exercise("05_why_several_heads.ipynb", "profile-answer", "offset_profile"),
    "online_softmax": Exercise("08_flash_attention.ipynb", "online-answer", "online_softmax"),
    "flash_attention": Exercise("08_flash_attention.ipynb", "flash-answer", "flash_attention"),
    "flash_kernel": Exercise("08_flash_attention.ipynb", "triton-answer", "flash_kernel"),
    "batched_heads": Exercise("06_gpu_acceleration.ipynb", "batched-answer", "batched_heads"),
    "mask_heads": Exercise("07_choosing_the_number_of_heads.ipynb", "mask-answer", "mask_heads"),
    "grouped_query_attention": Exercise("07_choosing_the_number_of_heads.ipynb", "gqa-answer",
                                        "grouped_query_attention"),
    "head_parallel_attention": Exercise("09_heads_across_processes.ipynb", "parallel-answer",
                                        "head_parallel_attention"),
    "pre_ln_block": Exercise("10_tiny_gpt.ipynb", "block-answer", "pre_ln_block"),
    "attend_with_cache": Exercise("10_tiny_gpt.ipynb", "cache-answer", "attend_with_cache"),
    "induction_score": Exercise("10_tiny_gpt.ipynb", "induction-answer", "induction_score"),
}
# Names a multi-head answer may take from the student's other answer cells of its notebook.
FROM_OTHER_CELLS = {"multi_head_self_attention": ("split_heads", "merge_heads")}


@cache
def assignment(notebook: str) -> Assignment:
    return load_source(SOLUTIONS / notebook)


@cache
def solution_answers(notebook: str) -> dict[str, str]:
    """grade_id -> the solution's text of every code cell a student writes."""
    return {cell.metadata["nbgrader"]["grade_id"]: cell.source
            for cell in assignment(notebook).notebook.cells
            if cell.cell_type == "code" and role(cell) in ("answer", "manual")}


@cache
def answer_cells(name: str) -> tuple[tuple[str, str], ...]:
    """(notebook, grade_id) of every solution answer cell that defines `name` (scaled dot-product
    attention is written twice: without masks in notebook 01, with them in notebook 02)."""
    return tuple((path.name, grade_id) for path in sorted(SOLUTIONS.glob("*.ipynb"))
                 for grade_id, text in solution_answers(path.name).items()
                 if name in bound_names(text))


_files = itertools.count()


def execute(text: str, namespace: dict) -> dict:
    """Run a cell's text in `namespace` under a file name of its own that linecache knows, so
    that inspect.getsource (and the checks' self-study policy) can read what it defines."""
    filename = f"<honest-answer-{next(_files)}>"
    linecache.cache[filename] = (len(text), None, text.splitlines(keepends=True), filename)
    exec(compile(text, filename, "exec"), namespace)
    return namespace


def notebook_namespace() -> dict:
    triton, tl = import_triton()
    return {"torch": torch, "nn": nn, "F": F, "math": math, "np": np, "triton": triton, "tl": tl}


def cases() -> list:
    return [pytest.param(check, i, id=f"{check}-{i}")
            for check in sorted(ANSWERS) for i in range(len(ANSWERS[check]))]


def test_every_check_has_honest_answers():
    assert set(ANSWERS) == set(CHECKS) == set(EXERCISES)
    for check, answers in ANSWERS.items():
        assert len(answers) >= MIN_ANSWERS, f"{check}: {len(answers)} honest answers"
        assert len({a.strip() for a in answers}) == len(answers), f"{check}: duplicates"


def test_exercises_name_the_notebooks_answer_cells():
    for check, ex in EXERCISES.items():
        assert ex.grade_id in assignment(ex.notebook).answer_ids, check
        assert (ex.notebook, ex.grade_id) in answer_cells(ex.name), check
        assert CHECKS[check].name == ex.name, check
    for check, answers in ANSWERS.items():
        for i, text in enumerate(answers):
            assert EXERCISES[check].name in bound_names(text), f"{check}-{i}"


@pytest.mark.parametrize("notebook", sorted(p.name for p in SOLUTIONS.glob("*.ipynb")))
def test_solutions_follow_the_answer_policy(notebook):
    answers = solution_answers(notebook)
    assert answers, f"{notebook} has no answer cells"
    assert violations_in(assignment(notebook), answers) == {}


def pasted(check: str, text: str, notebook: str, grade_id: str) -> str:
    """The answer as a student puts it into `grade_id` of `notebook`: with the definitions it
    takes from other answer cells of its home notebook pasted above it, where `notebook` has no
    such cells (notebook 10 asks for notebook 04's attention with its split_heads and
    merge_heads)."""
    others = [t for g, t in solution_answers(notebook).items() if g != grade_id]
    home = solution_answers(EXERCISES[check].notebook)
    missing = [name for name in FROM_OTHER_CELLS.get(check, ())
               if not any(name in bound_names(t) for t in others)]
    above = [next(t for t in home.values() if name in bound_names(t)) for name in missing]
    return "\n\n".join([*above, text])


@pytest.mark.parametrize(("check", "index"), cases())
def test_honest_answer_is_not_flagged(check, index):
    ex = EXERCISES[check]
    text = ANSWERS[check][index]
    for notebook, grade_id in answer_cells(ex.name):
        answers = {**solution_answers(notebook), grade_id: pasted(check, text, notebook, grade_id)}
        found = violations_in(assignment(notebook), answers)
        assert found == {}, "\n".join(f"{notebook} {g}: {v}" for g, vs in found.items()
                                       for v in vs)

    solutions = solution_answers(ex.notebook)
    namespace = notebook_namespace()
    for name in FROM_OTHER_CELLS.get(check, ()):
        other = next(g for g, t in solutions.items() if name in bound_names(t))
        namespace[name] = execute(solutions[other], notebook_namespace())[name]
    obj = execute(text, namespace)[ex.name]
    getattr(attn_course.checks, f"check_{check}")(obj)  # raises CheckFailed, with the reason
