"""Field mapping: a venue's Redis value (hash or JSON object) to one contract row.

Each venue has a default mapping from the contract's columns to the field names its
collector writes (the names of the venue's own API); a TOML file can override any of
them. For every venue the contract's own column names, in the contract's units, are
accepted as well and take precedence: that is the canonical form a collector can write.

Timestamps are read in any epoch unit (seconds, milliseconds, microseconds or
nanoseconds, told apart by magnitude: the contract's 2000..2100 range does not overlap
between units) and stored as int64 nanoseconds. Numbers may be JSON numbers or strings.
"""

from __future__ import annotations

import json
import math
import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from spreadarb.data.contract import TABLES, TIMESTAMP_MAX_NS, TIMESTAMP_MIN_NS
from spreadarb.venues import SYMBOL_PATTERN, VENUES


class MalformedValue(ValueError):
    """A Redis value that cannot become a contract row (the row is skipped and counted)."""


@dataclass(frozen=True, kw_only=True)
class FieldSpec:
    """Where one contract column comes from in a venue's value.

    Attributes
    ----------
    name
        Field name in the hash or JSON object.
    scale
        Factor applied to a numeric value (e.g. contracts to base units, hours to
        seconds). Timestamps ignore it: their unit is detected.
    """

    name: str
    scale: float = 1.0


# Columns beyond the contract that a mapping may name (converted on the way in).
VIRTUAL_COLUMNS: dict[str, str] = {
    "open_interest_base": "open interest in base units; times mark_px (else mid) gives "
    "open_interest_usd",
    "bids": "L2 bid levels [[px, sz], ...] (list or JSON string); bid_depth_usd is derived "
    "from the levels within 2 bps of the best bid",
    "asks": "L2 ask levels, as bids",
    "is_buyer_maker": "trades: true when the buyer was the maker (the seller aggressed, side -1)",
    "signed_size": "trades: size whose sign is the aggressor side (negative: sell)",
}

_TS_COLUMNS = frozenset({"ts_local", "ts_exchange", "next_funding_ts"})

