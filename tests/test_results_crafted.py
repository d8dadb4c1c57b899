"""Metrics, event log, daily table and polars tables of a hand-made result.

The ledger is built in ``conftest.crafted_result``: three closed trades (net +10, -33,
+39 USD; one entry leg-out on trade 0, one exit leg-out on trade 2, a stop loss on
trade 1), one rejected trade, a 1-minute equity grid of six points from 23:57 UTC to
00:02 UTC, two venues whose latencies are chosen to give one violation, one feed gap and
one clock offset. Every expected number below is worked out by hand from those inputs.
"""

from __future__ import annotations

import json
import math
from dataclasses import replace

import numpy as np
import pandas as pd
import polars as pl
import pytest
from conftest import CRAFTED_T0, SECOND
from hypothesis import given
from hypothesis import strategies as st

from spreadarb.results import BacktestResult

CAPITAL = 10_000.0
DAYS = 300 / 86_400


def ts(seconds: float) -> pd.Timestamp:
    return pd.Timestamp(CRAFTED_T0 + int(seconds * SECOND), tz="UTC")


def test_seed_metrics_by_hand(crafted):
    m = crafted.metrics
    # Net PnL per closed trade: 20+1-4-1-6 = 10, -30+0.5-3-0.5 = -33, 50-2-5-0-4 = 39.
    assert m["cumulative_pnl"] == pytest.approx(16.0)
    assert m["final_equity"] == pytest.approx(10_016.0)
    assert (m["trades_opened"], m["trades_closed"], m["trades_rejected"]) == (4, 3, 1)
    assert (m["win_count"], m["loss_count"]) == (2, 1)
    assert m["win_rate"] == pytest.approx(2 / 3)
    assert m["average_profit"] == pytest.approx(16 / 3)
    # Mean allocated over the grid: (0 + 1000 + 1000 + 2000 + 0 + 0) / 6 of 10,000.
    assert m["capital_utilisation"] == pytest.approx(4000 / 6 / CAPITAL)
    assert m["leg_out_count"] == 2
    assert m["leg_out_total_loss"] == pytest.approx(10.0)
    assert m["leg_out_loss_rate"] == pytest.approx(10 / 16)
    assert m["days_elapsed"] == pytest.approx(DAYS)
    assert m["realistic_apr"] == pytest.approx((16 / CAPITAL) / (DAYS / 365))
    assert m["trades_per_day"] == pytest.approx(3 / DAYS)


def test_attribution_adds_up_by_hand(crafted):
    m = crafted.metrics
    assert m["price_pnl"] == pytest.approx(40.0)
    assert m["funding_pnl"] == pytest.approx(-0.5)
    assert m["fees"] == pytest.approx(12.0)
    assert m["slippage_cost"] == pytest.approx(1.5)
    total = (
        m["price_pnl"] + m["funding_pnl"] - m["fees"] - m["slippage_cost"] - m["leg_out_total_loss"]
    )
    assert total == pytest.approx(m["cumulative_pnl"])


def test_risk_metrics_by_hand(crafted):
    m = crafted.metrics
    # Peak 10,010 at 23:58, trough 9,990 at 23:59: 20 USD; regained at 00:01 (180 s).
    assert m["max_drawdown_usd"] == pytest.approx(20.0)
    assert m["max_drawdown_pct"] == pytest.approx(20 / 10_010)
    assert m["max_drawdown_duration_s"] == pytest.approx(180.0)
    equity = pd.Series([10_000, 10_010, 9_990, 10_005, 10_030, 10_016], dtype=float)
    r = equity.pct_change().dropna()
    per_year = 365 * 24 * 60
    assert m["sharpe"] == pytest.approx(r.mean() / r.std(ddof=1) * math.sqrt(per_year))
    downside = math.sqrt((r.clip(upper=0) ** 2).mean())
    assert m["sortino"] == pytest.approx(r.mean() / downside * math.sqrt(per_year))


