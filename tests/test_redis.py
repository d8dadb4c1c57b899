"""The Redis exporter and the strategy keys, against a real ``redis-server`` (no fakes).

The suite starts its own server on a free port (no persistence, in a temporary folder).
``redis-server`` must be installed (``.ci/run`` installs it): without it these tests
fail, they do not skip.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import redis

import spreadarb
from spreadarb.redis import ExportConfig, Exporter, FieldMapping, KeyPattern, normalize_symbol
from spreadarb.redis.exporter import parse_duration
from spreadarb.redis.streams import StreamCheckpoint

ROOT = Path(__file__).resolve().parents[1]
MS = 1_000_000


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class RedisServer:
    """A ``redis-server`` process on a free port that a test can kill and restart."""

    def __init__(self, directory: Path) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            pytest.fail("redis-server is not installed (apt-get install redis-server)")
        self.binary = binary
        self.directory = directory
        self.port = _free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.url = f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        log = open(self.directory / "redis.log", "ab")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [
                self.binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.directory),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        self._log = log
        deadline = time.monotonic() + 10
        while True:
            try:
                with self.client() as c:
                    c.ping()
                return
            except redis.exceptions.ConnectionError:
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    raise
                time.sleep(0.02)

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            self.proc = None
            self._log.close()

    def client(self) -> redis.Redis:
        return redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=5)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    srv = RedisServer(tmp_path_factory.mktemp("redis"))
    srv.start()
    yield srv
    srv.stop()


@pytest.fixture
def r(server):
    if server.proc is None:
        server.start()
    client = server.client()
    client.flushall()
    yield client
    client.close()


def config(server: RedisServer, out: Path, **fields) -> ExportConfig:
    base = dict(
        out=out,
        url=server.url,
        interval_s=0.02,
        key_refresh_s=0.2,
        backoff_initial_s=0.05,
        backoff_max_s=0.2,
        socket_timeout_s=2.0,
    )
    base.update(fields)
    return ExportConfig(**base)


_RUNNING: list[Running] = []


@pytest.fixture(autouse=True)
def _stop_exporters():
    """A failed test must not leave an exporter thread behind."""
    yield
    while _RUNNING:
        run = _RUNNING.pop()
        run.exporter.stop()
        run.thread.join(30)


class Running:
    """An :class:`Exporter` running in a thread; ``stop()`` returns its stats."""

    def __init__(self, cfg: ExportConfig) -> None:
        self.exporter = Exporter(cfg)
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()
        _RUNNING.append(self)

    def _run(self) -> None:
        try:
            self.exporter.run()
        except BaseException as exc:  # surfaced by stop()
            self.error = exc

    def wait_for(self, condition, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while not condition(self.exporter.stats):
            assert time.monotonic() < deadline, f"timed out; stats: {self.exporter.stats}"
            assert self.thread.is_alive(), f"exporter died: {self.error!r}"
            time.sleep(0.01)

    def stop(self):
        self.exporter.stop()
        self.thread.join(30)
        assert not self.thread.is_alive()
        if self.error is not None:
            raise self.error
        return self.exporter.stats


def now_ms() -> int:
    return time.time_ns() // MS


def binance_hash(ts: int, i: int) -> dict[str, str]:
    """A binance ticker in the venue's own field names (a hash: all strings)."""
    return {
        "time": str(ts),
        "bidPrice": f"{60000 + i}.5",
        "bidQty": "1.25",
        "askPrice": f"{60000 + i}.75",
        "askQty": "0.5",
        "markPrice": f"{60000 + i}.6",
        "lastFundingRate": "0.0001",
        "nextFundingTime": str(ts - ts % 28_800_000 + 28_800_000),
        "openInterest": "100",
    }


def okx_json(ts: int, i: int) -> str:
    """An OKX ticker as a JSON string, numbers as strings (the venue's style)."""
    return json.dumps(
        {
            "instId": "ETH-USDT-SWAP",
            "ts": str(ts),
            "bidPx": str(3000 + i),
            "bidSz": "2",
            "askPx": str(3000.5 + i),
            "askSz": "3",
            "fundingRate": "-0.0002",
            "nextFundingRate": "0.0001",
            "fundingTime": str(ts - ts % 28_800_000 + 28_800_000),
            "oiUsd": "5000000",
        }
    )


