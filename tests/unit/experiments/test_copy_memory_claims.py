"""The course's claims about copy memory hold over seeds, not just for one run.

The course prints mean ± sd over the seeds shipped in attn_course/data/copy_memory_seeds.json
(written by scripts/copy_memory_seeds.py): one attention layer copies across every gap, the LSTM
only across short ones, and the causal CNN exactly where the distance fits its receptive field.
These tests check that (1) every shipped seed satisfies each claim, (2) one shipped point
reproduces when trained again, and (3) the central claim (gap 50: transformer far above the LSTM)
holds on seeds the shipped results did not use: FRESH_SEEDS by default, or set
ATTN_COURSE_CLAIM_SEEDS="5 17 23" to try others.
"""

import os

import pytest

from attn_course.experiments.copy_memory import (
    BATCH_SIZE,
    CHANCE,
    GAPS,
    LR,
    MODELS,
    NUM_SYMBOLS,
    STEPS,
    copy_table,
    load_copy_results,
    receptive_field,
    run_seed,
    summarize,
)
from attn_course.experiments.shipped import run_parallel

FRESH_SEEDS = tuple(int(s) for s in os.environ.get("ATTN_COURSE_CLAIM_SEEDS", "101 202").split())

# The claims, checked per seed; each leaves a margin beyond every shipped seed's value.
# Shipped (4 seeds, 400 steps): the transformer 100% at every gap; the LSTM 94.8-96.9% at gap 0,
# 79-90% at gap 5, 12-38% at gap 10 (two seeds learn a little, two stay at chance) and 12.4-12.8%
# from gap 25 on; the CNN 100% up to gap 10 and 12.1-12.7% from gap 25 on.
TRANSFORMER_MIN = 0.95  # at every gap
LSTM_GAP0_MIN = 0.9  # the LSTM copies without a gap
GAP50_DIFFERENCE = 0.5  # at gap 50: transformer - LSTM (shipped: 0.87)
LSTM_LONG_MAX = CHANCE + 0.1  # from gap 25 on the LSTM is at chance
CNN_FITS_MIN = 0.97  # where the distance 8 + gap fits the receptive field
CNN_BEYOND_MAX = CHANCE + 0.1  # where it does not
# The point trained again: the LSTM at gap 5 is mid-way (86.0% on seed 0), so any change to the
# task, the model or training shows; gap 10 is avoided because there some seeds stay at chance.
REPRODUCE = ("lstm", 5, 0)
REPRODUCE_TOLERANCE = 0.03  # absolute accuracy: another CPU's rounding may steer training a bit


def fits(gap: int) -> bool:
    """Whether the symbol to recall, 8 + gap positions back, lies in the CNN's receptive field."""
    return NUM_SYMBOLS + gap < receptive_field()


def select(records, model, gap):
    return [r for r in records if r["model"] == model and r["gap"] == gap]


def check_gap50(transformer, lstm):
    assert transformer["seed"] == lstm["seed"]
    assert transformer["accuracy"] - lstm["accuracy"] >= GAP50_DIFFERENCE, lstm["seed"]
    assert lstm["accuracy"] <= LSTM_LONG_MAX, lstm["seed"]


# --- (1) the shipped results -----------------------------------------------------------------


@pytest.fixture(scope="module")
def shipped():
    return load_copy_results()


def test_shipped_results_cover_every_model_gap_and_seed(shipped):
    assert shipped["steps"] == STEPS and shipped["batch_size"] == BATCH_SIZE
    assert shipped["lr"] == LR
    assert shipped["models"] == list(MODELS) and shipped["gaps"] == list(GAPS)
    seeds = shipped["seeds"]
    assert all(len(seeds[m]) >= 3 for m in MODELS)
    assert not set(FRESH_SEEDS) & {s for ss in seeds.values() for s in ss}
    pairs = {(r["model"], r["gap"], r["seed"]) for r in shipped["records"]}
    assert pairs == {(m, g, s) for m in MODELS for g in GAPS for s in seeds[m]}
    for r in shipped["records"]:
        assert "loss" not in r and r["steps"] == STEPS
        assert r["curve"]["steps"][-1] == STEPS
        assert len(r["curve"]["steps"]) == len(r["curve"]["accuracy"])
        assert ("receptive_field" in r) == (r["model"] == "cnn")


