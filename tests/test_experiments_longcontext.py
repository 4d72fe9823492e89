"""Chapter 4's measurements (Code Llama §3.3, appendix G) on known cases and on a random tiny model."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from codellama_lite.config import ModelConfig
from codellama_lite.costs import context_cost, kv_cache_bytes
from codellama_lite.experiments.longcontext import (QUESTION, RetrievalExample, filler_lines, lcft_recipes,
                                                    long_documents, loss_per_position, retrieval_accuracy,
                                                    retrieval_correct, retrieval_example, run_lcft_arms, train_base,
                                                    with_rope)
from codellama_lite.rope import decay_bound, frequency_ratios, scaling_methods, unseen_pairs, wavelengths
from codellama_lite.tokenizer import read_corpus
from tests._models import random_model


@pytest.fixture(scope="module")
def texts():
    return read_corpus(max_files=40)[0]


@pytest.fixture(scope="module")
def tiny(small_tokenizer):
    config = ModelConfig.preset("tiny", vocab_size=small_tokenizer.vocab_size, rope_theta=1e4, max_seq_len=64)
    return random_model(config, scale=0.05)


def test_wavelengths_run_from_two_pi_to_two_pi_base_to_the_one_minus_two_over_d():
    waves = wavelengths(128, 1e4)
    assert waves[0].item() == pytest.approx(2 * math.pi)
    assert waves[-1].item() == pytest.approx(2 * math.pi * 1e4 ** (126 / 128), rel=1e-6)
    assert unseen_pairs(128, 1e6, 4096) > unseen_pairs(128, 1e4, 4096) > 0


def test_decay_bound_starts_at_its_maximum_and_a_larger_base_decays_more_slowly():
    distances = torch.arange(0, 20_000, 250)
    low, high = decay_bound(distances, 128, 1e4), decay_bound(distances, 128, 1e6)
    assert low[0].item() == pytest.approx((64 + 1) / 2)  # at distance 0 every |S_j| = j
    assert (low[1:] < low[0]).all()
    assert high[8:].mean() > 1.2 * low[8:].mean()  # Figure 9a: base 1e6 keeps more of the score far away


def test_frequency_ratios_of_the_methods():
    ratios = frequency_ratios(32, 1e4, scaling_methods(4.0, 128))
    assert torch.equal(ratios["none"], torch.ones(16))
    torch.testing.assert_close(ratios["PI (linear)"], torch.full((16,), 0.25))
    assert ratios["YaRN"][0] == 1.0 and ratios["YaRN"][-1].item() == pytest.approx(0.25)
    assert torch.equal(ratios["dynamic NTK"], torch.ones(16))  # no change at the original length ...
    longer = frequency_ratios(32, 1e4, scaling_methods(4.0, 128), seq_len=512)["dynamic NTK"]
    assert longer[0] == 1.0 and longer[-1].item() == pytest.approx(1 / 13, rel=1e-4)  # ... 4*512/128 - 3 = 13 beyond


def test_context_cost_of_7b():
    config = ModelConfig.preset("7b")
    assert kv_cache_bytes(config, 4096) == 2 * 32 * 4096 * 4096 * 2  # 2 GiB in bf16
    costs = [context_cost(config, tokens) for tokens in (4096, 16384, 100_000)]
    assert costs[1].attention_flops == pytest.approx(16 * costs[0].attention_flops)  # quadratic
    assert costs[1].weight_flops == pytest.approx(4 * costs[0].weight_flops)  # linear
    assert costs[0].attention_share < 0.5 < costs[2].attention_share


def test_with_rope_copies_weights_and_changes_only_the_rotation(tiny):
    tokens = torch.randint(0, tiny.config.vocab_size, (1, 40))
    same, pi = with_rope(tiny), with_rope(tiny, rope_scaling={"rope_type": "linear", "factor": 4.0})
    big_base = with_rope(tiny, theta=1e6)
    with torch.no_grad():
        torch.testing.assert_close(same(tokens), tiny(tokens))
        assert not torch.allclose(pi(tokens), tiny(tokens), atol=1e-3)
        assert not torch.allclose(big_base(tokens), tiny(tokens), atol=1e-3)
    assert big_base.config.rope_theta == 1e6 and pi.config.rope_scaling["factor"] == 4.0
    assert tiny.config.rope_scaling is None and tiny.config.rope_theta == 1e4


def test_loss_per_position_averages_to_the_model_loss(tiny, small_tokenizer, texts):
    documents = long_documents(small_tokenizer, texts, 96, 3)
    assert documents.shape == (3, 96) and (documents[:, 0] == small_tokenizer.bos_id).all()
    losses = loss_per_position(tiny, documents, batch_size=2)
    assert losses.shape == (95,)
    with torch.no_grad():
        logits = tiny(documents[:, :-1])
    expected = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), documents[:, 1:].reshape(-1))
    assert losses.mean().item() == pytest.approx(expected.item(), rel=1e-5)
    with pytest.raises(ValueError, match="at least 100000 tokens"):
        long_documents(small_tokenizer, texts[:2], 100_000, 1)


@pytest.mark.parametrize("depth", [0.0, 0.5, 1.0])
def test_retrieval_example_hides_the_needle_at_its_depth(small_tokenizer, texts, depth):
    example = retrieval_example(small_tokenizer, filler_lines(texts), 200, depth, 427)
    text = small_tokenizer.decode(example.prompt)
    assert text.endswith(QUESTION) and text.count("def key_fn():\n    return 427\n") == 1
    assert 150 <= len(example.prompt) <= 200
    assert small_tokenizer.decode(example.answer).strip() == "427"
    lines = text.split("\n")
    filler = len(lines) - 3  # all but the needle's two lines and the question
    assert filler > 5 and lines.index("def key_fn():") == round(depth * filler)


class Oracle(nn.Module):
    """Logits that predict the token ``shift`` places after each input position in ``sequence``."""

    def __init__(self, sequence: list[int], vocab: int, shift: int = 1) -> None:
        super().__init__()
        self.sequence, self.vocab, self.shift = sequence, vocab, shift
        self.dummy = nn.Parameter(torch.zeros(1))

    def forward(self, tokens):
        targets = torch.tensor(self.sequence[self.shift:self.shift + tokens.shape[1]])
        targets = F.pad(targets, (0, tokens.shape[1] - len(targets)))
        return F.one_hot(targets, self.vocab).float()[None]


def test_retrieval_correct_reads_the_answer_positions():
    example = RetrievalExample(prompt=[1, 5, 6, 7], answer=[8, 9, 3], depth=0.5, value=0)
    full = example.prompt + example.answer
    assert retrieval_correct(Oracle(full, 10), [example]) == [True]
    assert retrieval_correct(Oracle(full, 10, shift=2), [example]) == [False]
    wrong = RetrievalExample(example.prompt, [8, 9, 4], 0.5, 0)
    assert retrieval_correct(Oracle(full, 10), [wrong]) == [False]


def test_retrieval_accuracy_grid_on_a_random_model(tiny, small_tokenizer, texts):
    accuracy = retrieval_accuracy(tiny, small_tokenizer, texts, lengths=[64, 128], depths=[0.0, 1.0], per_cell=2)
    assert accuracy.shape == (2, 2) and ((accuracy >= 0) & (accuracy <= 1)).all()
    assert accuracy.sum() == 0  # a random model does not retrieve


@pytest.mark.slow
def test_lcft_arms_fine_tune_through_the_cache_with_their_base_and_scaling(tmp_path, monkeypatch):
    from codellama_lite.interop import read_config
    from codellama_lite.pipeline import chain

    monkeypatch.setenv("CODELLAMA_LITE_CACHE", str(tmp_path))
    base = train_base("smoke", theta=1e4, overrides={"train.max_steps": 2})
    assert train_base("smoke", theta=1e4, overrides={"train.max_steps": 2}) == base  # the second call trains nothing
    folders = run_lcft_arms(base, "smoke", overrides={"train.max_steps": 1})
    configs = {name: read_config(folder) for name, folder in folders.items()}
    assert folders["no LCFT"] == base and configs["no LCFT"].rope_theta == 1e4
    assert configs["LCFT, base 10000"].rope_theta == 1e4 and configs["LCFT, base 10000"].rope_scaling is None
    assert configs["LCFT, PI x4"].rope_theta == 1e4
    assert configs["LCFT, PI x4"].rope_scaling == {"rope_type": "linear", "factor": 4.0}
    assert configs["LCFT, base 1e6"].rope_theta == 1e6 and configs["LCFT, base 1e6"].rope_scaling is None
    chain_lcft = chain.stage_recipe("lcft", "smoke", base, {"train.max_steps": 1})
    assert lcft_recipes(base, "smoke", {"train.max_steps": 1})["LCFT, base 1e6"].digest() == chain_lcft.digest()


def test_a_bad_rope_scaling_in_a_recipe_is_named():
    from codellama_lite.train import load_recipe

    with pytest.raises(ValueError, match="rope_scaling"):
        load_recipe("lcft", "smoke", {"init.rope_scaling": "linear"})


def test_toy_modules_are_long_files_of_unseen_problems(small_tokenizer):
    from codellama_lite.experiments.longcontext import toy_module_texts
    from codellama_lite.data.toyworld import training_documents

    texts = toy_module_texts(2, 512)
    assert len(texts) == 2 and texts[0] != texts[1]
    windows = long_documents(small_tokenizer, texts, 512, 2)
    assert windows.shape == (2, 512)
    seen = set(training_documents(0, 200))
    assert not any(problem in seen for text in texts for problem in text.split("\n\n"))
    assert texts[0].count("\ndef ") >= 10
