"""Generating benchmark samples with the paper's protocol (Code Llama §3), resumably.

pass@1 is measured greedily (one sample); pass@10 and pass@100 from ``n = 200`` samples at ``T = 0.8``, top-p 0.95.
Each completion is cut at the task's stop sequences and appended to the samples file the moment it exists, so a run
that stops resumes with the first missing ``(task, index)``. Sample ``index`` of a task is drawn with its own seed,
so a resumed run produces the same samples as an uninterrupted one. Each line records how it was made
(:func:`provenance`): a resumed run with another checkpoint or other settings is refused instead of mixed in.

The loop is independent of the model: anything with the :class:`Completer` signature will do. A completer that also
has a ``many`` method (:class:`ManyCompleter`) receives all of a task's missing samples at once; the checkpoint
completer (:func:`load_completer`) then decodes them together from one prefilled prompt
(:func:`codellama_lite.generate.sample_many`), each still drawn from its own seed.

:func:`complete` draws the same samples in memory, for a measurement that keeps no samples file; asked to, it decodes
the greedy samples of several tasks together (:meth:`ModelCompleter.batch`, left-padded prompts), which is faster but
lets a sample depend, in its last bits, on the prompts beside it, so the resumable files never do it.
"""

from __future__ import annotations

import hashlib
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from codellama_lite.evaluation.samples import Sample, SamplesFile
from codellama_lite.evaluation.stops import truncate_at_stops
from codellama_lite.evaluation.tasks import Task
from codellama_lite.support.fileio import folder_digest, sha256_file
from codellama_lite.tokenizer import Tokenizer

if TYPE_CHECKING:
    from codellama_lite.model import Transformer


class Completer(Protocol):
    """``completer(task, temperature=..., top_p=..., max_new_tokens=..., seed=...) -> completion`` (text only)."""

    def __call__(self, task: Task, *, temperature: float, top_p: float, max_new_tokens: int, seed: int) -> str: ...


class ManyCompleter(Completer, Protocol):
    """A :class:`Completer` that can also complete one task several times at once, one seed per sample."""

    def many(self, task: Task, *, seeds: Sequence[int], temperature: float, top_p: float,
             max_new_tokens: int) -> list[str]: ...


def sample_seed(seed: int, task_id: str, index: int) -> int:
    """A per-sample seed that depends only on the run seed, the task and the sample index (stable across runs)."""
    return zlib.crc32(f"{seed}/{task_id}/{index}".encode()) & 0x7FFFFFFF


@dataclass(frozen=True)
class Sampling:
    """How a task's samples are drawn (Code Llama §3): ``n`` per task, greedy when ``temperature`` is 0 (pass@1),
    otherwise at ``temperature`` within the ``top_p`` nucleus (the paper: n = 200, T = 0.8, top-p 0.95 for
    pass@10/100); at most ``max_new_tokens`` each; ``seed`` is the run's, from which each sample's derives."""

    n: int = 1
    temperature: float = 0.0
    top_p: float = 0.95
    max_new_tokens: int = 512
    seed: int = 0

    def __post_init__(self) -> None:
        check_protocol(self.n, self.temperature, self.top_p)

    @property
    def options(self) -> dict:
        """The keywords a :class:`Completer` takes besides the task and the seed."""
        return {"temperature": self.temperature, "top_p": self.top_p, "max_new_tokens": self.max_new_tokens}


def check_protocol(n: int, temperature: float, top_p: float) -> None:
    """Reject settings that cannot be right: several greedy samples are all the same sample."""
    if n < 1:
        raise ValueError(f"n must be at least 1, got {n}")
    if temperature < 0 or not 0 < top_p <= 1:
        raise ValueError(f"need temperature >= 0 and 0 < top_p <= 1; got temperature={temperature}, top_p={top_p}")
    if temperature == 0 and n > 1:
        raise ValueError(f"greedy decoding (temperature 0) gives one sample per problem, not n={n}; "
                         "the paper samples n = 200 at temperature 0.8 for pass@10/100")


def provenance(completer: Completer, *, temperature: float, top_p: float, max_new_tokens: int,
               seed: int) -> dict:
    """How a sample is made: the completer's own description (``completer.provenance``: for a checkpoint its digest,
    prompt format and dtype) and the sampling settings."""
    return {**getattr(completer, "provenance", {}), "temperature": temperature, "top_p": top_p,
            "max_new_tokens": max_new_tokens, "seed": seed}


