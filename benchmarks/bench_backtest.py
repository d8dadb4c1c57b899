"""Backtest-core benchmark: ``spreadarb.backtest`` and ``simulate_nb`` against hftbacktest.

Usage::

    python benchmarks/bench_backtest.py                 # real recordings + synthetic day
    python benchmarks/bench_backtest.py --no-synthetic  # real recordings only
    python benchmarks/bench_backtest.py --no-peer       # without hftbacktest

Workloads (SPEC §8), each with ``queue_model="risk_averse"``:

- **binance USDT-M + COIN-M BTC, what-if**: the Binance recordings of 2024-08-08
  (``shared/realdata/hftbacktest/usdm/btcusdt_20240808.gz`` and
  ``cm/btcusd_perp_20240808.gz``) imported with ``spreadarb.importers.binance_ws`` as two
  markets of ``BTC`` (``binance``, ``binance_cm``) into ``benchmarks/.cache``, run with
  :func:`whatif_config` (no fees, slippage, funding or confidence filter; the USDT-M leg
  ranked harder; exits at the next position check), so the engine keeps passive orders
  working on real order flow: about 190 entries and 236 limit orders on the USDT-M market
  in 345 s. This is the workload the hftbacktest comparison is about.
- **binance BTCUSDT 2024-08-08**: the USDT-M recording alone with the default config. One
  venue has no cross-venue pair, so the engine places no order there: a replay-only figure.
- **synthetic day** (``_common.synthetic_day``), default config.

Measured after a warm-up call (JIT excluded): ``backtest`` = ``spreadarb.backtest`` on the
loaded dataset (scan, grid, latency, candidates, event merge, kernel, records); ``kernel``
= ``simulate_nb`` alone on inputs built once as ``backtest`` builds them, fresh state and
records per repeat (allocated outside the timing); events/s = (ticker rows + trade rows) /
median time; load + backtest end to end; peak RSS of a fresh process doing load +
backtest, against the nbytes of the loaded arrays, both whole (interpreter, libraries and
kernels included) and above a warmed process (:func:`peak_rss`).

Peer: hftbacktest (PyPI) in its own virtualenv, ``benchmarks/.cache/hbt-venv`` (it pins
``numpy<2.3``; installing it into the project's environment downgrades numpy), run by
``_hbt_peer.py`` in a subprocess: its own converter on the same USDT-M file (depth diffs +
trades), ``HashMapMarketDepthBacktest``, risk-averse queue, no partial fills, replaying
**our own USDT-M limit orders** of the what-if run (same price, side, size rounded to the
lot, submitted at our send time, cancelled at our send + timeout), ``elapse`` in steps of
at most 100 ms landing exactly on every send and cancel. Clocks: its converter shifts the
local clock by a constant, recovered exactly from the trades present in both imports.
Latency: the engine used ``L`` = 200 ms one way for these orders (the recordings' measured
feed latency is negative, so the engine takes ``max_latency_ms``), i.e. an order can fill
on events seen locally in ``[send + 2 L, send + timeout + 2 L)``; hftbacktest gets a
constant entry latency ``2 L - f`` and response latency ``f``, ``f`` its median feed
latency (4.2 ms), so its exchange-clock window matches ours for an event of median feed
latency (:func:`run_peer`). Its events are the rows of its event array (one per depth-level
change and trade, about 5.6x our rows for the same market), so two ratios are reported:
events/s vs events/s, and replay speed (recording seconds per wall second) vs replay speed.

Order by order (:func:`compare_orders`): filled by both / only ours / only hftbacktest /
neither, fill-time differences on the exchange clock (our filling row's ``ts_exchange``
against hftbacktest's fill ``exch_timestamp``), what filled each (ours: a print at the
price, a print through it, a quote crossing it; hftbacktest: taker on arrival, print, depth
book), and a class per difference; the per-order table is in the JSON
(``order_comparison.per_order``) and ``docs/performance.md`` explains the classes.
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

from _common import CACHE, ROOT, SAMPLE, jit_probe_runs, synthetic_day, time_repeats

import spreadarb
from spreadarb import StrategyConfig
from spreadarb.kernels.engine import O_FILLED, Records
from spreadarb.simulation import EngineRun, backtest, prepare

REALDATA = ROOT.parent / "shared" / "realdata" / "hftbacktest"
RAW = REALDATA / "usdm" / "btcusdt_20240808.gz"
RAW_CM = REALDATA / "cm" / "btcusd_perp_20240808.gz"
REAL = CACHE / "binance-btcusdt-20240808"
REAL2 = CACHE / "binance-btc-usdm-cm-20240808"
VENV = CACHE / "hbt-venv"
OUT = CACHE / "bench_backtest.json"
PEER_ORDERS = CACHE / "hbt_peer_orders.npy"
TICK = 0.1
LOT = 0.001
STEP_MS = 100.0
WHATIF = "binance USDT-M + COIN-M BTC, what-if"


def _import_once(raws: list[Path], out: Path, **kwargs: Any) -> Path:
    from spreadarb.importers.binance_ws import import_binance_ws

    done = out / ".complete"
    if not done.exists():
        import shutil

        shutil.rmtree(out, ignore_errors=True)
        summary = import_binance_ws(raws, out, **kwargs)
        print(f"imported {[r.name for r in raws]} in {summary.elapsed_s:.1f} s: {summary.rows}")
        done.write_text("ok\n")
    return out


def real_recording() -> Path:
    """The Binance BTCUSDT recording imported into the contract (once, cached)."""
    return _import_once([RAW], REAL, symbol="BTCUSDT")


def two_venue_recording() -> Path:
    """USDT-M BTCUSDT and COIN-M BTCUSD_PERP of the same 345 s as two markets of one
    symbol, ``binance`` and ``binance_cm`` (once, cached)."""
    return _import_once([RAW, RAW_CM], REAL2)


def config() -> StrategyConfig:
    return StrategyConfig(queue_model="risk_averse")


def whatif_config() -> StrategyConfig:
    """Risk-averse queue, and thresholds that make the engine trade on the two-venue
    recording (no fees, slippage, funding or confidence filter, as in
    ``tests/test_backtest.py::test_backtest_on_the_real_binance_recordings``), plus: the
    USDT-M market ranked as the harder leg (so every entry starts with a passive order on
    the market hftbacktest replays) and exits that trigger at the next position check
    (profit target at any profit, spread widening at 0.01 bp), so the symbol is free again
    within seconds and a new entry is tried at the next scan."""
    zero = {"binance": 0.0, "binance_cm": 0.0}
    return StrategyConfig(
        queue_model="risk_averse",
        min_confidence=0,
        min_funding_delta_8h=-0.01,
        exit_funding_delta_8h=-0.01,
        min_spread_bps=0.0,
        min_depth_usd=0.0,
        fees={"maker": zero, "taker": zero},
        slippage_base=0.0,
        slippage_depth_coef=0.0,
        slippage_cap=0.0,
        difficulty_ranking=("binance", "binance_cm"),
        profit_target_fraction=1e-9,
        spread_widening_bps=0.01,
    )


CONFIGS = {"default": config, "whatif": whatif_config}


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


def _status_mib(key: str) -> float | None:
    """A ``/proc/self/status`` size (``VmHWM``, ``VmRSS``), MiB; ``None`` off Linux."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def hwm_mib() -> float:
    """This process's peak resident set (VmHWM), MiB."""
    hwm = _status_mib("VmHWM")
    if hwm is not None:
        return hwm
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def rss_mib() -> float:
    """This process's current resident set (VmRSS), MiB (the peak where unavailable)."""
    rss = _status_mib("VmRSS")
    return rss if rss is not None else hwm_mib()


