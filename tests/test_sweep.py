"""spreadarb.sweep: equal to one-by-one backtests, error rows, checkpoints, Dask, CLI."""

from __future__ import annotations

import math
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

import spreadarb
from spreadarb import StrategyConfig
from spreadarb.metrics import portfolio_metrics
from spreadarb.simulation import candidate_key
from spreadarb.sweeps import SweepError, expand_grid, flat_metrics, load_grid

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "data" / "sample"

# One field of each stage: market features, scan, engine (fill and exit).
GRID = {
    "scales.vwap_window_s": [300.0, 3600.0],
    "min_confidence": [60, 70],
    "fill_threshold": [0.05, 0.2],
    "stop_loss_bps": [100.0],
}


@pytest.fixture(scope="module")
def sample():
    return spreadarb.load(SAMPLE)


@pytest.fixture(scope="module")
def swept(sample):
    return spreadarb.sweep(sample, GRID, n_jobs=2, progress=False)


def same(a, b) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return a == b


def metric_row(row: pd.Series) -> dict:
    skip = {"config_id", "config_key", "error", *GRID}
    return {k: v for k, v in row.items() if k not in skip}


def test_rows_equal_one_by_one_backtests(sample, swept):
    assert len(swept) == 8
    assert swept["error"].isna().all()
    assert list(swept.columns[:5]) == ["config_id", *GRID]
    for _, row in swept.iterrows():
        config = StrategyConfig().replace(**{name: row[name] for name in GRID})
        expected = flat_metrics(portfolio_metrics(spreadarb.backtest(sample, config)))
        got = metric_row(row)
        assert got.keys() == expected.keys()
        diff = {k: (got[k], expected[k]) for k in expected if not same(got[k], expected[k])}
        assert not diff, (row["config_id"], diff)
    # The grid is not degenerate: its fields change the results.
    assert swept["cumulative_pnl"].nunique() > 2
    assert swept["trades_opened"].nunique() > 1


def test_latency_statistics_shared_per_feature_set_equal_one_by_one(sample):
    """The sweep computes the venues' latency statistics once per feature set; they differ
    between feature sets (the staleness limit is one) and equal each config's own."""
    grid = {"max_latency_ms": [20.0, 5000.0], "min_confidence": [60, 70]}
    swept = spreadarb.sweep(sample, grid, n_jobs=2, progress=False)
    columns = [c for c in swept.columns if c.startswith("latency_by_exchange.")]
    assert any(c.endswith(".stale_fraction") for c in columns)
    for _, row in swept.iterrows():
        config = StrategyConfig().replace(**{name: row[name] for name in grid})
        expected = flat_metrics(portfolio_metrics(spreadarb.backtest(sample, config)))
        assert all(same(row[c], expected[c]) for c in columns), row["config_id"]
    stale = [c for c in columns if c.endswith(".stale_fraction")]
    by_limit = swept.groupby("max_latency_ms")[stale].sum().sum(axis=1)
    assert by_limit[20.0] > by_limit[5000.0]


def test_entry_candidates_shared_per_scan_and_harder_legs_equal_one_by_one(sample):
    """Configs of one scan share its entry candidates unless their harder legs differ
    (the difficulty ranking is not part of the scan)."""
    ranking = StrategyConfig().difficulty_ranking
    grid = [
        {"fill_threshold": f, "difficulty_ranking": r}
        for f in (0.05, 0.5)
        for r in (ranking, tuple(reversed(ranking)))
    ]
    swept = spreadarb.sweep(sample, grid, n_jobs=2, progress=False)
    assert swept["error"].isna().all()
    for (_, row), changes in zip(swept.iterrows(), grid, strict=True):
        expected = flat_metrics(
            portfolio_metrics(spreadarb.backtest(sample, StrategyConfig().replace(**changes)))
        )
        got = metric_row(row)
        diff = {k: (got[k], expected[k]) for k in expected if not same(got[k], expected[k])}
        assert not diff, (row["config_id"], diff)
    keys = {candidate_key(StrategyConfig().replace(**c), sample.exchanges) for c in grid}
    assert len(keys) == 2
    # The ranking changes which leg is posted first, hence the results.
    assert swept["trades_opened"].iloc[0] != swept["trades_opened"].iloc[1] or (
        swept["cumulative_pnl"].iloc[0] != swept["cumulative_pnl"].iloc[1]
    )


