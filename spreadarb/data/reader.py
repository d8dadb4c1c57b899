"""Reading one Parquet file of the dataset with projection and row-group pushdown."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from spreadarb.data.errors import DataProblem, ProblemKind
from spreadarb.data.layout import PartitionFile


@dataclass(frozen=True)
class FileRead:
    """Rows read from one file.

    ``row_numbers`` gives each row's number in the file (``None``: all rows, in order).
    """

    file: PartitionFile
    table: pa.Table
    row_numbers: np.ndarray | None
    row_groups_total: int
    row_groups_read: int
    bytes_read: int


def _overlaps(stats: object, low: object, high: object) -> bool:
    """Whether a row group's [min, max] may hold a value in [low, high] (unknown: yes)."""
    if stats is None or not getattr(stats, "has_min_max", False):
        return True
    try:
        return not (stats.max < low or stats.min > high)  # type: ignore[attr-defined]
    except TypeError:
        return True


def read_file(
    file: PartitionFile,
    *,
    columns: Sequence[str] | None = None,
    start_ns: int | None = None,
    end_ns: int | None = None,
    symbols: Collection[str] | None = None,
    use_threads: bool = True,
) -> FileRead | DataProblem:
    """Read the rows of ``file`` with ``start_ns <= ts_local < end_ns`` and symbol in ``symbols``.

    Row groups whose footer statistics exclude the window or the symbols are not
    read; ``columns`` limits the columns read (those absent from the file are
    simply not returned, so the contract check reports them). ``use_threads`` decodes
    columns in parallel (Arrow's thread pool); callers that already read several files in
    parallel turn it off. Returns a :class:`DataProblem` if the file cannot be read as
    Parquet.
    """
    try:
        pf = pq.ParquetFile(file.path)
        meta = pf.metadata
        names = pf.schema_arrow.names
        wanted = [c for c in columns if c in names] if columns is not None else list(names)
        index = {meta.schema.column(i).name: i for i in range(meta.num_columns)}
        selected: list[int] = []
        starts: list[int] = []
        offset = 0
        sym_lo = min(symbols) if symbols else None
        sym_hi = max(symbols) if symbols else None
        bytes_read = 0
        for g in range(meta.num_row_groups):
            rg = meta.row_group(g)
            keep = True
            if (start_ns is not None or end_ns is not None) and "ts_local" in index:
                stats = rg.column(index["ts_local"]).statistics
                low = start_ns if start_ns is not None else np.iinfo(np.int64).min
                high = end_ns - 1 if end_ns is not None else np.iinfo(np.int64).max
                keep = _overlaps(stats, low, high)
            if keep and symbols is not None and "symbol" in index:
                keep = _overlaps(rg.column(index["symbol"]).statistics, sym_lo, sym_hi)
            if keep:
                selected.append(g)
                starts.append(offset)
                bytes_read += sum(
                    rg.column(index[c]).total_compressed_size for c in wanted if c in index
                )
            offset += rg.num_rows
        read_dict = [c for c in ("exchange", "symbol") if c in wanted]
        if read_dict:
            # The footer is parsed once; reading the names as dictionaries skips making a
            # string per row.
            pf = pq.ParquetFile(file.path, read_dictionary=read_dict, metadata=meta)
        table = (
            pf.read_row_groups(selected, columns=wanted, use_threads=use_threads)
            if selected
            else (pf.schema_arrow.empty_table().select(wanted))
        )
    except (OSError, pa.ArrowException) as exc:
        return DataProblem(
            kind=ProblemKind.UNREADABLE_FILE,
            table=file.table,
            file=file.relative,
            message=f"cannot read as Parquet: {exc}",
        )

    filtered = start_ns is not None or end_ns is not None or symbols is not None
    row_numbers = None
    if selected != list(range(meta.num_row_groups)) or filtered:
        row_numbers = (
            np.concatenate(
                [
                    np.arange(s, s + meta.row_group(g).num_rows, dtype=np.int64)
                    for g, s in zip(selected, starts, strict=True)
                ]
            )
            if selected
            else np.empty(0, dtype=np.int64)
        )
    if filtered and table.num_rows:
        mask = np.ones(table.num_rows, dtype=bool)
        if "ts_local" in table.column_names and pa.types.is_integer(
            table.schema.field("ts_local").type
        ):
            # A null ts_local is kept so that the contract check reports it.
            ts = table.column("ts_local")
            if start_ns is not None:
                mask &= (
                    pc.greater_equal(ts, start_ns).fill_null(True).to_numpy(zero_copy_only=False)
                )
            if end_ns is not None:
                mask &= pc.less(ts, end_ns).fill_null(True).to_numpy(zero_copy_only=False)
        if symbols is not None and "symbol" in table.column_names:
            symbol = table.column("symbol").cast(pa.string())
            wanted_symbol = pc.or_(
                pc.is_in(symbol, value_set=pa.array(sorted(symbols), pa.string())),
                pc.is_null(symbol),  # kept so that the contract check reports it
            )
            mask &= wanted_symbol.to_numpy(zero_copy_only=False)
        if not mask.all():
            keep_rows = np.flatnonzero(mask)
            table = table.take(pa.array(keep_rows))
            assert row_numbers is not None
            row_numbers = row_numbers[keep_rows]
    return FileRead(
        file=file,
        table=table,
        row_numbers=row_numbers,
        row_groups_total=meta.num_row_groups,
        row_groups_read=len(selected),
        bytes_read=bytes_read,
    )
