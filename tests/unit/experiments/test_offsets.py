"""The multi-offset recall task, its training loop and the shipped weights."""

from pathlib import Path

import pytest
import torch

from attn_course.experiments import offsets
from attn_course.experiments.offsets import (
    IGNORE,
    OFFSETS,
    VOCAB,
    History,
    OffsetRecallModel,
    argmax_offsets,
    build_model,
    encode,
    evaluate,
    load_payload,
    load_pretrained,
    make_batch,
    offset_targets,
    pretrained,
    pretrained_configs,
    save_pretrained,
    train,
)
from attn_course.reference.mha import MultiHeadSelfAttention, divisors

DATA = Path(offsets.__file__).resolve().parent.parent / "data"


def test_offset_targets_look_back():
    tokens = torch.tensor([[5, 6, 7, 8, 9, 10]])
    t = offset_targets(tokens)
    assert t.shape == (1, 6, len(OFFSETS))
    assert t[0, 5].tolist() == [9, 8, 7, 6]  # offsets 1, 2, 3, 4 back from position 5
    assert t[0, 2].tolist() == [6, 5, IGNORE, IGNORE]
    assert (t[0, 0] == IGNORE).all()


def test_make_batch_is_seeded():
    a = make_batch(4, 10, torch.Generator().manual_seed(3))
    b = make_batch(4, 10, torch.Generator().manual_seed(3))
    c = make_batch(4, 10, torch.Generator().manual_seed(4))
    assert torch.equal(a[0], b[0]) and not torch.equal(a[0], c[0])
    assert a[0].shape == (4, 10) and a[0].max() < VOCAB and a[0].min() >= 0


def test_encode():
    assert encode("abp").tolist() == [[0, 1, 15]]
    with pytest.raises(ValueError, match=r"letters 'abcdefghijklmnop'.*\['z'\]"):
        encode("abz")


def test_model_shapes_and_uses_the_reference_attention():
    model = build_model(16, 4)
    assert isinstance(model.attn, MultiHeadSelfAttention)
    tokens = torch.randint(0, VOCAB, (3, 9))
    logits, weights = model(tokens, return_weights=True)
    assert logits.shape == (3, 9, len(OFFSETS), VOCAB)
    assert weights.shape == (3, 4, 9, 9)
    assert (weights.triu(diagonal=1) == 0).all()  # causal by default
    _, open_weights = model(tokens, causal=False, return_weights=True)
    assert (open_weights.triu(diagonal=1) > 0).any()
    with pytest.raises(ValueError, match="at most 24 tokens"):
        model(torch.zeros(1, 25, dtype=torch.long))


def test_build_model_is_seeded_and_leaves_global_rng_alone():
    torch.manual_seed(0)
    before = torch.rand(1)
    torch.manual_seed(0)
    a = build_model(16, 2, seed=7)
    after = torch.rand(1)
    b = build_model(16, 2, seed=7)
    assert torch.equal(before, after)
    assert torch.equal(a.attn.q_proj.weight, b.attn.q_proj.weight)
    with pytest.raises(ValueError, match=r"num_heads=3.*\[1, 2, 4, 8, 16\]"):
        build_model(16, 3)


def test_train_tiny_learns_and_is_deterministic():
    model_a, hist_a = train(16, 2, steps=40, seed=1, progress=False, eval_every=20)
    _, hist_b = train(16, 2, steps=40, seed=1, progress=False, eval_every=20)
    assert hist_a.loss == hist_b.loss
    assert sum(hist_a.loss[-5:]) / 5 < sum(hist_a.loss[:5]) / 5 - 0.1
    assert hist_a.eval_steps == [20, 40]
    assert not model_a.training
    assert set(hist_a.final) >= {"token_accuracy", "all_correct", "offset_1", "offset_4"}
    with pytest.raises(ValueError, match="steps must be at least 1"):
        train(16, 2, steps=0, progress=False)


def test_train_with_progress_bar(capsys):
    _, hist = train(8, 1, steps=2, seed=0, progress=True)
    assert len(hist.loss) == 2
    assert "8 heads" not in capsys.readouterr().out  # the bar goes to stderr


