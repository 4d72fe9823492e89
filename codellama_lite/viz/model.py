"""Plots for chapter 2 (the architecture): parameter budgets, activations, attention patterns, a preset explorer."""

from __future__ import annotations

import math
from collections.abc import Sequence

import matplotlib.pyplot as plt
import torch
import torch.nn.functional as F

from codellama_lite.config import PAPER_PARAMS_B, PRESETS, ModelConfig, param_count
from codellama_lite.rope import LLAMA2_ROPE_THETA, apply_rope, rope_cos_sin, rope_frequencies
from codellama_lite.model import RMSNorm, Transformer


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
        paper = f", published {PAPER_PARAMS_B[name]}B" if name in PAPER_PARAMS_B else ""
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


def describe_preset(name: str, vocab_size: int | None = None) -> str:
    """A short text card of a preset's shape and parameter count (the explorer's output)."""
    overrides = {} if vocab_size is None else {"vocab_size": vocab_size}
    config = ModelConfig.preset(name, **overrides)
    paper = f" (published: {PAPER_PARAMS_B[name]}B)" if name in PAPER_PARAMS_B else ""
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


    return widgets.interactive(lambda name, vocab: print(describe_preset(name, vocab)),
                               name=widgets.Dropdown(options=list(PRESETS), value="7b"),
                               vocab=widgets.Dropdown(options=[32000, 32016], value=32016))


# -- the blocks, drawn (section 2 of notebook 02) ------------------------------------------------------------------

def plot_rmsnorm_scale(dim: int = 64, seed: int = 0):
    """RMSNorm (unit gain) on vectors of very different sizes: the output's root mean square is 1 whatever the
    input's (left, 64 dimensions), and in two dimensions every point lands on the circle of radius √2 in its own
    direction (right) — the scale goes, the direction stays."""
    generator = torch.Generator().manual_seed(seed)
    norm = RMSNorm(dim)
    scales = torch.logspace(-2, 2, 40)
    vectors = torch.randn(len(scales), dim, generator=generator) * scales[:, None]
    rms = lambda v: v.pow(2).mean(-1).sqrt()
    fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3.6), layout="constrained")
    with torch.no_grad():
        left.loglog(rms(vectors), rms(vectors), ":", color="grey", label="input")
        left.loglog(rms(vectors), rms(norm(vectors)), "o", ms=3, label="RMSNorm(input)")
        points = torch.randn(24, 2, generator=generator) * torch.logspace(-1, 0.7, 24)[:, None]
        normed = RMSNorm(2)(points)
    left.set(xlabel="input RMS", ylabel="RMS", title=f"{dim}-d vectors: every output has RMS 1")
    left.legend(fontsize=8)
    right.scatter(points[:, 0], points[:, 1], s=12, label="input")
    right.scatter(normed[:, 0], normed[:, 1], s=12, label="RMSNorm(input)")
    for before, after in zip(points, normed):
        right.plot([0, float(after[0])], [0, float(after[1])], color="grey", lw=0.4)
    right.set(aspect="equal", title="2-d points: same direction, radius √2")
    right.legend(fontsize=8, loc="lower right")
    return fig


