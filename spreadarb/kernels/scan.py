"""The opportunity scan of one symbol over the scan grid (SPEC §4).

Inputs are the as-of ticker rows of the symbol's venues on the grid and their rolling
statistics (2-D arrays, one row per venue), computed by :mod:`spreadarb.state`, plus the
dataset's ticker columns, which the kernel reads at the as-of rows of the two legs it
picks only; the output is one ``opportunity_dt`` record per scan time, written into a
preallocated array.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from spreadarb._jit import jit
from spreadarb.kernels.prefetch import prefetch, prefetch_for_write
from spreadarb.kernels.scoring import (
    centred_score_nb,
    confidence_nb,
    funding_score_nb,
    liquidation_score_nb,
    slippage_nb,
    volatility_score_nb,
    weighted_score_nb,
)

# Reason codes, mirrored from spreadarb.enums.Reason (kernels import no enums module with
# IntEnum classes; a test checks that the two agree).
PASSED = 0
NO_PAIR = 1
DEPTH = 2
LATENCY = 3
FUNDING_DELTA = 4
SPREAD_BELOW_COSTS = 5
POSITION_TOO_SMALL = 6
CONFIDENCE = 7
UNPROFITABLE_AFTER_SLIPPAGE = 8
THIN_BOOK = 9

EIGHT_HOURS_S = 8 * 3600

#: Scan times ahead whose legs' ticker rows are prefetched (their ``(J, m)`` inputs
#: twice as far ahead, since the rows are read from there).
PREFETCH_AHEAD = 8


class ScanParams(NamedTuple):
    """Every scalar of :class:`~spreadarb.config.StrategyConfig` the scan uses, in kernel units."""

    capital_usd: float
    max_latency_ms: float
    max_quote_age_ns: int
    latency_penalty: int
    min_funding_delta_8h: float
    expected_hold_h: float
    min_spread_bps: float
    min_confidence: int
    min_depth_usd: float
    depth_multiple: float
    max_position_fraction: float
    depth_size_fraction: float
    min_position_usd: float
    slippage_base: float
    slippage_depth_coef: float
    slippage_cap: float
    w_funding: float
    w_obi: float
    w_oi: float
    w_vwap: float
    w_volatility: float
    w_liquidation: float
    funding_saturation_8h: float
    obi_scale: float
    oi_ratio_scale: float
    vwap_scale_sd: float
    atr_scale_bps: float
    liquidation_distance_scale_bps: float


@jit
def scan_symbol_nb(
    grid: np.ndarray,
    symbol: int,
    venue_exchange: np.ndarray,
    rows: np.ndarray,
    legs: np.ndarray,
    ts: np.ndarray,
    bid_px: np.ndarray,
    ask_px: np.ndarray,
    bid_depth: np.ndarray,
    ask_depth: np.ndarray,
    funding_rate: np.ndarray,
    predicted_rate: np.ndarray,
    funding_interval_s: np.ndarray,
    open_interest: np.ndarray,
    oi_avg: np.ndarray,
    vwap: np.ndarray,
    vwap_sd: np.ndarray,
    atr: np.ndarray,
    atr_falling: np.ndarray,
    first_bar: np.ndarray,
    n_bars: np.ndarray,
    bar_ns: int,
    latency_ms: np.ndarray,
    exchange_stale: np.ndarray,
    n_stale: np.ndarray,
    n_exchanges: int,
    liq_distance_bps: np.ndarray,
    has_liquidation_data: np.ndarray,
    fee_entry: np.ndarray,
    fee_exit: np.ndarray,
    p: ScanParams,
    out: np.ndarray,
) -> None:
    """Scan one symbol at every grid time, writing ``out[k]`` (an ``opportunity_dt`` row).

    A venue's as-of state at ``grid[k]`` is its ticker row ``r = rows[j, k]``: its bid,
    ask, depths and open interest; its funding and predicted rates per 8 h
    (``rate * (8 h / funding_interval_s)``); the quote's age ``grid[k] - ts[r]``; its mid
    ``0.5 * (bid + ask)``, the VWAP deviation ``(mid - vwap) / sd`` (NaN unless
    ``sd > 0``) and the ATR of the last bar complete at ``grid[k]`` in bps of that mid.
    Only the two legs' states are computed (the other venues' quotes only choose them).

    Parameters
    ----------
    grid
        ``(m,)`` scan times, int64 ns.
    symbol
        Symbol index written to the records.
    venue_exchange
        ``(J,)`` exchange index of each of the symbol's venues (rows of the 2-D inputs).
    rows
        ``(J, m)`` int64: each venue's as-of ticker row (index into the ticker columns;
        -1: no quote yet), from :func:`~spreadarb.kernels.state.venue_asof_nb`.
    legs
        ``(2, m)`` int64: the long and short venue at each grid time (-1: no pair), from
        the same kernel.
    ts, bid_px, ask_px, bid_depth, ask_depth, funding_rate, predicted_rate, open_interest
        ``(n,)`` the dataset's ticker columns (``ts``: ``ts_local``).
    funding_interval_s
        ``(n,)`` int64 ticker column.
    oi_avg, vwap, vwap_sd
        ``(J, m)`` float64: rolling mean open interest, VWAP and price sd at the grid
        times.
    atr, atr_falling
        ``(J, n_bars_max)``: ATR of each venue's mid bars and whether it is falling; bar
        ``b`` of venue ``j`` starts at ``(first_bar[j] + b) * bar_ns``.
    first_bar, n_bars
        ``(J,)`` int64: number (since the epoch) of each venue's bar 0, and its number of
        bars (0: none).
    bar_ns
        Bar length, ns.
    latency_ms
        ``(n_exchanges, m)`` float64: exchange latency (rolling mean; NaN: unknown).
    exchange_stale
        ``(n_exchanges, m)`` bool: exchange latency above the limit or unknown.
    n_stale
        ``(m,)`` int: number of stale exchanges at each grid time.
    n_exchanges
        Number of monitored exchanges.
    liq_distance_bps
        ``(m,)`` distance from the symbol's price to the nearest liquidation cluster (NaN:
        no cluster in the window).
    has_liquidation_data
        ``(m,)`` bool: a liquidation of this symbol was seen by the grid time (else the
        liquidation sub-score is the neutral 0.5).
    fee_entry, fee_exit
        ``(J,)`` fee fractions each venue charges on entry and exit fills.
    p
        Scalar parameters.
    out
        ``(m,)`` ``opportunity_dt`` records, written in place.
    """
    m = grid.shape[0]
    for k in range(m):
        # Each leg's reads are cache misses (which venues are the legs changes from one
        # scan time to the next): start loading those of the scan times ahead.
        far = k + 2 * PREFETCH_AHEAD
        if far < m and legs[0, far] >= 0:
            for j in (legs[0, far], legs[1, far]):
                prefetch(rows, j, far)
                prefetch(vwap, j, far)
                prefetch(vwap_sd, j, far)
                prefetch(oi_avg, j, far)
                prefetch(latency_ms, venue_exchange[j], far)
                prefetch(exchange_stale, venue_exchange[j], far)
        near = k + PREFETCH_AHEAD
        if near < m:
            prefetch_for_write(out, near)
        if near < m and legs[0, near] >= 0:
            for j in (legs[0, near], legs[1, near]):
                row = rows[j, near]
                prefetch(ts, row)
                prefetch(bid_px, row)
                prefetch(ask_px, row)
                prefetch(bid_depth, row)
                prefetch(ask_depth, row)
                prefetch(funding_rate, row)
                prefetch(predicted_rate, row)
                prefetch(funding_interval_s, row)
                prefetch(open_interest, row)
        g = grid[k]
        # Bars start at multiples of bar_ns, so (g - start) // bar_ns is this difference
        # of bar numbers: one integer division per grid time instead of one per leg.
        bar_now = g // bar_ns
        r = out[k]
        r["ts"] = g
        r["symbol"] = symbol
        r["rank"] = 0
        lo = legs[0, k]
        hi = legs[1, k]
        if lo < 0:
            _no_pair(r)
            continue
        ex_long = venue_exchange[lo]
        ex_short = venue_exchange[hi]
        # Each leg's as-of state, written out twice: a helper function, even one numba
        # inlines, made the kernel 60 % slower (its arrays are passed per call).
        row_long = rows[lo, k]
        to_8h = EIGHT_HOURS_S / funding_interval_s[row_long]
        f_long = funding_rate[row_long] * to_8h
        pf_long = predicted_rate[row_long] * to_8h
        venue_mid = 0.5 * (bid_px[row_long] + ask_px[row_long])
        sd = vwap_sd[lo, k]
        dev_long = (venue_mid - vwap[lo, k]) / sd if sd > 0.0 else np.nan
        done = bar_now - first_bar[lo] - 1 if n_bars[lo] > 0 else -1
        a_long = atr[lo, done] / venue_mid * 1e4 if done >= 0 else np.nan
        falling_long = atr_falling[lo, done] if done >= 0 else False
        age_long = float(g - ts[row_long])
        row_short = rows[hi, k]
        to_8h = EIGHT_HOURS_S / funding_interval_s[row_short]
        f_short = funding_rate[row_short] * to_8h
        pf_short = predicted_rate[row_short] * to_8h
        venue_mid = 0.5 * (bid_px[row_short] + ask_px[row_short])
        sd = vwap_sd[hi, k]
        dev_short = (venue_mid - vwap[hi, k]) / sd if sd > 0.0 else np.nan
        done = bar_now - first_bar[hi] - 1 if n_bars[hi] > 0 else -1
        a_short = atr[hi, done] / venue_mid * 1e4 if done >= 0 else np.nan
        falling_short = atr_falling[hi, done] if done >= 0 else False
        age_short = float(g - ts[row_short])
        r["long_exchange"] = ex_long
        r["short_exchange"] = ex_short
        long_px = ask_px[row_long]
        short_px = bid_px[row_short]
        mid = 0.5 * (long_px + short_px)
        spread_bps = (short_px - long_px) / mid * 1e4
        r["long_price"] = long_px
        r["short_price"] = short_px
        r["mid"] = mid
        r["spread_bps"] = spread_bps

        delta = f_short - f_long
        r["long_funding_8h"] = f_long
        r["short_funding_8h"] = f_short
        r["funding_delta_8h"] = delta
        r["funding_delta_projected"] = pf_short - pf_long

        # Depth we would take if we had to cross: the ask side where we buy, bid where we sell.
        depth_long = ask_depth[row_long]
        depth_short = bid_depth[row_short]
        r["order_book_depth_long"] = depth_long
        r["order_book_depth_short"] = depth_short

        # Soft metrics and their sub-scores.
        obi_long = _obi(bid_depth[row_long], depth_long)
        obi_short = _obi(depth_short, ask_depth[row_short])
        obi = 0.5 * (obi_long - obi_short)
        r["obi_long"] = obi_long
        r["obi_short"] = obi_short
        r["obi_ratio"] = obi
        oi_now = open_interest[row_long] + open_interest[row_short]
        oi_mean = oi_avg[lo, k] + oi_avg[hi, k]
        r["oi_current"] = oi_now
        r["oi_24h_avg"] = oi_mean
        oi_dev = oi_now / oi_mean - 1.0 if oi_mean > 0.0 else np.nan
        vwap_pair = 0.5 * (dev_short - dev_long)
        r["vwap_deviation_long"] = dev_long
        r["vwap_deviation_short"] = dev_short
        r["vwap_deviation"] = vwap_pair
        atr_pair = a_long if (math.isnan(a_short) or a_long > a_short) else a_short
        falling = falling_long and falling_short
        r["atr_bps"] = atr_pair
        r["atr_trend"] = falling
        liq = liq_distance_bps[k]
        r["liquidation_cluster_distance"] = liq

        s_f = funding_score_nb(delta, p.funding_saturation_8h)
        s_obi = centred_score_nb(obi, p.obi_scale)
        s_oi = centred_score_nb(oi_dev, p.oi_ratio_scale)
        s_vwap = centred_score_nb(vwap_pair, p.vwap_scale_sd)
        s_vol = volatility_score_nb(atr_pair, falling, p.atr_scale_bps)
        s_liq = liquidation_score_nb(liq, has_liquidation_data[k], p.liquidation_distance_scale_bps)
        r["score_funding"] = s_f
        r["score_obi"] = s_obi
        r["score_oi"] = s_oi
        r["score_vwap"] = s_vwap
        r["score_volatility"] = s_vol
        r["score_liquidation"] = s_liq

        # Costs and sizing (SPEC §4-§5), with the scan's capital = starting capital.
        fees_bps = (fee_entry[lo] + fee_entry[hi] + fee_exit[lo] + fee_exit[hi]) * 1e4
        funding_cost_bps = (-delta if delta < 0.0 else 0.0) * p.expected_hold_h / 8.0 * 1e4
        r["fees_bps"] = fees_bps
        r["funding_cost_bps"] = funding_cost_bps
        edge_bps = spread_bps - fees_bps - funding_cost_bps
        size = 0.0
        if spread_bps > 0.0 and edge_bps > 0.0:
            size = edge_bps / spread_bps * p.capital_usd
            size = min(size, p.max_position_fraction * p.capital_usd)
            thinner = min(depth_long, depth_short)
            size = min(size, p.depth_size_fraction * thinner) if thinner >= 0.0 else 0.0
        r["position_size_usd"] = size
        slip_long = slippage_nb(
            size, depth_long, p.slippage_base, p.slippage_depth_coef, p.slippage_cap
        )
        slip_short = slippage_nb(
            size, depth_short, p.slippage_base, p.slippage_depth_coef, p.slippage_cap
        )
        r["slippage_long"] = slip_long
        r["slippage_short"] = slip_short
        projected = size * (spread_bps - fees_bps) / 1e4 + size * delta * p.expected_hold_h / 8.0
        after_slip = projected - size * 2.0 * (slip_long + slip_short)
        r["projected_profit_usd"] = projected
        r["projected_profit_after_slippage"] = after_slip

        # Hard constraints (seed's order: depth, latency, funding delta).
        lat_long = latency_ms[ex_long, k]
        lat_short = latency_ms[ex_short, k]
        r["latency_long_ms"] = lat_long
        r["latency_short_ms"] = lat_short
        r["quote_age_long_ms"] = age_long / 1e6
        r["quote_age_short_ms"] = age_short / 1e6
        depth_ok = (depth_long >= p.depth_multiple * size) and (
            depth_short >= p.depth_multiple * size
        )
        stale_long = exchange_stale[ex_long, k] or not (age_long <= p.max_quote_age_ns)
        stale_short = exchange_stale[ex_short, k] or not (age_short <= p.max_quote_age_ns)
        latency_ok = not stale_long and not stale_short
        funding_ok = delta > p.min_funding_delta_8h
        r["order_book_depth_sufficient"] = depth_ok
        r["exchange_latency_ok"] = latency_ok
        r["funding_delta_substantial"] = funding_ok
        hard_ok = depth_ok and latency_ok and funding_ok

        # Latency penalty: stale monitored exchanges other than the two legs.
        others = n_stale[k]
        if exchange_stale[ex_long, k]:
            others -= 1
        if ex_short != ex_long and exchange_stale[ex_short, k]:
            others -= 1
        r["stale_other_exchanges"] = others
        raw = weighted_score_nb(
            s_f,
            s_obi,
            s_oi,
            s_vwap,
            s_vol,
            s_liq,
            p.w_funding,
            p.w_obi,
            p.w_oi,
            p.w_vwap,
            p.w_volatility,
            p.w_liquidation,
        )
        r["raw_score"] = raw
        all_stale = n_stale[k] >= n_exchanges
        score = confidence_nb(raw, hard_ok, others, all_stale, p.latency_penalty)
        r["latency_penalty"] = (
            p.latency_penalty if (hard_ok and not all_stale and others > 0) else 0
        )
        r["confidence_score"] = score

        if not depth_ok:
            reason = DEPTH
        elif not latency_ok:
            reason = LATENCY
        elif not funding_ok:
            reason = FUNDING_DELTA
        elif spread_bps < p.min_spread_bps or edge_bps <= 0.0:
            reason = SPREAD_BELOW_COSTS
        elif size < p.min_position_usd:
            reason = POSITION_TOO_SMALL
        elif score < p.min_confidence:
            reason = CONFIDENCE
        elif not after_slip > 0.0:
            reason = UNPROFITABLE_AFTER_SLIPPAGE
        elif not (depth_long > p.min_depth_usd and depth_short > p.min_depth_usd):
            reason = THIN_BOOK
        else:
            reason = PASSED
        r["reason"] = reason


@jit(inline=True)
def _obi(bid_depth: float, ask_depth: float) -> float:
    """Order-book imbalance ``(bid - ask) / (bid + ask)`` in [-1, 1]; NaN without depth."""
    total = bid_depth + ask_depth
    if not total > 0.0:
        return np.nan
    return (bid_depth - ask_depth) / total


@jit(inline=True)
def _no_pair(r: np.ndarray) -> None:
    r["long_exchange"] = -1
    r["short_exchange"] = -1
    nan = np.nan
    r["long_price"] = nan
    r["short_price"] = nan
    r["mid"] = nan
    r["spread_bps"] = nan
    r["long_funding_8h"] = nan
    r["short_funding_8h"] = nan
    r["funding_delta_8h"] = nan
    r["funding_delta_projected"] = nan
    r["obi_long"] = nan
    r["obi_short"] = nan
    r["obi_ratio"] = nan
    r["oi_current"] = nan
    r["oi_24h_avg"] = nan
    r["vwap_deviation_long"] = nan
    r["vwap_deviation_short"] = nan
    r["vwap_deviation"] = nan
    r["atr_bps"] = nan
    r["atr_trend"] = False
    r["liquidation_cluster_distance"] = nan
    r["score_funding"] = nan
    r["score_obi"] = nan
    r["score_oi"] = nan
    r["score_vwap"] = nan
    r["score_volatility"] = nan
    r["score_liquidation"] = nan
    r["latency_long_ms"] = nan
    r["latency_short_ms"] = nan
    r["quote_age_long_ms"] = nan
    r["quote_age_short_ms"] = nan
    r["stale_other_exchanges"] = 0
    r["order_book_depth_sufficient"] = False
    r["exchange_latency_ok"] = False
    r["funding_delta_substantial"] = False
    r["raw_score"] = 0
    r["latency_penalty"] = 0
    r["confidence_score"] = 0
    r["order_book_depth_long"] = nan
    r["order_book_depth_short"] = nan
    r["fees_bps"] = nan
    r["funding_cost_bps"] = nan
    r["position_size_usd"] = 0.0
    r["slippage_long"] = nan
    r["slippage_short"] = nan
    r["projected_profit_usd"] = nan
    r["projected_profit_after_slippage"] = nan
    r["reason"] = NO_PAIR
