"""Samples files are append-only and resumable; results files are written whole (Code Llama §3 protocol plumbing)."""

from __future__ import annotations

import json

import pytest

from codellama_lite.evaluation.samples import (Result, Sample, SamplesFile, read_results, read_samples,
                                               write_results, write_samples)


def test_append_then_resume_skips_what_is_written(tmp_path):
    path = tmp_path / "s.jsonl"
    first = SamplesFile(path)
    first.append("HumanEval/0", 0, "    return 1\n")
    first.append("HumanEval/0", 1, "    return 2\n")
    resumed = SamplesFile(path)
    assert resumed.missing(["HumanEval/0", "HumanEval/1"], 2) == [("HumanEval/1", 0), ("HumanEval/1", 1)]
    with pytest.raises(ValueError, match="already written"):
        resumed.append("HumanEval/0", 1, "x")
    assert read_samples(path) == [Sample("HumanEval/0", 0, "    return 1\n"),
                                  Sample("HumanEval/0", 1, "    return 2\n")]


def test_a_line_cut_off_mid_write_is_trimmed_on_resume(tmp_path):
    path = tmp_path / "s.jsonl"
    SamplesFile(path).append("t", 0, "a")
    with open(path, "a") as handle:
        handle.write('{"task_id": "t", "index": 1, "compl')  # the process died here
    with pytest.raises(ValueError, match="line 2 is not valid JSON"):
        read_samples(path)
    resumed = SamplesFile(path)
    assert resumed.missing(["t"], 2) == [("t", 1)]
    resumed.append("t", 1, "b")
    assert [s.completion for s in read_samples(path)] == ["a", "b"]


def test_human_eval_format_without_index_is_numbered_per_task(tmp_path):
    path = tmp_path / "he.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in [
        {"task_id": "A", "completion": "1"}, {"task_id": "B", "completion": "2"}, {"task_id": "A", "completion": "3"},
        {"task_id": 11, "completion": "4"}]))
    assert [(s.task_id, s.index) for s in read_samples(path)] == [("A", 0), ("B", 0), ("A", 1), ("11", 0)]


@pytest.mark.parametrize("line, message", [
    ('{"task_id": "A"}', "line 2: field 'completion'"),
    ('{"completion": "x"}', "line 2: field 'task_id'"),
    ('{"task_id": "A", "index": -1, "completion": "x"}', "line 2: field 'index'"),
    ('{"task_id": "A", "index": 0, "completion": "x"}', "line 2: duplicate sample 0"),
    ('not json', "line 2 is not valid JSON"),
])
def test_bad_lines_name_the_file_line_and_field(tmp_path, line, message):
    path = tmp_path / "bad.jsonl"
    path.write_text('{"task_id": "A", "index": 0, "completion": "ok"}\n' + line + "\n")
    with pytest.raises(ValueError, match=message) as error:
        read_samples(path)
    assert "bad.jsonl" in str(error.value)


def test_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="samples file not found"):
        read_samples(tmp_path / "nope.jsonl")


def test_results_round_trip_and_write_atomically(tmp_path):
    path = tmp_path / "r.jsonl"
    results = [Result("t", 0, "c", "passed", True, "", 0.1, "namespaces"),
               Result("t", 1, "d", "failed", False, "AssertionError", 0.2, "namespaces", exact_match=False)]
    write_results(path, results)
    assert read_results(path) == results
    assert [p.name for p in tmp_path.iterdir()] == ["r.jsonl"]  # no temporary left behind
    write_samples(tmp_path / "s.jsonl", [Sample("t", 0, "c")])
    assert read_samples(tmp_path / "s.jsonl") == [Sample("t", 0, "c")]


def test_the_last_line_without_a_newline_is_read(tmp_path):
    path = tmp_path / "s.jsonl"
    path.write_text('{"task_id": "t", "completion": "a"}\n{"task_id": "t", "completion": "b"}')
    assert [s.completion for s in read_samples(path)] == ["a", "b"]
    resumed = SamplesFile(path)  # a whole last line is ended, not cut, before appending
    assert resumed.missing(["t"], 3) == [("t", 2)]
    resumed.append("t", 2, "c")
    assert [s.completion for s in read_samples(path)] == ["a", "b", "c"]


def test_a_samples_file_of_other_settings_is_refused_never_mixed(tmp_path):
    path = tmp_path / "s.jsonl"
    greedy = {"checkpoint": "abc", "temperature": 0.0, "top_p": 0.95, "seed": 0, "max_new_tokens": 64}
    SamplesFile(path, greedy).append("t", 0, "a")
    assert read_samples(path)[0].extra["provenance"] == greedy
    assert SamplesFile(path, dict(greedy)).missing(["t"], 1) == []
    for key, value in (("temperature", 0.8), ("checkpoint", "def"), ("seed", 1), ("max_new_tokens", 32)):
        with pytest.raises(ValueError, match=f"{key}: {greedy[key]!r} in the file, {value!r} now"):
            SamplesFile(path, {**greedy, key: value})
    unknown = tmp_path / "theirs.jsonl"
    unknown.write_text('{"task_id": "t", "completion": "a"}\n')
    with pytest.raises(ValueError, match="unknown origin"):
        SamplesFile(unknown, greedy)
