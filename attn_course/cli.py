"""The ``attn-course`` command line."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from attn_course import __version__


def _cmd_release(args: argparse.Namespace) -> int:
    from attn_course.grading.release import check_release, release, source_notebooks

    source, dest = Path(args.source), Path(args.dest)
    if not source_notebooks(source):
        print(
            f"attn-course release: no source notebooks (NN_name.ipynb) in {source}/. "
            "Run it from the course folder, or pass --source.",
            file=sys.stderr,
        )
        return 2
    if args.check:
        differences = check_release(source, dest)
        if not differences:
            print(f"{dest}/ is in sync with {source}/.")
            return 0
        print(f"{dest}/ is out of sync with {source}/:", file=sys.stderr)
        for difference in differences:
            print(f"  - {difference}", file=sys.stderr)
            if args.verbose and difference.diff:
                print(difference.diff, file=sys.stderr)
        print("Run `attn-course release` and commit the result.", file=sys.stderr)
        return 1
    for path in release(source, dest):
        print(f"wrote {path}")
    return 0


def _cmd_execute(args: argparse.Namespace) -> int:
    from nbclient.exceptions import CellExecutionError

    from attn_course.grading.execute import execute_notebook

    status = 0
    for path in args.notebooks:
        try:
            execute_notebook(Path(path), timeout=args.timeout)
            print(f"executed {path}")
        except CellExecutionError as error:
            print(
                f"{path}: a cell failed; the notebook was not rewritten.\n{error}", file=sys.stderr
            )
            status = 1
    return status


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="attn-course",
        description="Tools for the multi-head self-attention course.",
    )
    parser.add_argument("--version", action="version", version=f"attn-course {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    release = commands.add_parser(
        "release", help="write student notebooks (notebooks/) from the sources (solutions/)"
    )
    release.add_argument("--source", default="solutions", help="source folder (default: solutions)")
    release.add_argument("--dest", default="notebooks", help="student folder (default: notebooks)")
    release.add_argument(
        "--check",
        action="store_true",
        help="write nothing; exit 1 and name the notebooks if the student folder is out of sync",
    )
    release.add_argument("-v", "--verbose", action="store_true", help="with --check, show diffs")
    release.set_defaults(run=_cmd_release)

    execute = commands.add_parser(
        "execute", help="run notebooks top to bottom in a fresh kernel and store their outputs"
    )
    execute.add_argument("notebooks", nargs="+", metavar="NOTEBOOK")
    execute.add_argument("--timeout", type=int, default=120, help="seconds per cell (default 120)")
    execute.set_defaults(run=_cmd_execute)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.run(args)


if __name__ == "__main__":
    raise SystemExit(main())