# Default field names per venue and table. Names follow the venues' own APIs; a
# collector that writes other names is configured with a TOML file (docs/redis.md).
DEFAULT_TICKER_FIELDS: dict[str, dict[str, FieldSpec]] = {
    "binance": {
        "ts_exchange": FieldSpec(name="time"),
        "bid_px": FieldSpec(name="bidPrice"),
        "bid_sz": FieldSpec(name="bidQty"),
        "ask_px": FieldSpec(name="askPrice"),
        "ask_sz": FieldSpec(name="askQty"),
        "mark_px": FieldSpec(name="markPrice"),
        "funding_rate": FieldSpec(name="lastFundingRate"),
        "next_funding_ts": FieldSpec(name="nextFundingTime"),
        "open_interest_base": FieldSpec(name="openInterest"),
    },
    "bybit": {
        "ts_exchange": FieldSpec(name="ts"),
        "bid_px": FieldSpec(name="bid1Price"),
        "bid_sz": FieldSpec(name="bid1Size"),
        "ask_px": FieldSpec(name="ask1Price"),
        "ask_sz": FieldSpec(name="ask1Size"),
        "mark_px": FieldSpec(name="markPrice"),
        "funding_rate": FieldSpec(name="fundingRate"),
        "funding_interval_s": FieldSpec(name="fundingIntervalHour", scale=3600.0),
        "next_funding_ts": FieldSpec(name="nextFundingTime"),
        "open_interest_usd": FieldSpec(name="openInterestValue"),
    },
    "kucoin": {
        "ts_exchange": FieldSpec(name="ts"),
        "bid_px": FieldSpec(name="bestBidPrice"),
        "bid_sz": FieldSpec(name="bestBidSize"),
        "ask_px": FieldSpec(name="bestAskPrice"),
        "ask_sz": FieldSpec(name="bestAskSize"),
        "mark_px": FieldSpec(name="markPrice"),
        "funding_rate": FieldSpec(name="fundingRate"),
        "predicted_funding_rate": FieldSpec(name="predictedFundingRate"),
        "next_funding_ts": FieldSpec(name="nextFundingTime"),
        "open_interest_base": FieldSpec(name="openInterest"),
    },
    "okx": {
        "ts_exchange": FieldSpec(name="ts"),
        "bid_px": FieldSpec(name="bidPx"),
        "bid_sz": FieldSpec(name="bidSz"),
        "ask_px": FieldSpec(name="askPx"),
        "ask_sz": FieldSpec(name="askSz"),
        "mark_px": FieldSpec(name="markPx"),
        "funding_rate": FieldSpec(name="fundingRate"),
        "predicted_funding_rate": FieldSpec(name="nextFundingRate"),
        "next_funding_ts": FieldSpec(name="fundingTime"),
        "open_interest_usd": FieldSpec(name="oiUsd"),
    },
    "bitget": {
        "ts_exchange": FieldSpec(name="ts"),
        "bid_px": FieldSpec(name="bidPr"),
        "bid_sz": FieldSpec(name="bidSz"),
        "ask_px": FieldSpec(name="askPr"),
        "ask_sz": FieldSpec(name="askSz"),
        "mark_px": FieldSpec(name="markPrice"),
        "funding_rate": FieldSpec(name="fundingRate"),
        "next_funding_ts": FieldSpec(name="nextFundingTime"),
        "open_interest_base": FieldSpec(name="holdingAmount"),
    },
    "gate": {
        "ts_exchange": FieldSpec(name="t"),
        "bid_px": FieldSpec(name="highest_bid"),
        "bid_sz": FieldSpec(name="highest_size"),
        "ask_px": FieldSpec(name="lowest_ask"),
        "ask_sz": FieldSpec(name="lowest_size"),
        "mark_px": FieldSpec(name="mark_price"),
        "funding_rate": FieldSpec(name="funding_rate"),
        "predicted_funding_rate": FieldSpec(name="funding_rate_indicative"),
        "next_funding_ts": FieldSpec(name="funding_next_apply"),
    },
    "hyperliquid": {
        "ts_exchange": FieldSpec(name="time"),
        "bid_px": FieldSpec(name="bidPx"),
        "bid_sz": FieldSpec(name="bidSz"),
        "ask_px": FieldSpec(name="askPx"),
        "ask_sz": FieldSpec(name="askSz"),
        "mark_px": FieldSpec(name="markPx"),
        "funding_rate": FieldSpec(name="funding"),
        "open_interest_base": FieldSpec(name="openInterest"),
    },
    "paradex": {
        "ts_exchange": FieldSpec(name="last_updated_at"),
        "bid_px": FieldSpec(name="bid"),
        "bid_sz": FieldSpec(name="bid_size"),
        "ask_px": FieldSpec(name="ask"),
        "ask_sz": FieldSpec(name="ask_size"),
        "mark_px": FieldSpec(name="mark_price"),
        "funding_rate": FieldSpec(name="funding_rate"),
        "open_interest_base": FieldSpec(name="open_interest"),
    },
}

# Stream entries (trades, liquidations): the common names of the venues' trade
# messages, tried in order, for every venue. A TOML file can set a venue's own.
DEFAULT_EVENT_FIELDS: dict[str, tuple[FieldSpec, ...]] = {
    "ts_exchange": tuple(
        FieldSpec(name=n) for n in ("T", "ts", "time", "timestamp", "created_at", "create_time_ms")
    ),
    "px": tuple(FieldSpec(name=n) for n in ("price", "p")),
    "sz": tuple(FieldSpec(name=n) for n in ("size", "qty", "q", "v", "amount")),
    "side": tuple(FieldSpec(name=n) for n in ("S", "side")),
    "is_buyer_maker": (FieldSpec(name="m"),),
}

_BUY = frozenset({"buy", "b", "bid", "long", "+1", "1"})
_SELL = frozenset({"sell", "s", "a", "ask", "short", "-1"})

DEPTH_BAND = 2e-4
"""Depth is the USD notional within 2 bps of the touch (docs/data.md)."""


