"""Induction heads in a 2-layer attention-only model (Elhage et al. 2021, Olsson et al. 2022).

Sequences are a random segment of 6-16 tokens written twice. The first copy is unpredictable;
the second can be copied from the first, which takes two heads working together: a
previous-token head in layer 0 writes "the token before me was A" into each position, and an
induction head in layer 1 looks for the position whose previous token is the current token, and
copies what is there. One layer cannot do it.

    >>> model, history = train(num_layers=2, seed=0)        # about 8 s on a CPU
    >>> tokens = repeated_tokens(256, PERIOD, seed=EVAL_SEED)
    >>> result = analyse(model)                              # scores, accuracy, ablations
    >>> records = load_induction_runs()["records"]           # shipped: 1 and 2 layers, seeds

Everything is generated from seeds; nothing is downloaded.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable

import torch
import torch.nn.functional as F

from attn_course.experiments.shipped import load_results, mean_sd
from attn_course.experiments.training import train_steps
from attn_course.reference.block import pre_ln_block
from attn_course.reference.gpt import TinyGPT, heads_ablated
from attn_course.reference.induction import induction_score, previous_token_score

__all__ = [
    "PERIOD",
    "analyse",
    "build_model",
    "load_induction_runs",
    "mean_loss_curves",
    "next_batch",
    "repeat_loss",
    "repeated_tokens",
    "run",
    "summarize",
    "train",
]

VOCAB = 32
SEGMENT = (6, 16)  # the repeated segment's length, drawn per batch
CONTEXT = 2 * SEGMENT[1]
D_MODEL, NUM_HEADS = 64, 4
STEPS, BATCH_SIZE, LR = 1000, 64, 3e-3
PERIOD = 12  # the evaluation sequences: 12 random tokens, then the same 12 again
EVAL_N, EVAL_SEED = 256, 1000
INDUCTION_HEAD = 0.4  # a head whose induction score reaches this is called an induction head
RUNS_FILE = "induction_runs.json"  # written by scripts/induction_runs.py


def repeated_tokens(batch_size: int, period: int, *, gen: torch.Generator | None = None,
                    seed: int | None = None) -> torch.Tensor:
    """(B, 2 * period) token ids: a random segment, then the same segment again."""
    gen = gen if gen is not None else torch.Generator().manual_seed(seed or 0)
    segment = torch.randint(VOCAB, (batch_size, period), generator=gen)
    return torch.cat([segment, segment], dim=1)


def next_batch(gen: torch.Generator, batch_size: int = BATCH_SIZE) -> tuple[torch.Tensor, ...]:
    """A training batch: inputs (B, 2L - 1) and next tokens (B, 2L - 1), L drawn in SEGMENT."""
    length = int(torch.randint(SEGMENT[0], SEGMENT[1] + 1, (1,), generator=gen))
    tokens = repeated_tokens(batch_size, length, gen=gen)
    return tokens[:, :-1], tokens[:, 1:]


def lm_loss(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1))


def build_model(num_layers: int = 2, *, seed: int = 0, num_heads: int = NUM_HEADS,
                block_forward: Callable = pre_ln_block) -> TinyGPT:
    """An attention-only TinyGPT (no MLPs) with seeded initialisation."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return TinyGPT(VOCAB, CONTEXT, D_MODEL, num_heads, num_layers, mlp=False,
                       block_forward=block_forward)


def train(num_layers: int = 2, *, seed: int = 0, steps: int = STEPS, progress: bool = True,
          block_forward: Callable = pre_ln_block,
          on_step: Callable[[int, float], None] | None = None) -> tuple[TinyGPT, dict]:
    """Train on fresh repeated sequences (the blocks run `block_forward`). Returns (model in
    eval mode, history: 'loss' per step, 'seconds')."""
    model = build_model(num_layers, seed=seed, block_forward=block_forward)
    gen = torch.Generator().manual_seed(seed)
    run = train_steps(model, lambda: next_batch(gen), lm_loss, steps, lr=LR,
                      label=f"{num_layers} layer{'s' * (num_layers > 1)}, seed {seed}",
                      progress=progress, on_step=on_step)
    return model, {"loss": run.losses, "seconds": run.seconds}


def _eval_tokens(period: int = PERIOD) -> torch.Tensor:
    return repeated_tokens(EVAL_N, period, seed=EVAL_SEED)


@torch.no_grad()
def repeat_loss(model: TinyGPT, tokens: torch.Tensor | None = None,
                period: int = PERIOD) -> float:
    """Mean loss on the predictable tokens: those the second copy's queries (t >= period)
    predict. Chance is ln(32) = 3.47 nats."""
    tokens = _eval_tokens(period) if tokens is None else tokens
    logits = model(tokens[:, :-1])
    return lm_loss(logits[:, period:], tokens[:, period + 1:]).item()