def canonical(ts_ns: int, i: int) -> dict[str, object]:
    """The contract's own column names and units (ns, base units, USD)."""
    return {
        "ts_exchange": ts_ns,
        "bid_px": 150.0 + i,
        "bid_sz": 10.0,
        "ask_px": 150.1 + i,
        "ask_sz": 11.0,
        "bid_depth_usd": 12345.0,
        "ask_depth_usd": 23456.0,
        "funding_rate": 0.00005,
        "funding_interval_s": 3600,
        "next_funding_ts": ts_ns - ts_ns % (3600 * 10**9) + 3600 * 10**9,
    }


def read(out: Path, table: str = "tickers") -> pd.DataFrame:
    files = sorted((out / table).rglob("*.parquet"))
    if not files:
        return pd.DataFrame()
    frame = pa.concat_tables([pq.read_table(f) for f in files]).to_pandas()
    return frame.sort_values(["exchange", "symbol", "ts_local"], kind="stable")


def assert_clean(out: Path) -> None:
    """Valid dataset; no hidden or temporary files left in the data folders."""
    assert spreadarb.validate(out) == []
    leftovers = [
        p for p in out.rglob("*") if p.name.startswith(".") and ".redis-export" not in p.parts
    ]
    assert leftovers == []


# --- pure parts ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "venue", "expected"),
    [
        ("BTCUSDT", "binance", "BTC"),
        ("BTC-USDT-SWAP", "okx", "BTC"),
        ("XBTUSDTM", "kucoin", "BTC"),
        ("BTC_USDT", "gate", "BTC"),
        ("BTC-USD-PERP", "paradex", "BTC"),
        ("BTC", "hyperliquid", "BTC"),
        ("kPEPE", "hyperliquid", "1000PEPE"),
        ("1000PEPEUSDT", "bybit", "1000PEPE"),
        ("ETHUSDT_UMCBL", "bitget", "ETH"),
    ],
)
def test_symbols_are_normalised(raw, venue, expected):
    assert normalize_symbol(raw, venue) == expected


def test_bad_settings_are_refused_with_their_name(tmp_path):
    with pytest.raises(ValueError, match="interval_s"):
        ExportConfig(out=tmp_path, interval_s=0)
    with pytest.raises(ValueError, match="patterns"):
        ExportConfig(out=tmp_path, patterns=("binance:*:tickers:*",))
    with pytest.raises(ValueError, match="url"):
        ExportConfig(out=tmp_path, url="http://localhost")
    with pytest.raises(ValueError, match="interval"):
        parse_duration("fast", "interval")
    assert parse_duration("100ms") == pytest.approx(0.1)
    assert parse_duration("2h") == 7200
    assert KeyPattern.parse("okx:swap:tickers:*").venue == "okx"
    assert KeyPattern.parse("mexc=mx:tick:*").venue == "mexc"
    toml = tmp_path / "m.toml"
    toml.write_text('[venues.okx.tickers]\nbid_price = "bidPx"\n')
    with pytest.raises(ValueError, match=r"m.toml.*okx.*bid_price"):
        FieldMapping.from_toml(toml)


# --- exporting ------------------------------------------------------------------------


