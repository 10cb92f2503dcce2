"""The answer policy: every way around an exercise is refused with its line; honest code is not."""

from __future__ import annotations

import functools
import textwrap

import pytest
import torch

from attn_course.checks import CheckFailed, check_causal_mask
from attn_course.policy import Rules, bound_names, defined_names, violations

ATTENTION = Rules(
    forbidden=("torch.nn.functional.scaled_dot_product_attention", "torch.nn.MultiheadAttention"),
    exercise=frozenset({"scaled_dot_product_attention"}),
    notebook=frozenset({"torch", "F", "math", "reference", "check_scaled_dot_product_attention",
                        "plt", "q", "k", "v", "weights"}),
    protected=frozenset({"torch", "F", "math", "reference", "check_scaled_dot_product_attention",
                         "plt"}),
)

# (name, answer cell, a piece of the violation, its line)
REFUSED = [
    ("the course's reference", "def scaled_dot_product_attention(q, k, v, mask=None):\n"
     "    return reference.scaled_dot_product_attention(q, k, v, mask)\n", "`reference`", 2),
    ("importing the course", "from attn_course.reference import scaled_dot_product_attention\n",
     "attn_course.reference", 1),
    ("torch's own attention", "def f(q, k, v, mask=None):\n"
     "    return F.scaled_dot_product_attention(q, k, v, attn_mask=mask)\n",
     "F.scaled_dot_product_attention", 2),
    ("under another name",
     "import torch.nn.functional as G\nsdpa = G.scaled_dot_product_attention\n",
     "G.scaled_dot_product_attention", 2),
    ("through getattr", "f = getattr(F, 'scaled_dot_product_attention')\n",
     "torch.nn.functional.scaled_dot_product_attention", 1),
    ("a computed getattr", "f = getattr(torch, 'n' + 'n')\n", "computed name", 1),
    ("getattr as a value", "get = getattr\n", "`getattr`", 1),
    ("torch's module", "m = torch.nn.MultiheadAttention(8, 2)\n", "MultiheadAttention", 1),
    ("the module's internals", "def f(x):\n    return f.__globals__['reference']\n",
     "__globals__", 2),
    ("frames", "g = (i for i in [])\nup = g.gi_frame.f_back\n", "frames", 2),
    ("another module through torch", "mods = torch.sys.modules\n", "the module sys", 1),
    ("private torch", "nn_ops = torch._C._nn\n", "private", 1),
    ("torch.ops", "aten = torch.ops.aten\n", "torch.ops", 1),
    ("pickles", "w = torch.load('w.pt', weights_only=False)\n", "torch.load", 1),
    ("exec", "exec('import os')\n", "`exec`", 1),
    ("__import__", "m = __import__('attn_course')\n", "`__import__`", 1),
    ("globals", "g = globals()\n", "`globals`", 1),
    ("the kernel", "ip = get_ipython()\n", "get_ipython", 1),
    ("a name the notebook defines", "def f(x):\n    plt.plot(x)\n    return x\n", "`plt`", 2),
    ("a redefined check", "def check_scaled_dot_product_attention(fn, **kw):\n    pass\n",
     "may not rebind", 1),
    ("a rebound module", "torch = None\n", "may not rebind", 1),
    ("a module under another's name", "import numpy as torch\n", "may not rebind", 1),
    ("a patched library", "torch.allclose = lambda *a, **k: True\n", "changes an object", 1),
    ("a patched method", "torch.Tensor.softmax = None\n", "changes an object", 1),
    ("setattr on a library", "setattr(torch, 'allclose', print)\n", "changes an object", 1),
    ("a builtin shadowed", "def __import__(*a):\n    pass\n", "Python's own names", 1),
    ("sys", "import sys\n", "import sys", 1),
    ("os and open", "import os\nopen('/etc/passwd')\n", "import os", 1),
    ("a relative import", "from . import reference\n", "from  import", 1),
    ("a star import", "from torch import *\n", "import *", 1),
    ("annotations evaluated", "import typing\ndef f(x: 'reference'):\n    pass\n"
     "ref = typing.get_type_hints(f)\n", "typing.get_type_hints", 4),
    ("annotations through dispatch", "from functools import singledispatch\n",
     "functools.singledispatch", 1),
    ("too deep to parse", "x = " + "+".join(["q"] * 100_000) + "\n", "nested too deeply", 1),
    ("too deep to walk", "x = " + "+".join(["q"] * 600) + "\n", "nested too deeply", 1),
    ("deeper than the bound", "x = " + "+".join(["q"] * 250) + "\n", "nested too deeply", 1),
    ("Triton's driver", "import triton\ndriver = triton.runtime.driver\n",
     "the module triton.runtime", 2),
    ("Triton's runtime imported", "from triton.runtime import driver\n", "triton.runtime", 1),
    ("Triton's settings", "import triton.knobs\n", "import triton.knobs", 1),
    ("torch.distributed", "import torch.distributed as dist\n", "torch.distributed", 1),
    ("processes", "p = torch.multiprocessing.Process(target=print)\n", "torch.multiprocessing", 1),
    ("inline assembly", "def f(x):\n    return tl.inline_asm_elementwise('mov', '=r', [x])\n",
     "inline_asm_elementwise", 2),
]


