"""``spreadarb.load``: a dataset folder to contiguous per-market numpy arrays, with pushdown."""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from spreadarb.data.checks import MarketTail, Where, check_table
from spreadarb.data.contract import NS_PER_DAY, TABLES, TIMESTAMP_MAX_NS, TIMESTAMP_MIN_NS
from spreadarb.data.dataset import Dataset, MarketTable, ReadStats, numeric_columns
from spreadarb.data.errors import DataError, DataProblem
from spreadarb.data.layout import dataset_root, is_funding_only, list_files, missing_table
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

    problems: list[DataProblem] = []
    reads: dict[str, list[FileRead]] = {}
    stats = {
        "files_listed": 0,
        "files_read": 0,
        "row_groups_total": 0,
        "row_groups_read": 0,
        "bytes_read": 0,
        "rows_read": 0,
    }
    touched: list[str] = []
    for name, spec in TABLES.items():
        if not (root / name).is_dir():
            problems.extend(p for p in [missing_table(root, name)] if p is not None)
            reads[name] = []
            continue
        files, layout_problems = list_files(root, name, dates=dates, exchanges=exchange_set)
        # Hidden files are a writer's temporaries, not data; validate() reports them.
        problems.extend(p for p in layout_problems if not Path(p.file or "").name.startswith("."))
        stats["files_listed"] += len(files)
        tails: dict[tuple[str, str], MarketTail] = {}
        reads[name] = []
        for f in files:
            got = read_file(
                f, columns=spec.column_names, start_ns=start_ns, end_ns=end_ns, symbols=symbol_set
            )
            if isinstance(got, DataProblem):
                problems.append(got)
                continue
            stats["row_groups_total"] += got.row_groups_total
            if got.row_groups_read == 0:
                continue
            stats["files_read"] += 1
            stats["row_groups_read"] += got.row_groups_read
            stats["bytes_read"] += got.bytes_read
            stats["rows_read"] += got.table.num_rows
            touched.append(f.relative)
            problems.extend(
                check_table(
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
            )
            if got.table.num_rows:
                reads[name].append(got)
    if problems:
        raise DataError(problems, context=f"dataset {str(root)!r}")
    return _assemble(root, reads, start_ns, end_ns, ReadStats(**stats, files=tuple(touched)))


def _market_keys(table: pa.Table) -> tuple[np.ndarray, list[tuple[str, str]]]:
    """Per-row local market code and the (exchange, symbol) of each code."""
    ex = pc.dictionary_encode(table.column("exchange").combine_chunks())
    sym = pc.dictionary_encode(table.column("symbol").combine_chunks())
    n_sym = len(sym.dictionary)
    codes = ex.indices.to_numpy().astype(np.int64) * n_sym + sym.indices.to_numpy()
    keys = [(e, s) for e in ex.dictionary.to_pylist() for s in sym.dictionary.to_pylist()]
    return codes, keys


def _assemble(
    root: Path,
    reads: dict[str, list[FileRead]],
    start_ns: int | None,
    end_ns: int | None,
    stats: ReadStats,
) -> Dataset:
    local: dict[str, list[tuple[np.ndarray, list[tuple[str, str]]]]] = {
        name: [_market_keys(r.table) for r in rs] for name, rs in reads.items()
    }
    present = sorted(
        {
            keys[int(c)]
            for pieces in local.values()
            for codes, keys in pieces
            for c in np.flatnonzero(np.bincount(codes, minlength=len(keys)))
        }
    )
    exchanges = tuple(sorted({e for e, _ in present}))
    symbols = tuple(sorted({s for _, s in present}))
    market_of = {key: m for m, key in enumerate(present)}
    n_markets = len(present)

    tables: dict[str, MarketTable] = {}
    for name, rs in reads.items():
        global_codes = []
        for codes, keys in local[name]:
            lookup = np.array([market_of.get(k, -1) for k in keys], dtype=np.int64)
            global_codes.append(lookup[codes])
        counts = np.zeros(n_markets, dtype=np.int64)
        for g in global_codes:
            counts += np.bincount(g, minlength=n_markets)
        offsets = np.zeros(n_markets + 1, dtype=np.int64)
        np.cumsum(counts, out=offsets[1:])
        columns = {
            c.name: np.empty(int(offsets[-1]), dtype=c.kind.numpy_dtype)
            for c in TABLES[name].columns
            if c.name in numeric_columns(name)
        }
        fill = offsets[:-1].copy()
        # Scatter each file's rows to their market's next free slots, in file order,
        # so every market keeps its stored row order and no intermediate copy is made.
        while rs:
            r = rs.pop(0)
            g = global_codes.pop(0)
            values = {column: r.table.column(column).to_numpy() for column in columns}
            del r
            if g.size == 0 or bool((g[1:] >= g[:-1]).all()):
                # The writer groups a file's rows by market: copy contiguous blocks.
                edges = np.flatnonzero(np.diff(g)) + 1
                starts = np.concatenate(([0], edges))
                stops = np.concatenate((edges, [g.size]))
                for a, b in zip(starts.tolist(), stops.tolist(), strict=True):
                    m = int(g[a])
                    lo = int(fill[m])
                    for column, out in columns.items():
                        out[lo : lo + b - a] = values[column][a:b]
                    fill[m] += b - a
                continue
            order = np.argsort(g, kind="stable")
            sorted_g = g[order]
            first_of = np.searchsorted(sorted_g, sorted_g, side="left")
            dest = np.empty_like(order)
            dest[order] = fill[sorted_g] + (np.arange(order.size) - first_of)
            fill += np.bincount(g, minlength=n_markets)
            for column, out in columns.items():
                out[dest] = values[column]
        tables[name] = MarketTable(name=name, columns=columns, offsets=offsets)

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
        read_stats=stats,
    )
