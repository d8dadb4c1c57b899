"""``spreadarb.scan``: the opportunity log of a dataset (SPEC §3-§4).

At every scan time and for every symbol: the best pair (long on the lowest ask,
short on the highest bid), its spread, funding delta, every soft metric and its
sub-score, the hard-constraint flags, the confidence score, the position the sizing
rule gives, projected profit before and after slippage, whether it passed, the first
reason it did not, and its rank among the passing rows of that scan time.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from spreadarb.config import StrategyConfig
from spreadarb.data.dataset import Dataset
from spreadarb.enums import REASON_LABELS, Reason, opportunity_dt
from spreadarb.frames import records_frame
from spreadarb.kernels.scan import ScanParams, scan_symbol_nb
from spreadarb.state import (
    MarketFeatures,
    feature_params,
    market_features,
    seconds_to_ns,
    symbol_state,
)

if TYPE_CHECKING:
    import pandas as pd

Backend = Literal["pandas", "polars"]


def scan_params(config: StrategyConfig) -> ScanParams:
    """The scan kernel's scalar parameters from a config."""
    w, s = config.weights, config.scales
    return ScanParams(
        capital_usd=float(config.starting_capital),
        max_latency_ms=float(config.max_latency_ms),
        max_quote_age_ns=seconds_to_ns(config.max_quote_age_s),
        latency_penalty=int(config.latency_penalty),
        min_funding_delta_8h=float(config.min_funding_delta_8h),
        expected_hold_h=float(config.expected_hold_h),
        min_spread_bps=float(config.min_spread_bps),
        min_confidence=int(config.min_confidence),
        min_depth_usd=float(config.min_depth_usd),
        depth_multiple=float(config.depth_multiple),
        max_position_fraction=float(config.max_position_fraction),
        depth_size_fraction=float(config.depth_size_fraction),
        min_position_usd=float(config.min_position_usd),
        slippage_base=float(config.slippage_base),
        slippage_depth_coef=float(config.slippage_depth_coef),
        slippage_cap=float(config.slippage_cap),
        w_funding=float(w.funding),
        w_obi=float(w.obi),
        w_oi=float(w.oi),
        w_vwap=float(w.vwap),
        w_volatility=float(w.volatility),
        w_liquidation=float(w.liquidation),
        funding_saturation_8h=float(s.funding_saturation_8h),
        obi_scale=float(s.obi_scale),
        oi_ratio_scale=float(s.oi_ratio_scale),
        vwap_scale_sd=float(s.vwap_scale_sd),
        atr_scale_bps=float(s.atr_scale_bps),
        liquidation_distance_scale_bps=float(s.liquidation_distance_scale_bps),
    )


def scan_key(config: StrategyConfig, exchanges: Sequence[str]) -> tuple[Any, ...]:
    """Everything of a config the scan records of a dataset with ``exchanges`` depend on.

    Configs with equal keys scan to identical records, so a sweep scans once per key.
    """
    fees = tuple(
        (config.fee(n, config.fees.entry_kind), config.fee(n, config.fees.exit_kind))
        for n in exchanges
    )
    return (feature_params(config), scan_params(config), fees, int(config.top_n))


def scan_records(
    dataset: Dataset,
    config: StrategyConfig | None = None,
    *,
    features: MarketFeatures | None = None,
) -> np.ndarray:
    """The opportunity log as ``opportunity_dt`` records, time-major (ts, then symbol).

    Sizing uses ``config.starting_capital`` as the available capital (the scan has no
    portfolio; the backtest sizes with its own available capital). ``features`` may pass
    the :class:`~spreadarb.state.MarketFeatures` of this dataset for this config, already
    computed by a caller that shares them (the backtest, a sweep).
    """
    config = StrategyConfig() if config is None else config
    if features is None:
        features = market_features(dataset, config, keep_symbols=False)
    elif features.params != feature_params(config):
        raise ValueError(
            "features were computed for other market-state parameters than the config's: "
            f"{features.params} != {feature_params(config)}"
        )
    grid = features.scan_times
    exchanges = features.exchanges
    n_sym = len(dataset.symbols)
    out = np.zeros((grid.size, n_sym), dtype=opportunity_dt)
    if grid.size == 0 or n_sym == 0:
        return out.reshape(-1)
    params = scan_params(config)
    n_exchanges = len(dataset.exchanges)
    tk = dataset.tickers

    def scan_symbol(s: int) -> None:
        st = (
            features.symbols[s]
            if features.symbols is not None
            else symbol_state(dataset, features.params, grid, s, exchanges)
        )
        names = [dataset.exchanges[e] for e in st.venue_exchange]
        fee_entry = np.array([config.fee(n, config.fees.entry_kind) for n in names])
        fee_exit = np.array([config.fee(n, config.fees.exit_kind) for n in names])
        scan_symbol_nb(
            grid,
            s,
            st.venue_exchange,
            st.rows,
            st.legs,
            tk["ts_local"],
            tk["bid_px"],
            tk["ask_px"],
            tk["bid_depth_usd"],
            tk["ask_depth_usd"],
            tk["funding_rate"],
            tk["predicted_funding_rate"],
            tk["funding_interval_s"],
            tk["open_interest_usd"],
            st.oi_avg,
            st.vwap,
            st.vwap_sd,
            st.atr,
            st.atr_falling,
            st.first_bar,
            st.n_bars,
            st.bar_ns,
            exchanges.latency_ms,
            exchanges.stale,
            exchanges.n_stale,
            n_exchanges,
            st.liq_distance_bps,
            st.has_liquidation_data,
            fee_entry,
            fee_exit,
            params,
            out[:, s],
        )

    # Symbols are independent and the kernels release the GIL: scan them on every core.
    # Each writes only its own column of ``out``, so the result does not depend on order.
    workers = min(n_sym, os.cpu_count() or 1)
    if workers > 1 and features.symbols is None:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            list(pool.map(scan_symbol, range(n_sym)))
    else:
        for s in range(n_sym):
            scan_symbol(s)
    records = out.reshape(-1)
    # Rank is 0 in the zeroed records; only the ranked rows are written.
    rows, position = _rank_rows(
        records["ts"],
        np.flatnonzero(records["reason"] == Reason.PASSED),
        records["confidence_score"],
        records["projected_profit_after_slippage"],
        config.top_n,
    )
    records["rank"][rows] = position
    return records


