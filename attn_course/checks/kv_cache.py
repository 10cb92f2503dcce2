"""The check for one decoding step with a key/value cache.

    check_attend_with_cache(fn, *, seed=0)
        fn(mha, x_new, k_cache, v_cache): mha a MultiHeadSelfAttention (q_proj, k_proj, v_proj,
        out_proj, num_heads), x_new (B, 1, D) the newest position's input, k_cache and v_cache
        (B, H, t, d) the earlier positions' keys and values, or None at the first position
        -> (out (B, 1, D), k_cache (B, H, t + 1, d), v_cache (B, H, t + 1, d)).

Judged against the whole sequence run at once: `out` must equal the last row of
mha(x, causal mask) over the t + 1 positions, and the caches must be the keys and values of all
t + 1 positions (the cases' caches are computed from real earlier inputs).
"""

from __future__ import annotations

import math

import torch

from attn_course.checks import draw as drawing
from attn_course.checks.check import Check
from attn_course.checks.mistakes import ExceptionHint, FlagHint, Mistake
from attn_course.checks.records import Case
from attn_course.checks.results import CheckResult
from attn_course.device import tolerances
from attn_course.formatting import dtype_text, shape_text
from attn_course.reference.mha import MultiHeadSelfAttention, merge_heads, split_heads

__all__ = ["ATTEND_WITH_CACHE_CHECK", "check_attend_with_cache"]

F64, F32 = torch.float64, torch.float32


def whole_sequence_oracle(mha, x_new, k_cache, v_cache):
    """The step with its scores written out: the same as `reference.attend_with_cache`, whose
    `out` is the last row of the whole sequence's causal attention (both are tested so)."""
    H = mha.num_heads
    q = split_heads(mha.q_proj(x_new), H)  # (B, H, 1, d)
    k = split_heads(mha.k_proj(x_new), H)
    v = split_heads(mha.v_proj(x_new), H)
    if k_cache is not None:
        k, v = torch.cat([k_cache, k], dim=2), torch.cat([v_cache, v], dim=2)  # (B, H, t+1, d)
    weights = torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1]), dim=-1)
    return mha.out_proj(merge_heads(weights @ v)), k, v


def _mha(g, D: int, H: int, dtype, device) -> MultiHeadSelfAttention:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(torch.randint(2**31, (1,), generator=g)))
        mha = MultiHeadSelfAttention(D, H)
        for lin in (mha.q_proj, mha.k_proj, mha.v_proj, mha.out_proj):
            torch.nn.init.normal_(lin.bias, 0.0, 0.3)
    return mha.to(device=device, dtype=dtype).eval()


def _case(g, seed, i, name, B, t, D, H, dtype, device="cpu") -> Case:
    mha = _mha(g, D, H, dtype, device)
    x = torch.randn(B, t + 1, D, generator=g, dtype=F64).to(dtype=dtype, device=device)
    d = D // H
    with torch.no_grad():  # the earlier positions' keys and values, from real inputs
        k = split_heads(mha.k_proj(x[:, :t]), H) if t else None  # (B, H, t, d)
        v = split_heads(mha.v_proj(x[:, :t]), H) if t else None
    flags = {"first"} if t == 0 else set()
    flags |= {"float32"} if dtype == F32 else set()
    caches = "None" if t == 0 else shape_text((B, H, t, d))
    return Case(
        name=name,
        inputs={"mha": mha, "x_new": x[:, t:].contiguous(), "k_cache": k, "v_cache": v},
        shapes=((B, 1, D), (B, H, t + 1, d), (B, H, t + 1, d)),
        tolerance=tolerances(dtype, device),
        description=f"{H} heads of {d}, x_new {shape_text((B, 1, D))} {dtype_text(dtype)}, "
                    f"caches {caches} → expected out {shape_text((B, 1, D))}, caches "
                    f"{shape_text((B, H, t + 1, d))}",
        flags=frozenset(flags),
        key=f"attend_with_cache:{seed}:{i}:{name}:{device}",
    )


def cache_cases(seed: int = 0, *, device: str | torch.device = "cpu") -> list[Case]:
    """Cases for attend_with_cache(mha, x_new, k_cache, v_cache), simple -> hard."""
    g = torch.Generator().manual_seed(seed)
    specs = [
        ("2 heads, 3 positions cached", 2, 3, 8, 2, F64),
        ("the first position (caches None)", 2, 0, 8, 2, F64),
        ("4 heads, 6 positions cached", 1, 6, 16, 4, F64),
        ("1 head, 1 position cached", 3, 1, 6, 1, F64),
        ("3 heads, 5 positions cached, float32", 2, 5, 12, 3, F32),
    ]
    return [_case(g, seed, i, *spec, device=device) for i, spec in enumerate(specs)]


def cache_draw(seed: int, *, start: int, device: str | torch.device = "cpu") -> list[Case]:
    """Three cases drawn from `seed`: a batch of 4, 1-4 heads of 2-4, 1-9 positions cached."""
    gen = drawing.generator(seed)
    cases = []
    for dtype, where in drawing.placements(device):
        H, d, t = (drawing.integer(gen, 1, 4), drawing.integer(gen, 2, 4),
                   drawing.integer(gen, 1, 9))
        name = (f"drawn: {H} heads of {d}, {t} positions cached, {dtype_text(dtype)}"
                + drawing.on(where))
        cases.append(_case(gen, seed, start + len(cases), name, 4, t, H * d, H, dtype,
                           device=where))
    return cases


