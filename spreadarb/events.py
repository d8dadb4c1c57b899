"""The event log and the daily table of a backtest (the seed's monitoring module).

Both are derived from the record arrays of a :class:`~spreadarb.results.BacktestResult`;
nothing here runs the engine again. ``docs/metrics.md`` lists every event kind, its
columns, and what the engine does not record.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from spreadarb.enums import (
    EXIT_REASON_LABELS,
    REASON_LABELS,
    REJECT_REASON_LABELS,
    ExitReason,
    Reason,
    RejectReason,
    TradeStatus,
)

if TYPE_CHECKING:
    import pandas as pd

    from spreadarb.results import BacktestResult

NS_PER_S = 10**9

EVENT_KINDS: tuple[str, ...] = (
    "entry",
    "exit",
    "leg_out",
    "rejected_opportunity",
    "rejected_entry",
    "risk_violation",
    "latency_violation",
    "data_problem",
)
"""Values of the ``event`` column of :attr:`BacktestResult.events`, in tie-break order."""

EVENT_COLUMNS: tuple[str, ...] = (
    "ts",
    "event",
    "trade_id",
    "symbol",
    "long_exchange",
    "short_exchange",
    "exchange",
    "leg",
    "long_price",
    "short_price",
    "spread_bps",
    "size_usd",
    "pnl_usd",
    "value",
    "limit",
    "duration_s",
    "reason",
    "message",
)

# The engine's rejection reasons, with the config limit each one stands for.
_REJECT_LIMITS = {
    RejectReason.HARDER_LEG_UNFILLED: "entry_timeout_ms",
    RejectReason.SYMBOL_BUSY: "max_trades_per_symbol",
    RejectReason.POSITION_TOO_SMALL: "min_position_usd",
    RejectReason.DEPTH: "depth_multiple",
    RejectReason.UNPROFITABLE_AFTER_SLIPPAGE: "projected_profit_after_slippage",
    RejectReason.NO_BOOK: "quote",
}


def runs(flag: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Start and end (exclusive) indices of the runs of ``True`` in a boolean array.

    Equivalent to grouping ``flag.ne(flag.shift()).cumsum()`` in pandas and keeping the
    groups that are ``True``.
    """
    padded = np.concatenate(([False], np.asarray(flag, dtype=bool), [False]))
    edges = np.flatnonzero(padded[1:] != padded[:-1])
    return edges[0::2], edges[1::2]


def run_durations_s(grid: np.ndarray, start: np.ndarray, end: np.ndarray) -> np.ndarray:
    """Seconds from ``grid[start]`` to ``grid[end]`` (to the last grid time for a run
    that reaches the end): each grid time stands for the interval up to the next one."""
    if grid.size == 0:
        return np.zeros(start.size)
    stop = grid[np.minimum(end, grid.size - 1)]
    return (stop - grid[start]) / NS_PER_S


def _part(n: int, kind: str, **columns: object) -> pd.DataFrame:
    """One kind of event as a frame with every column of :data:`EVENT_COLUMNS`."""
    import pandas as pd

    base: dict[str, object] = {
        "ts": np.zeros(n, dtype=np.int64),
        "event": kind,
        "trade_id": np.full(n, -1, dtype=np.int64),
        "symbol": np.full(n, -1, dtype=np.int64),
        "long_exchange": np.full(n, -1, dtype=np.int64),
        "short_exchange": np.full(n, -1, dtype=np.int64),
        "exchange": np.full(n, -1, dtype=np.int64),
        "leg": "",
        "long_price": np.full(n, np.nan),
        "short_price": np.full(n, np.nan),
        "spread_bps": np.full(n, np.nan),
        "size_usd": np.full(n, np.nan),
        "pnl_usd": np.full(n, np.nan),
        "value": np.full(n, np.nan),
        "limit": np.full(n, np.nan),
        "duration_s": np.full(n, np.nan),
        "reason": "",
        "message": "",
    }
    base.update(columns)
    return pd.DataFrame(base, index=pd.RangeIndex(n))


def _names(codes: np.ndarray, labels: Sequence[str]) -> list[str]:
    return [labels[c] if c >= 0 else "-" for c in np.asarray(codes).tolist()]


def _sym_pair(
    records: np.ndarray, symbols: Sequence[str], exchanges: Sequence[str]
) -> tuple[list[str], list[str], list[str]]:
    """Symbol, long exchange and short exchange names of trade-like records."""
    return (
        _names(records["symbol"], symbols),
        _names(records["long_exchange"], exchanges),
        _names(records["short_exchange"], exchanges),
    )


