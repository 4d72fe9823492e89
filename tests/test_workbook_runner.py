"""The workbook runner executes notebooks with papermill, reports failures and collects key figures."""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from codellama_lite import __version__
from codellama_lite.cli import build_parser, main
from codellama_lite.workbook.runner import format_summary, list_notebooks, run_workbook, select_notebooks


def _notebook(path, body: str):
    notebook = nbformat.v4.new_notebook()
    parameters = nbformat.v4.new_code_cell('import os\nPROFILE = os.environ.get("CODELLAMA_LITE_PROFILE", "laptop")')
    parameters.metadata["tags"] = ["parameters"]
    notebook.cells = [parameters, nbformat.v4.new_code_cell(body)]
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(notebook, path)
    return path


def test_runs_in_order_collects_figures_and_reports_failures(tmp_path, capsys):
    good = _notebook(tmp_path / "01_good.ipynb",
                     "from codellama_lite.workbook.runner import key_figures\nkey_figures(profile=PROFILE, answer=42)")
    bad = _notebook(tmp_path / "02_bad.ipynb", "raise ValueError('broken on purpose')")
    runs = run_workbook(tmp_path / "out", "smoke", [good, bad])
    assert [(r.notebook, r.status) for r in runs] == [("01_good.ipynb", "ok"), ("02_bad.ipynb", "failed")]
    assert runs[0].figures == {"profile": "smoke", "answer": 42}
    assert "broken on purpose" in runs[1].error
    assert (tmp_path / "out" / "smoke" / "01_good.ipynb").exists()
    summary = capsys.readouterr().out
    assert "answer=42" in summary and "1 ok, 1 failed" in summary


def test_summary_is_one_line_per_notebook(tmp_path):
    text = format_summary([], "smoke", tmp_path)
    assert text.splitlines()[-1] == "0 ok, 0 failed"


def test_chapters_are_named_by_number_or_stem_and_nothing_to_run_is_an_error(tmp_path, monkeypatch, capsys):
    first = list_notebooks()[0]
    assert select_notebooks([first.stem[:2]]) == select_notebooks([first.stem]) == [first]
    assert select_notebooks([]) == list_notebooks()
    assert main(["workbook", "99", "--output-dir", str(tmp_path)]) == 2
    assert "no single workbook notebook is named '99'" in capsys.readouterr().err
    monkeypatch.setattr("codellama_lite.workbook.runner.resource_dir", lambda name: tmp_path)
    assert main(["workbook", "--output-dir", str(tmp_path / "out")]) == 2
    assert "no notebooks" in capsys.readouterr().err and not (tmp_path / "out").exists()


def test_version(capsys):
    with pytest.raises(SystemExit) as stop:
        main(["--version"])
    assert stop.value.code == 0 and capsys.readouterr().out.strip() == f"codellama-lite {__version__}"


def _options(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()):
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _options(sub, path + (name,))
        elif action.dest not in ("help", "version"):
            yield path, action, parser


@pytest.mark.parametrize("group", sorted({path[0] for path, _, _ in _options(build_parser())}))
def test_every_option_has_help_showing_its_default(group):
    for path, action, parser in _options(build_parser()):
        if path[0] != group or action.help == argparse.SUPPRESS:
            continue
        assert action.help, f"codellama-lite {' '.join(path)} {action.option_strings or action.dest} has no help"
        if action.option_strings and action.default not in (None, False):
            text = parser.format_help()
            assert f"(default: {action.default}" in " ".join(text.split()), f"{path} {action.option_strings}"


def test_cli_rejects_an_unknown_chapter(capsys):
    assert main(["exercises", "check", "ch99"]) == 2
    assert "unknown exercise chapter 'ch99'" in capsys.readouterr().err


def test_scratch_dirs_are_removed_when_the_kernel_exits():
    script = ("from codellama_lite.workbook.runner import scratch_dir\n"
              "a, b = scratch_dir('ch01'), scratch_dir('ch01')\n"
              "(a / 'model.bin').write_bytes(b'x'); (b / 'sub').mkdir()\n"
              "print(a); print(b)")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    paths = [Path(line) for line in done.stdout.split()]
    assert len(paths) == 2 and paths[0] != paths[1] and all("ch01" in path.name for path in paths)
    assert not any(path.exists() for path in paths)


def test_scratch_dirs_of_killed_kernels_are_swept_by_the_next_one():
    script = ("import os\nfrom codellama_lite.workbook.runner import scratch_dir\n"
              "d = scratch_dir('ch02'); (d / 'tok.model').write_bytes(b'x'); print(d, flush=True); os._exit(0)")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    left = Path(done.stdout.strip())
    assert left.exists()  # os._exit, like a killed kernel, runs no clean-up
    from codellama_lite.workbook.runner import scratch_dir

    mine = scratch_dir("ch02")
    assert not left.exists() and mine.exists() and mine.parent == left.parent


@pytest.mark.slow
def test_a_cell_that_hangs_is_retried_once_then_named(tmp_path, capsys):
    from codellama_lite.workbook.runner import CELL_TIMEOUT_S, run_notebook

    hangs = _notebook(tmp_path / "03_hangs.ipynb", "import time\ntime.sleep(600)")
    run = run_notebook(hangs, tmp_path, "smoke", timeout=5)
    assert run.status == "failed"
    assert "cell 3 (`import time`)" in run.error and "5 s limit per cell" in run.error and "2 time(s)" in run.error
    assert "running the notebook again" in capsys.readouterr().out
    # Hangs only the first time (a lost kernel message): the retry succeeds.
    once = _notebook(tmp_path / "04_once.ipynb", "import os, time\nif not os.path.exists('hung'):\n"
                                                  "    open('hung', 'w').close()\n    time.sleep(600)")
    assert run_notebook(once, tmp_path, "smoke", timeout=5).status == "ok"
    assert all(600 <= seconds for seconds in CELL_TIMEOUT_S.values())