def reset_hwm() -> bool:
    """Reset VmHWM to the current VmRSS; False where Linux does not allow it.

    Writing ``5`` to ``/proc/self/clear_refs`` resets the peak resident set of the
    process to its current size (Linux >= 4.0, ``proc(5)``); a process may write its
    own ``clear_refs``.
    """
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
    except OSError:
        return False
    hwm, rss = _status_mib("VmHWM"), _status_mib("VmRSS")
    return hwm is not None and rss is not None and hwm <= rss + 1


WARMUP_FRACTION = 0.2
WARMUP_MAX_S = 600.0


def warmup_end(path: Path) -> int:
    """End (ns, exclusive) of the warm-up slice of ``path``: the first
    ``WARMUP_FRACTION`` of its ``ts_local`` span, at most ``WARMUP_MAX_S``, from the
    tickers' Parquet footers (nothing loaded)."""
    import pyarrow.parquet as pq

    lo, hi = None, None
    for f in sorted((path / "tickers").glob("date=*/exchange=*/*.parquet")):
        meta = pq.ParquetFile(f).metadata
        at = meta.schema.names.index("ts_local")
        for g in range(meta.num_row_groups):
            stats = meta.row_group(g).column(at).statistics
            lo = stats.min if lo is None else min(lo, stats.min)
            hi = stats.max if hi is None else max(hi, stats.max)
    assert lo is not None and hi is not None, f"no tickers in {path}"
    span = min((hi - lo) * WARMUP_FRACTION, WARMUP_MAX_S * 1e9)
    return int(lo + max(span, 1e9))