def test_export_hash_and_json_values_row_for_row(server, r, tmp_path):
    """Four keys (hash and JSON; venue and canonical names) updated 6 times each: every
    snapshot is exported once, with exactly the values written; unchanged ones skipped."""
    out = tmp_path / "ds"
    run = Running(config(server, out))
    written: list[dict] = []
    for i in range(6):
        ts = now_ms()
        r.hset("binance:linear:tickers:BTCUSDT", mapping=binance_hash(ts, i))
        r.set("okx:swap:tickers:ETH-USDT-SWAP", okx_json(ts, i))
        r.hset(
            "bybit:linear:tickers:SOLUSDT",
            mapping={k: str(v) for k, v in canonical(ts * MS, i).items()},
        )
        r.set("paradex:perps:tickers:SOL-USD-PERP", json.dumps(canonical(ts * MS, i)))
        written.append({"ts": ts, "i": i})
        # Several samples see each snapshot: all but the first skip it as unchanged.
        run.wait_for(lambda s, n=4 * (i + 1): s.rows_read["tickers"] >= n)
        time.sleep(0.1)
    stats = run.stop()
    assert stats.keys == 4
    assert stats.malformed == 0
    assert stats.snapshots_unchanged > 0
    assert stats.rows_written["tickers"] == 24
    assert_clean(out)
    rows = read(out)
    by_market = {m: g.reset_index(drop=True) for m, g in rows.groupby(["exchange", "symbol"])}
    assert sorted(by_market) == [
        ("binance", "BTC"),
        ("bybit", "SOL"),
        ("okx", "ETH"),
        ("paradex", "SOL"),
    ]
    ts_ns = np.array([w["ts"] * MS for w in written])
    i = np.arange(6)
    b = by_market[("binance", "BTC")]
    np.testing.assert_array_equal(b["ts_exchange"], ts_ns)
    np.testing.assert_array_equal(b["bid_px"], 60000 + i + 0.5)
    np.testing.assert_array_equal(b["ask_px"], 60000 + i + 0.75)
    np.testing.assert_array_equal(b["bid_depth_usd"], (60000 + i + 0.5) * 1.25)  # L1 notional
    np.testing.assert_allclose(b["open_interest_usd"], 100 * (60000 + i + 0.6))
    assert (b["funding_interval_s"] == 28_800).all()
    assert b["predicted_funding_rate"].isna().all()
    o = by_market[("okx", "ETH")]
    np.testing.assert_array_equal(o["bid_px"], 3000.0 + i)
    np.testing.assert_array_equal(o["funding_rate"], -0.0002)
    np.testing.assert_array_equal(o["predicted_funding_rate"], 0.0001)
    np.testing.assert_array_equal(o["open_interest_usd"], 5e6)
    assert o["mark_px"].isna().all()
    for venue in ("bybit", "paradex"):
        c = by_market[(venue, "SOL")]
        expected = pd.DataFrame([canonical(int(t), k) for k, t in enumerate(ts_ns)])
        for col in expected:
            np.testing.assert_array_equal(c[col].to_numpy(), expected[col].to_numpy(), err_msg=col)
    # ts_local is the sampler's clock: after the write, non-decreasing.
    assert (b["ts_local"].to_numpy() >= ts_ns).all()
    assert (np.diff(b["ts_local"].to_numpy()) > 0).all()
    ds = spreadarb.load(out)
    assert len(ds.tickers) == 24


def test_malformed_values_are_counted_logged_and_skipped(server, r, tmp_path, caplog):
    out = tmp_path / "ds"
    ts = now_ms()
    r.hset("binance:linear:tickers:BTCUSDT", mapping=binance_hash(ts, 0))
    r.set("okx:swap:tickers:BTC-USDT-SWAP", "{not json")
    bad_price = binance_hash(ts, 0) | {"bidPrice": "abc"}
    r.hset("binance:linear:tickers:ETHUSDT", mapping=bad_price)
    missing = binance_hash(ts, 0)
    del missing["askQty"]
    r.hset("binance:linear:tickers:SOLUSDT", mapping=missing)
    crossed = binance_hash(ts, 0) | {"bidPrice": "70000"}
    r.hset("binance:linear:tickers:XRPUSDT", mapping=crossed)
    r.set("okx:swap:tickers:ETH-USDT-SWAP", json.dumps([1, 2]))
    no_ts = binance_hash(ts, 0)
    del no_ts["time"]
    r.hset("binance:linear:tickers:ADAUSDT", mapping=no_ts)
    r.rpush("binance:linear:tickers:DOTUSDT", "not a ticker")  # another type: left out
    with caplog.at_level(logging.WARNING, logger="spreadarb.redis"):
        run = Running(config(server, out))
        run.wait_for(lambda s: s.samples >= 5)
        # A fixed value is picked up; the good key kept flowing all along.
        r.hset("binance:linear:tickers:ETHUSDT", mapping=binance_hash(ts + 1, 1))
        r.hset("binance:linear:tickers:BTCUSDT", mapping=binance_hash(ts + 1, 1))
        run.wait_for(lambda s: s.rows_read["tickers"] >= 3)
        seen = run.exporter.stats.samples
        run.wait_for(lambda s: s.samples >= seen + 5)  # the bad values seen again, not counted
        stats = run.stop()
    bad = {
        "okx:swap:tickers:BTC-USDT-SWAP": "not valid JSON",
        "binance:linear:tickers:ETHUSDT": "not a number",
        "binance:linear:tickers:SOLUSDT": "missing field for ask_sz",
        "binance:linear:tickers:XRPUSDT": "crossed book",
        "okx:swap:tickers:ETH-USDT-SWAP": "not a JSON object",
        "binance:linear:tickers:ADAUSDT": "missing field for ts_exchange",
    }
    # Each bad snapshot counts once, however many samples saw it.
    assert stats.malformed_by_key == dict.fromkeys(bad, 1)
    assert stats.malformed == 6
    assert stats.keys == 7 and stats.keys_missing == 0
    assert any("DOTUSDT" in m and "holds a list" in m for m in caplog.messages)
    for key, why in bad.items():
        assert any(key in m and why in m for m in caplog.messages), (key, caplog.messages)
    rows = read(out)
    assert sorted(zip(rows["symbol"], rows["bid_px"], strict=True)) == [
        ("BTC", 60000.5),
        ("BTC", 60001.5),
        ("ETH", 60001.5),
    ]
    assert_clean(out)


