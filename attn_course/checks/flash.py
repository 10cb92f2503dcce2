"""Checks for flash attention: the online softmax, and the tiled forward pass in PyTorch.

    check_online_softmax(fn, *, seed=0)
        fn(x, block_size) -> softmax(x, dim=-1), computed with one pass over blocks of the last
        dimension for the running maximum and sum, then one pass to write.
    check_flash_attention(fn, *, seed=0)
        fn(q, k, v, causal, block_size) -> (out (B, H, N, d), lse (B, H, N)): exact attention,
        a tile at a time, with the log-sum-exp of each query's scaled scores.

Both judge outputs only, against the reference (`attn_course.reference.flash`): how many passes
a function makes over the data, or which tiles it skips, cannot be seen from outside and is not
judged. The cases put the largest scores in late blocks (a maximum that arrives late must
rescale what was summed), use block sizes that do not divide the length, causal masks with tiles
that cross the diagonal, and N != M.
"""

from __future__ import annotations

import math

import torch

from attn_course.checks import catalogue
from attn_course.checks import draw as drawing
from attn_course.checks.check import Check
from attn_course.checks.mistakes import FlagHint, Mistake
from attn_course.checks.records import Case
from attn_course.checks.results import CheckResult
from attn_course.device import tolerances
from attn_course.formatting import dtype_text, shape_text
from attn_course.reference.flash import flash_attention_lse, online_softmax

__all__ = [
    "FLASH_ATTENTION_CHECK",
    "ONLINE_SOFTMAX_CHECK",
    "check_flash_attention",
    "check_online_softmax",
]

F64, F32 = torch.float64, torch.float32


# --------------------------------------------------------------------------------------------
# online_softmax(x, block_size)
# --------------------------------------------------------------------------------------------
def _rising(g, shape, spread):
    """Scores that grow along the last dim (the maximum arrives in the last block), shuffled
    within rows for half of the rows."""
    x = torch.randn(*shape, generator=g, dtype=F64) + spread * torch.linspace(0, 1, shape[-1])
    flip = torch.rand(shape[:-1], generator=g) < 0.5
    return torch.where(flip.unsqueeze(-1), x.flip(-1), x)


def _softmax_case(g, seed, i, name, shape, block, dtype, kind="rising", flags=(),
                  device="cpu") -> Case:
    x = _rising(g, shape, spread=8.0)
    if kind == "large":
        x = x + 1000.0
    elif kind == "falling":
        x[..., :block] += 1000.0  # the first block far above the rest: exp(x - m) with a later,
        # smaller maximum overflows
    elif kind == "masked":
        x[..., : max(1, block)] = -math.inf  # a first block with nothing in it
    atol, rtol = tolerances(dtype, device)
    all_flags = set(flags) | {kind} | ({"float32"} if dtype == F32 else set())
    return Case(
        name=name,
        inputs={"x": x.to(dtype=dtype, device=device), "block_size": block},
        shapes=(tuple(shape),),
        tolerance=(atol, rtol),
        description=f"x {shape_text(shape)} {dtype_text(dtype)}, block_size={block}"
                    + {"rising": ", largest values in late blocks",
                       "large": ", values ≈ 1000",
                       "falling": ", the first block ≈ 1000 above the rest",
                       "masked": ", the first block all -inf"}[kind],
        flags=frozenset(all_flags),
        key=f"online:{seed}:{i}:{name}:{device}",
    )


def softmax_cases(seed: int = 0, *, device: str | torch.device = "cpu") -> list[Case]:
    """Cases for online_softmax(x, block_size)."""
    del device
    g = torch.Generator().manual_seed(seed)
    specs = [
        ("(3, 16), blocks of 4", (3, 16), 4, F64),
        ("(2, 3, 10), blocks of 4 (10 is not a multiple)", (2, 3, 10), 4, F64),
        ("(4, 9), blocks of 1", (4, 9), 1, F64),
        ("(2, 12), one block of 64", (2, 12), 64, F64),
        ("(3, 20) float32, blocks of 8", (3, 20), 8, F32),
        ("(2, 12), values ≈ 1000, blocks of 4", (2, 12), 4, F64, "large"),
        ("(3, 12), the first block all -inf, blocks of 4", (3, 12), 4, F64, "masked"),
        ("(2, 12), the first block ≈ 1000 above the rest, blocks of 4", (2, 12), 4, F64,
         "falling"),
    ]
    return [_softmax_case(g, seed, i, *spec) for i, spec in enumerate(specs)]


