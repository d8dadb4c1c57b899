"""Import Tardis.dev CSV files (quotes, book snapshots, trades, derivative ticker, liquidations).

Input: Tardis's downloadable CSV files, gzip or plain, any number of them, any mix of
data types, exchanges, symbols and days (docs.tardis.dev, "Downloadable CSV files":
comma-separated, one header line, timestamps in **microseconds** since the epoch, UTC).
The data type of a file is read from its header:

=====================  ===================================================================
data type              columns used
=====================  ===================================================================
``quotes`` /           ``exchange, symbol, timestamp, local_timestamp, ask_amount,
``book_ticker``        ask_price, bid_price, bid_amount``
``book_snapshot_N``    ``..., asks[i].price, asks[i].amount, bids[i].price,
                       bids[i].amount`` for i < N (N = 5 or 25; empty levels allowed)
``derivative_ticker``  ``..., funding_timestamp, funding_rate, predicted_funding_rate,
                       open_interest, last_price, index_price, mark_price``
``trades``             ``..., id, side, price, amount`` (``side``: the aggressor,
                       ``buy`` / ``sell`` / ``unknown``)
``liquidations``       same columns as ``trades`` (``side``: ``buy`` = a short was
                       liquidated, ``sell`` = a long was liquidated); told apart from
                       ``trades`` by the file name (Tardis names files
                       ``<exchange>_<data_type>_<date>_<symbol>.csv.gz``)
=====================  ===================================================================

``incremental_book_L2`` files are refused (use ``book_snapshot_25``: Tardis rebuilds
the book for it).

Output (docs/data.md), per market:

- **tickers**: one row per L1 update of the market's best L1 source (``book_snapshot_25``
  over ``book_snapshot_5`` over ``quotes``; when several are given for one market the
  others' rows are skipped and counted). ``ts_local`` = ``local_timestamp`` x 1000,
  ``ts_exchange`` = ``timestamp`` x 1000. Depth within 2 bps of the touch (touch
  included) is summed over the snapshot's levels; from ``quotes`` it is the L1 notional
  (a lower bound). The derivative ticker's fields are carried forward **as of**
  ``local_timestamp`` (a derivative update at the same local time as a quote applies to
  it), field by field (an empty field keeps the previous value): ``funding_rate``,
  ``predicted_funding_rate``, ``next_funding_ts`` (``funding_timestamp``), ``mark_px``
  and ``open_interest_usd`` (open interest converted to base units like sizes, times the
  mark price, or the last price without a mark). When derivative tickers are given,
  a market's L1 rows before its first funding rate are skipped and counted
  (``before_funding``); when no ``derivative_ticker`` file is given at all, funding is a
  placeholder (``funding_rate`` 0, ``next_funding_ts`` on the venue's interval grid),
  counted as ``funding_placeholder``. ``funding_interval_s`` is the venue's interval
  (:mod:`spreadarb.venues`, 8 h for unknown venues) unless ``funding_interval_s`` is given.
- **trades**: one row per trade with a known aggressor (``unknown`` sides are skipped and
  counted); **liquidations**: one row per liquidation, ``side`` +1 for ``buy``, -1 for
  ``sell``.

Rows that cannot be in the contract (a one-sided or crossed quote, a non-positive price
or size) are skipped and counted per market and reason: nothing is dropped silently.

Names: Tardis exchange ids become contract venues (:data:`EXCHANGES`: ``binance-futures``
-> ``binance``, ``okex-swap`` -> ``okx``, ``gate-io-futures`` -> ``gate``, ...); unknown
ids are kept as they are (``deribit``). Symbols become canonical base assets
(``BTCUSDT``, ``BTC-USDT-SWAP``, ``XBTUSDTM``, ``BTC_USDT`` -> ``BTC``). Inverse
(coin-margined) contracts go to a venue of their own (``binance_cm``, ``bybit_inverse``,
``okx_inverse``, ``kucoin_inverse``) so that they never collide with the linear market.

Sizes: Tardis keeps the exchange's units. Amounts are converted to base units with
:func:`size_rule`: base units as they are (Binance USDⓈ-M, Bybit linear, Bitget,
Hyperliquid, unknown venues), linear contracts times their base size (OKX, KuCoin, Gate:
BTC and ETH built in, others through ``contract_sizes``), inverse contracts of a USD
face value divided by the price (Binance COIN-M 100/10 USD, Bybit 1 USD, OKX 100/10 USD,
KuCoin 1 USD, BitMEX 1 USD, Deribit perpetuals quoted in USD).

Streaming: every file is read in blocks (pyarrow's streaming CSV reader, ``block_size``
bytes), and the files of each output table are merged by ``local_timestamp``
(``heapq.merge``), so memory holds one block per open file whatever the files' sizes,
and files may be given in any order. Rows are never reordered within a file: a
``local_timestamp`` going backwards within a market raises ``ValueError`` naming the file
and row. Duplicates are merged (docs/data.md) and counted; rows are flushed through
:func:`spreadarb.write_table` every ``flush_rows`` rows.
"""

from __future__ import annotations

import argparse
import heapq
import logging
import math
import os
import re
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from spreadarb.importers._common import (
    FLUSH_ROWS,
    MonotonicGuard,
    Sink,
    TableRows,
    canonical_symbol,
    check_exchange_name,
    check_sources,
    counts_text,
    depth_from_levels,
    iso,
    open_binary,
    progress_bar,
)
from spreadarb.importers.binance_ws import canonical_symbol as binance_symbol
from spreadarb.importers.binance_ws import contract_size_usd as binance_contract_usd
from spreadarb.venues import VENUES

