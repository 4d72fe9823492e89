"""MBPP (Austin et al., 2021), as Code Llama §3 runs it: 500 test problems, 3-shot, stop at ``[DONE]``.

The official ``mbpp.jsonl`` (one JSON object per line: ``task_id``, ``text``, ``code``, ``test_list``,
``test_setup_code``, ``challenge_test_list``) is not on PyPI; users pass its path (see the README). Tasks 11–510 are
the test split; tasks 2, 3 and 4 are the prompt's worked examples. ``data_samples/mbpp_sample.jsonl`` holds a few
problems written for this project in the same format, so everything here runs without the real file.

The prompt (the paper says only "3-shot"; this is the format of Austin et al. and lm-evaluation-harness,
docs/paper_facts.md §7) shows each example as::

    You are an expert Python programmer, and here is your task: {text} Your code should pass these tests:

    {tests, one per line}
    [BEGIN]
    {code}
    [DONE]

and ends with the problem's own text and tests followed by ``[BEGIN]`` and a newline; the model writes code until
``[DONE]``.
"""

from __future__ import annotations

import ast
import builtins
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from codellama_lite.evaluation.datafiles import read_records, require
from codellama_lite.evaluation.stops import MBPP_STOPS
from codellama_lite.evaluation.tasks import Task
from codellama_lite.support.resources import resource_dir

SHOT_IDS: tuple[int, ...] = (2, 3, 4)
TEST_IDS = range(11, 511)
SAMPLE_PATH = resource_dir("data_samples") / "mbpp_sample.jsonl"
INSTRUCTION = ("You are an expert Python programmer, and here is your task: {text} "
               "Your code should pass these tests:\n\n")


@dataclass(frozen=True)
class MBPPProblem:
    """One MBPP problem, as ``mbpp.jsonl`` has it (code with ``\\n`` line endings)."""

    task_id: int
    text: str
    code: str
    test_list: tuple[str, ...]
    test_setup_code: str = ""
    challenge_test_list: tuple[str, ...] = ()


def load_mbpp(path: str | Path) -> dict[int, MBPPProblem]:
    """Every problem of an ``mbpp.jsonl``-format file, by task id; a bad record names its file, line and field."""
    problems: dict[int, MBPPProblem] = {}
    for number, record in read_records(path, "MBPP"):
        problem = _parse(record, path, number)
        if problem.task_id in problems:
            raise ValueError(f"{path}: line {number}: duplicate task_id {problem.task_id}")
        problems[problem.task_id] = problem
    return problems


def _parse(record: dict, path: str | Path, number: int) -> MBPPProblem:
    task_id = require(record, "task_id", int, path, number)
    text = require(record, "text", str, path, number)
    code = require(record, "code", str, path, number)
    tests = _string_list(record, "test_list", path, number)
    if not tests:
        raise ValueError(f"{path}: line {number}: field 'test_list' is empty (task {task_id})")
    setup = record.get("test_setup_code", "")
    if not isinstance(setup, str):
        raise ValueError(f"{path}: line {number}: field 'test_setup_code' must be str, got {type(setup).__name__}")
    challenge = _string_list(record, "challenge_test_list", path, number) if "challenge_test_list" in record else ()
    # The official file stores code with Windows line endings; prompts and programs use "\n".
    return MBPPProblem(task_id, text, _unix(code), tuple(_unix(t) for t in tests), _unix(setup),
                       tuple(_unix(t) for t in challenge))


def _string_list(record: dict, field: str, path: str | Path, number: int) -> tuple[str, ...]:
    values = require(record, field, list, path, number)
    for position, value in enumerate(values):
        if not isinstance(value, str):
            raise ValueError(f"{path}: line {number}: field {field!r} item {position} must be str, "
                             f"got {type(value).__name__}")
    return tuple(values)


def _unix(text: str) -> str:
    return text.replace("\r\n", "\n")


def benchmark_problems(problems: dict[int, MBPPProblem]) -> list[MBPPProblem]:
    """The test problems (task ids 11–510) present in ``problems``, in id order."""
    return [problems[task_id] for task_id in sorted(problems) if task_id in TEST_IDS]


def prompt_shots(problems: dict[int, MBPPProblem], shot_ids: Sequence[int] = SHOT_IDS) -> list[MBPPProblem]:
    """The worked examples of the prompt (tasks 2, 3, 4); a missing one is an error naming it."""
    missing = [task_id for task_id in shot_ids if task_id not in problems]
    if missing:
        raise ValueError(f"MBPP prompt shots {missing} are not in the problems file (the prompt uses tasks "
                         f"{', '.join(map(str, shot_ids))})")
    return [problems[task_id] for task_id in shot_ids]


def format_example(problem: MBPPProblem, with_solution: bool = True) -> str:
    """One problem in the ``[BEGIN]…[DONE]`` format; without the solution it ends right after ``[BEGIN]\\n``."""
    head = INSTRUCTION.format(text=problem.text) + "\n".join(problem.test_list) + "\n[BEGIN]\n"
    return head + f"{problem.code}\n[DONE]" if with_solution else head


def build_prompt(problem: MBPPProblem, shots: Iterable[MBPPProblem]) -> str:
    """The 3-shot prompt: each worked example, then the problem itself, one per line."""
    return "\n".join([format_example(shot) for shot in shots] + [format_example(problem, with_solution=False)])


def entry_points(problem: MBPPProblem) -> tuple[str, ...]:
    """The names the tests call that the solution must define (the function under test, sometimes a class).

    Names the tests read that are neither builtins nor bound by the setup or test code; when the reference solution
    defines some of them at top level, those.
    """
    read = _names(problem.test_list, ast.Load) - set(dir(builtins))
    bound = _names((problem.test_setup_code, *problem.test_list), ast.Store) | _imported(problem.test_setup_code)
    needed = read - bound
    defined = _top_level_definitions(problem.code)
    return tuple(sorted(needed & defined or needed))


def _names(sources: Iterable[str], context: type) -> set[str]:
    found = set()
    for source in sources:
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.Name) and isinstance(node.ctx, context):
                found.add(node.id)
    return found


def _imported(source: str) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            names |= {(alias.asname or alias.name).split(".")[0] for alias in node.names}
    return names


def _top_level_definitions(source: str) -> set[str]:
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return set()
    return {node.name for node in tree.body if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))}


def mbpp_task(problem: MBPPProblem, shots: Sequence[MBPPProblem]) -> Task:
    """The task: the 3-shot prompt; judge the completion (after the setup code) against the problem's asserts."""
    setup = problem.test_setup_code
    return Task(task_id=str(problem.task_id), prompt=build_prompt(problem, shots),
                head=setup + "\n" if setup.strip() else "", setup=setup, test="\n".join(problem.test_list),
                entry_points=entry_points(problem), reference=problem.code, stops=MBPP_STOPS)


def mbpp_tasks(path: str | Path = SAMPLE_PATH) -> list[Task]:
    """The test-split tasks of an ``mbpp.jsonl``-format file, each prompted with tasks 2, 3, 4."""
    problems = load_mbpp(path)
    shots = prompt_shots(problems)
    tasks = [mbpp_task(problem, shots) for problem in benchmark_problems(problems)]
    if not tasks:
        raise ValueError(f"{path}: no test problems (task ids 11–510)")
    return tasks
