"""The toy benchmark: toy-world problems scored exactly as HumanEval is (Code Llama §3, at laptop scale).

A toy problem has HumanEval's fields, so it becomes a task the same way (:func:`humaneval_task`: continue the prompt,
judge ``prompt + completion`` with ``check(entry_point)``, stop at HumanEval's stop sequences). The problems come from
the generator (a split, a world seed, a count) or from a JSONL file that ``codellama-lite data toyworld`` wrote.
Beside pass@k, :func:`pass_at_1_by` breaks the score down by family and by difficulty.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from codellama_lite.evaluation.datafiles import read_records, require
from codellama_lite.evaluation.humaneval import HumanEvalProblem, humaneval_task
from codellama_lite.evaluation.passk import estimate_pass_at_k
from codellama_lite.evaluation.tasks import Task


Labels = dict[str, dict[str, str]]  # task_id -> {"family": ..., "difficulty": ...}


def toy_problems(split: str = "test", seed: int = 0, count: int = 200) -> tuple[list[HumanEvalProblem], Labels]:
    """Generated problems of one toy-world split, and their labels."""
    from codellama_lite.data.toyworld import problems

    generated = problems(split, seed, count)
    return ([HumanEvalProblem(p.task_id, p.prompt, p.canonical_solution, p.test, p.entry_point) for p in generated],
            {p.task_id: {"family": p.family, "difficulty": str(p.difficulty)} for p in generated})


def read_toy_file(path: str | Path) -> tuple[list[HumanEvalProblem], Labels]:
    """Problems and their labels from a JSONL file in HumanEval's format (``family``/``difficulty`` optional)."""
    found, labels = [], {}
    for number, record in read_records(path, "toy problems"):
        fields = [require(record, field, str, path, number) for field in
                  ("task_id", "prompt", "canonical_solution", "test", "entry_point")]
        found.append(HumanEvalProblem(*fields))
        labels[fields[0]] = {key: str(record[key]) for key in ("family", "difficulty") if key in record}
    if not found:
        raise ValueError(f"{path}: no problems")
    return found, labels


def toy_tasks(problems: Sequence[HumanEvalProblem]) -> list[Task]:
    """Tasks as HumanEval's: continue the prompt; the tests call ``check(entry_point)``."""
    return [humaneval_task(problem) for problem in problems]


def pass_at_1_by(counts: Mapping[str, tuple[int, int]], labels: Mapping[str, Mapping[str, str]],
                 label: str) -> dict[str, float]:
    """Mean pass@1 per value of ``label`` (``family`` or ``difficulty``) over the tasks that have samples."""
    groups: dict[str, list[float]] = {}
    for task_id, (n, c) in counts.items():
        value = labels.get(task_id, {}).get(label)
        if value is not None:
            groups.setdefault(value, []).append(estimate_pass_at_k(n, c, 1))
    return {value: sum(scores) / len(scores) for value, scores in sorted(groups.items())}
