"""RoPE rescaling (Code Llama §2.4, appendix G): our formulas against transformers' and through a whole model."""

from __future__ import annotations

import json
import math
import random

import pytest
import torch

from codellama_lite.config import ModelConfig
from codellama_lite.interop import config_from_hf, export_hf, hf_config, import_hf
from codellama_lite.rope import (dynamic_scaled_length, ntk_aware_theta, rope_cos_sin, rope_frequencies,
                                 scaled_inv_freq)
from tests._models import random_model

transformers = pytest.importorskip("transformers")
from transformers.modeling_rope_utils import ROPE_INIT_FUNCTIONS  # noqa: E402

transformers.logging.set_verbosity_error()  # field-ratio warnings of random configurations

KINDS = ("default", "linear", "dynamic", "yarn", "llama3")


def random_scaling(kind: str, rng: random.Random) -> tuple[dict, int, float]:
    """A random ``rope_scaling`` of ``kind``, a head dimension and a base."""
    head_dim = 2 * rng.randint(4, 64)
    theta = 10 ** rng.uniform(3, 7)
    scaling: dict = {"rope_type": kind}
    if kind != "default":
        scaling["factor"] = rng.uniform(1, 32)
    if kind in ("dynamic", "yarn", "llama3"):
        scaling["original_max_position_embeddings"] = rng.choice([64, 128, 1000, 4096, 8192])
    if kind == "yarn":
        optional = {"beta_fast": rng.uniform(8, 64), "beta_slow": rng.uniform(0.5, 4),
                    "attention_factor": rng.uniform(0.5, 2), "truncate": rng.random() < 0.5}
        scaling.update({key: value for key, value in optional.items() if rng.random() < 0.5})
        if rng.random() < 0.3:
            scaling.update(mscale=rng.uniform(0.5, 2), mscale_all_dim=rng.uniform(0.5, 2))
    if kind == "llama3":
        low = rng.uniform(0.5, 2)
        scaling.update(low_freq_factor=low, high_freq_factor=low * rng.uniform(1.5, 8))
    return scaling, head_dim, theta


