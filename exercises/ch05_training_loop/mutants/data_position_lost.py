"""The data stream's position is not saved: the resumed run starts the stream over and trains on the first batches
again."""

import os
from pathlib import Path

import torch

MUST_FAIL = ("check_resume",)


def save_checkpoint(path, model, optimizer, step, data_state):
    partial = Path(str(path) + ".partial")
    torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(), "step": step}, partial)
    os.replace(partial, path)


def load_checkpoint(path, model, optimizer):
    state = torch.load(path, weights_only=False)
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    return state["step"], {}
