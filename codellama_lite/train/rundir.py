"""A run folder that knows what it is: claimed safely, set up out of sight, resumed only with the same recipe.

**What ``--out`` may be.** A training run writes into ``--out`` only when it is absent, an empty folder, or a run of
the same recipe (continued with ``--resume``); anything else — a file, a user's own folder — is refused before a
byte is written (:func:`claim`).

**Staging.** A new run is set up (tokenizer, recipe, the step-0 checkpoint) in a staging folder — ``.NAME.staging``
beside an absent ``--out``, ``--out/.staging`` inside an empty one — and becomes the run only once that first
checkpoint exists (:meth:`RunFolder.promote`). A set-up that fails is removed; one that was killed leaves only the
staging folder, which the next start recognises as its own and clears.

**The record.** ``run.json``, written once when the run is born and never rewritten, holds the *resolved* recipe
(every key, defaults included: the data section as the :class:`~codellama_lite.data.DataConfig` it built, the model
as the :class:`~codellama_lite.config.ModelConfig` it trained), the tokenizer's SHA-256 and a fingerprint of the
training and validation documents. ``--resume`` compares all of it and refuses a mismatch naming every differing key:
a run never silently continues on another corpus, tokenizer or setting.

**Stopping.** :func:`stop_requests` turns Ctrl-C into "stop after this step": the trainer saves a checkpoint and
exits with :class:`TrainingInterrupted` ("resume with --resume"); a second Ctrl-C stops at once.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import signal
import sys
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import torch

from codellama_lite.support.fileio import atomic_open, sha256_file
from codellama_lite.train.distributed import World, all_reduce_sum, barrier

RUN_FILE = "run.json"
RECIPE_FILE = "recipe.json"
STAGING_INSIDE = ".staging"
# Recipe keys that may change when a run is resumed: they decide when checkpoints are written and kept, never what
# is trained. ``description`` is prose; ``source_file`` is where the recipe was read from; activation checkpointing
# recomputes the same values; the export dtype only decides how the final weights are written; data workers read
# the same windows as the training thread.
RESUMABLE_KEYS = frozenset({"train.checkpoint_every", "train.keep_last", "description", "source_file",
                            "train.activation_checkpointing", "train.export_dtype", "train.checkpoint_minutes",
                            "train.async_checkpoint", "train.data_workers"})

Resume = bool | Literal["auto"]


class TrainingInterrupted(KeyboardInterrupt):
    """Training stopped on request after a step whose checkpoint was saved; the message says how to go on."""


def staging_beside(out: Path) -> Path:
    return out.parent / f".{out.name}.staging"


# -- what --out holds --------------------------------------------------------------------------------------------------


def _entries(folder: Path) -> list[str]:
    return sorted(path.name for path in folder.iterdir())


def check_new_output(out: Path) -> None:
    """Refuse an output folder that exists and is not empty (or is a file), before anything is written."""
    if out.exists() and not out.is_dir():
        raise ValueError(f"{out} is a file, not a folder; choose a folder for --out")
    if out.is_dir() and _entries(out):
        raise ValueError(f"{out} is not empty ({_listing(_entries(out))}); choose an empty or new folder for --out")


def _listing(names: list[str], most: int = 5) -> str:
    shown = ", ".join(names[:most])
    return shown + (f" and {len(names) - most} more" if len(names) > most else "")


def _kind(out: Path) -> str:
    """``absent``, ``empty`` (nothing, or only a killed set-up's staging folder), ``run``, ``file`` or ``foreign``."""
    if not out.exists():
        return "absent"
    if not out.is_dir():
        return "file"
    if (out / RUN_FILE).is_file():
        return "run"
    return "empty" if _entries(out) in ([], [STAGING_INSIDE]) else "foreign"


def _check_writable(folder: Path) -> None:
    if not os.access(folder, os.W_OK | os.X_OK):
        raise PermissionError(13, "Permission denied (cannot write there)", str(folder))


@dataclass
class RunFolder:
    """Where a run lives (``out``), where it is being set up (``work``: the staging folder until the first
    checkpoint, then ``out``), and whether it continues an existing run (``resuming``)."""

    out: Path
    work: Path
    resuming: bool
    world: World

    @property
    def staged(self) -> bool:
        return self.work != self.out

    def promote(self) -> Path:
        """Make the staged set-up the run (rank 0 renames; every rank then works in ``out``)."""
        if self.staged and self.world.main:
            if self.work.parent == self.out:  # inside an empty --out: move each entry up, the record last
                names = sorted(_entries(self.work), key=lambda name: name == RUN_FILE)
                for name in names:
                    os.replace(self.work / name, self.out / name)
                self.work.rmdir()
            else:
                os.replace(self.work, self.out)
        barrier(self.world)
        self.work = self.out
        return self.out

    def abandon(self) -> None:
        """Remove a set-up that failed, leaving ``--out`` as it was."""
        if self.staged and self.world.main:
            shutil.rmtree(self.work, ignore_errors=True)

    def record(self, record: dict[str, Any], recipe: dict[str, Any]) -> None:
        """Write the run's record and its recipe into the staging folder (once: a run's record is never rewritten)."""
        if not self.staged:
            raise RuntimeError(f"{self.out}: the record of a run is written once, at its start")
        if self.world.main:
            for name, values in ((RECIPE_FILE, recipe), (RUN_FILE, record)):
                with atomic_open(self.work / name) as handle:
                    json.dump(values, handle, indent=1, sort_keys=True)
        barrier(self.world)

    def saved_record(self) -> dict[str, Any]:
        return read_record(self.out)


def claim(out: Path, resume: Resume, world: World) -> RunFolder:
    """Decide what to do with ``--out`` (every rank decides alike; rank 0 prepares the staging folder).

    ``resume``: ``False`` starts a new run (``out`` absent or empty), ``True`` continues the run ``out`` holds (an
    error when it holds none), ``"auto"`` does whichever applies. Anything else in ``out`` is refused untouched."""
    kind = _kind(out)
    barrier(world)  # every rank has looked before rank 0 creates anything
    if kind == "file":
        raise ValueError(f"--out {out} is a file, not a folder")
    if kind == "foreign":
        raise ValueError(f"--out {out} is not empty and holds no codellama-lite run (no {RUN_FILE}; found "
                         f"{_listing(_entries(out))}); nothing was written: choose an empty or new folder")
    if kind == "run":
        if resume is False:
            raise ValueError(f"{out} already holds a run; pass --resume to continue it or choose another --out")
        return RunFolder(out, out, True, world)
    if resume is True:
        raise ValueError(_nothing_to_resume(out, kind))
    work = out / STAGING_INSIDE if kind == "empty" else staging_beside(out)
    if world.main:
        _check_writable(out if kind == "empty" else _existing_parent(out))
        shutil.rmtree(work, ignore_errors=True)  # a killed set-up's leftovers: always ours, never the user's
        if kind == "absent":
            out.parent.mkdir(parents=True, exist_ok=True)
        work.mkdir()
    barrier(world)
    return RunFolder(out, work, False, world)


def _existing_parent(path: Path) -> Path:
    parent = path.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    return parent


def _nothing_to_resume(out: Path, kind: str) -> str:
    if staging_beside(out).exists() or (out / STAGING_INSIDE).exists():
        return (f"--resume: {out} holds no checkpoint yet (its run stopped during set-up, before the first one); "
                f"start it again without --resume")
    where = "does not exist" if kind == "absent" else "is empty"
    return f"--resume: no checkpoint to resume: {out} {where} (check the --out path, or start without --resume)"


@contextlib.contextmanager
def staged_output(out: Path) -> Iterator[Path]:
    """A staging folder for a whole output folder (an export): renamed to ``out`` when complete, removed on error."""
    check_new_output(out)
    staging = out / STAGING_INSIDE if out.is_dir() else staging_beside(out)
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    try:
        yield staging
        if out.is_dir():
            for name in _entries(staging):
                os.replace(staging / name, out / name)
            staging.rmdir()
        else:
            os.replace(staging, out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


# -- the record --------------------------------------------------------------------------------------------------------


def read_record(out: Path) -> dict[str, Any]:
    path = out / RUN_FILE
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise ValueError(f"{path}: unreadable run record ({error})") from None
    if not isinstance(record, dict) or not isinstance(record.get("recipe"), dict):
        raise ValueError(f"{path}: not a run record (expected an object with a 'recipe')")
    return record


def resolved_recipe(recipe: Any, data_config: Any) -> dict[str, Any]:
    """Every setting of ``recipe`` with the defaults filled in: its sections as dataclasses, the data section as the
    :class:`DataConfig` it resolves to (sources, weights and every default)."""
    values = recipe.resolved()
    values["data"] = data_config.model_dump(mode="json")
    return values


def run_record(resolved: dict[str, Any], model_config: dict[str, Any], tokenizer: Path,
               fingerprint: str) -> dict[str, Any]:
    return {"recipe": resolved, "model_config": model_config, "tokenizer_sha256": sha256_file(tokenizer),
            "data_fingerprint": fingerprint}


def data_fingerprint(train: Iterable[Any], valid: Iterable[Any]) -> str:
    """A SHA-256 over the training and validation documents (their order, source, path and text)."""
    digest = hashlib.sha256()
    for part, documents in (("train", train), ("valid", valid)):
        digest.update(part.encode())
        for document in documents:
            text = hashlib.sha256(document.text.encode("utf-8", "surrogatepass")).hexdigest()
            digest.update(f"\0{document.source}\0{document.path}\0{text}".encode("utf-8", "surrogatepass"))
    return digest.hexdigest()


def differences(saved: Any, ours: Any, prefix: str = "") -> list[str]:
    """Every key (dotted) whose value differs between two nested dicts, each as ``key: saved -> ours``."""
    if isinstance(saved, dict) and isinstance(ours, dict):
        found = []
        for key in sorted(set(saved) | set(ours), key=str):
            name = f"{prefix}{key}"
            if name in RESUMABLE_KEYS:
                continue
            if key not in saved or key not in ours:
                found.append(f"{name}: {_shown(saved, key)} -> {_shown(ours, key)}")
            else:
                found += differences(saved[key], ours[key], f"{name}.")
        return found
    return [] if saved == ours else [f"{prefix.rstrip('.')}: {saved!r} -> {ours!r}"]


def _shown(values: dict[str, Any], key: str) -> str:
    return repr(values[key]) if key in values else "(not set)"


def check_same_run(out: Path, saved: dict[str, Any], ours: dict[str, Any]) -> None:
    """Refuse to continue ``out`` with anything that differs from its record, naming every differing key (the parts
    of the record ``ours`` holds: the recipe alone can be checked before any data is read)."""
    ours = json.loads(json.dumps(ours))  # as it would read back from run.json (tuples as lists)
    differ = [line for key in ours for line in differences(saved.get(key), ours[key], "" if key == "recipe"
                                                           else f"{key}.")]
    if differ:
        raise ValueError(f"{out / RUN_FILE}: this run was started with other settings; --resume needs the same "
                         f"recipe, tokenizer and data. Differing (started -> now): {'; '.join(differ)}")


# -- stopping on request -----------------------------------------------------------------------------------------------


class StopRequest:
    """Set by Ctrl-C; :meth:`agreed` tells every rank at once (one all-reduce), so all stop after the same step."""

    def __init__(self) -> None:
        self.requested = False

    def agreed(self, world: World) -> bool:
        if not world.distributed:
            return self.requested

        flag = torch.tensor(1.0 if self.requested else 0.0, device=world.device)
        return all_reduce_sum(flag, world).item() > 0


@contextlib.contextmanager
def stop_requests() -> Iterator[StopRequest]:
    """Within the block, the first Ctrl-C asks to stop after the current step; a second one stops at once."""
    request = StopRequest()
    if threading.current_thread() is not threading.main_thread():
        yield request
        return

    def handler(signum: int, frame: Any) -> None:
        if request.requested:
            raise KeyboardInterrupt
        request.requested = True
        print("\nstopping after this step (Ctrl-C again to stop at once, losing the step)", file=sys.stderr,
              flush=True)

    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield request
    finally:
        signal.signal(signal.SIGINT, previous)


def interrupted(out: Path, step: int) -> TrainingInterrupted:
    return TrainingInterrupted(f"training stopped after step {step}; its checkpoint is saved in {out}; "
                               f"resume with --resume")
