"""All benchmarks in one run: ``python -m benchmarks`` prints one table and writes JSON.

Usage::

    python -m benchmarks           # data/sample and the SPEC §8 synthetic day, with peers
    python -m benchmarks --quick   # data/sample only, no hftbacktest peer, vectorbt warm only

Runs each benchmark script in its own process (so peak memory and JIT timings are not
polluted by the others), streams its output, then gathers their JSON files
(``benchmarks/.cache/bench_*.json``) into one summary table against the SPEC §8 targets,
written to ``benchmarks/.cache/summary.json``. Each script's own table has the medians,
spreads and ratios in full; ``docs/performance.md`` explains them.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
CACHE = HERE / ".cache"


def _run(script: str, *flags: str) -> float:
    print(f"\n=== {script} {' '.join(flags)}", flush=True)
    t0 = time.perf_counter()
    subprocess.run([sys.executable, str(HERE / script), *flags], check=True)
    return time.perf_counter() - t0


def _runs(result: dict[str, Any], key: str) -> str:
    """`` (faster of a, b)`` for a figure that is the faster of repeated runs."""
    runs = result.get(key)
    return f" (faster of {', '.join(f'{x:.1f}' for x in runs)})" if runs else ""


def _load(name: str) -> Any:
    path = CACHE / f"{name}.json"
    return json.loads(path.read_text()) if path.exists() else None


def _by_workload(results: list[dict[str, Any]] | None) -> dict[str, dict[str, Any]]:
    return {r["workload"]: r for r in results or []}


def summary(quick: bool) -> list[tuple[str, str, str, str, str]]:
    """(quantity, workload, value, target, verdict) rows from the scripts' JSON files."""
    rows: list[tuple[str, str, str, str, str]] = []

    def add(what: str, workload: str, value: str, target: str = "", ok: bool | None = None):
        verdict = "" if ok is None else ("met" if ok else "MISSED")
        rows.append((what, workload, value, target, verdict))

    data = _by_workload(_load("bench_data"))
    for name, r in data.items():
        add("load (rows/s)", name, f"{r['load_rows_per_s']:,.0f}")
        add("load peak memory / arrays", name, f"{r['peak_over_arrays']:.1f}x")
    scan = _load("bench_scan") or {}
    for name, r in _by_workload(scan.get("results")).items():
        add("scan (ticker rows/s)", name, f"{r['ticker_rows_per_s']:,.0f}")
        day = name == "synthetic day"
        add(
            "scan vs pandas reference",
            name,
            f"{r['speedup']:.1f}x (agree: {r['agreement']['agree']})",
            ">= 50x" if day else "",
            r["speedup"] >= 50 if day else None,
        )
        if day:
            add("scan time", name, f"{r['scan_s']:.1f} s", "< 10 s", r["scan_s"] < 10)
    jit = scan.get("jit") or {}
    if jit:
        add(
            "JIT cold, first scan",
            "data/sample",
            f"{jit['jit_cold_s']:.1f} s{_runs(jit, 'jit_cold_runs_s')}",
            "< 10 s",
            jit["jit_cold_s"] < 10,
        )
        add(
            "JIT cached, first scan",
            "data/sample",
            f"{jit['jit_cached_s']:.2f} s",
            "< 1 s",
            jit["jit_cached_s"] < 1,
        )
    backtest = _load("bench_backtest") or {}
    bt_jit = backtest.get("jit") or {}
    if bt_jit:
        add(
            "JIT cold, first load + backtest",
            "data/sample",
            f"{bt_jit['jit_cold_s']:.1f} s{_runs(bt_jit, 'jit_cold_runs_s')}",
            "< 10 s",
            bt_jit["jit_cold_s"] < 10,
        )
        add(
            "JIT cached, first load + backtest",
            "data/sample",
            f"{bt_jit['jit_cached_s']:.2f} s",
            "< 1 s",
            bt_jit["jit_cached_s"] < 1,
        )
    for name, r in _by_workload(backtest.get("results")).items():
        add("backtest (events/s)", name, f"{r['backtest_events_per_s']:,.0f}")
        add("engine kernel (events/s)", name, f"{r['kernel_events_per_s']:,.0f}")
        if "end_to_end_s" in r and name == "synthetic day":
            add(
                "load + backtest end to end",
                name,
                f"{r['end_to_end_s']:.1f} s",
                "< 15 s",
                r["end_to_end_s"] < 15,
            )
        if "peak_above_warmed_over_arrays" in r:
            # The target is about what the data costs: the peak a load + backtest adds to
            # a process that has already imported everything and compiled its kernels.
            add(
                "load + backtest memory above a warmed process / arrays",
                name,
                f"{r['peak_above_warmed_over_arrays']:.1f}x",
                "< 2x",
                r["peak_above_warmed_over_arrays"] < 2,
            )
            add("whole-process peak RSS / arrays", name, f"{r['peak_over_arrays']:.1f}x")
        elif "peak_minus_baseline_over_arrays" in r:
            add(
                "backtest memory / arrays",
                name,
                f"{r['peak_minus_baseline_over_arrays']:.1f}x",
                "< 2x",
                r["peak_minus_baseline_over_arrays"] < 2,
            )
    peer = backtest.get("hftbacktest")
    if peer:
        add("hftbacktest (events/s)", "binance BTCUSDT", f"{peer.get('events_per_s', 0):,.0f}")
    for name, r in _by_workload(backtest.get("results")).items():
        if "kernel_vs_hbt_events_per_s" in r and r.get("limit_orders", 0) > 0:
            ratio = r["kernel_vs_hbt_events_per_s"]
            add(
                "engine kernel / hftbacktest (events/s)",
                name,
                f"{ratio:.1f}x",
                ">= 10x",
                ratio >= 10,
            )
            add(
                "engine kernel / hftbacktest (replay speed)",
                name,
                f"{r['kernel_vs_hbt_replay_speed']:.1f}x",
            )
    agree = backtest.get("order_comparison")
    if agree:
        add(
            "fills agreeing with hftbacktest (order by order)",
            "binance BTCUSDT",
            f"{agree['filled_both'] + agree['filled_neither']}/{agree['orders']}",
        )
    sweep = _load("bench_sweep") or {}
    for r in sweep.get("results", []):
        for run, (rate, _) in r["rows"].items():
            target = "data/sample" in r["workload"] and run == "sweep, 2 threads"
            add(
                f"{run} (configs/min)",
                r["workload"],
                f"{rate:,.0f}",
                ">= 1,000" if target else "",
                rate >= 1000 if target else None,
            )
        if "dask_scaling" in r:
            add("Dask scaling 1 -> 2 workers", r["workload"], f"{r['dask_scaling']:.2f}x")
        add("thread scaling 1 -> 2", r["workload"], f"{r['thread_scaling']:.2f}x")
    vbt = _load("bench_vectorbt") or {}
    peer = vbt.get("vectorbt")
    if peer:
        ours = vbt["ours"]["threads"]
        add(
            "vectorbt signal sweep / spreadarb.sweep (configs/min)",
            f"data/sample, {peer['configs']} configs",
            f"{peer['configs_per_min']:,.0f} / {ours['2']['configs_per_min']:,.0f} (2 threads)"
            f" = {vbt['ratios']['vectorbt_over_ours_2_threads']:.2f}x"
            f" ({vbt['ratios']['vectorbt_over_ours_1_thread']:.2f}x vs 1 thread)",
        )
    redis = _load("bench_redis")
    if redis:
        workload = f"{redis['keys']} keys at {redis['target_hz']:g} Hz"
        add("Redis export sampling rate", workload, f"{redis['achieved_hz']:.2f} Hz")
        add(
            "Redis exporter CPU (one core)",
            workload,
            f"{redis['exporter_cpu_share']:.1%}",
            "< 25%",
            redis["exporter_cpu_share"] < 0.25,
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="data/sample only, no peer")
    args = parser.parse_args()
    day = [] if args.quick else ["--synthetic-day"]
    durations = {
        "bench_data.py": _run("bench_data.py", *day),
        "bench_scan.py": _run("bench_scan.py", *day),
        "bench_backtest.py": _run(
            "bench_backtest.py", *(["--no-synthetic", "--no-peer"] if args.quick else [])
        ),
        "bench_sweep.py": _run("bench_sweep.py", *day),
        "bench_vectorbt.py": _run("bench_vectorbt.py", *(["--no-cold-jit"] if args.quick else [])),
    }
    if shutil.which("redis-server"):  # the exporter benchmark runs its own server
        quick = ["--seconds", "15"] if args.quick else []
        durations["bench_redis.py"] = _run("bench_redis.py", *quick)
    rows = summary(args.quick)
    header = ("quantity", "workload", "value", "target", "")
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(5)]
    print(f"\nspreadarb benchmarks ({os.cpu_count()} cores, Python {platform.python_version()})")
    for r in [header, *rows]:
        print("  ".join(str(v).ljust(w) for v, w in zip(r, widths, strict=True)).rstrip())
    print(f"\ntotal {sum(durations.values()) / 60:.1f} min")
    out = CACHE / "summary.json"
    out.write_text(
        json.dumps(
            {
                "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
                "durations_s": durations,
                "rows": [dict(zip((*header[:4], "verdict"), r, strict=True)) for r in rows],
            },
            indent=2,
        )
    )
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
