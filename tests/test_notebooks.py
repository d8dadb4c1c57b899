"""Every notebook in notebooks/ runs top to bottom without an error."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

DRAWS_SPREADARB_FIGURES = {"quickstart", "execution"}
ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
REALDATA = ROOT.parent / "shared" / "realdata"
NEEDS_REALDATA = {"real_data", "funding_history"}
"""Notebooks that read the real recordings in place from ``../shared/realdata``."""


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_executes(path):
    if path.stem in NEEDS_REALDATA and not REALDATA.is_dir():
        pytest.skip(f"real data not found at {REALDATA} (shared/realdata is absent here)")
    notebook = nbformat.read(path, as_version=4)
    NotebookClient(
        notebook,
        timeout=600,
        kernel_name="python3",
        resources={"metadata": {"path": str(path.parent)}},
    ).execute()
    outputs = [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.outputs]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    # Warnings are errors in the test suite; a notebook must not print one either.
    warned = [
        o["text"] for o in outputs if o.get("name") == "stderr" and "Warning" in o.get("text", "")
    ]
    assert not warned, warned
    if path.stem in DRAWS_SPREADARB_FIGURES:
        # spreadarb's figures are made without pyplot and must still show as images.
        assert any("image/png" in o.get("data", {}) for o in outputs)


def test_notebooks_are_stored_without_outputs():
    for path in NOTEBOOKS:
        notebook = nbformat.read(path, as_version=4)
        for cell in notebook.cells:
            if cell.cell_type == "code":
                assert cell.outputs == [] and cell.execution_count is None, path.name


def test_there_are_notebooks():
    assert NOTEBOOKS, "notebooks/ holds no notebook"
    assert {"quickstart", *NEEDS_REALDATA} <= {p.stem for p in NOTEBOOKS}
