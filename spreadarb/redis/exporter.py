"""The exporter: sample the collectors' ticker keys on a fixed cadence into the dataset.

One sample is one pipelined round trip: a Lua script reads every ticker key (a hash
or a JSON string) and returns each as a JSON object, and the same pipeline carries
the ``XREAD`` of the trade and liquidation streams. Rows are buffered and appended to
the partitioned dataset with :func:`spreadarb.write_table` (atomic files) when the
buffer reaches ``flush_rows`` rows or ``flush_interval_s`` seconds, and on exit.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import logging
import math
import os
import queue
import re
import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa

from spreadarb.data.contract import PARQUET_SUFFIX, TABLES, table_spec
from spreadarb.data.writer import write_empty_table, write_table
from spreadarb.redis.fields import (
    FieldMapping,
    MalformedValue,
    TickerParser,
    VenueMapping,
)
from spreadarb.redis.keys import (
    KeyPattern,
    MarketKey,
    default_patterns,
    resolve_keys,
    scan_prefixes,
)
from spreadarb.redis.streams import STREAM_TABLES, StreamCheckpoint, StreamReader

log = logging.getLogger("spreadarb.redis")

# Reads every key given in KEYS and returns, per key, a JSON object: a hash's fields,
# or a string value as stored (the collector's JSON); false for a missing key or one
# of another type. Running on the server makes a sample one command and one snapshot.
SAMPLE_SCRIPT = """
local out = {}
for i, k in ipairs(KEYS) do
  local t = redis.call('TYPE', k).ok
  if t == 'hash' then
    local h = redis.call('HGETALL', k)
    local o = {}
    for j = 1, #h, 2 do o[h[j]] = h[j + 1] end
    out[i] = cjson.encode(o)
  elseif t == 'string' then
    out[i] = redis.call('GET', k)
  else
    out[i] = false
  end
