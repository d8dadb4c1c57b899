"""What ``benchmarks/bench_vectorbt.py`` hands to vectorbt is the scan's own output.

The peer itself runs in vectorbt's virtualenv (not installed here); this checks the side
that runs in the project: the grid has the size of the sweep benchmark's, and the export
of ``data/sample`` is the scan's best opportunity per pair on the scan's grid, priced from
the two legs' last mids.
"""

from __future__ import annotations

from itertools import product
from pathlib import Path

import numpy as np
import pytest

import spreadarb
from benchmarks import bench_vectorbt as bench
from benchmarks.bench_sweep import SAMPLE_GRID
from spreadarb.scanner import scan_records

SAMPLE = Path(__file__).resolve().parents[1] / "data" / "sample"


def test_the_vectorbt_grid_has_the_sweep_benchmarks_size() -> None:
    grid = bench.vbt_grid()
    assert len(grid) == len(list(product(*SAMPLE_GRID.values()))) == 144
    assert len({tuple(g.values()) for g in grid}) == 144
    assert bench.VBT_GRID["min_confidence"] == [float(c) for c in SAMPLE_GRID["min_confidence"]]
    assert bench.VBT_GRID["spread_widening_bps"] == SAMPLE_GRID["spread_widening_bps"]


@pytest.mark.slow
def test_export_is_the_scan_per_pair(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bench, "INPUTS", tmp_path / "inputs.npz")
    ds = spreadarb.load(SAMPLE)
    summary = bench.export(ds)
    d = np.load(tmp_path / "inputs.npz")
    rec = scan_records(ds)
    n_t = np.unique(rec["ts"]).size
    n_a = bench.PAIRS_PER_SYMBOL * len(ds.symbols)
    assert summary["rows"] == n_t and len(summary["assets"]) == n_a
    for key in ("close", "pair_spread_bps", "scan_spread_bps", "scan_confidence"):
        assert d[key].shape == (n_t, n_a)
    assert np.isfinite(d["close"]).all() and (d["close"] > 0).all()
    # The ratio asset's return is the spread captured: 1 - close ~ spread / 1e4.
    np.testing.assert_allclose(1 - d["close"], d["pair_spread_bps"] / 1e4, rtol=0.01, atol=1e-7)
    best = np.isfinite(d["scan_spread_bps"])
    assert (d["scan_confidence"][~best] == 0).all()
    # Each scan row is the best pair of exactly one asset or of none (pairs beyond the
    # four most frequent are not exported).
    rec = rec.reshape(n_t, len(ds.symbols))
    for s in range(len(ds.symbols)):
        cols = slice(s * bench.PAIRS_PER_SYMBOL, (s + 1) * bench.PAIRS_PER_SYMBOL)
        hits = best[:, cols].sum(axis=1)
        assert hits.max() <= 1
        np.testing.assert_array_equal(
            np.nansum(d["scan_spread_bps"][:, cols], axis=1)[hits == 1],
            rec["spread_bps"][hits == 1, s],
        )
    assert ((d["fees"] > 0) & (d["fees"] < 0.01)).all()
