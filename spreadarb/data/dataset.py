"""In-memory dataset: every contract table as contiguous numpy columns grouped by market."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from spreadarb.data.contract import TABLES, Kind

if TYPE_CHECKING:
    import pandas as pd


def numeric_columns(table: str) -> tuple[str, ...]:
    """Contract columns a :class:`MarketTable` holds: all but the strings (they name the market)."""
    return tuple(c.name for c in TABLES[table].columns if c.kind is not Kind.STRING)


@dataclass(frozen=True)
class MarketTable:
    """One contract table, rows grouped by market, each market's rows in stored order.

    Rows of market ``m`` are ``[offsets[m], offsets[m + 1])`` of every column;
    markets are numbered as in :attr:`Dataset.markets`. The layout is what the
    kernels take: flat contiguous arrays plus CSR-style offsets.

    Attributes
    ----------
    name
        Contract table name.
    columns
        Numeric contract columns (timestamps int64 ns, floats float64, ``side``
        int8, ``funding_interval_s`` int64); missing values of nullable columns
        are NaN.
    offsets
        int64 array of length ``n_markets + 1``.
    """

    name: str
    columns: Mapping[str, np.ndarray]
    offsets: np.ndarray

    def __len__(self) -> int:
        return int(self.offsets[-1])

    def __getitem__(self, column: str) -> np.ndarray:
        return self.columns[column]

    def rows(self, market: int) -> slice:
        """Row slice of market number ``market``."""
        return slice(int(self.offsets[market]), int(self.offsets[market + 1]))

    def counts(self) -> np.ndarray:
        """Rows per market."""
        return np.diff(self.offsets)

    def ends(self, column: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(has, first, last)``: which markets have rows, and ``column`` at the first and
        last row of each of those (in stored order; for ``ts_local``, the market's first
        and last time)."""
        has = self.counts() > 0
        values = self.columns[column]
        return has, values[self.offsets[:-1][has]], values[self.offsets[1:][has] - 1]

    def __repr__(self) -> str:
        return (
            f"MarketTable({self.name!r}, {len(self):,} rows, {self.offsets.size - 1} markets, "
            f"columns={list(self.columns)})"
        )

    @classmethod
    def empty(cls, name: str, n_markets: int) -> MarketTable:
        spec = TABLES[name]
        columns = {
            c.name: np.empty(0, dtype=c.kind.numpy_dtype)
            for c in spec.columns
            if c.kind is not Kind.STRING
        }
        return cls(name=name, columns=columns, offsets=np.zeros(n_markets + 1, dtype=np.int64))


@dataclass(frozen=True)
class MarketView:
    """The rows of one market in every table, as contiguous views (no copies)."""

    exchange: str
    symbol: str
    tickers: Mapping[str, np.ndarray]
    trades: Mapping[str, np.ndarray]
    liquidations: Mapping[str, np.ndarray]


@dataclass(frozen=True)
class ReadStats:
    """What :func:`spreadarb.load` read from disk, to make pushdown observable.

    ``bytes_read`` is the compressed size of the column chunks read, from the
    Parquet footers; ``row_groups_total`` counts the row groups of the files read.
    """

    files_listed: int = 0
    files_read: int = 0
    row_groups_total: int = 0
    row_groups_read: int = 0
    bytes_read: int = 0
    rows_read: int = 0
    files: tuple[str, ...] = ()


@dataclass(frozen=True)
class Dataset:
    """Market data loaded by :func:`spreadarb.load`, ready for the kernels.

    Attributes
    ----------
    root
        Dataset folder it was loaded from.
    exchanges, symbols
        Sorted names; markets refer to them by index.
    market_exchange, market_symbol
        int32 arrays, one entry per market: index into ``exchanges`` / ``symbols``.
        Markets are sorted by (exchange, symbol).
    tickers, trades, liquidations
        The contract tables (``liquidations`` is empty when the dataset has none).
    start_ns, end_ns
        The requested time window on ``ts_local`` (``[start, end)``), or ``None``.
    read_stats
        What was read from disk.
    """

    root: Path
    exchanges: tuple[str, ...]
    symbols: tuple[str, ...]
    market_exchange: np.ndarray
    market_symbol: np.ndarray
    tickers: MarketTable
    trades: MarketTable
    liquidations: MarketTable
    start_ns: int | None = None
    end_ns: int | None = None
    read_stats: ReadStats = field(default_factory=ReadStats)

    @property
    def n_markets(self) -> int:
        return int(self.market_exchange.size)

    def table(self, name: str) -> MarketTable:
        """Table by contract name."""
        if name not in TABLES:
            raise KeyError(f"unknown table {name!r}; the contract has {', '.join(TABLES)}")
        table: MarketTable = getattr(self, name)
        return table

    def markets(self) -> list[tuple[str, str]]:
        """(exchange, symbol) of every market, in market order."""
        return [
            (self.exchanges[e], self.symbols[s])
            for e, s in zip(self.market_exchange, self.market_symbol, strict=True)
        ]

    def market_index(self, exchange: str, symbol: str) -> int:
        """Number of the market (exchange, symbol); ``KeyError`` if the dataset lacks it."""
        for m, key in enumerate(self.markets()):
            if key == (exchange, symbol):
                return m
        raise KeyError(f"no market {exchange}/{symbol} in the dataset; it has {self.markets()}")

    def market(self, exchange: str, symbol: str) -> MarketView:
        """Contiguous views of one market's rows in every table."""
        m = self.market_index(exchange, symbol)
        views = {}
        for name in TABLES:
            table = self.table(name)
            rows = table.rows(m)
            views[name] = {column: values[rows] for column, values in table.columns.items()}
        return MarketView(exchange=exchange, symbol=symbol, **views)

    def __iter__(self) -> Iterator[tuple[str, str]]:
        return iter(self.markets())

    def __repr__(self) -> str:
        window = ""
        if self.start_ns is not None or self.end_ns is not None:
            lo = "" if self.start_ns is None else str(np.datetime64(self.start_ns, "ns"))
            hi = "" if self.end_ns is None else str(np.datetime64(self.end_ns, "ns"))
            window = f", window=[{lo}, {hi})"
        return (
            f"Dataset({str(self.root)!r}, {self.n_markets} markets: exchanges="
            f"{list(self.exchanges)}, symbols={list(self.symbols)}, tickers={len(self.tickers):,}"
            f", trades={len(self.trades):,}, liquidations={len(self.liquidations):,}{window})"
        )

    def summary(self) -> pd.DataFrame:
        """One row per market: row counts per table and the first/last ``ts_local``."""
        import pandas as pd

        first = np.full(self.n_markets, np.iinfo(np.int64).min, dtype=np.int64)
        last = first.copy()
        counts = self.tickers.counts()
        has, firsts, lasts = self.tickers.ends("ts_local")
        first[has] = firsts
        last[has] = lasts
        return pd.DataFrame(
            {
                "exchange": [e for e, _ in self.markets()],
                "symbol": [s for _, s in self.markets()],
                "tickers": counts,
                "trades": self.trades.counts(),
                "liquidations": self.liquidations.counts(),
                "first_ts_local": pd.to_datetime(np.where(has, first, 0), utc=True).where(has),
                "last_ts_local": pd.to_datetime(np.where(has, last, 0), utc=True).where(has),
            }
        )
