"""The data contract: tables, columns, dtypes, units and the on-disk layout (SPEC §2).

Everything that reads or writes market data takes its column names, dtypes and
rules from here; ``docs/data.md`` documents the same table in prose.

Layout on disk::

    ROOT/<table>/date=YYYY-MM-DD/exchange=<venue>/<name>.parquet

``date`` is the UTC day of ``ts_local``; every file holds all of its table's
columns, ``exchange`` included, so any Parquet reader can read a file alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from pathlib import Path

import numpy as np
import pyarrow as pa


class Kind(Enum):
    """Logical type of a contract column; fixes its numpy and Arrow dtypes."""

    TIMESTAMP = "timestamp"  # int64 nanoseconds since the Unix epoch, UTC
    FLOAT = "float"  # float64
    SECONDS = "seconds"  # int64 count of seconds
    STRING = "string"
    SIDE = "side"  # int8, +1 buy / -1 sell

    @property
    def numpy_dtype(self) -> np.dtype:
        return _NUMPY_DTYPES[self]

    @property
    def arrow_type(self) -> pa.DataType:
        return _ARROW_TYPES[self]


_NUMPY_DTYPES: dict[Kind, np.dtype] = {
    Kind.TIMESTAMP: np.dtype(np.int64),
    Kind.FLOAT: np.dtype(np.float64),
    Kind.SECONDS: np.dtype(np.int64),
    Kind.STRING: np.dtype(object),
    Kind.SIDE: np.dtype(np.int8),
}
_ARROW_TYPES: dict[Kind, pa.DataType] = {
    Kind.TIMESTAMP: pa.int64(),
    Kind.FLOAT: pa.float64(),
    Kind.SECONDS: pa.int64(),
    Kind.STRING: pa.string(),
    Kind.SIDE: pa.int8(),
}


class Bound(Enum):
    """Value rule of a numeric column, checked by the writer and the validator."""

    ANY = "any"  # any finite value
    POSITIVE = "positive"  # > 0
    NON_NEGATIVE = "non_negative"  # >= 0


@dataclass(frozen=True, kw_only=True)
class Column:
    """One column of a contract table.

    Attributes
    ----------
    name, kind, unit, description
        As documented in ``docs/data.md``.
    bound
        Value rule for numeric columns.
    nullable
        Whether a missing value (null or NaN) is allowed: it means "not recorded
        by this venue". Infinite values are never allowed.
    """

    name: str
    kind: Kind
    unit: str
    description: str
    bound: Bound = Bound.ANY
    nullable: bool = False


@dataclass(frozen=True, kw_only=True)
class TableSpec:
    """A contract table: its columns in canonical order and whether a dataset must have it."""

    name: str
    columns: tuple[Column, ...]
    required: bool
    description: str
    partition: str = "D"
    """Length of a ``date=`` partition: ``"D"`` a UTC day, ``"Y"`` a UTC year (named by its
    first day). Market data is partitioned by day; sparse tables (``funding``) by year."""

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    def column(self, name: str) -> Column:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(f"table {self.name!r} has no contract column {name!r}")

    @property
    def arrow_schema(self) -> pa.Schema:
        return pa.schema(
            [pa.field(c.name, c.kind.arrow_type, nullable=c.nullable) for c in self.columns]
        )


_TS_LOCAL = Column(
    name="ts_local",
    kind=Kind.TIMESTAMP,
    unit="ns since epoch, UTC",
    description="When our collector saw the event; the backtest clock. "
    "Non-decreasing within a market.",
)
_TS_EXCHANGE = Column(
    name="ts_exchange",
    kind=Kind.TIMESTAMP,
    unit="ns since epoch, UTC",
    description="Exchange server time of the event; ts_local - ts_exchange is the feed latency.",
)
_EXCHANGE = Column(
    name="exchange",
    kind=Kind.STRING,
    unit="-",
    description="Venue name in lower case (binance, bybit, kucoin, okx, bitget, gate, "
    "hyperliquid, paradex, or any other); also the partition key.",
)
_SYMBOL = Column(
    name="symbol",
    kind=Kind.STRING,
    unit="-",
    description="Canonical base asset in upper case (BTC, ETH, 1000PEPE); venue names such as "
    "BTCUSDT or BTC-USDT-SWAP are normalised before writing.",
)


def _px(name: str, description: str) -> Column:
    return Column(
        name=name,
        kind=Kind.FLOAT,
        unit="quote currency (USD)",
        description=description,
        bound=Bound.POSITIVE,
    )


TICKERS = TableSpec(
    name="tickers",
    required=True,
    description="Top-of-book snapshots with funding and open interest, one row per snapshot.",
    columns=(
        _TS_LOCAL,
        _TS_EXCHANGE,
        _EXCHANGE,
        _SYMBOL,
        _px("bid_px", "Best bid price."),
        Column(
            name="bid_sz",
            kind=Kind.FLOAT,
            unit="base units",
            description="Size at the best bid.",
            bound=Bound.POSITIVE,
        ),
        _px("ask_px", "Best ask price; must be above bid_px (a crossed book is an error)."),
        Column(
            name="ask_sz",
            kind=Kind.FLOAT,
            unit="base units",
            description="Size at the best ask.",
            bound=Bound.POSITIVE,
        ),
        Column(
            name="bid_depth_usd",
            kind=Kind.FLOAT,
            unit="USD",
            description="Resting bid notional within 2 bps of the best bid (L1 notional when "
            "the source has no deeper levels).",
            bound=Bound.NON_NEGATIVE,
        ),
        Column(
            name="ask_depth_usd",
            kind=Kind.FLOAT,
            unit="USD",
            description="Resting ask notional within 2 bps of the best ask.",
            bound=Bound.NON_NEGATIVE,
        ),
        Column(
            name="mark_px",
            kind=Kind.FLOAT,
            unit="quote currency (USD)",
            description="Venue mark price; missing when the venue does not publish one.",
            bound=Bound.POSITIVE,
            nullable=True,
        ),
        Column(
            name="funding_rate",
            kind=Kind.FLOAT,
            unit="fraction per funding interval",
            description="Current funding rate: what a long pays (a short receives) per unit "
            "notional at next_funding_ts if it does not change. 0.0001 = 0.01 %.",
        ),
        Column(
            name="funding_interval_s",
            kind=Kind.SECONDS,
            unit="s",
            description="Length of the venue's funding interval for this market (3600, 14400, "
            "28800, ...).",
            bound=Bound.POSITIVE,
        ),
        Column(
            name="next_funding_ts",
            kind=Kind.TIMESTAMP,
            unit="ns since epoch, UTC",
            description="Time of the next funding settlement.",
        ),
        Column(
            name="predicted_funding_rate",
            kind=Kind.FLOAT,
            unit="fraction per funding interval",
            description="The venue's estimate of the following interval's rate; missing when "
            "not published.",
            nullable=True,
        ),
        Column(
            name="open_interest_usd",
            kind=Kind.FLOAT,
            unit="USD",
            description="Open interest in USD notional; missing when not published.",
            bound=Bound.NON_NEGATIVE,
            nullable=True,
        ),
    ),
)

TRADES = TableSpec(
    name="trades",
    required=True,
    description="Public trades (prints), one row per trade; drive queue fills.",
    columns=(
        _TS_LOCAL,
        _TS_EXCHANGE,
        _EXCHANGE,
        _SYMBOL,
        _px("px", "Trade price."),
        Column(
            name="sz",
            kind=Kind.FLOAT,
            unit="base units",
            description="Trade size.",
            bound=Bound.POSITIVE,
        ),
        Column(
            name="side",
            kind=Kind.SIDE,
            unit="+1 / -1",
            description="Aggressor side: +1 the buyer took the ask, -1 the seller hit the bid.",
        ),
    ),
)

LIQUIDATIONS = TableSpec(
    name="liquidations",
    required=False,
    description="Forced liquidation orders, one row per event (optional table).",
    columns=(
        _TS_LOCAL,
        _EXCHANGE,
        _SYMBOL,
        _px("px", "Liquidation price."),
        Column(
            name="sz",
            kind=Kind.FLOAT,
            unit="base units",
            description="Liquidated size.",
            bound=Bound.POSITIVE,
        ),
        Column(
            name="side",
            kind=Kind.SIDE,
            unit="+1 / -1",
            description="Side of the liquidation order: -1 a long was liquidated (forced "
            "sell), +1 a short was liquidated (forced buy).",
        ),
    ),
)

TABLES: dict[str, TableSpec] = {t.name: t for t in (TICKERS, TRADES, LIQUIDATIONS)}
"""The market-data tables by name, in canonical order: what :func:`spreadarb.load` reads."""

FUNDING = TableSpec(
    name="funding",
    required=False,
    partition="Y",
    description="Settled funding prints, one row per market and settlement (optional table; "
    "the only table of a funding-only dataset).",
    columns=(
        Column(
            name="ts_local",
            kind=Kind.TIMESTAMP,
            unit="ns since epoch, UTC",
            description="Settlement time of the print (when the rate was applied and became "
            "known); non-decreasing within a market.",
        ),
        _EXCHANGE,
        _SYMBOL,
        Column(
            name="funding_rate",
            kind=Kind.FLOAT,
            unit="fraction per funding interval",
            description="Rate settled at ts_local: what a long paid (a short received) per unit "
            "notional. 0.0001 = 0.01 %.",
        ),
        Column(
            name="funding_interval_s",
            kind=Kind.SECONDS,
            unit="s",
            description="Funding interval the rate applies to (3600, 14400, 28800, ...).",
            bound=Bound.POSITIVE,
        ),
    ),
)

ALL_TABLES: dict[str, TableSpec] = {**TABLES, FUNDING.name: FUNDING}
"""Every table a dataset folder may hold: the market-data tables plus ``funding``.

