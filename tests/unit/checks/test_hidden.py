"""Hidden tests test something: `check_x(fn, seed=7)` adds cases drawn from the seed.

- seed 0 (the public test cells) has no drawn cases; any other seed keeps the public cases (their
  names and sizes) and adds cases of other sizes, in both dtypes;
- an answer shaped around the public cases (a table of their results, or sizes it was told)
  passes the public test and fails the hidden one;
- every known mistake is still named by the hidden test;
- one drawn case goes to the accelerator the caller names (the student's kernel: CUDA when it
  has a GPU); without one, every drawn case stays on the CPU, as in the grader.
"""

from __future__ import annotations

import pytest
import torch

import attn_course.checks as checks
from attn_course import reference
from attn_course.checks import CHECKS, CheckFailed
from attn_course.checks import draw as drawing
from tests.unit.checks.test_contract import NAMES, REFERENCES, VARIANTS

HIDDEN = 7  # the seed of every hidden test cell in solutions/
OPTIONS = {"scaled_dot_product_attention": [{"masks": True}, {"masks": False}]}
CALLS = [(name, options) for name in NAMES for options in OPTIONS.get(name, [{}])]
TENSOR_CHECKS = sorted(set(NAMES) - {"causal_mask", "positional_encoding"})
# A Triton kernel runs where Triton runs (the GPU, else its interpreter), in float32 and float16
# (Triton has no float64 tiles), and only a kernel can be checked: no Python wrapper around it.
KERNELS = {"flash_kernel"}
KERNEL_DTYPES = {torch.float32, torch.float16}


def _sizes(case) -> tuple:
    """What an answer can see of a case's inputs without their values: sizes and options."""
    out = []
    for name, value in case.inputs.items():
        if isinstance(value, torch.Tensor):
            out.append((name, tuple(value.shape)))
        elif name == "init":
            out.append((name, repr(value)))
        elif name != "state":
            out.append((name, repr(value)))
    return tuple(out)


def _public_and_drawn(name, options, seed=HIDDEN):
    check = CHECKS[name]
    public = check.cases(0, **options)
    hidden = check.cases(seed, **options)
    return public, hidden[:len(public)], hidden[len(public):]


@pytest.mark.parametrize(("name", "options"), CALLS, ids=[f"{n}-{o}" for n, o in CALLS])
def test_the_hidden_test_keeps_the_public_cases_and_adds_other_sizes(name, options):
    public, kept, drawn = _public_and_drawn(name, options)
    assert [c.name for c in kept] == [c.name for c in public]
    assert [_sizes(c) for c in kept] == [_sizes(c) for c in public]
    assert len(drawn) >= 3 or name == "causal_mask" and drawn
    assert all(c.name.startswith("drawn: ") for c in drawn)
    seen = {_sizes(c) for c in public}
    assert not [c.name for c in drawn if _sizes(c) in seen], "a drawn case repeats a public one"
    assert len({c.name for c in public + drawn}) == len(public) + len(drawn)
    if name in TENSOR_CHECKS:  # both dtypes
        dtypes = {t.dtype for c in drawn for t in c.inputs.values() if isinstance(t, torch.Tensor)
                  and t.is_floating_point()}
        want = KERNEL_DTYPES if name in KERNELS else {torch.float32, torch.float64}
        assert dtypes == want, dtypes


@pytest.mark.parametrize("name", NAMES)
def test_seed_0_draws_nothing_and_other_seeds_draw_differently(name):
    check = CHECKS[name]
    assert not [c.name for c in check.cases(0) if c.name.startswith("drawn")]
    draws = {tuple(c.name for c in check.cases(seed)[len(check.cases(0)):]) for seed in (7, 8, 9)}
    assert len(draws) == 3
    a, b = check.cases(HIDDEN), check.cases(HIDDEN)  # a seed is a fixed draw: kernel = grader
    assert [_sizes(c) for c in a] == [_sizes(c) for c in b]


@pytest.mark.parametrize("name", NAMES)
def test_the_reference_passes_the_hidden_test(name):
    assert getattr(checks, f"check_{name}")(REFERENCES[name], seed=HIDDEN).passed


# ---- answers shaped around the public cases ---------------------------------------------------
def test_a_causal_mask_table_of_the_public_sizes_fails_the_hidden_test():
    table = {c.inputs["T"]: reference.causal_mask(c.inputs["T"])
             for c in CHECKS["causal_mask"].cases(0)}

    def causal_mask(T):  # what a student who printed the public masks could write
        return table.get(T, torch.ones(T, T, dtype=torch.bool).tril()[:4, :4])

    assert checks.check_causal_mask(causal_mask).passed
    with pytest.raises(CheckFailed) as info:
        checks.check_causal_mask(causal_mask, seed=HIDDEN)
    assert "drawn: T=" in str(info.value)


