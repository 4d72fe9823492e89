"""Checks for chapter 2: each piece against the package's model and against facts it must satisfy."""

from __future__ import annotations

from types import ModuleType

import torch
import torch.nn.functional as F

from codellama_lite.config import ModelConfig
from codellama_lite.model import RMSNorm, Transformer
from codellama_lite.rope import apply_rope, rope_cos_sin, rope_frequencies


def check_rms_norm(impl: ModuleType) -> None:
    torch.manual_seed(0)
    norm = RMSNorm(16)
    with torch.no_grad():
        norm.weight.normal_()
    x = 3 * torch.randn(2, 5, 16)
    got = impl.rms_norm(x, norm.weight.detach(), 1e-5)
    assert got.shape == x.shape, f"shape {tuple(got.shape)}, expected {tuple(x.shape)}"
    torch.testing.assert_close(got, norm(x).detach(), msg="float32 RMSNorm differs from the model's")
    tiny = 1e-3 * x  # mean(x²) is below eps here: eps belongs under the square root
    torch.testing.assert_close(impl.rms_norm(tiny, norm.weight.detach(), 1e-5), norm(tiny).detach(),
                               msg="small inputs differ from the model's: where does eps go?")
    unit = impl.rms_norm(x, torch.ones(16), 1e-5)
    rms = unit.pow(2).mean(-1).sqrt()
    assert torch.allclose(rms, torch.ones_like(rms), atol=1e-3), "with weight 1 every row should have RMS 1"
    assert not torch.allclose(unit.mean(-1), torch.zeros(2, 5), atol=1e-3), "RMSNorm must not subtract the mean"
    half = x.to(torch.bfloat16)
    got_half = impl.rms_norm(half, norm.weight.detach().to(torch.bfloat16), 1e-5)
    assert got_half.dtype == torch.bfloat16, f"bf16 input should give bf16 output, got {got_half.dtype}"
    expected = norm.to(torch.bfloat16)(half).detach()
    assert torch.equal(got_half, expected), "compute in float32, cast back to x's dtype, then multiply by weight"


def check_apply_rotary(impl: ModuleType) -> None:
    torch.manual_seed(1)
    inv_freq = rope_frequencies(8, 1e4)
    cos, sin = rope_cos_sin(inv_freq, torch.arange(6))
    x = torch.randn(2, 3, 6, 8)  # (batch, heads, seq, head_dim)
    got = impl.apply_rotary(x, cos, sin)
    torch.testing.assert_close(got, apply_rope(x, cos, sin), msg="rotation differs from codellama_lite.rope")
    torch.testing.assert_close(got.norm(dim=-1), x.norm(dim=-1), msg="a rotation must keep every vector's length")
    torch.testing.assert_close(got[:, :, 0], x[:, :, 0], msg="position 0 must not move")
    # A dot product of rotated vectors depends only on the distance between their positions.
    q, k = torch.randn(8), torch.randn(8)
    cos9, sin9 = rope_cos_sin(inv_freq, torch.arange(9))
    rq, rk = impl.apply_rotary(q.expand(9, 8), cos9, sin9), impl.apply_rotary(k.expand(9, 8), cos9, sin9)
    scores = torch.stack([rq[m] @ rk[m - 2] for m in range(2, 9)])
    torch.testing.assert_close(scores, scores[0].expand(7), msg="scores must depend on distance only")


def check_repeat_kv(impl: ModuleType) -> None:
    torch.manual_seed(2)
    q, k, v = torch.randn(2, 6, 5, 4), torch.randn(2, 2, 5, 4), torch.randn(2, 2, 5, 4)
    rk, rv = impl.repeat_kv(k, 3), impl.repeat_kv(v, 3)
    assert rk.shape == (2, 6, 5, 4), f"shape {tuple(rk.shape)}, expected (2, 6, 5, 4)"
    ours = F.scaled_dot_product_attention(q, rk, rv, is_causal=True)
    grouped = F.scaled_dot_product_attention(q, k, v, is_causal=True, enable_gqa=True)
    torch.testing.assert_close(ours, grouped, msg="query head h must meet key/value head h // n_rep")
    assert torch.equal(impl.repeat_kv(k, 1), k), "n_rep = 1 is multi-head attention: nothing to repeat"
    # Inside the model: multi-head attention with repeated heads equals the grouped-query model's output.
    torch.manual_seed(3)
    model = Transformer(ModelConfig(dim=32, n_layers=1, n_heads=4, n_kv_heads=2, vocab_size=50, multiple_of=8)).eval()
    mha = Transformer(ModelConfig(dim=32, n_layers=1, n_heads=4, vocab_size=50, multiple_of=8)).eval()
    state = model.state_dict()
    expand = lambda w: impl.repeat_kv(w.reshape(1, 2, 8, 32), 2).reshape(32, 32)  # noqa: E731 rows of heads
    for name in ("layers.0.attention.wk.weight", "layers.0.attention.wv.weight"):
        state[name] = expand(state[name])
    mha.load_state_dict(state)
    tokens = torch.randint(0, 50, (1, 7))
    with torch.no_grad():
        torch.testing.assert_close(mha(tokens), model(tokens), msg="repeating heads must reproduce GQA's logits")
