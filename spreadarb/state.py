"""Market state on the scan grid: as-of quotes, latency, funding and soft metrics (SPEC §3).

Everything here is "known at time t": each value at grid time ``t`` uses only rows
with ``ts_local <= t`` (a test truncates the data after ``t`` and compares). The work is
done by the kernels in :mod:`spreadarb.kernels.rolling`,
:mod:`spreadarb.kernels.state` (one pass per symbol: every venue's as-of ticker row,
the median of the venues' mids and the pair of legs) and :mod:`spreadarb.kernels.liquidation`;
this module only slices the dataset per market and arranges the results. The as-of
quotes are not copied onto the grid: the scan kernel reads the ticker columns at the
as-of rows of the two legs. A few small steps are numpy on purpose (the mid bars, the
liquidation-seen flag): as fast or nearly, and less for a cold start to compile.

Shapes: per-venue arrays of a symbol are ``(J, m)`` (J venues quoting the symbol, m grid
times); per-exchange arrays are ``(n_exchanges, m)``.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from spreadarb.config import StrategyConfig
from spreadarb.data.dataset import Dataset
from spreadarb.kernels.liquidation import liquidation_cluster_distance_nb
from spreadarb.kernels.rolling import (
    atr_nb,
    rolling_lag_sums_at_nb,
    rolling_mean_at_nb,
    rolling_weighted_moments_at_nb,
)
from spreadarb.kernels.state import venue_asof_nb

NS = 1_000_000_000
EIGHT_HOURS_S = 8 * 3600


def seconds_to_ns(seconds: float) -> int:
    """A duration in seconds as whole nanoseconds (rounded)."""
    return round(seconds * NS)


def scan_grid(dataset: Dataset, interval_s: float) -> np.ndarray:
    """Scan times: every ``interval_s`` from the first ticker, aligned to whole intervals.

    The first grid time is the first ``ts_local`` of any ticker (or the requested start,
    if later) rounded up to a multiple of the interval since the epoch; the last is at or
    before the end of the requested window, or the last ticker when the window is open.
    Empty when there are no tickers.
    """
    tickers = dataset.tickers
    if len(tickers) == 0:
        return np.empty(0, dtype=np.int64)
    step = seconds_to_ns(interval_s)
    # ts_local is non-decreasing within a market (the data contract): the extremes are
    # among the markets' first and last rows, no pass over every ticker needed.
    _, firsts, lasts = tickers.ends("ts_local")
    first, last = int(firsts.min()), int(lasts.max())
    if dataset.start_ns is not None:
        first = max(first, dataset.start_ns)
    if dataset.end_ns is not None:
        # Time runs to the end of the requested window even if the feeds fall silent.
        last = dataset.end_ns - 1
    start = -(-first // step) * step
    if start > last:
        return np.empty(0, dtype=np.int64)
    return np.arange(start, last + 1, step, dtype=np.int64)


class FeatureParams(NamedTuple):
    """The config values market state depends on; nothing else of the config reaches it.

    Two configs with equal :func:`feature_params` have identical :class:`MarketFeatures`,
    which is what lets a sweep compute them once per distinct value
    (:func:`spreadarb.sweep`). Fields are as in :class:`~spreadarb.config.StrategyConfig`
    and its :class:`~spreadarb.config.MetricScales`.
    """

    scan_interval_s: float
    position_check_interval_s: float
    latency_window_s: float
    max_latency_ms: float
    oi_mean_window_s: float
    vwap_window_s: float
    atr_bar_s: float
    atr_window_bars: int
    atr_trend_bars: int
    liquidation_window_s: float
    liquidation_bucket_bps: float
    liquidation_cluster_min_usd: float


def feature_params(config: StrategyConfig) -> FeatureParams:
    """The :class:`FeatureParams` of a config."""
    s = config.scales
    return FeatureParams(
        scan_interval_s=float(config.scan_interval_s),
        position_check_interval_s=float(config.position_check_interval_s),
        latency_window_s=float(config.latency_window_s),
        max_latency_ms=float(config.max_latency_ms),
        oi_mean_window_s=float(s.oi_mean_window_s),
        vwap_window_s=float(s.vwap_window_s),
        atr_bar_s=float(s.atr_bar_s),
        atr_window_bars=int(s.atr_window_bars),
        atr_trend_bars=int(s.atr_trend_bars),
        liquidation_window_s=float(s.liquidation_window_s),
        liquidation_bucket_bps=float(s.liquidation_bucket_bps),
        liquidation_cluster_min_usd=float(s.liquidation_cluster_min_usd),
    )


@dataclass(frozen=True)
class ExchangeState:
    """Per-exchange latency on the grid.

    Attributes
    ----------
    latency_ms
        ``(n_exchanges, m)`` rolling mean of ``ts_local - ts_exchange`` over the
        exchange's tickers (all its symbols pooled) in the latency window; NaN when the
        window holds no ticker.
    stale
        ``(n_exchanges, m)`` latency above ``max_latency_ms`` or unknown.
    n_stale
        ``(m,)`` number of stale exchanges.
    """

    latency_ms: np.ndarray
    stale: np.ndarray
    n_stale: np.ndarray


def exchange_state(dataset: Dataset, params: FeatureParams, grid: np.ndarray) -> ExchangeState:
    """Latency and staleness of every exchange of the dataset on ``grid``."""
    n_ex = len(dataset.exchanges)
    latency = np.full((n_ex, grid.size), np.nan)
    if n_ex:
        # Exchanges are independent and the kernels release the GIL: on every core.
        with ThreadPoolExecutor(max_workers=min(n_ex, os.cpu_count() or 1)) as pool:
            for e, row in enumerate(
                pool.map(lambda e: _exchange_latency_ms(dataset, params, grid, e), range(n_ex))
            ):
                latency[e] = row
    with np.errstate(invalid="ignore"):
        stale = ~(latency <= params.max_latency_ms)
    return ExchangeState(latency_ms=latency, stale=stale, n_stale=stale.sum(axis=0))


def _exchange_latency_ms(
    dataset: Dataset, params: FeatureParams, grid: np.ndarray, exchange: int
) -> np.ndarray:
    """Rolling mean lag, ms, of one exchange's tickers (all its markets pooled) on ``grid``.

    The pooled window's mean is the sum of each market's window sums over the sum of
    their counts, so the markets' rows are never merged into one time order (the sort
    was most of the cost). Lags are whole nanoseconds, so the sums are exact in int64
    (the running sum of a window wraps around as rows enter and leave, but it is exact
    whenever the window's own sum fits) and the mean is the correctly rounded quotient.
    """
    tickers = dataset.tickers
    window = seconds_to_ns(params.latency_window_s)
    sums = np.zeros(grid.size, dtype=np.int64)
    counts = np.zeros(grid.size, dtype=np.int64)
    largest = 0
    for market in np.flatnonzero(dataset.market_exchange == exchange):
        rows = tickers.rows(int(market))
        # Sums wrap around by design (checked below); with JIT disabled the kernel's
        # Python body would warn about it.
        with np.errstate(over="ignore"):
            bound = rolling_lag_sums_at_nb(
                tickers["ts_local"][rows], tickers["ts_exchange"][rows], grid, window, sums, counts
            )
        largest = max(largest, int(bound))
    if counts.size and largest * int(counts.max()) >= 2**63:
        raise ValueError(
            f"exchange {dataset.exchanges[exchange]!r}: ts_local - ts_exchange reaches "
            f"{largest} ns, too large to average over a {params.latency_window_s} s window "
            "in int64; ts_exchange is probably not in nanoseconds since the epoch"
        )
    with np.errstate(invalid="ignore", divide="ignore"):
        latency = sums / counts  # 0 / 0: no ticker in the window, NaN
    latency /= 1e6
    return latency


@dataclass(frozen=True)
class SymbolState:
    """As-of state of one symbol's venues on the grid (see module docstring for shapes).

    The quotes themselves are not copied: ``rows[j, k]`` is the dataset's ticker row
    that is venue ``j``'s as-of quote at grid time ``k`` (-1: none yet), and the scan
    kernel reads the ticker columns there. ``oi_avg``, ``vwap`` and ``vwap_sd`` are only
    computed where venue ``j`` is one of the two legs (NaN elsewhere: the scan reads
    nothing else). ``atr``/``atr_falling`` are ``(J, n)`` with
    venue ``j``'s bar ``b`` starting at ``(first_bar[j] + b) * bar_ns`` (``n_bars[j]`` of
    them; the rest is padding).
    """

    symbol: int
    markets: np.ndarray  # (J,) market numbers
    venue_exchange: np.ndarray  # (J,) int32 exchange index
    rows: np.ndarray  # (J, m) int64
    legs: np.ndarray  # (2, m) int64: long and short venue (-1: no pair)
    oi_avg: np.ndarray
    vwap: np.ndarray
    vwap_sd: np.ndarray
    atr: np.ndarray
    atr_falling: np.ndarray
    first_bar: np.ndarray  # (J,) int64
    n_bars: np.ndarray  # (J,) int64
    bar_ns: int
    liq_distance_bps: np.ndarray  # (m,)
    has_liquidation_data: np.ndarray  # (m,) bool: a liquidation of the symbol seen by then


def bars_hlc(
    ts: np.ndarray, price: np.ndarray, start_ns: int, bar_ns: int, n_bars: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """High, low and close of :func:`~spreadarb.kernels.rolling.bars_nb`, with numpy.

    Same bars (``[start_ns + b * bar_ns, start_ns + (b + 1) * bar_ns)``, rows outside
    them or with a non-finite price ignored, NaN for a bar without one), same values
    (maxima, minima and last values are exact). Rows must be sorted by ``ts``. The scan
    uses this instead of the kernel: as fast on a venue's ticks, and 0.5 s less to
    compile cold.
    """
    high = np.full(n_bars, np.nan)
    low = np.full(n_bars, np.nan)
    close = np.full(n_bars, np.nan)
    finite = np.isfinite(price)
    if not finite.all():
        ts, price = ts[finite], price[finite]
    # ts is sorted: each bar's rows are one run, found by a search per bar edge.
    edges = start_ns + bar_ns * np.arange(n_bars + 1, dtype=np.int64)
    bounds = np.searchsorted(ts, edges, side="left")
    first, stop = bounds[:-1], bounds[1:]
    used = np.flatnonzero(stop > first)
    if used.size == 0:
        return high, low, close
    # Between two non-empty bars every bar is empty, so each reduceat segment (from one
    # used bar's first row to the next's) is exactly one bar's rows.
    inside = price[bounds[0] : bounds[-1]]
    segments = first[used] - bounds[0]
    high[used] = np.maximum.reduceat(inside, segments)
    low[used] = np.minimum.reduceat(inside, segments)
    close[used] = price[stop[used] - 1]
    return high, low, close


def symbol_state(
    dataset: Dataset,
    params: FeatureParams,
    grid: np.ndarray,
    symbol: int,
    exchanges: ExchangeState,
) -> SymbolState:
    """As-of state of every venue quoting ``symbol`` on ``grid``."""
    scales = params
    markets = np.flatnonzero(dataset.market_symbol == symbol)
    j_count, m = markets.size, grid.size
    oi_avg = np.full((j_count, m), np.nan)
    vwap = np.full((j_count, m), np.nan)
    vwap_sd = np.full((j_count, m), np.nan)
    tk, tr = dataset.tickers, dataset.trades
    bar_ns = seconds_to_ns(scales.atr_bar_s)
    first_bar = np.zeros(j_count, dtype=np.int64)
    n_bars = np.zeros(j_count, dtype=np.int64)
    as_of = np.empty((j_count, m), dtype=np.int64)
    ref_px = np.empty(m)
    legs = np.empty((2, m), dtype=np.int64)
    venue_asof_nb(
        grid,
        tk["ts_local"],
        tk.offsets[markets].astype(np.int64),
        tk.offsets[markets + 1].astype(np.int64),
        tk["bid_px"],
        tk["ask_px"],
        as_of,
        ref_px,
        legs,
    )

    venue_atr = []
    for j, market in enumerate(markets):
        rows = tk.rows(int(market))
        ts = tk["ts_local"][rows]
        # The scan reads a venue's open interest and VWAP only where it is a leg of the
        # pair; evaluated there alone, the kernels give the values the whole grid would.
        leg = np.flatnonzero((legs[0] == j) | (legs[1] == j))
        at = grid[leg]
        oi_avg[j, leg] = rolling_mean_at_nb(
            ts, tk["open_interest_usd"][rows], at, seconds_to_ns(scales.oi_mean_window_s)
        )
        trows = tr.rows(int(market))
        _, vwap[j, leg], vwap_sd[j, leg] = rolling_weighted_moments_at_nb(
            tr["ts_local"][trows],
            tr["px"][trows],
            tr["sz"][trows],
            at,
            seconds_to_ns(scales.vwap_window_s),
        )
        if ts.size and m:
            # Bars of the venue's mid; at grid time t only bars that ended by t are used.
            first_bar[j] = int(ts[0]) // bar_ns
            bar_start = int(first_bar[j]) * bar_ns
            n_bars[j] = max(0, (int(grid[-1]) - bar_start) // bar_ns + 1)
            tick_mid = 0.5 * (tk["bid_px"][rows] + tk["ask_px"][rows])
            high, low, close = bars_hlc(ts, tick_mid, bar_start, bar_ns, int(n_bars[j]))
            venue_atr.append(
                atr_nb(high, low, close, scales.atr_window_bars, scales.atr_trend_bars)
            )
        else:
            venue_atr.append((np.empty(0), np.empty(0, dtype=np.bool_)))
    width = max([a.size for a, _ in venue_atr], default=0)
    atr = np.full((j_count, width), np.nan)
    atr_falling = np.zeros((j_count, width), dtype=np.bool_)
    for j, (a, f) in enumerate(venue_atr):
        atr[j, : a.size] = a
        atr_falling[j, : f.size] = f
    # Liquidations cluster at price levels of the asset, whatever the venue: pool them.
    liq = dataset.liquidations
    liq_rows = [liq.rows(int(mk)) for mk in markets]
    liq_ts = np.concatenate([liq["ts_local"][s] for s in liq_rows] or [np.empty(0, np.int64)])
    liq_px = np.concatenate([liq["px"][s] for s in liq_rows] or [np.empty(0)])
    liq_usd = liq_px * np.concatenate([liq["sz"][s] for s in liq_rows] or [np.empty(0)])
    order = np.argsort(liq_ts, kind="stable")
    liq_ts, liq_px, liq_usd = liq_ts[order], liq_px[order], liq_usd[order]
    # "Liquidation data" at t means some liquidation of the symbol was seen by t; deciding
    # it from the whole dataset would look ahead.
    # (Some liquidation at or before t: liq_ts is sorted, so the first one is.)
    has_liq_at = grid >= liq_ts[0] if liq_ts.size else np.zeros(grid.size, dtype=bool)
    distance = liquidation_cluster_distance_nb(
        liq_ts,
        liq_px,
        liq_usd,
        grid,
        ref_px,
        seconds_to_ns(scales.liquidation_window_s),
        scales.liquidation_bucket_bps,
        scales.liquidation_cluster_min_usd,
    )
    return SymbolState(
        symbol=symbol,
        markets=markets,
        venue_exchange=dataset.market_exchange[markets].astype(np.int32),
        rows=as_of,
        legs=legs,
        oi_avg=oi_avg,
        vwap=vwap,
        vwap_sd=vwap_sd,
        atr=atr,
        atr_falling=atr_falling,
        first_bar=first_bar,
        n_bars=n_bars,
        bar_ns=bar_ns,
        liq_distance_bps=distance,
        has_liquidation_data=has_liq_at,
    )


@dataclass(frozen=True)
class MarketFeatures:
    """Everything the scan and the engine derive from the market alone, for one
    :class:`FeatureParams`: computed once, shared by every config that has those params.

    Attributes
    ----------
    params
        The params they were computed with.
    scan_times
        The scan grid (every ``scan_interval_s``).
    exchanges
        Exchange latency and staleness on ``scan_times``.
    symbols
        One :class:`SymbolState` per dataset symbol, on ``scan_times``; or None when they
        were not kept (a single backtest computes each when it scans that symbol and drops
        it after, which bounds its memory: on the SPEC §8 day they total about 0.5 GB).
    grid
        The engine's grid: the union of ``scan_times`` and the position-check grid.
    latency_ms
        ``(n_exchanges, grid.size)`` exchange latency on ``grid``.
    """

    params: FeatureParams
    scan_times: np.ndarray
    exchanges: ExchangeState
    symbols: tuple[SymbolState, ...] | None
    grid: np.ndarray
    latency_ms: np.ndarray


def market_features(
    dataset: Dataset, config: StrategyConfig | FeatureParams, *, keep_symbols: bool = True
) -> MarketFeatures:
    """Compute the :class:`MarketFeatures` of a dataset for a config (or its params).

    ``keep_symbols=False`` leaves the per-symbol states out (``symbols=None``): the scan
    then computes each in turn, so only one is alive at a time.
    """
    params = config if isinstance(config, FeatureParams) else feature_params(config)
    scan_times = scan_grid(dataset, params.scan_interval_s)
    check = scan_grid(dataset, params.position_check_interval_s)
    grid = np.union1d(scan_times, check).astype(np.int64)
    exchanges = exchange_state(dataset, params, scan_times)
    # With the default intervals both grids are one and the latencies are shared.
    if grid.size == scan_times.size:
        latency_ms = exchanges.latency_ms
    else:
        latency_ms = exchange_state(dataset, params, grid).latency_ms
    symbols: tuple[SymbolState, ...] | None = None if not keep_symbols else ()
    if keep_symbols and scan_times.size:
        symbols = tuple(
            symbol_state(dataset, params, scan_times, s, exchanges)
            for s in range(len(dataset.symbols))
        )
    return MarketFeatures(
        params=params,
        scan_times=scan_times,
        exchanges=exchanges,
        symbols=symbols,
        grid=grid,
        latency_ms=latency_ms,
    )
