"""The fixed-shape decoding step (what ``generate(..., compile=True)`` compiles) equals the cached forward pass."""

from __future__ import annotations

import pytest
import torch

from codellama_lite.config import ModelConfig
from codellama_lite.generate import generate, left_pad
from codellama_lite.model import Transformer

CONFIG = ModelConfig(dim=48, n_layers=2, n_heads=6, n_kv_heads=2, vocab_size=61, multiple_of=16, rope_theta=1e6)
PROMPTS = [[1, 5, 7, 9, 11], [1, 4], [1, 30, 31]]


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    model = Transformer(CONFIG).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0, 0.3)
    return model


@torch.inference_mode()
def test_decode_step_equals_cached_forward_with_padding(model):
    tokens, mask = left_pad(PROMPTS)
    batch, prompt_len = tokens.shape
    new = torch.tensor([[3], [8], [13]])
    full_mask = torch.cat((mask, mask.new_ones(batch, 4)), dim=1)
    reference_cache, step_cache = model.new_cache(batch, prompt_len + 4), model.new_cache(batch, prompt_len + 4)
    for cache in (reference_cache, step_cache):
        model(tokens, cache=cache, attention_mask=full_mask[:, :prompt_len])
    expected = model(new, cache=reference_cache, attention_mask=full_mask[:, :prompt_len + 1])[:, -1]
    got = model.decode_step(new, step_cache, torch.tensor([prompt_len]), full_mask)
    assert (got - expected).abs().max().item() <= 1e-5


def test_compiled_generation_gives_the_same_tokens(model):
    try:
        compiled = generate(model, PROMPTS, 6, compile=True)
    except Exception as error:  # no C++ compiler or an unsupported platform: the option is unavailable here
        pytest.skip(f"torch.compile unavailable: {type(error).__name__}: {error}")
    assert [c.tokens for c in compiled] == [c.tokens for c in generate(model, PROMPTS, 6)]
