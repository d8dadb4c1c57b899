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
