"""``spreadarb.backtest`` (this module): dataset + config -> :class:`BacktestResult` (SPEC §5-§6).

Builds the engine's inputs (merged event stream, grid, latencies, entry candidates from
the scan), runs :func:`spreadarb.kernels.engine.simulate_nb`, and trims the records.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from spreadarb import _ahead
from spreadarb.config import StrategyConfig
from spreadarb.data.contract import TABLES
from spreadarb.data.dataset import Dataset, MarketTable
from spreadarb.enums import (
    Reason,
    equity_dt,
    leg_out_dt,
    opportunity_dt,
    order_dt,
    rejection_dt,
    trade_dt,
)
from spreadarb.kernels.engine import (
    Book,
    Candidates,
    EngineParams,
    Prints,
    Records,
    State,
    Static,
    new_state,
    simulate_nb,
)
from spreadarb.kernels.events import (
    WINDOW_EVENTS,
    first_unsorted_run_nb,
    merge_part_nb,
    run_bounds_nb,
)
from spreadarb.results import BacktestResult
from spreadarb.scanner import rank_passing, scan_key, scan_records
from spreadarb.state import MarketFeatures, market_features, seconds_to_ns

#: LLVM optimisation level of the engine compiled ahead (numba's default is 3). The event
#: loop is branchy scalar code that -O3 makes no faster than -O1 (kernel events/s within
#: 1 % on the hftbacktest-comparison workload and the synthetic day), and -O1 compiles it
#: 0.8 s (8 %) faster, on the critical path of a cold first backtest.
ENGINE_LLVM_OPT = 1


def engine_params(config: StrategyConfig) -> EngineParams:
    """The engine's scalar parameters from a config."""
    return EngineParams(
        starting_capital=float(config.starting_capital),
        max_position_fraction=float(config.max_position_fraction),
        depth_size_fraction=float(config.depth_size_fraction),
        depth_multiple=float(config.depth_multiple),
        min_position_usd=float(config.min_position_usd),
        expected_hold_h=float(config.expected_hold_h),
        fill_threshold=1.0 if config.queue_model == "risk_averse" else float(config.fill_threshold),
        entry_timeout_ns=seconds_to_ns(config.entry_timeout_ms / 1e3),
        leg_timeout_ns=seconds_to_ns(config.leg_timeout_ms / 1e3),
        exit_timeout_ns=seconds_to_ns(config.exit_timeout_ms / 1e3),
        default_latency_ns=seconds_to_ns(config.max_latency_ms / 1e3),
        slippage_base=float(config.slippage_base),
        slippage_depth_coef=float(config.slippage_depth_coef),
        slippage_cap=float(config.slippage_cap),
        max_trades_per_symbol=int(config.max_trades_per_symbol),
        exit_funding_delta_8h=float(config.exit_funding_delta_8h),
        profit_target_fraction=float(config.profit_target_fraction),
        spread_widening_bps=float(config.spread_widening_bps),
        stop_loss_bps=float(config.stop_loss_bps),
        reject_crossed_on_arrival=config.crossed_on_arrival == "reject",
    )


def candidate_key(config: StrategyConfig, exchanges: Sequence[str]) -> tuple[Any, ...]:
    """Everything of a config :func:`entry_candidates` depends on, for a dataset with
    ``exchanges``: the scan (:func:`~spreadarb.scanner.scan_key`, which holds the entry
    filters and ``top_n``) and which leg of each venue pair is the harder one:
    ``(scan_key(config, exchanges), harder legs)``."""
    harder = tuple(config.harder_leg(a, b) == a for a in exchanges for b in exchanges)
    return (scan_key(config, exchanges), harder)