A dataset is either a market-data dataset (``tickers`` and ``trades`` required,
``liquidations`` and ``funding`` optional) or a *funding-only* dataset (only
``funding``), which ``validate`` accepts and :func:`spreadarb.load_funding` reads.
"""

PRICE_COLUMNS: dict[str, tuple[str, ...]] = {
    "tickers": ("bid_px", "ask_px"),
    "trades": ("px",),
    "liquidations": ("px",),
}

TIMESTAMP_MIN_NS = 946_684_800 * 10**9
"""2000-01-01 UTC: an int64 nanosecond timestamp below this is in the wrong unit."""
TIMESTAMP_MAX_NS = 4_102_444_800 * 10**9
"""2100-01-01 UTC: an upper bound for plausible nanosecond timestamps."""


PARQUET_COMPRESSION = "zstd"
PARQUET_SUFFIX = ".parquet"
NS_PER_DAY = 86_400 * 10**9


def partition_days(ts_ns: np.ndarray, partition: str = "D") -> np.ndarray:
    """First UTC day (days since the epoch) of the ``date=`` partition of each timestamp.

    ``partition`` is a :attr:`TableSpec.partition`: ``"D"`` (the day itself) or ``"Y"``
    (January 1st of the year).
    """
    ts = np.asarray(ts_ns, dtype=np.int64)
    if partition == "D":
        return ts // NS_PER_DAY
    periods = ts.astype("datetime64[ns]").astype(f"datetime64[{partition}]")
    return periods.astype("datetime64[D]").astype(np.int64)


def table_spec(table: str) -> TableSpec:
    """Return the spec of ``table`` or raise a ``ValueError`` naming the valid tables."""
    try:
        return ALL_TABLES[table]
    except KeyError:
        raise ValueError(
            f"unknown table {table!r}; the contract has {', '.join(ALL_TABLES)}"
        ) from None


def partition_dir(root: Path, table: str, date: str, exchange: str) -> Path:
    """Directory of the partition ``(table, date, exchange)`` under ``root``."""
    return root / table / f"date={date}" / f"exchange={exchange}"


def guess_timestamp_unit(value: int) -> str:
    """Name the unit an out-of-range epoch timestamp most likely has (for error messages)."""
    magnitude = abs(int(value))
    if magnitude == 0:
        return "zero"
    for unit, scale in (("seconds", 10**9), ("milliseconds", 10**6), ("microseconds", 10**3)):
        if TIMESTAMP_MIN_NS <= magnitude * scale < TIMESTAMP_MAX_NS:
            return unit
    return "an unknown unit"
