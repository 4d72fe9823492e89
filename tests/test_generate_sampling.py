"""Batched sampling for pass@k (Code Llama §3): one prefilled prompt, n rows decoding together; greedy equals
unbatched generation, seeded samples are reproducible and independent of the batch size, and draws follow the
temperature/top-p distribution."""

from __future__ import annotations

import collections
import json
import shutil

import pytest
import torch

from _models import random_model
from codellama_lite.config import ModelConfig
from codellama_lite.evaluation.generation import provenance, run_generation, sample_seed
from codellama_lite.evaluation.samples import read_samples
from codellama_lite.evaluation.tasks import Task
from codellama_lite.generate import generate, row_uniforms, sample_many, sample_with, top_p_filter

CONFIG = ModelConfig(dim=64, n_layers=2, n_heads=4, n_kv_heads=2, vocab_size=61, multiple_of=16)
PROMPT = [1, 7, 3, 19, 42, 5, 11]


@pytest.fixture(scope="module")
def model():
    return random_model(CONFIG, seed=3, scale=0.3)


def tokens(completions):
    return [c.tokens for c in completions]


@pytest.mark.parametrize("batch_size", [1, 2, 5])
def test_greedy_rows_equal_unbatched_generation(model, batch_size):
    alone = generate(model, [PROMPT], 18)[0].tokens
    assert tokens(sample_many(model, PROMPT, 5, 18, batch_size=batch_size)) == [alone] * 5


def test_seeded_sampling_is_reproducible_and_independent_of_the_batch_size(model):
    options = dict(temperature=1.0, top_p=0.95, seed=4)
    whole = tokens(sample_many(model, PROMPT, 6, 16, batch_size=6, **options))
    assert whole == tokens(sample_many(model, PROMPT, 6, 16, batch_size=6, **options))
    assert whole == tokens(sample_many(model, PROMPT, 6, 16, batch_size=4, **options))
    assert len({tuple(row) for row in whole}) == 6  # each row its own stream
    assert whole != tokens(sample_many(model, PROMPT, 6, 16, temperature=1.0, top_p=0.95, seed=5))
    # A sample is a function of its own seed: the third sample alone equals the third of the six.
    seeds = [(4 << 32) + row for row in range(6)]
    assert tokens(sample_many(model, PROMPT, 1, 16, temperature=1.0, top_p=0.95, seeds=seeds[2:3])) == [whole[2]]


def test_rows_stop_at_their_own_stop_token(model):
    rows = sample_many(model, PROMPT, 8, 30, temperature=1.5, seed=0, stop_ids=(3, 4, 5))
    assert any(c.finish_reason == "stop" for c in rows) and any(len(c.tokens) > 3 for c in rows)
    for completion in rows:
        assert not set(completion.tokens) & {3, 4, 5}
        assert completion.finish_reason == "stop" or len(completion.tokens) == 30


def test_uniforms_depend_on_seed_and_step_only():
    u = row_uniforms([1, 2, 3], 7)
    assert u.dtype == torch.float64 and bool(((u >= 0) & (u < 1)).all())
    assert torch.equal(row_uniforms([3], 7), u[2:]) and not torch.equal(row_uniforms([1, 2, 3], 8), u)
    many = row_uniforms(list(range(20000)), 0)
    assert abs(float(many.mean()) - 0.5) < 0.01 and abs(float((many < 0.1).double().mean()) - 0.1) < 0.01


def test_draws_follow_the_tempered_nucleus_distribution():
    logits = torch.tensor([[2.0, 1.0, 0.5, -1.0, 0.0, 1.5]]).expand(20000, -1)
    uniforms = row_uniforms(list(range(20000)), 3)
    for temperature, top_p in ((1.0, 1.0), (0.7, 1.0), (1.0, 0.8)):
        probs = torch.softmax(logits[0] / temperature, dim=-1)
        kept, order = top_p_filter(probs[None], top_p)
        expected = torch.zeros_like(probs).scatter(0, order[0], kept[0])
        counts = collections.Counter(sample_with(logits, temperature, top_p, uniforms).tolist())
        observed = torch.tensor([counts[i] / 20000 for i in range(6)])
        assert torch.allclose(observed, expected, atol=0.015), (temperature, top_p, observed, expected)
        assert all(counts[i] == 0 for i in range(6) if expected[i] == 0)


