"""The run folder (codellama_lite.train.rundir): what --out may be, staging, the record a resume must match."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from codellama_lite.train import load_recipe, read_metrics, train
from codellama_lite.train.rundir import RUN_FILE, differences, staging_beside

FAST = ["data.max_documents=12", "train.eval_windows=4", "train.threads=1"]


@pytest.fixture(scope="module")
def fast(small_tokenizer):
    return FAST + [f'tokenizer.path="{small_tokenizer.model_path}"']


def _recipe(fast, *extra: str):
    return load_recipe("base", "smoke", fast + ["train.max_steps=2", "train.checkpoint_every=1", *extra])


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {str(path.relative_to(folder)): path.read_bytes() for path in sorted(folder.rglob("*")) if path.is_file()}


def test_resume_compares_the_resolved_recipe_and_never_rewrites_the_record(tmp_path, fast):
    """A ``--set`` given at the start and left out on resume changes the resolved recipe: refused, key named."""
    train(_recipe(fast, "data.valid_fraction=0.15"), tmp_path, progress=False)
    record = (tmp_path / RUN_FILE).read_bytes()
    with pytest.raises(ValueError, match=r"data\.valid_fraction: 0\.15 -> 0\.05"):
        train(_recipe(fast), tmp_path, resume=True, progress=False)
    with pytest.raises(ValueError, match=r"optim\.lr.*model\.dim|model\.dim.*optim\.lr"):
        train(_recipe(fast, "data.valid_fraction=0.15", "optim.lr=0.1", "model.dim=32"), tmp_path, resume=True,
              progress=False)
    assert (tmp_path / RUN_FILE).read_bytes() == record
    saved = json.loads(record)
    assert saved["recipe"]["data"]["near_dup_threshold"] == 1.0 and "fim_rate" in saved["recipe"]["data"]  # defaults
    assert len(saved["tokenizer_sha256"]) == 64 and len(saved["data_fingerprint"]) == 64


@pytest.mark.slow
def test_the_same_recipe_resumes_with_other_checkpoint_settings(tmp_path, fast):
    train(_recipe(fast), tmp_path, progress=False)
    train(_recipe(fast, "train.checkpoint_every=2", "train.keep_last=3"), tmp_path, resume=True, progress=False)
    assert [row["step"] for row in read_metrics(tmp_path)] == [1, 2]


def test_differences_name_every_key_both_ways():
    saved = {"data": {"fim_rate": 0.9, "seed": 0}, "train": {"checkpoint_every": 5}}
    ours = {"data": {"fim_rate": 0.5, "extra": 1}, "train": {"checkpoint_every": 7}}
    assert differences(saved, ours) == ["data.extra: (not set) -> 1", "data.fim_rate: 0.9 -> 0.5",
                                        "data.seed: 0 -> (not set)"]


@pytest.mark.parametrize("resume", [False, True, "auto"])
def test_a_folder_that_is_not_a_run_is_never_written(tmp_path, fast, resume):
    """The user's own folder (``final/``, a ``tokenizer.model``) is refused untouched, with or without --resume."""
    (tmp_path / "final").mkdir()
    (tmp_path / "final" / "notes.txt").write_text("mine")
    (tmp_path / "tokenizer.model").write_bytes(b"not a run's")
    before = _snapshot(tmp_path)
    with pytest.raises(ValueError, match="holds no codellama-lite run"):
        train(_recipe(fast), tmp_path, resume=resume, progress=False)
    assert _snapshot(tmp_path) == before and sorted(p.name for p in tmp_path.iterdir()) == ["final", "tokenizer.model"]


def test_a_file_as_out_is_refused(tmp_path, fast):
    (tmp_path / "out").write_text("x")
    with pytest.raises(ValueError, match="is a file"):
        train(_recipe(fast), tmp_path / "out", progress=False)
    assert (tmp_path / "out").read_text() == "x"