def test_fill_rates_and_holding_times_by_hand(crafted):
    m = crafted.metrics
    assert m["harder_leg_fill_rate"] == pytest.approx(3 / 4)
    assert m["easier_leg_fill_rate"] == pytest.approx(2 / 3)
    assert m["exit_limit_fill_rate"] == pytest.approx(3 / 6)
    assert m["leg_out_rate"] == pytest.approx(1 / 3)  # one entry leg-out, three harder fills
    assert m["exit_leg_outs"] == 1
    # Held 120 s, 90 s and 60 s.
    h = m["holding_time_s"]
    assert h["count"] == 3
    assert (h["min"], h["p50"], h["max"], h["mean"]) == pytest.approx((60, 90, 120, 90))
    assert h["p25"] == pytest.approx(75.0)
    assert h["p90"] == pytest.approx(114.0)
    assert m["holding_time_median_s"] == pytest.approx(90.0)


def test_rejection_counts_by_hand(crafted):
    m = crafted.metrics
    scan = m["scan_rejections"]
    assert (scan["no_pair"], scan["funding_delta"], scan["latency"], scan["confidence"]) == (
        2,
        1,
        1,
        1,
    )
    assert sum(scan.values()) == 5
    assert m["backtest_rejections"]["harder_leg_unfilled"] == 1
    assert m["backtest_rejections"]["symbol_busy"] == 1
    assert sum(m["backtest_rejections"].values()) == 2


def test_latency_statistics_by_hand(crafted):
    aa, bb = (crafted.metrics["latency_by_exchange"][e] for e in ("aa", "bb"))
    assert aa["mean_ms"] == pytest.approx((10 + 20 + 300 + 250 + 30) / 5)
    assert aa["p50_ms"] == pytest.approx(30.0)
    assert aa["max_ms"] == pytest.approx(300.0)
    assert aa["p99_ms"] == pytest.approx(np.percentile([10, 20, 300, 250, 30], 99))
    # Stale at 23:59, 00:00 (above 200 ms) and 00:01 (unknown): three 60 s intervals.
    assert aa["stale_fraction"] == pytest.approx(3 / 6)
    assert aa["stale_time_s"] == pytest.approx(180.0)
    assert aa["unknown_fraction"] == pytest.approx(1 / 6)
    assert bb["stale_fraction"] == 0.0
    assert bb["stale_time_s"] == 0.0
    assert bb["mean_ms"] == pytest.approx((-10 + 160) / 6)


