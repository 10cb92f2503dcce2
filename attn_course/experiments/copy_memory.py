"""Copy memory: recall 8 symbols after a gap, a Transformer layer against an LSTM and a causal CNN.

The input is 8 random symbols, `gap` blanks, a "go" token and 7 more blanks; from the go token on,
the model must output the 8 symbols in order. Each symbol is carried across 8 + gap positions.
Three models with about the same number of parameters train on the same stream of fresh batches
with the same steps, batch size and learning-rate schedule:

- "transformer": one causal attention layer. Every position can look at every earlier one in
  a single step, so the distance does not matter: it solves every gap.
- "lstm": the symbols must travel through the recurrent state, one step at a time, for 8 + gap
  steps. It learns short gaps and falls to chance (1/8) on long ones within this budget.
- "cnn": causal dilated convolutions see a window of `receptive_field` positions (31 here). The
  copy works where 8 + gap fits in the window (gap <= 22) and cannot work where it does not.
  The window is deliberately shorter than the long gaps: a deeper stack would see further, as
  the window doubles with each layer, so the path between two positions grows like log T
  (Vaswani et al. 2017, Table 1), against 1 for attention and T for recurrence.

    >>> result = copy_memory("transformer", gap=50)        # ~8 s on 2 cores (lstm 3 s, cnn 5 s)
    >>> result["accuracy"], result["chance"]               # ~1.0, 0.125
    >>> result["curve"]["steps"], result["curve"]["accuracy"]
    >>> records = load_copy_results()["records"]           # shipped: every model x gap x seed
    >>> print(copy_table(records))                         # mean ± sd over seeds, in %

Data is generated from a seed; nothing is downloaded.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from attn_course.experiments.shipped import load_results, mean_sd
from attn_course.experiments.training import train_steps
from attn_course.reference.attention import causal_mask
from attn_course.reference.mha import MultiHeadSelfAttention

NUM_SYMBOLS = 8  # symbols 0..7, to be recalled
BLANK = 8  # filler token
GO = 9  # delimiter: "start writing the symbols now"
VOCAB = 10
IGNORE = -100  # target wherever nothing is to be recalled
CHANCE = 1 / NUM_SYMBOLS
MODELS = ("transformer", "lstm", "cnn")
GAPS = (0, 5, 10, 25, 50, 100)  # the gaps the course runs
D_MODEL, NUM_HEADS = 64, 4  # the transformer's width and heads; the others match its parameters
LSTM_EMBED = 64  # the LSTM's input embedding; its hidden size is chosen by `lstm_hidden`
KERNEL, DILATIONS = 3, (1, 2, 4, 8)  # the CNN's stack; channels are chosen by `cnn_channels`
STEPS, BATCH_SIZE, LR = 400, 64, 1e-2  # the defaults of `copy_memory`, for every model
EVAL_N, EVAL_SEED = 512, 1234  # the final evaluation
CURVE_N, CURVE_SEED, CURVE_EVERY = 128, 4321, 25  # the learning curve


def seq_len(gap: int) -> int:
    """Length of one sequence: 8 symbols + gap blanks + go + 7 blanks."""
    return 2 * NUM_SYMBOLS + gap


def _check_gap(gap: int) -> None:
    if not isinstance(gap, int) or isinstance(gap, bool) or gap < 0:
        raise ValueError(f"gap must be an int >= 0 (blanks between symbols and go), got {gap!r}.")


def make_batch(
    batch_size: int, gap: int, generator: torch.Generator | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Random symbols to copy: tokens (B, T) and targets (B, T), T = 16 + gap.

    tokens:  s0 .. s7, gap blanks, go, 7 blanks.
    targets: IGNORE everywhere but the last 8 positions, which hold s0 .. s7.
    """
    _check_gap(gap)
    T, start = seq_len(gap), NUM_SYMBOLS + gap  # start: position of the go token
    symbols = torch.randint(0, NUM_SYMBOLS, (batch_size, NUM_SYMBOLS), generator=generator)
    tokens = torch.full((batch_size, T), BLANK, dtype=torch.long)  # (B, T)
    tokens[:, :NUM_SYMBOLS] = symbols
    tokens[:, start] = GO
    targets = torch.full((batch_size, T), IGNORE, dtype=torch.long)  # (B, T)
    targets[:, start:] = symbols
    return tokens, targets


