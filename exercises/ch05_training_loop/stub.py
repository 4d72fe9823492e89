"""Chapter 5 exercises — your file: the training loop (Code Llama §2.6, after Llama 2 §2.2; notebook 05).

Fill in each function, then run ``codellama-lite exercises check ch05``. The checks run your loop and the package's
(``codellama_lite/train/optim.py`` and ``loop.py``) on the same model and batches; read those files only after your
checks pass.

A batch is a ``LongTensor`` of shape ``(rows, seq_len + 1)``: the model reads tokens ``0 … seq_len-1`` of each row
and is scored on predicting tokens ``1 … seq_len``. A target id below 0 is padding and is not scored.
"""

from __future__ import annotations

import torch


def lr_at(step: int, total_steps: int, peak: float, warmup_steps: int, min_lr_ratio: float) -> float:
    """The learning rate of optimizer step ``step`` (1-based) in a run of ``total_steps``.

    Linear warm-up to ``peak`` over the first ``warmup_steps`` steps (step ``warmup_steps`` is at the peak), then a
    cosine from ``peak`` down to ``peak * min_lr_ratio``, reached at ``total_steps`` and kept after it.
    """
    # TODO: two phases; in the second, progress = (step - warmup) / (total - warmup), at most 1.
    raise NotImplementedError


def adamw(model: torch.nn.Module, lr: float, weight_decay: float, betas: tuple[float, float] = (0.9, 0.95),
          eps: float = 1e-8) -> torch.optim.AdamW:
    """AdamW over two parameter groups: the matrices (``dim >= 2``) decayed by ``weight_decay``, every other
    parameter (the RMSNorm gains) not decayed. Keep the parameters in ``model.parameters()`` order in each group."""
    # TODO: two dicts {"params": [...], "weight_decay": ...}; matrices first.
    raise NotImplementedError


def train_step(model: torch.nn.Module, optimizer: torch.optim.Optimizer, batches: list[torch.Tensor], lr: float,
               grad_clip: float) -> tuple[float, float]:
    """One optimizer step over the micro-batches ``batches``; returns (the step's mean loss, the gradient norm
    before clipping).

    The step's loss is the mean over *every scored target token of the step*: sum each micro-batch's cross-entropy
    (``reduction="sum"``), divide by the step's total count of scored targets, and call ``backward`` once per
    micro-batch (gradients accumulate). Then clip the global gradient norm to ``grad_clip``, set ``lr`` in every
    parameter group, take the optimizer step and clear the gradients.
    """
    # TODO: count targets first; logits = model(batch[:, :-1]); targets = batch[:, 1:].
    raise NotImplementedError


def save_checkpoint(path, model: torch.nn.Module, optimizer: torch.optim.Optimizer, step: int,
                    data_state: dict) -> None:
    """Write everything a resumed run needs to continue exactly: the weights, the optimizer's state (AdamW's two
    moments per parameter and its step counts), the step just finished and the data stream's position
    (``data_state``). Write to a temporary file and rename it, so a kill mid-write leaves the old checkpoint whole."""
    # TODO: torch.save a dict; os.replace for the rename.
    raise NotImplementedError


def load_checkpoint(path, model: torch.nn.Module, optimizer: torch.optim.Optimizer) -> tuple[int, dict]:
    """Restore ``model`` and ``optimizer`` in place from ``path``; return (the step it finished, the data state)."""
    # TODO: the inverse of save_checkpoint.
    raise NotImplementedError
