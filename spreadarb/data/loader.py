"""``spreadarb.load``: a dataset folder to contiguous per-market numpy arrays, with pushdown."""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from spreadarb.data.checks import MarketTail, Where, check_table
from spreadarb.data.contract import (
    NS_PER_DAY,
    TABLES,
    TIMESTAMP_MAX_NS,
    TIMESTAMP_MIN_NS,
    TableSpec,
)
from spreadarb.data.dataset import Dataset, MarketTable, ReadStats, numeric_columns
from spreadarb.data.errors import DataError, DataProblem
from spreadarb.data.layout import (
    PartitionFile,
    dataset_root,
    is_funding_only,
    list_files,
    missing_table,
)
from spreadarb.data.reader import FileRead, read_file

TimeLike = str | int | dt.datetime | np.datetime64 | Any


def to_ns(value: TimeLike, *, name: str = "time") -> int:
    """Nanoseconds since the epoch (UTC) of a time given as ISO string, datetime or int ns.

    Naive strings and datetimes are taken as UTC. Integers must already be
    nanoseconds; a value that looks like seconds or milliseconds is refused.
    """
    import pandas as pd

    if isinstance(value, bool):
        raise TypeError(f"{name}: expected a time, got {value!r}")
    if isinstance(value, int | np.integer):
        ns = int(value)
        if not TIMESTAMP_MIN_NS <= ns < TIMESTAMP_MAX_NS:
            raise ValueError(
                f"{name}={ns} is not an int64 nanosecond timestamp between 2000 and 2100; "
                "pass nanoseconds, an ISO string or a datetime"
            )
        return ns
    try:
        ts = pd.Timestamp(value)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name}: cannot read {value!r} as a time ({exc})") from None
    if ts is pd.NaT:
        raise ValueError(f"{name}: {value!r} is not a time")
    if ts.tzinfo is None:
        ts = ts.tz_localize("UTC")
    return int(ts.tz_convert("UTC").as_unit("ns").value)


def _names(value: str | Iterable[str] | None, what: str) -> frozenset[str] | None:
    if value is None:
        return None
    names = frozenset([value]) if isinstance(value, str) else frozenset(value)
    if not names or not all(isinstance(n, str) and n for n in names):
        raise ValueError(
            f"{what} must be a non-empty string or collection of strings, got {value!r}"
        )
    return names


def _dates(start_ns: int | None, end_ns: int | None) -> set[str] | None:
    if start_ns is None or end_ns is None:
        # An open-ended window still needs every date partition on that side.
        return None
    first, last = start_ns // NS_PER_DAY, (end_ns - 1) // NS_PER_DAY
    return {str(np.datetime64(int(d), "D")) for d in range(int(first), int(last) + 1)}


