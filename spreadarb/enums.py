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
    align=False,  # packed: no padding bytes, so equal records are equal bytes
)
"""One row of the opportunity log: one symbol at one scan time (SPEC §4, seed's
``ArbitrageOpportunity`` and ``ConfluenceMetrics`` field names)."""


class TradeStatus(IntEnum):
    """Lifecycle of a trade (the seed's ``TradeStatus``, plus the rejection outcome)."""

    PENDING = 0  # entry orders working
    ACTIVE = 1  # both legs filled (or hedged)
    EXITING = 2  # exit orders working
    CLOSED = 3
    REJECTED = 4  # harder leg unfilled: cancelled, capital released


class ExitReason(IntEnum):
    """Why a trade was closed (SPEC §5). ``NONE`` while open or when rejected."""

    NONE = 0
    STOP_LOSS = 1
    SPREAD_WIDENING = 2
    PROFIT_TARGET = 3
    FUNDING_CONVERGENCE = 4
    END_OF_DATA = 5


class OrderPurpose(IntEnum):
    """Why an order was sent."""

    ENTRY_HARDER = 0
    ENTRY_EASIER = 1
    ENTRY_HEDGE = 2  # market order after the easier leg timed out (leg-out)
    EXIT_LIMIT = 3
    EXIT_MARKET = 4  # market order after an exit limit timed out
    END_OF_DATA = 5  # market order closing a leg at the end of the data


class OrderStatus(IntEnum):
    WORKING = 0
    FILLED = 1
    CANCELLED = 2


class RejectReason(IntEnum):
    """Why the backtest did not take (or did not complete) a passing opportunity."""

    HARDER_LEG_UNFILLED = 0
    SYMBOL_BUSY = 1  # already max_trades_per_symbol open or pending on the symbol
    POSITION_TOO_SMALL = 2  # re-sized with the available capital: below min_position_usd
    DEPTH = 3  # re-sized: book < depth_multiple x size
    UNPROFITABLE_AFTER_SLIPPAGE = 4  # re-sized: projected profit after slippage <= 0
    NO_BOOK = 5  # a leg has no quote at send time


TRADE_STATUS_LABELS = tuple(s.name.lower() for s in TradeStatus)
EXIT_REASON_LABELS = tuple(r.name.lower() for r in ExitReason)
ORDER_PURPOSE_LABELS = tuple(p.name.lower() for p in OrderPurpose)
ORDER_STATUS_LABELS = tuple(s.name.lower() for s in OrderStatus)
REJECT_REASON_LABELS = tuple(r.name.lower() for r in RejectReason)

trade_dt = np.dtype(
    [
        ("id", np.int64),
        ("symbol", np.int32),
        ("long_exchange", np.int32),
        ("short_exchange", np.int32),
        ("long_market", np.int32),
        ("short_market", np.int32),
        ("harder_leg_is_long", np.bool_),
        ("status", np.int8),
        ("opportunity_ts", np.int64),  # scan time that triggered the trade
        ("entry_time", np.int64),  # local time both legs were in (fill or hedge known)
        ("entry_long_time", np.int64),
        ("entry_short_time", np.int64),
        ("entry_long_price", np.float64),
        ("entry_short_price", np.float64),
        ("long_qty", np.float64),  # base units
        ("short_qty", np.float64),
        ("entry_spread_bps", np.float64),
        ("position_size_usd", np.float64),
        ("funding_delta_entry", np.float64),
        ("projected_profit_usd", np.float64),
        ("confidence_score", np.int32),
        ("exit_signal_time", np.int64),
        ("exit_time", np.int64),
        ("exit_long_price", np.float64),
        ("exit_short_price", np.float64),
        ("exit_spread_bps", np.float64),
        ("exit_reason", np.int8),
        ("price_pnl", np.float64),
        ("funding_pnl", np.float64),
        ("fees", np.float64),
        ("slippage_cost", np.float64),
        ("actual_profit_usd", np.float64),
        ("leg_out_cost", np.float64),
        ("pnl_net", np.float64),
        ("leg_out_count", np.int32),
    ],
    align=False,  # packed: no padding bytes, so equal records are equal bytes
)
"""One trade of the ledger (the seed's ``PaperTrade``), SPEC §6 accounting fields."""

order_dt = np.dtype(
    [
        ("id", np.int64),
        ("trade_id", np.int64),
        ("market", np.int32),
        ("exchange", np.int32),
        ("side", np.int8),  # +1 buy, -1 sell
        ("is_market", np.bool_),
        ("purpose", np.int8),
        ("status", np.int8),
        ("price", np.float64),  # limit price; touch price for market orders
        ("qty", np.float64),  # base units
        ("queue_ahead", np.float64),  # base units resting at the price when sent
        ("traded_at_price", np.float64),  # volume counted towards the queue
        ("send_time", np.int64),  # local
        ("arrive_time", np.int64),  # local: first event time that can fill it, send + 2 L
        ("cancel_time", np.int64),  # local: send + timeout + 2 L; int64 max if none
        ("fill_time", np.int64),  # local time the fill was known
        ("fill_exchange_time", np.int64),
        ("fill_price", np.float64),
        ("slippage", np.float64),  # fraction of price (market orders)
        ("fee", np.float64),  # USD
    ],
    align=False,  # packed: no padding bytes, so equal records are equal bytes
)
"""One simulated order (the seed's ``SimulatedOrder``)."""

leg_out_dt = np.dtype(
    [
        ("trade_id", np.int64),
        ("on_exit", np.bool_),  # False: entry leg-out; True: exit leg-out
        ("filled_leg_is_long", np.bool_),
        ("filled_at", np.int64),
        ("hedge_time", np.int64),
        ("intended_price", np.float64),
        ("hedge_price", np.float64),
        ("qty", np.float64),
        ("cost", np.float64),  # USD, worse-than-intended price plus the extra taker fee
    ],
    align=False,  # packed: no padding bytes, so equal records are equal bytes
)
"""One leg-out event (the seed's ``LegOutEvent``)."""

rejection_dt = np.dtype(
    [
        ("ts", np.int64),
        ("symbol", np.int32),
        ("long_exchange", np.int32),
        ("short_exchange", np.int32),
        ("reason", np.int8),
        ("trade_id", np.int64),  # -1 unless the trade was opened (harder leg unfilled)
    ],
    align=False,  # packed: no padding bytes, so equal records are equal bytes
)

equity_dt = np.dtype(
    [
        ("ts", np.int64),
        ("available_capital", np.float64),
        ("allocated", np.float64),
        ("realized_pnl", np.float64),
        ("unrealized_pnl", np.float64),
        ("equity", np.float64),
        ("open_trades", np.int32),
    ],
    align=False,  # packed: no padding bytes, so equal records are equal bytes
)
