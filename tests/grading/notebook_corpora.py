"""Attacks on the graded notebooks, each with what the grader must conclude.

A submission is the student notebook with some answer cells replaced (the others keep the
course's solution, so every item not under attack must still pass). `Expect` gives, per item,
the status and score, and a piece of the message; `unchecked` gives the outcome when the same
file is graded with --no-answer-policy (only the sandbox and the out-of-kernel judge hold then),
for the attacks where that is meaningful.
"""

from __future__ import annotations

import json
import textwrap
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Attack:
    answers: dict[str, str]  # grade_id -> the answer cell's text
    expect: dict[str, tuple[str, float, str]]  # item -> (status, score, piece of the message)
    unchecked: dict[str, tuple[str, float, str]] = field(default_factory=dict)


def solution_answers(notebook: str) -> dict[str, str]:
    """The course's own answer cells of a notebook (markers removed)."""
    nb = json.loads((ROOT / "solutions" / f"{notebook}.ipynb").read_text())
    out = {}
    for cell in nb["cells"]:
        meta = cell["metadata"].get("nbgrader", {})
        if cell["cell_type"] == "code" and meta.get("solution") and not meta.get("grade"):
            text = "".join(cell["source"])
            out[meta["grade_id"]] = "\n".join(line for line in text.splitlines()
                                              if "### BEGIN SOLUTION" not in line
                                              and "### END SOLUTION" not in line) + "\n"
    return out


def submission(notebook: str, answers: dict[str, str]) -> bytes:
    """The student notebook with the solution's answers, then `answers`, in its answer cells."""
    nb = json.loads((ROOT / "notebooks" / f"{notebook}.ipynb").read_text())
    filled = {**solution_answers(notebook), **answers}
    for cell in nb["cells"]:
        grade_id = cell["metadata"].get("nbgrader", {}).get("grade_id")
        if grade_id in filled:
            cell["source"] = filled[grade_id]
    return json.dumps(nb, indent=1).encode()


def _code(text: str) -> str:
    return textwrap.dedent(text)


# ---- notebook 01: scaled dot-product attention -------------------------------------------------
NUMPY_SDPA = _code("""\
    import numpy as np

    def scaled_dot_product_attention(q, k, v, mask=None):
        qn, kn, vn = (t.detach().numpy() for t in (q, k, v))
        s = qn @ np.swapaxes(kn, -1, -2) / np.sqrt(qn.shape[-1])
        if mask is not None:
            s = np.where(mask.numpy(), s, -np.inf)
        w = np.exp(s - s.max(axis=-1, keepdims=True))
        w = w / w.sum(axis=-1, keepdims=True)
        return torch.from_numpy(w @ vn).to(q.dtype), torch.from_numpy(w).to(q.dtype)
    """)
# The gradients of a function without autograd, reported as merely "skipped".
FORGED_GRADIENTS = NUMPY_SDPA + _code("""\
    import attn_course.checks.run as run
    run._grads = lambda case, *rest: dict.fromkeys(case.grad, "skipped")
    """)
# A blank answer, and a probe that records what the course's reference returns.
PROBE_RECORDS_REFERENCE = _code("""\
    def scaled_dot_product_attention(q, k, v, mask=None):
        raise NotImplementedError()

    import attn_course.grading.kernel_probe as kernel_probe
    from attn_course import reference as _reference
    _probe = kernel_probe.probe
    def _fake(directory, filename, name, target, options):
        return _probe(directory, filename, name,
                      lambda: _reference.scaled_dot_product_attention, options)
    kernel_probe.probe = _fake
    """)

NOTEBOOK_01 = "01_scaled_dot_product_attention"
ATTACKS_01 = {
    "solution": Attack({}, {"sdpa-check": ("passed", 5, "")}),
    "calls_torch": Attack(
        {"sdpa-answer": _code("""\
            def scaled_dot_product_attention(q, k, v, mask=None):
                out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
                w = torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1]), dim=-1)
                return out, w
            """)},
        {"sdpa-check": ("policy_violation", 0, "`F.scaled_dot_product_attention` is what this "
                                               "exercise asks you to write yourself")}),
    "calls_the_reference": Attack(
        {"sdpa-answer": _code("""\
            def scaled_dot_product_attention(q, k, v, mask=None):
                return reference.scaled_dot_product_attention(q, k, v, mask)
            """)},
        {"sdpa-check": ("policy_violation", 0, "`reference` is defined by the notebook")}),
    "probe_records_the_reference": Attack(
        {"sdpa-answer": PROBE_RECORDS_REFERENCE},
        {"sdpa-check": ("policy_violation", 0, "attn_course.grading.kernel_probe")}),
    "forged_gradients": Attack(
        {"sdpa-answer": FORGED_GRADIENTS},
        {"sdpa-check": ("policy_violation", 0, "attn_course.checks.run")},
        unchecked={"sdpa-check": ("failed", 0, "gradients do not reach q, k, v")}),
}