logger = logging.getLogger(__name__)

BLOCK_SIZE = 4 << 20
"""Bytes of CSV text per block read (pyarrow's streaming reader)."""
DEFAULT_FUNDING_INTERVAL_S = 28_800

EXCHANGES: dict[str, str] = {
    "binance-futures": "binance",
    "binance-delivery": "binance_cm",
    "bybit": "bybit",
    "okex-swap": "okx",
    "kucoin-futures": "kucoin",
    "bitget-futures": "bitget",
    "gate-io-futures": "gate",
    "hyperliquid": "hyperliquid",
    "paradex": "paradex",
}
"""Tardis exchange id -> contract venue. Other ids are kept as they are."""

LINEAR_CONTRACT_BASE: dict[tuple[str, str], float] = {
    ("okex-swap", "BTC"): 0.01,
    ("okex-swap", "ETH"): 0.1,
    ("kucoin-futures", "BTC"): 0.001,
    ("kucoin-futures", "ETH"): 0.01,
    ("gate-io-futures", "BTC"): 0.0001,
    ("gate-io-futures", "ETH"): 0.01,
}
"""Base units per contract of linear contracts quoted in contracts (exchange, base)."""

_CONTRACT_VENUES = ("okex-swap", "kucoin-futures", "gate-io-futures")

_BASE = ("exchange", "symbol", "timestamp", "local_timestamp")
_QUOTES = (*_BASE, "ask_amount", "ask_price", "bid_price", "bid_amount")
_DERIVATIVE = (
    *_BASE,
    "funding_timestamp",
    "funding_rate",
    "predicted_funding_rate",
    "open_interest",
    "last_price",
    "index_price",
    "mark_price",
)
_PRINTS = (*_BASE, "id", "side", "price", "amount")
_LEVEL = re.compile(r"^(asks|bids)\[(\d+)\]\.(price|amount)$")

# Priority of L1 sources (higher wins) and of stream events at one local time
# (derivative updates first, so that a quote sees the derivative state of its instant).
_L1_PRIORITY = {"quotes": 0, "book_snapshot_5": 1, "book_snapshot_25": 2}
_DERIVATIVE_FIRST = 0
_L1_AFTER = 1


# ---------------------------------------------------------------------------------------
# Names and sizes
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SizeRule:
    """How a market's amounts become base units.

    ``base_per_contract``: amount x this (1.0 when amounts are already base units);
    ``usd_per_contract``: when set, the contract is inverse and base = amount x this /
    price.
    """

    base_per_contract: float = 1.0
    usd_per_contract: float | None = None

    def describe(self) -> str:
        if self.usd_per_contract is not None:
            return f"inverse, {self.usd_per_contract:g} USD/contract"
        if self.base_per_contract != 1.0:
            return f"{self.base_per_contract:g} base/contract"
        return "base units"


def _is_inverse(symbol: str) -> bool:
    s = symbol.upper()
    return bool(re.search(r"USD(_PERP|M|-SWAP|-PERPETUAL)?$", s)) and not re.search(r"USD[TC]", s)


def resolve_market(
    tardis_exchange: str,
    venue_symbol: str,
    *,
    exchanges: Mapping[str, str] | None = None,
    contract_sizes: Mapping[str, float] | None = None,
) -> tuple[str, str, SizeRule]:
    """Contract venue, canonical symbol and size rule of a Tardis market.

    Parameters
    ----------
    tardis_exchange, venue_symbol
        As in the CSV (``binance-futures``, ``BTCUSDT``).
    exchanges
        Tardis id -> venue overrides, on top of :data:`EXCHANGES`.
    contract_sizes
        Venue symbol -> base units per contract, for linear contracts that Tardis
        quotes in contracts (OKX, KuCoin, Gate) beyond the built-in BTC and ETH.

    Raises
    ------
    ValueError
        For a symbol without a canonical form, a non-perpetual Binance contract, or a
        contract-quoted market whose contract size is unknown.
    """
    ex = tardis_exchange.lower()
    venue = {**EXCHANGES, **(exchanges or {})}.get(ex, ex)
    sym = venue_symbol.upper()
    sizes = {k.upper(): float(v) for k, v in (contract_sizes or {}).items()}
    if sym in sizes:
        if not sizes[sym] > 0:
            raise ValueError(f"contract size of {sym} must be > 0, got {sizes[sym]}")
        return venue, canonical_symbol(sym), SizeRule(base_per_contract=sizes[sym])
    if ex in ("binance-futures", "binance-delivery"):
        base, coinm = binance_symbol(sym)
        if coinm:
            return venue, base, SizeRule(usd_per_contract=binance_contract_usd(base))
        return venue, base, SizeRule()
    base = canonical_symbol(sym)
    inverse = _is_inverse(sym)
    if ex == "bybit" and inverse:
        return f"{venue}_inverse", base, SizeRule(usd_per_contract=1.0)
    if ex == "okex-swap" and inverse:
        return f"{venue}_inverse", base, SizeRule(usd_per_contract=100.0 if base == "BTC" else 10.0)
    if ex == "kucoin-futures" and inverse:
        return f"{venue}_inverse", base, SizeRule(usd_per_contract=1.0)
    if ex == "bitmex" and inverse:
        return venue, base, SizeRule(usd_per_contract=1.0)
    if ex == "deribit" and sym.endswith("-PERPETUAL") and "_" not in sym:
        return venue, base, SizeRule(usd_per_contract=1.0)
    if ex in _CONTRACT_VENUES:
        size = LINEAR_CONTRACT_BASE.get((ex, base))
        if size is None:
            raise ValueError(
                f"{tardis_exchange} {venue_symbol}: Tardis gives its amounts in contracts and "
                "the contract size is not built in; pass it (base units per contract) with "
                f"contract_sizes={{{venue_symbol!r}: ...}} / --contract-size {venue_symbol}=..."
            )
        return venue, base, SizeRule(base_per_contract=size)
    return venue, base, SizeRule()


