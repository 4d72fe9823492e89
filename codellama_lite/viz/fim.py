"""Chapter 3's pictures: FIM layouts as token strips, the packer's FIM share by length, infilling scores by arm."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib.pyplot as plt

from codellama_lite.experiments.fim import CENSUS_KINDS

SPECIAL_COLOURS = {"▁<PRE>": "#d62728", "▁<SUF>": "#1f77b4", "▁<MID>": "#2ca02c", "▁<EOT>": "#7f7f7f"}
PART_COLOURS = {"prefix": "#fde0dd", "middle": "#e5f5e0", "suffix": "#deebf7", "": "#f0f0f0"}


def plot_token_strips(strips: Mapping[str, Sequence[tuple[str, str]]], title: str = ""):
    """One row per layout; each token a box labelled with its piece, coloured by the part it belongs to
    (``(piece, part)`` pairs, part in prefix/middle/suffix, or ``""`` for the special tokens)."""
    longest = max(len(strip) for strip in strips.values())
    fig, ax = plt.subplots(figsize=(min(2 + 0.55 * longest, 18), 0.8 + 0.7 * len(strips)))
    for row, (name, strip) in enumerate(strips.items()):
        y = len(strips) - 1 - row
        for x, (piece, part) in enumerate(strip):
            colour = SPECIAL_COLOURS.get(piece, PART_COLOURS.get(part, "#ffffff"))
            ax.add_patch(plt.Rectangle((x, y + 0.1), 0.95, 0.8, color=colour))
            label = piece.replace("▁<", "<").replace("<0x0A>", "\\n")
            ax.text(x + 0.47, y + 0.5, label, ha="center", va="center", fontsize=7, rotation=90 if len(label) > 4
                    else 0, color="white" if piece in SPECIAL_COLOURS else "black")
        ax.text(-0.3, y + 0.5, name, ha="right", va="center", fontsize=9)
    ax.set_xlim(-0.2, longest)
    ax.set_ylim(0, len(strips))
    ax.axis("off")
    ax.set_title(title)
    return fig


def plot_fim_share(rows: Sequence[Mapping[str, Any]], seq_len: int):
    """Share of documents the packer FIM'd, per length bucket, with the context length for reference."""
    fig, ax = plt.subplots(figsize=(7, 3))
    ax.bar([row["tokens"] for row in rows], [row["fim_share"] for row in rows], color="#2ca02c")
    for i, row in enumerate(rows):
        ax.text(i, row["fim_share"] + 0.02, f"{row['documents']} docs", ha="center", fontsize=8)
    ax.axhline(0.9, ls="--", color="grey", lw=1, label="FIM rate 0.9")
    ax.set_xlabel(f"document length in tokens (context: {seq_len})")
    ax.set_ylabel("share FIM'd")
    ax.set_ylim(0, 1.05)
    ax.legend(loc="upper right")
    return fig


def plot_infilling(summary: Mapping[str, Mapping[str, Any]],
                   arms: Sequence[str] = ("fim/psm", "fim/spm", "fim/spm+lines", "no_fim/l2r")):
    """pass@1 per infilling kind and arm/mode, with 95% intervals (over problems, and seeds when there are several):
    ``summary`` is :func:`codellama_lite.experiments.fim.summarize`'s ``["infilling"]``."""
    kinds = list(summary)
    fig, ax = plt.subplots(figsize=(8, 3.2))
    width = 0.8 / len(arms)
    for j, arm in enumerate(arms):
        values = [summary[kind][arm]["value"] for kind in kinds]
        errors = [[v - summary[kind][arm]["low"] for kind, v in zip(kinds, values)],
                  [summary[kind][arm]["high"] - v for kind, v in zip(kinds, values)]]
        ax.bar([i + j * width for i in range(len(kinds))], values, width, yerr=errors, capsize=3, label=arm)
    ax.set_xticks([i + width * (len(arms) - 1) / 2 for i in range(len(kinds))], kinds)
    ax.set_ylabel("pass@1 (greedy)")
    ax.legend(fontsize=8)
    return fig


def plot_census(census: Mapping[str, Mapping[str, float]]):
    """How each arm's training stream showed the toy world's functions (:func:`codellama_lite.experiments.fim.
    toy_census`): stacked shares, whole and left to right at the bottom."""
    fig, ax = plt.subplots(figsize=(7, 2.6))
    colors = ("#2ca02c", "#98df8a", "#ff7f0e", "#d62728")
    for row, (arm, shares) in enumerate(census.items()):
        left = 0.0
        for kind, color in zip(CENSUS_KINDS, colors):
            ax.barh(row, shares[kind], left=left, color=color, label=kind if row == 0 else None)
            left += shares[kind]
    ax.set_yticks(range(len(census)), list(census))
    ax.set_xlabel("share of toy functions in the training stream")
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.35), ncol=2)
    return fig
