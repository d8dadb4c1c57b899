"""The hftbacktest side of ``bench_backtest.py``: convert, run, time; prints JSON on stdout.

Run with the interpreter of the environment where hftbacktest is installed (the benchmark
keeps it in ``benchmarks/.cache/hbt-venv`` because hftbacktest pins ``numpy<2.3``)::

    python benchmarks/_hbt_peer.py RAW.gz OUT_DIR [--latency-ms 200] [--repeats 5]

1. Converts the raw ``<ts> <json>`` recording with hftbacktest's own
   ``hftbacktest.data.utils.binancefutures.convert`` (depth diffs, REST snapshot and trades;
   no bookTicker, as in hftbacktest's own examples), cached as ``OUT_DIR/hbt_<name>.npz``.
2. Builds a ``HashMapMarketDepthBacktest`` on the array in memory: linear asset, risk-averse
   queue model, constant order latency, no partial fills, tick 0.1, lot 0.001.
3. Strategy (numba, stepping ``elapse(100 ms)``): every second, if no order is working,
   post a GTX buy of one lot at the best bid; cancel it 500 ms after it was sent. Every
   order's send time, price, queue ahead at send and outcome are recorded.
4. Times ``build`` and the strategy run separately over ``repeats`` fresh backtests, and
   also an idle run (only ``elapse``) to show the cost of the data replay alone.

Events are the rows of hftbacktest's event array (one per depth level change, snapshot
level and trade); the raw message count is reported as well.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np
from hftbacktest import (
    BUY_EVENT,
    DEPTH_EVENT,
    GTX,
    LIMIT,
    TRADE_EVENT,
    BacktestAsset,
    HashMapMarketDepthBacktest,
)
from hftbacktest.data.utils import binancefutures
from numba import njit

STEP_NS = 100_000_000
POST_EVERY_NS = 1_000_000_000
CANCEL_AFTER_NS = 500_000_000
TICK = 0.1
LOT = 0.001

# Order log columns.
C_SEND, C_PRICE, C_QUEUE, C_STATUS, C_FILL_EXCH, C_FILL_LOCAL, C_SEEN = range(7)


@njit
def _strategy(hbt, log):
    n = 0
    oid = 0
    working = False
    sent = 0
    cancelled = False
    next_post = 0
    while hbt.elapse(STEP_NS) == 0:
        now = hbt.current_timestamp
        depth = hbt.depth(0)
        if working:
            order = hbt.orders(0).get(oid)
            if order is None:
                working = False
            else:
                st = order.status
                if st == 3:  # FILLED
                    log[n - 1, C_STATUS] = 3.0
                    log[n - 1, C_FILL_EXCH] = order.exch_timestamp
                    log[n - 1, C_FILL_LOCAL] = order.local_timestamp
                    log[n - 1, C_SEEN] = now
                    working = False
                elif st == 4 or st == 2 or st == 6:  # CANCELED, EXPIRED, REJECTED
                    log[n - 1, C_STATUS] = st
                    log[n - 1, C_SEEN] = now
                    working = False
                elif not cancelled and now - sent >= CANCEL_AFTER_NS:
                    hbt.cancel(0, oid, False)
                    cancelled = True
            if not working:
                hbt.clear_inactive_orders(0)
        if not working and now >= next_post and n < log.shape[0]:
            bid = depth.best_bid
            if np.isfinite(bid) and bid > 0:
                oid += 1
                hbt.submit_buy_order(0, oid, bid, LOT, GTX, LIMIT, False)
                log[n, C_SEND] = now
                log[n, C_PRICE] = bid
                log[n, C_QUEUE] = depth.best_bid_qty
                log[n, C_STATUS] = 1.0
                n += 1
                working = True
                cancelled = False
                sent = now
                next_post = now + POST_EVERY_NS
    return n


@njit
def _idle(hbt):
    steps = 0
    while hbt.elapse(STEP_NS) == 0:
        steps += 1
    return steps


def _build(data: np.ndarray, latency_ns: int):
    asset = (
        BacktestAsset()
        .data([data])
        .linear_asset(1.0)
        .constant_order_latency(latency_ns, latency_ns)
        .risk_adverse_queue_model()
        .no_partial_fill_exchange()
        .trading_value_fee_model(0.0002, 0.0005)
        .tick_size(TICK)
        .lot_size(LOT)
    )
    return HashMapMarketDepthBacktest([asset])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("raw")
    ap.add_argument("out_dir")
    ap.add_argument("--latency-ms", type=float, default=200.0)
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    raw = Path(args.raw)
    out_dir = Path(args.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    npz = out_dir / f"hbt_{raw.name.split('.')[0]}.npz"
    convert_s = None
    if not npz.exists():
        t0 = time.perf_counter()
        # convert() prints progress; keep stdout for the JSON result.
        stdout, sys.stdout = sys.stdout, sys.stderr
        try:
            binancefutures.convert(str(raw), output_filename=str(npz), buffer_size=20_000_000)
        finally:
            sys.stdout = stdout
        convert_s = time.perf_counter() - t0
    data = np.load(npz)["data"]
    ev = data["ev"]
    n_trade = int(np.count_nonzero(ev & TRADE_EVENT == TRADE_EVENT))
    n_depth = int(np.count_nonzero((ev & 0xFF) == DEPTH_EVENT))
    latency_ns = round(args.latency_ms * 1e6)

    # Clock offset the converter added to local_ts (it makes the smallest feed latency 0).
    with_exch = data[data["exch_ts"] > 0]
    feed = with_exch["local_ts"] - with_exch["exch_ts"]

    # Warm-up (JIT) then timed repeats, each on a fresh backtest.
    log = np.zeros((1000, 7))
    hbt = _build(data, latency_ns)
    _strategy(hbt, log)
    hbt.close()
    hbt = _build(data, latency_ns)
    _idle(hbt)
    hbt.close()

    build_t, run_t, idle_t = [], [], []
    n_orders = 0
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        hbt = _build(data, latency_ns)
        build_t.append(time.perf_counter() - t0)
        log = np.zeros((1000, 7))
        t0 = time.perf_counter()
        n_orders = _strategy(hbt, log)
        run_t.append(time.perf_counter() - t0)
        hbt.close()
        hbt = _build(data, latency_ns)
        t0 = time.perf_counter()
        _idle(hbt)
        idle_t.append(time.perf_counter() - t0)
        hbt.close()
    log = log[:n_orders]
    import hftbacktest

    run = statistics.median(run_t)
    result = {
        "hftbacktest": getattr(hftbacktest, "__version__", None) or _dist_version(),
        "numpy": np.__version__,
        "npz": str(npz),
        "convert_s": convert_s,
        "events": int(data.size),
        "depth_events": n_depth,
        "trade_events": n_trade,
        "buy_side_events": int(np.count_nonzero(ev & BUY_EVENT)),
        "first_local_ts": int(data["local_ts"].min()),
        "last_local_ts": int(data["local_ts"].max()),
        "feed_latency_ns_median": float(np.median(feed)),
        "latency_ms": args.latency_ms,
        "repeats": args.repeats,
        "build_s": statistics.median(build_t),
        "run_s": run,
        "run_spread_s": max(run_t) - min(run_t),
        "idle_run_s": statistics.median(idle_t),
        "events_per_s": data.size / run,
        "events_per_s_idle": data.size / statistics.median(idle_t),
        "events_per_s_incl_build": data.size / (run + statistics.median(build_t)),
        "trade_probe": _trade_probe(data),
        "orders": log.tolist(),
        "order_columns": ["send", "price", "queue", "status", "fill_exch", "fill_local", "seen"],
    }
    json.dump(result, sys.stdout)


def _trade_probe(data: np.ndarray, n: int = 200) -> list[list[float]]:
    """The first ``n`` trades as (exch_ts, local_ts, price): lets the caller recover the
    clock offset the converter added to ``local_ts``."""
    tr = data[(data["ev"] & TRADE_EVENT) == TRADE_EVENT][:n]
    return [
        [int(a), int(b), float(c)]
        for a, b, c in zip(tr["exch_ts"], tr["local_ts"], tr["px"], strict=True)
    ]


def _dist_version() -> str:
    from importlib.metadata import version

    return version("hftbacktest")


if __name__ == "__main__":
    main()
