"""Multi-offset recall: a toy task on which attention heads specialise.

Every position t of a random token sequence must output the tokens at t-1, t-2, t-3 and t-4,
with four softmax readouts reading the same vector. One causal attention layer has to fetch four
positions at once: a single head blends them into one average (78-94% token accuracy after
1000 steps, depending on the seed: t-1 and t-2 come through, t-3 and t-4 only partly), while
with four heads each head puts its weight on one offset (on some seeds, two), and 4 to 32 heads
reach 100% on every seed. The "colours" control task asks for the same four tokens, each tagged
with its position mod 4: there one head's even blend recalls all four (100%).

    >>> result = offset_recall(1, seed=0)   # one run as plain data: accuracy, per_offset, curve,
    >>>                                     # each head's weight per offset, ablation (~10 s)
    >>> heads_table(result)                 # per head: weight per offset, accuracy without it
    >>> runs = load_recall_runs()           # shipped: both tasks, 1, 2, 4 heads, 5 seeds each
    >>> curve_summary(select(runs, task="offsets", num_heads=1))   # mean ± sd learning curve
    >>> model, history = train(d_model=64, num_heads=4, steps=1000, seed=0)   # ~15 s on 2 cores
    >>> history.final["token_accuracy"]                                        # ~1.0
    >>> model = pretrained(64, 4)            # the same run, shipped with the course
    >>> logits, weights = model(tokens, return_weights=True)   # (B, T, 4, V), (B, H, T, T)
    >>> weights = model.attention_weights(tokens)               # (B, H, T, T), no gradients
    >>> offset_mass(model)          # (H, 6): each head's mean weight on t, t-1, ..., t-4, further
    >>> records = load_seed_results()["records"]   # shipped: every head count over seeds
    >>> print(seed_table(records))                 # mean ± sd over seeds, per head count

Data is generated from a seed; nothing is downloaded.
"""

from __future__ import annotations

import time
from copy import deepcopy
from dataclasses import dataclass, field
from importlib import resources

import torch
import torch.nn as nn
import torch.nn.functional as F
from tqdm.auto import tqdm

from attn_course.experiments.shipped import load_results, mean_sd
from attn_course.experiments.training import train_steps
from attn_course.reference.attention import causal_mask
from attn_course.reference.head_profile import offset_profile
from attn_course.reference.mha import MultiHeadSelfAttention, divisors

VOCAB = 16  # tokens 0..15, shown as letters a..p
SEQ_LEN = 24  # training length; shorter sequences work too (positions are learned)
OFFSETS = (1, 2, 3, 4)  # position t must recall the tokens at t-1, t-2, t-3, t-4
IGNORE = -100  # target where t - offset < 0 (nothing to recall)
LETTERS = "abcdefghijklmnop"
D_MODELS = (32, 64)  # the widths with shipped weights, for every divisor as head count
# The control task "colours": the same four tokens to recall, but the token at position t wears
# colour t % 4 (64 input tokens: 16 letters x 4 colours) and readout c asks for the letter of
# colour c among t-1 .. t-4. Each attended item now says which readout it belongs to.
TASKS = ("offsets", "colours")
COLOURS = len(OFFSETS)


def check_task(task: str) -> str:
    if task not in TASKS:
        raise ValueError(f"task must be one of {TASKS}, got {task!r}.")
    return task


def make_batch(
    batch_size: int,
    seq_len: int = SEQ_LEN,
    generator: torch.Generator | None = None,
    task: str = "offsets",
) -> tuple[torch.Tensor, torch.Tensor]:
    """Random inputs (B, T) and their targets (B, T, len(OFFSETS)), IGNORE where t < k.

    "offsets": inputs are letters 0..15, readout i asks for the letter at t - OFFSETS[i].
    "colours": inputs are letter + 16 * (t % 4), readout c asks for the letter of colour c
    among t-1 .. t-4 (see `target_offsets` for which offset that is).
    """
    letters = torch.randint(0, VOCAB, (batch_size, seq_len), generator=generator)  # (B, T)
    if check_task(task) == "offsets":
        return letters, offset_targets(letters)
    return coloured(letters), colour_targets(letters)


