"""Flash attention's forward pass as a Triton kernel, with raw pointer arithmetic.

    out, lse = triton_flash_attention(q, k, v, causal=True)   # (B, H, N, d), (B, H, N) float32
    out, lse = launch_flash_kernel(kernel, q, k, v, causal)   # any kernel with FLASH_SIGNATURE
    triton, tl = import_triton()      # the modules, or stand-ins that say why Triton is missing

One program computes one tile of BLOCK_M queries of one (batch, head): it loads its queries once,
walks over the key/value tiles with the online softmax (running max m, running sum l, accumulator
acc, all float32), skips the key tiles after its last query when causal, and writes
out = acc / l and lse = m + log l. Pointers are computed by hand from the tensors' strides: a
tile of rows r and features f of a (B, H, N, d) tensor sits at
    base + b * stride_b + h * stride_h + r * stride_n + f * stride_d.

On a machine without a CUDA GPU the kernel runs in Triton's interpreter (TRITON_INTERPRET=1, set
here before Triton is imported when no GPU is present): slow, numpy underneath, but exact, and
enough to check a kernel at small sizes. Triton ships with PyTorch's default Linux wheel; where
it is missing (a CPU-only build, macOS), `triton_available()` says so and why.
"""

from __future__ import annotations

import importlib.util
import os
import types

import torch

__all__ = [
    "BLOCK_M",
    "BLOCK_N",
    "FLASH_SIGNATURE",
    "import_triton",
    "launch_flash_kernel",
    "reference_kernel",
    "triton_available",
    "triton_flash_attention",
]

BLOCK_M, BLOCK_N = 32, 32  # queries and keys per tile (the interpreter is slow: keep tiles small)
SUPPORTED_DTYPES = (torch.float32, torch.float16, torch.bfloat16)  # bfloat16 on a GPU only


def triton_available() -> tuple[bool, str]:
    """(True, "") when Triton can run here (GPU, or its interpreter); else (False, why)."""
    if importlib.util.find_spec("triton") is None:
        return False, (
            "Triton is not installed: it comes with PyTorch's default Linux wheel "
            "(pip install torch); on a CPU-only build, `pip install triton numpy` adds it "
            "(its interpreter runs the kernels on the CPU). Triton does not run on macOS."
        )
    return True, ""


def _interpret_without_gpu() -> None:
    """Without a CUDA GPU, Triton can only run in its interpreter: switch it on before Triton is
    first imported (PyTorch imports it on its own, e.g. when it looks for a compiler)."""
    if not torch.cuda.is_available():
        os.environ.setdefault("TRITON_INTERPRET", "1")


_interpret_without_gpu()


def _triton():
    """Import Triton, in interpreter mode when there is no CUDA GPU."""
    _interpret_without_gpu()
    import triton
    import triton.language as tl

    if not torch.cuda.is_available() and type(tl.zeros).__name__ != "InterpretedFunction":
        raise RuntimeError(
            "Triton was imported before its interpreter was switched on, so its kernels cannot "
            "run on this machine without a GPU. Restart the kernel and run the notebook's "
            "import cell first (it imports attn_course.reference.flash_triton, which switches the "
            "interpreter on), or start Python with TRITON_INTERPRET=1."
        )
    return triton, tl


class _MissingTriton(types.ModuleType):
    """Stands in for `triton` and `triton.language` where Triton is not installed: a kernel cell
    still defines its function (`@triton.jit` leaves it as it is, `tl.constexpr` annotates), and
    anything else says why Triton is missing."""

    constexpr = object

    def __init__(self, name: str, why: str):
        super().__init__(name)
        self._why = why

    def jit(self, fn=None, **options):
        return fn if fn is not None else (lambda f: f)

    def __getattr__(self, name: str):
        raise RuntimeError(self._why)


def import_triton() -> tuple[types.ModuleType, types.ModuleType]:
    """(triton, triton.language), in interpreter mode without a CUDA GPU; where Triton is not
    installed, stand-ins whose `jit` leaves a function as it is and whose other attributes
    raise with how to get Triton."""
    ok, why = triton_available()
    if not ok:
        return _MissingTriton("triton", why), _MissingTriton("triton.language", why)
    return _triton()


# The arguments every flash kernel takes, in order: launch_flash_kernel passes them.
FLASH_SIGNATURE = (
    "Q, K, V, O, L",  # pointers to the first element of q, k, v, out (B, H, N, d), lse (B, H, N)
    "sq_b, sq_h, sq_n, sq_d, sk_b, sk_h, sk_n, sk_d, sv_b, sv_h, sv_n, sv_d, "
    "so_b, so_h, so_n, so_d, sl_b, sl_h, sl_n",  # strides in elements
    "H, N, M, scale",  # heads, queries, keys, 1/sqrt(d)
    "D: tl.constexpr, CAUSAL: tl.constexpr, FP32: tl.constexpr, "
    "BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr",
)

_KERNEL = None


def reference_kernel():
    """The course's flash kernel (a `@triton.jit` function with FLASH_SIGNATURE)."""
    return _kernel()


