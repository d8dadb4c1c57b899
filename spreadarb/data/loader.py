"""``spreadarb.load``: a dataset folder to contiguous per-market numpy arrays, with pushdown."""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple, Protocol, TypeVar

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from spreadarb._ahead import enabled as compile_ahead_enabled
from spreadarb.data.checks import MarketTail, Where, check_table, dtype_ok, is_string_type
from spreadarb.data.contract import (
    NS_PER_DAY,
    TABLES,
    TIMESTAMP_MAX_NS,
    TIMESTAMP_MIN_NS,
    Bound,
    Column,
    Kind,
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
from spreadarb.data.reader import (
    ColumnPiece,
    FileBatches,
    FileRead,
    read_batches,
    read_columns,
    read_file,
)
from spreadarb.data.screen import (
    market_runs_nb,
    pairs_differ_nb,
    scatter_floats_nb,
    scatter_ints_nb,
    screen_order_nb,
)
from spreadarb.venues import EXCHANGE_PATTERN, SYMBOL_PATTERN

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
    if compile_ahead_enabled():
        # Data is loaded to be backtested (or scanned): on a cold numba cache the engine
        # kernel starts compiling in a child process now, beside this load and the scan.
        from spreadarb.simulation import start_engine_compile

        start_engine_compile()

    # Two passes keep the peak memory near the size of the result: the first reads only the
    # symbols (and ts_local for a window) to size every market's arrays; the second reads,
    # screens and scatters one file at a time into them, then drops it.
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
    key_columns = ["symbol"] + (["ts_local"] if start_ns is not None or end_ns is not None else [])
    workers = max(1, min(2, os.cpu_count() or 1))
    every_file = [f for name in TABLES for f in files_of[name]]
    small_files = sum(map(_file_size, every_file)) < _SMALL_LOAD_BYTES

    def symbol_counts(f: PartitionFile) -> dict[str, int] | None:
        if small_files:
            return _symbol_counts_by_column(f, key_columns, start_ns, end_ns, symbol_set)
        got = read_file(
            f,
            columns=key_columns,
            start_ns=start_ns,
            end_ns=end_ns,
            symbols=symbol_set,
            use_threads=False,
        )
        # A file whose keys cannot be read is reported by the full read below.
        return _symbol_counts(got.table) if isinstance(got, FileRead) else None

    counted = _map(symbol_counts, every_file, 1 if small_files else workers)
    keys_of: dict[str, list[dict[str, int] | None]] = {}
    at = 0
    for name in TABLES:
        keys_of[name] = counted[at : at + len(files_of[name])]
        at += len(files_of[name])

    # A market is (partition exchange, symbol): a row whose exchange column disagrees with
    # its partition breaks the contract, and the checks below fail the load for it.
    present = sorted(
        {
            (f.exchange, symbol)
            for name in TABLES
            for f, piece in zip(files_of[name], keys_of[name], strict=True)
            if piece is not None
            for symbol, count in piece.items()
            if count
        }
    )
    exchanges = tuple(sorted({e for e, _ in present}))
    symbols = tuple(sorted({s for _, s in present}))
    market_of = {key: m for m, key in enumerate(present)}
    n_markets = len(present)
    # The markets of one exchange are consecutive (markets sort by exchange first).
    markets_of_exchange: dict[str, tuple[int, int]] = {}
    for m, (e, _) in enumerate(present):
        lo, _hi = markets_of_exchange.get(e, (m, m))
        markets_of_exchange[e] = (lo, m + 1)

    stats = {
        "files_listed": sum(len(f) for f in files_of.values()),
        "files_read": 0,
        "row_groups_total": 0,
        "row_groups_read": 0,
        "bytes_read": 0,
        "rows_read": 0,
    }
    outputs: dict[str, _Output] = {}
    jobs: list[tuple[int, _Group]] = []
    for name, spec in TABLES.items():
        counts = np.zeros(n_markets, dtype=np.int64)
        for f, piece in zip(files_of[name], keys_of[name], strict=True):
            for symbol, count in (piece or {}).items():
                counts[market_of[(f.exchange, symbol)]] += count
        offsets = np.zeros(n_markets + 1, dtype=np.int64)
        np.cumsum(counts, out=offsets[1:])
        output = _Output(
            spec=spec,
            columns={
                c.name: np.empty(int(offsets[-1]), dtype=c.kind.numpy_dtype)
                for c in spec.columns
                if c.name in numeric_columns(name)
            },
            offsets=offsets,
            fill=offsets[:-1].copy(),
        )
        outputs[name] = output
        by_exchange: dict[str, list[tuple[int, PartitionFile, bool]]] = {}
        for i, (f, piece) in enumerate(zip(files_of[name], keys_of[name], strict=True)):
            by_exchange.setdefault(f.exchange, []).append((i, f, piece is not None))
        for exchange, members in by_exchange.items():
            m_lo, m_hi = markets_of_exchange.get(exchange, (0, 0))
            size = int(offsets[m_hi] - offsets[m_lo])
            jobs.append((size, _Group(output, exchange, m_lo, m_hi, members)))
    total_rows = sum(int(o.offsets[-1]) for o in outputs.values())
    small = total_rows < _SMALL_LOAD_ROWS
    if small:
        # A second worker would save milliseconds and double the decoded rows in memory,
        # which for a small load is as large as the result itself; so would a decoded row
        # group, hence one column at a time.
        workers = 1
    # Files are decoded in parallel by the workers; Arrow's own threads only help when a
    # single group is left to read.
    window = _Window(
        start_ns,
        end_ns,
        symbol_set,
        market_of,
        use_threads=len(jobs) < workers,
        by_column=small,
        # A row group decoded whole is then at most 1/16 of the result.
        whole_group_rows=max(_WHOLE_GROUP_ROWS_MIN, total_rows // 16),
    )
    # Largest groups first, so that the two workers finish together.
    jobs.sort(key=lambda job: -job[0])
    results = _map(lambda job: _load_group(job[1], window), jobs, workers)

    touched: list[tuple[int, int, str]] = []
    found_of: dict[str, list[tuple[int, list[DataProblem]]]] = {name: [] for name in TABLES}
    order = {name: t for t, name in enumerate(TABLES)}
    for (_size, group), done in zip(jobs, results, strict=True):
        name = group.output.spec.name
        for i, read, found in done:
            found_of[name].append((i, found))
            if read is None:
                continue
            stats["row_groups_total"] += read.row_groups_total
            if read.row_groups_read == 0:
                continue
            stats["files_read"] += 1
            stats["row_groups_read"] += read.row_groups_read
            stats["bytes_read"] += read.bytes_read
            stats["rows_read"] += read.rows
            touched.append((order[name], i, files_of[name][i].relative))
    tables: dict[str, MarketTable] = {}
    for name in TABLES:
        for _i, found in sorted(found_of[name], key=lambda r: r[0]):
            problems.extend(found)
    if problems:
        raise DataError(problems, context=f"dataset {str(root)!r}")
    for name, output in outputs.items():
        if not np.array_equal(output.fill, output.offsets[1:]):
            raise RuntimeError(f"{name}: a file changed while the dataset was being loaded")
        tables[name] = MarketTable(name=name, columns=output.columns, offsets=output.offsets)
    # Arrow's allocator keeps freed pages; hand them back now the files are consumed.
    pa.default_memory_pool().release_unused()

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
        read_stats=ReadStats(**stats, files=tuple(f for _t, _i, f in sorted(touched))),
    )


def _file_size(f: PartitionFile) -> int:
    """Bytes of ``f`` on disk; 0 if it cannot be read (the read reports it)."""
    try:
        return f.path.stat().st_size
    except OSError:
        return 0


_T = TypeVar("_T")
_R = TypeVar("_R")


def _map(fn: Callable[[_T], _R], items: list[_T], workers: int) -> list[_R]:
    """``[fn(x) for x in items]``, in ``workers`` threads when there is more than one.

    One worker runs in the calling thread: a new thread costs a small load more memory
    than it saves time (each thread gets its own allocator arenas).
    """
    if workers <= 1 or len(items) <= 1:
        return [fn(x) for x in items]
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(fn, items))


