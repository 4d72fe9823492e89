"""One benchmark task: what the model is asked, and how its answer becomes a program to judge (Code Llama §3).

HumanEval, MBPP and the infilling benchmarks differ in their prompts, but all three end the same way: the model's
completion is spliced between a fixed *head* and *tail* (prompt before it for HumanEval, prefix and suffix around it for
infilling), that untrusted source is executed, and trusted test code decides. :class:`Task` holds exactly those pieces,
so scoring, generation and the CLI treat every benchmark alike.
"""

from __future__ import annotations

from dataclasses import dataclass

from codellama_lite.evaluation.sandbox import Program


@dataclass(frozen=True)
class Task:
    """A benchmark task.

    ``prompt`` is what the model sees (for infilling: the prefix, with ``suffix`` after the hole). ``head`` and
    ``tail`` surround the completion in the program that runs; ``setup``, ``test`` and ``entry_points`` are the
    trusted judge side (see :class:`~codellama_lite.evaluation.sandbox.Program`). ``reference`` is the known-good
    completion (the canonical solution, or the removed middle), ``stops`` where generation ends.
    """

    task_id: str
    prompt: str
    test: str
    entry_points: tuple[str, ...]
    reference: str
    stops: tuple[str, ...] = ()
    head: str = ""
    tail: str = ""
    setup: str = ""
    suffix: str | None = None

    @property
    def is_infilling(self) -> bool:
        """Whether the model fills a hole (prefix and suffix given) rather than continuing a prompt."""
        return self.suffix is not None

    def program(self, completion: str) -> Program:
        """The program the sandbox judges: ``head + completion + tail`` against this task's tests."""
        return Program(candidate=self.head + completion + self.tail, test=self.test, entry_points=self.entry_points,
                       setup=self.setup, task_id=self.task_id)