def _kernel():
    global _KERNEL
    if _KERNEL is not None:
        return _KERNEL
    triton, tl = _triton()

    @triton.jit
    def flash_forward(
        Q, K, V, O, L,  # pointers to the first element of each tensor
        sq_b, sq_h, sq_n, sq_d,  # q's strides, in elements
        sk_b, sk_h, sk_n, sk_d,
        sv_b, sv_h, sv_n, sv_d,
        so_b, so_h, so_n, so_d,
        sl_b, sl_h, sl_n,
        H, N, M, scale,
        D: tl.constexpr, CAUSAL: tl.constexpr, FP32: tl.constexpr,
        BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr,
    ):
        tile, bh = tl.program_id(0), tl.program_id(1)
        b, h = bh // H, bh % H
        rows = tile * BLOCK_M + tl.arange(0, BLOCK_M)  # this program's queries
        feats = tl.arange(0, D)
        q = tl.load(Q + b * sq_b + h * sq_h + rows[:, None] * sq_n + feats[None, :] * sq_d,
                    mask=rows[:, None] < N, other=0.0)  # (BLOCK_M, D)
        m = tl.full([BLOCK_M], float("-inf"), tl.float32)
        l = tl.zeros([BLOCK_M], tl.float32)
        acc = tl.zeros([BLOCK_M, D], tl.float32)
        end = M
        if CAUSAL:
            end = tl.minimum((tile + 1) * BLOCK_M, M)  # no key after this tile's last query
        for start in range(0, end, BLOCK_N):
            cols = start + tl.arange(0, BLOCK_N)
            kt = tl.load(K + b * sk_b + h * sk_h + cols[None, :] * sk_n + feats[:, None] * sk_d,
                         mask=cols[None, :] < M, other=0.0)  # (D, BLOCK_N): k transposed
            if FP32:
                s = tl.dot(q, kt, input_precision="ieee") * scale  # (BLOCK_M, BLOCK_N)
            else:
                s = tl.dot(q, kt) * scale
            keep = cols[None, :] < M
            if CAUSAL:
                keep = keep & (cols[None, :] <= rows[:, None])
            s = tl.where(keep, s, float("-inf"))
            m_new = tl.maximum(m, tl.max(s, 1))
            p = tl.exp(s - m_new[:, None])
            alpha = tl.exp(m - m_new)  # rescales what was summed with the old maximum
            l = l * alpha + tl.sum(p, 1)
            v = tl.load(V + b * sv_b + h * sv_h + cols[:, None] * sv_n + feats[None, :] * sv_d,
                        mask=cols[:, None] < M, other=0.0)  # (BLOCK_N, D)
            if FP32:
                acc = acc * alpha[:, None] + tl.dot(p, v, input_precision="ieee")
            else:
                acc = acc * alpha[:, None] + tl.dot(p.to(v.dtype), v)
            m = m_new
        out = acc / l[:, None]
        tl.store(O + b * so_b + h * so_h + rows[:, None] * so_n + feats[None, :] * so_d,
                 out.to(O.dtype.element_ty), mask=rows[:, None] < N)
        tl.store(L + b * sl_b + h * sl_h + rows * sl_n, m + tl.log(l), mask=rows < N)

    _KERNEL = flash_forward
    return _KERNEL


def triton_flash_attention(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    causal: bool = False,
    block_m: int = BLOCK_M,
    block_n: int = BLOCK_N,
) -> tuple[torch.Tensor, torch.Tensor]:
    """q (B, H, N, d), k and v (B, H, M, d) -> out (B, H, N, d) in q's dtype, lse (B, H, N) in
    float32, by the course's kernel. d must be a power of two from 16 to 256; float32, float16,
    or bfloat16 on a GPU."""
    return launch_flash_kernel(_kernel(), q, k, v, causal, block_m, block_n)


def launch_flash_kernel(
    kernel,
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    causal: bool = False,
    block_m: int = BLOCK_M,
    block_n: int = BLOCK_N,
    out: torch.Tensor | None = None,
    lse: torch.Tensor | None = None,
    **launch: int,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Run `kernel` (a `@triton.jit` function with FLASH_SIGNATURE) on a grid of
    (query tiles, B * H) programs: q (B, H, N, d), k and v (B, H, M, d) -> (out, lse), written
    into `out` and `lse` when given (any strides), else into new tensors. `launch`: Triton's
    launch options on a GPU (num_warps, num_stages)."""
    ok, why = triton_available()
    if not ok:
        raise RuntimeError(why)
    fits = q.dim() == 4 and k.shape[:2] == q.shape[:2] and v.shape == k.shape
    if not fits or k.shape[-1] != q.shape[-1]:
        raise ValueError(
            f"q (B, H, N, d), k and v (B, H, M, d) expected; got {tuple(q.shape)}, "
            f"{tuple(k.shape)}, {tuple(v.shape)}."
        )
    B, H, N, d = q.shape
    if d not in (16, 32, 64, 128, 256):
        raise ValueError(f"the head size d must be a power of two from 16 to 256, got {d}.")
    if q.dtype not in SUPPORTED_DTYPES or k.dtype != q.dtype or v.dtype != q.dtype:
        raise ValueError(f"q, k, v must share one dtype of {SUPPORTED_DTYPES}; got {q.dtype}, "
                         f"{k.dtype}, {v.dtype}.")
    if q.dtype == torch.bfloat16 and not q.is_cuda:
        raise ValueError("bfloat16 needs a GPU: Triton's interpreter (numpy) has no bfloat16; "
                         "use float32 or float16 on the CPU.")
    triton, _ = _triton()
    out = torch.empty_like(q) if out is None else out
    lse = torch.empty(B, H, N, dtype=torch.float32, device=q.device) if lse is None else lse
    grid = (triton.cdiv(N, block_m), B * H)
    kernel[grid](
        q, k, v, out, lse,
        *q.stride(), *k.stride(), *v.stride(), *out.stride(), *lse.stride(),
        H, N, k.shape[2], d**-0.5,
        D=d, CAUSAL=causal, FP32=q.dtype == torch.float32, BLOCK_M=block_m, BLOCK_N=block_n,
        **launch,
    )
    return out, lse
