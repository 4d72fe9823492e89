"""The decoder (Code Llama §2, docs/paper_facts.md §4): exact parameter counts, meta-device shapes, and logits equal to
transformers' ``LlamaForCausalLM`` with the same weights."""

from __future__ import annotations

import math

import pytest
import torch

from codellama_lite.config import PRESETS, ModelConfig, fim_extra_params, param_count
from codellama_lite.model import RMSNorm, Transformer
from _models import random_model
from codellama_lite.rope import (apply_rope, half_split_to_interleaved, interleaved_to_half_split, rope_cos_sin,
                                 rope_frequencies)

# Exact counts at a 32,000-token vocabulary, the rounded 6.74B / 13.0B / 33.7B / 69.0B of the released checkpoints
# (docs/paper_facts.md §4).
PAPER_COUNTS_32000 = {"7b": 6_738_415_616, "13b": 13_015_864_320, "34b": 33_743_970_304, "70b": 68_976_648_192}


# -- shapes and counts -----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", sorted(PAPER_COUNTS_32000))
def test_preset_parameter_counts_match_the_paper(name):
    config = ModelConfig.preset(name, vocab_size=32000)
    assert param_count(config) == PAPER_COUNTS_32000[name]
    fim = ModelConfig.preset(name, vocab_size=32016)
    assert param_count(fim) - PAPER_COUNTS_32000[name] == 2 * 16 * config.dim == fim_extra_params(fim)


@pytest.mark.parametrize("name, hidden", [("7b", 11008), ("13b", 13824), ("34b", 22016), ("70b", 28672)])
def test_ffn_width_rule(name, hidden):
    assert ModelConfig.preset(name).hidden_dim == hidden


def test_preset_shapes_are_reference_table():
    table = {name: (c.dim, c.n_layers, c.n_heads, c.kv_heads, c.vocab_size, c.rope_theta)
             for name, c in PRESETS.items() if name in PAPER_COUNTS_32000}
    assert table == {"7b": (4096, 32, 32, 32, 32016, 1e6), "13b": (5120, 40, 40, 40, 32016, 1e6),
                     "34b": (8192, 48, 64, 8, 32000, 1e6), "70b": (8192, 80, 64, 8, 32016, 1e6)}


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_every_preset_builds_on_meta_without_memory(name):
    config = ModelConfig.preset(name)
    model = Transformer(config, device="meta")
    assert all(p.is_meta for p in model.parameters())
    assert model.num_params() == param_count(config)
    logits = model(torch.zeros(1, 3, dtype=torch.long, device="meta"))
    assert logits.shape == (1, 3, config.vocab_size)


def test_real_model_count_matches_formula():
    config = ModelConfig.preset("tiny", n_kv_heads=1, ffn_dim_multiplier=1.5)
    assert Transformer(config).num_params() == param_count(config)


@pytest.mark.parametrize("changes, field", [({"n_heads": 5}, "n_heads"), ({"n_kv_heads": 3}, "n_kv_heads"),
                                            ({"dim": 0}, "dim"), ({"dim": 60, "n_heads": 4}, "head_dim")])
def test_bad_configs_name_the_field(changes, field):
    with pytest.raises(ValueError, match=field):
        ModelConfig(**{"dim": 64, "n_heads": 4, **changes})


def test_unknown_preset_or_field():
    with pytest.raises(ValueError, match="unknown model preset"):
        ModelConfig.preset("8b")
    with pytest.raises(ValueError, match="n_head"):
        ModelConfig.preset("tiny", n_head=3)


# -- the pieces --------------------------------------------------------------------------------------------------

def test_rmsnorm_formula_and_float32_compute():
    torch.manual_seed(0)
    norm = RMSNorm(8, eps=1e-5)
    with torch.no_grad():
        norm.weight.normal_()
    x = torch.randn(3, 8) * 5
    expected = x / torch.sqrt(x.pow(2).mean(-1, keepdim=True) + 1e-5) * norm.weight
    torch.testing.assert_close(norm(x), expected)
    half = norm.to(torch.bfloat16)(x.to(torch.bfloat16))
    assert half.dtype == torch.bfloat16
    reference = (x.to(torch.bfloat16).float() / torch.sqrt(x.to(torch.bfloat16).float().pow(2).mean(-1, keepdim=True)
                                                            + 1e-5)).to(torch.bfloat16) * norm.weight.to(torch.bfloat16)
    torch.testing.assert_close(half, reference, atol=0, rtol=0)


