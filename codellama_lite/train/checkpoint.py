"""Checkpoints that a killed run can trust (torchtitan's design): ``torch.distributed.checkpoint`` (DCP) folders.

``<run>/step-00000200/`` holds the model and optimizer (sharded per rank under FSDP2, whole on one process), each
rank's own data position and random-number states under its own key ``rank{r}`` (one shared key would hand every
rank one rank's state on load), and, from rank 0, ``train_state.json`` (step, recipe, model shape), the
``tokenizer.model`` and ``checksums.json``, the SHA-256 of every other file
(:func:`codellama_lite.support.fileio.write_checksums`). It is written as ``.step-00000200.partial/`` and renamed
only once complete, so a folder named ``step-*`` was whole when written; on resume the newest checkpoint whose
checksums still hold is the one continued, and a damaged newer one is named with the reason it was passed over
(:func:`newest_intact`). Only the last ``keep_last`` are kept. A run resumes at any world size
(:func:`load_checkpoint`). A checkpoint may be written in the background (:func:`start_checkpoint`): training goes
on while a thread writes a copy of the state, and the folder is renamed into place when the write is over.
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
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed.checkpoint as dcp
from torch.distributed.checkpoint.api import CheckpointException
from torch import nn
from torch.distributed.checkpoint.state_dict import get_state_dict, set_state_dict

from codellama_lite.config import ModelConfig
from codellama_lite.interop import export_hf
from codellama_lite.model import Transformer
from codellama_lite.support.fileio import atomic_open, verify_checksums, write_checksums
from codellama_lite.train.distributed import World, all_reduce_sum, barrier
from codellama_lite.train.rundir import check_new_output, staged_output

# One process saving or loading alone is intended here, not a mistake worth a warning on every checkpoint.
warnings.filterwarnings("ignore", message="torch.distributed is disabled, unavailable or uninitialized")

STEP_DIR = re.compile(r"^step-(\d{8})$")
STATE_FILE = "train_state.json"


def step_dir(run_dir: Path, step: int) -> Path:
    return run_dir / f"step-{step:08d}"


def checkpoint_dirs(run_dir: Path) -> list[Path]:
    """Every ``step-*`` folder in ``run_dir`` (each was complete when renamed into place), oldest first."""
    if not run_dir.is_dir():
        return []
    return sorted((path for path in run_dir.iterdir() if STEP_DIR.match(path.name) and path.is_dir()),
                  key=lambda path: path.name)


def complete_checkpoints(run_dir: Path) -> list[Path]:
    """Every checkpoint in ``run_dir`` that holds its train state, oldest first (not verified: see
    :func:`verify_checkpoint`)."""
    return [path for path in checkpoint_dirs(run_dir) if (path / STATE_FILE).is_file()]


def step_of(checkpoint: Path) -> int:
    return int(STEP_DIR.match(checkpoint.name).group(1))


def verify_checkpoint(checkpoint: Path) -> None:
    """Raise ``ValueError`` naming the first missing or changed file of ``checkpoint`` (its train state included)."""
    verify_checksums(checkpoint, required=True)
    if not (checkpoint / STATE_FILE).is_file():
        raise ValueError(f"{checkpoint / STATE_FILE}: missing")


def newest_intact(run_dir: Path, world: World, report=print) -> Path:
    """The newest checkpoint of ``run_dir`` whose every file matches its checksum (rank 0 reads, every rank gets
    the same answer). A newer damaged one is reported with its reason; none intact at all is an error, never a
    silent restart."""
    found, problems = checkpoint_dirs(run_dir), []
    chosen = -1.0
    if world.main:
        for checkpoint in reversed(found):
            try:
                verify_checkpoint(checkpoint)
            except ValueError as error:
                problems.append(f"{checkpoint.name} is damaged ({error})")
                continue
            chosen = float(step_of(checkpoint))
            break
        if problems and chosen >= 0:
            report(f"resuming from {step_dir(run_dir, int(chosen)).name}, the newest intact checkpoint: "
                   f"{'; '.join(problems)}", flush=True)
    chosen = all_reduce_sum(torch.tensor(chosen if world.main else 0.0, device=world.device), world).item()
    if chosen < 0:
        detail = "; ".join(problems) if problems else "no step-* folder"
        raise ValueError(f"{run_dir}: no intact checkpoint to resume from: {detail}")
    return step_dir(run_dir, int(chosen))


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
    return start_checkpoint(run_dir, step, model, optimizer, rank_state, shared, tokenizer_path, world, keep_last,
                            background=False).finish()


@dataclass
class PendingCheckpoint:
    """A checkpoint whose files are being written (in a background thread when ``background``): :meth:`finish`
    waits for the write, then puts the folder in place as :func:`save_checkpoint` does. Every rank calls it."""

    run_dir: Path
    step: int
    shared: dict[str, Any]
    tokenizer_path: Path
    world: World
    keep_last: int
    write: Future | None = None

    @property
    def partial(self) -> Path:
        return self.run_dir / f".step-{self.step:08d}.partial"

    def finish(self) -> Path:
        if self.write is not None:
            try:
                self.write.result()
            except (CheckpointException, Exception) as error:
                raise _write_error(error, self.partial) from None
        return _put_in_place(self)


def start_checkpoint(run_dir: Path, step: int, model: nn.Module, optimizer: torch.optim.Optimizer,
                     rank_state: dict[str, Any], shared: dict[str, Any], tokenizer_path: Path, world: World,
                     keep_last: int, *, background: bool) -> PendingCheckpoint:
    """Begin step ``step``'s checkpoint. With ``background``, DCP's ``async_save`` first copies the state into
    memory of its own (training may change the model at once) and writes the files in a thread, over a process
    group of its own (:func:`checkpoint_group`) so that its collectives never interleave with training's — the
    pattern of torchtitan's asynchronous checkpoints. Nothing is in place until :meth:`PendingCheckpoint.finish`."""
    pending = PendingCheckpoint(run_dir, step, shared, tokenizer_path, world, keep_last)
    if world.main and pending.partial.exists():
        shutil.rmtree(pending.partial)
    barrier(world)
    _start_optimizer_state(optimizer)
    model_state, optim_state = get_state_dict(model, optimizer)
    state = {"model": model_state, "optim": optim_state,
             f"rank{world.rank}": pickle.dumps({**rank_state, "rng": rng_state()})}
    try:
        if background:
            pending.write = dcp.async_save(state, checkpoint_id=str(pending.partial),
                                           process_group=checkpoint_group(world))
        else:
            dcp.save(state, checkpoint_id=str(pending.partial))
    except CheckpointException as error:  # DCP's own is a BaseException; the disk's error is inside it
        raise _write_error(error, pending.partial) from None
    return pending