# ---------------------------------------------------------------------------------------
# Summary
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TardisMarketSummary:
    """What the import produced for one market.

    Attributes
    ----------
    exchange, symbol
        Contract names.
    tardis_exchange, venue_symbol
        Tardis's names.
    size_rule
        How amounts were converted to base units.
    l1_source
        Data type the tickers came from (``book_snapshot_25``, ``book_snapshot_5``,
        ``quotes``), ``None`` without L1 data.
    tickers, trades, liquidations
        Rows written (after merging duplicates).
    duplicates
        Rows merged away, per table.
    skipped
        Source rows not written, by reason (``before_funding``, ``crossed_quote``,
        ``one_sided_quote``, ``unknown_side``, ``non_positive``, ``lower_priority_l1``).
    funding_placeholder_rows
        Ticker rows with the placeholder funding (no derivative_ticker given).
    derivative_updates
        derivative_ticker rows applied.
    first_ts_local, last_ts_local
        Range of ``ts_local`` (ns) over the rows written.
    """

    exchange: str
    symbol: str
    tardis_exchange: str
    venue_symbol: str
    size_rule: SizeRule
    l1_source: str | None
    tickers: int
    trades: int
    liquidations: int
    duplicates: Mapping[str, int]
    skipped: Mapping[str, int]
    funding_placeholder_rows: int
    derivative_updates: int
    first_ts_local: int | None
    last_ts_local: int | None

    def __str__(self) -> str:
        return (
            f"{self.exchange}/{self.symbol} ({self.tardis_exchange} {self.venue_symbol}, "
            f"{self.size_rule.describe()}): tickers {self.tickers:,} from {self.l1_source}, "
            f"trades {self.trades:,}, liquidations {self.liquidations:,}; "
            f"{iso(self.first_ts_local)} .. {iso(self.last_ts_local)} UTC; derivative "
            f"updates {self.derivative_updates:,}; skipped: {counts_text(self.skipped)}; "
            f"duplicates merged: {counts_text(self.duplicates)}"
        )


@dataclass(frozen=True)
class TardisSummary(TableRows):
    """What :func:`import_tardis` read and wrote.

    Attributes
    ----------
    out
        Dataset root.
    sources
        Files read, with the data type detected for each.
    markets
        One summary per market, sorted by (exchange, symbol).
    rows_read
        Data rows read per data type.
    files
        Parquet files written.
    elapsed_s
        Wall time.
    """

    out: Path
    sources: tuple[tuple[Path, str], ...]
    markets: tuple[TardisMarketSummary, ...]
    rows_read: Mapping[str, int]
    files: tuple[Path, ...] = field(repr=False)
    elapsed_s: float

    @property
    def skipped(self) -> dict[str, int]:
        """Source rows not written, by reason, over all markets."""
        total: Counter[str] = Counter()
        for m in self.markets:
            total.update(m.skipped)
        return dict(total)

    def market(self, exchange: str, symbol: str) -> TardisMarketSummary:
        """The summary of market ``(exchange, symbol)``; ``KeyError`` if absent."""
        for m in self.markets:
            if (m.exchange, m.symbol) == (exchange, symbol):
                return m
        raise KeyError((exchange, symbol))

    def __str__(self) -> str:
        rows = ", ".join(f"{k} {v:,}" for k, v in self.rows.items())
        kinds = Counter(kind for _, kind in self.sources)
        lines = [
            f"imported {len(self.sources)} Tardis file(s) ({counts_text(kinds)}), "
            f"{sum(self.rows_read.values()):,} rows, into {self.out} in {self.elapsed_s:.1f} s: "
            f"{len(self.markets)} market(s); rows: {rows}; {len(self.files)} file(s) written"
        ]
        lines += [f"  {m}" for m in self.markets]
        placeholder = sum(m.funding_placeholder_rows for m in self.markets)
        if placeholder:
            lines.append(
                f"  funding: no derivative_ticker file given: {placeholder:,} ticker rows carry "
                "the placeholder funding_rate 0.0 (funding scores neutral)"
            )
        return "\n".join(lines)


# ---------------------------------------------------------------------------------------
# Reading
# ---------------------------------------------------------------------------------------


def _header(path: Path) -> list[str]:
    with open_binary(path) as (binary, _):
        line = binary.readline().decode("utf-8").strip()
    if not line:
        raise ValueError(f"{path}: empty file, expected a Tardis CSV header line")
    return line.split(",")