@pytest.mark.slow
@pytest.mark.parametrize("existing", [False, True])
def test_a_failed_set_up_leaves_nothing_and_the_corrected_command_runs(tmp_path, fast, existing):
    empty = tmp_path / "empty"
    empty.mkdir()
    out = tmp_path / "run"
    if existing:
        out.mkdir()
    broken = _recipe(fast, f'data.sources={{code = ["{empty}"]}}', "data.weights={code = 1.0}")
    with pytest.raises(ValueError, match="empty"):
        train(broken, out, progress=False)
    assert (sorted(out.iterdir()) == [] if existing else not out.exists())
    assert not staging_beside(out).exists()
    with pytest.raises(ValueError, match="no checkpoint"):
        train(_recipe(fast), out, resume=True, progress=False)
    train(_recipe(fast), out, progress=False)
    assert (out / "final" / "model.safetensors").is_file() and (out / RUN_FILE).is_file()


@pytest.mark.parametrize("make", ["absent", "empty"])
def test_resume_without_a_checkpoint_says_so(tmp_path, fast, make):
    out = tmp_path / "misspelt"
    if make == "empty":
        out.mkdir()
    with pytest.raises(ValueError, match="no checkpoint to resume"):
        train(_recipe(fast), out, resume=True, progress=False)
    assert (not out.exists()) if make == "absent" else sorted(out.iterdir()) == []


@pytest.mark.slow
def test_a_checkpoint_without_its_train_state_is_named_never_a_silent_restart(tmp_path, fast, capsys):
    recipe = load_recipe("base", "smoke", fast + ["train.max_steps=3", "train.checkpoint_every=0"])
    train(recipe, tmp_path, progress=False)
    (tmp_path / "step-00000003" / "train_state.json").unlink()
    capsys.readouterr()
    train(recipe, tmp_path, resume=True, progress=False)
    said = capsys.readouterr().out
    assert "step-00000003 is damaged" in said and "train_state.json" in said and "resuming from step-00000000" in said
    assert [row["step"] for row in read_metrics(tmp_path)] == [1, 2, 3]
    for step in (0, 3):  # every checkpoint now lacks its train state: an error, not a run from scratch
        (tmp_path / f"step-{step:08d}" / "train_state.json").unlink(missing_ok=True)
    before = (tmp_path / "metrics.jsonl").read_bytes()
    with pytest.raises(ValueError, match="no intact checkpoint"):
        train(recipe, tmp_path, resume=True, progress=False)
    assert (tmp_path / "metrics.jsonl").read_bytes() == before and (tmp_path / "step-00000003").is_dir()


@pytest.mark.slow
def test_another_tokenizer_on_resume_is_a_vocabulary_mismatch_not_a_corrupt_checkpoint(tmp_path, fast):
    from codellama_lite.tokenizer import Tokenizer

    recipe = _recipe(fast)
    train(recipe, tmp_path / "run", progress=False)
    Tokenizer.train(vocab_size=420, model_path=tmp_path / "other.model", max_files=20)
    (tmp_path / "run" / "tokenizer.model").write_bytes((tmp_path / "other.model").read_bytes())
    with pytest.raises(ValueError) as error:
        train(recipe, tmp_path / "run", resume=True, progress=False)
    assert "tokenizer_sha256" in str(error.value) and "vocab_size" in str(error.value)
    assert "corrupt" not in str(error.value)


def test_a_checkpoint_of_another_vocabulary_is_reported_as_such(tmp_path):
    from codellama_lite.train.checkpoint import check_same_model

    with pytest.raises(ValueError, match="vocabulary mismatch: vocab_size 416 in the checkpoint, 1016 in this run"):
        check_same_model(tmp_path, {"dim": 64, "vocab_size": 416}, {"dim": 64, "vocab_size": 1016})


@pytest.mark.parametrize("every", [-1, -5])
def test_a_negative_checkpoint_interval_is_refused(tmp_path, fast, every):
    with pytest.raises(ValueError, match=r"checkpoint_every = -[0-9]+: Input should be greater than or equal to 0"):
        train(_recipe(fast), tmp_path / "run", checkpoint_every=every, progress=False)
    assert not (tmp_path / "run").exists()
