"""The paper's findings measured at toy scale, and the findings table (Code Llama §2.5, §3, Table 2, Figure 6).

Measurements on the toy world (:mod:`codellama_lite.data.toyworld`), scored exactly as HumanEval (:mod:`codellama_lite.
evaluation.toy`): :func:`toy_pass_at_k` gives pass@k with a bootstrap interval over problems; :func:`counts_difference`
the interval of a difference between two models on the same problems (so "B beats A" is decided on the difference,
not on two overlapping intervals); :func:`temperature_sweep` Figure 6's curves.

:class:`Finding` is one row of the findings table across chapters 3–5: the finding as the paper states it (a
direction, or an equivalence such as "FIM is nearly free"), the paper's figure, ours with its interval and seed count,
and a verdict: reproduced, contradicted, undecided, or not measurable when a precondition fails. Each notebook
publishes its rows as key figures (:func:`table_figures`); :func:`rows_from_summary` gathers them.
"""

from __future__ import annotations

import datetime
import json
import os
import platform
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any


from codellama_lite import __version__
from codellama_lite.evaluation.evaluate import evaluate
from codellama_lite.evaluation.generation import Sampling, load_completer
from codellama_lite.evaluation.passk import Interval, PassAtK, paired_difference, per_problem_pass_at_k, pass_at_k
from codellama_lite.evaluation.scoring import counts
from codellama_lite.evaluation.toy import toy_problems, toy_tasks

# -- measuring on the toy world ----------------------------------------------------------------------------------------


def toy_counts(model_dir: str | Path, samples_path: str | Path, sandbox: Any, *, split: str = "test",
               count: int = 50, n: int = 1, temperature: float = 0.0, max_new_tokens: int = 96, seed: int = 0,
               progress: bool = False) -> dict[str, tuple[int, int]]:
    """``{task_id: (n, c)}`` for ``count`` toy problems of ``split``: samples generated (resumably, into
    ``samples_path``) by the exported model ``model_dir``, judged in ``sandbox``."""
    tasks = toy_tasks(toy_problems(split, 0, count)[0])
    sampling = Sampling(n, temperature, max_new_tokens=max_new_tokens, seed=seed)
    return counts(evaluate(load_completer(model_dir, batch_size=max(n, 1)), tasks, sandbox, sampling,
                           samples_path=samples_path, progress=progress))


def toy_pass_at_k(counts: Mapping[str, tuple[int, int]], ks: Sequence[int] = (1, 10, 100)) -> dict[int, PassAtK]:
    """pass@k (with a 95% bootstrap interval) for every ``k`` the sample count allows."""
    return pass_at_k(counts, ks)


def counts_difference(first: Mapping[str, tuple[int, int]], second: Mapping[str, tuple[int, int]],
                      k: int = 1) -> Interval:
    """pass@k of ``first`` minus ``second`` on their common problems, paired per problem
    (:func:`codellama_lite.evaluation.passk.paired_difference`)."""
    common = [task for task in first if task in second]
    if not common:
        raise ValueError("the two models share no problem to compare on")
    a, b = per_problem_pass_at_k(first, k), per_problem_pass_at_k(second, k)
    return paired_difference([a[task] for task in common], [b[task] for task in common])


def temperature_sweep(model_dir: str | Path, folder: str | Path, sandbox: Any, temperatures: Sequence[float], *,
                      n: int, count: int, max_new_tokens: int = 96,
                      progress: bool = False) -> dict[float, dict[str, tuple[int, int]]]:
    """Figure 6: ``{temperature: {task_id: (n, c)}}`` for ``n`` samples per problem at each temperature (pass@k for
    every k the ``n`` samples allow follows with :func:`toy_pass_at_k`; differences with :func:`counts_difference`)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    return {t: toy_counts(model_dir, folder / f"T{t}.jsonl", sandbox, count=count, n=n, temperature=t,
                          max_new_tokens=max_new_tokens, progress=progress)
            for t in temperatures}


# -- the table ---------------------------------------------------------------------------------------------------------

DIRECTIONS = ("> 0", "< 0")
EQUIVALENCE = "within margin"


@dataclass(frozen=True)
class Finding:
    """One row: the finding as the paper states it, the paper's figure, ours with its interval and seed count, and
    the rule that turns ours into a verdict.

    ``kind`` is ``"> 0"`` / ``"< 0"`` for a direction (B beats A) or ``"within margin"`` for an equivalence (FIM is
    *nearly free*: the difference lies within ``±margin``). ``precondition``, when not empty, says why the finding
    cannot be measured here (no filtered data, a model that solves nothing): such a row is never "reproduced".
    """

    chapter: int
    finding: str
    paper: str
    ours: float | None
    low: float | None
    high: float | None
    kind: str
    command: str
    seeds: int = 1
    margin: float | None = None
    precondition: str = ""
    note: str = ""

    def __post_init__(self) -> None:
        if self.kind not in (*DIRECTIONS, EQUIVALENCE):
            raise ValueError(f"Finding.kind must be one of {DIRECTIONS + (EQUIVALENCE,)}, got {self.kind!r}")
        if self.kind == EQUIVALENCE and (self.margin is None or self.margin <= 0):
            raise ValueError(f"an equivalence finding needs a positive margin, got {self.margin!r}")

    @property
    def reproduced(self) -> bool | None:
        """True when the interval agrees with the paper, False when it contradicts it, None otherwise."""
        return {"reproduced": True, "contradicted": False}.get(self.verdict())

    def verdict(self) -> str:
        if self.precondition:
            return f"not measurable ({self.precondition})"
        if self.ours is None:
            return "not measured"
        if self.low is None or self.high is None:
            return "no interval (point value only)"
        if self.kind == EQUIVALENCE:
            if -self.margin <= self.low and self.high <= self.margin:
                return "reproduced"
            return "contradicted" if self.high < -self.margin or self.low > self.margin else "undecided"
        side = _side(self.low, self.high, self.kind)
        return {True: "reproduced", False: "contradicted", None: "undecided"}[side]


def _side(low: float, high: float, direction: str) -> bool | None:
    """True when ``[low, high]`` lies wholly on ``direction``'s side of zero, False when wholly on the other."""
    if direction == "> 0":
        return True if low > 0 else (False if high < 0 else None)
    return True if high < 0 else (False if low > 0 else None)


