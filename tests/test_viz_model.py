"""Attention maps for plots (codellama_lite.viz.model): grouped-query heads repeated, probabilities that reproduce the
attention layer's output."""

from __future__ import annotations

import torch

from codellama_lite.config import ModelConfig
from codellama_lite.model import Transformer
from codellama_lite.viz.model import attention_maps, repeat_kv


def test_repeat_kv_maps_query_heads_to_their_group():
    x = torch.randn(2, 3, 5, 4)
    out = repeat_kv(x, 4)
    assert out.shape == (2, 12, 5, 4)
    for head in range(12):
        assert torch.equal(out[:, head], x[:, head // 4])


def test_attention_maps_reproduce_the_attention_output():
    torch.manual_seed(0)
    model = Transformer(ModelConfig.preset("tiny")).eval()
    tokens = torch.randint(0, 512, (2, 9))
    outputs = []
    hook = model.layers[1].attention.register_forward_hook(lambda m, args, out: outputs.append((args, out)))
    maps = attention_maps(model, tokens)
    hook.remove()
    probs = maps[1]
    assert probs.shape == (2, 4, 9, 9)
    assert torch.allclose(probs.sum(-1), torch.ones(2, 4, 9), atol=1e-6)
    assert probs.triu(diagonal=1).abs().max() == 0
    (x, cos, sin, *_), out = outputs[0]
    attention = model.layers[1].attention
    _, _, v = attention.project(x, cos, sin)
    mixed = probs @ repeat_kv(v, 2)
    recomputed = attention.wo(mixed.transpose(1, 2).reshape(2, 9, -1))
    torch.testing.assert_close(recomputed, out, atol=1e-5, rtol=1e-5)