def _symbol_counts_by_column(
    f: PartitionFile,
    key_columns: list[str],
    start_ns: int | None,
    end_ns: int | None,
    symbols: frozenset[str] | None,
) -> dict[str, int] | None:
    """:func:`_symbol_counts` of the file's rows in the window and the symbols, read one
    row group's ``symbol`` column at a time (:func:`read_columns`)."""
    got = read_columns(
        f,
        columns=key_columns,
        start_ns=start_ns,
        end_ns=end_ns,
        symbols=symbols,
    )
    if isinstance(got, DataProblem) or "symbol" not in got.schema.names:
        return None
    counts: dict[str, int] = {}
    try:
        for piece in got.batches:
            if not isinstance(piece, ColumnPiece):
                return None
            found = _symbol_counts(pa.table({"symbol": piece.column("symbol")}))
            if found is None:
                return None
            for symbol, count in found.items():
                counts[symbol] = counts.get(symbol, 0) + count
    except (OSError, pa.ArrowException):
        return None
    return counts


def _symbol_counts(table: pa.Table) -> dict[str, int] | None:
    """Rows per symbol of a file's (dictionary-encoded) ``symbol`` column.

    None when the column is missing, has nulls or is not a dictionary of strings: the
    contract check of the full read reports that file, and the load fails.
    """
    if "symbol" not in table.column_names:
        return None
    column = table.column("symbol")
    if column.null_count or not pa.types.is_dictionary(column.type):
        return None
    if not is_string_type(column.type.value_type):
        return None
    counts: dict[str, int] = {}
    for chunk in column.chunks:
        if not len(chunk):
            continue
        per_code = np.bincount(chunk.indices.to_numpy(), minlength=len(chunk.dictionary))
        for symbol, count in zip(chunk.dictionary.to_pylist(), per_code.tolist(), strict=True):
            if count:
                counts[symbol] = counts.get(symbol, 0) + count
    return counts