@torch.no_grad()
def analyse(model: TinyGPT, period: int = PERIOD, *,
            score: Callable[[torch.Tensor, int], torch.Tensor] = induction_score) -> dict:
    """Per head (lists [layer][head]): induction scores (by `score`, e.g. a student's
    induction_score) and previous-token scores, and the loss change on the repeat when that head
    alone is ablated; the repeat's accuracy and loss; and the loss when every induction head is
    ablated at once against the mean over all sets of as many heads ('group_ablation')."""
    tokens = _eval_tokens(period)
    inputs, targets = tokens[:, :-1], tokens[:, 1:]
    logits = model(inputs)
    accuracy = (logits[:, period:].argmax(-1) == targets[:, period:]).float().mean().item()
    base = lm_loss(logits[:, period:], targets[:, period:]).item()  # = repeat_loss(model)
    maps = model.attention_maps(inputs)
    heads = [(layer, head) for layer in range(model.num_layers) for head in range(model.num_heads)]

    def ablated(chosen) -> float:
        with heads_ablated(model, chosen):
            return repeat_loss(model, tokens, period)

    single = {lh: ablated([lh]) - base for lh in heads}
    induction = [score(w, period).tolist() for w in maps]
    found = [(lay, h) for lay, h in heads if induction[lay][h] >= INDUCTION_HEAD]
    group = None
    if found:
        others = [ablated(list(chosen)) - base
                  for chosen in itertools.combinations(heads, len(found))]
        group = {"heads": found, "induction_heads": ablated(found) - base,
                 "random_heads": sum(others) / len(others)}
    return {
        "accuracy": accuracy,
        "repeat_loss": base,
        "induction": induction,
        "previous_token": [previous_token_score(w).tolist() for w in maps],
        "ablation": [[single[(lay, h)] for h in range(model.num_heads)]
                     for lay in range(model.num_layers)],
        "group_ablation": group,
    }


def run(num_layers: int, seed: int, steps: int = STEPS) -> dict:
    """train + analyse, as a plain record (rounded), with the loss every 10 steps."""
    model, history = train(num_layers, seed=seed, steps=steps, progress=False)
    result = analyse(model)

    def rounded(value):
        if isinstance(value, float):
            return round(value, 4)
        if isinstance(value, list | tuple):
            return [rounded(v) for v in value]
        if isinstance(value, dict):
            return {k: rounded(v) for k, v in value.items()}
        return value

    return rounded({"num_layers": num_layers, "seed": seed, "steps": steps, **result,
                    "loss": history["loss"][::10], "seconds": history["seconds"]})


def load_induction_runs() -> dict:
    """The shipped runs: {'steps', 'seeds', 'records': [run(...) for 1 and 2 layers, seeds]}."""
    return load_results(RUNS_FILE)


def previous_token_gap(record: dict) -> float:
    """Loss change on the repeat when the layer-0 head with the highest previous-token score is
    ablated, minus the mean change over the other heads ablated one at a time."""
    scores = record["previous_token"][0]
    prev = max(range(len(scores)), key=scores.__getitem__)
    changes = [v for row in record["ablation"] for v in row]
    others = changes[:prev] + changes[prev + 1:]
    return record["ablation"][0][prev] - sum(others) / len(others)


def best_induction_ablation(record: dict) -> float:
    """Loss change on the repeat when the last layer's best induction head alone is ablated."""
    last = record["induction"][-1]
    return record["ablation"][-1][max(range(len(last)), key=last.__getitem__)]


def summarize(records: list[dict]) -> dict:
    """Mean and sd over seeds of what the notebook claims, per number of layers:
    'accuracy', 'best_induction' (per layer), and for 2 layers 'group_gap' (every induction
    head ablated minus as many at random), 'previous_gap' (`previous_token_gap`) and
    'single_ablation' (`best_induction_ablation`), each as {'mean', 'sd', 'min', 'max', 'n'}."""
    def stats(values: list[float]) -> dict:
        mean, sd = mean_sd(values)
        return {"mean": mean, "sd": sd, "min": min(values), "max": max(values),
                "n": len(values)}

    out = {}
    for layers in sorted({r["num_layers"] for r in records}):
        runs = [r for r in records if r["num_layers"] == layers]
        entry = {"accuracy": stats([r["accuracy"] for r in runs]),
                 "best_induction": [stats([max(r["induction"][lay]) for r in runs])
                                    for lay in range(layers)]}
        if layers >= 2:
            groups = [r["group_ablation"] for r in runs]
            entry["group_gap"] = stats([g["induction_heads"] - g["random_heads"] if g else 0.0
                                        for g in groups])
            entry["previous_gap"] = stats([previous_token_gap(r) for r in runs])
            entry["single_ablation"] = stats([best_induction_ablation(r) for r in runs])
        out[layers] = entry
    return out


def mean_loss_curves(runs: dict) -> dict[str, tuple[list[int], list[float]]]:
    """The shipped runs' training loss, averaged over seeds, per depth:
    {"1 layer, mean of 5 seeds": (steps, losses), "2 layers, ...": ...} (every 10 steps)."""
    curves = {}
    for layers in sorted({r["num_layers"] for r in runs["records"]}):
        losses = [r["loss"] for r in runs["records"] if r["num_layers"] == layers]
        mean = [sum(column) / len(column) for column in zip(*losses, strict=True)]
        label = f"{layers} layer{'s' * (layers > 1)}, mean of {len(losses)} seeds"
        curves[label] = (list(range(1, 10 * len(mean), 10)), mean)
    return curves
