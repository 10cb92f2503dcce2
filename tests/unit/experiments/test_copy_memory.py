"""The copy-memory task, its three models with matched parameter counts, and one short run."""

import pytest
import torch

from attn_course.experiments.copy_memory import (
    BLANK,
    CHANCE,
    GAPS,
    GO,
    IGNORE,
    MODELS,
    NUM_SYMBOLS,
    VOCAB,
    CNNCopier,
    LSTMCopier,
    TransformerCopier,
    build_model,
    cnn_channels,
    copy_memory,
    copy_table,
    count_parameters,
    evaluate,
    lstm_hidden,
    make_batch,
    receptive_field,
    seq_len,
    summarize,
    transformer_parameters,
)
from attn_course.reference.mha import MultiHeadSelfAttention


def test_make_batch_layout_and_targets():
    tokens, targets = make_batch(5, gap=3, generator=torch.Generator().manual_seed(0))
    T = seq_len(3)
    assert T == 8 + 3 + 8 and tokens.shape == targets.shape == (5, T)
    symbols = tokens[:, :NUM_SYMBOLS]
    assert symbols.min() >= 0 and symbols.max() < NUM_SYMBOLS
    assert (tokens[:, 8:11] == BLANK).all()  # the gap
    assert (tokens[:, 11] == GO).all()  # go, then 7 blanks
    assert (tokens[:, 12:] == BLANK).all()
    assert torch.equal(targets[:, 11:], symbols)  # the go position outputs the first symbol
    assert (targets[:, :11] == IGNORE).all()
    assert tokens.max() < VOCAB


def test_make_batch_gap_zero_and_seeding():
    tokens, targets = make_batch(2, gap=0, generator=torch.Generator().manual_seed(1))
    assert tokens.shape == (2, 16) and (tokens[:, 8] == GO).all()
    assert torch.equal(targets[:, 8:], tokens[:, :8])
    a = make_batch(4, 10, torch.Generator().manual_seed(3))
    b = make_batch(4, 10, torch.Generator().manual_seed(3))
    c = make_batch(4, 10, torch.Generator().manual_seed(4))
    assert torch.equal(a[0], b[0]) and not torch.equal(a[0], c[0])


@pytest.mark.parametrize("gap", [-1, 2.5, True])
def test_a_bad_gap_is_refused(gap):
    with pytest.raises(ValueError, match=r"gap must be an int >= 0"):
        make_batch(2, gap)
    with pytest.raises(ValueError, match=r"gap must be an int >= 0"):
        copy_memory("lstm", gap, steps=1, progress=False)


def test_an_unknown_model_is_refused_with_the_choices():
    with pytest.raises(ValueError, match=r"one of \('transformer', 'lstm', 'cnn'\), got 'gru'"):
        copy_memory("gru", 5, steps=1, progress=False)
    with pytest.raises(ValueError, match="'gru'"):
        build_model("gru", 16)


@pytest.mark.parametrize("name", MODELS)
def test_every_model_maps_tokens_to_symbol_logits(name):
    model = build_model(name, seq_len(5))
    tokens, _ = make_batch(3, 5)
    assert model(tokens).shape == (3, seq_len(5), NUM_SYMBOLS)


def test_the_models_are_what_they_say():
    T = seq_len(10)
    transformer, lstm, cnn = (build_model(m, T) for m in MODELS)
    assert isinstance(transformer, TransformerCopier)
    assert isinstance(transformer.attn, MultiHeadSelfAttention)
    assert transformer.attn.num_heads == 4 and transformer.attn.d_model == 64
    assert isinstance(lstm, LSTMCopier) and lstm.lstm.hidden_size == lstm_hidden(T)
    assert isinstance(cnn, CNNCopier) and cnn.emb.embedding_dim == cnn_channels(T)


@pytest.mark.parametrize("name", MODELS)
def test_every_model_is_causal(name):
    """Changing the last token changes nothing before it."""
    model = build_model(name, seq_len(4)).eval()
    tokens, _ = make_batch(2, 4)
    changed = tokens.clone()
    changed[:, -1] = GO
    with torch.no_grad():
        a, b = model(tokens), model(changed)
    torch.testing.assert_close(a[:, :-1], b[:, :-1])


def test_the_transformer_refuses_longer_sequences():
    model = build_model("transformer", 16)
    with pytest.raises(ValueError, match=r"at most 16 tokens, got T=17.*seq_len=17"):
        model(torch.zeros(1, 17, dtype=torch.long))