class _ReadCounts(NamedTuple):
    """What a file read adds to :class:`ReadStats` (its rows themselves are not kept)."""

    row_groups_total: int
    row_groups_read: int
    bytes_read: int
    rows: int


@dataclass(frozen=True)
class _Output:
    """One table's result arrays while they are being filled.

    ``fill`` is each market's next free row; workers advance it for their own markets only.
    """

    spec: TableSpec
    columns: dict[str, np.ndarray]
    offsets: np.ndarray
    fill: np.ndarray


@dataclass(frozen=True)
class _Group:
    """One exchange's files of one table: markets ``[m_lo, m_hi)``, no other group's.

    ``files`` holds (index in the table's file list, file, whether its keys were read).
    """

    output: _Output
    exchange: str
    m_lo: int
    m_hi: int
    files: list[tuple[int, PartitionFile, bool]]


@dataclass(frozen=True)
class _Window:
    """What a load request keeps, and the market number of every (exchange, symbol)."""

    start_ns: int | None
    end_ns: int | None
    symbols: frozenset[str] | None
    market_of: dict[tuple[str, str], int]
    use_threads: bool
    by_column: bool
    """Decode files one column of a row group at a time (:func:`read_columns`), not in
    batches of every column (:func:`read_batches`)."""
    whole_group_rows: int
    """With ``by_column``, row groups up to this many rows are decoded whole."""


_GroupResult = list[tuple[int, _ReadCounts | None, list[DataProblem]]]


def _load_group(group: _Group, window: _Window) -> _GroupResult:
    """Read, check and scatter a group's files in order.

    The fast path screens every row while scattering it (:mod:`spreadarb.data.screen`); if
    the screen flags anything, the group is read again through :func:`check_table`, which
    names the exact problems (and scatters the rows itself when there are none).
    """
    done = _load_group_screened(group, window)
    if done is None:
        done = _load_group_checked(group, window)
    return done


def _read(f: PartitionFile, spec: TableSpec, window: _Window) -> FileRead | DataProblem:
    return read_file(
        f,
        columns=spec.column_names,
        start_ns=window.start_ns,
        end_ns=window.end_ns,
        symbols=window.symbols,
        use_threads=window.use_threads,
    )


def _counts(got: FileRead) -> _ReadCounts:
    # Keep the counts, not the rows.
    return _ReadCounts(
        got.row_groups_total, got.row_groups_read, got.bytes_read, got.table.num_rows
    )


def _load_group_screened(group: _Group, window: _Window) -> _GroupResult | None:
    """The fast path: ``None`` as soon as a file is unreadable or flagged by the screen.

    Files are decoded batch by batch (or column by column for a small load) and each
    piece is scattered as it comes, so the memory above the result is a piece per
    worker, not a file.
    """
    out: _GroupResult = []
    for i, f, keyed in group.files:
        got = (
            read_columns(
                f,
                columns=group.output.spec.column_names,
                start_ns=window.start_ns,
                end_ns=window.end_ns,
                symbols=window.symbols,
                whole_group_rows=window.whole_group_rows,
            )
            if window.by_column
            else read_batches(
                f,
                columns=group.output.spec.column_names,
                start_ns=window.start_ns,
                end_ns=window.end_ns,
                symbols=window.symbols,
                use_threads=window.use_threads,
            )
        )
        if isinstance(got, DataProblem) or not keyed:
            return None
        try:
            rows = _screen_file(got, f, group, window)
        except (OSError, pa.ArrowException):
            return None  # damaged past its footer: the exact path reports it
        if rows is None:
            return None
        out.append(
            (i, _ReadCounts(got.row_groups_total, got.row_groups_read, got.bytes_read, rows), [])
        )
    return out


