"""Correct answers written independently, the way different students write them.

    ANSWERS[registry name] -> list of complete answer-cell texts

One key per check in `attn_course.checks.CHECKS`; each text is a whole answer cell that defines
the exercise's name as the solution notebook's answer cell does, and is a correct solution in
its own style: loops or vectorised code, einsum, a float64 upcast cast back to the input's
dtype, helper functions in the same cell, extra asserts, prints, comments, docstrings, type
hints, imports inside the cell, torch.where instead of masked_fill, finfo.min instead of -inf.
The Triton kernels (`flash_kernel`) vary the same way: exp2, tl.trans, helper kernels, a while
loop, pointers moved along the loop, 64-bit offsets, FlashAttention-2's split loops.
The multi-head answers may use `split_heads` and `merge_heads`, the student's own answers from
the other cells of notebook 04, or write everything inline.

`tests/grading/test_honest_answers.py` holds every one of them to the answer policy (the
grader's and the checks' self-study reading) and to the exercise's public check: an honest
answer must never be flagged.
"""

from __future__ import annotations

from textwrap import dedent, indent

__all__ = ["ANSWERS"]

SOFTMAX = [
    dedent('''
        def softmax(x, dim=-1):
            m = x.amax(dim=dim, keepdim=True)
            e = torch.exp(x - m)
            return e / e.sum(dim=dim, keepdim=True)
    '''),
    dedent('''
        def softmax(x: torch.Tensor, dim: int = -1) -> torch.Tensor:
            """Softmax along `dim`, stable for large inputs."""
            biggest = x.max(dim=dim, keepdim=True).values  # (..., 1, ...)
            numerator = torch.exp(x - biggest)
            denominator = torch.sum(numerator, dim=dim, keepdim=True)
            return numerator / denominator
    '''),
    dedent('''
        def softmax(x, dim=-1):
            # work in float64 for accuracy, then go back to the input's dtype
            x64 = x.to(torch.float64)
            shifted = x64 - x64.amax(dim=dim, keepdim=True)
            p = shifted.exp()
            p = p / p.sum(dim=dim, keepdim=True)
            return p.to(x.dtype)
    '''),
    dedent('''
        def softmax(x, dim=-1):
            # exp(x - logsumexp(x)) = exp(x) / sum(exp(x)), and logsumexp is stable
            return torch.exp(x - torch.logsumexp(x, dim=dim, keepdim=True))
    '''),
    dedent('''
        import torch


        def _stable_exp(t, dim):
            """exp(t - max(t)): every value in (0, 1], so nothing overflows."""
            return torch.exp(t - t.amax(dim=dim, keepdim=True))


        def softmax(x, dim=-1):
            num = _stable_exp(x, dim)
            return num / num.sum(dim=dim, keepdim=True)
    '''),
    dedent('''
        def softmax(x, dim=-1):
            # move the softmax dimension to the end, work on the last axis, move it back
            moved = x.movedim(dim, -1)
            moved = moved - moved.max(-1, keepdim=True)[0]
            exps = moved.exp()
            probs = exps / exps.sum(-1, keepdim=True)
            return probs.movedim(-1, dim)
    '''),
    dedent('''
        def softmax(x, dim=-1):
            """A softmax written with a loop over the entries along dim."""
            slices = x.unbind(dim)
            top = slices[0]
            for s in slices[1:]:
                top = torch.maximum(top, s)
            exps = [torch.exp(s - top) for s in slices]
            total = exps[0]
            for e in exps[1:]:
                total = total + e
            return torch.stack([e / total for e in exps], dim=dim)
    '''),
    dedent('''
        def softmax(x, dim=-1):
            assert x.is_floating_point(), "softmax needs a floating-point tensor"
            dim = dim % x.dim()  # a negative dim counts from the end
            shifted = x - torch.amax(x, dim=dim, keepdim=True)
            e = torch.exp(shifted)
            out = e / e.sum(dim=dim, keepdim=True)
            assert out.shape == x.shape
            return out


        print(softmax(torch.tensor([1.0, 2.0, 3.0])))
    '''),
    dedent('''
        from torch import Tensor


        def softmax(x: Tensor, dim: int = -1) -> Tensor:
            # subtract the max first (softmax is shift-invariant), then normalise
            c = x.amax(dim, keepdim=True)
            return x.sub(c).exp().div(x.sub(c).exp().sum(dim, keepdim=True))
    '''),
    dedent('''
        def softmax(x, dim=-1):
            # the shift only guards against overflow and does not change the result, so it
            # needs no gradient of its own
            shift = x.detach().amax(dim=dim, keepdim=True)
            unnormalised = torch.exp(x - shift)
            return unnormalised / unnormalised.sum(dim=dim, keepdim=True)
    '''),
    dedent('''
        import math


        def softmax(x, dim=-1):
            # exp(a) = 2 ** (a / ln 2): the same softmax in base 2
            z = (x - x.amax(dim=dim, keepdim=True)) / math.log(2)
            w = torch.pow(2.0, z)
            return w / w.sum(dim=dim, keepdim=True)
    '''),
    dedent('''
        def softmax(x, dim=-1):
            log_z = x.amax(dim=dim, keepdim=True)
            log_z = log_z + torch.log(torch.exp(x - log_z).sum(dim=dim, keepdim=True))
            log_p = x - log_z  # log-probabilities, computed by hand
            return log_p.exp()
    '''),
    dedent('''
        import torch as th


        def softmax(x, dim=-1):
            e = th.exp(x - th.amax(x, dim=dim, keepdim=True))
            return e / th.sum(e, dim=dim, keepdim=True)
    '''),
]

SCALED_DOT_PRODUCT_ATTENTION = [
    dedent('''
        def scaled_dot_product_attention(q, k, v, mask=None):
            d_k = q.size(-1)
            scores = torch.matmul(q, k.transpose(-2, -1)) / math.sqrt(d_k)
            if mask is not None:
                scores = scores.masked_fill(~mask, float("-inf"))
            attn = torch.softmax(scores, dim=-1)
            return torch.matmul(attn, v), attn
    '''),
    dedent('''
        import torch.nn.functional as F


        def scaled_dot_product_attention(q, k, v, mask=None):
            """Attention written with einsum: scores[..., i, j] = q_i . k_j / sqrt(d)."""
            scale = q.shape[-1] ** -0.5
            scores = torch.einsum("...id,...jd->...ij", q, k) * scale
            if mask is not None:
                scores = scores.masked_fill(mask.logical_not(), -math.inf)
            weights = F.softmax(scores, dim=-1)
            out = torch.einsum("...ij,...jd->...id", weights, v)
            return out, weights
    '''),
    dedent('''
        def scaled_dot_product_attention(q, k, v, mask=None):
            # compute in float64, give the results back in the inputs' dtype
            dtype = q.dtype
            q64, k64, v64 = q.double(), k.double(), v.double()
            scores = q64 @ k64.transpose(-2, -1) / math.sqrt(q.shape[-1])
            if mask is not None:
                scores = scores.masked_fill(~mask, float("-inf"))
            weights = torch.softmax(scores, dim=-1)
            out = weights @ v64
            return out.to(dtype), weights.to(dtype)
    '''),
    dedent('''
        def scaled_dot_product_attention(q, k, v, mask=None):
            scores = q @ k.transpose(-2, -1) / math.sqrt(k.shape[-1])
            if mask is not None:
                # the most negative finite number: exp underflows to exactly 0
                lowest = torch.finfo(scores.dtype).min
                scores = torch.where(mask, scores, torch.full_like(scores, lowest))
            weights = scores.softmax(dim=-1)
            return weights @ v, weights
    '''),
    dedent('''
        def scaled_dot_product_attention(q, k, v, mask=None):
            q = q / math.sqrt(q.shape[-1])  # scale the queries instead of the scores (a copy)
            scores = q @ k.mT
            if mask is not None:
                scores = scores.masked_fill(mask == False, -1e9)
            weights = torch.softmax(scores, -1)
            return weights @ v, weights
    '''),
    dedent('''
        def stable_softmax(s):
            s = s - s.amax(dim=-1, keepdim=True)
            e = s.exp()
            return e / e.sum(dim=-1, keepdim=True)


        def scaled_dot_product_attention(q, k, v, mask=None):
            scores = (q @ k.transpose(-1, -2)) / math.sqrt(q.shape[-1])
            if mask is not None:
                scores = scores.masked_fill(~mask, float("-inf"))  # exp(-inf) = 0
            weights = stable_softmax(scores)
            return weights @ v, weights
    '''),
    dedent('''
        def scaled_dot_product_attention(q, k, v, mask=None):
            d_k = q.shape[-1]
            scores = q @ k.swapaxes(-1, -2) / d_k ** 0.5
            if mask is not None:
                # an additive mask: 0 where allowed, -inf where blocked
                additive = torch.zeros_like(scores).masked_fill(~mask, float("-inf"))
                scores = scores + additive
            weights = torch.softmax(scores, dim=-1)
            return weights @ v, weights
    '''),
    dedent('''
        def scaled_dot_product_attention(q, k, v, mask=None):
            assert q.shape[-1] == k.shape[-1], "queries and keys need the same size"
            assert k.shape[-2] == v.shape[-2], "one value per key"
            T_q, T_k = q.shape[-2], k.shape[-2]
            scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
            assert scores.shape[-2:] == (T_q, T_k)
            if mask is not None:
                mask = mask.to(torch.bool)
                scores = scores.masked_fill(torch.logical_not(mask), float("-inf"))
            weights = torch.softmax(scores, dim=-1)
            out = weights @ v
            assert out.shape[-2:] == (T_q, v.shape[-1])
            return out, weights
    '''),
    dedent('''
        def scaled_dot_product_attention(q, k, v, mask=None):
            """A loop over the flattened batch, one matrix product per item."""
            *lead, T_q, d = q.shape
            T_k, d_v = k.shape[-2], v.shape[-1]
            q3 = q.reshape(-1, T_q, d)
            k3 = k.reshape(-1, T_k, d)
            v3 = v.reshape(-1, T_k, d_v)
            m3 = None
            if mask is not None:
                m3 = torch.broadcast_to(mask, (*lead, T_q, T_k)).reshape(-1, T_q, T_k)
            outs, ws = [], []
            for b in range(q3.shape[0]):
                s = q3[b] @ k3[b].T / math.sqrt(d)
                if m3 is not None:
                    s = s.masked_fill(~m3[b], float("-inf"))
                w = torch.softmax(s, dim=-1)
                outs.append(w @ v3[b])
                ws.append(w)
            out = torch.stack(outs).reshape(*lead, T_q, d_v)
            weights = torch.stack(ws).reshape(*lead, T_q, T_k)
            return out, weights
    '''),
    dedent('''
        from typing import Optional

        import torch
        from torch import Tensor


        def scaled_dot_product_attention(
            q: Tensor, k: Tensor, v: Tensor, mask: Optional[Tensor] = None
        ) -> tuple[Tensor, Tensor]:
            scale = 1.0 / math.sqrt(q.size(-1))
            logits = torch.matmul(q, k.transpose(-2, -1)).mul(scale)
            if mask is not None:
                logits = logits.masked_fill(~mask, -math.inf)
            probs = torch.nn.functional.softmax(logits, dim=-1)
            return probs @ v, probs
    '''),
    dedent('''
        def scaled_dot_product_attention(q, k, v, mask=None):
            scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
            if mask is not None:
                scores = scores.masked_fill(~mask, float("-inf"))
            # softmax by hand: subtract the row max, exponentiate, normalise
            scores = scores - scores.max(dim=-1, keepdim=True).values
            e = torch.exp(scores)
            weights = e / e.sum(dim=-1, keepdim=True)
            return weights @ v, weights


        print(scaled_dot_product_attention(torch.eye(3), torch.eye(3), torch.eye(3))[1].sum(-1))
    '''),
    dedent('''
        import math

        import torch


        def scaled_dot_product_attention(q, k, v, mask=None):
            d = q.shape[-1]
            scores = torch.einsum("...qd,...kd->...qk", q, k) / math.sqrt(d)
            if mask is not None:
                neg = torch.tensor(float("-inf"), dtype=scores.dtype)
                scores = torch.where(mask, scores, neg)
            weights = torch.softmax(scores, dim=-1)
            return torch.einsum("...qk,...kd->...qd", weights, v), weights
    '''),
]

CAUSAL_MASK = [
    dedent('''
        def causal_mask(T):
            return torch.tril(torch.ones(T, T, dtype=torch.bool))
    '''),
    dedent('''
        def causal_mask(T):
            # ones below and on the diagonal, then turned into booleans
            return torch.ones(T, T).tril().bool()
    '''),
    dedent('''
        def causal_mask(T):
            """mask[i, j] is True when key j is not in the future of query i."""
            i = torch.arange(T).unsqueeze(1)  # (T, 1): the query
            j = torch.arange(T).unsqueeze(0)  # (1, T): the key
            return j <= i
    '''),
    dedent('''
        def causal_mask(T):
            mask = torch.zeros(T, T, dtype=torch.bool)
            for query in range(T):
                for key in range(query + 1):
                    mask[query, key] = True
            return mask
    '''),
    dedent('''
        def causal_mask(T):
            future = torch.triu(torch.ones(T, T, dtype=torch.bool), diagonal=1)
            return ~future  # everything that is not in the future
    '''),
    dedent('''
        import numpy as np


        def causal_mask(T):
            return torch.from_numpy(np.tril(np.ones((T, T), dtype=bool)))
    '''),
    dedent('''
        def causal_mask(T):
            offsets = torch.arange(T)[:, None] - torch.arange(T)[None, :]  # query - key
            return offsets >= 0
    '''),
    dedent('''
        def causal_mask(T):
            rows = [[key <= query for key in range(T)] for query in range(T)]
            return torch.tensor(rows, dtype=torch.bool)
    '''),
    dedent('''
        def causal_mask(T):
            rows = [torch.arange(T) <= t for t in range(T)]  # row t: keys 0..t
            return torch.stack(rows)
    '''),
    dedent('''
        def causal_mask(T: int) -> torch.Tensor:
            assert T >= 1, "a sequence has at least one token"
            m = torch.ones(T, T, dtype=torch.bool)
            m.tril_()  # in place, on the tensor made just above
            assert m.shape == (T, T) and m.dtype == torch.bool
            return m


        print(causal_mask(4).int())
    '''),
    dedent('''
        def causal_mask(T):
            return torch.tril(torch.full((T, T), True))
    '''),
    dedent('''
        def causal_mask(T):
            # the running sum of the identity's rows has ones at j <= i
            return torch.eye(T, dtype=torch.long).cumsum(dim=0).bool()
    '''),
    dedent('''
        def causal_mask(T):
            upper = torch.triu(torch.ones(T, T), diagonal=1)
            return upper == 0
    '''),
    dedent('''
        causal_mask = lambda T: torch.ones(T, T, dtype=torch.bool).tril()
    '''),
    dedent('''
        from functools import lru_cache


        @lru_cache(maxsize=None)
        @torch.no_grad()
        def causal_mask(T):
            # the same T always gives the same mask: build it once
            return torch.ones(T, T, dtype=torch.bool).tril()
    '''),
]

