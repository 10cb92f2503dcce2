"""Turning source notebooks into student notebooks, and grading what students hand in."""
