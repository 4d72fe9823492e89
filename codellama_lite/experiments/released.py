"""The released Code Llama in the workbook: its tokenizer and its scores beside the paper's tables.

Point ``CODELLAMA_LITE_CHECKPOINT`` at a folder downloaded from Meta or Hugging Face (``CodeLlama-7b-hf`` with
``config.json``, safetensors and ``tokenizer.model``; or Meta's ``params.json``, ``consolidated.NN.pth`` and
``tokenizer.model``) and run a notebook with the ``gpu`` profile: each chapter measures that model the way the paper
measures it. Nothing is downloaded; every function here also runs on a tiny checkpoint on a CPU.

* chapter 1: the tokenizer's size and the ids of ``▁<PRE> ▁<SUF> ▁<MID> ▁<EOT>`` (32007–32010 in Code Llama, §2.3);
* chapter 3: HumanEval infilling, greedy pass@1 with PSM and SPM prompts (§3.2, Table 14);
* chapter 4: perplexity by position on large source files (§3.3, Figure 4a) and synthetic key retrieval (Table 17);
* chapter 6: HumanEval and MBPP greedy pass@1 (§3.1, Table 2).

``chapter_1`` … ``chapter_6`` are what the notebooks call: they return the report to print, or one line saying how
to enable the section when the variable is unset or the profile is not ``gpu``.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path

import torch

from codellama_lite.evaluation.evaluate import Sampling, evaluate
from codellama_lite.evaluation.generation import ModelCompleter, load_checkpoint
from codellama_lite.evaluation.infilling import KINDS, infilling_tasks, subsample
from codellama_lite.evaluation.humaneval import NUM_PROBLEMS, humaneval_tasks
from codellama_lite.evaluation.mbpp import SAMPLE_PATH, TEST_IDS, mbpp_tasks
from codellama_lite.evaluation.passk import PassAtK
from codellama_lite.evaluation.report import PAPER_INFILLING, format_table
from codellama_lite.evaluation.sandbox import Sandbox
from codellama_lite.evaluation.scoring import summarize
from codellama_lite.evaluation.tasks import Task
from codellama_lite.experiments.longcontext import bucket_means, long_documents, loss_per_position, retrieval_accuracy
from codellama_lite.interop import HF_INDEX, HF_WEIGHTS
from codellama_lite.model import Transformer
from codellama_lite.tokenizer import EOT_PIECE, MIDDLE_PIECE, PREFIX_PIECE, SUFFIX_PIECE, Tokenizer, read_corpus

ENV_VAR = "CODELLAMA_LITE_CHECKPOINT"
HOW_TO_ENABLE = (f"released model: not used (run with {ENV_VAR}=/path/to/CodeLlama-7b-hf "
                 f"CODELLAMA_LITE_PROFILE=gpu to measure it here)")
PROMPT_MODES = {"PSM": False, "SPM": True}  # mode -> suffix_first
TABLE_17_LENGTHS = (8192, 16384, 24576)
TABLE_17_DEPTHS = (0.0, 0.2, 0.4)
LARGE_FILE_BYTES = 50_000  # Figure 4a: "large source files (>= 50 kB)"
SAMPLE = "def mean(values):\n    return sum(values) / len(values)  # <PRE> stays text\n"


# -- the checkpoint --------------------------------------------------------------------------------------------------

def released_checkpoint() -> Path | None:
    """The folder ``$CODELLAMA_LITE_CHECKPOINT`` names, or ``None`` when it is unset or empty; a value that is not a
    folder holding a Hugging Face or Meta model and its ``tokenizer.model`` is an error naming the variable."""
    value = os.environ.get(ENV_VAR, "").strip()
    if not value:
        return None
    folder = Path(value).expanduser()
    problem = _checkpoint_problem(folder)
    if problem is not None:
        raise ValueError(f"codellama-lite: error: {ENV_VAR}={value}: {problem}")
    return folder


def _checkpoint_problem(folder: Path) -> str | None:
    """Why ``folder`` is not a Code Llama checkpoint this package reads, or ``None``."""
    if not folder.is_dir():
        return "no such folder"
    hf = (folder / "config.json").is_file() and any((folder / name).is_file() for name in (HF_WEIGHTS, HF_INDEX))
    meta = (folder / "params.json").is_file() and any(folder.glob("consolidated.*.pth"))
    if not (hf or meta):
        return (f"no model in it (Hugging Face: config.json and {HF_WEIGHTS} or {HF_INDEX}; "
                f"Meta: params.json and consolidated.00.pth)")
    if not (folder / "tokenizer.model").is_file():
        return "no tokenizer.model in it"
    return None


def load_released(folder: str | Path, device: str | None = None) -> tuple[Transformer, Tokenizer]:
    """The checkpoint's model and tokenizer: on the GPU in bfloat16 when there is one, else on the CPU in float32."""
    if device is None:
        device = "cuda" if torch.cuda.is_available() else "cpu"
    dtype = "bfloat16" if device.startswith("cuda") else "float32"
    return load_checkpoint(folder, device=device, dtype=dtype)


