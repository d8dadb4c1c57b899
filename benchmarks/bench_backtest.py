"""Backtest-core benchmark: ``spreadarb.backtest`` and ``simulate_nb`` against hftbacktest.

Usage::

    python benchmarks/bench_backtest.py                 # real recording + synthetic day
    python benchmarks/bench_backtest.py --no-synthetic  # real recording only
    python benchmarks/bench_backtest.py --no-peer       # without hftbacktest

Workloads (SPEC §8): the Binance BTCUSDT recording of 2024-08-08
(``shared/realdata/hftbacktest/usdm/btcusdt_20240808.gz``), imported once with
``spreadarb.importers.binance_ws`` into ``benchmarks/.cache/binance-btcusdt-20240808``
(venue ``binance``, symbol ``BTC``), and the synthetic day (``_common.synthetic_day``).

Measured, with ``queue_model="risk_averse"``, after a warm-up call (JIT excluded):

- ``backtest``: ``spreadarb.simulation.backtest(ds, config)`` on the loaded dataset
  (scan, grid, latency, candidates, event merge, kernel, records);
- ``kernel``: ``simulate_nb`` alone, its inputs built once as ``backtest`` builds them,
  fresh state and records per repeat (allocated outside the timed region);
- events/s = (ticker rows + trade rows) / median time;
- for the synthetic day also load + backtest end to end;
- peak RSS of a fresh process doing load + backtest, against the nbytes of the loaded
  arrays.

Peer: hftbacktest (PyPI) in its own virtualenv, ``benchmarks/.cache/hbt-venv`` (it pins
``numpy<2.3``; installing it into the project's environment downgrades numpy), run by
``_hbt_peer.py`` in a subprocess of this run: its own converter on the same raw file, a
risk-averse queue, constant 200 ms order latency, a passive one-lot buy at the best bid
every second cancelled after 500 ms, ``elapse(100 ms)`` steps. Its events are the rows of
its event array (one per depth-level change and trade, about 5.6x as many rows as our
tickers + trades for the same messages), so two ratios are reported: events/s vs
events/s, and replay speed (recording seconds per wall second) vs replay speed.

Order-by-order: hftbacktest's orders (send time, price at the best bid, outcome) are
re-judged with our documented fill rule (docs/execution.md, risk-averse threshold),
re-implemented here on our imported tickers and trades, because the engine only sends the
strategy's own two-leg orders and cannot be given these ones without changing it.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import CACHE, ROOT, synthetic_day, time_repeats

import spreadarb
from spreadarb import StrategyConfig
from spreadarb.kernels.engine import Records
from spreadarb.simulation import EngineRun, backtest, prepare

RAW = ROOT.parent / "shared" / "realdata" / "hftbacktest" / "usdm" / "btcusdt_20240808.gz"
REAL = CACHE / "binance-btcusdt-20240808"
VENV = CACHE / "hbt-venv"
OUT = CACHE / "bench_backtest.json"
LATENCY_MS = 200.0


def real_recording() -> Path:
    """The Binance BTCUSDT recording imported into the contract (once, cached)."""
    from spreadarb.importers.binance_ws import import_binance_ws

    done = REAL / ".complete"
    if not done.exists():
        import shutil

        shutil.rmtree(REAL, ignore_errors=True)
        summary = import_binance_ws([RAW], REAL, symbol="BTCUSDT")
        print(f"imported {RAW.name} in {summary.elapsed_s:.1f} s: {summary.rows}")
        done.write_text("ok\n")
    return REAL


def config() -> StrategyConfig:
    return StrategyConfig(queue_model="risk_averse")


def time_kernel(prepared: EngineRun, repeats: int) -> tuple[float, float, Records]:
    """Median and spread of ``simulate_nb`` alone on inputs prepared once (as ``backtest``
    prepares them); buffers are allocated outside the timing."""
    times = []
    rec = None
    for _ in range(repeats + 1):  # the first call may compile; not counted
        state, rec = prepared.buffers()
        t0 = time.perf_counter()
        prepared.simulate(state, rec)
        times.append(time.perf_counter() - t0)
    times = times[1:]
    assert rec is not None
    return statistics.median(times), max(times) - min(times), rec


def nbytes(ds: spreadarb.Dataset) -> int:
    total = 0
    for name in ("tickers", "trades", "liquidations"):
        table = ds.table(name)
        total += table.offsets.nbytes + sum(a.nbytes for a in table.columns.values())
    return total


def hwm_mib() -> float:
    """This process's peak resident set (VmHWM), MiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def peak_rss(path: Path) -> dict[str, float]:
    """Peak RSS (MiB) of a fresh process that loads ``path`` and runs the backtest."""
    # VmHWM, not ru_maxrss: Linux carries ru_maxrss over from the parent through
    # fork + exec, so a child of this (large) process would report the parent's peak.
    code = (
        "import sys, json;"
        f"sys.path.insert(0, {str(Path(__file__).resolve().parent)!r});"
        "from bench_backtest import nbytes, config, hwm_mib;"
        "import spreadarb;"
        "base = hwm_mib();"
        f"ds = spreadarb.load({str(path)!r});"
        "after_load = hwm_mib();"
        "spreadarb.backtest(ds, config());"
        "peak = hwm_mib();"
        "print(json.dumps(dict(base=base, after_load=after_load,"
        " peak=peak, arrays=nbytes(ds) / 2**20)))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    )
    r = json.loads(out.stdout.strip().splitlines()[-1])
    return {
        "rss_baseline_mib": r["base"],
        "rss_after_load_mib": r["after_load"],
        "rss_peak_mib": r["peak"],
        "arrays_mib": r["arrays"],
        "peak_over_arrays": r["peak"] / r["arrays"],
        "peak_minus_baseline_over_arrays": (r["peak"] - r["base"]) / r["arrays"],
    }


def bench_ours(name: str, path: Path, repeats: int, kernel_repeats: int) -> dict[str, Any]:
    cfg = config()
    t0 = time.perf_counter()
    ds = spreadarb.load(path)
    load_s = time.perf_counter() - t0
    n_tk, n_tr = len(ds.tickers), len(ds.trades)
    events = n_tk + n_tr
    res = backtest(ds, cfg)  # warm-up (JIT)
    bt_s, bt_spread = time_repeats(lambda: backtest(ds, cfg), repeats)
    prepared = prepare(ds, cfg)
    k_s, k_spread, rec = time_kernel(prepared, kernel_repeats)
    span_s = (int(ds.tickers["ts_local"].max()) - int(ds.tickers["ts_local"].min())) / 1e9
    out = {
        "workload": name,
        "path": str(path),
        "markets": ds.n_markets,
        "ticker_rows": n_tk,
        "trade_rows": n_tr,
        "events": events,
        "recording_s": span_s,
        "load_s": load_s,
        "backtest_s": bt_s,
        "backtest_spread_s": bt_spread,
        "backtest_repeats": repeats,
        "backtest_events_per_s": events / bt_s,
        "kernel_s": k_s,
        "kernel_spread_s": k_spread,
        "kernel_repeats": kernel_repeats,
        "kernel_events_per_s": events / k_s,
        "end_to_end_s": load_s + bt_s,
        "end_to_end_events_per_s": events / (load_s + bt_s),
        "trades": len(res.trade_records),
        "orders": len(res.order_records),
        "kernel_orders": int(rec.counts[1]),
    }
    out.update(peak_rss(path))
    return out


def run_peer(repeats: int) -> dict[str, Any]:
    py = VENV / "bin" / "python"
    if not py.exists():
        print(f"creating {VENV} and installing hftbacktest into it")
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
        subprocess.run([str(py), "-m", "pip", "install", "-q", "hftbacktest"], check=True)
    cmd = [
        str(py),
        str(Path(__file__).resolve().parent / "_hbt_peer.py"),
        str(RAW),
        str(CACHE),
        "--latency-ms",
        str(LATENCY_MS),
        "--repeats",
        str(repeats),
    ]
    out = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    if out.returncode != 0:
        raise RuntimeError(f"hftbacktest peer failed ({out.returncode}):\n{out.stderr[-3000:]}")
    return json.loads(out.stdout)


def judge_ours(ds: spreadarb.Dataset, orders: np.ndarray, offset_ns: int) -> np.ndarray:
    """Our documented risk-averse fill rule applied to hftbacktest's buy orders.

    ``orders`` columns as ``_hbt_peer.py`` logs them (hftbacktest local clock, which its
    converter shifted by ``offset_ns``). For each order sent at our local time ``t`` with
    limit ``p`` (the best bid hftbacktest saw): queue ahead = our ``bid_sz`` as of ``t``
    when our bid equals ``p`` (else 0, and the price is still ``p``); events seen locally
    in ``[t + 2L, t + 500 ms + 2L)`` fill it when sells at ``p`` reach the queue, a sell
    prints below ``p``, or the ask reaches ``p``. Returns our fill time (local ns) or -1.
    """
    tk, tr = ds.tickers, ds.trades
    tts, bid, bsz, ask = tk["ts_local"], tk["bid_px"], tk["bid_sz"], tk["ask_px"]
    pts, ppx, psz, pside = tr["ts_local"], tr["px"], tr["sz"], tr["side"]
    lat = round(LATENCY_MS * 1e6)
    fills = np.full(len(orders), -1, dtype=np.int64)
    for i, o in enumerate(orders):
        t = int(o[0]) - offset_ns
        p = round(o[1], 1)
        k = np.searchsorted(tts, t, side="right") - 1
        queue = float(bsz[k]) if k >= 0 and round(bid[k], 1) == p else 0.0
        lo, hi = t + 2 * lat, t + 500_000_000 + 2 * lat
        first = []
        a = np.searchsorted(tts, lo)
        b = np.searchsorted(tts, hi)
        cross = np.nonzero(ask[a:b] <= p + 1e-9)[0]
        if cross.size:
            first.append(int(tts[a + cross[0]]))
        a = np.searchsorted(pts, lo)
        b = np.searchsorted(pts, hi)
        sells = pside[a:b] < 0
        through = np.nonzero(sells & (ppx[a:b] < p - 1e-9))[0]
        if through.size:
            first.append(int(pts[a + through[0]]))
        at = sells & (np.abs(ppx[a:b] - p) < 1e-9)
        vol = np.cumsum(np.where(at, psz[a:b], 0.0))
        # Threshold 1 of the queue ahead (>= as in the fraction rule); an empty queue
        # needs one print at the price.
        hit = np.nonzero(at & (vol >= max(queue, 1e-12)))[0]
        if hit.size:
            first.append(int(pts[a + hit[0]]))
        if first:
            fills[i] = min(first)
    return fills


def compare_orders(peer: dict[str, Any]) -> dict[str, Any]:
    ds = spreadarb.load(REAL)
    orders = np.array(peer["orders"], dtype=np.float64)
    # The converter moved hftbacktest's local clock by the most negative feed latency;
    # recover that shift from trades that are unique by (exchange time, price) in both.
    tr = ds.trades
    ours_by_key: dict[tuple[int, float], list[int]] = {}
    for te, tl, px in zip(
        tr["ts_exchange"][:2000].tolist(),
        tr["ts_local"][:2000].tolist(),
        tr["px"][:2000].tolist(),
        strict=True,
    ):
        ours_by_key.setdefault((te, round(px, 1)), []).append(tl)
    shifts = []
    for te, tl, px in peer["trade_probe"]:
        hits = ours_by_key.get((int(te), round(px, 1)), [])
        if len(hits) == 1:
            shifts.append(int(tl) - hits[0])
    offset = int(np.median(shifts))
    ours = judge_ours(ds, orders, offset)
    theirs = orders[:, 3] == 3.0
    valid = orders[:, 3] != 2.0  # GTX orders hftbacktest expired (crossed on arrival)
    both = theirs & (ours >= 0) & valid
    # Their fill as seen locally: exchange fill time + one feed/response latency; we
    # compare the exchange fill time shifted to our local clock by the median feed latency.
    their_local = orders[:, 4] - offset + peer["feed_latency_ns_median"]
    delta_ms = (ours[both] - their_local[both]) / 1e6
    return {
        "rule": "ours re-implemented (judge_ours), not the engine; L = 200 ms both sides",
        "orders": int(valid.sum()),
        "expired_gtx": int((~valid).sum()),
        "filled_hftbacktest": int((theirs & valid).sum()),
        "filled_ours": int(((ours >= 0) & valid).sum()),
        "filled_both": int(both.sum()),
        "only_hftbacktest": int((theirs & (ours < 0) & valid).sum()),
        "only_ours": int((~theirs & (ours >= 0) & valid).sum()),
        "fill_time_delta_ms_median": float(np.median(delta_ms)) if delta_ms.size else None,
        "fill_time_delta_ms_p10": float(np.percentile(delta_ms, 10)) if delta_ms.size else None,
        "fill_time_delta_ms_p90": float(np.percentile(delta_ms, 90)) if delta_ms.size else None,
        "clock_offset_ns": offset,
        "clock_offset_matches": len(shifts),
        "clock_offset_spread_ns": int(max(shifts) - min(shifts)),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--no-synthetic", action="store_true")
    ap.add_argument("--no-peer", action="store_true")
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    CACHE.mkdir(parents=True, exist_ok=True)

    results: list[dict[str, Any]] = []
    real = bench_ours("binance BTCUSDT 2024-08-08", real_recording(), args.repeats, args.repeats)
    results.append(real)
    peer: dict[str, Any] | None = None
    peer_error = None
    comparison = None
    if not args.no_peer:
        try:
            peer = run_peer(args.repeats)
        except Exception as exc:
            peer_error = str(exc)
            print(f"hftbacktest peer failed: {exc}")
    if peer is not None:
        comparison = compare_orders(peer)
        real["hbt_strategy_orders"] = len(peer["orders"])
        for key in ("backtest", "kernel"):
            real[f"{key}_vs_hbt_events_per_s"] = real[f"{key}_events_per_s"] / peer["events_per_s"]
            ours_speed = real["recording_s"] / real[f"{key}_s"]
            hbt_span = (peer["last_local_ts"] - peer["first_local_ts"]) / 1e9
            real[f"{key}_vs_hbt_replay_speed"] = ours_speed / (hbt_span / peer["run_s"])
    if not args.no_synthetic:
        results.append(bench_ours("synthetic day", synthetic_day(), 1, 3))

    print()
    head = (
        f"{'workload':<28}{'events':>12}{'load s':>8}{'backtest s':>11}{'ev/s':>12}"
        f"{'kernel s':>10}{'kernel ev/s':>13}{'peak MiB':>10}{'arrays MiB':>11}"
    )
    print(head)
    for r in results:
        print(
            f"{r['workload']:<28}{r['events']:>12,}{r['load_s']:>8.2f}{r['backtest_s']:>11.3f}"
            f"{r['backtest_events_per_s']:>12.3g}{r['kernel_s']:>10.4f}"
            f"{r['kernel_events_per_s']:>13.3g}{r['rss_peak_mib']:>10.0f}{r['arrays_mib']:>11.1f}"
        )
    if peer is not None:
        print(
            f"{'hftbacktest ' + peer['hftbacktest']:<28}{peer['events']:>12,}{'':>8}"
            f"{peer['run_s']:>11.3f}{peer['events_per_s']:>12.3g}"
            f"  (idle replay {peer['events_per_s_idle']:.3g} ev/s)"
        )
        print(
            "ours/hftbacktest, events/s:    backtest "
            f"{real['backtest_vs_hbt_events_per_s']:.2f}x, kernel "
            f"{real['kernel_vs_hbt_events_per_s']:.2f}x"
        )
        print(
            "ours/hftbacktest, replay speed: backtest "
            f"{real['backtest_vs_hbt_replay_speed']:.2f}x, kernel "
            f"{real['kernel_vs_hbt_replay_speed']:.2f}x"
        )
        print(f"order by order (hftbacktest's orders, our rule): {comparison}")
    elif peer_error:
        print(f"hftbacktest: not run ({peer_error.splitlines()[0]})")
    for r in results:
        print(
            f"{r['workload']}: end to end {r['end_to_end_s']:.2f} s; peak RSS "
            f"{r['rss_peak_mib']:.0f} MiB = {r['peak_over_arrays']:.2f}x arrays "
            f"({r['peak_minus_baseline_over_arrays']:.2f}x above the interpreter baseline); "
            f"trades {r['trades']}, orders {r['orders']}"
        )

    payload = {
        "machine": {
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "numpy": np.__version__,
            "maxrss_self_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        },
        "config": {"queue_model": "risk_averse", "hbt_latency_ms": LATENCY_MS},
        "results": results,
        "hftbacktest": {k: v for k, v in (peer or {}).items() if k != "orders"} or None,
        "hftbacktest_error": peer_error,
        "order_comparison": comparison,
    }
    OUT.write_text(json.dumps(payload, indent=2))
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
