"""Authoring the course: student notebooks released from the sources, and the sources' outputs.

    preprocessors.py   small notebook transforms, one job each, beside nbgrader's own
    release.py         solutions/ → notebooks/: the student version of each source notebook
    sync.py            `attn-course release --check`: is notebooks/ what release would write?
    execute.py         `attn-course execute`: run a source notebook and store its outputs
"""