# --- The three models: tokens (B, T) -> logits (B, T, NUM_SYMBOLS) -----------------------------


class TransformerCopier(nn.Module):
    """One pre-LayerNorm causal Transformer block on token + learned position embeddings."""

    def __init__(self, seq_len: int, d_model: int = D_MODEL, num_heads: int = NUM_HEADS):
        super().__init__()
        self.seq_len = seq_len
        self.tok_emb = nn.Embedding(VOCAB, d_model)
        self.pos_emb = nn.Embedding(seq_len, d_model)
        self.ln_attn = nn.LayerNorm(d_model)
        self.attn = MultiHeadSelfAttention(d_model, num_heads)
        self.ln_mlp = nn.LayerNorm(d_model)
        self.mlp = nn.Sequential(
            nn.Linear(d_model, 4 * d_model), nn.GELU(), nn.Linear(4 * d_model, d_model)
        )
        self.ln_out = nn.LayerNorm(d_model)
        self.readout = nn.Linear(d_model, NUM_SYMBOLS)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        T = tokens.shape[1]
        if T > self.seq_len:
            raise ValueError(
                f"this model was built for sequences of at most {self.seq_len} tokens, got T={T}; "
                f"build one with build_model('transformer', seq_len={T})."
            )
        pos = torch.arange(T, device=tokens.device)
        x = self.tok_emb(tokens) + self.pos_emb(pos)  # (B, T, d_model)
        x = x + self.attn(self.ln_attn(x), mask=causal_mask(T, device=tokens.device))
        x = x + self.mlp(self.ln_mlp(x))  # (B, T, d_model)
        return self.readout(self.ln_out(x))  # (B, T, NUM_SYMBOLS)


class LSTMCopier(nn.Module):
    """Embedding -> one-layer LSTM -> readout; the state carries everything forward."""

    def __init__(self, hidden: int, embed: int = LSTM_EMBED):
        super().__init__()
        self.emb = nn.Embedding(VOCAB, embed)
        self.lstm = nn.LSTM(embed, hidden, batch_first=True)
        self.readout = nn.Linear(hidden, NUM_SYMBOLS)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        h, _ = self.lstm(self.emb(tokens))  # (B, T, hidden)
        return self.readout(h)  # (B, T, NUM_SYMBOLS)


class CausalConvBlock(nn.Module):
    """x + GELU(conv(x)): a dilated 1-D convolution that sees only the past (left padding)."""

    def __init__(self, channels: int, kernel: int, dilation: int):
        super().__init__()
        self.pad = (kernel - 1) * dilation
        self.conv = nn.Conv1d(channels, channels, kernel, dilation=dilation)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # x: (B, C, T); output t reads t, t - d, ..., t - (kernel - 1) d
        return x + F.gelu(self.conv(F.pad(x, (self.pad, 0))))  # (B, C, T)


class CNNCopier(nn.Module):
    """Embedding -> causal dilated convolutions (residual, GELU) -> LayerNorm -> readout.

    Position t sees positions t - receptive_field + 1 .. t, nothing earlier.
    """

    def __init__(self, channels: int, kernel: int = KERNEL, dilations=DILATIONS):
        super().__init__()
        self.emb = nn.Embedding(VOCAB, channels)
        self.blocks = nn.ModuleList(CausalConvBlock(channels, kernel, d) for d in dilations)
        self.ln_out = nn.LayerNorm(channels)
        self.readout = nn.Linear(channels, NUM_SYMBOLS)
        self.receptive_field = receptive_field(kernel, dilations)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        x = self.emb(tokens).transpose(1, 2)  # (B, C, T)
        for block in self.blocks:
            x = block(x)  # (B, C, T)
        return self.readout(self.ln_out(x.transpose(1, 2)))  # (B, T, NUM_SYMBOLS)


def receptive_field(kernel: int = KERNEL, dilations=DILATIONS) -> int:
    """How many positions (itself included) a causal dilated stack sees: 1 + (k - 1) sum(d)."""
    return 1 + (kernel - 1) * sum(dilations)


