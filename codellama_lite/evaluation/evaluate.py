"""The one evaluation path (Code Llama §3): a model's samples of benchmark tasks, their verdicts, and pass@k.

A model, as a :class:`~codellama_lite.evaluation.generation.Completer` (a checkpoint's
:func:`~codellama_lite.evaluation.generation.load_completer`, or
:class:`~codellama_lite.evaluation.generation.ModelCompleter` around a model in memory), writes ``sampling.n``
samples of each task, cut at the task's stop sequences: in memory, or resumably into a samples file. The sandbox
judges each sample (:func:`~codellama_lite.evaluation.scoring.score_samples`), one
:class:`~codellama_lite.evaluation.samples.Result` per sample; :func:`~codellama_lite.evaluation.scoring.counts` and
:func:`~codellama_lite.evaluation.scoring.summarize` turn those into ``(n, c)`` per task and pass@k with intervals.
The command line, the chapters' measurements, self-instruct's execution feedback and the findings all call
:func:`evaluate`.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from codellama_lite.evaluation.generation import Completer, Sampling, complete, run_generation
from codellama_lite.evaluation.samples import Result, Sample, read_samples
from codellama_lite.evaluation.scoring import score_samples
from codellama_lite.evaluation.tasks import Task

if TYPE_CHECKING:
    from codellama_lite.evaluation.sandbox import Sandbox

__all__ = ["Sampling", "evaluate", "judge"]


def evaluate(completer: Completer, tasks: Sequence[Task], sandbox: Sandbox, sampling: Sampling = Sampling(), *,
             samples_path: str | Path | None = None, batch_tasks: bool = False,
             progress: bool = False) -> list[Result]:
    """Every task's samples drawn by ``completer`` and judged in ``sandbox``: one result per sample, task by task.

    With ``samples_path`` the samples are appended to that file as they are made, and a file that already holds
    some is resumed (:func:`~codellama_lite.evaluation.generation.run_generation`); every sample it holds of these
    tasks is judged. Without it they stay in memory, and ``batch_tasks`` lets greedy samples of several tasks decode
    together (:func:`~codellama_lite.evaluation.generation.complete`).
    """
    if samples_path is None:
        samples = complete(completer, tasks, sampling, batch_tasks=batch_tasks)
    else:
        run_generation(tasks, samples_path, completer, n=sampling.n, temperature=sampling.temperature,
                       top_p=sampling.top_p, max_new_tokens=sampling.max_new_tokens, seed=sampling.seed,
                       progress=progress)
        wanted = {task.task_id for task in tasks}
        samples = [sample for sample in read_samples(samples_path) if sample.task_id in wanted]
    return score_samples(tasks, samples, sandbox, truncate=True, progress=progress)


def judge(tasks: Sequence[Task], completions: Sequence[str], sandbox: Sandbox) -> list[Result]:
    """One completion per task, judged as given (sample index 0): for completions a caller made or changed itself."""
    if len(tasks) != len(completions):
        raise ValueError(f"one completion per task: {len(completions)} completions for {len(tasks)} tasks")
    samples = [Sample(task.task_id, 0, text) for task, text in zip(tasks, completions)]
    return score_samples(tasks, samples, sandbox, truncate=False)
