"""The paper's numbers we print beside ours agree with the shared reference (../shared/paper/REFERENCE.md §7)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from codellama_lite.evaluation.report import PAPER_HUMANEVAL, PAPER_MBPP

REFERENCE = Path(__file__).resolve().parents[2] / "shared" / "paper" / "REFERENCE.md"
ROW = re.compile(r"^\| (?P<model>[^|]+?) \| (?P<size>\d+B) \| (?P<he>[\d. /]+) \|\s*(?P<mbpp>[\d. /]*?)\s*\|$")


def _reference_rows() -> dict[str, tuple[tuple[float, ...], tuple[float, ...]]]:
    if not REFERENCE.is_file():
        pytest.skip(f"{REFERENCE} is not beside this checkout")
    rows = {}
    for line in REFERENCE.read_text(encoding="utf-8").splitlines():
        match = ROW.match(line.strip())
        if match:
            parse = lambda cell: tuple(float(x) for x in cell.split("/")) if cell.strip() else ()  # noqa: E731
            rows[f"{match['model']} {match['size']}"] = (parse(match["he"]), parse(match["mbpp"]))
    assert len(rows) >= 13, "REFERENCE.md's Table 2 did not parse"
    return rows


def test_humaneval_and_mbpp_rows_match_the_reference():
    for name, (humaneval, mbpp) in _reference_rows().items():
        assert PAPER_HUMANEVAL[name] == humaneval, name
        if mbpp:
            assert PAPER_MBPP[name] == mbpp, name
    assert set(PAPER_HUMANEVAL) == set(_reference_rows())
