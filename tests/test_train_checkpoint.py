"""Checkpoints a killed run can trust (codellama_lite.train.checkpoint): checksums, fallback, kill -9 at any moment."""

from __future__ import annotations

import os
import pickle
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from codellama_lite.train import load_recipe, read_metrics, train
from codellama_lite.train.checkpoint import checkpoint_dirs, verify_checkpoint

FAST = ["data.max_documents=12", "train.eval_windows=4", "train.threads=1"]


@pytest.fixture(scope="module")
def fast(small_tokenizer):
    return FAST + [f'tokenizer.path="{small_tokenizer.model_path}"']


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory, fast) -> Path:
    run = tmp_path_factory.mktemp("run") / "run"
    train(load_recipe("base", "smoke", fast + ["train.max_steps=2", "train.checkpoint_every=1"]), run,
          progress=False)
    return run


def _flip(path: Path, offset: int) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0xFF
    path.write_bytes(bytes(data))


def test_a_flipped_byte_in_any_file_of_a_checkpoint_is_detected(tmp_path, finished_run):
    original = finished_run / "step-00000002"
    names = sorted(path.name for path in original.iterdir())
    assert {"checksums.json", "train_state.json", "tokenizer.model", ".metadata"} <= set(names)
    assert any(name.endswith(".distcp") for name in names)
    verify_checkpoint(original)
    rng = random.Random(0)
    for name in names:
        for offset in (0, len((original / name).read_bytes()) - 1, None):
            copy = tmp_path / f"{name}-{offset}"
            shutil.copytree(original, copy)
            size = (copy / name).stat().st_size
            _flip(copy / name, rng.randrange(size) if offset is None else offset)
            with pytest.raises(ValueError, match="checksum|damaged|missing"):
                verify_checkpoint(copy)
            shutil.rmtree(copy)