def load(
    path: str | os.PathLike[str],
    *,
    start: TimeLike | None = None,
    end: TimeLike | None = None,
    symbols: str | Iterable[str] | None = None,
    exchanges: str | Iterable[str] | None = None,
) -> Dataset:
    """Load a dataset folder into a :class:`Dataset` of contiguous per-market arrays.

    Only the partitions (UTC dates, exchanges), row groups and contract columns
    that the request needs are read; rows are then cut exactly to
    ``start <= ts_local < end`` and ``symbols``. Every row read is checked
    against the contract, as :func:`spreadarb.validate` does; nothing is dropped
    or reordered within a market.

    Parameters
    ----------
    path
        Dataset root (``ROOT/<table>/date=YYYY-MM-DD/exchange=<venue>/*.parquet``).
    start, end
        Window on ``ts_local``, start inclusive, end exclusive: ISO strings (UTC
        if naive), datetimes, or int nanoseconds. ``None`` leaves that side open.
    symbols, exchanges
        Canonical names to keep (a name or a collection); ``None`` keeps all.

    Returns
    -------
    Dataset

    Raises
    ------
    FileNotFoundError
        If ``path`` is not a folder.
    DataError
        If a required table is missing or any row read breaks the contract; it
        carries every problem found.
    """
    root = dataset_root(path)
    if is_funding_only(root):
        raise ValueError(
            f"{str(root)!r} is a funding-only dataset (only a funding/ table): it has no market "
            "data to backtest; read it with spreadarb.load_funding"
        )
    start_ns = None if start is None else to_ns(start, name="start")
    end_ns = None if end is None else to_ns(end, name="end")
    if start_ns is not None and end_ns is not None and end_ns <= start_ns:
        raise ValueError(f"end ({end}) must be after start ({start})")
    symbol_set = _names(symbols, "symbols")
    exchange_set = _names(exchanges, "exchanges")
    dates = _dates(start_ns, end_ns)

    # Two passes keep the peak memory near the size of the result: the first reads only the
    # market keys (and ts_local for a window) to size every market's arrays; the second
    # reads, checks and scatters one file at a time into them, then drops it.
    problems: list[DataProblem] = []
    files_of: dict[str, list[PartitionFile]] = {}
    for name in TABLES:
        if not (root / name).is_dir():
            problems.extend(p for p in [missing_table(root, name)] if p is not None)
            files_of[name] = []
            continue
        files, layout_problems = list_files(root, name, dates=dates, exchanges=exchange_set)
        # Hidden files are a writer's temporaries, not data; validate() reports them.
        problems.extend(p for p in layout_problems if not Path(p.file or "").name.startswith("."))
        files_of[name] = files
    key_columns = ["exchange", "symbol"] + (
        ["ts_local"] if start_ns is not None or end_ns is not None else []
    )
    keys_of: dict[str, list[tuple[np.ndarray, list[tuple[str, str]]] | None]] = {}
    for name, files in files_of.items():
        keys_of[name] = []
        for f in files:
            got = read_file(
                f, columns=key_columns, start_ns=start_ns, end_ns=end_ns, symbols=symbol_set
            )
            # A file whose keys cannot be read is reported by the full read below.
            keys_of[name].append(_market_keys(got.table) if isinstance(got, FileRead) else None)

    present = sorted(
        {
            keys[int(c)]
            for pieces in keys_of.values()
            for piece in pieces
            if piece is not None
            for codes, keys in [piece]
            for c in np.flatnonzero(np.bincount(codes, minlength=len(keys)))
        }
    )
    exchanges = tuple(sorted({e for e, _ in present}))
    symbols = tuple(sorted({s for _, s in present}))
    market_of = {key: m for m, key in enumerate(present)}
    n_markets = len(present)

    stats = {
        "files_listed": sum(len(f) for f in files_of.values()),
        "files_read": 0,
        "row_groups_total": 0,
        "row_groups_read": 0,
        "bytes_read": 0,
        "rows_read": 0,
    }
    touched: list[str] = []
    tables: dict[str, MarketTable] = {}
    for name, spec in TABLES.items():
        codes_of: list[np.ndarray | None] = []
        counts = np.zeros(n_markets, dtype=np.int64)
        for piece in keys_of[name]:
            if piece is None:
                codes_of.append(None)
                continue
            codes, keys = piece
            lookup = np.array([market_of.get(k, -1) for k in keys], dtype=np.int64)
            g = lookup[codes]
            codes_of.append(g)
            counts += np.bincount(g, minlength=n_markets)
        offsets = np.zeros(n_markets + 1, dtype=np.int64)
        np.cumsum(counts, out=offsets[1:])
        columns = {
            c.name: np.empty(int(offsets[-1]), dtype=c.kind.numpy_dtype)
            for c in spec.columns
            if c.name in numeric_columns(name)
        }
        fill = offsets[:-1].copy()

        def load_files(
            group: list[tuple[int, PartitionFile, np.ndarray | None]],
            spec: TableSpec = spec,
            columns: dict[str, np.ndarray] = columns,
            fill: np.ndarray = fill,
        ) -> list[tuple[int, _ReadCounts | None, list[DataProblem]]]:
            """Read, check and scatter a group's files in order (one exchange's files: no
            market is in two groups, so groups run in parallel on disjoint rows)."""
            tails: dict[tuple[str, str], MarketTail] = {}
            out: list[tuple[int, _ReadCounts | None, list[DataProblem]]] = []
            failed = False
            for i, f, g in group:
                got = read_file(
                    f,
                    columns=spec.column_names,
                    start_ns=start_ns,
                    end_ns=end_ns,
                    symbols=symbol_set,
                )
                if isinstance(got, DataProblem):
                    out.append((i, None, [got]))
                    failed = True
                    continue
                found: list[DataProblem] = []
                if got.row_groups_read:
                    found = check_table(
                        got.table,
                        spec,
                        Where(
                            file=f.relative,
                            row_numbers=got.row_numbers,
                            date=f.date,
                            exchange=f.exchange,
                        ),
                        tails,
                    )
                failed = failed or bool(found) or g is None
                if not failed and got.row_groups_read and got.table.num_rows:
                    assert g is not None
                    if g.size != got.table.num_rows:
                        raise RuntimeError(f"{f.relative}: the file changed while being loaded")
                    _scatter(got.table, g, columns, fill, n_markets)
                # Keep the counts, not the rows.
                counts = _ReadCounts(
                    got.row_groups_total, got.row_groups_read, got.bytes_read, got.table.num_rows
                )
                out.append((i, counts, found))
            return out

        groups: dict[str, list[tuple[int, PartitionFile, np.ndarray | None]]] = {}
        for i, (f, g) in enumerate(zip(files_of[name], codes_of, strict=True)):
            groups.setdefault(f.exchange, []).append((i, f, g))
        workers = min(len(groups), os.cpu_count() or 1)
        if workers > 1:
            with ThreadPoolExecutor(max_workers=workers) as pool:
                done = [r for part in pool.map(load_files, groups.values()) for r in part]
        else:
            done = [r for group in groups.values() for r in load_files(group)]
        for i, read, found in sorted(done, key=lambda r: r[0]):
            problems.extend(found)
            if read is None:
                continue
            stats["row_groups_total"] += read.row_groups_total
            if read.row_groups_read == 0:
                continue
            stats["files_read"] += 1
            stats["row_groups_read"] += read.row_groups_read
            stats["bytes_read"] += read.bytes_read
            stats["rows_read"] += read.rows
            touched.append(files_of[name][i].relative)
        if problems:
            continue
        tables[name] = MarketTable(name=name, columns=columns, offsets=offsets)
        # Arrow's allocator keeps freed pages; hand them back now the files are consumed.
        pa.default_memory_pool().release_unused()
    if problems:
        raise DataError(problems, context=f"dataset {str(root)!r}")

    market_exchange = np.array([exchanges.index(e) for e, _ in present], dtype=np.int32)
    market_symbol = np.array([symbols.index(s) for _, s in present], dtype=np.int32)
    return Dataset(
        root=root,
        exchanges=exchanges,
        symbols=symbols,
        market_exchange=market_exchange,
        market_symbol=market_symbol,
        tickers=tables["tickers"],
        trades=tables["trades"],
        liquidations=tables["liquidations"],
        start_ns=start_ns,
        end_ns=end_ns,
        read_stats=ReadStats(**stats, files=tuple(touched)),
    )


