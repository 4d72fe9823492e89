"""Generation with the paper's protocol appends to the samples file and resumes to the same samples (Code Llama §3)."""

from __future__ import annotations

import pytest

from codellama_lite.evaluation.generation import check_protocol, run_generation, sample_seed
from codellama_lite.evaluation.humaneval import humaneval_tasks
from codellama_lite.evaluation.samples import read_samples
from codellama_lite.evaluation.synthetic import SyntheticSampler


class Interrupt(Exception):
    pass


def test_an_interrupted_run_resumes_to_the_same_samples(tmp_path):
    tasks = humaneval_tasks()[:4]
    sampler = SyntheticSampler(tasks, seed=0)
    whole = tmp_path / "whole.jsonl"
    assert run_generation(tasks, whole, sampler.complete, n=5, temperature=0.8, progress=False) == 20

    calls = []

    def dies_after_seven(task, **options):
        if len(calls) == 7:
            raise Interrupt
        calls.append(task.task_id)
        return sampler.complete(task, **options)

    resumed = tmp_path / "resumed.jsonl"
    with pytest.raises(Interrupt):
        run_generation(tasks, resumed, dies_after_seven, n=5, temperature=0.8, progress=False)
    assert len(read_samples(resumed)) == 7
    assert run_generation(tasks, resumed, sampler.complete, n=5, temperature=0.8, progress=False) == 13
    assert sorted(read_samples(resumed), key=lambda s: (s.task_id, s.index)) == \
        sorted(read_samples(whole), key=lambda s: (s.task_id, s.index))
    assert run_generation(tasks, resumed, sampler.complete, n=5, temperature=0.8, progress=False) == 0


def test_completions_are_cut_at_the_stop_sequences(tmp_path):
    tasks = humaneval_tasks()[:1]
    path = tmp_path / "s.jsonl"
    run_generation(tasks, path, lambda task, **_: "    return 1\n\ndef extra():\n    pass\n", progress=False)
    assert read_samples(path)[0].completion == "    return 1\n"


def test_protocol_checks():
    check_protocol(1, 0.0, 0.95)
    check_protocol(200, 0.8, 0.95)
    with pytest.raises(ValueError, match="greedy"):
        check_protocol(10, 0.0, 0.95)
    with pytest.raises(ValueError, match="top_p"):
        check_protocol(10, 0.8, 0.0)
    assert sample_seed(0, "HumanEval/1", 3) == sample_seed(0, "HumanEval/1", 3) != sample_seed(0, "HumanEval/1", 4)


def test_resumed_generation_with_other_settings_is_refused(tmp_path):
    tasks = humaneval_tasks()[:2]
    sampler = SyntheticSampler(tasks, seed=0)
    path = tmp_path / "s.jsonl"
    assert run_generation(tasks, path, sampler.complete, progress=False) == 2
    before = path.read_bytes()
    with pytest.raises(ValueError, match="temperature: 0.0 in the file, 0.8 now"):
        run_generation(tasks, path, sampler.complete, temperature=0.8, n=1, progress=False)
    with pytest.raises(ValueError, match="max_new_tokens"):
        run_generation(tasks, path, sampler.complete, max_new_tokens=16, progress=False)
    assert path.read_bytes() == before
    assert {s.extra["provenance"]["temperature"] for s in read_samples(path)} == {0.0}
