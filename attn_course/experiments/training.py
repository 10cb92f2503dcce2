"""The training loop the course's experiments share: fresh batches, AdamW, a one-cycle schedule.

    losses = train_steps(model, next_batch, loss_fn, steps=1000, lr=3e-3, label="1 head")
        next_batch() -> (inputs, targets); loss_fn(model(inputs), targets) -> scalar loss;
        on_step(step, loss) is called after every step (a live plot), when given;
        schedule_steps=3000 with steps=100 replays the first 100 steps of a 3000-step run.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn as nn
from tqdm.auto import tqdm

__all__ = ["train_steps"]


def train_steps(model: nn.Module, next_batch: Callable[[], tuple], loss_fn: Callable,
                steps: int, *, lr: float = 3e-3, weight_decay: float = 0.01,
                schedule_steps: int | None = None, label: str = "",
                progress: bool = True, on_step: Callable[[int, float], None] | None = None
                ) -> list[float]:
    """Train in place for `steps` steps; returns the loss of every step. The one-cycle schedule
    spans `schedule_steps` (default `steps`): more than `steps` replays the start of a longer
    run exactly."""
    model.train()
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=schedule_steps or steps)
    losses = []
    for step in tqdm(range(steps), desc=label or None, disable=not progress):
        inputs, targets = next_batch()
        loss = loss_fn(model(inputs), targets)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        losses.append(loss.item())
        if on_step is not None:
            on_step(step, losses[-1])
    model.eval()
    return losses
