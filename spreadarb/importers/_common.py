"""Helpers shared by the importers: files, names, order books, row buffers, progress.

Every importer streams its sources (bounded memory), rebuilds order books with
:class:`BookSide`, buffers rows per table in a :class:`Sink` (which merges exact
duplicates as docs/data.md requires and flushes through :func:`spreadarb.write_table`)
and reports what it skipped. This module holds the pieces they share, so that each
rule (the 2 bps depth band, duplicate merging, symbol normalisation) is written once.
"""

from __future__ import annotations

import gzip
import io
import re
from bisect import bisect_left, bisect_right, insort
from collections.abc import Callable, Hashable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any, cast

import numpy as np
import pyarrow as pa

from spreadarb.data.contract import ALL_TABLES
from spreadarb.data.writer import write_table
from spreadarb.venues import EXCHANGE_PATTERN, SYMBOL_PATTERN

DEPTH_BAND = 2e-4
"""Depth is the notional within this fraction (2 bps) of the touch (docs/data.md)."""
REL_EPS = 1e-12
"""Relative tolerance that keeps a level exactly 2 bps away inside the band."""
FLUSH_ROWS = 200_000
"""Rows buffered per table before they are written."""

_GZIP_MAGIC = b"\x1f\x8b"
_ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"


class TableRows:
    """Mixin of the import summaries: ``rows``, rows written per market-data table, summed
    over ``self.markets`` (each with ``tickers``, ``trades`` and ``liquidations`` counts)."""

    markets: tuple[Any, ...]

    @property
    def rows(self) -> dict[str, int]:
        """Rows written per table."""
        return {
            table: sum(getattr(m, table) for m in self.markets)
            for table in ("tickers", "trades", "liquidations")
        }


def iso(ts: int | None) -> str:
    """An int64 ns timestamp as ISO 8601 (UTC, no zone suffix); ``-`` for ``None``."""
    return "-" if ts is None else str(np.datetime64(int(ts), "ns"))


# ---------------------------------------------------------------------------------------
# Files
# ---------------------------------------------------------------------------------------


def check_sources(sources: Any) -> list[Path]:
    """Source paths as a list; ``ValueError`` if empty, ``FileNotFoundError`` if one is absent."""
    if isinstance(sources, str | Path):
        sources = [sources]
    paths = [Path(s) for s in sources]
    if not paths:
        raise ValueError("no source files given")
    for path in paths:
        if not path.is_file():
            raise FileNotFoundError(f"source file {str(path)!r} does not exist")
    return paths


def compression_of(path: Path) -> str | None:
    """``"gzip"``, ``"zstd"`` or ``None`` (plain), from the file's magic bytes."""
    with open(path, "rb") as raw:
        magic = raw.read(4)
    if magic[:2] == _GZIP_MAGIC:
        return "gzip"
    if magic == _ZSTD_MAGIC:
        return "zstd"
    return None


@contextmanager
def open_binary(path: Path) -> Iterator[tuple[IO[bytes], Callable[[], int]]]:
    """A decompressing binary stream of ``path`` and a function giving compressed bytes read.

    gzip and zstd are recognised by their magic bytes (zstd through pyarrow's codec,
    so no extra dependency); anything else is read as is. Everything is closed on exit.
    """
    kind = compression_of(path)
    with open(path, "rb") as raw:
        if kind == "gzip":
            with gzip.GzipFile(fileobj=raw, mode="rb") as gz:
                yield cast(IO[bytes], gz), raw.tell
        elif kind == "zstd":
            stream = pa.CompressedInputStream(pa.PythonFile(raw, mode="r"), "zstd")
            reader = io.BufferedReader(_ArrowStream(stream))
            try:
                yield cast(IO[bytes], reader), raw.tell
            finally:
                stream.close()
        else:
            yield raw, raw.tell


class _ArrowStream(io.RawIOBase):
    """An Arrow input stream as a Python raw stream (for ``io.BufferedReader``)."""

    def __init__(self, stream: Any) -> None:
        self._stream = stream

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self._stream.read(len(buffer))
        n = len(data)
        buffer[:n] = data
        return n


def open_lines(path: Path, on_bytes: Callable[[int], None] | None = None) -> Iterator[str]:
    """Lines of a gzip, zstd or plain text file, streamed; reports compressed bytes read."""
    with (
        open_binary(path) as (binary, position),
        io.TextIOWrapper(cast(Any, binary), encoding="utf-8") as text,
    ):
        done = 0
        for n, line in enumerate(text, 1):
            yield line
            if on_bytes is not None and n % 4096 == 0:
                pos = position()
                on_bytes(pos - done)
                done = pos
        if on_bytes is not None:
            on_bytes(position() - done)


def progress_bar(total: int, desc: str, enabled: bool) -> Any:
    """A tqdm bar over ``total`` bytes, or ``None`` when disabled.

    tqdm itself turns the bar off when stderr is not a terminal (``disable=None``),
    so a redirected or captured run prints nothing.
    """
    if not enabled:
        return None
    from tqdm import tqdm

    return tqdm(total=total, unit="B", unit_scale=True, desc=desc, disable=None)


