"""Reading one Parquet file of the dataset with projection and row-group pushdown."""

from __future__ import annotations

from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as pads
import pyarrow.fs as pafs
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


@dataclass(frozen=True)
class _Plan:
    """An opened file and the row groups and columns a request reads from it."""

    path: Path
    pf: pq.ParquetFile
    meta: pq.FileMetaData
    wanted: list[str]
    selected: list[int]
    starts: list[int]
    bytes_read: int


def _plan(
    file: PartitionFile,
    columns: Sequence[str] | None,
    start_ns: int | None,
    end_ns: int | None,
    symbols: Collection[str] | None,
) -> _Plan:
    """Open ``file`` and choose its row groups from the footer statistics (Arrow errors
    propagate)."""
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
    return _Plan(file.path, pf, meta, wanted, selected, starts, bytes_read)


def _problem(file: PartitionFile, exc: Exception) -> DataProblem:
    return DataProblem(
        kind=ProblemKind.UNREADABLE_FILE,
        table=file.table,
        file=file.relative,
        message=f"cannot read as Parquet: {exc}",
    )


def _keep_mask(
    table: pa.Table,
    start_ns: int | None,
    end_ns: int | None,
    symbols: Collection[str] | None,
) -> np.ndarray | None:
    """Rows of ``table`` inside the window and the symbols (``None``: all of them).

    Rows whose ``ts_local`` or ``symbol`` is null are kept, so that the contract check
    reports them.
    """
    if start_ns is None and end_ns is None and symbols is None:
        return None
    mask = np.ones(table.num_rows, dtype=bool)
    if "ts_local" in table.column_names and pa.types.is_integer(
        table.schema.field("ts_local").type
    ):
        ts = table.column("ts_local")
        if start_ns is not None:
            mask &= pc.greater_equal(ts, start_ns).fill_null(True).to_numpy(zero_copy_only=False)
        if end_ns is not None:
            mask &= pc.less(ts, end_ns).fill_null(True).to_numpy(zero_copy_only=False)
    if symbols is not None and "symbol" in table.column_names:
        symbol = table.column("symbol").cast(pa.string())
        wanted_symbol = pc.or_(
            pc.is_in(symbol, value_set=pa.array(sorted(symbols), pa.string())),
            pc.is_null(symbol),
        )
        mask &= wanted_symbol.to_numpy(zero_copy_only=False)
    return None if mask.all() else mask


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
        plan = _plan(file, columns, start_ns, end_ns, symbols)
        meta, selected, starts = plan.meta, plan.selected, plan.starts
        table = (
            plan.pf.read_row_groups(selected, columns=plan.wanted, use_threads=use_threads)
            if selected
            else (plan.pf.schema_arrow.empty_table().select(plan.wanted))
        )
    except (OSError, pa.ArrowException) as exc:
        return _problem(file, exc)

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
    mask = _keep_mask(table, start_ns, end_ns, symbols) if table.num_rows else None
    if mask is not None:
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
        bytes_read=plan.bytes_read,
    )


@dataclass(frozen=True)
class FileBatches:
    """The rows of one file as they are decoded, batch by batch (see :func:`read_batches`).

    ``schema`` is the schema of the columns read; iterating ``batches`` decodes the file
    (and may raise an Arrow error if it is damaged past its footer).
    """

    file: PartitionFile
    schema: pa.Schema
    batches: Iterator[pa.Table] | Iterator[ColumnPiece]
    row_groups_total: int
    row_groups_read: int
    bytes_read: int


def _open(
    file: PartitionFile,
    columns: Sequence[str] | None,
    start_ns: int | None,
    end_ns: int | None,
    symbols: Collection[str] | None,
) -> _Plan | DataProblem:
    """:func:`_plan`, or the problem when ``file`` cannot be read as Parquet."""
    try:
        return _plan(file, columns, start_ns, end_ns, symbols)
    except (OSError, pa.ArrowException) as exc:
        return _problem(file, exc)


def _file_batches(
    file: PartitionFile, plan: _Plan, batches: Iterator[pa.Table] | Iterator[ColumnPiece]
) -> FileBatches:
    """The :class:`FileBatches` of ``plan``'s columns, decoded by ``batches``."""
    schema = plan.pf.schema_arrow
    return FileBatches(
        file=file,
        schema=pa.schema([schema.field(c) for c in plan.wanted]),
        batches=batches,
        row_groups_total=plan.meta.num_row_groups,
        row_groups_read=len(plan.selected),
        bytes_read=plan.bytes_read,
    )


def read_batches(
    file: PartitionFile,
    *,
    columns: Sequence[str] | None = None,
    start_ns: int | None = None,
    end_ns: int | None = None,
    symbols: Collection[str] | None = None,
    batch_rows: int = 1 << 16,
    use_threads: bool = True,
) -> FileBatches | DataProblem:
    """:func:`read_file`'s rows (same pushdown and filter), ``batch_rows`` at a time.

    Only one batch of decoded rows is held at a time, so a caller that consumes the rows
    as they come needs memory for a batch, not for the file. Row numbers are not
    tracked: a caller that reports rows reads the file with :func:`read_file`.
    """
    opened = _open(file, columns, start_ns, end_ns, symbols)
    if isinstance(opened, DataProblem):
        return opened
    plan = opened

    def batches() -> Iterator[pa.Table]:
        if not plan.selected:
            return
        for batch in plan.pf.iter_batches(
            batch_size=batch_rows,
            row_groups=plan.selected,
            columns=plan.wanted,
            use_threads=use_threads,
        ):
            table = pa.Table.from_batches([batch])
            mask = _keep_mask(table, start_ns, end_ns, symbols)
            yield table if mask is None else table.filter(pa.array(mask))

    return _file_batches(file, plan, batches())