def entry_candidates(records: np.ndarray, dataset: Dataset, config: StrategyConfig) -> Candidates:
    """Scan rows that pass every filter that does not depend on the position size.

    The engine re-sizes each with the capital available at that moment and re-checks
    the size-dependent ones (depth, minimum size, profit after slippage). At most
    ``top_n`` per scan time, in rank order (score, then projected profit).
    """
    r = records
    edge = r["spread_bps"] - r["fees_bps"] - r["funding_cost_bps"]
    penalty = np.where(r["stale_other_exchanges"] > 0, config.latency_penalty, 0)
    with np.errstate(invalid="ignore"):
        ok = (
            (r["reason"] != Reason.NO_PAIR)
            & r["exchange_latency_ok"]
            & r["funding_delta_substantial"]
            & (r["spread_bps"] >= config.min_spread_bps)
            & (edge > 0)
            & (r["raw_score"] - penalty >= config.min_confidence)
            & (r["order_book_depth_long"] > config.min_depth_usd)
            & (r["order_book_depth_short"] > config.min_depth_usd)
        )
    sel = r[ok]
    score = np.maximum(sel["raw_score"] - penalty[ok], 0).astype(np.int32)
    rank = rank_passing(
        sel["ts"],
        np.ones(sel.size, dtype=bool),
        score,
        sel["projected_profit_after_slippage"],
        config.top_n,
    )
    keep = rank > 0
    sel, score, rank = sel[keep], score[keep], rank[keep]
    order = np.lexsort((rank, sel["ts"]))
    sel, score = sel[order], score[order]
    # Market of each (exchange, symbol) pair; -1 where the dataset has none.
    market_of = np.full((len(dataset.exchanges), len(dataset.symbols)), -1, dtype=np.int64)
    market_of[dataset.market_exchange, dataset.market_symbol] = np.arange(dataset.n_markets)
    long_market = market_of[sel["long_exchange"], sel["symbol"]]
    short_market = market_of[sel["short_exchange"], sel["symbol"]]
    if (long_market < 0).any() or (short_market < 0).any():
        raise ValueError("scan records name a leg on a market the dataset does not have")
    names = dataset.exchanges
    harder = np.array(
        [[config.harder_leg(a, b) == a for b in names] for a in names], dtype=bool
    ).reshape(len(names), len(names))
    return Candidates(
        ts=sel["ts"].copy(),
        symbol=sel["symbol"].astype(np.int64),
        long_market=long_market,
        short_market=short_market,
        harder_is_long=harder[sel["long_exchange"], sel["short_exchange"]]
        if sel.size
        else np.zeros(0, dtype=bool),
        spread_bps=sel["spread_bps"].copy(),
        fees_bps=sel["fees_bps"].copy(),
        funding_cost_bps=sel["funding_cost_bps"].copy(),
        funding_delta_8h=sel["funding_delta_8h"].copy(),
        score=score.astype(np.int64),
        depth_long=sel["order_book_depth_long"].copy(),
        depth_short=sel["order_book_depth_short"].copy(),
    )