def _enabled(profile: str) -> Path | None:
    """The checkpoint when the section should run (the variable set and the ``gpu`` profile)."""
    folder = released_checkpoint()
    return folder if folder is not None and profile == "gpu" else None


# -- chapter 1: the tokenizer ------------------------------------------------------------------------------------------

def infilling_ids(tokenizer: Tokenizer) -> dict[str, int]:
    """The ids of the four infilling pieces (Code Llama: 32007–32010)."""
    return {PREFIX_PIECE: tokenizer.prefix_id, SUFFIX_PIECE: tokenizer.suffix_id, MIDDLE_PIECE: tokenizer.middle_id,
            EOT_PIECE: tokenizer.eot_id}


def tokenizer_report(tokenizer: Tokenizer, sample: str = SAMPLE) -> str:
    """Size, infilling ids and one sample's pieces; the paper's 32,016 pieces and 32007–32010 beside them."""
    ids = tokenizer.encode(sample)
    lines = [f"vocabulary: {tokenizer.vocab_size:,} pieces (Code Llama 7B/13B/34B: 32,016)",
             "infilling pieces: " + ", ".join(f"{piece}={index}" for piece, index in infilling_ids(tokenizer).items())
             + " (Code Llama: 32007, 32008, 32009, 32010)",
             f"{sample!r} -> {len(ids)} tokens: {[tokenizer.id_to_piece(i) for i in ids]}"]
    return "\n".join(lines)


def chapter_1(profile: str) -> str:
    """Chapter 1's section: the released tokenizer (read without loading the weights)."""
    folder = _enabled(profile)
    return HOW_TO_ENABLE if folder is None else tokenizer_report(Tokenizer(folder / "tokenizer.model"))


# -- chapter 3: HumanEval infilling (Table 14) -----------------------------------------------------------------------

def infilling_scores(model: Transformer, tokenizer: Tokenizer, sandbox: Sandbox, *, kinds: Sequence[str] = KINDS,
                     count: int | None = None, max_new_tokens: int = 256,
                     seed: int = 0) -> dict[str, dict[str, PassAtK]]:
    """Greedy pass@1 per infilling benchmark and prompt mode (PSM, SPM), as Table 14 reports the released models;
    ``count`` draws that many tasks of each benchmark (all when ``None``)."""
    scores: dict[str, dict[str, PassAtK]] = {}
    for kind in kinds:
        tasks = subsample(infilling_tasks(kind), count, seed)
        scores[kind] = {mode: _greedy_pass_at_1(ModelCompleter(model, tokenizer, suffix_first=suffix_first), tasks,
                                                sandbox, max_new_tokens)
                        for mode, suffix_first in PROMPT_MODES.items()}
    return scores


def _greedy_pass_at_1(completer: ModelCompleter, tasks: Sequence[Task], sandbox: Sandbox,
                      max_new_tokens: int) -> PassAtK:
    """pass@1 of one greedy sample per task, with its bootstrap interval over tasks."""
    results = evaluate(completer, tasks, sandbox, Sampling(max_new_tokens=max_new_tokens), batch_tasks=True)
    return summarize(results, (1,))[1]


def infilling_report(scores: dict[str, dict[str, PassAtK]]) -> str:
    """Ours per benchmark and mode beside Table 14's released 7B and 13B (greedy pass@1, percent)."""
    lines = [f"{'benchmark':<12} {'mode':<4} {'tasks':>6} {'ours':>20} {'7B (paper)':>11} {'13B (paper)':>12}"]
    for kind, by_mode in scores.items():
        for mode, result in by_mode.items():
            paper = [PAPER_INFILLING[kind][f"Code Llama {size} ({mode})"] for size in ("7B", "13B")]
            ours = f"{100 * result.value:.1f} [{100 * result.low:.1f}–{100 * result.high:.1f}]"
            lines.append(f"{kind:<12} {mode:<4} {result.problems:>6} {ours:>20} {paper[0]:>11.1f} {paper[1]:>12.1f}")
    return "\n".join(lines)


def chapter_3(profile: str, count: int | None = None, max_new_tokens: int = 256) -> str:
    """Chapter 3's section: HumanEval infilling with PSM and SPM prompts beside Table 14."""
    folder = _enabled(profile)
    if folder is None:
        return HOW_TO_ENABLE

    model, tokenizer = load_released(folder)
    with Sandbox(timeout=3.0) as sandbox:
        scores = infilling_scores(model, tokenizer, sandbox, count=count, max_new_tokens=max_new_tokens)
    return f"{folder}: HumanEval infilling, greedy pass@1 in percent (Table 14)\n{infilling_report(scores)}"


# -- chapter 4: perplexity by position (Figure 4a) and key retrieval (Table 17) -------------------------------------