def test_single_thread_and_rerun_are_identical(sample, swept):
    again = spreadarb.sweep(sample, GRID, n_jobs=1, progress=False)
    pd.testing.assert_frame_equal(again, swept)


def test_grid_order_and_params():
    points = expand_grid({"min_confidence": [60, 70], "fill_threshold": [0.1, 0.2, 0.3]})
    assert [p.params for p in points[:4]] == [
        {"min_confidence": 60, "fill_threshold": 0.1},
        {"min_confidence": 60, "fill_threshold": 0.2},
        {"min_confidence": 60, "fill_threshold": 0.3},
        {"min_confidence": 70, "fill_threshold": 0.1},
    ]
    assert points[4].config == StrategyConfig(min_confidence=70, fill_threshold=0.2)
    assert len({p.key for p in points}) == 6


def test_explicit_configs_name_the_fields_that_differ():
    base = StrategyConfig()
    points = expand_grid(
        [StrategyConfig(min_confidence=60), {"queue_model": "risk_averse"}, base], base
    )
    assert [p.params for p in points] == [
        {"min_confidence": 60, "queue_model": "fraction"},
        {"min_confidence": 70, "queue_model": "risk_averse"},
        {"min_confidence": 70, "queue_model": "fraction"},
    ]
    assert points[2].key == expand_grid([{}])[0].key


@pytest.mark.parametrize(
    ("grid", "message"),
    [
        ({"min_confidence": 70}, "grid['min_confidence'] must be a list"),
        ({"min_confidence": []}, "grid['min_confidence'] is empty"),
        ([StrategyConfig(), 3], "grid[1] must be a StrategyConfig"),
        ("min_confidence", "grid must be a mapping"),
    ],
)
def test_bad_grids_are_refused(grid, message):
    with pytest.raises(SweepError, match=re.escape(message)):
        expand_grid(grid)


def test_invalid_combination_is_an_error_row(sample):
    grid = {"spread_widening_bps": [50.0, 150.0], "stop_loss_bps": [100.0]}
    frame = spreadarb.sweep(sample, grid, n_jobs=2, progress=False)
    assert frame["error"].isna().tolist() == [True, False]
    assert "stop_loss_bps (100.0) must be >= spread_widening_bps (150.0)" in frame["error"][1]
    assert math.isnan(frame["cumulative_pnl"][1])
    assert frame["trades_opened"][0] == len(spreadarb.backtest(sample).trade_records)


def test_exception_in_a_run_is_an_error_row(sample, monkeypatch):
    import spreadarb.sweeps as sweeps

    real = sweeps.prepare

    def failing(dataset, config, **kwargs):
        if config.fill_threshold == 0.6:
            raise RuntimeError("engine exploded")
        return real(dataset, config, **kwargs)

    monkeypatch.setattr(sweeps, "prepare", failing)
    frame = spreadarb.sweep(sample, {"fill_threshold": [0.2, 0.6, 0.3]}, progress=False)
    assert frame["error"].tolist()[1] == "RuntimeError: engine exploded"
    assert frame["error"].isna().tolist() == [True, False, True]
    assert frame["cumulative_pnl"].notna().tolist() == [True, False, True]


