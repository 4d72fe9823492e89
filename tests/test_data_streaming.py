"""Background readers for prepared corpora (codellama_lite.data.prefetch, ``train.data_workers``): any number of
reader processes gives the in-process reader's windows in its order, the position saved is the one consumed (not
what the workers read ahead), a training run with workers gives the losses of one without and resumes bit for bit
from a checkpoint saved with or without them, and no worker process outlives its stream or its run.

Each stream or run here starts spawned reader processes, which import torch: a few seconds each on an idle machine.
"""

from __future__ import annotations

import json
import multiprocessing
import shutil
from pathlib import Path

import pytest
import torch

from codellama_lite.data import DataConfig
from codellama_lite.data.prefetch import ReadAheadStream
from codellama_lite.data.prepared import open_prepared
from codellama_lite.data.streaming import ShardStream

slow = pytest.mark.slow  # spawned reader processes: tens of seconds on a busy 2-core machine
STEPS, RESUME_AT = 4, 2


def _config(folder: Path) -> DataConfig:
    return DataConfig(sources={"code": [f"prepared:{folder}"]}, weights={"code": 1.0}, seq_len=256, fim_rate=0.9)


def _streams(folder: Path, tokenizer, workers: int, batch: int = 8) -> tuple[ShardStream, ReadAheadStream]:
    """The in-process reader and one with ``workers``; ``batch`` > 4 lanes: each worker item holds several windows
    per lane, so that the queues hold windows read ahead of the position."""
    config = _config(folder)
    return (ShardStream(open_prepared(config), tokenizer, config),
            ReadAheadStream(open_prepared(config), tokenizer, config, workers=workers, batch_size=batch))


@slow
@pytest.mark.parametrize("workers", [1, 2])
def test_workers_give_the_in_process_windows_and_save_the_consumed_position(code_folder, small_tokenizer, workers):
    here, ahead = _streams(code_folder, small_tokenizer, workers)
    before = set(multiprocessing.active_children())
    with ahead:
        for batch in range(8):
            assert torch.equal(ahead.next_batch(3), here.next_batch(3)), batch
            assert ahead.state_dict() == here.state_dict(), batch  # consumed, not read ahead
        assert len(set(multiprocessing.active_children()) - before) == workers
        assert ahead.realized_shares() == here.realized_shares() and ahead.fim_documents == here.fim_documents
        assert ahead.fim_documents > 0
    assert set(multiprocessing.active_children()) <= before  # close() stopped every worker


@slow
def test_a_state_moves_between_readers_with_and_without_workers(code_folder, small_tokenizer):
    here, ahead = _streams(code_folder, small_tokenizer, 2)
    for _ in range(5):
        here.next_batch(3)
    saved = json.loads(json.dumps(here.state_dict()))  # as a checkpoint stores it
    expected = torch.cat([here.next_batch(3) for _ in range(6)])
    with ahead:
        ahead.next_batch(3)  # the workers run, and read ahead, from the start...
        ahead.load_state_dict(saved)  # ...and start again from the saved position
        assert torch.equal(torch.cat([ahead.next_batch(3) for _ in range(3)]), expected[:9])
        moved = json.loads(json.dumps(ahead.state_dict()))
    back, _ = _streams(code_folder, small_tokenizer, 1)
    back.load_state_dict(moved)
    assert torch.equal(torch.cat([back.next_batch(3) for _ in range(3)]), expected[9:])


# -- training --------------------------------------------------------------------------------------------------


def _recipe(folder: Path, tokenizer, workers: int):
    from codellama_lite.train import load_recipe

    return load_recipe("base", "smoke", {"data.sources": {"code": [f"prepared:{folder}"]},
                                         "data.weights": {"code": 1.0}, "train.threads": 1,
                                         "train.cpu_kernels": False, "tokenizer.path": str(tokenizer.model_path),
                                         "train.max_steps": STEPS, "train.checkpoint_every": RESUME_AT,
                                         "train.data_workers": workers})


def _losses(run: Path) -> list[float]:
    from codellama_lite.train import read_metrics

    return [row["loss"] for row in read_metrics(run)]


def _resumed_copy(run: Path, out: Path, folder: Path, tokenizer, workers: int) -> list[float]:
    """``run`` cut at its step-``RESUME_AT`` checkpoint (what a kill after that step leaves) and resumed."""
    from codellama_lite.train import train

    out.mkdir()
    for name in ("run.json", "recipe.json", "tokenizer.model", "metrics.jsonl", f"step-{RESUME_AT:08d}"):
        source = run / name
        (shutil.copytree if source.is_dir() else shutil.copyfile)(source, out / name)
    train(_recipe(folder, tokenizer, workers), out, resume=True, progress=False)
    return _losses(out)


@slow
def test_training_with_workers_matches_and_resumes_bit_for_bit_either_way(code_folder, small_tokenizer, tmp_path):
    from codellama_lite.train import train

    before = set(multiprocessing.active_children())
    runs = {workers: tmp_path / f"workers-{workers}" for workers in (0, 2)}
    for workers, out in runs.items():
        train(_recipe(code_folder, small_tokenizer, workers), out, progress=False)
    with_workers, without = _losses(runs[2]), _losses(runs[0])
    assert len(with_workers) == STEPS and len(set(with_workers)) > 1
    assert with_workers == without  # the same windows, in the same order
    saved_with = _resumed_copy(runs[2], tmp_path / "saved-with-2-resumed-with-0", code_folder, small_tokenizer, 0)
    assert saved_with[RESUME_AT:] == with_workers[RESUME_AT:]
    saved_without = _resumed_copy(runs[0], tmp_path / "saved-with-0-resumed-with-2", code_folder, small_tokenizer, 2)
    assert saved_without[RESUME_AT:] == without[RESUME_AT:]
    assert set(multiprocessing.active_children()) <= before  # every run stopped its workers


@slow
def test_a_failing_run_stops_its_workers(code_folder, small_tokenizer, tmp_path, monkeypatch):
    from codellama_lite.train import loop, train

    def fail(*args, **kwargs):
        raise RuntimeError("a step failed")

    monkeypatch.setattr(loop, "train_step", fail)
    before = set(multiprocessing.active_children())
    with pytest.raises(RuntimeError, match="a step failed"):
        train(_recipe(code_folder, small_tokenizer, 2), tmp_path / "run", progress=False)
    assert set(multiprocessing.active_children()) <= before


def test_workers_are_refused_for_sources_read_into_memory(small_tokenizer, tmp_path):
    from codellama_lite.train import load_recipe, train

    recipe = load_recipe("base", "smoke", {"tokenizer.path": str(small_tokenizer.model_path), "train.max_steps": 1,
                                           "data.max_documents": 12, "train.data_workers": 2})
    with pytest.raises(ValueError, match=r"train\.data_workers = 2: .* prepared: sources only"):
        train(recipe, tmp_path / "run", progress=False)
