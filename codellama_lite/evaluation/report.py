"""Results tables with the paper's numbers beside ours (Code Llama §3, Table 2; Table 14 for infilling).

The paper's figures are pass@1 / pass@10 / pass@100 in percent: pass@1 greedy, pass@10 and pass@100 from 200
samples at T = 0.8, top-p 0.95 (docs/paper_facts.md §7). Ours carry a 95% bootstrap interval over problems.
"""

from __future__ import annotations

from collections.abc import Mapping

from codellama_lite.evaluation.passk import PassAtK

# Code Llama Table 2: model -> (pass@1, pass@10, pass@100) in percent.
PAPER_HUMANEVAL: dict[str, tuple[float, float, float]] = {
    "Llama 2 7B": (12.2, 25.2, 44.4),
    "Code Llama 7B": (33.5, 59.6, 85.9),
    "Code Llama 13B": (36.0, 69.4, 89.8),
    "Code Llama 34B": (48.8, 76.8, 93.0),
    "Code Llama 70B": (53.0, 84.6, 96.2),
    "Code Llama - Python 7B": (38.4, 70.3, 90.6),
    "Code Llama - Python 13B": (43.3, 77.4, 94.1),
    "Code Llama - Python 34B": (53.7, 82.8, 94.7),
    "Code Llama - Python 70B": (57.3, 89.3, 98.4),
    "Code Llama - Instruct 7B": (34.8, 64.3, 88.1),
    "Code Llama - Instruct 13B": (42.7, 71.6, 91.6),
    "Code Llama - Instruct 34B": (41.5, 77.2, 93.5),
    "Code Llama - Instruct 70B": (67.8, 90.3, 97.3),
}
PAPER_MBPP: dict[str, tuple[float, float, float]] = {
    "Code Llama 7B": (41.4, 66.7, 82.5),
    "Code Llama 13B": (47.0, 71.7, 87.1),
    "Code Llama 34B": (55.0, 76.2, 86.6),
    "Code Llama 70B": (62.4, 81.1, 91.9),
    "Code Llama - Python 7B": (47.6, 70.3, 84.8),
    "Code Llama - Python 13B": (49.0, 74.0, 87.6),
    "Code Llama - Python 34B": (56.2, 76.4, 88.2),
    "Code Llama - Python 70B": (65.6, 81.5, 91.9),
    "Code Llama - Instruct 7B": (44.4, 65.4, 76.8),
    "Code Llama - Instruct 13B": (49.4, 71.2, 84.1),
    "Code Llama - Instruct 34B": (57.0, 74.6, 85.4),
    "Code Llama - Instruct 70B": (62.2, 79.6, 89.2),
}
# Code Llama Table 14 (greedy pass@1, percent), the released (long-context fine-tuned) 7B and 13B, PSM and SPM prompts.
PAPER_INFILLING: dict[str, dict[str, float]] = {
    "single-line": {"Code Llama 7B (PSM)": 74.1, "Code Llama 7B (SPM)": 83.3,
                    "Code Llama 13B (PSM)": 75.9, "Code Llama 13B (SPM)": 85.6},
    "multi-line": {"Code Llama 7B (PSM)": 48.2, "Code Llama 7B (SPM)": 50.8,
                   "Code Llama 13B (PSM)": 51.0, "Code Llama 13B (SPM)": 56.1},
    "random-span": {"Code Llama 7B (PSM)": 59.7, "Code Llama 7B (SPM)": 39.0,
                    "Code Llama 13B (PSM)": 63.6, "Code Llama 13B (SPM)": 41.9},
}
KS = (1, 10, 100)


def paper_rows(benchmark: str, kind: str | None = None) -> dict[str, tuple[float | None, ...]]:
    """The paper's rows for ``humaneval``, ``mbpp`` or ``infilling`` (``kind`` picks the infilling benchmark);
    none for ``toy``."""
    if benchmark == "humaneval":
        return dict(PAPER_HUMANEVAL)
    if benchmark == "mbpp":
        return dict(PAPER_MBPP)
    if benchmark == "infilling":
        return {model: (value, None, None) for model, value in PAPER_INFILLING.get(kind or "", {}).items()}
    if benchmark == "toy":  # our own world: no paper numbers to compare with
        return {}
    raise ValueError(f"unknown benchmark {benchmark!r}; choose humaneval, mbpp, infilling or toy")


def format_table(benchmark: str, ours: Mapping[int, PassAtK], label: str = "ours", *, kind: str | None = None,
                 problems_total: int | None = None, samples_per_problem: int | None = None,
                 exact_match: float | None = None) -> str:
    """A plain-text table: our pass@k (with CI) on top, the paper's models below, in percent."""
    title = benchmark if kind is None else f"{benchmark} ({kind})"
    scored = next(iter(ours.values())).problems if ours else 0
    detail = f"{scored} of {problems_total} problems" if problems_total else f"{scored} problems"
    if samples_per_problem:
        detail += f", {samples_per_problem} samples each"
    columns = sorted(set(KS) | set(ours))
    width = max([len(label)] + [len(model) + 8 for model in paper_rows(benchmark, kind)] + [24])
    lines = [f"{title}: pass@k in percent ({detail})",
             f"{'model':<{width}}  " + "  ".join(f"{f'pass@{k}':>18}" for k in columns)]
    lines.append(f"{label:<{width}}  " + "  ".join(f"{_ours(ours.get(k)):>18}" for k in columns))
    if exact_match is not None:
        lines.append(f"{'  exact match':<{width}}  {100 * exact_match:>18.1f}")
    for model, values in paper_rows(benchmark, kind).items():
        by_k = dict(zip(KS, values))
        lines.append(f"{model + ' (paper)':<{width}}  " + "  ".join(
            f"{_paper(by_k.get(k)):>18}" for k in columns))
    if problems_total and scored < problems_total:
        lines.append(f"note: only {scored} of {problems_total} problems scored; not comparable with the paper")
    return "\n".join(lines)


def _paper(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f}"


def _ours(result: PassAtK | None) -> str:
    if result is None:
        return "n/a (k > n)"
    return f"{100 * result.value:.1f} [{100 * result.low:.1f}–{100 * result.high:.1f}]"
