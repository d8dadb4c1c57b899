"""Import raw Binance futures websocket recordings into the data contract.

Input: text files (gzip or plain), one message per line, ``<receive_ts_ns> <raw JSON>``,
as written by hftbacktest's recorder (``shared/realdata/hftbacktest``). A message is a
combined-stream envelope ``{"stream": ..., "data": {...}}`` or a bare event; a REST depth
snapshot is a bare ``{"lastUpdateId": ..., "bids": ..., "asks": ...}``. Supported events
(USDⓈ-M and COIN-M futures): ``bookTicker``, ``trade``, ``depthUpdate`` (diffs with
``U``/``u``/``pu``), REST snapshots, and if present ``markPriceUpdate`` and ``forceOrder``.
Other events are skipped and counted. Spot recordings are refused (their ``bookTicker``
carries no exchange time and their diffs no ``pu``).

Output, one row per message (``ts_local`` = the recorder's receive time in ns):

- **tickers**, one row per ``bookTicker``: ``ts_exchange`` = ``E`` (``T`` if no ``E``) in
  ms -> ns; L1 prices and sizes (base units); ``bid_depth_usd`` / ``ask_depth_usd`` = USD
  notional resting within 2 bps of the touch (inclusive), i.e. the bookTicker's own L1
  notional plus the levels of the rebuilt order book strictly behind the touch and within
  2 bps of it, as of that message (so depth >= L1 notional always). When the book is not
  in sync (before the REST snapshot has been joined to the diff stream, without a
  snapshot, or after a sequence gap until a later snapshot resyncs it) the depth is the L1
  notional alone, a lower bound (docs/data.md); the rows are counted per reason in the
  summary. Funding: these streams carry none. Without a ``markPrice`` stream,
  ``funding_rate`` = 0.0 (a placeholder, counted as ``funding_placeholder_rows``),
  ``funding_interval_s`` = 28800, ``next_funding_ts`` = the next 00/08/16 UTC boundary
  strictly after ``ts_exchange``, ``mark_px``, ``predicted_funding_rate`` and
  ``open_interest_usd`` missing. Funding scores are then neutral and the strategy's
  funding hard constraint (delta > 0.01 %/8 h) fails: such a dataset serves execution
  tests, not funding studies. With a ``markPrice`` stream, ``mark_px``, ``funding_rate``
  (``r``) and ``next_funding_ts`` (``T``) come from its latest message.
- **trades**, one row per ``trade`` with ``X`` = ``MARKET`` (other kinds, e.g. insurance
  fund or ADL prints, do not rest in or take from the book's queues; they are skipped and
  counted): ``ts_exchange`` = ``T``, ``side`` = -1 when ``m`` is true (the buyer was the
  maker, so the aggressor sold), else +1.
- **liquidations**, one row per ``forceOrder``: price ``ap`` (``p`` if zero), size ``z``
  (``q`` if zero), ``side`` -1 for ``S`` = SELL (a long was liquidated), +1 for BUY.

Markets and names: ``<BASE>USDT`` / ``<BASE>USDC`` (USDⓈ-M) are venue ``binance``,
``<BASE>USD_PERP`` (COIN-M) are venue ``binance_cm``, symbol ``<BASE>`` in both: the two
BTC perpetuals are two markets of symbol ``BTC``. ``binance_cm`` is not one of the seed's
venues, so the strategy ranks it hardest (SPEC §5) and needs fees for it in its config.
Other symbols (delivery contracts) are refused. COIN-M sizes are converted from contracts
to base units, ``contracts * contract_size_usd / price``, with Binance's contract sizes:
100 USD for BTC, 10 USD for every other coin (override with ``contract_size_usd``).

Order book (Binance's futures rules): diffs received before a snapshot are buffered;
on a snapshot with ``lastUpdateId`` L, diffs with ``u`` < L are dropped, the first one
applied must have ``U`` <= L <= ``u``, and afterwards every diff's ``pu`` must equal the
previous diff's ``u``. A break is a **sequence gap**: it is logged as a warning and
reported (time range, ids) in the summary, the book is discarded and depth falls back to
L1 until a later snapshot in the file resyncs it (a snapshot that does not join the
stream extends the gap). A USDⓈ-M snapshot carries no symbol: it belongs to the only
market seen in its file (or the next one to appear); when its file holds several markets
it cannot be attributed and is reported as such.

Rows are never reordered: ``ts_local`` going backwards within a market raises
``ValueError`` (naming the file and line). Rows of one market with the same ``ts_local``
that agree in every contract column are merged, as docs/data.md requires (tickers: one
kept; trades and liquidations: one row with the summed size) and counted. Rows are
flushed through :func:`spreadarb.write_table` every ``flush_rows`` rows (default
200,000), so memory stays bounded; an existing dataset at ``out`` is appended to
(re-running the same import is a no-op: ``write_table`` names files by content hash).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
import time
from collections import Counter, deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from spreadarb.data.contract import TABLES
from spreadarb.importers._common import (
    FLUSH_ROWS,
    BookSide,
    Row,
    Sink,
    TableRows,
    iso,
    open_lines,
    progress_bar,
)

logger = logging.getLogger(__name__)

FUNDING_INTERVAL_S = 28_800
"""Binance's default funding interval, used since the recordings carry no funding stream."""
PENDING_DIFFS = 10_000
"""Depth diffs kept per market while waiting for a snapshot (the oldest are dropped)."""
USDM_EXCHANGE = "binance"
COINM_EXCHANGE = "binance_cm"
COINM_CONTRACT_USD = {"BTC": 100.0}
"""Binance COIN-M contract sizes in USD that differ from the default."""
COINM_CONTRACT_USD_DEFAULT = 10.0