def test_rope_rotation_depends_only_on_distance():
    torch.manual_seed(0)
    inv_freq = rope_frequencies(16, 1e4)
    q, k = torch.randn(16), torch.randn(16)

    def rotated(x, position):
        cos, sin = rope_cos_sin(inv_freq, torch.tensor([position]))
        return apply_rope(x[None], cos, sin)[0]

    scores = [torch.dot(rotated(q, m), rotated(k, m - 3)) for m in (3, 10, 50)]
    torch.testing.assert_close(torch.stack(scores), scores[0].expand(3), atol=1e-4, rtol=1e-5)
    assert torch.allclose(rotated(q, 7).norm(), q.norm(), atol=1e-5)


def test_rope_frequencies_formula():
    inv_freq = rope_frequencies(8, 1e6)
    expected = torch.tensor([1e6 ** (-2 * i / 8) for i in range(4)], dtype=torch.float32)
    torch.testing.assert_close(inv_freq, expected)


def test_layout_permutations_are_inverse_and_pair_neighbours():
    w = torch.arange(2 * 8 * 3, dtype=torch.float32).reshape(16, 3)  # 2 heads of head_dim 8
    half = interleaved_to_half_split(w, 2)
    assert torch.equal(half_split_to_interleaved(half, 2), w)
    # Head 0: interleaved rows (0, 1) form pair 0, which half-split keeps at rows (0, 4).
    assert torch.equal(half[0], w[0]) and torch.equal(half[4], w[1]) and torch.equal(half[1], w[2])


# -- parity with transformers ----------------------------------------------------------------------------------------

PARITY_CONFIGS = {
    "mha-theta1e4-3heads": ModelConfig(dim=48, n_layers=2, n_heads=3, vocab_size=101, multiple_of=7, rope_theta=1e4),
    "mqa-theta1e6-5heads": ModelConfig(dim=80, n_layers=2, n_heads=5, n_kv_heads=1, vocab_size=97, multiple_of=16,
                                       rope_theta=1e6),
    "gqa-theta1e6-headdim10": ModelConfig(dim=60, n_layers=3, n_heads=6, n_kv_heads=3, vocab_size=64, ffn_dim=50,
                                          rope_theta=1e6),
    "mha-theta1e4-7heads-mult": ModelConfig(dim=42, n_layers=2, n_heads=7, vocab_size=77, ffn_dim_multiplier=1.3,
                                            multiple_of=32, rope_theta=1e4),
    "gqa-theta1e6-tiny": ModelConfig.preset("tiny", vocab_size=131),
}


def hf_twin(model: Transformer):
    """``LlamaForCausalLM`` built from an explicit ``LlamaConfig`` (eps 1e-5, no biases, untied) with our weights."""
    transformers = pytest.importorskip("transformers")
    from codellama_lite.interop import HF, to_format

    c = model.config
    hf_config = transformers.LlamaConfig(
        vocab_size=c.vocab_size, hidden_size=c.dim, intermediate_size=c.hidden_dim, num_hidden_layers=c.n_layers,
        num_attention_heads=c.n_heads, num_key_value_heads=c.kv_heads, rms_norm_eps=1e-5, rope_theta=c.rope_theta,
        max_position_embeddings=c.max_seq_len, tie_word_embeddings=False, attention_bias=False, mlp_bias=False,
        attn_implementation="sdpa")
    twin = transformers.LlamaForCausalLM(hf_config).eval()
    twin.load_state_dict(to_format(model.state_dict(), c, HF), strict=True)
    return twin