def test_shipped_parameter_counts_match_within_ten_percent(shipped):
    for gap in GAPS:
        params = {r["params"] for r in shipped["records"] if r["gap"] == gap}
        assert max(params) <= 1.1 * min(params), (gap, params)


def test_every_shipped_seed_supports_the_claims(shipped):
    records = shipped["records"]
    for gap in GAPS:
        for r in select(records, "transformer", gap):
            assert r["accuracy"] >= TRANSFORMER_MIN, (gap, r["seed"])
        for r in select(records, "cnn", gap):
            assert r["receptive_field"] == receptive_field()
            if fits(gap):
                assert r["accuracy"] >= CNN_FITS_MIN, (gap, r["seed"])
            else:
                assert r["accuracy"] <= CNN_BEYOND_MAX, (gap, r["seed"])
    for r in select(records, "lstm", 0):
        assert r["accuracy"] >= LSTM_GAP0_MIN, r["seed"]
    pairs = zip(select(records, "transformer", 50), select(records, "lstm", 50), strict=True)
    for transformer, lstm in pairs:
        check_gap50(transformer, lstm)
    # both sides of the receptive field are shipped
    assert any(fits(g) for g in GAPS) and not all(fits(g) for g in GAPS)


def test_the_lstm_fades_as_the_gap_grows(shipped):
    lstm = summarize(shipped["records"])["lstm"]
    short = [g for g in GAPS if g < 25]
    means = [lstm[g]["accuracy"][0] for g in short]
    assert means == sorted(means, reverse=True) and len(set(means)) == len(means), means
    for gap in [g for g in GAPS if g >= 25]:
        for r in select(shipped["records"], "lstm", gap):
            assert r["accuracy"] <= LSTM_LONG_MAX, (gap, r["seed"])


def test_copy_table_prints_mean_and_sd(shipped):
    lines = copy_table(shipped["records"]).splitlines()
    assert len(lines) == 1 + len(MODELS)
    assert all(f"gap {g}" in lines[0] for g in GAPS)
    mean, sd = summarize(shipped["records"])["lstm"][0]["accuracy"]
    assert lines[2].startswith("lstm") and f"{100 * mean:>5.1f} ± {100 * sd:>4.1f}%" in lines[2]


# --- (2) reproduce one shipped point, (3) fresh seeds ----------------------------------------


@pytest.fixture(scope="module")
def retrained():
    """REPRODUCE and, on FRESH_SEEDS, transformer and LSTM at gap 50: one thread per process."""
    jobs = [("transformer", 50, s) for s in FRESH_SEEDS] + [("lstm", 50, s) for s in FRESH_SEEDS]
    jobs.append(REPRODUCE)
    records = run_parallel(run_seed, jobs, processes=min(4, os.cpu_count() or 1))
    return {(r["model"], r["gap"], r["seed"]): r for r in records}


@pytest.mark.slow
def test_a_shipped_point_reproduces(shipped, retrained):
    model, gap, seed = REPRODUCE
    (expected,) = [r for r in select(shipped["records"], model, gap) if r["seed"] == seed]
    got = retrained[REPRODUCE]
    assert got["params"] == expected["params"]
    assert got["accuracy"] == pytest.approx(expected["accuracy"], abs=REPRODUCE_TOLERANCE)


@pytest.mark.slow
def test_the_gap_50_claim_holds_on_fresh_seeds(retrained):
    assert FRESH_SEEDS
    for seed in FRESH_SEEDS:
        check_gap50(retrained[("transformer", 50, seed)], retrained[("lstm", 50, seed)])