_MS = 1_000_000
_FUNDING_NS = FUNDING_INTERVAL_S * 10**9
_USDM_SYMBOL = re.compile(r"^([A-Z0-9]+?)(?:USDT|USDC)$")
_COINM_SYMBOL = re.compile(r"^([A-Z0-9]+?)USD_PERP$")
_EXCHANGE_NAME = re.compile(r"^[a-z0-9_.-]+$")

# Book states of a market.
_UNSYNCED = 0  # never in sync: no snapshot yet, or it has not been joined to the diffs yet
_SYNCING = 1  # snapshot applied, waiting for the first diff with u >= lastUpdateId
_SYNCED = 2  # book valid
_GAP = 3  # lost after a sequence gap (or a snapshot that does not join the stream)


# ---------------------------------------------------------------------------------------
# Summary
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SequenceGap:
    """A break in a market's depth-diff sequence, and how long the book stayed lost.

    Attributes
    ----------
    exchange, symbol, venue_symbol
        The market (``binance``, ``BTC``, ``BTCUSDT``).
    reason
        ``"pu_mismatch"`` (a diff's ``pu`` is not the previous diff's ``u``),
        ``"u_not_consecutive"`` (Bybit: a delta's ``u`` is not the previous ``u`` + 1) or
        ``"snapshot_not_connected"`` (the first diff at or after the snapshot's
        ``lastUpdateId`` starts after it, or the buffered diffs no longer reach back
        to it).
    start_ts_local
        Receive time (ns) of the message that revealed the gap; depth falls back to
        L1 from here.
    end_ts_local
        Receive time (ns) of the snapshot that resynced the book, or the market's last
        message when it never resynced.
    resynced
        Whether a later snapshot restored the book.
    expected_id, got_id
        For ``pu_mismatch``: the previous diff's ``u`` and the diff's ``pu``. For
        ``snapshot_not_connected``: the snapshot's ``lastUpdateId`` and the diff's ``U``.
    first_update_id, final_update_id
        ``U`` and ``u`` of the diff that revealed the gap.
    source, line
        Where that diff is (1-based line).
    failed_resyncs
        Snapshots during the gap that did not join the diff stream.
    """

    exchange: str
    symbol: str
    venue_symbol: str
    reason: str
    start_ts_local: int
    end_ts_local: int
    resynced: bool
    expected_id: int
    got_id: int
    first_update_id: int
    final_update_id: int
    source: str
    line: int
    failed_resyncs: int = 0

    @property
    def duration_s(self) -> float:
        """Length of the gap (time without depth from the book), seconds."""
        return (self.end_ts_local - self.start_ts_local) / 1e9

    def __str__(self) -> str:
        state = "resynced" if self.resynced else "never resynced"
        return (
            f"{self.exchange}/{self.symbol} ({self.venue_symbol}) sequence gap, {self.reason} "
            f"(expected {self.expected_id}, got {self.got_id}) at {self.source}:{self.line}: "
            f"{iso(self.start_ts_local)} .. {iso(self.end_ts_local)} UTC "
            f"({self.duration_s:.3f} s, {state})"
        )


@dataclass(frozen=True)
class MarketSummary:
    """What the import produced for one market.

    Attributes
    ----------
    exchange, symbol, venue_symbol
        Contract names and the venue's own symbol.
    coin_margined
        COIN-M contract (sizes converted from contracts of ``contract_size_usd``).
    contract_size_usd
        USD per contract for COIN-M, ``None`` for USDⓈ-M.
    tickers, trades, liquidations
        Rows written (after merging duplicates).
    ticker_duplicates, trade_duplicates, liquidation_duplicates
        Rows merged away as exact duplicates of another row of the same ``ts_local``.
    first_ts_local, last_ts_local
        Range of ``ts_local`` over the rows written (ns), ``None`` without rows.
    depth_from_book
        Ticker rows whose depth comes from the rebuilt book.
    depth_l1_unsynced
        Ticker rows with L1 depth because the book was not in sync yet (before the
        snapshot joined the diffs, no snapshot, or no depth stream).
    depth_l1_gap
        Ticker rows with L1 depth because of a sequence gap.
    snapshots, snapshots_used
        REST snapshots attributed to the market, and those that (re)synced the book.
    diffs, diffs_applied, diffs_stale, diffs_overflow
        Depth diffs received, applied to the book, dropped as older than a snapshot
        (``u`` < ``lastUpdateId``), dropped because the wait-for-snapshot buffer was full.
    gaps
        Sequence gaps, in time order.
    funding_placeholder_rows
        Ticker rows with the funding placeholder (no ``markPrice`` message seen yet).
    mark_price_updates
        ``markPriceUpdate`` messages used.
    non_market_trades
        ``trade`` messages with ``X`` other than ``MARKET``, skipped.
    """

    exchange: str
    symbol: str
    venue_symbol: str
    coin_margined: bool
    contract_size_usd: float | None
    tickers: int
    trades: int
    liquidations: int
    ticker_duplicates: int
    trade_duplicates: int
    liquidation_duplicates: int
    first_ts_local: int | None
    last_ts_local: int | None
    depth_from_book: int
    depth_l1_unsynced: int
    depth_l1_gap: int
    snapshots: int
    snapshots_used: int
    diffs: int
    diffs_applied: int
    diffs_stale: int
    diffs_overflow: int
    gaps: tuple[SequenceGap, ...]
    funding_placeholder_rows: int
    mark_price_updates: int
    non_market_trades: int

    @property
    def depth_l1_fallback(self) -> int:
        """Ticker rows whose depth is the L1 notional (any reason)."""
        return self.depth_l1_unsynced + self.depth_l1_gap

    def __str__(self) -> str:
        kind = "USDⓈ-M"
        if self.coin_margined:
            kind = f"COIN-M, {self.contract_size_usd:g} USD/contract"
        dups = self.ticker_duplicates + self.trade_duplicates + self.liquidation_duplicates
        return (
            f"{self.exchange}/{self.symbol} ({self.venue_symbol}, {kind}): "
            f"tickers {self.tickers:,}, trades {self.trades:,}, liquidations "
            f"{self.liquidations:,}; {iso(self.first_ts_local)} .. {iso(self.last_ts_local)}"
            f" UTC; depth from book {self.depth_from_book:,}, L1 fallback "
            f"{self.depth_l1_fallback:,} (unsynced {self.depth_l1_unsynced:,}, gap "
            f"{self.depth_l1_gap:,}); snapshots {self.snapshots} (used {self.snapshots_used}); "
            f"diffs {self.diffs:,} (applied {self.diffs_applied:,}, stale {self.diffs_stale:,}"
            f"); gaps {len(self.gaps)}; duplicates merged {dups}"
        )


