"""The scanner: hand-computed scenarios, the seed's Properties 2, 5 and 8, no lookahead,
ranking, determinism, and the compiled kernels against their Python bodies."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from conftest import SECOND, T0
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import spreadarb
from spreadarb import StrategyConfig
from spreadarb.enums import REASON_LABELS, Reason, opportunity_dt
from spreadarb.kernels import scan as scan_kernels
from spreadarb.kernels.scan import scan_symbol_nb
from spreadarb.kernels.scoring import confidence_nb, slippage_nb, weighted_score_nb
from spreadarb.kernels.state import choose_pair_nb
from spreadarb.scanner import rank_passing, scan_params, scan_records

MS = 1_000_000


def venue_tickers(
    exchange: str,
    symbol: str,
    *,
    bid: float,
    ask: float,
    minutes: float = 5,
    step_ms: int = 200,
    latency_ms: float = 20,
    funding_rate: float = 1e-4,
    interval_s: int = 28_800,
    depth: float = 1e6,
    oi: float = 1e8,
    start: int = T0,
) -> pd.DataFrame:
    """Constant quotes for one market every ``step_ms``."""
    ts = start + np.arange(0, int(minutes * 60_000), step_ms, dtype=np.int64) * MS
    n = ts.size
    return pd.DataFrame(
        {
            "ts_local": ts,
            "ts_exchange": ts - int(latency_ms * MS),
            "exchange": exchange,
            "symbol": symbol,
            "bid_px": bid,
            "bid_sz": 1.0,
            "ask_px": ask,
            "ask_sz": 1.0,
            "bid_depth_usd": depth,
            "ask_depth_usd": depth,
            "mark_px": 0.5 * (bid + ask),
            "funding_rate": funding_rate,
            "funding_interval_s": np.int64(interval_s),
            "next_funding_ts": np.int64(T0 + 3600 * SECOND),
            "predicted_funding_rate": funding_rate,
            "open_interest_usd": np.full(n, oi),
        }
    )


def build(root, frames: list[pd.DataFrame]) -> spreadarb.Dataset:
    tickers = pd.concat(frames, ignore_index=True)
    spreadarb.write_table(root, "tickers", tickers)
    first = tickers.groupby(["exchange", "symbol"], as_index=False).first()
    trades = pd.DataFrame(
        {
            "ts_local": first["ts_local"],
            "ts_exchange": first["ts_exchange"],
            "exchange": first["exchange"],
            "symbol": first["symbol"],
            "px": first["bid_px"],
            "sz": 1.0,
            "side": np.int8(-1),
        }
    )
    spreadarb.write_table(root, "trades", trades)
    return spreadarb.load(root)


def test_hand_computed_opportunity_with_1h_and_8h_funding(tmp_path):
    # hyperliquid pays funding hourly: 0.00005 per hour is 0.0004 per 8 h.
    ds = build(
        tmp_path,
        [
            venue_tickers("binance", "BTC", bid=100.00, ask=100.01, funding_rate=1e-4),
            venue_tickers(
                "hyperliquid", "BTC", bid=100.30, ask=100.31, funding_rate=5e-5, interval_s=3600
            ),
        ],
    )
    config = StrategyConfig(min_confidence=50)
    frame = spreadarb.scan(ds, config)
    # At 150 s two one-minute bars are complete, so the ATR is known (and 0: flat mids).
    row = frame.iloc[150]
    assert row["ts"] == pd.Timestamp(T0 + 150 * SECOND, unit="ns", tz="UTC")
    assert np.isnan(frame.iloc[10]["atr_bps"]) and frame.iloc[10]["score_volatility"] == 0.25
    assert (row["long_exchange"], row["short_exchange"]) == ("binance", "hyperliquid")
    mid = (100.30 + 100.01) / 2
    spread = (100.30 - 100.01) / mid * 1e4
    assert row["spread_bps"] == pytest.approx(spread, rel=1e-12)
    assert row["long_funding_8h"] == pytest.approx(1e-4)
    assert row["short_funding_8h"] == pytest.approx(4e-4)
    assert row["funding_delta_8h"] == pytest.approx(3e-4)
    fees = (0.0002 + 0.00015 + 0.0005 + 0.00045) * 1e4
    assert row["fees_bps"] == pytest.approx(fees)
    assert row["funding_cost_bps"] == 0
    assert row["position_size_usd"] == pytest.approx(10_000.0)  # capped at 50 % of $20k
    projected = 10_000 * (spread - fees) / 1e4 + 10_000 * 3e-4
    assert row["projected_profit_usd"] == pytest.approx(projected, abs=0.005)
    slip = 0.0002 + 0.0003 * 10_000 / 1e6
    assert row["slippage_long"] == pytest.approx(slip)
    after = projected - 10_000 * 2 * 2 * slip
    assert row["projected_profit_after_slippage"] == pytest.approx(after, abs=0.005)
    assert row["latency_long_ms"] == pytest.approx(20.0)
    # Sub-scores: funding 0.0003 / 0.0005; balanced books, flat OI, one trade (no VWAP
    # spread), flat mid (ATR 0, not falling), no liquidation data: all neutral or known.
    assert row["score_funding"] == pytest.approx(0.6)
    assert row["score_obi"] == row["score_oi"] == row["score_vwap"] == 0.5
    assert row["score_volatility"] == pytest.approx(0.5)
    assert row["score_liquidation"] == 0.5
    assert row["confidence_score"] == round(
        (9 * 0.6 + 8 * 0.5 + 7 * 0.5 + 6 * 0.5 + 10 * 0.5) / 40 * 100
    )
    assert row["reason"] == "passed" and row["passed"] and row["rank"] == 1
    # Same data, same funding on both venues per 8 h: the delta vanishes.
    ds2 = build(
        tmp_path / "same",
        [
            venue_tickers("binance", "BTC", bid=100.00, ask=100.01, funding_rate=8e-5),
            venue_tickers(
                "hyperliquid", "BTC", bid=100.30, ask=100.31, funding_rate=1e-5, interval_s=3600
            ),
        ],
    )
    row2 = spreadarb.scan(ds2, config).iloc[150]
    assert row2["funding_delta_8h"] == pytest.approx(0.0, abs=1e-15)
    assert row2["reason"] == "funding_delta" and row2["confidence_score"] == 0


def test_rejection_reasons_in_order(tmp_path):
    base = dict(minutes=1)
    cases = {
        "no_pair": [venue_tickers("okx", "ETH", bid=10, ask=10.01, **base)],
        "latency": [
            venue_tickers("okx", "ETH", bid=10, ask=10.01, latency_ms=300, **base),
            venue_tickers("gate", "ETH", bid=10.05, ask=10.06, funding_rate=5e-4, **base),
        ],
        "funding_delta": [
            venue_tickers("okx", "ETH", bid=10, ask=10.01, **base),
            venue_tickers("gate", "ETH", bid=10.05, ask=10.06, **base),
        ],
        "spread_below_costs": [
            venue_tickers("okx", "ETH", bid=10, ask=10.01, **base),
            venue_tickers("gate", "ETH", bid=10.015, ask=10.02, funding_rate=5e-4, **base),
        ],
        "thin_book": [
            venue_tickers("okx", "ETH", bid=10, ask=10.01, depth=40_000, **base),
            venue_tickers("gate", "ETH", bid=10.05, ask=10.06, funding_rate=6e-4, **base),
        ],
    }
    config = StrategyConfig(min_confidence=0)
    for i, (reason, frames) in enumerate(cases.items()):
        frame = spreadarb.scan(build(tmp_path / str(i), frames), config)
        assert set(frame["reason"]) == {reason}, reason
        assert not frame["passed"].any()
        assert frame["rank"].isna().all()


@st.composite
def symbol_states(draw):
    j = draw(st.integers(1, 4))
    m = draw(st.integers(1, 6))
    px = hnp.arrays(np.float64, (j, m), elements=st.floats(90, 110))
    bid = draw(px)
    ask = bid + draw(hnp.arrays(np.float64, (j, m), elements=st.floats(0.001, 1)))
    missing = draw(hnp.arrays(np.bool_, (j, m)))
    bid[missing] = np.nan
    ask[missing] = np.nan
    n_ex = draw(st.integers(j, j + 3))
    arrays = {
        "bid": bid,
        "ask": ask,
        "bid_depth": draw(hnp.arrays(np.float64, (j, m), elements=st.floats(0, 1e7))),
        "ask_depth": draw(hnp.arrays(np.float64, (j, m), elements=st.floats(0, 1e7))),
        "funding_8h": draw(hnp.arrays(np.float64, (j, m), elements=st.floats(-1e-3, 1e-3))),
        "predicted_8h": draw(hnp.arrays(np.float64, (j, m), elements=st.floats(-1e-3, 1e-3))),
        "oi": draw(hnp.arrays(np.float64, (j, m), elements=st.floats(0, 1e9))),
        "oi_avg": draw(hnp.arrays(np.float64, (j, m), elements=st.floats(0, 1e9))),
        "vwap": draw(px),
        "vwap_sd": draw(hnp.arrays(np.float64, (j, m), elements=st.floats(0, 5))),
        "atr": draw(hnp.arrays(np.float64, (j, m + 1), elements=st.floats(0, 1))),
        "atr_falling": draw(hnp.arrays(np.bool_, (j, m + 1))),
        "has_bars": draw(hnp.arrays(np.bool_, (j,))),
        "quote_age_ns": draw(hnp.arrays(np.int64, (j, m), elements=st.integers(0, 5 * SECOND))),
        "latency_ms": draw(hnp.arrays(np.float64, (n_ex, m), elements=st.floats(0, 400))),
    }
    venue_exchange = np.arange(j, dtype=np.int32)
    stale = draw(hnp.arrays(np.bool_, (n_ex, m)))
    liq = draw(hnp.arrays(np.float64, (m,), elements=st.floats(0, 500) | st.just(np.nan)))
    return arrays, venue_exchange, stale, liq, draw(hnp.arrays(np.bool_, (m,)))


def run_kernel(arrays, venue_exchange, stale, liq, has_liq, config, kernel=scan_symbol_nb):
    """The scan kernel on venue states given per grid time: venue ``j``'s quote at grid
    time ``k`` is its own ticker row ``j * m + k`` (8 h funding, so rates pass through)."""
    j, m = arrays["bid"].shape
    grid = T0 + np.arange(m, dtype=np.int64) * SECOND
    out = np.zeros(m, dtype=opportunity_dt)
    rows = np.arange(j * m, dtype=np.int64).reshape(j, m)
    legs = np.array(
        [choose_pair_nb.py_func(arrays["bid"][:, k], arrays["ask"][:, k]) for k in range(m)],
        dtype=np.int64,
    ).T.reshape(2, m)
    flat = {name: arrays[name].reshape(-1) for name in arrays if arrays[name].shape == (j, m)}
    # Bar b of every venue ends at grid time b - 1: the last complete bar at k is k + 1.
    first_bar = np.full(j, T0 // SECOND - 2, dtype=np.int64)
    n_bars = np.where(arrays["has_bars"], m + 1, 0).astype(np.int64)
    kernel(
        grid,
        0,
        venue_exchange,
        rows,
        legs,
        np.repeat(grid[None, :], j, axis=0).reshape(-1) - flat["quote_age_ns"],
        flat["bid"],
        flat["ask"],
        flat["bid_depth"],
        flat["ask_depth"],
        flat["funding_8h"],
        flat["predicted_8h"],
        np.full(j * m, 8 * 3600, dtype=np.int64),
        flat["oi"],
        arrays["oi_avg"],
        arrays["vwap"],
        arrays["vwap_sd"],
        arrays["atr"],
        arrays["atr_falling"],
        first_bar,
        n_bars,
        SECOND,
        arrays["latency_ms"],
        stale,
        stale.sum(axis=0),
        stale.shape[0],
        liq,
        has_liq,
        np.full(j, 2e-4),
        np.full(j, 5e-4),
        scan_params(config),
        out,
    )
    return out


@given(symbol_states(), st.integers(0, 100), st.integers(0, 60))
def test_properties_2_and_8_and_score_range_on_random_states(state, min_conf, penalty):
    config = StrategyConfig(min_confidence=min_conf, latency_penalty=penalty)
    out = run_kernel(*state, config)
    score = out["confidence_score"]
    assert ((score >= 0) & (score <= 100)).all()
    assert ((out["raw_score"] >= 0) & (out["raw_score"] <= 100)).all()
    hard_ok = (
        out["order_book_depth_sufficient"]
        & out["exchange_latency_ok"]
        & out["funding_delta_substantial"]
    )
    # Property 2: a failed hard constraint means score 0 and a hard rejection reason.
    assert (score[~hard_ok] == 0).all()
    assert np.isin(
        out["reason"][~hard_ok],
        [Reason.NO_PAIR, Reason.DEPTH, Reason.LATENCY, Reason.FUNDING_DELTA],
    ).all()
    # Property 8: another stale monitored exchange costs `penalty` points (or the score is 0).
    stale_other = out["stale_other_exchanges"] > 0
    expected = np.maximum(out["raw_score"] - penalty, 0)
    sel = hard_ok & stale_other
    assert ((score[sel] == expected[sel]) | (score[sel] == 0)).all()
    assert (score[hard_ok & ~stale_other] == out["raw_score"][hard_ok & ~stale_other]).all()
    # A stale leg is a hard failure.
    leg_stale = state[2][out["long_exchange"].clip(0), np.arange(out.size)]
    assert (~out["exchange_latency_ok"][leg_stale & (out["long_exchange"] >= 0)]).all()
    passed = out["reason"] == Reason.PASSED
    assert (score[passed] >= min_conf).all()
    assert (out["projected_profit_after_slippage"][passed] > 0).all()


@given(symbol_states())
def test_compiled_scan_kernel_equals_its_python_body(state):
    config = StrategyConfig()
    compiled = run_kernel(*state, config)
    # Compiled code raises no floating-point warnings (an overflow is just inf); the
    # Python body must be run under the same rule to compare like with like.
    with np.errstate(all="ignore"):
        python = run_kernel(*state, config, kernel=scan_symbol_nb.py_func)
    assert compiled.tobytes() == python.tobytes()


@given(
    hnp.arrays(np.float64, 6, elements=st.floats(0, 1)),
    hnp.arrays(np.float64, 6, elements=st.floats(0, 100)).filter(lambda w: w.sum() > 1e-3),
)
def test_weighted_score_is_normalised(subscores, weights):
    score = weighted_score_nb(*subscores, *weights)
    assert 0 <= score <= 100
    assert weighted_score_nb(*np.ones(6), *weights) == 100
    assert weighted_score_nb(*np.zeros(6), *weights) == 0
    assert abs(score - 100 * np.dot(subscores, weights) / weights.sum()) <= 0.5 + 1e-9


def test_seed_weights_perfect_setup_scores_100():
    w = StrategyConfig().weights
    assert weighted_score_nb(1, 1, 1, 1, 1, 1, *w.as_tuple()) == 100


@given(st.integers(0, 100), st.booleans(), st.integers(0, 7), st.booleans(), st.integers(0, 100))
def test_confidence_gatekeepers(raw, hard_ok, stale_others, all_stale, penalty):
    score = confidence_nb(raw, hard_ok, stale_others, all_stale, penalty)
    if not hard_ok or all_stale:
        assert score == 0
    elif stale_others:
        assert score == max(raw - penalty, 0)
    else:
        assert score == raw


@given(st.floats(0, 1e7), st.floats(1, 1e8))
def test_property_5_slippage_bounds(size, depth):
    s = slippage_nb(size, depth, 0.0002, 0.0003, 0.0005)
    assert 0.0002 <= s <= 0.0005
    assert s == min(0.0002 + 0.0003 * size / depth, 0.0005)
    if size <= depth / 2:  # the sizing rule never exceeds half the thinner book
        assert s >= size / depth * 0.0003
    assert spreadarb.slippage(size, depth) == s
    assert spreadarb.slippage(size, 0.0) == 0.0005


def test_vectorised_slippage_matches_the_kernel():
    size = np.array([0.0, 1e3, 5e4, 1e6])
    depth = np.array([1e5, 1e5, 1e5, 1e5])
    expected = [slippage_nb(s, d, 0.0002, 0.0003, 0.0005) for s, d in zip(size, depth, strict=True)]
    np.testing.assert_array_equal(spreadarb.slippage(size, depth), expected)


@given(
    st.lists(
        st.tuples(st.integers(0, 3), st.booleans(), st.integers(0, 100), st.integers(-5, 5)),
        min_size=0,
        max_size=40,
    ),
    st.integers(1, 5),
)
def test_rank_matches_a_lexsort_oracle(rows, top_n):
    rows.sort(key=lambda r: r[0])  # grouped by time
    ts = np.array([r[0] for r in rows], dtype=np.int64)
    passed = np.array([r[1] for r in rows], dtype=bool)
    score = np.array([r[2] for r in rows], dtype=np.int32)
    profit = np.array([r[3] for r in rows], dtype=np.float64)
    expected = np.zeros(len(rows), dtype=np.int32)
    for t in np.unique(ts):
        idx = np.flatnonzero((ts == t) & passed)
        order = idx[np.lexsort((idx, -profit[idx], -score[idx]))]
        expected[order[:top_n]] = np.arange(1, min(top_n, order.size) + 1)
    # The scan and the backtest both rank with it.
    np.testing.assert_array_equal(rank_passing(ts, passed, score, profit, top_n), expected)


def test_reason_codes_in_kernel_match_the_enum():
    for reason in Reason:
        assert getattr(scan_kernels, reason.name) == reason.value
    assert REASON_LABELS[Reason.SPREAD_BELOW_COSTS] == "spread_below_costs"


@pytest.fixture(scope="module")
def synth_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("synth")
    spreadarb.synth.generate(root, seed=3, hours=0.5, symbols=("BTC", "ETH"))
    return root


def test_no_lookahead(synth_root):
    full = scan_records(spreadarb.load(synth_root))
    times = np.unique(full["ts"])
    for t in times[[60, 500, len(times) // 2, -2]]:
        truncated = scan_records(spreadarb.load(synth_root, end=int(t) + 1))
        assert truncated["ts"].max() == t
        assert full[full["ts"] == t].tobytes() == truncated[truncated["ts"] == t].tobytes()


def test_scan_is_deterministic_and_polars_backend_agrees(synth_root):
    ds = spreadarb.load(synth_root)
    a, b = scan_records(ds), scan_records(ds)
    assert a.tobytes() == b.tobytes()
    pd_frame = spreadarb.scan(ds)
    pl_frame = spreadarb.scan(ds, backend="polars")
    assert pl_frame.shape == pd_frame.shape
    assert pl_frame["spread_bps"].to_list() == pytest.approx(
        pd_frame["spread_bps"].tolist(), nan_ok=True
    )
    with pytest.raises(ValueError, match="backend"):
        spreadarb.scan(ds, backend="arrow")  # type: ignore[arg-type]


def test_scan_frame_views_the_records_and_equals_a_copied_frame():
    from pathlib import Path

    from spreadarb.scanner import records_to_frame

    ds = spreadarb.load(Path(__file__).resolve().parents[1] / "data" / "sample")
    records = scan_records(ds)
    viewed = records_to_frame(records, ds.symbols, ds.exchanges, copy=False)
    copied = records_to_frame(records.copy(), ds.symbols, ds.exchanges)
    pd.testing.assert_frame_equal(viewed, copied)
    pd.testing.assert_frame_equal(spreadarb.scan(ds), copied)
    assert (viewed["passed"] & viewed["rank"].notna()).any()
    # Numeric columns are views of the log (no copy); the copied frame's are not.
    assert np.shares_memory(viewed["spread_bps"].to_numpy(), records)
    assert not np.shares_memory(copied["spread_bps"].to_numpy(), records)
    # A frame column a user overwrites is that frame's; the copied frame is untouched.
    viewed.loc[0, "spread_bps"] = 1e9
    assert copied.loc[0, "spread_bps"] != 1e9


@pytest.mark.slow
def test_whole_scan_without_jit_gives_identical_records(synth_root, tmp_path):
    """The plain-Python bodies of every kernel on the way agree with the compiled ones."""
    ds = spreadarb.load(
        synth_root, end=spreadarb.load(synth_root).tickers["ts_local"].min() + 120 * SECOND
    )
    compiled = scan_records(ds)
    out = tmp_path / "records.npy"
    code = (
        "import sys, numpy as np, spreadarb;"
        "from spreadarb.scanner import scan_records;"
        "ds = spreadarb.load(sys.argv[1], end=int(sys.argv[2]));"
        "np.save(sys.argv[3], scan_records(ds))"
    )
    env = {**os.environ, "SPREADARB_DISABLE_JIT": "1"}
    subprocess.run(
        [sys.executable, "-c", code, str(synth_root), str(ds.end_ns), str(out)], env=env, check=True
    )
    python = np.load(out)
    assert python.dtype == compiled.dtype
    assert python.tobytes() == compiled.tobytes()


def test_exchange_latency_is_the_exact_mean_of_its_pooled_markets(synth_root):
    """The latency of an exchange at t is the mean lag of all its tickers (every symbol)
    with ts_local in (t - window, t]: integer lags, so the mean is compared exactly."""
    from spreadarb.state import exchange_state, feature_params, scan_grid, seconds_to_ns

    ds = spreadarb.load(synth_root)
    params = feature_params(StrategyConfig(latency_window_s=2.5))
    grid = scan_grid(ds, 0.7)  # off the tickers' own cadence, so windows cut runs
    got = exchange_state(ds, params, grid).latency_ms
    tk = ds.tickers
    window = seconds_to_ns(params.latency_window_s)
    for e in range(len(ds.exchanges)):
        markets = np.flatnonzero(ds.market_exchange == e)
        ts = np.concatenate([tk["ts_local"][tk.rows(int(m))] for m in markets])
        lag = ts - np.concatenate([tk["ts_exchange"][tk.rows(int(m))] for m in markets])
        expected = np.full(grid.size, np.nan)
        for k, t in enumerate(grid):
            inside = lag[(ts > t - window) & (ts <= t)]
            if inside.size:
                expected[k] = inside.sum() / inside.size / 1e6
        np.testing.assert_array_equal(got[e], expected)
        assert np.isfinite(expected).mean() > 0.9


def test_exchange_latency_refuses_lags_it_cannot_sum(tmp_path):
    # ts_exchange 20 years before ts_local (a unit or clock error), 50 rows a window.
    years = 20 * 365 * 86_400_000
    ds = build(
        tmp_path,
        [
            venue_tickers("okx", "BTC", bid=10, ask=10.01, step_ms=200, latency_ms=years),
            venue_tickers("gate", "BTC", bid=10, ask=10.01),
        ],
    )
    with pytest.raises(ValueError, match=r"'okx'.*ts_exchange"):
        scan_records(ds)