SELF_ATTENTION = [
    dedent('''
        class SelfAttention(nn.Module):
            def __init__(self, d_model, d_k, d_v=None, bias=False):
                super().__init__()
                if d_v is None:
                    d_v = d_k
                self.q_proj = nn.Linear(d_model, d_k, bias=bias)
                self.k_proj = nn.Linear(d_model, d_k, bias=bias)
                self.v_proj = nn.Linear(d_model, d_v, bias=bias)

            def forward(self, x, mask=None):
                queries = self.q_proj(x)
                keys = self.k_proj(x)
                values = self.v_proj(x)
                scores = torch.bmm(queries, keys.transpose(1, 2)) / math.sqrt(keys.shape[-1])
                if mask is not None:
                    scores = scores.masked_fill(~mask, float("-inf"))
                weights = torch.softmax(scores, dim=-1)
                return torch.bmm(weights, values), weights
    '''),
    dedent('''
        import torch.nn.functional as F


        class SelfAttention(nn.Module):
            """Single-head self-attention written with einsum."""

            def __init__(self, d_model, d_k, d_v=None, bias=False):
                super().__init__()
                d_v = d_v or d_k
                self.q_proj = nn.Linear(d_model, d_k, bias=bias)
                self.k_proj = nn.Linear(d_model, d_k, bias=bias)
                self.v_proj = nn.Linear(d_model, d_v, bias=bias)
                self.scale = d_k ** -0.5

            def forward(self, x, mask=None):
                q, k, v = self.q_proj(x), self.k_proj(x), self.v_proj(x)
                scores = torch.einsum("bqd,bkd->bqk", q, k) * self.scale
                if mask is not None:
                    scores = scores.masked_fill(mask.logical_not(), -math.inf)
                weights = F.softmax(scores, dim=-1)
                out = torch.einsum("bqk,bkd->bqd", weights, v)
                return out, weights
    '''),
    dedent('''
        class SelfAttention(nn.Module):
            def __init__(self, d_model, d_k, d_v=None, bias=False):
                super().__init__()
                self.q_proj = nn.Linear(d_model, d_k, bias=bias)
                self.k_proj = nn.Linear(d_model, d_k, bias=bias)
                self.v_proj = nn.Linear(d_model, d_k if d_v is None else d_v, bias=bias)

            def forward(self, x, mask=None):
                q, k, v = self.q_proj(x), self.k_proj(x), self.v_proj(x)
                scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
                if mask is not None:
                    very_negative = torch.finfo(scores.dtype).min
                    scores = torch.where(mask, scores, torch.full_like(scores, very_negative))
                weights = scores.softmax(-1)
                return weights @ v, weights
    '''),
    dedent('''
        class SelfAttention(nn.Module):
            def __init__(self, d_model, d_k, d_v=None, bias=False):
                super().__init__()
                d_v = d_k if d_v is None else d_v
                self.q_proj = nn.Linear(d_model, d_k, bias=bias)
                self.k_proj = nn.Linear(d_model, d_k, bias=bias)
                self.v_proj = nn.Linear(d_model, d_v, bias=bias)

            def forward(self, x, mask=None):
                # scores and softmax in float64, results back in x's dtype
                q = self.q_proj(x).double()
                k = self.k_proj(x).double()
                v = self.v_proj(x).double()
                scores = q @ k.transpose(1, 2) / math.sqrt(q.shape[-1])
                if mask is not None:
                    scores = scores.masked_fill(~mask, float("-inf"))
                weights = torch.softmax(scores, dim=-1)
                return (weights @ v).to(x.dtype), weights.to(x.dtype)
    '''),
    dedent('''
        class SelfAttention(nn.Module):
            def __init__(self, d_model, d_k, d_v=None, bias=False):
                super(SelfAttention, self).__init__()
                d_v = d_k if d_v is None else d_v
                self.d_k = d_k
                self.q_proj = nn.Linear(d_model, d_k, bias=bias)
                self.k_proj = nn.Linear(d_model, d_k, bias=bias)
                self.v_proj = nn.Linear(d_model, d_v, bias=bias)

            @staticmethod
            def _softmax(scores):
                scores = scores - scores.amax(dim=-1, keepdim=True)
                e = torch.exp(scores)
                return e / e.sum(dim=-1, keepdim=True)

            def forward(self, x, mask=None):
                q, k, v = self.q_proj(x), self.k_proj(x), self.v_proj(x)
                scores = q @ k.transpose(-2, -1) / self.d_k ** 0.5
                if mask is not None:
                    scores = scores.masked_fill(~mask, float("-inf"))
                weights = self._softmax(scores)
                return weights @ v, weights
    '''),
    dedent('''
        class SelfAttention(nn.Module):
            def __init__(self, d_model, d_k, d_v=None, bias=False):
                super().__init__()
                d_v = d_k if d_v is None else d_v
                self.q_proj = nn.Linear(d_model, d_k, bias=bias)
                self.k_proj = nn.Linear(d_model, d_k, bias=bias)
                self.v_proj = nn.Linear(d_model, d_v, bias=bias)

            def forward(self, x, mask=None):
                """One sequence at a time, to see each step clearly."""
                outs, all_weights = [], []
                for b in range(x.shape[0]):
                    xb = x[b]  # (T, d_model)
                    q, k, v = self.q_proj(xb), self.k_proj(xb), self.v_proj(xb)
                    s = q @ k.T / math.sqrt(q.shape[-1])  # (T, T)
                    if mask is not None:
                        mb = torch.broadcast_to(mask, (x.shape[0], x.shape[1], x.shape[1]))[b]
                        s = s.masked_fill(~mb, float("-inf"))
                    w = torch.softmax(s, dim=-1)
                    outs.append(w @ v)
                    all_weights.append(w)
                return torch.stack(outs), torch.stack(all_weights)
    '''),
    dedent('''
        import torch.nn.functional as F


        class SelfAttention(nn.Module):
            def __init__(self, d_model, d_k, d_v=None, bias=False):
                super().__init__()
                self.d_k, self.d_v = d_k, (d_k if d_v is None else d_v)
                self.q_proj = nn.Linear(d_model, self.d_k, bias=bias)
                self.k_proj = nn.Linear(d_model, self.d_k, bias=bias)
                self.v_proj = nn.Linear(d_model, self.d_v, bias=bias)

            def forward(self, x, mask=None):
                # one packed projection: the three weight matrices stacked, split afterwards
                w = torch.cat([self.q_proj.weight, self.k_proj.weight, self.v_proj.weight])
                b = None
                if self.q_proj.bias is not None:
                    b = torch.cat([self.q_proj.bias, self.k_proj.bias, self.v_proj.bias])
                q, k, v = F.linear(x, w, b).split([self.d_k, self.d_k, self.d_v], dim=-1)
                scores = q @ k.transpose(-2, -1) / math.sqrt(self.d_k)
                if mask is not None:
                    scores = scores.masked_fill(~mask, float("-inf"))
                weights = torch.softmax(scores, dim=-1)
                return weights @ v, weights
    '''),
    dedent('''
        from typing import Optional

        import torch
        from torch import nn


        class SelfAttention(nn.Module):
            def __init__(self, d_model: int, d_k: int, d_v: Optional[int] = None,
                         bias: bool = False) -> None:
                super().__init__()
                d_v = d_k if d_v is None else d_v
                self.q_proj = nn.Linear(d_model, d_k, bias=bias)
                self.k_proj = nn.Linear(d_model, d_k, bias=bias)
                self.v_proj = nn.Linear(d_model, d_v, bias=bias)

            def forward(self, x: torch.Tensor,
                        mask: Optional[torch.Tensor] = None) -> tuple[torch.Tensor, torch.Tensor]:
                B, T, _ = x.shape
                q = self.q_proj(x)  # (B, T, d_k)
                k = self.k_proj(x)  # (B, T, d_k)
                v = self.v_proj(x)  # (B, T, d_v)
                scores = torch.matmul(q, k.transpose(1, 2)) / math.sqrt(q.size(-1))
                assert scores.shape == (B, T, T)
                if mask is not None:
                    scores = scores.masked_fill(~mask, float("-inf"))
                weights = torch.softmax(scores, dim=-1)
                out = torch.matmul(weights, v)
                assert out.shape == (B, T, v.size(-1))
                return out, weights
    '''),
    dedent('''
        def attend(q, k, v, mask=None):
            scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
            if mask is not None:
                scores = scores.masked_fill(~mask, float("-inf"))
            weights = torch.softmax(scores, dim=-1)
            return weights @ v, weights


        class SelfAttention(nn.Module):
            def __init__(self, d_model, d_k, d_v=None, bias=False):
                super().__init__()
                d_v = d_k if d_v is None else d_v
                self.q_proj = nn.Linear(d_model, d_k, bias=bias)
                self.k_proj = nn.Linear(d_model, d_k, bias=bias)
                self.v_proj = nn.Linear(d_model, d_v, bias=bias)

            def forward(self, x, mask=None):
                return attend(self.q_proj(x), self.k_proj(x), self.v_proj(x), mask)
    '''),
    dedent('''
        class SelfAttention(nn.Module):
            def __init__(self, d_model, d_k, d_v=None, bias=False, dropout=0.0):
                super().__init__()
                d_v = d_k if d_v is None else d_v
                self.q_proj = nn.Linear(d_model, d_k, bias=bias)
                self.k_proj = nn.Linear(d_model, d_k, bias=bias)
                self.v_proj = nn.Linear(d_model, d_v, bias=bias)
                self.dropout = nn.Dropout(dropout)  # off in eval mode

            def forward(self, x, mask=None):
                q = self.q_proj(x)
                k = self.k_proj(x)
                v = self.v_proj(x)
                scores = q.matmul(k.transpose(-2, -1)).div(math.sqrt(q.shape[-1]))
                if mask is not None:
                    scores = scores.masked_fill(mask == 0, float("-inf"))
                weights = torch.softmax(scores, dim=-1)
                return self.dropout(weights) @ v, weights
    '''),
    dedent('''
        import torch.nn.functional as F


        class SelfAttention(nn.Module):
            def __init__(self, d_model, d_k, d_v=None, bias=False):
                super().__init__()
                d_v = d_k if d_v is None else d_v
                self.q_proj = nn.Linear(d_model, d_k, bias=bias)
                self.k_proj = nn.Linear(d_model, d_k, bias=bias)
                self.v_proj = nn.Linear(d_model, d_v, bias=bias)

            def forward(self, x, mask=None):
                # F.linear with the layers' own weights: x W^T + b
                q = F.linear(x, self.q_proj.weight, self.q_proj.bias)
                k = F.linear(x, self.k_proj.weight, self.k_proj.bias)
                v = F.linear(x, self.v_proj.weight, self.v_proj.bias)
                scores = (q / math.sqrt(q.shape[-1])) @ k.transpose(-2, -1)
                if mask is not None:
                    scores = scores + torch.zeros_like(scores).masked_fill(~mask, -math.inf)
                weights = F.softmax(scores, dim=-1)
                return weights @ v, weights
    '''),
    dedent('''
        class SelfAttention(nn.Module):
            def __init__(self, d_model, d_k, d_v=None, bias=False):
                super().__init__()
                d_v = d_k if d_v is None else d_v
                print(f"SelfAttention: {d_model} -> q, k {d_k}, v {d_v}")
                self.q_proj = nn.Linear(d_model, d_k, bias=bias)
                self.k_proj = nn.Linear(d_model, d_k, bias=bias)
                self.v_proj = nn.Linear(d_model, d_v, bias=bias)

            def forward(self, x, mask=None):
                q, k, v = self.q_proj(x), self.k_proj(x), self.v_proj(x)
                logits = q @ k.mT / math.sqrt(k.shape[-1])
                if mask is not None:
                    logits = logits.masked_fill(~mask, -1e9)
                logits = logits - logits.amax(-1, keepdim=True)
                weights = logits.exp() / logits.exp().sum(-1, keepdim=True)
                return weights @ v, weights
    '''),
    dedent('''
        class SelfAttention(nn.Module):
            def __init__(self, d_model, d_k, d_v=None, bias=False):
                super().__init__()
                d_v = d_k if d_v is None else d_v
                self.q_proj = nn.Linear(d_model, d_k, bias=bias)
                self.k_proj = nn.Linear(d_model, d_k, bias=bias)
                self.v_proj = nn.Linear(d_model, d_v, bias=bias)
                for layer in (self.q_proj, self.k_proj, self.v_proj):
                    nn.init.xavier_uniform_(layer.weight)
                self.softmax = nn.Softmax(dim=-1)  # a module without parameters

            def forward(self, x, mask=None):
                q, k, v = self.q_proj(x), self.k_proj(x), self.v_proj(x)
                scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
                if mask is not None:
                    scores = scores.masked_fill(~mask, float("-inf"))
                weights = self.softmax(scores)
                return weights @ v, weights
    '''),
]

POSITIONAL_ENCODING = [
    dedent('''
        def sinusoidal_positional_encoding(T, d_model):
            pe = torch.zeros(T, d_model)
            position = torch.arange(T, dtype=torch.float32).unsqueeze(1)
            div_term = torch.exp(torch.arange(0, d_model, 2).float()
                                 * (-math.log(10000.0) / d_model))
            pe[:, 0::2] = torch.sin(position * div_term)
            pe[:, 1::2] = torch.cos(position * div_term)[:, : d_model // 2]
            return pe
    '''),
    dedent('''
        def sinusoidal_positional_encoding(T, d_model):
            """Two loops, the formula written out entry by entry."""
            pe = torch.zeros(T, d_model, dtype=torch.float32)
            for pos in range(T):
                for i in range(0, d_model, 2):
                    angle = pos / 10000 ** (i / d_model)
                    pe[pos, i] = math.sin(angle)
                    if i + 1 < d_model:  # an odd d_model has no last cos column
                        pe[pos, i + 1] = math.cos(angle)
            return pe
    '''),
    dedent('''
        import numpy as np


        def sinusoidal_positional_encoding(T, d_model):
            pos = np.arange(T)[:, None]  # (T, 1)
            two_i = np.arange(0, d_model, 2)[None, :]  # (1, ceil(d/2))
            angles = pos / np.power(10000.0, two_i / d_model)
            pe = np.zeros((T, d_model))
            pe[:, 0::2] = np.sin(angles)
            pe[:, 1::2] = np.cos(angles[:, : d_model // 2])
            return torch.tensor(pe, dtype=torch.float32)
    '''),
    dedent('''
        def sinusoidal_positional_encoding(T, d_model):
            # float64 all the way, float32 at the end
            t = torch.arange(T, dtype=torch.float64)[:, None]
            i = torch.arange(0, d_model, 2, dtype=torch.float64)
            angle = t / 10000.0 ** (i / d_model)
            pe = torch.empty(T, d_model, dtype=torch.float64)
            pe[:, 0::2] = angle.sin()
            pe[:, 1::2] = angle.cos()[:, : d_model // 2]
            return pe.float()
    '''),
    dedent('''
        def sinusoidal_positional_encoding(T, d_model):
            positions = torch.arange(T, dtype=torch.float32)
            freqs = 1.0 / 10000 ** (torch.arange(0, d_model, 2, dtype=torch.float32) / d_model)
            angles = torch.outer(positions, freqs)  # (T, ceil(d_model / 2))
            # interleave: sin, cos, sin, cos, ... and drop the extra cos of an odd d_model
            pe = torch.stack([angles.sin(), angles.cos()], dim=-1).flatten(1)
            return pe[:, :d_model]
    '''),
    dedent('''
        def sinusoidal_positional_encoding(T, d_model):
            pe = torch.zeros(T, d_model)
            pos = torch.arange(T, dtype=torch.float32)
            for col in range(d_model):
                pair = col // 2  # columns 2i and 2i + 1 share the frequency
                angle = pos / 10000 ** (2 * pair / d_model)
                pe[:, col] = torch.sin(angle) if col % 2 == 0 else torch.cos(angle)
            return pe
    '''),
    dedent('''
        def sinusoidal_positional_encoding(T, d_model):
            t = torch.arange(T, dtype=torch.float64)
            inv_freq = torch.pow(10000.0, -torch.arange(0, d_model, 2, dtype=torch.float64)
                                 / d_model)
            angles = torch.einsum("t,f->tf", t, inv_freq)
            pe = torch.zeros(T, d_model, dtype=torch.float64)
            pe[:, ::2] = torch.sin(angles)
            pe[:, 1::2] = torch.cos(angles[:, : d_model // 2])
            return pe.to(torch.float32)
    '''),
    dedent('''
        def _angles(T, d_model):
            """angle[t, i] = t / 10000^(2i / d_model), one column per sin/cos pair."""
            two_i = torch.arange(0, d_model, 2, dtype=torch.float64)
            return torch.arange(T, dtype=torch.float64)[:, None] / 10000 ** (two_i / d_model)


        def sinusoidal_positional_encoding(T, d_model):
            a = _angles(T, d_model)
            pe = torch.zeros(T, d_model, dtype=torch.float64)
            pe[:, 0::2] = a.sin()
            n_cos = d_model // 2
            pe[:, 1::2] = a[:, :n_cos].cos()
            return pe.float()
    '''),
    dedent('''
        def sinusoidal_positional_encoding(T, d_model):
            col = torch.arange(d_model)
            exponent = (2 * (col // 2)).double() / d_model  # 2i for both columns of a pair
            angles = torch.arange(T).double()[:, None] / 10000 ** exponent  # (T, d_model)
            pe = torch.where(col % 2 == 0, torch.sin(angles), torch.cos(angles))
            return pe.float()
    '''),
    dedent('''
        def sinusoidal_positional_encoding(T, d_model):
            rows = []
            for pos in range(T):
                row = []
                for j in range(d_model):
                    angle = pos / math.pow(10000, 2 * (j // 2) / d_model)
                    row.append(math.sin(angle) if j % 2 == 0 else math.cos(angle))
                rows.append(row)
            return torch.tensor(rows, dtype=torch.float32)
    '''),
    dedent('''
        def sinusoidal_positional_encoding(T: int, d_model: int) -> torch.Tensor:
            assert T >= 1 and d_model >= 1
            n_sin = (d_model + 1) // 2  # columns 0, 2, 4, ...
            n_cos = d_model // 2  # columns 1, 3, 5, ...
            pos = torch.arange(T, dtype=torch.float64).reshape(T, 1)
            angle = pos * torch.exp(-math.log(10000.0) * torch.arange(n_sin).double() * 2
                                    / d_model)
            pe = torch.zeros(T, d_model, dtype=torch.float32)
            pe[:, 0::2] = torch.sin(angle).float()
            pe[:, 1::2] = torch.cos(angle[:, :n_cos]).float()
            assert pe.shape == (T, d_model) and pe.dtype == torch.float32
            return pe


        print(sinusoidal_positional_encoding(3, 5))
    '''),
    dedent('''
        def sinusoidal_positional_encoding(T, d_model):
            # sin and cos side by side, then reorder the columns: sin_0, cos_0, sin_1, cos_1 ...
            half = (d_model + 1) // 2
            i = torch.arange(half, dtype=torch.float64)
            angle = torch.arange(T, dtype=torch.float64)[:, None] / 10000 ** (2 * i / d_model)
            sines, cosines = torch.sin(angle), torch.cos(angle)
            columns = []
            for c in range(d_model):
                columns.append(sines[:, c // 2] if c % 2 == 0 else cosines[:, c // 2])
            return torch.stack(columns, dim=1).to(torch.float32)
    '''),
]

SPLIT_HEADS = [
    dedent('''
        def split_heads(x, num_heads):
            batch, seq, d_model = x.shape
            head_dim = d_model // num_heads
            x = x.view(batch, seq, num_heads, head_dim)
            return x.transpose(1, 2)
    '''),
    dedent('''
        def split_heads(x, num_heads):
            B, T, D = x.shape
            return x.reshape(B, T, num_heads, -1).permute(0, 2, 1, 3)
    '''),
    dedent('''
        def split_heads(x, num_heads):
            # the last axis becomes (num_heads, head size); heads then go before time
            return x.unflatten(-1, (num_heads, -1)).transpose(1, 2)
    '''),
    dedent('''
        def split_heads(x, num_heads):
            chunks = x.chunk(num_heads, dim=-1)  # num_heads tensors (B, T, D // H)
            return torch.stack(chunks, dim=1)
    '''),
    dedent('''
        def split_heads(x, num_heads):
            """One head at a time: head h owns the features h*d:(h+1)*d."""
            d = x.shape[-1] // num_heads
            heads = [x[:, :, h * d:(h + 1) * d] for h in range(num_heads)]
            return torch.stack(heads, dim=1)
    '''),
    dedent('''
        def split_heads(x, num_heads):
            B, T, D = x.shape
            assert D % num_heads == 0, f"d_model={D} is not divisible by num_heads={num_heads}"
            d_head = D // num_heads
            out = x.reshape(B, T, num_heads, d_head).transpose(1, 2).contiguous()
            assert out.shape == (B, num_heads, T, d_head)
            return out
    '''),
    dedent('''
        def split_heads(x, num_heads):
            *lead, D = x.shape
            return x.view(*lead, num_heads, D // num_heads).permute(0, 2, 1, 3)
    '''),
    dedent('''
        def split_heads(x, num_heads):
            d = x.shape[-1] // num_heads
            return torch.stack(torch.split(x, d, dim=-1), dim=1)
    '''),
    dedent('''
        def split_heads(x, num_heads):
            B, T, D = x.shape
            # einsum with one operand only reorders the axes
            return torch.einsum("bthd->bhtd", x.reshape(B, T, num_heads, D // num_heads))
    '''),
    dedent('''
        def split_heads(x, num_heads):
            d = x.size(-1) // num_heads
            parts = [x[..., h * d:(h + 1) * d].unsqueeze(1) for h in range(num_heads)]
            return torch.cat(parts, dim=1)
    '''),
    dedent('''
        def split_heads(x: torch.Tensor, num_heads: int) -> torch.Tensor:
            B, T, D = x.shape
            return x.reshape(B, T, num_heads, D // num_heads).movedim(2, 1)


        print(split_heads(torch.arange(12.0).reshape(1, 2, 6), 3)[0])
    '''),
    dedent('''
        def split_heads(x, num_heads):
            B, T, D = x.shape
            d = D // num_heads
            out = x.new_zeros(B, num_heads, T, d)
            for h in range(num_heads):
                out[:, h] = x[:, :, h * d:(h + 1) * d]
            return out
    '''),
    dedent('''
        import typing


        def split_heads(x: torch.Tensor, num_heads: int) -> torch.Tensor:
            if (rest := x.shape[-1] % num_heads) != 0:
                raise ValueError(f"{num_heads} heads leave {rest} features over")
            shape: typing.Tuple[int, ...] = (*x.shape[:2], num_heads, -1)
            return x.reshape(shape).transpose(1, 2)
    '''),
]

MERGE_HEADS = [
    dedent('''
        def merge_heads(x):
            batch, heads, seq, head_dim = x.shape
            return x.transpose(1, 2).reshape(batch, seq, heads * head_dim)
    '''),
    dedent('''
        def merge_heads(x):
            B, H, T, d = x.shape
            return x.permute(0, 2, 1, 3).contiguous().view(B, T, H * d)
    '''),
    dedent('''
        def merge_heads(x):
            # heads side by side along the features: head 0's features first
            return torch.cat(x.unbind(dim=1), dim=-1)
    '''),
    dedent('''
        def merge_heads(x):
            pieces = [x[:, h] for h in range(x.shape[1])]  # each (B, T, d)
            return torch.cat(pieces, dim=-1)
    '''),
    dedent('''
        def merge_heads(x):
            return x.transpose(1, 2).flatten(start_dim=2)
    '''),
    dedent('''
        def merge_heads(x):
            B, H, T, d = x.shape
            return x.movedim(1, 2).reshape(B, T, -1)
    '''),
    dedent('''
        def merge_heads(x):
            B, H, T, d = x.shape
            return torch.einsum("bhtd->bthd", x).reshape(B, T, H * d)
    '''),
    dedent('''
        def merge_heads(x):
            """(B, H, T, d) -> (B, T, H * d), undoing split_heads."""
            assert x.dim() == 4, f"expected (B, H, T, d), got {tuple(x.shape)}"
            B, H, T, d = x.shape
            merged = x.permute(0, 2, 1, 3).reshape(B, T, H * d)
            assert merged.shape == (B, T, H * d)
            return merged
    '''),
    dedent('''
        def merge_heads(x):
            B, H, T, d = x.shape
            out = x.new_empty(B, T, H * d)
            for h in range(H):
                out[:, :, h * d:(h + 1) * d] = x[:, h]
            return out
    '''),
    dedent('''
        def merge_heads(x):
            B, H, T, d = x.shape
            return torch.stack(x.unbind(1), dim=2).reshape(B, T, H * d)
    '''),
    dedent('''
        def merge_heads(x: torch.Tensor) -> torch.Tensor:
            n_batch, n_heads, n_tokens, head_size = x.shape
            return x.swapaxes(1, 2).reshape(n_batch, n_tokens, n_heads * head_size)


        print(merge_heads(torch.zeros(2, 4, 3, 5)).shape)  # torch.Size([2, 3, 20])
    '''),
    dedent('''
        def merge_heads(x):
            # contiguous() first, so that view can be used afterwards
            x = x.transpose(1, 2).contiguous()
            return x.view(*x.shape[:2], -1)
    '''),
]

