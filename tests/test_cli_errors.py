"""One error path for every command (codellama_lite.cli.main): bad input is one line, exit 2; Ctrl-C stops cleanly."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from codellama_lite.cli import GROUPS, build_parser, main


@pytest.fixture
def files(tmp_path, monkeypatch) -> Path:
    """A working folder with the bad inputs the cases below name."""
    monkeypatch.chdir(tmp_path)
    Path("afile").write_text("x\n")
    Path("adir").mkdir()
    Path("bad.model").write_text("garbage")
    for name, text in (("list", "[1, 2]"), ("broken", "{not json")):
        Path(f"cfg-{name}").mkdir()
        Path(f"cfg-{name}/config.json").write_text(text)
    return tmp_path


# (argv, what the one line must say); together they cover every command `codellama-lite --help` lists.
CASES = [
    (["workbook", "--output-dir", "afile", "01"], "afile is a file"),
    (["refresh-notebooks", "nothere/x.ipynb"], "not found: nothere/x.ipynb"),
    (["exercises", "check", "ch99"], "ch99"),
    (["tokenizer", "decode", "--model", "bad.model", "1"], "bad.model"),
    (["tokenizer", "encode", "--model", "missing.model", "x"], "missing.model"),
    (["model", "costs", "huge"], "huge"),
    (["model", "convert", "cfg-list", "out", "--from", "hf", "--to", "meta"],
     "cfg-list/config.json: expected a JSON object"),
    (["model", "convert", "cfg-broken", "out", "--from", "hf", "--to", "meta"],
     "cfg-broken/config.json: not valid JSON"),
    (["data", "stats", "nothere"], "nothere"),
    (["data", "toyworld", "--out", "adir", "--count", "2"], "adir: is a folder"),
    (["train", "--recipe", "base", "--profile", "smoke", "--set", "data.fim_rate=abc", "--out", "r"],
     "data.fim_rate = 'abc': Input should be a valid number"),
    (["train", "--recipe", "base", "--profile", "smoke", "--checkpoint-every", "-1", "--out", "r"],
     "--checkpoint-every must be >= 0"),
    (["train", "--recipe", "base", "--profile", "smoke", "--out", "afile"], "afile is a file"),
    (["train", "--recipe", "base", "--profile", "smoke", "--out", "adir/misspelt", "--resume"],
     "no checkpoint to resume"),
    (["train", "--export-checkpoint", "nothere", "--out", "e"], "not found: nothere"),
    (["eval", "toy", "--score", "afile", "--count", "2"], "afile: line 1 is not valid JSON"),
    (["eval", "humaneval", "--checkpoint", "nothere"], "nothere"),
    (["eval", "mbpp", "--score", "afile", "--mbpp-file", "nothere.jsonl"], "nothere.jsonl"),
    (["eval", "infilling", "--score", "missing.jsonl", "--limit", "1"], "missing.jsonl"),
    (["recipe", "run", "--stop-after", "nonsense", "--profile", "smoke"], "nonsense"),
    (["recipe", "selfinstruct", "--model", "nothere", "--out", "si", "--profile", "smoke"], "nothere"),
]


def test_the_cases_cover_every_command():
    commands = set(build_parser()._subparsers._group_actions[0].choices)
    assert commands == {case[0][0] for case in CASES} and set(GROUPS) <= commands


@pytest.mark.parametrize("argv, message", CASES, ids=[" ".join(case[0][:2]) for case in CASES])
def test_bad_input_is_one_line_and_exit_2(files, capsys, argv, message):
    before = sorted(path.name for path in files.iterdir())
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("codellama-lite: error: ") and err.count("\n") == 1 and message in err, err
    assert sorted(path.name for path in files.iterdir()) == before  # nothing created on the way


def test_a_read_only_out_is_one_line(files, capsys):
    if os.geteuid() == 0:
        pytest.skip("root writes through read-only permissions")
    locked = files / "locked"
    locked.mkdir(mode=0o555)
    assert main(["train", "--recipe", "base", "--profile", "smoke", "--out", str(locked / "run")]) == 2
    err = capsys.readouterr().err
    assert "Permission denied" in err and err.count("\n") == 1


def test_an_os_error_is_one_line_naming_the_file(capsys, monkeypatch):
    import errno

    from codellama_lite.cli import train as train_command

    def full(args):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), "runs/x/step-00000004")

    monkeypatch.setattr(train_command, "_train", full)
    assert main(["train", "--recipe", "base"]) == 2
    assert capsys.readouterr().err == "codellama-lite: error: runs/x/step-00000004: no space left on device\n"


def _smoke_train(out: Path, small_tokenizer, *extra: str) -> list[str]:
    sets = ["data.max_documents=12", "train.eval_windows=4", "train.threads=1",
            f'tokenizer.path="{small_tokenizer.model_path}"']
    return [sys.executable, "-m", "codellama_lite", "train", "--recipe", "base", "--profile", "smoke", "--no-progress",
            *[arg for item in sets for arg in ("--set", item)], "--out", str(out), *extra]


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("unshare") is None, reason="needs unshare to mount a small tmpfs")
def test_a_full_disk_says_no_space_left(tmp_path, small_tokenizer):
    """Training into a 600 KB file system: the checkpoint cannot be written, and the one line says why."""
    mount = tmp_path / "small"
    mount.mkdir()
    command = " ".join(f"'{arg}'" for arg in _smoke_train(mount / "run", small_tokenizer, "--max-steps", "2"))
    probe = subprocess.run(["unshare", "-rm", "true"], capture_output=True)
    if probe.returncode:
        pytest.skip(f"no user namespaces here: {probe.stderr.decode()[:200]}")
    done = subprocess.run(["unshare", "-rm", "sh", "-c", f"mount -t tmpfs -o size=600k none '{mount}' && {command}"],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 2, done.stderr[-2000:]
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("codellama-lite: error: ") and "no space left on device" in last
    assert "Traceback" not in done.stderr


@pytest.mark.slow
def test_ctrl_c_stops_after_the_step_and_resume_finishes(tmp_path, small_tokenizer):
    from codellama_lite.train import read_metrics

    out = tmp_path / "run"
    process = subprocess.Popen(_smoke_train(out, small_tokenizer, "--max-steps", "40", "--checkpoint-every", "0"),
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline and process.poll() is None:
        if (out / "metrics.jsonl").is_file() and read_metrics(out):
            process.send_signal(signal.SIGINT)
            break
        time.sleep(0.05)
    _, err = process.communicate(timeout=600)
    assert process.returncode == 130, err[-2000:]
    assert "resume with --resume" in err.strip().splitlines()[-1] and "Traceback" not in err
    step = read_metrics(out)[-1]["step"]
    assert 1 <= step < 40 and (out / f"step-{step:08d}").is_dir()
    resumed = subprocess.run(_smoke_train(out, small_tokenizer, "--max-steps", "40", "--checkpoint-every", "0",
                                          "--resume"), capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert [row["step"] for row in read_metrics(out)] == list(range(1, 41))
