"""Checkpoints that a killed run can trust (torchtitan's design): ``torch.distributed.checkpoint`` (DCP) folders.

``<run>/step-00000200/`` holds the model and optimizer (sharded per rank under FSDP2, whole on one process), each
rank's own data position and random-number states under its own key ``rank{r}`` (one shared key would hand every
rank one rank's state on load), and, from rank 0, ``train_state.json`` (step, recipe, model shape) and the
``tokenizer.model``. It is written as ``.step-00000200.partial/`` and renamed only once complete, so a folder named
``step-*`` is always whole; the newest is the one resumed, and only the last ``keep_last`` are kept.
"""

from __future__ import annotations

import json
import os
import pickle
import random
import re
import shutil
import warnings
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed.checkpoint as dcp
from torch.distributed.checkpoint.api import CheckpointException
from torch import nn
from torch.distributed.checkpoint.state_dict import get_state_dict, set_state_dict

from codellama_lite.support.fileio import atomic_open
from codellama_lite.train.distributed import World, barrier

# One process saving or loading alone is intended here, not a mistake worth a warning on every checkpoint.
warnings.filterwarnings("ignore", message="torch.distributed is disabled, unavailable or uninitialized")

STEP_DIR = re.compile(r"^step-(\d{8})$")
STATE_FILE = "train_state.json"


def step_dir(run_dir: Path, step: int) -> Path:
    return run_dir / f"step-{step:08d}"


def complete_checkpoints(run_dir: Path) -> list[Path]:
    """Every whole checkpoint in ``run_dir``, oldest first."""
    if not run_dir.is_dir():
        return []
    found = [path for path in run_dir.iterdir() if STEP_DIR.match(path.name) and (path / STATE_FILE).is_file()]
    return sorted(found, key=lambda path: path.name)


def rng_state() -> dict[str, Any]:
    """Every random-number generator a training step might draw from."""
    state = {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_checkpoint(run_dir: Path, step: int, model: nn.Module, optimizer: torch.optim.Optimizer,
                    rank_state: dict[str, Any], shared: dict[str, Any], tokenizer_path: Path, world: World,
                    keep_last: int) -> Path:
    """Write step ``step``'s checkpoint atomically (every rank calls this); returns its folder."""
    final, partial = step_dir(run_dir, step), run_dir / f".step-{step:08d}.partial"
    if world.main and partial.exists():
        shutil.rmtree(partial)
    barrier(world)
    model_state, optim_state = get_state_dict(model, optimizer)
    state = {"model": model_state, "optim": optim_state,
             f"rank{world.rank}": pickle.dumps({**rank_state, "rng": rng_state()})}
    dcp.save(state, checkpoint_id=str(partial))
    barrier(world)
    if world.main:
        shutil.copyfile(tokenizer_path, partial / "tokenizer.model")
        with atomic_open(partial / STATE_FILE) as handle:
            json.dump({**shared, "step": step, "world_size": world.world_size}, handle, indent=1)
        if final.exists():
            shutil.rmtree(final)
        os.replace(partial, final)
        _fsync_dir(run_dir)
        for old in complete_checkpoints(run_dir)[:-keep_last]:
            shutil.rmtree(old, ignore_errors=True)
    barrier(world)
    return final


def read_state(checkpoint: Path) -> dict[str, Any]:
    """``train_state.json`` of a checkpoint, with a clear error when it is unreadable."""
    path = checkpoint / STATE_FILE
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as error:
        raise ValueError(f"{path}: unreadable checkpoint state ({error})") from None


def load_checkpoint(checkpoint: Path, model: nn.Module, optimizer: torch.optim.Optimizer,
                    world: World) -> dict[str, Any]:
    """Restore model, optimizer and this rank's RNG states in place; returns this rank's saved state."""
    state_info = read_state(checkpoint)
    if state_info.get("world_size") != world.world_size:
        raise ValueError(f"{checkpoint}: written by {state_info.get('world_size')} process(es); resume it with the "
                         f"same number (this run has {world.world_size}) — the data position is per rank")
    model_state, optim_state = get_state_dict(model, optimizer)
    _check_model_names(checkpoint, model_state)
    key = f"rank{world.rank}"
    state = {"model": model_state, "optim": optim_state, key: b""}
    try:
        dcp.load(state, checkpoint_id=str(checkpoint))
    except (Exception, CheckpointException) as error:  # DCP's own is a BaseException
        raise ValueError(f"{checkpoint}: corrupt or truncated checkpoint ({type(error).__name__}: "
                         f"{str(error).splitlines()[0] if str(error) else ''})") from None
    set_state_dict(model, optimizer, model_state_dict=state["model"], optim_state_dict=state["optim"])
    rank_state = pickle.loads(state[key])
    set_rng_state(rank_state.pop("rng"))
    return rank_state


def load_model_state(checkpoint: Path, model: nn.Module) -> None:
    """Load only the model's weights from a (possibly sharded) checkpoint into one plain process."""
    state = {"model": model.state_dict()}
    _check_model_names(checkpoint, state["model"])
    try:
        dcp.load(state, checkpoint_id=str(checkpoint))
    except (Exception, CheckpointException) as error:
        raise ValueError(f"{checkpoint}: corrupt or truncated checkpoint ({type(error).__name__})") from None
    model.load_state_dict(state["model"])


def _check_model_names(checkpoint: Path, names: Iterable[str]) -> None:
    """One clear error when the checkpoint holds no tensor under one of the model's state-dict names (it belongs to
    another model, or to one whose tensors were named otherwise)."""
    try:
        stored = dcp.FileSystemReader(str(checkpoint)).read_metadata().state_dict_metadata
    except Exception:  # no readable metadata: dcp.load reports the checkpoint as corrupt
        return
    missing = [name for name in names if f"model.{name}" not in stored]
    if missing:
        found = sorted(name.removeprefix("model.") for name in stored if name.startswith("model."))
        raise ValueError(f"{checkpoint}: no tensor {missing[0]!r} ({len(missing)} of the model's tensors missing; "
                         f"it holds e.g. {found[:3]}): written for a model with other tensor names")


def export_checkpoint(checkpoint: Path, out: Path) -> Path:
    """A kept checkpoint's model as a Hugging Face folder with its ``tokenizer.model`` (what ``codellama-lite eval
    --checkpoint`` reads): learning curves from the checkpoints of one run, without retraining."""
    from codellama_lite.config import ModelConfig
    from codellama_lite.interop import export_hf
    from codellama_lite.model import Transformer

    checkpoint, out = Path(checkpoint), Path(out)
    model = Transformer(ModelConfig.from_dict(read_state(checkpoint)["model_config"]))
    load_model_state(checkpoint, model)
    export_hf(model, out)
    shutil.copyfile(checkpoint / "tokenizer.model", out / "tokenizer.model")
    return out


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
