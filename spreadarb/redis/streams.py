"""Trades and liquidations from Redis Streams, with a checkpoint that makes restarts exact.

Entries are read with ``XREAD`` from the last id of each stream. The ids advance in
memory as entries are buffered; they reach disk only together with the rows, through
a small journal (:class:`StreamCheckpoint`):

1. the buffered rows go to ``journal-<table>.arrow`` files, then ``journal.json`` (the
   new ids) is written: the journal is committed;
2. the rows are written to the dataset with :func:`spreadarb.write_table`;
3. ``streams.json`` (the checkpoint) takes the new ids and the journal is removed.

Every file is written atomically. After a crash anywhere, the next start replays a
committed journal (``write_table`` finds the files already written by their content
hash and writes only the missing ones) or discards an uncommitted one (its entries
are still after the checkpointed ids, so they are read again). A restart therefore
neither loses nor duplicates entries, as long as Redis still holds them.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import pyarrow as pa

from spreadarb._io import atomic_write_bytes, atomic_write_text
from spreadarb.data.contract import table_spec
from spreadarb.data.writer import write_table
from spreadarb.redis.fields import FieldMapping, MalformedValue, VenueMapping, event_row
from spreadarb.redis.keys import KeyPattern, MarketKey, resolve_keys

log = logging.getLogger("spreadarb.redis")

STREAM_TABLES = ("trades", "liquidations")
CHECKPOINT_VERSION = 1
_JSON_FIELDS = (b"data", b"json", b"value", b"payload")


class StreamCheckpoint:
    """Last stream ids on disk, and the journal that ties them to the written rows."""

    def __init__(self, state_dir: Path, root: Path) -> None:
        self.state_dir = state_dir
        self.root = root
        self.path = state_dir / "streams.json"
        self.journal = state_dir / "journal.json"

    def _journal_table(self, table: str) -> Path:
        return self.state_dir / f"journal-{table}.arrow"

    def load(self) -> dict[bytes, bytes]:
        """The checkpointed ids, after recovering an interrupted flush."""
        self.recover()
        if not self.path.is_file():
            return {}
        data = json.loads(self.path.read_text())
        if data.get("version") != CHECKPOINT_VERSION:
            raise ValueError(f"{self.path}: unknown checkpoint version {data.get('version')!r}")
        return {k.encode(): v.encode() for k, v in data["ids"].items()}

    def recover(self) -> int:
        """Finish (committed) or discard (uncommitted) a flush a crash interrupted.

        Returns the number of rows replayed.
        """
        replayed = 0
        if self.journal.is_file():
            data = json.loads(self.journal.read_text())
            for table in data["tables"]:
                path = self._journal_table(table)
                with pa.memory_map(str(path)) as source:
                    rows = pa.ipc.open_file(source).read_all()
                write_table(self.root, table, rows)
                replayed += rows.num_rows
            self._write_ids(data["ids"])
            log.warning(
                "replayed an interrupted flush of %d stream rows from %s", replayed, self.journal
            )
        self._clear_journal()
        return replayed

    def commit(self, tables: Mapping[str, pa.Table], ids: Mapping[bytes, bytes]) -> list[Path]:
        """Write ``tables`` to the dataset and ``ids`` to the checkpoint, crash-safely."""
        self.state_dir.mkdir(parents=True, exist_ok=True)
        written: list[Path] = []
        names = [t for t, rows in tables.items() if rows.num_rows]
        str_ids = {k.decode(): v.decode() for k, v in ids.items()}
        if names:
            for table in names:
                sink = pa.BufferOutputStream()
                with pa.ipc.new_file(sink, tables[table].schema) as writer:
                    writer.write_table(tables[table])
                atomic_write_bytes(self._journal_table(table), sink.getvalue().to_pybytes())
            atomic_write_text(self.journal, json.dumps({"tables": names, "ids": str_ids}))
            for table in names:
                written.extend(write_table(self.root, table, tables[table]))
        self._write_ids(str_ids)
        self._clear_journal()
        return written

    def _write_ids(self, ids: Mapping[str, str]) -> None:
        payload = {"version": CHECKPOINT_VERSION, "ids": dict(sorted(ids.items()))}
        atomic_write_text(self.path, json.dumps(payload, indent=1) + "\n")

    def _clear_journal(self) -> None:
        # The commit marker goes first: without it the table files are only leftovers.
        for path in (self.journal, *(self._journal_table(t) for t in STREAM_TABLES)):
            if path.exists():
                os.unlink(path)


def entry_object(fields: Mapping[bytes, bytes]) -> dict[str, Any]:
    """A stream entry's fields as a dict; a single JSON field (``data``...) is decoded."""
    if len(fields) == 1:
        ((name, value),) = fields.items()
        if name in _JSON_FIELDS or value[:1] == b"{":
            try:
                obj = json.loads(value)
            except ValueError:
                raise MalformedValue(f"field {name.decode()!r} is not valid JSON") from None
            if not isinstance(obj, dict):
                raise MalformedValue(f"field {name.decode()!r} is not a JSON object")
            return obj
    return {k.decode("utf-8", "replace"): v.decode("utf-8", "replace") for k, v in fields.items()}