def test_a_flipped_byte_in_any_file_of_an_export_is_detected(tmp_path, finished_run):
    from codellama_lite.interop import import_hf

    original = finished_run / "final"
    import_hf(original)
    for path in sorted(original.iterdir()):
        copy = tmp_path / path.name
        shutil.copytree(original, copy)
        _flip(copy / path.name, (copy / path.name).stat().st_size // 2)
        with pytest.raises(ValueError, match="checksum|damaged"):
            import_hf(copy)


def test_a_damaged_newest_checkpoint_falls_back_to_the_previous_one_saying_which_and_why(tmp_path, finished_run,
                                                                                          fast, capsys):
    run = tmp_path / "run"
    shutil.copytree(finished_run, run)
    reference = (run / "final" / "model.safetensors").read_bytes()
    shutil.rmtree(run / "final")
    shard = next((run / "step-00000002").glob("*.distcp"))
    _flip(shard, shard.stat().st_size // 2)
    capsys.readouterr()
    train(load_recipe("base", "smoke", fast + ["train.max_steps=2", "train.checkpoint_every=1"]), run, resume=True,
          progress=False)
    said = capsys.readouterr().out
    assert "resuming from step-00000001" in said and "step-00000002 is damaged" in said and shard.name in said
    assert (run / "final" / "model.safetensors").read_bytes() == reference  # step 2 trained again, exactly
    verify_checkpoint(run / "step-00000002")


# -- kill -9 at random moments -----------------------------------------------------------------------------------------

STEPS, EVERY, KILLS = 6, 1, 20


def _command(fast: list[str], out: Path, *flags: str) -> list[str]:
    sets = [arg for item in fast for arg in ("--set", item)]
    return [sys.executable, "-m", "codellama_lite", "train", "--recipe", "base", "--profile", "smoke", "--max-steps",
            str(STEPS), "--checkpoint-every", str(EVERY), "--no-progress", *sets, "--out", str(out), *flags]


def _phase(out: Path) -> str:
    """What the killed run was doing, read from what it left."""
    if not out.exists() or (out / ".staging").exists():
        return "set-up"
    if (out / ".final.partial").exists():
        return "export"
    if list(out.glob(".step-*.partial")):
        return "checkpoint"
    return "step"


@pytest.mark.slow
def test_kill_9_at_random_moments_then_resume_is_bit_exact_every_time(tmp_path, fast):
    """Runs are SIGKILLed at random moments (set-up, mid-step, mid-checkpoint, mid-export), each resumed — and killed
    again — until it finishes; each finished run must equal the uninterrupted one bit for bit: every step's loss,
    the exported weights, the last checkpoint's files."""
    start = time.monotonic()
    reference = tmp_path / "reference"
    subprocess.run(_command(fast, reference), check=True, capture_output=True, timeout=600)
    duration = time.monotonic() - start
    expected = [row["loss"] for row in read_metrics(reference)]
    weights = (reference / "final" / "model.safetensors").read_bytes()
    rng, phases, kills, runs = random.Random(26), [], 0, 0
    while kills < KILLS:
        out = tmp_path / f"killed-{runs}"
        runs += 1
        for _ in range(4):  # up to four kills of this run, then it finishes
            flags = ("--resume",) if (out / "run.json").exists() else ()
            process = subprocess.Popen(_command(fast, out, *flags), stdout=subprocess.DEVNULL,
                                       stderr=subprocess.DEVNULL)
            time.sleep(rng.uniform(0.3, 1.0) * duration)
            if process.poll() is not None:
                break  # finished before the kill
            os.kill(process.pid, signal.SIGKILL)
            process.wait()
            kills += 1
            phases.append(_phase(out))
        flags = ("--resume",) if (out / "run.json").exists() else ()
        finished = subprocess.run(_command(fast, out, *flags), capture_output=True, text=True, timeout=600)
        assert finished.returncode == 0, finished.stderr[-2000:]
        assert [row["loss"] for row in read_metrics(out)] == expected, phases
        assert [row["step"] for row in read_metrics(out)] == list(range(1, STEPS + 1))
        assert (out / "final" / "model.safetensors").read_bytes() == weights
        for checkpoint in checkpoint_dirs(out):
            verify_checkpoint(checkpoint)
    print(f"{kills} kills over {runs} runs in {time.monotonic() - start:.0f} s; phases: "
          f"{ {phase: phases.count(phase) for phase in sorted(set(phases))} }")


def test_saving_before_the_first_step_leaves_adamw_as_fresh(tmp_path):
    """DCP fills an empty optimizer state by stepping it; the first real update must still be a fresh AdamW's."""
    import copy

    import torch

    from codellama_lite.config import ModelConfig
    from codellama_lite.model import Transformer
    from codellama_lite.train.checkpoint import save_checkpoint
    from codellama_lite.train.distributed import World

    torch.manual_seed(0)
    saved = Transformer(ModelConfig.preset("tiny", vocab_size=64, n_layers=1, max_seq_len=16))
    fresh = copy.deepcopy(saved)
    optimizers = [torch.optim.AdamW(model.parameters(), lr=1e-2, foreach=True) for model in (saved, fresh)]
    tokenizer = tmp_path / "tokenizer.model"
    tokenizer.write_bytes(b"")
    save_checkpoint(tmp_path / "run", 0, saved, optimizers[0], {}, {}, tokenizer, World(0, 1, torch.device("cpu")), 2)
    batch = torch.randint(0, 64, (2, 9))
    for model, optimizer in zip((saved, fresh), optimizers):
        model(batch[:, :-1]).logsumexp(-1).mean().backward()
        optimizer.step()
    assert all(state["step"].item() == 1 for state in optimizers[0].state.values())
    for mine, theirs in zip(saved.parameters(), fresh.parameters()):
        torch.testing.assert_close(mine, theirs)


def _checkpoint_tensors(folder: Path, tmp_path: Path) -> dict[str, object]:
    """Everything a DCP checkpoint holds (model, optimizer, each rank's pickled state), read back with DCP's own
    converter."""
    import torch
    from torch.distributed.checkpoint.format_utils import dcp_to_torch_save

    target = tmp_path / f"{folder.parent.name}-{folder.name}.pt"
    dcp_to_torch_save(str(folder), str(target))
    flat: dict[str, object] = {}

    def walk(prefix: str, value: object) -> None:
        if isinstance(value, dict):
            for key, item in value.items():
                walk(f"{prefix}.{key}", item)
        elif isinstance(value, bytes | bytearray):  # a rank's pickled data position and random states
            flat[prefix] = pickle.loads(value)
        else:
            flat[prefix] = value

    walk("", torch.load(target, weights_only=False))
    return flat


def _same(a: object, b: object) -> bool:
    """Equal values, looking inside containers, tensors and arrays."""
    import numpy as np
    import torch

    if isinstance(a, torch.Tensor):
        return isinstance(b, torch.Tensor) and torch.equal(a, b)
    if isinstance(a, np.ndarray):
        return isinstance(b, np.ndarray) and np.array_equal(a, b)
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list | tuple):
        return type(a) is type(b) and len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    return a == b


def test_a_checkpoint_written_in_the_background_holds_the_state_of_its_step(tmp_path, fast):
    runs = {}
    for name, extra in (("inline", []), ("background", ["train.async_checkpoint=true"])):
        runs[name] = tmp_path / name
        recipe = load_recipe("base", "smoke", fast + ["train.max_steps=4", "train.checkpoint_every=2",
                                                      "train.keep_last=5", *extra])
        train(recipe, runs[name], progress=False)
    # Step 2 was written while steps 3 and 4 changed the model: the files must still hold step 2.
    inline = _checkpoint_tensors(runs["inline"] / "step-00000002", tmp_path)
    background = _checkpoint_tensors(runs["background"] / "step-00000002", tmp_path)
    assert inline.keys() == background.keys() and any(".model." in key for key in inline)
    for key, value in inline.items():
        assert _same(value, background[key]), key
    verify_checkpoint(runs["background"] / "step-00000002")
    # ... and a run resumed from it ends where the uninterrupted one did.
    reference = (runs["background"] / "final" / "model.safetensors").read_bytes()
    for later in ("final", "step-00000004"):
        shutil.rmtree(runs["background"] / later)
    train(load_recipe("base", "smoke", fast + ["train.max_steps=4", "train.checkpoint_every=2", "train.keep_last=5",
                                               "train.async_checkpoint=true"]), runs["background"], resume=True,
          progress=False)
    assert (runs["background"] / "final" / "model.safetensors").read_bytes() == reference


def test_checkpoints_follow_the_clock_as_well_as_the_step_count(tmp_path, fast):
    names = {}
    for minutes in (0, 1e-9):  # 1e-9 minutes: every step is later than that
        run = tmp_path / f"run-{minutes}"
        train(load_recipe("base", "smoke", fast + ["train.max_steps=3", "train.checkpoint_every=0",
                                                   "train.keep_last=10", f"train.checkpoint_minutes={minutes}"]),
              run, progress=False)
        names[minutes] = [path.name for path in checkpoint_dirs(run)]
    assert names[0] == ["step-00000000", "step-00000003"]
    assert names[1e-9] == [f"step-{step:08d}" for step in range(4)]


def test_training_may_change_the_model_as_soon_as_a_background_write_has_begun(tmp_path):
    import torch

    from codellama_lite.train.checkpoint import load_checkpoint, start_checkpoint
    from codellama_lite.train.distributed import World

    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(64, 64), torch.nn.Linear(64, 8))
    optimizer = torch.optim.AdamW(model.parameters())
    saved = {name: value.clone() for name, value in model.state_dict().items()}
    tokenizer = tmp_path / "tokenizer.model"
    tokenizer.write_bytes(b"stand-in")
    world = World(0, 1, torch.device("cpu"))
    writing = start_checkpoint(tmp_path, 7, model, optimizer, {"data": {}}, {}, tokenizer, world, keep_last=2,
                               background=True)
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.add_(1.0)  # the next optimizer step, while the files are written
    folder = writing.finish()
    assert folder.name == "step-00000007"
    verify_checkpoint(folder)
    load_checkpoint(folder, model, optimizer, world)
    for name, value in model.state_dict().items():
        assert torch.equal(value, saved[name]), name