# ---- notebook 03: self-attention and the positional encoding ---------------------------------
NOTEBOOK_03 = "03_self_attention"
ATTACKS_03 = {
    "solution": Attack({}, {"self-attention-check": ("passed", 4, ""),
                            "pe-check": ("passed", 3, "")}),
    "stubs_and_their_own_checks": Attack(
        {"self-attention-answer": _code("""\
            class SelfAttention(nn.Module):
                pass

            def check_self_attention(*args, **kwargs):
                return None
            """),
         "pe-answer": _code("""\
            def sinusoidal_positional_encoding(T, d_model):
                pass

            def check_positional_encoding(*args, **kwargs):
                return None
            """)},
        {"self-attention-check": ("policy_violation", 0, "`check_self_attention` is a name the "
                                                         "notebook defines"),
         "pe-check": ("policy_violation", 0, "`check_positional_encoding` is a name")},
        unchecked={"self-attention-check": ("failed", 0, "SelfAttention"),
                   "pe-check": ("failed", 0, "returned None")}),
    "errors_swallowed": Attack(
        {"self-attention-answer": _code("""\
            class SelfAttention(nn.Module):
                pass

            get_ipython().set_custom_exc((Exception,), lambda *args, **kwargs: None)
            """)},
        {"self-attention-check": ("policy_violation", 0, "get_ipython"),
         "pe-check": ("passed", 3, "")},
        unchecked={"self-attention-check": ("failed", 0, "SelfAttention"),
                   "pe-check": ("passed", 3, "")}),
    "wraps_torch_attention": Attack(
        {"self-attention-answer": _code("""\
            class SelfAttention(nn.Module):
                def __init__(self, d_model, d_k, d_v=None, bias=False):
                    super().__init__()
                    self.inner = nn.MultiheadAttention(d_model, 1, bias=bias, batch_first=True)

                def forward(self, x, mask=None):
                    return self.inner(x, x, x, attn_mask=None if mask is None else ~mask)
            """)},
        {"self-attention-check": ("policy_violation", 0, "nn.MultiheadAttention"),
         "pe-check": ("passed", 3, "")}),
}

# ---- notebook 04: multi-head attention -------------------------------------------------------
NOTEBOOK_04 = "04_multi_head_attention"
ATTACKS_04 = {
    "solution": Attack({}, {"split-check": ("passed", 2, ""), "merge-check": ("passed", 2, ""),
                            "mha-check": ("passed", 5, "")}),
    "stub_and_its_own_check": Attack(
        {"mha-answer": _code("""\
            class MultiHeadSelfAttention(nn.Module):
                pass

            def check_multi_head_self_attention(*args, **kwargs):
                return None
            """)},
        {"split-check": ("passed", 2, ""), "merge-check": ("passed", 2, ""),
         "mha-check": ("policy_violation", 0, "`check_multi_head_self_attention` is a name")},
        unchecked={"mha-check": ("failed", 0, "MultiHeadSelfAttention")}),
    "wraps_torch_attention": Attack(
        {"mha-answer": _code("""\
            class MultiHeadSelfAttention(nn.Module):
                def __init__(self, d_model, num_heads, bias=True):
                    super().__init__()
                    self.inner = nn.MultiheadAttention(d_model, num_heads, bias=bias,
                                                       batch_first=True)

                def forward(self, x, mask=None, return_weights=False):
                    out, w = self.inner(x, x, x, average_attn_weights=False)
                    return (out, w) if return_weights else out
            """)},
        {"mha-check": ("policy_violation", 0, "nn.MultiheadAttention")}),
    "split_from_the_reference": Attack(
        {"split-answer": "split_heads = reference.split_heads\n"},
        {"split-check": ("policy_violation", 0, "`reference`"),
         "merge-check": ("passed", 2, ""),
         "mha-check": ("policy_violation", 0, "`split_heads` is defined by the answer cell "
                                              "`split-answer`")}),
}

