"""Test helper shared by the model tests: models with weights far from initialisation, so every term matters."""

from __future__ import annotations

import torch

from codellama_lite.config import ModelConfig
from codellama_lite.model import Transformer


def random_model(config: ModelConfig, seed: int = 0, scale: float = 0.15) -> Transformer:
    """Weights ~ N(0, scale²), norm gains ~ 1 + N(0, 0.3²), in eval mode."""
    torch.manual_seed(seed)
    model = Transformer(config)
    with torch.no_grad():
        for name, param in model.named_parameters():
            param.copy_(1 + 0.3 * torch.randn_like(param) if "norm" in name else scale * torch.randn_like(param))
    return model.eval()
