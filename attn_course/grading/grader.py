"""Grade one submission: read, rebuild from the source, run in a sandbox, judge outside it.

    read_submission -> rebuild -> Sandbox + Kernel (cell by cell, test cells as probes)
                    -> judge the probes here -> one ItemResult per graded item

Never raises for anything the submission does; a failure of the grading machine itself (the
kernel cannot start) gives status "grader_error", which is not cached and is retried next run.
A source that asks for a GPU gets one per submission (`GpuSlot`): the submission waits for a free
device, and its time limits start once it has one.
"""

from __future__ import annotations

import os
import shutil
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from attn_course.grading.answer_policy import violations_in
from attn_course.grading.gpu import GpuSlot, nvidia_gpus
from attn_course.grading.kernel import STOP, CellRun, Kernel, KernelStartError, Stopped
from attn_course.grading.memory import format_size
from attn_course.grading.probes import ProbeOutcome, judge_probe, plan_test_cell, read_result
from attn_course.grading.rebuild import Rebuilt, rebuild
from attn_course.grading.results import ItemResult, SubmissionResult, grader_error_items
from attn_course.grading.sandbox import Sandbox
from attn_course.grading.settings import Settings
from attn_course.grading.source import Assignment, Item, skipped_when_grading
from attn_course.grading.submission import read_submission

__all__ = ["Settings", "grade_submission"]


@dataclass
class _Cell:
    """What happened to one cell of the rebuilt notebook."""

    run: CellRun | None = None  # None: not run
    outcomes: list[Future] = field(default_factory=list)  # futures of ProbeOutcome
    kernel_judged: bool = False


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _execute(rebuilt: Rebuilt, sandbox: Sandbox, settings: Settings, judge: ThreadPoolExecutor,
             deadline: float) -> tuple[dict[int, _Cell], str]:
    """Run every code cell in order; returns per-cell records and why the run stopped early."""
    cells: dict[int, _Cell] = {}
    kernel = Kernel(sandbox)
    stopped = ""
    io_fd = os.open(sandbox.io, os.O_RDONLY | os.O_DIRECTORY)
    try:
        for index, cell in enumerate(rebuilt.notebook.cells):
            if cell.cell_type != "code" or not cell.source.strip() or skipped_when_grading(cell):
                continue
            record = cells[index] = _Cell()
            if stopped:
                continue
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                stopped = (f"the notebook ran out of time ({settings.submission_timeout:g} s "
                           "in all)")
                kernel.kill()
                continue
            plan = None
            code = cell.source
            if rebuilt.roles[index] == "test":
                plan = plan_test_cell(cell.source, str(sandbox.io))
                code = plan.code
                record.kernel_judged = plan.kernel_judged
            record.run = kernel.run(code, min(settings.cell_timeout, remaining))
            if plan is not None:
                for probe in plan.probes:
                    data = read_result(io_fd, probe.filename)
                    short = short_of_space(sandbox.io) if data == "missing" else ""
                    record.outcomes.append(judge.submit(_machine_fault, short) if short
                                           else judge.submit(judge_probe, probe, data))
            if record.run.status in ("died", "out_of_memory") or record.run.killed:
                how = {"timeout": "the kernel was stopped", "died": "the kernel died"}.get(
                    record.run.status, f"the kernel {record.run.evalue}")
                stopped = f"{how} in cell {rebuilt.grade_ids[index]}"
    finally:
        os.close(io_fd)
        kernel.shutdown()
    return cells, stopped


LOW_SPACE = 64 * 2**20  # bytes free under which a missing result is the machine's fault
LOW_FILES = 1000  # files that can still be made, likewise


def short_of_space(folder: Path) -> str:
    """Why the grading machine cannot hold a result in `folder` ("" when it can)."""
    try:
        free = shutil.disk_usage(folder).free
        inodes = os.statvfs(folder)
        files = inodes.f_favail if inodes.f_files else LOW_FILES  # 0 of 0: no inode limit
    except OSError as exc:
        return f"the grading machine cannot check its free space: {exc}"
    if free < LOW_SPACE:
        return (f"the grading machine is short of space ({free / 2**20:.0f} MiB free where the "
                "results are written): the result of this test is missing")
    if files < LOW_FILES:
        return (f"the grading machine is short of inodes ({files} more files can be made where "
                "the results are written): the result of this test is missing")
    return ""


def _machine_fault(message: str) -> ProbeOutcome:
    return ProbeOutcome(False, f"grader error: {message}", "grader_error")


