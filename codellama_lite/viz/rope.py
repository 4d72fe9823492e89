"""Plots for chapter 4 (long context): rotary wavelengths, the RoFormer decay bound, rescaled frequencies, loss by
position and key-retrieval heatmaps (Code Llama §3.3, appendix G, Figures 4a and 9a)."""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import torch

from codellama_lite.rope import decay_bound, wavelengths


def plot_wavelengths(head_dim: int, thetas: Sequence[float], train_length: int, long_length: int | None = None):
    """Tokens per turn of every pair for each base (log scale) against the training length: pairs above the line
    never completed a turn in training."""
    fig, ax = plt.subplots(figsize=(7, 3.6), layout="constrained")
    pairs = torch.arange(head_dim // 2)
    for theta in thetas:
        ax.plot(pairs, wavelengths(head_dim, theta), marker=".", label=f"base {theta:g}")
    ax.axhline(train_length, color="black", linestyle="--", label=f"training length {train_length:,}")
    if long_length:
        ax.axhline(long_length, color="grey", linestyle=":", label=f"long context {long_length:,}")
    ax.set(yscale="log", xlabel="pair i", ylabel="wavelength 2π/θ_i (tokens)",
           title=f"RoPE wavelengths, head_dim {head_dim}")
    ax.legend()
    return fig


def plot_decay_bound(distances: torch.Tensor, head_dim: int, thetas: Sequence[float]):
    """Figure 9a: the RoFormer bound on the attention score against distance, one curve per base."""
    fig, ax = plt.subplots(figsize=(7, 3.6), layout="constrained")
    for theta in thetas:
        ax.plot(distances, decay_bound(distances, head_dim, theta), label=f"base {theta:g}")
    ax.set(xlabel="relative distance (tokens)", ylabel="relative upper bound", title=f"RoFormer decay, d = {head_dim}")
    ax.legend()
    return fig


def plot_frequency_ratios(ratios: dict[str, torch.Tensor], title: str):
    """Each method's frequency per pair divided by the original (1: kept, 1/s: interpolated)."""
    fig, ax = plt.subplots(figsize=(7, 3.6), layout="constrained")
    for name, ratio in ratios.items():
        ax.plot(ratio, marker=".", label=name)
    ax.set(yscale="log", xlabel="pair i (fast → slow)", ylabel="new θ_i / original θ_i", title=title)
    ax.legend()
    return fig


def plot_loss_by_position(curves: dict[str, torch.Tensor], train_length: int, finetune_length: int,
                          window: int = 32):
    """Figure 4a's view: loss against position (a moving average over ``window``), with both training lengths."""
    fig, ax = plt.subplots(figsize=(8, 4), layout="constrained")
    kernel = torch.ones(1, 1, window) / window
    for name, losses in curves.items():
        smooth = torch.nn.functional.conv1d(losses[None, None], kernel)[0, 0]
        ax.plot(torch.arange(len(smooth)) + window // 2, smooth, label=name)
    ax.axvline(train_length, color="black", linestyle="--", label="base training length")
    ax.axvline(finetune_length, color="grey", linestyle=":", label="LCFT length")
    ax.set(xscale="log", xlabel="position (tokens)", ylabel=f"loss (mean over {window} positions)",
           title="held-out code: loss by position")
    ax.legend(fontsize=8)
    return fig


def plot_retrieval(grids: dict[str, torch.Tensor], lengths: Sequence[int], depths: Sequence[float]):
    """One heatmap per model: key-retrieval accuracy by prompt length (rows) and needle depth (columns)."""
    fig, axes = plt.subplots(1, len(grids), figsize=(2.6 * len(grids) + 1, 0.45 * len(lengths) + 1.6),
                             layout="constrained", squeeze=False)
    for ax, (name, grid) in zip(axes[0], grids.items()):
        image = ax.imshow(grid, vmin=0, vmax=1, cmap="viridis", aspect="auto")
        ax.set_xticks(range(len(depths)), [f"{d:.0%}" for d in depths], fontsize=7)
        ax.set_yticks(range(len(lengths)), [f"{n:,}" for n in lengths], fontsize=7)
        ax.set_title(name, fontsize=8)
        ax.set_xlabel("depth", fontsize=8)
    axes[0][0].set_ylabel("prompt length (tokens)")
    fig.colorbar(image, ax=axes[0].tolist(), label="accuracy")
    return fig