def test_checkpoint_keeps_finished_rows_and_resume_skips_them(sample, swept, tmp_path, monkeypatch):
    import spreadarb.sweeps as sweeps

    checkpoint = tmp_path / "ckpt"
    real = sweeps._outcome
    calls: list[int] = []

    def interrupted(shared, point):
        if len(calls) >= 3:
            raise KeyboardInterrupt
        calls.append(point.config_id)
        return real(shared, point)

    monkeypatch.setattr(sweeps, "_outcome", interrupted)
    with pytest.raises(KeyboardInterrupt):
        spreadarb.sweep(sample, GRID, n_jobs=1, progress=False, checkpoint=checkpoint)
    parts = sorted(checkpoint.glob("part-*.jsonl"))
    assert parts, "the finished rows were not written"
    finished = sum(len(p.read_text().splitlines()) for p in parts)
    assert finished == 3
    assert not list(checkpoint.glob("*.tmp*"))

    calls.clear()

    def counting(shared, point):
        calls.append(point.config_id)
        return real(shared, point)

    monkeypatch.setattr(sweeps, "_outcome", counting)
    resumed = spreadarb.sweep(sample, GRID, n_jobs=2, progress=False, checkpoint=checkpoint)
    assert len(calls) == 5
    pd.testing.assert_frame_equal(resumed, swept)

    calls.clear()
    again = spreadarb.sweep(sample, GRID, progress=False, checkpoint=checkpoint)
    assert calls == []
    pd.testing.assert_frame_equal(again, swept)


def test_checkpoint_of_another_dataset_is_refused(sample, tmp_path):
    checkpoint = tmp_path / "ckpt"
    spreadarb.sweep(sample, {"min_confidence": [70]}, progress=False, checkpoint=checkpoint)
    other = spreadarb.load(SAMPLE, symbols="BTC")
    with pytest.raises(SweepError, match="written for another dataset"):
        spreadarb.sweep(other, {"min_confidence": [70]}, progress=False, checkpoint=checkpoint)


def test_grid_toml(tmp_path):
    path = tmp_path / "grid.toml"
    path.write_text("min_confidence = [60, 70]\n[scales]\nvwap_window_s = [1800.0]\n")
    assert load_grid(path) == {"min_confidence": [60, 70], "scales.vwap_window_s": [1800.0]}
    path.write_text('[[configs]]\nmin_confidence = 60\n[[configs]]\nqueue_model = "risk_averse"\n')
    assert load_grid(path) == [{"min_confidence": 60}, {"queue_model": "risk_averse"}]
    path.write_text("min_confidence = 60\n")
    with pytest.raises(SweepError, match=r"grid.toml: min_confidence = 60 must be a list"):
        load_grid(path)


@pytest.mark.slow
def test_dask_local_cluster_gives_the_same_rows(sample, swept):
    distributed = pytest.importorskip("distributed")
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        frame = spreadarb.sweep(sample, GRID, client=client, progress=False, batch_size=3)
        bad = spreadarb.sweep(
            sample,
            {"spread_widening_bps": [150.0], "stop_loss_bps": [100.0]},
            client=client,
            progress=False,
        )
    pd.testing.assert_frame_equal(frame, swept)
    assert bad["error"][0].startswith("ConfigError: stop_loss_bps")


def test_cli_sweep_writes_the_rows(sample, swept, tmp_path):
    grid = tmp_path / "grid.toml"
    grid.write_text(
        "min_confidence = [60, 70]\nfill_threshold = [0.05, 0.2]\nstop_loss_bps = [100.0]\n"
        "[scales]\nvwap_window_s = [300.0, 3600.0]\n"
    )
    out = tmp_path / "rows.parquet"
    proc = subprocess.run(
        [
            *(sys.executable, "-m", "spreadarb.cli", "sweep", str(SAMPLE)),
            *("--grid", str(grid), "--out", str(out), "--no-progress"),
        ],
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
    )
    assert proc.returncode == 0, proc.stderr
    assert "swept 8 configurations" in proc.stdout
    frame = pd.read_parquet(out)
    assert len(frame) == 8
    # Same configurations (in another grid order): same metrics, matched by config key.
    ours = frame.set_index("config_key").sort_index()
    theirs = swept.set_index("config_key").sort_index()
    assert list(ours.index) == list(theirs.index)
    pd.testing.assert_series_equal(ours["cumulative_pnl"], theirs["cumulative_pnl"])
    pd.testing.assert_series_equal(ours["trades_opened"], theirs["trades_opened"])
