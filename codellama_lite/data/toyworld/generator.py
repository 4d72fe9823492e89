"""From a spec to a HumanEval-shaped problem: the canonical body is *run* to get the examples and hidden tests.

The prompt is a signature and a docstring (the spec's sentence and one or two ``>>>`` examples); the canonical
solution is the body; the test is ``def check(candidate):`` with one ``assert candidate(...) == ...`` per input, whose
expected values come from executing the canonical program (HumanEval's shape, Code Llama §3). A problem whose tests
a trivial program would pass — ``return None``, a constant, the argument unchanged — is rejected
(:func:`vacuous_mutant`), as is one whose body fails on its own test inputs.
"""

from __future__ import annotations

import ast
import functools
import random
from collections.abc import Callable
from dataclasses import asdict, dataclass

from codellama_lite.data.toyworld.dedup import fingerprint
from codellama_lite.data.toyworld.families import COUNT, INT, INTS, TEXT, Spec

TEST_INPUTS = 7
MAX_SHOWN = 48  # characters of one example's output; a longer one is not shown in the docstring
RECORD_FIELDS = ("task_id", "prompt", "canonical_solution", "test", "entry_point", "family", "difficulty")
TEXT_WORDS = ("bat", "Sea", "toast", "OBOE", "east", "bee", "stab", "oats", "Best", "tea", "so", "Aloe")


@dataclass(frozen=True)
class Problem:
    """One toy problem in HumanEval's fields, with its family, difficulty, template and behaviour fingerprint."""

    task_id: str
    prompt: str
    canonical_solution: str
    test: str
    entry_point: str
    family: str
    difficulty: int
    structure: tuple[str, ...]
    fingerprint: str

    def record(self) -> dict:
        """The JSONL record: HumanEval's five fields plus ``family`` and ``difficulty``."""
        fields = asdict(self)
        return {name: fields[name] for name in RECORD_FIELDS}

    def source(self) -> str:
        """The whole canonical program: prompt then body."""
        return self.prompt + self.canonical_solution


def compile_function(source: str, name: str) -> Callable:
    """Execute generated (trusted) ``source`` and return its function ``name``."""
    namespace: dict = {}
    exec(compile(source, f"<toyworld {name}>", "exec"), namespace)
    return namespace[name]


def body_text(spec: Spec) -> str:
    """The canonical solution: the spec's body lines, indented one level."""
    return _indented(spec.body)


def _indented(lines: tuple[str, ...]) -> str:
    return "".join(f"    {line}\n" for line in lines)


@functools.lru_cache(maxsize=1 << 18)
def _behaviour(param: str, param_type: str, body: tuple[str, ...]) -> tuple[Callable, str]:
    function = compile_function(f"def f({param}):\n" + _indented(body), "f")
    return function, fingerprint(function, param_type)


def behaviour(spec: Spec) -> tuple[Callable, str]:
    """The spec's function (under a neutral name) and its behaviour fingerprint; a body seen before is not rerun,
    which keeps drawing cheap once the small families are exhausted."""
    return _behaviour(spec.param, spec.param_type, spec.body)


def draw_inputs(rng: random.Random, param_type: str) -> list:
    """Distinct test inputs for one argument type, drawn so that every step of a spec tends to matter."""
    draw = {
        INT: lambda: rng.randint(-12, 20),
        COUNT: lambda: rng.randint(0, 10),
        INTS: lambda: tuple(rng.randint(-9, 12) for _ in range(rng.randint(0, 7))),
        TEXT: lambda: _draw_text(rng),
    }[param_type]
    inputs: list = []
    for _ in range(10 * TEST_INPUTS):
        value = draw()
        if value not in inputs:
            inputs.append(value)
        if len(inputs) == TEST_INPUTS:
            break
    return [list(value) if param_type == INTS else value for value in inputs]


def _draw_text(rng: random.Random) -> str:
    words = " ".join(rng.choice(TEXT_WORDS) for _ in range(rng.randint(1, 3)))
    pad = " " * rng.choice((0, 0, 1, 2))
    return pad + words + pad


def build_problem(spec: Spec, rng: random.Random, task_id: str) -> Problem | None:
    """The problem for ``spec`` with tests from running its body; ``None`` when its tests would be vacuous."""
    function, behaviour_hash = behaviour(spec)
    inputs = draw_inputs(rng, spec.param_type)
    try:
        outputs = [function(_copy(value)) for value in inputs]
    except Exception:
        return None
    shown = [i for i, output in enumerate(outputs) if len(repr(output)) <= MAX_SHOWN][:rng.choice((1, 2))]
    if not shown:
        return None
    docstring = "".join(f"    >>> {spec.name}({inputs[i]!r})\n    {outputs[i]!r}\n" for i in shown)
    prompt = f'{spec.signature}\n    """{spec.sentence}\n{docstring}    """\n'
    test = "def check(candidate):\n" + "".join(f"    assert candidate({value!r}) == {output!r}\n"
                                                for value, output in zip(inputs, outputs))
    problem = Problem(task_id, prompt, body_text(spec), test, spec.name, spec.family, spec.difficulty,
                      spec.structure, behaviour_hash)
    return None if vacuous_mutant(problem, outputs) is not None else problem


def _copy(value):
    return list(value) if isinstance(value, list) else value


def mutants(expected: list) -> dict[str, Callable]:
    """Trivial programs a test must reject: ``return None``, the argument unchanged, and constants (every value
    in ``expected``, and the empty value of each type)."""
    constants = {repr(value): value for value in expected + [0, 1, "", [], True, False]}
    programs: dict[str, Callable] = {"return None": lambda _: None, "return the argument": lambda argument: argument}
    for text, value in constants.items():
        programs[f"return {text}"] = lambda _, value=value: _copy(value)
    return programs


def expected_values(problem: Problem) -> list:
    """The right-hand sides of the test's ``assert candidate(...) == expected`` lines."""
    return [ast.literal_eval(node.test.comparators[0]) for node in ast.walk(ast.parse(problem.test))
            if isinstance(node, ast.Assert) and isinstance(node.test, ast.Compare)]


def vacuous_mutant(problem: Problem, expected: list | None = None) -> str | None:
    """The first trivial program that passes ``problem``'s tests (by name), or ``None`` if the tests reject all.

    ``expected``: the values the tests expect, when known (otherwise read from the test's assertions).
    """
    check = compile_function(problem.test, "check")
    for name, program in mutants(expected_values(problem) if expected is None else expected).items():
        try:
            check(program)
        except Exception:
            continue
        return name
    return None
