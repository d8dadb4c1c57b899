"""The opportunity scan of one symbol over the scan grid (SPEC §4).

Inputs are the as-of market state of the symbol's venues on the grid (2-D arrays,
one row per venue), computed by :mod:`spreadarb.state`; the output is one
``opportunity_dt`` record per scan time, written into a preallocated array.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from spreadarb._jit import jit
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
def choose_pair_nb(bid: np.ndarray, ask: np.ndarray, k: int) -> tuple[int, int]:
    """Long venue (lowest ask) and short venue (highest bid) at grid point ``k``.

    Venues without a quote (NaN) are skipped; ties go to the lower venue index. If one
    venue has both the lowest ask and the highest bid, the better of (it long, best
    other bid short) and (best other ask long, it short) by spread is taken. Returns
    ``(-1, -1)`` when fewer than two venues quote.
    """
    n = bid.shape[0]
    lo = -1
    hi = -1
    for j in range(n):
        a = ask[j, k]
        b = bid[j, k]
        if math.isnan(a) or math.isnan(b):
            continue
        if lo < 0 or a < ask[lo, k]:
            lo = j
        if hi < 0 or b > bid[hi, k]:
            hi = j
    if lo < 0 or lo != hi:
        return lo, hi
    # One venue is best on both sides: pair it with the best other venue.
    other_bid = -1
    other_ask = -1
    for j in range(n):
        if j == lo or math.isnan(ask[j, k]) or math.isnan(bid[j, k]):
            continue
        if other_bid < 0 or bid[j, k] > bid[other_bid, k]:
            other_bid = j
        if other_ask < 0 or ask[j, k] < ask[other_ask, k]:
            other_ask = j
    if other_bid < 0:
        return -1, -1
    if bid[other_bid, k] - ask[lo, k] >= bid[lo, k] - ask[other_ask, k]:
        return lo, other_bid
    return other_ask, lo


@jit
def scan_symbol_nb(
    grid: np.ndarray,
    symbol: int,
    venue_exchange: np.ndarray,
    bid: np.ndarray,
    ask: np.ndarray,
    bid_depth: np.ndarray,
    ask_depth: np.ndarray,
    funding_8h: np.ndarray,
    predicted_8h: np.ndarray,
    oi: np.ndarray,
    oi_avg: np.ndarray,
    vwap_dev: np.ndarray,
    atr_bps: np.ndarray,
    atr_falling: np.ndarray,
    quote_age_ns: np.ndarray,
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

    Parameters
    ----------
    grid
        ``(m,)`` scan times, int64 ns.
    symbol
        Symbol index written to the records.
    venue_exchange
        ``(J,)`` exchange index of each of the symbol's venues (rows of the 2-D inputs).
    bid, ask, bid_depth, ask_depth, funding_8h, predicted_8h, oi, oi_avg, vwap_dev, atr_bps
        ``(J, m)`` float64 as-of state; NaN where unknown (no quote yet: ``bid``/``ask``).
        Funding is per 8 h; ``vwap_dev`` is (mid - VWAP) / sd; ``atr_bps`` in bps of mid.
    atr_falling
        ``(J, m)`` bool: the venue's ATR is falling.
    quote_age_ns
        ``(J, m)`` float64: age of the as-of quote (NaN: none).
    latency_ms
        ``(J, m)`` float64: the venue's exchange latency (rolling mean; NaN: unknown).
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
        r = out[k]
        r["ts"] = grid[k]
        r["symbol"] = symbol
        r["rank"] = 0
        lo, hi = choose_pair_nb(bid, ask, k)
        if lo < 0:
            _no_pair(r)
            continue
        ex_long = venue_exchange[lo]
        ex_short = venue_exchange[hi]
        r["long_exchange"] = ex_long
        r["short_exchange"] = ex_short
        long_px = ask[lo, k]
        short_px = bid[hi, k]
        mid = 0.5 * (long_px + short_px)
        spread_bps = (short_px - long_px) / mid * 1e4
        r["long_price"] = long_px
        r["short_price"] = short_px
        r["mid"] = mid
        r["spread_bps"] = spread_bps

        f_long = funding_8h[lo, k]
        f_short = funding_8h[hi, k]
        delta = f_short - f_long
        r["long_funding_8h"] = f_long
        r["short_funding_8h"] = f_short
        r["funding_delta_8h"] = delta
        r["funding_delta_projected"] = predicted_8h[hi, k] - predicted_8h[lo, k]

        # Depth we would take if we had to cross: the ask side where we buy, bid where we sell.
        depth_long = ask_depth[lo, k]
        depth_short = bid_depth[hi, k]
        r["order_book_depth_long"] = depth_long
        r["order_book_depth_short"] = depth_short

        # Soft metrics and their sub-scores.
        obi_long = _obi(bid_depth[lo, k], ask_depth[lo, k])
        obi_short = _obi(bid_depth[hi, k], ask_depth[hi, k])
        obi = 0.5 * (obi_long - obi_short)
        r["obi_long"] = obi_long
        r["obi_short"] = obi_short
        r["obi_ratio"] = obi
        oi_now = oi[lo, k] + oi[hi, k]
        oi_mean = oi_avg[lo, k] + oi_avg[hi, k]
        r["oi_current"] = oi_now
        r["oi_24h_avg"] = oi_mean
        oi_dev = oi_now / oi_mean - 1.0 if oi_mean > 0.0 else np.nan
        dev_long = vwap_dev[lo, k]
        dev_short = vwap_dev[hi, k]
        vwap = 0.5 * (dev_short - dev_long)
        r["vwap_deviation_long"] = dev_long
        r["vwap_deviation_short"] = dev_short
        r["vwap_deviation"] = vwap
        a_long = atr_bps[lo, k]
        a_short = atr_bps[hi, k]
        atr = a_long if (math.isnan(a_short) or a_long > a_short) else a_short
        falling = atr_falling[lo, k] and atr_falling[hi, k]
        r["atr_bps"] = atr
        r["atr_trend"] = falling
        liq = liq_distance_bps[k]
        r["liquidation_cluster_distance"] = liq

        s_f = funding_score_nb(delta, p.funding_saturation_8h)
        s_obi = centred_score_nb(obi, p.obi_scale)
        s_oi = centred_score_nb(oi_dev, p.oi_ratio_scale)
        s_vwap = centred_score_nb(vwap, p.vwap_scale_sd)
        s_vol = volatility_score_nb(atr, falling, p.atr_scale_bps)
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
        lat_long = latency_ms[lo, k]
        lat_short = latency_ms[hi, k]
        r["latency_long_ms"] = lat_long
        r["latency_short_ms"] = lat_short
        age_long = quote_age_ns[lo, k]
        age_short = quote_age_ns[hi, k]
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
