"""The paper's numbers we print beside ours agree with docs/paper_facts.md §7 (Table 2), inside this repository."""

from __future__ import annotations

import re
from pathlib import Path

from codellama_lite.evaluation.report import PAPER_HUMANEVAL, PAPER_MBPP

FACTS = Path(__file__).resolve().parent.parent / "docs" / "paper_facts.md"
ROW = re.compile(r"^\| (?P<model>[^|]+?) \| (?P<size>\d+B) \| (?P<he>[\d. /]+) \|\s*(?P<mbpp>[\d. /]*?)\s*\|$")


def _parse(cell: str) -> tuple[float, ...]:
    return tuple(float(x) for x in cell.split("/")) if cell.strip() else ()


def _table_2() -> dict[str, tuple[tuple[float, ...], tuple[float, ...]]]:
    rows = {}
    for line in FACTS.read_text(encoding="utf-8").splitlines():
        match = ROW.match(line.strip())
        if match:
            rows[f"{match['model']} {match['size']}"] = (_parse(match["he"]), _parse(match["mbpp"]))
    assert len(rows) >= 13, f"{FACTS.name}'s Table 2 did not parse"
    return rows


def test_humaneval_and_mbpp_rows_match_the_facts():
    rows = _table_2()
    assert set(PAPER_HUMANEVAL) == set(rows)
    assert set(PAPER_MBPP) == {name for name, (_, mbpp) in rows.items() if mbpp}
    for name, (humaneval, mbpp) in rows.items():
        assert PAPER_HUMANEVAL[name] == humaneval, name
        if mbpp:
            assert PAPER_MBPP[name] == mbpp, name


def test_nothing_shipped_cites_files_outside_the_repository():
    """What a learner reads, notebooks, exercises, the package and its recipes, cites docs/paper_facts.md, never a
    file beside the checkout."""
    root = FACTS.parent.parent
    paths = [*root.glob("notebooks/*.ipynb"), *root.glob("exercises/**/*.py"), *root.glob("exercises/**/*.md"),
             *root.glob("codellama_lite/**/*.py"), *root.glob("configs/*.toml"), root / "README.md"]
    outside = re.compile(r"\.\./shared|REFERENCE\.md|\bREFERENCE §|\bPRIOR_ART\b")
    citing = [str(path.relative_to(root)) for path in paths if outside.search(path.read_text(encoding="utf-8"))]
    assert not citing, f"cite docs/paper_facts.md instead of a reference outside the repository: {citing}"
