"""A tiny GPT: token and position embeddings, pre-LN blocks, a final LayerNorm and a readout.

    >>> model = TinyGPT(vocab_size=65, context=128, d_model=64, num_heads=4, num_layers=2)
    >>> idx = torch.randint(65, (2, 40))                 # (B, T) token ids
    >>> model(idx).shape                                 # (2, 40, 65): next-token logits
    >>> maps = model.attention_maps(idx)                 # per layer (B, H, T, T)
    >>> logits_with_cache(model, idx)                    # the same logits, one token at a time
    >>> with heads_ablated(model, [(1, 0)]): ...         # layer 1's head 0 switched off

`attention` is the attention class every block uses (the reference's MultiHeadSelfAttention or a
student's with the same contract), `block_forward` the blocks' forward function, `mlp=False` an
attention-only model.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator

import torch
import torch.nn as nn

from attn_course.reference.attention import causal_mask
from attn_course.reference.block import Block, pre_ln_block
from attn_course.reference.kv_cache import attend_with_cache
from attn_course.reference.mha import MultiHeadSelfAttention

__all__ = ["TinyGPT", "generate", "heads_ablated", "logits_with_cache"]


class TinyGPT(nn.Module):
    """forward(idx (B, T) with T <= context) -> logits (B, T, vocab_size)."""

    def __init__(self, vocab_size: int, context: int, d_model: int = 64, num_heads: int = 4,
                 num_layers: int = 2, *, mlp: bool = True,
                 attention: type[nn.Module] = MultiHeadSelfAttention,
                 block_forward: Callable = pre_ln_block):
        super().__init__()
        self.vocab_size, self.context = vocab_size, context
        self.num_heads, self.num_layers = num_heads, num_layers
        self.tok = nn.Embedding(vocab_size, d_model)
        self.pos = nn.Embedding(context, d_model)
        self.blocks = nn.ModuleList(
            Block(d_model, num_heads, mlp=mlp, attention=attention, forward_fn=block_forward)
            for _ in range(num_layers)
        )
        self.ln_f = nn.LayerNorm(d_model)
        self.head = nn.Linear(d_model, vocab_size, bias=False)

    def embed(self, idx: torch.Tensor, start: int = 0) -> torch.Tensor:
        """(B, T) token ids at positions start.. -> (B, T, D)."""
        T = idx.shape[1]
        if start + T > self.context:
            raise ValueError(f"{start + T} positions, but the model has {self.context}: crop the "
                             f"input to its last {self.context} tokens.")
        return self.tok(idx) + self.pos(torch.arange(start, start + T, device=idx.device))

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        x = self.embed(idx)  # (B, T, D)
        mask = causal_mask(idx.shape[1]).to(idx.device)  # (T, T), True = may attend
        for block in self.blocks:
            x = block(x, mask)
        return self.head(self.ln_f(x))  # (B, T, V)

    @torch.no_grad()
    def attention_maps(self, idx: torch.Tensor) -> list[torch.Tensor]:
        """Every layer's attention weights, a list of num_layers tensors (B, H, T, T)."""
        x = self.embed(idx)
        mask = causal_mask(idx.shape[1]).to(idx.device)
        maps = []
        for block in self.blocks:
            _, weights = block.attn(block.ln1(x), mask, return_weights=True)
            maps.append(weights)
            x = block(x, mask)
        return maps


def _block_step(block: nn.Module, x: torch.Tensor, cache: tuple, step: Callable):
    """One position through a pre-LN block with a K/V cache: x (B, 1, D) -> (B, 1, D)."""
    out, k, v = step(block.attn, block.ln1(x), *cache)
    x = x + out
    if block.mlp is not None:
        x = x + block.mlp(block.ln2(x))
    return x, (k, v)


def _position_logits(model: TinyGPT, ids: torch.Tensor, position: int, caches: list,
                     step: Callable) -> torch.Tensor:
    """The next-token logits (B, 1, V) at `position` for ids (B, 1), every layer's cache in
    `caches` extended by it."""
    x = model.embed(ids, start=position)  # (B, 1, D)
    for layer, block in enumerate(model.blocks):
        x, caches[layer] = _block_step(block, x, caches[layer], step)
    return model.head(model.ln_f(x))  # (B, 1, V)