def detect_kind(path: Path, header: Sequence[str] | None = None) -> str:
    """Tardis data type of a CSV file, from its header (and its name for trades/liquidations).

    Raises
    ------
    ValueError
        For an unsupported or unrecognised header, naming the file and its columns.
    """
    cols = list(header if header is not None else _header(path))
    have = set(cols)
    missing_base = [c for c in _BASE if c not in have]
    if missing_base:
        raise ValueError(
            f"{path}: not a Tardis CSV file: header lacks {', '.join(missing_base)} "
            f"(header: {','.join(cols)})"
        )
    if "is_snapshot" in have:
        raise ValueError(
            f"{path}: incremental_book_L2 is not supported; download book_snapshot_25 (or "
            "book_snapshot_5) for the same days: Tardis rebuilds the book for those"
        )
    levels = {int(m.group(2)) for c in cols if (m := _LEVEL.match(c))}
    if levels:
        n = max(levels) + 1
        need = [
            f"{side}[{i}].{what}"
            for i in range(n)
            for side in ("asks", "bids")
            for what in ("price", "amount")
        ]
        lacking = [c for c in need if c not in have]
        if lacking:
            raise ValueError(f"{path}: book snapshot header lacks {', '.join(lacking[:4])}")
        return f"book_snapshot_{n}"
    if set(_DERIVATIVE) <= have:
        return "derivative_ticker"
    if set(_QUOTES) <= have:
        return "quotes"
    if set(_PRINTS) <= have:
        name = path.name.lower()
        if "liquidation" in name:
            return "liquidations"
        if "trade" in name:
            return "trades"
        raise ValueError(
            f"{path}: trades and liquidations share one CSV header; the file name must say "
            "which (Tardis names them <exchange>_trades_... / <exchange>_liquidations_...)"
        )
    raise ValueError(f"{path}: unrecognised Tardis CSV header: {','.join(cols)}")


def _column_types(kind: str, header: Sequence[str]) -> dict[str, pa.DataType]:
    types: dict[str, pa.DataType] = {
        "exchange": pa.string(),
        "symbol": pa.string(),
        "timestamp": pa.int64(),
        "local_timestamp": pa.int64(),
    }
    if kind == "derivative_ticker":
        types["funding_timestamp"] = pa.int64()
        for c in _DERIVATIVE[5:]:
            types[c] = pa.float64()
    elif kind in ("trades", "liquidations"):
        types.update(id=pa.string(), side=pa.string(), price=pa.float64(), amount=pa.float64())
    elif kind == "quotes":
        for c in _QUOTES[4:]:
            types[c] = pa.float64()
    else:
        for c in header:
            if _LEVEL.match(c):
                types[c] = pa.float64()
    return types


def _row_of_bad_value(path: Path, kind: str, header: Sequence[str], exc: Exception) -> str:
    """Find the first row whose value does not convert, for an error message."""
    types = _column_types(kind, header)
    try:
        found = _find_bad_value(path, types)
    except pa.ArrowInvalid as again:  # a structural error (e.g. a row with too few columns)
        return f"{path}: unreadable CSV ({again})"
    return found or f"{path}: unreadable CSV ({exc})"


def _find_bad_value(path: Path, types: Mapping[str, pa.DataType]) -> str | None:
    with open_binary(path) as (binary, _):
        reader = pacsv.open_csv(
            binary,
            convert_options=pacsv.ConvertOptions(
                column_types={c: pa.string() for c in types}, include_columns=list(types)
            ),
        )
        row = 0
        for batch in reader:
            for name, typ in types.items():
                if typ == pa.string():
                    continue
                values = batch.column(name)
                for i, v in enumerate(values.to_pylist()):
                    if v in (None, ""):
                        continue
                    try:
                        int(v) if typ == pa.int64() else float(v)
                    except ValueError:
                        return (
                            f"{path}: row {row + i + 1} (line {row + i + 2}), column {name!r}: "
                            f"{v!r} is not a valid {'integer' if typ == pa.int64() else 'number'}"
                        )
            row += batch.num_rows
    return None


@dataclass
class _File:
    path: Path
    kind: str
    header: list[str]


def _batches(
    f: _File, block_size: int, on_bytes: Callable[[int], None] | None
) -> Iterator[tuple[int, pa.RecordBatch]]:
    """Blocks of a file as record batches with the 1-based number of their first data row."""
    types = _column_types(f.kind, f.header)
    # A block must hold the header line and a row or two (a book_snapshot_25 row is long).
    block_size = max(block_size, 2 * len(",".join(f.header)) + 2)
    try:
        with open_binary(f.path) as (binary, position):
            reader = pacsv.open_csv(
                binary,
                read_options=pacsv.ReadOptions(block_size=block_size),
                convert_options=pacsv.ConvertOptions(
                    column_types=types, include_columns=list(types)
                ),
            )
            first = 1
            done = 0
            for batch in reader:
                if on_bytes is not None:
                    pos = position()
                    on_bytes(pos - done)
                    done = pos
                _require(batch, f, first, _BASE)
                yield first, batch
                first += batch.num_rows
    except pa.ArrowInvalid as exc:
        raise ValueError(_row_of_bad_value(f.path, f.kind, f.header, exc)) from None


def _np(batch: pa.RecordBatch, name: str) -> np.ndarray:
    """A column as numpy: floats with NaN for empty values, integers as int64."""
    col = batch.column(name)
    if pa.types.is_integer(col.type) and col.null_count:
        return pc.fill_null(col, 0).to_numpy(zero_copy_only=False)
    return col.to_numpy(zero_copy_only=False)


def _require(batch: pa.RecordBatch, f: _File, first: int, names: Sequence[str]) -> None:
    """Raise naming the first row where one of ``names`` is empty."""
    for name in names:
        col = batch.column(name)
        if col.null_count:
            i = int(np.flatnonzero(col.is_null().to_numpy(zero_copy_only=False))[0])
            raise ValueError(
                f"{f.path}: row {first + i} (line {first + i + 1}): empty {name!r}; every "
                "Tardis row has exchange, symbol, timestamp and local_timestamp"
            )


# ---------------------------------------------------------------------------------------
# Markets
# ---------------------------------------------------------------------------------------