@pytest.mark.parametrize("name", sorted(PARITY_CONFIGS))
def test_logits_equal_transformers(name):
    model = random_model(PARITY_CONFIGS[name])
    twin = hf_twin(model)
    tokens = torch.randint(0, model.config.vocab_size, (3, 23), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        ours, theirs = model(tokens), twin(tokens).logits
    assert ours.shape == (3, 23, model.config.vocab_size)
    assert theirs.abs().max() > 1.0  # not a degenerate comparison
    assert (ours - theirs).abs().max().item() <= 1e-5


@pytest.mark.parametrize("chunks", [(23,), (1,) * 23, (5, 1, 1, 9, 7), (12, 11)])
def test_kv_cache_equals_full_forward(chunks):
    model = random_model(PARITY_CONFIGS["gqa-theta1e6-headdim10"])
    tokens = torch.randint(0, 64, (2, 23), generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        full = model(tokens)
        cache = model.new_cache(2, 30)
        parts, start = [], 0
        for size in chunks:
            parts.append(model(tokens[:, start:start + size], cache=cache))
            start += size
    assert cache.length == 23
    assert (torch.cat(parts, dim=1) - full).abs().max().item() <= 1e-5


def test_left_padded_batch_equals_each_row_alone():
    model = random_model(PARITY_CONFIGS["mqa-theta1e6-5heads"])
    rows = [[1, 5, 9, 3, 7, 8], [1, 4], [1, 60, 61, 62]]
    width = 6
    tokens = torch.tensor([[0] * (width - len(r)) + r for r in rows])
    mask = torch.tensor([[0] * (width - len(r)) + [1] * len(r) for r in rows])
    with torch.no_grad():
        cache = model.new_cache(3, width + 2)
        batched = model(tokens, cache=cache, attention_mask=mask)
        step = model(torch.tensor([[11], [12], [13]]), cache=cache,
                     attention_mask=torch.cat((mask, torch.ones(3, 1, dtype=torch.long)), dim=1))
        for i, row in enumerate(rows):
            alone = model(torch.tensor([row + [11 + i]]))
            assert (batched[i, width - len(row):] - alone[0, :-1]).abs().max().item() <= 1e-5
            assert (step[i, -1] - alone[0, -1]).abs().max().item() <= 1e-5
    assert torch.isfinite(batched).all()


def test_cache_overflow_and_bad_mask_are_clear_errors():
    model = random_model(PARITY_CONFIGS["gqa-theta1e6-tiny"])
    cache = model.new_cache(1, 4)
    with pytest.raises(ValueError, match="KV cache holds 4"):
        model(torch.zeros(1, 5, dtype=torch.long), cache=cache)
    with pytest.raises(ValueError, match="attention_mask has shape"):
        model(torch.zeros(1, 3, dtype=torch.long), attention_mask=torch.ones(1, 4))


def test_positions_beyond_max_seq_len_equal_transformers():
    config = ModelConfig.preset("tiny", max_seq_len=8)
    model = random_model(config)
    twin = hf_twin(model)
    tokens = torch.randint(0, config.vocab_size, (1, 20))
    with torch.no_grad():
        assert (model(tokens) - twin(tokens).logits).abs().max().item() <= 1e-5
        cache = model.new_cache(1, 20)  # and step by step, past the table, with a cache
        steps = torch.cat([model(tokens[:, i:i + 1], cache=cache) for i in range(20)], dim=1)
        assert (steps - twin(tokens).logits).abs().max().item() <= 1e-5


def _state(model: Transformer) -> dict:
    """Everything a forward pass could change: parameters, persistent and other buffers, plain attributes."""
    tensors = {f"tensor {name}": value.clone() for name, value in model.state_dict().items()}
    tensors.update({f"buffer {name}": value.clone() for name, value in model.named_buffers()})
    attributes = {name: value for name, value in vars(model).items() if not name.startswith("_")}
    return {"tensors": tensors, "attributes": attributes}


def _assert_same_state(before: dict, after: dict) -> None:
    assert before["attributes"] == after["attributes"]
    assert before["tensors"].keys() == after["tensors"].keys()
    for name, value in before["tensors"].items():
        assert value.shape == after["tensors"][name].shape and torch.equal(value, after["tensors"][name]), name


@pytest.mark.parametrize("rope_scaling", [None, {"rope_type": "dynamic", "factor": 4.0,
                                                 "original_max_position_embeddings": 8}], ids=["plain", "dynamic"])
def test_forward_leaves_the_model_state_unchanged(rope_scaling):
    """Inputs beyond ``max_seq_len``, dynamic NTK beyond its original length, with and without a cache, explicit
    positions: afterwards the model is what it was, and an input's logits do not depend on the inputs before it."""
    model = random_model(ModelConfig.preset("tiny", max_seq_len=8, rope_scaling=rope_scaling))
    generator = torch.Generator().manual_seed(3)
    inputs = [torch.randint(0, 512, (2, length), generator=generator) for length in (6, 20, 40)]
    long = inputs[-1]
    with torch.no_grad():
        before = _state(model)
        first = [model(tokens) for tokens in inputs]  # short, then longer and longer
        _assert_same_state(before, _state(model))
        cache = model.new_cache(2, 48)
        model(long[:, :30], cache=cache)
        for step in range(30, 40):
            model(long[:, step:step + 1], cache=cache)
        model(long, positions=torch.arange(40) * 2)
        _assert_same_state(before, _state(model))
        for tokens, logits in zip(reversed(inputs), reversed(first)):  # long first, then shorter and shorter
            assert torch.equal(model(tokens), logits), tokens.shape[1]


def test_a_few_steps_of_training_fit_a_batch():
    torch.manual_seed(0)
    model = Transformer(ModelConfig.preset("tiny", vocab_size=64))
    tokens = torch.randint(0, 64, (4, 17))
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)
    losses = []
    for _ in range(30):
        logits = model(tokens[:, :-1])
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, 64), tokens[:, 1:].reshape(-1))
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        losses.append(loss.item())
    assert losses[0] == pytest.approx(math.log(64), rel=0.1)
    assert losses[-1] < 0.5 * losses[0]
