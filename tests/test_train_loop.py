"""The trainer (issue 8): recipes, schedule, loss normalisation, exact resume after ``kill -9``, export, bad input."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from codellama_lite.support.profiles import PROFILES
from codellama_lite.train import dry_run, load_recipe, read_metrics, recipe_names, train
from codellama_lite.train.optim import lr_at
from codellama_lite.train.recipe import OptimSection

# Small and fast: a shared tokenizer, a few documents, the tiny model.
FAST = ["data.max_documents=12", "train.eval_windows=4", "train.threads=1"]


@pytest.fixture(scope="module")
def fast(small_tokenizer):
    return FAST + [f'tokenizer.path="{small_tokenizer.model_path}"']


def _cli(*args: str, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "codellama_lite", *args], capture_output=True, text=True,
                          timeout=600, **kwargs)


def _sets(overrides: list[str]) -> list[str]:
    return [arg for item in overrides for arg in ("--set", item)]


def _losses(run: Path) -> list[float]:
    return [row["loss"] for row in read_metrics(run)]


# -- recipes ------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("profile", PROFILES)
def test_every_shipped_recipe_loads_and_dry_runs_on_meta(profile):
    assert "base" in recipe_names()
    for name in recipe_names():
        recipe = load_recipe(name, profile)
        report = dry_run(recipe, world_size=1)
        assert report["parameters"] > 0 and report["tokens"] == recipe.train.max_steps * report["tokens_per_step"]
        assert report["tokens_per_step"] == (report["micro_batch"] * report["seq_len"] * report["accumulation"]
                                             * report["world_size"])


def test_the_gpu_base_recipe_is_the_papers_7b_run():
    recipe = load_recipe("base", "gpu")
    report = dry_run(recipe, world_size=64)
    assert report["parameters"] == 6_738_546_688  # 7B with the 32,016-token FIM vocabulary
    assert report["seq_len"] == 4096 and abs(report["tokens_per_step"] - 4e6) / 4e6 < 0.05
    assert abs(report["tokens"] - 500e9) / 500e9 < 0.01
    assert recipe.optim.lr == 3e-4 and recipe.optim.beta2 == 0.95 and recipe.optim.weight_decay == 0.1
    assert recipe.data.fim_rate == 0.9 and recipe.data.weights == {"code": 0.85, "nl_code": 0.08, "nl": 0.07}


@pytest.mark.parametrize("override, message", [
    (["train.max_stepz=3"], "max_stepz"),
    (["train.max_steps=ten"], "max_steps"),
    (["optim.lr=-1.0"], "lr"),
    (["model.preset=huge"], "huge"),
    (["data.fim_rat=0.5"], "fim_rat"),
    (["nonsense"], "KEY=VALUE"),
])
def test_bad_recipe_values_name_the_key(override, message):
    with pytest.raises(ValueError, match=message):
        load_recipe("base", "smoke", override)


def test_overrides_are_typed():
    recipe = load_recipe("base", "smoke", ["train.max_steps=7", "optim.lr=1e-3", "train.compile=true"])
    assert recipe.train.max_steps == 7 and recipe.optim.lr == 1e-3 and recipe.train.compile is True


def test_a_global_batch_that_does_not_split_is_refused():
    recipe = load_recipe("base", "smoke", ["train.global_batch=6", "train.micro_batch=4"])
    with pytest.raises(ValueError, match="global_batch"):
        recipe.batch_arithmetic(1)


# -- the schedule ---------------------------------------------------------------------------------------------------

def test_schedule_warms_up_linearly_then_decays_by_cosine_to_peak_over_30():
    optim = OptimSection(lr=3e-4, warmup_steps=10, min_lr_ratio=1 / 30)
    assert lr_at(5, 110, optim) == pytest.approx(1.5e-4)
    assert lr_at(10, 110, optim) == pytest.approx(3e-4)
    assert lr_at(60, 110, optim) == pytest.approx(1e-5 + 0.5 * (3e-4 - 1e-5))
    assert lr_at(110, 110, optim) == pytest.approx(1e-5)
    assert all(lr_at(s, 110, optim) >= lr_at(s + 1, 110, optim) for s in range(10, 110))


# -- training runs ------------------------------------------------------------------------------------------------

@pytest.mark.slow
def test_accumulation_does_not_change_the_losses(tmp_path, fast):
    """The loss is normalised by the global target-token count: 2 × 4 sequences = 1 × 8 sequences."""
    runs = {}
    for micro in (4, 8):
        recipe = load_recipe("base", "smoke", fast + [f"train.micro_batch={micro}", "train.global_batch=8",
                                                      "train.max_steps=4", "train.checkpoint_every=0",
                                                      "train.cpu_kernels=false"])
        train(recipe, tmp_path / str(micro), progress=False)
        runs[micro] = _losses(tmp_path / str(micro))
    assert len(runs[4]) == 4
    for a, b in zip(runs[4], runs[8]):
        assert abs(a - b) <= 1e-5 * abs(b)


def test_training_lowers_the_loss_and_exports_a_transformers_model(tmp_path, fast):
    from transformers import LlamaForCausalLM

    from codellama_lite.interop import import_hf

    recipe = load_recipe("base", "smoke", fast + ["train.max_steps=12", "train.eval_every=6"])
    final = train(recipe, tmp_path / "run", progress=False)
    rows = read_metrics(tmp_path / "run")
    assert [row["step"] for row in rows] == list(range(1, 13))
    assert {"loss", "lr", "grad_norm", "tokens_per_s", "elapsed_s", "eta_s"} <= rows[0].keys()
    assert rows[-1]["loss"] < rows[0]["loss"] and rows[-1]["val_loss"] < rows[5]["val_loss"]
    assert {"config.json", "model.safetensors", "tokenizer.model"} <= {p.name for p in final.iterdir()}
    ours = import_hf(final).eval()
    theirs = LlamaForCausalLM.from_pretrained(final).eval()
    tokens = torch.tensor([[1, 5, 9, 200, 13]])
    with torch.no_grad():
        assert (ours(tokens) - theirs(tokens).logits).abs().max().item() < 1e-4


@pytest.mark.slow
def test_the_default_paths_swap_no_kernels_and_cpu_kernels_opts_in(tmp_path, fast, monkeypatch):
    """The trainer and ``eval``'s loader run the model as built (plain ``nn.Linear``: no private ``torch.ops.mkldnn``
    operator); ``train.cpu_kernels = true`` applies :func:`codellama_lite.accel.use_cpu_kernels` from outside."""
    from codellama_lite import accel
    from codellama_lite.evaluation.generation import load_completer

    swapped: list[torch.nn.Module] = []
    monkeypatch.setattr(accel, "use_cpu_kernels", lambda model: swapped.append(model) or 0)
    final = train(load_recipe("base", "smoke", fast + ["train.max_steps=2", "train.checkpoint_every=0"]),
                  tmp_path / "plain", progress=False)
    model = load_completer(final).model
    assert swapped == []
    assert {type(module) for module in model.modules() if isinstance(module, torch.nn.Linear)} == {torch.nn.Linear}
    train(load_recipe("base", "smoke", fast + ["train.max_steps=2", "train.checkpoint_every=0",
                                               "train.cpu_kernels=true"]), tmp_path / "opted", progress=False)
    assert len(swapped) == 1


@pytest.mark.slow
def test_a_kept_checkpoint_exports_for_eval(tmp_path, fast):
    from codellama_lite.cli import main
    from codellama_lite.interop import import_hf

    recipe = load_recipe("base", "smoke", fast + ["train.max_steps=6", "train.checkpoint_every=3"])
    final = train(recipe, tmp_path / "run", progress=False)
    for step in (3, 6):
        assert main(["train", "--export-checkpoint", str(tmp_path / "run" / f"step-{step:08d}"),
                     "--out", str(tmp_path / f"step{step}")]) == 0
    last, middle, exported = (import_hf(path).state_dict() for path in (final, tmp_path / "step6", tmp_path / "step3"))
    assert all(torch.equal(last[name], middle[name]) for name in last)  # the last checkpoint is the final model
    assert not all(torch.equal(last[name], exported[name]) for name in last)
    assert (tmp_path / "step3" / "tokenizer.model").read_bytes() == (final / "tokenizer.model").read_bytes()


def test_a_folder_that_holds_a_run_is_not_overwritten(tmp_path, fast):
    recipe = load_recipe("base", "smoke", fast + ["train.max_steps=2"])
    train(recipe, tmp_path, progress=False)
    before = (tmp_path / "metrics.jsonl").read_text()
    with pytest.raises(ValueError, match="--resume"):
        train(recipe, tmp_path, progress=False)
    assert (tmp_path / "metrics.jsonl").read_text() == before


def test_resume_with_another_recipe_is_refused(tmp_path, fast):
    train(load_recipe("base", "smoke", fast + ["train.max_steps=2"]), tmp_path, progress=False)
    with pytest.raises(ValueError, match="optim.lr"):
        train(load_recipe("base", "smoke", fast + ["train.max_steps=2", "optim.lr=0.1"]), tmp_path, resume=True,
              progress=False)


@pytest.mark.slow
def test_a_corrupt_checkpoint_is_named(tmp_path, fast):
    recipe = load_recipe("base", "smoke", fast + ["train.max_steps=2", "train.checkpoint_every=1"])
    train(recipe, tmp_path, progress=False)
    newest = sorted(tmp_path.glob("step-*"))[-1]
    for shard in tmp_path.glob("step-*/*.distcp"):  # every checkpoint damaged: nothing to fall back to
        shard.write_bytes(shard.read_bytes()[:100])
    with pytest.raises(ValueError, match=newest.name):
        train(recipe, tmp_path, resume=True, progress=False)


def test_a_checkpoint_with_other_tensor_names_is_named(tmp_path):
    """A checkpoint whose model tensors are named otherwise (another layout) is refused by name, not as corrupt."""
    import torch.distributed.checkpoint as dcp

    from codellama_lite.config import ModelConfig
    from codellama_lite.model import Transformer
    from codellama_lite.train.checkpoint import load_model_state

    model = Transformer(ModelConfig.preset("tiny"))
    renamed = {name.replace("attention.wq.", "attention.query."): t for name, t in model.state_dict().items()}
    dcp.save({"model": renamed}, checkpoint_id=str(tmp_path / "step"))
    with pytest.raises(ValueError, match=r"no tensor 'layers.0.attention.wq.weight' \(2 of"):
        load_model_state(tmp_path / "step", model)
    dcp.save({"model": model.state_dict()}, checkpoint_id=str(tmp_path / "good"))
    load_model_state(tmp_path / "good", Transformer(ModelConfig.preset("tiny")))


def test_a_tokenizer_larger_than_the_model_is_refused(tmp_path, fast):
    recipe = load_recipe("base", "smoke", fast + ["model.vocab_size=100"])
    with pytest.raises(ValueError, match="vocab_size"):
        train(recipe, tmp_path, progress=False)


@pytest.mark.slow
def test_kill_9_then_resume_reproduces_the_uninterrupted_losses_bit_for_bit(tmp_path, fast):
    args = ["train", "--recipe", "base", "--profile", "smoke", "--max-steps", "30", "--checkpoint-every", "5",
            "--no-progress", *_sets(fast)]
    reference = _cli(*args, "--out", str(tmp_path / "reference"))
    assert reference.returncode == 0, reference.stderr[-2000:]

    killed_dir = tmp_path / "killed"
    process = subprocess.Popen([sys.executable, "-m", "codellama_lite", *args, "--out", str(killed_dir)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and process.poll() is None:
        if (killed_dir / "metrics.jsonl").exists() and len(read_metrics(killed_dir)) >= 12:
            os.kill(process.pid, signal.SIGKILL)
            break
        time.sleep(0.01)
    process.wait()
    assert process.returncode == -signal.SIGKILL, "the run ended before it could be killed"
    assert not (killed_dir / "final").exists()

    resumed = _cli(*args, "--out", str(killed_dir), "--resume")
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert _losses(killed_dir) == _losses(tmp_path / "reference")  # bit for bit, every step
    assert [r["step"] for r in read_metrics(killed_dir)] == list(range(1, 31))
