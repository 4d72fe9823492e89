"""Checks for chapter 5: your schedule, optimizer, step and checkpoint against the package trainer's, on one tiny
model and the same batches (codellama_lite.train.optim and codellama_lite.train.loop)."""

from __future__ import annotations

import copy
import functools
import math
import tempfile
from pathlib import Path

import torch

from codellama_lite.config import ModelConfig
from codellama_lite.model import Transformer
from codellama_lite.train.distributed import World
from codellama_lite.train.loop import train_step as package_train_step
from codellama_lite.train.optim import build_optimizer, lr_at as package_lr_at
from codellama_lite.train.recipe import OptimSection

OPTIM = OptimSection(lr=3e-3, warmup_steps=2, min_lr_ratio=1 / 30, weight_decay=0.1, grad_clip=0.5)
STEPS = 5
ONE_PROCESS = World(0, 1, torch.device("cpu"))
_WORKDIR = tempfile.TemporaryDirectory(prefix="ch05-checks-")


@functools.lru_cache(maxsize=None)
def _initial_model() -> Transformer:
    torch.manual_seed(0)
    return Transformer(ModelConfig.preset("tiny", vocab_size=64, n_layers=1, max_seq_len=16))


def _model() -> Transformer:
    return copy.deepcopy(_initial_model())


def _batches(step: int) -> list[torch.Tensor]:
    """Step ``step``'s micro-batches: one row, then three rows whose last targets are padding, so a mean per
    micro-batch is not the mean over the step's tokens."""
    generator = torch.Generator().manual_seed(100 + step)
    small, large = torch.randint(0, 64, (1, 9), generator=generator), torch.randint(0, 64, (3, 9), generator=generator)
    large[1:, -1] = -100  # targets only: the model never reads the last token
    return [small, large]


def _package_losses(steps: int = STEPS) -> list[tuple[float, float]]:
    model = _model()
    optimizer = build_optimizer(model, OPTIM)
    return [package_train_step(model, optimizer, _batches(step), package_lr_at(step, steps, OPTIM), OPTIM.grad_clip,
                               ONE_PROCESS) for step in range(1, steps + 1)]


def _your_optimizer(impl, model):
    return impl.adamw(model, OPTIM.lr, OPTIM.weight_decay, (OPTIM.beta1, OPTIM.beta2), OPTIM.eps)


def _your_step(impl, model, optimizer, step, steps=STEPS):
    lr = impl.lr_at(step, steps, OPTIM.lr, OPTIM.warmup_steps, OPTIM.min_lr_ratio)
    return impl.train_step(model, optimizer, _batches(step), lr, OPTIM.grad_clip)


def check_lr_at(impl) -> None:
    for peak, warmup, ratio, total in ((3e-4, 10, 1 / 30, 100), (1e-4, 0, 0.1, 50), (2e-5, 5, 0.0, 5),
                                       (1.0, 3, 1 / 30, 7)):
        optim = OptimSection(lr=peak, warmup_steps=warmup, min_lr_ratio=ratio)
        for step in range(1, total + 3):
            got, expected = impl.lr_at(step, total, peak, warmup, ratio), package_lr_at(step, total, optim)
            assert math.isclose(got, expected, rel_tol=1e-9, abs_tol=1e-15), \
                f"lr_at({step}, {total}, peak={peak}, warmup={warmup}, min_lr_ratio={ratio:.4g}) = {got}, " \
                f"expected {expected}"


