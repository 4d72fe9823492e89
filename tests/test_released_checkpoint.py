"""The released model in the workbook (``CODELLAMA_LITE_CHECKPOINT``), on a small Code-Llama-shaped checkpoint made
here in both formats it is shipped in: Hugging Face's (written by transformers) and Meta's (two model-parallel
shards). The tokenizer has Code Llama's layout: 16 pieces appended, the four infilling ones at base + 7 … base + 10."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from codellama_lite.config import ModelConfig
from codellama_lite.experiments import released as rel
from codellama_lite.evaluation.infilling import KINDS
from codellama_lite.interop import export_meta, to_transformers
from codellama_lite.tokenizer import INFILLING_PIECES

from _models import random_model


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory, small_tokenizer) -> dict[str, Path]:
    """The same weights as a Hugging Face folder and as a Meta folder, each with the tokenizer beside them."""
    model = random_model(ModelConfig.preset("tiny", vocab_size=small_tokenizer.vocab_size), seed=5)
    root = tmp_path_factory.mktemp("released")
    folders = {"hf": root / "CodeLlama-tiny-hf", "meta": root / "CodeLlama-tiny"}
    to_transformers(model).save_pretrained(folders["hf"])
    export_meta(model, folders["meta"], num_shards=2)
    for folder in folders.values():
        shutil.copy(small_tokenizer.model_path, folder / "tokenizer.model")
    return folders


@pytest.fixture(scope="module")
def loaded(checkpoints):
    return rel.load_released(checkpoints["hf"], device="cpu")


@pytest.fixture(scope="module")
def texts() -> list[str]:
    """Source files to read far into: this package's own modules."""
    import codellama_lite

    return [path.read_text(encoding="utf-8") for path in sorted(Path(codellama_lite.__file__).parent.glob("*.py"))]


def test_unset_means_none_and_every_section_says_how_to_enable_it(monkeypatch, checkpoints):
    monkeypatch.delenv(rel.ENV_VAR, raising=False)
    assert rel.released_checkpoint() is None
    assert [rel.chapter_1("gpu"), rel.chapter_3("gpu"), rel.chapter_4("gpu"), rel.chapter_6("gpu")] == \
        [rel.HOW_TO_ENABLE] * 4
    monkeypatch.setenv(rel.ENV_VAR, str(checkpoints["hf"]))
    assert rel.released_checkpoint() == checkpoints["hf"]
    assert rel.chapter_1("smoke") == rel.HOW_TO_ENABLE  # only the gpu profile uses it
    assert rel.ENV_VAR in rel.HOW_TO_ENABLE and "CODELLAMA_LITE_PROFILE=gpu" in rel.HOW_TO_ENABLE


@pytest.mark.parametrize("case, message", [("missing", "no such folder"), ("empty", "no model in it"),
                                           ("no-tokenizer", "no tokenizer.model in it")])
def test_a_bad_variable_is_one_error_naming_it_and_the_path(monkeypatch, tmp_path, checkpoints, case, message):
    folder = tmp_path / case
    if case == "empty":
        folder.mkdir()
        (folder / "config.json").write_text("{}")
    elif case == "no-tokenizer":
        shutil.copytree(checkpoints["meta"], folder)
        (folder / "tokenizer.model").unlink()
    monkeypatch.setenv(rel.ENV_VAR, str(folder))
    with pytest.raises(ValueError, match=f"^codellama-lite: error: {rel.ENV_VAR}={folder}: {message}"):
        rel.released_checkpoint()


def test_both_formats_load_the_weights_transformers_computes_with(checkpoints, loaded):
    from transformers import LlamaForCausalLM

    model, tokenizer = loaded
    meta_model, meta_tokenizer = rel.load_released(checkpoints["meta"], device="cpu")
    tokens = torch.tensor([tokenizer.encode("def f(x):\n    return x + 1\n", bos=True)])
    reference = LlamaForCausalLM.from_pretrained(checkpoints["hf"]).eval()
    with torch.no_grad():
        theirs = reference(tokens).logits
        torch.testing.assert_close(model(tokens), theirs, rtol=1e-4, atol=1e-4)
        torch.testing.assert_close(meta_model(tokens), theirs, rtol=1e-4, atol=1e-4)
    assert meta_tokenizer.vocab_size == tokenizer.vocab_size == model.config.vocab_size