@dataclass(frozen=True)
class ImportSummary(TableRows):
    """What :func:`import_binance_ws` read and wrote.

    Attributes
    ----------
    out
        Dataset root written to.
    sources
        Files read, in order.
    markets
        One summary per market, sorted by (exchange, symbol).
    lines
        Lines read (all sources).
    skipped
        Messages not turned into rows, by reason (``"other symbol"``, ``"event
        aggTrade"``, ``"unattributed snapshot"``, ...). Rows counted in a market's
        summary (stale diffs, non-market trades) are not repeated here.
    files
        Parquet files written, in writing order.
    elapsed_s
        Wall time of the import.
    """

    out: Path
    sources: tuple[Path, ...]
    markets: tuple[MarketSummary, ...]
    lines: int
    skipped: Mapping[str, int]
    files: tuple[Path, ...] = field(repr=False)
    elapsed_s: float

    @property
    def gaps(self) -> tuple[SequenceGap, ...]:
        """Every sequence gap of every market."""
        return tuple(g for m in self.markets for g in m.gaps)

    @property
    def depth_l1_fallback(self) -> int:
        """Ticker rows (all markets) whose depth is only the L1 notional."""
        return sum(m.depth_l1_fallback for m in self.markets)

    @property
    def duplicates(self) -> int:
        """Rows merged away as duplicates (all markets and tables)."""
        return sum(
            m.ticker_duplicates + m.trade_duplicates + m.liquidation_duplicates
            for m in self.markets
        )

    def market(self, exchange: str, symbol: str) -> MarketSummary:
        """The summary of market ``(exchange, symbol)``; ``KeyError`` if absent."""
        for m in self.markets:
            if (m.exchange, m.symbol) == (exchange, symbol):
                return m
        raise KeyError((exchange, symbol))

    def time_range(self) -> tuple[int, int] | None:
        """First and last ``ts_local`` (ns) over all rows written, ``None`` if none."""
        spans = [
            (m.first_ts_local, m.last_ts_local)
            for m in self.markets
            if m.first_ts_local is not None and m.last_ts_local is not None
        ]
        if not spans:
            return None
        return min(s for s, _ in spans), max(e for _, e in spans)

    def common_window(self, markets: Sequence[tuple[str, str]] | None = None) -> tuple[int, int]:
        """``ts_local`` window (ns) in which all the given markets have rows.

        Parameters
        ----------
        markets
            ``(exchange, symbol)`` pairs; default: every market imported.

        Returns
        -------
        tuple of int
            ``(start, end)``; ``end - start`` is the overlap (negative when the markets
            do not overlap).
        """
        chosen = self.markets if markets is None else tuple(self.market(e, s) for e, s in markets)
        starts = [m.first_ts_local for m in chosen if m.first_ts_local is not None]
        ends = [m.last_ts_local for m in chosen if m.last_ts_local is not None]
        if not starts or len(starts) != len(chosen):
            raise ValueError("a market without rows has no common window")
        return max(starts), min(ends)

    def __str__(self) -> str:
        rows = ", ".join(f"{k} {v:,}" for k, v in self.rows.items())
        lines = [
            f"imported {len(self.sources)} file(s), {self.lines:,} lines, into {self.out} in "
            f"{self.elapsed_s:.1f} s: {len(self.markets)} market(s); rows: {rows}; "
            f"{len(self.files)} file(s) written"
        ]
        lines += [f"  {m}" for m in self.markets]
        lines += [f"  gap: {g}" for g in self.gaps]
        with_rows = [(m.exchange, m.symbol) for m in self.markets if m.first_ts_local is not None]
        if len(with_rows) > 1:
            start, end = self.common_window(with_rows)
            overlap = max(end - start, 0) / 1e9
            lines.append(f"  markets with rows overlap for {overlap:.1f} s")
        if self.skipped:
            skipped = ", ".join(f"{k} {v:,}" for k, v in sorted(self.skipped.items()))
            lines.append(f"  skipped: {skipped}")
        placeholder = sum(m.funding_placeholder_rows for m in self.markets)
        if placeholder:
            lines.append(
                f"  funding: no markPrice stream for {placeholder:,} ticker rows: funding_rate "
                "0.0 placeholder, 8 h interval (funding scores neutral, funding constraint fails)"
            )
        return "\n".join(lines)