def events_frame(result: BacktestResult) -> pd.DataFrame:
    """One row per item the seed's monitoring module logs, in time order.

    See :attr:`spreadarb.results.BacktestResult.events` and ``docs/metrics.md``.
    """
    import pandas as pd

    cfg = result.config
    ex, sym = result.dataset_exchanges, result.dataset_symbols
    parts: list[pd.DataFrame] = []
    t = result.trade_records

    # Trade entries: every trade whose two legs got in (filled or hedged).
    entered = t[t["entry_time"] >= 0]
    s, lx, sx = _sym_pair(entered, sym, ex)
    parts.append(
        _part(
            entered.size,
            "entry",
            ts=entered["entry_time"],
            trade_id=entered["id"],
            symbol=entered["symbol"],
            long_exchange=entered["long_exchange"],
            short_exchange=entered["short_exchange"],
            long_price=entered["entry_long_price"],
            short_price=entered["entry_short_price"],
            spread_bps=entered["entry_spread_bps"],
            size_usd=entered["position_size_usd"],
            value=entered["confidence_score"].astype(np.float64),
            limit=float(cfg.min_confidence),
            reason="confidence_score",
            message=[
                f"entry #{i} {a}: long {b} @ {lp:.6g}, short {c} @ {sp:.6g}, "
                f"spread {sb:.2f} bps, size ${sz:,.2f}, score {sc}"
                for i, a, b, c, lp, sp, sb, sz, sc in zip(
                    entered["id"].tolist(),
                    s,
                    lx,
                    sx,
                    entered["entry_long_price"].tolist(),
                    entered["entry_short_price"].tolist(),
                    entered["entry_spread_bps"].tolist(),
                    entered["position_size_usd"].tolist(),
                    entered["confidence_score"].tolist(),
                    strict=True,
                )
            ],
        )
    )

    # Trade exits with the profit and the reason.
    closed = t[t["status"] == TradeStatus.CLOSED]
    s, lx, sx = _sym_pair(closed, sym, ex)
    reasons = _names(closed["exit_reason"], EXIT_REASON_LABELS)
    parts.append(
        _part(
            closed.size,
            "exit",
            ts=closed["exit_time"],
            trade_id=closed["id"],
            symbol=closed["symbol"],
            long_exchange=closed["long_exchange"],
            short_exchange=closed["short_exchange"],
            long_price=closed["exit_long_price"],
            short_price=closed["exit_short_price"],
            spread_bps=closed["exit_spread_bps"],
            size_usd=closed["position_size_usd"],
            pnl_usd=closed["pnl_net"],
            value=closed["actual_profit_usd"],
            reason=reasons,
            message=[
                f"exit #{i} {a} ({r}): long {b} @ {lp:.6g}, short {c} @ {sp:.6g}, "
                f"spread {sb:.2f} bps, profit ${ap:,.2f} before leg-outs, ${pn:,.2f} net"
                for i, a, r, b, c, lp, sp, sb, ap, pn in zip(
                    closed["id"].tolist(),
                    s,
                    reasons,
                    lx,
                    sx,
                    closed["exit_long_price"].tolist(),
                    closed["exit_short_price"].tolist(),
                    closed["exit_spread_bps"].tolist(),
                    closed["actual_profit_usd"].tolist(),
                    closed["pnl_net"].tolist(),
                    strict=True,
                )
            ],
        )
    )

    # Leg-outs: which leg filled, where and at what the other leg was hedged.
    lo = result.leg_out_records
    by_id = {int(i): k for k, i in enumerate(t["id"].tolist())}
    rows = np.array([by_id[int(i)] for i in lo["trade_id"].tolist()], dtype=np.int64)
    owner = t[rows] if rows.size else t[:0]
    filled_long = lo["filled_leg_is_long"]
    hedge_ex = np.where(filled_long, owner["short_exchange"], owner["long_exchange"])
    filled_ex = np.where(filled_long, owner["long_exchange"], owner["short_exchange"])
    legs = np.where(filled_long, "long", "short")
    when = np.where(lo["on_exit"], "exit", "entry")
    parts.append(
        _part(
            lo.size,
            "leg_out",
            ts=lo["hedge_time"],
            trade_id=lo["trade_id"],
            symbol=owner["symbol"],
            long_exchange=owner["long_exchange"],
            short_exchange=owner["short_exchange"],
            exchange=hedge_ex,
            leg=legs,
            long_price=np.where(filled_long, np.nan, lo["hedge_price"]),
            short_price=np.where(filled_long, lo["hedge_price"], np.nan),
            size_usd=lo["qty"] * lo["intended_price"],
            pnl_usd=-lo["cost"],
            value=lo["hedge_price"],
            limit=lo["intended_price"],
            duration_s=(lo["hedge_time"] - lo["filled_at"]) / NS_PER_S,
            reason=when,
            message=[
                f"leg-out on {w} of #{i} {a}: {leg} leg filled on {f}; other leg hedged "
                f"at market on {h} @ {hp:.6g} (intended {ip:.6g}), cost ${c:,.2f}"
                for w, i, a, leg, f, h, hp, ip, c in zip(
                    when.tolist(),
                    lo["trade_id"].tolist(),
                    _names(owner["symbol"], sym),
                    legs.tolist(),
                    _names(filled_ex, ex),
                    _names(hedge_ex, ex),
                    lo["hedge_price"].tolist(),
                    lo["intended_price"].tolist(),
                    lo["cost"].tolist(),
                    strict=True,
                )
            ],
        )
    )

    # Rejected opportunities: scan rows that failed a hard constraint (the seed logs these).
    opp = result.opportunity_records
    hard = opp[np.isin(opp["reason"], [Reason.DEPTH, Reason.LATENCY, Reason.FUNDING_DELTA])]
    code = hard["reason"]
    # The latency constraint fails on a slow venue or on a stale quote: report whichever.
    worst_latency = np.fmax(hard["latency_long_ms"], hard["latency_short_ms"])
    worst_age = np.fmax(hard["quote_age_long_ms"], hard["quote_age_short_ms"])
    with np.errstate(invalid="ignore"):
        slow = ~(worst_latency <= cfg.max_latency_ms)
    is_latency = code == Reason.LATENCY
    is_funding = code == Reason.FUNDING_DELTA
    stale_quote = is_latency & ~slow
    value = np.select(
        [stale_quote, is_latency, is_funding],
        [worst_age, worst_latency, hard["funding_delta_8h"]],
        np.fmin(hard["order_book_depth_long"], hard["order_book_depth_short"]),
    )
    limit = np.select(
        [stale_quote, is_latency, is_funding],
        [
            np.full(hard.size, cfg.max_quote_age_s * 1e3),
            np.full(hard.size, cfg.max_latency_ms),
            np.full(hard.size, cfg.min_funding_delta_8h),
        ],
        cfg.depth_multiple * hard["position_size_usd"],
    )
    labels = _names(code, REASON_LABELS)
    what = np.select(
        [stale_quote, is_latency, is_funding],
        ["quote age (ms)", "latency (ms)", "funding delta (/8h)"],
        "depth (USD)",
    )
    parts.append(
        _part(
            hard.size,
            "rejected_opportunity",
            ts=hard["ts"],
            symbol=hard["symbol"],
            long_exchange=hard["long_exchange"],
            short_exchange=hard["short_exchange"],
            long_price=hard["long_price"],
            short_price=hard["short_price"],
            spread_bps=hard["spread_bps"],
            size_usd=np.where(hard["position_size_usd"] > 0, hard["position_size_usd"], np.nan),
            value=value,
            limit=limit,
            reason=labels,
            message=[
                f"rejected {a} long {b} / short {c}: hard constraint {r} failed, "
                f"{w} {v:.6g} vs limit {lim:.6g}"
                for a, b, c, r, w, v, lim in zip(
                    _names(hard["symbol"], sym),
                    _names(hard["long_exchange"], ex),
                    _names(hard["short_exchange"], ex),
                    labels,
                    what.tolist(),
                    value.tolist(),
                    limit.tolist(),
                    strict=True,
                )
            ],
        )
    )

    # Candidates the engine did not take or complete, with the constraint that failed.
    rej = result.rejection_records
    labels = _names(rej["reason"], REJECT_REASON_LABELS)
    limits = [_REJECT_LIMITS[RejectReason(c)] for c in rej["reason"].tolist()]
    parts.append(
        _part(
            rej.size,
            "rejected_entry",
            ts=rej["ts"],
            trade_id=rej["trade_id"],
            symbol=rej["symbol"],
            long_exchange=rej["long_exchange"],
            short_exchange=rej["short_exchange"],
            reason=labels,
            message=[
                f"entry not taken {a} long {b} / short {c}: {r} (limit: {lim})"
                for a, b, c, r, lim in zip(
                    _names(rej["symbol"], sym),
                    _names(rej["long_exchange"], ex),
                    _names(rej["short_exchange"], ex),
                    labels,
                    limits,
                    strict=True,
                )
            ],
        )
    )

    # Risk limits breached by open trades: the stop loss and the spread-widening exit.
    breached = closed[
        np.isin(closed["exit_reason"], [ExitReason.STOP_LOSS, ExitReason.SPREAD_WIDENING])
    ]
    is_stop = breached["exit_reason"] == ExitReason.STOP_LOSS
    limit_name = np.where(is_stop, "stop_loss_bps", "spread_widening_bps")
    limit_bps = np.where(is_stop, cfg.stop_loss_bps, cfg.spread_widening_bps)
    parts.append(
        _part(
            breached.size,
            "risk_violation",
            ts=breached["exit_signal_time"],
            trade_id=breached["id"],
            symbol=breached["symbol"],
            long_exchange=breached["long_exchange"],
            short_exchange=breached["short_exchange"],
            spread_bps=breached["entry_spread_bps"],
            size_usd=breached["position_size_usd"],
            limit=limit_bps,
            reason=limit_name,
            message=[
                f"risk limit {n} breached on #{i} {a}: closing spread above entry "
                f"{sb:.2f} bps + {lim:g} bps"
                for n, i, a, sb, lim in zip(
                    limit_name.tolist(),
                    breached["id"].tolist(),
                    _names(breached["symbol"], sym),
                    breached["entry_spread_bps"].tolist(),
                    limit_bps.tolist(),
                    strict=True,
                )
            ],
        )
    )

    # Latency violations and data problems: runs on the grid, one row per episode.
    grid = result.grid
    for e, name in enumerate(ex):
        lat = result.latency_ms[e] if result.latency_ms.size else np.empty(0)
        with np.errstate(invalid="ignore"):
            flags = {
                "latency_violation": np.isfinite(lat) & (lat > cfg.max_latency_ms),
                "feed_gap": np.isnan(lat),
                "clock_offset": lat < 0,
            }
        for problem, flag in flags.items():
            start, end = runs(flag)
            if not start.size:
                continue
            duration = run_durations_s(grid, start, end)
            if problem == "latency_violation":
                peak = np.array([np.max(lat[a:b]) for a, b in zip(start, end, strict=True)])
                parts.append(
                    _part(
                        start.size,
                        "latency_violation",
                        ts=grid[start],
                        exchange=e,
                        value=peak,
                        limit=float(cfg.max_latency_ms),
                        duration_s=duration,
                        reason="max_latency_ms",
                        message=[
                            f"latency on {name} above {cfg.max_latency_ms:g} ms for {d:g} s "
                            f"(peak {v:.1f} ms)"
                            for d, v in zip(duration.tolist(), peak.tolist(), strict=True)
                        ],
                    )
                )
                continue
            value = (
                np.array([np.min(lat[a:b]) for a, b in zip(start, end, strict=True)])
                if problem == "clock_offset"
                else np.full(start.size, np.nan)
            )
            text = (
                "no tickers in the latency window (feed silent or not recorded)"
                if problem == "feed_gap"
                else "negative latency: the recorder's clock is behind the exchange's"
            )
            parts.append(
                _part(
                    start.size,
                    "data_problem",
                    ts=grid[start],
                    exchange=e,
                    value=value,
                    duration_s=duration,
                    reason=problem,
                    message=[f"{name}: {text}, {d:g} s" for d in duration.tolist()],
                )
            )

    # Scan times where a symbol had no usable pair of venues (fewer than two quoting).
    opp_ts = opp["ts"]
    for k, name in enumerate(sym):
        mine = opp["symbol"] == k
        start, end = runs(opp["reason"][mine] == Reason.NO_PAIR)
        if not start.size:
            continue
        times = opp_ts[mine]
        duration = run_durations_s(times, start, end)
        parts.append(
            _part(
                start.size,
                "data_problem",
                ts=times[start],
                symbol=k,
                duration_s=duration,
                reason="no_pair",
                message=[
                    f"{name}: fewer than two venues with a usable quote for {d:g} s"
                    for d in duration.tolist()
                ],
            )
        )

    frame = pd.concat(parts, ignore_index=True)
    kind_code = pd.Categorical(frame["event"], categories=list(EVENT_KINDS))
    order = np.lexsort((kind_code.codes, frame["ts"].to_numpy()))
    frame = frame.iloc[order].reset_index(drop=True)
    frame["ts"] = pd.to_datetime(frame["ts"].to_numpy(), unit="ns", utc=True)
    frame["event"] = pd.Categorical(frame["event"], categories=list(EVENT_KINDS))
    for col, categories in (
        ("symbol", sym),
        ("long_exchange", ex),
        ("short_exchange", ex),
        ("exchange", ex),
    ):
        frame[col] = pd.Categorical.from_codes(
            frame[col].to_numpy(dtype=np.int64), dtype=pd.CategoricalDtype(list(categories))
        )
    return frame[list(EVENT_COLUMNS)]