# --- Matching the parameter budget --------------------------------------------------------------


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def transformer_parameters(seq_len: int, d_model: int = D_MODEL) -> int:
    """Parameters of TransformerCopier: embeddings, attention, MLP, three LayerNorms, readout."""
    d = d_model
    embeddings = (VOCAB + seq_len) * d
    attention = 4 * (d * d + d)
    mlp = (d * 4 * d + 4 * d) + (4 * d * d + d)
    return embeddings + attention + mlp + 3 * 2 * d + (d * NUM_SYMBOLS + NUM_SYMBOLS)


def _lstm_parameters(hidden: int, embed: int = LSTM_EMBED) -> int:
    lstm = 4 * hidden * (embed + hidden) + 2 * 4 * hidden  # four gates, two biases each
    return VOCAB * embed + lstm + hidden * NUM_SYMBOLS + NUM_SYMBOLS


def _cnn_parameters(channels: int, kernel: int = KERNEL, dilations=DILATIONS) -> int:
    c = channels
    convs = len(dilations) * (kernel * c * c + c)
    return VOCAB * c + convs + 2 * c + c * NUM_SYMBOLS + NUM_SYMBOLS


def _closest(size_to_params, target: int) -> int:
    return min(range(1, 1025), key=lambda n: abs(size_to_params(n) - target))


def lstm_hidden(seq_len: int) -> int:
    """The LSTM hidden size whose parameter count is closest to the transformer's at seq_len."""
    return _closest(_lstm_parameters, transformer_parameters(seq_len))


def cnn_channels(seq_len: int) -> int:
    """The CNN width whose parameter count is closest to the transformer's at seq_len."""
    return _closest(_cnn_parameters, transformer_parameters(seq_len))


def build_model(name: str, seq_len: int, seed: int = 0) -> nn.Module:
    """A freshly initialised model for sequences of seq_len tokens; global RNG left untouched."""
    if name not in MODELS:
        raise ValueError(f"model must be one of {MODELS}, got {name!r}.")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        if name == "transformer":
            return TransformerCopier(seq_len)
        if name == "lstm":
            return LSTMCopier(lstm_hidden(seq_len))
        return CNNCopier(cnn_channels(seq_len))


# --- Training and evaluation --------------------------------------------------------------------