@pytest.mark.parametrize("gap", GAPS)
def test_parameter_counts_match_within_ten_percent(gap):
    T = seq_len(gap)
    counts = {m: count_parameters(build_model(m, T)) for m in MODELS}
    assert counts["transformer"] == transformer_parameters(T)
    assert max(counts.values()) <= 1.1 * min(counts.values()), counts


def test_build_model_is_seeded_and_leaves_global_rng_alone():
    torch.manual_seed(0)
    before = torch.rand(1)
    torch.manual_seed(0)
    a = build_model("lstm", 16, seed=7)
    after = torch.rand(1)
    b = build_model("lstm", 16, seed=7)
    c = build_model("lstm", 16, seed=8)
    assert torch.equal(before, after)
    assert torch.equal(a.lstm.weight_hh_l0, b.lstm.weight_hh_l0)
    assert not torch.equal(a.lstm.weight_hh_l0, c.lstm.weight_hh_l0)


def test_cnn_receptive_field_is_31_and_it_sees_nothing_earlier():
    assert receptive_field() == 31 == receptive_field(3, (1, 2, 4, 8))
    assert receptive_field(2, (1,)) == 2
    model = build_model("cnn", 40).eval()
    assert model.receptive_field == 31
    tokens = torch.full((1, 40), BLANK)
    changed = tokens.clone()
    changed[0, 8] = 3
    with torch.no_grad():
        diff = (model(tokens) - model(changed)).abs().amax(-1)[0]  # (T,)
    moved = diff.nonzero().flatten().tolist()
    assert moved == list(range(8, 8 + 31))  # position 8 reaches t = 8 .. 38, not 39


def test_evaluate_is_seeded_and_near_chance_untrained():
    model = build_model("transformer", seq_len(5))
    a = evaluate(model, 5, n=256, seed=3)
    assert a == evaluate(model, 5, n=256, seed=3)
    assert 0.0 <= a <= 0.35 and model.training  # training mode is restored


def test_a_short_run_returns_plain_data():
    result = copy_memory("cnn", 2, steps=30, seed=1, progress=False, batch_size=16)
    types = {
        "model": str,
        "gap": int,
        "seed": int,
        "steps": int,
        "params": int,
        "accuracy": float,
        "chance": float,
        "curve": dict,
        "loss": list,
        "seconds_per_step": float,
        "seq_len": int,
        "receptive_field": int,
    }
    for key, kind in types.items():
        assert isinstance(result[key], kind), key
    assert result["model"] == "cnn" and result["gap"] == 2 and result["steps"] == 30
    assert result["seq_len"] == 18 and result["chance"] == CHANCE == 0.125
    assert 0.0 <= result["accuracy"] <= 1.0 and len(result["loss"]) == 30
    assert result["curve"]["steps"] == [25, 30] and len(result["curve"]["accuracy"]) == 2
    assert result["params"] == count_parameters(build_model("cnn", 18))
    again = copy_memory("cnn", 2, steps=30, seed=1, progress=False, batch_size=16)
    assert again["loss"] == result["loss"] and again["accuracy"] == result["accuracy"]
    assert "receptive_field" not in copy_memory("lstm", 0, steps=1, progress=False)


def _record(model, gap, seed, accuracy, params=1000):
    return {
        "model": model,
        "gap": gap,
        "seed": seed,
        "accuracy": accuracy,
        "params": params,
        "seq_len": seq_len(gap),
    }


def test_summarize_uses_the_sample_sd_and_copy_table_prints_it():
    records = [_record("lstm", 0, s, a) for s, a in enumerate([0.7, 0.8, 0.9])]
    records += [_record("transformer", 0, 0, 1.0, 2000), _record("transformer", 50, 0, 1.0, 2500)]
    summary = summarize(records)
    assert list(summary) == ["transformer", "lstm"]
    assert summary["lstm"][0]["accuracy"] == pytest.approx((0.8, 0.1))
    assert summary["lstm"][0]["seeds"] == [0, 1, 2] and summary["lstm"][0]["params"] == 1000
    lines = copy_table(records).splitlines()
    assert "gap 0" in lines[0] and "gap 50" in lines[0]
    assert lines[1].split()[:2] == ["transformer", "2.0-2.5k"]
    assert lines[2].split()[:2] == ["lstm", "1.0k"]
    assert " 80.0 ± 10.0%" in lines[2] and lines[2].rstrip().endswith("-")
