"""Why attention divides scores by sqrt(d_k): a seeded measurement over head sizes.

Queries and keys have independent N(0, 1) entries, so a dot product q . k is a sum of d_k
terms of variance 1 and has variance d_k. Dividing by sqrt(d_k) brings it back to 1. Without
the division, softmax over large scores saturates: one key takes nearly all the weight and, for
most queries, the gradient through the softmax vanishes. Not for all of them: the gradient with
respect to a query carries the scores' factor (1 unscaled, 1/sqrt(d_k) scaled), so the rare query
whose two best keys nearly tie gets a huge one. Unscaled, the median of ||dw/dq|| collapses while
its mean does not.

    >>> result = scaling_experiment(seed=0)
    >>> result.var_unscaled      # grows like d_k
    >>> result.var_scaled        # stays near 1
    >>> result.query_grad_median_unscaled  # most queries: almost no gradient
    >>> from attn_course.viz import plot_scaling; plot_scaling(result)
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch

DEFAULT_D_KS = (4, 16, 64, 256, 1024)
SMALL_QUERY_GRAD = 0.01  # "almost no gradient": 1/30 of what a scaled query typically gets (~0.3)


@dataclass(frozen=True)
class ScalingResult:
    """Statistics of attention scores and weights, one entry per head size in `d_k`.

    var_*:        variance of the scores q . k (unscaled) or q . k / sqrt(d_k) (scaled)
    max_weight_*: mean over queries of the largest softmax weight (1/seq_len = uniform, 1 = one-hot)
    entropy_*:    mean entropy of a query's weights in nats (log(seq_len) = uniform, 0 = one-hot)
    jacobian_*:   mean Frobenius norm of the softmax Jacobian d weights / d scores, how strongly
                  the weights respond to the scores (0 = saturated: no gradient flows back)
    query_grad_median_*, query_grad_mean_*:
                  median and mean over queries of ||d w / d q||_F, the Frobenius norm of the
                  Jacobian of a query's weights with respect to the query itself (scores' scale
                  factor included): what the typical query gets, and what the average hides
    query_grad_small_*:
                  fraction of queries with ||d w / d q||_F below `SMALL_QUERY_GRAD`
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
    query_grad_median_unscaled: tuple[float, ...]
    query_grad_median_scaled: tuple[float, ...]
    query_grad_mean_unscaled: tuple[float, ...]
    query_grad_mean_scaled: tuple[float, ...]
    query_grad_small_unscaled: tuple[float, ...]
    query_grad_small_scaled: tuple[float, ...]

    @property
    def small_query_grad(self) -> float:
        """The threshold of `query_grad_small_*`: below it a query gets almost no gradient."""
        return SMALL_QUERY_GRAD

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
        grads = ("median", "mean", f"share < {SMALL_QUERY_GRAD:g}")
        grad_header = (
            f"{'':>5} |  gradient reaching the queries, ||dw/dq|| per query\n"
            f"{'d_k':>5} |" + "|".join(f" {name:^17} " for name in grads) + "\n"
            f"{'':>5} |" + "|".join(f" {'raw':>8} {'scaled':>8} " for _ in grads)
        )
        grad_rows = [
            f"{d:>5} | {_num(mu)} {_num(ms)} | {_num(au)} {_num(as_)} | {su:>8.2f} {ss:>8.2f}"
            for d, mu, ms, au, as_, su, ss in zip(
                self.d_k,
                self.query_grad_median_unscaled,
                self.query_grad_median_scaled,
                self.query_grad_mean_unscaled,
                self.query_grad_mean_scaled,
                self.query_grad_small_unscaled,
                self.query_grad_small_scaled,
                strict=True,
            )
        ]
        footer = (
            f"(uniform weights over {self.seq_len} keys: max weight {1 / self.seq_len:.2f}, "
            f"entropy {self.max_entropy:.2f})"
        )
        lines = [*header.splitlines(), *rows, footer, "", *grad_header.splitlines(), *grad_rows]
        return "\n".join(line.rstrip() for line in lines)

    def __str__(self) -> str:
        return self.table()


