"""check_cross_attention: a correct answer passes, keys and values from the wrong sequence are
named, shape errors explained, and the check is not part of any grade."""

import json
import math
from pathlib import Path

import nbformat
import torch

from attn_course.checks import CHECKS, CROSS_ATTENTION_CHECK, check_cross_attention
from attn_course.grading.source import role

SOLUTION = Path(__file__).resolve().parents[3] / "solutions" / "03_self_attention.ipynb"


def cross_attention(x, memory, w_q, w_k, w_v):
    q, k, v = x @ w_q, memory @ w_k, memory @ w_v
    weights = torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1]), dim=-1)
    return weights @ v, weights


def test_a_correct_answer_passes_and_the_cases_cross_two_lengths():
    assert check_cross_attention(cross_attention).passed
    assert check_cross_attention(cross_attention, seed=7).passed
    cases = CROSS_ATTENTION_CHECK.cases()
    assert CHECKS["cross_attention"] is CROSS_ATTENTION_CHECK
    lengths = [(c.inputs["x"].shape[-2], c.inputs["memory"].shape[-2]) for c in cases]
    assert sum(tq != tk for tq, tk in lengths) == len(cases) - 1
    assert cases[0].inputs["x"].shape[-2:] == (4, 8) and cases[0].inputs["memory"].shape[-2] == 6


def test_self_attention_on_the_decoder_side_is_named(named):
    def keys_and_values_from_x(x, memory, w_q, w_k, w_v):
        return cross_attention(x, x, w_q, w_k, w_v)

    text = named(keys_and_values_from_x, "keys_values_from_x", check_cross_attention)
    assert "memory is never read" in text and "k = memory @ w_k" in text


def test_swapped_roles_are_named(named):
    def swapped(x, memory, w_q, w_k, w_v):
        return cross_attention(memory, x, w_q, w_k, w_v)

    named(swapped, "roles_swapped", check_cross_attention)


def test_keys_from_the_wrong_sequence_are_named_and_their_shape_error_explained(named, message):
    def keys_from_x(x, memory, w_q, w_k, w_v):
        q, k, v = x @ w_q, x @ w_k, memory @ w_v
        weights = torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1]), dim=-1)
        return weights @ v, weights

    text = named(keys_from_x, "keys_from_x", check_cross_attention)
    assert "the keys come from x instead of memory" in text

    def values_with_own_mistake(x, memory, w_q, w_k, w_v):  # no variant: the hint explains
        q, k, v = x @ w_q, memory @ w_k, x @ w_v
        weights = torch.softmax(q @ k.transpose(-2, -1) * 2, dim=-1)
        return weights @ v, weights

    assert "both come from memory" in message(values_with_own_mistake, check_cross_attention)


def test_torchs_attention_is_not_the_answer(message):
    import torch.nn.functional as F

    def uses_torch(x, memory, w_q, w_k, w_v):
        out = F.scaled_dot_product_attention(x @ w_q, memory @ w_k, memory @ w_v)
        return out, None

    assert "scaled_dot_product_attention" in message(uses_torch, check_cross_attention)


def test_the_notebook_exercises_it_once_and_grades_nothing_with_it():
    nb = nbformat.read(SOLUTION, 4)
    cells = [c for c in nb.cells if "check_cross_attention(" in c.source
             and c.cell_type == "code" and "import" not in c.source]
    assert len(cells) == 1
    meta = cells[0].metadata.get("nbgrader", {})
    assert meta.get("locked") and not meta.get("grade") and role(cells[0]) == "other"
    assert "raises-exception" in cells[0].metadata.get("tags", [])  # Run All goes on past it
    answer = next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id")
                  == "cross-attention-answer")
    assert role(answer) == "answer" and not answer.metadata["nbgrader"].get("grade")
    graded = [c.metadata["nbgrader"].get("points", 0) for c in nb.cells
              if c.metadata.get("nbgrader", {}).get("grade")]
    assert json.dumps(graded) == json.dumps([4, 3, 3])  # SelfAttention, the encoding, the essay
