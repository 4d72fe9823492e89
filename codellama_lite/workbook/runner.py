"""Run the workbook: every notebook through papermill, then a one-screen summary.

Notebooks publish the numbers worth comparing with the paper through :func:`key_figures`; they travel inside the
executed notebook as a display output of their own MIME type, so the runner reads them back without side files.

No cell may run forever: each has the profile's limit (:data:`CELL_TIMEOUT_S`, far above what any cell needs, so
that only a hang reaches it — a kernel that lost a message leaves a cell waiting with nothing running). A notebook
whose cell hit the limit is run once more from the start; a second time, the run fails naming the notebook and the
cell, and the workbook goes on with the next notebook.
"""

from __future__ import annotations

import getpass
import json
import os
import shutil
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from codellama_lite.experiments.findings import format_table, read_summary, rows_from_summary
from codellama_lite.support.fileio import atomic_open, atomic_path
from codellama_lite.support.profiles import check_profile, pick
from codellama_lite.support.resources import resource_dir

FIGURES_MIME = "application/vnd.codellama-lite.figures+json"
SEEDS_VAR = "CODELLAMA_LITE_SEEDS"  # seeds per trained arm of a finding (`codellama-lite workbook --seeds N`)
# Seconds one cell may run: smoke notebooks take under a minute in all, a laptop chapter's longest cell trains a chain
# of models (tens of minutes on 2 cores), a gpu cell may train for hours.
CELL_TIMEOUT_S = {"smoke": 30 * 60, "laptop": 4 * 3600, "gpu": 48 * 3600}
# The kernel every notebook names, exactly as ipykernel reports it (JupyterLab marks a notebook modified otherwise).
KERNELSPEC = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}


def key_figures(**figures: Any) -> None:
    """Show ``figures`` in the notebook and mark them for the workbook summary."""
    from IPython.display import display

    text = "\n".join(f"{name}: {value}" for name, value in figures.items())
    display({FIGURES_MIME: figures, "text/plain": text}, raw=True)


_SCRATCH: list[tempfile.TemporaryDirectory] = []


def scratch_dir(chapter: str) -> Path:
    """A fresh directory for a notebook's files (trained tokenizers, exported checkpoints).

    It is removed when the kernel exits; a kernel that is killed instead (nbval does that) leaves it behind, so each
    call first removes the directories of processes that no longer run. Repeated runs leave nothing behind.
    """
    root = Path(tempfile.gettempdir()) / f"codellama-lite-{getpass.getuser()}"
    root.mkdir(mode=0o700, exist_ok=True)
    for old in root.iterdir():  # named chapter-pid-random
        owner = old.name.rsplit("-", 2)[-2] if old.name.count("-") >= 2 else ""
        if owner.isdigit() and not _process_exists(int(owner)):
            shutil.rmtree(old, ignore_errors=True)
    scratch = tempfile.TemporaryDirectory(prefix=f"{chapter}-{os.getpid()}-", dir=root)
    _SCRATCH.append(scratch)
    return Path(scratch.name)


def _process_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True


@dataclass
class NotebookRun:
    """What one executed notebook reports to the summary."""

    notebook: str
    status: str
    seconds: float
    figures: dict[str, Any] = field(default_factory=dict)
    error: str = ""


def list_notebooks(directory: Path | None = None) -> list[Path]:
    """The workbook's chapters, in order (``NN_name.ipynb``; the checkout's or the installed copies)."""
    return sorted((directory or resource_dir("notebooks")).glob("[0-9][0-9]_*.ipynb"))


def select_notebooks(names: list[str | Path]) -> list[Path]:
    """Each of ``names`` as a notebook: an existing ``.ipynb`` file, or a chapter of the workbook named by its
    number or stem (``01``, ``01_tokenizer``); none at all means every chapter. Finding nothing is an error."""
    chapters = list_notebooks()
    if not names:
        if not chapters:
            raise FileNotFoundError(f"no notebooks (NN_name.ipynb) in {resource_dir('notebooks')}")
        return chapters
    return [_select_notebook(str(name), chapters) for name in names]


