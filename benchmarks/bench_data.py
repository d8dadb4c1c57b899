"""Data-layer benchmark: load and validate throughput, against a plain pyarrow baseline.

Usage::

    python benchmarks/bench_data.py                 # data/sample only
    python benchmarks/bench_data.py --synthetic-day # also the SPEC §8 synthetic day

The synthetic day (8 venues x 20 symbols x 24 h) is generated once into
``benchmarks/.cache/synthetic-day`` (never committed) and reused.

The baseline is what a user would write by hand to get the same per-market arrays:
``pyarrow.parquet.read_table`` of each table folder, then a stable sort by (exchange,
symbol) in pandas. Ratios are measured in the same run. Prints a table, writes JSON.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import CACHE, ROOT, synthetic_day
from _common import time_repeats as _time


def _baseline_load(path: Path) -> int:
    import pyarrow.parquet as pq

    rows = 0
    for table in ("tickers", "trades", "liquidations"):
        files = sorted((path / table).glob("date=*/exchange=*/*.parquet"))
        if not files:
            continue
        frame = pq.read_table(files, partitioning=None).to_pandas()
        frame = frame.sort_values(["exchange", "symbol"], kind="stable")
        rows += len(frame)
    return rows


def _peak_rss_mb(path: Path) -> tuple[float, float]:
    """Peak memory added by ``spreadarb.load(path)``, measured in a fresh process (MiB).

    Returns the peak above the process's size just before the load, first in a cold
    process (imports done, but the loader's kernels not yet loaded: their code counts),
    then after a warm-up load of the first minutes of ``path`` in the same process, with
    the high-water mark reset (``bench_backtest.reset_hwm``; where Linux does not allow
    it the second figure is the cold one). From ``/proc/self/status`` (VmHWM and
    VmRSS): not ``ru_maxrss``, which Linux carries over from the parent across fork and
    exec, nor tracemalloc, which misses Arrow's allocations.
    """
    import subprocess
    import sys

    code = (
        "import sys, gc, json\n"
        f"sys.path.insert(0, {str(Path(__file__).resolve().parent)!r})\n"
        "from bench_backtest import hwm_mib, reset_hwm, rss_mib, warmup_end\n"
        "import pyarrow as pa, spreadarb\n"
        "from pathlib import Path\n"
        "before = rss_mib()\n"
        "ds = spreadarb.load(sys.argv[1])\n"
        "cold = hwm_mib() - before\n"
        "del ds\n"
        "spreadarb.load(sys.argv[1], end=warmup_end(Path(sys.argv[1])))\n"
        "gc.collect()\n"
        "pa.default_memory_pool().release_unused()\n"
        "before = rss_mib()\n"
        "warm = cold\n"
        "if reset_hwm():\n"
        "    ds = spreadarb.load(sys.argv[1])\n"
        "    warm = hwm_mib() - before\n"
        "print(json.dumps([cold, warm]))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(path)], capture_output=True, text=True, check=True
    )
    cold, warm = json.loads(out.stdout.strip().splitlines()[-1])
    return float(cold), float(warm)


def run(path: Path, label: str, repeats: int) -> dict[str, object]:
    import spreadarb

    ds = spreadarb.load(path)
    rows = len(ds.tickers) + len(ds.trades) + len(ds.liquidations)
    arrays_mb = (
        sum(a.nbytes for t in (ds.tickers, ds.trades, ds.liquidations) for a in t.columns.values())
        / 2**20
    )
    del ds
    load_cpu: list[float] = []

    def timed_load() -> None:
        # CPU time as well as wall time: on a shared machine the wall time mostly says
        # how busy the other processes were.
        cpu = time.process_time()
        spreadarb.load(path)
        load_cpu.append(time.process_time() - cpu)

    load_s, load_spread = _time(timed_load, repeats)
    base_s, base_spread = _time(lambda: _baseline_load(path), repeats)
    val_s, val_spread = _time(lambda: spreadarb.validate(path), max(1, repeats // 2))
    peak, peak_warm = _peak_rss_mb(path)
    return {
        "workload": label,
        "rows": rows,
        "load_s": load_s,
        "load_spread_s": load_spread,
        "load_rows_per_s": rows / load_s,
        "load_cpu_s": statistics.median(load_cpu),
        "baseline_s": base_s,
        "baseline_spread_s": base_spread,
        "load_vs_baseline": base_s / load_s,
        "validate_s": val_s,
        "validate_spread_s": val_spread,
        "validate_rows_per_s": rows / val_s,
        "arrays_mb": arrays_mb,
        "load_peak_mb": peak,
        "peak_over_arrays": peak / arrays_mb,
        "load_peak_warmed_mb": peak_warm,
        "peak_above_warmed_over_arrays": peak_warm / arrays_mb,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--synthetic-day", action="store_true", help="also run the SPEC §8 day")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--json", type=Path, default=CACHE / "bench_data.json")
    args = parser.parse_args()
    results = [run(ROOT / "data" / "sample", "data/sample", args.repeats)]
    if args.synthetic_day:
        results.append(run(synthetic_day(), "synthetic day", max(1, args.repeats // 2)))
    header = (
        f"{'workload':<14} {'rows':>11} {'load s':>8} {'cpu s':>6} {'Mrows/s':>8} "
        f"{'baseline s':>10} {'x baseline':>10} {'validate s':>10} {'peak/arrays':>11} "
        f"{'warmed':>7}"
    )
    print(header)
    print("-" * len(header))
    for r in results:
        print(
            f"{r['workload']:<14} {r['rows']:>11,} {r['load_s']:>8.2f} {r['load_cpu_s']:>6.2f} "
            f"{r['load_rows_per_s'] / 1e6:>8.2f} {r['baseline_s']:>10.2f} "
            f"{r['load_vs_baseline']:>10.2f} {r['validate_s']:>10.2f} "
            + (
                f"{r['peak_over_arrays']:>11.2f}"
                if r["peak_over_arrays"] > 0
                else f"{'<import':>11}"
            )
            + f" {r['peak_above_warmed_over_arrays']:>7.2f}"
        )
    print(
        "peak/arrays: peak memory the load adds in a fresh process, over the arrays' size; "
        "warmed: the same after a warm-up load of the first minutes (kernels loaded)"
    )
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(results, indent=2))
    print(f"\nwrote {args.json}")


if __name__ == "__main__":
    main()