def event_stream(dataset: Dataset) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Every ticker and trade in ``ts_local`` order: (ts, kind, row, market).

    Ties keep tickers before trades, then market order, then row order (a stable sort
    of the concatenation), so the stream is deterministic.
    """
    tk, tr = dataset.tickers, dataset.trades
    ticker_ts, trade_ts = tk["ts_local"], tr["ts_local"]
    # A windowed merge of the per-market runs, in parts of the time range merged in
    # threads (the kernel releases the GIL): measured 2.7 s on the SPEC §8 day against
    # 4.4-5 s for a stable argsort of the concatenation plus the gathers of each column.
    # A stream too small to split is sorted by numpy instead: as fast in one thread, and
    # a first backtest of a small dataset then compiles no merge kernel (1.5 s of CPU).
    parts = merge_parts(ticker_ts.size + trade_ts.size, os.cpu_count() or 1)
    if parts == 1:
        bad = first_unsorted_run(ticker_ts, trade_ts, tk.offsets, tr.offsets)
    else:
        bad = first_unsorted_run_nb(ticker_ts, trade_ts, tk.offsets, tr.offsets)
    if bad >= 0:
        table = "tickers" if bad < dataset.n_markets else "trades"
        exchange, symbol = dataset.markets()[bad % dataset.n_markets]
        raise ValueError(
            f"{table} of {exchange} {symbol}: ts_local decreases; every market's rows must be "
            "in ts_local order (spreadarb.load guarantees it)"
        )
    return merge_events(ticker_ts, trade_ts, tk.offsets, tr.offsets, parts)


#: dtypes of the event stream's columns: time, kind, row, market.
EVENT_DTYPES = (np.int64, np.int8, np.int64, np.int32)

#: Threads of the event merge at most, and the stream size below which one is used.
MAX_MERGE_THREADS = 8
MIN_EVENTS_PER_MERGE_THREAD = 1 << 20


def merge_parts(
    n_events: int, cores: int, *, min_events_per_part: int = MIN_EVENTS_PER_MERGE_THREAD
) -> int:
    """Time ranges the event merge is cut into: one per core, up to
    :data:`MAX_MERGE_THREADS`, each of at least ``min_events_per_part`` events."""
    parts = min(cores, MAX_MERGE_THREADS, n_events // max(1, min_events_per_part))
    return max(1, parts)


def first_unsorted_run(
    ticker_ts: np.ndarray,
    trade_ts: np.ndarray,
    ticker_offsets: np.ndarray,
    trade_offsets: np.ndarray,
) -> int:
    """:func:`~spreadarb.kernels.events.first_unsorted_run_nb` in numpy (its test oracle
    is the kernel): the first run whose times decrease, -1 when none does."""
    n_markets = ticker_offsets.size - 1
    first = []
    for ts, offsets in ((ticker_ts, ticker_offsets), (trade_ts, trade_offsets)):
        drops = np.flatnonzero(ts[1:] < ts[:-1]) + 1  # rows below the row before them
        drops = drops[~np.isin(drops, offsets)]  # a run's first row starts afresh
        first.append(
            int(np.searchsorted(offsets, drops[0], side="right")) - 1 if drops.size else n_markets
        )
    tickers, trades = first
    if tickers == trades == n_markets:
        return -1
    # The kernel's order: market by market, a market's tickers before its trades.
    return tickers if tickers <= trades else n_markets + trades


def merge_events(
    ticker_ts: np.ndarray,
    trade_ts: np.ndarray,
    ticker_offsets: np.ndarray,
    trade_offsets: np.ndarray,
    parts: int,
    *,
    min_events_per_part: int = MIN_EVENTS_PER_MERGE_THREAD,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Every ticker and trade in local-time order: (ts, kind, row, market), as the stable
    argsort of the concatenated times (ties: tickers before trades, then market order,
    then row order).

    Merged by :func:`~spreadarb.kernels.events.merge_part_nb` as up to ``parts`` time
    ranges in parallel threads, or by numpy's stable argsort when that is one range (the
    output depends on neither). The ranges are cut at quantiles of a sample of the
    times, so each holds about as many events; every event of a range precedes every
    event of the next, so the parts are independent and written side by side into the
    output columns.
    """
    n = ticker_ts.size + trade_ts.size
    parts = merge_parts(n, parts, min_events_per_part=min_events_per_part)
    if parts == 1:
        return _sorted_stream(ticker_ts, trade_ts, ticker_offsets, trade_offsets)
    step = max(1, n // 4096)
    sample = np.concatenate([ticker_ts[::step], trade_ts[::step]])
    splits = np.unique(np.quantile(sample, np.arange(1, parts) / parts, method="lower"))
    splits = splits[splits > sample.min()].astype(np.int64)
    bounds = run_bounds_nb(ticker_ts, trade_ts, ticker_offsets, trade_offsets, splits)
    starts = np.concatenate([[0], np.cumsum((bounds[1:] - bounds[:-1]).sum(axis=1))])
    ts, kind, row, market = (np.empty(n, dtype=d) for d in EVENT_DTYPES)

    def merge(p: int) -> None:
        merge_part_nb(
            ticker_ts,
            trade_ts,
            bounds[p],
            bounds[p + 1],
            WINDOW_EVENTS,
            ts,
            kind,
            row,
            market,
            int(starts[p]),
        )

    n_parts = len(bounds) - 1
    if n_parts == 1:
        merge(0)
    else:
        with ThreadPoolExecutor(n_parts) as pool:
            list(pool.map(merge, range(n_parts)))
    return ts, kind, row, market


def _sorted_stream(
    ticker_ts: np.ndarray,
    trade_ts: np.ndarray,
    ticker_offsets: np.ndarray,
    trade_offsets: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The event stream by numpy's stable argsort of the concatenated times (timsort:
    it finds the runs of the markets and merges them)."""
    n_tickers = ticker_ts.size
    times = np.concatenate([ticker_ts, trade_ts]).astype(np.int64, copy=False)
    order = np.argsort(times, kind="stable")
    is_trade = order >= n_tickers
    row = np.where(is_trade, order - n_tickers, order)
    markets = np.concatenate(
        [
            np.repeat(np.arange(ticker_offsets.size - 1, dtype=np.int32), np.diff(ticker_offsets)),
            np.repeat(np.arange(trade_offsets.size - 1, dtype=np.int32), np.diff(trade_offsets)),
        ]
    )
    return times[order], is_trade.astype(np.int8), row.astype(np.int64), markets[order]


@dataclass(frozen=True)
class MarketEvents:
    """The engine's config-independent inputs: books, prints and the merged event stream.

    Built once per dataset by :func:`market_events` and shared by every backtest of it.
    """

    book: Book
    prints: Prints
    events: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]


def market_events(dataset: Dataset) -> MarketEvents:
    """The :class:`MarketEvents` of a dataset (views of its arrays plus the event stream)."""
    book, prints = _book_prints(dataset)
    return MarketEvents(book=book, prints=prints, events=event_stream(dataset))


def _book_prints(dataset: Dataset) -> tuple[Book, Prints]:
    """The engine's views of the dataset's ticker and trade columns."""
    tk, tr = dataset.tickers, dataset.trades
    return (
        Book(
            tk["ts_local"],
            tk["ts_exchange"],
            tk["bid_px"],
            tk["bid_sz"],
            tk["ask_px"],
            tk["ask_sz"],
            tk["bid_depth_usd"],
            tk["ask_depth_usd"],
            tk["funding_rate"],
            tk["funding_interval_s"],
            tk["next_funding_ts"],
        ),
        Prints(tr["ts_local"], tr["ts_exchange"], tr["px"], tr["sz"], tr["side"]),
    )


@dataclass(frozen=True)
class EngineRun:
    """Everything the engine kernel takes for one backtest, built by :func:`prepare`.

    ``run()`` allocates fresh state and records and calls the kernel, so the same
    prepared inputs can be run (and timed) repeatedly.
    """

    dataset: Dataset
    config: StrategyConfig
    opportunities: np.ndarray
    book: Book
    prints: Prints
    events: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]
    static: Static
    candidates: Candidates
    params: EngineParams
    latency_ms: np.ndarray

    @property
    def max_trades(self) -> int:
        return int(self.candidates.ts.size) + 1

    def buffers(self) -> tuple[State, Records]:
        """Fresh working state and empty output records for one kernel call."""
        n_cand = int(self.candidates.ts.size)
        max_trades = self.max_trades
        rec = Records(
            trades=np.zeros(max_trades, dtype=trade_dt),
            orders=np.zeros(8 * max_trades, dtype=order_dt),
            leg_outs=np.zeros(2 * max_trades, dtype=leg_out_dt),
            rejections=np.zeros(n_cand + max_trades, dtype=rejection_dt),
            equity=np.zeros(self.static.grid.size, dtype=equity_dt),
            counts=np.zeros(5, dtype=np.int64),
        )
        state = new_state(
            self.dataset.n_markets,
            len(self.dataset.symbols),
            max_trades,
            8 * max_trades,
            self.params.starting_capital,
        )
        return state, rec

    def simulate(self, state: State, rec: Records) -> None:
        """The kernel call alone, on buffers from :meth:`buffers`."""
        _ahead.wait(simulate_nb)
        simulate_nb(
            self.book,
            self.prints,
            *self.events,
            self.static,
            self.candidates,
            self.params,
            state,
            rec,
        )

    def run(self) -> Records:
        """Run the kernel once on fresh buffers; returns the filled records."""
        state, rec = self.buffers()
        self.simulate(state, rec)
        return rec

    def result(self) -> BacktestResult:
        """Run the kernel and wrap its records (trimmed copies) in a :class:`BacktestResult`."""
        rec = self.run()
        n = rec.counts
        dataset = self.dataset
        return BacktestResult(
            dataset_exchanges=dataset.exchanges,
            dataset_symbols=dataset.symbols,
            market_exchange=dataset.market_exchange.copy(),
            config=self.config,
            trade_records=rec.trades[: n[0]].copy(),
            order_records=rec.orders[: n[1]].copy(),
            leg_out_records=rec.leg_outs[: n[2]].copy(),
            rejection_records=rec.rejections[: n[3]].copy(),
            equity_records=rec.equity[: n[4]].copy(),
            opportunity_records=self.opportunities,
            grid=self.static.grid,
            latency_ms=self.latency_ms,
        )


def prepare(
    dataset: Dataset,
    config: StrategyConfig | None = None,
    *,
    features: MarketFeatures | None = None,
    events: MarketEvents | None = None,
    opportunities: np.ndarray | None = None,
    candidates: Candidates | None = None,
) -> EngineRun:
    """Scan the dataset and build every input of the engine kernel (see :class:`EngineRun`).

    ``features``, ``events``, ``opportunities`` and ``candidates`` let a caller that runs
    many configs on one dataset (:func:`spreadarb.sweep`) pass what it already computed:
    the market features for this config's :func:`~spreadarb.state.feature_params`, the
    dataset's :class:`MarketEvents`, the scan records of a config with the same
    :func:`~spreadarb.scanner.scan_key`, and the :func:`entry_candidates` of one with the
    same :func:`candidate_key`. Results are identical either way.
    """
    config = StrategyConfig() if config is None else config
    # A first backtest compiles the engine kernel (most of its cold start) in a child
    # process while this one compiles and runs the scan and the event merge.
    _ahead.start(simulate_nb, lambda: engine_arg_types(dataset, config), llvm_opt=ENGINE_LLVM_OPT)
    if features is None:
        features = market_features(dataset, config, keep_symbols=False)
    if opportunities is None:
        opportunities = scan_records(dataset, config, features=features)
    if events is None:
        events = market_events(dataset)
    latency_ms = features.latency_ms
    # Unknown latency (a silent feed) is taken as the stale threshold, not as zero; so is a
    # negative one, which means the recorder's clock is behind the exchange's and the
    # true latency cannot be told apart from the offset.
    known = np.isfinite(latency_ms) & (latency_ms >= 0)
    latency_ns = np.rint(np.where(known, latency_ms, config.max_latency_ms) * 1e6).astype(np.int64)
    names = [dataset.exchanges[e] for e in dataset.market_exchange]
    return EngineRun(
        dataset=dataset,
        config=config,
        opportunities=opportunities,
        book=events.book,
        prints=events.prints,
        events=events.events,
        static=Static(
            grid=features.grid,
            latency_ns=latency_ns,
            market_exchange=dataset.market_exchange.astype(np.int64),
            fee_maker=np.array([config.fee(n, "maker") for n in names], dtype=np.float64),
            fee_taker=np.array([config.fee(n, "taker") for n in names], dtype=np.float64),
        ),
        candidates=(
            entry_candidates(opportunities, dataset, config) if candidates is None else candidates
        ),
        params=engine_params(config),
        latency_ms=latency_ms,
    )


def engine_arg_types(dataset: Dataset, config: StrategyConfig) -> tuple[Any, ...]:
    """The numba types of :func:`~spreadarb.kernels.engine.simulate_nb`'s arguments in a
    backtest of ``dataset``: the inputs :func:`prepare` builds, with empty arrays where
    they would need the scan or the event merge (types do not depend on sizes)."""
    import numba

    book, prints = _book_prints(dataset)
    events = tuple(np.empty(0, dtype=d) for d in EVENT_DTYPES)
    static = Static(
        grid=np.empty(0, dtype=np.int64),
        latency_ns=np.empty((0, 0), dtype=np.int64),
        market_exchange=dataset.market_exchange.astype(np.int64),
        fee_maker=np.empty(0, dtype=np.float64),
        fee_taker=np.empty(0, dtype=np.float64),
    )
    run = EngineRun(
        dataset=dataset,
        config=config,
        opportunities=np.zeros(0, dtype=opportunity_dt),
        book=book,
        prints=prints,
        events=events,  # type: ignore[arg-type]
        static=static,
        candidates=entry_candidates(np.zeros(0, dtype=opportunity_dt), dataset, config),
        params=engine_params(config),
        latency_ms=np.empty(0),
    )
    state, rec = run.buffers()
    args = (book, prints, *events, static, run.candidates, run.params, state, rec)
    return tuple(numba.typeof(a) for a in args)


def loaded_engine_arg_types() -> tuple[Any, ...]:
    """:func:`engine_arg_types` of every dataset :func:`spreadarb.load` returns: its
    columns have the contract's dtypes, C-contiguous and writable, whatever the data."""
    tables = {name: MarketTable.empty(name, 0) for name in TABLES}
    empty = Dataset(
        root=Path(),
        exchanges=(),
        symbols=(),
        market_exchange=np.empty(0, dtype=np.int32),
        market_symbol=np.empty(0, dtype=np.int32),
        tickers=tables["tickers"],
        trades=tables["trades"],
        liquidations=tables["liquidations"],
    )
    return engine_arg_types(empty, StrategyConfig())


def start_engine_compile() -> None:
    """Start compiling the engine kernel ahead (:mod:`spreadarb._ahead`) for the datasets
    :func:`spreadarb.load` returns, if it is neither compiled nor cached.

    ``load`` calls it first thing: on a cold cache the engine, most of a first backtest's
    compile, then compiles beside the load, the scan and the event merge rather than after
    the load."""
    _ahead.start(simulate_nb, loaded_engine_arg_types, llvm_opt=ENGINE_LLVM_OPT)


def backtest(dataset: Dataset, config: StrategyConfig | None = None) -> BacktestResult:
    """Simulate the strategy on a dataset: atomic two-leg entries, leg-outs, funding, exits.

    Parameters
    ----------
    dataset
        From :func:`spreadarb.load`.
    config
        Strategy configuration; default ``StrategyConfig()``.

    Returns
    -------
    BacktestResult
        Ledger, orders, leg-outs, rejections, equity, opportunities and metrics; see
        ``docs/execution.md`` for the execution model.
    """
    return prepare(dataset, config).result()
