"""The vectorbt side of ``bench_vectorbt.py``: a 144-configuration signal sweep; JSON out.

Run with the interpreter of the environment where vectorbt is installed (the benchmark
keeps it in ``benchmarks/.cache/vbt-venv``, never in the project's environment)::

    python benchmarks/_vbt_peer.py INPUTS.npz GRID.json [--repeats 5]

``INPUTS.npz`` (written by ``bench_vectorbt.export``) holds, on the scan's 1 s grid
(``T`` rows) for ``A`` spread assets (one per symbol and directed venue pair):

- ``close`` (T, A): the pair's ratio ``mid_long / mid_short``, the price of a position
  long the long leg and short the short leg at equal notional (its return is the spread
  captured, in fractions);
- ``pair_spread_bps`` (T, A): the pair's mid spread ``(mid_short - mid_long) / mid``;
- ``scan_spread_bps``, ``scan_confidence`` (T, A): the scan's best opportunity of the
  symbol when it is this pair (NaN / 0 otherwise);
- ``fees`` (A,): the two legs' taker fees added; ``slippage``, ``size_usd``,
  ``capital``: scalars.

``GRID.json`` is a list of configurations, each ``min_confidence``, ``entry_spread_bps``,
``exit_spread_bps``, ``spread_widening_bps``. One ``Portfolio.from_signals`` call runs
every configuration at once: ``C x A`` columns (the inputs tiled per configuration),
grouped by configuration with cash sharing (one portfolio of ``capital`` per
configuration), entries = ``scan_confidence >= min_confidence & scan_spread_bps >=
entry_spread_bps``, exits = ``pair_spread_bps <= exit_spread_bps``, ``sl_stop`` =
``spread_widening_bps / 1e4`` (the ratio falls by that much when the spread widens by
that many bps), ``size`` = ``size_usd`` of value, long only. Then per configuration:
total return, max drawdown, Sharpe ratio and trade count.

Timed: the first call alone (vectorbt's kernels are ``cache=True``: loaded from numba's
on-disk cache, or compiled when ``NUMBA_CACHE_DIR`` points to an empty directory), then
``repeats`` warm calls of the whole sweep (signals + simulation + metrics), median and
spread, with the time of each phase (signals, ``from_signals``, metrics).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from typing import Any

import numba
import numpy as np
import pandas as pd
import vectorbt as vbt


def sweep(
    d: dict[str, np.ndarray], grid: list[dict[str, float]]
) -> tuple[dict[str, Any], dict[str, float]]:
    """The whole sweep: signals for every configuration, one simulation, the metrics;
    returns the metrics and the time of each phase."""
    t0 = time.perf_counter()
    n_c = len(grid)
    close = d["close"]
    n_t, n_a = close.shape
    minc = np.array([g["min_confidence"] for g in grid], dtype=np.float64)
    entry = np.array([g["entry_spread_bps"] for g in grid], dtype=np.float64)
    exit_ = np.array([g["exit_spread_bps"] for g in grid], dtype=np.float64)
    widen = np.array([g["spread_widening_bps"] for g in grid], dtype=np.float64)
    conf = d["scan_confidence"][:, None, :]
    spread = d["scan_spread_bps"][:, None, :]
    with np.errstate(invalid="ignore"):
        entries = (conf >= minc[None, :, None]) & (spread >= entry[None, :, None])
        exits = d["pair_spread_bps"][:, None, :] <= exit_[None, :, None]
    columns = pd.MultiIndex.from_product([range(n_c), range(n_a)], names=["config", "asset"])
    index = pd.to_datetime(d["ts"], unit="ns")
    close_df = pd.DataFrame(np.tile(close, n_c), index=index, columns=columns)
    entries_df = pd.DataFrame(entries.reshape(n_t, n_c * n_a), index=index, columns=columns)
    exits_df = pd.DataFrame(exits.reshape(n_t, n_c * n_a), index=index, columns=columns)
    t1 = time.perf_counter()
    pf = vbt.Portfolio.from_signals(
        close_df,
        entries_df,
        exits_df,
        size=float(d["size_usd"]),
        size_type="value",
        direction="longonly",
        fees=np.tile(d["fees"], n_c)[None, :],
        slippage=float(d["slippage"]),
        sl_stop=np.repeat(widen / 1e4, n_a)[None, :],
        init_cash=float(d["capital"]),
        cash_sharing=True,
        group_by="config",
        freq="1s",
    )
    t2 = time.perf_counter()
    metrics = {
        "total_return": pf.total_return().to_numpy(),
        "max_drawdown": pf.max_drawdown().to_numpy(),
        "sharpe_ratio": pf.sharpe_ratio().to_numpy(),
        "trades": pf.trades.count().to_numpy(),
    }
    t3 = time.perf_counter()
    metrics["entries"] = int(entries.sum())
    return metrics, {"signals": t1 - t0, "from_signals": t2 - t1, "metrics": t3 - t2}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("npz")
    ap.add_argument("grid")
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    d = dict(np.load(args.npz))
    with open(args.grid) as f:
        grid = json.load(f)

    t0 = time.perf_counter()
    sweep(d, grid)
    first_s = time.perf_counter() - t0

    times = []
    phases: dict[str, list[float]] = {}
    metrics: dict[str, Any] = {}
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        metrics, phase = sweep(d, grid)
        times.append(time.perf_counter() - t0)
        for k, v in phase.items():
            phases.setdefault(k, []).append(v)
    n_c, (n_t, n_a) = len(grid), d["close"].shape
    run_s = statistics.median(times)
    out = {
        "vectorbt": vbt.__version__,
        "numpy": np.__version__,
        "numba": numba.__version__,
        "pandas": pd.__version__,
        "python": sys.version.split()[0],
        "configs": n_c,
        "assets": n_a,
        "rows": n_t,
        "columns": n_c * n_a,
        "first_call_s": first_s,
        "repeats": args.repeats,
        "run_s": run_s,
        "run_spread_s": max(times) - min(times),
        "phases_s": {k: statistics.median(v) for k, v in phases.items()},
        "configs_per_min": n_c / run_s * 60,
        "configs_per_min_from_signals": n_c / statistics.median(phases["from_signals"]) * 60,
        "entries_signalled": metrics["entries"],
        "trades_total": int(np.sum(metrics["trades"])),
        "trades_per_config_median": float(np.median(metrics["trades"])),
        "configs_with_trades": int(np.count_nonzero(metrics["trades"])),
        "total_return_median": float(np.nanmedian(metrics["total_return"])),
        "total_return_min": float(np.nanmin(metrics["total_return"])),
        "total_return_max": float(np.nanmax(metrics["total_return"])),
    }
    print(json.dumps(out))


if __name__ == "__main__":
    main()
