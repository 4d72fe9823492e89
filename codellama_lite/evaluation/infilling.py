"""HumanEval infilling benchmarks (Bavarian et al., 2022; Code Llama §3.2, Table 14), built from canonical solutions.

Take a HumanEval problem's canonical solution, cut a hole in it, and ask the model for the missing *middle* given the
*prefix* (the prompt and the solution before the hole) and the *suffix* (the solution after it). Three ways to cut:

- **single-line** — remove one non-blank line: 1,033 tasks;
- **multi-line** — remove every run of lines that starts and ends on a non-blank line (blank lines inside the run go
  with it): one task per pair ``first <= last`` of non-blank lines, 5,815 tasks;
- **random-span** — remove a span between two character positions drawn at random, 10 seeded spans per problem:
  1,640 tasks.

A filled-in program is judged by running ``prefix + middle + suffix`` against the problem's tests; exact match
(the middle equals the removed text, character for character) is reported beside it.

The same three constructions apply to any problem in HumanEval's shape: :func:`toy_infilling_tasks` cuts holes in the
toy world's test problems (:mod:`codellama_lite.data.toyworld`), the benchmark a laptop-trained model can score on.
A left-to-right model cannot see the suffix; :func:`left_to_right_middle` turns its continuation of the prefix into a
middle with the most generous rule that needs no suffix: keep as many lines as the removed text has.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Iterator, Sequence

from codellama_lite.evaluation.humaneval import HumanEvalProblem, load_humaneval
from codellama_lite.evaluation.tasks import Task
from codellama_lite.evaluation.toy import toy_problems

KINDS: tuple[str, ...] = ("single-line", "multi-line", "random-span")
EXPECTED_COUNTS = {"single-line": 1033, "multi-line": 5815, "random-span": 1640}
SPANS_PER_PROBLEM = 10
_ID_PREFIX = {"single-line": "SingleLineInfilling", "multi-line": "MultiLineInfilling",
              "random-span": "RandomSpanInfilling"}


def _task(kind: str, problem: HumanEvalProblem, name: str, start: int, end: int) -> Task:
    """The task whose hole is ``canonical_solution[start:end]``."""
    solution = problem.canonical_solution
    prefix, middle, suffix = problem.prompt + solution[:start], solution[start:end], solution[end:]
    return Task(task_id=f"{_ID_PREFIX[kind]}/{problem.task_id}/{name}", prompt=prefix, suffix=suffix,
                head=prefix, tail=suffix, setup=problem.prompt,
                test=f"{problem.test}\ncheck({problem.entry_point})", entry_points=(problem.entry_point,),
                reference=middle)


def _line_spans(solution: str) -> tuple[list[int], list[tuple[int, int]]]:
    """Character ``(start, end)`` of every line (newline included), and the indices of the non-blank ones."""
    spans, position = [], 0
    for line in solution.splitlines(keepends=True):
        spans.append((position, position + len(line)))
        position += len(line)
    non_blank = [i for i, (start, end) in enumerate(spans) if solution[start:end].strip()]
    return non_blank, spans


def single_line_tasks(problem: HumanEvalProblem) -> Iterator[Task]:
    """One task per non-blank line of the canonical solution (the line's newline is part of the middle)."""
    non_blank, spans = _line_spans(problem.canonical_solution)
    for i in non_blank:
        yield _task("single-line", problem, f"L{i}", spans[i][0], spans[i][1])


def multi_line_tasks(problem: HumanEvalProblem) -> Iterator[Task]:
    """One task per run of lines from a non-blank line ``i`` to a non-blank line ``j >= i``."""
    non_blank, spans = _line_spans(problem.canonical_solution)
    for a, first in enumerate(non_blank):
        for last in non_blank[a:]:
            yield _task("multi-line", problem, f"L{first}_L{last}", spans[first][0], spans[last][1])


def random_span_tasks(problem: HumanEvalProblem, spans: int = SPANS_PER_PROBLEM, seed: int = 0) -> Iterator[Task]:
    """``spans`` tasks whose holes lie between two distinct character positions drawn uniformly (seeded per problem)."""
    rng = random.Random(f"{seed}/{problem.task_id}")
    length = len(problem.canonical_solution)
    for number in range(spans):
        start, end = sorted(rng.sample(range(length + 1), 2))
        yield _task("random-span", problem, str(number), start, end)


def infilling_tasks(kind: str, problems: Iterable[HumanEvalProblem] | None = None, seed: int = 0) -> list[Task]:
    """Every task of one benchmark, problem by problem in HumanEval order."""
    if kind not in KINDS:
        raise ValueError(f"unknown infilling benchmark {kind!r}; choose one of {', '.join(KINDS)}")
    problems = list(load_humaneval().values()) if problems is None else list(problems)
    builders = {"single-line": single_line_tasks, "multi-line": multi_line_tasks,
                "random-span": lambda problem: random_span_tasks(problem, seed=seed)}
    return [task for problem in problems for task in builders[kind](problem)]


def toy_infilling_tasks(kind: str, split: str = "test", world_seed: int = 0, count: int = 200,
                        seed: int = 0) -> list[Task]:
    """Every ``kind`` task cut from ``count`` generated toy-world problems of ``split`` (HumanEval's rules)."""
    return infilling_tasks(kind, toy_problems(split, world_seed, count)[0], seed=seed)


def subsample(tasks: Sequence[Task], count: int | None, seed: int = 0) -> list[Task]:
    """At most ``count`` of ``tasks``, drawn without replacement (seeded), kept in their original order."""
    if count is None or count >= len(tasks):
        return list(tasks)
    if count < 1:
        raise ValueError(f"count must be at least 1, got {count}")
    chosen = set(random.Random(f"subsample/{seed}").sample(range(len(tasks)), count))
    return [task for i, task in enumerate(tasks) if i in chosen]


def left_to_right_middle(continuation: str, task: Task) -> str:
    """A left-to-right model's answer to ``task``: its continuation of the prefix, cut after as many lines as the
    removed middle spans (an oracle line count, generous to the model: it never sees the suffix)."""
    lines = continuation.splitlines(keepends=True)
    wanted = task.reference.count("\n") + (not task.reference.endswith("\n"))
    middle = "".join(lines[:wanted])
    return middle if task.reference.endswith("\n") else middle.rstrip("\n")


def exact_match(completion: str, task: Task) -> bool:
    """Whether the generated middle is the removed text, character for character."""
    return completion == task.reference
