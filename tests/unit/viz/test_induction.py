"""Notebook 10's plots and the live loss curve."""

import matplotlib

matplotlib.use("Agg")

import pytest  # noqa: E402

from attn_course import viz  # noqa: E402
from attn_course.experiments.induction import load_induction_runs  # noqa: E402


@pytest.fixture(scope="module")
def records():
    return load_induction_runs()["records"]


def test_head_scores_plot_labels_every_head(records):
    two = next(r for r in records if r["num_layers"] == 2)
    fig = viz.plot_head_scores(two, threshold=0.4, pyplot=False)
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == [
        f"L{layer}.H{h}" for layer in range(2) for h in range(4)]
    assert ax.get_ylabel() and ax.get_xlabel() and ax.get_title()
    assert len(ax.patches) == 16  # two bars per head


def test_induction_plot_has_two_labelled_panels_and_the_live_run(records):
    live = next(r for r in records if r["num_layers"] == 2)
    fig = viz.plot_induction(records, live=live, pyplot=False)
    left, right = fig.axes
    assert "two layers" in left.get_title() and "Ablating" in right.get_title()
    assert left.get_ylabel() and right.get_ylabel()
    assert [t.get_text() for t in right.get_xticklabels()][0] == "intact"
    with pytest.raises(ValueError, match="2-layer"):
        viz.plot_induction([r for r in records if r["num_layers"] == 1], pyplot=False)


def test_live_loss_keeps_every_step_and_redraws(records):
    plot = viz.LiveLoss("a run", every=3, reference={"shipped": ([1, 2], [3.0, 2.0])},
                        display=False)
    for step, loss in enumerate([4.0, 3.5, 3.0, 2.5]):
        plot.update(step, loss)
    assert plot.steps == [1, 2, 3, 4] and plot.losses == [4.0, 3.5, 3.0, 2.5]
    assert list(plot.line.get_xdata()) == [1, 2, 3]  # redrawn at step 3, not yet at 4
    fig = plot.finish()
    assert list(plot.line.get_xdata()) == [1, 2, 3, 4]
    assert fig.axes[0].get_xlabel() == "training step" and fig.axes[0].get_title() == "a run"
