"""Interactive explorers for the notebooks (ipywidgets + matplotlib Agg PNGs)."""

from attn_course.widgets.head_explorer import HeadExplorer

__all__ = ["HeadExplorer"]
