"""Notebook 07's plots: labelled, drawn from the rows and curves they are given."""

import numpy as np

from attn_course.viz import plot_heads_sweep, plot_kv_tradeoff, plot_pruning


def rows(key="num_heads"):
    return [{key: h, "head_dim": 8 // h, "params": 10, "kv_cache_bytes": 96 * h, "seeds": [0, 1],
             "accuracy": (a, 0.01), "seconds_per_step": (0.001 * h, 0.0)}
            for h, a in [(1, 0.8), (2, 0.95), (8, 0.6)]]


def test_the_sweep_plot_shows_accuracy_with_sd_and_step_time_and_marks_a_head_count():
    fig = plot_heads_sweep({"lookup": rows()}, selected=2, pyplot=False)
    acc, time = fig.axes
    errorbar = acc.containers[0]
    np.testing.assert_allclose(np.asarray(errorbar.lines[0].get_ydata(), float), [80, 95, 60])
    np.testing.assert_allclose(time.get_lines()[0].get_ydata(), [1, 2, 8])
    assert [t.get_text() for t in acc.get_legend().get_texts()] == ["lookup (2 seeds)"]
    assert any(line.get_xdata()[0] == 2 for line in acc.get_lines()[1:])  # the marker
    assert "d=1" in [t.get_text() for t in acc.texts]
    for ax in (acc, time):
        assert ax.get_xlabel() and ax.get_ylabel() and ax.get_title()


def test_the_pruning_plot_sets_importance_order_against_random_orders():
    curve = {"removed": [0, 1, 2], "by_importance": [1.0, 1.0, 0.5],
             "random_mean": [1.0, 0.7, 0.4], "random_sd": [0.0, 0.1, 0.1]}
    fig = plot_pruning({"a": curve, "b": curve}, pyplot=False)
    assert len(fig.axes) == 2
    ax = fig.axes[0]
    np.testing.assert_allclose(ax.get_lines()[0].get_ydata(), [100, 100, 50])
    np.testing.assert_allclose(ax.get_lines()[1].get_ydata(), [100, 70, 40])
    assert len(ax.collections) == 1 and ax.get_title().endswith(": a")
    assert ax.get_xlabel() and ax.get_ylabel()


def test_the_cache_plot_puts_accuracy_against_bytes_per_kv_head_count():
    fig = plot_kv_tradeoff(rows("kv_heads"), pyplot=False)
    ax = fig.axes[0]
    np.testing.assert_allclose(np.asarray(ax.containers[0].lines[0].get_xdata(), float),
                               [96, 192, 768])
    assert [t.get_text() for t in ax.texts] == ["MQA (G=1)", "G=2", "G=8"]
    assert ax.get_xlabel() and ax.get_ylabel() and ax.get_title()


def test_the_comm_cost_plot_sets_compute_beside_the_all_reduce():
    from attn_course.viz import plot_comm_cost

    cost = {"world_size": 2, "num_heads": 8, "backend": "gloo", "threads_per_rank": 1,
            "rows": [{"shape": [4, 64, 128], "compute_ms": 0.5, "all_reduce_ms": 2.0,
                      "bytes": 131072, "share": 0.8},
                     {"shape": [4, 512, 512], "compute_ms": 60.0, "all_reduce_ms": 6.0,
                      "bytes": 4194304, "share": 0.09}]}
    ax = plot_comm_cost(cost, pyplot=False).axes[0]
    heights = [p.get_height() for p in ax.patches]
    assert heights == [0.5, 60.0, 2.0, 6.0]
    assert [t.get_text() for t in ax.texts] == ["80% comm.", "9% comm."]
    assert ax.get_ylabel() and "2 processes" in ax.get_title()