@pytest.mark.parametrize(("name", "answer", "piece", "line"), REFUSED,
                         ids=[r[0] for r in REFUSED])
def test_a_way_around_the_exercise_is_refused_with_its_line(name, answer, piece, line):
    found = violations(answer, ATTENTION)
    assert found, name
    assert any(piece in str(v) and v.line == line for v in found), [str(v) for v in found]


HONEST = {
    "loops and helpers": """\
        import math
        import torch

        def _scores(q, k):
            return q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])

        def scaled_dot_product_attention(q, k, v, mask=None):
            s = _scores(q, k)
            if mask is not None:
                s = torch.where(mask, s, torch.finfo(s.dtype).min)
            w = torch.exp(s - s.amax(dim=-1, keepdim=True))
            w = w / w.sum(dim=-1, keepdim=True)
            assert w.shape == s.shape, w.shape
            print("weights", tuple(w.shape))
            return w @ v, w
        """,
    "a test of its own, on the notebook's data names": """\
        def scaled_dot_product_attention(q, k, v, mask=None):
            w = torch.softmax(q @ k.mT / math.sqrt(q.shape[-1]), dim=-1)
            return w @ v, w

        q = k = v = torch.randn(2, 3, 4)
        out, weights = scaled_dot_product_attention(q, k, v)
        for _ in range(2):
            assert out.shape == (2, 3, 4)
        """,
    "future annotations, a main guard, a class name": """\
        from __future__ import annotations

        class Attention:
            def __repr__(self) -> str:
                return f"{type(self).__name__}()"

        def scaled_dot_product_attention(q, k, v, mask=None):
            w = torch.softmax(q @ k.transpose(-2, -1) / q.shape[-1] ** 0.5, dim=-1)
            return w @ v, w

        if __name__ == "__main__":
            print(Attention())
        """,
    "a Triton kernel, with Triton imported in the cell": """\
        import triton
        import triton.language as tl

        @triton.jit
        def double(X, Y, N, BLOCK: tl.constexpr):
            i = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
            tl.store(Y + i, 2 * tl.load(X + i, mask=i < N), mask=i < N)

        def scaled_dot_product_attention(q, k, v, mask=None):
            w = torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1]), dim=-1)
            return w @ v, w
        """,
    "its own objects changed freely": """\
        cache = {}

        def scaled_dot_product_attention(q, k, v, mask=None):
            w = torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1]), dim=-1)
            cache["w"] = w
            cache.setdefault("calls", []).append(1)
            return w @ v, w
        """,
}


@pytest.mark.parametrize("answer", sorted(HONEST))
def test_honest_code_is_not_refused(answer):
    assert violations(textwrap.dedent(HONEST[answer]), ATTENTION) == []


def test_a_syntax_error_is_left_to_the_kernel():
    assert violations("def f(x)\n    return x\n", ATTENTION) == []


def test_names_a_cell_binds_and_defines():
    cell = ("import torch\nfrom math import sqrt as root\nx = 1\ndef f():\n    y = 2\n"
            "class C:\n    pass\n")
    assert bound_names(cell) == {"torch", "root", "x", "f", "C"}
    assert defined_names(cell) == {"torch", "root", "f", "C"}


def test_self_study_sees_through_a_cache_decorator():
    @functools.lru_cache
    def causal_mask(T):
        return torch.nn.Transformer.generate_square_subsequent_mask(T) == 0

    with pytest.raises(CheckFailed, match="generate_square_subsequent_mask"):
        check_causal_mask(causal_mask)


def test_the_depth_bound_does_not_follow_the_recursion_limit():
    """torch.compile raises the interpreter's recursion limit; the verdict stays the same."""
    import sys

    answer = "x = " + "+".join(["q"] * 600) + "\n"
    limit = sys.getrecursionlimit()
    try:
        sys.setrecursionlimit(20_000)
        assert any("nested too deeply" in str(v) for v in violations(answer, ATTENTION))
    finally:
        sys.setrecursionlimit(limit)
    assert not any("nested too deeply" in str(v)
                   for v in violations("x = " + "+".join(["q"] * 50) + "\n", ATTENTION))
