"""Every notebook in notebooks/ runs top to bottom without an error."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

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


def test_there_are_notebooks():
    assert NOTEBOOKS, "notebooks/ holds no notebook"
    assert {"quickstart", *NEEDS_REALDATA} <= {p.stem for p in NOTEBOOKS}