def test_chapter_1_shows_the_ids_sentencepiece_gives_the_infilling_pieces(monkeypatch, checkpoints, loaded):
    import sentencepiece as spm

    processor = spm.SentencePieceProcessor(model_file=str(checkpoints["hf"] / "tokenizer.model"))
    expected = {piece: processor.piece_to_id(piece) for piece in INFILLING_PIECES}
    assert len(set(expected.values())) == 4 and processor.unk_id() not in expected.values()
    assert rel.infilling_ids(loaded[1]) == expected
    monkeypatch.setenv(rel.ENV_VAR, str(checkpoints["meta"]))
    report = rel.chapter_1("gpu")
    assert f"{processor.get_piece_size():,} pieces" in report
    assert all(f"{piece}={index}" in report for piece, index in expected.items())


def test_infilling_scores_each_kind_with_both_prompts(loaded, sandbox):
    model, tokenizer = loaded
    scores = rel.infilling_scores(model, tokenizer, sandbox, count=2, max_new_tokens=6)
    assert list(scores) == list(KINDS)
    for by_mode in scores.values():
        assert list(by_mode) == ["PSM", "SPM"]
        assert all(result.problems == 2 and 0 <= result.low <= result.value <= result.high <= 1
                   for result in by_mode.values())
    table = rel.infilling_report(scores)
    assert len(table.splitlines()) == 1 + 2 * len(KINDS) and "74.1" in table  # Table 14: 7B, single-line, PSM


def test_perplexity_by_position_is_transformers_loss_at_each_position(checkpoints, loaded, texts):
    from transformers import LlamaForCausalLM

    from codellama_lite.experiments.longcontext import long_documents

    model, tokenizer = loaded
    length, count = 96, 3
    losses = rel.perplexity_by_position(model, tokenizer, texts, length, count)
    assert losses.shape == (length - 1,)
    documents = long_documents(tokenizer, texts, length, count)
    reference = LlamaForCausalLM.from_pretrained(checkpoints["hf"]).eval()
    with torch.no_grad():
        logits = reference(documents[:, :-1]).logits
    theirs = F.cross_entropy(logits.transpose(1, 2), documents[:, 1:], reduction="none").mean(dim=0)
    torch.testing.assert_close(losses, theirs, rtol=1e-4, atol=1e-4)
    ranges = rel.perplexity_ranges(losses, [0, 10, length - 1])
    assert ranges == pytest.approx([theirs[:10].mean().exp().item(), theirs[10:].mean().exp().item()], rel=1e-4)


def test_chapter_4_section_runs_on_the_checkpoint_the_variable_names(monkeypatch, checkpoints, texts):
    monkeypatch.setenv(rel.ENV_VAR, str(checkpoints["hf"]))
    report = rel.chapter_4("gpu", texts, length=80, count=2, lengths=(64, 96), depths=(0.0, 0.5), per_cell=1)
    lines = report.splitlines()
    assert lines[0] == f"{checkpoints['hf']}:" and "2 files of 80+ tokens" in lines[1]
    rows = [line.split() for line in lines if line.strip().split(" ")[0] in ("64", "96")]
    assert [row[0] for row in rows] == ["64", "96"] and all(len(row) == 3 for row in rows)
    assert all(0 <= float(cell.rstrip("%")) <= 100 for row in rows for cell in row[1:])


def test_chapter_6_scores_humaneval_and_mbpp_beside_table_2(monkeypatch, checkpoints, loaded, sandbox):
    model, tokenizer = loaded
    scores = rel.benchmark_scores(model, tokenizer, sandbox, count=2, max_new_tokens=6)
    assert list(scores) == ["humaneval", "mbpp"]
    assert all(result.problems == 2 and 0 <= result.value <= 1 for result in scores.values())
    monkeypatch.setenv(rel.ENV_VAR, str(checkpoints["meta"]))
    report = rel.chapter_6("gpu", count=1, max_new_tokens=4)
    assert "humaneval: pass@k in percent (1 of 164 problems)" in report
    assert "mbpp: pass@k in percent (1 of 500 problems)" in report
    assert "Code Llama 7B (paper)" in report and "33.5" in report and "41.4" in report  # Table 2, pass@1
