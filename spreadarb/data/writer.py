"""The one public writer of the data contract: validate a frame, write its partitions atomically."""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from spreadarb._io import atomic_write_bytes
from spreadarb.data.checks import Where, check_table, is_string_type
from spreadarb.data.contract import (
    PARQUET_COMPRESSION,
    PARQUET_SUFFIX,
    Kind,
    TableSpec,
    partition_days,
    partition_dir,
    table_spec,
)
from spreadarb.data.errors import DataError, DataProblem, ProblemKind

ROW_GROUP_SIZE = 65_536
"""Rows per Parquet row group: small enough that a one-hour, one-symbol read skips most of a day."""

CONTRACT_VERSION = "1"

_PART_NAME = re.compile(r"^part-(\d{6})-[0-9a-f]{16}$")


def to_arrow(frame: Any) -> pa.Table:
    """Turn a pandas or polars DataFrame (or an Arrow table) into an Arrow table, index dropped."""
    if isinstance(frame, pa.Table):
        return frame
    module = type(frame).__module__
    if module.startswith("polars"):
        return frame.to_arrow()
    if module.startswith("pandas"):
        return pa.Table.from_pandas(frame, preserve_index=False)
    raise TypeError(
        f"expected a pandas or polars DataFrame (or a pyarrow Table), got {type(frame).__name__}"
    )


def _coerce_column(col: pa.ChunkedArray, kind: Kind) -> pa.ChunkedArray | None:
    """Cast a column to its contract type when that loses nothing; ``None`` if it cannot.

    Accepted: any integer width for timestamps, seconds and side (range-checked by
    the cast); Arrow timestamps of any unit (UTC or naive) and durations for
    ``*_s``; integers and float32 for floats; every string encoding for strings.
    Floats are never accepted for timestamps: they round.
    """
    t = col.type
    try:
        if kind is Kind.STRING:
            return col.cast(pa.string()) if is_string_type(t) else None
        if kind is Kind.FLOAT:
            if pa.types.is_floating(t) or pa.types.is_integer(t):
                return col.cast(pa.float64())
            return None
        if kind is Kind.TIMESTAMP:
            if pa.types.is_timestamp(t):
                return col.cast(pa.timestamp("ns", tz=t.tz)).cast(pa.int64())
            return col.cast(pa.int64()) if pa.types.is_integer(t) else None
        if kind is Kind.SECONDS:
            if pa.types.is_duration(t):
                return col.cast(pa.duration("s")).cast(pa.int64())
            return col.cast(pa.int64()) if pa.types.is_integer(t) else None
        if kind is Kind.SIDE:
            return col.cast(pa.int8()) if pa.types.is_integer(t) else None
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None
    raise AssertionError(kind)


def conform(table: pa.Table, spec: TableSpec) -> tuple[pa.Table, list[DataProblem]]:
    """Contract columns first in canonical order and type, extra columns after, unchanged."""
    problems: list[DataProblem] = []
    arrays: list[pa.ChunkedArray] = []
    names: list[str] = []
    for column in spec.columns:
        if column.name not in table.column_names:
            problems.append(
                DataProblem(
                    kind=ProblemKind.MISSING_COLUMN,
                    table=spec.name,
                    column=column.name,
                    message=f"missing contract column {column.name!r}",
                )
            )
            continue
        original = table.column(column.name)
        cast = _coerce_column(original, column.kind)
        if cast is None:
            problems.append(
                DataProblem(
                    kind=ProblemKind.WRONG_DTYPE,
                    table=spec.name,
                    column=column.name,
                    message=f"dtype is {original.type} and cannot be converted without loss to "
                    f"{column.kind.arrow_type} ({column.kind.value}, {column.unit})",
                )
            )
            continue
        arrays.append(cast)
        names.append(column.name)
    for name in table.column_names:
        if name not in spec.column_names:
            arrays.append(table.column(name))
            names.append(name)
    return pa.table(arrays, names=names), problems