DAILY_COLUMNS: tuple[str, ...] = (
    "trades_opened",
    "trades_closed",
    "wins",
    "losses",
    "win_rate",
    "pnl",
    "price_pnl",
    "funding_pnl",
    "fees",
    "slippage_cost",
    "leg_outs",
    "leg_out_cost",
    "rejected_entries",
    "equity_end",
)


def daily_frame(result: BacktestResult) -> pd.DataFrame:
    """The seed's ``strategy:metrics:daily``: one row per UTC day of the equity grid.

    See :attr:`spreadarb.results.BacktestResult.daily` and ``docs/metrics.md``.
    """
    import pandas as pd

    t = result.trade_records
    eq = result.equity_records
    closed = t[t["status"] == TradeStatus.CLOSED]
    stamps = [eq["ts"], t["entry_time"][t["entry_time"] >= 0], closed["exit_time"]]
    stamps.append(result.rejection_records["ts"])
    every = np.concatenate(stamps)
    if every.size == 0:
        counts = {"trades_opened", "trades_closed", "wins", "losses", "leg_outs"}
        counts.add("rejected_entries")
        return pd.DataFrame(
            {c: pd.Series(dtype=np.int64 if c in counts else np.float64) for c in DAILY_COLUMNS},
            index=pd.DatetimeIndex(np.array([], dtype="datetime64[ns]"), name="date").tz_localize(
                "UTC"
            ),
        )
    day_ns = 86_400 * NS_PER_S
    first, last = every.min() // day_ns, every.max() // day_ns
    n = int(last - first + 1)

    def per_day(ts: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
        counts = np.bincount(ts // day_ns - first, weights=weights, minlength=n)
        # bincount gives integers when ``weights`` is empty: sums are always float.
        return counts if weights is None else counts.astype(np.float64)

    day = closed["exit_time"]
    wins = per_day(day, (closed["pnl_net"] > 0).astype(np.float64)).astype(np.int64)
    n_closed = per_day(day).astype(np.int64)
    with np.errstate(invalid="ignore", divide="ignore"):
        win_rate = np.where(n_closed > 0, wins / n_closed, np.nan)
    equity_end = np.full(n, np.nan)
    if eq.size:
        eq_day = eq["ts"] // day_ns - first
        last_of_day = np.flatnonzero(np.append(eq_day[1:] != eq_day[:-1], True))
        equity_end[eq_day[last_of_day]] = eq["equity"][last_of_day]
    frame = pd.DataFrame(
        {
            "trades_opened": per_day(t["entry_time"][t["entry_time"] >= 0]).astype(np.int64),
            "trades_closed": n_closed,
            "wins": wins,
            "losses": n_closed - wins,
            "win_rate": win_rate,
            "pnl": per_day(day, closed["pnl_net"]),
            "price_pnl": per_day(day, closed["price_pnl"]),
            "funding_pnl": per_day(day, closed["funding_pnl"]),
            "fees": per_day(day, closed["fees"]),
            "slippage_cost": per_day(day, closed["slippage_cost"]),
            "leg_outs": per_day(day, closed["leg_out_count"].astype(np.float64)).astype(np.int64),
            "leg_out_cost": per_day(day, closed["leg_out_cost"]),
            "rejected_entries": per_day(result.rejection_records["ts"]).astype(np.int64),
            "equity_end": equity_end,
        },
        index=pd.DatetimeIndex(
            pd.to_datetime((first + np.arange(n)) * day_ns, unit="ns", utc=True), name="date"
        ),
    )
    return frame
