"""Import cryptofeed-style raw Bybit v5 websocket recordings into the data contract.

Input: JSON lines (zstd, gzip or plain), one envelope per line, as written by
cryptofeed's raw-data recorder (``shared/realdata/cryptofeed``)::

    {"t": "header", ...}                                   recording header
    {"t": "connect", "conn": C, "ts": S, "addr": URL}      a websocket connection
    {"t": "recv", "conn": C, "ts": S, "data": "<raw message text>"}
    {"t": "send" | "http" | ..., ...}                      requests, REST responses

``ts`` is the recorder's receive time in seconds (a decimal number, converted to ns
exactly from its digits). Only ``recv`` lines of connections to Bybit's **linear**
endpoint (``.../v5/public/linear``: USDT and USDC perpetuals, sizes in base units)
make rows; messages of other endpoints (spot, inverse, option) and every other line
kind are skipped and counted by reason.

Topics (Bybit v5 public websocket):

- ``tickers.<SYMBOL>``: a ``snapshot`` then ``delta`` messages carrying only the fields
  that changed; the importer keeps the merged state and writes **one tickers row per
  message** once the state has both sides of L1 and funding: ``ts_exchange`` = the
  message's ``ts`` (ms), L1 = ``bid1Price/bid1Size/ask1Price/ask1Size``, ``mark_px`` =
  ``markPrice``, ``funding_rate`` = ``fundingRate``, ``funding_interval_s`` =
  ``fundingIntervalHour`` x 3600, ``next_funding_ts`` = ``nextFundingTime`` (ms),
  ``open_interest_usd`` = ``openInterestValue`` (``openInterest`` x mark without it),
  ``predicted_funding_rate`` missing (Bybit publishes none). Depth within 2 bps = the
  L1 notional plus the rebuilt book's levels strictly behind the touch and within 2 bps
  of it (as for Binance); the L1 notional alone while the book is not in sync.
- ``orderbook.<depth>.<SYMBOL>``: ``snapshot`` resets the book, ``delta`` sets levels
  (size 0 removes one). Sequence rule: a delta's update id ``u`` must be the previous
  message's ``u`` + 1. A break is a **sequence gap**: logged as a warning and reported
  (:class:`~spreadarb.importers.binance_ws.SequenceGap`), the book is discarded and depth
  falls back to L1 until the next snapshot (Bybit re-sends one after a service restart,
  with ``u`` = 1). With several depths for one symbol, the deepest book is used.
- ``publicTrade.<SYMBOL>``: one trades row per trade, ``ts_exchange`` = ``T``,
  ``side`` +1 for ``S`` = Buy (the taker bought), -1 for Sell. Block trades (``BT``
  true) are skipped and counted: they are not matched on the book.
- ``allLiquidation.<SYMBOL>`` (and the older ``liquidation.<SYMBOL>``): one liquidations
  row per event, ``side`` -1 for ``S`` = Buy (Bybit: "a long position has been
  liquidated", a forced sell), +1 for Sell.
- other topics (``kline.*``, ...) and control messages (subscription replies, pongs) are
  skipped and counted.

Markets are venue ``bybit`` (``exchange=`` overrides), symbol = the canonical base asset
(``BTCUSDT`` -> ``BTC``). Rows are never reordered: ``ts_local`` going backwards within a
market raises ``ValueError`` naming the file and line; exact duplicates are merged
(docs/data.md) and counted; rows are flushed through :func:`spreadarb.write_table` every
``flush_rows`` rows, so memory stays bounded.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from spreadarb.importers._common import (
    FLUSH_ROWS,
    BookSide,
    MonotonicGuard,
    Sink,
    TableRows,
    canonical_symbol,
    check_exchange_name,
    check_sources,
    counts_text,
    iso,
    open_lines,
    progress_bar,
)
from spreadarb.importers.binance_ws import SequenceGap

logger = logging.getLogger(__name__)

EXCHANGE = "bybit"
LINEAR_PATH = "/v5/public/linear"
_MS = 1_000_000


def receive_ts_ns(value: Any) -> int:
    """The recorder's ``ts`` (seconds, as JSON number text) as int ns, exactly.

    The text is parsed as a decimal, so ``1786310819.526357`` gives
    ``1786310819526357000`` with no float rounding.
    """
    try:
        return int(Decimal(str(value)) * 1_000_000_000)
    except (InvalidOperation, ValueError):
        raise ValueError(f"receive time {value!r} is not a number of seconds") from None


# ---------------------------------------------------------------------------------------
# Summary
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BybitMarketSummary:
    """What the import produced for one market.

    Attributes
    ----------
    exchange, symbol, venue_symbol
        Contract names and Bybit's symbol.
    tickers, trades, liquidations
        Rows written (after merging duplicates).
    duplicates
        Rows merged away, per table.
    skipped
        Messages or entries not written, by reason (``ticker_incomplete``: before the
        ticker state has L1 and funding; ``block_trade``; ``invalid_l1``).
    depth_from_book, depth_l1_unsynced, depth_l1_gap
        Ticker rows whose depth came from the book, and those with the L1 notional
        because the book was not in sync yet / after a sequence gap.
    book_checked, book_agrees
        Ticker rows written while the book was in sync, and those among them whose
        best bid and ask equal the ticker's ``bid1Price`` / ``ask1Price``.
    snapshots, deltas
        Order-book messages received.
    gaps
        Sequence gaps, in time order.
    first_ts_local, last_ts_local
        Range of ``ts_local`` (ns) over the rows written.
    """

    exchange: str
    symbol: str
    venue_symbol: str
    tickers: int
    trades: int
    liquidations: int
    duplicates: Mapping[str, int]
    skipped: Mapping[str, int]
    depth_from_book: int
    depth_l1_unsynced: int
    depth_l1_gap: int
    book_checked: int
    book_agrees: int
    snapshots: int
    deltas: int
    gaps: tuple[SequenceGap, ...]
    first_ts_local: int | None
    last_ts_local: int | None

    def __str__(self) -> str:
        return (
            f"{self.exchange}/{self.symbol} ({self.venue_symbol}): tickers {self.tickers:,}, "
            f"trades {self.trades:,}, liquidations {self.liquidations:,}; "
            f"{iso(self.first_ts_local)} .. {iso(self.last_ts_local)} UTC; depth from book "
            f"{self.depth_from_book:,}, L1 fallback {self.depth_l1_unsynced + self.depth_l1_gap:,}"
            f" (unsynced {self.depth_l1_unsynced:,}, gap {self.depth_l1_gap:,}); book best = "
            f"ticker L1 on {self.book_agrees:,} of {self.book_checked:,} rows; snapshots "
            f"{self.snapshots}, deltas {self.deltas:,}, gaps {len(self.gaps)}; skipped: "
            f"{counts_text(self.skipped)}; duplicates merged: {counts_text(self.duplicates)}"
        )


@dataclass(frozen=True)
class BybitSummary(TableRows):
    """What :func:`import_bybit_ws` read and wrote.

    Attributes
    ----------
    out, sources
        Dataset root and files read.
    markets
        One summary per market, sorted by (exchange, symbol).
    lines
        Lines read.
    skipped
        Lines and messages not turned into rows, by reason (``"spot stream"``,
        ``"topic kline"``, ``"line http"``, ``"control message"``, ...).
    files
        Parquet files written.
    elapsed_s
        Wall time.
    """

    out: Path
    sources: tuple[Path, ...]
    markets: tuple[BybitMarketSummary, ...]
    lines: int
    skipped: Mapping[str, int]
    files: tuple[Path, ...] = field(repr=False)
    elapsed_s: float

    @property
    def gaps(self) -> tuple[SequenceGap, ...]:
        """Every sequence gap of every market."""
        return tuple(g for m in self.markets for g in m.gaps)

    def market(self, exchange: str, symbol: str) -> BybitMarketSummary:
        """The summary of market ``(exchange, symbol)``; ``KeyError`` if absent."""
        for m in self.markets:
            if (m.exchange, m.symbol) == (exchange, symbol):
                return m
        raise KeyError((exchange, symbol))

    def __str__(self) -> str:
        rows = ", ".join(f"{k} {v:,}" for k, v in self.rows.items())
        lines = [
            f"imported {len(self.sources)} file(s), {self.lines:,} lines, into {self.out} in "
            f"{self.elapsed_s:.1f} s: {len(self.markets)} market(s); rows: {rows}; "
            f"{len(self.files)} file(s) written"
        ]
        lines += [f"  {m}" for m in self.markets]
        lines += [f"  gap: {g}" for g in self.gaps]
        lines.append(f"  skipped: {counts_text(self.skipped)}")
        return "\n".join(lines)


# ---------------------------------------------------------------------------------------
# Per-market state
# ---------------------------------------------------------------------------------------

_TICKER_FIELDS = (
    "bid1Price",
    "bid1Size",
    "ask1Price",
    "ask1Size",
    "markPrice",
    "fundingRate",
    "nextFundingTime",
    "fundingIntervalHour",
    "openInterest",
    "openInterestValue",
)


class _Book:
    """One order-book topic of a market (one depth)."""

    def __init__(self, depth: int) -> None:
        self.depth = depth
        self.bids = BookSide()
        self.asks = BookSide()
        self.synced = False
        self.lost = False  # after a gap, until the next snapshot
        self.last_u = 0


class _Market:
    def __init__(self, venue_symbol: str, exchange: str, symbol: str) -> None:
        self.venue_symbol = venue_symbol
        self.exchange = exchange
        self.symbol = symbol
        self.ticker: dict[str, str] = {}
        self.books: dict[int, _Book] = {}
        self.open_gap: dict[str, Any] | None = None
        self.gaps: list[SequenceGap] = []
        self.last_seen_ts = 0
        self.n: Counter[str] = Counter()

    @property
    def name(self) -> str:
        return f"{self.exchange}/{self.symbol} ({self.venue_symbol})"

    def book(self) -> _Book | None:
        """The deepest book topic of the market, if any."""
        if not self.books:
            return None
        return self.books[max(self.books)]

    # -- order book ---------------------------------------------------------------------

    def on_book(self, depth: int, kind: str, data: Mapping[str, Any], ts: int, where: str) -> None:
        book = self.books.get(depth)
        if book is None:
            book = self.books[depth] = _Book(depth)
        u = int(data["u"])
        if kind == "snapshot":
            self.n["snapshots"] += 1
            book.bids, book.asks = BookSide(), BookSide()
            book.synced, book.lost = True, False
            if self.open_gap is not None:
                self.gaps.append(SequenceGap(end_ts_local=ts, resynced=True, **self.open_gap))
                self.open_gap = None
        elif kind == "delta":
            self.n["deltas"] += 1
            if not book.synced:
                self.n["delta_unsynced"] += 1
                return
            if u != book.last_u + 1:
                self._gap(book, u, ts, where)
                return
        else:
            raise ValueError(f"{where}: order-book message of type {kind!r}")
        for p, q in data.get("b", ()):
            book.bids.set(float(p), float(q))
        for p, q in data.get("a", ()):
            book.asks.set(float(p), float(q))
        book.last_u = u

    def _gap(self, book: _Book, u: int, ts: int, where: str) -> None:
        expected = book.last_u + 1
        book.synced, book.lost = False, True
        book.bids, book.asks = BookSide(), BookSide()
        source, _, line = where.rpartition(":")
        self.open_gap = {
            "exchange": self.exchange,
            "symbol": self.symbol,
            "venue_symbol": self.venue_symbol,
            "reason": "u_not_consecutive",
            "start_ts_local": ts,
            "expected_id": expected,
            "got_id": u,
            "first_update_id": u,
            "final_update_id": u,
            "source": source,
            "line": int(line),
            "failed_resyncs": 0,
        }
        logger.warning(
            "%s: order-book sequence gap (expected u %d, got %d) at %s, %s UTC; depth falls "
            "back to the L1 notional until the next snapshot",
            self.name,
            expected,
            u,
            where,
            iso(ts),
        )

    def close(self) -> None:
        if self.open_gap is not None:
            self.gaps.append(
                SequenceGap(end_ts_local=self.last_seen_ts, resynced=False, **self.open_gap)
            )
            self.open_gap = None


# ---------------------------------------------------------------------------------------
# The importer
# ---------------------------------------------------------------------------------------


class _Importer:
    def __init__(self, out: Path, *, exchange: str, flush_rows: int) -> None:
        self.out = out
        self.exchange = exchange
        self.markets: dict[str, _Market] = {}
        self.written: list[Path] = []
        self.sinks = {
            t: Sink(t, out, flush_rows, self.written) for t in ("tickers", "trades", "liquidations")
        }
        self.guard = MonotonicGuard()
        self.skipped: Counter[str] = Counter()
        self.lines = 0

    def market(self, venue_symbol: str, where: str) -> _Market:
        m = self.markets.get(venue_symbol)
        if m is None:
            try:
                base = canonical_symbol(venue_symbol)
            except ValueError as exc:
                raise ValueError(f"{where}: {exc}") from None
            m = self.markets[venue_symbol] = _Market(venue_symbol, self.exchange, base)
        return m

    def _emit(self, table: str, m: _Market, ts: int, row: tuple[Any, ...], where: str) -> None:
        self.guard.check(table, m, ts, where, m.name)
        self.sinks[table].add(m, ts, row)

    def _ticker(self, m: _Market, ts: int, msg: Mapping[str, Any], where: str) -> None:
        data = msg["data"]
        if msg.get("type") == "snapshot":
            m.ticker = {}
        state = m.ticker
        for key in _TICKER_FIELDS:
            value = data.get(key)
            if value not in (None, ""):
                state[key] = value
        need = ("bid1Price", "bid1Size", "ask1Price", "ask1Size", "fundingRate", "nextFundingTime")
        if any(k not in state for k in need):
            m.n["ticker_incomplete"] += 1
            return
        bid, bid_sz = float(state["bid1Price"]), float(state["bid1Size"])
        ask, ask_sz = float(state["ask1Price"]), float(state["ask1Size"])
        if not (0.0 < bid < ask and bid_sz > 0.0 and ask_sz > 0.0):
            m.n["invalid_l1"] += 1
            return
        bid_depth, ask_depth = bid * bid_sz, ask * ask_sz
        book = m.book()
        if book is not None and book.synced:
            bid_depth += book.bids.bid_band(bid)
            ask_depth += book.asks.ask_band(ask)
            m.n["depth_from_book"] += 1
            m.n["book_checked"] += 1
            if book.bids.best_bid() == bid and book.asks.best_ask() == ask:
                m.n["book_agrees"] += 1
        elif book is not None and book.lost:
            m.n["depth_l1_gap"] += 1
        else:
            m.n["depth_l1_unsynced"] += 1
        mark = float(state["markPrice"]) if "markPrice" in state else None
        if "openInterestValue" in state:
            oi_usd: float | None = float(state["openInterestValue"])
        elif "openInterest" in state and mark is not None:
            oi_usd = float(state["openInterest"]) * mark
        else:
            oi_usd = None
        hours = float(state.get("fundingIntervalHour", 8))
        row = (
            ts,
            int(msg["ts"]) * _MS,
            m.exchange,
            m.symbol,
            bid,
            bid_sz,
            ask,
            ask_sz,
            bid_depth,
            ask_depth,
            mark,
            float(state["fundingRate"]),
            round(hours * 3600),
            int(state["nextFundingTime"]) * _MS,
            None,
            oi_usd,
        )
        self._emit("tickers", m, ts, row, where)

    def _trades(self, m: _Market, ts: int, msg: Mapping[str, Any], where: str) -> None:
        for t in msg["data"]:
            if t.get("BT"):
                m.n["block_trade"] += 1
                continue
            px, sz = float(t["p"]), float(t["v"])
            if not (px > 0.0 and sz > 0.0):
                raise ValueError(f"{where}: trade with price {t['p']} and size {t['v']}")
            side = {"Buy": 1, "Sell": -1}.get(t["S"])
            if side is None:
                raise ValueError(f"{where}: trade side {t['S']!r}, expected Buy or Sell")
            row = (ts, int(t["T"]) * _MS, m.exchange, m.symbol, px, sz, side)
            self._emit("trades", m, ts, row, where)

    def _liquidations(self, m: _Market, ts: int, msg: Mapping[str, Any], where: str) -> None:
        data = msg["data"]
        entries = data if isinstance(data, list) else [data]
        for e in entries:
            px = float(e.get("p", e.get("price", 0)) or 0)
            sz = float(e.get("v", e.get("size", 0)) or 0)
            side_text = e.get("S", e.get("side"))
            if not (px > 0.0 and sz > 0.0):
                raise ValueError(f"{where}: liquidation with price {px} and size {sz}")
            # Bybit gives the liquidated *position's* side: Buy = a long was liquidated.
            side = {"Buy": -1, "Sell": 1}.get(str(side_text))
            if side is None:
                raise ValueError(f"{where}: liquidation side {side_text!r}, expected Buy/Sell")
            self._emit("liquidations", m, ts, (ts, m.exchange, m.symbol, px, sz, side), where)

    def read(self, path: Path, on_bytes: Callable[[int], None] | None) -> None:
        source = str(path)
        endpoints: dict[str, str] = {}
        for n, line in enumerate(open_lines(path, on_bytes), 1):
            self.lines += 1
            if not line.strip():
                continue
            where = f"{source}:{n}"
            try:
                env = json.loads(line, parse_float=str)
            except ValueError as exc:
                raise ValueError(f"{where}: unreadable line ({exc})") from None
            if not isinstance(env, dict) or "t" not in env:
                raise ValueError(f"{where}: expected a cryptofeed record {{'t': ..., ...}}")
            kind = env["t"]
            if kind == "connect":
                endpoints[env["conn"]] = str(env.get("addr", ""))
                self.skipped["line connect"] += 1
                continue
            if kind != "recv":
                self.skipped[f"line {kind}"] += 1
                continue
            addr = endpoints.get(env.get("conn", ""))
            if addr is None:
                raise ValueError(
                    f"{where}: message of connection {env.get('conn')!r} seen "
                    "before its 'connect' line: cannot tell its endpoint"
                )
            if not addr.rstrip("/").endswith(LINEAR_PATH):
                self.skipped[f"{addr.rstrip('/').rsplit('/', 1)[-1]} stream"] += 1
                continue
            ts = receive_ts_ns(env["ts"])
            try:
                msg = json.loads(env["data"])
            except (TypeError, ValueError) as exc:
                raise ValueError(f"{where}: unreadable message ({exc})") from None
            topic = msg.get("topic") if isinstance(msg, dict) else None
            if topic is None:
                self.skipped["control message"] += 1
                continue
            channel, _, venue_symbol = topic.rpartition(".")
            head = channel.split(".", 1)[0]
            if head not in ("tickers", "orderbook", "publicTrade", "allLiquidation", "liquidation"):
                self.skipped[f"topic {head}"] += 1
                continue
            m = self.market(venue_symbol, where)
            m.last_seen_ts = max(m.last_seen_ts, ts)
            try:
                if head == "tickers":
                    self._ticker(m, ts, msg, where)
                elif head == "orderbook":
                    m.on_book(
                        int(channel.split(".")[1]), msg.get("type", ""), msg["data"], ts, where
                    )
                elif head == "publicTrade":
                    self._trades(m, ts, msg, where)
                else:
                    self._liquidations(m, ts, msg, where)
            except (KeyError, TypeError) as exc:
                raise ValueError(f"{where}: {topic} message lacks or mangles {exc}") from None

    def finish(self) -> list[BybitMarketSummary]:
        for sink in self.sinks.values():
            sink.close()
        out = []
        for m in sorted(self.markets.values(), key=lambda m: (m.exchange, m.symbol)):
            m.close()
            tables = [t for t in self.sinks if (t, m) in self.guard.last]
            n = m.n
            internal = (
                "depth_from_book",
                "depth_l1_unsynced",
                "depth_l1_gap",
                "book_checked",
                "book_agrees",
                "snapshots",
                "deltas",
            )
            out.append(
                BybitMarketSummary(
                    exchange=m.exchange,
                    symbol=m.symbol,
                    venue_symbol=m.venue_symbol,
                    tickers=self.sinks["tickers"].counts.get(m, 0),
                    trades=self.sinks["trades"].counts.get(m, 0),
                    liquidations=self.sinks["liquidations"].counts.get(m, 0),
                    duplicates={
                        t: s.duplicates[m] for t, s in self.sinks.items() if s.duplicates.get(m)
                    },
                    skipped={k: v for k, v in n.items() if k not in internal},
                    depth_from_book=n["depth_from_book"],
                    depth_l1_unsynced=n["depth_l1_unsynced"],
                    depth_l1_gap=n["depth_l1_gap"],
                    book_checked=n["book_checked"],
                    book_agrees=n["book_agrees"],
                    snapshots=n["snapshots"],
                    deltas=n["deltas"],
                    gaps=tuple(m.gaps),
                    first_ts_local=min(self.guard.first[(t, m)] for t in tables)
                    if tables
                    else None,
                    last_ts_local=max(self.guard.last[(t, m)] for t in tables) if tables else None,
                )
            )
        return out


def import_bybit_ws(
    sources: Sequence[str | os.PathLike[str]],
    out: str | os.PathLike[str],
    *,
    exchange: str = EXCHANGE,
    flush_rows: int = FLUSH_ROWS,
    progress: bool = False,
) -> BybitSummary:
    """Import cryptofeed-style raw Bybit v5 websocket recordings into a dataset.

    See the module docstring for the topics read, the mapping of every column and the
    order-book sequence rule.

    Parameters
    ----------
    sources
        Recording files (zstd, gzip or plain JSON lines), read in the order given.
    out
        Dataset root (created if needed; an existing dataset is appended to).
    exchange
        Venue name of every market (default ``bybit``).
    flush_rows
        Rows buffered per table before they are written.
    progress
        Show a progress bar over the compressed bytes read (only on a terminal).

    Returns
    -------
    BybitSummary
        Rows, skipped messages by reason, depth sources, sequence gaps, book agreement.

    Raises
    ------
    ValueError
        For an unreadable line or message, a message that breaks the contract, or
        ``ts_local`` going backwards within a market (naming the file and line).
    FileNotFoundError
        If a source does not exist.
    """
    started = time.perf_counter()
    paths = check_sources(sources)
    check_exchange_name(exchange)
    if flush_rows < 1:
        raise ValueError(f"flush_rows must be >= 1, got {flush_rows}")
    root = Path(out)
    importer = _Importer(root, exchange=exchange, flush_rows=flush_rows)
    bar = progress_bar(sum(p.stat().st_size for p in paths), "bybit-ws", progress)
    try:
        for path in paths:
            importer.read(path, None if bar is None else bar.update)
        markets = importer.finish()
    finally:
        if bar is not None:
            bar.close()
    summary = BybitSummary(
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


def _cmd(args: argparse.Namespace) -> int:
    summary = import_bybit_ws(
        args.sources,
        args.out,
        exchange=args.exchange,
        flush_rows=args.flush_rows,
        progress=not args.no_progress,
    )
    print(summary)
    return 0


def add_cli(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``bybit-ws`` on the ``import`` command's subparsers."""
    p: argparse.ArgumentParser = subparsers.add_parser(
        "bybit-ws",
        help="import cryptofeed-style raw Bybit v5 websocket recordings",
        description="Import raw Bybit v5 linear websocket recordings in cryptofeed's "
        "JSON-lines form (zstd, gzip or plain): tickers with funding and open interest and "
        "depth within 2 bps from the rebuilt order book, trades, liquidations. Sequence "
        "gaps are reported. See docs/importing.md.",
    )
    p.add_argument("sources", nargs="+", metavar="SRC", help="recording files")
    p.add_argument("--out", required=True, metavar="DATASET", help="dataset root folder")
    p.add_argument("--exchange", default=EXCHANGE, help="venue name (default bybit)")
    p.add_argument(
        "--flush-rows",
        type=int,
        default=FLUSH_ROWS,
        help=f"rows buffered per table before writing (default {FLUSH_ROWS:,})",
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=_cmd)
    return p


__all__ = ["BybitMarketSummary", "BybitSummary", "add_cli", "import_bybit_ws", "receive_ts_ns"]
