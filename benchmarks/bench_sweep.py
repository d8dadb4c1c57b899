"""Sweep benchmark: configurations per minute of ``spreadarb.sweep`` against one-by-one runs.

Usage::

    python benchmarks/bench_sweep.py                  # data/sample
    python benchmarks/bench_sweep.py --synthetic-day  # also the SPEC §8 day
    python benchmarks/bench_sweep.py --no-dask        # without the Dask scaling rows

Workload on ``data/sample``: a grid over the four fields of the sweep notebook,
``min_confidence`` x ``fill_threshold`` x ``spread_widening_bps`` x ``stop_loss_bps``
(4 x 4 x 3 x 3 = 144 configurations). Measured in the same run, after a warm-up sweep
(JIT excluded), median of the repeats:

- baseline: ``portfolio_metrics(backtest(dataset, config))`` for each configuration in a
  plain loop (what a user writes without ``sweep``), on the first 24 configurations;
- ``sweep`` with ``n_jobs`` = 1 and 2 threads (the shared features and scans, engine in
  parallel);
- ``sweep`` on a Dask ``LocalCluster`` of 1 and 2 worker processes (one thread each),
  the cluster started before the timer and each worker warmed up.

Scaling = configurations per minute with 2 workers / with 1. On the synthetic day the
grid is 2 x 2 x 2 (``min_confidence`` x ``fill_threshold`` x ``stop_loss_bps``) and the
baseline runs 2 configurations.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._common import CACHE, SAMPLE, synthetic_day, time_repeats

SAMPLE_GRID: dict[str, list[Any]] = {
    "min_confidence": [60, 65, 70, 80],
    "fill_threshold": [0.05, 0.1, 0.2, 0.5],
    "spread_widening_bps": [30.0, 50.0, 80.0],
    "stop_loss_bps": [80.0, 100.0, 150.0],
}
DAY_GRID: dict[str, list[Any]] = {
    "min_confidence": [65, 75],
    "fill_threshold": [0.1, 0.2],
    "stop_loss_bps": [100.0, 150.0],
}


def _valid(grid: dict[str, list[Any]]) -> int:
    from spreadarb.sweeps import expand_grid

    return sum(p.config is not None for p in expand_grid(grid))


def run(
    path: Path,
    label: str,
    grid: dict[str, list[Any]],
    *,
    baseline_n: int,
    repeats: int,
    dask: bool,
) -> dict[str, Any]:
    import spreadarb
    from spreadarb.metrics import portfolio_metrics
    from spreadarb.sweeps import expand_grid, sweep

    dataset = spreadarb.load(path)
    points = [p for p in expand_grid(grid) if p.config is not None]
    n = len(points)
    sweep(dataset, {k: v[:1] for k, v in grid.items()}, progress=False)  # JIT warm-up
    out: dict[str, Any] = {"workload": label, "configs": n, "rows": {}}

    def baseline() -> None:
        for p in points[:baseline_n]:
            assert p.config is not None
            portfolio_metrics(spreadarb.backtest(dataset, p.config))

    t, spread = time_repeats(baseline, repeats)
    out["rows"]["one-by-one backtest loop"] = (baseline_n / t * 60, spread / t)
    for n_jobs in (1, 2):
        t, spread = time_repeats(
            lambda n_jobs=n_jobs: sweep(dataset, grid, n_jobs=n_jobs, progress=False), repeats
        )
        out["rows"][f"sweep, {n_jobs} thread{'s' if n_jobs > 1 else ''}"] = (n / t * 60, spread / t)
    if dask:
        from distributed import Client, LocalCluster

        for workers in (1, 2):
            with (
                LocalCluster(
                    n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None
                ) as cluster,
                Client(cluster) as client,
            ):
                sweep(dataset, {k: v[:2] for k, v in grid.items()}, client=client, progress=False)
                t, spread = time_repeats(
                    lambda client=client: sweep(dataset, grid, client=client, progress=False),
                    repeats,
                )
            out["rows"][f"sweep, Dask {workers} worker{'s' if workers > 1 else ''}"] = (
                n / t * 60,
                spread / t,
            )
    base = out["rows"]["one-by-one backtest loop"][0]
    rows = out["rows"]
    out["speedup_vs_loop"] = rows["sweep, 2 threads"][0] / base
    out["thread_scaling"] = rows["sweep, 2 threads"][0] / rows["sweep, 1 thread"][0]
    if dask:
        out["dask_scaling"] = rows["sweep, Dask 2 workers"][0] / rows["sweep, Dask 1 worker"][0]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--synthetic-day", action="store_true", help="also run the SPEC §8 day")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--no-dask", action="store_true", help="skip the Dask rows")
    parser.add_argument("--json", type=Path, default=CACHE / "bench_sweep.json")
    args = parser.parse_args()

    results = [
        run(
            SAMPLE,
            "data/sample",
            SAMPLE_GRID,
            baseline_n=24,
            repeats=args.repeats,
            dask=not args.no_dask,
        )
    ]
    if args.synthetic_day:
        results.append(
            run(
                synthetic_day(),
                "synthetic day",
                DAY_GRID,
                baseline_n=2,
                repeats=1,
                dask=False,
            )
        )
    print(f"\nsweep benchmark ({os.cpu_count()} cores, Python {platform.python_version()})")
    print(f"{'workload':<15} {'configs':>7}  {'run':<28} {'configs/min':>12} {'spread':>7}")
    for r in results:
        for name, (rate, spread) in r["rows"].items():
            print(
                f"{r['workload']:<15} {r['configs']:>7}  {name:<28} {rate:>12,.0f} {spread:>6.0%}"
            )
        extra = (
            f"  speedup vs loop {r['speedup_vs_loop']:.1f}x, "
            f"threads 1->2 {r['thread_scaling']:.2f}x"
        )
        if "dask_scaling" in r:
            extra += f", Dask workers 1->2 {r['dask_scaling']:.2f}x"
        print(extra)
    sample = results[0]["rows"]
    target = sample["sweep, 2 threads"][0] >= 1000
    print(f"target 1,000 configs/min on data/sample: {'met' if target else 'MISSED'}")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({"results": results, "target_met": target}, indent=2))
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
