"""The paper's findings measured at toy scale, and the findings table (Code Llama §3, Tables 2 and 4, Figure 6).

Measurements on the toy world (:mod:`codellama_lite.data.toyworld`), scored exactly as HumanEval (:mod:`codellama_lite.
evaluation.toy`): :func:`toy_pass_at_k` gives pass@k with a bootstrap interval over problems; :func:`paired_difference`
the interval of a difference between two models on the same problems (so "B beats A" is decided on the difference,
not on two overlapping intervals); :func:`temperature_sweep` Figure 6's curves.

:func:`findings_table` gathers one row per paper finding across chapters 3–5: the paper's figure, ours with its
interval, the direction the paper reports and whether ours goes the same way (``None`` when not measured). Rows of
chapters 3 and 4 are read from the workbook summary (their notebooks' key figures, :data:`SUMMARY_KEYS`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from codellama_lite.evaluation.passk import PassAtK, bootstrap_ci, per_problem_pass_at_k, pass_at_k

# -- measuring on the toy world ----------------------------------------------------------------------------------------


def toy_counts(model_dir: str | Path, samples_path: str | Path, sandbox: Any, *, split: str = "test",
               count: int = 50, n: int = 1, temperature: float = 0.0, max_new_tokens: int = 96, seed: int = 0,
               progress: bool = False) -> dict[str, tuple[int, int]]:
    """``{task_id: (n, c)}`` for ``count`` toy problems of ``split``: samples generated (resumably, into
    ``samples_path``) by the exported model ``model_dir``, judged in ``sandbox``."""
    from codellama_lite.evaluation.generation import load_completer, run_generation
    from codellama_lite.evaluation.samples import read_samples
    from codellama_lite.evaluation.scoring import counts, score_samples
    from codellama_lite.evaluation.toy import toy_problems, toy_tasks

    tasks = toy_tasks(toy_problems(split, 0, count)[0])
    run_generation(tasks, samples_path, load_completer(model_dir, batch_size=max(n, 1)), n=n, temperature=temperature,
                   max_new_tokens=max_new_tokens, seed=seed, progress=progress)
    return counts(score_samples(tasks, read_samples(samples_path), sandbox))


def toy_pass_at_k(counts: Mapping[str, tuple[int, int]], ks: Sequence[int] = (1, 10, 100)) -> dict[int, PassAtK]:
    """pass@k (with a 95% bootstrap interval) for every ``k`` the sample count allows."""
    return pass_at_k(counts, ks)


def paired_difference(before: Mapping[str, tuple[int, int]], after: Mapping[str, tuple[int, int]], k: int = 1,
                      seed: int = 0) -> PassAtK:
    """pass@k of ``after`` minus ``before`` on their common problems, with a bootstrap interval of the paired
    per-problem differences."""
    common = [task for task in before if task in after]
    if not common:
        raise ValueError("the two models share no problem to compare on")
    a, b = per_problem_pass_at_k(before, k), per_problem_pass_at_k(after, k)
    differences = np.array([b[task] - a[task] for task in common])
    low, high = bootstrap_ci(differences, seed=seed)
    return PassAtK(k, float(differences.mean()), low, high, len(common))


def temperature_sweep(model_dir: str | Path, folder: str | Path, sandbox: Any, temperatures: Sequence[float], *,
                      n: int, count: int, max_new_tokens: int = 96,
                      progress: bool = False) -> dict[float, dict[int, PassAtK]]:
    """Figure 6: pass@1 and pass@k (every k the ``n`` samples allow: 1, 10, 100) at each temperature."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    ks = [k for k in (1, 10, 100) if k <= n]
    return {t: toy_pass_at_k(toy_counts(model_dir, folder / f"T{t}.jsonl", sandbox, count=count, n=n, temperature=t,
                                        max_new_tokens=max_new_tokens, progress=progress), ks)
            for t in temperatures}


# -- the table ---------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Finding:
    """One row: what the paper reports, what we measured, and whether the direction holds."""

    chapter: int
    finding: str
    paper: str  # the paper's figure, as text (with its source)
    ours: float | None  # our figure (a difference when the finding is a comparison), None: not measured
    low: float | None
    high: float | None
    direction: str  # what "reproduced" means: "> 0" (ours should be positive) or "< 0"
    command: str  # what reproduces ours
    note: str = ""

    @property
    def reproduced(self) -> bool | None:
        """Whether our interval lies wholly on the paper's side of zero (``None``: not measured, no interval, or
        undecided); a point value alone decides nothing."""
        if self.ours is None or self.low is None or self.high is None:
            return None
        return _side(self.low, self.high, self.direction)

    def verdict(self) -> str:
        if self.ours is None:
            return "not measured"
        if self.low is None or self.high is None:
            side = _side(self.ours, self.ours, self.direction)
            return {True: "paper's direction (point value, no interval)",
                    False: "against the paper (point value, no interval)", None: "no difference (point value)"}[side]
        return {True: "reproduced", False: "reversed", None: "undecided (interval spans 0)"}[self.reproduced]


