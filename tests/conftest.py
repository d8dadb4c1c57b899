"""Shared fixtures: hypothesis profiles and builders of small valid frames."""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, settings

settings.register_profile("fast", max_examples=15, deadline=None)
settings.register_profile(
    "default", max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
# CI: the same examples every run, so a landing is never decided by a lucky draw; local
# runs keep exploring new examples.
settings.register_profile(
    "ci",
    max_examples=50,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile(
    "expensive", max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))

T0 = int(pd.Timestamp("2024-08-08T22:00:00", tz="UTC").value)
SECOND = 10**9


def ticker_frame(
    ts_local: np.ndarray,
    exchange: object,
    symbol: object,
    *,
    seed: int = 0,
) -> pd.DataFrame:
    """A valid tickers frame with the given timestamps and names (scalars or arrays)."""
    rng = np.random.default_rng(seed)
    n = len(ts_local)
    mid = 100.0 + rng.normal(0, 1, n).cumsum() * 0.01
    return pd.DataFrame(
        {
            "ts_local": np.asarray(ts_local, dtype=np.int64),
            "ts_exchange": np.asarray(ts_local, dtype=np.int64) - 20_000_000,
            "exchange": exchange,
            "symbol": symbol,
            "bid_px": mid - 0.05,
            "bid_sz": rng.uniform(0.1, 5, n),
            "ask_px": mid + 0.05,
            "ask_sz": rng.uniform(0.1, 5, n),
            "bid_depth_usd": rng.uniform(5e4, 5e5, n),
            "ask_depth_usd": rng.uniform(5e4, 5e5, n),
            "mark_px": mid,
            "funding_rate": rng.normal(1e-4, 5e-5, n),
            "funding_interval_s": np.int64(28_800),
            "next_funding_ts": np.int64(T0 + 2 * 3600 * SECOND),
            "predicted_funding_rate": rng.normal(1e-4, 5e-5, n),
            "open_interest_usd": rng.uniform(1e6, 1e7, n),
        }
    )


def trade_frame(
    ts_local: np.ndarray,
    exchange: object,
    symbol: object,
    *,
    seed: int = 0,
) -> pd.DataFrame:
    """A valid trades frame with the given timestamps and names."""
    rng = np.random.default_rng(seed)
    n = len(ts_local)
    return pd.DataFrame(
        {
            "ts_local": np.asarray(ts_local, dtype=np.int64),
            "ts_exchange": np.asarray(ts_local, dtype=np.int64) - 15_000_000,
            "exchange": exchange,
            "symbol": symbol,
            "px": 100.0 + rng.normal(0, 0.1, n),
            "sz": rng.uniform(0.01, 2, n),
            "side": rng.choice(np.array([-1, 1], dtype=np.int8), n),
        }
    )


@pytest.fixture
def small_dataset(tmp_path):
    """Two exchanges x two symbols over 2 h across midnight UTC; returns (root, frames)."""
    from spreadarb import write_table

    rng = np.random.default_rng(7)
    n = 4000
    ts = T0 + np.sort(rng.integers(0, 4 * 3600 * SECOND, n))
    ex = rng.choice(["binance", "okx"], n)
    sym = rng.choice(["BTC", "ETH"], n)
    tickers = ticker_frame(ts, ex, sym, seed=1)
    trades = trade_frame(ts + 1, ex, sym, seed=2)
    write_table(tmp_path, "tickers", tickers)
    write_table(tmp_path, "trades", trades)
    return tmp_path, {"tickers": tickers, "trades": trades}


# --- a crafted backtest result (hand-computed metrics, events, daily table, plots) --------

CRAFTED_T0 = int(pd.Timestamp("2024-01-01T23:57:00", tz="UTC").value)


def crafted_result(*, trades: bool = True):
    """A small hand-made :class:`BacktestResult` whose numbers are worked out in
    ``tests/test_results_crafted.py``. Two venues (aa, bb), two symbols (BTC, ETH), a
    1-minute grid of six points across midnight UTC. ``trades=False`` gives the same
    market with no trade, order, leg-out or rejection at all."""
    from spreadarb.config import StrategyConfig
    from spreadarb.enums import (
        ExitReason,
        OrderPurpose,
        OrderStatus,
        Reason,
        RejectReason,
        TradeStatus,
        equity_dt,
        leg_out_dt,
        opportunity_dt,
        order_dt,
        rejection_dt,
        trade_dt,
    )
    from spreadarb.results import BacktestResult

    def at(seconds):
        return CRAFTED_T0 + int(seconds * SECOND)

    grid = np.array([at(60 * i) for i in range(6)], dtype=np.int64)
    eq = np.zeros(6, dtype=equity_dt)
    eq["ts"] = grid
    eq["equity"] = [10_000, 10_010, 9_990, 10_005, 10_030, 10_016]
    eq["allocated"] = [0, 1_000, 1_000, 2_000, 0, 0]
    eq["available_capital"] = 10_000 - eq["allocated"]

    t = np.zeros(4, dtype=trade_dt)
    t["id"] = np.arange(4)
    t["symbol"] = [0, 1, 0, 1]
    t["long_exchange"] = [0, 1, 0, 1]
    t["short_exchange"] = [1, 0, 1, 0]
    t["status"] = [TradeStatus.CLOSED] * 3 + [TradeStatus.REJECTED]
    for col in ("entry_time", "exit_time", "exit_signal_time", "entry_long_time"):
        t[col] = -1
    t["entry_short_time"] = -1
    t["entry_time"][:3] = [at(30), at(120), at(190)]
    t["exit_time"][:3] = [at(150), at(210), at(250)]
    t["exit_signal_time"][:3] = [at(149), at(209), at(249)]
    t["opportunity_ts"] = [at(29), at(119), at(189), at(100)]
    t["entry_long_price"][:3] = [100.0, 2000.0, 101.0]
    t["entry_short_price"][:3] = [100.2, 2001.0, 101.3]
    t["exit_long_price"][:3] = [100.4, 1990.0, 101.5]
    t["exit_short_price"][:3] = [100.1, 2005.0, 101.4]
    t["entry_spread_bps"][:3] = [20.0, 5.0, 29.7]
    t["exit_spread_bps"][:3] = [-30.0, 75.0, -9.9]
    t["position_size_usd"] = [1_000.0, 1_000.0, 2_000.0, 500.0]
    t["confidence_score"] = [75, 80, 71, 72]
    t["exit_reason"][:3] = [
        ExitReason.PROFIT_TARGET,
        ExitReason.STOP_LOSS,
        ExitReason.FUNDING_CONVERGENCE,
    ]
    t["price_pnl"][:3] = [20.0, -30.0, 50.0]
    t["funding_pnl"][:3] = [1.0, 0.5, -2.0]
    t["fees"][:3] = [4.0, 3.0, 5.0]
    t["slippage_cost"][:3] = [1.0, 0.5, 0.0]
    t["actual_profit_usd"] = t["price_pnl"] + t["funding_pnl"] - t["fees"] - t["slippage_cost"]
    t["leg_out_cost"][:3] = [6.0, 0.0, 4.0]
    t["pnl_net"] = t["actual_profit_usd"] - t["leg_out_cost"]
    t["leg_out_count"][:3] = [1, 0, 1]
    for col in ("exit_long_price", "exit_short_price", "entry_long_price", "entry_short_price"):
        t[col][3] = np.nan

    P, S = OrderPurpose, OrderStatus
    orders_spec = [  # (trade, purpose, status)
        (0, P.ENTRY_HARDER, S.FILLED),
        (0, P.ENTRY_EASIER, S.CANCELLED),
        (0, P.ENTRY_HEDGE, S.FILLED),
        (0, P.EXIT_LIMIT, S.FILLED),
        (0, P.EXIT_LIMIT, S.FILLED),
        (1, P.ENTRY_HARDER, S.FILLED),
        (1, P.ENTRY_EASIER, S.FILLED),
        (1, P.EXIT_LIMIT, S.CANCELLED),
        (1, P.EXIT_LIMIT, S.CANCELLED),
        (1, P.EXIT_MARKET, S.FILLED),
        (1, P.EXIT_MARKET, S.FILLED),
        (2, P.ENTRY_HARDER, S.FILLED),
        (2, P.ENTRY_EASIER, S.FILLED),
        (2, P.EXIT_LIMIT, S.FILLED),
        (2, P.EXIT_LIMIT, S.CANCELLED),
        (2, P.EXIT_MARKET, S.FILLED),
        (3, P.ENTRY_HARDER, S.CANCELLED),
    ]
    o = np.zeros(len(orders_spec), dtype=order_dt)
    o["id"] = np.arange(o.size)
    o["trade_id"] = [s[0] for s in orders_spec]
    o["purpose"] = [s[1] for s in orders_spec]
    o["status"] = [s[2] for s in orders_spec]
    o["send_time"] = at(30)
    o["fill_time"] = at(30)

    lo = np.zeros(2, dtype=leg_out_dt)
    lo["trade_id"] = [0, 2]
    lo["on_exit"] = [False, True]
    lo["filled_leg_is_long"] = [False, True]
    lo["filled_at"] = [at(29.5), at(249.5)]
    lo["hedge_time"] = [at(30), at(250)]
    lo["intended_price"] = [100.0, 101.4]
    lo["hedge_price"] = [100.5, 101.9]
    lo["qty"] = [10.0, 3.0]
    lo["cost"] = [6.0, 4.0]

    rej = np.zeros(2, dtype=rejection_dt)
    rej["ts"] = [at(100), at(200)]
    rej["symbol"] = [1, 0]
    rej["long_exchange"] = [1, 0]
    rej["short_exchange"] = [0, 1]
    rej["reason"] = [RejectReason.HARDER_LEG_UNFILLED, RejectReason.SYMBOL_BUSY]
    rej["trade_id"] = [3, -1]

    opp = np.zeros(6, dtype=opportunity_dt)
    opp["ts"] = [at(0), at(0), at(60), at(60), at(120), at(120)]
    opp["symbol"] = [0, 1, 0, 1, 0, 1]
    opp["long_exchange"] = [-1, 0, -1, 0, 0, 1]
    opp["short_exchange"] = [-1, 1, -1, 1, 1, 0]
    opp["reason"] = [
        Reason.NO_PAIR,
        Reason.FUNDING_DELTA,
        Reason.NO_PAIR,
        Reason.LATENCY,
        Reason.PASSED,
        Reason.CONFIDENCE,
    ]
    opp["confidence_score"] = [0, 0, 0, 0, 75, 60]
    opp["funding_delta_8h"] = [np.nan, 0.00005, np.nan, 0.0003, 0.0003, 0.0002]
    opp["latency_long_ms"] = [np.nan, 20.0, np.nan, 250.0, 20.0, 20.0]
    opp["latency_short_ms"] = [np.nan, 30.0, np.nan, 50.0, 30.0, 30.0]
    opp["quote_age_long_ms"] = 100.0
    opp["quote_age_short_ms"] = 100.0
    opp["position_size_usd"] = [0.0, 0.0, 0.0, 0.0, 1_000.0, 0.0]

    latency = np.array(
        [[10.0, 20.0, 300.0, 250.0, np.nan, 30.0], [-5.0, -5.0, 40.0, 40.0, 40.0, 40.0]]
    )
    if not trades:
        t, o, lo, rej = t[:0], o[:0], lo[:0], rej[:0]
        eq["equity"] = 10_000.0
        eq["allocated"] = 0.0
    return BacktestResult(
        dataset_exchanges=("aa", "bb"),
        dataset_symbols=("BTC", "ETH"),
        market_exchange=np.array([0, 0, 1, 1], dtype=np.int32),
        config=StrategyConfig(starting_capital=10_000.0),
        trade_records=t,
        order_records=o,
        leg_out_records=lo,
        rejection_records=rej,
        equity_records=eq,
        opportunity_records=opp,
        grid=grid,
        latency_ms=latency,
    )


@pytest.fixture
def crafted():
    return crafted_result()


@pytest.fixture
def crafted_no_trades():
    return crafted_result(trades=False)
