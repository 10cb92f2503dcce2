"""The ``attn-course`` command line."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from attn_course import __version__


def _cmd_release(args: argparse.Namespace) -> int:
    from attn_course.authoring.release import release, source_notebooks
    from attn_course.authoring.sync import check_release

    source, dest = Path(args.source), Path(args.dest)
    if not source_notebooks(source):
        print(
            f"attn-course release: no source notebooks (NN_name.ipynb) in {source}/. "
            "Run it from the course folder, or pass --source.",
            file=sys.stderr,
        )
        return 2
    from attn_course.grading.source import kernel_judged_problems

    refused = [p for path in source_notebooks(source) for p in kernel_judged_problems(path)]
    if refused:
        print("attn-course release: graded cells the grader could only judge by the kernel's "
              "reply:", file=sys.stderr)
        for problem in refused:
            print(f"  - {problem}", file=sys.stderr)
        return 1
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
    from attn_course.authoring.release import EditedNotebooks

    try:
        written = release(source, dest, force=args.force)
    except EditedNotebooks as error:
        print(f"attn-course release: wrote nothing. These notebooks in {dest}/ were changed "
              "after release wrote them, and release would replace or remove them:",
              file=sys.stderr)
        for path in error.paths:
            print(f"  - {path}", file=sys.stderr)
        print("If that is your work, copy it somewhere safe first (students work in work/, "
              "which `make lab` fills and release never touches). To replace them anyway: "
              "attn-course release --force", file=sys.stderr)
        return 1
    for path in written:
        print(f"wrote {path}")
    return 0


def _cmd_lab(args: argparse.Namespace, extra: list[str]) -> int:
    import os

    from attn_course import lab, workspace

    notebooks, work = Path(args.notebooks), Path(args.work)
    try:
        prepared = workspace.prepare(notebooks, work)
    except OSError as error:
        print(f"attn-course lab: cannot prepare {work}/: {error}. Run it from the course "
              "folder (the one holding notebooks/), or pass --notebooks.", file=sys.stderr)
        return 2
    for line in prepared.lines():
        print(f"attn-course lab: {line}")
    lab.trust([*prepared.copied, *prepared.updated])
    command = lab.lab_command(work, extra)
    print(f"attn-course lab: opening JupyterLab on {work}/ (your copies; `attn-course release` "
          "never writes there)", flush=True)
    if args.dry_run:
        print(" ".join(command))
        return 0
    os.execve(command[0], command, lab.lab_environment())


def _cmd_execute(args: argparse.Namespace) -> int:
    from nbclient.exceptions import CellExecutionError

    from attn_course.authoring.execute import execute_notebook

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


def _settings(args: argparse.Namespace, protected: list[str]):
    from attn_course.grading.sandbox import Limits, parse_size
    from attn_course.grading.settings import Settings

    return Settings(
        cell_timeout=args.timeout,
        submission_timeout=args.submission_timeout,
        limits=Limits(memory=parse_size(args.memory_limit),
                      cpu_seconds=int(args.submission_timeout) + 60),
        sandbox=args.sandbox,
        gpu=not args.no_gpu,
        answer_policy=not args.no_answer_policy,
        max_bytes=parse_size(getattr(args, "max_submission_size", "64M")),
        protected=tuple(protected),
    )


def _misuse(command: str, message: str) -> int:
    print(f"attn-course {command}: {message}", file=sys.stderr)
    return 2


def _cmd_grade(args: argparse.Namespace) -> int:
    from attn_course.grading import manual
    from attn_course.grading.results import Store
    from attn_course.grading.shards import parse_shard
    from attn_course.grading.source import SourceError, lacks, load_source, student_copy_problem

    if args.jobs < 1 or args.timeout <= 0 or args.submission_timeout <= 0:
        return _misuse("grade", "--jobs, --timeout and --submission-timeout must be positive")
    shard = None
    if args.shard is not None:
        try:
            shard = parse_shard(args.shard)
        except ValueError as exc:
            return _misuse("grade", str(exc))
    if args.merge is not None:
        if args.submissions or shard is not None:
            return _misuse("grade", "--merge joins graded OUTDIRs: give no submissions and no "
                                    "--shard with it")
        for part in args.merge:
            if not (Path(part) / "results").is_dir():
                return _misuse("grade", f"--merge {part}: not an OUTDIR of `attn-course grade` "
                                        "(it has no results/ folder)")
            if Path(part).resolve() == Path(args.out).resolve():
                return _misuse("grade", f"--merge {part}: that is --out itself")
    try:
        assignment = load_source(args.source)
    except SourceError as exc:
        return _misuse("grade", str(exc))
    student_copy = student_copy_problem(assignment)
    if student_copy and not args.allow_student_source:
        return _misuse("grade", student_copy)
    store = Store(Path(args.out))
    try:
        store.prepare()
    except OSError as exc:
        return _misuse("grade", f"cannot write to the output folder {args.out}: {exc}")
    try:
        settings = _settings(args, [args.source, args.out, *args.submissions])
    except ValueError as exc:
        return _misuse("grade", str(exc))
    scores = {}
    try:
        for path in args.manual_scores or []:
            for sub, items in manual.read_scores(Path(path), assignment).items():
                scores.setdefault(sub, {}).update(items)
    except manual.ManualScoresError as exc:
        return _misuse("grade", str(exc))
    if student_copy:
        said = {"model answers": "no model answers (the written-answer pages show none)",
                "hidden tests": "no hidden tests (only its public tests count)"}
        print(f"note: {args.source} is a student copy, graded as --allow-student-source asks: "
              f"it has {' and '.join(said[m] for m in lacks(assignment))}.")
    from attn_course.grading.batch import discover, grade_batch
    from attn_course.grading.reports import how_run, summary
    from attn_course.grading.sandbox import Sandbox
    from attn_course.grading.shards import shard_of

    files, warnings = discover(args.submissions)
    for warning in warnings:
        print(f"warning: {warning}", file=sys.stderr)
    if args.submissions and not files:
        return _misuse("grade", "no submission found in " + " ".join(args.submissions))
    if shard is not None:
        found = len(files)
        files = [(path, name) for path, name in files if shard_of(name, shard[1]) == shard[0]]
        print(f"Share {shard[0]} of {shard[1]}: {len(files)} of the {found} submission(s) found.")
    if scores:
        manual.store_scores(store.outdir, scores)
        print(f"merged {sum(len(v) for v in scores.values())} manual score(s)")
    left_out = False  # something named was not graded, or a result not kept
    reports_written = True
    if args.merge:
        left_out = _merge(args, store, assignment)
        results, stale, reports_written = _rebuild(store, assignment)
        left_out = left_out or not reports_written
    elif files:
        try:
            warning = Sandbox(settings.limits, mode=settings.sandbox).warning
        except RuntimeError as exc:
            return _misuse("grade", str(exc))
        if warning:
            bar = "!" * 78
            print(f"{bar}\nWARNING: {warning}.\n{bar}", file=sys.stderr)
        try:
            report = grade_batch(assignment, files, store.outdir, settings, jobs=args.jobs,
                                 force=args.force, progress=not args.quiet)
        except KeyboardInterrupt:
            print("\nInterrupted. The submissions graded so far are kept in "
                  f"{args.out}/results; run the same command again to resume.", file=sys.stderr)
            return 130
        results = report.results
        print(f"Graded {len(report.graded)}, reused {len(report.cached)} earlier result(s)"
              + (f", skipped {len(report.busy)} being graded by another grader"
                 if report.busy else "") + f" in {report.seconds:.1f} s.")
        print(how_run(results, report.graded, assignment.uses_gpu and settings.gpu))
        if report.replaced:
            print(f"Graded again {len(report.replaced)} file(s) that changed since they were "
                  f"graded: {', '.join(report.replaced[:10])}")
        if report.unsaved:
            print(f"warning: {len(report.unsaved)} result(s) could not be saved in {args.out} "
                  f"(is the disk full?): {', '.join(report.unsaved[:10])}. They are graded "
                  "again when the same command runs with space to spare.", file=sys.stderr)
        for problem in report.problems:
            print(f"warning: {problem}", file=sys.stderr)
        for conflict in report.conflicts:
            print(f"warning: not graded, {conflict}: grade into another OUTDIR, or pass --force "
                  "to replace that result", file=sys.stderr)
        stale = report.stale
        left_out = bool(report.conflicts or report.unsaved or report.problems)
        reports_written = not report.problems
    else:
        results, stale, reports_written = _rebuild(store, assignment)
        left_out = not reports_written
        if not args.manual_scores and shard is None:
            print(f"No submissions named: reports rebuilt from the {len(results)} result(s) "
                  f"stored in {args.out}.")
    if stale:
        print(f"note: {stale} result(s) in {args.out} were graded against another version of "
              "the source and are left out; grade those submissions again.")
    broken = [r for r in results if r.status == "grader_error"]
    if broken:
        print(f"warning: the grader itself failed on {len(broken)} submission(s), e.g. "
              f"{broken[0].submission}: {broken[0].message[:300]}\nThese are retried when the "
              "same command runs again.", file=sys.stderr)
    print(summary(assignment, results))
    if reports_written:
        print(f"Wrote {store.outdir / 'grades.csv'}, grades_by_student.csv, grades.json, "
              "feedback/ and manual/.")
    return 1 if left_out else 0


def _rebuild(store, assignment):
    """(results, stale, written): the reports rebuilt from OUTDIR's results."""
    from attn_course.grading.reports import rebuild_reports

    results, stale, problem = rebuild_reports(store, assignment)
    if problem:
        print(f"warning: {problem}", file=sys.stderr)
    return results, stale, not problem