MULTI_HEAD_SELF_ATTENTION = [
    dedent('''
        class MultiHeadSelfAttention(nn.Module):
            def __init__(self, d_model, num_heads, bias=True):
                super().__init__()
                assert d_model % num_heads == 0
                self.h = num_heads
                self.q_proj = nn.Linear(d_model, d_model, bias=bias)
                self.k_proj = nn.Linear(d_model, d_model, bias=bias)
                self.v_proj = nn.Linear(d_model, d_model, bias=bias)
                self.out_proj = nn.Linear(d_model, d_model, bias=bias)

            def forward(self, x, mask=None, return_weights=False):
                q = split_heads(self.q_proj(x), self.h)
                k = split_heads(self.k_proj(x), self.h)
                v = split_heads(self.v_proj(x), self.h)
                scores = torch.matmul(q, k.transpose(-2, -1)) / math.sqrt(q.size(-1))
                if mask is not None:
                    scores = scores.masked_fill(~mask, float("-inf"))
                attn = torch.softmax(scores, dim=-1)
                out = self.out_proj(merge_heads(torch.matmul(attn, v)))
                if return_weights:
                    return out, attn
                return out
    '''),
    dedent('''
        class MultiHeadSelfAttention(nn.Module):
            """Everything inline: view/transpose instead of helper functions."""

            def __init__(self, d_model, num_heads, bias=True):
                super().__init__()
                self.num_heads = num_heads
                self.head_dim = d_model // num_heads
                self.q_proj = nn.Linear(d_model, d_model, bias=bias)
                self.k_proj = nn.Linear(d_model, d_model, bias=bias)
                self.v_proj = nn.Linear(d_model, d_model, bias=bias)
                self.out_proj = nn.Linear(d_model, d_model, bias=bias)

            def forward(self, x, mask=None, return_weights=False):
                B, T, D = x.shape
                H, d = self.num_heads, self.head_dim
                q = self.q_proj(x).view(B, T, H, d).transpose(1, 2)
                k = self.k_proj(x).view(B, T, H, d).transpose(1, 2)
                v = self.v_proj(x).view(B, T, H, d).transpose(1, 2)
                scores = q @ k.transpose(-2, -1) / math.sqrt(d)
                if mask is not None:
                    scores = scores.masked_fill(~mask, float("-inf"))
                weights = torch.softmax(scores, dim=-1)
                context = (weights @ v).transpose(1, 2).reshape(B, T, D)
                out = self.out_proj(context)
                return (out, weights) if return_weights else out
    '''),
    dedent('''
        from torch.nn import functional as F


        class MultiHeadSelfAttention(nn.Module):
            def __init__(self, d_model, num_heads, bias=True):
                super().__init__()
                self.num_heads = num_heads
                self.q_proj = nn.Linear(d_model, d_model, bias=bias)
                self.k_proj = nn.Linear(d_model, d_model, bias=bias)
                self.v_proj = nn.Linear(d_model, d_model, bias=bias)
                self.out_proj = nn.Linear(d_model, d_model, bias=bias)

            def forward(self, x, mask=None, return_weights=False):
                H = self.num_heads
                q, k, v = (split_heads(p(x), H) for p in (self.q_proj, self.k_proj, self.v_proj))
                scores = torch.einsum("bhqd,bhkd->bhqk", q, k) / math.sqrt(q.shape[-1])
                if mask is not None:
                    scores = torch.where(mask, scores, torch.finfo(scores.dtype).min)
                weights = F.softmax(scores, dim=-1)
                out = self.out_proj(merge_heads(torch.einsum("bhqk,bhkd->bhqd", weights, v)))
                return (out, weights) if return_weights else out
    '''),
    dedent('''
        import torch.nn.functional as F


        class MultiHeadSelfAttention(nn.Module):
            def __init__(self, d_model, num_heads, bias=True):
                super().__init__()
                self.d_model, self.num_heads = d_model, num_heads
                self.q_proj = nn.Linear(d_model, d_model, bias=bias)
                self.k_proj = nn.Linear(d_model, d_model, bias=bias)
                self.v_proj = nn.Linear(d_model, d_model, bias=bias)
                self.out_proj = nn.Linear(d_model, d_model, bias=bias)

            def forward(self, x, mask=None, return_weights=False):
                # a packed projection: one matrix product for q, k and v together
                w = torch.cat([self.q_proj.weight, self.k_proj.weight, self.v_proj.weight], 0)
                b = None
                if self.q_proj.bias is not None:
                    b = torch.cat([self.q_proj.bias, self.k_proj.bias, self.v_proj.bias])
                q, k, v = F.linear(x, w, b).chunk(3, dim=-1)
                B, T, _ = x.shape
                H = self.num_heads
                d = self.d_model // H
                q, k, v = (t.reshape(B, T, H, d).permute(0, 2, 1, 3) for t in (q, k, v))
                scores = q @ k.transpose(-1, -2) * d ** -0.5
                if mask is not None:
                    scores = scores.masked_fill(~mask, -math.inf)
                weights = scores.softmax(dim=-1)
                y = (weights @ v).permute(0, 2, 1, 3).reshape(B, T, self.d_model)
                y = self.out_proj(y)
                return (y, weights) if return_weights else y
    '''),
    dedent('''
        class MultiHeadSelfAttention(nn.Module):
            def __init__(self, d_model, num_heads, bias=True):
                super().__init__()
                self.num_heads = num_heads
                self.q_proj = nn.Linear(d_model, d_model, bias=bias)
                self.k_proj = nn.Linear(d_model, d_model, bias=bias)
                self.v_proj = nn.Linear(d_model, d_model, bias=bias)
                self.out_proj = nn.Linear(d_model, d_model, bias=bias)

            def forward(self, x, mask=None, return_weights=False):
                q = split_heads(self.q_proj(x), self.num_heads)
                k = split_heads(self.k_proj(x), self.num_heads)
                v = split_heads(self.v_proj(x), self.num_heads)
                # scores and softmax in float64, then back to the input's dtype
                scores = q.double() @ k.double().transpose(-2, -1) / math.sqrt(q.shape[-1])
                if mask is not None:
                    scores = scores.masked_fill(~mask, float("-inf"))
                weights = torch.softmax(scores, dim=-1).to(x.dtype)
                out = self.out_proj(merge_heads(weights @ v))
                if return_weights:
                    return out, weights
                return out
    '''),
    dedent('''
        class MultiHeadSelfAttention(nn.Module):
            def __init__(self, d_model, num_heads, bias=True):
                super().__init__()
                self.num_heads = num_heads
                self.q_proj = nn.Linear(d_model, d_model, bias=bias)
                self.k_proj = nn.Linear(d_model, d_model, bias=bias)
                self.v_proj = nn.Linear(d_model, d_model, bias=bias)
                self.out_proj = nn.Linear(d_model, d_model, bias=bias)

            def forward(self, x, mask=None, return_weights=False):
                """A loop over the heads, each with its slice of the features."""
                B, T, D = x.shape
                H = self.num_heads
                d = D // H
                q, k, v = self.q_proj(x), self.k_proj(x), self.v_proj(x)
                full_mask = None
                if mask is not None:
                    full_mask = torch.broadcast_to(mask, (B, H, T, T))
                outputs, weights = [], []
                for h in range(H):
                    cols = slice(h * d, (h + 1) * d)
                    s = q[..., cols] @ k[..., cols].transpose(1, 2) / math.sqrt(d)  # (B, T, T)
                    if full_mask is not None:
                        s = s.masked_fill(~full_mask[:, h], float("-inf"))
                    w = torch.softmax(s, dim=-1)
                    outputs.append(w @ v[..., cols])
                    weights.append(w)
                out = self.out_proj(torch.cat(outputs, dim=-1))
                if return_weights:
                    return out, torch.stack(weights, dim=1)
                return out
    '''),
    dedent('''
        class MultiHeadSelfAttention(nn.Module):
            def __init__(self, d_model, num_heads, bias=True):
                super().__init__()
                if d_model % num_heads:
                    raise ValueError("num_heads must divide d_model")
                self.num_heads = num_heads
                self.scale = 1.0 / math.sqrt(d_model // num_heads)
                self.q_proj = nn.Linear(d_model, d_model, bias=bias)
                self.k_proj = nn.Linear(d_model, d_model, bias=bias)
                self.v_proj = nn.Linear(d_model, d_model, bias=bias)
                self.out_proj = nn.Linear(d_model, d_model, bias=bias)

            def _softmax(self, s):
                s = s - s.amax(dim=-1, keepdim=True)
                e = s.exp()
                return e / e.sum(dim=-1, keepdim=True)

            def forward(self, x, mask=None, return_weights=False):
                q = split_heads(self.q_proj(x), self.num_heads)
                k = split_heads(self.k_proj(x), self.num_heads)
                v = split_heads(self.v_proj(x), self.num_heads)
                scores = (q @ k.transpose(-2, -1)) * self.scale
                if mask is not None:
                    scores = scores.masked_fill(~mask, float("-inf"))
                weights = self._softmax(scores)
                out = self.out_proj(merge_heads(weights @ v))
                return (out, weights) if return_weights else out
    '''),
    dedent('''
        from typing import Optional

        import torch
        from torch import nn


        class MultiHeadSelfAttention(nn.Module):
            def __init__(self, d_model: int, num_heads: int, bias: bool = True) -> None:
                super().__init__()
                assert d_model % num_heads == 0, "d_model must be a multiple of num_heads"
                self.num_heads = num_heads
                self.d_head = d_model // num_heads
                self.q_proj = nn.Linear(d_model, d_model, bias=bias)
                self.k_proj = nn.Linear(d_model, d_model, bias=bias)
                self.v_proj = nn.Linear(d_model, d_model, bias=bias)
                self.out_proj = nn.Linear(d_model, d_model, bias=bias)

            def forward(self, x: torch.Tensor, mask: Optional[torch.Tensor] = None,
                        return_weights: bool = False):
                B, T, D = x.shape
                q = split_heads(self.q_proj(x), self.num_heads)  # (B, H, T, d)
                k = split_heads(self.k_proj(x), self.num_heads)
                v = split_heads(self.v_proj(x), self.num_heads)
                assert q.shape == (B, self.num_heads, T, self.d_head)
                scores = q @ k.transpose(-2, -1) / math.sqrt(self.d_head)  # (B, H, T, T)
                if mask is not None:
                    scores = scores.masked_fill(mask.logical_not(), float("-inf"))
                weights = torch.softmax(scores, dim=-1)
                out = self.out_proj(merge_heads(weights @ v))
                assert out.shape == (B, T, D)
                return (out, weights) if return_weights else out
    '''),
    dedent('''
        def attention(q, k, v, mask=None):
            scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
            if mask is not None:
                scores = scores.masked_fill(~mask, float("-inf"))
            weights = torch.softmax(scores, dim=-1)
            return weights @ v, weights


        class MultiHeadSelfAttention(nn.Module):
            def __init__(self, d_model, num_heads, bias=True):
                super().__init__()
                self.num_heads = num_heads
                self.q_proj = nn.Linear(d_model, d_model, bias=bias)
                self.k_proj = nn.Linear(d_model, d_model, bias=bias)
                self.v_proj = nn.Linear(d_model, d_model, bias=bias)
                self.out_proj = nn.Linear(d_model, d_model, bias=bias)

            def forward(self, x, mask=None, return_weights=False):
                heads = [split_heads(p(x), self.num_heads)
                         for p in (self.q_proj, self.k_proj, self.v_proj)]
                context, weights = attention(*heads, mask=mask)
                out = self.out_proj(merge_heads(context))
                return (out, weights) if return_weights else out
    '''),
    dedent('''
        class MultiHeadSelfAttention(nn.Module):
            def __init__(self, d_model, num_heads, bias=True):
                super().__init__()
                self.n_heads = num_heads
                self.q_proj = nn.Linear(d_model, d_model, bias=bias)
                self.k_proj = nn.Linear(d_model, d_model, bias=bias)
                self.v_proj = nn.Linear(d_model, d_model, bias=bias)
                self.out_proj = nn.Linear(d_model, d_model, bias=bias)

            def _heads(self, t):
                B, T, D = t.shape
                return t.reshape(B, T, self.n_heads, D // self.n_heads).permute(0, 2, 1, 3)

            def forward(self, x, mask=None, return_weights=False):
                q, k, v = (self._heads(p(x)) for p in (self.q_proj, self.k_proj, self.v_proj))
                d_head = q.shape[-1]
                logits = torch.matmul(q, k.mT) / d_head ** 0.5
                if mask is not None:
                    logits = logits.masked_fill(mask == 0, -1e9)
                p = torch.softmax(logits, dim=-1)
                ctx = torch.matmul(p, v).permute(0, 2, 1, 3).flatten(2)
                result = self.out_proj(ctx)
                if return_weights:
                    return result, p
                return result
    '''),
    dedent('''
        class MultiHeadSelfAttention(nn.Module):
            def __init__(self, d_model, num_heads, bias=True):
                super().__init__()
                self.num_heads = num_heads
                self.q_proj = nn.Linear(d_model, d_model, bias=bias)
                self.k_proj = nn.Linear(d_model, d_model, bias=bias)
                self.v_proj = nn.Linear(d_model, d_model, bias=bias)
                self.out_proj = nn.Linear(d_model, d_model, bias=bias)

            def forward(self, x, mask=None, return_weights=False):
                H = self.num_heads
                # einsum straight from the (B, T, H, d) views, no transposes
                B, T, D = x.shape
                q = self.q_proj(x).view(B, T, H, D // H)
                k = self.k_proj(x).view(B, T, H, D // H)
                v = self.v_proj(x).view(B, T, H, D // H)
                scores = torch.einsum("bqhd,bkhd->bhqk", q, k) / math.sqrt(D // H)
                if mask is not None:
                    scores = scores + torch.zeros_like(scores).masked_fill(~mask, -math.inf)
                weights = torch.softmax(scores, dim=-1)
                context = torch.einsum("bhqk,bkhd->bqhd", weights, v).reshape(B, T, D)
                out = self.out_proj(context)
                return (out, weights) if return_weights else out
    '''),
    dedent('''
        class MultiHeadSelfAttention(nn.Module):
            def __init__(self, d_model, num_heads, bias=True):
                super().__init__()
                self.num_heads = num_heads
                self.q_proj = nn.Linear(d_model, d_model, bias=bias)
                self.k_proj = nn.Linear(d_model, d_model, bias=bias)
                self.v_proj = nn.Linear(d_model, d_model, bias=bias)
                self.out_proj = nn.Linear(d_model, d_model, bias=bias)
                print(f"{num_heads} heads of size {d_model // num_heads}")

            def forward(self, x, mask=None, return_weights=False):
                q = split_heads(self.q_proj(x), self.num_heads)
                k = split_heads(self.k_proj(x), self.num_heads)
                v = split_heads(self.v_proj(x), self.num_heads)
                scores = q @ k.transpose(-2, -1) / math.sqrt(k.shape[-1])
                if mask is not None:
                    lowest = torch.finfo(scores.dtype).min
                    scores = scores.masked_fill(~mask, lowest)
                weights = torch.softmax(scores, dim=-1)
                out = self.out_proj(merge_heads(weights @ v))
                return (out, weights) if return_weights else out
    '''),
]

CROSS_ATTENTION = [
    dedent('''
        def cross_attention(x, memory, w_q, w_k, w_v):
            q, k, v = x @ w_q, memory @ w_k, memory @ w_v
            scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
            weights = torch.softmax(scores, dim=-1)
            return weights @ v, weights
    '''),
    dedent('''
        def cross_attention(x, memory, w_q, w_k, w_v):
            q = torch.einsum("...td,dk->...tk", x, w_q)
            k = torch.einsum("...sd,dk->...sk", memory, w_k)
            v = torch.einsum("...sd,dv->...sv", memory, w_v)
            scores = torch.einsum("...tk,...sk->...ts", q, k) / q.shape[-1] ** 0.5
            weights = scores.softmax(dim=-1)
            return torch.einsum("...ts,...sv->...tv", weights, v), weights
    '''),
    dedent('''
        def scaled_dot_product_attention(q, k, v, mask=None):
            scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
            if mask is not None:
                scores = scores.masked_fill(~mask, float("-inf"))
            weights = torch.softmax(scores, dim=-1)
            return weights @ v, weights


        def cross_attention(x, memory, w_q, w_k, w_v):
            # the decoder asks, the encoder answers
            return scaled_dot_product_attention(x @ w_q, memory @ w_k, memory @ w_v)
    '''),
    dedent('''
        def cross_attention(x, memory, w_q, w_k, w_v):
            dtype = x.dtype
            x, memory = x.double(), memory.double()
            q, k, v = x @ w_q.double(), memory @ w_k.double(), memory @ w_v.double()
            weights = torch.softmax(q @ k.mT / math.sqrt(q.shape[-1]), dim=-1)
            return (weights @ v).to(dtype), weights.to(dtype)
    '''),
    dedent('''
        def cross_attention(x: torch.Tensor, memory: torch.Tensor, w_q: torch.Tensor,
                            w_k: torch.Tensor, w_v: torch.Tensor):
            """Queries from x, keys and values from memory."""
            d_k = w_q.shape[1]
            queries = torch.matmul(x, w_q)  # (B, T_q, d_k)
            keys = torch.matmul(memory, w_k)  # (B, T_k, d_k)
            values = torch.matmul(memory, w_v)  # (B, T_k, d_v)
            weights = F.softmax(torch.matmul(queries, keys.transpose(-1, -2)) / d_k ** 0.5, dim=-1)
            return torch.matmul(weights, values), weights
    '''),
    dedent('''
        def cross_attention(x, memory, w_q, w_k, w_v):
            q = x @ w_q
            q = q / math.sqrt(q.size(-1))  # scale the queries instead of the scores
            k = memory @ w_k
            v = memory @ w_v
            w = torch.softmax(q @ k.transpose(-2, -1), dim=-1)
            out = w @ v
            return out, w
    '''),
    dedent('''
        def cross_attention(x, memory, w_q, w_k, w_v):
            q, k, v = x @ w_q, memory @ w_k, memory @ w_v
            s = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
            e = torch.exp(s - s.amax(dim=-1, keepdim=True))
            weights = e / e.sum(dim=-1, keepdim=True)
            return weights @ v, weights
    '''),
    dedent('''
        import math as m


        def cross_attention(x, memory, w_q, w_k, w_v):
            assert x.shape[-1] == memory.shape[-1] == w_q.shape[0], "widths differ"
            Q = x.matmul(w_q)
            K = memory.matmul(w_k)
            V = memory.matmul(w_v)
            A = (Q.matmul(K.transpose(-2, -1)) / m.sqrt(K.shape[-1])).softmax(-1)
            return A.matmul(V), A
    '''),
    dedent('''
        def _project(seq, w):
            return seq @ w


        def cross_attention(x, memory, w_q, w_k, w_v):
            q = _project(x, w_q)
            k = _project(memory, w_k)
            v = _project(memory, w_v)
            scores = torch.matmul(q, k.mT) * (1.0 / math.sqrt(q.shape[-1]))
            weights = torch.nn.functional.softmax(scores, dim=-1)
            return weights @ v, weights
    '''),
    dedent('''
        def cross_attention(x, memory, w_q, w_k, w_v):
            """x (B, T_q, d), memory (B, T_k, d) -> out (B, T_q, d_v), weights (B, T_q, T_k)."""
            d_k = w_k.shape[-1]
            keys, values = memory @ w_k, memory @ w_v
            scores = (x @ w_q) @ keys.transpose(-2, -1)
            scores = scores / torch.tensor(d_k, dtype=scores.dtype).sqrt()
            weights = torch.softmax(scores, -1)
            print("weights", tuple(weights.shape))
            return weights @ values, weights
    '''),
]

