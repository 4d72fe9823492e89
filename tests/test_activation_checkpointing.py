"""Activation checkpointing applied from outside the model: the same loss and gradients, less memory — measured on
the CPU by following every storage an operator creates (codellama_lite.train.memory.LiveBytes) — and the memory
plan's per-token count equal to what autograd really keeps in a bfloat16 block."""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F

from codellama_lite.config import ModelConfig
from codellama_lite.train.memory import block_activation_bytes, measure_live_bytes
from codellama_lite.train.parallelize import apply_activation_checkpointing

from _models import random_model

CONFIG = ModelConfig(dim=128, n_layers=3, n_heads=4, n_kv_heads=2, vocab_size=200, multiple_of=32, max_seq_len=256)
MODES = ("none", "selective", "full")


def _batch() -> torch.Tensor:
    return torch.randint(0, CONFIG.vocab_size, (2, 129), generator=torch.Generator().manual_seed(1))


def _loss_and_grads(model: torch.nn.Module, batch: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    model.zero_grad(set_to_none=True)
    logits = model(batch[:, :-1])
    loss = F.cross_entropy(logits.flatten(0, 1), batch[:, 1:].flatten())
    loss.backward()
    # named_parameters() shows the wrapper's level (state_dict() hides it: see the test of names below)
    return loss.detach(), {name.replace("_checkpoint_wrapped_module.", ""): param.grad.clone()
                           for name, param in model.named_parameters()}


@pytest.fixture(scope="module")
def models() -> dict[str, torch.nn.Module]:
    base = random_model(CONFIG, seed=2).train()
    return {mode: apply_activation_checkpointing(copy.deepcopy(base), mode) for mode in MODES}


@pytest.mark.parametrize("mode", ["selective", "full"])
def test_checkpointing_gives_the_same_loss_and_gradients(models, mode):
    batch = _batch()
    loss, grads = _loss_and_grads(models["none"], batch)
    checkpointed_loss, checkpointed_grads = _loss_and_grads(models[mode], batch)
    torch.testing.assert_close(checkpointed_loss, loss, rtol=1e-6, atol=0)
    assert sorted(checkpointed_grads) == sorted(grads)
    for name, grad in grads.items():
        torch.testing.assert_close(checkpointed_grads[name], grad, rtol=1e-6, atol=1e-9, msg=name)


def test_checkpointing_lowers_the_peak_memory_of_a_step(models):
    batch = _batch()
    peaks = {mode: measure_live_bytes(lambda: _loss_and_grads(models[mode], batch))[1] for mode in MODES}
    assert peaks["full"] < peaks["selective"] < peaks["none"], peaks
    kept = {mode: measure_live_bytes(lambda: models[mode](batch[:, :-1]).sum())[0] for mode in MODES}
    assert kept["full"] < kept["selective"] < kept["none"], kept


def test_checkpointing_keeps_the_state_dict_names(models):
    assert list(models["full"].state_dict()) == list(models["none"].state_dict())
    plain = random_model(CONFIG, seed=5)
    models["selective"].load_state_dict(plain.state_dict())  # loads under the original names
    assert torch.equal(models["selective"].layers[1].attention.wq.weight, plain.layers[1].attention.wq.weight)


@pytest.mark.parametrize("mode", MODES)
def test_the_plans_count_per_token_is_what_a_bfloat16_block_keeps(mode):
    """One block, its input made inside the measurement: bytes alive after forward / tokens = the formula."""
    model = apply_activation_checkpointing(random_model(CONFIG, seed=4).to(torch.bfloat16).train(), mode)
    seq = 128
    cos, sin = model.rope_cos[:seq], model.rope_sin[:seq]
    start = torch.randn(1, seq, CONFIG.dim, dtype=torch.bfloat16, requires_grad=True)

    def forward() -> torch.Tensor:
        block_input = start * 1.0  # a new tensor, as the previous block's output is
        return model.layers[0](block_input, cos, sin, None, True).float().sum()

    kept, _ = measure_live_bytes(forward)
    scalar = 4  # the returned loss
    assert kept - scalar == block_activation_bytes(CONFIG, mode, compute_bytes=2) * seq


def test_an_unknown_mode_is_refused_by_name():
    with pytest.raises(ValueError, match="activation_checkpointing = 'some'"):
        apply_activation_checkpointing(random_model(CONFIG), "some")