def test_history_steps_to():
    h = History(8, 1, 0, eval_steps=[50, 100, 150], token_accuracy=[0.5, 0.92, 0.99])
    assert h.steps_to(0.9) == 100
    assert h.steps_to(0.999) is None


def test_save_pretrained_round_trip(tmp_path):
    model = build_model(16, 4, seed=2)
    hist = History(16, 4, 2, steps=[1], final={"token_accuracy": 0.5})
    name = save_pretrained(model, hist, tmp_path)
    payload = torch.load(tmp_path / name, weights_only=True)
    assert payload["num_heads"] == 4 and payload["final"]["token_accuracy"] == 0.5
    copy = OffsetRecallModel(16, 4)
    copy.load_state_dict(payload["state_dict"])
    tokens = torch.randint(0, VOCAB, (2, 12))
    torch.testing.assert_close(copy(tokens), model(tokens))


def test_every_head_count_is_shipped_and_small():
    assert pretrained_configs() == [(d, h) for d in (32, 64) for h in divisors(d)]
    files = sorted(DATA.glob("offsets_*.pt"))
    assert len(files) == 13
    assert sum(f.stat().st_size for f in files) < 4_000_000
    payload = load_payload(32, 4)
    assert all(v.dtype == torch.float32 for v in payload["state_dict"].values())
    with pytest.raises(FileNotFoundError, match=r"num_heads=3.*\(64, 4\)"):
        load_payload(64, 3)


def test_shipped_models_show_the_multi_head_effect():
    one = evaluate(pretrained(64, 1), n=256)["token_accuracy"]
    four = evaluate(pretrained(64, 4), n=256)["token_accuracy"]
    assert four >= 0.99
    assert four - one >= 0.15


def test_trained_heads_attend_to_different_offsets():
    model = pretrained(64, 4)
    _, weights = model(encode("khbofmapdjlcnegi"), return_weights=True)  # (1, 4, T, T)
    assert sorted(argmax_offsets(weights)) == [1, 2, 3, 4]


def test_load_pretrained_gives_the_shipped_model_and_its_scores():
    model, scores = load_pretrained(32, 4)
    payload = load_payload(32, 4)
    assert not model.training and model.seq_len == payload["seq_len"]
    assert scores == payload["final"] and scores["token_accuracy"] > 0.9
    for name, value in model.state_dict().items():
        assert torch.equal(value, payload["state_dict"][name]), name
    tokens = encode("abcabcabc")
    torch.testing.assert_close(pretrained(32, 4)(tokens), model(tokens))
    with pytest.raises(FileNotFoundError, match="num_heads=3"):
        load_pretrained(32, 3)


@pytest.mark.parametrize("causal", [True, False])
def test_attention_weights_are_the_forward_passes_weights(causal):
    model = build_model(16, 4, seed=3)
    tokens = torch.randint(0, VOCAB, (2, 9))
    _, expected = model(tokens, causal=causal, return_weights=True)  # (2, 4, 9, 9)
    weights = model.attention_weights(tokens, causal=causal)
    assert weights.shape == (2, 4, 9, 9) and not weights.requires_grad
    torch.testing.assert_close(weights, expected.detach())
    assert (weights.triu(diagonal=1) == 0).all() == causal


def test_attention_input_is_what_the_attention_layer_reads():
    model = build_model(16, 2, seed=4)
    tokens = torch.randint(0, VOCAB, (3, 7))
    x = model.attention_input(tokens)
    assert x.shape == (3, 7, 16)
    seen = {}
    model.attn.register_forward_hook(lambda module, args, out: seen.setdefault("x", args[0]))
    model(tokens)
    torch.testing.assert_close(x, seen["x"])
    embedded = model.tok_emb(tokens) + model.pos_emb.weight[:7]  # (3, 7, 16)
    torch.testing.assert_close(model.embed(tokens), embedded)
    with pytest.raises(ValueError, match="at most 24 tokens"):
        model.attention_weights(torch.zeros(1, 25, dtype=torch.long))
