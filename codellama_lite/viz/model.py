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
    """Stacked bars of each preset's parameters by role, with the paper's published total above each bar."""
    fig, ax = plt.subplots(figsize=(7, 3.5))
    bottoms = [0.0] * len(names)
    for role in ("embedding", "attention", "feed-forward", "norms", "output"):
        values = [param_breakdown(ModelConfig.preset(n, vocab_size=vocab_size))[role] / 1e9 for n in names]
        ax.bar(names, values, bottom=bottoms, label=role)
        bottoms = [b + v for b, v in zip(bottoms, values)]
    for i, name in enumerate(names):
        if name in PAPER_PARAMS_B:
            ax.annotate(f"paper {PAPER_PARAMS_B[name]}B", (i, bottoms[i]), ha="center", va="bottom", fontsize=8)
    ax.set_ylabel("parameters (billions)")
    ax.set_title(f"Where the parameters are (vocabulary {vocab_size:,})")
    ax.legend(fontsize=8)
    fig.tight_layout()
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
                        max_heads: int = 8):
    """Heat maps of one layer's attention probabilities (one panel per head) from :func:`model.attention_maps`."""
    probs = maps[layer][0]
    heads = min(probs.shape[0], max_heads)
    fig, axes = plt.subplots(1, heads, figsize=(2.6 * heads, 2.8), squeeze=False)
    for head, ax in enumerate(axes[0]):
        ax.imshow(probs[head].cpu(), cmap="viridis", vmin=0.0)
        ax.set_title(f"layer {layer} head {head}", fontsize=8)
        if labels is not None and len(labels) <= 24:
            ax.set_xticks(range(len(labels)), labels, rotation=90, fontsize=6)
            ax.set_yticks(range(len(labels)), labels, fontsize=6)
        else:
            ax.set_xticks([])
            ax.set_yticks([])
    fig.supxlabel("key position")
    fig.supylabel("query")
    fig.tight_layout()
    return fig


def describe_preset(name: str, vocab_size: int | None = None) -> str:
    """A short text card of a preset's shape and parameter count (the explorer's output)."""
    overrides = {} if vocab_size is None else {"vocab_size": vocab_size}
    config = ModelConfig.preset(name, **overrides)
    n = param_count(config)
    paper = f" (paper: {PAPER_PARAMS_B[name]}B)" if name in PAPER_PARAMS_B else ""
    group = config.n_heads // config.kv_heads
    return (f"{name}: dim {config.dim}, {config.n_layers} layers, {config.n_heads} query heads, "
            f"{config.kv_heads} key/value heads ({group} queries per group), head_dim {config.head_dim}, "
            f"FFN {config.hidden_dim}, vocabulary {config.vocab_size:,}, rope_theta {config.rope_theta:g}\n"
            f"parameters: {n:,}{paper}")


def preset_explorer():
    """A dropdown over the presets showing :func:`describe_preset` (call that function directly without widgets)."""
    import ipywidgets as widgets

    from codellama_lite.config import PRESETS

    return widgets.interactive(lambda name, vocab: print(describe_preset(name, vocab)),
                               name=widgets.Dropdown(options=list(PRESETS), value="7b"),
                               vocab=widgets.Dropdown(options=[32000, 32016], value=32016))
