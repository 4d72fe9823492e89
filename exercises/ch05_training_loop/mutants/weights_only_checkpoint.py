"""A checkpoint of the weights alone: AdamW restarts with empty moments and step counts, so the losses drift."""

import os
from pathlib import Path

import torch

MUST_FAIL = ("check_resume",)


def save_checkpoint(path, model, optimizer, step, data_state):
    partial = Path(str(path) + ".partial")
    torch.save({"model": model.state_dict(), "step": step, "data": data_state}, partial)
    os.replace(partial, path)


def load_checkpoint(path, model, optimizer):
    state = torch.load(path, weights_only=False)
    model.load_state_dict(state["model"])
    return state["step"], state["data"]
