"""The hftbacktest side of ``bench_backtest.py``: convert, replay our orders, time; JSON out.

Run with the interpreter of the environment where hftbacktest is installed (the benchmark
keeps it in ``benchmarks/.cache/hbt-venv`` because hftbacktest pins ``numpy<2.3``)::

    python benchmarks/_hbt_peer.py RAW.gz OUT_DIR --convert-only
    python benchmarks/_hbt_peer.py RAW.gz OUT_DIR --orders ORDERS.npy \\
        --entry-latency-ns E --response-latency-ns R [--repeats 5] [--step-ms 100]

1. Converts the raw ``<ts> <json>`` recording with hftbacktest's own
   ``hftbacktest.data.utils.binancefutures.convert`` (depth diffs, REST snapshot and trades;
   no bookTicker, as in hftbacktest's own examples), cached as ``OUT_DIR/hbt_<name>.npz``.
   The converter shifts every ``local_ts`` by the most negative feed latency, so its local
   clock is the recorder's plus a constant; the caller recovers that constant.
2. Builds a ``HashMapMarketDepthBacktest`` on the array in memory: linear asset, risk-averse
   queue model, constant order latency (entry ``E``, response ``R``), no partial fills
   (an order fills whole, as ours), tick 0.1, lot 0.001, no fees.
3. Replays the orders of ``ORDERS.npy`` (structured: ``send`` in hftbacktest's local clock,
   ``side`` +1/-1, ``price``, ``qty``, ``cancel`` = when the cancel is sent, local) with a
   numba strategy that steps ``elapse`` by at most ``step`` and lands exactly on every send
   and cancel time: a GTC limit at the given price is submitted at ``send``; at ``cancel``
   it is cancelled if hftbacktest's local view still has it working. At ``send`` and at
   ``send + E + R`` (when the venue's book at the order's arrival is seen locally) it
   records the depth book's quantity at the order's price and the best bid and ask.
   After the last order it runs to the end of the data, then reads every order's final
   state (status, exchange and local timestamps, price, maker).
4. Times ``build`` and the replay separately over ``repeats`` fresh backtests, and an idle
   run (``elapse`` in steps only) for the cost of the data replay alone.

Events are the rows of hftbacktest's event array (one per depth level change, snapshot
level and trade, with the rows its converter splits in two when the exchange and local
orders differ); the raw message count is reported by the caller.
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
    GTC,
    LIMIT,
    TRADE_EVENT,
    BacktestAsset,
    HashMapMarketDepthBacktest,
)
from hftbacktest.data.utils import binancefutures
from numba import njit

TICK = 0.1
LOT = 0.001

# Actions of the replay schedule.
A_SUBMIT, A_PROBE, A_CANCEL = 0, 1, 2
# Columns of the per-order output.
(
    C_STATUS,
    C_EXEC_PRICE,
    C_MAKER,
    C_QTY_AT_PRICE_SEND,
    C_BID_SEND,
    C_ASK_SEND,
    C_QTY_AT_PRICE_ARRIVAL,
    C_BID_ARRIVAL,
    C_ASK_ARRIVAL,
    C_CANCEL_SENT,
) = range(10)
N_COLS = 10
OUT_COLUMNS = [
    "status",
    "exec_price",
    "maker",
    "qty_at_price_send",
    "bid_send",
    "ask_send",
    "qty_at_price_arrival",
    "bid_arrival",
    "ask_arrival",
    "cancel_sent",
]


@njit
def _replay(hbt, act_t, act_kind, act_i, side, price, qty, step, out, ts_out):
    """Submit, probe and cancel at the scheduled local times; return the steps taken."""
    steps = 1
    hbt.elapse(step)  # the clock starts at the first event only after a first elapse
    k = 0
    n_act = act_t.size
    done = False
    while k < n_act:
        now = hbt.current_timestamp
        target = act_t[k]
        if target > now:
            dt = target - now
            if dt > step:
                dt = step
            steps += 1
            if hbt.elapse(dt) != 0:
                done = True
                break
            continue
        i = act_i[k]
        kind = act_kind[k]
        depth = hbt.depth(0)
        tick = round(price[i] / TICK)
        if kind != A_CANCEL:  # submit or probe
            at = depth.bid_qty_at_tick(tick) if side[i] > 0 else depth.ask_qty_at_tick(tick)
            c = C_QTY_AT_PRICE_SEND if kind == A_SUBMIT else C_QTY_AT_PRICE_ARRIVAL
            out[i, c] = at
            out[i, c + 1] = depth.best_bid
            out[i, c + 2] = depth.best_ask
        if kind == A_SUBMIT:
            if side[i] > 0:
                hbt.submit_buy_order(0, i + 1, price[i], qty[i], GTC, LIMIT, False)
            else:
                hbt.submit_sell_order(0, i + 1, price[i], qty[i], GTC, LIMIT, False)
        elif kind == A_CANCEL:
            order = hbt.orders(0).get(i + 1)
            if order is not None and order.status == 1:  # NEW: still working as seen here
                hbt.cancel(0, i + 1, False)
                out[i, C_CANCEL_SENT] = 1.0
        k += 1
    if not done:
        while hbt.elapse(step) == 0:
            steps += 1
    orders = hbt.orders(0)
    for i in range(side.size):
        order = orders.get(i + 1)
        if order is None:
            out[i, C_STATUS] = -1.0
            continue
        out[i, C_STATUS] = order.status
        ts_out[i, 0] = order.exch_timestamp
        ts_out[i, 1] = order.local_timestamp
        out[i, C_EXEC_PRICE] = order.exec_price
        out[i, C_MAKER] = 1.0 if order.arr[0].maker else 0.0
    return steps


@njit
def _idle(hbt, step):
    steps = 0
    while hbt.elapse(step) == 0:
        steps += 1
    return steps


def _build(data: np.ndarray, entry_ns: int, response_ns: int):
    asset = (
        BacktestAsset()
        .data([data])
        .linear_asset(1.0)
        .constant_order_latency(entry_ns, response_ns)
        .risk_adverse_queue_model()
        .no_partial_fill_exchange()
        .trading_value_fee_model(0.0, 0.0)
        .tick_size(TICK)
        .lot_size(LOT)
    )
    return HashMapMarketDepthBacktest([asset])


def _schedule(orders: np.ndarray, probe_after_ns: int) -> tuple[np.ndarray, ...]:
    n = len(orders)
    t = np.concatenate([orders["send"], orders["send"] + probe_after_ns, orders["cancel"]])
    kind = np.repeat(np.array([A_SUBMIT, A_PROBE, A_CANCEL], dtype=np.int64), n)
    idx = np.tile(np.arange(n, dtype=np.int64), 3)
    # By time; at equal times cancels of earlier orders first, then submits, then probes.
    rank = np.where(kind == A_CANCEL, 0, np.where(kind == A_SUBMIT, 1, 2))
    order = np.lexsort((idx, rank, t))
    return t[order].astype(np.int64), kind[order], idx[order]


def convert(raw: Path, out_dir: Path) -> tuple[Path, float | None]:
    npz = out_dir / f"hbt_{raw.name.split('.')[0]}.npz"
    if npz.exists():
        return npz, None
    t0 = time.perf_counter()
    # convert() prints progress; keep stdout for the JSON result.
    stdout, sys.stdout = sys.stdout, sys.stderr
    try:
        binancefutures.convert(str(raw), output_filename=str(npz), buffer_size=20_000_000)
    finally:
        sys.stdout = stdout
    return npz, time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("raw")
    ap.add_argument("out_dir")
    ap.add_argument("--convert-only", action="store_true")
    ap.add_argument("--orders", help=".npy of orders (send, side, price, qty, cancel)")
    ap.add_argument("--entry-latency-ns", type=int, default=200_000_000)
    ap.add_argument("--response-latency-ns", type=int, default=200_000_000)
    ap.add_argument("--step-ms", type=float, default=100.0)
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    raw = Path(args.raw)
    out_dir = Path(args.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    npz, convert_s = convert(raw, out_dir)
    if args.convert_only:
        json.dump({"npz": str(npz), "convert_s": convert_s}, sys.stdout)
        return
    data = np.load(npz)["data"]
    ev = data["ev"]
    n_trade = int(np.count_nonzero(ev & TRADE_EVENT == TRADE_EVENT))
    n_depth = int(np.count_nonzero((ev & 0xFF) == DEPTH_EVENT))
    entry, response = args.entry_latency_ns, args.response_latency_ns
    step = round(args.step_ms * 1e6)

    orders = np.load(args.orders)
    side = orders["side"].astype(np.int64)
    price = orders["price"].astype(np.float64)
    qty = orders["qty"].astype(np.float64)
    act_t, act_kind, act_i = _schedule(orders, entry + response)

    def fresh_out() -> tuple[np.ndarray, np.ndarray]:
        out = np.full((len(orders), N_COLS), np.nan)
        out[:, C_CANCEL_SENT] = 0.0
        return out, np.full((len(orders), 2), -1, dtype=np.int64)

    # Warm-up (JIT) then timed repeats, each on a fresh backtest.
    hbt = _build(data, entry, response)
    _replay(hbt, act_t, act_kind, act_i, side, price, qty, step, *fresh_out())
    hbt.close()
    hbt = _build(data, entry, response)
    _idle(hbt, step)
    hbt.close()

    build_t, run_t, idle_t = [], [], []
    out, ts_out = fresh_out()
    steps = 0
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        hbt = _build(data, entry, response)
        build_t.append(time.perf_counter() - t0)
        out, ts_out = fresh_out()
        t0 = time.perf_counter()
        steps = _replay(hbt, act_t, act_kind, act_i, side, price, qty, step, out, ts_out)
        run_t.append(time.perf_counter() - t0)
        hbt.close()
        hbt = _build(data, entry, response)
        t0 = time.perf_counter()
        _idle(hbt, step)
        idle_t.append(time.perf_counter() - t0)
        hbt.close()
    import hftbacktest

    run = statistics.median(run_t)
    idle = statistics.median(idle_t)
    with_exch = data[data["exch_ts"] > 0]
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
        "feed_latency_ns_median": float(np.median(with_exch["local_ts"] - with_exch["exch_ts"])),
        "entry_latency_ns": entry,
        "response_latency_ns": response,
        "step_ns": step,
        "steps": steps,
        "repeats": args.repeats,
        "orders_replayed": len(orders),
        "build_s": statistics.median(build_t),
        "run_s": run,
        "run_spread_s": max(run_t) - min(run_t),
        "idle_run_s": idle,
        "events_per_s": data.size / run,
        "events_per_s_idle": data.size / idle,
        "events_per_s_incl_build": data.size / (run + statistics.median(build_t)),
        "order_columns": OUT_COLUMNS,
        "order_timestamp_columns": ["exch_ts", "local_ts"],
        "orders": out.tolist(),
        "order_timestamps": ts_out.tolist(),
    }
    json.dump(result, sys.stdout)


def _dist_version() -> str:
    from importlib.metadata import version

    return version("hftbacktest")


if __name__ == "__main__":
    main()