class ColumnPiece:
    """One row group of a file whose columns are decoded one at a time, on request.

    ``num_rows`` is the number of rows kept (after the window and symbol filter);
    :meth:`column` decodes one column of the row group, filtered the same way. Only one
    column is held at a time, so a caller that consumes each column as it comes needs
    memory for a column of a row group, not for the whole row group: Arrow decodes a
    whole row group for even the smallest batch of :func:`read_batches`.

    A row group of at most ``whole_group_rows`` rows is decoded once, whole (one call
    in place of one per column). A larger one is decoded column by column through a dataset
    fragment, which takes a memory pool: the system allocator's, which hands a freed
    column back for the next one. Arrow's default pool (mimalloc) was measured to commit
    fresh pages for each column of a load, 2-3x the decoded bytes, before it purges them.
    """

    def __init__(
        self, plan: _Plan, group: int, keep: pa.Array | None, num_rows: int, whole_group_rows: int
    ):
        self._plan = plan
        self._whole_group_rows = whole_group_rows
        self._group = group
        self._keep = keep
        self._whole: pa.Table | None = None
        self._fragment: pads.ParquetFileFragment | None = None
        self.num_rows = num_rows

    def table(self, columns: Sequence[str]) -> pa.Table:
        """Columns ``columns`` of the row group, every row (Arrow errors propagate)."""
        plan, group = self._plan, self._group
        if plan.meta.row_group(group).num_rows <= self._whole_group_rows:
            if self._whole is None:
                self._whole = plan.pf.read_row_group(group, columns=plan.wanted, use_threads=False)
            return self._whole.select(list(columns))
        if self._fragment is None:
            read_dict = [c for c in ("exchange", "symbol") if c in plan.wanted]
            parquet = pads.ParquetFileFormat(
                read_options=pads.ParquetReadOptions(dictionary_columns=read_dict),
                # Pre-buffering reads the row group's bytes at once through Arrow's I/O
                # threads; a buffered stream reads a column's pages as they are decoded.
                default_fragment_scan_options=pads.ParquetFragmentScanOptions(
                    use_buffered_stream=True, buffer_size=_STREAM_BUFFER, pre_buffer=False
                ),
            )
            self._fragment = parquet.make_fragment(
                str(plan.path), filesystem=_LOCAL, row_groups=[group]
            )
        return self._fragment.to_table(
            columns=list(columns),
            batch_size=_WHOLE_ROW_GROUP,
            use_threads=False,
            memory_pool=_DECODE_POOL,
        )

    def column(self, name: str) -> pa.Array:
        """Column ``name`` of the kept rows, as one array (Arrow errors propagate)."""
        column = self.table([name]).column(0)
        if self._keep is not None:
            column = pc.filter(column, self._keep, memory_pool=_DECODE_POOL)
        # combine_chunks copies even a single chunk (into Arrow's default pool).
        if column.num_chunks == 1:
            return column.chunk(0)
        return column.combine_chunks(memory_pool=_DECODE_POOL)


_WHOLE_ROW_GROUP = (1 << 31) - 1
"""The largest batch size Arrow takes, more rows than a row group holds in practice: each
column of a row group is read as one array (one that is not is combined)."""
_STREAM_BUFFER = 1 << 16
"""Bytes read at a time by :class:`ColumnPiece`'s buffered stream."""
_DECODE_POOL = pa.system_memory_pool()
_LOCAL = pafs.LocalFileSystem()


def read_columns(
    file: PartitionFile,
    *,
    columns: Sequence[str] | None = None,
    start_ns: int | None = None,
    end_ns: int | None = None,
    symbols: Collection[str] | None = None,
    whole_group_rows: int = 1 << 13,
) -> FileBatches | DataProblem:
    """:func:`read_file`'s rows (same pushdown and filter) as :class:`ColumnPiece` s, one
    per row group read, in :attr:`FileBatches.batches`; row groups of at most
    ``whole_group_rows`` rows are decoded whole.

    The lowest-memory way to read a file (see :class:`ColumnPiece`), for small loads,
    where the decoded row group would be as large as the result; for large loads,
    :func:`read_batches` makes fewer calls.
    """
    opened = _open(file, columns, start_ns, end_ns, symbols)
    if isinstance(opened, DataProblem):
        return opened
    plan = opened
    keys = [c for c in ("ts_local", "symbol") if c in plan.wanted]
    filtered = start_ns is not None or end_ns is not None or symbols is not None

    def pieces() -> Iterator[ColumnPiece]:
        for g in plan.selected:
            piece = ColumnPiece(plan, g, None, plan.meta.row_group(g).num_rows, whole_group_rows)
            if filtered and piece.num_rows:
                mask = _keep_mask(piece.table(keys), start_ns, end_ns, symbols)
                if mask is not None:
                    kept = int(np.count_nonzero(mask))
                    piece = ColumnPiece(plan, g, pa.array(mask), kept, whole_group_rows)
            yield piece

    return _file_batches(file, plan, pieces())