def _setup_failure(rebuilt: Rebuilt, cells: dict[int, _Cell]) -> str:
    """The error of a notebook cell that runs before any of the student's (its imports, its
    setup): it fails the same way for every submission, so it is the machine's fault. A cell
    tagged `raises-exception` (a demo of an error) is expected to fail."""
    for index, role in enumerate(rebuilt.roles):
        if role in ("answer", "manual"):
            return ""
        if "raises-exception" in rebuilt.notebook.cells[index].metadata.get("tags", []):
            continue
        run = cells.get(index, _Cell()).run
        if run is not None and run.status != "ok":
            text = run.error_text() if run.status != "error" else (run.traceback or
                                                                    run.error_text())
            return (f"the notebook's own cell {index + 1} (before any answer) failed, so "
                    f"nothing can be graded: {text[-1500:]}")
    return ""


def _outcome(future: Future) -> ProbeOutcome:
    try:
        return future.result()
    except Exception as exc:  # a fault in a check itself, never the student's
        return ProbeOutcome(False, f"grader error while judging: {type(exc).__name__}: {exc}",
                            "grader_error")


def _auto_item(item: Item, cell: _Cell | None, rebuilt: Rebuilt, cells: dict[int, _Cell],
               stopped: str, settings: Settings) -> ItemResult:
    context, errors = [], []
    for answer in item.answers:
        if answer in rebuilt.missing:
            context.append(f"Your answer cell `{answer}` is missing from the notebook; the "
                           "blank exercise was graded instead.")
            continue
        index = rebuilt.grade_ids.index(answer)
        run = cells.get(index, _Cell()).run
        if run is not None and run.status != "ok":
            context.append(f"Your answer cell `{answer}` did not run cleanly: "
                           f"{run.error_text()}.")
            errors.append(run.traceback or run.error_text())

    def result(score: float, status: str, message: str, error: str = "") -> ItemResult:
        text = "\n".join([*context, message]).strip()
        return ItemResult(item.grade_id, "auto", item.points, score, status, text,
                          error or "\n".join(errors))

    if cell is None or cell.run is None:
        return result(0.0, "not_run", f"Not run: {stopped or 'the notebook stopped early'}.")
    run = cell.run
    if run.status == "timeout":
        return result(0.0, "timeout", f"The test ran past its time limit "
                                      f"({settings.cell_timeout:g} s) and was stopped: does "
                                      "your code loop forever or wait for input?")
    if run.status == "died":
        return result(0.0, "crashed", "The kernel died while running this test (exit() or a "
                                      "crash).")
    if run.status == "out_of_memory":
        return result(0.0, "out_of_memory", f"The kernel {run.evalue} while running this test "
                                            "and was stopped: does your code build a far larger "
                                            "tensor than the inputs need?")
    outcomes = sorted((_outcome(f) for f in cell.outcomes), key=lambda o: o.hidden)
    if any(o.error == "grader_error" for o in outcomes):
        failed = [o for o in outcomes if o.error == "grader_error"]
        return result(0.0, "grader_error", failed[0].message)
    failed = [o for o in outcomes if not o.passed]
    # the first failure in full; later ones (often the same mistake) by their first line
    messages = [o.message if n == 0 else o.message.split("\n")[0] for n, o in enumerate(failed)]
    if cell.kernel_judged and run.status != "ok":
        messages.append(f"The test cell raised {run.error_text()}")
    if failed or (cell.kernel_judged and run.status != "ok"):
        own = [o.error for o in failed if o.error]
        if run.status != "ok":
            own.append(run.traceback or run.error_text())
        return result(0.0, "failed", "\n\n".join(messages), "\n".join(own))
    passed = "; ".join(o.message for o in outcomes) or "the test cell ran without errors"
    return result(item.points, "passed", passed)


def _refused(item: Item, broken: dict[str, list]) -> ItemResult | None:
    """0 for an item whose answer breaks the answer policy (None when none does)."""
    answers = item.answers if item.kind == "auto" else (item.grade_id,)
    for answer in answers:
        if answer in broken:
            lines = "\n".join(f"  {v}" for v in broken[answer][:5])
            message = (f"Your answer cell `{answer}` uses something answers may not use, so it "
                       f"was not run and this item scores 0:\n{lines}\nWrite the exercise "
                       "with torch operations and your own code; the notebook's other names, "
                       "the course's package and the library function the exercise asks for "
                       "are off limits. (Your instructor can restore the points.)")
            return ItemResult(item.grade_id, item.kind, item.points, 0.0, "policy_violation",
                              message)
    return None