def test_redis_restart_mid_export_loses_nothing_after_it(server, r, tmp_path, caplog):
    out = tmp_path / "ds"
    key = "binance:linear:tickers:BTCUSDT"
    with caplog.at_level(logging.WARNING, logger="spreadarb.redis"):
        run = Running(config(server, out, flush_interval_s=0.3))
        before: list[int] = []
        for i in range(4):
            ts = now_ms()
            r.hset(key, mapping=binance_hash(ts, i))
            before.append(ts)
            run.wait_for(lambda s, n=i + 1: s.rows_read["tickers"] >= n)
        run.wait_for(lambda s: s.rows_written["tickers"] >= 4)  # flushed by time
        r.close()
        server.stop()
        time.sleep(0.5)
        server.start()  # empty: no persistence, the collectors write again
        r2 = server.client()
        after = []
        ts = now_ms()
        r2.hset(key, mapping=binance_hash(ts, 100))
        after.append(ts)
        for i in range(101, 105):
            expected = len(before) + len(after)
            run.wait_for(lambda s, n=expected: s.rows_read["tickers"] >= n)
            ts = now_ms()
            r2.hset(key, mapping=binance_hash(ts, i))
            after.append(ts)
        run.wait_for(lambda s: s.rows_read["tickers"] >= len(before) + len(after))
        stats = run.stop()
        r2.close()
    assert len(stats.gaps) == 1
    start, end = stats.gaps[0]
    assert end - start >= 0.5e9
    assert any("gap in the data" in m for m in caplog.messages)
    rows = read(out)
    exported = rows["ts_exchange"].to_numpy() // MS
    assert exported.tolist() == before + after  # nothing lost, nothing twice
    assert_clean(out)