# ---- notebook 05: why several heads ------------------------------------------------------------
NOTEBOOK_05 = "05_why_several_heads"
ATTACKS_05 = {
    "solution": Attack({}, {"profile-check": ("passed", 2, "")}),
    "imports_the_course": Attack(
        {"profile-answer": _code("""\
            from attn_course.reference import offset_profile
            """)},
        {"profile-check": ("policy_violation", 0, "attn_course")}),
    "borrows_the_notebooks_reference": Attack(
        {"profile-answer": _code("""\
            def offset_profile(weights, max_offset):
                return reference.offset_profile(weights, max_offset)
            """)},
        {"profile-check": ("policy_violation", 0, "`reference`")}),
    "reads_keys_after_the_query": Attack(
        {"profile-answer": _code("""\
            def offset_profile(weights, max_offset):
                cols = [torch.diagonal(weights, offset=k, dim1=-2, dim2=-1).mean(dim=(0, 2))
                        for k in range(max_offset + 1)]
                near = torch.stack(cols, dim=-1)
                return torch.cat([near, 1 - near.sum(-1, keepdim=True)], dim=-1)
            """)},
        {"profile-check": ("failed", 0, "keys after the query")}),
}

# ---- notebook 07: choosing the number of heads ------------------------------------------------
NOTEBOOK_07 = "07_choosing_the_number_of_heads"
ATTACKS_07 = {
    "solution": Attack({}, {"mask-check": ("passed", 3, ""), "gqa-check": ("passed", 3, "")}),
    "calls_torch_gqa": Attack(
        {"gqa-answer": _code("""\
            def grouped_query_attention(q, k, v, causal):
                return F.scaled_dot_product_attention(q, k, v, is_causal=causal, enable_gqa=True)
            """)},
        {"mask-check": ("passed", 3, ""),
         "gqa-check": ("policy_violation", 0, "F.scaled_dot_product_attention")}),
    "borrows_the_reference": Attack(
        {"mask-answer": "mask_heads = reference.mask_heads\n"},
        {"mask-check": ("policy_violation", 0, "`reference`"), "gqa-check": ("passed", 3, "")}),
    "masks_after_the_projection": Attack(
        {"mask-answer": _code("""\
            def mask_heads(heads, xi, w_o, b_o):
                B, H, T, d = heads.shape
                out = heads.transpose(1, 2).reshape(B, T, H * d) @ w_o.T + b_o
                D = out.shape[-1]
                return (out.view(B, T, H, D // H) * xi.view(H, 1)).reshape(B, T, D)
            """)},
        {"mask-check": ("failed", 0, "after the output projection")}),
    "tiles_the_kv_heads": Attack(
        {"gqa-answer": _code("""\
            def grouped_query_attention(q, k, v, causal):
                n = q.shape[1] // k.shape[1]
                k, v = k.repeat(1, n, 1, 1), v.repeat(1, n, 1, 1)
                s = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
                if causal:
                    s = s.masked_fill(torch.ones_like(s, dtype=torch.bool).triu(1), -math.inf)
                return s.softmax(-1) @ v
            """)},
        {"gqa-check": ("failed", 0, "repeat_interleave")}),
}

# ---- notebook 08: flash attention -------------------------------------------------------------
NOTEBOOK_08 = "08_flash_attention"


def _triton_kernel(*replacements: tuple[str, str]) -> str:
    """The solution's Triton kernel with some lines changed."""
    text = solution_answers(NOTEBOOK_08)["triton-answer"]
    for old, new in replacements:
        assert old in text, old
        text = text.replace(old, new)
    return text


