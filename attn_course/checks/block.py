"""The check for a pre-LayerNorm Transformer block's forward pass.

    check_pre_ln_block(fn, *, seed=0)
        fn(block, x, mask): block has ln1, attn, ln2, mlp (`reference.block.Block`; ln2 and mlp
        are None in an attention-only block), x (B, T, D), mask (T, T) bool or None
        -> (B, T, D): x + attn(ln1(x), mask), then + mlp(ln2(x)).

Judged against `reference.block.pre_ln_block`. The LayerNorms get random gains and biases (so
using one where the other belongs shows), and the cases include an attention-only block, a
block without a mask, and one whose mask is not causal.
"""

from __future__ import annotations

import torch
import torch.nn as nn

from attn_course.checks import draw as drawing
from attn_course.checks.check import Check
from attn_course.checks.mistakes import ExceptionHint, FlagHint, Mistake
from attn_course.checks.records import Case
from attn_course.checks.results import CheckResult
from attn_course.device import tolerances
from attn_course.formatting import dtype_text, shape_text
from attn_course.reference.block import Block, pre_ln_block

__all__ = ["PRE_LN_BLOCK_CHECK", "check_pre_ln_block"]

F64, F32 = torch.float64, torch.float32


def _block(g, D: int, H: int, mlp: bool, dtype, device) -> Block:
    """A Block with seeded random weights everywhere (the LayerNorms' too)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(torch.randint(2**31, (1,), generator=g)))
        block = Block(D, H, mlp=mlp)
        for module in block.modules():
            if isinstance(module, nn.LayerNorm):
                nn.init.normal_(module.weight, 1.0, 0.5)
                nn.init.normal_(module.bias, 0.0, 0.5)
            elif isinstance(module, nn.Linear) and module.bias is not None:
                nn.init.normal_(module.bias, 0.0, 0.3)
    return block.to(device=device, dtype=dtype).eval()


def _case(g, seed, i, name, B, T, D, H, mask_kind, mlp, dtype, device="cpu") -> Case:
    block = _block(g, D, H, mlp, dtype, device)
    x = 2.0 * torch.randn(B, T, D, generator=g, dtype=F64) + 1.0  # far from normalised
    if mask_kind == "causal":
        mask = torch.ones(T, T, dtype=torch.bool).tril()
    elif mask_kind == "band":  # each query sees itself and the key before it
        ones = torch.ones(T, T, dtype=torch.bool)
        mask = ones.tril() & ones.triu(-1)
    else:
        mask = None
    flags = {"attention_only"} if not mlp else set()
    flags |= {"no_mask"} if mask is None else set()
    flags |= {"float32"} if dtype == F32 else set()
    return Case(
        name=name,
        inputs={"block": block, "x": x.to(dtype=dtype, device=device),
                "mask": None if mask is None else mask.to(device)},
        shapes=((B, T, D),),
        tolerance=tolerances(dtype, device),
        description=f"x {shape_text((B, T, D))} {dtype_text(dtype)}, {H} heads, "
                    f"{'no' if mask is None else mask_kind} mask"
                    f"{', attention only (block.mlp is None)' if not mlp else ''}"
                    f" → expected {shape_text((B, T, D))}",
        flags=frozenset(flags),
        key=f"pre_ln_block:{seed}:{i}:{name}:{device}",
    )


def block_cases(seed: int = 0, *, device: str | torch.device = "cpu") -> list[Case]:
    """Cases for pre_ln_block(block, x, mask), simple -> hard."""
    g = torch.Generator().manual_seed(seed)
    specs = [
        ("a block of 2 heads, causal mask", 2, 5, 8, 2, "causal", True, F64),
        ("a block of 4 heads, no mask", 1, 6, 16, 4, None, True, F64),
        ("a block whose mask is a band (itself and the token before)", 2, 4, 8, 2, "band",
         True, F64),
        ("an attention-only block (no MLP), causal mask", 2, 5, 12, 3, "causal", False, F64),
        ("a block of 4 heads, causal mask, float32", 2, 7, 16, 4, "causal", True, F32),
    ]
    return [_case(g, seed, i, *spec, device=device) for i, spec in enumerate(specs)]


def block_draw(seed: int, *, start: int, device: str | torch.device = "cpu") -> list[Case]:
    """Three cases drawn from `seed`: a batch of 3, 1-4 heads of 2-4, T 3-9, with or without an
    MLP."""
    gen = drawing.generator(seed)
    cases = []
    for dtype, where in drawing.placements(device):
        H, d, T = (drawing.integer(gen, 1, 4), drawing.integer(gen, 2, 4),
                   drawing.integer(gen, 3, 9))
        mlp = bool(drawing.integer(gen, 0, 1))
        mask_kind = drawing.pick(gen, ("causal", "band", None))
        name = (f"drawn: {H} heads of {d}, T={T}, {mask_kind or 'no'} mask, "
                f"{'with' if mlp else 'without'} an MLP, {dtype_text(dtype)}"
                + drawing.on(where))
        cases.append(_case(gen, seed, start + len(cases), name, 3, T, H * d, H, mask_kind, mlp,
                           dtype, device=where))
    return cases


# ---- the known mistakes' variants ------------------------------------------------------------
def _mlp(block, h):
    return 0 if block.mlp is None else block.mlp(h)


def post_ln(block, x, mask):
    """GPT-1 / the original Transformer: normalise after adding, not before."""
    x = block.ln1(x + block.attn(x, mask))
    return x if block.mlp is None else block.ln2(x + block.mlp(x))


def attention_not_added(block, x, mask):
    x = block.attn(block.ln1(x), mask)
    return x + _mlp(block, block.ln2(x) if block.mlp is not None else x)


def mlp_not_added(block, x, mask):
    x = x + block.attn(block.ln1(x), mask)
    return x if block.mlp is None else block.mlp(block.ln2(x))


def normalised_stream(block, x, mask):
    """The residual stream itself is replaced by its normalised copy."""
    x = block.ln1(x)
    x = x + block.attn(x, mask)
    if block.mlp is not None:
        x = block.ln2(x)
        x = x + block.mlp(x)
    return x


def ln1_twice(block, x, mask):
    x = x + block.attn(block.ln1(x), mask)
    return x if block.mlp is None else x + block.mlp(block.ln1(x))


def mask_ignored(block, x, mask):
    x = x + block.attn(block.ln1(x))
    return x if block.mlp is None else x + block.mlp(block.ln2(x))


def mlp_reads_block_input(block, x, mask):
    """GPT-J's parallel block: the MLP reads x, not x after attention."""
    out = x + block.attn(block.ln1(x), mask)
    return out if block.mlp is None else out + block.mlp(block.ln2(x))