def coloured(letters: torch.Tensor) -> torch.Tensor:
    """(B, T) letters -> (B, T) input tokens letter + VOCAB * (t % COLOURS)."""
    colour = torch.arange(letters.shape[1]) % COLOURS  # (T,)
    return letters + VOCAB * colour


def target_offsets(seq_len: int, task: str = "offsets") -> torch.Tensor:
    """(T, K) long: the offset k whose letter readout i asks for at position t.

    "offsets": OFFSETS[i] everywhere. "colours": the k in 1..4 with (t - k) % 4 == i.
    """
    t = torch.arange(seq_len).view(-1, 1)  # (T, 1)
    i = torch.arange(len(OFFSETS)).view(1, -1)  # (1, K)
    if check_task(task) == "offsets":
        return torch.tensor(OFFSETS).view(1, -1).expand(seq_len, -1).clone()
    return (t - i - 1) % COLOURS + 1  # (T, K)


def colour_targets(letters: torch.Tensor) -> torch.Tensor:
    """(B, T) letters -> (B, T, K): the letter of colour i among t-1 .. t-4, IGNORE before 0."""
    B, T = letters.shape
    k = target_offsets(T, "colours")  # (T, K)
    source = torch.arange(T).view(-1, 1) - k  # (T, K): the position each readout asks for
    gathered = letters[:, source.clamp_min(0)]  # (B, T, K)
    return gathered.masked_fill(source < 0, IGNORE)


def offset_targets(tokens: torch.Tensor) -> torch.Tensor:
    """(B, T) tokens -> (B, T, K) targets: targets[b, t, i] = tokens[b, t - OFFSETS[i]]."""
    B, T = tokens.shape
    targets = torch.full((B, T, len(OFFSETS)), IGNORE, dtype=torch.long)
    for i, k in enumerate(OFFSETS):
        targets[:, k:, i] = tokens[:, : T - k]
    return targets


def encode(text: str) -> torch.Tensor:
    """'abca' -> tensor([[0, 1, 2, 0]]), shape (1, T); letters a..p only."""
    bad = sorted(set(text) - set(LETTERS))
    if bad:
        raise ValueError(f"the task's tokens are the letters {LETTERS!r}; got {bad} in {text!r}.")
    return torch.tensor([[LETTERS.index(c) for c in text]])