class _Market:
    __slots__ = (
        "base",
        "derivative_updates",
        "exchange",
        "funding_interval_s",
        "funding_rate",
        "funding_ts",
        "l1_source",
        "mark",
        "n",
        "oi_usd",
        "predicted",
        "rule",
        "tardis_exchange",
        "venue_symbol",
    )

    def __init__(
        self, tardis_exchange: str, venue_symbol: str, exchange: str, base: str, rule: SizeRule
    ) -> None:
        self.tardis_exchange = tardis_exchange
        self.venue_symbol = venue_symbol
        self.exchange = exchange
        self.base = base
        self.rule = rule
        self.l1_source: str | None = None
        venue = VENUES.get(exchange)
        self.funding_interval_s = (
            venue.funding_interval_s if venue is not None else DEFAULT_FUNDING_INTERVAL_S
        )
        self.funding_rate: float | None = None
        self.funding_ts: int | None = None
        self.predicted: float | None = None
        self.mark: float | None = None
        self.oi_usd: float | None = None
        self.derivative_updates = 0
        self.n: Counter[str] = Counter()

    @property
    def name(self) -> str:
        return f"{self.exchange}/{self.base} ({self.tardis_exchange} {self.venue_symbol})"


def _finite(x: float) -> float | None:
    return None if math.isnan(x) else x