def from_interval(chapter: int, finding: str, paper: str, measured: Interval | Mapping[str, Any] | None,
                  command: str, kind: str = "> 0", *, scale: float = 1.0, margin: float | None = None,
                  precondition: str = "", note: str = "") -> Finding:
    """A row whose figure is an :class:`Interval` (or its dict; ``None``: not measured), times ``scale``."""
    if measured is None:
        return Finding(chapter, finding, paper, None, None, None, kind, command, 0, margin, precondition, note)
    m = measured if isinstance(measured, Mapping) else asdict(measured)
    return Finding(chapter, finding, paper, m["value"] * scale, m["low"] * scale, m["high"] * scale, kind, command,
                   int(m.get("seeds", 1)), margin, precondition, note)


def rows_from_summary(summary: Mapping[str, Any]) -> list[Finding]:
    """The rows every notebook published as key figures ``findings_chN`` (:func:`table_figures`), in chapter
    order; the workbook's ``summary.json`` gathers them."""
    rows = []
    for notebook in summary.get("notebooks", []):
        for key, value in notebook.get("figures", {}).items():
            if key.startswith("findings_ch") and isinstance(value, list):
                rows += [Finding(**{name: row[name] for name in Finding.__dataclass_fields__}) for row in value]
    return sorted(rows, key=lambda row: row.chapter)


def read_summary(path: str | Path) -> dict[str, Any]:
    """The workbook's ``summary.json`` (empty when it does not exist yet)."""
    path = Path(path)
    if not path.is_file():
        return {}
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise ValueError(f"{path}: not valid JSON ({error.msg})") from None


def format_table(rows: Sequence[Finding]) -> str:
    """The findings table as fixed-width text: ours with its interval and seeds, the verdict, the paper's figure."""
    lines = [f"{'ch':>2}  {'finding':<60} {'ours [95% CI]':>26} {'seeds':>5}  verdict"]
    for row in rows:
        ours = "-" if row.ours is None else f"{row.ours:+.3f}" + (
            f" [{row.low:+.3f}, {row.high:+.3f}]" if row.low is not None else "")
        rule = f" (margin ±{row.margin:g})" if row.kind == EQUIVALENCE else ""
        lines.append(f"{row.chapter:>2}  {row.finding[:60]:<60} {ours:>26} {row.seeds:>5}  {row.verdict()}{rule}")
        lines.append(f"{'':>4}paper: {row.paper}")
    return "\n".join(lines)


def table_figures(rows: Sequence[Finding], chapter: int | None = None) -> dict[str, Any]:
    """Rows as key figures for :func:`codellama_lite.workbook.runner.key_figures`: ``findings_chN`` for one
    chapter's rows (gathered by :func:`rows_from_summary`), ``findings`` for the whole table."""
    key = f"findings_ch{chapter}" if chapter is not None else "findings"
    return {key: [{**asdict(row), "reproduced": row.reproduced, "verdict": row.verdict()} for row in rows]}


def provenance() -> dict[str, str]:
    """Where a figure was measured: the machine, the software, the commit (when run from a git checkout), the date."""
    import torch


    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, timeout=10,
                                cwd=Path(__file__).parent).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        commit = ""
    cpu = platform.processor() or platform.machine()
    try:
        model_lines = [line for line in Path("/proc/cpuinfo").read_text().splitlines() if line.startswith("model name")]
        cpu = model_lines[0].split(":", 1)[1].strip() if model_lines else cpu
    except OSError:
        pass
    return {"machine": f"{cpu}, {os.cpu_count()} cores", "software": f"codellama-lite {__version__}, torch "
            f"{torch.__version__}, Python {platform.python_version()}", "commit": commit or "(not a git checkout)",
            "date": datetime.date.today().isoformat()}


def evidence_table(rows: Sequence[Finding]) -> str:
    """A chapter's "Against the paper" table: the paper's figure, ours with its interval and seeds, the verdict, and
    the machine, commit and command that produced ours."""
    where = provenance()
    lines = [f"measured {where['date']} on {where['machine']}; {where['software']}; commit {where['commit']}"]
    for row in rows:
        ours = "not measured" if row.ours is None else f"{row.ours:+.3f}" + (
            f" [{row.low:+.3f}, {row.high:+.3f}]" if row.low is not None else "")
        lines += [f"* {row.finding}", f"    paper: {row.paper}",
                  f"    ours:  {ours}, {row.seeds} seed{'s' if row.seeds != 1 else ''} -> {row.verdict()}",
                  f"    by:    {row.command}"]
    return "\n".join(lines)