def write_table(
    root: str | os.PathLike[str], table: str, frame: Any, *, name: str | None = None
) -> list[Path]:
    """Validate ``frame`` against the contract and write it into the dataset at ``root``.

    Rows are split by partition (UTC day of ``ts_local``, ``exchange``); within a
    file they are grouped by symbol with their order kept, so each market's rows
    stay in the order given. Each file is written to a temporary name, fsynced and
    renamed, so a reader never sees half a file.

    Parameters
    ----------
    root
        Dataset root (created if needed).
    table
        ``"tickers"``, ``"trades"``, ``"liquidations"`` or ``"funding"`` (partitioned by
        UTC year instead of day, see :attr:`TableSpec.partition`).
    frame
        pandas or polars DataFrame (or pyarrow Table) with the contract's columns;
        extra columns are kept. Lossless conversions are applied (see docs/data.md).
    name
        File stem. Default: ``part-<sequence>-<content hash>``: the sequence number
        follows the partition's existing parts, so name order is write order (the
        order in which readers concatenate a market's rows), and the hash makes
        writing the same rows again a no-op. An explicit stem is used as given in
        every partition the frame spans; readers order files by name.

    Returns
    -------
    list of Path
        The files written, in partition order.

    Raises
    ------
    DataError
        If the frame breaks the contract; nothing is written then.
    """
    spec = table_spec(table)
    arrow, problems = conform(to_arrow(frame), spec)
    if not problems:
        problems = check_table(arrow, spec, Where())
    if problems:
        raise DataError(problems, context=f"frame for table {table!r}")
    if name is not None and (not name or "/" in name or name.startswith(".")):
        raise ValueError(f"invalid file name {name!r}: a non-empty stem without '/' or leading '.'")
    if arrow.num_rows == 0:
        return []

    root_path = Path(root)
    ts = arrow.column("ts_local").to_numpy()
    day = partition_days(ts, spec.partition)
    exchange = pc.dictionary_encode(arrow.column("exchange").combine_chunks())
    ex_codes = exchange.indices.to_numpy()
    ex_values = exchange.dictionary.to_pylist()
    written: list[Path] = []
    n_ex = max(len(ex_values), 1)
    part_key = day * n_ex + ex_codes.astype(np.int64)
    # One stable sort groups rows by partition; each group keeps its row order.
    order = np.argsort(part_key, kind="stable")
    keys, starts = np.unique(part_key[order], return_index=True)
    bounds = np.append(starts, order.size)
    for i, key in enumerate(keys):
        d, e = divmod(int(key), n_ex)
        rows = order[bounds[i] : bounds[i + 1]]
        part = arrow.take(pa.array(rows))
        part = part.take(_stable_symbol_order(part))
        date = str(np.datetime64(int(d), "D"))
        written.append(_write_file(root_path, spec, part, date, str(ex_values[int(e)]), name))
    return written


def _stable_symbol_order(part: pa.Table) -> pa.Array:
    """Row order grouping rows by symbol (alphabetical), keeping each symbol's order."""
    encoded = pc.dictionary_encode(part.column("symbol").combine_chunks())
    ranks = np.argsort(np.argsort(np.array(encoded.dictionary.to_pylist(), dtype=object)))
    codes = ranks[encoded.indices.to_numpy()]
    return pa.array(np.argsort(codes, kind="stable"))


def _write_file(
    root: Path, spec: TableSpec, part: pa.Table, date: str, exchange: str, name: str | None
) -> Path:
    metadata = {
        b"spreadarb.table": spec.name.encode(),
        b"spreadarb.contract": CONTRACT_VERSION.encode(),
    }
    part = part.replace_schema_metadata(metadata)
    sink = pa.BufferOutputStream()
    pq.write_table(
        part,
        sink,
        compression=PARQUET_COMPRESSION,
        row_group_size=ROW_GROUP_SIZE,
        write_statistics=True,
    )
    payload = sink.getvalue().to_pybytes()
    directory = partition_dir(root, spec.name, date, exchange)
    directory.mkdir(parents=True, exist_ok=True)
    if name is None:
        digest = hashlib.blake2b(payload, digest_size=8).hexdigest()
        existing = sorted(directory.glob(f"*{PARQUET_SUFFIX}"))
        for path in existing:
            if path.stem.endswith(f"-{digest}"):
                return path  # the same rows are already there: writing is idempotent
        sequence = max(
            (int(m.group(1)) for p in existing if (m := _PART_NAME.match(p.stem))), default=-1
        )
        name = f"part-{sequence + 1:06d}-{digest}"
    target = directory / f"{name}{PARQUET_SUFFIX}"
    atomic_write_bytes(target, payload)
    return target


def write_empty_table(root: str | os.PathLike[str], table: str, date: str, exchange: str) -> Path:
    """Write a file of ``table`` with no rows into the partition ``(date, exchange)``.

    For a producer that must leave a required table present but recorded nothing
    for it (the Redis exporter without trade streams). Written atomically.
    """
    spec = table_spec(table)
    return _write_file(Path(root), spec, spec.arrow_schema.empty_table(), date, exchange, None)