def softmax_draw(seed: int, *, start: int, device: str | torch.device = "cpu") -> list[Case]:
    """Three cases drawn from `seed`: length 17-40, blocks of 3-9, float64, float32 and on
    `device`."""
    g = drawing.generator(seed)
    cases = []
    for dtype, where in drawing.placements(device):
        rows, n = drawing.integer(g, 2, 5), drawing.integer(g, 17, 40)
        block = drawing.integer(g, 3, 9)
        name = (f"drawn: ({rows}, {n}) {dtype_text(dtype)}, blocks of {block}"
                + drawing.on(where))
        cases.append(_softmax_case(g, seed, start + len(cases), name, (rows, n), block, dtype,
                                   device=where))
    return cases


def _online(x, block_size, *, rescale=True, running=True, subtract=True):
    """online_softmax with one piece switched off (the mistakes below)."""
    m = torch.full(x.shape[:-1], -math.inf, dtype=x.dtype, device=x.device)
    l = torch.zeros(x.shape[:-1], dtype=x.dtype, device=x.device)
    for j in range(0, x.shape[-1], block_size):
        block = x[..., j : j + block_size]
        m_new = torch.maximum(m, block.amax(-1)) if running else block.amax(-1)
        if not subtract:
            m_new = torch.zeros_like(m_new)
        safe_new = torch.where(torch.isinf(m_new), 0.0, m_new)
        factor = torch.exp(torch.where(torch.isinf(m), -math.inf, m - safe_new))
        l = (l * factor if rescale else l) + torch.exp(block - safe_new.unsqueeze(-1)).sum(-1)
        m = m_new
    return torch.exp(x - torch.where(torch.isinf(m), 0.0, m).unsqueeze(-1)) / l.unsqueeze(-1)


def sum_not_rescaled(x, block_size):
    return _online(x, block_size, rescale=False)


def block_maximum(x, block_size):
    return _online(x, block_size, running=False)


def maximum_not_subtracted(x, block_size):
    return _online(x, block_size, subtract=False)


def softmax_per_block(x, block_size):
    return torch.cat([b.softmax(-1) for b in x.split(block_size, dim=-1)], dim=-1)


ONLINE_SOFTMAX_MISTAKES: tuple[Mistake, ...] = (
    Mistake(
        "sum_not_rescaled",
        "the running sum is not rescaled when the maximum grows: terms summed as exp(x - m_old) "
        "are added to terms exp(x - m_new)",
        "before adding a block, multiply the sum so far by exp(m_old - m_new): "
        "l = l * torch.exp(m - m_new) + torch.exp(block - m_new[..., None]).sum(-1)",
        (sum_not_rescaled,),
    ),
    Mistake(
        "block_maximum",
        "the running maximum is the maximum of the current block only: it must be the maximum "
        "of everything read so far",
        "m_new = torch.maximum(m, block.amax(-1)), starting from m = -inf",
        (block_maximum,),
    ),
    Mistake(
        "maximum_not_subtracted",
        "the maximum is not subtracted before exp: large scores overflow to inf",
        "exponentiate exp(block - m_new[..., None]), and write exp(x - m) / l at the end",
        (maximum_not_subtracted,),
    ),
    Mistake(
        "softmax_per_block",
        "each block is normalised on its own: the weights must add up to 1 over the whole row",
        "keep one running maximum and one running sum per row across all blocks, and divide "
        "by the total sum only at the end",
        (softmax_per_block,),
    ),
)