def _manual_item(item: Item, rebuilt: Rebuilt, assignment: Assignment,
                 answers: dict[str, str]) -> ItemResult:
    def result(score, status, message):
        return ItemResult(item.grade_id, "manual", item.points, score, status, message)

    if item.grade_id not in assignment.answer_ids:  # a task: nothing to compare
        return result(None, "manual", "Awaiting manual grading.")
    if item.grade_id in rebuilt.missing:
        return result(0.0, "missing", f"The answer cell `{item.grade_id}` is missing from the "
                                      "notebook.")
    if answers.get(item.grade_id, "").strip() == assignment.blank.get(item.grade_id, "").strip():
        return result(0.0, "unanswered", "Not answered (the cell is unchanged).")
    return result(None, "manual", "Awaiting manual grading.")


def _machine_failed(result: SubmissionResult, assignment: Assignment, message: str,
                    start: float) -> SubmissionResult:
    """The result when the grading machine failed: every item a grader_error (not cached, so
    the next run grades the submission again)."""
    result.status, result.message = "grader_error", message
    result.items = grader_error_items(assignment.items, message)
    result.seconds = time.monotonic() - start
    return result


def _claim_gpu(assignment: Assignment, settings: Settings) -> GpuSlot | None:
    """A GPU of its own for a submission of a GPU source (waits for one); None for CPU work."""
    if not (assignment.uses_gpu and settings.gpu):
        return None
    gpus = nvidia_gpus()
    if not gpus:
        return None
    try:
        return GpuSlot(gpus, stop=STOP)
    except InterruptedError:
        raise Stopped() from None


def grade_submission(assignment: Assignment, path: str | Path, name: str,
                     settings: Settings) -> SubmissionResult:
    """Grade one submitted file against the assignment."""
    start = time.monotonic()
    path = Path(path)
    sub = read_submission(path, assignment.answer_ids, settings.max_bytes)
    result = SubmissionResult(name, str(path.resolve()), sub.sha256, assignment.name,
                              assignment.sha256, "graded", notes=list(sub.notes),
                              graded_at=_now())
    if sub.problem is not None:
        status, message = sub.problem
        result.status, result.message = status, message
        result.items = [ItemResult(i.grade_id, i.kind, i.points, 0.0, status, message)
                        for i in assignment.items]
        result.seconds = time.monotonic() - start
        return result
    broken = violations_in(assignment, sub.answers) if settings.answer_policy else {}
    rebuilt = rebuild(assignment, sub, withheld=frozenset(broken))
    manual_ids = [i.grade_id for i in assignment.items if i.kind == "manual"]
    result.answers = {g: sub.answers[g][:100_000] for g in manual_ids if g in sub.answers}
    if rebuilt.missing:
        result.notes.append("missing answer cells: " + ", ".join(rebuilt.missing))
    for grade_id, found in broken.items():
        result.notes.append(f"answer cell `{grade_id}` breaks the answer policy ({found[0]}): "
                            "it was not run")
    protected = [*settings.protected, str(path), str(assignment.path)]
    slot = _claim_gpu(assignment, settings)
    judge = ThreadPoolExecutor(max_workers=1, thread_name_prefix="judge")
    try:
        if slot is not None:
            start += slot.waited  # waiting for the GPU is not the submission's time
            result.gpu = slot.gpu.node
        with Sandbox(settings.limits, mode=settings.sandbox,
                     protected=[Path(p) for p in protected],
                     gpu=slot.gpu if slot else None) as sandbox:
            result.sandbox = sandbox.mode
            result.memory = f"{format_size(settings.limits.memory)}, {sandbox.memory.mechanism}"
            cells, stopped = _execute(rebuilt, sandbox, settings, judge,
                                      start + settings.submission_timeout)
    except KernelStartError as exc:
        judge.shutdown()
        return _machine_failed(result, assignment, str(exc), start)
    finally:
        if slot is not None:
            slot.release()
    setup = _setup_failure(rebuilt, cells)
    if setup:
        judge.shutdown()
        return _machine_failed(result, assignment, f"grader error: {setup}", start)
    try:
        for item in assignment.items:
            refused = _refused(item, broken)
            if refused is not None:
                result.items.append(refused)
            elif item.kind == "auto":
                result.items.append(_auto_item(item, cells.get(item.index), rebuilt, cells,
                                               stopped, settings))
            else:
                result.items.append(_manual_item(item, rebuilt, assignment, sub.answers))
    finally:
        judge.shutdown()
    if stopped:
        result.message = stopped[0].upper() + stopped[1:] + "; the items after it score 0."
    result.seconds = time.monotonic() - start
    return result
