"""Integer codes used by the kernels and every record dtype, defined once.

Kernels write records into preallocated numpy structured arrays of these dtypes;
the API edge turns them into DataFrames and codes into labels (``*_LABELS``).
"""

from __future__ import annotations

from enum import IntEnum

import numpy as np


class Reason(IntEnum):
    """First reason a scanned opportunity did not pass (``PASSED`` when it did).

    The order of the checks is the order of this enum after ``PASSED`` (SPEC §4):
    no usable pair, the seed's hard constraints in the seed's order (depth,
    latency, funding delta), then the scanner's filters (spread vs costs, position
    size, confidence, profit after slippage, book depth).
    """

    PASSED = 0
    NO_PAIR = 1  # fewer than two venues quoting the symbol, or best bid and ask on one venue
    DEPTH = 2  # hard: depth on a leg < depth_multiple x position size
    LATENCY = 3  # hard: a leg's exchange latency > max or its quote stale
    FUNDING_DELTA = 4  # hard: funding delta <= min_funding_delta_8h
    SPREAD_BELOW_COSTS = 5  # spread < min_spread_bps or <= fees + funding cost
    POSITION_TOO_SMALL = 6  # sized position below min_position_usd
    CONFIDENCE = 7  # score < min_confidence
    UNPROFITABLE_AFTER_SLIPPAGE = 8  # projected profit after slippage <= 0
    THIN_BOOK = 9  # depth <= min_depth_usd on a leg


REASON_LABELS: tuple[str, ...] = tuple(r.name.lower() for r in Reason)
"""Label of each :class:`Reason` code, indexable by the code."""

HARD_REASONS = frozenset({Reason.DEPTH, Reason.LATENCY, Reason.FUNDING_DELTA})

opportunity_dt = np.dtype(
    [
        ("ts", np.int64),  # scan time, ns UTC
        ("symbol", np.int32),  # index into Dataset.symbols
        ("long_exchange", np.int32),  # index into Dataset.exchanges, -1 if none
        ("short_exchange", np.int32),
        ("long_price", np.float64),  # best ask on the long venue
        ("short_price", np.float64),  # best bid on the short venue
        ("mid", np.float64),
        ("spread_bps", np.float64),
        ("long_funding_8h", np.float64),
        ("short_funding_8h", np.float64),
        ("funding_delta_8h", np.float64),
        ("funding_delta_projected", np.float64),
        ("obi_long", np.float64),
        ("obi_short", np.float64),
        ("obi_ratio", np.float64),
        ("oi_current", np.float64),
        ("oi_24h_avg", np.float64),
        ("vwap_deviation_long", np.float64),
        ("vwap_deviation_short", np.float64),
        ("vwap_deviation", np.float64),
        ("atr_bps", np.float64),
        ("atr_trend", np.bool_),
        ("liquidation_cluster_distance", np.float64),
        ("score_funding", np.float64),
        ("score_obi", np.float64),
        ("score_oi", np.float64),
        ("score_vwap", np.float64),
        ("score_volatility", np.float64),
        ("score_liquidation", np.float64),
        ("latency_long_ms", np.float64),
        ("latency_short_ms", np.float64),
        ("quote_age_long_ms", np.float64),
        ("quote_age_short_ms", np.float64),
        ("stale_other_exchanges", np.int32),
        ("order_book_depth_sufficient", np.bool_),
        ("exchange_latency_ok", np.bool_),
        ("funding_delta_substantial", np.bool_),
        ("raw_score", np.int32),
        ("latency_penalty", np.int32),
        ("confidence_score", np.int32),
        ("order_book_depth_long", np.float64),
        ("order_book_depth_short", np.float64),
        ("fees_bps", np.float64),
        ("funding_cost_bps", np.float64),
        ("position_size_usd", np.float64),
        ("slippage_long", np.float64),
        ("slippage_short", np.float64),
        ("projected_profit_usd", np.float64),
        ("projected_profit_after_slippage", np.float64),
        ("reason", np.int8),
        ("rank", np.int32),  # 1..top_n among passing rows of the scan time, 0 otherwise
    ],
    align=True,
)
"""One row of the opportunity log: one symbol at one scan time (SPEC §4, seed's
``ArbitrageOpportunity`` and ``ConfluenceMetrics`` field names)."""
