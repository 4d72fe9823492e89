"""Infilling tasks cut from the toy world's test problems (HumanEval's rules), scored by execution + exact match."""

from __future__ import annotations

import json

import pytest

from codellama_lite.evaluation.infilling import (KINDS, left_to_right_middle, subsample, toy_infilling_tasks)
from codellama_lite.evaluation.samples import Sample
from codellama_lite.evaluation.scoring import exact_match_rate, score_samples, summarize
from codellama_lite.evaluation.tasks import Task


@pytest.fixture(scope="module")
def toy_tasks():
    return {kind: toy_infilling_tasks(kind, "test", 0, 4) for kind in KINDS}


def test_tasks_reassemble_the_toy_problems(toy_tasks):
    from codellama_lite.evaluation.toy import toy_problems

    programs = {p.task_id: p.prompt + p.canonical_solution for p in toy_problems("test", 0, 4)[0]}
    for kind, tasks in toy_tasks.items():
        assert tasks and len({t.task_id for t in tasks}) == len(tasks)
        for task in tasks:
            problem = task.task_id.split("/", 1)[1].rsplit("/", 1)[0]
            assert task.prompt + task.reference + task.suffix == programs[problem]
    assert len(toy_tasks["random-span"]) == 4 * 10
    assert all(t.reference.endswith("\n") for t in toy_tasks["single-line"] + toy_tasks["multi-line"])


def test_canonical_middle_passes_and_empty_middle_fails(toy_tasks, sandbox):
    tasks = [task for kind in KINDS for task in toy_tasks[kind][:4]]
    canonical = score_samples(tasks, [Sample(t.task_id, 0, t.reference) for t in tasks], sandbox)
    assert summarize(canonical, [1])[1].value == 1.0 and exact_match_rate(canonical) == 1.0
    empty = score_samples(tasks, [Sample(t.task_id, 0, "") for t in tasks], sandbox)
    assert not any(r.passed for r in empty), [r.task_id for r in empty if r.passed]
    assert exact_match_rate(empty) == 0.0


def test_subsample_is_seeded_ordered_and_bounded(toy_tasks):
    tasks = toy_tasks["multi-line"]
    picked = subsample(tasks, 5, seed=1)
    assert picked == subsample(tasks, 5, seed=1) and len(picked) == 5
    assert [tasks.index(t) for t in picked] == sorted(tasks.index(t) for t in picked)
    assert subsample(tasks, None) == tasks and subsample(tasks, 10 ** 6) == tasks
    with pytest.raises(ValueError, match="at least 1"):
        subsample(tasks, 0)


def _task(reference: str) -> Task:
    return Task("k/p/0", "def f():\n", "", ("f",), reference, suffix="")


@pytest.mark.parametrize("reference, continuation, expected", [
    ("    x = 1\n", "    x = 1\n    return x\n", "    x = 1\n"),
    ("    x = 1\n    y = 2\n", "    x = 1\n    y = 3\n    return x\n", "    x = 1\n    y = 3\n"),
    (" = 1", " = 2\n    return x\n", " = 2"),
    ("1\n    return", "1\n    return x\n", "1\n    return x"),
    ("    x = 1\n", "", ""),
])
def test_left_to_right_middle_keeps_the_reference_line_count(reference, continuation, expected):
    assert left_to_right_middle(continuation, _task(reference)) == expected


def test_cli_scores_toy_infilling_and_writes_the_summary(tmp_path, toy_tasks, capsys):
    from codellama_lite.cli import main

    tasks = toy_tasks["single-line"][:3]
    samples = tmp_path / "fill.jsonl"
    rows = [{"task_id": t.task_id, "completion": t.reference} for t in tasks[:2]]
    rows.append({"task_id": tasks[2].task_id, "completion": ""})
    samples.write_text("".join(json.dumps(row) + "\n" for row in rows))
    summary = tmp_path / "summary.json"
    assert main(["eval", "infilling", "--tasks", "toy", "--count", "4", "--kind", "single-line", "--score",
                 str(samples), "--summary", str(summary), "--k", "1"]) == 0
    record = json.loads(summary.read_text())
    assert record["benchmark"] == "infilling" and record["tasks"] == "toy" and record["layout"] == "psm"
    assert record["problems"] == 3 and record["samples_per_problem"] == 1
    assert record["pass_at_k"]["1"] == pytest.approx(2 / 3) and record["exact_match"] == pytest.approx(2 / 3)
    assert "exact match" in capsys.readouterr().out


def test_cli_generates_spm_middles_from_a_checkpoint(tmp_path, small_tokenizer, capsys):
    import shutil

    import torch

    from codellama_lite.cli import main
    from codellama_lite.config import ModelConfig
    from codellama_lite.interop import export_hf
    from codellama_lite.model import Transformer

    torch.manual_seed(0)
    checkpoint = export_hf(Transformer(ModelConfig.preset("tiny", vocab_size=small_tokenizer.vocab_size)),
                           tmp_path / "ckpt")
    shutil.copy(small_tokenizer.model_path, checkpoint / "tokenizer.model")
    summary = tmp_path / "s.json"
    assert main(["eval", "infilling", "--tasks", "toy", "--count", "2", "--kind", "random-span", "--suffix-first",
                 "--checkpoint", str(checkpoint), "--samples", str(tmp_path / "g.jsonl"), "--limit", "3",
                 "--max-new-tokens", "4", "--k", "1", "--summary", str(summary)]) == 0
    record = json.loads(summary.read_text())
    assert record["layout"] == "spm" and record["problems"] == 3 and 0.0 <= record["exact_match"] <= 1.0
    capsys.readouterr()