def id_ts_ns(entry_id: bytes) -> int:
    """A stream id ``<ms>-<seq>`` as a unique nanosecond time: ``ms * 1e6 + seq``."""
    ms, _, seq = entry_id.partition(b"-")
    return int(ms) * 1_000_000 + min(int(seq or 0), 999_999)


class StreamReader:
    """Discovers the trade and liquidation streams and turns XREAD replies into rows."""

    def __init__(
        self,
        patterns: Mapping[str, Iterable[KeyPattern]],
        mapping: FieldMapping,
        ids: dict[bytes, bytes],
        *,
        batch: int,
    ) -> None:
        self.patterns = {t: tuple(p) for t, p in patterns.items()}
        self.mapping = mapping
        self.ids = ids  # stream key -> last id read (buffered, not yet flushed)
        self.batch = batch
        self.streams: dict[bytes, tuple[str, MarketKey]] = {}
        self._venues: dict[str, VenueMapping] = {}
        self._bad_keys: set[bytes] = set()

    @property
    def all_patterns(self) -> list[KeyPattern]:
        """Every stream key pattern, of both tables."""
        return [p for patterns in self.patterns.values() for p in patterns]

    def resolve(self, keys: list[bytes]) -> dict[bytes, tuple[str, MarketKey]]:
        """The stream markets among ``keys`` (found by the exporter's SCAN), by key."""
        found: dict[bytes, tuple[str, MarketKey]] = {}
        for table, patterns in self.patterns.items():
            for mk in resolve_keys(
                keys, patterns, aliases=self.mapping.symbol_aliases, bad_keys=self._bad_keys
            ):
                found.setdefault(mk.key, (table, mk))
        return found

    def request(self) -> dict[bytes, bytes]:
        """The ``{key: last id}`` argument of the next XREAD (new streams from the start)."""
        return {k: self.ids.get(k, b"0-0") for k in self.streams}

    def handle(
        self,
        reply: Any,
        append: Callable[[str, MarketKey, int, int, float, float, int], None],
        malformed: Callable[[bytes, str], None],
    ) -> int:
        """Turn one XREAD reply into rows via ``append``; returns the entries read."""
        n = 0
        items = reply.items() if isinstance(reply, dict) else (reply or ())
        for key, entries in items:
            table, mk = self.streams[key]
            vm = self._venues.get(mk.venue)
            if vm is None:
                vm = self._venues[mk.venue] = self.mapping.venue(mk.venue)
            for entry_id, fields in entries:
                n += 1
                self.ids[key] = entry_id
                try:
                    obj = entry_object(fields)
                    ts_exchange, ts_local, px, sz, side = event_row(obj, vm, table, mk.symbol)
                    if table == "trades" and ts_exchange < 0:
                        raise MalformedValue("missing field for ts_exchange")
                except MalformedValue as exc:
                    malformed(key + b" " + entry_id, str(exc))
                    continue
                if ts_local < 0:
                    ts_local = id_ts_ns(entry_id)
                append(table, mk, ts_local, ts_exchange, px, sz, side)
        return n


def empty_table(table: str) -> pa.Table:
    """An empty Arrow table with the contract schema of ``table``."""
    return table_spec(table).arrow_schema.empty_table()