def normalize_symbol(raw: str, venue: str, aliases: Mapping[str, str] | None = None) -> str:
    """The canonical base asset of a venue's market name.

    ``BTCUSDT``, ``BTC-USDT-SWAP``, ``XBTUSDTM``, ``BTC_USDT``, ``BTC-USD-PERP`` and
    ``BTC`` all give ``BTC``; Hyperliquid's ``kPEPE`` gives ``1000PEPE``. ``aliases``
    (raw name, or its normalised form, to canonical) take precedence.

    Raises
    ------
    ValueError
        If the result is not of the canonical form (upper-case ``[A-Z0-9_.]``).
    """
    if aliases and raw in aliases:
        return aliases[raw]
    text = raw.strip()
    if venue == "hyperliquid" and len(text) > 1 and text[0] == "k" and text[1:].isupper():
        text = "1000" + text[1:]
    text = text.upper()
    for suffix in ("_UMCBL", "_DMCBL", "_CMCBL", "-SWAP", "-PERP", "_PERP"):
        if text.endswith(suffix):
            text = text[: -len(suffix)]
            break
    parts = [p for p in re.split(r"[-_/:]", text) if p]
    if len(parts) > 1:
        text = parts[0]
    else:
        for quote in ("USDTM", "USDT", "USDC", "PERP", "USD"):
            if text.endswith(quote) and len(text) > len(quote):
                text = text[: -len(quote)]
                break
    if text == "XBT":
        text = "BTC"
    if aliases and text in aliases:
        text = aliases[text]
    if not SYMBOL_PATTERN.match(text):
        raise ValueError(
            f"market name {raw!r} of venue {venue!r} does not normalise to a canonical symbol "
            f"(got {text!r}); add it to [symbols] in the field-mapping TOML"
        )
    return text


_MS_MIN = TIMESTAMP_MIN_NS // 1_000_000
_MS_MAX = TIMESTAMP_MAX_NS // 1_000_000


def to_ns(value: Any, what: str) -> int:
    """An epoch timestamp in s, ms, us or ns (told apart by magnitude) as int ns."""
    kind = type(value)
    if kind is int or kind is str:
        # Fast path: an integer in ms or ns, the collectors' usual units.
        try:
            v0 = int(value)
        except ValueError:
            pass
        else:
            if _MS_MIN <= v0 < _MS_MAX:
                return v0 * 1_000_000
            if TIMESTAMP_MIN_NS <= v0 < TIMESTAMP_MAX_NS:
                return v0
    if isinstance(value, bool):
        raise MalformedValue(f"{what}: expected a timestamp, got {value!r}")
    v: int | float
    if isinstance(value, int):
        v = value
    elif isinstance(value, str) and value.strip().lstrip("-").isdigit():
        v = int(value)  # exact, also past 2**53
    else:
        try:
            v = float(value)
        except (TypeError, ValueError):
            raise MalformedValue(f"{what}: not a number: {value!r}") from None
        if not math.isfinite(v):
            raise MalformedValue(f"{what}: not finite: {value!r}")
    for factor in (1, 1_000, 1_000_000, 1_000_000_000):  # ns, us, ms, s
        ns = v * factor
        if TIMESTAMP_MIN_NS <= ns < TIMESTAMP_MAX_NS:
            return int(ns)
    raise MalformedValue(f"{what}: {value!r} is not an epoch timestamp in 2000..2100")


def to_float(value: Any, what: str) -> float:
    """A JSON number or numeric string as a float; ``MalformedValue`` otherwise."""
    if isinstance(value, float):
        return value
    if isinstance(value, bool) or value is None:
        raise MalformedValue(f"{what}: not a number: {value!r}")
    try:
        return float(value)
    except (TypeError, ValueError):
        raise MalformedValue(f"{what}: not a number: {value!r}") from None


def to_side(value: Any, what: str) -> int:
    """+1 (buy) or -1 (sell) from a number or a word (buy/sell, b/s, bid/ask...)."""
    if isinstance(value, bool):
        raise MalformedValue(f"{what}: expected a side, got {value!r}")
    if isinstance(value, int | float) and value in (1, -1):
        return int(value)
    text = str(value).strip().lower()
    if text in _BUY:
        return 1
    if text in _SELL:
        return -1
    raise MalformedValue(f"{what}: expected buy/sell or +1/-1, got {value!r}")