def test_sigterm_mid_batch_flushes_and_exits_cleanly(server, r, tmp_path):
    out = tmp_path / "ds"
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "spreadarb.cli",
            "export-redis",
            "--url",
            server.url,
            "--out",
            str(out),
            "--interval",
            "20ms",
            "--flush-interval",
            "1h",
            "--key-refresh",
            "100ms",
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        written = {"ETH": now_ms()}
        r.set("okx:swap:tickers:ETH-USDT-SWAP", okx_json(written["ETH"], 0))
        deadline = time.monotonic() + 20
        while not out.exists():  # the exporter creates it when it starts
            assert time.monotonic() < deadline and proc.poll() is None
            time.sleep(0.05)
        # New markets while it runs (found by the key refresh); each written once, so
        # every one must be exported however the machine schedules the exporter.
        for i in range(10):
            written[f"S{i}"] = now_ms()
            r.set(f"okx:swap:tickers:S{i}-USDT-SWAP", okx_json(written[f"S{i}"], i))
            time.sleep(0.05)
        time.sleep(1.0)
        assert not (out / "tickers").exists(), "nothing is written before the flush"
        proc.send_signal(signal.SIGTERM)
        stdout, stderr = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, stderr.decode()
    assert "received SIGTERM" in stderr.decode()
    assert "rows written: tickers 11" in stdout.decode()
    rows = read(out)
    got = dict(zip(rows["symbol"], rows["ts_exchange"] // MS, strict=True))
    assert got == written
    assert_clean(out)


def _trade(i: int) -> dict[str, str]:
    return {
        "p": f"{100 + i}.25",
        "v": f"{1 + i}",
        "T": str(now_ms()),
        "S": "Sell" if i % 2 else "Buy",
    }


def test_stream_checkpoint_resume_neither_loses_nor_duplicates(server, r, tmp_path):
    out = tmp_path / "ds"
    stream = "bybit:linear:trades:SOLUSDT"
    liq = "binance:linear:liquidations:ETHUSDT"
    r.hset("binance:linear:tickers:BTCUSDT", mapping=binance_hash(now_ms(), 0))
    for i in range(40):
        r.xadd(stream, _trade(i))
    r.xadd(liq, {"data": json.dumps({"p": "3000", "q": "2", "S": "SELL", "T": now_ms()})})
    # Several reads per stream, several flushes (bounded memory) each with its checkpoint.
    cfg = config(server, out, stream_batch=15, flush_rows=20)

    run = Running(cfg)
    run.wait_for(lambda s: s.stream_entries >= 41)
    for i in range(40, 55):  # arrive while the exporter runs
        r.xadd(stream, _trade(i))
    run.wait_for(lambda s: s.stream_entries >= 56)
    first = run.stop()
    assert first.flushes >= 2
    assert first.rows_written["trades"] == 55
    assert first.rows_written["liquidations"] == 1
    for i in range(55, 80):  # arrive while it is stopped
        r.xadd(stream, _trade(i))
    second = Running(cfg)
    second.wait_for(lambda s: s.stream_entries >= 25)
    stats = second.stop()
    assert stats.stream_entries == 25  # resumed after the checkpoint, not from the start
    trades = read(out, "trades")
    assert len(trades) == 80
    np.testing.assert_array_equal(np.sort(trades["px"].to_numpy()), np.arange(80) + 100.25)
    np.testing.assert_array_equal(np.sort(trades["sz"].to_numpy()), np.arange(80) + 1.0)
    assert set(trades["side"]) == {1, -1}
    assert (trades.set_index("px")["side"].loc[[101.25, 102.25]] == [-1, 1]).all()
    liqs = read(out, "liquidations")
    assert liqs[["exchange", "symbol", "px", "sz", "side"]].values.tolist() == [
        ["binance", "ETH", 3000.0, 2.0, -1]
    ]
    ids = json.loads((out / ".redis-export" / "streams.json").read_text())["ids"]
    assert ids[stream] == r.xrevrange(stream, count=1)[0][0].decode()
    assert_clean(out)


def test_interrupted_stream_flush_is_replayed_exactly_once(tmp_path):
    """A crash after the journal was committed: the next start finishes the flush; the
    files already written are recognised by content, so nothing doubles."""
    from conftest import T0, trade_frame

    out = tmp_path / "ds"
    frame = trade_frame(T0 + np.arange(50) * MS, "bybit", "SOL")
    table = pa.Table.from_pandas(frame, preserve_index=False)
    ids = {b"bybit:linear:trades:SOLUSDT": b"1-50"}
    state = out / ".redis-export"
    checkpoint = StreamCheckpoint(state, out)
    checkpoint.commit({"trades": table}, ids)
    assert len(read(out, "trades")) == 50
    # Crash between writing the rows and clearing the journal: the journal is still there.
    checkpoint_text = (state / "streams.json").read_text()
    sink = pa.BufferOutputStream()
    with pa.ipc.new_file(sink, table.schema) as w:
        w.write_table(table)
    (state / "journal-trades.arrow").write_bytes(sink.getvalue().to_pybytes())
    (state / "journal.json").write_text(json.dumps({"tables": ["trades"], "ids": {"k": "1-50"}}))
    assert StreamCheckpoint(state, out).load() == {b"k": b"1-50"}
    assert len(read(out, "trades")) == 50
    assert not (state / "journal.json").exists()
    # Crash before the journal was committed: its leftovers are discarded.
    (state / "journal-trades.arrow").write_bytes(sink.getvalue().to_pybytes())
    (state / "streams.json").write_text(checkpoint_text)
    assert StreamCheckpoint(state, out).load() == ids
    assert not (state / "journal-trades.arrow").exists()
    assert len(read(out, "trades")) == 50
    assert [p.kind.value for p in spreadarb.validate(out)] == ["missing_table"]  # no tickers


# --- strategy keys ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def result():
    return spreadarb.backtest(spreadarb.load(ROOT / "data" / "sample"), spreadarb.StrategyConfig())


def test_to_redis_round_trip(server, r, result):
    r.set("strategy:trades:closed:999999", "stale")  # from an earlier run
    counts = result.to_redis(r, clear=True)
    trades = result.trades
    closed = trades[trades["status"] == "closed"]
    assert counts["trades_closed"] == len(closed) > 0
    assert r.get("strategy:trades:closed:999999") is None
    for _, row in closed.iterrows():
        doc = json.loads(r.get(f"strategy:trades:closed:{row['id']}"))
        assert doc["symbol"] == row["symbol"]
        assert doc["long_exchange"] == row["long_exchange"]
        assert doc["short_exchange"] == row["short_exchange"]
        assert doc["exit_reason"] == row["exit_reason"]
        assert doc["status"] == "closed"
        assert doc["entry_time"] == row["entry_time"].value // MS
        assert doc["exit_time"] == row["exit_time"].value // MS
        for col in ("pnl_net", "actual_profit_usd", "leg_out_cost", "position_size_usd"):
            assert doc[col] == row[col], col
        mine = result.orders[result.orders["trade_id"] == row["id"]]
        assert [o["id"] for o in doc["orders"]] == mine["id"].tolist()
        assert len(doc["leg_out_events"]) == row["leg_out_count"]
    state = json.loads(r.get("strategy:portfolio:state"))
    m = result.metrics
    assert state["cumulative_pnl"] == m["cumulative_pnl"]
    assert state["leg_out_count"] == m["leg_out_count"]
    assert state["closed_trades"] == closed["id"].tolist()
    assert state["available_capital"] == pytest.approx(m["final_equity"])
    events = [json.loads(x) for x in r.lrange("strategy:leg_out_events", 0, -1)]
    assert len(events) == len(result.leg_outs) == counts["leg_out_events"]
    assert {e["filled_leg"] for e in events} <= {"long", "short"}
    assert [e["filled_at"] for e in events] == sorted(e["filled_at"] for e in events)
    assert sum(e["cost"] for e in events) == pytest.approx(result.leg_outs["cost"].sum())
    daily = json.loads(r.get("strategy:metrics:daily"))
    assert sum(d["pnl_net"] for d in daily["days"]) == pytest.approx(m["cumulative_pnl"])
    assert daily["metrics"]["trades_closed"] == m["trades_closed"]
    for exchange in result.dataset_exchanges:
        doc = json.loads(r.get(f"strategy:latency:{exchange}"))
        assert doc["exchange"] == exchange
        assert doc["mean_ms"] == pytest.approx(m["latency_by_exchange"][exchange]["mean_ms"])
        assert isinstance(doc["is_stale"], bool)
    opp_keys = sorted(r.scan_iter(match="strategy:opportunities:*"))
    ranked = result.opportunities[result.opportunities["rank"] > 0]
    assert len(opp_keys) == ranked["ts"].nunique() == counts["opportunities"]
    for key in opp_keys[:5]:
        assert 0 < r.ttl(key) <= 60
        docs = json.loads(r.get(key))
        assert [d["rank"] for d in docs] == list(range(1, len(docs) + 1))
        assert int(key.split(b":")[-1]) == docs[0]["ts"]
    # Writing again is idempotent: the same keys, the same values.
    before = {k: r.get(k) for k in r.scan_iter(match="strategy:trades:*")}
    result.to_redis(r)
    assert {k: r.get(k) for k in r.scan_iter(match="strategy:trades:*")} == before
    assert r.llen("strategy:leg_out_events") == len(events)


def test_mapping_file_levels_multipliers_and_new_keys(server, r, tmp_path):
    """A TOML mapping renames fields and converts contracts to base units; L2 levels give
    the depth within 2 bps; a venue of one's own via venue=PREFIX*; keys that appear later
    are discovered, and a kucoin timestamp in ns is read as such."""
    toml = tmp_path / "fields.toml"
    toml.write_text(
        """
[venues.okx.tickers]
bid_sz = { field = "bs", scale = 2.0 }
ask_sz = "as"
[venues.okx.size_multipliers]
BTC = 0.01
[venues.mexc.tickers]
ts_exchange = "timestamp"
bid_px = "bid1"
bid_sz = "bidVol"
ask_px = "ask1"
ask_sz = "askVol"
funding_rate = "fr"
funding_interval_s = "interval"
[symbols]
"WEIRD_NAME" = "WEIRD"
"""
    )
    mapping = FieldMapping.from_toml(toml)
    out = tmp_path / "ds"
    ts = now_ms()
    levels = [[100.0, 1.0], [99.99, 2.0], [99.97, 5.0]]  # 99.97 is 3 bps away: excluded
    r.set(
        "okx:swap:tickers:BTC-USDT-SWAP",
        json.dumps(
            {
                "ts": ts,
                "bidPx": 100.0,
                "bs": 50,
                "askPx": 100.02,
                "as": 40,
                "fundingRate": 0.0001,
                "bids": levels,
                "asks": json.dumps([[100.02, 3.0], [100.05, 1.0]]),
            }
        ),
    )
    patterns = (*ExportConfig(out=out).patterns, "mexc=mx:tick:*")
    run = Running(config(server, out, mapping=mapping, patterns=patterns))
    run.wait_for(lambda s: s.rows_read["tickers"] >= 1)
    r.hset(
        "mx:tick:WEIRD_NAME",
        mapping={
            "timestamp": str(ts),
            "bid1": "1.5",
            "bidVol": "10",
            "ask1": "1.6",
            "askVol": "20",
            "fr": "0.0003",
            "interval": "14400",
        },
    )
    r.hset(
        "kucoin:futures:tickers:XBTUSDTM",
        mapping={
            "ts": str(ts * MS + 123),
            "bestBidPrice": "99",
            "bestBidSize": "1",
            "bestAskPrice": "100",
            "bestAskSize": "1",
            "fundingRate": "0.0001",
        },
    )
    run.wait_for(lambda s: s.rows_read["tickers"] >= 3)
    stats = run.stop()
    assert stats.malformed == 0
    rows = {(e, s): row for (e, s), row in read(out).groupby(["exchange", "symbol"])}
    okx = rows[("okx", "BTC")].iloc[0]
    assert okx["bid_sz"] == pytest.approx(50 * 2.0 * 0.01)
    assert okx["ask_sz"] == pytest.approx(40 * 0.01)
    assert okx["bid_depth_usd"] == pytest.approx((100.0 * 1 + 99.99 * 2) * 0.01)
    assert okx["ask_depth_usd"] == pytest.approx(100.02 * 3 * 0.01)
    mexc = rows[("mexc", "WEIRD")].iloc[0]
    assert (mexc["bid_px"], mexc["funding_interval_s"]) == (1.5, 14_400)
    assert mexc["next_funding_ts"] % (14_400 * 10**9) == 0
    assert mexc["next_funding_ts"] > mexc["ts_exchange"]
    kucoin = rows[("kucoin", "BTC")].iloc[0]
    assert kucoin["ts_exchange"] == ts * MS + 123
    assert_clean(out)


def test_cli_export_redis_help_and_bad_url(capsys):
    from spreadarb.cli import main

    with pytest.raises(SystemExit) as info:
        main(["export-redis", "--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    assert "--interval" in out and "--patterns" in out
    assert main(["export-redis", "--url", "http://x", "--out", "unused"]) == 2
    assert "url" in capsys.readouterr().err


def test_identical_prints_are_merged(server, r, tmp_path):
    """Two prints equal in every contract column (the collector's own ts_local) are one
    print with the summed size (docs/data.md); a different one stays separate."""
    out = tmp_path / "ds"
    stream = "okx:swap:trades:BTC-USDT-SWAP"
    print_ = {
        "ts_local": "1723150000000000001",
        "ts": "1723150000000",
        "px": "60000",
        "sz": "0.5",
        "side": "buy",
    }
    r.xadd(stream, print_)
    r.xadd(stream, print_)
    r.xadd(stream, print_ | {"side": "sell"})
    run = Running(config(server, out))
    run.wait_for(lambda s: s.stream_entries >= 3)
    stats = run.stop()
    trades = read(out, "trades")
    assert trades[["sz", "side"]].values.tolist() == [[1.0, 1], [0.5, -1]]
    assert stats.rows_read["trades"] == 2
    assert stats.prints_merged == 1
    assert_clean(out)
