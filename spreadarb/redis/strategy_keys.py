"""A backtest result written to the seed's ``strategy:*`` keys, so a live dashboard can show it.

Encoding (also in ``docs/redis.md``): every value is a UTF-8 JSON document; field names
are the seed's struct fields in snake_case (the result's DataFrame columns); times are
integer **milliseconds** since the Unix epoch, UTC (the seed's ``u64`` timestamps), or
``null`` when unset; exchanges, symbols and enum codes are their labels; NaN and
infinities are ``null``.

=======================================  ======  ==============================================
key                                      type    value
=======================================  ======  ==============================================
``{p}:opportunities:{ts_ms}``            string  JSON array: the scan's top opportunities at
                                                 that scan time, best first (TTL 60 s)
``{p}:portfolio:state``                  string  JSON object: the seed's ``PortfolioState``
                                                 at the end of the backtest
``{p}:trades:closed:{trade_id}``         string  JSON object: one closed trade with its orders
                                                 and leg-out events
``{p}:trades:active:{trade_id}``         string  as closed, for trades still open at the end
``{p}:metrics:daily``                    string  JSON object: ``days`` (one entry per UTC day)
                                                 and ``metrics`` (the whole run)
``{p}:latency:{exchange}``               string  JSON object: the seed's ``ExchangeLatency``
                                                 at the end, plus the run's latency stats
``{p}:leg_out_events``                   list    one JSON object per leg-out, in time order
=======================================  ======  ==============================================
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from spreadarb.enums import (
    EXIT_REASON_LABELS,
    ORDER_PURPOSE_LABELS,
    ORDER_STATUS_LABELS,
    TRADE_STATUS_LABELS,
    TradeStatus,
)

if TYPE_CHECKING:
    from spreadarb.results import BacktestResult

NS_PER_MS = 1_000_000
NS_PER_DAY = 86_400 * 10**9
OPPORTUNITIES_TTL_S = 60
"""The seed's TTL of ``strategy:opportunities:{timestamp}``."""
PIPELINE_CHUNK = 1000
"""Commands per pipelined round trip."""

_TRADE_TIMES = (
    "opportunity_ts",
    "entry_time",
    "entry_long_time",
    "entry_short_time",
    "exit_signal_time",
    "exit_time",
)
_ORDER_TIMES = ("send_time", "arrive_time", "cancel_time", "fill_time", "fill_exchange_time")
_INT64_MAX = np.iinfo(np.int64).max


def _ms(ns: int) -> int | None:
    """ns UTC to ms; unset (negative or int64 max) to ``None``."""
    ns = int(ns)
    return None if ns < 0 or ns == _INT64_MAX else ns // NS_PER_MS


def _value(v: Any) -> Any:
    if isinstance(v, np.bool_ | bool):
        return bool(v)
    if isinstance(v, np.integer):
        return int(v)
    if isinstance(v, np.floating | float):
        f = float(v)
        return f if math.isfinite(f) else None
    if isinstance(v, dict):
        return {k: _value(x) for k, x in v.items()}
    if isinstance(v, list | tuple):
        return [_value(x) for x in v]
    return v


def _label(labels: tuple[str, ...], code: int) -> str | None:
    return labels[code] if 0 <= code < len(labels) else None


def _dumps(obj: Any) -> str:
    return json.dumps(obj, separators=(",", ":"), allow_nan=False)


def _record(rec: np.void, times: Iterable[str] = ()) -> dict[str, Any]:
    out = {name: _value(rec[name]) for name in rec.dtype.names or ()}
    for name in times:
        out[name] = _ms(rec[name])
    return out


