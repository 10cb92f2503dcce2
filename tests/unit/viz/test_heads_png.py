"""attention_heads_png: the grid of attention_heads as PNG bytes, redrawing only what changes."""

import io

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
from matplotlib.image import imread

from attn_course import viz
from attn_course.viz import heads_png
from attn_course.viz.heads_png import FRAMES_KEPT, attention_heads_png, forget_frames

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(autouse=True)
def no_kept_layouts():
    forget_frames()
    yield
    forget_frames()


def pixels(png: bytes) -> np.ndarray:
    return imread(io.BytesIO(png))[..., :3]  # RGB, 0..1


def full_draw(weights, labels, titles, title) -> np.ndarray:
    figure = viz.attention_heads(weights, labels, labels, head_titles=titles, title=title,
                                 pyplot=False)  # fmt: skip
    return pixels(viz.png_bytes(figure))


def maps(heads: int, seed: int) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.rand(heads, 6, 6, generator=generator).softmax(-1)  # (H, T, T)


@pytest.mark.parametrize("heads", [1, 4, 6, 16, 64])
def test_same_pixels_as_a_full_draw_also_when_a_layout_is_drawn_again(heads):
    # one layout (head count, T, titled), drawn for other weights, labels and titles each time
    for seed, text in enumerate(["abcdef", "uvwxyz", "aaaaaa"]):
        weights, labels = maps(heads, seed), list(text)
        titles = [f"{h}: t-{(h + seed) % 6}" for h in range(heads)]
        title = f"{heads} heads, picture {seed}"
        png = attention_heads_png(weights, labels, labels, head_titles=titles, title=title)
        assert png.startswith(PNG)
        expected = full_draw(weights, labels, titles, title)
        got = pixels(png)
        assert got.shape == expected.shape, f"{heads} heads, picture {seed}: another size"
        differ = int((np.abs(got - expected).max(-1) > 0).sum())
        assert differ == 0, f"{heads} heads, picture {seed}: {differ} pixels unlike a full draw"


def test_a_layout_is_built_once_and_reused(monkeypatch):
    built = []
    build = heads_png.heads_figure

    def spy(*args, **kwargs):
        built.append(args[0].shape)
        return build(*args, **kwargs)

    monkeypatch.setattr(heads_png, "heads_figure", spy)
    attention_heads_png(maps(4, 0), list("abcdef"), list("abcdef"))
    attention_heads_png(maps(4, 1), list("uvwxyz"), list("uvwxyz"), head_titles=list("wxyz"))
    assert len(built) == 1, "the same layout (4 heads, T=6, titled) was built again"
    attention_heads_png(maps(4, 1), title="")  # without a title: another layout
    attention_heads_png(maps(8, 1))
    assert len(built) == 3


def test_only_the_last_layouts_are_kept(monkeypatch):
    built, build = [], heads_png.heads_figure
    monkeypatch.setattr(
        heads_png, "heads_figure", lambda *args, **kw: built.append(args) or build(*args, **kw)
    )
    for heads in range(1, FRAMES_KEPT + 2):  # one layout more than are kept
        attention_heads_png(maps(heads, 0), title="")
    assert len(built) == FRAMES_KEPT + 1
    attention_heads_png(maps(FRAMES_KEPT + 1, 0), title="")  # the newest: kept
    assert len(built) == FRAMES_KEPT + 1
    attention_heads_png(maps(1, 0), title="")  # the oldest: dropped, built again
    assert len(built) == FRAMES_KEPT + 2


def test_no_pyplot_figure_and_the_same_input_checks():
    figures = plt.get_fignums()
    attention_heads_png(maps(2, 0))
    assert plt.get_fignums() == figures
    with pytest.raises(ValueError, match=r"\(H, T_q, T_k\).*got shape \(2, 4\)"):
        attention_heads_png(torch.rand(2, 4))
    with pytest.raises(ValueError, match="got 3 labels for 6 queries"):
        attention_heads_png(maps(2, 0), list("abc"), list("abcdef"))
    with pytest.raises(ValueError, match="got 1 head titles for 2 heads"):
        attention_heads_png(maps(2, 0), head_titles=["one"])
