"""offset_recall: one run as plain data; the colours control; head ablation; the shipped runs."""

import json

import pytest
import torch

from attn_course.experiments.offsets import (
    IGNORE,
    MASS_COLUMNS,
    OFFSETS,
    VOCAB,
    ablated,
    build_model,
    colour_targets,
    coloured,
    curve_summary,
    evaluate,
    head_ablation,
    load_recall_runs,
    make_batch,
    offset_recall,
    runs_table,
    select,
    target_offsets,
)
from attn_course.reference.attention import scaled_dot_product_attention
from attn_course.reference.mha import merge_heads, split_heads


def test_colour_inputs_carry_position_mod_4():
    letters = torch.tensor([[3, 3, 3, 3, 3, 3]])
    assert coloured(letters).tolist() == [[3, 19, 35, 51, 3, 19]]


def test_colour_targets_ask_by_colour_for_the_same_four_letters():
    letters = torch.tensor([[10, 11, 12, 13, 14, 15, 0, 1]])
    targets = colour_targets(letters)  # (1, 8, 4)
    # at t = 5 the four letters before are 14 (t-1, colour 0), 13 (t-2, colour 3), 12 (t-3,
    # colour 2), 11 (t-4, colour 1): readout c asks for colour c's letter
    assert targets[0, 5].tolist() == [14, 11, 12, 13]
    assert sorted(targets[0, 5].tolist()) == sorted(letters[0, 1:5].tolist())
    assert targets[0, 2].tolist() == [10, 11, IGNORE, IGNORE]  # colours 2, 3 would be t-3, t-4
    k = target_offsets(8, "colours")
    assert ((torch.arange(8).view(-1, 1) - k) % 4 == torch.arange(4)).all()
    assert (target_offsets(8, "offsets") == torch.tensor(OFFSETS)).all()