def opportunity_docs(result: BacktestResult) -> dict[int, list[dict[str, Any]]]:
    """The ranked opportunities of each scan time (ms), best first (the seed's top 20)."""
    opp = result.opportunity_records
    ranked = opp[opp["rank"] > 0]
    ranked = ranked[np.lexsort((ranked["rank"], ranked["ts"]))]
    out: dict[int, list[dict[str, Any]]] = {}
    exchanges, symbols = result.dataset_exchanges, result.dataset_symbols
    from spreadarb.enums import REASON_LABELS

    for rec in ranked:
        doc = _record(rec, ("ts",))
        doc["symbol"] = symbols[int(rec["symbol"])]
        doc["long_exchange"] = exchanges[int(rec["long_exchange"])]
        doc["short_exchange"] = exchanges[int(rec["short_exchange"])]
        doc["reason"] = _label(REASON_LABELS, int(rec["reason"]))
        out.setdefault(int(rec["ts"]) // NS_PER_MS, []).append(doc)
    return out


def trade_docs(result: BacktestResult) -> list[dict[str, Any]]:
    """Every trade (not the rejected ones) with its orders and leg-out events."""
    exchanges, symbols = result.dataset_exchanges, result.dataset_symbols
    orders = result.order_records
    legs = result.leg_out_records
    docs = []
    for rec in result.trade_records:
        status = int(rec["status"])
        if status == TradeStatus.REJECTED:
            continue
        doc = _record(rec, _TRADE_TIMES)
        del doc["long_market"], doc["short_market"]
        doc["symbol"] = symbols[int(rec["symbol"])]
        doc["long_exchange"] = exchanges[int(rec["long_exchange"])]
        doc["short_exchange"] = exchanges[int(rec["short_exchange"])]
        doc["status"] = _label(TRADE_STATUS_LABELS, status)
        doc["exit_reason"] = _label(EXIT_REASON_LABELS, int(rec["exit_reason"]))
        tid = int(rec["id"])
        doc["orders"] = [_order_doc(o, exchanges) for o in orders[orders["trade_id"] == tid]]
        doc["leg_out_events"] = [
            _leg_out_doc(e, rec, exchanges, symbols) for e in legs[legs["trade_id"] == tid]
        ]
        docs.append(doc)
    return docs


def _order_doc(rec: np.void, exchanges: tuple[str, ...]) -> dict[str, Any]:
    doc = _record(rec, _ORDER_TIMES)
    del doc["market"]
    doc["exchange"] = exchanges[int(rec["exchange"])]
    doc["purpose"] = _label(ORDER_PURPOSE_LABELS, int(rec["purpose"]))
    doc["status"] = _label(ORDER_STATUS_LABELS, int(rec["status"]))
    doc["side"] = "long" if int(rec["side"]) > 0 else "short"
    doc["order_type"] = "market" if bool(rec["is_market"]) else "limit"
    return doc


def _leg_out_doc(
    rec: np.void, trade: np.void, exchanges: tuple[str, ...], symbols: tuple[str, ...]
) -> dict[str, Any]:
    doc = _record(rec, ("filled_at", "hedge_time"))
    long_filled = bool(rec["filled_leg_is_long"])
    # The seed's LegOutEvent fields, then ours.
    doc["filled_leg"] = "long" if long_filled else "short"
    doc["unfilled_leg"] = "short" if long_filled else "long"
    doc["hedge_executed"] = True
    doc["symbol"] = symbols[int(trade["symbol"])]
    doc["long_exchange"] = exchanges[int(trade["long_exchange"])]
    doc["short_exchange"] = exchanges[int(trade["short_exchange"])]
    return doc


def leg_out_docs(result: BacktestResult) -> list[dict[str, Any]]:
    """Every leg-out event in time order (``filled_at``, then trade id)."""
    trades = {int(t["id"]): t for t in result.trade_records}
    legs = result.leg_out_records
    order = np.lexsort((legs["trade_id"], legs["filled_at"]))
    return [_leg_out_doc(legs[i], trades[int(legs[i]["trade_id"])], *_names(result)) for i in order]


def _names(result: BacktestResult) -> tuple[tuple[str, ...], tuple[str, ...]]:
    return result.dataset_exchanges, result.dataset_symbols


def portfolio_doc(result: BacktestResult) -> dict[str, Any]:
    """The seed's ``PortfolioState`` at the end of the backtest."""
    m = result.metrics
    eq = result.equity_records
    t = result.trade_records
    open_ids = [int(x) for x in t["id"][np.isin(t["status"], _OPEN)]]
    closed_ids = [int(x) for x in t["id"][t["status"] == TradeStatus.CLOSED]]
    last = eq[-1] if eq.size else None
    return _value(
        {
            "ts": _ms(last["ts"]) if last is not None else None,
            "starting_capital": m["starting_capital"],
            "available_capital": (
                float(last["available_capital"]) if last is not None else m["starting_capital"]
            ),
            "total_open_positions": float(last["allocated"]) if last is not None else 0.0,
            "equity": float(last["equity"]) if last is not None else m["starting_capital"],
            "cumulative_pnl": m["cumulative_pnl"],
            "win_count": m["win_count"],
            "loss_count": m["loss_count"],
            "leg_out_count": m["leg_out_count"],
            "leg_out_total_loss": m["leg_out_total_loss"],
            "active_trades": open_ids,
            "closed_trades": closed_ids,
        }
    )


_OPEN = [TradeStatus.PENDING, TradeStatus.ACTIVE, TradeStatus.EXITING]


def daily_doc(result: BacktestResult) -> dict[str, Any]:
    """Per UTC day (of the exit time) the closed trades' PnL, plus the run's metrics."""
    t = result.trade_records
    closed = t[t["status"] == TradeStatus.CLOSED]
    eq = result.equity_records
    days: dict[int, dict[str, Any]] = {}
    for day in np.unique(np.concatenate([closed["exit_time"], eq["ts"]]) // NS_PER_DAY):
        mine = closed[closed["exit_time"] // NS_PER_DAY == day]
        in_day = eq[eq["ts"] // NS_PER_DAY == day]
        pnl = mine["pnl_net"]
        days[int(day)] = {
            "date": str(np.datetime64(int(day), "D")),
            "trades_closed": int(mine.size),
            "win_count": int((pnl > 0).sum()),
            "loss_count": int((pnl <= 0).sum()),
            "pnl_net": float(pnl.sum()),
            "price_pnl": float(mine["price_pnl"].sum()),
            "funding_pnl": float(mine["funding_pnl"].sum()),
            "fees": float(mine["fees"].sum()),
            "slippage_cost": float(mine["slippage_cost"].sum()),
            "leg_out_count": int(mine["leg_out_count"].sum()),
            "leg_out_total_loss": float(mine["leg_out_cost"].sum()),
            "ending_equity": float(in_day["equity"][-1]) if in_day.size else None,
        }
    return _value({"days": [days[d] for d in sorted(days)], "metrics": result.metrics})


def latency_docs(result: BacktestResult) -> dict[str, dict[str, Any]]:
    """Per exchange: the seed's ``ExchangeLatency`` at the last known point, plus stats."""
    stats = result.metrics["latency_by_exchange"]
    out = {}
    for e, name in enumerate(result.dataset_exchanges):
        lat = result.latency_ms[e] if result.latency_ms.size else np.empty(0)
        known = np.flatnonzero(np.isfinite(lat))
        doc: dict[str, Any] = {"exchange": name}
        if known.size:
            i = int(known[-1])
            local_ms = int(result.grid[i]) // NS_PER_MS
            latency = float(lat[i])
            doc.update(
                local_time_ms=local_ms,
                server_time_ms=local_ms - round(latency),
                latency_ms=latency,
                is_stale=bool(latency > result.config.max_latency_ms),
            )
        else:
            doc.update(local_time_ms=None, server_time_ms=None, latency_ms=None, is_stale=True)
        doc.update(stats.get(name, {}))
        out[name] = _value(doc)
    return out


def to_redis(
    result: BacktestResult,
    client: Any,
    *,
    prefix: str = "strategy",
    opportunities_ttl_s: int | None = OPPORTUNITIES_TTL_S,
    clear: bool = False,
) -> dict[str, int]:
    """Write ``result`` to the seed's strategy keys, pipelined (encoding: module docstring).

    Parameters
    ----------
    result
        A backtest result.
    client
        A ``redis.Redis`` client (any object with ``pipeline`` and ``scan_iter``).
    prefix
        Key prefix (the seed's ``strategy``).
    opportunities_ttl_s
        TTL of each ``{prefix}:opportunities:{ts}`` key (the seed's 60 s); ``None``
        keeps them.
    clear
        First delete every key under ``{prefix}:`` (found with SCAN), so that nothing
        of an earlier run remains.

    Returns
    -------
    dict
        Keys written per kind (``opportunities``, ``trades``, ``latency``, ...).
    """
    if not prefix or any(c in prefix for c in "*?[]"):
        raise ValueError(f"to_redis: prefix {prefix!r} must be non-empty, without glob characters")
    if opportunities_ttl_s is not None and opportunities_ttl_s <= 0:
        raise ValueError(f"to_redis: opportunities_ttl_s must be > 0, got {opportunities_ttl_s!r}")
    if clear:
        batch: list[Any] = []
        for key in client.scan_iter(match=f"{prefix}:*", count=1000):
            batch.append(key)
            if len(batch) >= PIPELINE_CHUNK:
                client.delete(*batch)
                batch = []
        if batch:
            client.delete(*batch)

    commands: list[tuple[str, tuple[Any, ...], Mapping[str, Any]]] = []
    counts = dict.fromkeys(
        ("opportunities", "trades_closed", "trades_active", "latency", "leg_out_events"), 0
    )
    for ts_ms, docs in opportunity_docs(result).items():
        kwargs = {"ex": opportunities_ttl_s} if opportunities_ttl_s is not None else {}
        commands.append(("set", (f"{prefix}:opportunities:{ts_ms}", _dumps(docs)), kwargs))
        counts["opportunities"] += 1
    for doc in trade_docs(result):
        kind = "closed" if doc["status"] == "closed" else "active"
        commands.append(("set", (f"{prefix}:trades:{kind}:{doc['id']}", _dumps(doc)), {}))
        counts[f"trades_{kind}"] += 1
    commands.append(("set", (f"{prefix}:portfolio:state", _dumps(portfolio_doc(result))), {}))
    commands.append(("set", (f"{prefix}:metrics:daily", _dumps(daily_doc(result))), {}))
    for name, doc in latency_docs(result).items():
        commands.append(("set", (f"{prefix}:latency:{name}", _dumps(doc)), {}))
        counts["latency"] += 1
    events = [_dumps(d) for d in leg_out_docs(result)]
    commands.append(("delete", (f"{prefix}:leg_out_events",), {}))
    for i in range(0, len(events), PIPELINE_CHUNK):
        commands.append(
            ("rpush", (f"{prefix}:leg_out_events", *events[i : i + PIPELINE_CHUNK]), {})
        )
    counts["leg_out_events"] = len(events)

    for i in range(0, len(commands), PIPELINE_CHUNK):
        pipe = client.pipeline(transaction=False)
        for name, args, options in commands[i : i + PIPELINE_CHUNK]:
            getattr(pipe, name)(*args, **options)
        pipe.execute()
    return counts