def _select_notebook(name: str, chapters: list[Path]) -> Path:
    path = Path(name)
    if path.suffix == ".ipynb":
        if not path.is_file():
            raise FileNotFoundError(f"notebook not found: {path}")
        return path
    matches = [chapter for chapter in chapters if chapter.stem == name or chapter.stem.startswith(name + "_")]
    if len(matches) != 1:
        known = ", ".join(chapter.stem for chapter in chapters) or "none"
        raise ValueError(f"no single workbook notebook is named {name!r}; available: {known}")
    return matches[0]


def read_figures(notebook_path: Path) -> dict[str, Any]:
    """Collect every :func:`key_figures` output of an executed notebook."""
    figures: dict[str, Any] = {}
    cells = json.loads(notebook_path.read_text(encoding="utf-8"))["cells"]
    for cell in cells:
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            if FIGURES_MIME in data:
                figures.update(data[FIGURES_MIME])
    return figures


def cell_timeout(profile: str) -> int:
    """The per-cell limit of ``profile``, in seconds."""
    return pick(profile, **CELL_TIMEOUT_S)


def run_notebook(path: Path, output_dir: Path, profile: str, timeout: float | None = None,
                 attempts: int = 2) -> NotebookRun:
    """Execute one notebook with papermill into ``output_dir`` (also its working directory), each cell limited to
    ``timeout`` seconds (default: the profile's); a notebook whose cell timed out is run again, up to ``attempts``
    times in all. Failures are reported, not raised."""
    from nbclient.exceptions import CellTimeoutError

    timeout = timeout or cell_timeout(profile)
    output = output_dir / path.name
    start = time.perf_counter()
    for attempt in range(1, attempts + 1):
        try:
            _execute(path, output, output_dir, profile, timeout)
        except CellTimeoutError:
            where = timed_out_cell(output)
            if attempt < attempts:
                print(f"{path.name}: {where} ran past {timeout:g} s; running the notebook again", flush=True)
                continue
            error = (f"{where} ran past the {timeout:g} s limit per cell (profile {profile}), "
                     f"{attempts} time(s); see {output}")
            return NotebookRun(path.name, "failed", time.perf_counter() - start, error=error)
        except Exception as error:  # papermill wraps every cell error; the summary shows it and the run goes on
            first_line = str(error).strip().splitlines()[-1] if str(error).strip() else type(error).__name__
            return NotebookRun(path.name, "failed", time.perf_counter() - start, error=first_line[:200])
        return NotebookRun(path.name, "ok", time.perf_counter() - start, read_figures(output))
    raise AssertionError("unreachable")


def _execute(path: Path, output: Path, output_dir: Path, profile: str, timeout: float) -> None:
    import papermill

    papermill.execute_notebook(str(path), str(output), parameters={"PROFILE": profile}, cwd=str(output_dir),
                               progress_bar=False, execution_timeout=timeout)


def timed_out_cell(output: Path) -> str:
    """The cell papermill started last in the executed notebook ``output``, as ``cell N (`its first line`)``."""
    try:
        cells = json.loads(output.read_text(encoding="utf-8"))["cells"]
    except (OSError, ValueError, KeyError):
        return "a cell"
    started = [number for number, cell in enumerate(cells, start=1)
               if cell.get("metadata", {}).get("papermill", {}).get("start_time")]
    if not started:
        return "a cell"
    source = "".join(cells[started[-1] - 1].get("source", "")).strip().splitlines()
    return f"cell {started[-1]} (`{source[0][:80] if source else ''}`)"