def test_events_by_hand(crafted):
    ev = crafted.events
    counts = ev["event"].value_counts().to_dict()
    assert counts == {
        "entry": 3,
        "exit": 3,
        "leg_out": 2,
        "rejected_opportunity": 2,
        "rejected_entry": 2,
        "risk_violation": 1,
        "latency_violation": 1,
        "data_problem": 3,
    }
    assert ev["ts"].is_monotonic_increasing
    assert str(ev["ts"].dtype) == "datetime64[ns, UTC]"
    # At 23:57:00 the scan's rejection comes before the data problems (tie-break order).
    first = ev[ev["ts"] == ts(0)]
    assert first["event"].tolist() == ["rejected_opportunity", "data_problem", "data_problem"]
    assert set(first["reason"]) == {"funding_delta", "clock_offset", "no_pair"}

    exits = ev[ev["event"] == "exit"].set_index("trade_id")
    assert exits["pnl_usd"].to_dict() == pytest.approx({0: 10.0, 1: -33.0, 2: 39.0})
    assert exits["value"].to_dict() == pytest.approx({0: 16.0, 1: -33.0, 2: 43.0})
    assert exits.loc[1, "reason"] == "stop_loss"
    assert exits.loc[0, "long_price"] == 100.4 and exits.loc[0, "short_price"] == 100.1
    assert "profit $16.00 before leg-outs, $10.00 net" in exits.loc[0, "message"]

    entries = ev[ev["event"] == "entry"].set_index("trade_id")
    assert entries.loc[2, "ts"] == ts(190)
    assert entries.loc[2, "long_exchange"] == "aa" and entries.loc[2, "short_exchange"] == "bb"
    assert entries.loc[2, "size_usd"] == 2_000.0

    legs = ev[ev["event"] == "leg_out"].set_index("trade_id")
    # Trade 0: short leg (bb) filled; long leg hedged on aa at 100.5 instead of 100.
    assert legs.loc[0, "leg"] == "short" and legs.loc[0, "exchange"] == "aa"
    assert legs.loc[0, "long_price"] == 100.5 and math.isnan(legs.loc[0, "short_price"])
    assert legs.loc[0, "pnl_usd"] == -6.0
    assert legs.loc[0, "duration_s"] == pytest.approx(0.5)
    assert legs.loc[0, "reason"] == "entry"
    # Trade 2 (exit leg-out): the long (aa) exit filled; the short (bb) was hedged.
    assert legs.loc[2, "leg"] == "long" and legs.loc[2, "exchange"] == "bb"
    assert legs.loc[2, "reason"] == "exit"

    risk = ev[ev["event"] == "risk_violation"].iloc[0]
    assert (risk["trade_id"], risk["reason"], risk["limit"]) == (1, "stop_loss_bps", 100.0)
    assert risk["ts"] == ts(209)

    lat = ev[ev["event"] == "latency_violation"].iloc[0]
    assert (lat["exchange"], lat["value"], lat["limit"]) == ("aa", 300.0, 200.0)
    assert lat["ts"] == ts(120) and lat["duration_s"] == 120.0

    data = ev[ev["event"] == "data_problem"].set_index("reason")
    assert data.loc["feed_gap", "exchange"] == "aa"
    assert data.loc["feed_gap", "ts"] == ts(240) and data.loc["feed_gap", "duration_s"] == 60.0
    assert data.loc["clock_offset", "exchange"] == "bb"
    assert data.loc["clock_offset", "value"] == -5.0
    assert data.loc["clock_offset", "duration_s"] == 120.0
    assert data.loc["no_pair", "symbol"] == "BTC" and data.loc["no_pair", "duration_s"] == 120.0

    rejected = ev[ev["event"] == "rejected_opportunity"].set_index("reason")
    assert rejected.loc["funding_delta", "value"] == 0.00005
    assert rejected.loc["funding_delta", "limit"] == 0.0001
    assert rejected.loc["latency", "value"] == 250.0
    assert rejected.loc["latency", "limit"] == 200.0
    entries_rejected = ev[ev["event"] == "rejected_entry"]
    assert entries_rejected["reason"].tolist() == ["harder_leg_unfilled", "symbol_busy"]
    assert entries_rejected["trade_id"].tolist() == [3, -1]


def test_daily_by_hand(crafted):
    d = crafted.daily
    assert d.index.tolist() == [
        pd.Timestamp("2024-01-01", tz="UTC"),
        pd.Timestamp("2024-01-02", tz="UTC"),
    ]
    day1, day2 = d.iloc[0], d.iloc[1]
    # Day 1: trades 0 and 1 entered, trade 0 closed (+10 net, one leg-out costing 6).
    assert (day1["trades_opened"], day1["trades_closed"], day1["wins"], day1["losses"]) == (
        2,
        1,
        1,
        0,
    )
    assert day1["pnl"] == pytest.approx(10.0)
    assert (day1["leg_outs"], day1["leg_out_cost"]) == (1, 6.0)
    assert (day1["fees"], day1["funding_pnl"], day1["rejected_entries"]) == (4.0, 1.0, 1)
    assert day1["equity_end"] == 9_990.0
    # Day 2: trade 2 entered; trades 1 (-33) and 2 (+39) closed.
    assert (day2["trades_opened"], day2["trades_closed"], day2["wins"], day2["losses"]) == (
        1,
        2,
        1,
        1,
    )
    assert day2["win_rate"] == 0.5
    assert day2["pnl"] == pytest.approx(6.0)
    assert day2["price_pnl"] == pytest.approx(20.0)
    assert day2["funding_pnl"] == pytest.approx(-1.5)
    assert (day2["fees"], day2["slippage_cost"]) == pytest.approx((8.0, 0.5))
    assert (day2["leg_outs"], day2["leg_out_cost"]) == (1, 4.0)
    assert day2["equity_end"] == 10_016.0
    assert d["pnl"].sum() == pytest.approx(crafted.metrics["cumulative_pnl"])