@torch.no_grad()
def logits_with_cache(model: TinyGPT, idx: torch.Tensor, step: Callable = attend_with_cache
                      ) -> torch.Tensor:
    """model(idx)'s logits (B, T, V), computed one position at a time with a K/V cache per
    layer: `step(mha, x_new, k_cache, v_cache) -> (out, k_cache, v_cache)`."""
    caches = [(None, None)] * model.num_layers
    logits = [_position_logits(model, idx[:, t:t + 1], t, caches, step)
              for t in range(idx.shape[1])]
    return torch.cat(logits, dim=1)  # (B, T, V)


def _sample(logits: torch.Tensor, temperature: float, top_k: int | None,
            generator: torch.Generator | None) -> torch.Tensor:
    """(B, V) -> (B, 1) token ids."""
    logits = logits / temperature
    if top_k is not None:
        kth = torch.topk(logits, min(top_k, logits.shape[-1])).values[:, -1:]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    return torch.multinomial(logits.softmax(-1), 1, generator=generator)


@torch.no_grad()
def generate(model: TinyGPT, idx: torch.Tensor, new_tokens: int, *, step: Callable | None = None,
             temperature: float = 1.0, top_k: int | None = None,
             generator: torch.Generator | None = None) -> torch.Tensor:
    """idx (B, T0) -> (B, T0 + new_tokens), sampled one token at a time.

    step=None recomputes the whole (cropped) sequence for every token; with a cache step
    (`attend_with_cache` or one with its signature), each token costs one position per layer,
    up to the model's context (T0 + new_tokens <= context)."""
    if step is not None and idx.shape[1] + new_tokens > model.context:
        raise ValueError(f"with a cache, the prompt plus new tokens must fit the context "
                         f"({model.context}); got {idx.shape[1]} + {new_tokens}.")
    was_training = model.training
    model.eval()
    if step is None:
        for _ in range(new_tokens):
            logits = model(idx[:, -model.context:])[:, -1]  # (B, V)
            idx = torch.cat([idx, _sample(logits, temperature, top_k, generator)], dim=1)
    else:
        caches = [(None, None)] * model.num_layers
        for t in range(idx.shape[1] - 1):  # the prompt but its last token: into the caches
            _position_logits(model, idx[:, t:t + 1], t, caches, step)
        for _ in range(new_tokens):  # then each newest token: one position per layer
            t = idx.shape[1] - 1
            logits = _position_logits(model, idx[:, t:], t, caches, step)[:, -1]  # (B, V)
            idx = torch.cat([idx, _sample(logits, temperature, top_k, generator)], dim=1)
    model.train(was_training)
    return idx


@contextlib.contextmanager
def heads_ablated(model: TinyGPT, heads: Iterable[tuple[int, int]]) -> Iterator[None]:
    """Inside the block, the listed (layer, head) pairs output zero: their slice of the merged
    heads is zeroed before each layer's out_proj (Michel et al. 2019's head mask at 0)."""
    by_layer: dict[int, list[int]] = {}
    for layer, head in heads:
        if not (0 <= layer < model.num_layers and 0 <= head < model.num_heads):
            raise ValueError(f"(layer, head) = ({layer}, {head}) is not in a model of "
                             f"{model.num_layers} layers of {model.num_heads} heads.")
        by_layer.setdefault(layer, []).append(head)
    hooks = []
    for layer, off in by_layer.items():
        def zero_heads(module, args, off=off):
            merged = args[0]  # (B, T, H * d)
            gate = torch.ones(model.num_heads, device=merged.device, dtype=merged.dtype)
            gate[off] = 0
            return (merged * gate.repeat_interleave(merged.shape[-1] // model.num_heads),)
        hooks.append(model.blocks[layer].attn.out_proj.register_forward_pre_hook(zero_heads))
    try:
        yield
    finally:
        for hook in hooks:
            hook.remove()
