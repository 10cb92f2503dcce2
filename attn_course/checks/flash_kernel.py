"""Check for flash attention written as a Triton kernel.

    check_flash_kernel(kernel, *, seed=0)
        kernel: a `@triton.jit` function with the arguments of
        `attn_course.reference.flash_triton.FLASH_SIGNATURE`; one program computes one tile of
        BLOCK_M queries of one (batch, head) and writes out (B, H, N, d) and lse (B, H, N).

The check launches the kernel as `launch_flash_kernel` does, on tiles of 16 (64 for the GPU's
real-size cases), and judges out and lse against the reference. Without a CUDA GPU the kernel
runs in Triton's interpreter, at small sizes; with one, compiled, on the same cases moved to the
GPU (and, in self-study, on two more at N = 1024 in float16). Where Triton is missing the check
is skipped and says how to get it.

A kernel computes its addresses itself, so a mistake can reach memory outside its tensors. Each
input is therefore copied into the middle of a block of NaNs and each output is written into the
middle of a block of -4096: a load past an edge reads NaN (the outputs show it), a store past an
edge changes the block around the output (the check reports it), and neither touches memory that
is not the check's. Eight of the known mistakes are kernels too, each with one deliberate bug;
two (edges not masked, strides ignored) are recognised by which cases fail.
"""

from __future__ import annotations

import math
from typing import Any

import torch

from attn_course.checks import draw as drawing
from attn_course.checks.check import Check
from attn_course.checks.mistakes import FlagHint, Mistake, fails_exactly_with
from attn_course.checks.records import Case
from attn_course.checks.results import CheckSkipped
from attn_course.device import tolerances
from attn_course.formatting import dtype_text, shape_text
from attn_course.reference.flash import flash_attention_lse
from attn_course.reference.flash_triton import (
    _triton,
    launch_flash_kernel,
    triton_available,
)

__all__ = ["FLASH_KERNEL_CHECK", "FLASH_KERNEL_MISTAKES", "check_flash_kernel", "run_kernel"]

F64, F32, F16 = torch.float64, torch.float32, torch.float16
BLOCK = 16  # queries and keys per tile in the small cases (tl.dot needs at least 16)
PAD = 1 << 15  # elements before and after every tensor the kernel sees: NaN around the inputs,
FENCE = -4096.0  # and this around the outputs (exact in float16; no kernel writes it by chance)


class OutsideTheOutput(RuntimeError):
    """The kernel stored values outside `out` or `lse`."""


# --------------------------------------------------------------------------------------------
# running a kernel, fenced in by NaNs
# --------------------------------------------------------------------------------------------
def _triton_device() -> torch.device:
    """Where Triton runs kernels here: the GPU, or the CPU in its interpreter."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def _fenced(t: torch.Tensor, device: torch.device,
            fill: float = math.nan) -> tuple[torch.Tensor, torch.Tensor]:
    """(view, slab): a copy of `t` with the same memory order (contiguous, or e.g. (B, N, H, d)
    seen as (B, H, N, d)), in the middle of a slab of `fill` on `device`."""
    order = sorted(range(t.dim()), key=lambda i: (-t.stride(i), i))  # outermost dim first
    slab = torch.full((t.numel() + 2 * PAD,), fill, dtype=t.dtype, device=device)
    inner = slab[PAD : PAD + t.numel()].view([t.shape[i] for i in order])
    view = inner.permute([order.index(i) for i in range(t.dim())])
    view.copy_(t.detach())
    return view, slab


def _fence_intact(slab: torch.Tensor) -> bool:
    return bool((slab[:PAD] == FENCE).all() and (slab[-PAD:] == FENCE).all())


def _is_kernel(obj: Any) -> bool:
    """A Triton kernel (`@triton.jit`, compiled or interpreted), or one of the course's."""
    module = getattr(type(obj), "__module__", "") or ""
    return (module.startswith("triton.") or module.startswith("attn_course.")) and hasattr(
        obj, "__getitem__")


