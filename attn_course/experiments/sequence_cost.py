"""What attention pays for its one-step path: measured time and memory against sequence length.

Self-attention connects every pair of positions in one step, so each layer computes and holds a
(B, H, T, T) block of weights: memory and work grow like T². A recurrent layer (an LSTM) carries
one state vector from step to step: its memory for the state stays constant and its work grows
like T, but its T steps must run one after the other (Vaswani et al. 2017, Table 1).

    >>> cost = sequence_cost()             # a few seconds on 2 CPU cores
    >>> cost["seq_lens"], cost["attention_ms"], cost["lstm_ms"], cost["weights_bytes"]
    >>> from attn_course.viz import plot_sequence_cost; plot_sequence_cost(cost)
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn as nn
from tqdm.auto import tqdm

from attn_course.bench import median_ms
from attn_course.device import torch_threads
from attn_course.reference.mha import MultiHeadSelfAttention

SEQ_LENS = (64, 128, 256, 512, 1024, 2048)
THREADS = 1  # torch threads while timing: the same for both layers


@torch.no_grad()
def sequence_cost(
    seq_lens: Sequence[int] = SEQ_LENS,
    *,
    d_model: int = 64,
    num_heads: int = 4,
    batch_size: int = 1,
    seed: int = 0,
    progress: bool = True,
) -> dict:
    """Forward time of one attention layer and one LSTM layer of width d_model, per length T.

    Returns plain data, one entry per T in `seq_lens`:
      attention_ms, lstm_ms   median forward time (torch.utils.benchmark, THREADS threads)
      weights_bytes           bytes of the (B, H, T, T) attention weights, measured on the tensor
      lstm_state_bytes        bytes of the LSTM's carried state (h and c, (B, d_model) each)
      attention_path, lstm_path   the longest path between two positions (1 and T - 1 steps)
    """
    if not seq_lens or any(int(t) < 1 for t in seq_lens):
        raise ValueError(f"seq_lens must be positive lengths, got {list(seq_lens)}.")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        attention = MultiHeadSelfAttention(d_model, num_heads).eval()
        lstm = nn.LSTM(d_model, d_model, batch_first=True).eval()
    result: dict = {
        "d_model": d_model,
        "num_heads": num_heads,
        "batch_size": batch_size,
        "threads": THREADS,
        "seq_lens": [int(t) for t in seq_lens],
        "attention_ms": [],
        "lstm_ms": [],
        "weights_bytes": [],
        "lstm_state_bytes": [],
        "attention_path": [],
        "lstm_path": [],
    }
    gen = torch.Generator().manual_seed(seed)
    with torch_threads(THREADS):
        for T in tqdm(result["seq_lens"], desc="sequence lengths", disable=not progress):
            x = torch.randn(batch_size, T, d_model, generator=gen)  # (B, T, d_model)
            _, weights = attention(x, return_weights=True)  # (B, H, T, T)
            _, (h, c) = lstm(x)  # (1, B, d_model) each
            timed = {"threads": THREADS, "min_run_time": 0.05}
            result["attention_ms"].append(median_ms(lambda x=x: attention(x), **timed))
            result["lstm_ms"].append(median_ms(lambda x=x: lstm(x), **timed))
            result["weights_bytes"].append(weights.nbytes)
            result["lstm_state_bytes"].append(h.nbytes + c.nbytes)
            result["attention_path"].append(1)
            result["lstm_path"].append(T - 1)
    return result
