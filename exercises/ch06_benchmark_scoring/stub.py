"""Chapter 6 exercises: score code the way Code Llama §3 does.

Fill in each function; check your work with ``codellama-lite exercises check ch06``.
"""

from __future__ import annotations

from collections.abc import Sequence


def pass_at_k(n: int, c: int, k: int) -> float:
    """The unbiased pass@k of one problem: ``c`` of ``n`` samples passed; the chance that a draw of ``k`` of them
    (without replacement) holds at least one that passes, ``1 - C(n-c, k) / C(n, k)``.

    Requires ``1 <= k <= n``. Avoid forming the huge binomials: the ratio is a product of ``c`` simple factors.
    """
    # TODO: when fewer than k samples fail (n - c < k) the answer is 1.0; otherwise multiply (1 - k / i) over
    # i = n - c + 1 .. n and subtract from 1.
    raise NotImplementedError


def truncate_at_stops(text: str, stops: Sequence[str]) -> str:
    """``text`` cut before the earliest occurrence of any stop sequence (the stop itself removed); unchanged if none."""
    # TODO: find each stop's first position; cut at the smallest one that occurs.
    raise NotImplementedError


def mbpp_prompt(problem, shots) -> str:
    """The 3-shot MBPP prompt (docs/paper_facts.md §7) for ``problem`` with worked examples ``shots``.

    Both are :class:`codellama_lite.evaluation.mbpp.MBPPProblem` (fields ``text``, ``code``, ``test_list``). Each shot
    reads ``"You are an expert Python programmer, and here is your task: {text} Your code should pass these
    tests:\\n\\n{tests}\\n[BEGIN]\\n{code}\\n[DONE]"`` with the tests one per line; the problem itself has the same
    head and ends right after ``"[BEGIN]\\n"``. Shots and problem are joined by single newlines.
    """
    # TODO: format each shot, then the problem without code, and join them with "\n".
    raise NotImplementedError


def run_unsafely(problem, completion: str, timeout: float) -> str:
    """UNSAFE — for reading, never for a model's output: run ``problem.prompt + completion``, then ``problem.test`` and
    ``check(<entry point>)``, as one program in a fresh ``python`` subprocess, and return ``"passed"`` (it exits with
    status 0), ``"failed"`` (any other status) or ``"timed out"`` (still running after ``timeout`` seconds; kill it).

    The program runs with your user's rights: it can delete your files, and it decides its own verdict (``exit(0)``
    before the tests "passes"). Notebook 06 shows both, then what the package's sandbox does instead.
    """
    # TODO: subprocess.run([sys.executable, "-c", program], timeout=..., capture_output=True).
    raise NotImplementedError
