"""The FIM ablation's pieces (Code Llama §2.3, Tables 5 and 14): paired differences, per-window losses, infilling
modes on a random tiny model, the token boundary behind SPM's random-span loss, the packer's FIM share by length."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from codellama_lite.experiments import fim as fx
from codellama_lite.config import ModelConfig
from codellama_lite.evaluation.infilling import toy_infilling_tasks
from tests._models import random_model


@pytest.fixture(scope="module")
def model(small_tokenizer):
    return random_model(ModelConfig.preset("tiny", vocab_size=small_tokenizer.vocab_size))


def test_equivalence_verdicts_follow_the_margin_and_the_baseline():
    inside = {"value": -0.01, "low": -0.02, "high": 0.005}
    assert fx.equivalence_verdict(inside, 0.03) == "reproduced"
    assert fx.equivalence_verdict({"value": -0.2, "low": -0.3, "high": -0.1}, 0.03) == "contradicted"
    assert fx.equivalence_verdict({"value": -0.02, "low": -0.08, "high": 0.01}, 0.03) == "undecided"
    assert fx.equivalence_verdict(inside, 0.03, {"value": 0.0}).startswith("not measurable")


def test_the_census_sorts_every_toy_function(small_tokenizer):
    """Plain documents that fit are seen whole; a FIM cut inside a function splits it."""
    text = "def a():\n    return 1\n\n\ndef b():\n    return 2\n"
    spans = fx._function_spans(text, "\n\n\n")
    assert [text[s:e] for s, e in spans] == ["def a():\n    return 1", "def b():\n    return 2\n"]
    starts = fx._token_char_starts(small_tokenizer, text)
    assert starts[0] == 0 and starts == sorted(starts) and starts[-1] < len(text)
    pieces = small_tokenizer.encode(text)
    assert len(starts) == len(pieces)


def test_window_losses_are_per_window_cross_entropy(model):
    windows = torch.randint(0, model.config.vocab_size, (5, 17), generator=torch.Generator().manual_seed(0))
    losses = fx.window_losses(model, windows, batch_size=2)
    with torch.no_grad():
        logits = model(windows[:, :-1])
    expected = [F.cross_entropy(logits[i], windows[i, 1:]).item() for i in range(5)]
    assert losses == pytest.approx(expected, rel=1e-5)


def test_every_mode_gives_one_middle_per_task(model, small_tokenizer):
    tasks = toy_infilling_tasks("random-span", "test", 0, 1)[:3]
    for mode in fx.MODES:
        middles = fx.infill_middles(model, small_tokenizer, tasks, mode, max_new_tokens=3, batch_size=2)
        assert len(middles) == 3 and all(isinstance(m, str) for m in middles)
    with pytest.raises(ValueError, match="unknown infilling mode"):
        fx.infill_middles(model, small_tokenizer, tasks, "pms")


def test_continuations_keep_the_indentation_of_the_first_piece(small_tokenizer):
    """A prompt ending in a newline continues with a piece like ``▁▁▁▁``: decoded, all four spaces survive."""
    body = small_tokenizer.encode("def f(x):\n    return x\n")[len(small_tokenizer.encode("def f(x):\n")):]
    assert small_tokenizer.decode_infilling(body).startswith("    return")


def test_a_cut_inside_a_word_splits_a_token_and_a_cut_at_a_line_does_not(small_tokenizer):
    prefix, middle = "def f(x):\n    ret", "urn x\n"
    assert "return" in small_tokenizer.pieces(prefix + middle)  # one piece in the joint encoding
    assert fx.splits_a_token(small_tokenizer, prefix, middle)
    pieces = fx.boundary_tokens(small_tokenizer, prefix, middle)
    assert "return" in pieces["spm_training"] and "return" not in pieces["spm_prompt"]
    assert pieces["spm_prompt"] == pieces["psm"] and "|" in pieces["psm"]
    assert not fx.splits_a_token(small_tokenizer, "def f(x):\n", "    return x\n")


def test_per_problem_groups_the_holes_of_one_problem():
    tasks = toy_infilling_tasks("single-line", "test", 0, 2)
    values = [i % 2 == 0 for i in range(len(tasks))]
    problems = {t.task_id.split("/", 1)[1].rsplit("/", 1)[0] for t in tasks}
    means = fx.per_problem(tasks, values)
    assert len(means) == len(problems) == 2 and means.mean() == pytest.approx(
        np.mean([np.mean([v for t, v in zip(tasks, values) if p in t.task_id]) for p in sorted(problems)]))


def test_bucket_shares_count_fim_by_length():
    log = [("toy", 20, True), ("toy", 30, False), ("code", 100, False), ("code", 5000, False)]
    rows = fx._bucket_shares(log, (32, 128))
    assert rows == [{"tokens": "1–32", "documents": 2, "fim_share": 0.5, "sources": ["toy"]},
                    {"tokens": "33–128", "documents": 1, "fim_share": 0.0, "sources": ["code"]},
                    {"tokens": ">128", "documents": 1, "fim_share": 0.0, "sources": ["code"]}]


def test_the_twins_differ_only_in_the_fim_rate():
    recipes = fx.twin_recipes("smoke")
    fim, plain = recipes["fim"].to_dict(), recipes["no_fim"].to_dict()
    assert fim["data"]["fim_rate"] == 0.9 and plain["data"]["fim_rate"] == 0.0
    plain["data"]["fim_rate"] = 0.9
    assert plain == fim and recipes["fim"].digest() != recipes["no_fim"].digest()


def test_layout_strips_label_every_piece_and_mark_the_straddling_one(small_tokenizer):
    from codellama_lite.fim import psm_ids, spm_ids

    prefix, middle, suffix = "def f(x):\n    ret", "urn x", "\n"
    psm = fx.layout_strip(small_tokenizer, prefix, middle, suffix, "psm")
    spm = fx.layout_strip(small_tokenizer, prefix, middle, suffix, "spm")
    assert [small_tokenizer.piece_to_id(p) for p, _ in psm] == psm_ids(prefix, middle, suffix, small_tokenizer)
    assert [small_tokenizer.piece_to_id(p) for p, _ in spm] == spm_ids(prefix, middle, suffix, small_tokenizer)
    assert ("return", "straddles") in spm and "straddles" not in {part for _, part in psm}
    assert [part for _, part in psm if part] == sorted((part for _, part in psm if part),
                                                       key=("prefix", "suffix", "middle").index)