# ---------------------------------------------------------------------------------------
# Names
# ---------------------------------------------------------------------------------------

_QUOTE_SUFFIXES = ("USDT", "USDC", "USD", "BUSD", "PERP", "SWAP", "PERPETUAL", "M")
_BASE_ALIASES = {"XBT": "BTC"}
_SYMBOL_PARTS = re.compile(r"[-_/:]")
_GLUED = re.compile(r"^([A-Z0-9]+?)(?:(?:USDT|USDC|BUSD|USD)(?:M|_PERP|PERP)?|PERP)?$")


def canonical_symbol(venue_symbol: str) -> str:
    """Canonical base asset of a perpetual's venue symbol.

    ``BTCUSDT``, ``BTC-USDT-SWAP``, ``XBTUSDTM``, ``BTC_USDT``, ``BTC-USD-PERP``,
    ``BTCUSD_PERP``, ``BTC-PERPETUAL``, ``XBTUSD``, ``BTCPERP`` (Bybit USDC), ``BTC/USDT:USDT``
    and ``BTC`` all give ``BTC`` (``XBT`` is BitMEX's and KuCoin's name for it).

    Raises
    ------
    ValueError
        If no canonical name of the contract's form (upper case ``[A-Z0-9_.]``) can be
        derived.
    """
    s = venue_symbol.strip().upper()
    parts = [p for p in _SYMBOL_PARTS.split(s) if p]
    base = ""
    if len(parts) > 1:
        base = parts[0]
    elif parts:
        match = _GLUED.match(parts[0])
        base = match.group(1) if match else parts[0]
    base = _BASE_ALIASES.get(base, base)
    if not base or base in _QUOTE_SUFFIXES or not SYMBOL_PATTERN.match(base):
        raise ValueError(
            f"cannot derive a canonical base asset from symbol {venue_symbol!r}: expected a "
            "perpetual such as BTCUSDT, BTC-USDT-SWAP, XBTUSDTM, BTC_USDT or BTC-USD-PERP"
        )
    return base


def check_exchange_name(exchange: str) -> str:
    """``exchange`` if it has the contract's form, else a ``ValueError`` saying so."""
    if not EXCHANGE_PATTERN.match(exchange):
        raise ValueError(f"invalid exchange name {exchange!r}: use lower-case [a-z0-9_.-]")
    return exchange


# ---------------------------------------------------------------------------------------
# Order book
# ---------------------------------------------------------------------------------------


class BookSide:
    """One side of a book: sorted prices plus a price -> quantity map (raw venue units)."""

    __slots__ = ("prices", "qty")

    def __init__(self) -> None:
        self.prices: list[float] = []
        self.qty: dict[float, float] = {}

    def set(self, price: float, qty: float) -> None:
        """Set the level at ``price`` to ``qty``; a zero quantity removes the level."""
        if qty == 0.0:
            if self.qty.pop(price, None) is not None:
                del self.prices[bisect_left(self.prices, price)]
        else:
            if price not in self.qty:
                insort(self.prices, price)
            self.qty[price] = qty

    def notional(self, i0: int, i1: int, contract_usd: float | None = None) -> float:
        """USD notional of the levels ``prices[i0:i1]`` (``contract_usd``: USD per contract)."""
        qty = self.qty
        if contract_usd is None:
            return sum(p * qty[p] for p in self.prices[i0:i1])
        return contract_usd * sum(qty[p] for p in self.prices[i0:i1])

    def best_bid(self) -> float | None:
        return self.prices[-1] if self.prices else None

    def best_ask(self) -> float | None:
        return self.prices[0] if self.prices else None

    def bid_band(self, bid: float, contract_usd: float | None = None) -> float:
        """Bid notional strictly below ``bid`` and within 2 bps of it."""
        prices = self.prices
        lo = bid * (1.0 - DEPTH_BAND - REL_EPS)
        return self.notional(bisect_left(prices, lo), bisect_left(prices, bid), contract_usd)

    def ask_band(self, ask: float, contract_usd: float | None = None) -> float:
        """Ask notional strictly above ``ask`` and within 2 bps of it."""
        prices = self.prices
        hi = ask * (1.0 + DEPTH_BAND + REL_EPS)
        return self.notional(bisect_right(prices, ask), bisect_right(prices, hi), contract_usd)


