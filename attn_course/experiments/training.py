"""The training loop the course's experiments share: fresh batches, AdamW, a one-cycle schedule.

    run = train_steps(model, next_batch, loss_fn, steps=1000, lr=3e-3, label="1 head")
    run.losses, run.seconds        # the loss of every step; seconds spent training (not in on_step)

next_batch() -> (inputs, targets); loss_fn(model(inputs), targets) -> scalar loss. on_step(step,
loss), when given, is called after every step (step counts from 0): an evaluation, a live plot;
a dict it returns is shown beside the progress bar. schedule_steps=3000 with steps=100 replays the
first 100 steps of a 3000-step run.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import NamedTuple

import torch
import torch.nn as nn
from tqdm.auto import tqdm

__all__ = ["Trained", "train_steps"]


class Trained(NamedTuple):
    losses: list[float]  # one per step
    seconds: float  # training time, on_step's excluded


def train_steps(model: nn.Module, next_batch: Callable[[], tuple], loss_fn: Callable,
                steps: int, *, lr: float = 3e-3, weight_decay: float = 0.01,
                schedule_steps: int | None = None, label: str = "", progress: bool = True,
                on_step: Callable[[int, float], dict | None] | None = None) -> Trained:
    """Train `model` in place for `steps` steps, then put it in eval mode."""
    if steps < 1:
        raise ValueError(f"steps must be at least 1, got {steps}.")
    model.train()
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr,
                                                total_steps=schedule_steps or steps)
    losses, seconds = [], 0.0
    bar = tqdm(range(steps), desc=label or None, disable=not progress)
    for step in bar:
        start = time.perf_counter()
        inputs, targets = next_batch()
        loss = loss_fn(model(inputs), targets)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        seconds += time.perf_counter() - start
        losses.append(loss.item())
        if on_step is not None:
            shown = on_step(step, losses[-1])
            if shown:
                bar.set_postfix(shown)
    model.eval()
    return Trained(losses, seconds)
