"""Why attention divides scores by sqrt(d_k): a seeded measurement over head sizes.

Queries and keys have independent N(0, 1) entries, so a dot product q . k is a sum of d_k
terms of variance 1 and has variance d_k. Dividing by sqrt(d_k) brings it back to 1. Without
the division, softmax over large scores saturates: one key takes nearly all the weight and
gradients through the softmax vanish.

    >>> result = scaling_experiment(seed=0)
    >>> result.var_unscaled      # grows like d_k
    >>> result.var_scaled        # stays near 1
    >>> from attn_course.viz import plot_scaling; plot_scaling(result)
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch

DEFAULT_D_KS = (4, 16, 64, 256, 1024)


@dataclass(frozen=True)
class ScalingResult:
    """Statistics of attention scores and weights, one entry per head size in `d_k`.

    var_*:        variance of the scores q . k (unscaled) or q . k / sqrt(d_k) (scaled)
    max_weight_*: mean over queries of the largest softmax weight (1/seq_len = uniform, 1 = one-hot)
    entropy_*:    mean entropy of a query's weights in nats (log(seq_len) = uniform, 0 = one-hot)
    jacobian_*:   mean Frobenius norm of the softmax Jacobian d weights / d scores, how strongly
                  the weights respond to the scores (0 = saturated: no gradient flows back)
    """

    d_k: tuple[int, ...]
    seq_len: int
    n_samples: int
    seed: int
    var_unscaled: tuple[float, ...]
    var_scaled: tuple[float, ...]
    max_weight_unscaled: tuple[float, ...]
    max_weight_scaled: tuple[float, ...]
    entropy_unscaled: tuple[float, ...]
    entropy_scaled: tuple[float, ...]
    jacobian_unscaled: tuple[float, ...]
    jacobian_scaled: tuple[float, ...]

    @property
    def max_entropy(self) -> float:
        """Entropy of uniform weights over `seq_len` keys, log(seq_len)."""
        return math.log(self.seq_len)

    def table(self) -> str:
        """A fixed-width text table, one row per d_k."""
        pairs = ("score variance", "mean max weight", "mean entropy", "Jacobian norm")
        header = (
            f"{'d_k':>5} |" + "|".join(f" {name:^15} " for name in pairs) + "\n"
            f"{'':>5} |" + "|".join(f" {'raw':>7} {'scaled':>7} " for _ in pairs)
        )
        rows = [
            f"{d:>5} | {vu:>7.1f} {vs:>7.2f} | {mu:>7.2f} {ms:>7.2f} | {eu:>7.2f} {es:>7.2f} "
            f"| {ju:>7.3f} {js:>7.3f}"
            for d, vu, vs, mu, ms, eu, es, ju, js in zip(
                self.d_k,
                self.var_unscaled,
                self.var_scaled,
                self.max_weight_unscaled,
                self.max_weight_scaled,
                self.entropy_unscaled,
                self.entropy_scaled,
                self.jacobian_unscaled,
                self.jacobian_scaled,
                strict=True,
            )
        ]
        footer = (
            f"(uniform weights over {self.seq_len} keys: max weight {1 / self.seq_len:.2f}, "
            f"entropy {self.max_entropy:.2f})"
        )
        return "\n".join(line.rstrip() for line in [*header.splitlines(), *rows, footer])

    def __str__(self) -> str:
        return self.table()


def softmax_jacobian_norm(weights: torch.Tensor) -> torch.Tensor:
    """Frobenius norm of softmax's Jacobian J = diag(w) - w w^T; weights (..., T) -> (...).

    ||J||^2 = sum_i w_i^2 - 2 sum_i w_i^3 + (sum_i w_i^2)^2, with no T x T matrix built.
    """
    sq = weights.square().sum(dim=-1)
    cube = weights.pow(3).sum(dim=-1)
    return (sq - 2 * cube + sq.square()).clamp_min(0).sqrt()


def _weight_stats(scores: torch.Tensor) -> tuple[float, float, float]:
    """Mean max weight, mean entropy (nats) and mean Jacobian norm of softmax over the last dim."""
    weights = torch.softmax(scores, dim=-1)
    log_weights = torch.log_softmax(scores, dim=-1)
    entropy = -(weights * log_weights).sum(dim=-1)  # 0 * -inf cannot occur: log_softmax is finite
    return (
        weights.amax(dim=-1).mean().item(),
        entropy.mean().item(),
        softmax_jacobian_norm(weights).mean().item(),
    )


def scaling_experiment(
    d_ks: Sequence[int] = DEFAULT_D_KS,
    *,
    seq_len: int = 16,
    n_samples: int = 256,
    seed: int = 0,
) -> ScalingResult:
    """Measure score variance and softmax saturation with and without the 1/sqrt(d_k) factor.

    For each d_k, draws q (n_samples, seq_len, d_k) and k (n_samples, seq_len, d_k) from N(0, 1)
    with a private generator (the global RNG is left alone) and computes scores
    q @ k^T of shape (n_samples, seq_len, seq_len). Runs in well under a second on a CPU.
    """
    d_ks = tuple(int(d) for d in d_ks)
    if not d_ks or any(d < 1 for d in d_ks):
        raise ValueError(f"d_ks must be positive head sizes, got {d_ks}.")
    if seq_len < 2:
        raise ValueError(f"seq_len must be at least 2 for softmax to have a choice, got {seq_len}.")
    if n_samples < 1:
        raise ValueError(f"n_samples must be at least 1, got {n_samples}.")

    gen = torch.Generator().manual_seed(seed)
    keys = ("vu", "vs", "mu", "ms", "eu", "es", "ju", "js")  # variance, max, entropy, Jacobian
    stats: dict[str, list[float]] = {key: [] for key in keys}
    for d_k in d_ks:
        q = torch.randn(n_samples, seq_len, d_k, generator=gen, dtype=torch.float64)
        k = torch.randn(n_samples, seq_len, d_k, generator=gen, dtype=torch.float64)
        raw = q @ k.transpose(-2, -1)
        scaled = raw / math.sqrt(d_k)
        stats["vu"].append(raw.var().item())
        stats["vs"].append(scaled.var().item())
        for suffix, scores in (("u", raw), ("s", scaled)):
            max_w, ent, jac = _weight_stats(scores)
            stats["m" + suffix].append(max_w)
            stats["e" + suffix].append(ent)
            stats["j" + suffix].append(jac)

    return ScalingResult(
        d_k=d_ks,
        seq_len=seq_len,
        n_samples=n_samples,
        seed=seed,
        var_unscaled=tuple(stats["vu"]),
        var_scaled=tuple(stats["vs"]),
        max_weight_unscaled=tuple(stats["mu"]),
        max_weight_scaled=tuple(stats["ms"]),
        entropy_unscaled=tuple(stats["eu"]),
        entropy_scaled=tuple(stats["es"]),
        jacobian_unscaled=tuple(stats["ju"]),
        jacobian_scaled=tuple(stats["js"]),
    )
