"""What flash attention saves: extra peak memory and time against N, for three ways to attend.

    cost = flash_cost()        # naive (q k^T, softmax, @ v), flash (reference), SDPA; a few s
    from attn_course.viz import plot_flash_cost; plot_flash_cost(cost)

naive materialises the (B, H, N, N) scores and weights: its memory grows like N². The tiled
`reference.flash_attention` holds one (block x block) tile per head at a time, and PyTorch's
fused `F.scaled_dot_product_attention` does the same inside one kernel.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from attn_course.bench import median_ms, peak_memory_mib
from attn_course.reference.flash import BLOCK_SIZE, flash_attention

SEQ_LENS = (256, 512, 1024, 2048)
METHODS = ("naive", "flash", "sdpa")


def naive_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """softmax(q k^T / sqrt(d)) v with the (B, H, N, M) scores and weights in memory."""
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])  # (B, H, N, M)
    return scores.softmax(-1) @ v


@torch.no_grad()
def flash_cost(
    seq_lens: Sequence[int] = SEQ_LENS,
    *,
    heads: int = 8,
    head_dim: int = 64,
    block_size: int = BLOCK_SIZE,
    device: str | torch.device = "cpu",
    min_run_time: float = 0.1,
    progress: bool = True,
) -> dict:
    """Per N in seq_lens, for one sequence of `heads` heads in float32: each method's extra peak
    memory (MiB, `bench.peak_memory_mib`) and median time (ms, `bench.median_ms`), and the size
    of one (H, N, N) score tensor."""
    if not seq_lens or any(int(n) < 1 for n in seq_lens):
        raise ValueError(f"seq_lens must be positive lengths, got {list(seq_lens)}.")
    device = torch.device(device)
    result: dict = {
        "seq_lens": [int(n) for n in seq_lens],
        "heads": heads,
        "head_dim": head_dim,
        "block_size": block_size,
        "device": str(device),
        "threads": torch.get_num_threads(),
        "scores_mib": [heads * int(n) ** 2 * 4 / 2**20 for n in seq_lens],
        "memory_mib": {m: [] for m in METHODS},
        "time_ms": {m: [] for m in METHODS},
    }
    gen = torch.Generator().manual_seed(0)
    for n in tqdm(result["seq_lens"], desc="sequence lengths", disable=not progress):
        q, k, v = (torch.randn(1, heads, n, head_dim, generator=gen).to(device) for _ in range(3))
        methods = {
            "naive": lambda q=q, k=k, v=v: naive_attention(q, k, v),
            "flash": lambda q=q, k=k, v=v: flash_attention(q, k, v, block_size=block_size),
            "sdpa": lambda q=q, k=k, v=v: F.scaled_dot_product_attention(q, k, v),
        }
        for name, fn in methods.items():
            result["memory_mib"][name].append(peak_memory_mib(fn, device))
            result["time_ms"][name].append(median_ms(fn, min_run_time=min_run_time))
    return result
