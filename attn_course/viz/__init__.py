"""Every map and plot of the course, as a matplotlib figure or as PNG bytes from the same code.

    attention_heatmap(weights, tokens, tokens)       # one attention map (T_q, T_k)
    attention_heads(weights, tokens, tokens)         # one map per head (H, T_q, T_k)
    attention_heads_png(weights, tokens, tokens)     # the same as PNG bytes, fast when repeated
    mask_heatmap(mask, tokens, tokens)               # a boolean mask (T_q, T_k) or (B, T)
    plot_positional_encoding(pe)                     # pe (T, d_model)
    plot_head_split(num_heads=3, d_model=12)         # what split_heads does
    plot_scaling(result)                             # the scaling experiment
    plot_learning_curves({"1 head": summary, ...})   # accuracy during training, mean ± sd
    plot_copy_memory(summary)                        # recall against distance, per model
    plot_sequence_cost(cost)                         # attention's time and memory against T
    plot_flash_cost(cost)                            # naive, flash and SDPA against N
    plot_heads_timing(timing)                        # heads looped against batched
    plot_heads_sweep({"task": rows}, selected=8)     # accuracy and step time against H
    plot_pruning({"task": curve})                    # accuracy as heads are removed
    plot_kv_tradeoff(rows)                           # accuracy against the K/V cache
    plot_comm_cost(cost)                             # compute against all-reduce per size
    plot_head_scores(analysis)                       # induction / previous-token score per head
    plot_induction(records)                          # induction heads and ablations over seeds
    LiveLoss(title).update(step, loss)               # a loss curve redrawn while training

Each returns the Figure it drew. In a notebook, end the cell with `plt.show()`; `ax=` (where
offered) draws into your own axes. With `pyplot=False` the figure is a bare Agg figure that
pyplot never sees, and `png_bytes(fig)` turns it into a PNG: the fast path of the widgets.
"""

from attn_course.viz.attention import attention_heads, attention_heatmap
from attn_course.viz.curves import plot_learning_curves
from attn_course.viz.figure import new_figure, png_bytes
from attn_course.viz.flash import plot_flash_cost
from attn_course.viz.gpu import plot_heads_timing
from attn_course.viz.head_split import plot_head_split
from attn_course.viz.heads_png import attention_heads_png
from attn_course.viz.heads_sweep import plot_heads_sweep, plot_kv_tradeoff, plot_pruning
from attn_course.viz.induction import plot_head_scores, plot_induction
from attn_course.viz.live import LiveLoss
from attn_course.viz.long_range import plot_copy_memory, plot_sequence_cost
from attn_course.viz.masks import mask_heatmap
from attn_course.viz.parallel import plot_comm_cost
from attn_course.viz.positional import plot_positional_encoding
from attn_course.viz.scaling import plot_scaling

__all__ = [
    "LiveLoss",
    "attention_heads",
    "attention_heads_png",
    "attention_heatmap",
    "mask_heatmap",
    "new_figure",
    "plot_comm_cost",
    "plot_copy_memory",
    "plot_flash_cost",
    "plot_head_scores",
    "plot_heads_sweep",
    "plot_head_split",
    "plot_heads_timing",
    "plot_induction",
    "plot_kv_tradeoff",
    "plot_learning_curves",
    "plot_positional_encoding",
    "plot_pruning",
    "plot_scaling",
    "plot_sequence_cost",
    "png_bytes",
]