def loss_fn(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy over the 8 recall positions; logits (B, T, 8), targets (B, T)."""
    flat = logits.reshape(-1, NUM_SYMBOLS)  # (B * T, 8)
    return F.cross_entropy(flat, targets.reshape(-1), ignore_index=IGNORE)


@torch.no_grad()
def evaluate(model: nn.Module, gap: int, n: int = EVAL_N, seed: int = EVAL_SEED) -> float:
    """Fraction of recalled symbols right on n seeded sequences (chance: 1/8)."""
    was_training = model.training
    model.eval()
    tokens, targets = make_batch(n, gap, torch.Generator().manual_seed(seed))
    pred = model(tokens).argmax(-1)  # (n, T)
    model.train(was_training)
    valid = targets != IGNORE
    return ((pred == targets) & valid).sum().item() / valid.sum().item()


def copy_memory(
    model: str,
    gap: int,
    *,
    steps: int = STEPS,
    seed: int = 0,
    progress: bool = True,
    batch_size: int = BATCH_SIZE,
    lr: float = LR,
) -> dict:
    """Train `model` ("transformer", "lstm" or "cnn") to copy 8 symbols across `gap` blanks.

    Fresh seeded batches every step, AdamW with a one-cycle learning rate, the same for every
    model. Returns plain data: model, gap, seed, steps, batch_size, lr, seq_len, params,
    accuracy (final, per symbol, on EVAL_N seeded sequences), chance, curve ({"steps",
    "accuracy"} every CURVE_EVERY steps), loss (per step), seconds_per_step, and for the cnn
    receptive_field.
    """
    _check_gap(gap)
    if model not in MODELS:
        raise ValueError(f"model must be one of {MODELS}, got {model!r}.")
    if steps < 1:
        raise ValueError(f"steps must be at least 1, got {steps}.")
    T = seq_len(gap)
    net = build_model(model, T, seed)
    gen = torch.Generator().manual_seed(seed)
    curve_steps, curve_acc = [], []

    def on_step(step: int, loss: float) -> dict | None:
        step += 1
        if step % CURVE_EVERY == 0 or step == steps:
            acc = evaluate(net, gap, n=CURVE_N, seed=CURVE_SEED)
            curve_steps.append(step)
            curve_acc.append(round(acc, 4))
            return {"loss": f"{loss:.3f}", "acc": f"{acc:.1%}"}
        return None

    run = train_steps(net, lambda: make_batch(batch_size, gap, gen), loss_fn, steps, lr=lr,
                      label=f"{model}, gap {gap}", progress=progress, on_step=on_step)
    losses, train_seconds = [round(v, 4) for v in run.losses], run.seconds
    result = {
        "model": model,
        "gap": gap,
        "seed": seed,
        "steps": steps,
        "batch_size": batch_size,
        "lr": lr,
        "seq_len": T,
        "params": count_parameters(net),
        "accuracy": round(evaluate(net, gap), 6),
        "chance": CHANCE,
        "curve": {"steps": curve_steps, "accuracy": curve_acc},
        "loss": losses,
        "seconds_per_step": round(train_seconds / steps, 5),
    }
    if model == "cnn":
        result["receptive_field"] = net.receptive_field
    return result


# --- Over seeds: the shipped results ------------------------------------------------------------

SEEDS_FILE = "copy_memory_seeds.json"  # per-seed results, written by scripts/copy_memory_seeds.py


def run_seed(model: str, gap: int, seed: int, steps: int = STEPS) -> dict:
    """One `copy_memory` run without its per-step loss: the record the shipped file holds."""
    result = copy_memory(model, gap, steps=steps, seed=seed, progress=False)
    del result["loss"]
    return result


def load_copy_results() -> dict:
    """The shipped results: {'steps', 'models', 'gaps', 'seeds', 'records': [...], ...}."""
    return load_results(SEEDS_FILE)


def summarize(records: list[dict]) -> dict[str, dict[int, dict]]:
    """{model: {gap: {"accuracy": (mean, sd), "params": int, "seeds": [...], ...}}}.

    sd is the sample standard deviation over seeds; the cnn's entries add "receptive_field".
    """
    groups: dict[tuple[str, int], list[dict]] = {}
    for r in records:
        groups.setdefault((r["model"], r["gap"]), []).append(r)
    summary: dict[str, dict[int, dict]] = {}
    for model in [m for m in MODELS if any(k[0] == m for k in groups)]:
        for gap in sorted(g for m, g in groups if m == model):
            rs = groups[(model, gap)]
            row = {
                "accuracy": mean_sd([r["accuracy"] for r in rs]),
                "params": rs[0]["params"],
                "seq_len": rs[0]["seq_len"],
                "seeds": sorted(r["seed"] for r in rs),
            }
            if "receptive_field" in rs[0]:
                row["receptive_field"] = rs[0]["receptive_field"]
            summary.setdefault(model, {})[gap] = row
    return summary


def copy_table(records: list[dict]) -> str:
    """A text table: one row per model (its parameters, lowest-highest over the gaps, as the
    positional embeddings grow with T), one column per gap, accuracy mean ± sd over seeds in %."""
    summary = summarize(records)
    gaps = sorted({g for rows in summary.values() for g in rows})
    lines = [f"{'model':<11} {'params':>11}  " + "  ".join(f"{f'gap {g}':>13}" for g in gaps)]
    for model, rows in summary.items():
        params = [row["params"] for row in rows.values()]
        low, high = min(params), max(params)
        size = f"{low / 1000:.1f}k" if low == high else f"{low / 1000:.1f}-{high / 1000:.1f}k"
        cells = []
        for g in gaps:
            if g in rows:
                mean, sd = rows[g]["accuracy"]
                cells.append(f"{100 * mean:>5.1f} ± {100 * sd:>4.1f}%")
            else:
                cells.append(f"{'-':>13}")
        lines.append(f"{model:<11} {size:>11}  " + "  ".join(cells))
    return "\n".join(lines)