def run_kernel(kernel, q, k, v, causal, block_size):
    """(out, lse) of `kernel` launched on q, k, v fenced in NaNs, on this machine's Triton
    device; back on q's device. Raises OutsideTheOutput when it stored outside them."""
    if not _is_kernel(kernel):
        raise TypeError(
            f"expected a Triton kernel, got {type(kernel).__name__}: decorate the function with "
            "@triton.jit (the line above `def flash_kernel`) and pass it without calling it"
        )
    ok, why = triton_available()
    if not ok:
        raise RuntimeError(why)
    device = _triton_device()
    (qf, _), (kf, _), (vf, _) = (_fenced(t, device) for t in (q, k, v))
    out, out_slab = _fenced(torch.full_like(q, math.nan), device, fill=FENCE)
    lse, lse_slab = _fenced(torch.full(q.shape[:-1], math.nan, dtype=F32), device, fill=FENCE)
    try:
        launch_flash_kernel(kernel, qf, kf, vf, bool(causal), block_size, block_size, out=out,
                            lse=lse)
    except Exception as exc:  # the interpreter wraps what the kernel raised: show that
        if "unsupported AST node type: Raise" in str(exc):  # the blank exercise, compiled
            raise NotImplementedError() from None
        cause = exc.__cause__
        if type(exc).__name__ == "InterpreterError" and isinstance(cause, Exception):
            raise cause from None
        raise
    if device.type == "cuda":
        torch.cuda.synchronize()
    for name, slab, what in (("O", out_slab, "rows < N and features < D"),
                             ("L", lse_slab, "rows < N")):
        if not _fence_intact(slab):
            raise OutsideTheOutput(
                f"your kernel stored values outside {name}: mask its tl.store with {what} "
                "(the last tile of queries reaches past N when N is not a multiple of BLOCK_M)"
            )
    return out.to(q.device), lse.to(q.device)