_GROUPS: dict[int, Any] = {}


def checkpoint_group(world: World) -> Any:
    """A gloo process group for background checkpoint writes, one per default group (a process group set up again
    gets its own); ``None`` on one process."""
    if not world.distributed:
        return None
    key = id(torch.distributed.group.WORLD)
    if key not in _GROUPS:
        _GROUPS[key] = torch.distributed.new_group(backend="gloo")
    return _GROUPS[key]


def _write_error(error: BaseException, partial: Path) -> BaseException:
    return _os_error_in(error, partial) or RuntimeError(f"{partial}: writing the checkpoint failed: "
                                                        f"{_first_line(error)}")


def _put_in_place(pending: PendingCheckpoint) -> Path:
    """Rank 0 adds the train state, tokenizer and checksums, renames the folder into place and prunes old ones."""
    run_dir, world = pending.run_dir, pending.world
    final, partial = step_dir(run_dir, pending.step), pending.partial
    barrier(world)
    if world.main:
        shutil.copyfile(pending.tokenizer_path, partial / "tokenizer.model")
        with atomic_open(partial / STATE_FILE) as handle:
            json.dump({**pending.shared, "step": pending.step, "world_size": world.world_size}, handle, indent=1)
        write_checksums(partial)
        if final.exists():
            _discard(final)
        os.replace(partial, final)
        _fsync_dir(run_dir)
        for old in checkpoint_dirs(run_dir)[:-pending.keep_last]:
            _discard(old)
        for leftover in run_dir.glob(".step-*.discarded"):  # a kill during an earlier discard
            shutil.rmtree(leftover, ignore_errors=True)
    barrier(world)
    return final