def test_bad_arguments_are_named(model):
    with pytest.raises(ValueError, match="n=0"):
        sample_many(model, PROMPT, 0, 4)
    with pytest.raises(ValueError, match="one seed per sample"):
        sample_many(model, PROMPT, 3, 4, seeds=[1, 2])


class ManyStub:
    """A completer that records how it was called; each sample's text is its seed."""

    def __init__(self):
        self.calls = []

    def __call__(self, task, *, seed, **_):
        raise AssertionError("a many-completer is asked for a task's samples together")

    def many(self, task, *, seeds, **_):
        self.calls.append((task.task_id, list(seeds)))
        return [f"    return {seed}\n" for seed in seeds]


def test_generation_asks_a_many_completer_once_per_task_with_the_missing_seeds(tmp_path):
    tasks = [Task(f"T/{i}", "def f():\n", "", ("f",), "") for i in range(3)]
    path = tmp_path / "samples.jsonl"
    stub = ManyStub()
    made = provenance(stub, temperature=0.8, top_p=0.95, max_new_tokens=512, seed=0)  # run_generation's defaults
    path.write_text(json.dumps({"task_id": "T/1", "index": 2, "completion": "x", "provenance": made}) + "\n")
    assert run_generation(tasks, path, stub, n=4, temperature=0.8, progress=False) == 11
    assert [task_id for task_id, _ in stub.calls] == ["T/0", "T/1", "T/2"]
    assert stub.calls[1][1] == [sample_seed(0, "T/1", index) for index in (0, 1, 3)]
    written = {(s.task_id, s.index): s.completion for s in read_samples(path)}
    assert written[("T/2", 3)] == f"    return {sample_seed(0, 'T/2', 3)}\n" and written[("T/1", 2)] == "x"


def test_eval_toy_generates_from_a_checkpoint_in_batches_and_resumes(tmp_path, small_tokenizer):
    from codellama_lite.cli import main
    from codellama_lite.interop import export_hf

    torch.manual_seed(0)
    model = random_model(ModelConfig.preset("toy", vocab_size=small_tokenizer.vocab_size), seed=0, scale=0.05)
    checkpoint = export_hf(model, tmp_path / "ckpt")
    shutil.copy(small_tokenizer.model_path, checkpoint / "tokenizer.model")
    samples = tmp_path / "toy.jsonl"
    command = ["eval", "toy", "--checkpoint", str(checkpoint), "--samples", str(samples), "--count", "2",
               "--n", "3", "--temperature", "0.8", "--batch-size", "2", "--max-new-tokens", "6", "--k", "1", "3"]
    assert main(command) == 0
    first = sorted((s.task_id, s.index, s.completion) for s in read_samples(samples))
    assert len(first) == 6
    summary = json.loads((tmp_path / "toy.summary.json").read_text())
    assert summary["samples_per_problem"] == 3 and set(summary["pass_at_k"]) == {"1", "3"}
    # Drop two samples: the resumed run regenerates exactly them.
    lines = samples.read_text().splitlines()
    samples.write_text("\n".join(lines[:2] + lines[4:]) + "\n")
    assert main(command + ["--batch-size", "3"]) == 0
    assert sorted((s.task_id, s.index, s.completion) for s in read_samples(samples)) == first


@pytest.mark.parametrize("sharpness", [0.5, 4.0, 12.0])
def test_the_nucleus_shortcut_keeps_exactly_metas_nucleus(sharpness):
    from codellama_lite.generate import _nucleus

    probs = torch.softmax(sharpness * torch.randn(8, 300, generator=torch.Generator().manual_seed(0)), dim=-1)
    fast, fast_order = _nucleus(probs, 0.9)
    full, full_order = top_p_filter(probs, 0.9)
    assert torch.allclose(torch.zeros_like(probs).scatter(1, fast_order, fast),
                          torch.zeros_like(probs).scatter(1, full_order, full))