# ---------------------------------------------------------------------------------------
# Order book
# ---------------------------------------------------------------------------------------


class _Diff:
    __slots__ = ("asks", "bids", "first_id", "last_id", "line", "prev_id", "source", "ts")

    def __init__(self, ts: int, data: dict[str, Any], source: str, line: int) -> None:
        self.ts = ts
        self.first_id: int = data["U"]
        self.last_id: int = data["u"]
        self.prev_id: int = data["pu"]
        self.bids: list[list[str]] = data["b"]
        self.asks: list[list[str]] = data["a"]
        self.source = source
        self.line = line


# ---------------------------------------------------------------------------------------
# Per-market state
# ---------------------------------------------------------------------------------------


def contract_size_usd(base: str, overrides: Mapping[str, float] | None = None) -> float:
    """USD value of one Binance COIN-M contract of ``base`` (BTC 100, others 10)."""
    if overrides and base in overrides:
        value = float(overrides[base])
        if not value > 0:
            raise ValueError(f"contract size of {base} must be > 0, got {value}")
        return value
    return COINM_CONTRACT_USD.get(base, COINM_CONTRACT_USD_DEFAULT)


def canonical_symbol(venue_symbol: str) -> tuple[str, bool]:
    """Canonical base asset of a Binance futures symbol and whether it is COIN-M.

    ``BTCUSDT`` -> ``("BTC", False)``; ``BTCUSD_PERP`` -> ``("BTC", True)``.

    Raises
    ------
    ValueError
        For symbols that are not perpetuals (delivery contracts) or not recognised.
    """
    s = venue_symbol.upper()
    if match := _COINM_SYMBOL.match(s):
        return match.group(1), True
    if match := _USDM_SYMBOL.match(s):
        return match.group(1), False
    raise ValueError(
        f"unsupported Binance symbol {venue_symbol!r}: expected a perpetual, <BASE>USDT / "
        "<BASE>USDC (USDⓈ-M) or <BASE>USD_PERP (COIN-M); pass symbol= to import only "
        "another market of the file"
    )


