"""The head-count explorer, driven from Python as its controls would be.

Where a Jupyter kernel would run the explorer's event loop (changes put off in a burst,
pictures drawn ahead when idle), the tests run one with asyncio.run.
"""

import asyncio
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
from attn_course.widgets import HeadExplorer, head_explorer
from attn_course.widgets.head_explorer import (
    SEQUENCES,
    ExplorerState,
    attention_of,
    head_stats,
    load_model,
    picture_of,
)

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
    assert explorer.num_heads.continuous_update is False  # a drag sends one value, at the end
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
    renders = e.renders
    e.d_model.value = 32
    assert e.renders == renders + 1, "one d_model change, more than one render"
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
    draw, calls = viz.attention_heads_png, []

    def spy(*args, **kwargs):
        calls.append((args, kwargs))
        return draw(*args, **kwargs)

    explorer.num_heads.value = 4
    explorer.sequence.value = "words: cafe face bead head"  # a state not drawn before
    monkeypatch.setattr(viz, "attention_heads_png", spy)
    figures = plt.get_fignums()
    explorer.num_heads.value = 8
    explorer.sequence.value = "alphabet: a b c d …"
    assert plt.get_fignums() == figures  # the explorer never leaves a pyplot figure behind
    ((args, kwargs), *_) = calls
    tokens = list(SEQUENCES["words: cafe face bead head"])
    assert args[1] == args[2] == tokens and kwargs["head_titles"][0].startswith("head 0")
    assert args[0].shape == (8, 16, 16)
    # what the explorer shows is attention_heads' figure, pixel for pixel
    figure = viz.attention_heads(*args, **kwargs, pyplot=False)
    expected = imread(io.BytesIO(viz.png_bytes(figure)))[..., :3]
    shown = imread(io.BytesIO(bytes(explorer.pictures.get(
        ExplorerState(64, 8, "words: cafe face bead head", True, "trained")))))  # fmt: skip
    assert shown.shape == expected.shape and (shown == expected).all()
    pixels = imread(io.BytesIO(bytes(explorer.heads_image.value)))
    assert pixels[0, 0, :3].tolist() == [1.0, 1.0, 1.0]  # white background


def test_going_back_to_a_head_count_shows_the_picture_kept_for_it():
    e = HeadExplorer(num_heads=4, draw_ahead=False)
    first = bytes(e.heads_image.value)
    e.num_heads.value = 8
    drawn = e.pictures_drawn
    e.num_heads.value = 4
    assert e.pictures_drawn == drawn, "the picture for 4 heads was drawn again"
    assert e.last_picture == "kept" and bytes(e.heads_image.value) == first
    assert e.attention.shape == (4, 16, 16) and "<b>4</b> heads" in e.stats.value
    e.causal.value = False  # another state: drawn
    assert e.last_picture == "drawn" and e.pictures_drawn == drawn + 1


@pytest.mark.parametrize("heads", [1, 2, 16, 64])
def test_the_picture_shown_is_the_one_for_the_selected_state(heads):
    e = HeadExplorer(num_heads=4, draw_ahead=False)
    e.num_heads.value = heads
    e.weights.value = "random"
    e.num_heads.value = 4
    e.num_heads.value = heads  # kept from before
    e.weights.value = "trained"  # kept from before
    state = e.state
    assert state == ExplorerState(64, heads, "alphabet: a b c d …", True, "trained")
    assert e.attention.shape == (heads, 16, 16), "not one map per head"
    fresh = picture_of(state, attention_of(state)[3])
    assert bytes(e.heads_image.value) == fresh, f"the picture is not the one for {state}"
    assert e.stats.value.startswith(f"<b>{heads}</b> head")


def test_hold_render_draws_once_for_several_changes():
    e = HeadExplorer(num_heads=4, draw_ahead=False)
    renders = e.renders
    with e.hold_render():
        e.num_heads.value = 16
        e.causal.value = False
        e.sequence.value = "random letters"
        assert e.renders == renders, "rendered inside the block"
    assert e.renders == renders + 1
    assert e.state == ExplorerState(64, 16, "random letters", False, "trained")
    assert bytes(e.heads_image.value) == picture_of(e.state, attention_of(e.state)[3])
    with e.hold_render():
        pass  # nothing changed: nothing to render
    assert e.renders == renders + 1


def test_measured_time_is_taken_once_per_shape_and_says_so(explorer):
    explorer.num_heads.value = 2
    line = explorer.stats.value
    assert "measured when this shape was first shown" in line
    explorer.num_heads.value = 4
    explorer.num_heads.value = 2
    timed = [part for part in explorer.stats.value.split(" · ") if "attention forward" in part]
    assert timed == [part for part in line.split(" · ") if "attention forward" in part]