def mlp_first(block, x, mask):
    if block.mlp is not None:
        x = x + block.mlp(block.ln2(x))
    return x + block.attn(block.ln1(x), mask)


PRE_LN_BLOCK_MISTAKES: tuple[Mistake, ...] = (
    Mistake(
        "post_ln",
        "the LayerNorms come after the residual additions (post-LN, the original Transformer): "
        "a pre-LN block normalises a copy of x for each sublayer and adds the sublayer's output "
        "to x itself",
        "x = x + block.attn(block.ln1(x), mask), then x = x + block.mlp(block.ln2(x))",
        (post_ln,),
    ),
    Mistake(
        "attention_not_added",
        "the attention's output replaces x instead of being added to it: the residual "
        "connection around attention is missing",
        "x = x + block.attn(block.ln1(x), mask)",
        (attention_not_added,),
    ),
    Mistake(
        "mlp_not_added",
        "the MLP's output replaces x instead of being added to it: the residual connection "
        "around the MLP is missing",
        "x = x + block.mlp(block.ln2(x))",
        (mlp_not_added,),
    ),
    Mistake(
        "normalised_stream",
        "x itself is replaced by its normalised copy before each sublayer, so the residual "
        "stream is normalised too: only the sublayer's input should be",
        "keep x as it is and normalise a copy for the sublayer: x = x + block.attn(block.ln1(x), "
        "mask)",
        (normalised_stream,),
    ),
    Mistake(
        "ln1_twice",
        "ln1 normalises the MLP's input too: each sublayer has its own LayerNorm",
        "x = x + block.mlp(block.ln2(x))",
        (ln1_twice,),
    ),
    Mistake(
        "mask_ignored",
        "the mask is not passed to the attention, so every query sees every key (the future "
        "too, in a language model)",
        "block.attn(block.ln1(x), mask)",
        (mask_ignored,),
    ),
    Mistake(
        "mlp_reads_block_input",
        "the MLP reads the block's input instead of x after the attention has been added "
        "(GPT-J's parallel block, not GPT-2's)",
        "add the attention first, then feed the updated x to the MLP: "
        "x = x + block.attn(block.ln1(x), mask); x = x + block.mlp(block.ln2(x))",
        (mlp_reads_block_input,),
    ),
    Mistake(
        "mlp_first",
        "the MLP runs before the attention: in a block, attention comes first",
        "x = x + block.attn(block.ln1(x), mask) first, then the MLP",
        (mlp_first,),
    ),
)

PRE_LN_BLOCK_CHECK = Check(
    "pre_ln_block",
    check_function="check_pre_ln_block",
    outputs=("x",),
    signature="def pre_ln_block(block, x, mask): ... return x  # (B, T, D)",
    make_cases=block_cases,
    draw=block_draw,
    oracle=pre_ln_block,
    mistakes=PRE_LN_BLOCK_MISTAKES,
    exception_hints=(
        ExceptionHint(r"'NoneType' object is not callable",
                      "an attention-only block has block.mlp = None (and block.ln2 = None): "
                      "skip the MLP then, `if block.mlp is not None:`"),
    ),
    flag_hints=(
        FlagHint(frozenset({"attention_only"}),
                 "it fails only for the attention-only block: when block.mlp is None, return x "
                 "after the attention"),
        FlagHint(frozenset({"no_mask"}),
                 "it fails only with mask=None: pass the mask on as it is, None included"),
    ),
)


def check_pre_ln_block(fn, *, seed: int = 0) -> CheckResult:
    """Check `fn(block, x, mask)` -> (B, T, D) against the pre-LN block's forward pass."""
    __tracebackhide__ = True
    return PRE_LN_BLOCK_CHECK.check(fn, seed=seed)
