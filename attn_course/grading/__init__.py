"""Grading what students hand in, against the source notebooks (see docs/grading.md)."""
