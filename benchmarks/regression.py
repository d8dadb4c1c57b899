"""CI regression benchmark on ``data/sample``: golden results, and timing ratios.

Usage::

    python -m benchmarks.regression           # check (run by .ci/run)
    python -m benchmarks.regression --update  # rewrite the golden files after a change

(a) **Results.** The backtest of ``data/sample`` with the default ``StrategyConfig`` must
match ``benchmarks/golden/sample.json`` exactly: the row count and SHA-256 of the raw bytes
of every record table (trades, orders, leg-outs, rejections, equity, opportunities) and
every metric to the last bit (floats are stored by their shortest round-trip repr). The
ledger is also kept readable in ``benchmarks/golden/sample_trades.csv`` so that a change
shows in a diff. A change of results must come with ``--update`` and an entry in
``CHANGELOG.md`` saying why; the check fails otherwise and prints what differs.

(b) **Speed.** Each timed step's fastest of five runs is divided by the fastest of five
runs of an in-run baseline (a fixed numpy/pandas workload, interleaved with the step), so
the ratio does not depend on the machine's speed or load as much as a wall time does.
The ratios are printed and compared with ``benchmarks/golden/timing_ratios.json``; only a
gross regression (a ratio more than 3x its committed value) fails, so noise never fails CI.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "data" / "sample"
GOLDEN = ROOT / "benchmarks" / "golden"
TOLERATED_SLOWDOWN = 3.0
REPEATS = 5


def _time(fn: Callable[[], object]) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def baseline_workload() -> None:
    """A fixed numpy + pandas workload of about 0.1 s: the in-run yardstick."""
    import pandas as pd

    rng = np.random.default_rng(0)
    values = rng.standard_normal(1_000_000)
    np.sort(values)
    pd.Series(values).rolling(100).mean()
    np.cumsum(values).searchsorted(values[:100_000])


def _records_digest(records: np.ndarray) -> dict[str, Any]:
    data = np.ascontiguousarray(records)
    return {"rows": int(data.size), "sha256": hashlib.sha256(data.tobytes()).hexdigest()}


def _exact(metrics: dict[str, Any]) -> dict[str, Any]:
    """Metrics one level deep (as a sweep row has them), floats by their exact repr (which
    round-trips; NaN and infinities are spelled out)."""
    from spreadarb.sweeps import flat_metrics

    return {k: repr(v) if isinstance(v, float) else v for k, v in flat_metrics(metrics).items()}


def results_snapshot() -> tuple[dict[str, Any], str]:
    """The golden snapshot of the sample backtest, and its ledger as CSV text."""
    import spreadarb

    result = spreadarb.backtest(spreadarb.load(SAMPLE), spreadarb.StrategyConfig())
    tables = {
        "trades": result.trade_records,
        "orders": result.order_records,
        "leg_outs": result.leg_out_records,
        "rejections": result.rejection_records,
        "equity": result.equity_records,
        "opportunities": result.opportunity_records,
    }
    snapshot = {
        "dataset": "data/sample",
        "config": "StrategyConfig() defaults",
        "records": {name: _records_digest(rec) for name, rec in tables.items()},
        "metrics": _exact(result.metrics),
    }
    ledger = result.trades.to_csv(index=False, float_format=None)
    return snapshot, ledger


def _diff(golden: dict[str, Any], now: dict[str, Any]) -> list[str]:
    lines = []
    for name in sorted(set(golden["records"]) | set(now["records"])):
        g, n = golden["records"].get(name), now["records"].get(name)
        if g != n:
            lines.append(f"records {name}: golden {g}, now {n}")
    gm, nm = golden["metrics"], now["metrics"]
    for key in sorted(set(gm) | set(nm)):
        if gm.get(key, "<absent>") != nm.get(key, "<absent>"):
            lines.append(
                f"metric {key}: golden {gm.get(key, '<absent>')}, now {nm.get(key, '<absent>')}"
            )
    return lines


def timing_ratios() -> dict[str, float]:
    """Each step's median time divided by the baseline's, measured in this process."""
    import spreadarb
    from spreadarb.scanner import scan_records
    from spreadarb.sweeps import sweep

    grid = {
        "min_confidence": [60, 70, 80],
        "fill_threshold": [0.1, 0.2],
        "stop_loss_bps": [100.0, 150.0],
    }
    ds = spreadarb.load(SAMPLE)
    spreadarb.backtest(ds)  # JIT (cached or not) outside the timings
    sweep(ds, {"min_confidence": [70]}, progress=False)
    steps: dict[str, Callable[[], object]] = {
        "load": lambda: spreadarb.load(SAMPLE),
        "scan": lambda: scan_records(ds),
        "backtest": lambda: spreadarb.backtest(ds),
        "sweep_12_configs": lambda: sweep(ds, grid, progress=False),
    }
    # Fastest of the repeats, baseline and step interleaved: the minimum is the estimate
    # least disturbed by other work on the machine, and interleaving exposes both to the
    # same conditions.
    ratios: dict[str, float] = {}
    bases = []
    for name, fn in steps.items():
        base_times, step_times = [], []
        for _ in range(REPEATS):
            base_times.append(_time(baseline_workload))
            step_times.append(_time(fn))
        ratios[name] = min(step_times) / min(base_times)
        bases.extend(base_times)
    ratios["baseline_s"] = min(bases)
    return ratios


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--update", action="store_true", help="rewrite the golden files")
    args = parser.parse_args(argv)

    snapshot, ledger = results_snapshot()
    ratios = timing_ratios()
    golden_path = GOLDEN / "sample.json"
    ratios_path = GOLDEN / "timing_ratios.json"
    if args.update:
        from spreadarb._io import atomic_write_text

        GOLDEN.mkdir(parents=True, exist_ok=True)
        atomic_write_text(golden_path, json.dumps(snapshot, indent=1, sort_keys=True) + "\n")
        atomic_write_text(GOLDEN / "sample_trades.csv", ledger)
        atomic_write_text(ratios_path, json.dumps(ratios, indent=1, sort_keys=True) + "\n")
        print(f"wrote {golden_path}, {GOLDEN / 'sample_trades.csv'}, {ratios_path}")
        print("add an entry to CHANGELOG.md saying why the results changed")
        return 0

    failed = False
    golden = json.loads(golden_path.read_text())
    differences = _diff(golden, snapshot)
    if differences:
        failed = True
        print(f"RESULTS CHANGED on data/sample ({len(differences)} differences):")
        for line in differences[:40]:
            print("  " + line)
        print(
            "If the change is intended: python -m benchmarks.regression --update, and say why "
            "in CHANGELOG.md."
        )
    else:
        n = len(snapshot["records"])
        print(
            f"results: the sample backtest matches the golden snapshot ({n} record tables, "
            f"{len(snapshot['metrics'])} metrics)"
        )

    committed = json.loads(ratios_path.read_text())
    print(
        f"\ntimings / in-run baseline (baseline {ratios['baseline_s'] * 1e3:.0f} ms here, "
        f"{committed['baseline_s'] * 1e3:.0f} ms when committed):"
    )
    print(f"  {'step':<18} {'ratio now':>10} {'committed':>10} {'now/committed':>14}")
    for name, ratio in ratios.items():
        if name == "baseline_s":
            continue
        ref = committed.get(name, math.nan)
        change = ratio / ref
        flag = ""
        if change > TOLERATED_SLOWDOWN:
            flag = f"  GROSS REGRESSION (> {TOLERATED_SLOWDOWN:g}x)"
            failed = True
        print(f"  {name:<18} {ratio:>10.2f} {ref:>10.2f} {change:>13.2f}x{flag}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
