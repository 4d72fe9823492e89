"""A synthetic sampler with known per-problem pass rates — NOT a language model (notebook 06, pass@k vs temperature).

To show how temperature trades pass@1 for pass@100 (Code Llama §3, Figure 6) without a trained model, each problem
gets a fixed set of candidate completions — its canonical solution and ``wrong_answers`` wrong bodies — with fixed
random logits. Sampling at temperature ``T`` draws from ``softmax(logits / T)``, exactly as a model's decoder does
over its vocabulary; ``T = 0`` is greedy. The chance of drawing the correct answer, and hence the true pass@k, is
known in closed form, so the estimates from sandboxed verdicts can be checked against it.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from codellama_lite.evaluation.passk import expected_pass_at_k
from codellama_lite.evaluation.samples import Sample
from codellama_lite.evaluation.tasks import Task

# Wrong function bodies, continuing a HumanEval-style prompt (signature and docstring).
WRONG_BODIES: tuple[str, ...] = ("    return None\n", "    pass\n", "    raise NotImplementedError\n",
                                 "    return 0\n", "    return []\n", "    return ''\n")


@dataclass
class SyntheticSampler:
    """Candidate answers with fixed logits per task: index 0 is the task's reference (correct) completion.

    ``skill`` shifts the correct answer's logit: a higher skill means more problems solved greedily.
    """

    tasks: Sequence[Task]
    seed: int = 0
    wrong_answers: int = 15
    skill: float = 1.0
    logits: dict[str, np.ndarray] = field(init=False)

    def __post_init__(self) -> None:
        rng = np.random.default_rng(self.seed)
        self.logits = {}
        for task in self.tasks:
            wrong = rng.normal(0.0, 1.0, self.wrong_answers)
            correct = rng.normal(self.skill, 1.5)
            self.logits[task.task_id] = np.concatenate([[correct], wrong])

    def probabilities(self, task_id: str, temperature: float) -> np.ndarray:
        """The sampling distribution over the task's candidates at ``temperature`` (0 = greedy, one-hot)."""
        logits = self.logits[task_id]
        if temperature < 0:
            raise ValueError(f"temperature must be >= 0, got {temperature}")
        if temperature == 0:
            return np.eye(len(logits))[int(np.argmax(logits))]
        scaled = logits / temperature
        weights = np.exp(scaled - scaled.max())
        return weights / weights.sum()

    def pass_rate(self, task_id: str, temperature: float) -> float:
        """The known chance that one sample of this task is the correct answer."""
        return float(self.probabilities(task_id, temperature)[0])

    def true_pass_at_k(self, temperature: float, k: int) -> float:
        """The exact benchmark pass@k of this sampler: the mean over tasks of ``1 - (1 - rate)^k``."""
        return float(np.mean([expected_pass_at_k(self.pass_rate(t.task_id, temperature), k) for t in self.tasks]))

    def completion(self, task: Task, answer: int) -> str:
        """Candidate ``answer`` of ``task``: 0 is the reference, the others wrong bodies."""
        return task.reference if answer == 0 else WRONG_BODIES[(answer - 1) % len(WRONG_BODIES)]

    def complete(self, task: Task, *, temperature: float, top_p: float = 1.0, max_new_tokens: int = 0,
                 seed: int = 0) -> str:
        """One sample, with the :class:`~codellama_lite.evaluation.generation.Completer` signature (top-p and the
        token budget do not apply to whole candidate answers)."""
        weights = self.probabilities(task.task_id, temperature)
        return self.completion(task, random.Random(seed).choices(range(len(weights)), weights=weights.tolist())[0])

    def samples(self, temperature: float, n: int, seed: int = 0) -> list[Sample]:
        """``n`` samples per task at ``temperature`` (seeded), in the samples-file format."""
        rng = random.Random(seed)
        out = []
        for task in self.tasks:
            weights = self.probabilities(task.task_id, temperature)
            answers = rng.choices(range(len(weights)), weights=weights.tolist(), k=n)
            out += [Sample(task.task_id, index, self.completion(task, answer)) for index, answer in enumerate(answers)]
        return out
