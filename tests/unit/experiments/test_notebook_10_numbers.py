"""Notebook 10's text states facts about the shipped runs; retraining them means rewriting it.

The statements of solutions/10_tiny_gpt.ipynb about the shipped character GPT (its size, its
training, what its heads do on repeated random letters) and about the shipped induction runs are
recomputed here.
"""

import pytest
import torch
import torch.nn.functional as F

from attn_course.experiments import char_gpt, induction
from attn_course.reference import induction_score, previous_token_score
from tests.unit.experiments.notebook_text import notebook_text


@pytest.fixture(scope="module")
def text():
    return notebook_text("10_tiny_gpt.ipynb")


@pytest.fixture(scope="module")
def shipped():
    return char_gpt.load_pretrained()


def test_size_and_training_of_the_char_gpt(text, shipped):
    model, record = shipped
    params = sum(p.numel() for p in model.parameters())
    assert f"{round(params, -3) // 1000} 000 parameters" in text
    steps, batch, context = record["steps"], char_gpt.BATCH_SIZE, model.context
    assert f"${steps} \\times {batch} \\times {context} \\approx" in text
    assert f"{round(steps * batch * context / 1e6)} million characters" in text
    assert f"went on for {steps} steps (two minutes on 2 cores)" in text
    assert 60 <= record["seconds"] <= 180


def test_the_char_gpt_has_a_previous_token_head_but_no_induction_head(text, shipped):
    """The notebook's section 6 test, as it runs it: 64 random strings of 40 letters, twice."""
    model, _ = shipped
    chars = char_gpt.Characters(char_gpt.load_text())
    letters = chars.encode("abcdefghijklmnopqrstuvwxyz")
    strings = letters[torch.randint(26, (64, 40), generator=torch.Generator().manual_seed(0))]
    repeated = torch.cat([strings, strings], dim=1)
    maps = model.attention_maps(repeated)
    assert max(induction_score(w, 40).max().item() for w in maps) < 0.1
    assert previous_token_score(maps[0]).max().item() > 0.8
    with torch.no_grad():
        losses = F.cross_entropy(model(repeated[:, :-1]).transpose(1, 2), repeated[:, 1:],
                                 reduction="none").mean(0)
    assert abs(losses[40:].mean() - losses[:39].mean()) < 0.3
    assert "**It does not** — not after 3000 steps" in text


def test_the_induction_statements_match_the_shipped_seeds(text):
    runs = induction.load_induction_runs()
    seeds = runs["seeds"]
    assert f"the mean of {len(seeds)} shipped seeds" in text
    assert f"({len(seeds)} of {len(seeds)} seeds" in text
    assert f"trained 1- and 2-layer models on {len(seeds)} seeds" in text
    two = induction.summarize(runs["records"])[2]
    assert 0.05 <= two["single_ablation"]["mean"] <= 0.2  # "costs about 0.1 nats"
    assert "costs about 0.1 nats" in text