def _load_group_checked(group: _Group, window: _Window) -> _GroupResult:
    """The exact path: every file through :func:`check_table`; rows are scattered until the
    first problem (the load then fails, but every file is still checked)."""
    output = group.output
    # Start the group's markets over: the screened pass may have filled part of them.
    output.fill[group.m_lo : group.m_hi] = output.offsets[group.m_lo : group.m_hi]
    tails: dict[tuple[str, str], MarketTail] = {}
    out: _GroupResult = []
    failed = False
    for i, f, keyed in group.files:
        got = _read(f, output.spec, window)
        if isinstance(got, DataProblem):
            out.append((i, None, [got]))
            failed = True
            continue
        found: list[DataProblem] = []
        if got.row_groups_read:
            where = Where(
                file=f.relative, row_numbers=got.row_numbers, date=f.date, exchange=f.exchange
            )
            found = check_table(got.table, output.spec, where, tails)
        failed = failed or bool(found) or not keyed
        if not failed and got.row_groups_read and got.table.num_rows:
            _scatter(got.table, f.exchange, output, window.market_of)
        out.append((i, _counts(got), found))
    return out


def _scatter(
    table: pa.Table,
    exchange: str,
    output: _Output,
    market_of: dict[tuple[str, str], int],
    date: str | None = None,
) -> int:
    """Copy one file's rows to their market's next free rows, in file order.

    Every market keeps its stored row order; ``output.fill`` is advanced in place. The
    table must have every contract column with its contract dtype and no null key or
    integer. ``date``, the file's partition, makes the screen flag ``ts_local`` outside it.

    Returns
    -------
    int
        Rows flagged by the value screen (see :mod:`spreadarb.data.screen`).
    """
    return sum(
        _scatter_piece(batch, exchange, output, market_of, date)
        for batch in table.to_batches()
        if batch.num_rows
    )


class _Piece(Protocol):
    """Rows of a file whose columns can be had one by one: a ``pa.RecordBatch`` or a
    :class:`~spreadarb.data.reader.ColumnPiece`."""

    @property
    def num_rows(self) -> int: ...

    def column(self, name: str) -> pa.Array: ...


def _scatter_piece(
    piece: _Piece,
    exchange: str,
    output: _Output,
    market_of: dict[tuple[str, str], int],
    date: str | None = None,
) -> int:
    """:func:`_scatter` of one piece of a file, column by column.

    ``date``, the file's partition, makes the screen flag ``ts_local`` outside it. A null
    where the contract needs a value flags the piece's rows (nothing is scattered).
    """
    spec = output.spec
    n = piece.num_rows
    symbol = piece.column("symbol")
    if not pa.types.is_dictionary(symbol.type):
        symbol = pc.dictionary_encode(symbol)
    lookup = np.array(
        [market_of.get((exchange, s), -1) for s in symbol.dictionary.to_pylist()],
        dtype=np.int64,
    )
    runs = np.empty((n, 3), dtype=np.int64)
    codes = symbol.indices.to_numpy(zero_copy_only=False)
    n_runs = market_runs_nb(codes, lookup, output.fill, output.offsets[1:], runs)
    if n_runs < 0:
        raise RuntimeError(f"{spec.name}: a file of exchange={exchange} changed while being loaded")
    bad = 0
    for column in spec.columns:
        if column.kind is Kind.STRING:
            continue
        array = piece.column(column.name)
        if array.null_count and not column.nullable:
            return n
        values = array.to_numpy(zero_copy_only=False)
        out = output.columns[column.name]
        if column.kind is Kind.FLOAT:
            above, at_least = _FLOAT_BOUNDS[column.bound]
            bad += scatter_floats_nb(values, runs[:n_runs], out, above, at_least, column.nullable)
        else:
            low, high = _int_range(column)
            if column.name == "ts_local" and date is not None:
                day = int(np.datetime64(date, "D").astype(np.int64)) * NS_PER_DAY
                low, high = max(low, day), min(high, day + NS_PER_DAY - 1)
            bad += scatter_ints_nb(
                values, runs[:n_runs], out, low, high, column.kind is not Kind.SIDE
            )
    return bad


