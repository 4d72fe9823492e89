"""Checks for chapter 4: each speed against the package's RoPE (codellama_lite.rope) and the property it promises."""

from __future__ import annotations

import math
from types import ModuleType

import torch

from codellama_lite.rope import (ntk_aware_theta, rope_cos_sin, rope_frequencies, scaled_inv_freq,
                                 yarn_attention_factor)

SHAPES = ((8, 1e4), (32, 1e4), (128, 1e6), (64, 500.0))


def check_rope_theta_i(impl: ModuleType) -> None:
    for head_dim, base in SHAPES:
        got = impl.rope_theta_i(head_dim, base)
        assert got.shape == (head_dim // 2,), \
            f"head_dim {head_dim}: shape {tuple(got.shape)}, expected ({head_dim // 2},)"
        assert got[0].item() == 1.0, "pair 0 turns by exactly one radian per token (base^0)"
        torch.testing.assert_close(got.float(), rope_frequencies(head_dim, base),
                                   msg=f"head_dim {head_dim}, base {base:g}: theta_i = base^(-2i/d), i < d/2")
    slowest = impl.rope_theta_i(128, 1e4)[-1].item()
    assert abs(slowest - 1e4 ** (-126 / 128)) < 1e-9, "the slowest pair (i = d/2 - 1) turns at base^(-(d-2)/d)"


def check_interpolated_frequencies(impl: ModuleType) -> None:
    for head_dim, base in SHAPES:
        got = impl.interpolated_frequencies(head_dim, base, 4.0)
        expected, _ = scaled_inv_freq(head_dim, base, {"rope_type": "linear", "factor": 4.0})
        torch.testing.assert_close(got.float(), expected, msg=f"head_dim {head_dim}: Hugging Face's linear scaling")
    # The defining property: position 4m with the new speeds turns exactly like position m did in training.
    positions = torch.arange(0, 400, 4)
    stretched = rope_cos_sin(impl.interpolated_frequencies(16, 1e4, 4.0).float(), positions)
    trained = rope_cos_sin(rope_frequencies(16, 1e4), positions // 4)
    torch.testing.assert_close(stretched, trained, msg="position m * factor must look like position m in training")


def check_ntk_aware_frequencies(impl: ModuleType) -> None:
    for head_dim, base in SHAPES:
        got = impl.ntk_aware_frequencies(head_dim, base, 8.0).float()
        assert got[0].item() == 1.0, "NTK-aware scaling keeps the fastest pair (neighbouring tokens stay apart)"
        slowdown = (rope_frequencies(head_dim, base)[-1] / got[-1]).item()
        assert abs(slowdown - 8.0) < 1e-3 * 8, \
            f"head_dim {head_dim}: the slowest pair must slow by 8, not {slowdown:.3f}"
        torch.testing.assert_close(got, rope_frequencies(head_dim, ntk_aware_theta(base, 8.0, head_dim)),
                                   msg=f"head_dim {head_dim}: base * factor^(d/(d-2))")


def check_dynamic_ntk_frequencies(impl: ModuleType) -> None:
    for head_dim, base in SHAPES:
        for seq_len in (100, 4096, 5000, 8192, 16384, 50_000):
            got = impl.dynamic_ntk_frequencies(head_dim, base, 4.0, 4096, seq_len).float()
            expected, _ = scaled_inv_freq(head_dim, base, {"rope_type": "dynamic", "factor": 4.0,
                                                           "original_max_position_embeddings": 4096}, seq_len=seq_len)
            torch.testing.assert_close(got, expected, msg=f"head_dim {head_dim}, base {base:g}, length {seq_len}: "
                                                          "Hugging Face's dynamic NTK")
    short = impl.dynamic_ntk_frequencies(64, 1e4, 4.0, 4096, 1000).float()
    torch.testing.assert_close(short, rope_frequencies(64, 1e4), msg="up to the original length nothing changes")


YARN_CASES = ((128, 1e4, 4.0, 4096), (64, 1e4, 8.0, 2048), (128, 1e6, 4.0, 4096), (32, 1e4, 16.0, 256),
              (16, 1e4, 4.0, 64), (64, 500.0, 2.0, 1024))


def check_yarn_frequencies(impl: ModuleType) -> None:
    for head_dim, base, factor, original in YARN_CASES:
        got = impl.yarn_frequencies(head_dim, base, factor, original).float()
        expected, _ = scaled_inv_freq(head_dim, base, {"rope_type": "yarn", "factor": factor,
                                                       "original_max_position_embeddings": original})
        torch.testing.assert_close(got, expected, msg=f"head_dim {head_dim}, base {base:g}, factor {factor:g}, "
                                                      f"L0 {original}: Hugging Face's YaRN")
        speeds = rope_frequencies(head_dim, base)
        assert got[0].item() == speeds[0].item() or original * speeds[0] / (2 * math.pi) < 32, \
            "a pair that turns more than beta_fast times within L0 keeps its speed"
    got = impl.yarn_frequencies(128, 1e4, 4.0, 4096, beta_fast=16.0, beta_slow=2.0).float()
    expected, _ = scaled_inv_freq(128, 1e4, {"rope_type": "yarn", "factor": 4.0, "beta_fast": 16.0, "beta_slow": 2.0,
                                             "original_max_position_embeddings": 4096})
    torch.testing.assert_close(got, expected, msg="beta_fast 16, beta_slow 2")


def check_yarn_attention_factor(impl: ModuleType) -> None:
    for factor in (1.0, 2.0, 4.0, 8.0, 32.0):
        expected = yarn_attention_factor({"factor": factor, "original_max_position_embeddings": 4096})
        got = impl.yarn_attention_factor(factor)
        assert math.isclose(got, expected, rel_tol=1e-9), f"factor {factor}: {got}, expected {expected} (0.1 ln s + 1)"
