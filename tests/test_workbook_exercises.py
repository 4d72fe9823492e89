"""Every exercise check passes on the reference solution, fails on the untouched stub and catches plausible mistakes.

A chapter's ``mutants/*.py`` are wrong answers a learner might write; each names in ``MUST_FAIL`` the checks that must
reject it. Every check must be named by at least one mutant, so no check is only ever tried on the stub.
"""

from __future__ import annotations

import pytest

from codellama_lite.workbook.exercises import (chapters, checks_of, exercise_dir, load_module, load_mutant, mutants,
                                               run_checks, your_turn)

CHAPTERS = chapters()
MUTANTS = [(chapter, path) for chapter in CHAPTERS for path in mutants(chapter)]


def test_there_are_exercises():
    assert CHAPTERS, "exercises/ has no chapter with checks.py"


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_checks_pass_on_the_solution(chapter):
    failed = [f"{r.check}: {r.message}" for r in run_checks(chapter, "solution") if not r.passed]
    assert not failed, "\n".join(failed)


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_every_check_fails_on_the_stub(chapter):
    results = run_checks(chapter, "stub")
    assert len(results) == len(checks_of(chapter)) > 0
    passed = [r.check for r in results if r.passed]
    assert not passed, f"these checks pass on the untouched stub, so they prove nothing: {passed}"


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_every_check_has_a_mutant_it_must_catch(chapter):
    named = {name for path in mutants(chapter) for name in load_mutant(path).MUST_FAIL}
    unknown = named - set(checks_of(chapter))
    assert not unknown, f"mutants name checks that do not exist: {sorted(unknown)}"
    uncovered = set(checks_of(chapter)) - named
    assert not uncovered, (f"exercises/{chapter}/mutants/ has no plausible wrong answer for {sorted(uncovered)}: add a "
                           "mutants/<mistake>.py redefining the function wrongly, with MUST_FAIL = ('check_...',)")


@pytest.mark.parametrize(("chapter", "path"), MUTANTS, ids=[f"{c[:4]}-{p.stem}" for c, p in MUTANTS])
def test_checks_catch_the_mutant(chapter, path):
    mutant = load_mutant(path)
    results = {r.check: r for r in run_checks(chapter, mutant)}
    missed = [name for name in mutant.MUST_FAIL if results[name].passed]
    assert not missed, f"{path.name} ({(mutant.__doc__ or '').strip()}) passes {missed}"


def test_your_turn_lets_the_reference_stand_in_for_an_unwritten_stub(capsys):
    def pass_at_k(n, c, k):
        raise NotImplementedError

    impl = your_turn("ch06", pass_at_k)
    assert impl.pass_at_k(10, 3, 10) == 1.0 and "not written yet: pass_at_k" in capsys.readouterr().out


def test_your_turn_uses_a_written_function_and_names_a_wrong_one(capsys):
    def pass_at_k(n, c, k):
        return 1.0 - (1.0 - c / n) ** k

    with pytest.raises(AssertionError, match=r"check_pass_at_k: AssertionError: pass_at_k\("):
        your_turn("ch06", pass_at_k)
    right = load_module(exercise_dir() / "ch06_benchmark_scoring" / "solution.py").pass_at_k
    yours = your_turn("ch06", right)
    assert yours.pass_at_k.__wrapped__ is right and "(yours: pass_at_k)" in capsys.readouterr().out