ONLINE_SOFTMAX_CHECK = Check(
    "online_softmax",
    check_function="check_online_softmax",
    forbidden=("torch.softmax", "torch.nn.functional.softmax", "torch.Tensor.softmax",
               "torch.logsumexp", "torch.Tensor.logsumexp"),
    outputs=("weights",),
    signature="def online_softmax(x, block_size): ... return weights  # softmax over dim -1",
    make_cases=softmax_cases,
    draw=softmax_draw,
    oracle=online_softmax,
    mistakes=ONLINE_SOFTMAX_MISTAKES,
    flag_hints=(
        FlagHint(frozenset({"large"}), "it fails only for large values: subtract the running "
                                       "maximum before exp"),
        FlagHint(frozenset({"masked"}), "it fails only when a whole block is -inf: while the "
                                        "maximum is still -inf, exp(x - m) is exp(-inf + inf) "
                                        "= nan; use 0 in place of an infinite maximum there"),
    ),
)


def check_online_softmax(fn, *, seed: int = 0) -> CheckResult:
    """Check `fn(x, block_size)` -> softmax(x, dim=-1), block by block."""
    __tracebackhide__ = True
    return ONLINE_SOFTMAX_CHECK.check(fn, seed=seed)


# --------------------------------------------------------------------------------------------
# flash_attention(q, k, v, causal, block_size) -> (out, lse)
# --------------------------------------------------------------------------------------------
def _flash_case(g, seed, i, name, B, H, N, M, d, block, causal, dtype, flags=(),
                device="cpu") -> Case:
    q = torch.randn(B, H, N, d, generator=g, dtype=F64)
    k = torch.randn(B, H, M, d, generator=g, dtype=F64)
    v = torch.randn(B, H, M, d, generator=g, dtype=F64)
    k[..., M // 2 :, :] *= 2.0  # larger scores in late key tiles: the maximum arrives late
    atol, rtol = tolerances(dtype, device)
    all_flags = set(flags) | ({"causal"} if causal else set()) | (
        {"float32"} if dtype == F32 else set()) | ({"n_ne_m"} if N != M else set())
    return Case(
        name=name,
        inputs={n: t.to(dtype=dtype, device=device) for n, t in (("q", q), ("k", k), ("v", v))}
        | {"causal": causal, "block_size": block},
        shapes=((B, H, N, d), (B, H, N)),
        tolerance=(atol, rtol),
        description=f"q {shape_text(q.shape)}, k, v {shape_text(k.shape)} {dtype_text(dtype)}, "
                    f"causal={causal}, block_size={block}",
        flags=frozenset(all_flags),
        key=f"flash:{seed}:{i}:{name}:{device}",
    )


def flash_cases(seed: int = 0, *, device: str | torch.device = "cpu") -> list[Case]:
    """Cases for flash_attention(q, k, v, causal, block_size), simple -> hard."""
    g = torch.Generator().manual_seed(seed)
    specs = [
        ("(1, 2, 16, 8), blocks of 4", 1, 2, 16, 16, 8, 4, False, F64),
        ("(2, 2, 10, 8), blocks of 4 (10 is not a multiple)", 2, 2, 10, 10, 8, 4, False, F64),
        ("(1, 2, 6, 8) queries, 14 keys, blocks of 4", 1, 2, 6, 14, 8, 4, False, F64),
        ("(1, 3, 16, 8) causal, blocks of 4", 1, 3, 16, 16, 8, 4, True, F64),
        ("(2, 1, 13, 4) causal, blocks of 5", 2, 1, 13, 13, 4, 5, True, F64),
        ("(1, 2, 12, 16) float32 causal, blocks of 8", 1, 2, 12, 12, 16, 8, True, F32),
        ("(1, 1, 9, 8), one block of 32", 1, 1, 9, 9, 8, 32, False, F64),
        ("(1, 2, 6, 8) queries, 14 keys, causal, blocks of 4", 1, 2, 6, 14, 8, 4, True, F64),
    ]
    return [_flash_case(g, seed, i, *spec, device=device) for i, spec in enumerate(specs)]


def flash_draw(seed: int, *, start: int, device: str | torch.device = "cpu") -> list[Case]:
    """Three cases drawn from `seed`: N 17-30, blocks of 3-7, causal or not, float64,
    float32 and on `device`."""
    g = drawing.generator(seed)
    cases = []
    for dtype, where in drawing.placements(device):
        H, N = drawing.integer(g, 1, 3), drawing.integer(g, 17, 30)
        block = drawing.integer(g, 3, 7)
        causal = bool(drawing.integer(g, 0, 1))
        name = (f"drawn: (1, {H}, {N}, 8) {dtype_text(dtype)}, causal={causal}, blocks of "
                f"{block}" + drawing.on(where))
        cases.append(_flash_case(g, seed, start + len(cases), name, 1, H, N, N, 8, block,
                                 causal, dtype, device=where))
    return cases


def _flash(q, k, v, causal, block_size, *, scale=True, rescale_acc=True, rescale_sum=True,
           causal_end="diagonal", mask_diagonal=True, lse="full"):
    """flash_attention with one piece changed (the mistakes below)."""
    B, H, N, d = q.shape
    M = k.shape[2]
    factor = 1 / math.sqrt(d) if scale else 1.0
    outs, lses = [], []
    for i in range(0, N, block_size):
        qi = q[:, :, i : i + block_size] * factor
        rows = qi.shape[2]
        m = torch.full((B, H, rows), -math.inf, dtype=q.dtype, device=q.device)
        l = torch.zeros(B, H, rows, dtype=q.dtype, device=q.device)
        acc = torch.zeros(B, H, rows, v.shape[-1], dtype=q.dtype, device=q.device)
        if not causal:
            last = M
        elif causal_end == "diagonal":
            last = min(M, i + rows)
        else:  # "before": stops before the tile that holds the diagonal
            last = i
        tile_m = tile_l = None
        for j in range(0, last, block_size):
            s = qi @ k[:, :, j : j + block_size].transpose(-2, -1)
            if causal and mask_diagonal:
                query = torch.arange(i, i + rows, device=q.device).view(-1, 1)
                key = torch.arange(j, j + s.shape[-1], device=q.device).view(1, -1)
                s = s.masked_fill(key > query, -math.inf)
            m_new = torch.maximum(m, s.amax(-1))
            p = torch.exp(s - m_new.unsqueeze(-1))
            alpha = torch.exp(torch.where(torch.isinf(m), -math.inf, m - m_new))
            l = (alpha * l if rescale_sum else l) + p.sum(-1)
            vj = v[:, :, j : j + block_size]
            acc = (alpha.unsqueeze(-1) * acc if rescale_acc else acc) + p @ vj
            m = m_new
            tile_m, tile_l = s.amax(-1), torch.exp(s - s.amax(-1, keepdim=True)).sum(-1)
        outs.append(acc / l.unsqueeze(-1))
        if lse == "full":
            lses.append(m + torch.log(l))
        elif lse == "no_max":
            lses.append(torch.log(l))
        else:  # "last_tile": the log-sum-exp of the last tile's scores only
            lses.append(tile_m + torch.log(tile_l))
    return torch.cat(outs, dim=2), torch.cat(lses, dim=2)


def causal_from_the_last_key(q, k, v, causal=False, block_size=16):
    N, M = q.shape[2], k.shape[2]
    s = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
    if causal:
        keep = torch.ones(N, M, dtype=torch.bool, device=q.device).tril(M - N)
        s = s.masked_fill(~keep, -math.inf)
    lse = s.logsumexp(-1)
    return torch.exp(s - lse.unsqueeze(-1)) @ v, lse


def no_scale(q, k, v, causal=False, block_size=16):
    return _flash(q, k, v, causal, block_size, scale=False)


def acc_not_rescaled(q, k, v, causal=False, block_size=16):
    return _flash(q, k, v, causal, block_size, rescale_acc=False)


def sum_not_rescaled_flash(q, k, v, causal=False, block_size=16):
    return _flash(q, k, v, causal, block_size, rescale_sum=False)


def skips_the_diagonal_tile(q, k, v, causal=False, block_size=16):
    return _flash(q, k, v, causal, block_size, causal_end="before")


def diagonal_not_masked(q, k, v, causal=False, block_size=16):
    return _flash(q, k, v, causal, block_size, mask_diagonal=False)


def lse_of_the_last_tile(q, k, v, causal=False, block_size=16):
    return _flash(q, k, v, causal, block_size, lse="last_tile")


def lse_without_the_maximum(q, k, v, causal=False, block_size=16):
    return _flash(q, k, v, causal, block_size, lse="no_max")


FLASH_ATTENTION_MISTAKES: tuple[Mistake, ...] = (
    Mistake(
        "no_scale",
        "the scores are not divided by √d",
        "scale the queries once per tile: qi = q[:, :, i:i + block_size] / math.sqrt(d)",
        (no_scale,),
    ),
    Mistake(
        "acc_not_rescaled",
        "the accumulator is not rescaled when the running maximum grows: p @ v terms of "
        "different maxima are added together",
        "acc = alpha[..., None] * acc + p @ vj with alpha = torch.exp(m - m_new)",
        (acc_not_rescaled,),
    ),
    Mistake(
        "sum_not_rescaled",
        "the running sum l is not rescaled when the running maximum grows",
        "l = alpha * l + p.sum(-1) with alpha = torch.exp(m - m_new)",
        (sum_not_rescaled_flash,),
    ),
    Mistake(
        "skips_the_diagonal_tile",
        "under the causal mask the loop stops before the key tile that holds the diagonal: "
        "tiles are skipped that still hold keys a query may see (each query sees itself)",
        "walk the key tiles up to the tile's last query: range(0, min(M, i + rows), "
        "block_size), and mask inside the tile that crosses the diagonal",
        (skips_the_diagonal_tile,),
    ),
    Mistake(
        "diagonal_not_masked",
        "the key tile that crosses the diagonal is not masked: queries see keys after them",
        "in a tile where a key index can exceed a query index, set those scores to -inf: "
        "s.masked_fill(key > query, float('-inf'))",
        (diagonal_not_masked,),
    ),
    Mistake(
        "causal_from_the_last_key",
        "with fewer queries than keys, the causal mask is aligned to the last key (query i sees "
        "keys up to i + M - N): here, as in F.scaled_dot_product_attention's is_causal, query i "
        "sees keys 0 .. i",
        "compare positions from the start: mask key j > query i, and stop the key loop at "
        "min(M, i + rows)",
        (causal_from_the_last_key,),
    ),
    Mistake(
        "lse_of_the_last_tile",
        "the log-sum-exp is the one of the last key tile only: it must cover every key",
        "lse = m + torch.log(l) with the final running m and l",
        (lse_of_the_last_tile,),
    ),
    Mistake(
        "lse_without_the_maximum",
        "the log-sum-exp misses the running maximum: log(l) is the log of a sum of "
        "exp(score - m)",
        "add it back: lse = m + torch.log(l)",
        (lse_without_the_maximum,),
    ),
)

FLASH_ATTENTION_CHECK = Check(
    "flash_attention",
    check_function="check_flash_attention",
    forbidden=(*catalogue.TORCH_ATTENTION, "torch.softmax", "torch.nn.functional.softmax",
               "torch.Tensor.softmax", "torch.logsumexp", "torch.Tensor.logsumexp"),
    outputs=("out", "lse"),
    signature="def flash_attention(q, k, v, causal, block_size): ... return out, lse",
    make_cases=flash_cases,
    draw=flash_draw,
    oracle=flash_attention_lse,
    mistakes=FLASH_ATTENTION_MISTAKES,
    flag_hints=(
        FlagHint(frozenset({"causal"}), "it fails only with causal=True: look at which key "
                                        "tiles you walk and at the mask in the diagonal tile"),
        FlagHint(frozenset({"n_ne_m"}), "it fails only when N != M: take the key count from k"),
    ),
)


def check_flash_attention(fn, *, seed: int = 0) -> CheckResult:
    """Check `fn(q, k, v, causal, block_size)` -> (out, lse) against the reference."""
    __tracebackhide__ = True
    return FLASH_ATTENTION_CHECK.check(fn, seed=seed)