def _merge(args: argparse.Namespace, store, assignment) -> bool:
    """Join the results of the OUTDIRs named by --merge into --out, saying what was done;
    whether a result or score was left out (a conflict, a file in use, an unreadable one)."""
    from attn_course.grading.shards import describe, merge

    parts = [Path(p) for p in args.merge]
    report = merge(store, assignment, parts, force=args.force)
    for line in describe(report, parts):
        print(line, file=sys.stderr if line.startswith("warning:") else sys.stdout)
    return bool(report.conflicts or report.score_conflicts or report.busy or report.unreadable
                or report.unsaved)


def _cmd_check(args: argparse.Namespace) -> int:
    from attn_course.grading.selfcheck import check_notebook, default_source
    from attn_course.grading.source import SourceError

    notebook = Path(args.notebook)
    if not notebook.is_file():
        return _misuse("check", f"no such notebook: {notebook}")
    source = Path(args.source) if args.source else default_source(notebook)
    if source is not None and not source.is_file():
        return _misuse("check", f"no such source notebook: {source}")
    try:
        settings = _settings(args, [str(source)] if source else [])
        print(check_notebook(notebook, source, settings))
    except (SourceError, ValueError, RuntimeError) as exc:
        return _misuse("check", str(exc))
    return 0


def _add_run_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--timeout", type=float, default=60,
                        help="seconds per cell (default 60)")
    parser.add_argument("--submission-timeout", type=float, default=600,
                        help="seconds per notebook in all (default 600)")
    parser.add_argument("--memory-limit", default="4G",
                        help="memory the kernel may use, its tmpfs included, e.g. 2G (default 4G)")
    parser.add_argument("--no-gpu", action="store_true",
                        help="hide the GPUs from every sandbox, even from a GPU source")
    parser.add_argument("--no-answer-policy", action="store_true",
                        help="run every answer as written, whatever it uses (the sandbox and "
                             "the out-of-kernel judge still hold)")
    parser.add_argument("--sandbox", choices=["auto", "bwrap", "rlimits"], default="auto",
                        help="bwrap: require the bubblewrap sandbox; rlimits: resource limits "
                             "only; auto (default): bwrap where it works")


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
    release.add_argument("--force", action="store_true",
                         help="replace student notebooks even when they were changed after "
                              "release wrote them")
    release.set_defaults(run=_cmd_release)

    lab = commands.add_parser(
        "lab", allow_abbrev=False,
        help="open the course in JupyterLab, on your own copies of the notebooks (work/)",
        description="Copy the course notebooks into the work folder (never replacing your "
                    "work), then open JupyterLab there with the course's settings. Options it "
                    "does not know go to `jupyter lab`, e.g. --port 9999 --no-browser.",
    )
    lab.add_argument("--notebooks", default="notebooks",
                     help="the course's student notebooks (default: notebooks)")
    lab.add_argument("--work", default="work", help="your copies (default: work)")
    lab.add_argument("--dry-run", action="store_true",
                     help="prepare the work folder, print the command, start nothing")
    lab.set_defaults(run=_cmd_lab, passes_extra=True)

    execute = commands.add_parser(
        "execute", help="run notebooks top to bottom in a fresh kernel and store their outputs"
    )
    execute.add_argument("notebooks", nargs="+", metavar="NOTEBOOK")
    execute.add_argument("--timeout", type=int, default=120, help="seconds per cell (default 120)")
    execute.set_defaults(run=_cmd_execute)

    grade = commands.add_parser(
        "grade", help="grade submissions against a source notebook, each in its own sandbox"
    )
    grade.add_argument("submissions", nargs="*", metavar="SUBMISSION_OR_DIR",
                       help="notebooks, or folders searched for *.ipynb")
    grade.add_argument("--source", required=True, help="the source notebook (solutions/NN_*.ipynb)")
    grade.add_argument("--out", required=True, metavar="OUTDIR", help="where results go")
    grade.add_argument("--jobs", type=int, default=1, help="submissions graded in parallel")
    _add_run_options(grade)
    grade.add_argument("--max-submission-size", default="64M",
                       help="larger files are not graded (default 64M)")
    grade.add_argument("--force", action="store_true",
                       help="grade again even when a result for the same file exists, and "
                            "replace a result that OUTDIR holds for another file of the same "
                            "name (with --merge: take the parts' results)")
    grade.add_argument("--manual-scores", action="append", metavar="CSV",
                       help="merge hand-given scores (columns submission,grade_id,score)")
    grade.add_argument("--shard", metavar="K/N",
                       help="grade only share K of N of the submissions found (1 <= K <= N), "
                            "e.g. one task of a Slurm array; join the shares with --merge")
    grade.add_argument("--merge", nargs="+", metavar="PART_OUTDIR",
                       help="copy the results of OUTDIRs graded with --shard (or any other "
                            "OUTDIRs of the same source) into --out and rebuild its reports")
    grade.add_argument("--allow-student-source", action="store_true",
                       help="grade against a student copy (no solutions, no hidden tests) "
                            "rather than refuse it")
    grade.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    grade.set_defaults(run=_cmd_grade)

    check = commands.add_parser(
        "check", help="run your notebook as the grader would (public tests) and see the score"
    )
    check.add_argument("notebook", metavar="NOTEBOOK")
    check.add_argument("--source", help="source notebook (default: the course's solutions/NN_*)")
    _add_run_options(check)
    check.set_defaults(run=_cmd_check)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if getattr(args, "passes_extra", False):
        return args.run(args, extra)
    if extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    return args.run(args)


if __name__ == "__main__":
    raise SystemExit(main())