def _truthy(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("true", "1", "yes")
    return bool(value)


def depth_from_levels(levels: Any, best: float, is_bid: bool, what: str) -> float:
    """USD resting within 2 bps of ``best`` on one side, from ``[[px, sz], ...]`` levels."""
    if isinstance(levels, str | bytes):
        try:
            levels = json.loads(levels)
        except ValueError:
            raise MalformedValue(f"{what}: levels are not JSON") from None
    if not isinstance(levels, list):
        raise MalformedValue(f"{what}: levels must be a list of [px, sz]")
    limit = best * (1 - DEPTH_BAND) if is_bid else best * (1 + DEPTH_BAND)
    total = 0.0
    for level in levels:
        if not isinstance(level, list | tuple) or len(level) < 2:
            raise MalformedValue(f"{what}: level {level!r} is not [px, sz]")
        px = to_float(level[0], what)
        sz = to_float(level[1], what)
        if (px >= limit) if is_bid else (px <= limit):
            total += px * sz
    return total


@dataclass(frozen=True, kw_only=True)
class VenueMapping:
    """Field names of one venue for each table, with the canonical names tried first."""

    venue: str
    tickers: Mapping[str, tuple[FieldSpec, ...]]
    trades: Mapping[str, tuple[FieldSpec, ...]]
    liquidations: Mapping[str, tuple[FieldSpec, ...]]
    size_multipliers: Mapping[str, float] = field(default_factory=dict)


def _canonical_first(table: str, specs: Mapping[str, tuple[FieldSpec, ...]]) -> dict:
    out: dict[str, tuple[FieldSpec, ...]] = {}
    for column in TABLES[table].column_names:
        if column in ("exchange", "symbol"):
            continue
        out[column] = (FieldSpec(name=column), *specs.get(column, ()))
    for column, chain in specs.items():
        if column not in out:
            out[column] = chain
    return out


@dataclass(frozen=True, kw_only=True)
class FieldMapping:
    """Field mappings of every venue plus symbol aliases.

    Build the defaults with ``FieldMapping()`` or read overrides with
    :meth:`from_toml`. Unknown venues get the canonical names (and the generic event
    names) only.
    """

    overrides: Mapping[str, Mapping[str, Mapping[str, FieldSpec]]] = field(default_factory=dict)
    size_multipliers: Mapping[str, Mapping[str, float]] = field(default_factory=dict)
    symbol_aliases: Mapping[str, str] = field(default_factory=dict)

    def venue(self, venue: str) -> VenueMapping:
        """The effective mapping of ``venue`` (defaults, then overrides, canonical first)."""
        own = self.overrides.get(venue, {})
        tickers = {
            c: (s,)
            for c, s in {**DEFAULT_TICKER_FIELDS.get(venue, {}), **own.get("tickers", {})}.items()
        }
        for levels in ("bids", "asks"):  # L2 levels, when a collector stores them
            tickers.setdefault(levels, (FieldSpec(name=levels),))
        events = {}
        for table in ("trades", "liquidations"):
            chain = dict(DEFAULT_EVENT_FIELDS)
            for column, spec in own.get(table, {}).items():
                chain[column] = (spec,)
            events[table] = _canonical_first(table, chain)
        return VenueMapping(
            venue=venue,
            tickers=_canonical_first("tickers", tickers),
            trades=events["trades"],
            liquidations=events["liquidations"],
            size_multipliers=dict(self.size_multipliers.get(venue, {})),
        )

    @classmethod
    def from_toml(cls, path: str | os.PathLike[str]) -> FieldMapping:
        """Read overrides from a TOML file (format in ``docs/redis.md``).

        Raises
        ------
        ValueError
            Naming the file and the entry when the file is not valid.
        """
        src = Path(path)
        try:
            data = tomllib.loads(src.read_text())
        except tomllib.TOMLDecodeError as exc:
            raise ValueError(f"{src}: not valid TOML: {exc}") from None
        return cls.from_dict(data, source=str(src))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, source: str = "mapping") -> FieldMapping:
        """Build a mapping from the parsed TOML structure (see :meth:`from_toml`)."""
        unknown = set(data) - {"venues", "symbols"}
        if unknown:
            raise ValueError(f"{source}: unknown top-level keys {sorted(unknown)}")
        overrides: dict[str, dict[str, dict[str, FieldSpec]]] = {}
        multipliers: dict[str, dict[str, float]] = {}
        for venue, tables in dict(data.get("venues", {})).items():
            where = f"{source}: [venues.{venue}]"
            if not isinstance(tables, dict):
                raise ValueError(f"{where} must be a table")
            for table, columns in tables.items():
                if table == "size_multipliers":
                    multipliers[venue] = {
                        str(k): _positive(v, f"{where}.size_multipliers.{k}")
                        for k, v in columns.items()
                    }
                    continue
                if table not in TABLES:
                    raise ValueError(
                        f"{where}: unknown table {table!r} (expected tickers, trades, "
                        "liquidations or size_multipliers)"
                    )
                valid = set(TABLES[table].column_names) | set(VIRTUAL_COLUMNS)
                for column, spec in columns.items():
                    if column not in valid or column in ("exchange", "symbol"):
                        raise ValueError(
                            f"{where}.{table}: unknown column {column!r}; expected one of "
                            f"{sorted(valid - {'exchange', 'symbol'})}"
                        )
                    overrides.setdefault(venue, {}).setdefault(table, {})[column] = _spec(
                        spec, f"{where}.{table}.{column}"
                    )
        aliases = {str(k): str(v) for k, v in dict(data.get("symbols", {})).items()}
        for raw, canonical in aliases.items():
            if not SYMBOL_PATTERN.match(canonical):
                raise ValueError(
                    f"{source}: [symbols] {raw!r} = {canonical!r} is not a canonical symbol"
                )
        return cls(overrides=overrides, size_multipliers=multipliers, symbol_aliases=aliases)


