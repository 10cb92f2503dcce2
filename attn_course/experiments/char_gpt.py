"""A character-level GPT on Shakespeare, small enough to train on a laptop CPU.

    >>> text = load_text()                        # 0.5 MB of Shakespeare's plays (public domain)
    >>> chars = Characters(text)                  # 63 characters <-> ids
    >>> model, history = train(steps=200)         # a short live run: loss per step, val loss
    >>> model, record = load_pretrained()         # the shipped run: CONFIG, TRAIN_STEPS steps
    >>> chars.decode(generate(model, chars.encode("ROMEO:")[None], 100)[0])

The text is the opening half of Karpathy's Tiny Shakespeare (his char-rnn, 2015), cut at a
speech boundary: scenes of Coriolanus, Richard III, Richard II and Romeo and Juliet (public
domain). The last tenth is held out for validation.
Batches are random windows drawn from a seeded generator; nothing is downloaded.
"""

from __future__ import annotations

from collections.abc import Callable
from importlib import resources

import torch
import torch.nn as nn
import torch.nn.functional as F

from attn_course.experiments.training import train_steps
from attn_course.reference.block import pre_ln_block
from attn_course.reference.gpt import TinyGPT
from attn_course.reference.mha import MultiHeadSelfAttention

__all__ = [
    "CONFIG",
    "Characters",
    "build_model",
    "evaluate",
    "load_pretrained",
    "load_text",
    "next_batch",
    "train",
]

TEXT_FILE = "shakespeare.txt"
WEIGHTS_FILE = "char_gpt.pt"  # written by scripts/char_gpt_weights.py
CONFIG = {"context": 128, "d_model": 64, "num_heads": 4, "num_layers": 2}
TRAIN_STEPS = 3000  # the shipped run
BATCH_SIZE = 32
LR = 3e-3
VAL_FRACTION = 0.1


def load_text() -> str:
    """The shipped Shakespeare text (about 500 000 characters)."""
    return resources.files("attn_course").joinpath("data", TEXT_FILE).read_text(encoding="utf-8")


class Characters:
    """The text's characters, sorted, as ids 0..V-1: encode(str) -> (T,) ids, decode(ids) -> str."""

    def __init__(self, text: str):
        self.chars = sorted(set(text))
        self.index = {c: i for i, c in enumerate(self.chars)}

    def __len__(self) -> int:
        return len(self.chars)

    def encode(self, s: str) -> torch.Tensor:
        unknown = sorted(set(s) - set(self.index))
        if unknown:
            raise ValueError(f"characters not in the text: {unknown}; "
                             f"use only {''.join(self.chars)!r}")
        return torch.tensor([self.index[c] for c in s], dtype=torch.long)

    def decode(self, ids: torch.Tensor) -> str:
        return "".join(self.chars[i] for i in ids.tolist())


def split(ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(train ids, validation ids): the last tenth of the text is held out."""
    cut = int(len(ids) * (1 - VAL_FRACTION))
    return ids[:cut], ids[cut:]


def next_batch(ids: torch.Tensor, gen: torch.Generator, batch_size: int = BATCH_SIZE,
               context: int = CONFIG["context"]) -> tuple[torch.Tensor, torch.Tensor]:
    """Random windows: inputs (B, context) and the next characters (B, context)."""
    start = torch.randint(len(ids) - context - 1, (batch_size,), generator=gen)
    rows = start[:, None] + torch.arange(context + 1)  # (B, context + 1)
    window = ids[rows]
    return window[:, :-1], window[:, 1:]


def lm_loss(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy of (B, T, V) logits against (B, T) next ids, in nats."""
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1))


def build_model(vocab_size: int, *, seed: int = 0, attention: type[nn.Module] =
                MultiHeadSelfAttention, block_forward: Callable = pre_ln_block) -> TinyGPT:
    """TinyGPT with CONFIG, seeded initialisation."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return TinyGPT(vocab_size, attention=attention, block_forward=block_forward, **CONFIG)


@torch.no_grad()
def evaluate(model: TinyGPT, ids: torch.Tensor, batches: int = 8, seed: int = 1234) -> float:
    """Mean loss (nats per character) on `batches` seeded random windows of `ids`."""
    gen = torch.Generator().manual_seed(seed)
    model.eval()
    return sum(lm_loss(model(x), y).item()
               for x, y in (next_batch(ids, gen, context=model.context) for _ in range(batches))
               ) / batches


def train(steps: int = 200, *, seed: int = 0, model: TinyGPT | None = None,
          lr: float = LR, schedule_steps: int | None = None, progress: bool = True,
          on_step: Callable[[int, float], None] | None = None) -> tuple[TinyGPT, dict]:
    """Train a fresh model (or `model`) on the training text for `steps` steps (of a one-cycle
    schedule over `schedule_steps`, default `steps`). Returns (model in eval mode, history:
    'loss' per step, 'val_loss' after training, 'seconds')."""
    text = load_text()
    chars = Characters(text)
    train_ids, val_ids = split(chars.encode(text))
    model = model if model is not None else build_model(len(chars), seed=seed)
    gen = torch.Generator().manual_seed(seed)
    run = train_steps(model, lambda: next_batch(train_ids, gen, context=model.context), lm_loss,
                      steps, lr=lr, schedule_steps=schedule_steps, label="tiny GPT",
                      progress=progress, on_step=on_step)
    return model, {"loss": run.losses, "val_loss": evaluate(model, val_ids),
                   "seconds": run.seconds}


def load_pretrained(*, attention: type[nn.Module] = MultiHeadSelfAttention,
                    block_forward: Callable = pre_ln_block) -> tuple[TinyGPT, dict]:
    """The shipped run (CONFIG, TRAIN_STEPS steps, seed 0) as (model in eval mode, its record:
    'val_loss', 'loss' every 10 steps, 'steps', 'seconds'), built with `attention`'s class."""
    with resources.files("attn_course").joinpath("data", WEIGHTS_FILE).open("rb") as f:
        payload = torch.load(f, map_location="cpu", weights_only=True)
    model = build_model(payload["vocab_size"], attention=attention, block_forward=block_forward)
    model.load_state_dict(payload["state_dict"])
    return model.eval(), dict(payload["record"])
