"""The findings table (Code Llama §3): directions decided on intervals, paired differences, earlier chapters' rows
read from the workbook summary, and the summary written by the workbook runner."""

from __future__ import annotations

import pytest

from codellama_lite.experiments import findings as fd
from codellama_lite.evaluation.passk import Interval
from codellama_lite.workbook.runner import NotebookRun, write_summary


def test_counts_difference_is_first_minus_second_on_common_problems():
    after = {"a": (1, 1), "b": (1, 1), "c": (1, 1), "d": (1, 0), "e": (1, 1)}
    before = {"a": (1, 0), "b": (1, 1), "c": (1, 0), "d": (1, 0)}
    diff = fd.counts_difference(after, before)
    assert diff.value == pytest.approx(0.5) and diff.items == 4 and diff.low <= 0.5 <= diff.high
    with pytest.raises(ValueError, match="share no problem"):
        fd.counts_difference({"x": (1, 1)}, {"y": (1, 1)})


@pytest.mark.parametrize("low, high, direction, verdict", [
    (0.1, 0.3, "> 0", "reproduced"), (-0.3, -0.1, "> 0", "contradicted"), (-0.1, 0.2, "> 0", "undecided"),
    (-0.3, -0.1, "< 0", "reproduced")])
def test_directions_are_decided_on_the_interval(low, high, direction, verdict):
    row = fd.from_interval(5, "x", "paper", Interval((low + high) / 2, low, high, 10, 3), "cmd", direction)
    assert row.verdict() == verdict and row.seeds == 3
    assert fd.from_interval(5, "x", "paper", None, "cmd").verdict() == "not measured"


@pytest.mark.parametrize("low, high, verdict", [
    (-0.02, 0.01, "reproduced"), (-0.30, -0.10, "contradicted"), (-0.08, 0.01, "undecided")])
def test_nearly_free_is_an_equivalence_not_a_sign(low, high, verdict):
    """A cost of -20 points with an interval below zero is not "FIM is nearly free"."""
    row = fd.from_interval(3, "FIM is nearly free", "Table 5", {"value": (low + high) / 2, "low": low,
                                                                "high": high, "seeds": 3},
                           "cmd", fd.EQUIVALENCE, margin=0.03)
    assert row.verdict() == verdict
    with pytest.raises(ValueError, match="margin"):
        fd.Finding(3, "x", "p", 0.0, 0.0, 0.0, fd.EQUIVALENCE, "cmd")


def test_a_failed_precondition_is_never_reproduced():
    row = fd.from_interval(5, "filtered beats unfiltered", "Table 8", Interval(0.08, 0.02, 0.14, 100, 1), "cmd",
                           precondition="self-instruct kept no passing triplet")
    assert row.verdict().startswith("not measurable") and row.reproduced is None


def test_rows_from_summary_written_by_the_workbook(tmp_path):
    path = tmp_path / "summary.json"
    rows3 = [fd.from_interval(3, "FIM is nearly free", "Table 5", Interval(-0.01, -0.02, 0.0, 200, 3), "c",
                              fd.EQUIVALENCE, margin=0.03)]
    rows4 = [fd.from_interval(4, "LCFT base 1e6 lowers far loss", "Figure 4a", Interval(-1.0, -1.2, -0.8, 8, 1), "c",
                              "< 0")]
    write_summary(path, NotebookRun("04_long_context.ipynb", "ok", 1.0, fd.table_figures(rows4, 4)), "smoke")
    write_summary(path, NotebookRun("03_fill_in_the_middle.ipynb", "ok", 1.0, fd.table_figures(rows3, 3)), "smoke")
    rows = fd.rows_from_summary(fd.read_summary(path))
    assert [row.chapter for row in rows] == [3, 4] and rows == rows3 + rows4
    assert {row.verdict() for row in rows} == {"reproduced"}
    table = fd.format_table(rows)
    assert "reproduced (margin ±0.03)" in table and "paper:" in table
    assert fd.table_figures(rows)["findings"][0]["verdict"] == "reproduced"
    assert fd.read_summary(tmp_path / "absent.json") == {}


def test_summary_keeps_one_entry_per_notebook_and_profile(tmp_path):
    path = tmp_path / "summary.json"
    write_summary(path, NotebookRun("05_a.ipynb", "ok", 1.0, {"x": 1}), "smoke")
    write_summary(path, NotebookRun("05_a.ipynb", "ok", 2.0, {"x": 2}), "smoke")
    assert [n["figures"] for n in fd.read_summary(path)["notebooks"]] == [{"x": 2}]
    write_summary(path, NotebookRun("04_a.ipynb", "ok", 1.0, {}), "laptop")
    assert [n["notebook"] for n in fd.read_summary(path)["notebooks"]] == ["04_a.ipynb"]
    path.write_text("{not json")
    with pytest.raises(ValueError, match="summary.json"):
        fd.read_summary(path)
