"""Chapter 6 reference solutions (see stub.py for the task statements)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k: ``1 - C(n-c, k) / C(n, k)``, as a product of ``c`` factors."""
    if n - c < k:
        return 1.0
    return 1.0 - float(np.prod(1.0 - k / np.arange(n - c + 1, n + 1)))


def truncate_at_stops(text: str, stops: Sequence[str]) -> str:
    """``text`` before the earliest stop sequence."""
    cut = len(text)
    for stop in stops:
        position = text.find(stop) if stop else -1
        if 0 <= position < cut:
            cut = position
    return text[:cut]


def mbpp_prompt(problem, shots) -> str:
    """The 3-shot ``[BEGIN]…[DONE]`` prompt."""
    def head(p) -> str:
        return (f"You are an expert Python programmer, and here is your task: {p.text} "
                "Your code should pass these tests:\n\n" + "\n".join(p.test_list) + "\n[BEGIN]\n")

    return "\n".join([head(shot) + shot.code + "\n[DONE]" for shot in shots] + [head(problem)])


def run_unsafely(problem, completion: str, timeout: float) -> str:
    """UNSAFE: the program in a plain subprocess, judged by its exit status alone."""
    import subprocess
    import sys

    program = f"{problem.prompt}{completion}\n\n{problem.test}\n\ncheck({problem.entry_point})\n"
    try:
        finished = subprocess.run([sys.executable, "-c", program], capture_output=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return "timed out"
    return "passed" if finished.returncode == 0 else "failed"
