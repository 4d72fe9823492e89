"""Self-instruct with execution feedback (Code Llama §2.5): only passing solutions are kept, duplicates go, a stopped
run resumes; candidates come from a fake completer whose outputs the tests control, and from a tiny random model."""

from __future__ import annotations

import json

import pytest

from codellama_lite.pipeline import selfinstruct as si
from codellama_lite.config import ModelConfig

CONFIG = si.SelfInstructConfig(questions=3, candidates=4, max_new_tokens=16)


class FakeCompleter:
    """Returns, for each question, the scripted candidates: ``good`` (the canonical body) or ``bad`` (``return
    None``), in the order given; records every question it was asked."""

    def __init__(self, script: dict[int, list[str]], tasks) -> None:
        self.script, self.index, self.asked = script, {t.task_id: i for i, t in enumerate(tasks)}, []
        self.tasks = tasks

    def many(self, task, *, seeds, temperature, top_p, max_new_tokens):
        self.asked.append(task.task_id)
        kinds = self.script[self.index[task.task_id]]
        assert len(kinds) == len(seeds)
        return [task.reference + "\ndef extra():\n    pass\n" if k == "good" else "    return None\n" for k in kinds]


@pytest.fixture(scope="module")
def tasks():
    return si.question_tasks(CONFIG)


def test_filtering_keeps_only_passing_and_the_first(tasks, sandbox, tmp_path):
    script = {0: ["bad", "good", "good", "bad"], 1: ["bad"] * 4, 2: ["good", "bad", "bad", "bad"]}
    completer = FakeCompleter(script, tasks)
    stats = si.build_dataset("unused", tmp_path, CONFIG, completer=completer, sandbox=sandbox, progress=False)
    triplets = [json.loads(line) for line in (tmp_path / si.TRIPLETS_FILE).read_text().splitlines()]
    assert [t["task_id"] for t in triplets] == [tasks[0].task_id, tasks[2].task_id]
    assert [t["candidate"] for t in triplets] == [1, 0]
    assert all(t["passed"] for t in triplets)
    assert all(t["solution"] == tasks[i].reference for t, i in zip(triplets, (0, 2)))  # cut at the stop "\ndef"
    assert stats.with_passing_candidate == 2 and stats.candidate_pass_rate == pytest.approx(3 / 12)
    documents = sorted((tmp_path / "filtered").glob("*.py"))
    assert [d.read_text() for d in documents] == [tasks[0].prompt + tasks[0].reference,
                                                  tasks[2].prompt + tasks[2].reference]
    unfiltered = sorted((tmp_path / "unfiltered").glob("*.py"))
    assert len(unfiltered) == 3 and unfiltered[0].read_text().endswith("return None\n")


def test_duplicates_removed():
    record = {"task_id": "a", "question": "def f(x):\n", "test": "", "candidates": ["    return x\n"],
              "passed": [True]}
    copy = {**record, "task_id": "b", "candidates": ["    return  x\n"]}  # the same up to whitespace
    other = {**record, "task_id": "c", "candidates": ["    return -x\n"]}
    assert [t["task_id"] for t in si.select_triplets([record, copy, other])] == ["a", "c"]
    assert len(si.dedup_questions([_task("1", "def f():\n"), _task("2", "def  f():\n"), _task("3", "def g():\n")])) == 2


def _task(task_id, prompt):
    from codellama_lite.evaluation.tasks import Task

    return Task(task_id=task_id, prompt=prompt, test="", entry_points=("f",), reference="")


def test_resume_asks_only_for_missing_questions(tasks, sandbox, tmp_path):
    script = {i: ["good", "bad", "bad", "bad"] for i in range(3)}
    first = FakeCompleter(script, tasks)
    si.generate_candidates(first, sandbox, tasks[:2], tmp_path, CONFIG, progress=False)
    with open(tmp_path / si.CANDIDATES_FILE, "a") as handle:  # a kill in the middle of an append
        handle.write('{"task_id": "Toy/valid/2", "cand')
    second = FakeCompleter(script, tasks)
    stats = si.build_dataset("unused", tmp_path, CONFIG, completer=second, sandbox=sandbox, progress=False)
    assert first.asked == [t.task_id for t in tasks[:2]] and second.asked == [tasks[2].task_id]
    assert stats.questions == 3 and stats.filtered_triplets == 3


def test_tiny_random_model_samples_candidates(tasks, small_tokenizer, sandbox, tmp_path):
    from codellama_lite.evaluation.generation import ModelCompleter
    from tests._models import random_model

    model = random_model(ModelConfig.preset("tiny", vocab_size=small_tokenizer.vocab_size))
    completer = ModelCompleter(model, small_tokenizer, batch_size=4)
    si.generate_candidates(completer, sandbox, tasks[:1], tmp_path, CONFIG, progress=False)
    [record] = [json.loads(line) for line in (tmp_path / si.CANDIDATES_FILE).read_text().splitlines()]
    candidates = record["candidates"]
    assert len(candidates) == CONFIG.candidates and len(set(candidates)) > 1  # sampled, not greedy
    assert not any(stop in c for c in candidates for stop in tasks[0].stops)  # cut at the stop sequences
    assert record["passed"] == [False] * CONFIG.candidates


def test_bad_settings_fail_clearly():
    with pytest.raises(ValueError, match="greedy"):
        si.SelfInstructConfig(temperature=0.0)
    with pytest.raises(ValueError, match="test"):
        si.SelfInstructConfig(split="test")
    with pytest.raises(ValueError, match="variant"):
        si.select_triplets([], "best")