OFFSET_PROFILE = [
    dedent('''
        def offset_profile(weights, max_offset):
            cols = []
            for k in range(max_offset + 1):
                diag = torch.diagonal(weights, offset=-k, dim1=-2, dim2=-1)
                cols.append(diag[..., max_offset - k:].mean(dim=(0, 2)))
            near = torch.stack(cols, dim=-1)
            return torch.cat([near, 1 - near.sum(-1, keepdim=True)], dim=-1)
    '''),
    dedent('''
        def offset_profile(weights, max_offset):
            B, H, T, _ = weights.shape
            t = torch.arange(max_offset, T)                      # queries with every offset
            cols = [weights[:, :, t, t - k].mean(dim=(0, 2)) for k in range(max_offset + 1)]
            near = torch.stack(cols, dim=1)
            rest = weights[:, :, t].sum(-1).mean(dim=(0, 2)) - near.sum(1)
            return torch.cat([near, rest[:, None]], dim=1)
    '''),
    dedent('''
        def offset_profile(weights, max_offset):
            B, H, T, _ = weights.shape
            out = torch.zeros(H, max_offset + 2, dtype=weights.dtype, device=weights.device)
            count = B * (T - max_offset)
            for b in range(B):
                for t in range(max_offset, T):
                    for k in range(max_offset + 1):
                        out[:, k] += weights[b, :, t, t - k]
            out[:, : max_offset + 1] /= count
            out[:, -1] = 1 - out[:, : max_offset + 1].sum(-1)
            return out
    '''),
    dedent('''
        def offset_profile(weights, max_offset):
            T = weights.shape[-1]
            queries = torch.arange(T).view(-1, 1)
            offsets = torch.arange(max_offset + 1).view(1, -1)
            keys = (queries - offsets).clamp(min=0).to(weights.device)   # (T, K + 1)
            picked = torch.gather(weights, -1, keys.expand(*weights.shape[:2], -1, -1))
            near = picked[:, :, max_offset:].mean(dim=(0, 2))            # (H, K + 1)
            return torch.cat([near, (1 - near.sum(-1)).unsqueeze(-1)], dim=-1)
    '''),
    dedent('''
        def offset_profile(weights, max_offset):
            mean_map = weights.mean(dim=0)                         # (H, T, T) over the batch
            rows = []
            for k in range(max_offset + 1):
                rows.append(mean_map.diagonal(-k, dim1=1, dim2=2)[:, max_offset - k:].mean(-1))
            near = torch.stack(rows, -1)
            further = 1.0 - near.sum(dim=-1, keepdim=True)
            return torch.cat((near, further), -1)
    '''),
    dedent('''
        def offset_profile(weights, max_offset):
            # (B, H, T, T) -> (H, max_offset + 2): mean weight on t, t-1, ..., then the rest
            B, H, T, _ = weights.shape
            K = max_offset
            w = weights[:, :, K:, :]                               # queries t >= K
            t = torch.arange(K, T, device=weights.device)
            s = torch.arange(T, device=weights.device)
            offset = t.view(-1, 1) - s.view(1, -1)                 # (T - K, T): t - s
            cols = [(w * (offset == k)).sum(-1).mean(dim=(0, 2)) for k in range(K + 1)]
            rest = (w * ((offset > K) | (offset < 0))).sum(-1).mean(dim=(0, 2))
            return torch.stack(cols + [rest], dim=-1)
    '''),
    dedent('''
        def offset_profile(weights, max_offset):
            profile = []
            for k in range(0, max_offset + 1):
                d = weights.diagonal(offset=-k, dim1=2, dim2=3)
                d = d[:, :, max_offset - k:]
                profile.append(d.mean(dim=2).mean(dim=0))
            profile = torch.stack(profile, dim=1)
            return torch.cat([profile, 1 - profile.sum(dim=1, keepdim=True)], dim=1)
    '''),
    dedent('''
        def offset_profile(weights, max_offset):
            B, H, T, _ = weights.shape
            n = T - max_offset
            result = []
            for k in range(max_offset + 1):
                idx = torch.arange(max_offset, T)
                result.append(weights[..., idx, idx - k].sum(dim=(0, 2)) / (B * n))
            result = torch.stack(result, dim=-1)
            return torch.cat([result, (1 - result.sum(-1)).reshape(H, 1)], dim=-1)
    '''),
    dedent('''
        def offset_profile(weights, max_offset):
            per_head = weights.transpose(0, 1)                     # (H, B, T, T)
            H = per_head.shape[0]
            table = torch.empty(H, max_offset + 2, dtype=weights.dtype, device=weights.device)
            for k in range(max_offset + 1):
                d = torch.diagonal(per_head, offset=-k, dim1=-2, dim2=-1)[..., max_offset - k:]
                table[:, k] = d.reshape(H, -1).mean(-1)
            table[:, -1] = 1 - table[:, :-1].sum(-1)
            return table
    '''),
    dedent('''
        import numpy as np

        def offset_profile(weights, max_offset):
            w = weights.detach().cpu().numpy()
            B, H, T, _ = w.shape
            out = np.zeros((H, max_offset + 2))
            for k in range(max_offset + 1):
                d = np.diagonal(w, offset=-k, axis1=2, axis2=3)[..., max_offset - k:]
                out[:, k] = d.mean(axis=(0, 2))
            out[:, -1] = 1 - out[:, :-1].sum(axis=1)
            return torch.from_numpy(out).to(weights.dtype)
    '''),
    dedent('''
        def offset_profile(weights, max_offset):
            B, H, T, _ = weights.shape
            shares = torch.zeros(H, T, dtype=weights.dtype, device=weights.device)
            for t in range(max_offset, T):
                # the weight row of query t, re-indexed by offset: entry k is the key t - k
                shares[:, : t + 1] += weights[:, :, t, : t + 1].flip(-1).sum(0)
            shares /= B * (T - max_offset)
            near = shares[:, : max_offset + 1]
            return torch.cat([near, shares[:, max_offset + 1:].sum(-1, keepdim=True)], dim=-1)
    '''),
]

ONLINE_SOFTMAX = [
    dedent('''
        def online_softmax(x, block_size):
            m = torch.full(x.shape[:-1], float("-inf"), dtype=x.dtype, device=x.device)
            l = torch.zeros(x.shape[:-1], dtype=x.dtype, device=x.device)
            for j in range(0, x.shape[-1], block_size):
                block = x[..., j:j + block_size]
                m_new = torch.maximum(m, block.amax(dim=-1))
                safe = torch.where(torch.isinf(m_new), torch.zeros_like(m_new), m_new)
                l = l * torch.exp(m - safe) + torch.exp(block - safe[..., None]).sum(-1)
                m = m_new
            safe = torch.where(torch.isinf(m), torch.zeros_like(m), m)
            return torch.exp(x - safe[..., None]) / l[..., None]
    '''),
    dedent('''
        def online_softmax(x, block_size):
            n = x.shape[-1]
            running_max = torch.full_like(x[..., 0], -math.inf)
            running_sum = torch.zeros_like(x[..., 0])
            for start in range(0, n, block_size):
                chunk = x[..., start:start + block_size]
                new_max = torch.max(running_max, chunk.max(dim=-1).values)
                shift = torch.nan_to_num(new_max, neginf=0.0)
                running_sum = (running_sum * torch.exp(running_max - shift)
                               + torch.exp(chunk - shift.unsqueeze(-1)).sum(dim=-1))
                running_max = new_max
            shift = torch.nan_to_num(running_max, neginf=0.0)
            return torch.exp(x - shift.unsqueeze(-1)) / running_sum.unsqueeze(-1)
    '''),
    dedent('''
        def online_softmax(x, block_size):
            # one pass for the statistics, one pass to write
            m, l = None, None
            for block in x.split(block_size, dim=-1):
                bm = block.amax(-1)
                if m is None:
                    m_new = bm
                    base = torch.where(torch.isfinite(m_new), m_new, torch.zeros_like(m_new))
                    l = torch.exp(block - base[..., None]).sum(-1)
                else:
                    m_new = torch.maximum(m, bm)
                    base = torch.where(torch.isfinite(m_new), m_new, torch.zeros_like(m_new))
                    old = torch.where(torch.isfinite(m), m, torch.zeros_like(m))
                    l = l * torch.exp(old - base) + torch.exp(block - base[..., None]).sum(-1)
                m = m_new
            base = torch.where(torch.isfinite(m), m, torch.zeros_like(m))
            return torch.exp(x - base[..., None]) / l[..., None]
    '''),
    dedent('''
        def online_softmax(x, block_size):
            flat = x.reshape(-1, x.shape[-1])
            rows = []
            for row in flat:
                m, l = -math.inf, torch.zeros((), dtype=x.dtype, device=x.device)
                for j in range(0, row.shape[0], block_size):
                    b = row[j:j + block_size]
                    m_new = max(m, b.max().item())
                    if m_new == -math.inf:
                        continue
                    l = l * math.exp(m - m_new) + torch.exp(b - m_new).sum()
                    m = m_new
                rows.append(torch.exp(row - m) / l)
            return torch.stack(rows).reshape(x.shape)
    '''),
    dedent('''
        def online_softmax(x, block_size):
            """softmax over the last dim with a running max and a running sum"""
            stats_shape = x.shape[:-1]
            m = x.new_full(stats_shape, float("-inf"))
            s = x.new_zeros(stats_shape)
            for lo in range(0, x.size(-1), block_size):
                tile = x[..., lo:lo + block_size]
                m_tile = tile.amax(-1)
                m_new = torch.where(m_tile > m, m_tile, m)
                ref = m_new.masked_fill(m_new == float("-inf"), 0.0)
                s = s * (m - ref).exp() + (tile - ref[..., None]).exp().sum(-1)
                m = m_new
            ref = m.masked_fill(m == float("-inf"), 0.0)
            return (x - ref[..., None]).exp() / s[..., None]
    '''),
    dedent('''
        def online_softmax(x, block_size):
            N = x.shape[-1]
            m = torch.empty(x.shape[:-1], dtype=x.dtype, device=x.device).fill_(-float("inf"))
            d = torch.zeros_like(m)
            j = 0
            while j < N:
                xb = x[..., j:min(N, j + block_size)]
                mb = torch.amax(xb, dim=-1)
                m2 = torch.maximum(m, mb)
                c = torch.where(m2 == -float("inf"), torch.zeros_like(m2), m2)
                d = d * torch.exp(m - c) + torch.sum(torch.exp(xb - c.unsqueeze(-1)), dim=-1)
                m = m2
                j += block_size
            c = torch.where(m == -float("inf"), torch.zeros_like(m), m)
            return torch.exp(x - c.unsqueeze(-1)) / d.unsqueeze(-1)
    '''),
    dedent('''
        def _stats(block, m, l):
            m_new = torch.maximum(m, block.amax(-1))
            shift = torch.nan_to_num(m_new, neginf=0.0)
            l = l * torch.exp(m - shift) + torch.exp(block - shift[..., None]).sum(-1)
            return m_new, l

        def online_softmax(x, block_size):
            m = torch.full(x.shape[:-1], -math.inf, dtype=x.dtype, device=x.device)
            l = torch.zeros_like(m)
            for block in torch.split(x, block_size, dim=-1):
                m, l = _stats(block, m, l)
            shift = torch.nan_to_num(m, neginf=0.0)
            return torch.exp(x - shift[..., None]) / l[..., None]
    '''),
    dedent('''
        def online_softmax(x, block_size):
            m = torch.full(x.shape[:-1], -math.inf, dtype=torch.float64, device=x.device)
            l = torch.zeros_like(m)
            x64 = x.to(torch.float64)
            for j in range(0, x.shape[-1], block_size):
                blk = x64[..., j:j + block_size]
                m_new = torch.maximum(m, blk.amax(-1))
                shift = torch.where(torch.isneginf(m_new), 0.0, m_new)
                l = l * torch.exp(m - shift) + torch.exp(blk - shift[..., None]).sum(-1)
                m = m_new
            shift = torch.where(torch.isneginf(m), 0.0, m)
            return (torch.exp(x64 - shift[..., None]) / l[..., None]).to(x.dtype)
    '''),
    dedent('''
        import numpy as np

        def online_softmax(x, block_size):
            a = x.detach().cpu().numpy()
            m = np.full(a.shape[:-1], -np.inf)
            l = np.zeros(a.shape[:-1])
            for j in range(0, a.shape[-1], block_size):
                b = a[..., j:j + block_size]
                m_new = np.maximum(m, b.max(axis=-1))
                shift = np.where(np.isneginf(m_new), 0.0, m_new)
                with np.errstate(invalid="ignore"):
                    l = l * np.exp(m - shift) + np.exp(b - shift[..., None]).sum(-1)
                m = m_new
            shift = np.where(np.isneginf(m), 0.0, m)
            out = np.exp(a - shift[..., None]) / l[..., None]
            return torch.from_numpy(out).to(dtype=x.dtype, device=x.device)
    '''),
    dedent('''
        def online_softmax(x, block_size):
            maxes, sums = [], []
            m = torch.full(x.shape[:-1], -math.inf, dtype=x.dtype, device=x.device)
            l = torch.zeros_like(m)
            for start in range(0, x.shape[-1], block_size):
                block = x[..., start:start + block_size]
                m_next = torch.maximum(m, block.amax(-1))
                finite = torch.isfinite(m_next)
                centre = torch.where(finite, m_next, torch.zeros_like(m_next))
                l = l * torch.exp(m - centre) + torch.exp(block - centre[..., None]).sum(-1)
                m = m_next
                maxes.append(m)
                sums.append(l)
            centre = torch.where(torch.isfinite(maxes[-1]), maxes[-1], torch.zeros_like(m))
            return torch.exp(x - centre[..., None]) / sums[-1][..., None]
    '''),
]

FLASH_ATTENTION = [
    dedent('''
        def flash_attention(q, k, v, causal, block_size):
            B, H, N, d = q.shape
            M = k.shape[2]
            out = torch.empty_like(q)
            lse = torch.empty(B, H, N, dtype=q.dtype, device=q.device)
            for i in range(0, N, block_size):
                qi = q[:, :, i:i + block_size] / math.sqrt(d)
                rows = qi.shape[2]
                m = torch.full((B, H, rows), -math.inf, dtype=q.dtype, device=q.device)
                l = torch.zeros(B, H, rows, dtype=q.dtype, device=q.device)
                acc = torch.zeros(B, H, rows, v.shape[-1], dtype=q.dtype, device=q.device)
                end = min(M, i + rows) if causal else M
                for j in range(0, end, block_size):
                    s = qi @ k[:, :, j:j + block_size].transpose(-2, -1)
                    if causal:
                        qpos = torch.arange(i, i + rows, device=q.device)[:, None]
                        kpos = torch.arange(j, j + s.shape[-1], device=q.device)[None, :]
                        s = s.masked_fill(kpos > qpos, -math.inf)
                    m_new = torch.maximum(m, s.amax(-1))
                    p = torch.exp(s - m_new[..., None])
                    alpha = torch.exp(m - m_new)
                    l = alpha * l + p.sum(-1)
                    acc = alpha[..., None] * acc + p @ v[:, :, j:j + block_size]
                    m = m_new
                out[:, :, i:i + rows] = acc / l[..., None]
                lse[:, :, i:i + rows] = m + torch.log(l)
            return out, lse
    '''),
    dedent('''
        def flash_attention(q, k, v, causal, block_size):
            N, M, d = q.shape[-2], k.shape[-2], q.shape[-1]
            outs, lses = [], []
            for q_start in range(0, N, block_size):
                q_tile = q[..., q_start:q_start + block_size, :] * d ** -0.5
                n_rows = q_tile.shape[-2]
                row_max = torch.full(q_tile.shape[:-1], float("-inf"), dtype=q.dtype,
                                     device=q.device)
                row_sum = torch.zeros_like(row_max)
                acc = torch.zeros(*q_tile.shape[:-1], v.shape[-1], dtype=q.dtype, device=q.device)
                k_end = min(M, q_start + n_rows) if causal else M
                for k_start in range(0, k_end, block_size):
                    k_tile = k[..., k_start:k_start + block_size, :]
                    v_tile = v[..., k_start:k_start + block_size, :]
                    scores = torch.matmul(q_tile, k_tile.transpose(-1, -2))
                    if causal and k_start + k_tile.shape[-2] > q_start + 1:
                        qi = torch.arange(q_start, q_start + n_rows, device=q.device)
                        kj = torch.arange(k_start, k_start + k_tile.shape[-2], device=q.device)
                        scores = scores.masked_fill(kj[None, :] > qi[:, None], float("-inf"))
                    new_max = torch.maximum(row_max, scores.max(dim=-1).values)
                    weights = torch.exp(scores - new_max.unsqueeze(-1))
                    correction = torch.exp(row_max - new_max)
                    row_sum = row_sum * correction + weights.sum(dim=-1)
                    acc = acc * correction.unsqueeze(-1) + torch.matmul(weights, v_tile)
                    row_max = new_max
                outs.append(acc / row_sum.unsqueeze(-1))
                lses.append(row_max + torch.log(row_sum))
            return torch.cat(outs, dim=-2), torch.cat(lses, dim=-1)
    '''),
    dedent('''
        def _tile(qi, kj, vj, m, l, acc, mask=None):
            s = qi @ kj.mT
            if mask is not None:
                s = s.masked_fill(mask, float("-inf"))
            m_new = torch.maximum(m, s.amax(-1))
            scale = torch.exp(m - m_new)
            p = torch.exp(s - m_new.unsqueeze(-1))
            return m_new, scale * l + p.sum(-1), scale.unsqueeze(-1) * acc + p @ vj

        def flash_attention(q, k, v, causal, block_size):
            B, H, N, d = q.shape
            M = k.shape[2]
            out = torch.zeros_like(q)
            lse = torch.zeros(B, H, N, dtype=q.dtype, device=q.device)
            for i in range(0, N, block_size):
                qi = q[:, :, i:i + block_size] / d ** 0.5
                r = qi.shape[2]
                m = q.new_full((B, H, r), float("-inf"))
                l = q.new_zeros((B, H, r))
                acc = q.new_zeros((B, H, r, v.shape[-1]))
                for j in range(0, M, block_size):
                    if causal and j > i + r - 1:
                        break
                    kj, vj = k[:, :, j:j + block_size], v[:, :, j:j + block_size]
                    mask = None
                    if causal:
                        mask = (torch.arange(j, j + kj.shape[2], device=q.device)[None, :]
                                > torch.arange(i, i + r, device=q.device)[:, None])
                    m, l, acc = _tile(qi, kj, vj, m, l, acc, mask)
                out[:, :, i:i + r] = acc / l.unsqueeze(-1)
                lse[:, :, i:i + r] = m + l.log()
            return out, lse
    '''),
    dedent('''
        def flash_attention(q, k, v, causal, block_size):
            # q: (B, H, N, d); k, v: (B, H, M, d)
            B, H, N, d = q.shape
            M = k.size(2)
            scale = 1.0 / math.sqrt(d)
            out = q.new_empty(B, H, N, v.size(-1))
            lse = q.new_empty(B, H, N)
            q_blocks = torch.split(q, block_size, dim=2)
            k_blocks = torch.split(k, block_size, dim=2)
            v_blocks = torch.split(v, block_size, dim=2)
            row = 0
            for qb in q_blocks:
                rows = qb.size(2)
                m = torch.full((B, H, rows), -math.inf, dtype=q.dtype, device=q.device)
                l = torch.zeros_like(m)
                acc = torch.zeros(B, H, rows, v.size(-1), dtype=q.dtype, device=q.device)
                col = 0
                for kb, vb in zip(k_blocks, v_blocks):
                    if causal and col > row + rows - 1:
                        break
                    s = torch.einsum("bhqd,bhkd->bhqk", qb, kb) * scale
                    if causal:
                        qi = torch.arange(row, row + rows, device=q.device).view(-1, 1)
                        kj = torch.arange(col, col + kb.size(2), device=q.device).view(1, -1)
                        s = torch.where(kj <= qi, s, torch.full_like(s, -math.inf))
                    m_new = torch.maximum(m, s.max(-1).values)
                    p = (s - m_new[..., None]).exp()
                    a = (m - m_new).exp()
                    l = a * l + p.sum(-1)
                    acc = a[..., None] * acc + torch.einsum("bhqk,bhkd->bhqd", p, vb)
                    m = m_new
                    col += kb.size(2)
                out[:, :, row:row + rows] = acc / l[..., None]
                lse[:, :, row:row + rows] = m + l.log()
                row += rows
            return out, lse
    '''),
    dedent('''
        def flash_attention(q, k, v, causal, block_size):
            B, H, N, d = q.shape
            M = k.shape[-2]
            out_tiles, lse_tiles = [], []
            for i0 in range(0, N, block_size):
                i1 = min(N, i0 + block_size)
                qi = q[:, :, i0:i1] / math.sqrt(d)
                m = torch.full((B, H, i1 - i0, 1), -math.inf, dtype=q.dtype, device=q.device)
                l = torch.zeros_like(m)
                o = torch.zeros(B, H, i1 - i0, v.shape[-1], dtype=q.dtype, device=q.device)
                stop = min(M, i1) if causal else M
                for j0 in range(0, stop, block_size):
                    j1 = min(M, j0 + block_size)
                    s = qi @ k[:, :, j0:j1].transpose(2, 3)
                    if causal and j1 - 1 > i0:
                        keep = torch.ones(i1 - i0, j1 - j0, dtype=torch.bool,
                                          device=q.device).tril(diagonal=i0 - j0)
                        s = s.masked_fill(~keep, -math.inf)
                    m_new = torch.maximum(m, s.amax(dim=-1, keepdim=True))
                    p = torch.exp(s - m_new)
                    c = torch.exp(m - m_new)
                    l = c * l + p.sum(dim=-1, keepdim=True)
                    o = c * o + p @ v[:, :, j0:j1]
                    m = m_new
                out_tiles.append(o / l)
                lse_tiles.append((m + torch.log(l)).squeeze(-1))
            return torch.cat(out_tiles, dim=2), torch.cat(lse_tiles, dim=2)
    '''),
    dedent('''
        def flash_attention(q, k, v, causal, block_size):
            """Tiled attention with an online softmax; returns (out, logsumexp)."""
            B, H, N, d = q.shape
            M = k.shape[2]
            out = torch.empty(B, H, N, v.shape[-1], dtype=q.dtype, device=q.device)
            lse = torch.empty(B, H, N, dtype=q.dtype, device=q.device)
            ks = k / math.sqrt(d)  # scale the keys instead of the queries
            for i in range(0, N, block_size):
                qi = q[:, :, i:i + block_size]
                n = qi.shape[2]
                m = torch.full((B, H, n), -math.inf, dtype=q.dtype, device=q.device)
                l = torch.zeros((B, H, n), dtype=q.dtype, device=q.device)
                acc = torch.zeros((B, H, n, v.shape[-1]), dtype=q.dtype, device=q.device)
                for j in range(0, M, block_size):
                    if causal and j >= i + n:
                        continue
                    s = qi @ ks[:, :, j:j + block_size].transpose(-2, -1)
                    if causal:
                        t = torch.arange(i, i + n, device=q.device)
                        u = torch.arange(j, j + s.shape[-1], device=q.device)
                        s = s.masked_fill(u[None] > t[:, None], -math.inf)
                    m_new = torch.maximum(m, s.amax(-1))
                    alpha = torch.exp(m - m_new)
                    p = torch.exp(s - m_new[..., None])
                    l = alpha * l + p.sum(-1)
                    acc = acc * alpha[..., None] + p @ v[:, :, j:j + block_size]
                    m = m_new
                out[:, :, i:i + n] = acc / l[..., None]
                lse[:, :, i:i + n] = m + torch.log(l)
            return out, lse
    '''),
    dedent('''
        def flash_attention(q, k, v, causal, block_size):
            B, H, N, d = q.shape
            M = k.shape[2]
            qf = q.reshape(B * H, N, d) / math.sqrt(d)
            kf = k.reshape(B * H, M, d)
            vf = v.reshape(B * H, M, v.shape[-1])
            out = torch.empty(B * H, N, v.shape[-1], dtype=q.dtype, device=q.device)
            lse = torch.empty(B * H, N, dtype=q.dtype, device=q.device)
            for i in range(0, N, block_size):
                qi = qf[:, i:i + block_size]
                r = qi.shape[1]
                m = torch.full((B * H, r), -math.inf, dtype=q.dtype, device=q.device)
                l = torch.zeros_like(m)
                acc = torch.zeros(B * H, r, v.shape[-1], dtype=q.dtype, device=q.device)
                for j in range(0, min(M, i + r) if causal else M, block_size):
                    s = torch.bmm(qi, kf[:, j:j + block_size].transpose(1, 2))
                    if causal:
                        bad = (torch.arange(j, j + s.shape[2], device=q.device)[None, :]
                               > torch.arange(i, i + r, device=q.device)[:, None])
                        s = s.masked_fill(bad, -math.inf)
                    m2 = torch.maximum(m, s.amax(2))
                    p = torch.exp(s - m2[:, :, None])
                    f = torch.exp(m - m2)
                    l = f * l + p.sum(2)
                    acc = f[:, :, None] * acc + torch.bmm(p, vf[:, j:j + block_size])
                    m = m2
                out[:, i:i + r] = acc / l[:, :, None]
                lse[:, i:i + r] = m + torch.log(l)
            return out.reshape(B, H, N, -1), lse.reshape(B, H, N)
    '''),
    dedent('''
        def flash_attention(q, k, v, causal, block_size):
            B, H, N, d = q.shape
            M = k.shape[2]
            o = torch.zeros(B, H, N, v.shape[-1], dtype=q.dtype, device=q.device)
            m = torch.full((B, H, N), -math.inf, dtype=q.dtype, device=q.device)
            l = torch.zeros(B, H, N, dtype=q.dtype, device=q.device)
            # key tiles outside, query tiles inside: the same statistics, another loop order
            for j in range(0, M, block_size):
                kj, vj = k[:, :, j:j + block_size], v[:, :, j:j + block_size]
                for i in range(0, N, block_size):
                    r = min(block_size, N - i)
                    if causal and j > i + r - 1:
                        continue
                    s = (q[:, :, i:i + r] @ kj.transpose(-2, -1)) / math.sqrt(d)
                    if causal:
                        s = s.masked_fill(torch.arange(j, j + kj.shape[2], device=q.device)
                                          > torch.arange(i, i + r, device=q.device)[:, None],
                                          -math.inf)
                    mi = m[:, :, i:i + r]
                    m_new = torch.maximum(mi, s.amax(-1))
                    p = torch.exp(s - m_new[..., None])
                    a = torch.exp(mi - m_new)
                    l[:, :, i:i + r] = a * l[:, :, i:i + r] + p.sum(-1)
                    o[:, :, i:i + r] = a[..., None] * o[:, :, i:i + r] + p @ vj
                    m[:, :, i:i + r] = m_new
            return o / l[..., None], m + torch.log(l)
    '''),
    dedent('''
        def flash_attention(q, k, v, causal, block_size):
            B, H, N, d = q.shape
            M = k.shape[2]
            results, lses = [], []
            for i in range(0, N, block_size):
                qi = q[:, :, i:i + block_size]
                r = qi.shape[2]
                m = torch.full((B, H, r), -math.inf, dtype=q.dtype, device=q.device)
                l = torch.zeros((B, H, r), dtype=q.dtype, device=q.device)
                acc = torch.zeros((B, H, r, v.shape[-1]), dtype=q.dtype, device=q.device)
                for j in range(0, M, block_size):
                    s = (qi @ k[:, :, j:j + block_size].transpose(-2, -1)) * (1 / math.sqrt(d))
                    if causal:
                        allowed = (torch.arange(i, i + r, device=q.device)[:, None]
                                   >= torch.arange(j, j + s.shape[-1], device=q.device)[None])
                        if not allowed.any():
                            break  # this tile and every later one lie after the queries
                        s = s.masked_fill(~allowed, -math.inf)
                    tile_max = s.amax(-1)
                    m_new = torch.where(tile_max > m, tile_max, m)
                    p = torch.exp(s - m_new[..., None])
                    a = torch.exp(m - m_new)
                    l = l * a + p.sum(-1)
                    acc = acc * a[..., None] + p @ v[:, :, j:j + block_size]
                    m = m_new
                results.append(acc / l[..., None])
                lses.append(m + l.log())
            return torch.cat(results, 2), torch.cat(lses, 2)
    '''),
    dedent('''
        def flash_attention(q, k, v, causal, block_size):
            B, H, N, d = q.shape
            M = k.shape[2]
            wide = torch.float64
            out = torch.empty(B, H, N, v.shape[-1], dtype=q.dtype, device=q.device)
            lse = torch.empty(B, H, N, dtype=q.dtype, device=q.device)
            for i in range(0, N, block_size):
                qi = q[:, :, i:i + block_size].to(wide) / math.sqrt(d)
                r = qi.shape[2]
                m = torch.full((B, H, r), -math.inf, dtype=wide, device=q.device)
                l = torch.zeros((B, H, r), dtype=wide, device=q.device)
                acc = torch.zeros((B, H, r, v.shape[-1]), dtype=wide, device=q.device)
                for j in range(0, (min(M, i + r) if causal else M), block_size):
                    s = qi @ k[:, :, j:j + block_size].to(wide).transpose(-2, -1)
                    if causal:
                        s = s.masked_fill(
                            torch.arange(j, j + s.shape[-1], device=q.device)[None, :]
                            > torch.arange(i, i + r, device=q.device)[:, None], -math.inf)
                    m_new = torch.maximum(m, s.amax(-1))
                    p = torch.exp(s - m_new[..., None])
                    a = torch.exp(m - m_new)
                    l = a * l + p.sum(-1)
                    acc = a[..., None] * acc + p @ v[:, :, j:j + block_size].to(wide)
                    m = m_new
                out[:, :, i:i + r] = (acc / l[..., None]).to(q.dtype)
                lse[:, :, i:i + r] = (m + torch.log(l)).to(q.dtype)
            return out, lse
    '''),
]

