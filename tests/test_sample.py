"""The shipped sample: what data/README.md promises about it."""

from __future__ import annotations

import shlex
from pathlib import Path

import numpy as np
import pytest

import spreadarb
from spreadarb.cli import main
from spreadarb.venues import SEED_VENUES

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "data" / "sample"


@pytest.fixture(scope="module")
def sample():
    return spreadarb.load(SAMPLE)


def test_sample_is_valid_small_and_covers_the_seed(sample):
    assert spreadarb.validate(SAMPLE) == []
    assert sorted(sample.exchanges) == sorted(SEED_VENUES)
    assert len(sample.symbols) >= 3
    size = sum(f.stat().st_size for f in SAMPLE.rglob("*") if f.is_file())
    assert size <= 25 * 2**20
    # It crosses an 8 h funding settlement: 08:00 UTC lies inside the data.
    ts = sample.tickers["ts_local"]
    eight = np.datetime64("2024-08-08T08:00", "ns").astype(np.int64)
    assert ts.min() < eight < ts.max()
    intervals = set(np.unique(sample.tickers["funding_interval_s"]).tolist())
    assert intervals == {3600, 14400, 28800}


def test_sample_is_reproduced_by_the_documented_command(tmp_path):
    readme = (ROOT / "data" / "README.md").read_text()
    command = readme.split("```bash\n", 1)[1].split("```", 1)[0].replace("\\\n", " ")
    argv = shlex.split(command)
    assert argv[:3] == ["spreadarb", "synth", "data/sample"]
    assert main(["synth", str(tmp_path / "again"), *argv[3:]]) == 0
    ours = sorted(p.relative_to(SAMPLE) for p in SAMPLE.rglob("*.parquet"))
    again = sorted(
        p.relative_to(tmp_path / "again") for p in (tmp_path / "again").rglob("*.parquet")
    )
    assert ours == again
    for rel in ours:
        assert (SAMPLE / rel).read_bytes() == (tmp_path / "again" / rel).read_bytes(), rel


def test_default_strategy_finds_opportunities_and_trades_with_leg_outs(sample):
    frame = spreadarb.scan(sample)
    assert frame["passed"].sum() >= 20
    counts = frame["reason"].value_counts()
    for reason in ("spread_below_costs", "funding_delta", "latency", "confidence"):
        assert counts[reason] > 0, reason
    # Realistic proportions: most seconds have no tradeable spread after fees.
    assert counts["spread_below_costs"] > counts["funding_delta"] > counts["passed"]
    result = spreadarb.backtest(sample)
    m = result.metrics
    assert m["trades_closed"] >= 3
    assert m["leg_out_count"] >= 1
    assert set(result.rejections["reason"]) >= {"harder_leg_unfilled"}