end
return out
"""

KEYS_PER_CALL = 1000
"""Keys per script call; a sample with more keys sends several calls in its pipeline."""

_DURATION = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)\s*(ns|us|ms|s|m|h|d)?\s*$")
_UNITS = {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def parse_duration(value: str | float | int, what: str = "duration") -> float:
    """Seconds from ``100ms``, ``1.5s``, ``5m``, ``2h``, ``1d`` or a number of seconds.

    Raises
    ------
    ValueError
        Naming ``what`` when the text is not a duration.
    """
    if isinstance(value, int | float) and not isinstance(value, bool):
        seconds = float(value)
    else:
        m = _DURATION.match(str(value))
        if m is None:
            raise ValueError(f"{what}: {value!r} is not a duration (e.g. 100ms, 5s, 10m, 2h)")
        seconds = float(m.group(1)) * _UNITS[m.group(2) or "s"]
    if not math.isfinite(seconds) or seconds < 0:
        raise ValueError(f"{what}: {value!r} must be a finite, non-negative duration")
    return seconds


@dataclass(frozen=True, kw_only=True)
class ExportConfig:
    """Settings of :func:`export` (every field is also a command-line option).

    Attributes
    ----------
    out
        Dataset root to append to (created if needed).
    url
        ``redis://[:password@]host:port/db`` (also ``rediss://`` and ``unix://``).
    interval_s
        Sampling period in seconds (default 0.1: 10 Hz).
    duration_s
        Stop after this many seconds; ``None`` runs until SIGINT/SIGTERM.
    patterns
        Ticker key patterns ``[venue=]PREFIX*`` (default: the eight venues of SPEC §2,
        ``{prefix}:tickers:*``).
    trade_streams, liquidation_streams
        Stream key patterns (default ``{prefix}:trades:*`` and
        ``{prefix}:liquidations:*``); empty to read no streams.
    mapping
        Field mappings (default: :class:`FieldMapping` defaults; see
        :meth:`FieldMapping.from_toml`).
    key_refresh_s
        Re-discover keys (SCAN) this often; also right after every reconnect.
    flush_rows, flush_interval_s
        Write the buffered rows when they reach this many, or this long after the
        previous write: memory stays bounded.
    stream_batch
        Most entries read per stream per sample (the rest come at the next sample).
    scan_count
        ``COUNT`` hint of each SCAN call.
    socket_timeout_s
        Timeout of a Redis call; a timeout counts as a dropped connection.
    backoff_initial_s, backoff_max_s
        Reconnect delays: doubling from the first to the second.
    state_dir
        Where the stream checkpoint lives (default ``OUT/.redis-export``; hidden, so
        the dataset stays valid).
    """

    out: str | os.PathLike[str]
    url: str = "redis://localhost:6379/0"
    interval_s: float = 0.1
    duration_s: float | None = None
    patterns: tuple[str, ...] = default_patterns("tickers")
    trade_streams: tuple[str, ...] = default_patterns("trades")
    liquidation_streams: tuple[str, ...] = default_patterns("liquidations")
    mapping: FieldMapping = field(default_factory=FieldMapping)
    key_refresh_s: float = 10.0
    flush_rows: int = 100_000
    flush_interval_s: float = 60.0
    stream_batch: int = 10_000
    scan_count: int = 1000
    socket_timeout_s: float = 5.0
    backoff_initial_s: float = 0.1
    backoff_max_s: float = 5.0
    state_dir: str | os.PathLike[str] | None = None

    def __post_init__(self) -> None:
        for name in (
            "interval_s",
            "key_refresh_s",
            "flush_interval_s",
            "socket_timeout_s",
            "backoff_initial_s",
            "backoff_max_s",
        ):
            value = getattr(self, name)
            if not (isinstance(value, int | float) and math.isfinite(value) and value > 0):
                raise ValueError(f"ExportConfig.{name} must be a positive number, got {value!r}")
        if self.duration_s is not None and not self.duration_s >= 0:
            raise ValueError(f"ExportConfig.duration_s must be >= 0, got {self.duration_s!r}")
        for name in ("flush_rows", "stream_batch", "scan_count"):
            value = getattr(self, name)
            if not (isinstance(value, int) and value > 0):
                raise ValueError(f"ExportConfig.{name} must be a positive integer, got {value!r}")
        if not self.patterns:
            raise ValueError("ExportConfig.patterns: at least one ticker key pattern is needed")
        for name in ("patterns", "trade_streams", "liquidation_streams"):
            for text in getattr(self, name):
                try:
                    KeyPattern.parse(text)
                except ValueError as exc:
                    raise ValueError(f"ExportConfig.{name}: {exc}") from None
        if not str(self.url).startswith(("redis://", "rediss://", "unix://")):
            raise ValueError(
                f"ExportConfig.url: {self.url!r} is not a redis:// (or rediss://, unix://) URL"
            )

    @property
    def root(self) -> Path:
        return Path(self.out)

    @property
    def state_path(self) -> Path:
        return Path(self.state_dir) if self.state_dir is not None else self.root / ".redis-export"


_TABLES = ("tickers", *STREAM_TABLES)
# "none": deleted since the SCAN; the sample sees it missing and looks for keys again.
_TICKER_TYPES = frozenset({"hash", "string", "none"})
_STREAM_TYPES = frozenset({"stream"})
_JSON = json.JSONDecoder()


@dataclass
class ExportStats:
    """What an export did (returned by :func:`export`, logged every minute)."""

    samples: int = 0
    sample_s_total: float = 0.0  # wall time spent in samples (round trip and parsing)
    sample_s_max: float = 0.0
    samples_failed: int = 0  # a command of the sample failed (logged)
    ticks_missed: int = 0  # ticks skipped because a sample overran its period
    keys: int = 0
    streams: int = 0
    snapshots_unchanged: int = 0  # exchange timestamp as in the previous sample
    keys_missing: int = 0  # a key that vanished between discovery and the sample
    malformed: int = 0
    rows_unwritten: int = 0  # rows a write failed for, at exit after retries (logged)
    malformed_by_key: dict[str, int] = field(default_factory=dict)
    stream_entries: int = 0
    prints_merged: int = 0  # stream entries identical to a row but its size: sizes summed
    ts_local_clamped: int = 0  # ts_local raised to keep a market's time non-decreasing
    rows_read: dict[str, int] = field(default_factory=lambda: dict.fromkeys(_TABLES, 0))
    rows_written: dict[str, int] = field(default_factory=lambda: dict.fromkeys(_TABLES, 0))
    files_written: int = 0
    flushes: int = 0
    gaps: list[tuple[int, int]] = field(default_factory=list)  # (from, to) ns UTC, no data
    reconnects: int = 0
    cpu_s: float = 0.0
    wall_s: float = 0.0

    @property
    def sample_rate_hz(self) -> float:
        """Samples per second of wall time."""
        return self.samples / self.wall_s if self.wall_s > 0 else 0.0

    @property
    def cpu_share(self) -> float:
        """CPU time of this process over wall time (1.0 is one core fully busy)."""
        return self.cpu_s / self.wall_s if self.wall_s > 0 else 0.0

    def summary(self) -> str:
        rows = ", ".join(f"{t} {n:,}" for t, n in self.rows_written.items())
        return (
            f"{self.samples:,} samples ({self.sample_rate_hz:.2f}/s, {self.ticks_missed} ticks "
            f"missed), {self.keys} keys, {self.streams} streams; rows written: {rows} in "
            f"{self.files_written} files; {self.snapshots_unchanged:,} unchanged snapshots "
            f"skipped; {self.malformed} malformed values skipped; {len(self.gaps)} gaps; "
            f"CPU {self.cpu_share:.1%} of one core"
        )


_TICKER_NUMERIC = (
    "ts_exchange",
    "ts_local",
    "bid_px",
    "bid_sz",
    "ask_px",
    "ask_sz",
    "bid_depth_usd",
    "ask_depth_usd",
    "mark_px",
    "funding_rate",
    "funding_interval_s",
    "next_funding_ts",
    "predicted_funding_rate",
    "open_interest_usd",
)


class _Buffer:
    """Rows of one table as tuples in contract column order (one append per row)."""

    def __init__(self, table: str) -> None:
        self.spec = table_spec(table)
        self.rows: list[tuple[Any, ...]] = []

    def to_arrow(self) -> pa.Table:
        names = self.spec.column_names
        if not self.rows:
            return self.spec.arrow_schema.empty_table()
        columns = list(zip(*self.rows, strict=True))
        return pa.table(
            {
                name: pa.array(values, type=self.spec.column(name).kind.arrow_type)
                for name, values in zip(names, columns, strict=True)
            }
        )

    def clear(self) -> None:
        self.rows = []


def _connection_errors() -> tuple[type[BaseException], ...]:
    import redis

    return (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError, OSError)


class Exporter:
    """Samples Redis into the dataset; :meth:`run` until the duration ends or :meth:`stop`."""

    def __init__(self, config: ExportConfig) -> None:
        self.config = config
        self.stats = ExportStats()
        self._stop = threading.Event()
        self._patterns = [KeyPattern.parse(p) for p in config.patterns]
        self._buffers = {t: _Buffer(t) for t in _TABLES}
        self._venues: dict[str, VenueMapping] = {}
        self._parsers: dict[str, TickerParser] = {}
        self._keys: list[MarketKey] = []
        self._chunks: list[list[bytes]] = []
        self._bad_keys: set[bytes] = set()
        self._types: dict[bytes, str] = {}  # key -> its Redis type, when asked
        self._last_ts: dict[bytes, Any] = {}  # key -> raw exchange timestamp last exported
        self._last_bad: dict[bytes, bytes] = {}  # key -> last undecodable value (count once)
        # ts_local floor per market: by key for tickers, (table, venue, symbol) for events
        self._floor: dict[Any, int] = {}
        self._malformed_logged: dict[str, float] = {}
        self._client: Any = None
        self._sha: str | None = None
        self._checkpoint = StreamCheckpoint(config.state_path, config.root)
        self._streams: StreamReader | None = None
        self._last_flush = time.monotonic()
        self._rediscover = False
        self._tables_checked = False
        self._jobs: queue.Queue[_Job | None] = queue.Queue(maxsize=2)
        self._writer: threading.Thread | None = None
        self._closing = threading.Event()
        self._writer_error: Exception | None = None
        # (table, venue, symbol) -> (ts_local, {(ts_exchange, px, side): row}) of the
        # market's rows at its latest ts_local: identical prints are merged.
        self._same_ts: dict[tuple[str, str, str], tuple[int, dict[tuple, int]]] = {}

    # --- control ------------------------------------------------------------------

    def stop(self) -> None:
        """Ask :meth:`run` to flush and return (safe from a signal handler or a thread)."""
        self._stop.set()

    def run(self) -> ExportStats:
        """Sample until the duration ends or :meth:`stop`; flush; return the statistics."""
        cfg = self.config
        cfg.root.mkdir(parents=True, exist_ok=True)
        ids = self._checkpoint.load()
        stream_patterns = {
            "trades": [KeyPattern.parse(p) for p in cfg.trade_streams],
            "liquidations": [KeyPattern.parse(p) for p in cfg.liquidation_streams],
        }
        if any(stream_patterns.values()):
            self._streams = StreamReader(stream_patterns, cfg.mapping, ids, batch=cfg.stream_batch)
        cpu0, wall0 = time.process_time(), time.monotonic()
        deadline = wall0 + cfg.duration_s if cfg.duration_s is not None else math.inf
        connected = False
        lost_at: int | None = None  # wall ns of the last good sample before a drop
        last_good_ns = time.time_ns()
        backoff = cfg.backoff_initial_s
        retry_at = wall0
        next_refresh = wall0
        next_tick = wall0
        next_log = wall0 + 60.0
        log.info("exporting %s to %s every %.3f s", _safe_url(cfg.url), cfg.root, cfg.interval_s)
        self._writer = threading.Thread(target=self._writer_loop, name="spreadarb-redis-writer")
        self._writer.start()
        try:
            while not self._stop.is_set():
                now = time.monotonic()
                if now >= deadline:
                    break
                if not connected and now >= retry_at:
                    try:
                        self._connect()
                        self._discover()
                        connected = True
                        next_refresh = now + cfg.key_refresh_s
                        backoff = cfg.backoff_initial_s
                        # The ticks of an outage are its gap, not missed ticks.
                        next_tick = max(next_tick, time.monotonic())
                    except _connection_errors() as exc:
                        if lost_at is None:
                            lost_at = last_good_ns
                            log.warning("cannot reach Redis (%s); retrying", exc)
                        self._disconnect()
                        retry_at = now + backoff
                        backoff = min(2 * backoff, cfg.backoff_max_s)
                if connected and now >= next_tick:
                    if self._rediscover:
                        self._rediscover = False
                        next_refresh = min(next_refresh, now + min(1.0, cfg.key_refresh_s))
                    try:
                        if now >= next_refresh:
                            self._discover()
                            next_refresh = now + cfg.key_refresh_s
                        began = time.monotonic()
                        self._sample()
                        took = time.monotonic() - began
                        self.stats.sample_s_total += took
                        self.stats.sample_s_max = max(self.stats.sample_s_max, took)
                        last_good_ns = time.time_ns()
                        if lost_at is not None:
                            self.stats.gaps.append((lost_at, last_good_ns))
                            self.stats.reconnects += 1
                            log.warning(
                                "reconnected to Redis: gap in the data of %.3f s, from %s to %s",
                                (last_good_ns - lost_at) / 1e9,
                                _iso(lost_at),
                                _iso(last_good_ns),
                            )
                            lost_at = None
                    except _connection_errors() as exc:
                        connected = False
                        lost_at = last_good_ns
                        log.warning("lost the connection to Redis (%s); retrying with backoff", exc)
                        self._disconnect()
                        retry_at = time.monotonic() + backoff
                        backoff = min(2 * backoff, cfg.backoff_max_s)
                    next_tick += cfg.interval_s
                    behind = time.monotonic() - next_tick
                    if behind >= cfg.interval_s:
                        # A whole period behind: skip the ticks that are gone. A sample
                        # less late than that is taken at once, keeping the cadence.
                        missed = int(behind / cfg.interval_s)
                        self.stats.ticks_missed += missed
                        next_tick += missed * cfg.interval_s
                if self._due(time.monotonic()):
                    self.flush()
                if time.monotonic() >= next_log:
                    self._update_clock(cpu0, wall0)
                    log.info("%s", self.stats.summary())
                    next_log += 60.0
                wake = next_tick if connected else retry_at
                self._stop.wait(max(0.0, min(wake, deadline) - time.monotonic()))
        finally:
            try:
                self._closing.set()
                self.flush()
                self._jobs.put(None)
                self._writer.join()
            finally:
                if lost_at is not None:
                    self.stats.gaps.append((lost_at, time.time_ns()))
                self._disconnect()
                self._update_clock(cpu0, wall0)
                log.info("export stopped: %s", self.stats.summary())
        if self._writer_error is not None:
            raise self._writer_error
        if self.stats.rows_unwritten:
            raise OSError(
                f"{self.stats.rows_unwritten} rows could not be written to {cfg.root} "
                "(see the logged errors)"
            )
        return self.stats

    def _update_clock(self, cpu0: float, wall0: float) -> None:
        self.stats.cpu_s = time.process_time() - cpu0
        self.stats.wall_s = time.monotonic() - wall0

    # --- Redis ----------------------------------------------------------------------

    def _connect(self) -> None:
        import redis
        from redis.backoff import NoBackoff
        from redis.retry import Retry

        self._disconnect()
        cfg = self.config
        # Retries are ours (with backoff and a logged gap), not the client's.
        self._client = redis.Redis.from_url(
            cfg.url,
            socket_timeout=cfg.socket_timeout_s,
            socket_connect_timeout=cfg.socket_timeout_s,
            retry=Retry(NoBackoff(), 0),
            health_check_interval=0,
        )
        self._sha = self._client.script_load(SAMPLE_SCRIPT)

    def _disconnect(self) -> None:
        if self._client is not None:
            client, self._client = self._client, None
            # Closing a broken connection may fail; it is gone either way.
            with contextlib.suppress(Exception):
                client.close()
                client.connection_pool.disconnect()

    def _discover(self) -> None:
        """Find the ticker and stream keys: one SCAN pass, then TYPE for keys not seen."""
        cfg = self.config
        stream_patterns = self._streams.all_patterns if self._streams is not None else []
        found = scan_prefixes(
            self._client, [*self._patterns, *stream_patterns], count=cfg.scan_count
        )
        tickers = resolve_keys(
            found, self._patterns, aliases=cfg.mapping.symbol_aliases, bad_keys=self._bad_keys
        )
        streams = self._streams.resolve(found) if self._streams is not None else {}
        wanted = {mk.key: _TICKER_TYPES for mk in tickers}
        wanted.update((key, _STREAM_TYPES) for key in streams)
        # A key's type is asked once (one pipelined round trip), and again while it is
        # not what its pattern needs.
        unknown = [k for k, ok in wanted.items() if self._types.get(k) not in ok]
        if unknown:
            pipe = self._client.pipeline(transaction=False)
            for key in unknown:
                pipe.type(key)
            for key, kind in zip(unknown, pipe.execute(), strict=True):
                kind = kind.decode() if isinstance(kind, bytes) else str(kind)
                self._types[key] = kind
                if kind not in wanted[key] and kind != "none" and key not in self._bad_keys:
                    self._bad_keys.add(key)
                    log.warning(
                        "skipping key %r: it holds a %s, not %s",
                        key.decode("utf-8", "replace"),
                        kind,
                        " or ".join(sorted(wanted[key] - {"none"})),
                    )
        self._types = {k: v for k, v in self._types.items() if k in wanted}
        keys = [mk for mk in tickers if self._types[mk.key] in _TICKER_TYPES]
        if len(keys) != len(self._keys):
            log.info("sampling %d ticker keys", len(keys))
        self._keys = keys
        raw = [k.key for k in keys]
        self._chunks = [raw[i : i + KEYS_PER_CALL] for i in range(0, len(raw), KEYS_PER_CALL)]
        self.stats.keys = len(keys)
        if self._streams is not None:
            self._streams.streams = {
                k: v for k, v in streams.items() if self._types[k] in _STREAM_TYPES
            }
            self.stats.streams = len(self._streams.streams)

    def _sample(self) -> None:
        """One round trip: every ticker key and every stream; rows into the buffers."""
        import redis

        pipe = self._client.pipeline(transaction=False)
        for chunk in self._chunks:
            pipe.evalsha(self._sha, len(chunk), *chunk)
        request = self._streams.request() if self._streams is not None else {}
        if request:
            pipe.xread(request, count=self._streams.batch if self._streams else None)
        replies = pipe.execute(raise_on_error=False)
        sample_ns = time.time_ns()
        for reply in replies:
            if isinstance(reply, redis.exceptions.NoScriptError):
                # The server restarted or flushed its scripts: load it again, next tick.
                self._sha = self._client.script_load(SAMPLE_SCRIPT)
                return
            if isinstance(reply, _connection_errors()):
                raise reply
            if isinstance(reply, Exception):
                self.stats.samples_failed += 1
                log.error("a sample failed: %s", reply)
                return
        self.stats.samples += 1
        values: list[Any] = []
        for reply in replies[: len(self._chunks)]:
            values.extend(reply)
        self._tickers(values, sample_ns)
        if request and self._streams is not None:
            self.stats.stream_entries += self._streams.handle(
                replies[-1], self._append_event, self._malformed
            )

    # --- rows -----------------------------------------------------------------------

    def _venue(self, venue: str) -> VenueMapping:
        vm = self._venues.get(venue)
        if vm is None:
            vm = self._venues[venue] = self.config.mapping.venue(venue)
        return vm

    def _tickers(self, values: list[Any], sample_ns: int) -> None:
        rows = self._buffers["tickers"].rows
        last_ts = self._last_ts
        floors = self._floor
        parsers = self._parsers
        decode = _JSON.decode
        last_bad = self._last_bad
        accepted = 0
        for mk, raw in zip(self._keys, values, strict=True):
            if raw is None or raw is False:
                self.stats.keys_missing += 1
                self._rediscover = True  # gone, or another type: look for keys again soon
                continue
            if last_bad and last_bad.get(mk.key) == raw:
                continue  # the same bad value again: counted and logged once
            try:
                obj = decode(raw.decode("utf-8"))
                if type(obj) is not dict:
                    raise MalformedValue("value is not a JSON object or a hash")
            except (ValueError, MalformedValue) as exc:
                last_bad[mk.key] = raw
                reason = str(exc) if isinstance(exc, MalformedValue) else "not valid JSON"
                self._malformed(mk.key, reason)
                continue
            parser = parsers.get(mk.venue)
            if parser is None:
                parser = parsers[mk.venue] = TickerParser(self._venue(mk.venue))
            plan = parser.plan(obj)
            ts_raw = parser.exchange_ts(obj, plan)
            if ts_raw is not None and last_ts.get(mk.key) == ts_raw:
                self.stats.snapshots_unchanged += 1
                continue
            last_ts[mk.key] = ts_raw
            try:
                (ts_ex, ts_local, *numbers) = parser.row(obj, plan, mk.symbol, ts_raw)
            except MalformedValue as exc:
                last_bad[mk.key] = raw
                self._malformed(mk.key, str(exc))
                continue
            if last_bad:
                last_bad.pop(mk.key, None)
            if ts_local < 0:
                ts_local = sample_ns
            floor = floors.get(mk.key, 0)  # one key per market (see resolve_keys)
            if ts_local < floor:
                self.stats.ts_local_clamped += 1
                ts_local = floor
            floors[mk.key] = ts_local
            rows.append((ts_local, ts_ex, mk.venue, mk.symbol, *numbers))
            accepted += 1
        self.stats.rows_read["tickers"] += accepted

    def _append_event(
        self,
        table: str,
        mk: MarketKey,
        ts_local: int,
        ts_exchange: int,
        px: float,
        sz: float,
        side: int,
    ) -> None:
        rows = self._buffers[table].rows
        market = (table, mk.venue, mk.symbol)
        floor = self._floor.get(market, 0)
        if ts_local < floor:
            self.stats.ts_local_clamped += 1
            ts_local = floor
        self._floor[market] = ts_local
        same = self._same_ts.get(market)
        if same is None or same[0] != ts_local:
            same = self._same_ts[market] = (ts_local, {})
        ident = (ts_exchange, px, side)
        i = same[1].get(ident)
        if i is not None:
            # Two prints identical in every contract column are one print (docs/data.md).
            row = rows[i]
            rows[i] = (*row[:-2], row[-2] + sz, row[-1])
            self.stats.prints_merged += 1
            return
        same[1][ident] = len(rows)
        if table == "trades":
            rows.append((ts_local, ts_exchange, mk.venue, mk.symbol, px, sz, side))
        else:
            rows.append((ts_local, mk.venue, mk.symbol, px, sz, side))
        self.stats.rows_read[table] += 1

    def _malformed(self, key: bytes, reason: str) -> None:
        name = key.decode("utf-8", "replace")
        self.stats.malformed += 1
        self.stats.malformed_by_key[name] = self.stats.malformed_by_key.get(name, 0) + 1
        now = time.monotonic()
        # Every malformed value is counted; the log names each key at most once a minute.
        if now - self._malformed_logged.get(name, -math.inf) >= 60.0:
            self._malformed_logged[name] = now
            log.warning(
                "skipped a malformed value of key %r: %s (%d so far from this key)",
                name,
                reason,
                self.stats.malformed_by_key[name],
            )

    # --- writing ----------------------------------------------------------------------

    def _due(self, now: float) -> bool:
        rows = sum(len(b.rows) for b in self._buffers.values())
        if rows >= self.config.flush_rows:
            return True
        return rows > 0 and now - self._last_flush >= self.config.flush_interval_s

    def _ensure_required_tables(self, example: Path) -> None:
        """Give the dataset an empty file for a required table it has no rows of.

        The contract requires ``tickers`` and ``trades`` (``spreadarb.validate`` reports
        a missing one); an empty file in the partition of ``example`` (a file just
        written) says "nothing recorded". Without trade streams that is ``trades``.
        """
        self._tables_checked = True
        date = example.parent.parent.name.removeprefix("date=")
        exchange = example.parent.name.removeprefix("exchange=")
        for table, spec in TABLES.items():
            folder = self.config.root / table
            if not spec.required or (folder.is_dir() and any(folder.rglob(f"*{PARQUET_SUFFIX}"))):
                continue
            write_empty_table(self.config.root, table, date, exchange)
            log.warning(
                "no %s were exported: wrote an empty %s table so that the dataset is valid%s",
                table,
                table,
                " (a backtest needs trades for queue fills)" if table == "trades" else "",
            )

    def flush(self) -> None:
        """Hand every buffered row to the writer thread (returns at once).

        The writer writes the tickers, then the streams with their checkpoint. At most
        two batches wait for it; a third blocks sampling, so memory stays bounded even
        when the disk is slow.
        """
        self._last_flush = time.monotonic()
        tables = {t: self._buffers[t].rows for t in _TABLES}
        if not any(tables.values()):
            return
        for t in _TABLES:
            self._buffers[t].clear()
        ids = dict(self._streams.ids) if self._streams is not None else None
        job = _Job(tables=tables, ids=ids)
        if self._writer is None or not self._writer.is_alive():
            self._write(job, final=True)
        else:
            self._jobs.put(job)
        # A market's next row must sort after the rows just handed over (no duplicate
        # across two files): its ts_local floor moves one nanosecond past them.
        for market, ts in self._floor.items():
            self._floor[market] = ts + 1
        self._same_ts.clear()

    def _writer_loop(self) -> None:
        while True:
            job = self._jobs.get()
            if job is None:
                return
            try:
                self._write(job, final=False)
            except Exception as exc:
                # A bug, not an I/O error: stop the export loudly rather than sample on.
                rows = sum(len(r) for r in job.tables.values())
                self.stats.rows_unwritten += rows
                self._writer_error = exc
                log.exception("the writer failed: %d rows NOT written; stopping", rows)
                self.stop()

    def _write(self, job: _Job, *, final: bool) -> None:
        """Write one batch, retrying on I/O errors (a few times only when stopping)."""
        delay = 1.0
        for attempt in itertools.count(1):
            try:
                self._write_once(job)
                return
            except OSError as exc:
                closing = final or self._closing.is_set()
                if closing and attempt >= 3:
                    rows = sum(len(r) for r in job.tables.values())
                    self.stats.rows_unwritten += rows
                    log.error("writing the dataset failed (%s): %d rows NOT written", exc, rows)
                    return
                log.error("writing the dataset failed (%s); retrying in %.0f s", exc, delay)
                self._closing.wait(0.2 if closing else delay)  # wakes early to stop
                delay = min(2 * delay, 30.0)

    def _write_once(self, job: _Job) -> None:
        written: list[Path] = []
        tickers = job.tables["tickers"]
        if tickers:
            buf = _Buffer("tickers")
            buf.rows = tickers
            written.extend(write_table(self.config.root, "tickers", buf.to_arrow()))
            self.stats.rows_written["tickers"] += len(tickers)
            job.tables["tickers"] = []  # done: a retry writes only what is left
        if job.ids is not None:
            arrow = {}
            for t in STREAM_TABLES:
                buf = _Buffer(t)
                buf.rows = job.tables[t]
                arrow[t] = buf.to_arrow()
            written.extend(self._checkpoint.commit(arrow, job.ids))
            for t in STREAM_TABLES:
                self.stats.rows_written[t] += len(job.tables[t])
            job.ids = None
        if written:
            self.stats.flushes += 1
            self.stats.files_written += len(written)
            if not self._tables_checked:
                self._ensure_required_tables(written[0])


@dataclass
class _Job:
    """One batch for the writer thread: rows per table and the stream ids they reach."""

    tables: dict[str, list[tuple[Any, ...]]]
    ids: dict[bytes, bytes] | None


def _iso(ns: int) -> str:
    return (
        time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ns / 1e9)) + f".{ns % 10**9 // 10**6:03d}Z"
    )


def _safe_url(url: str) -> str:
    """The URL without its password, for logs."""
    return re.sub(r"//([^:@/]*):[^@/]*@", r"//\1:***@", url)


@contextmanager
def _signals_stop(exporter: Exporter) -> Iterator[None]:
    """SIGINT and SIGTERM ask the exporter to flush and stop (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: Any) -> None:
        log.info("received %s: flushing and stopping", signal.Signals(signum).name)
        exporter.stop()

    previous = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for s, h in previous.items():
            signal.signal(s, h)