def _market_keys(table: pa.Table) -> tuple[np.ndarray, list[tuple[str, str]]] | None:
    """Per-row local market code and the (exchange, symbol) of each code.

    None when the keys are missing, null or not strings: the contract check of the full
    read reports that file, and the load fails.
    """
    parts = []
    for name in ("exchange", "symbol"):
        if name not in table.column_names:
            return None
        column = table.column(name)
        kind = column.type.value_type if pa.types.is_dictionary(column.type) else column.type
        if column.null_count or not (pa.types.is_string(kind) or pa.types.is_large_string(kind)):
            return None
        parts.append(pc.dictionary_encode(column.combine_chunks()))
    ex, sym = parts
    n_sym = len(sym.dictionary)
    codes = ex.indices.to_numpy().astype(np.int64) * n_sym + sym.indices.to_numpy()
    keys = [(e, s) for e in ex.dictionary.to_pylist() for s in sym.dictionary.to_pylist()]
    return codes, keys


class _ReadCounts(NamedTuple):
    """What a file read adds to :class:`ReadStats` (its rows themselves are not kept)."""

    row_groups_total: int
    row_groups_read: int
    bytes_read: int
    rows: int


def _scatter(
    table: pa.Table,
    g: np.ndarray,
    columns: dict[str, np.ndarray],
    fill: np.ndarray,
    n_markets: int,
) -> None:
    """Copy one file's rows to their market's next free slots, in file order.

    Every market keeps its stored row order; ``fill`` (each market's next free row) is
    advanced in place.
    """
    if g.size == 0 or bool((g[1:] >= g[:-1]).all()):
        # The writer groups a file's rows by market: copy contiguous blocks, batch by batch
        # (one per row group), so no concatenated copy of a column is ever made.
        start = 0
        for batch in table.to_batches():
            n = batch.num_rows
            if n == 0:
                continue
            gb = g[start : start + n]
            start += n
            values = {
                column: batch.column(column).to_numpy(zero_copy_only=False) for column in columns
            }
            edges = np.flatnonzero(np.diff(gb)) + 1
            starts = np.concatenate(([0], edges))
            stops = np.concatenate((edges, [n]))
            for a, b in zip(starts.tolist(), stops.tolist(), strict=True):
                m = int(gb[a])
                lo = int(fill[m])
                for column, out in columns.items():
                    out[lo : lo + b - a] = values[column][a:b]
                fill[m] += b - a
        return
    values = {column: table.column(column).to_numpy() for column in columns}
    order = np.argsort(g, kind="stable")
    sorted_g = g[order]
    first_of = np.searchsorted(sorted_g, sorted_g, side="left")
    dest = np.empty_like(order)
    dest[order] = fill[sorted_g] + (np.arange(order.size) - first_of)
    # Only this file's markets: other threads advance the others' slots concurrently.
    present = np.unique(g)
    fill[present] += np.bincount(g, minlength=n_markets)[present]
    for column, out in columns.items():
        out[dest] = values[column]