async def until(condition, what: str, timeout_s: float = 30.0) -> None:
    """Let the event loop run until condition() holds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while not condition():
        assert loop.time() < deadline, f"still waiting for {what} after {timeout_s:.0f} s"
        await asyncio.sleep(0.01)


def test_a_burst_of_changes_draws_only_the_latest_picture(monkeypatch):
    monkeypatch.setattr(head_explorer, "BURST_GAP_S", 3600.0)  # every later change: a burst

    async def burst():
        e = HeadExplorer(num_heads=4, draw_ahead=False)
        e.num_heads.value = 8  # the first change: drawn at once
        assert e.last_picture == "drawn" and e.attention.shape[0] == 8
        drawn, renders = e.pictures_drawn, e.renders
        for heads in (16, 32, 64):  # faster than any picture: each one replaces the one before
            e.num_heads.value = heads
        assert e.renders == renders, "a change in a burst was drawn at once"
        await until(lambda: e.renders > renders, "the put-off render")
        await asyncio.sleep(3 * head_explorer.COALESCE_S)  # nothing else comes
        return e, drawn, renders

    e, drawn, renders = asyncio.run(burst())
    assert e.renders == renders + 1 and e.pictures_drawn == drawn + 1, "stale pictures drawn"
    stale = [ExplorerState(64, h, e.sequence.value, True, "trained") for h in (16, 32)]
    assert not any(state in e.pictures for state in stale)
    assert e.attention.shape == (64, 16, 16) and e.stats.value.startswith("<b>64</b> heads")
    assert bytes(e.heads_image.value) == picture_of(e.state, e.attention)


def test_a_kept_picture_in_a_burst_is_shown_at_once_and_drops_the_put_off_one(monkeypatch):
    monkeypatch.setattr(head_explorer, "BURST_GAP_S", 3600.0)

    async def back_and_forth():
        e = HeadExplorer(num_heads=4, draw_ahead=False)
        e.num_heads.value = 8  # drawn at once
        drawn = e.pictures_drawn
        e.num_heads.value = 16  # to draw: put off
        e.num_heads.value = 4  # kept: shown at once
        assert e.last_picture == "kept" and e.attention.shape[0] == 4
        await asyncio.sleep(5 * head_explorer.COALESCE_S)
        return e, drawn

    e, drawn = asyncio.run(back_and_forth())
    assert e.pictures_drawn == drawn, "the put-off picture for 16 heads was drawn after all"
    assert e.num_heads.value == 4 and e.attention.shape[0] == 4


def test_draws_the_next_head_count_ahead_when_idle(monkeypatch):
    monkeypatch.setattr(head_explorer, "DRAW_AHEAD_AFTER_S", 0.0)
    monkeypatch.setattr(head_explorer, "DRAW_AHEAD_AFTER_FIRST_S", 3600.0)

    async def step_up():
        e = HeadExplorer(num_heads=4)
        e.num_heads.value = 8  # moving up: 16 is next, then 4 (drawn already)
        await until(lambda: e.pictures_drawn_ahead >= 1, "a picture drawn ahead")
        assert ExplorerState(64, 16, e.sequence.value, True, "trained") in e.pictures
        drawn = e.pictures_drawn
        e.num_heads.value = 16
        assert e.pictures_drawn == drawn and e.last_picture == "drawn ahead"
        assert e.stats.value.startswith("<b>16</b> heads")
        await until(lambda: e.pictures_drawn_ahead >= 2, "the next picture drawn ahead")
        e.close()
        return e

    e = asyncio.run(step_up())
    assert [s.num_heads for s in e.states_ahead()] == [32, 8]
    assert ExplorerState(64, 32, e.sequence.value, True, "trained") in e.pictures
    assert bytes(e.pictures.get(e.state)) == picture_of(e.state, e.attention)


def test_nothing_is_drawn_ahead_without_an_event_loop_or_when_told_not_to(monkeypatch):
    monkeypatch.setattr(head_explorer, "DRAW_AHEAD_AFTER_S", 0.0)
    e = HeadExplorer(num_heads=4)  # no running event loop here
    e.num_heads.value = 8
    assert e.pictures_drawn_ahead == 0 and len(e.pictures) == 2

    async def told_not_to():
        e = HeadExplorer(num_heads=4, draw_ahead=False)
        e.num_heads.value = 8
        await asyncio.sleep(0.2)
        return e

    e = asyncio.run(told_not_to())
    assert e.pictures_drawn_ahead == 0 and len(e.pictures) == 2


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


def test_torch_work_of_an_update_runs_on_one_thread(monkeypatch):
    e = HeadExplorer(num_heads=4, draw_ahead=False)
    threads_seen = []
    model = e.model
    forward = model.attention_input

    def spy(tokens):
        threads_seen.append(torch.get_num_threads())
        return forward(tokens)

    monkeypatch.setattr(model, "attention_input", spy)
    e.num_heads.value = 8
    e.num_heads.value = 4  # the same model again: its weights and the timed layer's input
    assert threads_seen and set(threads_seen) == {head_explorer.THREADS}, threads_seen
