"""The pandas reference of ``benchmarks/bench_scan.py`` gives what ``spreadarb.scan`` gives.

The benchmark's speed ratio only means something if both sides compute the same
opportunity log; this checks it, column by column, on a small synthetic dataset, with
the default config and with one whose short windows and low thresholds exercise every
path (window exits, ATR trend, liquidation clusters, passing rows and ranks), on the
full venue set, on two venues (one venue best on both sides) and on one (no pair).
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import spreadarb
from spreadarb import StrategyConfig

BENCH = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_scan.py"
T_START = "2024-08-08T07:00:00"


def _load_bench():
    spec = importlib.util.spec_from_file_location("bench_scan", BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("bench_scan", module)
    spec.loader.exec_module(module)
    return module


bench = _load_bench()

PERMISSIVE = StrategyConfig(
    min_confidence=0,
    min_spread_bps=0.0,
    min_depth_usd=0.0,
    top_n=1,
    latency_window_s=3.0,
    max_latency_ms=60.0,
    fees={"maker": {}, "taker": {}, "default_maker": 0.0, "default_taker": 0.0},
    scales={
        "oi_mean_window_s": 120.0,
        "vwap_window_s": 60.0,
        "atr_bar_s": 10.0,
        "atr_window_bars": 3,
        "atr_trend_bars": 2,
        "liquidation_window_s": 300.0,
        "liquidation_cluster_min_usd": 1_000.0,
    },
)


@pytest.fixture(scope="module")
def data_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("synth")
    spreadarb.synth.generate(root, seed=11, start=T_START, hours=0.25, symbols=("BTC", "ETH"))
    return root


def _assert_same(dataset: spreadarb.Dataset, config: StrategyConfig) -> pd.DataFrame:
    """Assert the reference agrees with ``spreadarb.scan``; return spreadarb's frame."""
    expected = spreadarb.scan(dataset, config)
    got = bench.pandas_scan(dataset, config)
    problems = bench.compare(got, expected)
    assert not problems, problems
    return expected


@pytest.mark.parametrize("config", [StrategyConfig(), PERMISSIVE], ids=["default", "permissive"])
def test_all_venues(data_root: Path, config: StrategyConfig) -> None:
    frame = _assert_same(spreadarb.load(data_root), config)
    if config is PERMISSIVE:
        # The case exercises what it is meant to.
        assert frame["rank"].notna().any()
        assert frame["atr_trend"].any()
        assert frame["liquidation_cluster_distance"].notna().any()
        assert (frame["stale_other_exchanges"] > 0).any()
        assert (frame["latency_penalty"] > 0).any()


def test_two_venues_in_a_window(data_root: Path) -> None:
    # With two venues one of them often has both the best bid and the best ask.
    dataset = spreadarb.load(
        data_root,
        exchanges=("gate", "hyperliquid"),
        start="2024-08-08T07:02:00.5",
        end="2024-08-08T07:12:00",
    )
    frame = _assert_same(dataset, PERMISSIVE)
    assert set(frame["long_exchange"].dropna()) == {"gate", "hyperliquid"}
    # ... and the case is there: at some scan time one venue has the lower ask and the
    # higher bid.
    grid = pd.DatetimeIndex(frame["ts"]).unique().asi8
    tk = dataset.tickers
    quotes = []
    for market in range(dataset.n_markets):
        rows = tk.rows(market)
        i = np.searchsorted(tk["ts_local"][rows], grid, side="right") - 1
        bid = np.where(i >= 0, tk["bid_px"][rows][i], np.nan)
        ask = np.where(i >= 0, tk["ask_px"][rows][i], np.nan)
        quotes.append((bid, ask, dataset.market_symbol[market]))
    (bid_a, ask_a, sym_a), (bid_b, ask_b, sym_b) = quotes[0], quotes[2]
    assert sym_a == sym_b
    assert ((ask_a < ask_b) & (bid_a > bid_b) | (ask_b < ask_a) & (bid_b > bid_a)).any()
    _assert_same(dataset, StrategyConfig())


def test_one_venue_has_no_pair(data_root: Path) -> None:
    frame = _assert_same(spreadarb.load(data_root, exchanges="okx"), PERMISSIVE)
    assert (frame["reason"] == "no_pair").all()


def test_compare_reports_a_difference(data_root: Path) -> None:
    dataset = spreadarb.load(data_root, exchanges=("okx", "bybit"), end="2024-08-08T07:03:00")
    expected = spreadarb.scan(dataset)
    got = expected.copy()
    got.loc[5, "spread_bps"] *= 1 + 1e-6
    got.loc[7, "confidence_score"] += 1
    problems = bench.compare(got, expected)
    assert set(problems) == {"spread_bps", "confidence_score"}
    assert problems["spread_bps"]["first_row"] == 5
