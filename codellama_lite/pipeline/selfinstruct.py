"""Self-instruct with execution feedback (Code Llama §2.5; docs/paper_facts.md §5).

A model's own solutions, kept only when they pass unit tests, become its instruction data.

The paper: Llama 2 70B writes ~62,000 interview-style questions (~52,000 after deduplication); for each, Code Llama 7B
writes unit tests and then 10 candidate solutions; the first solution that passes its tests is kept, giving ~14,000
question-test-solution triplets, and Code Llama - Instruct is fine-tuned on them (with rehearsal, 6% code and 2%
natural language).

At toy scale:

* **questions**: the toy world's generator stands in for Llama 2 70B — questions are problems of its ``valid`` split
  (unseen instances of the trained templates, disjoint from the ``test`` problems we score on);
* **unit tests**: the world supplies them (each problem's ``check``, computed by running its canonical body), in
  place of tests written by the model;
* **solutions**: the model samples ``candidates`` (10) per question with :func:`codellama_lite.generate.sample_many`
  (all of one question's candidates decoded together, each from its own seed), cut at HumanEval's stop sequences;
* **feedback**: the sandbox runs every candidate (both steps are :func:`codellama_lite.evaluation.evaluate.evaluate`,
  the benchmarks' path); the first passing one is kept, then duplicate triplets are removed.

Every question's candidates and verdicts are appended to ``candidates.jsonl`` as soon as they are judged, so a run
that stops resumes with the next question (a tqdm bar counts them). :func:`build_dataset` then writes, atomically,
``triplets.jsonl`` and two folders of ``.py`` documents (question then solution): ``filtered/`` (the first passing
candidate) and ``unfiltered/`` (the first candidate, passing or not: the comparison arm), which the ``instruct``
recipe reads as its ``instruct`` source.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from contextlib import nullcontext
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from codellama_lite.evaluation.evaluate import evaluate
from codellama_lite.evaluation.generation import ManyCompleter, Sampling, load_completer
from codellama_lite.evaluation.samples import _trim_unfinished_line
from codellama_lite.evaluation.sandbox import Sandbox
from codellama_lite.evaluation.tasks import Task
from codellama_lite.evaluation.toy import toy_problems, toy_tasks
from codellama_lite.support.fileio import append_jsonl, atomic_open, read_jsonl, write_jsonl
from codellama_lite.support.profiles import check_profile

CANDIDATES_FILE = "candidates.jsonl"
TRIPLETS_FILE = "triplets.jsonl"
VARIANTS = ("filtered", "unfiltered")


@dataclass(frozen=True)
class SelfInstructConfig:
    """How much self-instruct data to make, and how to sample it."""

    questions: int = 200
    candidates: int = 10  # the paper: 10 solutions per question
    temperature: float = 0.8
    top_p: float = 0.95
    max_new_tokens: int = 128
    split: str = "valid"
    world_seed: int = 0
    seed: int = 0
    batch_size: int = 10

    def __post_init__(self) -> None:
        if self.questions < 1 or self.candidates < 1 or self.max_new_tokens < 1:
            raise ValueError(f"questions, candidates and max_new_tokens must be >= 1, got {self}")
        if self.temperature <= 0 and self.candidates > 1:
            raise ValueError(f"temperature={self.temperature}: greedy decoding gives one candidate, not "
                             f"{self.candidates}; sample at T > 0")
        if self.split == "test":
            raise ValueError("split='test' would train on the problems chapter 5 scores; use 'valid' or 'train'")

    @property
    def sampling(self) -> Sampling:
        """How each question's candidates are drawn: ``candidates`` samples, each from its own seed."""
        return Sampling(self.candidates, self.temperature, self.top_p, self.max_new_tokens, self.seed)


PROFILE_SETTINGS = {
    "smoke": SelfInstructConfig(questions=4, candidates=4, max_new_tokens=24),
    "laptop": SelfInstructConfig(questions=160, candidates=10, max_new_tokens=96),
    "gpu": SelfInstructConfig(questions=2000, candidates=10, max_new_tokens=256),
}


def settings_for(profile: str) -> SelfInstructConfig:
    """The self-instruct settings of a run profile."""
    return PROFILE_SETTINGS[check_profile(profile)]


# -- questions ---------------------------------------------------------------------------------------------------------


def question_tasks(config: SelfInstructConfig) -> list[Task]:
    """The questions with their unit tests, as tasks (the toy world stands in for Llama 2 70B's questions)."""
    problems, _ = toy_problems(config.split, config.world_seed, config.questions)
    return dedup_questions(toy_tasks(problems))


def dedup_questions(tasks: Sequence[Task]) -> list[Task]:
    """Drop questions whose text repeats an earlier one (the paper: ~62,000 questions -> ~52,000)."""
    seen: set[str] = set()
    kept = []
    for task in tasks:
        key = normalized_hash(task.prompt)
        if key not in seen:
            seen.add(key)
            kept.append(task)
    return kept


def normalized_hash(text: str) -> str:
    """A hash of ``text`` with runs of whitespace collapsed (so re-indented copies count as duplicates)."""
    return hashlib.sha256(re.sub(r"\s+", " ", text).strip().encode()).hexdigest()


# -- sampling and judging ----------------------------------------------------------------------------------------------


