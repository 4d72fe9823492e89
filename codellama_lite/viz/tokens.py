"""Pictures of tokens for notebook 01 (Code Llama §2.2, §2.3): bytes per token, piece lengths, infilling strips,
and an explorer that tokenizes what the learner types (an ipywidgets front end over a plain function).
"""

from __future__ import annotations

import html
from collections.abc import Sequence

import matplotlib.pyplot as plt

from codellama_lite.tokenizer import Tokenizer

SEGMENT_COLORS = {"special": "#4d4d4d", "prefix": "#4c78a8", "suffix": "#f58518", "middle": "#54a24b",
                  "text": "#9ecae9"}


def _printable(piece: str) -> str:
    if len(piece) > 2 and not piece.strip("▁"):
        return f"▁×{len(piece)}"  # a run of spaces (indentation)
    return piece.replace("\n", "\\n").replace("\t", "\\t")


def show_tokens(tokenizer: Tokenizer, text: str, infilling: bool = False) -> str:
    """A summary line, then every piece of ``text`` with its id: the explorer without widgets."""
    ids = tokenizer.encode_infilling(text) if infilling else tokenizer.encode(text)
    cells = [f"{_printable(tokenizer.id_to_piece(i))}:{i}" for i in ids]
    size = len(text.encode("utf-8"))
    ratio = f"{size / len(ids):.2f}" if ids else "-"
    return f"{size} bytes -> {len(ids)} tokens ({ratio} bytes/token)\n" + " | ".join(cells)


def token_html(tokenizer: Tokenizer, text: str, infilling: bool = False) -> str:
    """``text`` as coloured boxes, one per piece (byte-fallback pieces in red)."""
    ids = tokenizer.encode_infilling(text) if infilling else tokenizer.encode(text)
    spans = []
    for n, index in enumerate(ids):
        color = "#f4a6a6" if tokenizer.is_byte(index) else ("#d7e8f7" if n % 2 else "#fde8c8")
        label = html.escape(_printable(tokenizer.id_to_piece(index)))
        spans.append(f'<span title="id {index}" style="background:{color};padding:1px 2px;margin:1px;'
                     f'font-family:monospace;border-radius:3px">{label}</span>')
    summary = html.escape(show_tokens(tokenizer, text, infilling).splitlines()[0])
    return f"<div><b>{summary}</b></div><div style='line-height:1.9'>{''.join(spans)}</div>"


def token_explorer(tokenizer: Tokenizer, text: str = "def greet(name):\n    return f'hi {name}'\n"):
    """An ipywidgets box that re-tokenizes as you type; without ipywidgets it prints :func:`show_tokens`."""
    try:
        import ipywidgets as widgets
    except ImportError:
        print(show_tokens(tokenizer, text))
        return None
    box = widgets.Textarea(value=text, layout=widgets.Layout(width="100%", height="6em"))
    no_space = widgets.Checkbox(value=False, description="no implicit leading space (infilling)", indent=False,
                                layout=widgets.Layout(width="auto"), style={"description_width": "initial"})
    view = widgets.HTML()

    def refresh(_change=None) -> None:
        view.value = token_html(tokenizer, box.value, no_space.value)

    box.observe(refresh, names="value")
    no_space.observe(refresh, names="value")
    refresh()
    return widgets.VBox([box, no_space, view])


def plot_bytes_per_token(table: dict[str, dict[int, float]], ax=None, title: str = "bytes per token"):
    """One line per language: bytes per token against the base vocabulary size."""
    if ax is None:
        _, ax = plt.subplots(figsize=(7, 4))
    for language, by_size in table.items():
        sizes = sorted(by_size)
        ax.plot(sizes, [by_size[size] for size in sizes], marker="o", label=language)
    ax.set_xscale("log", base=2)
    sizes = sorted({size for by_size in table.values() for size in by_size})
    ax.set_xticks(sizes, [f"{size:,}" for size in sizes])
    ax.minorticks_off()
    ax.set_xlabel("base vocabulary size")
    ax.set_ylabel("UTF-8 bytes per token (higher = more compact)")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small", ncol=2)
    return ax


