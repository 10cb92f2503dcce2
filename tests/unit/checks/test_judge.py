"""Judging values: a mismatch says how far off it is and what tolerance it was held to."""

import numpy as np

from attn_course.checks import check_softmax
from attn_course.checks.judge import compare_data
from attn_course.checks.messages import tolerance_text
from tests.unit.checks.students import softmax as student_softmax


def test_a_value_mismatch_states_the_tolerance_it_used():
    (problem,) = compare_data("out", np.array([1.0, 2.0]), np.array([1.0, 2.5]), (1e-5, 1e-4))
    assert "1 of 2 values differ; max abs error 0.5 at [1]: expected 2.5, got 2" in problem.message
    assert "(allowed: |got - expected| <= 1e-05 + 0.0001 * |expected|)" in problem.message


def test_values_within_the_tolerance_pass_and_just_outside_fail():
    want = np.array([100.0])
    assert compare_data("out", want + 0.9e-5 + 0.9e-2, want, (1e-5, 1e-4)) == []
    assert compare_data("out", want + 1.1e-5 + 1e-2, want, (1e-5, 1e-4)) != []


def test_exact_comparisons_say_so():
    assert tolerance_text((0.0, 0.0)) == "they must be equal"


def test_a_student_off_by_a_little_reads_the_tolerance(message):
    text = message(lambda x, dim=-1: student_softmax(x, dim=dim) * 1.001, check_softmax)
    assert "values differ" in text and "allowed: |got - expected| <= " in text