# --------------------------------------------------------------------------------------------
# cases
# --------------------------------------------------------------------------------------------
def _kernel_case(g, seed, i, name, B, H, N, M, d, causal, *, dtype=F32, block=BLOCK,
                 strided=False) -> Case:
    q = torch.randn(B, H, N, d, generator=g, dtype=F64)
    k = torch.randn(B, H, M, d, generator=g, dtype=F64)
    v = torch.randn(B, H, M, d, generator=g, dtype=F64)
    k[..., M // 2 :, :] *= 2.0  # larger scores in late key tiles: the maximum arrives late
    tensors = {n: t.to(dtype) for n, t in (("q", q), ("k", k), ("v", v))}
    if strided:  # (B, N, H, d) in memory, seen as (B, H, N, d)
        tensors = {n: t.transpose(1, 2).contiguous().transpose(1, 2) for n, t in tensors.items()}
    flags = ({"causal"} if causal else set()) | ({"n_ne_m"} if N != M else set()) | (
        {"ragged"} if N % block or M % block else set()) | ({"strided"} if strided else set())
    layout = ", stored (B, N, H, d)" if strided else ""
    return Case(
        name=name,
        inputs={**tensors, "causal": causal, "block_size": block},
        shapes=((B, H, N, d), (B, H, N)),
        tolerance=tolerances(dtype, "cuda"),  # a GPU's sums run in another order
        description=f"q {shape_text(q.shape)}, k, v {shape_text(k.shape)} {dtype_text(dtype)}"
                    f"{layout}, causal={causal}, tiles of {block}",
        flags=frozenset(flags),
        key=f"flash_kernel:{seed}:{i}:{name}",
    )


def kernel_cases(seed: int = 0) -> list[Case]:
    """Small cases, simple -> hard: the interpreter runs them in about a second."""
    g = torch.Generator().manual_seed(seed)
    specs = [
        ("(1, 2, 32, 16)", 1, 2, 32, 32, 16, False),
        ("(2, 2, 40, 16): 40 is not a multiple of 16", 2, 2, 40, 40, 16, False),
        ("(1, 2, 20, 16) queries, 45 keys", 1, 2, 20, 45, 16, False),
        ("(1, 2, 48, 16) causal", 1, 2, 48, 48, 16, True),
        ("(1, 1, 37, 32) causal: 37 is not a multiple of 16", 1, 1, 37, 37, 32, True),
        ("(1, 2, 32, 16) queries, 48 keys, causal", 1, 2, 32, 48, 16, True),
        ("(2, 2, 32, 16) causal, stored (B, N, H, d)", 2, 2, 32, 32, 16, True,
         {"strided": True}),
        ("(1, 2, 64, 64) causal", 1, 2, 64, 64, 64, True),
    ]
    return [_kernel_case(g, seed, i, *spec[:7], **(spec[7] if len(spec) > 7 else {}))
            for i, spec in enumerate(specs)]


def kernel_draw(seed: int, *, start: int, device: str | torch.device = "cpu") -> list[Case]:
    """Three cases drawn from `seed`: N 17-60, d 16 or 32, causal or not; float32, float16, and
    float32 stored (B, N, H, d). (`device` is not used: the kernel runs where Triton runs.)"""
    del device
    g = drawing.generator(seed)
    cases = []
    for dtype, strided in ((F32, False), (F16, False), (F32, True)):
        H, N, d = drawing.integer(g, 1, 2), drawing.integer(g, 17, 60), drawing.pick(g, (16, 32))
        causal = bool(drawing.integer(g, 0, 1))
        name = f"drawn: (1, {H}, {N}, {d}) {dtype_text(dtype)}, causal={causal}" + (
            ", stored (B, N, H, d)" if strided else "")
        cases.append(_kernel_case(g, seed, start + len(cases), name, 1, H, N, N, d, causal,
                                  dtype=dtype, strided=strided))
    return cases


def gpu_cases(seed: int) -> list[Case]:
    """Real sizes for a GPU: (1, 4, 1024, 64) in float16 on tiles of 64, causal or not."""
    g = torch.Generator().manual_seed(seed + 4096)
    return [_kernel_case(g, seed, 100 + i, f"(1, 4, 1024, 64) float16 on the GPU, causal="
                         f"{causal}, tiles of 64", 1, 4, 1024, 1024, 64, causal, dtype=F16,
                         block=64) for i, causal in enumerate((False, True))]


def kernel_oracle(q, k, v, causal, block_size):
    """The reference in float64: out in q's dtype, lse in float32 (what a kernel writes)."""
    out, lse = flash_attention_lse(q.double(), k.double(), v.double(), causal, block_size)
    return out.to(q.dtype), lse.float()


# --------------------------------------------------------------------------------------------
# the known mistakes, as kernels
# --------------------------------------------------------------------------------------------
_MISTAKEN = None


def _mistaken_kernel():
    """The flash kernel with switches, each of which puts in one known mistake."""
    global _MISTAKEN
    if _MISTAKEN is not None:
        return _MISTAKEN
    triton, tl = _triton()

    @triton.jit
    def mistaken_flash_kernel(
        Q, K, V, O, L,
        sq_b, sq_h, sq_n, sq_d, sk_b, sk_h, sk_n, sk_d, sv_b, sv_h, sv_n, sv_d,
        so_b, so_h, so_n, so_d, sl_b, sl_h, sl_n,
        H, N, M, scale,
        D: tl.constexpr, CAUSAL: tl.constexpr, FP32: tl.constexpr,
        BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr,
        SCALE: tl.constexpr = True, RESCALE_ACC: tl.constexpr = True,
        RESCALE_SUM: tl.constexpr = True, SKIP_DIAGONAL: tl.constexpr = False,
        MASK_DIAGONAL: tl.constexpr = True, FROM_LAST_KEY: tl.constexpr = False,
        LSE: tl.constexpr = 0,  # 0: m + log l; 1: the last tile's; 2: log l
    ):
        tile, bh = tl.program_id(0), tl.program_id(1)
        b, h = bh // H, bh % H
        rows = tile * BLOCK_M + tl.arange(0, BLOCK_M)
        feats = tl.arange(0, D)
        q = tl.load(Q + b * sq_b + h * sq_h + rows[:, None] * sq_n + feats[None, :] * sq_d,
                    mask=rows[:, None] < N, other=0.0)
        m = tl.full([BLOCK_M], float("-inf"), tl.float32)
        l = tl.zeros([BLOCK_M], tl.float32)
        tile_m = tl.zeros([BLOCK_M], tl.float32)
        tile_l = tl.zeros([BLOCK_M], tl.float32)
        acc = tl.zeros([BLOCK_M, D], tl.float32)
        shift = 0
        if FROM_LAST_KEY:
            shift = M - N
        end = M
        if CAUSAL:
            if SKIP_DIAGONAL:
                end = tl.minimum(tile * BLOCK_M, M)
            else:
                end = tl.minimum((tile + 1) * BLOCK_M + shift, M)
        for start in range(0, end, BLOCK_N):
            cols = start + tl.arange(0, BLOCK_N)
            kt = tl.load(K + b * sk_b + h * sk_h + cols[None, :] * sk_n + feats[:, None] * sk_d,
                         mask=cols[None, :] < M, other=0.0)
            if FP32:
                s = tl.dot(q, kt, input_precision="ieee")
            else:
                s = tl.dot(q, kt)
            if SCALE:
                s = s * scale
            keep = cols[None, :] < M
            if CAUSAL:
                if MASK_DIAGONAL:
                    keep = keep & (cols[None, :] <= rows[:, None] + shift)
            s = tl.where(keep, s, float("-inf"))
            m_new = tl.maximum(m, tl.max(s, 1))
            p = tl.exp(s - m_new[:, None])
            alpha = tl.exp(m - m_new)
            if RESCALE_SUM:
                l = l * alpha + tl.sum(p, 1)
            else:
                l = l + tl.sum(p, 1)
            tile_m = tl.max(s, 1)
            tile_l = tl.sum(tl.exp(s - tile_m[:, None]), 1)
            v = tl.load(V + b * sv_b + h * sv_h + cols[:, None] * sv_n + feats[None, :] * sv_d,
                        mask=cols[:, None] < M, other=0.0)
            if FP32:
                pv = tl.dot(p, v, input_precision="ieee")
            else:
                pv = tl.dot(p.to(v.dtype), v)
            if RESCALE_ACC:
                acc = acc * alpha[:, None] + pv
            else:
                acc = acc + pv
            m = m_new
        out = acc / l[:, None]
        tl.store(O + b * so_b + h * so_h + rows[:, None] * so_n + feats[None, :] * so_d,
                 out.to(O.dtype.element_ty), mask=rows[:, None] < N)
        if LSE == 1:
            lse = tile_m + tl.log(tile_l)
        elif LSE == 2:
            lse = tl.log(l)
        else:
            lse = m + tl.log(l)
        tl.store(L + b * sl_b + h * sl_h + rows * sl_n, lse, mask=rows < N)

    _MISTAKEN = mistaken_flash_kernel
    return _MISTAKEN


class MistakenKernel:
    """The mistaken kernel with some switches set, launched like any kernel: kernel[grid](...)."""

    def __init__(self, **switches: Any):
        self.switches = switches

    def __getitem__(self, grid):
        launch = _mistaken_kernel()[grid]
        return lambda *args, **kwargs: launch(*args, **kwargs, **self.switches)

    def __repr__(self) -> str:
        return f"MistakenKernel({', '.join(f'{k}={v}' for k, v in self.switches.items())})"


FLASH_KERNEL_MISTAKES: tuple[Mistake, ...] = (
    Mistake(
        "no_scale",
        "the scores are not multiplied by 1/√d",
        "multiply the scores by the `scale` argument: s = tl.dot(q, kt) * scale",
        (MistakenKernel(SCALE=False),),
    ),
    Mistake(
        "acc_not_rescaled",
        "the accumulator is not rescaled when the running maximum grows",
        "acc = acc * alpha[:, None] + tl.dot(p, v) with alpha = tl.exp(m - m_new)",
        (MistakenKernel(RESCALE_ACC=False),),
    ),
    Mistake(
        "sum_not_rescaled",
        "the running sum l is not rescaled when the running maximum grows",
        "l = l * alpha + tl.sum(p, 1) with alpha = tl.exp(m - m_new)",
        (MistakenKernel(RESCALE_SUM=False),),
    ),
    Mistake(
        "skips_the_diagonal_tile",
        "under the causal mask the loop stops before the key tile that holds the diagonal: "
        "each query must still see the keys of its own tile up to itself",
        "walk the key tiles up to the tile's last query: end = tl.minimum((tile + 1) * BLOCK_M, "
        "M), and mask inside the tile that crosses the diagonal",
        (MistakenKernel(SKIP_DIAGONAL=True),),
    ),
    Mistake(
        "diagonal_not_masked",
        "the key tile that crosses the diagonal is not masked: queries see keys after them",
        "keep = (cols[None, :] < M) & (cols[None, :] <= rows[:, None]); "
        "s = tl.where(keep, s, float('-inf'))",
        (MistakenKernel(MASK_DIAGONAL=False),),
    ),
    Mistake(
        "causal_from_the_last_key",
        "with fewer queries than keys, the causal mask is aligned to the last key: here query "
        "i sees keys 0 .. i, as in the PyTorch exercise",
        "compare positions from the start: keep cols <= rows, and end the key loop at "
        "tl.minimum((tile + 1) * BLOCK_M, M)",
        (MistakenKernel(FROM_LAST_KEY=True),),
    ),
    Mistake(
        "lse_of_the_last_tile",
        "the log-sum-exp is the one of the last key tile only: it must cover every key",
        "store m + tl.log(l) with the final running m and l",
        (MistakenKernel(LSE=1),),
    ),
    Mistake(
        "lse_without_the_maximum",
        "the log-sum-exp misses the running maximum: log(l) is the log of a sum of "
        "exp(score - m)",
        "store m + tl.log(l)",
        (MistakenKernel(LSE=2),),
    ),
    Mistake(
        "edges_not_masked",
        "it fails exactly when N or M is not a multiple of the tile: the last tile of queries "
        "or keys reaches past the end, and those rows are read or scored as if they were there",
        "mask every tl.load past the end (mask=rows[:, None] < N or cols < M, other=0.0), set "
        "the scores of keys >= M to -inf, and mask the stores with rows < N",
        detect=fails_exactly_with("ragged"),
    ),
    Mistake(
        "strides_ignored",
        "it fails exactly when the tensors are not stored (B, H, N, d) one after another: the "
        "addresses assume a layout instead of using the strides",
        "build every address from the strides the kernel gets: Q + b * sq_b + h * sq_h + "
        "rows[:, None] * sq_n + feats[None, :] * sq_d (and the same for K, V, O, L)",
        detect=fails_exactly_with("strided"),
    ),
)


class FlashKernelCheck(Check):
    """A check whose answer is a Triton kernel: launched fenced in NaNs by `run_kernel`,
    skipped where Triton is missing, with the GPU's real sizes added in self-study on a GPU."""

    def cases(self, seed: int = 0, *, accelerator: str | None = None,
              **options: Any) -> list[Case]:
        cases = super().cases(seed, accelerator=accelerator, **options)
        return cases + gpu_cases(seed) if accelerator == "cuda" else cases

    def run(self, fn, cases):
        if fn is self.oracle:  # the reference in PyTorch
            return super().run(fn, cases)
        return super().run(lambda q, k, v, causal, block_size: run_kernel(
            fn, q, k, v, causal, block_size), cases)

    def not_a_function(self, fn: Any) -> str | None:
        if _is_kernel(fn):
            return None
        if callable(fn) and hasattr(fn, "__code__"):
            return ("expected a Triton kernel, got a plain Python function: put @triton.jit on "
                    "the line above `def flash_kernel` and run that cell again")
        return super().not_a_function(fn)

    def call_text(self, case: Case) -> str:
        block, causal = case.inputs["block_size"], case.inputs["causal"]
        return (f"{self.name}[grid](q, k, v, out, lse, <strides>, ..., CAUSAL={causal}, "
                f"BLOCK_M={block}, BLOCK_N={block}), launched by launch_flash_kernel")

    def own_code(self, fn: Any) -> Any:
        return getattr(fn, "fn", fn)  # the Python function under @triton.jit

    def check(self, fn: Any, *, seed: int = 0, **options: Any):
        __tracebackhide__ = True
        ok, why = triton_available()
        if not ok:
            return CheckSkipped(self.name, why)
        return super().check(fn, seed=seed, **options)


FLASH_KERNEL_CHECK = FlashKernelCheck(
    "flash_kernel",
    check_function="check_flash_kernel",
    forbidden=("triton.language.inline_asm_elementwise",),
    outputs=("out", "lse"),
    signature="@triton.jit\ndef flash_kernel(Q, K, V, O, L, <strides>, H, N, M, scale, D, CAUSAL, "
              "FP32, BLOCK_M, BLOCK_N): ...",
    make_cases=kernel_cases,
    draw=kernel_draw,
    oracle=kernel_oracle,
    mistakes=FLASH_KERNEL_MISTAKES,
    flag_hints=(
        FlagHint(frozenset({"causal"}), "it fails only with CAUSAL: look at where the key loop "
                                        "ends and at the mask in the diagonal tile"),
        FlagHint(frozenset({"n_ne_m"}), "it fails only when N != M: queries stop at N, keys at "
                                        "M"),
    ),
)


def check_flash_kernel(kernel, *, seed: int = 0):
    """Check a Triton flash attention kernel: (out, lse) against the reference."""
    __tracebackhide__ = True
    return FLASH_KERNEL_CHECK.check(kernel, seed=seed)