def large_files(min_bytes: int = LARGE_FILE_BYTES) -> list[str]:
    """The standard library's source files of at least ``min_bytes`` bytes, largest first."""
    texts, _ = read_corpus()
    return sorted((text for text in texts if len(text.encode()) >= min_bytes), key=len, reverse=True)


def perplexity_by_position(model: Transformer, tokenizer: Tokenizer, texts: Sequence[str], length: int,
                           count: int) -> torch.Tensor:
    """Mean loss at each position ``(length - 1,)`` over the first ``count`` texts at least ``length`` tokens long
    (Figure 4a plots its exponential, the perplexity)."""
    return loss_per_position(model, long_documents(tokenizer, texts, length, count), batch_size=1)


def perplexity_ranges(losses: torch.Tensor, edges: Sequence[int]) -> list[float]:
    """Perplexity over each range of positions ``[edges[k], edges[k+1])``."""
    return [math.exp(value) for value in bucket_means(losses, edges)]


def long_context_report(model: Transformer, tokenizer: Tokenizer, texts: Sequence[str], *, length: int,
                        count: int, lengths: Sequence[int] = TABLE_17_LENGTHS,
                        depths: Sequence[float] = TABLE_17_DEPTHS, per_cell: int = 16) -> str:
    """Perplexity by range of positions up to ``length`` and key retrieval accuracy per prompt length and depth."""
    losses = perplexity_by_position(model, tokenizer, texts, length, count)
    edges = sorted({0, *(edge for edge in (1024, 4096, 16384) if edge < length), length - 1})
    lines = [f"perplexity by position ({count} files of {length:,}+ tokens; Figure 4a: it keeps falling past 16K)"]
    lines += [f"  [{start:>6}, {end:>6}): {value:8.3f}"
              for start, end, value in zip(edges[:-1], edges[1:], perplexity_ranges(losses, edges))]
    accuracy = retrieval_accuracy(model, tokenizer, texts, lengths, depths, per_cell)
    lines.append(f"key retrieval accuracy, {per_cell} prompts per cell (Table 17, Code Llama 7B: 16K 54.7% for a key "
                 "at the start, 93.8-100% elsewhere; 24K 3.1 / 85.9 / 85.9% at depths 0 / 0.2 / 0.4)")
    lines.append(f"  {'tokens':>7} " + " ".join(f"{f'depth {depth:g}':>10}" for depth in depths))
    lines += [f"  {length_:>7} " + " ".join(f"{100 * value:>9.1f}%" for value in row)
              for length_, row in zip(lengths, accuracy.tolist())]
    return "\n".join(lines)


def chapter_4(profile: str, texts: Sequence[str] | None = None, length: int = 32768, count: int = 4,
              lengths: Sequence[int] = TABLE_17_LENGTHS, depths: Sequence[float] = TABLE_17_DEPTHS,
              per_cell: int = 16) -> str:
    """Chapter 4's section: Figure 4a's perplexity by position and Table 17's key retrieval on ``texts`` (default:
    the standard library's large files)."""
    folder = _enabled(profile)
    if folder is None:
        return HOW_TO_ENABLE
    model, tokenizer = load_released(folder)
    texts = large_files() if texts is None else texts
    return f"{folder}:\n" + long_context_report(model, tokenizer, texts, length=length, count=count, lengths=lengths,
                                                depths=depths, per_cell=per_cell)


# -- chapter 6: HumanEval and MBPP (Table 2) --------------------------------------------------------------------------

def benchmark_scores(model: Transformer, tokenizer: Tokenizer, sandbox: Sandbox, *, count: int | None = None,
                     mbpp_file: str | Path = SAMPLE_PATH, max_new_tokens: int = 512,
                     seed: int = 0) -> dict[str, PassAtK]:
    """Greedy pass@1 on HumanEval and on MBPP's test split (``mbpp_file``), Table 2's pass@1 protocol; ``count``
    draws that many problems of each (all when ``None``)."""
    completer = ModelCompleter(model, tokenizer)
    return {name: _greedy_pass_at_1(completer, subsample(tasks, count, seed), sandbox, max_new_tokens)
            for name, tasks in (("humaneval", humaneval_tasks()), ("mbpp", mbpp_tasks(mbpp_file)))}


def chapter_6(profile: str, count: int | None = None, mbpp_file: str | Path = SAMPLE_PATH,
              max_new_tokens: int = 512) -> str:
    """Chapter 6's section: HumanEval and MBPP greedy pass@1 beside Table 2."""
    folder = _enabled(profile)
    if folder is None:
        return HOW_TO_ENABLE

    model, tokenizer = load_released(folder)
    with Sandbox(timeout=3.0) as sandbox:
        scores = benchmark_scores(model, tokenizer, sandbox, count=count, mbpp_file=mbpp_file,
                                  max_new_tokens=max_new_tokens)
    totals = {"humaneval": NUM_PROBLEMS, "mbpp": len(TEST_IDS)}
    return "\n\n".join(format_table(name, {1: result}, f"{folder.name} (greedy)", problems_total=totals[name])
                       for name, result in scores.items())