def _discard(checkpoint: Path) -> None:
    """Remove a checkpoint folder so that a kill at any moment leaves it whole or gone: renamed out of the
    ``step-*`` names first (one atomic step), then deleted."""
    hidden = checkpoint.with_name(f".{checkpoint.name}.discarded")
    if hidden.exists():
        shutil.rmtree(hidden, ignore_errors=True)
    os.replace(checkpoint, hidden)
    shutil.rmtree(hidden, ignore_errors=True)


def _os_error_in(error: BaseException, where: Path) -> OSError | None:
    """The disk's own error (``No space left on device``) inside DCP's wrapper, naming ``where``; else ``None``."""
    failures = getattr(error, "failures", {}) or {}
    for failure, _ in failures.values():
        cause: BaseException | None = failure
        while cause is not None:
            if isinstance(cause, OSError) and cause.errno:
                return OSError(cause.errno, os.strerror(cause.errno), str(where))
            cause = cause.__cause__ or cause.__context__
    return None


def _first_line(error: BaseException) -> str:
    failures = getattr(error, "failures", None)
    if failures:
        error = next(iter(failures.values()))[0]
    text = str(error).strip()
    return f"{type(error).__name__}: {text.splitlines()[-1] if text else ''}"


def _start_optimizer_state(optimizer: torch.optim.Optimizer) -> None:
    """Give an optimizer that has not stepped yet AdamW's starting state (step 0, zero moments).

    ``get_state_dict`` fills an empty optimizer state by taking one step with zero gradients and learning rate 0; for
    AdamW that step counts, so the first real step's bias correction would be the second's (it moves the weights by
    about half as much as a fresh AdamW). With the state already there, nothing is stepped.
    """
    if optimizer.state:
        return
    for group in optimizer.param_groups:
        for param in group["params"]:
            optimizer.state[param] = {"step": torch.tensor(0.0), "exp_avg": torch.zeros_like(param),
                                      "exp_avg_sq": torch.zeros_like(param)}


def read_state(checkpoint: Path) -> dict[str, Any]:
    """``train_state.json`` of a checkpoint, with a clear error when it is unreadable."""
    path = checkpoint / STATE_FILE
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as error:
        raise ValueError(f"{path}: unreadable checkpoint state ({error})") from None


def load_checkpoint(checkpoint: Path, model: nn.Module, optimizer: torch.optim.Optimizer,
                    world: World, model_config: dict[str, Any] | None = None) -> dict[str, Any]:
    """Restore model, optimizer and this rank's RNG states in place; returns this rank's saved state.

    ``model_config`` (this run's model, as a dict) is compared with the checkpoint's first, so that another
    vocabulary or shape is reported as such rather than as a damaged file."""
    state_info = read_state(checkpoint)
    saved_world = state_info.get("world_size")
    if model_config is not None:
        check_same_model(checkpoint, state_info.get("model_config", {}), model_config)
    model_state, optim_state = get_state_dict(model, optimizer)
    _check_model_names(checkpoint, model_state)
    # DCP reshards model and optimizer to any world size. The data position is global (every rank packs the whole
    # global batch) and every rank's random states are equal, so another world size continues from rank 0's.
    key = f"rank{world.rank}" if saved_world == world.world_size else "rank0"
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


def check_same_model(checkpoint: Path, saved: dict[str, Any], ours: dict[str, Any]) -> None:
    """Refuse a checkpoint of another model, naming each differing field (a vocabulary first, as such)."""
    differ = [key for key in sorted(set(saved) | set(ours)) if saved.get(key) != ours.get(key)]
    if not differ:
        return
    details = ", ".join(f"{key} {saved.get(key)!r} in the checkpoint, {ours.get(key)!r} in this run" for key in differ)
    kind = "vocabulary mismatch" if "vocab_size" in differ else "model mismatch"
    raise ValueError(f"{checkpoint}: {kind}: {details} (was the tokenizer or the [model] section changed?)")


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
    checkpoint, out = Path(checkpoint), Path(out)
    if not checkpoint.is_dir():
        raise FileNotFoundError(f"checkpoint folder not found: {checkpoint}")
    check_new_output(out)
    verify_checkpoint(checkpoint)
    model = Transformer(ModelConfig.from_dict(read_state(checkpoint)["model_config"]))
    load_model_state(checkpoint, model)
    with staged_output(out) as staging:
        export_hf(model, staging)
        shutil.copyfile(checkpoint / "tokenizer.model", staging / "tokenizer.model")
        write_checksums(staging)
    return out


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