def rank_passing(
    ts: np.ndarray, passed: np.ndarray, score: np.ndarray, profit: np.ndarray, top_n: int
) -> np.ndarray:
    """Rank 1..top_n of passing rows within each scan time by (score desc, profit desc).

    Rows must be grouped by ``ts`` (equal times contiguous). Ties on both keys go to the
    earlier row (lower symbol index), so ranks are deterministic. Non-passing rows and
    passing rows beyond ``top_n`` get 0. Only passing rows are sorted (a few hundred of
    the day's 1.7 M), so numpy does it in milliseconds and the scan has one kernel
    fewer to compile.
    """
    rank = np.zeros(ts.shape[0], dtype=np.int32)
    rows, position = _rank_rows(ts, np.flatnonzero(passed), score, profit, top_n)
    rank[rows] = position
    return rank


def _rank_rows(
    ts: np.ndarray, rows: np.ndarray, score: np.ndarray, profit: np.ndarray, top_n: int
) -> tuple[np.ndarray, np.ndarray]:
    """The ranked ones of the passing ``rows`` and their ranks (see :func:`rank_passing`)."""
    if rows.size == 0:
        return rows, np.zeros(0, dtype=np.int32)
    # lexsort is stable: equal (ts, score, profit) keep row order.
    rows = rows[np.lexsort((-profit[rows], -score[rows].astype(np.int64), ts[rows]))]
    times = ts[rows]
    first = np.r_[True, times[1:] != times[:-1]]
    group_start = np.maximum.accumulate(np.where(first, np.arange(rows.size), 0))
    position = np.arange(rows.size) - group_start + 1
    keep = position <= top_n
    return rows[keep], position[keep].astype(np.int32)


def records_to_frame(
    records: np.ndarray, symbols: Sequence[str], exchanges: Sequence[str], *, copy: bool = True
) -> pd.DataFrame:
    """Opportunity records to a pandas DataFrame: codes to labels, times to UTC datetimes.

    ``copy=False``: the numeric columns are views of ``records`` (see
    :func:`~spreadarb.frames.records_frame`).
    """
    import pandas as pd

    frame = records_frame(
        records,
        copy=copy,
        times=("ts",),
        labels={
            "symbol": symbols,
            "long_exchange": exchanges,
            "short_exchange": exchanges,
            "reason": REASON_LABELS,
        },
    )
    # The frame's reason column is categorical by now; its codes are the records' codes.
    frame["passed"] = frame["reason"].cat.codes.to_numpy() == Reason.PASSED
    rank = np.ascontiguousarray(frame["rank"].to_numpy(), dtype=np.int32)
    frame["rank"] = pd.arrays.IntegerArray(rank, rank == 0)
    return frame


def scan(
    dataset: Dataset, config: StrategyConfig | None = None, *, backend: Backend = "pandas"
) -> Any:
    """Scan a dataset for opportunities; one row per (scan time, symbol).

    Parameters
    ----------
    dataset
        From :func:`spreadarb.load`.
    config
        Strategy configuration; default ``StrategyConfig()`` (the seed's values).
    backend
        ``"pandas"`` (default) or ``"polars"``.

    Returns
    -------
    DataFrame
        Columns named after the seed's ``ArbitrageOpportunity`` and ``ConfluenceMetrics``
        (``long_exchange``, ``short_exchange``, ``spread_bps``, ``funding_delta_8h``,
        ``confidence_score``, ``projected_profit_usd``,
        ``projected_profit_after_slippage``, ...), the sub-scores ``score_*``, the hard
        constraint flags, ``passed``, the first failing ``reason`` (categorical; ``passed``
        when it passed) and ``rank`` (1..top_n among passing rows of the scan time, NA
        otherwise). See ``docs/strategy.md``. With pandas, the numeric columns are views
        of the scan's own record array, not copies (half the memory; a column is strided:
        ``frame.copy()`` makes them contiguous).
    """
    if backend not in ("pandas", "polars"):
        raise ValueError(f"backend must be 'pandas' or 'polars', got {backend!r}")
    # The records are this call's own: the frame views them instead of copying 0.6 GB
    # on a day's scan (and holding both at the peak).
    frame = records_to_frame(
        scan_records(dataset, config), dataset.symbols, dataset.exchanges, copy=False
    )
    if backend == "polars":
        import polars as pl

        return pl.from_pandas(frame)
    return frame
