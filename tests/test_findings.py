"""The findings table (Code Llama §3): directions decided on intervals, paired differences, earlier chapters' rows
read from the workbook summary, and the summary written by the workbook runner."""

from __future__ import annotations

import pytest

from codellama_lite.experiments import findings as fd
from codellama_lite.evaluation.passk import PassAtK
from codellama_lite.workbook.runner import NotebookRun, write_summary


def test_paired_difference_is_after_minus_before():
    before = {"a": (1, 0), "b": (1, 1), "c": (1, 0), "d": (1, 0)}
    after = {"a": (1, 1), "b": (1, 1), "c": (1, 1), "d": (1, 0), "e": (1, 1)}
    diff = fd.paired_difference(before, after)
    assert diff.value == pytest.approx(0.5) and diff.problems == 4 and diff.low <= 0.5 <= diff.high
    with pytest.raises(ValueError, match="share no problem"):
        fd.paired_difference({"x": (1, 1)}, {"y": (1, 1)})


@pytest.mark.parametrize("low, high, direction, verdict", [
    (0.1, 0.3, "> 0", True), (-0.3, -0.1, "> 0", False), (-0.1, 0.2, "> 0", None), (-0.3, -0.1, "< 0", True)])
def test_reproduced_only_when_the_interval_excludes_zero(low, high, direction, verdict):
    row = fd.from_difference(5, "x", "paper", PassAtK(1, (low + high) / 2, low, high, 10), "cmd", direction)
    assert row.reproduced is verdict
    assert fd.from_difference(5, "x", "paper", None, "cmd").verdict() == "not measured"


def test_rows_from_summary_written_by_the_workbook(tmp_path):
    path = tmp_path / "summary.json"
    write_summary(path, NotebookRun("04_long_context.ipynb", "ok", 1.0,
                                    {"loss_16x no LCFT": 5.0, "loss_16x LCFT, base 1e6": 4.0}), "smoke")
    rows = fd.rows_from_summary(fd.read_summary(path))
    lcft = next(row for row in rows if row.chapter == 4 and "loss" in row.finding)
    assert lcft.ours == pytest.approx(-1.0) and lcft.reproduced is None  # a point value decides nothing
    assert lcft.verdict() == "paper's direction (point value, no interval)"
    assert {row.verdict() for row in rows if row.chapter == 3} == {"not measured"}
    write_summary(path, NotebookRun("03_fill_in_the_middle.ipynb", "ok", 1.0,
                                    {"fim_pass1_delta_points": -14.0, "fim_pass1_delta_ci": [-21.0, -7.0],
                                     "infill_single-line_no_fim_l2r": 0.39, "infill_single-line_fim_spm": 0.01}),
                  "smoke")
    rows = fd.rows_from_summary(fd.read_summary(path))
    cost, infill = [row for row in rows if row.chapter == 3]
    assert (cost.ours, cost.low, cost.high) == pytest.approx((-0.14, -0.21, -0.07)) and cost.verdict() == "reproduced"
    assert infill.ours == pytest.approx(-0.38) and infill.verdict() == "against the paper (point value, no interval)"
    assert [row.chapter for row in rows] == sorted(row.chapter for row in rows)
    table = fd.format_table(rows)
    assert "reproduced" in table and "paper:" in table
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
