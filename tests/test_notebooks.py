"""Notebook conventions: ordered names, a papermill ``parameters`` cell reading the profile, no stored clutter."""

from __future__ import annotations

import json

import pytest

from codellama_lite.workbook.runner import KERNELSPEC, list_notebooks

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


def _metadata(path):
    return json.loads(path.read_text(encoding="utf-8"))["metadata"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_metadata_is_what_the_kernel_reports(path):
    """Only the kernel's name and language information (as ipykernel reports them, so JupyterLab opens the notebook
    unmodified), the same Python version in every notebook, and no stored widget state."""
    metadata = _metadata(path)
    extra = set(metadata) - {"kernelspec", "language_info"}
    assert not extra and "kernelspec" in metadata and "language_info" in metadata, f"metadata keys {set(metadata)}"
    assert metadata["kernelspec"] == KERNELSPEC
    language = metadata["language_info"]
    assert language.get("name") == "python" and language.get("pygments_lexer") == "ipython3", language
    reference = _metadata(NOTEBOOKS[0])["language_info"]
    assert language == reference, f"{path.name}'s language_info differs from {NOTEBOOKS[0].name}'s"
