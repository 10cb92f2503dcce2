"""The head-count explorer, driven from Python as its controls would be."""

import base64
import io

import ipywidgets as widgets
import matplotlib.pyplot as plt
import pytest
import torch
from matplotlib.image import imread

from attn_course import viz
from attn_course.experiments.offsets import argmax_offsets, load_payload
from attn_course.reference.mha import divisors
from attn_course.widgets import HeadExplorer
from attn_course.widgets.head_explorer import SEQUENCES, head_stats, load_model

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def explorer():
    return HeadExplorer()


def test_first_view(explorer):
    assert bytes(explorer.heads_image.value).startswith(PNG)
    assert explorer.attention.shape == (4, 16, 16)
    assert "<b>4</b> heads" in explorer.stats.value
    assert "head dim <b>16</b>" in explorer.stats.value
    assert "<b>16,640</b>" in explorer.stats.value  # 4 * 64**2 + 4 * 64
    assert " ms</b>" in explorer.stats.value


def test_head_count_change_updates_picture_and_stats(explorer):
    explorer.num_heads.value = 4
    png, stats = explorer.heads_image.value, explorer.stats.value
    explorer.num_heads.value = 8
    assert bytes(explorer.heads_image.value).startswith(PNG)
    assert explorer.heads_image.value != png
    assert explorer.stats.value != stats
    assert "<b>8</b> heads" in explorer.stats.value and "head dim <b>8</b>" in explorer.stats.value
    assert "<b>16,640</b>" in explorer.stats.value  # parameters do not depend on H
    assert explorer.attention.shape == (8, 16, 16)
    torch.testing.assert_close(explorer.attention.sum(-1), torch.ones(8, 16))


def test_controls_offer_only_divisors_and_describe_themselves(explorer):
    assert list(explorer.num_heads.options) == divisors(explorer.d_model.value)
    assert explorer.num_heads.continuous_update is False
    for control in (
        explorer.d_model,
        explorer.num_heads,
        explorer.sequence,
        explorer.causal,
        explorer.weights,
    ):
        assert control.description and control.tooltip
    assert isinstance(explorer.heads_image, widgets.Image)
    assert isinstance(explorer.stats, widgets.HTML)


def test_d_model_change_resets_head_options():
    e = HeadExplorer(d_model=64, num_heads=64)
    e.d_model.value = 32
    assert list(e.num_heads.options) == divisors(32)
    assert e.num_heads.value == 32  # the largest head count that still divides
    assert e.attention.shape == (32, 16, 16)
    assert "<b>4,224</b>" in e.stats.value  # 4 * 32**2 + 4 * 32
    e.num_heads.value = 2
    e.d_model.value = 64
    assert e.num_heads.value == 2 and e.attention.shape[0] == 2


def test_causal_sequence_and_weights_controls(explorer):
    explorer.num_heads.value = 4
    png = explorer.heads_image.value
    assert (explorer.attention.triu(diagonal=1) == 0).all()
    explorer.causal.value = False
    assert explorer.heads_image.value != png
    assert (explorer.attention.triu(diagonal=1) > 0).any()
    explorer.causal.value = True

    png = explorer.heads_image.value
    explorer.sequence.value = "repeats: abcd abcd …"
    assert explorer.heads_image.value != png
    explorer.sequence.value = "alphabet: a b c d …"

    trained = explorer.attention.clone()
    explorer.weights.value = "random"
    assert "random model" in explorer.stats.value
    assert not torch.allclose(explorer.attention, trained)
    explorer.weights.value = "trained"
    torch.testing.assert_close(explorer.attention, trained)


def test_trained_four_heads_look_at_different_offsets():
    e = HeadExplorer(d_model=64, num_heads=4, sequence="random letters")
    assert sorted(argmax_offsets(e.attention)) == [1, 2, 3, 4]
    assert "100% token accuracy" in e.stats.value


def test_static_png_in_display_bundle(explorer):
    bundle = explorer._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in bundle
    assert base64.b64decode(bundle["image/png"]) == bytes(explorer.heads_image.value)
    assert bundle["text/plain"].startswith("HeadExplorer(d_model=64")


def test_models_are_cached_per_configuration():
    assert load_model(32, 4, "trained")[0] is load_model(32, 4, "trained")[0]
    assert load_model(32, 4, "trained")[0] is not load_model(32, 4, "random")[0]
    with pytest.raises(ValueError, match="weights must be one of"):
        load_model(32, 4, "pretrained")


def test_trained_models_are_the_shipped_ones():
    model, accuracy, note = load_model(32, 8, "trained")
    payload = load_payload(32, 8)
    assert accuracy == payload["final"]["token_accuracy"] and note == ""
    for name, value in model.state_dict().items():
        assert torch.equal(value, payload["state_dict"][name]), name
    assert not model.training and not any(p.requires_grad for p in model.parameters())


def test_picture_is_drawn_by_viz(explorer, monkeypatch):
    draw, calls = viz.attention_heads, []

    def spy(*args, **kwargs):
        calls.append((args, kwargs))
        return draw(*args, **kwargs)

    explorer.num_heads.value = 4
    monkeypatch.setattr(viz, "attention_heads", spy)
    figures = plt.get_fignums()
    explorer.num_heads.value = 8
    assert plt.get_fignums() == figures  # the explorer never leaves a pyplot figure behind
    ((args, kwargs),) = calls
    tokens = list(SEQUENCES[explorer.sequence.value])
    assert args[0] is explorer.attention and args[1] == args[2] == tokens
    assert kwargs["pyplot"] is False and kwargs["head_titles"][0].startswith("head 0")
    assert viz.png_bytes(draw(*args, **kwargs)) == bytes(explorer.heads_image.value)
    pixels = imread(io.BytesIO(bytes(explorer.heads_image.value)))
    assert pixels[0, 0, :3].tolist() == [1.0, 1.0, 1.0]  # white background


def test_head_stats_constant_parameters_and_flops():
    stats = [head_stats(64, h, 16) for h in divisors(64)]
    assert {s["params"] for s in stats} == {4 * 64 * 64 + 4 * 64}
    assert {s["score_flops"] for s in stats} == {4 * 16 * 16 * 64}
    assert [s["score_entries"] for s in stats] == [h * 256 for h in divisors(64)]


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"d_model": 48}, r"d_model must be one of \(32, 64\)"),
        ({"num_heads": 3}, r"num_heads=3 does not divide d_model=64.*\[1, 2, 4"),
        ({"sequence": "hello"}, "sequence must be one of"),
        ({"weights": "best"}, "weights must be one of"),
    ],
)
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        HeadExplorer(**kwargs)


def test_every_sequence_uses_the_task_letters():
    for text in SEQUENCES.values():
        assert set(text) <= set("abcdefghijklmnop") and len(text) <= 24


def test_render_leaves_torch_thread_count_alone(explorer):
    before = torch.get_num_threads()
    explorer.num_heads.value = 2
    explorer.num_heads.value = 4
    assert torch.get_num_threads() == before
