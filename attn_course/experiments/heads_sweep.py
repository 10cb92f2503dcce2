"""Choosing the number of heads: accuracy, head size, step time, pruning and K/V heads.

One model for every measurement of notebook 07: embeddings -> one causal `GroupedQueryAttention`
layer (H query heads of d = d_model / H, G K/V heads) -> MLP -> readouts, trained on one of two
tasks of length 24 with fresh random batches:

- "offsets": every position recalls the tokens 1, 2, 3 and 4 back (notebook 05's task): one head
  can only blend the four positions, several heads split them.
- "lookup": 16 (key, value) pairs, then 8 queries, each naming a key: the answer is its value.
  Attention must match the query's key against every pair's key, by content. A head of size
  d = 1 cannot: its score q·k_j is one number times k_j, so every query orders the keys the same
  way, up to sign, and can only pick the largest or the smallest (Bhojanapalli et al. 2020).

    >>> sweep = heads_sweep((1, 4, 16, 64), task="lookup", seeds=(0, 1))   # plain data
    >>> sweep["rows"][0]["accuracy"]             # (mean, sd) over seeds for H = 1
    >>> model, history = train(8, task="lookup", kv_heads=2, steps=600)     # GQA: 2 K/V heads
    >>> importance = head_importance(model)     # Michel et al.: |d loss / d xi_h| per head
    >>> curve = pruning_curve(model, importance) # accuracy as heads are removed, vs random order
    >>> shipped = load_sweep()                   # every result of the notebook, over seeds

Nothing is downloaded: the data comes from seeded generators.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F
from tqdm.auto import tqdm

from attn_course.experiments import offsets
from attn_course.experiments.shipped import load_results, mean_sd
from attn_course.experiments.training import train_steps
from attn_course.reference.gqa import GroupedQueryAttention, kv_cache_bytes
from attn_course.reference.gqa import mask_heads as gqa_mask_heads

TASKS = ("offsets", "lookup")
SEQ_LEN = 24
PAIRS, QUERIES, KEYS, VALUES = 16, 8, 16, 16  # lookup: 16 pairs then 8 queries; 16 keys, values
IGNORE = offsets.IGNORE
SWEEP_FILE = "heads_sweep.json"  # written by scripts/heads_sweep_runs.py


def check_task(task: str) -> str:
    if task not in TASKS:
        raise ValueError(f"task must be one of {TASKS}, got {task!r}.")
    return task


def lookup_batch(batch_size: int, generator: torch.Generator | None = None
                 ) -> tuple[torch.Tensor, torch.Tensor]:
    """Inputs (B, 24) and targets (B, 24, 1) of the lookup task.

    Positions 0..15 hold pairs, token key * 16 + value, each key once in random order; positions
    16..23 hold queries, token 256 + key; a query's target is its key's value, IGNORE elsewhere.
    """
    keys = torch.rand(batch_size, KEYS, generator=generator).argsort(-1)[:, :PAIRS]  # (B, P)
    values = torch.randint(0, VALUES, (batch_size, PAIRS), generator=generator)  # (B, P)
    which = torch.randint(0, PAIRS, (batch_size, QUERIES), generator=generator)  # (B, Q)
    asked = keys.gather(1, which)  # (B, Q) the keys the queries name
    tokens = torch.cat([keys * VALUES + values, KEYS * VALUES + asked], dim=1)  # (B, T)
    targets = torch.full((batch_size, PAIRS + QUERIES, 1), IGNORE, dtype=torch.long)
    targets[:, PAIRS:, 0] = values.gather(1, which)
    return tokens, targets


def make_batch(task: str, batch_size: int, generator: torch.Generator | None = None
               ) -> tuple[torch.Tensor, torch.Tensor]:
    """(tokens (B, 24), targets (B, 24, readouts)) of `task`."""
    if check_task(task) == "lookup":
        return lookup_batch(batch_size, generator)
    return offsets.make_batch(batch_size, SEQ_LEN, generator)


def task_shape(task: str) -> tuple[int, int, int]:
    """(input vocabulary, readouts, classes per readout) of `task`."""
    if check_task(task) == "lookup":
        return KEYS * VALUES + KEYS, 1, VALUES
    return offsets.VOCAB, len(offsets.OFFSETS), offsets.VOCAB


class SweepModel(nn.Module):
    """Embeddings -> causal GroupedQueryAttention (pre-LN, residual) -> MLP -> readouts.

    forward(tokens (B, T), head_mask=None, return_weights=False) -> logits (B, T, R, C),
        or (logits, weights (B, H, T, T)); head_mask (H,) scales each head's output (xi).
    """

    def __init__(self, d_model: int, num_heads: int, kv_heads: int | None = None,
                 task: str = "offsets"):
        super().__init__()
        vocab, readouts, classes = task_shape(task)
        self.task, self.readouts, self.classes = task, readouts, classes
        self.tok_emb = nn.Embedding(vocab, d_model)
        self.pos_emb = nn.Embedding(SEQ_LEN, d_model)
        self.ln_attn = nn.LayerNorm(d_model)
        self.attn = GroupedQueryAttention(d_model, num_heads, kv_heads)
        self.ln_mlp = nn.LayerNorm(d_model)
        self.mlp = nn.Sequential(nn.Linear(d_model, 4 * d_model), nn.GELU(),
                                 nn.Linear(4 * d_model, d_model))
        self.ln_out = nn.LayerNorm(d_model)
        self.readout = nn.Linear(d_model, readouts * classes)

    def forward(self, tokens: torch.Tensor, head_mask: torch.Tensor | None = None,
                return_weights: bool = False, mask_fn: Callable = gqa_mask_heads):
        B, T = tokens.shape
        x = self.tok_emb(tokens) + self.pos_emb(torch.arange(T, device=tokens.device))
        a = self.attn(self.ln_attn(x), causal=True, head_mask=head_mask,
                      return_weights=return_weights, mask_fn=mask_fn)
        a, weights = a if return_weights else (a, None)
        x = x + a  # (B, T, d_model)
        x = x + self.mlp(self.ln_mlp(x))
        logits = self.readout(self.ln_out(x)).view(B, T, self.readouts, self.classes)
        return (logits, weights) if return_weights else logits


def loss_fn(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy over every target that is not IGNORE."""
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1),
                           ignore_index=IGNORE)


