"""Redis exporter benchmark: sampling 8 venues x 100 symbols at 10 Hz (issue 7).

Usage::

    python benchmarks/bench_redis.py                 # 30 s of export
    python benchmarks/bench_redis.py --seconds 60 --collector-hz 10

Starts a private ``redis-server`` on a free port (no persistence), fills it with 800
ticker keys in the venues' own field names (hashes for half the venues, JSON strings
for the others), and runs a collector process that rewrites every key at
``--collector-hz`` with a new exchange timestamp, so nearly every sampled snapshot is
new (the worst case: no snapshot is skipped as unchanged). Then the exporter samples
for ``--seconds`` at ``--interval`` and writes the dataset (flushing every 10 s).

Reported: samples per second achieved vs the target rate, ticks missed, rows written
per second, the exporter process's CPU time as a share of one core (the target is
< 25 %), and the Redis server's CPU share with and without the exporter (the Lua
sampling script runs on the server). Prints a table, writes JSON to
``benchmarks/.cache/bench_redis.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import CACHE, ROOT

COLLECTOR = r"""
import json, sys, time
import redis
port, n_symbols, hz, venues = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]), sys.argv[4:]
r = redis.Redis(port=port)
names = {
    "binance": ("time", "bidPrice", "bidQty", "askPrice", "askQty", "markPrice", "lastFundingRate"),
    "bybit": ("ts", "bid1Price", "bid1Size", "ask1Price", "ask1Size", "markPrice", "fundingRate"),
    "kucoin": ("ts", "bestBidPrice", "bestBidSize", "bestAskPrice", "bestAskSize", "markPrice",
               "fundingRate"),
    "okx": ("ts", "bidPx", "bidSz", "askPx", "askSz", "markPx", "fundingRate"),
    "bitget": ("ts", "bidPr", "bidSz", "askPr", "askSz", "markPrice", "fundingRate"),
    "gate": ("t", "highest_bid", "highest_size", "lowest_ask", "lowest_size", "mark_price",
             "funding_rate"),
    "hyperliquid": ("time", "bidPx", "bidSz", "askPx", "askSz", "markPx", "funding"),
    "paradex": ("last_updated_at", "bid", "bid_size", "ask", "ask_size", "mark_price",
                "funding_rate"),
}
keys = []
for v, (venue, prefix) in enumerate(x.split("=") for x in venues):
    for s in range(n_symbols):
        keys.append((v, venue, f"{prefix}:tickers:S{s:03d}USDT", names[venue]))
period = 1.0 / hz
tick = time.monotonic()
i = 0
while True:
    ts = time.time_ns() // 1_000_000
    pipe = r.pipeline(transaction=False)
    for v, venue, key, f in keys:
        px = 100.0 + (i % 50) * 0.01
        values = (ts, px, 1.5, px + 0.01, 2.5, px + 0.005, 0.0001)
        if v % 2:
            pipe.hset(key, mapping=dict(zip(f, values)))
        else:
            pipe.set(key, json.dumps(dict(zip(f, values))))
    pipe.execute()
    i += 1
    tick += period
    time.sleep(max(0.0, tick - time.monotonic()))
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--interval", type=float, default=0.1)
    parser.add_argument("--symbols", type=int, default=100)
    parser.add_argument("--collector-hz", type=float, default=10.0)
    args = parser.parse_args()

    import redis

    from spreadarb.redis import export
    from spreadarb.venues import VENUES

    binary = shutil.which("redis-server")
    if binary is None:
        sys.exit("redis-server is not installed (apt-get install redis-server)")
    tmp = Path(tempfile.mkdtemp(prefix="bench-redis-"))
    port = _free_port()
    server = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        cwd=tmp,
        stdout=subprocess.DEVNULL,
    )
    collector = None
    try:
        client = redis.Redis(port=port)
        for _ in range(200):
            try:
                client.ping()
                break
            except redis.exceptions.ConnectionError:
                time.sleep(0.05)
        venues = [f"{v.name}={v.redis_prefix}" for v in VENUES.values()]
        collector = subprocess.Popen(
            [
                sys.executable,
                "-c",
                COLLECTOR,
                str(port),
                str(args.symbols),
                str(args.collector_hz),
                *venues,
            ]
        )
        time.sleep(2.0)  # keys exist and the collector is in its rhythm
        # The server's CPU with the collector alone, for comparison.
        c0, w0 = _cpu_s(server.pid), time.monotonic()
        time.sleep(5.0)
        server_alone = (_cpu_s(server.pid) - c0) / (time.monotonic() - w0)

        out = tmp / "dataset"
        c0, w0 = _cpu_s(server.pid), time.monotonic()
        stats = export(
            out,
            url=f"redis://127.0.0.1:{port}/0",
            interval=args.interval,
            duration=args.seconds,
            flush_interval_s=10.0,
            handle_signals=False,
        )
        server_with = (_cpu_s(server.pid) - c0) / (time.monotonic() - w0)
        client.close()
    finally:
        if collector is not None:
            collector.kill()
            collector.wait()
        server.kill()
        server.wait()

    from spreadarb.data.validate import validate

    problems = validate(out)
    shutil.rmtree(tmp, ignore_errors=True)
    target_hz = 1.0 / args.interval
    rate = stats.samples / args.seconds
    rows = stats.rows_written["tickers"]
    result = {
        "keys": stats.keys,
        "target_hz": target_hz,
        "achieved_hz": rate,
        "ticks_missed": stats.ticks_missed,
        "sample_ms_mean": stats.sample_s_total / max(stats.samples, 1) * 1e3,
        "sample_ms_max": stats.sample_s_max * 1e3,
        "rows_per_s": rows / args.seconds,
        "rows_written": rows,
        "unchanged_skipped": stats.snapshots_unchanged,
        "files_written": stats.files_written,
        "exporter_cpu_share": stats.cpu_share,
        "redis_server_cpu_alone": server_alone,
        "redis_server_cpu_with_exporter": server_with,
        "valid": not problems,
        "seconds": args.seconds,
        "collector_hz": args.collector_hz,
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
    }
    print(
        f"Redis export: {stats.keys} keys ({len(VENUES)} venues x {args.symbols} symbols), "
        f"collector rewriting every key at {args.collector_hz:g} Hz, {args.seconds:g} s"
    )
    table = [
        ("sampling rate (target)", f"{rate:.2f} Hz ({target_hz:g} Hz)"),
        ("ticks missed", f"{stats.ticks_missed}"),
        (
            "time per sample (mean, max)",
            f"{stats.sample_s_total / max(stats.samples, 1) * 1e3:.1f} ms, "
            f"{stats.sample_s_max * 1e3:.0f} ms",
        ),
        ("ticker rows written", f"{rows:,} ({rows / args.seconds:,.0f}/s)"),
        ("unchanged snapshots skipped", f"{stats.snapshots_unchanged:,}"),
        ("files written", f"{stats.files_written}"),
        ("exporter CPU (share of one core)", f"{stats.cpu_share:.1%} (target < 25%)"),
        ("redis-server CPU, collector only", f"{server_alone:.1%}"),
        ("redis-server CPU, with the exporter", f"{server_with:.1%}"),
        ("dataset valid", "yes" if not problems else f"no: {problems[:3]}"),
    ]
    width = max(len(k) for k, _ in table)
    for key, value in table:
        print(f"  {key:<{width}}  {value}")
    CACHE.mkdir(parents=True, exist_ok=True)
    (CACHE / "bench_redis.json").write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {(CACHE / 'bench_redis.json').relative_to(ROOT)}")


if __name__ == "__main__":
    main()