class _Importer:
    def __init__(
        self,
        out: Path,
        *,
        exchanges: Mapping[str, str] | None,
        contract_sizes: Mapping[str, float] | None,
        funding_interval_s: int | None,
        flush_rows: int,
        block_size: int,
    ) -> None:
        self.out = out
        self.exchanges = exchanges
        self.contract_sizes = contract_sizes
        self.funding_interval_s = funding_interval_s
        self.block_size = block_size
        self.markets: dict[tuple[str, str], _Market] = {}
        self.by_name: dict[tuple[str, str], tuple[str, str]] = {}
        self.written: list[Path] = []
        self.sinks = {t: Sink(t, out, flush_rows, self.written) for t in ("tickers", "trades")}
        self.sinks["liquidations"] = Sink("liquidations", out, flush_rows, self.written)
        self.guard = MonotonicGuard()
        self.rows_read: Counter[str] = Counter()
        self.l1_choice: dict[tuple[str, str], str] | None = None
        self.has_derivative = False
        self.on_bytes: Callable[[int], None] | None = None

    def market(self, tardis_exchange: str, venue_symbol: str, where: str) -> _Market:
        key = (tardis_exchange, venue_symbol)
        m = self.markets.get(key)
        if m is not None:
            return m
        try:
            exchange, base, rule = resolve_market(
                tardis_exchange,
                venue_symbol,
                exchanges=self.exchanges,
                contract_sizes=self.contract_sizes,
            )
            check_exchange_name(exchange)
        except ValueError as exc:
            raise ValueError(f"{where}: {exc}") from None
        other = self.by_name.get((exchange, base))
        if other is not None:
            raise ValueError(
                f"{where}: {tardis_exchange} {venue_symbol} and {other[0]} {other[1]} would both "
                f"be market {exchange}/{base}; map one of the exchanges to another venue name "
                "(exchanges= / --exchange-map) or import them separately"
            )
        self.by_name[(exchange, base)] = key
        m = _Market(tardis_exchange, venue_symbol, exchange, base, rule)
        if self.funding_interval_s is not None:
            m.funding_interval_s = self.funding_interval_s
        self.markets[key] = m
        return m

    def _markets_of(self, batch: pa.RecordBatch, f: _File, first: int) -> list[_Market]:
        """Market of every row of a batch (resolved once per distinct name)."""
        ex = batch.column("exchange")
        sym = batch.column("symbol")
        pairs = pc.binary_join_element_wise(ex, sym, "\x00")
        enc = pc.dictionary_encode(pairs)
        markets = []
        for i, text in enumerate(enc.dictionary.to_pylist()):
            e, s = text.split("\x00")
            row = first + int(np.argmax(enc.indices.to_numpy(zero_copy_only=False) == i))
            markets.append(self.market(e, s, f"{f.path}: row {row}"))
        codes = enc.indices.to_numpy(zero_copy_only=False)
        return [markets[c] for c in codes]

    # -- streams of events (local_ts_ns, priority, file order, row payload) -----------------

    def _blocks(self, f: _File) -> Iterator[tuple[int, pa.RecordBatch, list[_Market]]]:
        """Non-empty blocks of a file: (number of its first row, the block, each row's
        market), counting every row read."""
        for first, batch in _batches(f, self.block_size, self.on_bytes):
            self.rows_read[f.kind] += batch.num_rows
            if batch.num_rows:
                yield first, batch, self._markets_of(batch, f, first)

    def _l1_events(self, f: _File, order: int) -> Iterator[tuple[Any, ...]]:
        for first, batch, markets in self._blocks(f):
            n = batch.num_rows
            if f.kind == "quotes":
                bid_px = _np(batch, "bid_price")[:, None]
                bid_q = _np(batch, "bid_amount")[:, None]
                ask_px = _np(batch, "ask_price")[:, None]
                ask_q = _np(batch, "ask_amount")[:, None]
            else:
                levels = int(f.kind.rsplit("_", 1)[1])
                bid_px = np.column_stack([_np(batch, f"bids[{i}].price") for i in range(levels)])
                bid_q = np.column_stack([_np(batch, f"bids[{i}].amount") for i in range(levels)])
                ask_px = np.column_stack([_np(batch, f"asks[{i}].price") for i in range(levels)])
                ask_q = np.column_stack([_np(batch, f"asks[{i}].amount") for i in range(levels)])
            k = np.array([m.rule.base_per_contract for m in markets])[:, None]
            usd = np.array([m.rule.usd_per_contract or 0.0 for m in markets], dtype=np.float64)[
                :, None
            ]
            with np.errstate(invalid="ignore", divide="ignore"):
                bid_sz = np.where(usd > 0, bid_q * usd / bid_px, bid_q * k)
                ask_sz = np.where(usd > 0, ask_q * usd / ask_px, ask_q * k)
                # Absent levels (NaN) fall outside the band: bids at 0, asks at +inf.
                bid_depth, ask_depth = depth_from_levels(
                    np.nan_to_num(bid_px, nan=0.0),
                    np.nan_to_num(bid_sz, nan=0.0),
                    np.where(np.isnan(ask_px), np.inf, ask_px),
                    np.nan_to_num(ask_sz, nan=0.0),
                )
            b, bq, a, aq = bid_px[:, 0], bid_sz[:, 0], ask_px[:, 0], ask_sz[:, 0]
            with np.errstate(invalid="ignore"):
                one_sided = ~(np.isfinite(b) & np.isfinite(a) & np.isfinite(bq) & np.isfinite(aq))
                non_positive = ~one_sided & ~((b > 0) & (a > 0) & (bq > 0) & (aq > 0))
                crossed = ~one_sided & ~non_positive & (b >= a)
            ok = ~(one_sided | non_positive | crossed)
            ts_local = _np(batch, "local_timestamp") * 1000
            ts_ex = _np(batch, "timestamp") * 1000
            for i in range(n):
                m = markets[i]
                if not ok[i]:
                    reason = (
                        "one_sided_quote"
                        if one_sided[i]
                        else "non_positive"
                        if non_positive[i]
                        else "crossed_quote"
                    )
                    m.n[reason] += 1
                    continue
                yield (
                    int(ts_local[i]),
                    _L1_AFTER,
                    order,
                    first + i,
                    m,
                    f,
                    int(ts_ex[i]),
                    float(b[i]),
                    float(bq[i]),
                    float(a[i]),
                    float(aq[i]),
                    float(bid_depth[i]),
                    float(ask_depth[i]),
                )

    def _derivative_events(self, f: _File, order: int) -> Iterator[tuple[Any, ...]]:
        for first, batch, markets in self._blocks(f):
            n = batch.num_rows
            ts_local = _np(batch, "local_timestamp") * 1000
            fts = batch.column("funding_timestamp")
            fts_ok = fts.is_valid().to_numpy(zero_copy_only=False)
            fts_ns = _np(batch, "funding_timestamp") * 1000
            rate = _np(batch, "funding_rate")
            pred = _np(batch, "predicted_funding_rate")
            oi = _np(batch, "open_interest")
            last = _np(batch, "last_price")
            mark = _np(batch, "mark_price")
            for i in range(n):
                yield (
                    int(ts_local[i]),
                    _DERIVATIVE_FIRST,
                    order,
                    first + i,
                    markets[i],
                    f,
                    int(fts_ns[i]) if fts_ok[i] else None,
                    float(rate[i]),
                    float(pred[i]),
                    float(oi[i]),
                    float(last[i]),
                    float(mark[i]),
                )

    def _print_events(self, f: _File, order: int) -> Iterator[tuple[Any, ...]]:
        for first, batch, markets in self._blocks(f):
            n = batch.num_rows
            ts_local = _np(batch, "local_timestamp") * 1000
            ts_ex = _np(batch, "timestamp") * 1000
            px = _np(batch, "price")
            amount = _np(batch, "amount")
            sides = batch.column("side").to_pylist()
            for i in range(n):
                yield (
                    int(ts_local[i]),
                    0,
                    order,
                    first + i,
                    markets[i],
                    f,
                    int(ts_ex[i]),
                    float(px[i]),
                    float(amount[i]),
                    sides[i],
                )

    # -- consumers -----------------------------------------------------------------------

    def _emit(self, table: str, m: _Market, ts: int, row: tuple[Any, ...], where: str) -> None:
        self.guard.check(table, m, ts, where, m.name)
        self.sinks[table].add(m, ts, row)

    def tickers(self, l1_files: list[_File], derivative_files: list[_File]) -> None:
        self.has_derivative = bool(derivative_files)
        streams = [self._derivative_events(f, i) for i, f in enumerate(derivative_files)]
        streams += [self._l1_events(f, i) for i, f in enumerate(l1_files)]
        choice = self.l1_choice
        for ev in heapq.merge(*streams, key=lambda e: (e[0], e[1], e[2], e[3])):
            ts, prio, _, row, m, f = ev[:6]
            where = f"{f.path}: row {row}"
            if prio == _DERIVATIVE_FIRST:
                self.guard.check("derivative_ticker", m, ts, where, m.name)
                fts, rate, pred, oi, last, mark = ev[6:]
                m.derivative_updates += 1
                if fts is not None:
                    m.funding_ts = fts
                if not math.isnan(rate):
                    m.funding_rate = rate
                if not math.isnan(pred):
                    m.predicted = pred
                if not math.isnan(mark) and mark > 0:
                    m.mark = mark
                if not math.isnan(oi):
                    m.oi_usd = self._oi_usd(m, oi, mark, last)
                continue
            if choice is not None and choice.get((m.tardis_exchange, m.venue_symbol)) != f.kind:
                m.n["lower_priority_l1"] += 1
                continue
            m.l1_source = f.kind
            ts_ex, b, bq, a, aq, bd, ad = ev[6:]
            interval = m.funding_interval_s
            if m.funding_rate is not None and m.funding_ts is not None:
                rate_now, next_ts = m.funding_rate, m.funding_ts
            elif self.has_derivative:
                m.n["before_funding"] += 1
                continue
            else:
                step = interval * 10**9
                rate_now, next_ts = 0.0, (ts_ex // step + 1) * step
                m.n["funding_placeholder"] += 1
            row_out = (
                ts,
                ts_ex,
                m.exchange,
                m.base,
                b,
                bq,
                a,
                aq,
                bd,
                ad,
                m.mark,
                rate_now,
                interval,
                next_ts,
                m.predicted,
                m.oi_usd,
            )
            self._emit("tickers", m, ts, row_out, where)

    @staticmethod
    def _oi_usd(m: _Market, oi: float, mark: float, last: float) -> float | None:
        if oi < 0:
            return None
        usd = m.rule.usd_per_contract
        if usd is not None:
            return oi * usd
        px = mark if not math.isnan(mark) and mark > 0 else m.mark
        if px is None:
            px = last if not math.isnan(last) and last > 0 else None
        if px is None:
            return None
        return oi * m.rule.base_per_contract * px

    def prints(self, table: str, files: list[_File]) -> None:
        streams = [self._print_events(f, i) for i, f in enumerate(files)]
        for ev in heapq.merge(*streams, key=lambda e: (e[0], e[2], e[3])):
            ts, _, _, row, m, f, ts_ex, px, amount, side_text = ev
            side = {"buy": 1, "sell": -1}.get(side_text)
            if side is None:
                m.n["unknown_side"] += 1
                continue
            if not (px > 0 and amount > 0):
                m.n["non_positive"] += 1
                continue
            usd = m.rule.usd_per_contract
            sz = amount * usd / px if usd is not None else amount * m.rule.base_per_contract
            where = f"{f.path}: row {row}"
            if table == "trades":
                self._emit(table, m, ts, (ts, ts_ex, m.exchange, m.base, px, sz, side), where)
            else:
                self._emit(table, m, ts, (ts, m.exchange, m.base, px, sz, side), where)

    def choose_l1(self, l1_files: list[_File]) -> None:
        """With several L1 data types, pick each market's best (a scan of the name columns)."""
        if len({f.kind for f in l1_files}) < 2:
            return
        best: dict[tuple[str, str], str] = {}
        for f in l1_files:
            with open_binary(f.path) as (binary, _):
                reader = pacsv.open_csv(
                    binary,
                    convert_options=pacsv.ConvertOptions(
                        column_types={"exchange": pa.string(), "symbol": pa.string()},
                        include_columns=["exchange", "symbol"],
                    ),
                )
                for batch in reader:
                    pairs = pc.unique(pc.binary_join_element_wise(*batch.columns, "\x00"))
                    for text in pairs.to_pylist():
                        key = tuple(text.split("\x00"))
                        old = best.get(key)
                        if old is None or _L1_PRIORITY[f.kind] > _L1_PRIORITY[old]:
                            best[key] = f.kind
        self.l1_choice = best

    def finish(self) -> list[TardisMarketSummary]:
        for sink in self.sinks.values():
            sink.close()
        out = []
        for m in sorted(self.markets.values(), key=lambda m: (m.exchange, m.base)):
            rows = {t: s.counts.get(m, 0) for t, s in self.sinks.items()}
            dups = {t: s.duplicates[m] for t, s in self.sinks.items() if s.duplicates.get(m)}
            tables = [t for t in self.sinks if (t, m) in self.guard.last]
            firsts = [self.guard.first[(t, m)] for t in tables]
            lasts = [self.guard.last[(t, m)] for t in tables]
            skipped = {k: v for k, v in m.n.items() if k != "funding_placeholder"}
            if skipped.get("before_funding") and rows["tickers"] == 0:
                logger.warning(
                    "%s: no derivative_ticker row with a funding rate: its %d L1 rows were skipped",
                    m.name,
                    skipped["before_funding"],
                )
            out.append(
                TardisMarketSummary(
                    exchange=m.exchange,
                    symbol=m.base,
                    tardis_exchange=m.tardis_exchange,
                    venue_symbol=m.venue_symbol,
                    size_rule=m.rule,
                    l1_source=m.l1_source,
                    tickers=rows["tickers"],
                    trades=rows["trades"],
                    liquidations=rows["liquidations"],
                    duplicates=dups,
                    skipped=skipped,
                    funding_placeholder_rows=m.n["funding_placeholder"],
                    derivative_updates=m.derivative_updates,
                    first_ts_local=min(firsts) if firsts else None,
                    last_ts_local=max(lasts) if lasts else None,
                )
            )
        return out


def import_tardis(
    sources: Sequence[str | os.PathLike[str]],
    out: str | os.PathLike[str],
    *,
    exchanges: Mapping[str, str] | None = None,
    contract_sizes: Mapping[str, float] | None = None,
    funding_interval_s: int | None = None,
    flush_rows: int = FLUSH_ROWS,
    block_size: int = BLOCK_SIZE,
    progress: bool = False,
) -> TardisSummary:
    """Import Tardis CSV files into a dataset.

    See the module docstring for the data types, the mapping of every column, the
    as-of join of the derivative ticker, names and size conversions.

    Parameters
    ----------
    sources
        Tardis CSV files (gzip or plain), any mix of data types, markets and days, in
        any order.
    out
        Dataset root (created if needed; an existing dataset is appended to).
    exchanges
        Tardis exchange id -> contract venue, on top of :data:`EXCHANGES`.
    contract_sizes
        Venue symbol -> base units per contract, for contract-quoted linear markets
        (OKX, KuCoin, Gate) beyond the built-in BTC and ETH sizes.
    funding_interval_s
        Funding interval of every market, seconds (default: the venue's, 8 h for
        unknown venues). Tardis's derivative ticker does not carry it.
    flush_rows
        Rows buffered per table before they are written.
    block_size
        Bytes of CSV text read per block and file.
    progress
        Show a progress bar over the compressed bytes read (only on a terminal).

    Returns
    -------
    TardisSummary
        Rows written, rows skipped by reason, duplicates merged, per market.

    Raises
    ------
    ValueError
        For an unsupported file, a value that does not parse (naming the file, row and
        column), an unknown contract size, two sources mapping to one market, or a
        ``local_timestamp`` going backwards within a market.
    FileNotFoundError
        If a source does not exist.
    """
    started = time.perf_counter()
    paths = check_sources(sources)
    if flush_rows < 1:
        raise ValueError(f"flush_rows must be >= 1, got {flush_rows}")
    if funding_interval_s is not None and funding_interval_s <= 0:
        raise ValueError(f"funding_interval_s must be > 0, got {funding_interval_s}")
    files = []
    for path in paths:
        header = _header(path)
        files.append(_File(path, detect_kind(path, header), header))
    root = Path(out)
    importer = _Importer(
        root,
        exchanges=exchanges,
        contract_sizes=contract_sizes,
        funding_interval_s=funding_interval_s,
        flush_rows=flush_rows,
        block_size=block_size,
    )
    bar = progress_bar(sum(p.stat().st_size for p in paths), "tardis", progress)
    importer.on_bytes = None if bar is None else bar.update
    l1 = [f for f in files if f.kind in _L1_PRIORITY]
    derivative = [f for f in files if f.kind == "derivative_ticker"]
    try:
        importer.choose_l1(l1)
        if l1:
            importer.tickers(l1, derivative)
        elif derivative:
            # Derivative tickers alone make no ticker rows; read them to report them.
            importer.tickers([], derivative)
        for table in ("trades", "liquidations"):
            chosen = [f for f in files if f.kind == table]
            if chosen:
                importer.prints(table, chosen)
        markets = importer.finish()
    finally:
        if bar is not None:
            bar.close()
    if l1 and not derivative:
        logger.warning(
            "no derivative_ticker file given: tickers carry a placeholder funding rate of 0"
        )
    summary = TardisSummary(
        out=root,
        sources=tuple((f.path, f.kind) for f in files),
        markets=tuple(markets),
        rows_read=dict(importer.rows_read),
        files=tuple(importer.written),
        elapsed_s=time.perf_counter() - started,
    )
    logger.info("%s", summary)
    return summary


# ---------------------------------------------------------------------------------------
# Command line
# ---------------------------------------------------------------------------------------


def _pair(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key or not value:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    return key.strip(), value.strip()


def _cmd(args: argparse.Namespace) -> int:
    sizes = {}
    for key, value in args.contract_size or ():
        try:
            sizes[key] = float(value)
        except ValueError:
            raise ValueError(f"--contract-size {key}={value}: not a number") from None
    summary = import_tardis(
        args.sources,
        args.out,
        exchanges=dict(args.exchange_map or ()),
        contract_sizes=sizes,
        funding_interval_s=args.funding_interval_s,
        flush_rows=args.flush_rows,
        progress=not args.no_progress,
    )
    print(summary)
    return 0


def add_cli(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``tardis`` on the ``import`` command's subparsers."""
    p: argparse.ArgumentParser = subparsers.add_parser(
        "tardis",
        help="import Tardis.dev CSV files (quotes, book snapshots, trades, derivative "
        "ticker, liquidations)",
        description="Import Tardis.dev CSV files (gzip or plain; data type read from the "
        "header) into a dataset: tickers from book_snapshot_25/5 (depth within 2 bps from "
        "the levels) or quotes, with the derivative ticker's funding, mark and open "
        "interest carried forward as of local time; trades; liquidations. See "
        "docs/importing.md.",
    )
    p.add_argument("sources", nargs="+", metavar="SRC", help="Tardis CSV files (.csv or .csv.gz)")
    p.add_argument("--out", required=True, metavar="DATASET", help="dataset root folder")
    p.add_argument(
        "--exchange-map",
        action="append",
        type=_pair,
        metavar="TARDIS_ID=VENUE",
        help="map a Tardis exchange id to a venue name (repeatable), e.g. deribit=deribit",
    )
    p.add_argument(
        "--contract-size",
        action="append",
        type=_pair,
        metavar="SYMBOL=BASE_PER_CONTRACT",
        help="base units per contract of a contract-quoted market (repeatable), e.g. "
        "SOL-USDT-SWAP=1",
    )
    p.add_argument(
        "--funding-interval-s",
        type=int,
        help="funding interval of every market in seconds (default: the venue's)",
    )
    p.add_argument(
        "--flush-rows",
        type=int,
        default=FLUSH_ROWS,
        help=f"rows buffered per table before writing (default {FLUSH_ROWS:,})",
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=_cmd)
    return p


__all__ = [
    "EXCHANGES",
    "SizeRule",
    "TardisMarketSummary",
    "TardisSummary",
    "add_cli",
    "detect_kind",
    "import_tardis",
    "resolve_market",
]