BATCHED_HEADS = [
    dedent('''
        def batched_heads(x, w_q, w_k, w_v):
            xh = x.unsqueeze(1)                               # (B, 1, T, D)
            q, k, v = xh @ w_q, xh @ w_k, xh @ w_v            # (B, H, T, d)
            scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
            return torch.softmax(scores, dim=-1) @ v
    '''),
    dedent('''
        def batched_heads(x, w_q, w_k, w_v):
            q = torch.einsum("btD,hDd->bhtd", x, w_q)
            k = torch.einsum("btD,hDd->bhtd", x, w_k)
            v = torch.einsum("btD,hDd->bhtd", x, w_v)
            s = torch.einsum("bhqd,bhkd->bhqk", q, k) / math.sqrt(w_q.shape[-1])
            return torch.einsum("bhqk,bhkd->bhqd", s.softmax(-1), v)
    '''),
    dedent('''
        def batched_heads(x, w_q, w_k, w_v):
            B, T, D = x.shape
            H, _, d = w_q.shape
            def project(w):
                # all heads side by side: (D, H * d), then split the features back into heads
                flat = x @ w.permute(1, 0, 2).reshape(D, H * d)   # (B, T, H * d)
                return flat.view(B, T, H, d).transpose(1, 2)       # (B, H, T, d)
            q, k, v = project(w_q), project(w_k), project(w_v)
            w = F.softmax(q @ k.transpose(2, 3) / math.sqrt(d), dim=-1)
            return w @ v
    '''),
    dedent('''
        def batched_heads(x, w_q, w_k, w_v):
            d = w_q.shape[-1]
            q = torch.matmul(x[:, None], w_q)
            k = torch.matmul(x[:, None], w_k)
            v = torch.matmul(x[:, None], w_v)
            weights = torch.softmax(torch.matmul(q, k.mT) * d ** -0.5, dim=-1)
            return torch.matmul(weights, v)
    '''),
    dedent('''
        def batched_heads(x, w_q, w_k, w_v):
            """every head at once: (B, T, D), (H, D, d) x 3 -> (B, H, T, d)"""
            w = torch.stack([w_q, w_k, w_v])                     # (3, H, D, d)
            qkv = x[None, :, None] @ w[:, None]                  # (3, B, H, T, d)
            q, k, v = qkv.unbind(0)
            scores = (q @ k.transpose(-1, -2)) / math.sqrt(q.size(-1))
            scores = scores - scores.amax(-1, keepdim=True)
            p = scores.exp()
            return (p / p.sum(-1, keepdim=True)) @ v
    '''),
    dedent('''
        def batched_heads(x, w_q, w_k, w_v):
            B, T, D = x.shape
            H, _, d = w_q.shape
            xs = x.unsqueeze(1).expand(B, H, T, D).reshape(B * H, T, D)
            def proj(w):
                return torch.bmm(xs, w.unsqueeze(0).expand(B, H, D, d).reshape(B * H, D, d))
            q, k, v = proj(w_q), proj(w_k), proj(w_v)
            a = torch.softmax(torch.bmm(q, k.transpose(1, 2)) / math.sqrt(d), dim=-1)
            return torch.bmm(a, v).view(B, H, T, d)
    '''),
    dedent('''
        def batched_heads(x, w_q, w_k, w_v):
            head_size = w_q.size(2)
            x4 = x.unsqueeze(dim=1)
            queries = x4.matmul(w_q)
            keys = x4.matmul(w_k)
            values = x4.matmul(w_v)
            logits = queries.matmul(keys.transpose(-2, -1)).div(math.sqrt(head_size))
            return logits.softmax(dim=-1).matmul(values)
    '''),
    dedent('''
        def batched_heads(x, w_q, w_k, w_v):
            # (B, T, D) x (H, D, d): tensordot over D gives (B, T, H, d)
            q = torch.tensordot(x, w_q, dims=([2], [1])).permute(0, 2, 1, 3)
            k = torch.tensordot(x, w_k, dims=([2], [1])).permute(0, 2, 1, 3)
            v = torch.tensordot(x, w_v, dims=([2], [1])).permute(0, 2, 1, 3)
            att = (q @ k.transpose(-2, -1)) / math.sqrt(q.shape[-1])
            return torch.softmax(att, dim=-1) @ v
    '''),
    dedent('''
        def batched_heads(x, w_q, w_k, w_v):
            H, D, d = w_q.shape
            w_all = torch.cat([w_q, w_k, w_v], dim=-1)           # (H, D, 3d)
            qkv = x.unsqueeze(1) @ w_all                          # (B, H, T, 3d)
            q, k, v = qkv.split(d, dim=-1)
            s = q @ k.transpose(-2, -1) / math.sqrt(d)
            e = torch.exp(s - s.max(dim=-1, keepdim=True).values)
            return (e / e.sum(dim=-1, keepdim=True)) @ v
    '''),
    dedent('''
        import numpy as np

        def batched_heads(x, w_q, w_k, w_v):
            xa = x.detach().cpu().numpy()
            q, k, v = (np.einsum("btD,hDd->bhtd", xa, w.detach().cpu().numpy())
                       for w in (w_q, w_k, w_v))
            s = q @ np.swapaxes(k, -1, -2) / np.sqrt(q.shape[-1])
            s = np.exp(s - s.max(axis=-1, keepdims=True))
            out = (s / s.sum(axis=-1, keepdims=True)) @ v
            return torch.from_numpy(out).to(dtype=x.dtype, device=x.device)
    '''),
]

_KERNEL_HEAD = '''
@triton.jit
def flash_kernel(Q, K, V, O, L,
                 sq_b, sq_h, sq_n, sq_d, sk_b, sk_h, sk_n, sk_d, sv_b, sv_h, sv_n, sv_d,
                 so_b, so_h, so_n, so_d, sl_b, sl_h, sl_n,
                 H, N, M, scale,
                 D: tl.constexpr, CAUSAL: tl.constexpr, FP32: tl.constexpr,
                 BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr):
'''


def _kernel(body: str, before: str = "") -> str:
    """An answer cell: optional helpers, then flash_kernel with the exercise's signature."""
    return dedent(before).strip("\n") + "\n" + _KERNEL_HEAD + indent(dedent(body).strip("\n"),
                                                                    "    ") + "\n"


