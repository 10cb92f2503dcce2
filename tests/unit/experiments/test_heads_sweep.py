"""heads_sweep: the lookup task is what it says, runs are plain data, importance and pruning
measure what they claim, and the sweep table and shipped file read as the notebook uses them."""

import json

import pytest
import torch

from attn_course.experiments import heads_sweep as hs


def test_lookup_batches_ask_for_the_value_of_a_key_shown_earlier():
    tokens, targets = hs.lookup_batch(64, torch.Generator().manual_seed(0))
    assert tokens.shape == (64, 24) and targets.shape == (64, 24, 1)
    pairs, queries = tokens[:, : hs.PAIRS], tokens[:, hs.PAIRS :]
    keys, values = pairs // hs.VALUES, pairs % hs.VALUES
    assert all(len(set(row.tolist())) == hs.PAIRS for row in keys)  # each key once
    assert (queries >= hs.KEYS * hs.VALUES).all()
    asked = queries - hs.KEYS * hs.VALUES
    position = (keys.unsqueeze(1) == asked.unsqueeze(2)).float().argmax(-1)  # (B, Q)
    assert torch.equal(targets[:, hs.PAIRS :, 0], values.gather(1, position))
    assert (targets[:, : hs.PAIRS] == hs.IGNORE).all()


@pytest.mark.parametrize("task", hs.TASKS)
def test_the_model_reads_every_task_with_query_and_kv_heads(task):
    model = hs.SweepModel(32, 8, 2, task)
    tokens, targets = hs.make_batch(task, 3, torch.Generator().manual_seed(1))
    logits, weights = model(tokens, return_weights=True)
    assert logits.shape == (*targets.shape, model.classes) and weights.shape == (3, 8, 24, 24)
    assert torch.allclose(weights.sum(-1), torch.ones(3, 8, 24))
    assert (weights.triu(1) == 0).all()  # causal
    with pytest.raises(ValueError, match="task must be one of"):
        hs.make_batch("copy", 2)


def test_a_short_run_is_plain_json_data_with_its_measurements():
    record = hs.run(4, task="lookup", d_model=16, seed=0, steps=30, maps=True, pruning=True)
    json.dumps(record)
    assert record["head_dim"] == 4 and record["kv_heads"] == 4
    assert record["params"] == sum(p.numel() for p in hs.SweepModel(16, 4, task="lookup")
                                   .parameters())
    assert record["kv_cache_bytes"] == 2 * 4 * 4 * 24 * 4
    assert 0 <= record["accuracy"] <= 1 and record["seconds_per_step"] > 0
    assert len(record["maps"]) == 4 and len(record["maps"][0]) == 24
    assert len(record["importance"]) == 4 and record["pruning"]["removed"] == [0, 1, 2, 3]
    again = hs.run(4, task="lookup", d_model=16, seed=0, steps=30)
    assert again["accuracy"] == record["accuracy"]  # seeded


def test_importance_is_zero_for_a_head_the_output_projection_ignores():
    model, _ = hs.train(4, task="offsets", d_model=16, steps=20, progress=False)
    with torch.no_grad():
        model.attn.out_proj.weight[:, 4:8] = 0  # head 1 reaches nothing
    importance = hs.head_importance(model, batches=2, batch_size=16)
    assert importance[1] == 0 and min(importance[0], importance[2], importance[3]) > 0
    curve = hs.pruning_curve(model, importance, random_orders=3, n=64)
    assert curve["order"][0] == 1
    assert curve["by_importance"][1] == pytest.approx(curve["by_importance"][0])


def test_a_students_mask_heads_is_passed_down_and_nothing_global_changes():
    from attn_course.reference import gqa

    calls = []

    def mine(heads, xi, w_o, b_o):
        calls.append(heads.shape)
        return gqa.merge_heads(heads * xi.view(1, -1, 1, 1)) @ w_o.T + b_o

    original = gqa.mask_heads
    model, _ = hs.train(2, task="lookup", d_model=8, steps=5, progress=False)
    assert hs.head_importance(model, batches=1, batch_size=4, mask_heads=mine)
    assert calls == [(4, 2, hs.make_batch("lookup", 1, torch.Generator())[0].shape[1], 4)]
    assert gqa.mask_heads is original
    assert hs.head_importance(model, batches=1, batch_size=4) and len(calls) == 1


def test_summaries_and_tables_group_runs_by_head_count():
    records = [{"num_heads": h, "kv_heads": h, "seed": s, "head_dim": 64 // h, "params": 100,
                "kv_cache_bytes": 10, "accuracy": a, "seconds_per_step": 0.01}
               for h, s, a in [(1, 0, 0.8), (1, 1, 0.9), (4, 0, 1.0), (4, 1, 1.0)]]
    rows = hs.summarize(records)
    assert [r["num_heads"] for r in rows] == [1, 4]
    assert rows[0]["accuracy"][0] == pytest.approx(0.85) and rows[1]["accuracy"][1] == 0
    table = hs.sweep_table(rows)
    assert "85.0% ±  7.1%" in table and "heads" in table.splitlines()[0]


def test_the_shipped_sweep_covers_every_configuration_the_notebook_shows():
    shipped = hs.load_sweep()
    records = shipped["records"]
    for task, setting in shipped["sweeps"].items():
        for h in setting["head_counts"]:
            runs = [r for r in records if r["kind"] == "sweep" and r["task"] == task
                    and r["num_heads"] == h and r["d_model"] == setting["d_model"]]
            assert len(runs) >= 4, (task, h)
            assert any("maps" in r for r in runs)
    gqa = [r for r in records if r["kind"] == "gqa"]
    assert sorted({r["kv_heads"] for r in gqa}) == shipped["gqa"]["kv_heads"]
    assert {r["task"] for r in records if "pruning" in r} == {"offsets", "lookup"}