def generate_candidates(completer: ManyCompleter, sandbox: Any, tasks: Sequence[Task], folder: str | Path,
                        config: SelfInstructConfig, *, progress: bool = True) -> Path:
    """Sample and judge every question not yet in ``folder/candidates.jsonl``; one line per question, appended."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / CANDIDATES_FILE
    done = set()
    if path.exists():
        _trim_unfinished_line(path)  # a kill mid-append left half a line: the next append must start clean
        done = {record["task_id"] for record in read_jsonl(path)}
    todo = [task for task in tasks if task.task_id not in done]
    for task in tqdm(todo, desc="self-instruct", unit="question", disable=not progress):
        judged = evaluate(completer, [task], sandbox, config.sampling)
        append_jsonl(path, {"task_id": task.task_id, "question": task.prompt, "test": task.test,
                            "candidates": [result.completion for result in judged],
                            "passed": [result.passed for result in judged]})
    return path


# -- the dataset -------------------------------------------------------------------------------------------------------


def select_triplets(records: Sequence[dict[str, Any]], variant: str = "filtered") -> list[dict[str, Any]]:
    """One triplet per question: the first passing candidate (``filtered``; questions with none are dropped) or the
    first candidate whatever its verdict (``unfiltered``); then duplicates (same question and solution, up to
    whitespace) are removed."""
    if variant not in VARIANTS:
        raise ValueError(f"variant must be one of {VARIANTS}, got {variant!r}")
    triplets, seen = [], set()
    for record in records:
        index = _chosen_index(record, variant)
        if index is None:
            continue
        solution = record["candidates"][index]
        key = normalized_hash(record["question"] + solution)
        if key in seen or not solution.strip():
            continue
        seen.add(key)
        triplets.append({"task_id": record["task_id"], "question": record["question"], "test": record["test"],
                         "solution": solution, "candidate": index, "passed": record["passed"][index]})
    return triplets


def _chosen_index(record: dict[str, Any], variant: str) -> int | None:
    if variant == "unfiltered":
        return 0 if record["candidates"] else None
    return next((i for i, ok in enumerate(record["passed"]) if ok), None)


def write_documents(triplets: Sequence[dict[str, Any]], folder: str | Path) -> Path:
    """Each triplet as one ``.py`` document (question, then solution) in ``folder``, written atomically; files of an
    earlier, larger run are removed."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    names = set()
    for number, triplet in enumerate(triplets):
        name = f"{number:06d}.py"
        names.add(name)
        with atomic_open(folder / name) as handle:
            handle.write(triplet["question"] + triplet["solution"])
    for stale in folder.glob("*.py"):
        if stale.name not in names:
            stale.unlink()
    return folder


@dataclass(frozen=True)
class SelfInstructStats:
    """What one self-instruct run produced (the paper: 62k questions -> 52k deduplicated -> 14k triplets)."""

    questions: int
    with_passing_candidate: int
    filtered_triplets: int
    unfiltered_triplets: int
    candidate_pass_rate: float
    first_candidate_pass_rate: float


def summarize(records: Sequence[dict[str, Any]]) -> SelfInstructStats:
    """Counts and pass rates of the judged candidates."""
    verdicts = [ok for record in records for ok in record["passed"]]
    firsts = [record["passed"][0] for record in records if record["passed"]]
    return SelfInstructStats(
        questions=len(records), with_passing_candidate=sum(any(r["passed"]) for r in records),
        filtered_triplets=len(select_triplets(records, "filtered")),
        unfiltered_triplets=len(select_triplets(records, "unfiltered")),
        candidate_pass_rate=sum(verdicts) / max(len(verdicts), 1),
        first_candidate_pass_rate=sum(firsts) / max(len(firsts), 1))


def finish_dataset(folder: str | Path) -> SelfInstructStats:
    """From ``candidates.jsonl``: ``triplets.jsonl`` (filtered) and the ``filtered/`` and ``unfiltered/`` documents."""
    folder = Path(folder)
    records = list(read_jsonl(folder / CANDIDATES_FILE))
    for variant in VARIANTS:
        write_documents(select_triplets(records, variant), folder / variant)
    write_jsonl(folder / TRIPLETS_FILE, select_triplets(records, "filtered"))
    stats = summarize(records)
    write_jsonl(folder / "stats.jsonl", [asdict(stats)])
    return stats


def build_dataset(model_dir: str | Path, folder: str | Path, config: SelfInstructConfig, *, completer: Any = None,
                  sandbox: Any = None, progress: bool = True) -> SelfInstructStats:
    """The whole pipeline for the exported model ``model_dir`` into ``folder`` (resumed where it stopped).

    ``completer`` and ``sandbox`` default to the model's :class:`~codellama_lite.evaluation.generation.ModelCompleter`
    and a :class:`~codellama_lite.evaluation.sandbox.Sandbox` (3 s per program, as the paper's harnesses).
    """
    folder = Path(folder)
    tasks = question_tasks(config)
    done = (folder / CANDIDATES_FILE).exists() and \
        {r["task_id"] for r in read_jsonl(folder / CANDIDATES_FILE)} >= {t.task_id for t in tasks}
    if not done:
        if completer is None:
            import torch

            device = "cuda" if torch.cuda.is_available() else "cpu"
            completer = load_completer(model_dir, batch_size=config.batch_size, device=device)
        with (nullcontext(sandbox) if sandbox is not None else Sandbox(timeout=3.0)) as box:
            generate_candidates(completer, box, tasks, folder, config, progress=progress)
    return finish_dataset(folder)
