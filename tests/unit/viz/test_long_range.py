"""Learning curves, copy memory against the gap, and attention's cost against T: labelled plots
drawn from the data they are given."""

import numpy as np
import pytest

from attn_course.viz import plot_copy_memory, plot_learning_curves, plot_sequence_cost


def test_learning_curves_draw_mean_band_and_live_run():
    summary = {"steps": [50, 100], "mean": [0.5, 0.9], "sd": [0.1, 0.05], "seeds": [0, 1, 2]}
    run = {"steps": [50, 100], "accuracy": [0.4, 0.8]}
    fig = plot_learning_curves({"1 head": summary, "4 heads": summary},
                               live={"4 heads": run, "other": run}, chance=1 / 16)
    ax = fig.axes[0]
    lines = ax.get_lines()
    np.testing.assert_allclose(lines[0].get_ydata(), [0.5, 0.9])
    np.testing.assert_allclose(lines[2].get_ydata(), [0.4, 0.8])
    assert lines[2].get_linestyle() == "--"
    assert lines[2].get_color() == lines[1].get_color() != lines[0].get_color()  # its summary's
    assert lines[3].get_color() not in (lines[0].get_color(), lines[1].get_color())
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels[:4] == ["1 head (3 seeds)", "4 heads (3 seeds)", "4 heads, your run", "other"]
    assert "chance" in labels[-1]
    assert ax.get_xlabel() and ax.get_ylabel() and ax.get_title()
    assert len(ax.collections) == 2  # the ± sd bands
    with pytest.raises(ValueError, match="nothing to draw"):
        plot_learning_curves({})


def test_copy_memory_plot_one_line_per_model_with_params():
    summary = {
        "transformer": {0: {"accuracy": (1.0, 0.0), "params": 52_300},
                        50: {"accuracy": (0.99, 0.01), "params": 55_400}},
        "lstm": {0: {"accuracy": (0.98, 0.01), "params": 54_000},
                 50: {"accuracy": (0.13, 0.01), "params": 54_000}},
    }
    live = {"LSTM, this run": {"model": "lstm", "gap": 50, "accuracy": 0.12}}
    fig = plot_copy_memory(summary, live=live)
    ax = fig.axes[0]
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert any("Transformer" in t and "52–55k" in t for t in labels)
    assert any("LSTM" in t and "54k" in t for t in labels)
    assert "LSTM, this run" in labels and any("chance" in t for t in labels)
    ys = [list(line.get_ydata()) for line in ax.get_lines()]
    assert [1.0, 0.99] in ys and [0.98, 0.13] in ys and [0.12] in ys
    assert ax.get_xlabel() and ax.get_ylabel() and ax.get_title()


def test_sequence_cost_plot_time_and_memory_against_T():
    cost = {"d_model": 64, "num_heads": 4, "batch_size": 1, "threads": 1,
            "seq_lens": [64, 128, 256], "attention_ms": [0.1, 0.3, 1.2], "lstm_ms": [0.2, 0.4, 0.8],
            "weights_bytes": [65536, 262144, 1048576], "lstm_state_bytes": [512, 512, 512]}
    fig = plot_sequence_cost(cost)
    left, right = fig.axes
    np.testing.assert_allclose(left.get_lines()[0].get_ydata(), [0.1, 0.3, 1.2])
    np.testing.assert_allclose(left.get_lines()[1].get_ydata(), [0.2, 0.4, 0.8])
    np.testing.assert_allclose(right.get_lines()[0].get_ydata(), [0.0625, 0.25, 1.0])  # MiB
    for ax in (left, right):
        assert ax.get_xscale() == "log" and ax.get_title() and ax.get_ylabel()
        assert ax.get_legend() is not None