@torch.no_grad()
def accuracy(model: SweepModel, n: int = 1024, seed: int = 1234,
             head_mask: torch.Tensor | None = None) -> float:
    """Token accuracy on n seeded sequences (every target that is not IGNORE)."""
    was_training = model.training
    model.eval()
    tokens, targets = make_batch(model.task, n, torch.Generator().manual_seed(seed))
    pred = model(tokens, head_mask=head_mask).argmax(-1)  # (n, T, R)
    model.train(was_training)
    valid = targets != IGNORE
    return ((pred == targets) & valid).sum().item() / valid.sum().item()


def train(num_heads: int, *, task: str = "offsets", d_model: int = 64,
          kv_heads: int | None = None, steps: int = 1000, seed: int = 0, batch_size: int = 64,
          lr: float = 3e-3, progress: bool = True) -> tuple[SweepModel, dict]:
    """Train on fresh batches (AdamW, one-cycle lr). Returns (eval-mode model, history with
    'loss' per step, 'seconds_per_step' and the final 'accuracy')."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = SweepModel(d_model, num_heads, kv_heads, check_task(task))
    gen = torch.Generator().manual_seed(seed)
    label = f"{task}: {num_heads} head{'s' * (num_heads > 1)}" + (
        f", {kv_heads} K/V" if kv_heads not in (None, num_heads) else "")
    run = train_steps(model, lambda: make_batch(task, batch_size, gen), loss_fn, steps, lr=lr,
                      label=label, progress=progress)
    return model, {"loss": run.losses, "seconds_per_step": run.seconds / steps,
                   "accuracy": accuracy(model)}


def params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


MAPS_KEPT = 8  # heads whose maps a run keeps for the explorer


@torch.no_grad()
def probe_maps(model: SweepModel, seed: int = 7) -> list[list[list[float]]]:
    """The attention weights (min(H, 8), T, T) of the first 8 heads on one seeded probe
    sequence, rounded, for the explorer."""
    tokens, _ = make_batch(model.task, 1, torch.Generator().manual_seed(seed))
    _, weights = model(tokens, return_weights=True)
    return [[[round(w, 3) for w in row] for row in head]
            for head in weights[0, :MAPS_KEPT].tolist()]


def run(num_heads: int, *, task: str, seed: int, steps: int = 1000, d_model: int = 64,
        kv_heads: int | None = None, maps: bool = False, pruning: bool = False,
        progress: bool = False) -> dict:
    """One training run as plain data: accuracy, seconds per step, params, head size, K/V cache
    bytes per sequence (float32); with maps=True the probe's attention maps (`probe_maps`), with
    pruning=True each head's importance and the `pruning_curve`."""
    model, history = train(num_heads, task=task, d_model=d_model, kv_heads=kv_heads,
                           steps=steps, seed=seed, progress=progress)
    G = model.attn.kv_heads
    record = {"task": task, "num_heads": num_heads, "kv_heads": G, "seed": seed, "steps": steps,
              "d_model": d_model, "head_dim": d_model // num_heads, "params": params(model),
              "accuracy": round(history["accuracy"], 6),
              "seconds_per_step": round(history["seconds_per_step"], 6),
              "kv_cache_bytes": kv_cache_bytes(1, G, d_model // num_heads, SEQ_LEN, 4)}
    if maps:
        record["maps"] = probe_maps(model)
    if pruning:
        importance = head_importance(model)
        record["importance"] = [round(x, 6) for x in importance]
        record["pruning"] = pruning_curve(model, importance)
    return record


def summarize(records: Sequence[dict], key: str = "num_heads") -> list[dict]:
    """Group runs by `key` (num_heads or kv_heads): accuracy and seconds per step as
    (mean, sd) over seeds, with head size, params and cache bytes (the same in a group)."""
    groups: dict[int, list[dict]] = {}
    for r in records:
        groups.setdefault(r[key], []).append(r)
    rows = []
    for value, rs in sorted(groups.items()):
        rows.append({key: value, "head_dim": rs[0]["head_dim"], "params": rs[0]["params"],
                     "kv_cache_bytes": rs[0]["kv_cache_bytes"], "seeds": [r["seed"] for r in rs],
                     "accuracy": mean_sd([r["accuracy"] for r in rs]),
                     "seconds_per_step": mean_sd([r["seconds_per_step"] for r in rs])})
    return rows


def heads_sweep(head_counts: Sequence[int] = (1, 2, 4, 8, 16, 32, 64), *,
                task: str = "offsets", seeds: Sequence[int] = (0, 1, 2), steps: int = 1000,
                d_model: int = 64, progress: bool = True) -> dict:
    """Train every head count at a fixed width over seeds: {"task", "d_model", "steps",
    "records": one per run, "rows": `summarize`d per head count}."""
    runs = [(h, s) for h in head_counts for s in seeds]
    records = [run(h, task=task, seed=s, steps=steps, d_model=d_model)
               for h, s in tqdm(runs, desc=f"{task} sweep", disable=not progress)]
    return {"task": task, "d_model": d_model, "steps": steps, "records": records,
            "rows": summarize(records)}


def sweep_table(rows: Sequence[dict], key: str = "num_heads") -> str:
    """A text table of `summarize`d rows."""
    name = "heads" if key == "num_heads" else "K/V heads"
    lines = [f"{name:>9} {'head dim':>8} {'params':>7} {'seeds':>5} {'accuracy':>16} "
             f"{'ms / step':>13} {'K/V cache':>10}"]
    for r in rows:
        (acc, acc_sd), (sec, sec_sd) = r["accuracy"], r["seconds_per_step"]
        lines.append(f"{r[key]:>9} {r['head_dim']:>8} {r['params']:>7} {len(r['seeds']):>5} "
                     f"{acc:>8.1%} ± {acc_sd:>5.1%} {1e3 * sec:>6.1f} ± {1e3 * sec_sd:>4.1f} "
                     f"{r['kv_cache_bytes']:>8} B")
    return "\n".join(lines)


# --- Head importance and pruning ---------------------------------------------------------------

MaskHeads = Callable[[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]


def head_importance(model: SweepModel, *, batches: int = 8, batch_size: int = 128,
                    seed: int = 99, mask_heads: MaskHeads | None = None) -> list[float]:
    """Michel et al.'s (2019) importance of each head: the mean over batches of
    |d loss / d xi_h| at xi = 1, where xi_h scales head h's output. `mask_heads` (the student's,
    with `reference.gqa.mask_heads`'s signature) gates the heads in place of the model's own."""
    H = model.attn.num_heads
    gen = torch.Generator().manual_seed(seed)
    total = torch.zeros(H)
    gate = mask_heads or gqa_mask_heads
    for _ in range(batches):
        xi = torch.ones(H, requires_grad=True)
        tokens, targets = make_batch(model.task, batch_size, gen)
        loss = loss_fn(model(tokens, head_mask=xi, mask_fn=gate), targets)
        (grad,) = torch.autograd.grad(loss, xi)
        total += grad.abs()
    return (total / batches).tolist()


def pruning_curve(model: SweepModel, importance: Sequence[float], *, random_orders: int = 8,
                  seed: int = 0, n: int = 1024) -> dict:
    """Accuracy after removing k = 0 .. H - 1 heads (xi = 0), least important first, against
    removing them in random orders: {"removed", "by_importance", "random_mean", "random_sd"}."""
    H = model.attn.num_heads
    order = sorted(range(H), key=lambda h: importance[h])

    def curve(sequence: Sequence[int]) -> list[float]:
        points = []
        for k in range(H):
            xi = torch.ones(H)
            xi[list(sequence[:k])] = 0.0
            points.append(accuracy(model, n=n, head_mask=xi))
        return points

    rng = random.Random(seed)
    randoms = torch.tensor([curve(rng.sample(range(H), H)) for _ in range(random_orders)])
    return {"removed": list(range(H)), "by_importance": curve(order),
            "random_mean": randoms.mean(0).tolist(), "random_sd": randoms.std(0).tolist(),
            "order": order}


# --- The shipped results -----------------------------------------------------------------------


def load_sweep() -> dict:
    """The shipped runs of notebook 07: {"sweeps": {task: records}, "gqa": records,
    "pruning": [...]} (see scripts/heads_sweep_runs.py)."""
    return load_results(SWEEP_FILE)