def test_make_batch_tasks_and_bad_task():
    gen = torch.Generator().manual_seed(0)
    tokens, targets = make_batch(4, 12, gen, task="colours")
    assert tokens.shape == (4, 12) and targets.shape == (4, 12, len(OFFSETS))
    assert int(tokens.max()) < 4 * VOCAB and (tokens // VOCAB == torch.arange(12) % 4).all()
    with pytest.raises(ValueError, match="task must be one of"):
        make_batch(2, task="colour")


def test_evaluate_colours_per_offset_regroups_the_readouts():
    """On the colours task, offset_k is the accuracy on the letter at t - k, whichever readout
    asks for it: a model whose readouts answer by offset scores that offset's share."""
    model = build_model(16, 1, seed=0, task="colours")
    scores = evaluate(model, n=64)
    assert set(scores) == {"token_accuracy", "all_correct", *(f"offset_{k}" for k in OFFSETS)}
    # an untrained model is at chance (1/16) on every offset, not on one readout's mix
    for k in OFFSETS:
        assert scores[f"offset_{k}"] < 0.2

    class Oracle(torch.nn.Module):
        """Right on readouts whose letter sits at t-1 or t-2, wrong elsewhere."""

        task, seq_len = "colours", 12

        def __init__(self):
            super().__init__()
            self.w = torch.nn.Parameter(torch.zeros(1))

        def forward(self, tokens):
            letters = tokens % VOCAB
            targets = colour_targets(letters)  # (B, T, K)
            asks = target_offsets(tokens.shape[1], "colours")  # (T, K)
            answer = torch.where(asks <= 2, targets.clamp_min(0), (targets + 1) % VOCAB)
            return torch.nn.functional.one_hot(answer, VOCAB).float()

    scores = evaluate(Oracle(), n=16)
    assert scores["offset_1"] == scores["offset_2"] == 1.0
    assert scores["offset_3"] == scores["offset_4"] == 0.0


def test_ablated_removes_exactly_one_heads_output():
    model = build_model(16, 4, seed=0)
    x = torch.randint(0, VOCAB, (2, 10))
    copy = ablated(model, [2])
    d = model.attn.head_dim
    assert (copy.attn.out_proj.weight[:, 2 * d : 3 * d] == 0).all()
    kept = slice(0, 2 * d)
    assert torch.equal(copy.attn.out_proj.weight[:, kept], model.attn.out_proj.weight[:, kept])
    assert (model.attn.out_proj.weight[:, 2 * d : 3 * d] != 0).any()  # the original is untouched
    # the same as zeroing head 2's output before the output projection
    attn = model.attn
    h = model.attention_input(x)  # (2, 10, 16)
    q, k, v = (split_heads(p(h), 4) for p in (attn.q_proj, attn.k_proj, attn.v_proj))
    y, _ = scaled_dot_product_attention(q, k, v)  # (2, 4, 10, d)
    y[:, 2] = 0
    expected = attn.out_proj(merge_heads(y))
    torch.testing.assert_close(copy.attn(h), expected)
    assert not torch.allclose(model.attn(h), expected)
    none = ablated(model, [])
    assert torch.equal(none(x), model.eval()(x))
    with pytest.raises(ValueError, match="numbered 0 .. 3"):
        ablated(model, [4])


def test_offset_recall_returns_plain_data():
    result = offset_recall(2, d_model=16, steps=20, seed=0, progress=False)
    json.dumps(result)  # plain data
    assert result["num_heads"] == 2 and result["head_dim"] == 8 and result["task"] == "offsets"
    assert 0 <= result["accuracy"] <= 1
    assert set(result["per_offset"]) == {"t-1", "t-2", "t-3", "t-4"}
    assert result["curve"]["steps"][-1] == 20 and len(result["loss"]) == 20
    assert torch.tensor(result["mass"]).shape == (2, len(MASS_COLUMNS))
    assert result["mass_columns"] == list(MASS_COLUMNS)
    assert len(result["ablation"]) == 2 and set(result["ablation"][0]) == {"accuracy", "t-1",
                                                                          "t-2", "t-3", "t-4"}
    assert result["seconds_per_step"] > 0 and result["params"] > 0
    again = offset_recall(2, d_model=16, steps=20, seed=0, progress=False)
    assert again["loss"] == result["loss"]  # seeded


def test_shipped_runs_cover_both_tasks_over_seeds():
    runs = load_recall_runs()
    for task in ("offsets", "colours"):
        for h in (1, 2, 4):
            rs = select(runs, task=task, num_heads=h)
            assert len(rs) >= 3, (task, h)
            assert all("loss" not in r for r in rs)
    summary = curve_summary(select(runs, task="offsets", num_heads=1))
    assert len(summary["steps"]) == len(summary["mean"]) == len(summary["sd"])
    assert summary["steps"][-1] == runs[0]["steps"] and len(summary["seeds"]) >= 3
    table = runs_table(runs)
    assert "colours" in table and "offsets" in table and "±" in table


def test_curve_summary_refuses_nothing_and_mixed_lengths():
    with pytest.raises(ValueError, match="no records"):
        curve_summary([])
    a = {"seed": 0, "curve": {"steps": [1, 2], "accuracy": [0.1, 0.2]}}
    b = {"seed": 1, "curve": {"steps": [1, 3], "accuracy": [0.1, 0.2]}}
    with pytest.raises(ValueError, match="different steps"):
        curve_summary([a, b])
    s = curve_summary([a, {**a, "seed": 1, "curve": {"steps": [1, 2], "accuracy": [0.3, 0.4]}}])
    assert s["mean"] == pytest.approx([0.2, 0.3])


def test_head_ablation_of_a_shipped_four_head_model_breaks_one_offset_per_head():
    from attn_course.experiments.offsets import pretrained

    model = pretrained(64, 4)
    rows = head_ablation(model, n=256)
    assert len(rows) == 4
    # every head carries some offset: removing it costs that offset at least 30 points
    for row in rows:
        assert min(row[f"t-{k}"] for k in OFFSETS) < 0.7, row
    # and every offset is carried by some head
    for k in OFFSETS:
        assert min(row[f"t-{k}"] for row in rows) < 0.7, k