class _Market:
    """Mutable import state of one market: book, sequence state, counters."""

    def __init__(
        self, venue_symbol: str, exchange: str, symbol: str, contract_usd: float | None
    ) -> None:
        self.venue_symbol = venue_symbol
        self.exchange = exchange
        self.symbol = symbol
        self.contract_usd = contract_usd  # None: USDⓈ-M (sizes already in base units)
        self.state = _UNSYNCED
        self.bids = BookSide()
        self.asks = BookSide()
        self.version = 0
        self.snapshot_id = 0
        self.last_u = 0
        self.pending: deque[_Diff] = deque()
        self.bid_cache: tuple[int, float, float] = (-1, 0.0, 0.0)
        self.ask_cache: tuple[int, float, float] = (-1, 0.0, 0.0)
        self.open_gap: dict[str, Any] | None = None
        self.gaps: list[SequenceGap] = []
        self.last_ts: dict[str, int] = {}
        self.first_row_ts: int | None = None
        self.last_row_ts: int | None = None
        self.last_seen_ts = 0
        self.mark_px: float | None = None
        self.funding_rate: float | None = None
        self.next_funding_ts: int | None = None
        self.n = Counter[str]()

    # -- depth ----------------------------------------------------------------------

    def _gap(self, reason: str, ts: int, diff: _Diff, expected: int, got: int) -> None:
        self.state = _GAP
        self.bids, self.asks = BookSide(), BookSide()
        self.version += 1
        if self.open_gap is not None:
            self.open_gap["failed_resyncs"] += 1
            return
        self.open_gap = {
            "exchange": self.exchange,
            "symbol": self.symbol,
            "venue_symbol": self.venue_symbol,
            "reason": reason,
            "start_ts_local": ts,
            "expected_id": expected,
            "got_id": got,
            "first_update_id": diff.first_id,
            "final_update_id": diff.last_id,
            "source": diff.source,
            "line": diff.line,
            "failed_resyncs": 0,
        }
        logger.warning(
            "%s %s (%s): depth sequence gap (%s: expected %d, got %d) at %s:%d, %s UTC; "
            "depth falls back to the L1 notional until a new snapshot resyncs the book",
            self.exchange,
            self.symbol,
            self.venue_symbol,
            reason,
            expected,
            got,
            diff.source,
            diff.line,
            iso(ts),
        )

    def _close_gap(self, ts: int, resynced: bool) -> None:
        if self.open_gap is not None:
            self.gaps.append(SequenceGap(end_ts_local=ts, resynced=resynced, **self.open_gap))
            self.open_gap = None

    def _buffer(self, diff: _Diff) -> None:
        if len(self.pending) >= PENDING_DIFFS:
            self.pending.popleft()
            self.n["diffs_overflow"] += 1
        self.pending.append(diff)

    def _apply(self, diff: _Diff) -> None:
        bids, asks = self.bids, self.asks
        for p, q in diff.bids:
            bids.set(float(p), float(q))
        for p, q in diff.asks:
            asks.set(float(p), float(q))
        self.last_u = diff.last_id
        self.version += 1
        self.n["diffs_applied"] += 1

    def _replay(self, diffs: Sequence[_Diff], ts: int) -> None:
        """Apply diffs that follow the sync point, checking the ``pu`` chain."""
        for i, diff in enumerate(diffs):
            if diff.prev_id != self.last_u:
                self._gap("pu_mismatch", ts, diff, self.last_u, diff.prev_id)
                for rest in diffs[i:]:
                    self._buffer(rest)
                return
            self._apply(diff)

    def _join(self, diff: _Diff, ts: int) -> bool:
        """Join the snapshot to ``diff`` (``u`` >= lastUpdateId); False if it cannot."""
        if diff.first_id > self.snapshot_id:
            self.n["snapshots_failed"] += 1
            self._gap("snapshot_not_connected", ts, diff, self.snapshot_id, diff.first_id)
            return False
        self._apply(diff)
        self.state = _SYNCED
        self.n["snapshots_used"] += 1
        self._close_gap(ts, resynced=True)
        return True

    def on_diff(self, diff: _Diff) -> None:
        self.n["diffs"] += 1
        if self.state == _SYNCED:
            if diff.prev_id == self.last_u:
                self._apply(diff)
            else:
                self._gap("pu_mismatch", diff.ts, diff, self.last_u, diff.prev_id)
                self._buffer(diff)
        elif self.state == _SYNCING:
            if diff.last_id < self.snapshot_id:
                self.n["diffs_stale"] += 1
            elif not self._join(diff, diff.ts):
                self._buffer(diff)
        else:
            self._buffer(diff)

    def on_snapshot(self, ts: int, data: Mapping[str, Any]) -> None:
        self.n["snapshots"] += 1
        if self.state == _SYNCED:
            # Already in sync: a further snapshot is redundant; the diff stream stays
            # authoritative (its pu chain is intact).
            return
        snap_id = int(data["lastUpdateId"])
        bids, asks = BookSide(), BookSide()
        for p, q in data.get("bids", ()):
            bids.set(float(p), float(q))
        for p, q in data.get("asks", ()):
            asks.set(float(p), float(q))
        self.bids, self.asks = bids, asks
        self.version += 1
        self.snapshot_id = snap_id
        self.last_u = snap_id
        pending = list(self.pending)
        self.pending.clear()
        stale = 0
        while stale < len(pending) and pending[stale].last_id < snap_id:
            stale += 1
        self.n["diffs_stale"] += stale
        if stale == len(pending):
            self.state = _SYNCING
            return
        if not self._join(pending[stale], ts):
            for diff in pending[stale:]:
                self._buffer(diff)
            return
        self._replay(pending[stale + 1 :], ts)

    def band(self, bid: float, ask: float) -> tuple[float, float]:
        """Book notional strictly behind the touch and within 2 bps (bid side, ask side)."""
        version = self.version
        vb, pb, bid_extra = self.bid_cache
        if vb != version or pb != bid:
            bid_extra = self.bids.bid_band(bid, self.contract_usd)
            self.bid_cache = (version, bid, bid_extra)
        va, pa_, ask_extra = self.ask_cache
        if va != version or pa_ != ask:
            ask_extra = self.asks.ask_band(ask, self.contract_usd)
            self.ask_cache = (version, ask, ask_extra)
        return bid_extra, ask_extra

    def summary(self, rows: Mapping[str, int], duplicates: Mapping[str, int]) -> MarketSummary:
        n = self.n
        return MarketSummary(
            exchange=self.exchange,
            symbol=self.symbol,
            venue_symbol=self.venue_symbol,
            coin_margined=self.contract_usd is not None,
            contract_size_usd=self.contract_usd,
            tickers=rows.get("tickers", 0),
            trades=rows.get("trades", 0),
            liquidations=rows.get("liquidations", 0),
            ticker_duplicates=duplicates.get("tickers", 0),
            trade_duplicates=duplicates.get("trades", 0),
            liquidation_duplicates=duplicates.get("liquidations", 0),
            first_ts_local=self.first_row_ts,
            last_ts_local=self.last_row_ts,
            depth_from_book=n["depth_from_book"],
            depth_l1_unsynced=n["depth_l1_unsynced"],
            depth_l1_gap=n["depth_l1_gap"],
            snapshots=n["snapshots"],
            snapshots_used=n["snapshots_used"],
            diffs=n["diffs"],
            diffs_applied=n["diffs_applied"],
            diffs_stale=n["diffs_stale"],
            diffs_overflow=n["diffs_overflow"],
            gaps=tuple(self.gaps),
            funding_placeholder_rows=n["funding_placeholder"],
            mark_price_updates=n["mark_price_updates"],
            non_market_trades=n["non_market_trades"],
        )