def _positive(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        raise ValueError(f"{where}: expected a positive number, got {value!r}")
    return float(value)


def _spec(value: Any, where: str) -> FieldSpec:
    if isinstance(value, str):
        return FieldSpec(name=value)
    if isinstance(value, dict):
        extra = set(value) - {"field", "scale"}
        if "field" not in value or extra or not isinstance(value["field"], str):
            raise ValueError(f"{where}: expected a field name or {{ field = NAME, scale = X }}")
        return FieldSpec(name=value["field"], scale=_positive(value.get("scale", 1.0), where))
    raise ValueError(f"{where}: expected a field name or {{ field = NAME, scale = X }}")


def _lookup(obj: Mapping[str, Any], chain: tuple[FieldSpec, ...]) -> tuple[Any, FieldSpec] | None:
    for spec in chain:
        value = obj.get(spec.name)
        if value is not None and value != "":
            return value, spec
    return None


def _number(
    obj: Mapping[str, Any], mapping: Mapping[str, tuple[FieldSpec, ...]], col: str
) -> float:
    found = _lookup(obj, mapping.get(col, ()))
    if found is None:
        return math.nan
    value, spec = found
    x = to_float(value, col)
    return x * spec.scale if spec.scale != 1.0 else x


def _required(
    obj: Mapping[str, Any], mapping: Mapping[str, tuple[FieldSpec, ...]], col: str
) -> float:
    x = _number(obj, mapping, col)
    if math.isnan(x):
        names = ", ".join(s.name for s in mapping.get(col, ()))
        raise MalformedValue(f"missing field for {col} (looked for {names})")
    return x


_NAN = math.nan
_Plan = dict[str, tuple[str, float]]


class TickerParser:
    """Turns a venue's decoded ticker objects into contract rows, fast.

    For each set of field names seen (a collector writes the same fields every time)
    the parser resolves once which field feeds which column (canonical names first),
    so a snapshot costs a few dict lookups and float conversions.
    """

    MAX_PLANS = 4096

    def __init__(self, vm: VenueMapping) -> None:
        self.vm = vm
        self.venue_interval = VENUES[vm.venue].funding_interval_s if vm.venue in VENUES else None
        self._plans: dict[tuple[str, ...], _Plan] = {}

    def plan(self, obj: Mapping[str, Any]) -> _Plan:
        """Column -> (field, scale) for objects with the fields of ``obj``."""
        signature = tuple(obj)
        plan = self._plans.get(signature)
        if plan is None:
            plan = {}
            for column, chain in self.vm.tickers.items():
                for spec in chain:
                    if spec.name in obj:
                        plan[column] = (spec.name, spec.scale)
                        break
            if len(self._plans) >= self.MAX_PLANS:
                self._plans.clear()
            self._plans[signature] = plan
        return plan

    def exchange_ts(self, obj: Mapping[str, Any], plan: _Plan) -> Any:
        """The raw exchange-timestamp value (``None`` when absent)."""
        entry = plan.get("ts_exchange")
        return None if entry is None else obj[entry[0]]

    def row(
        self, obj: Mapping[str, Any], plan: _Plan, symbol: str, ts_exchange_raw: Any
    ) -> tuple[
        int, int, float, float, float, float, float, float, float, float, int, int, float, float
    ]:
        """The numeric columns of one ticker.

        Returns ``(ts_exchange, ts_local or -1, bid_px, bid_sz, ask_px, ask_sz,
        bid_depth_usd, ask_depth_usd, mark_px, funding_rate, funding_interval_s,
        next_funding_ts, predicted_funding_rate, open_interest_usd)``. Applies the
        contract's row rules, so the writer never refuses a batch for one bad snapshot.

        Raises
        ------
        MalformedValue
            When a field is missing, not a number, or breaks a contract rule.
        """
        if ts_exchange_raw is None or ts_exchange_raw == "":
            raise MalformedValue("missing field for ts_exchange")
        ts_exchange = to_ns(ts_exchange_raw, "ts_exchange")
        entry = plan.get("ts_local")
        ts_local = to_ns(obj[entry[0]], "ts_local") if entry is not None else -1
        bid_px = self._num(obj, plan, "bid_px", True)
        ask_px = self._num(obj, plan, "ask_px", True)
        mult = self.vm.size_multipliers.get(symbol, 1.0) if self.vm.size_multipliers else 1.0
        bid_sz = self._num(obj, plan, "bid_sz", True) * mult
        ask_sz = self._num(obj, plan, "ask_sz", True) * mult
        funding_rate = self._num(obj, plan, "funding_rate", True)
        if not (0 < bid_px < math.inf and 0 < ask_px < math.inf):
            raise MalformedValue(f"prices must be positive and finite: {bid_px!r}, {ask_px!r}")
        if not (0 < bid_sz < math.inf and 0 < ask_sz < math.inf):
            raise MalformedValue(f"sizes must be positive and finite: {bid_sz!r}, {ask_sz!r}")
        if not bid_px < ask_px:
            raise MalformedValue(f"crossed book: bid_px {bid_px!r} >= ask_px {ask_px!r}")
        if not math.isfinite(funding_rate):
            raise MalformedValue(f"funding_rate is not finite: {funding_rate!r}")
        bid_depth = self._num(obj, plan, "bid_depth_usd", False)
        if bid_depth != bid_depth:  # NaN: not given
            entry = plan.get("bids")
            bid_depth = (
                bid_px * bid_sz
                if entry is None
                else depth_from_levels(obj[entry[0]], bid_px, True, "bids") * mult
            )
        ask_depth = self._num(obj, plan, "ask_depth_usd", False)
        if ask_depth != ask_depth:
            entry = plan.get("asks")
            ask_depth = (
                ask_px * ask_sz
                if entry is None
                else depth_from_levels(obj[entry[0]], ask_px, False, "asks") * mult
            )
        if not (0 <= bid_depth < math.inf and 0 <= ask_depth < math.inf):
            raise MalformedValue(f"depths must be >= 0 and finite: {bid_depth!r}, {ask_depth!r}")
        mark_px = self._num(obj, plan, "mark_px", False)
        if mark_px == mark_px and not 0 < mark_px < math.inf:
            raise MalformedValue(f"mark_px must be a positive finite number, got {mark_px!r}")
        interval = self._num(obj, plan, "funding_interval_s", False)
        if interval != interval:
            if self.venue_interval is None:
                raise MalformedValue(
                    "missing field for funding_interval_s (an unknown venue has no default)"
                )
            interval_s = self.venue_interval
        else:
            if not (0 < interval < math.inf) or interval != round(interval):
                raise MalformedValue(
                    f"funding_interval_s must be a positive integer, got {interval!r}"
                )
            interval_s = int(interval)
        entry = plan.get("next_funding_ts")
        value = obj[entry[0]] if entry is not None else None
        if value is not None and value != "":
            next_funding = to_ns(value, "next_funding_ts")
        else:
            # Venues without the field settle on a grid of their interval from the epoch.
            step = interval_s * 10**9
            next_funding = (ts_exchange // step + 1) * step
        predicted = self._num(obj, plan, "predicted_funding_rate", False)
        if predicted in (math.inf, -math.inf):
            raise MalformedValue("predicted_funding_rate is not finite")
        oi = self._num(obj, plan, "open_interest_usd", False)
        if oi != oi:
            base = self._num(obj, plan, "open_interest_base", False)
            if base == base:
                ref = mark_px if mark_px == mark_px else 0.5 * (bid_px + ask_px)
                oi = base * mult * ref
        if oi == oi and not 0 <= oi < math.inf:
            raise MalformedValue(f"open_interest_usd must be >= 0 and finite, got {oi!r}")
        return (
            ts_exchange,
            ts_local,
            bid_px,
            bid_sz,
            ask_px,
            ask_sz,
            bid_depth,
            ask_depth,
            mark_px,
            funding_rate,
            interval_s,
            next_funding,
            predicted,
            oi,
        )

    def _num(self, obj: Mapping[str, Any], plan: _Plan, column: str, required: bool) -> float:
        entry = plan.get(column)
        value = None if entry is None else obj[entry[0]]
        if value is None or value == "":
            if required:
                names = ", ".join(s.name for s in self.vm.tickers.get(column, ()))
                raise MalformedValue(f"missing field for {column} (looked for {names})")
            return _NAN
        if type(value) is float:
            x = value
        elif type(value) is bool:
            raise MalformedValue(f"{column}: not a number: {value!r}")
        else:
            try:
                x = float(value)
            except (TypeError, ValueError):
                raise MalformedValue(f"{column}: not a number: {value!r}") from None
        scale = entry[1]  # type: ignore[index]
        return x * scale if scale != 1.0 else x


def event_row(
    obj: Mapping[str, Any], vm: VenueMapping, table: str, symbol: str
) -> tuple[int, int, float, float, int]:
    """``(ts_exchange or -1, ts_local or -1, px, sz, side)`` of one trade or liquidation.

    Raises
    ------
    MalformedValue
        When a field is missing, not a number, or breaks a contract rule.
    """
    m = vm.trades if table == "trades" else vm.liquidations
    found = _lookup(obj, m["ts_exchange"]) if table == "trades" else None
    ts_exchange = to_ns(found[0], "ts_exchange") if found is not None else -1
    found = _lookup(obj, m["ts_local"])
    ts_local = to_ns(found[0], "ts_local") if found is not None else -1
    px = _required(obj, m, "px")
    mult = vm.size_multipliers.get(symbol, 1.0)
    side = 0
    signed = _number(obj, m, "signed_size")
    if not math.isnan(signed):
        sz = abs(signed) * mult
        side = 1 if signed > 0 else -1
    else:
        sz = _required(obj, m, "sz") * mult
    found = _lookup(obj, m["side"])
    if found is not None:
        side = to_side(found[0], "side")
    elif side == 0:
        maker = _lookup(obj, m.get("is_buyer_maker", ()))
        if maker is None:
            raise MalformedValue("missing field for side")
        side = -1 if _truthy(maker[0]) else 1
    if not (px > 0 and math.isfinite(px)):
        raise MalformedValue(f"px must be a positive finite number, got {px!r}")
    if not (sz > 0 and math.isfinite(sz)):
        raise MalformedValue(f"sz must be a positive finite number, got {sz!r}")
    return ts_exchange, ts_local, px, sz, side