def run_generation(tasks: Sequence[Task], samples_path: str | Path, completer: Completer, *, n: int = 1,
                   temperature: float = 0.0, top_p: float = 0.95, max_new_tokens: int = 512, seed: int = 0,
                   progress: bool = True) -> int:
    """Generate every missing sample, appending each as it is made; returns how many were generated. A file of
    samples made otherwise (:func:`provenance`) is refused."""
    sampling = Sampling(n, temperature, top_p, max_new_tokens, seed)
    samples = SamplesFile(samples_path, provenance(completer, temperature=temperature, top_p=top_p,
                                                   max_new_tokens=max_new_tokens, seed=seed))
    by_id = {task.task_id: task for task in tasks}
    todo = samples.missing(by_id, n)
    from tqdm.auto import tqdm

    bar = tqdm(total=len(todo), desc="generating", unit="sample", disable=not progress)
    made = 0
    for sample in draw(completer, by_id, todo, sampling):
        samples.append(sample.task_id, sample.index, sample.completion)
        made += 1
        bar.update()
    bar.close()
    return made


def complete(completer: Completer, tasks: Sequence[Task], sampling: Sampling = Sampling(), *,
             batch_tasks: bool = False) -> list[Sample]:
    """``sampling.n`` samples of every task, in memory, each cut at its task's stop sequences: the samples
    :func:`run_generation` would write. With ``batch_tasks`` a completer that has a ``batch`` method
    (:meth:`ModelCompleter.batch`) decodes the greedy samples of several tasks together."""
    batch = getattr(completer, "batch", None)
    if batch_tasks and batch is not None and sampling.temperature == 0 and sampling.n == 1:
        texts = batch(tasks, max_new_tokens=sampling.max_new_tokens)
        return [Sample(task.task_id, 0, truncate_at_stops(text, task.stops)) for task, text in zip(tasks, texts)]
    by_id = {task.task_id: task for task in tasks}
    return list(draw(completer, by_id, [(task.task_id, index) for task in tasks for index in range(sampling.n)],
                     sampling))


def draw(completer: Completer, by_id: dict[str, Task], todo: Sequence[tuple[str, int]],
         sampling: Sampling) -> Iterator[Sample]:
    """The samples ``(task_id, index)`` of ``todo``, each from its own seed (:func:`sample_seed`) and cut at its
    task's stop sequences, yielded as each arrives; a task's samples go together to a completer's ``many``."""
    many = getattr(completer, "many", None)
    for task_id, indices in _by_task(todo).items():
        task = by_id[task_id]
        seeds = [sample_seed(sampling.seed, task_id, index) for index in indices]
        # One at a time unless the completer decodes a task's samples together.
        texts = many(task, seeds=seeds, **sampling.options) if many is not None else \
            (completer(task, seed=one, **sampling.options) for one in seeds)
        for index, text in zip(indices, texts):
            yield Sample(task_id, index, truncate_at_stops(text, task.stops))


def _by_task(pairs: Sequence[tuple[str, int]]) -> dict[str, list[int]]:
    """``(task_id, index)`` pairs grouped by task, in first-seen order."""
    groups: dict[str, list[int]] = {}
    for task_id, index in pairs:
        groups.setdefault(task_id, []).append(index)
    return groups


def load_completer(checkpoint: str | Path, *, hf: bool = False, tokenizer_path: str | Path | None = None,
                   device: str = "cpu", suffix_first: bool = False, batch_size: int = 32,
                   dtype: str = "float32") -> ManyCompleter:
    """A :class:`ManyCompleter` backed by a checkpoint directory (:func:`load_checkpoint`), decoding with
    :mod:`codellama_lite.generate`.

    A task with a suffix is infilled (PSM, or SPM with ``suffix_first``) up to ``<EOT>``; any other continues its
    prompt up to EOS, a FIM marker or a stop sequence, up to ``batch_size`` samples at a time.
    """
    model, tokenizer = load_checkpoint(checkpoint, hf=hf, tokenizer_path=tokenizer_path, device=device, dtype=dtype)
    completer = ModelCompleter(model, tokenizer, suffix_first=suffix_first, batch_size=batch_size)
    completer.provenance = {"checkpoint": checkpoint_digest(Path(checkpoint), tokenizer.model_path),
                            "prompt_format": "spm" if suffix_first else "psm", "dtype": dtype}
    return completer


def load_checkpoint(checkpoint: str | Path, *, hf: bool = False, tokenizer_path: str | Path | None = None,
                    device: str = "cpu", dtype: str = "float32") -> tuple[Transformer, Tokenizer]:
    """A checkpoint directory's model (in eval mode) and tokenizer.

    Hugging Face format (``config.json`` + safetensors; forced with ``hf``) or Meta's (``params.json`` +
    ``consolidated.NN.pth``); the tokenizer is ``tokenizer_path`` or the directory's ``tokenizer.model``. ``dtype``
    (``float32`` or ``bfloat16``) is the weights' and the KV cache's.
    """
    import torch

    from codellama_lite.interop import import_hf, import_meta

    if dtype not in ("float32", "bfloat16"):
        raise ValueError(f"dtype must be float32 or bfloat16, got {dtype!r}")
    directory = Path(checkpoint)
    if not directory.is_dir():
        raise FileNotFoundError(f"checkpoint directory not found: {directory}")
    if hf or (directory / "config.json").is_file():
        model = import_hf(directory, device=device)
    elif (directory / "params.json").is_file():
        model = import_meta(directory, device=device)
    else:
        raise ValueError(f"{directory}: neither a Hugging Face (config.json) nor a Meta (params.json) checkpoint")
    model = model.to(getattr(torch, dtype)).eval()
    tokenizer = Tokenizer(Path(tokenizer_path or directory / "tokenizer.model"))
    if tokenizer.vocab_size > model.config.vocab_size:
        raise ValueError(f"tokenizer has {tokenizer.vocab_size} pieces but the model only {model.config.vocab_size}")
    return model, tokenizer