def plot_piece_lengths(tokenizer: Tokenizer, ax=None):
    """Histogram of the lengths (characters, ``▁`` included) of the learned pieces."""
    processor = tokenizer.processor
    lengths = [len(tokenizer.id_to_piece(i)) for i in range(tokenizer.vocab_size)
               if not (processor.is_control(i) or processor.is_byte(i) or processor.is_unknown(i))]
    if ax is None:
        _, ax = plt.subplots(figsize=(7, 3))
    ax.hist(lengths, bins=range(1, max(lengths) + 2), align="left", rwidth=0.85)
    ax.set_xlabel("piece length (characters)")
    ax.set_ylabel("pieces")
    ax.set_title(f"{len(lengths)} learned pieces of a {tokenizer.vocab_size}-piece vocabulary")
    return ax


def plot_census(census: dict[str, int], ax=None, title: str = "where the tokens go"):
    """Horizontal bars: share of tokens per kind of piece."""
    total = sum(census.values()) or 1
    if ax is None:
        _, ax = plt.subplots(figsize=(7, 3))
    names = list(census)
    ax.barh(names, [100 * census[name] / total for name in names])
    ax.invert_yaxis()
    ax.set_xlabel("% of tokens")
    ax.set_title(title)
    return ax


def segments(tokenizer: Tokenizer, ids: Sequence[int]) -> list[str]:
    """Label each id of an infilling prompt: special, prefix, suffix or middle (PSM and SPM)."""
    labels, state, previous = [], "text", None
    special = {tokenizer.bos_id, tokenizer.eos_id, tokenizer.prefix_id, tokenizer.suffix_id, tokenizer.middle_id,
               tokenizer.eot_id}
    spm = False
    for index in ids:
        if index in special:
            if index == tokenizer.prefix_id:
                state = "prefix"
            elif index == tokenizer.suffix_id:
                spm = spm or previous == tokenizer.prefix_id
                state = "suffix"
            elif index == tokenizer.middle_id:
                state = "prefix" if spm else "middle"
            labels.append("special")
        else:
            labels.append(state)
        previous = index
    return labels


def draw_token_strip(ax, tokenizer: Tokenizer, ids: Sequence[int], title: str = "", max_tokens: int = 40) -> None:
    """Draw ``ids`` as a row of boxes labelled with their pieces, coloured by segment."""
    ids = list(ids)[:max_tokens]
    for position, (index, segment) in enumerate(zip(ids, segments(tokenizer, ids))):
        ax.add_patch(plt.Rectangle((position, 0), 0.95, 1, color=SEGMENT_COLORS[segment]))
        piece = _printable(tokenizer.id_to_piece(index))
        ax.text(position + 0.47, 0.5, piece, ha="center", va="center", rotation=90, fontsize=8,
                color="white" if segment == "special" else "black", family="monospace")
    ax.set_xlim(0, max(len(ids), 1))
    ax.set_ylim(0, 1)
    ax.set_yticks([])
    ax.set_xticks(range(0, len(ids), 5))
    ax.set_title(title, loc="left", fontsize=10)


def plot_infill_layouts(tokenizer: Tokenizer, prefix: str, suffix: str):
    """The PSM and SPM prompts for ``prefix`` / ``suffix`` as two token strips (Code Llama §2.3)."""
    fig, axes = plt.subplots(2, 1, figsize=(11, 3.6))
    for ax, suffix_first in zip(axes, (False, True)):
        ids = tokenizer.infill_prompt(prefix, suffix, suffix_first=suffix_first)
        name = "SPM: <PRE> <SUF> suffix <MID> prefix" if suffix_first else "PSM: <PRE> prefix <SUF> suffix <MID>"
        draw_token_strip(ax, tokenizer, ids, f"{name}  ({len(ids)} tokens)")
    handles = [plt.Rectangle((0, 0), 1, 1, color=SEGMENT_COLORS[s]) for s in ("special", "prefix", "suffix")]
    fig.legend(handles, ["special", "prefix", "suffix"], loc="upper right", ncol=3, fontsize="small")
    fig.tight_layout()
    return fig
