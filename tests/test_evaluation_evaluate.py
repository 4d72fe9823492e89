"""The one evaluation path (Code Llama §3): samples drawn in memory or resumably into a file, cut at the stop
sequences, judged in the sandbox; greedy samples of several tasks decoded together keep each task's own stops."""

from __future__ import annotations

import pytest

from codellama_lite.config import ModelConfig
from codellama_lite.data.toyworld import problems
from codellama_lite.evaluation.evaluate import evaluate, judge
from codellama_lite.evaluation.generation import ModelCompleter, Sampling, complete, sample_seed
from codellama_lite.evaluation.infilling import toy_infilling_tasks
from codellama_lite.evaluation.samples import read_samples
from codellama_lite.evaluation.scoring import counts
from codellama_lite.evaluation.tasks import Task
from codellama_lite.evaluation.toy import toy_tasks
from tests.test_generate import ScriptedModel


class Fixed:
    """A completer that answers every task from a table, and records each call."""

    def __init__(self, answers: dict[str, str], default: str = "    return None\n") -> None:
        self.answers, self.default, self.calls = answers, default, []

    def __call__(self, task, *, temperature, top_p, max_new_tokens, seed):
        self.calls.append((task.task_id, temperature, max_new_tokens, seed))
        return self.answers.get(task.task_id, self.default)


@pytest.fixture(scope="module")
def tasks():
    return toy_tasks(problems("test", seed=0, count=3))


def test_greedy_samples_are_cut_at_the_stops_and_judged(tasks, sandbox):
    right = {tasks[0].task_id: tasks[0].reference + "\n\ndef unrelated():\n    pass\n"}
    completer = Fixed(right)
    results = evaluate(completer, tasks, sandbox, Sampling(max_new_tokens=40))
    assert [r.passed for r in results] == [True, False, False]
    assert results[0].completion == tasks[0].reference + "\n"  # cut at the stop sequence "\ndef"
    assert [(task_id, t, m) for task_id, t, m, _ in completer.calls] == [(t.task_id, 0.0, 40) for t in tasks]
    assert [seed for *_, seed in completer.calls] == [sample_seed(0, t.task_id, 0) for t in tasks]


def test_a_samples_file_is_resumed_and_every_sample_of_the_tasks_judged(tasks, sandbox, tmp_path):
    path = tmp_path / "samples.jsonl"
    completer = Fixed({t.task_id: t.reference for t in tasks[:2]})
    sampling = Sampling(n=2, temperature=0.8, max_new_tokens=40, seed=3)
    first = evaluate(completer, tasks[:2], sandbox, sampling, samples_path=path)
    assert len(completer.calls) == 4 and counts(first) == {t.task_id: (2, 2) for t in tasks[:2]}
    again = evaluate(completer, tasks, sandbox, sampling, samples_path=path)  # only the third task is new
    assert len(completer.calls) == 6 and counts(again) == {**counts(first), tasks[2].task_id: (2, 0)}
    assert len(read_samples(path)) == 6
    assert [(s.task_id, s.index) for s in complete(completer, tasks[:1], sampling)] == [(tasks[0].task_id, 0),
                                                                                        (tasks[0].task_id, 1)]


def test_judge_scores_completions_as_given_with_exact_match(sandbox):
    holes = toy_infilling_tasks("single-line", "test", 0, 1)[:2]
    results = judge(holes, [holes[0].reference, "    pass\n"], sandbox)
    assert [r.passed for r in results] == [True, False] and [r.exact_match for r in results] == [True, False]
    with pytest.raises(ValueError, match="one completion per task"):
        judge(holes, ["x"], sandbox)


def test_tasks_decoded_together_keep_their_kind_stops_and_order(small_tokenizer):
    tok = small_tokenizer
    text = "    y = x\n    return y\n"
    model = ScriptedModel(ModelConfig.preset("tiny", vocab_size=tok.vocab_size), tok.encode_infilling(text) +
                          [tok.eot_id])

    def continuation(name: str, stops: tuple[str, ...]) -> Task:
        return Task(task_id=name, prompt="def f(x):\n", test="", entry_points=("f",), reference="", stops=stops)

    hole = Task(task_id="hole", prompt="def f(x):\n", suffix="\n", test="", entry_points=("f",), reference="",
                head="def f(x):\n", tail="\n")
    asked = [continuation("a", ("\n    return",)), hole, continuation("b", ("\n    return",)), continuation("c", ())]
    samples = complete(ModelCompleter(model, tok, batch_size=2), asked, Sampling(max_new_tokens=30), batch_tasks=True)
    assert [s.task_id for s in samples] == ["a", "hole", "b", "c"]
    assert [s.completion for s in samples] == ["    y = x", text, "    y = x", text]
    assert [len(batch) for batch in model.prompts] == [2, 1, 1]  # a and b together; the hole and c each alone
    assert model.prompts[1] == [tok.infill_prompt("def f(x):\n", "\n")]
