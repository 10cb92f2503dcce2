"""Notebook 05 quotes the shipped results; retraining them means rewriting those sentences.

The text, the summary and the model answers of solutions/05_why_several_heads.ipynb state means
± sd and ranges over the shipped seeds (attn_course/data/offset_recall_runs.json and
copy_memory_seeds.json). Each number quoted is recomputed here from the shipped files.
"""

import pytest

from attn_course.experiments import copy_memory as cm
from attn_course.experiments.offsets import (
    curve_summary,
    load_recall_runs,
    mass_over_seeds,
    select,
)
from attn_course.experiments.shipped import mean_sd
from tests.unit.experiments.notebook_text import notebook_text


@pytest.fixture(scope="module")
def text():
    return notebook_text("05_why_several_heads.ipynb", code=True)


@pytest.fixture(scope="module")
def runs():
    return load_recall_runs()


def pm(values, digits=1):
    mean, sd = mean_sd(values)
    return f"{100 * mean:.{digits}f} ± {100 * sd:.{digits}f}%"


def test_head_counts_accuracy_is_quoted(text, runs):
    for h in (1, 2):
        assert pm([r["accuracy"] for r in select(runs, task="offsets", num_heads=h)]) in text, h
    one = select(runs, task="offsets", num_heads=1)
    low, high = (f(r["accuracy"] for r in one) for f in (min, max))
    assert f"between {100 * low:.0f}% and {100 * high:.0f}%" in text
    four = {r["seed"]: r for r in select(runs, task="offsets", num_heads=4)}
    gains = [four[r["seed"]]["accuracy"] - r["accuracy"] for r in one]
    assert f"by {100 * min(gains):.0f} to {100 * max(gains):.0f} points" in text
    assert pm([r["all_correct"] for r in one], 0).replace("%", "") in text  # "42 ± 30"
    assert all(r["accuracy"] >= 0.9995 for r in four.values())  # "100% on every seed"


def test_single_heads_blend_and_offsets_are_quoted(text, runs):
    one = select(runs, task="offsets", num_heads=1)
    mean, sd = mass_over_seeds(one)
    blend = (f"{mean[1]:.2f} on $t-1$, {mean[2]:.2f} on $t-2$, {mean[3]:.2f} on $t-3$ and "
             f"{mean[4]:.2f}")
    assert blend in text
    for k, digits in ((2, 1), (3, 1), (4, 1)):
        assert pm([r["per_offset"][f"t-{k}"] for r in one], digits) in text, k


def test_four_heads_reach_90_percent_when_the_text_says(text, runs):
    s = curve_summary(select(runs, task="offsets", num_heads=4))
    first = next(step for step, m in zip(s["steps"], s["mean"], strict=True) if m >= 0.9)
    assert f"by step {first}" in text


def test_copy_memory_numbers_are_quoted(text):
    summary = cm.summarize(cm.load_copy_results()["records"])
    lstm = summary["lstm"]
    mean, sd = lstm[0]["accuracy"]
    assert f"{100 * mean:.1f} ± {100 * sd:.1f}%" in text  # gap 0
    for gap in (5, 10):
        mean, sd = lstm[gap]["accuracy"]
        assert f"{100 * mean:.0f} ± {100 * sd:.0f}%" in text, gap
    assert f"chance ({100 * lstm[25]['accuracy'][0]:.1f}%)" in text
    assert all(summary["transformer"][g]["accuracy"][0] >= 0.9995 for g in cm.GAPS)
    gap_50 = summary["transformer"][50]["accuracy"][0] - lstm[50]["accuracy"][0]
    assert f"about {100 * gap_50:.0f} points" in text
    assert f"{cm.receptive_field()}-position receptive field" in text
