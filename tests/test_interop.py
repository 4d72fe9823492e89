"""Checkpoint interoperability: Hugging Face export/import and Meta's sharded format, exact round trips."""

from __future__ import annotations

import json

import pytest
import torch

from codellama_lite.config import ModelConfig
from codellama_lite.interop import export_hf, export_meta, import_hf, import_meta
from codellama_lite.model import Transformer

transformers = pytest.importorskip("transformers")

CONFIG = ModelConfig(dim=64, n_layers=2, n_heads=4, n_kv_heads=2, vocab_size=96, multiple_of=16, rope_theta=1e6)
TOKENS = torch.randint(0, 96, (2, 19), generator=torch.Generator().manual_seed(0))


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    m = Transformer(CONFIG)
    with torch.no_grad():
        for name, p in m.named_parameters():
            p.copy_(1 + 0.3 * torch.randn_like(p) if "norm" in name else 0.15 * torch.randn_like(p))
    return m.eval()


def logits(m, tokens=TOKENS):
    with torch.no_grad():
        out = m(tokens)
    return out if isinstance(out, torch.Tensor) else out.logits


def assert_same_weights(a: Transformer, b: Transformer):
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    for name in sa:
        assert torch.equal(sa[name], sb[name]), name


def test_export_hf_loads_in_transformers_with_the_same_logits(model, tmp_path):
    export_hf(model, tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config.json", "model.safetensors"]
    twin = transformers.LlamaForCausalLM.from_pretrained(tmp_path).eval()
    assert twin.config.rms_norm_eps == 1e-5 and twin.config.num_key_value_heads == 2
    assert (logits(twin) - logits(model)).abs().max().item() <= 1e-5


def test_hf_round_trip_is_exact(model, tmp_path):
    export_hf(model, tmp_path)
    back = import_hf(tmp_path)
    assert back.config.hidden_dim == CONFIG.hidden_dim and back.config.kv_heads == 2
    assert_same_weights(model, back)
    assert torch.equal(logits(back), logits(model))


def _random_twin(seed: int, **config):
    """A transformers ``LlamaForCausalLM`` (2 layers, 2 key/value heads, untied) with weights drawn from N(0, 0.2²)."""
    torch.manual_seed(seed)
    hf_config = transformers.LlamaConfig(num_hidden_layers=2, num_key_value_heads=2, rms_norm_eps=1e-5,
                                         tie_word_embeddings=False, **config)
    twin = transformers.LlamaForCausalLM(hf_config).eval()
    with torch.no_grad():
        for p in twin.parameters():
            p.normal_(0, 0.2)
    return twin


def test_import_a_checkpoint_written_by_transformers(tmp_path):
    twin = _random_twin(3, vocab_size=80, hidden_size=48, intermediate_size=100, num_attention_heads=6, rope_theta=1e4)
    twin.save_pretrained(tmp_path, safe_serialization=True)
    ours = import_hf(tmp_path)
    tokens = torch.randint(0, 80, (2, 11))
    assert (logits(ours, tokens) - logits(twin, tokens)).abs().max().item() <= 1e-5


def _meta_layout_from_hf(twin, n_heads, n_kv_heads):
    """Meta's names and interleaved RoPE rows.

    Built here from docs/paper_facts.md §4's inverse permutation, not the package's.
    """
    sd = twin.state_dict()
    dim = twin.config.hidden_size

    def unpermute(w, heads):
        return w.view(heads, 2, w.shape[0] // heads // 2, dim).transpose(1, 2).reshape(w.shape[0], dim)

    meta = {"tok_embeddings.weight": sd["model.embed_tokens.weight"], "norm.weight": sd["model.norm.weight"],
            "output.weight": sd["lm_head.weight"]}
    for i in range(twin.config.num_hidden_layers):
        p = f"model.layers.{i}."
        meta.update({
            f"layers.{i}.attention.wq.weight": unpermute(sd[p + "self_attn.q_proj.weight"], n_heads),
            f"layers.{i}.attention.wk.weight": unpermute(sd[p + "self_attn.k_proj.weight"], n_kv_heads),
            f"layers.{i}.attention.wv.weight": sd[p + "self_attn.v_proj.weight"],
            f"layers.{i}.attention.wo.weight": sd[p + "self_attn.o_proj.weight"],
            f"layers.{i}.feed_forward.w1.weight": sd[p + "mlp.gate_proj.weight"],
            f"layers.{i}.feed_forward.w2.weight": sd[p + "mlp.down_proj.weight"],
            f"layers.{i}.feed_forward.w3.weight": sd[p + "mlp.up_proj.weight"],
            f"layers.{i}.attention_norm.weight": sd[p + "input_layernorm.weight"],
            f"layers.{i}.ffn_norm.weight": sd[p + "post_attention_layernorm.weight"],
        })
    return meta


def _shard(meta, ranks):
    """Split like Meta's model parallelism: column-parallel on dim 0, row-parallel and embeddings on dim 1."""
    dims = {"wq": 0, "wk": 0, "wv": 0, "w1": 0, "w3": 0, "output": 0, "wo": 1, "w2": 1, "tok_embeddings": 1}
    shards = [{} for _ in range(ranks)]
    for name, tensor in meta.items():
        dim = dims.get(name.split(".")[-2])
        for rank in range(ranks):
            shards[rank][name] = (tensor if dim is None else tensor.chunk(ranks, dim=dim)[rank]).clone()
    return shards


@pytest.mark.parametrize("ranks", [1, 2])
def test_meta_fixture_imports_exactly(tmp_path, ranks):
    twin = _random_twin(4, vocab_size=90, hidden_size=64, intermediate_size=192, num_attention_heads=4, rope_theta=1e6)
    for rank, shard in enumerate(_shard(_meta_layout_from_hf(twin, 4, 2), ranks)):
        torch.save(shard, tmp_path / f"consolidated.{rank:02d}.pth")
    # multiple_of 64 turns int(2 * 4 * 64 / 3) = 170 into 192, Meta's width rule.
    params = {"dim": 64, "n_layers": 2, "n_heads": 4, "n_kv_heads": 2, "vocab_size": -1, "multiple_of": 64,
              "norm_eps": 1e-5, "rope_theta": 1e6}
    (tmp_path / "params.json").write_text(json.dumps(params))
    ours = import_meta(tmp_path)
    assert ours.config.vocab_size == 90 and ours.config.hidden_dim == 192
    tokens = torch.randint(0, 90, (2, 13))
    assert (logits(ours, tokens) - logits(twin, tokens)).abs().max().item() <= 1e-5


@pytest.mark.parametrize("shards", [1, 2])
def test_meta_round_trip_is_exact(model, tmp_path, shards):
    export_meta(model, tmp_path, num_shards=shards)
    assert len(list(tmp_path.glob("consolidated.*.pth"))) == shards
    back = import_meta(tmp_path)
    assert_same_weights(model, back)


def test_shape_mismatch_names_tensor_and_both_shapes(model, tmp_path):
    export_hf(model, tmp_path)
    config = json.loads((tmp_path / "config.json").read_text())
    config["intermediate_size"] += 16
    (tmp_path / "config.json").write_text(json.dumps(config))
    with pytest.raises(ValueError, match=r"model\.layers\.0\.mlp\.gate_proj\.weight.*\(176, 64\).*\(192, 64\)"):
        import_hf(tmp_path)


def test_missing_tensor_and_missing_files_are_clear(model, tmp_path):
    with pytest.raises(FileNotFoundError, match="config.json"):
        import_hf(tmp_path)
    with pytest.raises(FileNotFoundError, match="params.json"):
        import_meta(tmp_path)
    export_meta(model, tmp_path)
    shard = torch.load(tmp_path / "consolidated.00.pth")
    del shard["layers.1.attention.wk.weight"]
    torch.save(shard, tmp_path / "consolidated.00.pth")
    with pytest.raises(ValueError, match=r"layers\.1\.attention\.wk\.weight"):
        import_meta(tmp_path)


def test_unsupported_hf_features_are_refused(model, tmp_path):
    export_hf(model, tmp_path)
    config = json.loads((tmp_path / "config.json").read_text())
    config["rope_scaling"] = {"rope_type": "longrope", "factor": 2.0}
    (tmp_path / "config.json").write_text(json.dumps(config))
    with pytest.raises(ValueError, match="rope_type"):
        import_hf(tmp_path)


@pytest.mark.parametrize("ffn_dim", [176, 200, 600])
def test_a_hugging_face_ffn_width_survives_the_meta_format(tmp_path, ffn_dim):
    """A Hugging Face config states the FFN width (intermediate_size); Meta's params.json only states Llama's rule."""
    from _models import random_model

    model = random_model(ModelConfig(dim=64, n_layers=1, n_heads=4, vocab_size=50, ffn_dim=ffn_dim))
    export_hf(model, tmp_path / "hf")
    export_meta(import_hf(tmp_path / "hf"), tmp_path / "meta")
    back = import_meta(tmp_path / "meta")
    assert back.config.hidden_dim == ffn_dim
    tokens = torch.tensor([[1, 7, 9, 22]])
    with torch.no_grad():
        assert torch.allclose(back(tokens), model(tokens), atol=1e-5)
