"""FSDP2 across processes on CPU with gloo (issue 8): two processes give one process's losses for the same global
batch, and a two-process run resumes exactly from its sharded checkpoint, which also loads into one process.

torch 2.13's gloo processes abort now and then at exit, after ``destroy_process_group`` and after every result is
written ("terminate called without an active exception", about 1 run in 20): the tests judge a run by what it wrote,
and show its output when that is incomplete.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from codellama_lite.train import read_metrics

pytestmark = [pytest.mark.skipif(not torch.distributed.is_available() or not torch.distributed.is_gloo_available(),
                                 reason="torch.distributed with gloo is not available"),
              pytest.mark.slow]  # the module's runs train twice with two processes

STEPS = 6


def _args(tokenizer_path: str, out: Path) -> list[str]:
    return ["train", "--recipe", "base", "--profile", "smoke", "--out", str(out), "--max-steps", str(STEPS),
            "--checkpoint-every", "3", "--no-progress", "--set", "data.max_documents=12", "--set", "train.threads=1",
            "--set", "train.cpu_kernels=false", "--set", f'tokenizer.path="{tokenizer_path}"']


def _run(args: list[str], processes: int, resume: bool = False) -> None:
    launcher = ([sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={processes}",
                 "-m", "codellama_lite"] if processes > 1 else [sys.executable, "-m", "codellama_lite"])
    out = Path(args[args.index("--out") + 1])
    done = subprocess.run(launcher + args + (["--resume"] if resume else []), capture_output=True, text=True,
                          timeout=600)
    finished = (out / "final" / "config.json").exists() and len(read_metrics(out)) == STEPS
    assert finished, f"exit {done.returncode}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"


def _losses(run: Path) -> list[float]:
    return [row["loss"] for row in read_metrics(run)]


@pytest.fixture(scope="module")
def runs(tmp_path_factory, small_tokenizer):
    root = tmp_path_factory.mktemp("fsdp")
    tokenizer = str(small_tokenizer.model_path)
    _run(_args(tokenizer, root / "one"), 1)
    _run(_args(tokenizer, root / "two"), 2)
    return root, tokenizer


def test_two_processes_give_the_one_process_losses(runs):
    root, _ = runs
    one, two = _losses(root / "one"), _losses(root / "two")
    assert len(one) == STEPS
    for a, b in zip(one, two):
        assert abs(a - b) <= 1e-5 * abs(a)


def test_two_processes_resume_exactly_from_a_sharded_checkpoint(runs):
    root, tokenizer = runs
    resumed = root / "resumed"
    resumed.mkdir()
    for name in ("run.json", "recipe.json", "tokenizer.model", "metrics.jsonl", "step-00000003"):
        source = root / "two" / name
        (shutil.copytree if source.is_dir() else shutil.copyfile)(source, resumed / name)
    shards = list((resumed / "step-00000003").glob("*.distcp"))
    assert len(shards) == 2  # one file per rank: the state really is sharded
    _run(_args(tokenizer, resumed), 2, resume=True)
    assert _losses(resumed)[3:] == _losses(root / "two")[3:]  # bit for bit after the checkpoint


def test_a_sharded_checkpoint_loads_into_one_process(runs):
    from codellama_lite.config import ModelConfig
    from codellama_lite.interop import import_hf
    from codellama_lite.model import Transformer
    from codellama_lite.train.checkpoint import load_model_state, read_state

    root, _ = runs
    checkpoint = root / "two" / f"step-{STEPS:08d}"
    model = Transformer(ModelConfig.from_dict(read_state(checkpoint)["model_config"]))
    load_model_state(checkpoint, model)
    exported = import_hf(root / "two" / "final")
    for (name, ours), theirs in zip(model.state_dict().items(), exported.state_dict().values()):
        assert torch.equal(ours, theirs), name


@pytest.mark.parametrize("saved, resumed_with", [("two", 1), ("one", 2)])
def test_a_run_resumes_at_another_world_size(runs, saved, resumed_with):
    """The data position is global and DCP reshards: a checkpoint of 2 processes continues on 1 (and 1 on 2) with
    the losses of the run that was not interrupted (float32; only the order of the sums differs)."""
    root, tokenizer = runs
    resumed = root / f"{saved}-resumed-on-{resumed_with}"
    resumed.mkdir()
    for name in ("run.json", "recipe.json", "tokenizer.model", "metrics.jsonl", "step-00000003"):
        source = root / saved / name
        (shutil.copytree if source.is_dir() else shutil.copyfile)(source, resumed / name)
    _run(_args(tokenizer, resumed), resumed_with, resume=True)
    after, straight = _losses(resumed), _losses(root / saved)
    assert len(after) == STEPS
    for a, b in zip(after[3:], straight[3:]):
        assert abs(a - b) <= 1e-6 * abs(b), (after, straight)


@pytest.fixture(scope="module")
def prepared_runs(tmp_path_factory, small_tokenizer):
    """One and two processes streaming the same prepared folder (4 shards: each rank reads 2)."""
    import json

    from codellama_lite.data.prepared import prepare
    from codellama_lite.tokenizer import default_corpus_files

    root = tmp_path_factory.mktemp("prepared-fsdp")
    files = [path for path in default_corpus_files() if 300 < path.stat().st_size < 3_000][:60]
    with open(root / "code.jsonl", "w", encoding="utf-8") as handle:
        for path in files:
            handle.write(json.dumps({"content": path.read_text(encoding="utf-8")}) + "\n")
    prepare([root / "code.jsonl"], root / "prepared", shards=4, valid_fraction=0.0, workers=0)
    tokenizer = str(small_tokenizer.model_path)
    source = ["--set", f'data.sources={{code=["prepared:{root / "prepared"}"]}}', "--set", "data.weights={code=1.0}"]
    _run(_args(tokenizer, root / "one") + source, 1)
    # the two-process run writes its step-3 checkpoint in the background (its own gloo group), and resumes from it
    _run(_args(tokenizer, root / "two") + source + ["--set", "train.async_checkpoint=true"], 2)
    return root, tokenizer, source


def test_two_processes_streaming_prepared_shards_give_the_one_process_losses_and_resume_exactly(prepared_runs):
    root, tokenizer, source = prepared_runs
    one, two = _losses(root / "one"), _losses(root / "two")
    assert len(one) == STEPS and len(set(one)) > 1
    for a, b in zip(one, two):
        assert abs(a - b) <= 1e-5 * abs(a)
    resumed = root / "resumed"
    resumed.mkdir()
    for name in ("run.json", "recipe.json", "tokenizer.model", "metrics.jsonl", "step-00000003"):
        path = root / "two" / name
        (shutil.copytree if path.is_dir() else shutil.copyfile)(path, resumed / name)
    _run(_args(tokenizer, resumed) + source, 2, resume=True)
    assert _losses(resumed)[3:] == two[3:]  # the readers' positions came back with the checkpoint