def run_workbook(output_dir: str | Path = "outputs", profile: str | None = None,
                 notebooks: list[str | Path] | None = None) -> list[NotebookRun]:
    """Execute every notebook (or those :func:`select_notebooks` finds for ``notebooks``) in order into
    ``output_dir/<profile>/`` and print the summary table."""
    profile = check_profile(profile)
    selected = select_notebooks(list(notebooks or []))
    if Path(output_dir).exists() and not Path(output_dir).is_dir():
        raise ValueError(f"--output-dir {output_dir} is a file; give a folder for the executed notebooks")
    summary = Path(output_dir).resolve() / SUMMARY_FILE
    output_dir = Path(output_dir).resolve() / profile
    output_dir.mkdir(parents=True, exist_ok=True)
    runs = []
    for path in selected:
        print(f"running {path.name} (profile {profile}) ...", flush=True)
        runs.append(run_notebook(Path(path), output_dir, profile))
        write_summary(summary, runs[-1], profile)  # after each: later chapters read earlier ones' figures
    print(format_summary(runs, profile, output_dir))
    print(findings_summary(summary))
    return runs


def findings_summary(summary: Path) -> str:
    """Every finding row the notebooks published (value, interval, seeds, verdict), as one table."""
    rows = rows_from_summary(read_summary(summary))
    return "findings (paper / ours [95% interval] / seeds / verdict):\n" + format_table(rows) if rows else \
        "findings: none published by the notebooks run"


SUMMARY_FILE = "summary.json"


def write_summary(path: Path, run: NotebookRun, profile: str) -> None:
    """Merge one notebook's run into ``path`` (``{"profile", "notebooks": [...]}``, one entry per notebook, in
    chapter order); a summary of another profile is replaced. Written atomically."""
    previous = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
    entries = {entry["notebook"]: entry for entry in previous.get("notebooks", [])
               if previous.get("profile") == profile}
    entries[run.notebook] = asdict(run)
    with atomic_open(path) as handle:
        json.dump({"profile": profile, "notebooks": [entries[name] for name in sorted(entries)]}, handle, indent=1,
                  default=str)


def format_summary(runs: list[NotebookRun], profile: str, output_dir: Path) -> str:
    """A one-screen table: notebook, status, seconds, key figures."""
    width = max([len(run.notebook) for run in runs] + [8])
    lines = [f"workbook summary (profile {profile}; executed notebooks in {output_dir})",
             f"{'notebook':<{width}}  status  seconds  key figures"]
    for run in runs:
        detail = run.error or ", ".join(f"{name}={_short(value)}" for name, value in run.figures.items())
        lines.append(f"{run.notebook:<{width}}  {run.status:<6}  {run.seconds:7.1f}  {detail}")
    failed = sum(run.status != "ok" for run in runs)
    lines.append(f"{len(runs) - failed} ok, {failed} failed")
    return "\n".join(lines)


def _short(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def refresh_stored_outputs(path: Path, profile: str = "smoke") -> None:
    """Re-execute a notebook in ``profile`` and keep only the outputs nbval checks (``# NBVAL_CHECK_OUTPUT``).

    For maintainers: the committed notebooks carry exactly the outputs nbval compares, nothing else, and as metadata
    only the kernel's name and the language information it reported (no widget state).
    """
    import nbformat
    import papermill


    with atomic_path(path) as tmp:
        papermill.execute_notebook(str(path), str(tmp), parameters={"PROFILE": profile}, cwd=str(path.parent),
                                   progress_bar=False)
        notebook = nbformat.read(tmp, as_version=4)
        notebook.cells = [cell for cell in notebook.cells if "injected-parameters" not in cell.metadata.get("tags", [])]
        for cell in notebook.cells:
            cell.metadata.pop("papermill", None)
            cell.metadata.pop("execution", None)
            if cell.cell_type == "code":
                if "NBVAL_CHECK_OUTPUT" not in cell.source:
                    cell.outputs = []
                    cell.execution_count = None
        notebook.metadata = {"kernelspec": dict(KERNELSPEC), "language_info": notebook.metadata["language_info"]}
        nbformat.write(notebook, tmp)