def _side(low: float, high: float, direction: str) -> bool | None:
    """True when ``[low, high]`` lies wholly on ``direction``'s side of zero, False when wholly on the other."""
    if direction == "> 0":
        return True if low > 0 else (False if high < 0 else None)
    return True if high < 0 else (False if low > 0 else None)


def from_difference(chapter: int, finding: str, paper: str, measured: PassAtK | None, command: str,
                    direction: str = "> 0", note: str = "") -> Finding:
    """A row whose figure is a paired difference (``None``: not measured in this profile)."""
    if measured is None:
        return Finding(chapter, finding, paper, None, None, None, direction, command, note)
    return Finding(chapter, finding, paper, measured.value, measured.low, measured.high, direction, command, note)


# The key figures of earlier chapters a row reads from the workbook summary: (chapter, finding, paper, key minus,
# key plus, direction): ours = summary[plus] - summary[minus] (no interval: those notebooks publish point values).
SUMMARY_KEYS = (
    (4, "LCFT with RoPE base 1e6 lowers the loss far past the training length",
     "Figure 7 / Table 18: perplexity stays low to 100K tokens after LCFT", "loss_16x no LCFT",
     "loss_16x LCFT, base 1e6", "< 0"),
    (4, "LCFT with RoPE base 1e6 retrieves keys past the training length",
     "Table 17: key retrieval near 100% at 16K after LCFT, poor before", "retrieval_4x no LCFT",
     "retrieval_4x LCFT, base 1e6", "> 0"),
    (3, "FIM model (SPM) infills single lines better than FIM-0 (prefix)",
     "Table 14 / Bavarian et al.: FIM models infill; left-to-right ones cannot see the suffix",
     "infill_single-line_no_fim_l2r", "infill_single-line_fim_spm", "> 0"),
)
# Rows whose figure a notebook publishes with its interval: (chapter, finding, paper, key, interval key, scale,
# direction); ours = summary[key] / scale.
SUMMARY_INTERVALS = (
    (3, "FIM training costs left-to-right pass@1 (FIM 0.9 - FIM 0)",
     "Table 5: -0.6 (7B), -1.1 (13B) points of pass@k: a small cost", "fim_pass1_delta_points",
     "fim_pass1_delta_ci", 100.0, "< 0"),
)


def rows_from_summary(summary: Mapping[str, Any]) -> list[Finding]:
    """Rows for chapters 3 and 4 from the summary's key figures (not measured where the figures are absent)."""
    figures: dict[str, Any] = {}
    for notebook in summary.get("notebooks", []):
        figures.update(notebook.get("figures", {}))
    rows = []
    for chapter, finding, paper, key, interval, scale, direction in SUMMARY_INTERVALS:
        command = f"codellama-lite workbook {chapter:02d}"
        value, bounds = figures.get(key), figures.get(interval)
        if isinstance(value, (int, float)) and isinstance(bounds, list) and len(bounds) == 2:
            rows.append(Finding(chapter, finding, paper, value / scale, bounds[0] / scale, bounds[1] / scale,
                                direction, command, f"{key!r} with {interval!r}"))
        else:
            rows.append(Finding(chapter, finding, paper, None, None, None, direction, command,
                                f"key figures {key!r} / {interval!r} not in the summary"))
    for chapter, finding, paper, minus, plus, direction in SUMMARY_KEYS:
        command = f"codellama-lite workbook {chapter:02d}"
        if isinstance(figures.get(minus), (int, float)) and isinstance(figures.get(plus), (int, float)):
            value = float(figures[plus]) - float(figures[minus])
            rows.append(Finding(chapter, finding, paper, value, None, None, direction, command,
                                f"{plus!r} - {minus!r} (point values)"))
        else:
            rows.append(Finding(chapter, finding, paper, None, None, None, direction, command,
                                f"key figures {minus!r} / {plus!r} not in the summary"))
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
    """The findings table as fixed-width text."""
    lines = [f"{'ch':>2}  {'finding':<62} {'ours [95% CI]':>24}  verdict"]
    for row in rows:
        ours = "-" if row.ours is None else f"{row.ours:+.3f}" + (
            f" [{row.low:+.3f}, {row.high:+.3f}]" if row.low is not None else "")
        lines.append(f"{row.chapter:>2}  {row.finding[:62]:<62} {ours:>24}  {row.verdict()}")
        lines.append(f"{'':>4}paper: {row.paper}")
    return "\n".join(lines)


def table_figures(rows: Sequence[Finding]) -> dict[str, Any]:
    """The table as key figures (``findings``: a list of plain rows) for :func:`codellama_lite.workbook.key_figures`."""
    return {"findings": [{**asdict(row), "reproduced": row.reproduced, "verdict": row.verdict()} for row in rows]}