FLASH_KERNEL = [
    # a count of key tiles with tl.cdiv, pointers built once and moved along
    _kernel('''
        pid_m = tl.program_id(0)
        pid_bh = tl.program_id(1)
        off_b = pid_bh // H
        off_h = pid_bh % H
        offs_m = pid_m * BLOCK_M + tl.arange(0, BLOCK_M)
        offs_n = tl.arange(0, BLOCK_N)
        offs_d = tl.arange(0, D)
        q_ptrs = Q + off_b * sq_b + off_h * sq_h + offs_m[:, None] * sq_n + offs_d[None, :] * sq_d
        k_ptrs = K + off_b * sk_b + off_h * sk_h + offs_n[None, :] * sk_n + offs_d[:, None] * sk_d
        v_ptrs = V + off_b * sv_b + off_h * sv_h + offs_n[:, None] * sv_n + offs_d[None, :] * sv_d
        q = tl.load(q_ptrs, mask=offs_m[:, None] < N, other=0.0)
        m_i = tl.zeros([BLOCK_M], dtype=tl.float32) - float("inf")
        l_i = tl.zeros([BLOCK_M], dtype=tl.float32)
        acc = tl.zeros([BLOCK_M, D], dtype=tl.float32)
        hi = M
        if CAUSAL:
            hi = tl.minimum((pid_m + 1) * BLOCK_M, M)
        for j in range(0, tl.cdiv(hi, BLOCK_N)):
            start_n = j * BLOCK_N
            k = tl.load(k_ptrs, mask=(start_n + offs_n)[None, :] < M, other=0.0)
            v = tl.load(v_ptrs, mask=(start_n + offs_n)[:, None] < M, other=0.0)
            if FP32:
                qk = tl.dot(q, k, input_precision="ieee")
            else:
                qk = tl.dot(q, k)
            qk = qk * scale
            valid = (start_n + offs_n)[None, :] < M
            if CAUSAL:
                valid = valid & ((start_n + offs_n)[None, :] <= offs_m[:, None])
            qk = tl.where(valid, qk, float("-inf"))
            m_ij = tl.maximum(m_i, tl.max(qk, 1))
            p = tl.exp(qk - m_ij[:, None])
            corr = tl.exp(m_i - m_ij)
            l_i = l_i * corr + tl.sum(p, 1)
            if FP32:
                acc = acc * corr[:, None] + tl.dot(p, v, input_precision="ieee")
            else:
                acc = acc * corr[:, None] + tl.dot(p.to(v.dtype), v)
            m_i = m_ij
            k_ptrs += BLOCK_N * sk_n
            v_ptrs += BLOCK_N * sv_n
        acc = acc / l_i[:, None]
        o_ptrs = O + off_b * so_b + off_h * so_h + offs_m[:, None] * so_n + offs_d[None, :] * so_d
        tl.store(o_ptrs, acc.to(O.dtype.element_ty), mask=offs_m[:, None] < N)
        tl.store(L + off_b * sl_b + off_h * sl_h + offs_m * sl_n, m_i + tl.log(l_i),
                 mask=offs_m < N)
    '''),
    # base-2 exponentials (exp2 is what GPUs compute natively), the scale folded into log2(e)
    _kernel('''
        LOG2E: tl.constexpr = 1.4426950408889634
        start_m = tl.program_id(0)
        bh = tl.program_id(1)
        b = bh // H
        h = bh % H
        rm = start_m * BLOCK_M + tl.arange(0, BLOCK_M)
        rd = tl.arange(0, D)
        q = tl.load(Q + b * sq_b + h * sq_h + rm[:, None] * sq_n + rd[None, :] * sq_d,
                    mask=rm[:, None] < N, other=0.0)
        qk_scale = scale * LOG2E
        m2 = tl.full([BLOCK_M], float("-inf"), tl.float32)  # running max, in log2 units
        l = tl.zeros([BLOCK_M], tl.float32)
        acc = tl.zeros([BLOCK_M, D], tl.float32)
        stop = M
        if CAUSAL:
            stop = tl.minimum(start_m * BLOCK_M + BLOCK_M, M)
        for start_n in range(0, stop, BLOCK_N):
            rn = start_n + tl.arange(0, BLOCK_N)
            kT = tl.load(K + b * sk_b + h * sk_h + rd[:, None] * sk_d + rn[None, :] * sk_n,
                         mask=rn[None, :] < M, other=0.0)
            if FP32:
                s = tl.dot(q, kT, input_precision="ieee") * qk_scale
            else:
                s = tl.dot(q, kT) * qk_scale
            ok = rn[None, :] < M
            if CAUSAL:
                ok = ok & (rm[:, None] >= rn[None, :])
            s = tl.where(ok, s, float("-inf"))
            new_m = tl.maximum(m2, tl.max(s, axis=1))
            p = tl.exp2(s - new_m[:, None])
            scale_old = tl.exp2(m2 - new_m)
            l = l * scale_old + tl.sum(p, axis=1)
            v = tl.load(V + b * sv_b + h * sv_h + rn[:, None] * sv_n + rd[None, :] * sv_d,
                        mask=rn[:, None] < M, other=0.0)
            acc = acc * scale_old[:, None]
            if FP32:
                acc += tl.dot(p, v, input_precision="ieee")
            else:
                acc += tl.dot(p.to(v.dtype), v)
            m2 = new_m
        out = acc / l[:, None]
        tl.store(O + b * so_b + h * so_h + rm[:, None] * so_n + rd[None, :] * so_d,
                 out.to(O.dtype.element_ty), mask=rm[:, None] < N)
        lse = (m2 + tl.log2(l)) / LOG2E  # back to natural log
        tl.store(L + b * sl_b + h * sl_h + rm * sl_n, lse, mask=rm < N)
    '''),
    # k loaded as (BLOCK_N, D) and transposed with tl.trans; the queries pre-scaled
    _kernel('''
        i = tl.program_id(0)
        b = tl.program_id(1) // H
        h = tl.program_id(1) - b * H
        q_idx = i * BLOCK_M + tl.arange(0, BLOCK_M)
        d_idx = tl.arange(0, D)
        q = tl.load(Q + b * sq_b + h * sq_h + q_idx[:, None] * sq_n + d_idx[None, :] * sq_d,
                    mask=q_idx[:, None] < N, other=0.0)
        q = (q * scale).to(q.dtype)  # scale once, not every tile
        running_max = tl.full((BLOCK_M,), -float("inf"), dtype=tl.float32)
        running_sum = tl.full((BLOCK_M,), 0.0, dtype=tl.float32)
        acc = tl.full((BLOCK_M, D), 0.0, dtype=tl.float32)
        last = M
        if CAUSAL:
            last = tl.minimum((i + 1) * BLOCK_M, M)
        for j in range(0, last, BLOCK_N):
            k_idx = j + tl.arange(0, BLOCK_N)
            k = tl.load(K + b * sk_b + h * sk_h + k_idx[:, None] * sk_n + d_idx[None, :] * sk_d,
                        mask=k_idx[:, None] < M, other=0.0)  # (BLOCK_N, D)
            v = tl.load(V + b * sv_b + h * sv_h + k_idx[:, None] * sv_n + d_idx[None, :] * sv_d,
                        mask=k_idx[:, None] < M, other=0.0)
            if FP32:
                scores = tl.dot(q, tl.trans(k), input_precision="ieee")
            else:
                scores = tl.dot(q, tl.trans(k))
            allowed = k_idx[None, :] < M
            if CAUSAL:
                allowed &= k_idx[None, :] <= q_idx[:, None]
            scores = tl.where(allowed, scores, -float("inf"))
            tile_max = tl.max(scores, axis=1)
            new_max = tl.where(tile_max > running_max, tile_max, running_max)
            weights = tl.exp(scores - new_max[:, None])
            shrink = tl.exp(running_max - new_max)
            running_sum = running_sum * shrink + tl.sum(weights, axis=1)
            if FP32:
                acc = acc * shrink[:, None] + tl.dot(weights, v, input_precision="ieee")
            else:
                acc = acc * shrink[:, None] + tl.dot(weights.to(v.dtype), v)
            running_max = new_max
        tl.store(O + b * so_b + h * so_h + q_idx[:, None] * so_n + d_idx[None, :] * so_d,
                 (acc / running_sum[:, None]).to(O.dtype.element_ty), mask=q_idx[:, None] < N)
        tl.store(L + b * sl_b + h * sl_h + q_idx * sl_n, running_max + tl.log(running_sum),
                 mask=q_idx < N)
    '''),
    # FlashAttention-2's two loops under the causal mask: tiles left of the diagonal need no
    # causal mask, only the diagonal tile does; a helper for the update
    _kernel('''
        tile = tl.program_id(0)
        b = tl.program_id(1) // H
        h = tl.program_id(1) % H
        rows = tile * BLOCK_M + tl.arange(0, BLOCK_M)
        f = tl.arange(0, D)
        q = tl.load(Q + b * sq_b + h * sq_h + rows[:, None] * sq_n + f[None, :] * sq_d,
                    mask=rows[:, None] < N, other=0.0)
        m = tl.full([BLOCK_M], float("-inf"), tl.float32)
        l = tl.zeros([BLOCK_M], tl.float32)
        acc = tl.zeros([BLOCK_M, D], tl.float32)
        if CAUSAL:
            before = tl.minimum(tile * BLOCK_M, M)  # whole tiles left of the diagonal
            m, l, acc = _tiles(q, K, V, m, l, acc, rows, f, b * sk_b + h * sk_h,
                               b * sv_b + h * sv_h, sk_n, sk_d, sv_n, sv_d, 0, before, M,
                               scale, False, FP32, BLOCK_N)
            m, l, acc = _tiles(q, K, V, m, l, acc, rows, f, b * sk_b + h * sk_h,
                               b * sv_b + h * sv_h, sk_n, sk_d, sv_n, sv_d, before,
                               tl.minimum(tile * BLOCK_M + BLOCK_M, M), M, scale, True, FP32,
                               BLOCK_N)
        else:
            m, l, acc = _tiles(q, K, V, m, l, acc, rows, f, b * sk_b + h * sk_h,
                               b * sv_b + h * sv_h, sk_n, sk_d, sv_n, sv_d, 0, M, M, scale,
                               False, FP32, BLOCK_N)
        tl.store(O + b * so_b + h * so_h + rows[:, None] * so_n + f[None, :] * so_d,
                 (acc / l[:, None]).to(O.dtype.element_ty), mask=rows[:, None] < N)
        tl.store(L + b * sl_b + h * sl_h + rows * sl_n, m + tl.log(l), mask=rows < N)
    ''', before='''
        @triton.jit
        def _tiles(q, K, V, m, l, acc, rows, f, k_base, v_base, sk_n, sk_d, sv_n, sv_d,
                   lo, hi, M, scale, DIAGONAL: tl.constexpr, FP32: tl.constexpr,
                   BLOCK_N: tl.constexpr):
            """The online softmax over the key tiles lo .. hi (one query tile)."""
            for start in range(lo, hi, BLOCK_N):
                cols = start + tl.arange(0, BLOCK_N)
                kt = tl.load(K + k_base + cols[None, :] * sk_n + f[:, None] * sk_d,
                             mask=cols[None, :] < M, other=0.0)
                v = tl.load(V + v_base + cols[:, None] * sv_n + f[None, :] * sv_d,
                            mask=cols[:, None] < M, other=0.0)
                if FP32:
                    s = tl.dot(q, kt, input_precision="ieee") * scale
                else:
                    s = tl.dot(q, kt) * scale
                keep = cols[None, :] < M
                if DIAGONAL:
                    keep = keep & (cols[None, :] <= rows[:, None])
                s = tl.where(keep, s, float("-inf"))
                m_new = tl.maximum(m, tl.max(s, 1))
                p = tl.exp(s - m_new[:, None])
                alpha = tl.exp(m - m_new)
                l = l * alpha + tl.sum(p, 1)
                if FP32:
                    acc = acc * alpha[:, None] + tl.dot(p, v, input_precision="ieee")
                else:
                    acc = acc * alpha[:, None] + tl.dot(p.to(v.dtype), v)
                m = m_new
            return m, l, acc
    '''),
    # a while loop, and the masks as an additive bias
    _kernel('''
        t = tl.program_id(0)
        bh = tl.program_id(1)
        batch = bh // H
        head = bh % H
        qi = t * BLOCK_M + tl.arange(0, BLOCK_M)
        dd = tl.arange(0, D)
        q_tile = tl.load(Q + batch * sq_b + head * sq_h + qi[:, None] * sq_n + dd[None, :] * sq_d,
                         mask=qi[:, None] < N, other=0.0)
        mx = tl.full([BLOCK_M], float("-inf"), tl.float32)
        total = tl.zeros([BLOCK_M], tl.float32)
        o = tl.zeros([BLOCK_M, D], tl.float32)
        kv_end = M
        if CAUSAL:
            kv_end = tl.minimum(t * BLOCK_M + BLOCK_M, M)
        start = 0
        while start < kv_end:
            kj = start + tl.arange(0, BLOCK_N)
            k_tile = tl.load(K + batch * sk_b + head * sk_h + kj[None, :] * sk_n
                             + dd[:, None] * sk_d, mask=kj[None, :] < M, other=0.0)
            v_tile = tl.load(V + batch * sv_b + head * sv_h + kj[:, None] * sv_n
                             + dd[None, :] * sv_d, mask=kj[:, None] < M, other=0.0)
            if FP32:
                s = tl.dot(q_tile, k_tile, input_precision="ieee")
            else:
                s = tl.dot(q_tile, k_tile)
            bias = tl.where(kj[None, :] < M, 0.0, float("-inf"))
            if CAUSAL:
                bias = bias + tl.where(kj[None, :] > qi[:, None], float("-inf"), 0.0)
            s = s * scale + bias
            mx_new = tl.maximum(mx, tl.max(s, 1))
            e = tl.exp(s - mx_new[:, None])
            factor = tl.exp(mx - mx_new)
            total = total * factor + tl.sum(e, 1)
            if FP32:
                o = o * factor[:, None] + tl.dot(e, v_tile, input_precision="ieee")
            else:
                o = o * factor[:, None] + tl.dot(e.to(v_tile.dtype), v_tile)
            mx = mx_new
            start += BLOCK_N
        result = o * (1.0 / total)[:, None]
        tl.store(O + batch * so_b + head * so_h + qi[:, None] * so_n + dd[None, :] * so_d,
                 result.to(O.dtype.element_ty), mask=qi[:, None] < N)
        tl.store(L + batch * sl_b + head * sl_h + qi * sl_n, tl.log(total) + mx, mask=qi < N)
    '''),
    # imports in the cell, tl.dot accumulating into acc, the masks built once per tile
    _kernel('''
        q_tile_id = tl.program_id(axis=0)
        bh = tl.program_id(axis=1)
        b, h = bh // H, bh % H
        q_rows = q_tile_id * BLOCK_M + tl.arange(0, BLOCK_M)
        cols_d = tl.arange(0, D)
        row_ok = q_rows < N
        q = tl.load(Q + b * sq_b + h * sq_h + q_rows[:, None] * sq_n + cols_d[None, :] * sq_d,
                    mask=row_ok[:, None], other=0.0)
        m = tl.full([BLOCK_M], value=float("-inf"), dtype=tl.float32)
        l = tl.full([BLOCK_M], value=0.0, dtype=tl.float32)
        acc = tl.zeros([BLOCK_M, D], dtype=tl.float32)
        n_keys = M
        if CAUSAL:
            n_keys = tl.minimum(M, (q_tile_id + 1) * BLOCK_M)
        for kv_start in tl.range(0, n_keys, BLOCK_N):
            kv = kv_start + tl.arange(0, BLOCK_N)
            kv_ok = kv < M
            kt = tl.load(K + b * sk_b + h * sk_h + kv[None, :] * sk_n + cols_d[:, None] * sk_d,
                         mask=kv_ok[None, :], other=0.0)
            vv = tl.load(V + b * sv_b + h * sv_h + kv[:, None] * sv_n + cols_d[None, :] * sv_d,
                         mask=kv_ok[:, None], other=0.0)
            if FP32:
                s = tl.dot(q, kt, input_precision="ieee")
            else:
                s = tl.dot(q, kt)
            see = kv_ok[None, :] & row_ok[:, None]  # padding rows see nothing
            if CAUSAL:
                see = see & (kv[None, :] <= q_rows[:, None])
            s = tl.where(see, s * scale, float("-inf"))
            m_next = tl.maximum(m, tl.max(s, axis=1))
            alpha = tl.exp(m - m_next)
            p = tl.exp(s - m_next[:, None])
            l = alpha * l + tl.sum(p, axis=1)
            acc = acc * alpha[:, None]
            if FP32:
                acc = tl.dot(p, vv, acc, input_precision="ieee")
            else:
                acc = tl.dot(p.to(vv.dtype), vv, acc)
            m = m_next
        tl.store(O + b * so_b + h * so_h + q_rows[:, None] * so_n + cols_d[None, :] * so_d,
                 (acc / l[:, None]).to(O.dtype.element_ty), mask=row_ok[:, None])
        tl.store(L + b * sl_b + h * sl_h + q_rows * sl_n, m + tl.log(l), mask=row_ok)
    ''', before='''
        import triton
        import triton.language as tl
    '''),
    # pointer arithmetic in helper functions, one per tensor layout
    _kernel('''
        tile = tl.program_id(0)
        b = tl.program_id(1) // H
        h = tl.program_id(1) % H
        r = tile * BLOCK_M + tl.arange(0, BLOCK_M)
        c = tl.arange(0, D)
        q = tl.load(_tile_ptrs(Q, b, h, r, c, sq_b, sq_h, sq_n, sq_d), mask=r[:, None] < N,
                    other=0.0)
        m = tl.full([BLOCK_M], float("-inf"), tl.float32)
        l = tl.zeros([BLOCK_M], tl.float32)
        acc = tl.zeros([BLOCK_M, D], tl.float32)
        upto = M
        if CAUSAL:
            upto = tl.minimum((tile + 1) * BLOCK_M, M)
        for j in range(0, upto, BLOCK_N):
            n = j + tl.arange(0, BLOCK_N)
            k = tl.load(_tile_ptrs(K, b, h, n, c, sk_b, sk_h, sk_n, sk_d), mask=n[:, None] < M,
                        other=0.0)
            v = tl.load(_tile_ptrs(V, b, h, n, c, sv_b, sv_h, sv_n, sv_d), mask=n[:, None] < M,
                        other=0.0)
            if FP32:
                s = tl.dot(q, tl.trans(k), input_precision="ieee") * scale
            else:
                s = tl.dot(q, tl.trans(k)) * scale
            if CAUSAL:
                s = tl.where((n[None, :] < M) & (n[None, :] <= r[:, None]), s, float("-inf"))
            else:
                s = tl.where(n[None, :] < M, s, float("-inf"))
            m_new = tl.maximum(m, tl.max(s, 1))
            rescale = tl.exp(m - m_new)
            p = tl.exp(s - m_new[:, None])
            l = l * rescale + tl.sum(p, 1)
            if FP32:
                acc = acc * rescale[:, None] + tl.dot(p, v, input_precision="ieee")
            else:
                acc = acc * rescale[:, None] + tl.dot(p.to(v.dtype), v)
            m = m_new
        tl.store(_tile_ptrs(O, b, h, r, c, so_b, so_h, so_n, so_d),
                 (acc / l[:, None]).to(O.dtype.element_ty), mask=r[:, None] < N)
        tl.store(L + b * sl_b + h * sl_h + r * sl_n, m + tl.log(l), mask=r < N)
    ''', before='''
        @triton.jit
        def _tile_ptrs(base, b, h, rows, cols, s_b, s_h, s_n, s_d):
            """Pointers to the (rows, cols) tile of head (b, h) of a (B, H, N, D) tensor."""
            return base + b * s_b + h * s_h + rows[:, None] * s_n + cols[None, :] * s_d
    '''),
    # 64-bit offsets (large tensors overflow 32-bit ones), the lse kept in log space all along
    _kernel('''
        pid = tl.program_id(0)
        bh = tl.program_id(1).to(tl.int64)
        q_off = (bh // H) * sq_b + (bh % H) * sq_h
        k_off = (bh // H) * sk_b + (bh % H) * sk_h
        v_off = (bh // H) * sv_b + (bh % H) * sv_h
        o_off = (bh // H) * so_b + (bh % H) * so_h
        l_off = (bh // H) * sl_b + (bh % H) * sl_h
        qs = pid * BLOCK_M + tl.arange(0, BLOCK_M)
        ds = tl.arange(0, D)
        q = tl.load(Q + q_off + qs[:, None] * sq_n + ds[None, :] * sq_d, mask=qs[:, None] < N,
                    other=0.0)
        m = tl.full([BLOCK_M], float("-inf"), tl.float32)
        l = tl.zeros([BLOCK_M], tl.float32)
        acc = tl.zeros([BLOCK_M, D], tl.float32)
        kv_len = M
        if CAUSAL:
            kv_len = tl.minimum(M, pid * BLOCK_M + BLOCK_M)
        for ks in range(0, kv_len, BLOCK_N):
            kk = ks + tl.arange(0, BLOCK_N)
            kt = tl.load(K + k_off + kk[None, :] * sk_n + ds[:, None] * sk_d,
                         mask=kk[None, :] < M, other=0.0)
            if FP32:
                s = scale * tl.dot(q, kt, input_precision="ieee")
            else:
                s = scale * tl.dot(q, kt)
            masked = kk[None, :] >= M
            if CAUSAL:
                masked = masked | (kk[None, :] > qs[:, None])
            s = tl.where(masked, float("-inf"), s)
            new = tl.maximum(m, tl.max(s, 1))
            p = tl.exp(s - new[:, None])
            a = tl.exp(m - new)
            l = l * a + tl.sum(p, 1)
            vt = tl.load(V + v_off + kk[:, None] * sv_n + ds[None, :] * sv_d,
                         mask=kk[:, None] < M, other=0.0)
            if FP32:
                acc = acc * a[:, None] + tl.dot(p, vt, input_precision="ieee")
            else:
                acc = acc * a[:, None] + tl.dot(p.to(vt.dtype), vt)
            m = new
        tl.store(O + o_off + qs[:, None] * so_n + ds[None, :] * so_d,
                 (acc / l[:, None]).to(O.dtype.element_ty), mask=qs[:, None] < N)
        tl.store(L + l_off + qs * sl_n, m + tl.log(l), mask=qs < N)
    '''),
    # the rows past N masked into the scores too, and a float32 copy of every tile
    _kernel('''
        tile = tl.program_id(0)
        head_id = tl.program_id(1)
        b = head_id // H
        h = head_id % H
        offs_q = tile * BLOCK_M + tl.arange(0, BLOCK_M)
        offs_d = tl.arange(0, D)
        in_q = offs_q < N
        q = tl.load(Q + b * sq_b + h * sq_h + offs_q[:, None] * sq_n + offs_d[None, :] * sq_d,
                    mask=in_q[:, None], other=0.0).to(tl.float32)
        best = tl.full([BLOCK_M], float("-inf"), tl.float32)
        denom = tl.zeros([BLOCK_M], tl.float32)
        numer = tl.zeros([BLOCK_M, D], tl.float32)
        kv_stop = M
        if CAUSAL:
            kv_stop = tl.minimum(M, (tile + 1) * BLOCK_M)
        for kv0 in range(0, kv_stop, BLOCK_N):
            offs_k = kv0 + tl.arange(0, BLOCK_N)
            in_k = offs_k < M
            k = tl.load(K + b * sk_b + h * sk_h + offs_k[None, :] * sk_n + offs_d[:, None] * sk_d,
                        mask=in_k[None, :], other=0.0).to(tl.float32)
            v = tl.load(V + b * sv_b + h * sv_h + offs_k[:, None] * sv_n + offs_d[None, :] * sv_d,
                        mask=in_k[:, None], other=0.0).to(tl.float32)
            s = tl.dot(q, k, input_precision="ieee") * scale
            ok = in_k[None, :] & (offs_q[:, None] >= 0)  # (BLOCK_M, BLOCK_N)
            if CAUSAL:
                ok = ok & (offs_q[:, None] >= offs_k[None, :])
            s = tl.where(ok, s, float("-inf"))
            top = tl.maximum(best, tl.max(s, 1))
            w = tl.exp(s - top[:, None])
            fix = tl.exp(best - top)
            denom = denom * fix + tl.sum(w, 1)
            numer = numer * fix[:, None] + tl.dot(w, v, input_precision="ieee")
            best = top
        tl.store(O + b * so_b + h * so_h + offs_q[:, None] * so_n + offs_d[None, :] * so_d,
                 (numer / denom[:, None]).to(O.dtype.element_ty), mask=in_q[:, None])
        tl.store(L + b * sl_b + h * sl_h + offs_q * sl_n, best + tl.log(denom), mask=in_q)
    '''),
    # one helper for the online-softmax step, the normalisation by a reciprocal
    _kernel('''
        tile_q = tl.program_id(0)
        which = tl.program_id(1)
        bb = which // H
        hh = which % H
        rq = tile_q * BLOCK_M + tl.arange(0, BLOCK_M)
        rf = tl.arange(0, D)
        q = tl.load(Q + bb * sq_b + hh * sq_h + rq[:, None] * sq_n + rf[None, :] * sq_d,
                    mask=rq[:, None] < N, other=0.0)
        m = tl.full([BLOCK_M], float("-inf"), tl.float32)
        l = tl.zeros([BLOCK_M], tl.float32)
        acc = tl.zeros([BLOCK_M, D], tl.float32)
        end = M
        if CAUSAL:
            end = tl.minimum((tile_q + 1) * BLOCK_M, M)
        for s0 in range(0, end, BLOCK_N):
            rk = s0 + tl.arange(0, BLOCK_N)
            kt = tl.load(K + bb * sk_b + hh * sk_h + rk[None, :] * sk_n + rf[:, None] * sk_d,
                         mask=rk[None, :] < M, other=0.0)
            vt = tl.load(V + bb * sv_b + hh * sv_h + rk[:, None] * sv_n + rf[None, :] * sv_d,
                         mask=rk[:, None] < M, other=0.0)
            if FP32:
                s = tl.dot(q, kt, input_precision="ieee") * scale
            else:
                s = tl.dot(q, kt) * scale
            if CAUSAL:
                s = tl.where((rk[None, :] < M) & (rk[None, :] <= rq[:, None]), s, -float("inf"))
            else:
                s = tl.where(rk[None, :] < M, s, -float("inf"))
            m, l, p, alpha = _online_step(s, m, l)
            if FP32:
                acc = acc * alpha[:, None] + tl.dot(p, vt, input_precision="ieee")
            else:
                acc = acc * alpha[:, None] + tl.dot(p.to(vt.dtype), vt)
        inv = 1.0 / l
        tl.store(O + bb * so_b + hh * so_h + rq[:, None] * so_n + rf[None, :] * so_d,
                 (acc * inv[:, None]).to(O.dtype.element_ty), mask=rq[:, None] < N)
        tl.store(L + bb * sl_b + hh * sl_h + rq * sl_n, m - tl.log(inv), mask=rq < N)
    ''', before='''
        @triton.jit
        def _online_step(s, m, l):
            """One tile of scores s (BLOCK_M, BLOCK_N) into the running max m and sum l:
            returns the new m and l, the tile's exp(s - m_new), and exp(m - m_new)."""
            m_new = tl.maximum(m, tl.max(s, axis=1))
            alpha = tl.exp(m - m_new)
            p = tl.exp(s - m_new[:, None])
            return m_new, l * alpha + tl.sum(p, axis=1), p, alpha
    '''),
]