def rss_child(path: str, cfg: str) -> None:
    """Body of :func:`peak_rss`'s fresh process; prints one JSON line of sizes (MiB)."""
    import gc

    import pyarrow as pa

    r: dict[str, Any] = {"import_rss": rss_mib(), "import_hwm": hwm_mib()}
    # Warm-up: load and back-test the first minutes of the same recording, so that every
    # kernel is compiled or loaded from the cache and every module imported (a fixed
    # cost, not the data's), then drop them.
    warm = spreadarb.load(path, end=warmup_end(Path(path)))
    r["warmup_arrays"] = nbytes(warm) / 2**20
    spreadarb.backtest(warm, CONFIGS[cfg]())
    del warm
    gc.collect()
    pa.default_memory_pool().release_unused()
    r["warmup_hwm"] = hwm_mib()
    r["warmed_rss"] = rss_mib()
    # Measure from here: the peak is the run's own, not the warm-up's.
    r["hwm_reset"] = reset_hwm()
    ds = spreadarb.load(path)
    r["after_load"] = hwm_mib()
    spreadarb.backtest(ds, CONFIGS[cfg]())
    r["peak"] = hwm_mib()
    r["arrays"] = nbytes(ds) / 2**20
    print(json.dumps(r))


def peak_rss(path: Path, cfg: str) -> dict[str, Any]:
    """Peak RSS (MiB) of a fresh process that loads ``path`` and runs the backtest.

    Two figures against the loaded arrays' size (:func:`nbytes`):

    - ``peak_over_arrays``: the process's whole peak resident set (interpreter, numpy,
      numba's kernels, pyarrow, and the data) over the arrays;
    - ``peak_above_warmed_over_arrays``: what the load and backtest add on top of a
      *warmed* process, i.e. one that has already loaded and back-tested a small slice
      of the same recording (:func:`warmup_end`), so that imports and compiled kernels
      are in its baseline. The high-water mark is reset after the warm-up
      (:func:`reset_hwm`); where that is not allowed (``hwm_reset`` false) the peak
      also covers the warm-up, which is smaller than the run.
    """
    # VmHWM, not ru_maxrss: Linux carries ru_maxrss over from the parent through
    # fork + exec, so a child of this (large) process would report the parent's peak.
    code = (
        "import sys;"
        f"sys.path.insert(0, {str(Path(__file__).resolve().parent)!r});"
        "from bench_backtest import rss_child;"
        f"rss_child({str(path)!r}, {cfg!r})"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    )
    r = json.loads(out.stdout.strip().splitlines()[-1])
    arrays = r["arrays"]
    return {
        "rss_baseline_mib": r["import_rss"],
        "rss_warmed_mib": r["warmed_rss"],
        "rss_warmup_peak_mib": r["warmup_hwm"],
        "warmup_arrays_mib": r["warmup_arrays"],
        "hwm_reset": r["hwm_reset"],
        "rss_after_load_mib": r["after_load"],
        "rss_peak_mib": r["peak"],
        "arrays_mib": arrays,
        "peak_over_arrays": r["peak"] / arrays,
        "peak_minus_baseline_over_arrays": (r["peak"] - r["import_rss"]) / arrays,
        "load_above_warmed_over_arrays": (r["after_load"] - r["warmed_rss"]) / arrays,
        "peak_above_warmed_over_arrays": (r["peak"] - r["warmed_rss"]) / arrays,
    }


def bench_ours(
    name: str, path: Path, cfg_name: str, repeats: int, kernel_repeats: int
) -> tuple[dict[str, Any], spreadarb.BacktestResult, spreadarb.Dataset]:
    cfg = CONFIGS[cfg_name]()
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
    orders = res.order_records
    limits = orders[~orders["is_market"]]
    out = {
        "workload": name,
        "path": str(path),
        "config": cfg_name,
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
        "orders": len(orders),
        "limit_orders": len(limits),
        "limit_fills": int(np.count_nonzero(limits["status"] == O_FILLED)),
        "kernel_orders": int(rec.counts[1]),
    }
    out.update(peak_rss(path, cfg_name))
    return out, res, ds