def test_a_positional_encoding_only_right_for_the_public_sizes_fails_the_hidden_test():
    public = {(c.inputs["T"], c.inputs["d_model"]) for c in CHECKS["positional_encoding"].cases(0)}

    def sinusoidal_positional_encoding(T, d_model):  # right where it was tested, else off by 1
        first = 0 if (T, d_model) in public else 1
        angle = torch.arange(first, first + T)[:, None] / 10000 ** (
            torch.arange(0, d_model, 2) / d_model)
        pe = torch.zeros(T, d_model)
        pe[:, 0::2], pe[:, 1::2] = torch.sin(angle), torch.cos(angle[:, : d_model // 2])
        return pe

    assert checks.check_positional_encoding(sinusoidal_positional_encoding).passed
    with pytest.raises(CheckFailed) as info:
        checks.check_positional_encoding(sinusoidal_positional_encoding, seed=HIDDEN)
    assert "drawn: T=" in str(info.value) and "positions_from_1" in repr(info.value.verdict)


def _public_only(name, options):
    """The reference, restricted to the sizes of the public cases: anything else raises."""
    seen = {_sizes(c) for c in CHECKS[name].cases(0, **options)}
    ref = REFERENCES[name]
    if isinstance(ref, type):
        class PublicOnly(ref):
            def __init__(self, *args, **kwargs):
                self.init = repr((args, kwargs))
                super().__init__(*args, **kwargs)

            def forward(self, x, *args, **kwargs):
                inputs = [("init", self.init), ("x", tuple(x.shape))]
                if not any(all(i in s for i in inputs) for s in seen):
                    raise NotImplementedError("only the sizes of the public test")
                return super().forward(x, *args, **kwargs)

        PublicOnly.__name__ = ref.__name__
        return PublicOnly

    if name == "head_parallel_attention":  # a rank sees x and its shard, not the case's inputs
        sizes = {tuple(c.inputs["x"].shape) for c in CHECKS[name].cases(0, **options)}

        def head_parallel_attention(x, part, all_reduce):
            if tuple(x.shape) not in sizes:
                raise NotImplementedError("only the sizes of the public test")
            return ref(x, part, all_reduce)

        return head_parallel_attention

    def public_only(*args, **kwargs):
        sizes = {tuple(a.shape) if isinstance(a, torch.Tensor) else repr(a)
                 for a in (*args, *kwargs.values())}
        if not any(sizes <= {v for _, v in s} for s in seen):
            raise NotImplementedError("only the sizes of the public test")
        return ref(*args, **kwargs)

    return public_only


# the grader would score these 0 for calling the reference; they are judged without that rule
WRAPPABLE = [(name, options) for name, options in CALLS if name not in KERNELS]


@pytest.mark.parametrize(("name", "options"), WRAPPABLE,
                         ids=[f"{n}-{o}" for n, o in WRAPPABLE])
def test_an_answer_for_the_public_sizes_only_fails_the_hidden_test(name, options):
    fn, check = _public_only(name, options), CHECKS[name]
    public, hidden = check.cases(0, **options), check.cases(HIDDEN, **options)
    assert check.judge(check.run(fn, public), public).passed
    verdict = check.judge(check.run(fn, hidden), hidden)
    failed = [r.name for r in verdict.results if not r.passed]
    assert failed and all(n.startswith("drawn: ") for n in failed), failed


# ---- known mistakes, devices -----------------------------------------------------------------
@pytest.mark.parametrize(("name", "mistake", "index"), VARIANTS,
                         ids=[f"{n}-{m}-{i}" for n, m, i in VARIANTS])
def test_the_hidden_test_still_names_every_known_mistake(name, mistake, index, failure):
    variant = next(m for m in CHECKS[name].mistakes if m.name == mistake).variants[index]
    err = failure(variant, getattr(checks, f"check_{name}"), seed=HIDDEN)
    assert (err.verdict.diagnosis.mistake, err.verdict.diagnosis.confidence) == (mistake, "match")


@pytest.mark.parametrize("name", sorted(set(TENSOR_CHECKS) - KERNELS))
def test_one_drawn_case_goes_to_the_accelerator_named(name):
    check = CHECKS[name]
    drawn = check.cases(HIDDEN, accelerator="meta")[len(check.cases(0)):]
    devices = [{t.device.type for t in c.inputs.values() if isinstance(t, torch.Tensor)}
               for c in drawn]
    assert devices[-1] == {"meta"} and "on meta" in drawn[-1].name
    assert all(d == {"cpu"} for d in devices[:-1])
    cpu = check.cases(HIDDEN)[len(check.cases(0)):]  # the grader's draw: all on the CPU
    assert all(t.device.type == "cpu" for c in cpu for t in c.inputs.values()
               if isinstance(t, torch.Tensor))


def test_the_students_check_draws_on_cuda_when_there_is_a_gpu(monkeypatch):
    asked = []
    real = CHECKS["softmax"].cases
    monkeypatch.setattr(CHECKS["softmax"], "cases",
                        lambda seed=0, **kw: asked.append(kw) or real(seed))
    monkeypatch.setattr(drawing, "accelerator", lambda: "cuda")
    checks.check_softmax(reference.softmax, seed=HIDDEN)
    assert asked == [{"accelerator": "cuda"}]


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("name", TENSOR_CHECKS)
def test_the_reference_passes_the_hidden_test_with_a_case_on_cuda(name):
    cases = CHECKS[name].cases(HIDDEN, accelerator="cuda")
    assert cases[-1].name.endswith("on cuda")
    result = getattr(checks, f"check_{name}")(REFERENCES[name], seed=HIDDEN)
    assert result.passed and any(n.endswith("on cuda") for n in result.cases)