def _num(x: float) -> str:
    """Eight characters: two decimals, or one significant digit in e-notation below 0.01."""
    return f"{x:>8.2f}" if abs(x) >= 0.01 or x == 0 else f"{x:>8.1e}"


def softmax_jacobian_norm(weights: torch.Tensor) -> torch.Tensor:
    """Frobenius norm of softmax's Jacobian J = diag(w) - w w^T; weights (..., T) -> (...).

    ||J||^2 = sum_i w_i^2 - 2 sum_i w_i^3 + (sum_i w_i^2)^2, with no T x T matrix built.
    """
    sq = weights.square().sum(dim=-1)
    cube = weights.pow(3).sum(dim=-1)
    return (sq - 2 * cube + sq.square()).clamp_min(0).sqrt()


def query_gradient_norm(q: torch.Tensor, k: torch.Tensor, scale: float) -> torch.Tensor:
    """||d w_i / d q_i||_F for w_i = softmax(scale * q_i . K); q (..., T_q, d), k (..., T_k, d).

    Returns (..., T_q). The Jacobian of query i's weights is scale * J_i K, whose row j is
    scale * w_ij (k_j - kbar_i) with kbar_i = sum_j w_ij k_j, so its squared norm is
    scale^2 * sum_j w_ij^2 ||k_j - kbar_i||^2. The distances are taken from the differences
    themselves (no ||k||^2 - 2 k.kbar + ||kbar||^2 expansion), so saturated rows keep their tiny
    values instead of rounding noise.
    """
    weights = torch.softmax(scale * (q @ k.transpose(-2, -1)), dim=-1)  # (..., T_q, T_k)
    kbar = weights @ k  # (..., T_q, d)
    dist = torch.cdist(kbar, k, compute_mode="donot_use_mm_for_euclid_dist")  # (..., T_q, T_k)
    return scale * (weights * dist).square().sum(dim=-1).sqrt()


def _query_grad_stats(q: torch.Tensor, k: torch.Tensor, scale: float) -> tuple[float, float, float]:
    """Median, mean and share below SMALL_QUERY_GRAD of ||dw/dq|| over all queries."""
    norms = query_gradient_norm(q, k, scale).flatten()
    return (
        norms.median().item(),
        norms.mean().item(),
        (norms < SMALL_QUERY_GRAD).double().mean().item(),
    )


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
    q @ k^T of shape (n_samples, seq_len, seq_len), and the gradient of every query's weights with
    respect to that query. Runs in about a second on a CPU.
    """
    d_ks = tuple(int(d) for d in d_ks)
    if not d_ks or any(d < 1 for d in d_ks):
        raise ValueError(f"d_ks must be positive head sizes, got {d_ks}.")
    if seq_len < 2:
        raise ValueError(f"seq_len must be at least 2 for softmax to have a choice, got {seq_len}.")
    if n_samples < 1:
        raise ValueError(f"n_samples must be at least 1, got {n_samples}.")

    gen = torch.Generator().manual_seed(seed)
    # variance, max weight, entropy, Jacobian; median, mean and small share of ||dw/dq||
    keys = ("vu", "vs", "mu", "ms", "eu", "es", "ju", "js")
    keys += ("gmu", "gms", "gau", "gas", "gsu", "gss")
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
        for suffix, scale in (("u", 1.0), ("s", 1 / math.sqrt(d_k))):
            median, mean, small = _query_grad_stats(q, k, scale)
            stats["gm" + suffix].append(median)
            stats["ga" + suffix].append(mean)
            stats["gs" + suffix].append(small)

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
        query_grad_median_unscaled=tuple(stats["gmu"]),
        query_grad_median_scaled=tuple(stats["gms"]),
        query_grad_mean_unscaled=tuple(stats["gau"]),
        query_grad_mean_scaled=tuple(stats["gas"]),
        query_grad_small_unscaled=tuple(stats["gsu"]),
        query_grad_small_scaled=tuple(stats["gss"]),
    )