_JIT_PROBE = """
import json, sys, time
t0 = time.perf_counter()
import spreadarb
t1 = time.perf_counter()
ds = spreadarb.load(sys.argv[1])
t2 = time.perf_counter()
spreadarb.backtest(ds)
t3 = time.perf_counter()
ds = spreadarb.load(sys.argv[1])
t4 = time.perf_counter()
spreadarb.backtest(ds)
t5 = time.perf_counter()
print(json.dumps({"import_s": t1 - t0, "first_s": t3 - t1, "warm_s": t5 - t3}))
"""


def jit_times(path: Path) -> dict[str, Any]:
    """Compile overhead of a user's first load + backtest (load, scan and engine kernels).

    Fresh processes: two each with an empty ``NUMBA_CACHE_DIR`` of its own (every kernel
    compiled), then two with the cache the first wrote. Each loads ``path`` and backtests
    it twice; the overhead is the first load + backtest minus the second. ``jit_cold_s``
    and ``jit_cached_s`` are the faster of their two runs (one slow run alone is a busy
    machine, not the compiler or the cache); both runs are kept in ``jit_*_runs_s``.
    """
    result: dict[str, Any] = {"jit_dataset": str(path)}
    runs = {label: probe for label, (probe, _) in jit_probe_runs(_JIT_PROBE, path).items()}
    cold = [runs[k]["first_s"] - runs[k]["warm_s"] for k in ("cold", "cold_again")]
    result["jit_cold_runs_s"] = cold
    result["jit_cold_s"] = min(cold)
    cached = [runs[k]["first_s"] - runs[k]["warm_s"] for k in ("cached", "cached_again")]
    result["jit_cached_runs_s"] = cached
    result["jit_cached_s"] = min(cached)
    result["import_s"] = runs["cached"]["import_s"]
    return result


