"""Scanner benchmark: ``spreadarb.scan`` against a straightforward pandas implementation.

Usage::

    python benchmarks/bench_scan.py                  # data/sample (skipped if absent)
    python benchmarks/bench_scan.py --synthetic-day  # also the SPEC §8 synthetic day

The synthetic day (8 venues x 20 symbols x 24 h) is generated once into
``benchmarks/.cache/synthetic-day`` (never committed) and reused.

:func:`pandas_scan` is the scan as a user writes it by hand with pandas: per market a
``merge_asof`` of the tickers onto the scan grid, time-based ``rolling`` windows for
latency, open interest and VWAP, a 1-minute ``resample().ohlc()`` for the ATR, a pivot
of liquidation notionals by price bucket, then ``groupby`` over (scan time, symbol) to
pick the legs, and column arithmetic for the scores, constraints, sizing and reasons.
It gives the same DataFrame as ``spreadarb.scan`` (:func:`compare` checks it;
``tests/test_bench_scan_reference.py`` asserts it), so the timings compare like with
like.

Measured (medians over repeats, after a warm-up run so JIT compilation is excluded):
load time; metrics + scan time of ``spreadarb.scan``; ticker rows scanned per second;
the pandas reference on the same data (on the whole synthetic day: about 2 minutes
and 14 GB of memory; ``--pandas-hours H`` runs it on the first H hours only and scales
its time linearly to the day); the ratio; and, in fresh processes, the JIT compile
time with an empty numba cache and the first-call overhead with a warm one. Prints a
table, writes JSON.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import CACHE, ROOT, SAMPLE, jit_probe_runs, synthetic_day, time_repeats

import spreadarb
from spreadarb import StrategyConfig
from spreadarb.enums import REASON_LABELS, opportunity_dt

NS = 1_000_000_000
EIGHT_HOURS_S = 8 * 3600

# --------------------------------------------------------------------------------------
# The pandas reference
# --------------------------------------------------------------------------------------


def _ns(seconds: float) -> int:
    return round(seconds * NS)


def _td(seconds: float) -> pd.Timedelta:
    return pd.Timedelta(_ns(seconds), "ns")


def dataset_frames(dataset: spreadarb.Dataset) -> dict[str, pd.DataFrame]:
    """The dataset's tables as long pandas frames, as ``pd.read_parquet`` would give them.

    ``ts_local`` becomes a ``datetime64[ns]`` column; ``exchange`` and ``symbol`` are
    categoricals; rows stay in the dataset's order (by market, then time).
    """
    frames = {}
    exchanges = pd.CategoricalDtype(list(dataset.exchanges))
    symbols = pd.CategoricalDtype(list(dataset.symbols))
    for name in ("tickers", "trades", "liquidations"):
        table = dataset.table(name)
        counts = table.counts()
        frame = pd.DataFrame(dict(table.columns))
        frame["ts"] = pd.to_datetime(frame["ts_local"], unit="ns")
        frame["exchange"] = pd.Categorical.from_codes(
            np.repeat(dataset.market_exchange, counts), dtype=exchanges
        )
        frame["symbol"] = pd.Categorical.from_codes(
            np.repeat(dataset.market_symbol, counts), dtype=symbols
        )
        frames[name] = frame
    return frames


def scan_times(tickers: pd.DataFrame, dataset: spreadarb.Dataset, interval_s: float) -> pd.Index:
    """Scan grid: every interval from the first ticker (rounded up) to the last ticker
    (or to the end of the requested window)."""
    if tickers.empty:
        return pd.DatetimeIndex([], name="ts")
    first, last = tickers["ts"].min(), tickers["ts"].max()
    if dataset.start_ns is not None:
        first = max(first, pd.Timestamp(dataset.start_ns, unit="ns"))
    if dataset.end_ns is not None:
        last = pd.Timestamp(dataset.end_ns - 1, unit="ns")
    return pd.date_range(first.ceil(_td(interval_s)), last, freq=_td(interval_s), name="ts")


def rolling_at(
    frame: pd.DataFrame, grid: pd.DatetimeIndex, window: pd.Timedelta, how: str
) -> pd.DataFrame:
    """A time-based rolling statistic of ``frame`` (DatetimeIndex, sorted) at the grid times.

    The usual trick: append an all-NaN row per grid time after the data rows of the same
    time, roll over the union (windows ``(t - window, t]``; NaN rows do not count) and
    keep the grid rows. Every data row stamped ``t`` is therefore in the window at ``t``.
    """
    probes = pd.DataFrame(np.nan, index=grid, columns=frame.columns)
    order = np.argsort(np.r_[frame.index.asi8, grid.asi8], kind="stable")
    both = pd.concat([frame.astype("float64"), probes]).iloc[order]
    is_probe = np.r_[np.zeros(len(frame), bool), np.ones(len(grid), bool)][order]
    rolled = getattr(both.rolling(window), how)()
    return rolled[is_probe].set_axis(grid)


def _clip01(x: pd.Series) -> pd.Series:
    return x.clip(0.0, 1.0)


def _centred(x: pd.Series, scale: float) -> pd.Series:
    return _clip01(0.5 + 0.5 * x / scale).fillna(0.5)


def _market_state(
    tk: pd.DataFrame,
    tr: pd.DataFrame,
    grid: pd.DatetimeIndex,
    config: StrategyConfig,
) -> pd.DataFrame:
    """As-of quote, funding, OI, VWAP deviation and ATR of one market on the grid."""
    scales = config.scales
    tk = tk.assign(
        funding_8h=tk["funding_rate"] * (EIGHT_HOURS_S / tk["funding_interval_s"]),
        predicted_8h=tk["predicted_funding_rate"] * (EIGHT_HOURS_S / tk["funding_interval_s"]),
        tick_mid=0.5 * (tk["bid_px"] + tk["ask_px"]),
    )
    cols = [
        "ts",
        "bid_px",
        "ask_px",
        "bid_depth_usd",
        "ask_depth_usd",
        "funding_8h",
        "predicted_8h",
        "open_interest_usd",
    ]
    state = pd.merge_asof(
        pd.DataFrame({"t": grid}), tk[cols], left_on="t", right_on="ts", direction="backward"
    )
    state = state.rename(
        columns={
            "ts": "quote_ts",
            "bid_px": "bid",
            "ask_px": "ask",
            "bid_depth_usd": "bid_depth",
            "ask_depth_usd": "ask_depth",
            "open_interest_usd": "oi",
        }
    ).set_index("t")
    state["quote_age_ns"] = (state.index - state["quote_ts"]) / pd.Timedelta(1, "ns")
    mid = 0.5 * (state["bid"] + state["ask"])
    state["mid"] = mid

    by_time = tk.set_index("ts")
    state["oi_avg"] = rolling_at(
        by_time[["open_interest_usd"]], grid, _td(scales.oi_mean_window_s), "mean"
    )["open_interest_usd"]

    # VWAP and the size-weighted sd of trade prices around it over the last hour, from
    # rolling sums of sz, sz*d, sz*d^2 with d = px - (first trade price): the offset
    # keeps sz*d^2 small enough that the variance does not cancel away.
    tr = tr[np.isfinite(tr["px"]) & np.isfinite(tr["sz"]) & (tr["sz"] > 0)]
    if len(tr):
        d = tr["px"] - tr["px"].iloc[0]
        sums = pd.DataFrame(
            {"w": tr["sz"], "wd": tr["sz"] * d, "wdd": tr["sz"] * d * d, "px": tr["px"]}
        ).set_axis(tr["ts"])
        window = _td(scales.vwap_window_s)
        s = rolling_at(sums[["w", "wd", "wdd"]], grid, window, "sum")
        hi = rolling_at(sums[["px"]], grid, window, "max")["px"]
        lo = rolling_at(sums[["px"]], grid, window, "min")["px"]
        mean_d = s["wd"] / s["w"]
        var = s["wdd"] / s["w"] - mean_d * mean_d
        sd = np.sqrt(var.where(var > 0, 0.0)).where(hi != lo, 0.0).where(s["w"].notna())
        vwap = tr["px"].iloc[0] + mean_d
        state["vwap_dev"] = ((mid - vwap) / sd).where(sd > 0)
    else:
        state["vwap_dev"] = np.nan

    # ATR of 1-minute bars of the mid; at time t only the bars complete by t count.
    state["atr_bps"] = np.nan
    state["atr_falling"] = False
    if len(tk) and len(grid):
        bar = _td(scales.atr_bar_s)
        bars = by_time["tick_mid"].resample(bar, origin="epoch").ohlc()
        bars = bars.reindex(pd.date_range(bars.index[0], grid[-1].floor(bar), freq=bar))
        ne = bars.dropna()
        prev_close = ne["close"].shift()
        true_range = np.fmax(ne["high"], prev_close) - np.fmin(ne["low"], prev_close)
        atr = true_range.rolling(scales.atr_window_bars, min_periods=1).mean()
        atr = atr.reindex(bars.index).ffill()
        falling = atr < atr.shift(scales.atr_trend_bars)
        last_done = grid.floor(bar) - bar
        state["atr_bps"] = atr.reindex(last_done).to_numpy() / mid * 1e4
        state["atr_falling"] = falling.reindex(last_done, fill_value=False).to_numpy()
    return state


def _liquidation_distance(
    liq: pd.DataFrame, grid: pd.DatetimeIndex, ref_px: pd.Series, config: StrategyConfig
) -> tuple[pd.Series, pd.Series]:
    """Distance (bps) from ``ref_px`` to the nearest liquidation cluster of the last hour,
    and whether any liquidation of the symbol was seen by then."""
    scales = config.scales
    liq = liq.sort_values("ts", kind="stable")
    seen = pd.Series(grid >= liq["ts"].min(), index=grid)  # NaT (no rows): never
    liq = liq.assign(usd=liq["px"] * liq["sz"])
    liq = liq[np.isfinite(liq["px"]) & (liq["px"] > 0) & np.isfinite(liq["usd"])]
    if liq.empty:
        return pd.Series(np.nan, index=grid), seen
    log_q = math.log1p(scales.liquidation_bucket_bps * 1e-4)
    liq = liq.assign(bucket=np.floor(np.log(liq["px"]) / log_q).astype("int64"))
    by_bucket = liq.pivot_table(
        index="ts", columns="bucket", values="usd", aggfunc="sum", observed=True
    )
    usd = rolling_at(by_bucket, grid, _td(scales.liquidation_window_s), "sum")
    centre = np.exp((by_bucket.columns.to_numpy() + 0.5) * log_q)
    dist = np.abs(ref_px.to_numpy()[:, None] / centre[None, :] - 1.0) * 1e4
    dist = pd.DataFrame(dist, index=grid).where(
        (usd >= scales.liquidation_cluster_min_usd).to_numpy()
    )
    return dist.min(axis=1), seen


def _pick_legs(quotes: pd.DataFrame) -> pd.DataFrame:
    """Long venue (lowest ask) and short venue (highest bid) per (ts, symbol).

    ``quotes`` has one row per (ts, symbol, venue) with a quote, venues in index order
    within a group, so ``idxmin``/``idxmax`` break ties to the lower venue. When one venue
    has both the lowest ask and the highest bid it is paired with the best other venue,
    on whichever side gives the larger spread (long side on a tie).
    """
    g = quotes.groupby(["ts", "symbol"], observed=True, sort=True)
    legs = pd.DataFrame({"lo": g["ask"].idxmin(), "hi": g["bid"].idxmax()})
    same = legs[legs["lo"] == legs["hi"]]
    legs = legs[legs["lo"] != legs["hi"]]
    rest = quotes.drop(index=same["lo"])
    rest = rest[rest.set_index(["ts", "symbol"]).index.isin(same.index)]
    g2 = rest.groupby(["ts", "symbol"], observed=True, sort=True)
    other = pd.DataFrame({"other_ask": g2["ask"].idxmin(), "other_bid": g2["bid"].idxmax()})
    same = same.join(other, how="inner")  # a venue alone has no pair
    one = same["lo"]
    long_side = (
        quotes.loc[same["other_bid"], "bid"].to_numpy() - quotes.loc[one, "ask"].to_numpy()
    ) >= (quotes.loc[one, "bid"].to_numpy() - quotes.loc[same["other_ask"], "ask"].to_numpy())
    same = pd.DataFrame(
        {
            "lo": np.where(long_side, one, same["other_ask"]),
            "hi": np.where(long_side, same["other_bid"], one),
        },
        index=same.index,
    )
    return pd.concat([legs, same]).sort_index()


def pandas_scan(dataset: spreadarb.Dataset, config: StrategyConfig | None = None) -> pd.DataFrame:
    """The opportunity log of ``spreadarb.scan``, written with plain pandas.

    Same rows (scan time x symbol, time-major), columns, dtypes and values as
    ``spreadarb.scan(dataset, config)``; see the module docstring.
    """
    config = StrategyConfig() if config is None else config
    frames = dataset_frames(dataset)
    tickers, trades, liquidations = frames["tickers"], frames["trades"], frames["liquidations"]
    grid = scan_times(tickers, dataset, config.scan_interval_s)
    exchanges, symbols = list(dataset.exchanges), list(dataset.symbols)
    exchange_dtype = tickers["exchange"].dtype
    symbol_dtype = tickers["symbol"].dtype

    # Exchange latency: rolling 10 s mean of ts_local - ts_exchange over all its tickers.
    lag = tickers.assign(lag=(tickers["ts_local"] - tickers["ts_exchange"]).astype("float64"))
    latency = pd.DataFrame(index=grid)
    for ex, rows in lag.groupby("exchange", observed=False):
        rows = rows.sort_values("ts", kind="stable").set_index("ts")[["lag"]]
        latency[ex] = rolling_at(rows, grid, _td(config.latency_window_s), "mean")["lag"] / 1e6
    latency = latency.reindex(columns=exchanges)
    stale = ~(latency <= config.max_latency_ms)
    n_stale = stale.sum(axis=1)

    # Per-market state on the grid, stacked into one long frame (ts, symbol, venue).
    parts = []
    trades_by_market = dict(list(trades.groupby(["exchange", "symbol"], observed=True)))
    for (ex, sym), tk in tickers.groupby(["exchange", "symbol"], observed=True, sort=True):
        tr = trades_by_market.get((ex, sym), trades.iloc[:0])
        state = _market_state(tk, tr, grid, config)
        state["exchange"] = pd.Categorical.from_codes(
            np.full(len(grid), exchanges.index(ex)), dtype=exchange_dtype
        )
        state["symbol"] = pd.Categorical.from_codes(
            np.full(len(grid), symbols.index(sym)), dtype=symbol_dtype
        )
        state["latency_ms"] = latency[ex]
        state["exchange_stale"] = stale[ex]
        parts.append(state)
    # Markets come in (exchange, symbol) order, so within each (ts, symbol) the venues
    # are in exchange order and ties go to the lower one, as in spreadarb.
    state = pd.concat(parts).rename_axis("ts").reset_index()

    # Liquidation clusters of each symbol, venues pooled, around the venues' median mid.
    ref_px = state.pivot_table(
        index="ts", columns="symbol", values="mid", aggfunc="median", observed=False
    ).reindex(index=grid, columns=symbols)
    liq_parts = {}
    for sym in symbols:
        dist, seen = _liquidation_distance(
            liquidations[liquidations["symbol"] == sym], grid, ref_px[sym], config
        )
        liq_parts[sym] = pd.DataFrame({"liq": dist, "seen": seen})

    # One row per (scan time, symbol); the opportunity columns are computed on the rows
    # with a pair, then the others get the "no pair" values.
    legs = _pick_legs(state[state["bid"].notna() & state["ask"].notna()])
    index = pd.MultiIndex.from_product(
        [grid, pd.CategoricalIndex(symbols, categories=symbols)], names=["ts", "symbol"]
    )
    liq = pd.concat(liq_parts, names=["symbol", "ts"]).swaplevel().reindex(index)
    o = _opportunities(state, legs, liq, n_stale, config)
    o = _with_no_pair_rows(o, index, symbols)

    # Rank the passing rows of each scan time: score, then profit after slippage, then
    # symbol order; keep the top_n.
    passed = o["reason"] == "passed"
    ranked = o[passed].assign(code=o["symbol"].cat.codes)
    ranked = ranked.sort_values(
        ["ts", "confidence_score", "projected_profit_after_slippage", "code"],
        ascending=[True, False, False, True],
        kind="stable",
    )
    rank = ranked.groupby("ts").cumcount() + 1
    o["rank"] = rank[rank <= config.top_n].reindex(o.index).astype("Int32")
    o["ts"] = o["ts"].dt.tz_localize("UTC")
    o["passed"] = passed
    return o[[*opportunity_dt.names, "passed"]]


def _opportunities(
    state: pd.DataFrame,
    legs: pd.DataFrame,
    liq: pd.DataFrame,
    n_stale: pd.Series,
    config: StrategyConfig,
) -> pd.DataFrame:
    """Every opportunity column of the (ts, symbol) rows in ``legs`` (rows of ``state``)."""
    scales, w = config.scales, config.weights
    exchanges = list(state["exchange"].cat.categories)
    L = state.loc[legs["lo"]].set_axis(legs.index)
    S = state.loc[legs["hi"]].set_axis(legs.index)
    liq = liq.reindex(legs.index)

    o = pd.DataFrame(index=legs.index)
    o["long_exchange"] = L["exchange"]
    o["short_exchange"] = S["exchange"]
    o["long_price"] = L["ask"]
    o["short_price"] = S["bid"]
    o["mid"] = 0.5 * (o["long_price"] + o["short_price"])
    o["spread_bps"] = (o["short_price"] - o["long_price"]) / o["mid"] * 1e4
    o["long_funding_8h"] = L["funding_8h"]
    o["short_funding_8h"] = S["funding_8h"]
    delta = o["funding_delta_8h"] = S["funding_8h"] - L["funding_8h"]
    o["funding_delta_projected"] = S["predicted_8h"] - L["predicted_8h"]

    def obi(v: pd.DataFrame) -> pd.Series:
        total = v["bid_depth"] + v["ask_depth"]
        return ((v["bid_depth"] - v["ask_depth"]) / total).where(total > 0)

    o["obi_long"] = obi(L)
    o["obi_short"] = obi(S)
    o["obi_ratio"] = 0.5 * (o["obi_long"] - o["obi_short"])
    o["oi_current"] = L["oi"] + S["oi"]
    o["oi_24h_avg"] = L["oi_avg"] + S["oi_avg"]
    oi_dev = (o["oi_current"] / o["oi_24h_avg"] - 1.0).where(o["oi_24h_avg"] > 0)
    o["vwap_deviation_long"] = L["vwap_dev"]
    o["vwap_deviation_short"] = S["vwap_dev"]
    o["vwap_deviation"] = 0.5 * (S["vwap_dev"] - L["vwap_dev"])
    # The larger of the two legs' ATRs (a missing one gives way to the other).
    o["atr_bps"] = L["atr_bps"].where(
        S["atr_bps"].isna() | (L["atr_bps"] > S["atr_bps"]), S["atr_bps"]
    )
    o["atr_trend"] = L["atr_falling"] & S["atr_falling"]
    o["liquidation_cluster_distance"] = liq["liq"]

    o["score_funding"] = _clip01(delta / scales.funding_saturation_8h).fillna(0.0)
    o["score_obi"] = _centred(o["obi_ratio"], scales.obi_scale)
    o["score_oi"] = _centred(oi_dev, scales.oi_ratio_scale)
    o["score_vwap"] = _centred(o["vwap_deviation"], scales.vwap_scale_sd)
    level = _clip01(1.0 - o["atr_bps"] / scales.atr_scale_bps).fillna(0.5)
    o["score_volatility"] = 0.5 * level + np.where(o["atr_trend"], 0.5, 0.0)
    distance_score = _clip01(
        o["liquidation_cluster_distance"] / scales.liquidation_distance_scale_bps
    )
    o["score_liquidation"] = distance_score.fillna(1.0).where(liq["seen"], 0.5)

    # Costs and sizing, with available capital = starting capital.
    def fees(kind: str) -> tuple[pd.Series, pd.Series]:
        rate = np.array([config.fee(e, kind) for e in exchanges])  # type: ignore[arg-type]
        return (
            pd.Series(rate[o["long_exchange"].cat.codes], index=o.index),
            pd.Series(rate[o["short_exchange"].cat.codes], index=o.index),
        )

    (entry_long, entry_short), (exit_long, exit_short) = (
        fees(config.fees.entry_kind),
        fees(config.fees.exit_kind),
    )
    o["fees_bps"] = (entry_long + entry_short + exit_long + exit_short) * 1e4
    hold = config.expected_hold_h
    o["funding_cost_bps"] = (-delta).where(delta < 0, 0.0) * hold / 8.0 * 1e4
    edge = o["spread_bps"] - o["fees_bps"] - o["funding_cost_bps"]
    depth_long = o["order_book_depth_long"] = L["ask_depth"]
    depth_short = o["order_book_depth_short"] = S["bid_depth"]
    capital = config.starting_capital
    size = (edge / o["spread_bps"] * capital).clip(upper=config.max_position_fraction * capital)
    size = np.minimum(size, config.depth_size_fraction * np.minimum(depth_long, depth_short))
    size = size.where((o["spread_bps"] > 0) & (edge > 0), 0.0)
    o["position_size_usd"] = size

    def slippage(depth: pd.Series) -> pd.Series:
        raw = config.slippage_base + config.slippage_depth_coef * size / depth
        return raw.clip(upper=config.slippage_cap).where(depth > 0, config.slippage_cap)

    o["slippage_long"] = slippage(depth_long)
    o["slippage_short"] = slippage(depth_short)
    projected = size * (o["spread_bps"] - o["fees_bps"]) / 1e4 + size * delta * hold / 8.0
    after_slip = projected - size * 2.0 * (o["slippage_long"] + o["slippage_short"])
    o["projected_profit_usd"] = projected
    o["projected_profit_after_slippage"] = after_slip

    # Hard constraints, latency penalty, confidence score.
    o["latency_long_ms"] = L["latency_ms"]
    o["latency_short_ms"] = S["latency_ms"]
    o["quote_age_long_ms"] = L["quote_age_ns"] / 1e6
    o["quote_age_short_ms"] = S["quote_age_ns"] / 1e6
    max_age = _ns(config.max_quote_age_s)
    stale_long = L["exchange_stale"] | ~(L["quote_age_ns"] <= max_age)
    stale_short = S["exchange_stale"] | ~(S["quote_age_ns"] <= max_age)
    depth_ok = (depth_long >= config.depth_multiple * size) & (
        depth_short >= config.depth_multiple * size
    )
    latency_ok = ~stale_long & ~stale_short
    funding_ok = delta > config.min_funding_delta_8h
    o["order_book_depth_sufficient"] = depth_ok
    o["exchange_latency_ok"] = latency_ok
    o["funding_delta_substantial"] = funding_ok
    hard_ok = depth_ok & latency_ok & funding_ok
    stale_now = n_stale.reindex(o.index.get_level_values("ts")).set_axis(o.index)
    others = (
        stale_now
        - L["exchange_stale"].astype(int)
        - (S["exchange_stale"] & (o["long_exchange"] != o["short_exchange"])).astype(int)
    )
    o["stale_other_exchanges"] = others.astype("int32")
    weighted = (
        w.funding * o["score_funding"]
        + w.obi * o["score_obi"]
        + w.oi * o["score_oi"]
        + w.vwap * o["score_vwap"]
        + w.volatility * o["score_volatility"]
        + w.liquidation * o["score_liquidation"]
    )
    o["raw_score"] = np.floor(100.0 * weighted / w.total + 0.5).astype("int32")
    scored = hard_ok & (stale_now < len(exchanges))  # all exchanges stale: score 0
    o["latency_penalty"] = np.where(scored & (others > 0), config.latency_penalty, 0)
    o["latency_penalty"] = o["latency_penalty"].astype("int32")
    score = (o["raw_score"] - o["latency_penalty"]).clip(lower=0).where(scored, 0)
    o["confidence_score"] = score.astype("int32")

    # First failing check, in the order of spreadarb.enums.Reason (1 is "no pair").
    conditions = [
        ~depth_ok,
        ~latency_ok,
        ~funding_ok,
        (o["spread_bps"] < config.min_spread_bps) | (edge <= 0),
        size < config.min_position_usd,
        o["confidence_score"] < config.min_confidence,
        ~(after_slip > 0),
        ~((depth_long > config.min_depth_usd) & (depth_short > config.min_depth_usd)),
    ]
    o["reason"] = np.select(conditions, np.arange(2, len(conditions) + 2), default=0)
    return o


_NO_PAIR_VALUES: dict[str, Any] = {
    "atr_trend": False,
    "order_book_depth_sufficient": False,
    "exchange_latency_ok": False,
    "funding_delta_substantial": False,
    "stale_other_exchanges": 0,
    "raw_score": 0,
    "latency_penalty": 0,
    "confidence_score": 0,
    "position_size_usd": 0.0,
    "reason": 1,  # no pair
}
"""Values of a row without a pair that are not NaN."""


def _with_no_pair_rows(o: pd.DataFrame, index: pd.MultiIndex, symbols: list[str]) -> pd.DataFrame:
    """``o`` extended to every (ts, symbol) of ``index``; rows without a pair filled in."""
    full = pd.DataFrame(index=index)
    for col in o.columns:
        full[col] = o[col].reindex(index, fill_value=_NO_PAIR_VALUES.get(col, np.nan))
    full["reason"] = pd.Categorical.from_codes(full["reason"], categories=list(REASON_LABELS))
    full = full.reset_index()
    full["symbol"] = full["symbol"].astype(pd.CategoricalDtype(symbols))
    return full


# --------------------------------------------------------------------------------------
# Agreement check
# --------------------------------------------------------------------------------------

FLOAT_RTOL = 1e-9
"""Relative tolerance of float columns (NaN equals NaN). The reference's rolling sums
(pandas' add/remove with Kahan compensation) and the kernels' (Neumaier compensation
around a re-centred reference) round differently in the last bits; nothing else does."""

SCORE_ATOL = 1e-12
"""Absolute tolerance of the sub-scores ``score_*``, which lie in [0, 1].

A sub-score ``0.5 + 0.5 * x / scale`` near 0 cancels, so its rounding error is absolute
(about 1e-16); with ``x`` from a rolling mean that rounds differently in the last bits
(e.g. open interest vs its 24 h mean) the relative difference of a score of 1.6e-6 was
3e-9 on the synthetic day. The confidence score rounds ``100 * sum(w * s) / sum(w)`` to
an integer, so 1e-12 cannot change it except exactly at a half."""

VWAP_ATOL = 1e-9
"""Absolute tolerance, in standard deviations, of the VWAP deviations ``vwap_deviation*``.

A deviation is ``(mid - vwap) / sd`` and ``mid - vwap`` cancels: its rounding error is
absolute, about ``1e-16 * price / sd``, so a deviation near 0 has a large relative
error in both implementations. On the synthetic day both stay within about 2e-11
relative of the exact value (checked with rational arithmetic on the worst rows) and
differ from each other by at most 3e-12 sd, which is 1e-7 relative for a pair
deviation of 1e-5 sd."""


def _atol(column: str) -> float:
    if column.startswith("score_"):
        return SCORE_ATOL
    if column.startswith("vwap_deviation"):
        return VWAP_ATOL
    return 0.0


def compare(
    got: pd.DataFrame, expected: pd.DataFrame, *, rtol: float = FLOAT_RTOL
) -> dict[str, dict[str, Any]]:
    """Columns of ``got`` that disagree with ``expected``: ``{column: details}``.

    Floats agree when ``|a - b| <= atol + rtol * |b|`` (``atol``: :data:`SCORE_ATOL`,
    :data:`VWAP_ATOL`, else 0) or both are NaN; everything else
    (ints, bools, categories, times, the nullable rank) must be equal. An empty result
    means the frames agree.
    """
    problems: dict[str, dict[str, Any]] = {}
    if list(got.columns) != list(expected.columns):
        problems["<columns>"] = {"got": list(got.columns), "expected": list(expected.columns)}
        return problems
    if len(got) != len(expected):
        problems["<rows>"] = {"got": len(got), "expected": len(expected)}
        return problems
    for col in expected.columns:
        a, b = got[col], expected[col]
        if a.dtype != b.dtype:
            problems[col] = {"dtype": str(a.dtype), "expected_dtype": str(b.dtype)}
            continue
        if a.dtype == np.float64:
            x, y = a.to_numpy(), b.to_numpy()
            atol = _atol(col)
            with np.errstate(invalid="ignore"):
                ok = (np.isnan(x) & np.isnan(y)) | (np.abs(x - y) <= atol + rtol * np.abs(y))
            rel = np.abs(x - y) / np.maximum(np.abs(y), 1e-300)
            worst = float(np.nanmax(np.where(np.isnan(x) == np.isnan(y), rel, np.nan), initial=0))
        else:
            ok = (a.isna() & b.isna()).to_numpy() | (a == b).fillna(False).to_numpy()
            worst = None
        bad = np.flatnonzero(~ok)
        if bad.size:
            i = int(bad[0])
            problems[col] = {
                "mismatches": int(bad.size),
                "max_rel_err": worst,
                "first_row": i,
                "ts": str(expected["ts"].iloc[i]),
                "symbol": str(expected["symbol"].iloc[i]),
                "got": repr(a.iloc[i]),
                "expected": repr(b.iloc[i]),
            }
    return problems


def max_rel_errors(got: pd.DataFrame, expected: pd.DataFrame) -> dict[str, float]:
    """Largest relative difference of each float column (pairs where both are finite)."""
    out = {}
    for col in expected.columns:
        if expected[col].dtype != np.float64:
            continue
        x, y = got[col].to_numpy(), expected[col].to_numpy()
        both = np.isfinite(x) & np.isfinite(y)
        rel = np.abs(x[both] - y[both]) / np.maximum(np.abs(y[both]), 1e-300)
        out[col] = float(rel.max(initial=0.0))
    return out


# --------------------------------------------------------------------------------------
# Measurements
# --------------------------------------------------------------------------------------

_JIT_PROBE = """
import json, sys, time
t0 = time.perf_counter()
import spreadarb
from spreadarb.scanner import scan
t1 = time.perf_counter()
ds = spreadarb.load(sys.argv[1])
t2 = time.perf_counter()
scan(ds)
t3 = time.perf_counter()
scan(ds)
t4 = time.perf_counter()
print(json.dumps({"import_s": t1 - t0, "load_s": t2 - t1, "first_scan_s": t3 - t2,
                  "warm_scan_s": t4 - t3}))
"""


def jit_times(path: Path) -> dict[str, Any]:
    """Compile overhead of the scan in fresh processes: empty numba cache, then warm cache.

    Each process imports spreadarb, loads ``path`` and scans it twice; the overhead is
    the first scan's time minus the second's. The first two processes run each with an
    empty ``NUMBA_CACHE_DIR`` of its own (every kernel compiled), the next two with the
    cache the first one wrote (kernels loaded from disk); ``jit_cold_s`` and
    ``jit_cached_s`` are the faster of their two, as one slow run alone is noise (a busy
    machine), not the compiler or the cache.
    """
    result: dict[str, Any] = {}
    for label, (probe, wall) in jit_probe_runs(_JIT_PROBE, path).items():
        result[f"jit_{label}_s"] = probe["first_scan_s"] - probe["warm_scan_s"]
        result[f"jit_{label}_first_scan_s"] = probe["first_scan_s"]
        result[f"jit_{label}_import_s"] = probe["import_s"]
        result[f"jit_{label}_process_s"] = wall
    result["jit_cold_runs_s"] = [result["jit_cold_s"], result["jit_cold_again_s"]]
    result["jit_cold_s"] = min(result["jit_cold_runs_s"])
    result["jit_cached_runs_s"] = [result["jit_cached_s"], result["jit_cached_again_s"]]
    result["jit_cached_s"] = min(result["jit_cached_runs_s"])
    return result


def _grid_size(dataset: spreadarb.Dataset, config: StrategyConfig) -> int:
    from spreadarb.state import scan_grid

    return int(scan_grid(dataset, config.scan_interval_s).size)


def _agreement(got: pd.DataFrame, expected: pd.DataFrame) -> dict[str, Any]:
    problems = compare(got, expected)
    errors = max_rel_errors(got, expected)
    return {
        "rows_compared": len(expected),
        "agree": not problems,
        "disagreements": problems,
        "max_rel_err": max(errors.values(), default=0.0),
        "max_rel_err_column": max(errors, key=errors.__getitem__) if errors else None,
    }


def run(
    path: Path,
    label: str,
    repeats: int,
    *,
    pandas_hours: float | None,
    pandas_repeats: int,
) -> dict[str, Any]:
    """Time load, ``spreadarb.scan`` and :func:`pandas_scan` on one workload.

    With ``pandas_hours`` the pandas reference runs on the first ``pandas_hours`` of the
    data only (spreadarb is timed on the same subset too, for a side-by-side ratio) and
    its time is scaled linearly to the whole workload by the ratio of ticker rows. The
    reference's result is compared with spreadarb's on the data it ran on.
    """
    from spreadarb.scanner import scan_records

    config = StrategyConfig()
    load_s, load_spread = time_repeats(lambda: spreadarb.load(path), max(1, repeats // 2))
    ds = spreadarb.load(path)
    ticker_rows = len(ds.tickers)
    spreadarb.scan(ds, config)  # warm-up: JIT compilation (or cache load) excluded
    scan_s, scan_spread = time_repeats(lambda: spreadarb.scan(ds, config), repeats)
    records_s, _ = time_repeats(lambda: scan_records(ds, config), repeats)
    result: dict[str, Any] = {
        "workload": label,
        "path": str(path),
        "markets": ds.n_markets,
        "ticker_rows": ticker_rows,
        "trade_rows": len(ds.trades),
        "liquidation_rows": len(ds.liquidations),
        "scan_rows": _grid_size(ds, config) * len(ds.symbols),
        "load_s": load_s,
        "load_spread_s": load_spread,
        "scan_s": scan_s,
        "scan_spread_s": scan_spread,
        "scan_repeats": repeats,
        "scan_records_s": records_s,
        "to_frame_s": scan_s - records_s,
        "ticker_rows_per_s": ticker_rows / scan_s,
    }

    if pandas_hours is None:
        sub, sub_scan_s = ds, scan_s
    else:
        first = int(ds.tickers["ts_local"].min())
        sub = spreadarb.load(path, end=first + _ns(pandas_hours * 3600))
        spreadarb.scan(sub, config)
        sub_scan_s, _ = time_repeats(lambda: spreadarb.scan(sub, config), repeats)
    reference: dict[str, pd.DataFrame] = {}

    def reference_run() -> None:
        reference["frame"] = pandas_scan(sub, config)

    pandas_s, pandas_spread = time_repeats(reference_run, pandas_repeats)
    scale = ticker_rows / len(sub.tickers)
    result.update(
        {
            "pandas_hours": pandas_hours,
            "pandas_ticker_rows": len(sub.tickers),
            "pandas_s": pandas_s,
            "pandas_spread_s": pandas_spread,
            "pandas_repeats": pandas_repeats,
            "spreadarb_on_pandas_data_s": sub_scan_s,
            "speedup_side_by_side": pandas_s / sub_scan_s,
            "pandas_scale": scale,
            "pandas_full_s": pandas_s * scale,
            "speedup": pandas_s * scale / scan_s,
            "agreement": _agreement(reference["frame"], spreadarb.scan(sub, config)),
        }
    )
    return result


def profile_scan(path: Path, top: int = 25) -> str:
    """cProfile of one warm ``spreadarb.scan`` of ``path``: the top functions by own time."""
    import cProfile
    import io
    import pstats

    ds = spreadarb.load(path)
    spreadarb.scan(ds)
    profiler = cProfile.Profile()
    profiler.enable()
    spreadarb.scan(ds)
    profiler.disable()
    text = io.StringIO()
    pstats.Stats(profiler, stream=text).sort_stats("tottime").print_stats(top)
    return text.getvalue()


def _jit_dataset() -> Path:
    """A small dataset for the JIT measurement: data/sample, else a cached 3-minute synth."""
    if SAMPLE.is_dir():
        return SAMPLE
    out = CACHE / "jit-probe"
    if not (out / ".complete").exists():
        from spreadarb.data.synth import generate

        generate(out, seed=7, hours=0.05, symbols=("BTC", "ETH"), overwrite=True)
        (out / ".complete").write_text("ok\n")
    return out


def _print_table(results: list[dict[str, Any]], jit: dict[str, Any]) -> None:
    header = (
        f"{'workload':<14} {'ticker rows':>11} {'load s':>7} {'scan s':>13} {'arrays s':>8} "
        f"{'Mrows/s':>8} {'pandas s':>9} {'x pandas':>9} {'agree':>6}"
    )
    print(header)
    print("-" * len(header))
    for r in results:
        scan = f"{r['scan_s']:.2f} ±{r['scan_spread_s']:.2f}"
        pandas_s = f"{r['pandas_full_s']:.1f}" + ("*" if r["pandas_hours"] else "")
        print(
            f"{r['workload'][:14]:<14} {r['ticker_rows']:>11,} {r['load_s']:>7.2f} {scan:>13} "
            f"{r['scan_records_s']:>8.2f} {r['ticker_rows_per_s'] / 1e6:>8.2f} {pandas_s:>9} "
            f"{r['speedup']:>9.1f} {'yes' if r['agreement']['agree'] else 'NO':>6}"
        )
    for r in results:
        if r["pandas_hours"]:
            print(
                f"* {r['workload']}: pandas timed on the first {r['pandas_hours']:g} h "
                f"({r['pandas_ticker_rows']:,} ticker rows, {r['pandas_s']:.1f} s) and scaled "
                f"x{r['pandas_scale']:.2f} by ticker rows; side by side on that subset "
                f"spreadarb takes {r['spreadarb_on_pandas_data_s']:.3f} s "
                f"({r['speedup_side_by_side']:.1f}x)."
            )
    print(
        "'scan s': spreadarb.scan (metrics + scan + DataFrame), median ± (max - min) over "
        "repeats after a warm-up run; 'arrays s': scan_records, the same without the "
        "DataFrame; Mrows/s: ticker rows / 'scan s'."
    )
    if jit:
        print(
            f"JIT (fresh process, {jit['jit_dataset']}): cold compile {jit['jit_cold_s']:.2f} s "
            f"(empty NUMBA_CACHE_DIR; faster of "
            f"{', '.join(f'{x:.2f}' for x in jit['jit_cold_runs_s'])}), "
            f"cached {jit['jit_cached_s']:.2f} s (warm cache dir); "
            f"import spreadarb {jit['jit_cached_import_s']:.2f} s."
        )
    for r in results:
        agreement = r["agreement"]
        if not agreement["agree"]:
            print(f"DISAGREEMENT on {r['workload']}:")
            for col, detail in agreement["disagreements"].items():
                print(f"  {col}: {detail}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--synthetic-day", action="store_true", help="also run the SPEC §8 day")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument(
        "--pandas-hours",
        type=float,
        default=None,
        help="run the pandas reference on the first H hours of the synthetic day only and "
        "scale its time linearly (default: the whole day, ~14 GB of memory)",
    )
    parser.add_argument(
        "--data", type=Path, action="append", default=[], help="also run this dataset folder"
    )
    parser.add_argument("--no-jit", action="store_true", help="skip the JIT measurement")
    parser.add_argument(
        "--profile", action="store_true", help="cProfile one scan of the largest workload"
    )
    parser.add_argument("--json", type=Path, default=CACHE / "bench_scan.json")
    args = parser.parse_args()

    results = []
    if SAMPLE.is_dir():
        results.append(
            run(SAMPLE, "data/sample", args.repeats, pandas_hours=None, pandas_repeats=3)
        )
    else:
        print(f"skipping data/sample: {SAMPLE} does not exist")
    for path in args.data:
        results.append(run(path, str(path), args.repeats, pandas_hours=None, pandas_repeats=3))
    if args.synthetic_day:
        day = synthetic_day()
        results.append(
            run(
                day,
                "synthetic day",
                max(3, args.repeats // 2),
                pandas_hours=args.pandas_hours,
                pandas_repeats=1,
            )
        )
    jit: dict[str, Any] = {}
    if not args.no_jit:
        probe = _jit_dataset()
        jit = {"jit_dataset": str(probe.relative_to(ROOT)), **jit_times(probe)}
    if results or jit:
        _print_table(results, jit)
    targets = {}
    for r in results:
        if r["workload"] == "synthetic day":
            targets = {
                "synthetic_day_scan_under_10s": r["scan_s"] < 10.0,
                "at_least_50x_pandas": r["speedup"] >= 50.0,
            }
            print(
                "targets:", ", ".join(f"{k}={'met' if v else 'MISSED'}" for k, v in targets.items())
            )
    if args.profile and results:
        largest = max(results, key=lambda r: r["ticker_rows"])
        print(f"\nprofile of one spreadarb.scan of {largest['workload']}:")
        print(profile_scan(largest["path"]))
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(
        json.dumps(
            {
                "machine": {
                    "python": platform.python_version(),
                    "cpus": os.cpu_count(),
                    "pandas": pd.__version__,
                    "numpy": np.__version__,
                },
                "results": results,
                "jit": jit,
                "targets": targets,
            },
            indent=2,
            default=str,
        )
    )
    print(f"\nwrote {args.json}")


if __name__ == "__main__":
    main()