MODEL_FILES = ("config.json", "params.json", "*.safetensors", "model.safetensors.index.json", "consolidated.*.pth")


def checkpoint_digest(directory: Path, tokenizer_file: Path) -> str:
    """A SHA-256 of what decides a checkpoint's completions: its weight and config files and the tokenizer used."""
    names = {path.name for pattern in MODEL_FILES for path in directory.glob(pattern) if path.is_file()}
    return hashlib.sha256(f"{folder_digest(directory, names)} {sha256_file(tokenizer_file)}".encode()).hexdigest()


class ModelCompleter:
    """Completions from a model and its tokenizer: one at a time (:meth:`__call__`) or a task's samples together
    (:meth:`many`, from one prefilled prompt)."""

    def __init__(self, model, tokenizer, *, suffix_first: bool = False, batch_size: int = 32) -> None:
        if batch_size < 1:
            raise ValueError(f"batch size must be at least 1, got {batch_size}")
        self.model, self.tokenizer, self.suffix_first, self.batch_size = model, tokenizer, suffix_first, batch_size
        self.provenance: dict = {"prompt_format": "spm" if suffix_first else "psm"}

    def __call__(self, task: Task, *, temperature: float, top_p: float, max_new_tokens: int, seed: int) -> str:
        from codellama_lite.generate import infill

        if task.is_infilling:
            return infill(self.model, self.tokenizer, [(task.prompt, task.suffix)], suffix_first=self.suffix_first,
                          max_new_tokens=max_new_tokens, temperature=temperature, top_p=top_p, seed=seed)[0]
        return self.many(task, seeds=[seed], temperature=temperature, top_p=top_p, max_new_tokens=max_new_tokens)[0]

    def many(self, task: Task, *, seeds: Sequence[int], temperature: float, top_p: float,
             max_new_tokens: int) -> list[str]:
        from codellama_lite.generate import sample_many, stop_token_ids

        if task.is_infilling:
            return [self(task, temperature=temperature, top_p=top_p, max_new_tokens=max_new_tokens, seed=seed)
                    for seed in seeds]
        completions = sample_many(self.model, self.tokenizer.encode(task.prompt, bos=True), len(seeds),
                                  max_new_tokens, temperature=temperature, top_p=top_p, seeds=seeds,
                                  batch_size=self.batch_size, stop_ids=stop_token_ids(self.tokenizer),
                                  stop_strings=task.stops, tokenizer=self.tokenizer)
        return [completion.text or "" for completion in completions]

    def batch(self, tasks: Sequence[Task], *, max_new_tokens: int) -> list[str]:
        """Greedy completions of ``tasks``, up to ``batch_size`` tasks decoded together from left-padded prompts:
        infilling tasks through :func:`~codellama_lite.generate.infill`, the others continued up to EOS, a FIM marker
        or one of their stop sequences (a run holds tasks of one kind and one set of stops)."""
        from codellama_lite.generate import generate, infill, stop_token_ids

        texts: dict[int, str] = {}
        for group in _groups(tasks, self.batch_size):
            chosen = [tasks[i] for i in group]
            if chosen[0].is_infilling:
                made = infill(self.model, self.tokenizer, [(t.prompt, t.suffix or "") for t in chosen],
                              suffix_first=self.suffix_first, max_new_tokens=max_new_tokens)
            else:
                made = [c.text or "" for c in generate(
                    self.model, [self.tokenizer.encode(t.prompt, bos=True) for t in chosen], max_new_tokens,
                    stop_ids=stop_token_ids(self.tokenizer), stop_strings=chosen[0].stops, tokenizer=self.tokenizer)]
            texts.update(zip(group, made))
        return [texts[i] for i in range(len(tasks))]


def _groups(tasks: Sequence[Task], size: int) -> list[list[int]]:
    """Indices of ``tasks`` in runs of at most ``size`` that share a kind (infilling or not) and stop sequences, each
    kind's tasks in order."""
    kinds: dict[tuple[bool, tuple[str, ...]], list[int]] = {}
    for index, task in enumerate(tasks):
        kinds.setdefault((task.is_infilling, tuple(task.stops)), []).append(index)
    return [indices[start:start + size] for indices in kinds.values() for start in range(0, len(indices), size)]