_FLOAT_BOUNDS = {
    Bound.ANY: (-np.inf, -np.inf),
    Bound.POSITIVE: (0.0, -np.inf),
    Bound.NON_NEGATIVE: (-np.inf, 0.0),
}
"""(above, at_least) of :func:`scatter_floats_nb` for each bound."""
_INT64 = np.iinfo(np.int64)


def _int_range(column: Column) -> tuple[int, int]:
    """Inclusive range the screen accepts for an integer column (before the partition)."""
    low, high = int(_INT64.min), int(_INT64.max)
    if column.kind is Kind.SIDE:
        return -1, 1
    if column.kind is Kind.TIMESTAMP:
        low, high = TIMESTAMP_MIN_NS, TIMESTAMP_MAX_NS - 1
    if column.bound is Bound.POSITIVE:
        low = max(low, 1)
    elif column.bound is Bound.NON_NEGATIVE:
        low = max(low, 0)
    return low, high


def _screen_file(got: FileBatches, f: PartitionFile, group: _Group, window: _Window) -> int | None:
    """Scatter one file's rows and screen them; the number of rows, or ``None`` when
    anything may break the contract.

    Column presence, dtypes, nulls and names are checked here on the schema and the
    dictionaries; values, order, crossed books and duplicates by the kernels of
    :mod:`spreadarb.data.screen`.
    """
    output = group.output
    spec = output.spec
    if spec.partition != "D" or not _schema_ok(got.schema, spec):
        return None
    m_lo, m_hi = group.m_lo, group.m_hi
    lo = output.fill[m_lo:m_hi].copy()
    rows = 0
    for piece in got.batches:
        if isinstance(piece, pa.Table) and not _schema_ok(piece.schema, spec):
            return None
        if piece.num_rows == 0:
            continue
        if not _names_ok(piece, spec, f.exchange):
            return None
        rows += piece.num_rows
        if isinstance(piece, pa.Table):
            flagged = _scatter(piece, f.exchange, output, window.market_of, f.date)
        else:
            flagged = _scatter_piece(piece, f.exchange, output, window.market_of, f.date)
        if flagged:
            return None
    if rows == 0:
        return 0
    columns = output.columns
    empty = np.empty(0, dtype=np.float64)
    book = spec.name == "tickers"
    pairs = np.empty((_PAIR_CAPACITY, 2), dtype=np.int64)
    bad, n_pairs = screen_order_nb(
        columns["ts_local"],
        columns["bid_px"] if book else empty,
        columns["ask_px"] if book else empty,
        output.offsets[m_lo:m_hi],
        lo,
        output.fill[m_lo:m_hi],
        pairs,
    )
    if bad:
        return None
    if n_pairs:
        # Rows sharing ts_local in a market are duplicates if every contract column agrees
        # (exchange and symbol do: same market).
        pairs = pairs[:n_pairs]
        differ = np.zeros(n_pairs, dtype=np.bool_)
        for values in columns.values():
            pairs_differ_nb(values, pairs, differ)
        if not differ.all():
            return None
    return rows


def _schema_ok(schema: pa.Schema, spec: TableSpec) -> bool:
    """Every contract column present with its dtype, names read as dictionaries."""
    for column in spec.columns:
        if column.name not in schema.names:
            return False
        kind = schema.field(column.name).type
        if not dtype_ok(column.kind, kind):
            return False
        if column.kind is Kind.STRING and not pa.types.is_dictionary(kind):
            return False
    return True


def _names_ok(piece: pa.Table | _Piece, spec: TableSpec, exchange: str) -> bool:
    """Canonical, non-null names and the partition's exchange (the other columns' nulls
    are screened as they are scattered)."""
    for column in spec.columns:
        if column.kind is Kind.STRING:
            col = piece.column(column.name)
            if col.null_count and not column.nullable:
                return False
            pattern = EXCHANGE_PATTERN if column.name == "exchange" else SYMBOL_PATTERN
            for chunk in col.chunks if isinstance(col, pa.ChunkedArray) else [col]:
                for value in chunk.dictionary.to_pylist():
                    if value is None or not pattern.match(value):
                        return False
                    if column.name == "exchange" and value != exchange:
                        return False
    return True


_PAIR_CAPACITY = 1 << 16
_SMALL_LOAD_ROWS = 1 << 20
"""Below this many rows in all, a load reads its files with one worker, column by column."""
_WHOLE_GROUP_ROWS_MIN = 1 << 13
"""A small load decodes row groups of up to this many rows whole, whatever its size."""
_SMALL_LOAD_BYTES = 16 << 20
"""Below this many bytes of Parquet files in all, a load counts their rows with one worker,
column by column."""
