"""Interactive explorers for the notebooks (ipywidgets + matplotlib Agg PNGs)."""

from attn_course.widgets.head_explorer import HeadExplorer
from attn_course.widgets.heads_sweep import HeadsSweepExplorer

__all__ = ["HeadExplorer", "HeadsSweepExplorer"]
