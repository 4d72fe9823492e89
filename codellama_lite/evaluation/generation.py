"""Generating benchmark samples with the paper's protocol (Code Llama §3), resumably.

pass@1 is measured greedily (one sample); pass@10 and pass@100 from ``n = 200`` samples at ``T = 0.8``, top-p 0.95.
Each completion is cut at the task's stop sequences and appended to the samples file the moment it exists, so a run
that stops resumes with the first missing ``(task, index)``. Sample ``index`` of a task is drawn with its own seed,
so a resumed run produces the same samples as an uninterrupted one.

The loop is independent of the model: anything with the :class:`Completer` signature will do. :func:`load_completer`
builds one from a checkpoint with :mod:`codellama_lite.generate`.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

from codellama_lite.evaluation.samples import SamplesFile
from codellama_lite.evaluation.stops import truncate_at_stops
from codellama_lite.evaluation.tasks import Task


class Completer(Protocol):
    """``completer(task, temperature=..., top_p=..., max_new_tokens=..., seed=...) -> completion`` (text only)."""

    def __call__(self, task: Task, *, temperature: float, top_p: float, max_new_tokens: int, seed: int) -> str: ...


def sample_seed(seed: int, task_id: str, index: int) -> int:
    """A per-sample seed that depends only on the run seed, the task and the sample index (stable across runs)."""
    return zlib.crc32(f"{seed}/{task_id}/{index}".encode()) & 0x7FFFFFFF


def check_protocol(n: int, temperature: float, top_p: float) -> None:
    """Reject settings that cannot be right: several greedy samples are all the same sample."""
    if n < 1:
        raise ValueError(f"n must be at least 1, got {n}")
    if temperature < 0 or not 0 < top_p <= 1:
        raise ValueError(f"need temperature >= 0 and 0 < top_p <= 1; got temperature={temperature}, top_p={top_p}")
    if temperature == 0 and n > 1:
        raise ValueError(f"greedy decoding (temperature 0) gives one sample per problem, not n={n}; "
                         "the paper samples n = 200 at temperature 0.8 for pass@10/100")


def run_generation(tasks: Sequence[Task], samples_path: str | Path, completer: Completer, *, n: int = 1,
                   temperature: float = 0.0, top_p: float = 0.95, max_new_tokens: int = 512, seed: int = 0,
                   progress: bool = True) -> int:
    """Generate every missing sample, appending each as it is made; returns how many were generated."""
    check_protocol(n, temperature, top_p)
    samples = SamplesFile(samples_path)
    by_id = {task.task_id: task for task in tasks}
    todo = samples.missing(by_id, n)
    if progress:
        from tqdm.auto import tqdm

        todo = tqdm(todo, desc="generating", unit="sample")
    made = 0
    for task_id, index in todo:
        task = by_id[task_id]
        text = completer(task, temperature=temperature, top_p=top_p, max_new_tokens=max_new_tokens,
                         seed=sample_seed(seed, task_id, index))
        samples.append(task_id, index, truncate_at_stops(text, task.stops))
        made += 1
    return made


def load_completer(checkpoint: str | Path, *, hf: bool = False, tokenizer_path: str | Path | None = None,
                   device: str = "cpu", suffix_first: bool = False) -> Completer:
    """A :class:`Completer` backed by a checkpoint directory, decoding with :mod:`codellama_lite.generate`.

    Hugging Face format (``config.json`` + safetensors; forced with ``hf``) or Meta's (``params.json`` +
    ``consolidated.NN.pth``); the tokenizer is ``tokenizer_path`` or the directory's ``tokenizer.model``. A task with
    a suffix is infilled (PSM, or SPM with ``suffix_first``) up to ``<EOT>``; any other continues its prompt up to
    EOS or a stop sequence.
    """
    from codellama_lite.accel import use_cpu_kernels
    from codellama_lite.generate import generate, infill
    from codellama_lite.interop import import_hf, import_meta
    from codellama_lite.tokenizer import Tokenizer

    directory = Path(checkpoint)
    if not directory.is_dir():
        raise FileNotFoundError(f"checkpoint directory not found: {directory}")
    if hf or (directory / "config.json").is_file():
        model = import_hf(directory, device=device)
    elif (directory / "params.json").is_file():
        model = import_meta(directory, device=device)
    else:
        raise ValueError(f"{directory}: neither a Hugging Face (config.json) nor a Meta (params.json) checkpoint")
    model.eval()
    use_cpu_kernels(model)
    tokenizer = Tokenizer(tokenizer_path or directory / "tokenizer.model")
    if tokenizer.vocab_size > model.config.vocab_size:
        raise ValueError(f"tokenizer has {tokenizer.vocab_size} pieces but the model only {model.config.vocab_size}")

    def complete(task: Task, *, temperature: float, top_p: float, max_new_tokens: int, seed: int) -> str:
        if task.is_infilling:
            return infill(model, tokenizer, [(task.prompt, task.suffix)], suffix_first=suffix_first,
                          max_new_tokens=max_new_tokens, temperature=temperature, top_p=top_p, seed=seed)[0]
        completion = generate(model, [tokenizer.encode(task.prompt, bos=True)], max_new_tokens,
                              temperature=temperature, top_p=top_p, seed=seed, stop_ids=(tokenizer.eos_id,),
                              stop_strings=task.stops, tokenizer=tokenizer)[0]
        return completion.text or ""

    return complete


def generate_samples(tasks: Sequence[Task], samples_path: str | Path, *, checkpoint: str | Path, hf: bool = False,
                     tokenizer_path: str | Path | None = None, n: int = 1, temperature: float = 0.0,
                     top_p: float = 0.95, max_new_tokens: int = 512, device: str = "cpu", seed: int = 0,
                     suffix_first: bool = False) -> int:
    """The CLI's generation step: load the checkpoint, then :func:`run_generation`."""
    check_protocol(n, temperature, top_p)
    completer = load_completer(checkpoint, hf=hf, tokenizer_path=tokenizer_path, device=device,
                               suffix_first=suffix_first)
    return run_generation(tasks, samples_path, completer, n=n, temperature=temperature, top_p=top_p,
                          max_new_tokens=max_new_tokens, seed=seed)
