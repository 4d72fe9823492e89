"""Notebook conventions: ordered names, a papermill ``parameters`` cell reading the profile, seeded, no stored clutter."""

from __future__ import annotations

import json

import pytest

from codellama_lite.workbook import list_notebooks

NOTEBOOKS = list_notebooks()
PROFILE_LINE = 'PROFILE = os.environ.get("CODELLAMA_LITE_PROFILE", "laptop")'


def _cells(path):
    return json.loads(path.read_text(encoding="utf-8"))["cells"]


def test_there_are_notebooks():
    assert NOTEBOOKS


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_first_code_cell_is_the_parameters_cell(path):
    first = next(cell for cell in _cells(path) if cell["cell_type"] == "code")
    assert "parameters" in first["metadata"].get("tags", [])
    assert PROFILE_LINE in "".join(first["source"])


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_only_checked_cells_store_outputs(path):
    for cell in _cells(path):
        if cell["cell_type"] == "code" and cell.get("outputs"):
            assert "NBVAL_CHECK_OUTPUT" in "".join(cell["source"]), "".join(cell["source"])[:80]
