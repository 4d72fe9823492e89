"""Generation (Code Llama §3, §2.3): greedy equals transformers, seeded sampling, Meta's top-p rule, stop tokens and
strings, batches of different lengths, and infilling through the tokenizer's prompt layouts."""

from __future__ import annotations

import pytest
import torch

from _models import random_model as shared_random_model
from codellama_lite.config import ModelConfig
from codellama_lite.generate import generate, infill, left_pad, sample_next, top_p_filter
from codellama_lite.model import Transformer

CONFIG = ModelConfig(dim=80, n_layers=3, n_heads=5, n_kv_heads=1, vocab_size=97, multiple_of=16, rope_theta=1e6)
PROMPTS = [[1, 5, 7, 9, 11, 13, 2, 3], [1, 4, 4], [1, 60, 61, 62, 63]]


def random_model(config: ModelConfig = CONFIG, seed: int = 0) -> Transformer:
    return shared_random_model(config, seed, scale=0.3)


@pytest.fixture(scope="module")
def model():
    return random_model()


def test_greedy_equals_transformers_generate(model):
    pytest.importorskip("transformers")
    from codellama_lite.interop import to_transformers

    twin = to_transformers(model)
    tokens, mask = left_pad(PROMPTS)
    theirs = twin.generate(tokens, attention_mask=mask, max_new_tokens=24, do_sample=False, pad_token_id=0,
                           eos_token_id=None)[:, tokens.shape[1]:].tolist()
    ours = [c.tokens for c in generate(model, PROMPTS, 24)]
    assert ours == theirs
    assert len({tuple(row) for row in ours}) == 3


def test_a_batch_equals_each_prompt_alone(model):
    batched = generate(model, PROMPTS, 16)
    for prompt, completion in zip(PROMPTS, batched):
        assert generate(model, [prompt], 16)[0].tokens == completion.tokens
        assert completion.finish_reason == "length"


@pytest.mark.slow
def test_sampling_is_seeded(model):
    a = generate(model, PROMPTS, 20, temperature=1.0, top_p=0.95, seed=7)
    b = generate(model, PROMPTS, 20, temperature=1.0, top_p=0.95, seed=7)
    c = generate(model, PROMPTS, 20, temperature=1.0, top_p=0.95, seed=8)
    assert [x.tokens for x in a] == [x.tokens for x in b] != [x.tokens for x in c]
    greedy = generate(model, PROMPTS, 20)
    tiny_nucleus = generate(model, PROMPTS, 20, temperature=1.0, top_p=1e-6, seed=1)
    assert [x.tokens for x in tiny_nucleus] == [x.tokens for x in greedy]


def test_top_p_follows_metas_rule():
    probs = torch.tensor([[0.05, 0.5, 0.15, 0.3]])
    kept, order = top_p_filter(probs, 0.7)  # preceding mass: 0, 0.5, 0.8, 0.95 -> keep the first two
    assert order.tolist() == [[1, 3, 2, 0]]
    torch.testing.assert_close(kept, torch.tensor([[0.625, 0.375, 0.0, 0.0]]))
    kept, _ = top_p_filter(probs, 0.4)  # the most likely token always survives
    torch.testing.assert_close(kept, torch.tensor([[1.0, 0.0, 0.0, 0.0]]))


def test_sampling_follows_the_tempered_distribution():
    logits = torch.tensor([2.0, 1.0, 0.0, -1.0]).expand(20000, 4)
    generator = torch.Generator().manual_seed(0)
    draws = sample_next(logits, temperature=0.5, generator=generator)
    freq = torch.bincount(draws, minlength=4).float() / len(draws)
    torch.testing.assert_close(freq, torch.softmax(logits[0] / 0.5, -1), atol=0.01, rtol=0)
    nucleus = sample_next(logits, temperature=1.0, top_p=0.8, generator=generator)
    assert set(nucleus.tolist()) == {0, 1}  # preceding mass 0, 0.64, 0.88: the third token is cut


def test_stop_token_ends_a_row_and_is_dropped(model):
    free = generate(model, PROMPTS, 16)
    row = free[0].tokens
    stop = next(t for t in row[3:] if t not in row[:3])
    cut = row.index(stop)
    stopped = generate(model, PROMPTS, 16, stop_ids=[stop])
    assert stopped[0].tokens == row[:cut] and stopped[0].finish_reason == "stop"
    for other, reference in zip(stopped[1:], free[1:]):
        expected = reference.tokens[: reference.tokens.index(stop)] if stop in reference.tokens else reference.tokens
        assert other.tokens == expected