class OffsetRecallModel(nn.Module):
    """Embeddings -> one causal MultiHeadSelfAttention -> MLP -> one readout per offset.

    forward(tokens (B, T), causal=True, return_weights=False) -> logits (B, T, K, VOCAB),
        or (logits, weights (B, H, T, T)) when return_weights=True.
    attention_weights(tokens, causal=True) -> weights (B, H, T, T), the attention layer alone.
    attention_input(tokens) -> (B, T, d_model), what the attention layer `attn` reads.
    """

    def __init__(
        self,
        d_model: int,
        num_heads: int,
        seq_len: int = SEQ_LEN,
        mlp_ratio: int = 4,
        task: str = "offsets",
    ):
        super().__init__()
        self.d_model, self.num_heads, self.seq_len = d_model, num_heads, seq_len
        self.task = check_task(task)
        vocab_in = VOCAB if task == "offsets" else VOCAB * COLOURS
        self.tok_emb = nn.Embedding(vocab_in, d_model)
        self.pos_emb = nn.Embedding(seq_len, d_model)
        self.ln_attn = nn.LayerNorm(d_model)
        self.attn = MultiHeadSelfAttention(d_model, num_heads)
        self.ln_mlp = nn.LayerNorm(d_model)
        self.mlp = nn.Sequential(
            nn.Linear(d_model, mlp_ratio * d_model),
            nn.GELU(),
            nn.Linear(mlp_ratio * d_model, d_model),
        )
        self.ln_out = nn.LayerNorm(d_model)
        self.readout = nn.Linear(d_model, len(OFFSETS) * VOCAB)

    def embed(self, tokens: torch.Tensor) -> torch.Tensor:
        """tokens (B, T) -> token + position embeddings (B, T, d_model)."""
        T = tokens.shape[1]
        if T > self.seq_len:
            raise ValueError(f"sequences can be at most {self.seq_len} tokens long, got T={T}.")
        pos = torch.arange(T, device=tokens.device)
        return self.tok_emb(tokens) + self.pos_emb(pos)  # (B, T, d_model)

    def attention_input(self, tokens: torch.Tensor) -> torch.Tensor:
        """tokens (B, T) -> (B, T, d_model), the normalised embeddings the attention layer reads."""
        return self.ln_attn(self.embed(tokens))

    @torch.no_grad()
    def attention_weights(self, tokens: torch.Tensor, causal: bool = True) -> torch.Tensor:
        """tokens (B, T) -> the attention layer's weights (B, H, T, T), without gradients."""
        T = tokens.shape[1]
        mask = causal_mask(T, device=tokens.device) if causal else None  # (T, T)
        _, weights = self.attn(self.attention_input(tokens), mask=mask, return_weights=True)
        return weights

    def forward(
        self, tokens: torch.Tensor, causal: bool = True, return_weights: bool = False
    ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        B, T = tokens.shape
        x = self.embed(tokens)  # (B, T, d_model)
        mask = causal_mask(T, device=tokens.device) if causal else None  # (T, T)
        a = self.attn(self.ln_attn(x), mask=mask, return_weights=return_weights)
        a, weights = a if return_weights else (a, None)
        x = x + a  # (B, T, d_model)
        x = x + self.mlp(self.ln_mlp(x))  # (B, T, d_model)
        logits = self.readout(self.ln_out(x)).view(B, T, len(OFFSETS), VOCAB)  # (B, T, K, V)
        return (logits, weights) if return_weights else logits


def loss_fn(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy over every (position, offset) with a target."""
    return F.cross_entropy(logits.reshape(-1, VOCAB), targets.reshape(-1), ignore_index=IGNORE)


@torch.no_grad()
def evaluate(model: OffsetRecallModel, n: int = 1024, seed: int = 1234) -> dict[str, float]:
    """Accuracy on n fresh seeded sequences.

    token_accuracy: fraction of (position, offset) targets predicted right;
    all_correct:    fraction of positions t >= max(OFFSETS) with all offsets right;
    offset_k:       token accuracy for the letter at t - k alone (in the "colours" task, over
                    whichever readout asks for it at each position).
    """
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    gen = torch.Generator().manual_seed(seed)
    tokens, targets = make_batch(n, model.seq_len, gen, model.task)
    pred = model(tokens.to(device)).argmax(-1).cpu()  # (n, T, K)
    model.train(was_training)
    valid = targets != IGNORE
    right = (pred == targets) & valid
    result = {
        "token_accuracy": right.sum().item() / valid.sum().item(),
        "all_correct": right[:, max(OFFSETS) :].all(-1).float().mean().item(),
    }
    asks = target_offsets(model.seq_len, model.task).expand_as(right)  # (n, T, K)
    for k in OFFSETS:
        here = valid & (asks == k)
        result[f"offset_{k}"] = (right & here).sum().item() / here.sum().item()
    return result


@dataclass
class History:
    """What `train` measured: loss every step, evaluations every `eval_every` steps."""

    d_model: int
    num_heads: int
    seed: int
    steps: list[int] = field(default_factory=list)
    loss: list[float] = field(default_factory=list)
    eval_steps: list[int] = field(default_factory=list)
    token_accuracy: list[float] = field(default_factory=list)
    final: dict[str, float] = field(default_factory=dict)

    def steps_to(self, accuracy: float) -> int | None:
        """First evaluated step reaching `accuracy`, or None if never."""
        pairs = zip(self.eval_steps, self.token_accuracy, strict=True)
        return next((s for s, a in pairs if a >= accuracy), None)


def build_model(
    d_model: int, num_heads: int, seed: int = 0, task: str = "offsets"
) -> OffsetRecallModel:
    """A freshly initialised model; the global random state is left untouched."""
    if d_model % num_heads != 0:
        raise ValueError(
            f"d_model={d_model} is not divisible by num_heads={num_heads}; "
            f"pick num_heads among {divisors(d_model)}."
        )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return OffsetRecallModel(d_model, num_heads, task=task)


def train(
    d_model: int = 64,
    num_heads: int = 4,
    steps: int = 1000,
    seed: int = 0,
    progress: bool = True,
    batch_size: int = 64,
    lr: float = 3e-3,
    eval_every: int = 50,
    device: str | torch.device = "cpu",
    task: str = "offsets",
) -> tuple[OffsetRecallModel, History]:
    """Train on fresh random batches (AdamW, one-cycle lr); returns (eval-mode model, history)."""
    if steps < 1:
        raise ValueError(f"steps must be at least 1, got {steps}.")
    model = build_model(d_model, num_heads, seed, task).to(device)
    gen = torch.Generator().manual_seed(seed)
    history = History(d_model, num_heads, seed)
    label = f"{num_heads} head{'s' * (num_heads > 1)}, d_model={d_model}"
    label += ", colours" if task == "colours" else ""

    def next_batch():
        tokens, targets = make_batch(batch_size, generator=gen, task=task)
        return tokens.to(device), targets.to(device)

    def on_step(step: int, loss: float) -> dict | None:
        step += 1
        history.steps.append(step)
        history.loss.append(loss)
        if step % eval_every == 0 or step == steps:
            acc = evaluate(model, n=256)["token_accuracy"]
            history.eval_steps.append(step)
            history.token_accuracy.append(acc)
            return {"loss": f"{loss:.3f}", "acc": f"{acc:.1%}"}
        return None

    train_steps(model, next_batch, loss_fn, steps, lr=lr, label=label, progress=progress,
                on_step=on_step)
    history.final = evaluate(model)
    return model, history


def weights_file(d_model: int, num_heads: int) -> str:
    return f"offsets_d{d_model}_h{num_heads}.pt"


def _data_path(d_model: int, num_heads: int):
    return resources.files("attn_course").joinpath("data", weights_file(d_model, num_heads))


def save_pretrained(model: OffsetRecallModel, history: History, directory) -> str:
    """Write the model's float32 state_dict and its final scores; returns the file name."""
    name = weights_file(model.d_model, model.num_heads)
    state = {k: v.detach().to("cpu", torch.float32).clone() for k, v in model.state_dict().items()}
    payload = {
        "d_model": model.d_model,
        "num_heads": model.num_heads,
        "seq_len": model.seq_len,
        "seed": history.seed,
        "steps": history.steps[-1] if history.steps else 0,
        "final": dict(history.final),
        "state_dict": state,
    }
    torch.save(payload, f"{directory}/{name}")
    return name


def pretrained_configs() -> list[tuple[int, int]]:
    """(d_model, num_heads) pairs with shipped weights."""
    return [(d, h) for d in D_MODELS for h in divisors(d) if _data_path(d, h).is_file()]


def load_payload(d_model: int, num_heads: int) -> dict:
    """The saved file as a dict: config, `final` scores and `state_dict`."""
    path = _data_path(d_model, num_heads)
    if not path.is_file():
        raise FileNotFoundError(
            f"no trained weights for d_model={d_model}, num_heads={num_heads}; shipped: "
            f"{pretrained_configs()}. Train one with train({d_model}, {num_heads})."
        )
    with path.open("rb") as f:
        return torch.load(f, map_location="cpu", weights_only=True)


def load_pretrained(d_model: int, num_heads: int) -> tuple[OffsetRecallModel, dict[str, float]]:
    """(the shipped model in eval mode, its scores after training: see `evaluate`)."""
    payload = load_payload(d_model, num_heads)
    model = OffsetRecallModel(d_model, num_heads, seq_len=payload["seq_len"])
    model.load_state_dict(payload["state_dict"])
    return model.eval(), dict(payload["final"])


def pretrained(d_model: int = 64, num_heads: int = 4) -> OffsetRecallModel:
    """The shipped model trained with `train(d_model, num_heads)`, in eval mode."""
    model, _ = load_pretrained(d_model, num_heads)
    return model


def argmax_offsets(weights: torch.Tensor) -> list[int]:
    """(H, T, T) or (1, H, T, T) weights -> each head's most frequent argmax offset t - s."""
    w = weights[0] if weights.dim() == 4 else weights  # (H, T, T)
    T = w.shape[-1]
    start = min(max(OFFSETS), T - 1)
    offsets = torch.arange(T)[start:].view(1, -1) - w[:, start:].argmax(-1)  # (H, T - start)
    return [int(o.mode().values) for o in offsets]


# --- Over seeds: what one run cannot tell -------------------------------------------------------

SEEDS_FILE = "offsets_seeds_d64.json"  # per-seed results, written by scripts/offsets_seeds.py
MASS_COLUMNS = ("t", "t-1", "t-2", "t-3", "t-4", "further")  # offset_mass's columns


@torch.no_grad()
def offset_mass(model: OffsetRecallModel, n: int = 256, seed: int = 4321) -> torch.Tensor:
    """Each head's mean attention weight per offset: (H, 6), columns MASS_COLUMNS.

    Column k < 5 is the weight on position t - k, the last one the weight on t - 5 and before;
    averaged over n seeded sequences and the positions t >= max(OFFSETS), so each row sums to 1.
    """
    tokens, _ = make_batch(n, model.seq_len, torch.Generator().manual_seed(seed), model.task)
    device = next(model.parameters()).device
    weights = model.attention_weights(tokens.to(device)).cpu()  # (n, H, T, T)
    return offset_profile(weights, max(OFFSETS)).clamp_min(0)  # (H, 6)


def ablated(model: OffsetRecallModel, heads: list[int] | tuple[int, ...]) -> OffsetRecallModel:
    """A copy of `model` in eval mode with the outputs of `heads` removed.

    Head h's output reaches the rest of the model only through columns h*d .. (h+1)*d of the
    output projection (d = head_dim); zeroing them multiplies that head by 0 (Michel et al. 2019's
    mask xi_h = 0) and leaves the other heads and the projection's bias as they were.
    """
    H, d = model.attn.num_heads, model.attn.head_dim
    bad = [h for h in heads if not (isinstance(h, int) and 0 <= h < H)]
    if bad:
        raise ValueError(f"heads are numbered 0 .. {H - 1} in this model; got {bad}.")
    copy = deepcopy(model).eval()
    with torch.no_grad():
        for h in heads:
            copy.attn.out_proj.weight[:, h * d : (h + 1) * d] = 0
    return copy


def per_offset(scores: dict[str, float]) -> dict[str, float]:
    """`evaluate`'s offset_k entries as {"t-1": ..., "t-4": ...}."""
    return {f"t-{k}": scores[f"offset_{k}"] for k in OFFSETS}


def head_ablation(model: OffsetRecallModel, n: int = 1024) -> list[dict[str, float]]:
    """For each head h: token accuracy and per-offset accuracy with head h removed (`ablated`)."""
    rows = []
    for h in range(model.attn.num_heads):
        scores = evaluate(ablated(model, [h]), n=n)
        rows.append({"accuracy": scores["token_accuracy"], **per_offset(scores)})
    return rows


def offset_recall(
    num_heads: int,
    *,
    d_model: int = 64,
    steps: int = 1000,
    seed: int = 0,
    progress: bool = True,
    task: str = "offsets",
) -> dict:
    """Train one model on multi-offset recall (or its "colours" control) and measure it.

    Returns plain data (about 10 s for one head, 15 s for four, on 2 CPU cores):
      accuracy, all_correct   token accuracy and positions with all four right (`evaluate`)
      per_offset              {"t-1": accuracy, ..., "t-4": accuracy}
      curve                   {"steps": [...], "accuracy": [...]}: token accuracy during training
      loss                    training loss at every step
      mass, mass_columns      (H, 6) each head's mean weight on t, t-1, ..., t-4, further
      ablation                per head: accuracy and per_offset with that head removed
      seconds_per_step, params, head_dim, and the settings.
    """
    start = time.perf_counter()
    model, history = train(d_model, num_heads, steps, seed, progress=progress, task=task)
    seconds = time.perf_counter() - start
    final = history.final
    return {
        "task": task,
        "d_model": d_model,
        "num_heads": num_heads,
        "head_dim": d_model // num_heads,
        "seed": seed,
        "steps": steps,
        "params": sum(p.numel() for p in model.parameters()),
        "accuracy": final["token_accuracy"],
        "all_correct": final["all_correct"],
        "per_offset": per_offset(final),
        "curve": {"steps": list(history.eval_steps), "accuracy": list(history.token_accuracy)},
        "loss": list(history.loss),
        "mass": offset_mass(model).tolist(),
        "mass_columns": list(MASS_COLUMNS),
        "ablation": head_ablation(model),
        "seconds_per_step": seconds / steps,
    }


def run_seed(d_model: int, num_heads: int, seed: int, steps: int = 1000) -> dict:
    """Train one model and return its record: config, `evaluate` scores and `offset_mass`."""
    model, history = train(d_model, num_heads, steps, seed, progress=False)
    mass = offset_mass(model)
    return {
        "d_model": d_model,
        "num_heads": num_heads,
        "seed": seed,
        "steps": steps,
        **{k: round(v, 6) for k, v in history.final.items()},
        "mass": [[round(x, 5) for x in row] for row in mass.tolist()],
    }


def run_seeds(
    d_model: int = 64,
    head_counts: tuple[int, ...] = (1, 2, 4),
    seeds: tuple[int, ...] = (0, 1, 2),
    steps: int = 1000,
    progress: bool = True,
) -> list[dict]:
    """`run_seed` for every head count and seed, one after the other (about 15 s each)."""
    runs = [(h, s) for h in head_counts for s in seeds]
    return [
        run_seed(d_model, h, s, steps)
        for h, s in tqdm(runs, desc="training runs", disable=not progress)
    ]


def summarize(records: list[dict]) -> dict[int, dict]:
    """Group records by head count: {H: {metric: (mean, sd), 'seeds': [...], 'mass': ...}}.

    Metrics are token_accuracy, all_correct and offset_k; sd is the sample standard deviation.
    'mass' is (mean, sd) of offset_mass per head and column, lists of shape (H, 6) each.
    """
    by_heads: dict[int, list[dict]] = {}
    for r in records:
        by_heads.setdefault(r["num_heads"], []).append(r)
    summary = {}
    for h, rs in sorted(by_heads.items()):
        keys = ["token_accuracy", "all_correct", *(f"offset_{k}" for k in OFFSETS)]
        row: dict = {k: mean_sd([r[k] for r in rs]) for k in keys}
        row["seeds"] = [r["seed"] for r in rs]
        mass = torch.tensor([r["mass"] for r in rs], dtype=torch.float64)  # (S, H, 6)
        sd = mass.std(0) if len(rs) > 1 else torch.zeros_like(mass[0])
        row["mass"] = (mass.mean(0).tolist(), sd.tolist())
        summary[h] = row
    return summary


def load_seed_results() -> dict:
    """The shipped per-seed results: {'d_model', 'steps', 'seeds', 'records': [...], ...}."""
    return load_results(SEEDS_FILE)


def seed_table(records: list[dict]) -> str:
    """A text table: token accuracy and per-offset accuracy, mean ± sd over seeds, per H."""
    summary = summarize(records)
    d_model = records[0]["d_model"]
    lines = [
        f"{'heads':>5} {'head dim':>8} {'seeds':>5} {'token accuracy':>15}  "
        + "  ".join(f"{f't-{k}':^11}" for k in OFFSETS)
    ]
    for h, row in summary.items():
        mean, sd = row["token_accuracy"]
        offsets = "  ".join(
            f"{row[f'offset_{k}'][0]:>5.1%} ±{row[f'offset_{k}'][1]:>4.1%}" for k in OFFSETS
        )
        lines.append(
            f"{h:>5} {d_model // h:>8} {len(row['seeds']):>5} {mean:>8.1%} ± {sd:>4.1%}  {offsets}"
        )
    return "\n".join(lines)


# --- Learning curves over seeds, for notebook 05 ------------------------------------------------

RUNS_FILE = "offset_recall_runs.json"  # written by scripts/offset_recall_runs.py


def load_recall_runs() -> list[dict]:
    """The shipped `offset_recall` records (no per-step loss): both tasks, H in 1, 2, 4, seeds."""
    return load_results(RUNS_FILE)["records"]


def select(records: list[dict], **match) -> list[dict]:
    """The records whose fields equal `match`, e.g. select(records, task="offsets", num_heads=1)."""
    return [r for r in records if all(r.get(k) == v for k, v in match.items())]


def curve_summary(records: list[dict]) -> dict:
    """Learning curves of runs with the same evaluation steps: {"steps", "mean", "sd", "seeds"}."""
    if not records:
        raise ValueError("no records to summarise; check the task and head count you selected.")
    steps = records[0]["curve"]["steps"]
    if any(r["curve"]["steps"] != steps for r in records):
        raise ValueError("these runs were evaluated at different steps; select runs of one length.")
    acc = torch.tensor([r["curve"]["accuracy"] for r in records], dtype=torch.float64)  # (S, E)
    sd = acc.std(0) if len(records) > 1 else torch.zeros(acc.shape[1], dtype=torch.float64)
    return {
        "steps": list(steps),
        "mean": acc.mean(0).tolist(),
        "sd": sd.tolist(),
        "seeds": [r["seed"] for r in records],
    }


def runs_table(records: list[dict]) -> str:
    """A text table per (task, H): accuracy and each offset's accuracy, mean ± sd over seeds."""
    groups: dict[tuple[str, int], list[dict]] = {}
    for r in records:
        groups.setdefault((r["task"], r["num_heads"]), []).append(r)
    lines = [
        f"{'task':<8} {'heads':>5} {'seeds':>5} {'accuracy':>15}  "
        + "  ".join(f"{f't-{k}':^12}" for k in OFFSETS)
    ]
    for (task, h), rs in sorted(groups.items(), key=lambda kv: (TASKS.index(kv[0][0]), kv[0][1])):
        mean, sd = mean_sd([r["accuracy"] for r in rs])
        cells = []
        for k in OFFSETS:
            m, s = mean_sd([r["per_offset"][f"t-{k}"] for r in rs])
            cells.append(f"{m:>6.1%} ±{s:>4.1%}")
        lines.append(
            f"{task:<8} {h:>5} {len(rs):>5} {mean:>8.1%} ± {sd:>4.1%}  " + "  ".join(cells)
        )
    return "\n".join(lines)


def heads_table(record: dict) -> str:
    """One `offset_recall` record as text: each head's weight per offset, and what each offset's
    accuracy becomes without that head (its `ablation`), under the run's own accuracy."""
    cols = record["mass_columns"]
    offsets = [f"t-{k}" for k in OFFSETS]
    left, right = 8 * len(cols), 7 * len(offsets)
    lines = [
        f"{'':5} {'weight on each position':^{left}}   {'accuracy without this head':^{right}}",
        f"{'head':>5} {''.join(f'{c:>8}' for c in cols)}   {''.join(f'{o:>7}' for o in offsets)}",
    ]
    for h, (mass, ablation) in enumerate(zip(record["mass"], record["ablation"], strict=True)):
        weights = "".join(f"{m:>8.0%}" for m in mass)
        without = "".join(f"{ablation[o]:>7.0%}" for o in offsets)
        lines.append(f"{h:>5} {weights}   {without}")
    kept = "".join(f"{record['per_offset'][o]:>7.0%}" for o in offsets)
    lines.append(f"{'every head kept':>{6 + left}}   {kept}")
    return "\n".join(lines)


def mass_over_seeds(records: list[dict]) -> tuple[list[float], list[float]]:
    """Mean and sd over seeds of a single head's weight per offset (MASS_COLUMNS).

    Only for one head: with several, head 0 of one seed need not do what head 0 of another does.
    """
    if not records or any(r["num_heads"] != 1 for r in records):
        raise ValueError(
            "mass_over_seeds averages a single head over seeds; with several heads, head numbers "
            "differ from seed to seed: look at one seed at a time with heads_table(record)."
        )
    mass = torch.tensor([r["mass"][0] for r in records], dtype=torch.float64)  # (S, 6)
    sd = mass.std(0) if len(records) > 1 else torch.zeros(mass.shape[1], dtype=torch.float64)
    return mass.mean(0).tolist(), sd.tolist()