GROUPED_QUERY_ATTENTION = [
    dedent('''
        def grouped_query_attention(q, k, v, causal):
            H, G = q.shape[1], k.shape[1]
            k = k.repeat_interleave(H // G, dim=1)
            v = v.repeat_interleave(H // G, dim=1)
            s = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
            if causal:
                T, S = s.shape[-2:]
                s = s.masked_fill(torch.ones(T, S, dtype=torch.bool).triu(1), float("-inf"))
            return torch.softmax(s, dim=-1) @ v
    '''),
    dedent('''
        def grouped_query_attention(q, k, v, causal):
            # view the query heads as (G groups, H/G heads per group) and broadcast K/V
            B, H, T, d = q.shape
            G, S = k.shape[1], k.shape[2]
            qg = q.view(B, G, H // G, T, d)
            kg, vg = k.unsqueeze(2), v.unsqueeze(2)  # (B, G, 1, S, d)
            scores = qg @ kg.transpose(-2, -1) / d ** 0.5  # (B, G, H/G, T, S)
            if causal:
                keep = torch.arange(S)[None, :] <= torch.arange(T)[:, None]
                scores = scores.masked_fill(~keep, -math.inf)
            out = scores.softmax(-1) @ vg
            return out.reshape(B, H, T, d)
    '''),
    dedent('''
        def grouped_query_attention(q, k, v, causal):
            B, H, T, d = q.shape
            G = k.shape[1]
            per_group = H // G
            outputs = []
            for h in range(H):
                kv = h // per_group  # the K/V head of head h's group
                s = q[:, h] @ k[:, kv].transpose(-2, -1) / math.sqrt(d)
                if causal:
                    s = s + torch.full_like(s, float("-inf")).triu(1)
                outputs.append(torch.softmax(s, -1) @ v[:, kv])
            return torch.stack(outputs, dim=1)
    '''),
    dedent('''
        def grouped_query_attention(q, k, v, causal):
            """einsum with an explicit group axis."""
            B, H, T, d = q.shape
            G = k.shape[1]
            q5 = q.reshape(B, G, H // G, T, d)
            s = torch.einsum("bgntd,bgsd->bgnts", q5, k) / math.sqrt(d)
            if causal:
                s = s.masked_fill(torch.ones(T, k.shape[2], dtype=torch.bool).tril() == 0,
                                  float("-inf"))
            w = s.softmax(dim=-1)
            return torch.einsum("bgnts,bgsd->bgntd", w, v).reshape(B, H, T, d)
    '''),
    dedent('''
        def _expand_kv(t, n_rep):
            """(B, G, S, d) -> (B, G * n_rep, S, d), each K/V head n_rep times in a row."""
            B, G, S, d = t.shape
            return t[:, :, None].expand(B, G, n_rep, S, d).reshape(B, G * n_rep, S, d)


        def grouped_query_attention(q, k, v, causal):
            n_rep = q.shape[1] // k.shape[1]
            k, v = _expand_kv(k, n_rep), _expand_kv(v, n_rep)
            scores = q @ k.mT * q.shape[-1] ** -0.5
            if causal:
                T, S = scores.shape[-2:]
                scores = torch.where(torch.ones(T, S, dtype=torch.bool).tril(), scores,
                                     torch.finfo(scores.dtype).min)
            return scores.softmax(-1) @ v
    '''),
    dedent('''
        def grouped_query_attention(q, k, v, causal):
            H, G = q.shape[1], k.shape[1]
            index = torch.arange(H) // (H // G)  # query head -> its K/V head
            k, v = k[:, index], v[:, index]
            s = q @ k.transpose(2, 3) / math.sqrt(q.size(-1))
            if causal:
                i = torch.arange(s.size(-2)).unsqueeze(1)
                j = torch.arange(s.size(-1)).unsqueeze(0)
                s[..., j > i] = float("-inf")
            s = s - s.amax(-1, keepdim=True)
            p = s.exp()
            return (p / p.sum(-1, keepdim=True)) @ v
    '''),
    dedent('''
        def grouped_query_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor,
                                    causal: bool) -> torch.Tensor:
            """q (B, H, T, d); k, v (B, G, S, d); float64 inside for accuracy."""
            assert q.shape[1] % k.shape[1] == 0, "G must divide H"
            dtype = q.dtype
            q, k, v = q.double(), k.double(), v.double()
            group = q.shape[1] // k.shape[1]
            k = torch.repeat_interleave(k, group, dim=1)
            v = torch.repeat_interleave(v, group, dim=1)
            logits = torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(q.shape[-1])
            if causal:
                mask = torch.tril(torch.ones(logits.shape[-2:], dtype=torch.bool))
                logits = logits.masked_fill(~mask, float("-inf"))
            return torch.matmul(torch.softmax(logits, -1), v).to(dtype)
    '''),
    dedent('''
        def grouped_query_attention(q, k, v, causal):
            # loop over the K/V heads: each serves a block of consecutive query heads
            H, G = q.shape[1], k.shape[1]
            size = H // G
            blocks = []
            for g in range(G):
                qg = q[:, g * size:(g + 1) * size]  # (B, H/G, T, d)
                s = qg @ k[:, g:g + 1].transpose(-2, -1) / math.sqrt(q.shape[-1])
                if causal:
                    T, S = s.shape[-2:]
                    s = s.masked_fill(torch.triu(torch.ones(T, S, dtype=torch.bool), 1),
                                      float("-inf"))
                blocks.append(F.softmax(s, dim=-1) @ v[:, g:g + 1])
            return torch.cat(blocks, dim=1)
    '''),
    dedent('''
        import math

        import torch


        def grouped_query_attention(q, k, v, causal):
            B, H, T, d = q.shape
            G, S = k.shape[1], k.shape[2]
            k = k.unsqueeze(2).repeat(1, 1, H // G, 1, 1).flatten(1, 2)  # (B, H, S, d)
            v = v.unsqueeze(2).repeat(1, 1, H // G, 1, 1).flatten(1, 2)
            attn = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(d))
            if causal:
                future = torch.ones(T, S, dtype=torch.bool, device=q.device).triu(diagonal=1)
                attn = attn.masked_fill(future, float("-inf"))
            return attn.softmax(dim=-1) @ v
    '''),
    dedent('''
        def grouped_query_attention(q, k, v, causal):
            H, G, d = q.shape[1], k.shape[1], q.shape[-1]
            outs = []
            for g, (kg, vg) in enumerate(zip(k.unbind(1), v.unbind(1))):
                for h in range(g * (H // G), (g + 1) * (H // G)):
                    s = torch.einsum("btd,bsd->bts", q[:, h], kg) / math.sqrt(d)
                    if causal:
                        s = s.masked_fill(torch.ones_like(s, dtype=torch.bool).triu(1), -math.inf)
                    outs.append(torch.einsum("bts,bsd->btd", s.softmax(-1), vg))
            return torch.stack(outs, 1)
    '''),
]

MASK_HEADS = [
    dedent('''
        def mask_heads(heads, xi, w_o, b_o):
            B, H, T, d = heads.shape
            scaled = heads * xi.view(1, H, 1, 1)
            merged = scaled.transpose(1, 2).reshape(B, T, H * d)
            return merged @ w_o.T + b_o
    '''),
    dedent('''
        def mask_heads(heads, xi, w_o, b_o):
            # stretch xi over each head's d features, after merging
            B, H, T, d = heads.shape
            merged = heads.permute(0, 2, 1, 3).reshape(B, T, H * d)
            return (merged * xi.repeat_interleave(d)) @ w_o.t() + b_o
    '''),
    dedent('''
        def mask_heads(heads, xi, w_o, b_o):
            """Sum of each head's own slice of the projection, weighted by xi."""
            H, d = heads.shape[1], heads.shape[-1]
            out = b_o
            for h in range(H):
                w_h = w_o[:, h * d:(h + 1) * d]  # (D, d): the columns head h feeds
                out = out + xi[h] * (heads[:, h] @ w_h.T)
            return out
    '''),
    dedent('''
        def mask_heads(heads, xi, w_o, b_o):
            return torch.einsum("bhtd,h,ehd->bte", heads, xi,
                                w_o.view(w_o.shape[0], heads.shape[1], heads.shape[-1])) + b_o
    '''),
    dedent('''
        def mask_heads(heads: torch.Tensor, xi: torch.Tensor, w_o: torch.Tensor,
                       b_o: torch.Tensor) -> torch.Tensor:
            """heads (B, H, T, d), xi (H,) -> (B, T, D)."""
            B, H, T, d = heads.shape
            assert xi.shape == (H,), xi.shape
            gated = heads * xi[None, :, None, None]
            merged = torch.cat(gated.unbind(dim=1), dim=-1)  # (B, T, H * d)
            return F.linear(merged, w_o, b_o)
    '''),
    dedent('''
        def mask_heads(heads, xi, w_o, b_o):
            B, H, T, d = heads.shape
            per_head = torch.einsum("bhtd,ehd->bhte", heads, w_o.reshape(-1, H, d))
            return (per_head * xi.view(1, H, 1, 1)).sum(dim=1) + b_o
    '''),
    dedent('''
        def _merge(x):
            B, H, T, d = x.shape
            return x.transpose(1, 2).contiguous().view(B, T, H * d)


        def mask_heads(heads, xi, w_o, b_o):
            return torch.addmm(b_o, _merge(heads * xi.reshape(-1, 1, 1)).flatten(0, 1),
                               w_o.T).view(heads.shape[0], heads.shape[2], -1)
    '''),
    dedent('''
        def mask_heads(heads, xi, w_o, b_o):
            # the mask folded into the projection's columns instead of the heads
            d = heads.shape[-1]
            w_masked = w_o * xi.repeat_interleave(d)[None, :]
            B, H, T, _ = heads.shape
            return heads.transpose(1, 2).reshape(B, T, H * d) @ w_masked.T + b_o
    '''),
    dedent('''
        def mask_heads(heads, xi, w_o, b_o):
            B, H, T, d = heads.shape
            kept = [heads[:, h] * xi[h] for h in range(H)]  # (B, T, d) each
            merged = torch.stack(kept, dim=2).reshape(B, T, H * d)
            out = torch.matmul(merged, w_o.transpose(0, 1))
            out += b_o
            return out
    '''),
    dedent('''
        import torch


        def mask_heads(heads, xi, w_o, b_o):
            dtype = heads.dtype
            h64 = heads.to(torch.float64) * xi.to(torch.float64).view(1, -1, 1, 1)
            B, H, T, d = h64.shape
            merged = h64.transpose(1, 2).reshape(B, T, H * d)
            return (merged @ w_o.to(torch.float64).T + b_o.to(torch.float64)).to(dtype)
    '''),
]


HEAD_PARALLEL_ATTENTION = [
    dedent('''
        def head_parallel_attention(x, part, all_reduce):
            B, T, D = x.shape
            h = part["heads"]
            q = (x @ part["w_q"].T + part["b_q"]).view(B, T, h, -1).transpose(1, 2)
            k = (x @ part["w_k"].T + part["b_k"]).view(B, T, h, -1).transpose(1, 2)
            v = (x @ part["w_v"].T + part["b_v"]).view(B, T, h, -1).transpose(1, 2)
            w = torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1]), dim=-1)
            merged = (w @ v).transpose(1, 2).reshape(B, T, -1)
            return all_reduce(merged @ part["w_o"].T) + part["b_o"]
    '''),
    dedent('''
        def head_parallel_attention(x, part, all_reduce):
            # F.linear for the column-parallel projections, einsum for the heads
            B, T, _ = x.shape
            h = part["heads"]
            q, k, v = (F.linear(x, part[f"w_{n}"], part[f"b_{n}"]).reshape(B, T, h, -1)
                       for n in "qkv")
            d = q.shape[-1]
            s = torch.einsum("bqhd,bkhd->bhqk", q, k) / math.sqrt(d)
            o = torch.einsum("bhqk,bkhd->bqhd", s.softmax(-1), v).reshape(B, T, h * d)
            partial = F.linear(o, part["w_o"])  # row-parallel: no bias here
            return all_reduce(partial) + part["b_o"]
    '''),
    dedent('''
        def head_parallel_attention(x, part, all_reduce):
            """One head at a time, each head's share of the output added up locally."""
            h = part["heads"]
            d = part["w_q"].shape[0] // h
            partial = 0
            for i in range(h):
                rows = slice(i * d, (i + 1) * d)
                q = x @ part["w_q"][rows].T + part["b_q"][rows]
                k = x @ part["w_k"][rows].T + part["b_k"][rows]
                v = x @ part["w_v"][rows].T + part["b_v"][rows]
                a = torch.softmax(q @ k.transpose(-2, -1) / d ** 0.5, dim=-1) @ v
                partial = partial + a @ part["w_o"][:, rows].T
            return all_reduce(partial) + part["b_o"]
    '''),
    dedent('''
        def _heads(t, h):
            B, T, F_ = t.shape
            return t.view(B, T, h, F_ // h).permute(0, 2, 1, 3)


        def head_parallel_attention(x, part, all_reduce):
            h = part["heads"]
            q = _heads(torch.addmm(part["b_q"], x.flatten(0, 1), part["w_q"].T).view(
                *x.shape[:2], -1), h)
            k = _heads(torch.addmm(part["b_k"], x.flatten(0, 1), part["w_k"].T).view(
                *x.shape[:2], -1), h)
            v = _heads(torch.addmm(part["b_v"], x.flatten(0, 1), part["w_v"].T).view(
                *x.shape[:2], -1), h)
            att = (q @ k.mT) * q.shape[-1] ** -0.5
            att = att - att.amax(-1, keepdim=True)
            att = att.exp() / att.exp().sum(-1, keepdim=True)
            out = (att @ v).permute(0, 2, 1, 3).flatten(2)
            return all_reduce(out @ part["w_o"].T) + part["b_o"]
    '''),
    dedent('''
        def head_parallel_attention(x, part, all_reduce):
            # one fused projection for q, k and v, as Megatron's ColumnParallelLinear does
            B, T, D = x.shape
            h = part["heads"]
            w = torch.cat([part["w_q"], part["w_k"], part["w_v"]])
            b = torch.cat([part["b_q"], part["b_k"], part["b_v"]])
            q, k, v = (x @ w.T + b).chunk(3, dim=-1)
            q, k, v = (t.reshape(B, T, h, -1).transpose(1, 2) for t in (q, k, v))
            scores = q @ k.transpose(-1, -2) / math.sqrt(q.size(-1))
            y = (scores.softmax(-1) @ v).transpose(1, 2).reshape(B, T, -1)
            summed = all_reduce(y @ part["w_o"].T)
            return summed + part["b_o"]
    '''),
    dedent('''
        import math

        import torch


        def head_parallel_attention(x, part, all_reduce):
            dtype = x.dtype
            x64 = x.double()
            p = {k: (v.double() if isinstance(v, torch.Tensor) else v) for k, v in part.items()}
            B, T, _ = x.shape
            h = p["heads"]

            def split(t):
                return t.view(B, T, h, -1).transpose(1, 2)

            q = split(x64 @ p["w_q"].T + p["b_q"])
            k = split(x64 @ p["w_k"].T + p["b_k"])
            v = split(x64 @ p["w_v"].T + p["b_v"])
            w = torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1]), -1)
            partial = ((w @ v).transpose(1, 2).reshape(B, T, -1) @ p["w_o"].T).to(dtype)
            return all_reduce(partial) + part["b_o"]
    '''),
    dedent('''
        def head_parallel_attention(x, part, all_reduce):
            B, T, D = x.shape
            h = part["heads"]
            hd = part["w_q"].shape[0]
            d = hd // h

            def project(name):
                y = torch.matmul(x, part["w_" + name].transpose(0, 1)) + part["b_" + name]
                return y.reshape(B, T, h, d).transpose(1, 2)  # (B, h, T, d)

            q, k, v = project("q"), project("k"), project("v")
            weights = F.softmax(torch.matmul(q, k.transpose(2, 3)) / math.sqrt(d), dim=3)
            heads = torch.matmul(weights, v)
            merged = heads.transpose(1, 2).contiguous().view(B, T, hd)
            out = all_reduce(torch.matmul(merged, part["w_o"].transpose(0, 1)))
            assert out.shape == (B, T, D)
            return out + part["b_o"]
    '''),
    dedent('''
        def head_parallel_attention(x: torch.Tensor, part: dict, all_reduce) -> torch.Tensor:
            """Column-parallel q, k, v; attention on my heads; row-parallel out; one all-reduce."""
            h = part["heads"]
            B, T, _ = x.shape
            qkv = [x @ part[f"w_{n}"].T + part[f"b_{n}"] for n in ("q", "k", "v")]
            q, k, v = [t.unflatten(-1, (h, -1)).transpose(1, 2) for t in qkv]
            d = q.shape[-1]
            logits = q @ k.transpose(-2, -1)
            logits = logits / math.sqrt(d)
            probs = torch.exp(logits - torch.logsumexp(logits, dim=-1, keepdim=True))
            ctx = (probs @ v).transpose(1, 2).flatten(-2)
            return all_reduce(ctx @ part["w_o"].T) + part["b_o"]
    '''),
    dedent('''
        def head_parallel_attention(x, part, all_reduce):
            # the partial stacked and summed locally first (a no-op), then reduced
            B, T, D = x.shape
            h = part["heads"]
            q, k, v = (x @ part[f"w_{n}"].T + part[f"b_{n}"] for n in "qkv")
            q, k, v = (t.view(B, T, h, -1).transpose(1, 2) for t in (q, k, v))
            a = torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1]), -1) @ v
            mine = a.transpose(1, 2).reshape(B, T, -1) @ part["w_o"].T
            total = all_reduce(torch.stack([mine]).sum(0))
            return torch.add(total, part["b_o"])
    '''),
    dedent('''
        def head_parallel_attention(x, part, all_reduce):
            h = part["heads"]
            outs = []
            for q, k, v in zip((x @ part["w_q"].T + part["b_q"]).chunk(h, -1),
                               (x @ part["w_k"].T + part["b_k"]).chunk(h, -1),
                               (x @ part["w_v"].T + part["b_v"]).chunk(h, -1)):
                w = torch.softmax(torch.bmm(q, k.transpose(1, 2)) / math.sqrt(q.shape[-1]), -1)
                outs.append(torch.bmm(w, v))
            return all_reduce(torch.cat(outs, -1) @ part["w_o"].T) + part["b_o"]
    '''),
]


