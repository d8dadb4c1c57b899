"""How cost grows: load, scan and backtest against venues, symbols, hours and configurations.

Usage::

    python benchmarks/bench_scaling.py

Generates (once, cached in ``benchmarks/.cache/scaling``) synthetic datasets that vary one
dimension at a time around a base of 4 venues x 4 symbols x 4 h (seed 7, default rates):
venues 2, 4, 8; symbols 2, 4, 8; hours 2, 4, 8. For each, times ``load``, ``scan``
(:func:`spreadarb.scanner.scan_records`) and ``backtest`` (fastest of 3 after a warm-up)
and fits the slope of log(time) on log(rows read) by least squares: 1.0 is linear, below 1
is sub-linear (fixed costs still weigh), above 1 super-linear. It also fits time = fixed +
marginal x rows and reports the fixed part, the marginal cost per million rows and the
largest deviation of the three times from that line: a cost linear in the data (plus a
fixed part) deviates little from it whatever its log-log slope. Configurations: a sweep of
1, 4, 16 and 64 configurations of ``data/sample`` (one thread). Results are printed and
written to ``benchmarks/.cache/bench_scaling.json``.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._common import CACHE, SAMPLE

VENUES = ("binance", "bybit", "okx", "hyperliquid", "bitget", "gate", "kucoin", "paradex")
SYMBOLS = ("BTC", "ETH", "SOL", "XRP", "DOGE", "ADA", "AVAX", "LINK")
# A base of a few hours: at 1 h the scan of a dataset took 5-30 ms, where fixed per-call
# costs made every log-log slope look sub-linear.
BASE = {"venues": 4, "symbols": 4, "hours": 4.0}
SIZES = {"venues": (2, 4, 8), "symbols": (2, 4, 8), "hours": (2.0, 4.0, 8.0)}


def _dataset(venues: int, symbols: int, hours: float) -> Path:
    from spreadarb.data.synth import SynthConfig, generate

    out = CACHE / "scaling" / f"v{venues}-s{symbols}-h{hours:g}"
    done = out / ".complete"
    if not done.exists():
        generate(
            out,
            config=SynthConfig(
                seed=7,
                start="2024-08-08T07:00:00",
                hours=hours,
                symbols=SYMBOLS[:symbols],
                exchanges=VENUES[:venues],
            ),
            overwrite=True,
        )
        done.write_text("ok\n")
    return out


def _fastest(fn: Callable[[], object], repeats: int = 3) -> float:
    fn()
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def _slope(sizes: list[float], times: list[float]) -> float:
    return float(np.polyfit(np.log(sizes), np.log(times), 1)[0])


def _affine(rows: list[float], times: list[float]) -> dict[str, float]:
    """Least-squares time = fixed + marginal x rows: the fixed part (s), the marginal cost
    (s per million rows) and the largest relative deviation of a time from the line."""
    marginal, fixed = np.polyfit(np.asarray(rows, dtype=float), np.asarray(times), 1)
    line = fixed + marginal * np.asarray(rows, dtype=float)
    deviation = float(np.max(np.abs(np.asarray(times) - line) / np.asarray(times)))
    return {"fixed_s": float(fixed), "s_per_mrow": float(marginal * 1e6), "deviation": deviation}


def main() -> None:
    import spreadarb
    from spreadarb.scanner import scan_records
    from spreadarb.sweeps import sweep

    results: dict[str, Any] = {}
    print(
        f"{'dimension':<10} {'size':>5} {'rows':>11} {'load s':>8} {'scan s':>8} {'backtest s':>10}"
    )
    for dim, sizes in SIZES.items():
        rows = []
        for size in sizes:
            shape = {**BASE, dim: size}
            path = _dataset(int(shape["venues"]), int(shape["symbols"]), float(shape["hours"]))
            ds = spreadarb.load(path)
            n_rows = len(ds.tickers) + len(ds.trades)
            t_load = _fastest(lambda path=path: spreadarb.load(path))
            t_scan = _fastest(lambda ds=ds: scan_records(ds))
            t_bt = _fastest(lambda ds=ds: spreadarb.backtest(ds))
            rows.append(
                {
                    "size": size,
                    "rows": n_rows,
                    "load_s": t_load,
                    "scan_s": t_scan,
                    "backtest_s": t_bt,
                }
            )
            print(f"{dim:<10} {size:>5g} {n_rows:>11,} {t_load:>8.3f} {t_scan:>8.3f} {t_bt:>10.3f}")
        # Against the rows the step reads: "linear in the data" whatever the dimension
        # (rows do not grow exactly in proportion to venues, symbols or hours).
        fit = {
            step: _slope([r["rows"] for r in rows], [r[f"{step}_s"] for r in rows])
            for step in ("load", "scan", "backtest")
        }
        fit["rows"] = _slope([r["size"] for r in rows], [r["rows"] for r in rows])
        affine = {
            step: _affine([r["rows"] for r in rows], [r[f"{step}_s"] for r in rows])
            for step in ("load", "scan", "backtest")
        }
        results[dim] = {"rows": rows, "slopes": fit, "affine": affine}
    ds = spreadarb.load(SAMPLE)
    counts = (1, 4, 16, 64)
    grid_values = [60 + i % 30 for i in range(64)]
    times = []
    for n in counts:
        grid = [
            {"min_confidence": v, "fill_threshold": 0.1 + 0.01 * i}
            for i, v in enumerate(grid_values[:n])
        ]
        times.append(_fastest(lambda grid=grid: sweep(ds, grid, n_jobs=1, progress=False), 1))
        print(f"{'configs':<10} {n:>5} {'':>11} {'':>8} {'':>8} {times[-1]:>10.3f}  (sweep)")
    results["configs"] = {
        "rows": [{"size": n, "sweep_s": t} for n, t in zip(counts, times, strict=True)],
        "slopes": {"sweep": _slope(list(counts), times)},
    }
    print(
        "\nslope of log(time) on log(data rows); 'data rows': of log(rows) on log(size);"
        " sweep: on log(configurations) (1.0 = linear):"
    )
    print(
        f"{'dimension':<10} {'data rows':>9} {'load':>6} {'scan':>6} {'backtest':>9} {'sweep':>6}"
    )
    for dim, r in results.items():
        s = r["slopes"]
        cells = [
            f"{s[k]:.2f}" if k in s else "" for k in ("rows", "load", "scan", "backtest", "sweep")
        ]
        print(f"{dim:<10} {cells[0]:>9} {cells[1]:>6} {cells[2]:>6} {cells[3]:>9} {cells[4]:>6}")
    print("\ntime = fixed + marginal x rows (least squares): fixed s, s per M rows, max deviation")
    print(f"{'dimension':<10} {'load':>24} {'scan':>24} {'backtest':>24}")
    for dim, r in results.items():
        if "affine" not in r:
            continue
        cells = [
            f"{a['fixed_s']:.3f} {a['s_per_mrow']:.3f} {100 * a['deviation']:.0f}%"
            for a in (r["affine"][k] for k in ("load", "scan", "backtest"))
        ]
        print(f"{dim:<10} {cells[0]:>24} {cells[1]:>24} {cells[2]:>24}")
    out = CACHE / "bench_scaling.json"
    out.write_text(json.dumps(results, indent=2))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