class _Importer:
    def __init__(
        self,
        out: Path,
        *,
        symbol: str | None,
        exchange: str | None,
        contract_sizes: Mapping[str, float] | None,
        flush_rows: int,
    ) -> None:
        self.out = out
        self.symbol_filter = symbol.upper() if symbol else None
        self.exchange = exchange
        self.contract_sizes = contract_sizes
        self.markets: dict[str, _Market] = {}
        self.by_name: dict[tuple[str, str], str] = {}
        self.accepted: dict[str, bool] = {}
        self.skipped = Counter[str]()
        self.lines = 0
        self.written: list[Path] = []
        self.sinks = {
            "tickers": Sink("tickers", out, flush_rows, self.written),
            "trades": Sink("trades", out, flush_rows, self.written),
            "liquidations": Sink("liquidations", out, flush_rows, self.written),
        }
        # Per source file, for attributing snapshots that carry no symbol.
        self.file_symbols: dict[str, None] = {}
        self.deferred: tuple[int, dict[str, Any], int] | None = None

    # -- markets ----------------------------------------------------------------------

    def _accepts(self, venue_symbol: str) -> bool:
        ok = self.accepted.get(venue_symbol)
        if ok is None:
            wanted = self.symbol_filter
            if wanted is None or wanted == venue_symbol.upper():
                ok = True
            else:
                try:
                    ok = canonical_symbol(venue_symbol)[0] == wanted
                except ValueError:
                    ok = False
            self.accepted[venue_symbol] = ok
        return ok

    def _market(self, venue_symbol: str, where: str) -> _Market:
        market = self.markets.get(venue_symbol)
        if market is not None:
            return market
        try:
            base, coinm = canonical_symbol(venue_symbol)
        except ValueError as exc:
            raise ValueError(f"{where}: {exc}") from None
        exchange = self.exchange or (COINM_EXCHANGE if coinm else USDM_EXCHANGE)
        key = (exchange, base)
        other = self.by_name.get(key)
        if other is not None:
            raise ValueError(
                f"{where}: {venue_symbol} and {other} would both be market {exchange}/{base}; "
                "import them separately with different exchange= names, or pass symbol= to "
                "import one of them"
            )
        self.by_name[key] = venue_symbol
        contract = contract_size_usd(base, self.contract_sizes) if coinm else None
        market = _Market(venue_symbol, exchange, base, contract)
        self.markets[venue_symbol] = market
        return market

    def _seen(self, venue_symbol: str, ts: int) -> None:
        """Note a symbol of the current file; hand it a snapshot waiting for its market."""
        if venue_symbol in self.file_symbols:
            return
        self.file_symbols[venue_symbol] = None
        if self.deferred is not None and len(self.file_symbols) == 1:
            snap_ts, data, _ = self.deferred
            self.deferred = None
            if self._accepts(venue_symbol):
                self._market(venue_symbol, "snapshot").on_snapshot(snap_ts, data)
            else:
                self.skipped["other symbol"] += 1

    # -- rows -------------------------------------------------------------------------

    def _emit(self, table: str, m: _Market, ts: int, row: Row, where: str) -> None:
        last = m.last_ts.get(table)
        if last is not None and ts < last:
            raise ValueError(
                f"{where}: ts_local {ts} ({iso(ts)}) of a {table} row of {m.exchange}/"
                f"{m.symbol} ({m.venue_symbol}) is earlier than the previous row's {last} "
                f"({iso(last)}); the data contract forbids ts_local going backwards within a "
                "market and the importer does not reorder rows: the recording is not in "
                "receive order (rows before this line may already have been written)"
            )
        m.last_ts[table] = ts
        if m.first_row_ts is None:
            m.first_row_ts = ts
        if m.last_row_ts is None or ts > m.last_row_ts:
            m.last_row_ts = ts
        self.sinks[table].add(m, ts, row)

    def _book_ticker(self, m: _Market, ts: int, d: Mapping[str, Any], where: str) -> None:
        event_ms = d.get("E") or d.get("T")
        if event_ms is None:
            raise ValueError(
                f"{where}: bookTicker without exchange time (E/T): a spot recording? Only "
                "futures (USDⓈ-M, COIN-M) recordings are supported"
            )
        bid, ask = float(d["b"]), float(d["a"])
        bid_q, ask_q = float(d["B"]), float(d["A"])
        if not (0.0 < bid < ask and bid_q > 0.0 and ask_q > 0.0):
            raise ValueError(
                f"{where}: bookTicker of {m.venue_symbol} breaks the data contract (bid "
                f"{d['b']} x {d['B']}, ask {d['a']} x {d['A']}: prices and sizes must be > 0 "
                "and bid < ask)"
            )
        cs = m.contract_usd
        if cs is None:
            bid_sz, ask_sz = bid_q, ask_q
            bid_l1, ask_l1 = bid * bid_q, ask * ask_q
        else:
            bid_l1, ask_l1 = bid_q * cs, ask_q * cs
            bid_sz, ask_sz = bid_l1 / bid, ask_l1 / ask
        if m.state == _SYNCED:
            bid_extra, ask_extra = m.band(bid, ask)
            bid_depth, ask_depth = bid_l1 + bid_extra, ask_l1 + ask_extra
            m.n["depth_from_book"] += 1
        else:
            bid_depth, ask_depth = bid_l1, ask_l1
            m.n["depth_l1_gap" if m.state == _GAP else "depth_l1_unsynced"] += 1
        ts_exchange = int(event_ms) * _MS
        rate = m.funding_rate
        if rate is None:
            rate = 0.0
            next_funding = (ts_exchange // _FUNDING_NS + 1) * _FUNDING_NS
            m.n["funding_placeholder"] += 1
        else:
            next_funding = m.next_funding_ts or (ts_exchange // _FUNDING_NS + 1) * _FUNDING_NS
        row = (
            ts,
            ts_exchange,
            m.exchange,
            m.symbol,
            bid,
            bid_sz,
            ask,
            ask_sz,
            bid_depth,
            ask_depth,
            m.mark_px,
            rate,
            FUNDING_INTERVAL_S,
            next_funding,
            None,
            None,
        )
        self._emit("tickers", m, ts, row, where)

    def _trade(self, m: _Market, ts: int, d: Mapping[str, Any], where: str) -> None:
        if d.get("X", "MARKET") != "MARKET":
            m.n["non_market_trades"] += 1
            return
        px, qty = float(d["p"]), float(d["q"])
        if not (px > 0.0 and qty > 0.0):
            raise ValueError(f"{where}: trade with price {d['p']} and quantity {d['q']}")
        sz = qty if m.contract_usd is None else qty * m.contract_usd / px
        side = -1 if d["m"] else 1
        row = (ts, int(d.get("T") or d["E"]) * _MS, m.exchange, m.symbol, px, sz, side)
        self._emit("trades", m, ts, row, where)

    def _force_order(self, m: _Market, ts: int, o: Mapping[str, Any], where: str) -> None:
        px = float(o.get("ap") or 0.0) or float(o["p"])
        qty = float(o.get("z") or 0.0) or float(o["q"])
        if not (px > 0.0 and qty > 0.0):
            raise ValueError(f"{where}: forceOrder with price {px} and quantity {qty}")
        sz = qty if m.contract_usd is None else qty * m.contract_usd / px
        side = -1 if o["S"] == "SELL" else 1
        self._emit("liquidations", m, ts, (ts, m.exchange, m.symbol, px, sz, side), where)

    def _mark_price(self, m: _Market, d: Mapping[str, Any]) -> None:
        m.n["mark_price_updates"] += 1
        mark = float(d.get("p") or 0.0)
        m.mark_px = mark if mark > 0.0 else None
        if d.get("r") not in (None, ""):
            m.funding_rate = float(d["r"])
        if d.get("T"):
            m.next_funding_ts = int(d["T"]) * _MS

    def _snapshot(self, ts: int, data: dict[str, Any], source: str, n: int) -> None:
        venue_symbol = data.get("symbol") or data.get("s")
        if venue_symbol is None:
            candidates = list(self.file_symbols)
            if not candidates:
                if self.deferred is not None:
                    self.skipped["unattributed snapshot"] += 1
                self.deferred = (ts, data, n)
                return
            if len(candidates) > 1:
                self.skipped["unattributed snapshot"] += 1
                logger.warning(
                    "%s:%d: REST depth snapshot without a symbol in a file with several "
                    "markets (%s): it cannot be attributed and is not used",
                    source,
                    n,
                    ", ".join(candidates),
                )
                return
            venue_symbol = candidates[0]
        self._seen(venue_symbol, ts)
        if not self._accepts(venue_symbol):
            self.skipped["other symbol"] += 1
            return
        self._market(venue_symbol, f"{source}:{n}").on_snapshot(ts, data)

    def read(self, path: Path, on_bytes: Callable[[int], None] | None) -> None:
        source = str(path)
        self.file_symbols = {}
        self.deferred = None
        loads = json.loads
        for n, line in enumerate(open_lines(path, on_bytes), 1):
            self.lines += 1
            head, sep, payload = line.partition(" ")
            if not sep:
                if not line.strip():
                    continue
                raise ValueError(f"{source}:{n}: expected '<receive_ts_ns> <json>'")
            try:
                ts = int(head)
                msg = loads(payload)
            except ValueError as exc:
                raise ValueError(f"{source}:{n}: unreadable line ({exc})") from None
            if not isinstance(msg, dict):
                raise ValueError(f"{source}:{n}: expected a JSON object")
            data = msg.get("data", msg) if "stream" in msg else msg
            event = data.get("e")
            if event is None:
                if "lastUpdateId" in data:
                    self._snapshot(ts, data, source, n)
                    continue
                if str(msg.get("stream", "")).endswith("@bookTicker"):
                    event = "bookTicker"
                else:
                    self.skipped["unknown message"] += 1
                    continue
            if event == "forceOrder":
                body = data["o"]
            elif event in ("bookTicker", "trade", "depthUpdate", "markPriceUpdate"):
                body = data
            else:
                self.skipped[f"event {event}"] += 1
                continue
            venue_symbol = body["s"]
            self._seen(venue_symbol, ts)
            if not self._accepts(venue_symbol):
                self.skipped["other symbol"] += 1
                continue
            where = f"{source}:{n}"
            m = self._market(venue_symbol, where)
            m.last_seen_ts = max(m.last_seen_ts, ts)
            if event == "bookTicker":
                self._book_ticker(m, ts, body, where)
            elif event == "trade":
                self._trade(m, ts, body, where)
            elif event == "depthUpdate":
                if "pu" not in body:
                    raise ValueError(
                        f"{where}: depth diff without 'pu' (a spot stream?); only futures "
                        "(USDⓈ-M, COIN-M) recordings are supported"
                    )
                m.on_diff(_Diff(ts, body, source, n))
            elif event == "markPriceUpdate":
                self._mark_price(m, body)
            else:
                self._force_order(m, ts, body, where)
        if self.deferred is not None:
            self.skipped["unattributed snapshot"] += 1
            logger.warning("%s: REST depth snapshot without any market in the file", source)
            self.deferred = None

    def finish(self) -> list[MarketSummary]:
        for sink in self.sinks.values():
            sink.close()
        summaries = []
        for m in sorted(self.markets.values(), key=lambda m: (m.exchange, m.symbol)):
            m._close_gap(max(m.last_seen_ts, m.last_row_ts or 0), resynced=False)
            rows = {t: s.counts.get(m, 0) for t, s in self.sinks.items()}
            dups = {t: s.duplicates.get(m, 0) for t, s in self.sinks.items()}
            summary = m.summary(rows, dups)
            if summary.snapshots == 0 and summary.tickers:
                logger.warning(
                    "%s %s (%s): no REST depth snapshot; depth is the L1 notional for all "
                    "%d ticker rows",
                    m.exchange,
                    m.symbol,
                    m.venue_symbol,
                    summary.tickers,
                )
            summaries.append(summary)
        return summaries


def import_binance_ws(
    sources: Sequence[str | os.PathLike[str]],
    out: str | os.PathLike[str],
    *,
    symbol: str | None = None,
    exchange: str | None = None,
    contract_size_usd: Mapping[str, float] | None = None,
    flush_rows: int = FLUSH_ROWS,
    progress: bool = False,
) -> ImportSummary:
    """Import raw Binance futures websocket recordings into a dataset.

    See the module docstring for the mapping of every column, the order-book rebuild
    and its sequence rules, and the conventions (venue names, contract sizes, funding
    placeholders).

    Parameters
    ----------
    sources
        Recording files (gzip or plain text, ``<receive_ts_ns> <raw JSON>`` per line),
        read in the order given; a market continuing over several files keeps its book
        and sequence state (give its files in time order).
    out
        Dataset root (created if needed; an existing dataset is appended to).
    symbol
        Import only this market: a venue symbol (``BTCUSDT``, case-insensitive) or a
        canonical base asset (``BTC``: every Binance market of BTC). Other markets'
        messages are skipped and counted. Default: every market in the sources.
    exchange
        Venue name for every market. Default: ``binance`` for USDⓈ-M, ``binance_cm``
        for COIN-M contracts.
    contract_size_usd
        COIN-M contract sizes in USD by base asset, overriding Binance's (BTC 100,
        others 10).
    flush_rows
        Rows buffered per table before they are written through ``write_table``.
    progress
        Show a progress bar (tqdm) over the compressed bytes read (only on a terminal).

    Returns
    -------
    ImportSummary
        Rows, duplicates merged, depth fallbacks, sequence gaps, time ranges per market.

    Raises
    ------
    ValueError
        For an unreadable line, an unsupported symbol or stream (spot), a message that
        breaks the contract, or ``ts_local`` going backwards within a market (the error
        names the file and line; rows flushed before it stay written).
    FileNotFoundError
        If a source does not exist.
    spreadarb.DataError
        If a frame is refused by ``write_table`` (not expected for valid input).
    """
    started = time.perf_counter()
    paths = [Path(s) for s in sources]
    if not paths:
        raise ValueError("no source files given")
    for path in paths:
        if not path.is_file():
            raise FileNotFoundError(f"source file {str(path)!r} does not exist")
    if exchange is not None and not _EXCHANGE_NAME.match(exchange):
        raise ValueError(f"invalid exchange name {exchange!r}: use lower-case [a-z0-9_.-]")
    if flush_rows < 1:
        raise ValueError(f"flush_rows must be >= 1, got {flush_rows}")
    root = Path(out)
    importer = _Importer(
        root,
        symbol=symbol,
        exchange=exchange,
        contract_sizes=contract_size_usd,
        flush_rows=flush_rows,
    )
    bar = progress_bar(sum(p.stat().st_size for p in paths), "binance-ws", progress)
    try:
        for path in paths:
            importer.read(path, None if bar is None else bar.update)
        markets = importer.finish()
    finally:
        if bar is not None:
            bar.close()
    for table, spec in TABLES.items():
        if spec.required and not (root / table).is_dir():
            logger.warning(
                "no %s rows in the sources and none in %s: the dataset lacks the required %s "
                "table (validate reports missing_table)",
                table,
                root,
                table,
            )
    summary = ImportSummary(
        out=root,
        sources=tuple(paths),
        markets=tuple(markets),
        lines=importer.lines,
        skipped=dict(importer.skipped),
        files=tuple(importer.written),
        elapsed_s=time.perf_counter() - started,
    )
    logger.info("%s", summary)
    return summary


# ---------------------------------------------------------------------------------------
# Command line
# ---------------------------------------------------------------------------------------


def _cmd(args: argparse.Namespace) -> int:
    summary = import_binance_ws(
        args.sources,
        args.out,
        symbol=args.symbol,
        exchange=args.exchange,
        flush_rows=args.flush_rows,
        progress=not (args.quiet or args.no_progress),
    )
    print(summary)
    return 0


def add_cli(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``binance-ws`` on an ``add_subparsers()`` action (e.g. of ``import``).

    The command calls :func:`import_binance_ws` and prints the summary; it sets
    ``func`` (returning the exit code 0) like the other ``spreadarb`` commands.
    """
    p: argparse.ArgumentParser = subparsers.add_parser(
        "binance-ws",
        help="import raw Binance futures websocket recordings",
        description="Import raw Binance futures websocket recordings (<receive_ts_ns> <json> "
        "per line; bookTicker, trade, depth diffs and REST snapshots) into a dataset: tickers "
        "with depth within 2 bps from the rebuilt book, trades, liquidations. Sequence gaps "
        "and depth fallbacks are reported. USDⓈ-M markets go to venue 'binance', COIN-M to "
        "'binance_cm'.",
    )
    p.add_argument("sources", nargs="+", metavar="SRC", help="recording files (.gz or text)")
    p.add_argument("--out", required=True, metavar="DATASET", help="dataset root folder")
    p.add_argument("--symbol", help="import only this market (BTCUSDT, or a base asset: BTC)")
    p.add_argument("--exchange", help="venue name for every market (default: binance / binance_cm)")
    p.add_argument(
        "--flush-rows",
        type=int,
        default=FLUSH_ROWS,
        help=f"rows buffered per table before writing (default {FLUSH_ROWS:,})",
    )
    p.add_argument("--quiet", action="store_true", help="no progress bar (same as --no-progress)")
    p.add_argument(
        "--no-progress",
        action="store_true",
        help="no progress bar (it is also off when stderr is not a terminal)",
    )
    p.set_defaults(func=_cmd)
    return p


__all__ = [
    "ImportSummary",
    "MarketSummary",
    "SequenceGap",
    "add_cli",
    "canonical_symbol",
    "contract_size_usd",
    "import_binance_ws",
]