PRE_LN_BLOCK = [
    dedent('''
        def pre_ln_block(block, x, mask):
            h = block.ln1(x)
            a = block.attn(h, mask)
            x = x + a
            if block.mlp is None:
                return x
            h2 = block.ln2(x)
            m = block.mlp(h2)
            return x + m
    '''),
    dedent('''
        def pre_ln_block(block, x, mask):
            # each sublayer: (its LayerNorm, the sublayer itself), applied in order
            sublayers = [(block.ln1, lambda h: block.attn(h, mask))]
            if block.mlp is not None:
                sublayers.append((block.ln2, block.mlp))
            for norm, layer in sublayers:
                x = x + layer(norm(x))
            return x
    '''),
    dedent('''
        def pre_ln_block(block, x, mask):
            x = torch.add(x, block.attn(block.ln1(x), mask))
            if block.mlp is not None:
                x = torch.add(x, block.mlp(block.ln2(x)))
            return x
    '''),
    dedent('''
        def _pre_ln_sublayer(x, norm, sublayer):
            """One residual sublayer of a pre-LN block: x + sublayer(norm(x))."""
            return x + sublayer(norm(x))


        def pre_ln_block(block, x, mask):
            x = _pre_ln_sublayer(x, block.ln1, lambda h: block.attn(h, mask))
            if block.mlp is None:  # an attention-only block
                return x
            return _pre_ln_sublayer(x, block.ln2, block.mlp)
    '''),
    dedent('''
        def pre_ln_block(block, x, mask=None):
            attn_out = block.attn(block.ln1(x), mask)
            x = x + attn_out
            mlp = getattr(block, "mlp", None)
            if mlp is not None:
                x = x + mlp(getattr(block, "ln2")(x))
            return x
    '''),
    dedent('''
        def pre_ln_block(block: nn.Module, x: torch.Tensor,
                         mask: torch.Tensor | None) -> torch.Tensor:
            """GPT-2's block: normalise a copy of the residual stream for each sublayer and add
            the sublayer's output back to the stream itself."""
            assert x.dim() == 3, "x must be (B, T, D)"
            stream = x
            stream = stream + block.attn(block.ln1(stream), mask)  # (B, T, D)
            if block.mlp is not None:
                stream = stream + block.mlp(block.ln2(stream))  # (B, T, D)
            assert stream.shape == x.shape
            return stream
    '''),
    dedent('''
        def pre_ln_block(block, x, mask):
            # the LayerNorms through F.layer_norm with the modules' own parameters
            def norm(ln, t):
                return F.layer_norm(t, ln.normalized_shape, ln.weight, ln.bias, ln.eps)

            x = x + block.attn(norm(block.ln1, x), mask)
            if block.mlp is not None:
                x = x + block.mlp(norm(block.ln2, x))
            return x
    '''),
    dedent('''
        def layer_norm_by_hand(ln, t):
            """(t - mean) / sqrt(var + eps) * gain + bias, over the last dimension."""
            mu = t.mean(dim=-1, keepdim=True)
            var = ((t - mu) ** 2).mean(dim=-1, keepdim=True)
            return (t - mu) / torch.sqrt(var + ln.eps) * ln.weight + ln.bias


        def pre_ln_block(block, x, mask):
            x = x + block.attn(layer_norm_by_hand(block.ln1, x), mask)
            if block.mlp is not None:
                x = x + block.mlp(layer_norm_by_hand(block.ln2, x))
            return x
    '''),
    dedent('''
        def pre_ln_block(block, x, mask):
            out = x.clone()
            out += block.attn(block.ln1(x), mask)
            if block.mlp is not None:
                out += block.mlp(block.ln2(out))
            return out
    '''),
    dedent('''
        def pre_ln_block(block, x, mask):
            x = x + block.attn(block.ln1(x), mask)
            if block.ln2 is None or block.mlp is None:
                return x
            h = block.ln2(x)
            for layer in block.mlp:  # Linear, GELU, Linear, one at a time
                h = layer(h)
            return x + h
    '''),
    dedent('''
        from functools import reduce


        def pre_ln_block(block, x, mask):
            steps = [lambda t: t + block.attn(block.ln1(t), mask)]
            if block.mlp is not None:
                steps.append(lambda t: t + block.mlp(block.ln2(t)))
            return reduce(lambda t, step: step(t), steps, x)
    '''),
    dedent('''
        def pre_ln_block(block, x, mask):
            y = block.attn.forward(block.ln1.forward(x), mask=mask)
            x = x.add(y)
            has_mlp = hasattr(block, "mlp") and block.mlp is not None
            if has_mlp:
                x = x.add(block.mlp.forward(block.ln2.forward(x)))
            return x
    '''),
]

ATTEND_WITH_CACHE = [
    dedent('''
        def attend_with_cache(mha, x_new, k_cache, v_cache):
            B, _, D = x_new.shape
            H = mha.num_heads
            d = D // H
            q = mha.q_proj(x_new).view(B, 1, H, d).transpose(1, 2)  # (B, H, 1, d)
            k = mha.k_proj(x_new).view(B, 1, H, d).transpose(1, 2)
            v = mha.v_proj(x_new).view(B, 1, H, d).transpose(1, 2)
            if k_cache is not None:
                k = torch.cat([k_cache, k], dim=2)  # (B, H, t + 1, d)
                v = torch.cat([v_cache, v], dim=2)
            w = torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(d), dim=-1)
            out = (w @ v).transpose(1, 2).reshape(B, 1, D)
            return mha.out_proj(out), k, v
    '''),
    dedent('''
        def attend_with_cache(mha, x_new, k_cache, v_cache):
            # the caches preallocated one position longer, then filled
            B, _, D = x_new.shape
            H = mha.num_heads
            d = D // H
            q = mha.q_proj(x_new).view(B, H, d).unsqueeze(2)  # (B, H, 1, d)
            k_new = mha.k_proj(x_new).view(B, H, d).unsqueeze(2)
            v_new = mha.v_proj(x_new).view(B, H, d).unsqueeze(2)
            t = 0 if k_cache is None else k_cache.shape[2]
            k_all = torch.empty(B, H, t + 1, d, dtype=k_new.dtype, device=k_new.device)
            v_all = torch.empty_like(k_all)
            if t > 0:
                k_all[:, :, :t] = k_cache
                v_all[:, :, :t] = v_cache
            k_all[:, :, t:] = k_new
            v_all[:, :, t:] = v_new
            scores = q @ k_all.transpose(-2, -1) / math.sqrt(d)  # (B, H, 1, t + 1)
            y = scores.softmax(dim=-1) @ v_all
            return mha.out_proj(y.transpose(1, 2).reshape(B, 1, D)), k_all, v_all
    '''),
    dedent('''
        def attend_with_cache(mha, x_new, k_cache, v_cache):
            """einsum for the heads: no transposes to get wrong."""
            B, _, D = x_new.shape
            H = mha.num_heads
            d = D // H
            q = mha.q_proj(x_new).reshape(B, 1, H, d)
            k = torch.einsum("bthd->bhtd", mha.k_proj(x_new).reshape(B, 1, H, d))
            v = torch.einsum("bthd->bhtd", mha.v_proj(x_new).reshape(B, 1, H, d))
            if k_cache is not None:
                k, v = torch.cat((k_cache, k), 2), torch.cat((v_cache, v), 2)
            s = torch.einsum("bqhd,bhkd->bhqk", q, k) / math.sqrt(d)
            y = torch.einsum("bhqk,bhkd->bqhd", torch.softmax(s, dim=-1), v)
            return mha.out_proj(y.reshape(B, 1, D)), k, v
    '''),
    dedent('''
        def attend_with_cache(mha, x_new, k_cache, v_cache):
            # one head at a time, on its slice of the features
            B, _, D = x_new.shape
            H = mha.num_heads
            d = D // H
            q_all, k_all, v_all = mha.q_proj(x_new), mha.k_proj(x_new), mha.v_proj(x_new)
            heads, ks, vs = [], [], []
            for h in range(H):
                cols = slice(h * d, (h + 1) * d)
                q, k, v = q_all[..., cols], k_all[..., cols], v_all[..., cols]  # (B, 1, d)
                if k_cache is not None:
                    k = torch.cat([k_cache[:, h], k], dim=1)  # (B, t + 1, d)
                    v = torch.cat([v_cache[:, h], v], dim=1)
                w = torch.softmax(q @ k.transpose(1, 2) / math.sqrt(d), dim=-1)  # (B, 1, t + 1)
                heads.append(w @ v)
                ks.append(k)
                vs.append(v)
            out = mha.out_proj(torch.cat(heads, dim=-1))
            return out, torch.stack(ks, dim=1), torch.stack(vs, dim=1)
    '''),
    dedent('''
        def attend_with_cache(mha, x_new, k_cache, v_cache):
            B, T, D = x_new.shape
            H = mha.num_heads

            def heads(t):
                return t.view(B, T, H, D // H).transpose(1, 2)

            q, k, v = heads(mha.q_proj(x_new)), heads(mha.k_proj(x_new)), heads(mha.v_proj(x_new))
            if k_cache is not None:
                k = torch.cat([k_cache, k], dim=-2)
                v = torch.cat([v_cache, v], dim=-2)
            # no mask: the newest query may see every earlier key and its own
            y = F.scaled_dot_product_attention(q, k, v)
            return mha.out_proj(y.transpose(1, 2).reshape(B, T, D)), k, v
    '''),
    dedent('''
        def attend_with_cache(mha, x_new, k_cache, v_cache):
            B, _, D = x_new.shape
            H = mha.num_heads
            d = D // H
            q = mha.q_proj(x_new).view(B, 1, H, d).permute(0, 2, 1, 3)
            k = mha.k_proj(x_new).view(B, 1, H, d).permute(0, 2, 1, 3)
            v = mha.v_proj(x_new).view(B, 1, H, d).permute(0, 2, 1, 3)
            if k_cache is None:  # the first position: empty caches of length 0
                k_cache = k.new_zeros(B, H, 0, d)
                v_cache = v.new_zeros(B, H, 0, d)
            k_cache = torch.cat([k_cache, k], dim=2)
            v_cache = torch.cat([v_cache, v], dim=2)
            scores = torch.matmul(q, k_cache.transpose(2, 3)) / math.sqrt(d)
            out = torch.matmul(F.softmax(scores, dim=-1), v_cache)
            out = out.permute(0, 2, 1, 3).reshape(B, 1, D)
            return mha.out_proj(out), k_cache, v_cache
    '''),
    dedent('''
        def attend_with_cache(mha, x_new, k_cache, v_cache):
            # the cache as a list of positions, stacked back along the time axis
            B, _, D = x_new.shape
            H = mha.num_heads
            d = D // H
            q = mha.q_proj(x_new).view(B, H, d)
            k_new = mha.k_proj(x_new).view(B, H, d)
            v_new = mha.v_proj(x_new).view(B, H, d)
            keys = [] if k_cache is None else list(k_cache.unbind(dim=2))
            values = [] if v_cache is None else list(v_cache.unbind(dim=2))
            keys.append(k_new)
            values.append(v_new)
            k_all = torch.stack(keys, dim=2)  # (B, H, t + 1, d)
            v_all = torch.stack(values, dim=2)
            s = (q.unsqueeze(2) * k_all).sum(-1) / math.sqrt(d)  # (B, H, t + 1)
            w = torch.softmax(s, dim=-1)
            y = (w.unsqueeze(-1) * v_all).sum(dim=2)  # (B, H, d)
            return mha.out_proj(y.reshape(B, 1, D)), k_all, v_all
    '''),
    dedent('''
        def attend_with_cache(mha, x_new, k_cache, v_cache):
            """Scores in float64, cast back to the input's dtype."""
            dtype = x_new.dtype
            B, _, D = x_new.shape
            H = mha.num_heads
            d = D // H
            proj = [F.linear(x_new, lin.weight, lin.bias).view(B, 1, H, d).transpose(1, 2)
                    for lin in (mha.q_proj, mha.k_proj, mha.v_proj)]
            q, k, v = proj
            if k_cache is not None:
                k = torch.cat([k_cache, k], dim=2)
                v = torch.cat([v_cache, v], dim=2)
            s = q.double() @ k.double().transpose(-2, -1) / math.sqrt(d)
            w = torch.softmax(s, dim=-1)
            y = (w @ v.double()).to(dtype)
            return mha.out_proj(y.transpose(1, 2).reshape(B, 1, D)), k, v
    '''),
    dedent('''
        def attend_with_cache(mha, x_new, k_cache, v_cache):
            B, _, D = x_new.shape
            H = mha.num_heads
            d = D // H
            q, k, v = (p(x_new).unflatten(-1, (H, d)).transpose(1, 2)
                       for p in (mha.q_proj, mha.k_proj, mha.v_proj))
            if k_cache is not None:
                k = torch.cat([k_cache, k], dim=2)
                v = torch.cat([v_cache, v], dim=2)
            logits = (q @ k.mT) * d ** -0.5
            # softmax written out, with the max subtracted for stability
            logits = logits - logits.amax(dim=-1, keepdim=True)
            p = logits.exp()
            p = p / p.sum(dim=-1, keepdim=True)
            return mha.out_proj((p @ v).transpose(1, 2).flatten(2)), k, v
    '''),
    dedent('''
        def attend_with_cache(mha, x_new, k_cache, v_cache):
            # one fused projection for q, k and v
            B, _, D = x_new.shape
            H = mha.num_heads
            w = torch.cat([mha.q_proj.weight, mha.k_proj.weight, mha.v_proj.weight])
            b = torch.cat([mha.q_proj.bias, mha.k_proj.bias, mha.v_proj.bias])
            q, k, v = (x_new @ w.T + b).split(D, dim=-1)
            q, k, v = (t.reshape(B, 1, H, D // H).transpose(1, 2) for t in (q, k, v))
            if k_cache is not None:
                k = torch.cat([k_cache, k], dim=2)
                v = torch.cat([v_cache, v], dim=2)
            s = q @ k.transpose(-2, -1) / math.sqrt(D // H)
            w_att = torch.exp(s - torch.logsumexp(s, dim=-1, keepdim=True))
            y = (w_att @ v).transpose(1, 2).reshape(B, 1, D)
            return y @ mha.out_proj.weight.T + mha.out_proj.bias, k, v
    '''),
    dedent('''
        import math

        import torch


        def _step_heads(t, num_heads):
            """(B, 1, D) -> (B, H, 1, d)."""
            B, T, D = t.shape
            return t.reshape(B, T, num_heads, D // num_heads).transpose(1, 2)


        def _step_merge(t):
            """(B, H, 1, d) -> (B, 1, H * d)."""
            B, H, T, d = t.shape
            return t.transpose(1, 2).reshape(B, T, H * d)


        def attend_with_cache(mha, x_new, k_cache, v_cache):
            H = mha.num_heads
            q = _step_heads(mha.q_proj(x_new), H)
            k = _step_heads(mha.k_proj(x_new), H)
            v = _step_heads(mha.v_proj(x_new), H)
            k_all = k if k_cache is None else torch.cat([k_cache, k], dim=2)
            v_all = v if v_cache is None else torch.cat([v_cache, v], dim=2)
            assert k_all.shape[2] == v_all.shape[2]
            weights = torch.softmax(q @ k_all.transpose(-2, -1) / math.sqrt(q.shape[-1]), -1)
            return mha.out_proj(_step_merge(weights @ v_all)), k_all, v_all
    '''),
    dedent('''
        def attend_with_cache(mha, x_new, k_cache, v_cache):
            # one sequence of the batch at a time
            B, _, D = x_new.shape
            H = mha.num_heads
            d = D // H
            outs, ks, vs = [], [], []
            for b in range(B):
                x = x_new[b]  # (1, D)
                q = mha.q_proj(x).view(1, H, d).transpose(0, 1)  # (H, 1, d)
                k = mha.k_proj(x).view(1, H, d).transpose(0, 1)
                v = mha.v_proj(x).view(1, H, d).transpose(0, 1)
                if k_cache is not None:
                    k = torch.cat([k_cache[b], k], dim=1)  # (H, t + 1, d)
                    v = torch.cat([v_cache[b], v], dim=1)
                w = torch.softmax(torch.bmm(q, k.transpose(1, 2)) / math.sqrt(d), dim=-1)
                y = torch.bmm(w, v).transpose(0, 1).reshape(1, D)
                outs.append(mha.out_proj(y))
                ks.append(k)
                vs.append(v)
            return torch.stack(outs), torch.stack(ks), torch.stack(vs)
    '''),
]

INDUCTION_SCORE = [
    dedent('''
        def induction_score(weights, period):
            T = weights.shape[-1]
            rows = torch.arange(period, T, device=weights.device)  # queries in the repeats
            cols = rows - (period - 1)  # the token after the previous occurrence
            return weights[:, :, rows, cols].mean(dim=0).mean(dim=-1)
    '''),
    dedent('''
        def induction_score(weights, period):
            # the diagonal at offset -(period - 1) pairs query t with key t - period + 1;
            # its first entry is query period - 1, which has nothing earlier to copy from
            diag = torch.diagonal(weights, offset=-(period - 1), dim1=-2, dim2=-1)
            return diag[..., 1:].mean(dim=(0, -1))
    '''),
    dedent('''
        def induction_score(weights, period):
            B, H, T, _ = weights.shape
            total = torch.zeros(H, dtype=weights.dtype, device=weights.device)
            count = 0
            for t in range(period, T):
                total = total + weights[:, :, t, t - period + 1].sum(dim=0)
                count += B
            return total / count
    '''),
    dedent('''
        def induction_score(weights, period):
            """gather the key t - period + 1 of every query, then keep the queries t >= period."""
            B, H, T, _ = weights.shape
            keys = (torch.arange(T, device=weights.device) - period + 1).clamp(min=0)
            index = keys.view(1, 1, T, 1).expand(B, H, T, 1)
            picked = weights.gather(-1, index).squeeze(-1)  # (B, H, T)
            return picked[:, :, period:].mean(dim=(0, 2))
    '''),
    dedent('''
        def induction_score(weights, period):
            T = weights.shape[-1]
            i = torch.arange(T, device=weights.device)[:, None]  # queries
            j = torch.arange(T, device=weights.device)[None, :]  # keys
            selected = (j == i - period + 1) & (i >= period)  # (T, T)
            per_head = (weights * selected).sum(dim=(-2, -1))  # (B, H)
            return per_head.mean(dim=0) / selected.sum()
    '''),
    dedent('''
        def induction_score(weights, period):
            # a selector built from an identity: row period + i, column 1 + i
            T = weights.shape[-1]
            n = T - period
            selector = torch.zeros(T, T, dtype=weights.dtype, device=weights.device)
            selector[period:, 1:n + 1] = torch.eye(n, dtype=weights.dtype, device=weights.device)
            return (weights * selector).sum(dim=(-2, -1)).mean(dim=0) / n
    '''),
    dedent('''
        def induction_score(weights, period):
            T = weights.shape[-1]
            queries = weights[:, :, period:]  # (B, H, T - period, T)
            keys = torch.arange(1, T - period + 1, device=weights.device)
            one_hot = F.one_hot(keys, num_classes=T).to(weights.dtype)  # (T - period, T)
            picked = torch.einsum("bhqk,qk->bhq", queries, one_hot)
            return picked.mean(dim=(0, 2))
    '''),
    dedent('''
        def induction_score(weights, period):
            # index the flattened (T, T) matrix: entry (t, t - period + 1) of it sits at
            # t * T + t - period + 1 = t * (T + 1) - period + 1
            T = weights.shape[-1]
            t = torch.arange(period, T, device=weights.device)
            flat = weights.flatten(start_dim=-2)  # (B, H, T * T)
            return flat[..., t * (T + 1) - period + 1].mean(dim=(0, -1))
    '''),
    dedent('''
        def induction_score(weights, period):
            T = weights.shape[-1]
            rows = weights.index_select(2, torch.arange(period, T, device=weights.device))
            block = rows.index_select(3, torch.arange(1, T - period + 1, device=weights.device))
            return block.diagonal(dim1=-2, dim2=-1).mean(dim=(0, 2))
    '''),
    dedent('''
        def induction_score(weights: torch.Tensor, period: int) -> torch.Tensor:
            """Mean weight of queries t >= period on key t - period + 1, per head (in float64)."""
            assert weights.dim() == 4 and weights.shape[-1] == weights.shape[-2]
            w = weights.double()
            # query period + i, key 1 + i: the diagonal of the lower-left corner
            corner = w[:, :, period:, 1:]
            score = corner.diagonal(dim1=2, dim2=3).mean(dim=-1).mean(dim=0)
            return score.to(weights.dtype)
    '''),
    dedent('''
        def induction_score(weights, period):
            H, T = weights.shape[1], weights.shape[-1]
            scores = []
            for h in range(H):
                values = [weights[:, h, t, t - period + 1] for t in range(period, T)]
                scores.append(torch.stack(values).mean())
            return torch.stack(scores)
    '''),
    dedent('''
        def induction_score(weights, period):
            # ones on the diagonal -(period - 1) via tril/triu, rows before `period` removed
            T = weights.shape[-1]
            ones = torch.ones(T, T, dtype=torch.bool, device=weights.device)
            band = ones.tril(-(period - 1)) & ones.triu(-(period - 1))
            band[:period] = False
            kept = torch.where(band, weights, torch.zeros_like(weights))
            return kept.sum(dim=(-2, -1)).mean(dim=0) / (T - period)
    '''),
]


ANSWERS: dict[str, list[str]] = {
    "softmax": SOFTMAX,
    "scaled_dot_product_attention": SCALED_DOT_PRODUCT_ATTENTION,
    "causal_mask": CAUSAL_MASK,
    "self_attention": SELF_ATTENTION,
    "positional_encoding": POSITIONAL_ENCODING,
    "split_heads": SPLIT_HEADS,
    "merge_heads": MERGE_HEADS,
    "multi_head_self_attention": MULTI_HEAD_SELF_ATTENTION,
    "cross_attention": CROSS_ATTENTION,
    "offset_profile": OFFSET_PROFILE,
    "online_softmax": ONLINE_SOFTMAX,
    "flash_attention": FLASH_ATTENTION,
    "flash_kernel": FLASH_KERNEL,
    "grouped_query_attention": GROUPED_QUERY_ATTENTION,
    "mask_heads": MASK_HEADS,
    "head_parallel_attention": HEAD_PARALLEL_ATTENTION,
    "batched_heads": BATCHED_HEADS,
    "pre_ln_block": PRE_LN_BLOCK,
    "attend_with_cache": ATTEND_WITH_CACHE,
    "induction_score": INDUCTION_SCORE,
}