def test_empty_result_tables(crafted_no_trades):
    r = crafted_no_trades
    m = r.metrics
    assert m["cumulative_pnl"] == 0.0 and m["trades_closed"] == 0
    assert math.isnan(m["win_rate"]) and math.isnan(m["harder_leg_fill_rate"])
    assert m["holding_time_s"]["count"] == 0 and math.isnan(m["holding_time_s"]["p50"])
    assert set(r.events["event"].unique()) == {
        "rejected_opportunity",
        "latency_violation",
        "data_problem",
    }
    d = r.daily
    assert d["trades_closed"].tolist() == [0, 0] and d["pnl"].tolist() == [0.0, 0.0]
    assert d["win_rate"].isna().all()
    # Nothing at all (no grid, no trade): empty tables with the usual columns and dtypes.
    empty = replace(
        r,
        equity_records=r.equity_records[:0],
        opportunity_records=r.opportunity_records[:0],
        grid=r.grid[:0],
        latency_ms=np.empty((2, 0)),
    )
    assert empty.events.empty and list(empty.events.columns) == list(r.events.columns)
    assert empty.daily.empty and (empty.daily.dtypes == r.daily.dtypes).all()
    assert str(empty.daily.index.dtype) == "datetime64[ns, UTC]"


def test_to_polars_matches_pandas(crafted):
    tables = crafted.to_polars()
    assert list(tables) == list(BacktestResult.TABLES)
    for name in BacktestResult.TABLES:
        frame = tables[name]
        assert isinstance(frame, pl.DataFrame)
        expected = getattr(crafted, name)
        if name == "daily":
            expected = expected.reset_index()
        assert frame.columns == list(expected.columns)
        assert frame.height == len(expected)
    assert tables["trades"]["status"].dtype == pl.Categorical
    assert tables["events"]["ts"].dtype == pl.Datetime("ns", "UTC")
    assert tables["daily"]["pnl"].to_list() == pytest.approx([10.0, 6.0])
    assert tables["trades"] is tables["trades"]  # converted once
    with pytest.raises(KeyError, match="not a table"):
        tables["nope"]


def test_save_load_round_trip_with_plots(crafted, tmp_path):
    out = crafted.save(tmp_path / "run", plots=True)
    pngs = sorted(p.name for p in out.glob("*.png"))
    assert pngs == sorted(
        [
            "tearsheet.png",
            "equity.png",
            "pnl_attribution.png",
            "spreads.png",
            "leg_outs.png",
            "latency.png",
            "scores.png",
        ]
    )
    for png in out.glob("*.png"):
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not list(out.glob(".*.tmp"))
    back = BacktestResult.load(out)
    for name in ("trade", "order", "leg_out", "rejection", "equity", "opportunity"):
        a, b = getattr(crafted, f"{name}_records"), getattr(back, f"{name}_records")
        assert a.tobytes() == b.tobytes()
    np.testing.assert_array_equal(back.latency_ms, crafted.latency_ms)
    pd.testing.assert_frame_equal(back.events, crafted.events)
    pd.testing.assert_frame_equal(back.daily, crafted.daily)
    pd.testing.assert_frame_equal(pd.read_parquet(out / "events.parquet"), crafted.events)
    daily = pd.read_parquet(out / "daily.parquet").set_index("date")
    pd.testing.assert_frame_equal(daily, crafted.daily, check_freq=False)
    saved = json.loads((out / "metrics.json").read_text())
    assert saved["cumulative_pnl"] == pytest.approx(16.0)
    assert saved["holding_time_s"]["p50"] == pytest.approx(90.0)


@given(st.lists(st.booleans(), max_size=40))
def test_runs_match_a_pandas_groupby(flags):
    from spreadarb.events import runs

    s = pd.Series(flags, dtype=bool)
    group = s.ne(s.shift()).cumsum()
    expected = [
        (int(idx.min()), int(idx.max()) + 1)
        for _, idx in s.index.to_series().groupby(group)
        if len(idx) and s[idx.min()]
    ]
    start, end = runs(np.array(flags, dtype=bool))
    assert list(zip(start.tolist(), end.tolist(), strict=True)) == expected