ATTACKS_08 = {
    "solution": Attack({}, {"online-check": ("passed", 3, ""), "flash-check": ("passed", 5, ""),
                            "triton-check": ("passed", 4, "")}),
    "calls_sdpa_and_softmax": Attack(
        {"online-answer": _code("""\
            def online_softmax(x, block_size):
                return torch.softmax(x, dim=-1)
            """),
         "flash-answer": _code("""\
            def flash_attention(q, k, v, causal, block_size):
                out = F.scaled_dot_product_attention(q, k, v, is_causal=causal)
                s = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
                if causal:
                    s = s.masked_fill(torch.ones_like(s, dtype=torch.bool).triu(1), -math.inf)
                return out, s.logsumexp(-1)
            """)},
        {"online-check": ("policy_violation", 0, "`torch.softmax`"),
         "flash-check": ("policy_violation", 0, "F.scaled_dot_product_attention")}),
    "borrows_the_reference": Attack(
        {"flash-answer": "flash_attention = reference.flash_attention_lse\n"},
        {"online-check": ("passed", 3, ""), "flash-check": ("policy_violation", 0, "`reference`")}),
    "forgets_the_rescale": Attack(
        {"flash-answer": _code("""\
            def flash_attention(q, k, v, causal, block_size):
                B, H, N, d = q.shape
                M = k.shape[2]
                out = torch.empty_like(q)
                lse = torch.empty(B, H, N, dtype=q.dtype)
                for i in range(0, N, block_size):
                    qi = q[:, :, i:i + block_size] / math.sqrt(d)
                    r = qi.shape[2]
                    m = torch.full((B, H, r), -math.inf, dtype=q.dtype)
                    l = torch.zeros(B, H, r, dtype=q.dtype)
                    acc = torch.zeros(B, H, r, d, dtype=q.dtype)
                    for j in range(0, min(M, i + r) if causal else M, block_size):
                        s = qi @ k[:, :, j:j + block_size].transpose(-2, -1)
                        if causal:
                            s = s.masked_fill(torch.arange(j, j + s.shape[-1])[None]
                                              > torch.arange(i, i + r)[:, None], -math.inf)
                        m_new = torch.maximum(m, s.amax(-1))
                        p = torch.exp(s - m_new[..., None])
                        alpha = torch.exp(m - m_new)
                        l = alpha * l + p.sum(-1)
                        acc = acc + p @ v[:, :, j:j + block_size]
                        m = m_new
                    out[:, :, i:i + r] = acc / l[..., None]
                    lse[:, :, i:i + r] = m + torch.log(l)
                return out, lse
            """)},
        {"online-check": ("passed", 3, ""),
         "flash-check": ("failed", 0, "the accumulator is not rescaled")}),
    # the Triton kernel: graded in the interpreter here, compiled on a GPU
    "borrows_the_course_kernel": Attack(
        {"triton-answer": "flash_kernel = reference_kernel()\n"},
        {"flash-check": ("passed", 5, ""),
         "triton-check": ("policy_violation", 0, "`reference_kernel`")}),
    "kernel_reaches_the_driver": Attack(
        {"triton-answer": _triton_kernel(
            ("    tile = tl.program_id(0)\n",
             "    tile = tl.program_id(0)\n    device = triton.runtime.driver.active\n"))},
        {"triton-check": ("policy_violation", 0, "triton.runtime")}),
    "kernel_stores_past_the_end": Attack(
        {"triton-answer": _triton_kernel(
            ("(acc / l[:, None]).to(O.dtype.element_ty), mask=rows[:, None] < N)",
             "(acc / l[:, None]).to(O.dtype.element_ty))"))},
        {"flash-check": ("passed", 5, ""),
         "triton-check": ("failed", 0, "stored values outside O")}),
    "kernel_reads_far_away": Attack(  # a pointer off by far more than any fence: the sandboxed
        # kernel crashes; the items before it keep their scores
        {"triton-answer": _triton_kernel(
            ("    tile = tl.program_id(0)\n",
             "    tile = tl.program_id(0)\n"
             "    tl.store(O + (1 << 40), tl.load(Q + (1 << 40)))\n"))},
        {"online-check": ("passed", 3, ""), "flash-check": ("passed", 5, ""),
         "triton-check": ("crashed", 0, "The kernel died while running this test")}),
    "torch_posing_as_a_kernel": Attack(
        {"triton-answer": _code("""\
            class Launch:
                def __getitem__(self, grid):
                    return self.run

                def run(self, Q, K, V, O, L, *args, **kwargs):
                    s = Q @ K.transpose(-2, -1) / math.sqrt(Q.shape[-1])
                    O.copy_(torch.softmax(s, -1) @ V)
                    L.copy_(s.logsumexp(-1))

            flash_kernel = Launch()
            """)},
        {"triton-check": ("failed", 0, "expected your function, got Launch")}),
}

# ---- notebook 06: GPU acceleration ------------------------------------------------------------
NOTEBOOK_06 = "06_gpu_acceleration"
ATTACKS_06 = {
    "solution": Attack({}, {"batched-check": ("passed", 3, "")}),
    "wraps_torch_attention": Attack(
        {"batched-answer": _code("""\
            def batched_heads(x, w_q, w_k, w_v):
                H, D, d = w_q.shape
                mha = torch.nn.MultiheadAttention(D, H, batch_first=True)
                return mha(x, x, x)[0]
            """)},
        {"batched-check": ("policy_violation", 0, "MultiheadAttention")}),
    "borrows_the_loop": Attack(
        {"batched-answer": "batched_heads = reference.heads_loop\n"},
        {"batched-check": ("policy_violation", 0, "`reference`")}),
    "scales_by_the_model_width": Attack(
        {"batched-answer": _code("""\
            def batched_heads(x, w_q, w_k, w_v):
                xh = x.unsqueeze(1)
                q, k, v = xh @ w_q, xh @ w_k, xh @ w_v
                return torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(x.shape[-1]), -1) @ v
            """)},
        {"batched-check": ("failed", 0, "divided by √D")}),
}