def check_adamw(impl) -> None:
    model = _model()
    yours, package = _your_optimizer(impl, model), build_optimizer(model, OPTIM)
    assert isinstance(yours, torch.optim.AdamW), f"expected torch.optim.AdamW, got {type(yours).__name__}"
    assert len(yours.param_groups) == 2, f"expected 2 parameter groups (decayed, not), got {len(yours.param_groups)}"
    for name, mine, theirs in zip(("matrices", "gains"), yours.param_groups, package.param_groups):
        assert [id(p) for p in mine["params"]] == [id(p) for p in theirs["params"]], \
            f"group {name}: other parameters than the package's (matrices decayed, RMSNorm gains not)"
        assert mine["weight_decay"] == theirs["weight_decay"], \
            f"group {name}: weight decay {mine['weight_decay']}, expected {theirs['weight_decay']}"
        assert mine["betas"] == theirs["betas"] and mine["eps"] == theirs["eps"], f"group {name}: betas or eps"


def check_train_step(impl) -> None:
    """One step, micro-batches of unequal sizes, plain SGD (AdamW's first step hides a scale: it divides it out):
    loss, gradient norm and the updated weights as the package's."""
    expected_model, model = _model(), _model()
    expected = package_train_step(expected_model, torch.optim.SGD(expected_model.parameters(), lr=0.5), _batches(1),
                                  1e-1, OPTIM.grad_clip, ONE_PROCESS)
    got = impl.train_step(model, torch.optim.SGD(model.parameters(), lr=0.5), _batches(1), 1e-1, OPTIM.grad_clip)
    assert math.isclose(got[0], expected[0], rel_tol=1e-5), \
        f"loss {got[0]:.6f}, expected {expected[0]:.6f}: the mean over every scored target of the step"
    assert math.isclose(got[1], expected[1], rel_tol=1e-4), \
        f"gradient norm {got[1]:.6f}, expected {expected[1]:.6f} (measured before clipping)"
    for (name, mine), theirs in zip(model.named_parameters(), expected_model.parameters()):
        torch.testing.assert_close(mine, theirs, rtol=1e-5, atol=1e-6,
                                   msg=lambda m, name=name: f"weights after the step differ at {name} (the gradient "
                                                            f"was scaled, clipped or applied otherwise): {m}")
        assert mine.grad is None or not mine.grad.any(), f"{name}: gradients left over after the step"


def check_training_loop(impl) -> None:
    """Your schedule, optimizer and step for five steps: the losses the package trainer writes, step for step."""
    expected = _package_losses()
    model = _model()
    optimizer = _your_optimizer(impl, model)
    got = [_your_step(impl, model, optimizer, step) for step in range(1, STEPS + 1)]
    for step, (mine, theirs) in enumerate(zip(got, expected), start=1):
        assert math.isclose(mine[0], theirs[0], rel_tol=1e-5), \
            f"step {step}: loss {mine[0]:.6f}, the package's {theirs[0]:.6f}"


def check_resume(impl) -> None:
    """Train five steps straight; then two, checkpoint, throw everything away, load, and three more: equal losses."""
    def batches_from(position):
        return {"next_step": position}

    path = Path(_WORKDIR.name) / "resume.pt"
    straight_model = _model()
    straight_optimizer = _your_optimizer(impl, straight_model)
    straight = [_your_step(impl, straight_model, straight_optimizer, step)[0] for step in range(1, STEPS + 1)]

    model = _model()
    optimizer = _your_optimizer(impl, model)
    killed = [_your_step(impl, model, optimizer, step)[0] for step in (1, 2)]
    impl.save_checkpoint(path, model, optimizer, 2, batches_from(3))
    del model, optimizer
    fresh = Transformer(_initial_model().config)  # other random weights: everything must come from the file
    optimizer = _your_optimizer(impl, fresh)
    step, data = impl.load_checkpoint(path, fresh, optimizer)
    assert step == 2, f"load_checkpoint returned step {step}, saved 2"
    assert data == batches_from(3), f"load_checkpoint returned data state {data}, saved {batches_from(3)}"
    killed += [_your_step(impl, fresh, optimizer, s)[0] for s in range(data["next_step"], STEPS + 1)]
    assert killed == straight, f"losses after resuming {killed} != straight through {straight}"
    assert not list(path.parent.glob("*.partial*")), "a temporary file was left next to the checkpoint"