def test_bad_arguments_are_clear(model):
    with pytest.raises(ValueError, match="top_p"):
        generate(model, PROMPTS, 4, temperature=1.0, top_p=0.0)
    with pytest.raises(ValueError, match="at least one token"):
        generate(model, [[]], 4)
    with pytest.raises(ValueError, match="tokenizer"):
        generate(model, PROMPTS, 4, stop_strings=["\n"])


# -- with the chapter-1 tokenizer --------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def text_model(small_tokenizer):
    return random_model(ModelConfig.preset("tiny", vocab_size=small_tokenizer.vocab_size), seed=3)


def test_stop_strings_cut_the_text(text_model, small_tokenizer):
    prompt = small_tokenizer.encode("def add(a, b):\n", bos=True)
    free = generate(text_model, [prompt], 40, tokenizer=small_tokenizer)[0]
    text = free.text
    assert len(text) > 12
    stop = text[6:9]
    stopped = generate(text_model, [prompt], 40, tokenizer=small_tokenizer, stop_strings=[stop, "\u2603never"])[0]
    assert stopped.finish_reason == "stop"
    assert stopped.text == text[: text.find(stop)]
    assert free.tokens[: len(stopped.tokens)] == stopped.tokens
    assert stop in small_tokenizer.decode(stopped.tokens) and stop not in small_tokenizer.decode(stopped.tokens[:-1])


class ScriptedModel(Transformer):
    """A model that emits a fixed script after any prompt (and records the prompt): tests the infilling plumbing."""

    def __init__(self, config, script):
        super().__init__(config)
        self.script, self.prompts = script, []

    def forward(self, tokens, cache=None, attention_mask=None, positions=None, last_only=False):
        if cache.length == 0:
            self.prompt_len = tokens.shape[1]
            self.prompts.append(tokens.tolist())
        cache.length += tokens.shape[1]
        logits = torch.zeros(tokens.shape[0], 1, self.config.vocab_size)
        logits[:, :, self.script[cache.length - self.prompt_len]] = 1.0
        return logits


@pytest.mark.parametrize("suffix_first", [False, True])
def test_infill_stops_at_eot_and_keeps_the_leading_space(small_tokenizer, suffix_first):
    tok = small_tokenizer
    prefix, middle, suffix = "def add(a, b):\n   ", " return a + b", "\n\nprint(add(1, 2))\n"
    script = tok.encode_infilling(middle) + [tok.eot_id] + tok.encode("junk after the end")
    model = ScriptedModel(ModelConfig.preset("tiny", vocab_size=tok.vocab_size), script)
    [filled] = infill(model, tok, [(prefix, suffix)], suffix_first=suffix_first, max_new_tokens=50)
    assert filled == middle
    assert prefix + filled + suffix == "def add(a, b):\n    return a + b\n\nprint(add(1, 2))\n"
    assert model.prompts == [[tok.infill_prompt(prefix, suffix, suffix_first=suffix_first)]]


def test_infill_with_a_real_model_runs_to_the_limit_or_eot(text_model, small_tokenizer):
    pairs = [("def f(x):\n    return ", "\n"), ("import os\n", "\nprint(1)\n")]
    middles = infill(text_model, small_tokenizer, pairs, max_new_tokens=12, temperature=0.8, top_p=0.95, seed=0)
    assert len(middles) == 2 and all(isinstance(m, str) for m in middles)
    again = infill(text_model, small_tokenizer, pairs, max_new_tokens=12, temperature=0.8, top_p=0.95, seed=0)
    assert middles == again


def test_a_continuation_keeps_its_leading_spaces(small_tokenizer, monkeypatch):
    """A function body starts with an indentation piece (``▁▁▁▁``); plain SentencePiece decoding would drop one of
    its spaces (the implicit leading space), which makes every generated body an indentation error."""
    import codellama_lite.generate as generation
    from codellama_lite.config import ModelConfig
    from codellama_lite.model import Transformer

    body = small_tokenizer.encode_infilling("    return x + 1\n")
    script = iter(body + [small_tokenizer.eos_id])
    monkeypatch.setattr(generation, "sample_next", lambda logits, *args, **kwargs: torch.full(
        (logits.shape[0],), next(script), dtype=torch.long))
    model = Transformer(ModelConfig.preset("tiny", vocab_size=small_tokenizer.vocab_size)).eval()
    prompt = small_tokenizer.encode("def f(x):\n", bos=True)
    completion = generation.generate(model, [prompt], 32, stop_ids=(small_tokenizer.eos_id,), stop_strings=("\ndef",),
                                     tokenizer=small_tokenizer)[0]
    assert completion.text == "    return x + 1\n"


