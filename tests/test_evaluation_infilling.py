"""HumanEval infilling (Code Llama §3.2; Fried et al., Bavarian et al.): 1,033 single-line, 5,815 multi-line and 1,640
random-span tasks."""

from __future__ import annotations

import pytest

from codellama_lite.evaluation.infilling import (EXPECTED_COUNTS, KINDS, exact_match, infilling_tasks,
                                                 random_span_tasks)
from codellama_lite.evaluation.samples import Sample
from codellama_lite.evaluation.scoring import exact_match_rate, score_samples


@pytest.fixture(scope="module")
def tasks(humaneval_problems):
    return {kind: infilling_tasks(kind, humaneval_problems.values()) for kind in KINDS}


def test_counts_are_the_benchmarks(tasks):
    assert {kind: len(tasks[kind]) for kind in KINDS} == {"single-line": 1033, "multi-line": 5815,
                                                          "random-span": 1640} == EXPECTED_COUNTS
    for kind in KINDS:
        assert len({t.task_id for t in tasks[kind]}) == len(tasks[kind])


def test_every_task_reassembles_the_canonical_program(tasks, humaneval_problems):
    by_problem = {"/".join(t.task_id.split("/")[1:3]): t for t in tasks["random-span"]}
    for kind in KINDS:
        for task in tasks[kind]:
            problem = humaneval_problems["/".join(task.task_id.split("/")[1:3])]
            assert task.prompt + task.reference + task.suffix == problem.prompt + problem.canonical_solution
            assert task.reference and task.is_infilling
    assert len(by_problem) == 164


def test_single_line_middles_are_whole_non_blank_lines(tasks):
    for task in tasks["single-line"]:
        assert task.reference.strip() and task.reference.count("\n") <= 1
        assert task.prompt.endswith("\n") and task.reference.endswith("\n") or not task.suffix


def test_multi_line_runs_start_and_end_on_non_blank_lines(tasks):
    for task in tasks["multi-line"]:
        lines = task.reference.splitlines()
        assert lines[0].strip() and lines[-1].strip()


def test_random_spans_are_seeded(humaneval_problems):
    problem = humaneval_problems["HumanEval/10"]
    first = [t.reference for t in random_span_tasks(problem, seed=0)]
    assert first == [t.reference for t in random_span_tasks(problem, seed=0)]
    assert first != [t.reference for t in random_span_tasks(problem, seed=1)]


def test_scored_by_running_prefix_middle_suffix_plus_exact_match(tasks, sandbox):
    chosen = [t for t in tasks["single-line"] if t.task_id.startswith("SingleLineInfilling/HumanEval/2/")]
    chosen += [t for t in tasks["random-span"] if t.task_id.startswith("RandomSpanInfilling/HumanEval/0/")][:3]
    samples = [Sample(t.task_id, 0, t.reference) for t in chosen]
    samples += [Sample(t.task_id, 1, "") for t in chosen]
    results = score_samples(chosen, samples, sandbox)
    assert all(r.passed and r.exact_match for r in results[:len(chosen)])
    assert not any(r.passed or r.exact_match for r in results[len(chosen):]), \
        [(r.task_id, r.completion) for r in results[len(chosen):] if r.passed]
    assert exact_match_rate(results) == pytest.approx(0.5)
    program = chosen[0].program("MIDDLE")
    assert program.candidate == chosen[0].prompt + "MIDDLE" + chosen[0].suffix
    assert exact_match(chosen[0].reference, chosen[0]) and not exact_match(chosen[0].reference.strip(), chosen[0])


def test_unknown_kind():
    with pytest.raises(ValueError, match="unknown infilling benchmark 'two-line'"):
        infilling_tasks("two-line", [])