# ---- notebook 09: heads across processes ------------------------------------------------------
NOTEBOOK_09 = "09_heads_across_processes"
ATTACKS_09 = {
    "solution": Attack({}, {"parallel-check": ("passed", 4, "")}),
    "borrows_the_reference": Attack(
        {"parallel-answer": "head_parallel_attention = reference.head_parallel."
                            "head_parallel_attention\n"},
        {"parallel-check": ("policy_violation", 0, "`reference`")}),
    "calls_torch_attention": Attack(
        {"parallel-answer": _code("""\
            def head_parallel_attention(x, part, all_reduce):
                out = F.scaled_dot_product_attention(x, x, x)
                return out
            """)},
        {"parallel-check": ("policy_violation", 0, "F.scaled_dot_product_attention")}),
    "adds_the_bias_on_every_rank": Attack(
        {"parallel-answer": _code("""\
            def head_parallel_attention(x, part, all_reduce):
                B, T, D = x.shape
                h = part["heads"]
                q, k, v = ((x @ part[f"w_{n}"].T + part[f"b_{n}"]).view(B, T, h, -1)
                           .transpose(1, 2) for n in "qkv")
                w = torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1]), -1)
                share = (w @ v).transpose(1, 2).reshape(B, T, -1) @ part["w_o"].T
                return all_reduce(share + part["b_o"])
            """)},
        {"parallel-check": ("failed", 0, "bias is added on every rank")}),
    "calls_torch_distributed_itself": Attack(
        {"parallel-answer": _code("""\
            import torch.distributed as dist

            def head_parallel_attention(x, part, all_reduce):
                out = x * 1.0
                dist.all_reduce(out)
                return out
            """)},
        {"parallel-check": ("policy_violation", 0, "torch.distributed")}),
}

# ---- notebook 10: a tiny GPT ------------------------------------------------------------------
NOTEBOOK_10 = "10_tiny_gpt"
ATTACKS_10 = {
    "solution": Attack({}, {"mha-check": ("passed", 2, ""), "block-check": ("passed", 3, ""),
                            "cache-check": ("passed", 3, ""),
                            "induction-check": ("passed", 2, "")}),
    "borrows_the_reference": Attack(
        {"block-answer": "pre_ln_block = reference.block.pre_ln_block\n"},
        {"mha-check": ("passed", 2, ""), "block-check": ("policy_violation", 0, "`reference`")}),
    "post_ln_block": Attack(
        {"block-answer": _code("""\
            def pre_ln_block(block, x, mask):
                x = block.ln1(x + block.attn(x, mask))
                if block.mlp is not None:
                    x = block.ln2(x + block.mlp(x))
                return x
            """)},
        {"block-check": ("failed", 0, "post-LN")}),
    "cache_not_read": Attack(
        {"cache-answer": _code("""\
            def attend_with_cache(mha, x_new, k_cache, v_cache):
                B, _, D = x_new.shape
                H = mha.num_heads
                q, k, v = (p(x_new).view(B, 1, H, D // H).transpose(1, 2)
                           for p in (mha.q_proj, mha.k_proj, mha.v_proj))
                w = torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(D // H), dim=-1)
                out = mha.out_proj((w @ v).transpose(1, 2).reshape(B, 1, D))
                if k_cache is not None:
                    k, v = torch.cat([k_cache, k], dim=2), torch.cat([v_cache, v], dim=2)
                return out, k, v
            """)},
        {"cache-check": ("failed", 0, "never used")}),
    "induction_off_by_one": Attack(
        {"induction-answer": _code("""\
            def induction_score(weights, period):
                T = weights.shape[-1]
                t = torch.arange(period, T, device=weights.device)
                return weights[:, :, t, t - period].mean(dim=(0, 2))
            """)},
        {"induction-check": ("failed", 0, "duplicate-token")}),
}

CORPORA = {NOTEBOOK_01: ATTACKS_01, NOTEBOOK_03: ATTACKS_03, NOTEBOOK_04: ATTACKS_04,
           NOTEBOOK_05: ATTACKS_05, NOTEBOOK_06: ATTACKS_06, NOTEBOOK_07: ATTACKS_07,
           NOTEBOOK_08: ATTACKS_08, NOTEBOOK_09: ATTACKS_09, NOTEBOOK_10: ATTACKS_10}