def depth_from_levels(
    bid_px: np.ndarray, bid_sz: np.ndarray, ask_px: np.ndarray, ask_sz: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """USD depth within 2 bps of the touch (touch included) from L2 level arrays.

    Parameters
    ----------
    bid_px, bid_sz, ask_px, ask_sz
        ``(rows, levels)`` arrays, level 0 the touch, sizes in base units; NaN marks
        an absent level.

    Returns
    -------
    tuple of ndarray
        Bid and ask depth in USD per row.
    """
    bid_ok = bid_px >= bid_px[:, :1] * (1.0 - DEPTH_BAND - REL_EPS)
    ask_ok = ask_px <= ask_px[:, :1] * (1.0 + DEPTH_BAND + REL_EPS)
    bid = np.where(bid_ok, bid_px * bid_sz, 0.0).sum(axis=1)
    ask = np.where(ask_ok, ask_px * ask_sz, 0.0).sum(axis=1)
    return bid, ask


# ---------------------------------------------------------------------------------------
# Row buffers
# ---------------------------------------------------------------------------------------

Row = tuple[Any, ...]


def keep_last(rows: list[Row], size_at: int) -> list[Row]:
    """Tickers: drop exact repeats, keeping each row's last occurrence (the newest state)."""
    seen: set[Row] = set()
    kept: list[Row] = []
    for row in reversed(rows):
        if row not in seen:
            seen.add(row)
            kept.append(row)
    kept.reverse()
    return kept


def sum_sizes(rows: list[Row], size_at: int) -> list[Row]:
    """Trades, liquidations: merge exact repeats into one row with the summed size.

    Repeated until no two rows agree, since a merged row can equal another row.
    """
    while True:
        index: dict[Row, int] = {}
        merged: list[Row] = []
        for row in rows:
            i = index.get(row)
            if i is None:
                index[row] = len(merged)
                merged.append(row)
            else:
                old = merged[i]
                merged[i] = (*old[:size_at], old[size_at] + row[size_at], *old[size_at + 1 :])
        if len(merged) == len(rows):
            return merged
        rows = merged


MERGES: dict[str, Callable[[list[Row], int], list[Row]]] = {
    "tickers": keep_last,
    "trades": sum_sizes,
    "liquidations": sum_sizes,
    "funding": keep_last,
}
"""How each table merges rows of one market that agree in every contract column."""


class Sink:
    """Rows of one table: finished rows to write, plus each market's current ts group.

    Rows must be added in the contract's column order. Rows of one market with the
    same ``ts_local`` are collected and merged by :data:`MERGES` when the market's
    next timestamp arrives, so duplicates spread over messages are caught.
    """

    def __init__(self, table: str, out: Path, flush_rows: int, written: list[Path]) -> None:
        spec = ALL_TABLES[table]
        self.table = table
        self.names = list(spec.column_names)
        self.types = [c.kind.arrow_type for c in spec.columns]
        self.size_at = self.names.index("sz") if "sz" in self.names else -1
        self.merge = MERGES[table]
        self.out = out
        self.flush_rows = flush_rows
        self.written = written
        self.rows: list[Row] = []
        self.groups: dict[Hashable, tuple[int, list[Row]]] = {}
        self.counts: dict[Hashable, int] = {}
        self.duplicates: dict[Hashable, int] = {}

    def add(self, market: Hashable, ts: int, row: Row) -> None:
        group = self.groups.get(market)
        if group is not None and group[0] == ts:
            group[1].append(row)
            return
        if group is not None:
            self._finish(market, group[1])
        self.groups[market] = (ts, [row])
        if len(self.rows) >= self.flush_rows:
            self.flush()

    def _finish(self, market: Hashable, rows: list[Row]) -> None:
        if len(rows) > 1:
            kept = self.merge(rows, self.size_at)
            removed = len(rows) - len(kept)
            if removed:
                self.duplicates[market] = self.duplicates.get(market, 0) + removed
            rows = kept
        self.rows.extend(rows)
        self.counts[market] = self.counts.get(market, 0) + len(rows)

    def close(self) -> None:
        for market, (_, rows) in self.groups.items():
            self._finish(market, rows)
        self.groups.clear()
        self.flush()

    def flush(self) -> None:
        if not self.rows:
            return
        columns = list(zip(*self.rows, strict=True))
        arrays = [pa.array(col, type=typ) for col, typ in zip(columns, self.types, strict=True)]
        self.rows = []
        self.written.extend(write_table(self.out, self.table, pa.table(arrays, names=self.names)))


class MonotonicGuard:
    """Raises when ``ts_local`` goes backwards within a market of a table (never reorders)."""

    def __init__(self) -> None:
        self.first: dict[tuple[str, Hashable], int] = {}
        self.last: dict[tuple[str, Hashable], int] = {}

    def check(self, table: str, market: Hashable, ts: int, where: str, name: str) -> None:
        key = (table, market)
        last = self.last.get(key)
        if last is not None and ts < last:
            raise ValueError(
                f"{where}: ts_local {ts} ({iso(ts)}) of a {table} row of {name} is earlier "
                f"than the previous row's {last} ({iso(last)}); the data contract forbids "
                "ts_local going backwards within a market and the importer does not reorder "
                "rows: the source is not in receive order (rows before this one may already "
                "have been written)"
            )
        if last is None:
            self.first[key] = ts
        self.last[key] = ts


def counts_text(counts: Mapping[str, int]) -> str:
    """``"a 1, b 2"`` for a counter, sorted by key; ``"none"`` when empty."""
    return ", ".join(f"{k} {v:,}" for k, v in sorted(counts.items())) or "none"