# ---- the known mistakes' variants ------------------------------------------------------------
def _qkv(mha, x_new):
    H = mha.num_heads
    return (split_heads(mha.q_proj(x_new), H), split_heads(mha.k_proj(x_new), H),
            split_heads(mha.v_proj(x_new), H))


def _attend(mha, q, k, v, scale=True):
    s = q @ k.transpose(-2, -1) / (math.sqrt(q.shape[-1]) if scale else 1.0)
    return mha.out_proj(merge_heads(torch.softmax(s, dim=-1) @ v))


def _appended(k_cache, v_cache, k, v):
    if k_cache is None:
        return k, v
    return torch.cat([k_cache, k], dim=2), torch.cat([v_cache, v], dim=2)


def new_position_not_attended(mha, x_new, k_cache, v_cache):
    """Attends over the cache before appending: the newest token cannot see itself."""
    q, k, v = _qkv(mha, x_new)
    if k_cache is None:
        out = torch.zeros_like(x_new) + mha.out_proj.bias
    else:
        out = _attend(mha, q, k_cache, v_cache)
    return (out, *_appended(k_cache, v_cache, k, v))


def cache_not_read(mha, x_new, k_cache, v_cache):
    """The new query attends to its own key only: the cache is stored but never read."""
    q, k, v = _qkv(mha, x_new)
    return (_attend(mha, q, k, v), *_appended(k_cache, v_cache, k, v))


def cache_overwritten(mha, x_new, k_cache, v_cache):
    """Attends correctly but returns only the new position as the cache."""
    q, k, v = _qkv(mha, x_new)
    k_all, v_all = _appended(k_cache, v_cache, k, v)
    return _attend(mha, q, k_all, v_all), k, v


def square_causal_mask(mha, x_new, k_cache, v_cache):
    """ones(1, t + 1).tril(): a causal mask built as if queries and keys were aligned at 0,
    so the single query sees the first key only."""
    q, k, v = _qkv(mha, x_new)
    k_all, v_all = _appended(k_cache, v_cache, k, v)
    s = q @ k_all.transpose(-2, -1) / math.sqrt(q.shape[-1])  # (B, H, 1, t + 1)
    keep = torch.ones(1, s.shape[-1], dtype=torch.bool, device=s.device).tril()
    s = s.masked_fill(~keep, float("-inf"))
    return mha.out_proj(merge_heads(torch.softmax(s, dim=-1) @ v_all)), k_all, v_all


def no_scale(mha, x_new, k_cache, v_cache):
    q, k, v = _qkv(mha, x_new)
    k_all, v_all = _appended(k_cache, v_cache, k, v)
    return _attend(mha, q, k_all, v_all, scale=False), k_all, v_all


ATTEND_WITH_CACHE_MISTAKES: tuple[Mistake, ...] = (
    Mistake(
        "new_position_not_attended",
        "the new position attends over the cache before its own key and value are appended, "
        "so the newest token cannot see itself (causal attention includes the diagonal)",
        "append first, then attend: k = torch.cat([k_cache, k_new], dim=2) (the same for v), "
        "then softmax(q k^T / √d) v over all t + 1 keys",
        (new_position_not_attended,),
    ),
    Mistake(
        "cache_not_read",
        "the new query attends to its own key only: the cached keys and values are never used",
        "concatenate the cache and the new key along the positions, torch.cat([k_cache, k_new], "
        "dim=2), and attend over the result",
        (cache_not_read,),
    ),
    Mistake(
        "cache_overwritten",
        "the output is right but the returned cache holds only the new position: the next step "
        "would forget everything before it",
        "return the concatenated caches, (B, H, t + 1, d), not the new key and value alone",
        (cache_overwritten,),
    ),
    Mistake(
        "square_causal_mask",
        "a causal mask built for a square (T, T) score matrix, e.g. ones(1, t + 1).tril(), "
        "lets the one new query see only the first key",
        "the newest query may see every cached key and itself: no mask is needed in a step",
        (square_causal_mask,),
    ),
    Mistake(
        "no_scale",
        "the scores are not scaled by 1/√d",
        "divide q @ k.transpose(-2, -1) by math.sqrt(d), with d = D // H the size of one head",
        (no_scale,),
    ),
)

ATTEND_WITH_CACHE_CHECK = Check(
    "attend_with_cache",
    check_function="check_attend_with_cache",
    outputs=("out", "k_cache", "v_cache"),
    signature="def attend_with_cache(mha, x_new, k_cache, v_cache): ... "
              "return out, k_cache, v_cache",
    make_cases=cache_cases,
    draw=cache_draw,
    oracle=whole_sequence_oracle,
    mistakes=ATTEND_WITH_CACHE_MISTAKES,
    exception_hints=(
        ExceptionHint(r"expected Tensor as element 0 in argument 0, but got NoneType",
                      "at the first position the caches are None: start them from the new key "
                      "and value (`if k_cache is None:`)"),
    ),
    flag_hints=(
        FlagHint(frozenset({"first"}),
                 "it fails only at the first position: with k_cache None, the caches are the "
                 "new key and value, and the query attends to them alone"),
    ),
)


def check_attend_with_cache(fn, *, seed: int = 0) -> CheckResult:
    """Check `fn(mha, x_new, k_cache, v_cache)` -> (out, k_cache, v_cache) against the whole
    sequence's causal attention."""
    __tracebackhide__ = True
    return ATTEND_WITH_CACHE_CHECK.check(fn, seed=seed)
