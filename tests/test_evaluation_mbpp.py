"""MBPP as Code Llama §3 runs it: the official file format, the 3-shot [BEGIN]…[DONE] prompt, stop at [DONE]."""

from __future__ import annotations

import json

import pytest

from codellama_lite.evaluation.mbpp import (SAMPLE_PATH, SHOT_IDS, benchmark_problems, build_prompt, entry_points,
                                            load_mbpp, mbpp_task, mbpp_tasks, prompt_shots)
from codellama_lite.evaluation.samples import Sample
from codellama_lite.evaluation.scoring import score_samples
from codellama_lite.evaluation.stops import MBPP_STOPS, truncate_at_stops


@pytest.fixture(scope="module")
def problems():
    return load_mbpp(SAMPLE_PATH)


def test_the_sample_file_holds_the_shots_and_test_ids_in_range(problems):
    assert set(SHOT_IDS) <= set(problems)
    ids = [p.task_id for p in benchmark_problems(problems)]
    assert ids == sorted(ids) and ids and all(11 <= i <= 510 for i in ids)
    assert 601 in problems and 601 not in ids  # outside the test split
    assert all("\r" not in p.code for p in problems.values())  # Windows line endings normalised


def test_prompt_is_the_three_shot_begin_done_format(problems):
    shots = prompt_shots(problems)
    problem = problems[11]
    prompt = build_prompt(problem, shots)
    blocks = prompt.split("\nYou are an expert Python programmer")
    assert len(blocks) == 4
    shot = shots[0]
    expected_first = ("You are an expert Python programmer, and here is your task: " + shot.text +
                      " Your code should pass these tests:\n\n" + "\n".join(shot.test_list) +
                      "\n[BEGIN]\n" + shot.code + "\n[DONE]")
    assert prompt.startswith(expected_first + "\nYou are an expert")
    assert prompt.endswith(", and here is your task: " + problem.text + " Your code should pass these tests:\n\n" +
                           "\n".join(problem.test_list) + "\n[BEGIN]\n")
    assert prompt.count("[DONE]") == 3 and prompt.count("[BEGIN]") == 4
    assert truncate_at_stops("def f():\n    return 1\n[DONE]\nYou are", MBPP_STOPS) == "def f():\n    return 1\n"


def test_entry_points_are_the_names_the_tests_call(problems):
    assert entry_points(problems[11]) == ("reverse_words",)
    assert entry_points(problems[233]) == ("point_distance",)  # 'math' comes from the setup code


def test_reference_solutions_pass_and_wrong_ones_fail_in_the_sandbox(sandbox):
    tasks = mbpp_tasks(SAMPLE_PATH)
    samples = [Sample(t.task_id, 0, t.reference + "\n[DONE]\nYou are an expert") for t in tasks]
    samples += [Sample(t.task_id, 1, f"def {t.entry_points[0]}(*args):\n    return None\n") for t in tasks]
    results = score_samples(tasks, samples, sandbox)
    assert [r.passed for r in results] == [True] * len(tasks) + [False] * len(tasks), \
        [(r.task_id, r.status, r.reason) for r in results]


def test_missing_shots_are_named(tmp_path, problems):
    path = tmp_path / "mbpp.jsonl"
    path.write_text(json.dumps(_record(problems[11])) + "\n")
    with pytest.raises(ValueError, match=r"shots \[2, 3, 4\]"):
        mbpp_tasks(path)


def _record(problem):
    return {"task_id": problem.task_id, "text": problem.text, "code": problem.code,
            "test_list": list(problem.test_list), "test_setup_code": problem.test_setup_code,
            "challenge_test_list": list(problem.challenge_test_list)}


@pytest.mark.parametrize("change, message", [
    (lambda r: r.pop("text"), "line 2: missing field 'text'"),
    (lambda r: r.update(task_id="12"), "line 2: field 'task_id' must be int"),
    (lambda r: r.update(test_list="assert f()"), "line 2: field 'test_list' must be list"),
    (lambda r: r.update(test_list=["assert f()", 3]), "line 2: field 'test_list' item 1 must be str"),
    (lambda r: r.update(test_list=[]), "line 2: field 'test_list' is empty"),
    (lambda r: r.update(test_setup_code=None), "line 2: field 'test_setup_code' must be str"),
    (lambda r: r.update(task_id=2), "line 2: duplicate task_id 2"),
])
def test_bad_records_name_the_file_line_and_field(tmp_path, problems, change, message):
    good, bad = _record(problems[2]), _record(problems[12])
    change(bad)
    path = tmp_path / "mbpp.jsonl"
    path.write_text(json.dumps(good) + "\n" + json.dumps(bad))  # last line without newline still counts
    with pytest.raises(ValueError, match=message) as error:
        load_mbpp(path)
    assert "mbpp.jsonl" in str(error.value)


def test_last_line_without_newline_is_read(tmp_path, problems):
    path = tmp_path / "mbpp.jsonl"
    path.write_text(json.dumps(_record(problems[2])) + "\n" + json.dumps(_record(problems[12])))
    assert list(load_mbpp(path)) == [2, 12]


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="MBPP file not found"):
        load_mbpp(tmp_path / "mbpp.jsonl")


def test_setup_code_runs_before_the_candidate(problems):
    shots = prompt_shots(problems)
    program = mbpp_task(problems[233], shots).program("def point_distance(p, q):\n    return 0.0\n")
    assert program.candidate.startswith("import math\n") and program.setup == "import math"
