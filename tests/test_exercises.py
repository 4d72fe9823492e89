"""Every exercise check passes on the reference solution and fails on the untouched stub."""

from __future__ import annotations

import pytest

from codellama_lite.exercises import chapters, checks_of, run_checks

CHAPTERS = chapters()


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