def _peer(*args: str) -> dict[str, Any]:
    py = VENV / "bin" / "python"
    if not py.exists():
        print(f"creating {VENV} and installing hftbacktest into it")
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
        subprocess.run([str(py), "-m", "pip", "install", "-q", "hftbacktest"], check=True)
    cmd = [str(py), str(Path(__file__).resolve().parent / "_hbt_peer.py"), str(RAW), str(CACHE)]
    out = subprocess.run([*cmd, *args], capture_output=True, text=True, cwd=ROOT)
    if out.returncode != 0:
        raise RuntimeError(f"hftbacktest peer failed ({out.returncode}):\n{out.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(out.stdout)
    return result


def _usdm(ds: spreadarb.Dataset, table: str) -> dict[str, np.ndarray]:
    """The ``binance`` (USDT-M) market's rows of ``table``, column by column."""
    t = ds.table(table)
    m = ds.markets().index(("binance", "BTC"))
    a, b = int(t.offsets[m]), int(t.offsets[m + 1])
    return {k: v[a:b] for k, v in t.columns.items()}


def clock_offset(ds: spreadarb.Dataset, npz: Path) -> tuple[int, int]:
    """hftbacktest's local clock minus ours, and how many trades agree on it.

    Its converter shifts every ``local_ts`` by the most negative feed latency; the shift
    is recovered from the trades that are unique by (exchange time, price, size) in both
    imports, and must be the same for all of them."""
    data = np.load(npz)["data"]
    theirs = data[(data["ev"] & 0xFF) == 2]
    ours = _usdm(ds, "trades")

    def keyed(te: np.ndarray, px: np.ndarray, sz: np.ndarray, tl: np.ndarray) -> dict:
        keys: dict[tuple[int, int, int], list[int]] = {}
        for k in zip(
            te.tolist(),
            np.round(px / TICK).astype(np.int64).tolist(),
            np.round(sz / LOT).astype(np.int64).tolist(),
            tl.tolist(),
            strict=True,
        ):
            keys.setdefault(k[:3], []).append(k[3])
        return {k: v[0] for k, v in keys.items() if len(v) == 1}

    a = keyed(ours["ts_exchange"], ours["px"], ours["sz"], ours["ts_local"])
    b = keyed(theirs["exch_ts"], theirs["px"], theirs["qty"], theirs["local_ts"])
    shifts = np.array([b[k] - v for k, v in a.items() if k in b], dtype=np.int64)
    if shifts.size == 0 or shifts.min() != shifts.max():
        raise RuntimeError(f"no constant clock offset between the imports: {shifts[:5]}")
    return int(shifts[0]), int(shifts.size)


def peer_orders(res: spreadarb.BacktestResult, ds: spreadarb.Dataset, offset: int) -> np.ndarray:
    """Our passive orders on the USDT-M market, as ``_hbt_peer.py`` replays them."""
    o = res.order_records
    m = ds.markets().index(("binance", "BTC"))
    o = o[(o["market"] == m) & ~o["is_market"]]
    out = np.zeros(
        len(o),
        dtype=[("send", "i8"), ("side", "i8"), ("price", "f8"), ("qty", "f8"), ("cancel", "i8")],
    )
    out["send"] = o["send_time"] + offset
    out["side"] = o["side"]
    out["price"] = o["price"]
    out["qty"] = np.maximum(np.round(o["qty"] / LOT), 1) * LOT
    # The cancel is sent at send + timeout (the engine's cancel_time is when its outcome is
    # known, send + timeout + 2 L).
    out["cancel"] = o["send_time"] + (o["cancel_time"] - o["arrive_time"]) + offset
    return out


def run_peer(
    res: spreadarb.BacktestResult, ds: spreadarb.Dataset, repeats: int, naive: bool = False
) -> dict[str, Any]:
    """Replay our USDT-M passive orders in hftbacktest; returns its JSON plus our orders.

    Latency: the engine used ``L`` one way for each order (2 L from send to the first event
    that can fill it, both in local time). hftbacktest judges an order against exchange
    timestamps from its entry time on, and the events it then sees locally lag those by
    its feed latency ``f`` (median over its rows, after its converter's shift). With entry
    latency ``2 L - f`` and response latency ``f`` its window [send + entry, cancel + entry)
    on the exchange clock is ours [send + 2 L, cancel + 2 L) on the local one for an event
    of median feed latency, and a fill is seen locally when we see the filling event.
    ``naive=True`` gives it ``L`` both ways instead (the sensitivity check)."""
    conv = _peer("--convert-only")
    offset, matches = clock_offset(ds, Path(conv["npz"]))
    o = res.order_records
    m = ds.markets().index(("binance", "BTC"))
    ours = o[(o["market"] == m) & ~o["is_market"]]
    two_l = np.unique(ours["arrive_time"] - ours["send_time"])
    if two_l.size != 1:
        raise RuntimeError(f"per-order latencies vary ({two_l}); use an IntpOrderLatency")
    data = np.load(conv["npz"])["data"]
    with_exch = data[data["exch_ts"] > 0]
    f = int(np.median(with_exch["local_ts"] - with_exch["exch_ts"]))
    entry, response = int(two_l[0]) - f, f
    if naive:
        entry = response = int(two_l[0]) // 2
    np.save(PEER_ORDERS, peer_orders(res, ds, offset))
    peer = _peer(
        "--orders",
        str(PEER_ORDERS),
        "--entry-latency-ns",
        str(entry),
        "--response-latency-ns",
        str(response),
        "--step-ms",
        str(STEP_MS),
        "--repeats",
        str(repeats),
    )
    peer["convert_s"] = conv["convert_s"]
    peer["clock_offset_ns"] = offset
    peer["clock_offset_trades"] = matches
    peer["our_round_trip_ns"] = int(two_l[0])
    peer["ours"] = ours
    return peer


def _our_trigger(o: np.void, trades: dict[str, np.ndarray]) -> str:
    """What filled our order: a print at its price (queue), a print through it, or a quote
    crossing it (the filling row is the trade or ticker seen at its fill time)."""
    k = np.searchsorted(trades["ts_local"], o["fill_time"])
    while k < len(trades["ts_local"]) and trades["ts_local"][k] == o["fill_time"]:
        if trades["side"][k] == -o["side"]:
            return "queue" if abs(trades["px"][k] - o["price"]) < TICK / 2 else "through"
        k += 1
    return "quote"


def _their_trigger(o: np.void, maker: bool, exch_ts: int, trades: dict[str, np.ndarray]) -> str:
    """What filled hftbacktest's copy: taker on arrival (the book had crossed our price),
    a print at or through the price at its fill time, else its depth book crossing."""
    if not maker:
        return "taker on arrival"
    k = np.searchsorted(trades["ts_exchange"], exch_ts)
    found = ""
    while k < len(trades["ts_exchange"]) and trades["ts_exchange"][k] == exch_ts:
        px = trades["px"][k]
        if trades["side"][k] == -o["side"]:
            if abs(px - o["price"]) < TICK / 2:
                found = found or "queue"
            elif (px - o["price"]) * o["side"] < 0:
                found = "through"
        k += 1
    return found or "depth"


def compare_orders(peer: dict[str, Any], ds: spreadarb.Dataset) -> dict[str, Any]:
    """Order by order: our fill (engine) against hftbacktest's for the same order."""
    ours = peer.pop("ours")
    cols = peer["order_columns"]
    h = np.array(peer.pop("orders"), dtype=np.float64)
    hts = np.array(peer.pop("order_timestamps"), dtype=np.int64)
    offset = peer["clock_offset_ns"]
    trades = _usdm(ds, "trades")
    order_ex = np.argsort(trades["ts_exchange"], kind="stable")
    trades_by_exch = {k: v[order_ex] for k, v in trades.items()}
    filled_ours = ours["status"] == O_FILLED
    filled_hbt = h[:, cols.index("status")] == 3.0
    maker = h[:, cols.index("maker")] == 1.0
    rows = []
    classes: dict[str, list[float]] = {}
    for i, o in enumerate(ours):
        row: dict[str, Any] = {
            "id": int(o["id"]),
            "side": int(o["side"]),
            "price": float(o["price"]),
            "send_time": int(o["send_time"]),
            "queue_ours": float(o["queue_ahead"]),
            "queue_hbt_send": h[i, cols.index("qty_at_price_send")],
            "queue_hbt_arrival": h[i, cols.index("qty_at_price_arrival")],
            "arrival_exchange_hbt": int(o["send_time"]) + offset + peer["entry_latency_ns"],
            "filled_ours": bool(filled_ours[i]),
            "filled_hbt": bool(filled_hbt[i]),
        }
        if filled_ours[i]:
            row["fill_exchange_ours"] = int(o["fill_exchange_time"])
            row["fill_local_ours"] = int(o["fill_time"])
            row["trigger_ours"] = _our_trigger(o, trades)
        if filled_hbt[i]:
            row["fill_exchange_hbt"] = int(hts[i, 0])
            # Seen locally (on our clock) one response latency after the exchange fill.
            row["fill_local_hbt"] = int(hts[i, 0]) + peer["response_latency_ns"] - offset
            row["exec_price_hbt"] = h[i, cols.index("exec_price")]
            row["trigger_hbt"] = _their_trigger(o, bool(maker[i]), int(hts[i, 0]), trades_by_exch)
        if filled_ours[i] and filled_hbt[i]:
            dt = (row["fill_exchange_hbt"] - row["fill_exchange_ours"]) / 1e6
            row["delta_exchange_ms"] = dt
            row["delta_local_ms"] = (row["fill_local_hbt"] - row["fill_local_ours"]) / 1e6
            if dt == 0:
                cls = "same exchange instant"
            elif row["fill_exchange_ours"] < row["arrival_exchange_hbt"]:
                cls = "window edge: our filling event is older than hbt's arrival"
            elif row["trigger_hbt"] == "taker on arrival":
                cls = "crossed before arrival: hbt taker at arrival"
            elif row["trigger_ours"] == "queue" and row["trigger_hbt"] == "queue":
                cls = "queue ahead differs"
            else:
                cls = "different stream first"
            row["class"] = cls
            classes.setdefault(cls, []).append(dt)
        rows.append(row)
    both = filled_ours & filled_hbt
    deltas = np.array([r["delta_exchange_ms"] for r in rows if "delta_exchange_ms" in r])
    local = np.array([r["delta_local_ms"] for r in rows if "delta_local_ms" in r])
    taker = both & ~maker
    # Our orders of this market whose live windows overlap (they share prints in our
    # engine, FIFO in send order, but each sees every print in hftbacktest).
    order_t = np.argsort(ours["arrive_time"], kind="stable")
    starts, ends = ours["arrive_time"][order_t], ours["cancel_time"][order_t]
    overlapping = int(np.count_nonzero(starts[1:] < np.maximum.accumulate(ends)[:-1]))
    q_ours = ours["queue_ahead"]
    q_hbt = h[:, cols.index("qty_at_price_send")]
    return {
        "rule": "engine (spreadarb.backtest, risk_averse) vs hftbacktest replaying the same orders",
        "orders": len(ours),
        "filled_both": int(both.sum()),
        "only_ours": int((filled_ours & ~filled_hbt).sum()),
        "only_hftbacktest": int((~filled_ours & filled_hbt).sum()),
        "filled_neither": int((~filled_ours & ~filled_hbt).sum()),
        "same_exchange_instant": int(np.count_nonzero(deltas == 0)),
        "fill_time_delta_exchange_ms_median": float(np.median(deltas)) if deltas.size else None,
        "fill_time_delta_exchange_ms_min": float(deltas.min()) if deltas.size else None,
        "fill_time_delta_exchange_ms_max": float(deltas.max()) if deltas.size else None,
        "fill_time_delta_local_ms_median": float(np.median(local)) if local.size else None,
        "overlapping_orders": overlapping,
        "queue_at_send_equal_within_a_lot": int(np.count_nonzero(np.abs(q_ours - q_hbt) < LOT)),
        "queue_at_send_ours_median": float(np.median(q_ours)),
        "queue_at_send_abs_diff_median": float(np.median(np.abs(q_ours - q_hbt))),
        "hbt_taker_fills": int(taker.sum()),
        "hbt_taker_price_improvement_ticks": [
            round(abs(h[i, cols.index("exec_price")] - ours["price"][i]) / TICK)
            for i in np.nonzero(taker)[0]
        ],
        "classes": {
            k: {"n": len(v), "delta_ms_min": min(v), "delta_ms_max": max(v)}
            for k, v in sorted(classes.items())
        },
        "clock_offset_ns": offset,
        "clock_offset_trades": peer["clock_offset_trades"],
        "entry_latency_ns": peer["entry_latency_ns"],
        "response_latency_ns": peer["response_latency_ns"],
        "per_order": rows,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--no-synthetic", action="store_true")
    ap.add_argument("--no-peer", action="store_true")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--no-cold-jit", action="store_true", help="skip the JIT measurement")
    args = ap.parse_args()
    CACHE.mkdir(parents=True, exist_ok=True)
    # First, on a machine not yet churned by the workloads below: measured after the
    # synthetic day's backtest (10 GiB freed by this process), the same cold JIT probe
    # took 12.1 s instead of 11.0 s (11.7 s after gc.collect()), in fresh processes.
    jit = None if args.no_cold_jit else jit_times(SAMPLE)

    results: list[dict[str, Any]] = []
    two, res2, ds2 = bench_ours(WHATIF, two_venue_recording(), "whatif", args.repeats, args.repeats)
    results.append(two)
    real, _, _ = bench_ours(
        "binance BTCUSDT 2024-08-08", real_recording(), "default", args.repeats, args.repeats
    )
    results.append(real)
    peer: dict[str, Any] | None = None
    peer_error = None
    comparison = None
    if not args.no_peer:
        try:
            peer = run_peer(res2, ds2, args.repeats)
        except Exception as exc:
            peer_error = str(exc)
            print(f"hftbacktest peer failed: {exc}")
    naive = None
    if peer is not None:
        comparison = compare_orders(peer, ds2)
        # Sensitivity: the same replay with L each way (hftbacktest's usual setting).
        c = compare_orders(run_peer(res2, ds2, 1, naive=True), ds2)
        naive = {k: v for k, v in c.items() if k != "per_order"}
        hbt_span = (peer["last_local_ts"] - peer["first_local_ts"]) / 1e9
        for r in (two, real):
            for key in ("backtest", "kernel"):
                r[f"{key}_vs_hbt_events_per_s"] = r[f"{key}_events_per_s"] / peer["events_per_s"]
                ours_speed = r["recording_s"] / r[f"{key}_s"]
                r[f"{key}_vs_hbt_replay_speed"] = ours_speed / (hbt_span / peer["run_s"])
    if not args.no_synthetic:
        results.append(bench_ours("synthetic day", synthetic_day(), "default", 1, 3)[0])

    print()
    head = (
        f"{'workload':<40}{'events':>12}{'orders':>8}{'load s':>8}{'backtest s':>11}"
        f"{'ev/s':>10}{'kernel s':>10}{'kernel ev/s':>13}{'peak MiB':>10}{'arrays MiB':>11}"
        f"{'peak/arrays':>12}{'above warmed/arrays':>21}"
    )
    print(head)
    for r in results:
        print(
            f"{r['workload']:<40}{r['events']:>12,}{r['limit_orders']:>8}{r['load_s']:>8.2f}"
            f"{r['backtest_s']:>11.3f}{r['backtest_events_per_s']:>10.3g}{r['kernel_s']:>10.4f}"
            f"{r['kernel_events_per_s']:>13.3g}{r['rss_peak_mib']:>10.0f}{r['arrays_mib']:>11.1f}"
            f"{r['peak_over_arrays']:>11.2f}x{r['peak_above_warmed_over_arrays']:>20.2f}x"
        )
    if peer is not None and comparison is not None:
        print(
            f"{'hftbacktest ' + peer['hftbacktest'] + ' (USDT-M only)':<40}{peer['events']:>12,}"
            f"{peer['orders_replayed']:>8}{'':>8}{peer['run_s']:>11.3f}"
            f"{peer['events_per_s']:>10.3g}  (idle replay {peer['events_per_s_idle']:.3g} ev/s)"
        )
        for r in (two, real):
            print(
                f"ours/hftbacktest [{r['workload']}]: events/s backtest "
                f"{r['backtest_vs_hbt_events_per_s']:.2f}x, kernel "
                f"{r['kernel_vs_hbt_events_per_s']:.2f}x; replay speed backtest "
                f"{r['backtest_vs_hbt_replay_speed']:.2f}x, kernel "
                f"{r['kernel_vs_hbt_replay_speed']:.2f}x"
            )
        c = comparison
        print(
            f"order by order ({c['orders']} of our USDT-M limits replayed in hftbacktest): "
            f"filled by both {c['filled_both']}, only ours {c['only_ours']}, only hftbacktest "
            f"{c['only_hftbacktest']}, neither {c['filled_neither']}; same exchange instant "
            f"{c['same_exchange_instant']}; fill-time delta (hbt - ours, exchange clock) "
            f"median {c['fill_time_delta_exchange_ms_median']} ms, "
            f"[{c['fill_time_delta_exchange_ms_min']}, {c['fill_time_delta_exchange_ms_max']}]"
        )
        for k, v in c["classes"].items():
            print(f"  {k}: {v['n']} (delta {v['delta_ms_min']:.1f} .. {v['delta_ms_max']:.1f} ms)")
        if naive is not None:
            print(
                f"  with L each way instead: filled by both {naive['filled_both']}, only ours "
                f"{naive['only_ours']}, only hftbacktest {naive['only_hftbacktest']}, "
                f"neither {naive['filled_neither']}, same instant {naive['same_exchange_instant']}"
            )
    elif peer_error:
        print(f"hftbacktest: not run ({peer_error.splitlines()[0]})")
    if jit is not None:
        print(
            f"JIT of a first load + backtest of {SAMPLE.name} (fresh processes): cold "
            f"{jit['jit_cold_s']:.1f} s (faster of "
            f"{', '.join(f'{x:.1f}' for x in jit['jit_cold_runs_s'])}), "
            f"cached {jit['jit_cached_s']:.2f} s "
            f"(import {jit['import_s']:.2f} s)"
        )
    for r in results:
        print(
            f"{r['workload']}: end to end {r['end_to_end_s']:.2f} s; peak RSS "
            f"{r['rss_peak_mib']:.0f} MiB = {r['peak_over_arrays']:.2f}x arrays "
            f"({r['arrays_mib']:.1f} MiB; whole process); above a warmed process "
            f"({r['rss_warmed_mib']:.0f} MiB after a warm-up run on "
            f"{r['warmup_arrays_mib']:.1f} MiB of arrays): load "
            f"{r['load_above_warmed_over_arrays']:.2f}x, load + backtest "
            f"{r['peak_above_warmed_over_arrays']:.2f}x arrays"
            f"{'' if r['hwm_reset'] else ' (peak not reset after the warm-up)'}; "
            f"trades {r['trades']}, orders {r['orders']}, limit fills {r['limit_fills']}"
        )

    payload = {
        "machine": {
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "numpy": np.__version__,
            "maxrss_self_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        },
        "config": {"queue_model": "risk_averse", "hbt_step_ms": STEP_MS},
        "results": results,
        "hftbacktest": peer,
        "hftbacktest_error": peer_error,
        "order_comparison": comparison,
        "order_comparison_naive_latency": naive,
        "jit": jit,
    }
    OUT.write_text(json.dumps(payload, indent=2))
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