def plot_rope(head_dim: int = 64, theta: float = LLAMA2_ROPE_THETA, positions: int = 16, seed: int = 0):
    """RoPE, seen twice. Left: one pair of a query vector turned by position (the fastest pair, a slower one).
    Right: the score ``rope(q, m) · rope(k, n)`` against the distance ``n - m`` for several query positions ``m``;
    the curves lie on top of each other, because the score depends only on the distance."""
    generator = torch.Generator().manual_seed(seed)
    inv_freq = rope_frequencies(head_dim, theta)
    cos, sin = rope_cos_sin(inv_freq, torch.arange(positions + 64))
    q, k = torch.randn(2, head_dim, generator=generator)
    turned = apply_rope(q.expand(positions, head_dim), cos[:positions], sin[:positions])
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.8), layout="constrained")
    half = head_dim // 2
    for pair, style in ((max(1, half // 10), "o-"), (half // 3, "s-")):  # a fast pair, a slow one
        left.plot(turned[:, pair], turned[:, pair + half], style, ms=3,
                  label=f"pair ({pair}, {pair + half}): {float(inv_freq[pair]):.2g} rad/position")
        for position in (0, 1, 2, 3):
            left.annotate(str(position), (float(turned[position, pair]), float(turned[position, pair + half])),
                          fontsize=7, xytext=(3, 3), textcoords="offset points")
    left.set(aspect="equal", title=f"one query pair at positions 0–{positions - 1}")
    left.legend(fontsize=7, loc="lower left")
    distances = torch.arange(-16, 17)
    for m in (16, 30, 60):
        keys = apply_rope(k.expand(len(distances), head_dim), cos[m + distances], sin[m + distances])
        query = apply_rope(q, cos[m], sin[m])
        right.plot(distances, keys @ query, "o-" if m == 16 else "-", ms=3, label=f"query at m = {m}")
    right.set(xlabel="key position n − m", ylabel="q·k after RoPE", title="the score depends only on n − m")
    right.legend(fontsize=8)
    return fig


def plot_gqa_sharing(n_heads: int = 8, kv_options: Sequence[int] = (8, 2, 1)):
    """Which key/value head each query head reads: multi-head (as many as queries), grouped-query (34B, 70B: 64
    query heads share 8) and multi-query attention (one). The cache keeps only the key/value heads."""
    fig, axes = plt.subplots(1, len(kv_options), figsize=(3.4 * len(kv_options), 3.2), layout="constrained")
    for ax, kv in zip(axes, kv_options):
        group = n_heads // kv
        for h in range(n_heads):
            ax.plot([0, 1], [h, (h // group + 0.5) * group - 0.5], color=f"C{h // group}", lw=1.2)
        ax.scatter([0] * n_heads, range(n_heads), s=60, color=[f"C{h // group}" for h in range(n_heads)], zorder=3)
        ax.scatter([1] * kv, [(g + 0.5) * group - 0.5 for g in range(kv)], s=160, marker="s",
                   color=[f"C{g}" for g in range(kv)], zorder=3)
        name = "multi-head" if kv == n_heads else "multi-query" if kv == 1 else "grouped-query"
        ax.set_title(f"{name}: {kv} key/value head{'s' if kv > 1 else ''}\n(KV cache {kv}/{n_heads} of MHA's)",
                     fontsize=9)
        ax.set_xticks([0, 1], ["query heads", "key/value heads"])
        ax.set_yticks([])
        ax.invert_yaxis()
        ax.set_xlim(-0.3, 1.3)
    return fig


# -- a trained model's heads (section 6 of notebook 02) --------------------------------------------------------------

def repeat_kv(x: torch.Tensor, n_rep: int) -> torch.Tensor:
    """Grouped-query attention: repeat each key/value head ``n_rep`` times, ``(b, kv, t, d) -> (b, kv * n_rep, t, d)``.

    Query head ``h`` then meets key/value head ``h // n_rep``. (The model asks ``scaled_dot_product_attention`` to do
    this broadcast without copying, ``enable_gqa=True``; this function states what that means.)
    """
    if n_rep == 1:
        return x
    batch, kv_heads, seq, head_dim = x.shape
    return x[:, :, None].expand(batch, kv_heads, n_rep, seq, head_dim).reshape(batch, kv_heads * n_rep, seq, head_dim)


@torch.no_grad()
def attention_maps(model: Transformer, tokens: torch.Tensor) -> list[torch.Tensor]:
    """Every layer's attention probabilities ``(batch, n_heads, seq, seq)`` for ``tokens``, for plots.

    The forward pass never forms these matrices (the fused kernel does not need them); here each layer's input is
    captured and ``softmax(q kᵀ / sqrt(head_dim))`` is computed explicitly, causal, with :func:`repeat_kv`.
    """
    captured: list[tuple[torch.Tensor, ...]] = []
    hooks = [layer.attention.register_forward_pre_hook(lambda module, args: captured.append(args[:3]))
             for layer in model.layers]
    try:
        model(tokens)
    finally:
        for hook in hooks:
            hook.remove()
    maps = []
    seq = tokens.shape[1]
    causal = torch.ones(seq, seq, dtype=torch.bool, device=tokens.device).tril()
    for layer, (x, cos, sin) in zip(model.layers, captured):
        attention = layer.attention
        q, k, _ = attention.project(x, cos, sin)
        k = repeat_kv(k, attention.n_heads // attention.n_kv_heads)
        scores = (q @ k.transpose(-1, -2)) / math.sqrt(attention.head_dim)
        maps.append(scores.masked_fill(~causal, float("-inf")).softmax(dim=-1))
    return maps


def plot_head_scores(scores: dict[str, torch.Tensor], baselines: dict[str, float] | None = None):
    """One heat map per score (``(layers, heads)`` tables, e.g. previous-token and induction), each cell labelled;
    ``baselines`` names what an uninformative head would score."""
    layers, heads = next(iter(scores.values())).shape
    fig, axes = plt.subplots(1, len(scores), figsize=((1.6 + 0.7 * heads) * len(scores), 0.6 * layers + 1.8),
                             squeeze=False, layout="constrained")
    for ax, (name, table) in zip(axes.flat, scores.items()):
        image = ax.imshow(table, cmap="Blues", vmin=0.0, vmax=max(float(table.max()), 1e-6))
        for (layer, head), value in zip(torch.cartesian_prod(torch.arange(table.shape[0]),
                                                             torch.arange(table.shape[1])).tolist(), table.flatten()):
            ax.text(head, layer, f"{float(value):.2f}", ha="center", va="center", fontsize=7, color="black")
        note = f"\n(uniform attention ≈ {baselines[name]:.2f})" if baselines and name in baselines else ""
        ax.set(xlabel="head", ylabel="layer", title=f"{name} score{note}")
        ax.set_xticks(range(table.shape[1]))
        ax.set_yticks(range(table.shape[0]))
        fig.colorbar(image, ax=ax, shrink=0.8)
    return fig


def plot_heads(maps: Sequence[torch.Tensor], heads: Sequence, labels: Sequence[str],
               windows: Sequence[tuple[range, range]], titles: Sequence[str]):
    """Chosen heads (each with ``layer`` and ``head``) side by side, each over a window of ``(query positions,
    key positions)`` so that the tokens can be read; one colour bar."""
    fig, axes = plt.subplots(1, len(heads), figsize=(5.2 * len(heads) + 1, 5.4), squeeze=False,
                             layout="constrained")
    for ax, head, (queries, keys), title in zip(axes.flat, heads, windows, titles):
        probs = maps[head.layer][0, head.head].float()[list(queries)][:, list(keys)]
        image = ax.imshow(probs, cmap="viridis", vmin=0.0, vmax=1.0)
        ax.set_xticks(range(len(keys)), [labels[i] for i in keys], rotation=90, fontsize=6, family="monospace")
        ax.set_yticks(range(len(queries)), [labels[i] for i in queries], fontsize=6, family="monospace")
        ax.set_title(f"{title}\nlayer {head.layer}, head {head.head}", fontsize=9)
    fig.colorbar(image, ax=axes, shrink=0.7, label="attention probability")
    fig.supxlabel("key (attended-to) token")
    fig.supylabel("query token")
    return fig