def _scripted_text_model(tokenizer, script):
    return ScriptedModel(ModelConfig.preset("tiny", vocab_size=tokenizer.vocab_size), script)


MARKERS = ["prefix_id", "suffix_id", "middle_id", "eot_id"]


@pytest.mark.parametrize("marker", MARKERS)
def test_left_to_right_samples_end_at_a_fim_marker(small_tokenizer, marker):
    """A FIM marker decodes to nothing: a body that went on past one would have the marker spliced out silently."""
    from codellama_lite.evaluation.generation import ModelCompleter
    from codellama_lite.evaluation.tasks import Task

    tok = small_tokenizer
    body, after = "    return x + 1\n", "    return 0\n"
    script = tok.encode_infilling(body) + [getattr(tok, marker)] + tok.encode_infilling(after) + [tok.eos_id]
    spliced = tok.decode_infilling(script[:-1])
    assert spliced == body + after  # what the marker would have become without the stop
    task = Task(task_id="t/0", prompt="def f(x):\n", test="", entry_points=("f",), reference=body)
    completer = ModelCompleter(_scripted_text_model(tok, script), tok)
    assert completer.many(task, seeds=[0], temperature=0.0, top_p=1.0, max_new_tokens=64) == [body]


@pytest.mark.parametrize("marker", MARKERS)
def test_continuations_decoded_across_tasks_end_at_a_fim_marker(small_tokenizer, marker):
    from codellama_lite.evaluation.generation import ModelCompleter, Sampling, complete
    from codellama_lite.evaluation.tasks import Task

    tok = small_tokenizer
    body = "    return x + 1\n"
    script = tok.encode_infilling(body) + [getattr(tok, marker)] + tok.encode_infilling("    y = 2\n") + [tok.eos_id]
    task = Task(task_id="t/0", prompt="def f(x):\n", test="", entry_points=("f",), reference=body, stops=("\ndef",))
    completer = ModelCompleter(_scripted_text_model(tok, script), tok)
    [sample] = complete(completer, [task], Sampling(max_new_tokens=96), batch_tasks=True)
    assert sample.completion == body


@pytest.mark.parametrize("marker", ["prefix_id", "suffix_id", "middle_id"])
def test_infill_ends_at_a_stray_marker(small_tokenizer, marker):
    tok = small_tokenizer
    script = tok.encode_infilling(" return a") + [getattr(tok, marker)] + tok.encode_infilling(" + b") + [tok.eot_id]
    [filled] = infill(_scripted_text_model(tok, script), tok, [("def add(a, b):\n   ", "\n")], max_new_tokens=30)
    assert filled == " return a"


def test_stop_token_ids(small_tokenizer):
    from types import SimpleNamespace

    from codellama_lite.generate import stop_token_ids

    tok = small_tokenizer
    assert set(stop_token_ids(tok)) == {tok.eos_id, tok.prefix_id, tok.suffix_id, tok.middle_id, tok.eot_id}
    assert stop_token_ids(SimpleNamespace(has_infilling=False, eos_id=2)) == (2,)


@pytest.mark.parametrize("suffix_first", [False, True])
def test_a_middle_after_an_empty_prefix_is_decoded_as_training_encoded_it(small_tokenizer, suffix_first):
    """With no prefix, training's middle is SPM's enc(middle) (fim.apply_fim): its first ▁ is the implicit space."""
    from codellama_lite.fim import apply_fim
    from tests.test_fim import FixedRng

    tok = small_tokenizer
    middle, suffix = "value = 1\n", "print(value)\n"
    ids = apply_fim(middle + suffix, tok, FixedRng([0.0, float(not suffix_first)], [0, len(middle)]))
    trained = ids[ids.index(tok.middle_id) + 1:]  # what the model learnt to write after <MID>, <EOT> included
    model = _scripted_text_model(tok, trained)
    [filled] = infill(model, tok, [("", suffix)], suffix_first=suffix_first, max_new_tokens=30)
    assert filled == middle
    assert model.prompts == [[[tok.bos_id] + ids[:ids.index(tok.middle_id) + 1]]]  # the prompt is training's layout

