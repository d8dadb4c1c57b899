"""Portfolio metrics: pure functions over a backtest's record arrays (SPEC §6).

Formulas are documented in ``docs/metrics.md``; each function states its own.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np

from spreadarb.enums import (
    REASON_LABELS,
    REJECT_REASON_LABELS,
    OrderPurpose,
    OrderStatus,
    Reason,
    TradeStatus,
)

if TYPE_CHECKING:
    from spreadarb.results import BacktestResult

NS_PER_S = 10**9
NS_PER_DAY = 86_400 * NS_PER_S
MINUTES_PER_YEAR = 365 * 24 * 60


def minute_returns(ts: np.ndarray, equity: np.ndarray) -> np.ndarray:
    """Simple returns of equity sampled at the last grid point of each UTC minute."""
    if ts.size == 0:
        return np.empty(0)
    minute = ts // (60 * NS_PER_S)
    last = np.flatnonzero(np.append(minute[1:] != minute[:-1], True))
    sampled = equity[last]
    return np.diff(sampled) / sampled[:-1]


def sharpe_ratio(returns: np.ndarray, periods_per_year: float) -> float:
    """``mean / std (ddof=1) * sqrt(periods_per_year)``; NaN with < 2 returns or std 0."""
    if returns.size < 2:
        return math.nan
    sd = float(np.std(returns, ddof=1))
    return float(np.mean(returns)) / sd * math.sqrt(periods_per_year) if sd > 0 else math.nan


def sortino_ratio(returns: np.ndarray, periods_per_year: float) -> float:
    """``mean / sqrt(mean(min(r, 0)**2)) * sqrt(periods_per_year)``; NaN without downside."""
    if returns.size < 2:
        return math.nan
    downside = math.sqrt(float(np.mean(np.minimum(returns, 0.0) ** 2)))
    if downside == 0:
        return math.nan
    return float(np.mean(returns)) / downside * math.sqrt(periods_per_year)


def max_drawdown(ts: np.ndarray, equity: np.ndarray) -> tuple[float, float, float]:
    """Largest fall of equity from a running peak: (USD, fraction of the peak, duration s).

    The duration is the longest time equity spent below a previous peak (until it got
    back to it, or to the end of the data).
    """
    if equity.size == 0:
        return 0.0, 0.0, 0.0
    peak = np.maximum.accumulate(equity)
    drawdown = equity - peak
    worst = int(np.argmin(drawdown))
    usd = float(-drawdown[worst])
    frac = usd / float(peak[worst]) if peak[worst] > 0 else 0.0
    # Each spell below the peak runs from the point before its first (the peak; the
    # first point if the data starts below) to the first point back at the peak, or the
    # last point if it never gets back.
    edges = np.diff((drawdown < 0).astype(np.int8), prepend=np.int8(0), append=np.int8(0))
    first_below = np.flatnonzero(edges == 1)
    back = np.flatnonzero(edges == -1)  # one past each spell's last point below
    if first_below.size == 0:
        return usd, frac, 0.0
    begin = np.maximum(first_below - 1, 0)
    end = np.minimum(back, equity.size - 1)
    longest = int((ts[end] - ts[begin]).max())
    return usd, frac, longest / NS_PER_S


def holding_time_distribution(seconds: np.ndarray) -> dict[str, float]:
    """Count, mean and quantiles (min, 10, 25, 50, 75, 90 %, max) of holding times in s.

    Quantiles are numpy's default (linear interpolation, ``pandas.Series.quantile``);
    every value is NaN when there is no closed trade.
    """
    out: dict[str, float] = {"count": float(seconds.size)}
    if seconds.size == 0:
        out["mean"] = math.nan
        out.update(dict.fromkeys(("min", "p10", "p25", "p50", "p75", "p90", "max"), math.nan))
        return out
    out["mean"] = float(np.mean(seconds))
    keys = ("min", "p10", "p25", "p50", "p75", "p90", "max")
    quantiles = np.percentile(seconds, [0, 10, 25, 50, 75, 90, 100])
    out.update(zip(keys, map(float, quantiles), strict=True))
    return out


def latency_statistics(
    grid: np.ndarray, latency_ms: np.ndarray, max_latency_ms: float
) -> dict[str, float]:
    """One venue's latency on the grid: mean, median, p99, max of the known values, and
    how long it was stale.

    A grid time is stale when the latency is unknown (no tickers in the rolling window)
    or above ``max_latency_ms``. ``stale_fraction`` is the share of grid times that are
    stale; ``stale_time_s`` weighs each grid time by the interval to the next one (the
    last grid time weighs 0), so it is the time the venue spent stale;
    ``unknown_fraction`` is the share of grid times with no latency at all.
    """
    nan = math.nan
    known = latency_ms[np.isfinite(latency_ms)]
    with np.errstate(invalid="ignore"):
        stale = ~(latency_ms <= max_latency_ms)
    widths = np.diff(grid, append=grid[-1:]) if grid.size else np.empty(0, dtype=np.int64)
    n = latency_ms.size
    p50, p99 = map(float, np.percentile(known, [50, 99])) if known.size else (nan, nan)
    return {
        "mean_ms": float(known.mean()) if known.size else nan,
        "p50_ms": p50,
        "p99_ms": p99,
        "max_ms": float(known.max()) if known.size else nan,
        "stale_fraction": float(stale.mean()) if n else 0.0,
        "stale_time_s": float(widths[stale].sum()) / NS_PER_S if n else 0.0,
        "unknown_fraction": float(np.isnan(latency_ms).mean()) if n else 0.0,
    }


def _fill_rate(orders: np.ndarray, purpose: OrderPurpose) -> tuple[float, int]:
    """(filled / sent, filled) for the orders of one purpose; NaN rate if none was sent."""
    sent = orders[orders["purpose"] == purpose]
    filled = int((sent["status"] == OrderStatus.FILLED).sum())
    return (filled / sent.size if sent.size else math.nan), filled


def venue_latency_statistics(result: BacktestResult) -> dict[str, dict[str, float]]:
    """:func:`latency_statistics` of every venue of a backtest result, by name.

    They depend only on the result's market features (grid, latency, ``max_latency_ms``),
    not on the rest of its config: a sweep computes them once per feature set.
    """
    return {
        name: latency_statistics(
            result.grid,
            result.latency_ms[e] if result.latency_ms.size else np.empty(0),
            result.config.max_latency_ms,
        )
        for e, name in enumerate(result.dataset_exchanges)
    }


def portfolio_metrics(
    result: BacktestResult, *, latency: dict[str, dict[str, float]] | None = None
) -> dict[str, Any]:
    """Every metric of SPEC §6 for a backtest result (formulas: ``docs/metrics.md``).

    ``latency``: the result's :func:`venue_latency_statistics`, when the caller has them
    already (computed here otherwise).
    """
    t = result.trade_records
    closed = t[t["status"] == TradeStatus.CLOSED]
    wins = int((closed["pnl_net"] > 0).sum())
    losses = int(closed.size - wins)
    cumulative = float(closed["pnl_net"].sum())
    capital = float(result.config.starting_capital)
    eq = result.equity_records
    days = float(eq["ts"][-1] - eq["ts"][0]) / NS_PER_DAY if eq.size > 1 else 0.0
    leg_out_loss = float(closed["leg_out_cost"].sum())
    returns = minute_returns(eq["ts"], eq["equity"])
    dd_usd, dd_frac, dd_s = max_drawdown(eq["ts"], eq["equity"])
    orders = result.order_records
    harder_rate, harder_filled = _fill_rate(orders, OrderPurpose.ENTRY_HARDER)
    easier_rate, _ = _fill_rate(orders, OrderPurpose.ENTRY_EASIER)
    exit_rate, _ = _fill_rate(orders, OrderPurpose.EXIT_LIMIT)
    entry_leg_outs = int((~result.leg_out_records["on_exit"]).sum())
    held = (closed["exit_time"] - closed["entry_time"]) / NS_PER_S
    opp = result.opportunity_records
    by_reason = np.bincount(opp["reason"], minlength=len(REASON_LABELS))
    scan_reasons = {
        REASON_LABELS[code]: int(by_reason[code])
        for code in range(len(REASON_LABELS))
        if code != Reason.PASSED
    }
    by_rejection = np.bincount(
        result.rejection_records["reason"], minlength=len(REJECT_REASON_LABELS)
    )
    backtest_reasons = {
        label: int(by_rejection[code]) for code, label in enumerate(REJECT_REASON_LABELS)
    }
    if latency is None:
        latency = venue_latency_statistics(result)
    return {
        "starting_capital": capital,
        "final_equity": capital + cumulative,
        "cumulative_pnl": cumulative,
        "trades_opened": int(t.size),
        "trades_closed": int(closed.size),
        "trades_rejected": int((t["status"] == TradeStatus.REJECTED).sum()),
        "win_count": wins,
        "loss_count": losses,
        "win_rate": wins / (wins + losses) if wins + losses else math.nan,
        "average_profit": cumulative / closed.size if closed.size else math.nan,
        "capital_utilisation": float(eq["allocated"].mean() / capital) if eq.size else 0.0,
        "leg_out_count": int(closed["leg_out_count"].sum()),
        "leg_out_total_loss": leg_out_loss,
        "leg_out_loss_rate": leg_out_loss / cumulative if cumulative else math.nan,
        "realistic_apr": (cumulative / capital) / (days / 365.0) if days > 0 else math.nan,
        "days_elapsed": days,
        "trades_per_day": closed.size / days if days > 0 else math.nan,
        "price_pnl": float(closed["price_pnl"].sum()),
        "funding_pnl": float(closed["funding_pnl"].sum()),
        "fees": float(closed["fees"].sum()),
        "slippage_cost": float(closed["slippage_cost"].sum()),
        "sharpe": sharpe_ratio(returns, MINUTES_PER_YEAR),
        "sortino": sortino_ratio(returns, MINUTES_PER_YEAR),
        "max_drawdown_usd": dd_usd,
        "max_drawdown_pct": dd_frac,
        "max_drawdown_duration_s": dd_s,
        "harder_leg_fill_rate": harder_rate,
        "easier_leg_fill_rate": easier_rate,
        "exit_limit_fill_rate": exit_rate,
        "leg_out_rate": entry_leg_outs / harder_filled if harder_filled else math.nan,
        "exit_leg_outs": int(result.leg_out_records["on_exit"].sum()),
        "holding_time_median_s": float(np.median(held)) if held.size else math.nan,
        "holding_time_mean_s": float(np.mean(held)) if held.size else math.nan,
        "holding_time_s": holding_time_distribution(held),
        "scan_rejections": scan_reasons,
        "backtest_rejections": backtest_reasons,
        "latency_by_exchange": latency,
    }