@pytest.mark.parametrize("kind", KINDS)
def test_scaled_inv_freq_equals_transformers_on_random_configurations(kind):
    rng = random.Random(f"rope-{kind}")
    for _ in range(25):
        scaling, head_dim, theta = random_scaling(kind, rng)
        original = scaling.get("original_max_position_embeddings", 4096)
        seq_len = rng.choice([None, original // 2, original, original + rng.randint(1, 10 * original)])
        # transformers 4.x reads dynamic NTK's original length from max_position_embeddings.
        hf = transformers.LlamaConfig(hidden_size=head_dim * 4, num_attention_heads=4, head_dim=head_dim,
                                      rope_theta=theta, rope_scaling=dict(scaling), max_position_embeddings=original)
        expected, expected_factor = ROPE_INIT_FUNCTIONS[kind](hf, "cpu", seq_len=seq_len)
        got, factor = scaled_inv_freq(head_dim, theta, scaling, seq_len)
        assert got.dtype == torch.float32 and got.shape == (head_dim // 2,)
        torch.testing.assert_close(got, expected, rtol=1e-6, atol=1e-6, msg=f"{scaling}, d={head_dim}, b={theta}")
        assert factor == pytest.approx(expected_factor, rel=1e-9), scaling


def test_no_scaling_is_the_plain_frequencies():
    inv_freq, factor = scaled_inv_freq(32, 1e6)
    assert torch.equal(inv_freq, rope_frequencies(32, 1e6)) and factor == 1.0


def test_position_interpolation_rotates_position_m_as_the_plain_model_rotates_m_over_s():
    positions = torch.arange(0, 64, 4)
    scaled, _ = scaled_inv_freq(16, 1e4, {"rope_type": "linear", "factor": 4.0})
    cos, sin = rope_cos_sin(scaled, positions)
    plain_cos, plain_sin = rope_cos_sin(rope_frequencies(16, 1e4), positions // 4)
    torch.testing.assert_close((cos, sin), (plain_cos, plain_sin))


def test_ntk_aware_base_keeps_the_fastest_pair_and_slows_the_slowest_by_the_factor():
    plain = rope_frequencies(64, 1e4)
    ntk = rope_frequencies(64, ntk_aware_theta(1e4, 8.0, 64))
    assert ntk[0] == plain[0] == 1.0
    assert (plain[-1] / ntk[-1]).item() == pytest.approx(8.0, rel=1e-5)


def test_dynamic_ntk_changes_nothing_up_to_the_original_length_then_slows_down():
    scaling = {"rope_type": "dynamic", "factor": 2.0, "original_max_position_embeddings": 128}
    plain = rope_frequencies(32, 1e4)
    assert torch.equal(scaled_inv_freq(32, 1e4, scaling, 100)[0], plain)
    assert torch.equal(scaled_inv_freq(32, 1e4, scaling, 128)[0], plain)
    assert (scaled_inv_freq(32, 1e4, scaling, 512)[0][1:] < plain[1:]).all()
    assert dynamic_scaled_length(scaling, 100) is None and dynamic_scaled_length(scaling, 128) is None
    assert dynamic_scaled_length(scaling, 300) == 300
    assert dynamic_scaled_length({"rope_type": "linear", "factor": 2.0}, 300) is None
    assert dynamic_scaled_length(None, 300) is None


def test_yarn_attention_factor_is_point_one_log_s_plus_one():
    _, factor = scaled_inv_freq(32, 1e4, {"rope_type": "yarn", "factor": 16.0, "original_max_position_embeddings": 64})
    assert factor == pytest.approx(0.1 * math.log(16) + 1)


@pytest.mark.parametrize("bad, field", [
    ({"rope_type": "linear"}, "factor"),
    ({"rope_type": "linear", "factor": 0.5}, "factor"),
    ({"rope_type": "yarn", "factor": 2.0}, "original_max_position_embeddings"),
    ({"rope_type": "dynamic", "factor": 2.0, "original_max_position_embeddings": -3},
     "original_max_position_embeddings"),
    ({"rope_type": "linear", "factor": 2.0, "fator": 2.0}, "fator"),
    ({"rope_type": "ntk"}, "rope_type"),
    ({"rope_type": "yarn", "factor": 2.0, "original_max_position_embeddings": 64, "truncate": "yes"}, "truncate"),
])
def test_bad_rope_scaling_is_refused_naming_the_field(bad, field):
    with pytest.raises(ValueError, match=field):
        ModelConfig(rope_scaling=bad)
    with pytest.raises(ValueError, match=field):
        scaled_inv_freq(16, 1e4, bad)


def test_config_with_rope_scaling_hashes_compares_and_round_trips():
    source = {"type": "linear", "factor": 4}
    config = ModelConfig(rope_scaling=source)
    source["factor"] = 8  # the caller's dict changing later must not change the config
    assert config.rope_scaling == {"rope_type": "linear", "factor": 4.0}
    assert {config: 1}[ModelConfig(rope_scaling={"rope_type": "linear", "factor": 4.0})] == 1
    assert config != config.replace(rope_scaling={"rope_type": "linear", "factor": 2.0})
    assert config != config.replace(rope_scaling=None)
    assert ModelConfig.from_dict(json.loads(json.dumps(config.to_dict()))) == config


# -- through the model, and against transformers' LlamaForCausalLM ---------------------------------------------------

ORIGINAL = 16
SCALINGS = {
    "linear": {"rope_type": "linear", "factor": 4.0},
    "dynamic": {"rope_type": "dynamic", "factor": 4.0, "original_max_position_embeddings": ORIGINAL},
    "yarn": {"rope_type": "yarn", "factor": 4.0, "original_max_position_embeddings": ORIGINAL, "beta_fast": 8.0},
    "llama3": {"rope_type": "llama3", "factor": 4.0, "original_max_position_embeddings": ORIGINAL,
               "low_freq_factor": 1.0, "high_freq_factor": 4.0},
}


def scaled_model(kind: str):
    config = ModelConfig(dim=64, n_layers=2, n_heads=4, n_kv_heads=2, vocab_size=96, multiple_of=16,
                         rope_theta=100.0, max_seq_len=ORIGINAL, rope_scaling=SCALINGS[kind])
    return random_model(config)


def logits(model, tokens):
    with torch.no_grad():
        out = model(tokens)
    return out if isinstance(out, torch.Tensor) else out.logits


@pytest.mark.parametrize("kind", sorted(SCALINGS))
def test_exported_scaled_model_gives_transformers_logits_past_the_original_length(kind, tmp_path):
    model = scaled_model(kind)
    tokens = torch.randint(0, 96, (2, 4 * ORIGINAL), generator=torch.Generator().manual_seed(1))
    export_hf(model, tmp_path)
    twin = transformers.LlamaForCausalLM.from_pretrained(tmp_path).eval()
    ours, theirs = logits(model, tokens), logits(twin, tokens)
    assert (ours - theirs).abs().max().item() <= 1e-4
    plain = random_model(model.config.replace(rope_scaling=None))
    assert (logits(plain, tokens)[:, ORIGINAL:] - ours[:, ORIGINAL:]).abs().max().item() > 1e-2, "scaling ignored"
    back = import_hf(tmp_path)
    assert back.config.rope_scaling == model.config.rope_scaling
    torch.testing.assert_close(logits(back, tokens), ours)


def test_dynamic_model_equals_a_fresh_transformers_model_at_every_length(tmp_path):
    """Each input gets the frequencies for its own length, whatever came before it: as transformers' model does on
    its first input (afterwards it keeps the longest input's frequencies for shorter ones; ours has no memory)."""
    model = scaled_model("dynamic")
    export_hf(model, tmp_path)
    generator = torch.Generator().manual_seed(2)
    for length in (3 * ORIGINAL, 2 * ORIGINAL, ORIGINAL // 2, 5 * ORIGINAL):  # longer, shorter, short, longest
        tokens = torch.randint(0, 96, (1, length), generator=generator)
        fresh = transformers.LlamaForCausalLM.from_pretrained(tmp_path).eval()
        assert (logits(model, tokens) - logits(fresh, tokens)).abs().max().item() <= 1e-4, length


def test_dynamic_model_decodes_with_a_cache_as_transformers_does(tmp_path):
    """Step by step past the original length, each step's frequencies are those of its own length, in both."""
    model = scaled_model("dynamic")
    export_hf(model, tmp_path)
    twin = transformers.LlamaForCausalLM.from_pretrained(tmp_path).eval()
    tokens = torch.randint(0, 96, (1, 3 * ORIGINAL), generator=torch.Generator().manual_seed(4))
    prompt = ORIGINAL // 2
    with torch.no_grad():
        cache = model.new_cache(1, tokens.shape[1])
        ours = [model(tokens[:, :prompt], cache=cache)[:, -1]]
        ours += [model(tokens[:, i:i + 1], cache=cache)[:, -1] for i in range(prompt, tokens.shape[1])]
        out = twin(tokens[:, :prompt], use_cache=True)
        theirs, past = [out.logits[:, -1]], out.past_key_values
        for i in range(prompt, tokens.shape[1]):
            out = twin(tokens[:, i:i + 1], past_key_values=past, use_cache=True)
            theirs.append(out.logits[:, -1])
            past = out.past_key_values
    assert (torch.stack(ours) - torch.stack(theirs)).abs().max().item() <= 1e-4


def test_hf_config_carries_rope_scaling_and_reads_legacy_dynamic_configs():
    config = ModelConfig(dim=64, n_heads=4, vocab_size=96, max_seq_len=64, rope_scaling=SCALINGS["dynamic"])
    values = hf_config(config)
    assert values["rope_scaling"] == SCALINGS["dynamic"] and values["max_position_embeddings"] == ORIGINAL
    values["rope_scaling"] = {"type": "dynamic", "factor": 2.0}  # transformers' older spelling, no original length
    assert config_from_hf(values).rope_scaling == {"rope_type": "dynamic", "factor": 2.0,
                                                   "original_max_position_embeddings": ORIGINAL}
    values["rope_scaling"] = {"rope_type": "yarn", "factor": "two"}
    with pytest.raises(ValueError, match="config.json: rope_scaling: factor"):
        config_from_hf(values)
