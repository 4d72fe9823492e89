"""Plots for chapter 2 (the architecture): parameter budgets, activations, attention patterns, a preset explorer."""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import torch
import torch.nn.functional as F

from codellama_lite.config import PAPER_PARAMS_B, ModelConfig, param_count


def param_breakdown(config: ModelConfig) -> dict[str, int]:
    """Parameters by role: embedding, attention, feed-forward, norms, output layer."""
    attention = config.n_layers * 2 * config.dim * (config.n_heads + config.kv_heads) * config.head_dim
    feed_forward = config.n_layers * 3 * config.dim * config.hidden_dim
    parts = {"embedding": config.vocab_size * config.dim, "attention": attention, "feed-forward": feed_forward,
             "norms": (2 * config.n_layers + 1) * config.dim, "output": config.vocab_size * config.dim}
    assert sum(parts.values()) == param_count(config)
    return parts


def plot_param_breakdown(names: Sequence[str] = ("7b", "13b", "34b", "70b"), vocab_size: int = 32000):
    """Each preset's parameters as shares of 100% by role (labelled where a share is visible), its total and the
    paper's published figure beside the bar."""
    fig, ax = plt.subplots(figsize=(8, 0.7 * len(names) + 1.4), layout="constrained")
    roles = ("embedding", "attention", "feed-forward", "norms", "output")
    breakdowns = [param_breakdown(ModelConfig.preset(name, vocab_size=vocab_size)) for name in names]
    lefts = [0.0] * len(names)
    for role in roles:
        shares = [100 * parts[role] / sum(parts.values()) for parts in breakdowns]
        bars = ax.barh(names, shares, left=lefts, label=role)
        ax.bar_label(bars, [f"{share:.0f}%" if share >= 4 else "" for share in shares], label_type="center",
                     fontsize=8)
        lefts = [left + share for left, share in zip(lefts, shares)]
    for row, (name, parts) in enumerate(zip(names, breakdowns)):
        paper = f", paper {PAPER_PARAMS_B[name]}B" if name in PAPER_PARAMS_B else ""
        ax.annotate(f"{sum(parts.values()) / 1e9:.2f}B{paper}", (101, row), va="center", fontsize=8,
                    annotation_clip=False)
    ax.invert_yaxis()
    ax.set_xlim(0, 100)
    ax.set_xlabel("share of the parameters (%)")
    ax.set_title(f"Where the parameters are (vocabulary {vocab_size:,}; norms are under 0.01%)")
    ax.legend(fontsize=8, ncol=len(roles), loc="upper center", bbox_to_anchor=(0.5, -0.35))
    return fig


def plot_activations(x_range: float = 4.0):
    """ReLU, GELU and SiLU (the gate of SwiGLU), and the SwiGLU product for a few values of the 'up' branch."""
    x = torch.linspace(-x_range, x_range, 401)
    fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3.2))
    for name, fn in (("ReLU", F.relu), ("GELU", F.gelu), ("SiLU = x·sigmoid(x)", F.silu)):
        left.plot(x, fn(x), label=name)
    left.set_title("activations")
    left.legend(fontsize=8)
    for up in (-1.0, 0.5, 1.0, 2.0):
        right.plot(x, F.silu(x) * up, label=f"up = {up}")
    right.set_title("SwiGLU unit: silu(gate) · up")
    right.set_xlabel("gate")
    right.legend(fontsize=8)
    fig.tight_layout()
    return fig


def plot_attention_maps(maps: Sequence[torch.Tensor], labels: Sequence[str] | None = None, layer: int = 0,
                        max_heads: int = 8, per_row: int = 4):
    """Heat maps of one layer's attention probabilities (one panel per head, ``per_row`` to a row) from
    :func:`model.attention_maps`, with one shared colour bar; token labels are shown up to 24 tokens."""
    probs = maps[layer][0].float().cpu()
    heads = min(probs.shape[0], max_heads)
    rows, cols = -(-heads // per_row), min(heads, per_row)
    fig, axes = plt.subplots(rows, cols, figsize=(3.4 * cols + 1, 3.4 * rows), squeeze=False, layout="constrained")
    show_labels = labels is not None and len(labels) <= 24
    for head, ax in enumerate(axes.flat):
        if head >= heads:
            ax.axis("off")
            continue
        image = ax.imshow(probs[head], cmap="viridis", vmin=0.0, vmax=1.0)
        ax.set_title(f"layer {layer}, head {head}", fontsize=9)
        ticks = range(len(labels)) if show_labels else []
        ax.set_xticks(ticks, labels if show_labels else [], rotation=90, fontsize=7, family="monospace")
        ax.set_yticks(ticks, labels if show_labels else [], fontsize=7, family="monospace")
    fig.colorbar(image, ax=axes, shrink=0.8, label="attention probability")
    fig.supxlabel("key (attended-to) token")
    fig.supylabel("query token")
    return fig


def describe_preset(name: str, vocab_size: int | None = None) -> str:
    """A short text card of a preset's shape and parameter count (the explorer's output)."""
    overrides = {} if vocab_size is None else {"vocab_size": vocab_size}
    config = ModelConfig.preset(name, **overrides)
    paper = f" (paper: {PAPER_PARAMS_B[name]}B)" if name in PAPER_PARAMS_B else ""
    group = config.n_heads // config.kv_heads
    per_group = f"{group} query head{'s' if group > 1 else ''} per key/value head"
    return "\n".join([
        f"{name}: {param_count(config):,} parameters{paper}",
        f"  width {config.dim}, {config.n_layers} layers, feed-forward {config.hidden_dim}",
        f"  {config.n_heads} query heads, {config.kv_heads} key/value heads ({per_group}), head size {config.head_dim}",
        f"  vocabulary {config.vocab_size:,}, RoPE base {config.rope_theta:g}",
    ])


def preset_explorer():
    """A dropdown over the presets showing :func:`describe_preset` (call that function directly without widgets)."""
    import ipywidgets as widgets

    from codellama_lite.config import PRESETS

    return widgets.interactive(lambda name, vocab: print(describe_preset(name, vocab)),
                               name=widgets.Dropdown(options=list(PRESETS), value="7b"),
                               vocab=widgets.Dropdown(options=[32000, 32016], value=32016))
