# Run at the start of every kernel of the course's lab (`attn-course lab` sets this file as
# PYTHONSTARTUP): installs the kernel hints (attn_course.kernel_hints), then runs the user's own
# PYTHONSTARTUP file, if they had one. It runs in the notebook's namespace, so it leaves no names
# behind (comments, not a docstring: a docstring would set the notebook's __doc__).


def _attn_course_start(namespace: dict) -> None:
    import os

    from attn_course import kernel_hints

    kernel_hints.install()
    own = os.environ.get("ATTN_COURSE_USER_PYTHONSTARTUP")
    if own and os.path.isfile(own):
        with open(own, encoding="utf-8") as f:
            exec(compile(f.read(), own, "exec"), namespace)  # what PYTHONSTARTUP would do


_attn_course_start(globals())
del _attn_course_start