def export(
    out: str | os.PathLike[str],
    *,
    url: str = "redis://localhost:6379/0",
    interval: str | float = 0.1,
    duration: str | float | None = None,
    patterns: tuple[str, ...] | None = None,
    mapping: FieldMapping | str | os.PathLike[str] | None = None,
    handle_signals: bool = True,
    **fields: Any,
) -> ExportStats:
    """Export the collectors' Redis keys to the dataset at ``out`` (see ``docs/redis.md``).

    Parameters
    ----------
    out
        Dataset root to append to.
    url
        Redis URL, ``redis://HOST:PORT/DB``.
    interval
        Sampling period: seconds or a duration such as ``"100ms"``.
    duration
        How long to run (``"10m"``, seconds); ``None`` until SIGINT/SIGTERM.
    patterns
        Ticker key patterns ``[venue=]PREFIX*`` (default: the eight venues).
    mapping
        A :class:`FieldMapping` or the path of a TOML file of overrides.
    handle_signals
        Install SIGINT/SIGTERM handlers that flush and stop (main thread only).
    **fields
        Any other :class:`ExportConfig` field.

    Returns
    -------
    ExportStats
        Rows written, samples, skipped values, gaps, CPU share.
    """
    if isinstance(mapping, str | os.PathLike):
        mapping = FieldMapping.from_toml(mapping)
    options: dict[str, Any] = dict(fields)
    if patterns is not None:
        options["patterns"] = tuple(patterns)
    if mapping is not None:
        options["mapping"] = mapping
    config = ExportConfig(
        out=out,
        url=url,
        interval_s=parse_duration(interval, "interval"),
        duration_s=None if duration is None else parse_duration(duration, "duration"),
        **options,
    )
    exporter = Exporter(config)
    if not handle_signals:
        return exporter.run()
    with _signals_stop(exporter):
        return exporter.run()
