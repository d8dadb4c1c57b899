"""Contract checks on one Arrow table (a frame to write, or one Parquet file).

The writer and the validator call :func:`check_table` on every table, so a rule is
defined exactly once. The loader first screens rows with the kernels of
:mod:`spreadarb.data.screen` (which flag a superset of what this module reports) and
calls :func:`check_table` for the files of any exchange the screen flags, so the
problems it raises are always this module's. Checks are vectorised (numpy / Arrow
compute); only rows that share a ``ts_local`` within a market are compared row by row,
to find duplicates.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from spreadarb.data.contract import (
    TIMESTAMP_MAX_NS,
    TIMESTAMP_MIN_NS,
    Bound,
    Kind,
    TableSpec,
    guess_timestamp_unit,
    partition_days,
)
from spreadarb.data.errors import MAX_EXAMPLE_ROWS, DataProblem, ProblemKind
from spreadarb.venues import EXCHANGE_PATTERN, SYMBOL_PATTERN


@dataclass
class MarketTail:
    """Last rows of one market seen so far, to check order and duplicates across files."""

    ts_local: int
    file: str
    row: int
    rows_at_ts: set[tuple[object, ...]] = field(default_factory=set)


@dataclass
class Where:
    """Where a table came from, to name it in problems and check its partition.

    Attributes
    ----------
    file
        Path shown in problems (``None`` for an in-memory frame).
    row_numbers
        Row number in the source of each row of the table (``None``: 0..n-1).
    date, exchange
        Partition the rows must belong to (files only).
    """

    file: str | None = None
    row_numbers: np.ndarray | None = None
    date: str | None = None
    exchange: str | None = None

    def rows(self, positions: np.ndarray) -> np.ndarray:
        if self.row_numbers is None:
            return positions
        return self.row_numbers[positions]


def is_string_type(t: pa.DataType) -> bool:
    if pa.types.is_dictionary(t):
        return is_string_type(t.value_type)
    return bool(pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t))


def dtype_ok(kind: Kind, t: pa.DataType) -> bool:
    """Whether an Arrow type is exactly the contract's type for ``kind`` (strings: any encoding)."""
    if kind is Kind.STRING:
        return is_string_type(t)
    return bool(t == kind.arrow_type)


class _Collector:
    def __init__(self, spec: TableSpec, where: Where) -> None:
        self.spec = spec
        self.where = where
        self.problems: list[DataProblem] = []

    def add(
        self,
        kind: ProblemKind,
        message: str,
        *,
        column: str | None = None,
        positions: np.ndarray | None = None,
    ) -> None:
        rows: tuple[int, ...] = ()
        count = 0
        if positions is not None:
            count = int(positions.size)
            rows = tuple(int(r) for r in self.where.rows(positions[:MAX_EXAMPLE_ROWS]))
        self.problems.append(
            DataProblem(
                kind=kind,
                message=message,
                file=self.where.file,
                table=self.spec.name,
                column=column,
                rows=rows,
                count=count,
            )
        )


def _as_numpy(col: pa.ChunkedArray | pa.Array) -> np.ndarray:
    """Contract numeric column to numpy, nulls as NaN (floats) or 0 (ints, checked separately)."""
    if isinstance(col, pa.ChunkedArray):
        col = col.combine_chunks()
    if pa.types.is_floating(col.type):
        return np.asarray(col.to_numpy(zero_copy_only=False), dtype=np.float64)
    if col.null_count:
        col = col.fill_null(0)
    return np.asarray(col.to_numpy(zero_copy_only=False))


def _string_codes(col: pa.ChunkedArray | pa.Array) -> tuple[np.ndarray, list[str | None]]:
    """Integer code per row and the distinct values (null is a value of its own)."""
    encoded = pc.dictionary_encode(
        col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col
    )
    values = encoded.dictionary.to_pylist()
    codes = encoded.indices.to_numpy(zero_copy_only=False)
    if encoded.indices.null_count:
        codes = np.where(np.isnan(codes), len(values), codes).astype(np.int64)
        values.append(None)
    return np.asarray(codes, dtype=np.int64), values


def check_table(
    table: pa.Table,
    spec: TableSpec,
    where: Where,
    tails: dict[tuple[str, str], MarketTail] | None = None,
) -> list[DataProblem]:
    """Check one Arrow table against ``spec``; return every problem found.

    Parameters
    ----------
    table
        Rows of one file, or one frame, in their stored order.
    spec
        Contract table the rows claim to be.
    where
        Source of the rows, used to name rows and files and to check partitions.
    tails
        State carried across the files of one dataset, keyed by (exchange,
        symbol): extends the order and duplicate checks over file boundaries.
        Updated in place. ``None`` checks the table on its own.
    """
    out = _Collector(spec, where)
    present = set(table.column_names)
    usable: dict[str, pa.ChunkedArray] = {}
    for column in spec.columns:
        if column.name not in present:
            out.add(
                ProblemKind.MISSING_COLUMN,
                f"missing contract column {column.name!r}",
                column=column.name,
            )
            continue
        arrow_type = table.schema.field(column.name).type
        if not dtype_ok(column.kind, arrow_type):
            out.add(
                ProblemKind.WRONG_DTYPE,
                f"dtype is {arrow_type}, the contract requires {column.kind.arrow_type} "
                f"({column.kind.value}, {column.unit})",
                column=column.name,
            )
            continue
        usable[column.name] = table.column(column.name)

    n = table.num_rows
    numeric: dict[str, np.ndarray] = {}
    for name, col in usable.items():
        column = spec.column(name)
        null_mask = None
        if col.null_count or (column.kind is Kind.FLOAT):
            null_mask = pc.is_null(col, nan_is_null=True).to_numpy(zero_copy_only=False)
            if not null_mask.any():
                null_mask = None
        if null_mask is not None and not column.nullable:
            out.add(
                ProblemKind.MISSING_VALUE,
                "null or NaN in a column that must have a value",
                column=name,
                positions=np.flatnonzero(null_mask),
            )
        if column.kind is Kind.STRING:
            continue
        values = _as_numpy(col)
        numeric[name] = values
        if column.kind is Kind.FLOAT:
            inf = np.isinf(values)
            if inf.any():
                out.add(
                    ProblemKind.NON_FINITE,
                    "infinite value",
                    column=name,
                    positions=np.flatnonzero(inf),
                )
        valid = ~null_mask if null_mask is not None else None
        _check_bound(
            out,
            name,
            column.bound,
            values,
            valid,
            "funding interval must be positive" if name == "funding_interval_s" else None,
        )
        if column.kind is Kind.TIMESTAMP:
            _check_timestamp_unit(out, name, values, valid)
        if column.kind is Kind.SIDE:
            bad = (values != 1) & (values != -1)
            if valid is not None:
                bad &= valid
            if bad.any():
                out.add(
                    ProblemKind.BAD_SIDE,
                    "side must be +1 (buy) or -1 (sell)",
                    column=name,
                    positions=np.flatnonzero(bad),
                )

    if "bid_px" in numeric and "ask_px" in numeric:
        with np.errstate(invalid="ignore"):
            crossed = numeric["bid_px"] >= numeric["ask_px"]
        if crossed.any():
            out.add(
                ProblemKind.CROSSED_BOOK,
                "crossed book: bid_px >= ask_px",
                column="bid_px",
                positions=np.flatnonzero(crossed),
            )

    if n == 0 or "exchange" not in usable or "symbol" not in usable:
        return out.problems
    ex_codes, ex_values = _string_codes(usable["exchange"])
    sym_codes, sym_values = _string_codes(usable["symbol"])
    _check_names(out, "exchange", ex_codes, ex_values, EXCHANGE_PATTERN, "lower-case venue name")
    _check_names(
        out,
        "symbol",
        sym_codes,
        sym_values,
        SYMBOL_PATTERN,
        "canonical upper-case base asset such as BTC",
    )
    if where.exchange is not None:
        wrong = np.flatnonzero(
            ex_codes != (ex_values.index(where.exchange) if where.exchange in ex_values else -1)
        )
        if wrong.size:
            out.add(
                ProblemKind.PARTITION_MISMATCH,
                f"exchange differs from the file's partition exchange={where.exchange}",
                column="exchange",
                positions=wrong,
            )
    if "ts_local" not in numeric:
        return out.problems
    ts = numeric["ts_local"]
    if where.date is not None:
        day = np.datetime64(where.date, "D").astype(np.int64)
        wrong = np.flatnonzero(partition_days(ts, spec.partition) != day)
        if wrong.size:
            period = "UTC day" if spec.partition == "D" else "UTC year"
            out.add(
                ProblemKind.PARTITION_MISMATCH,
                f"ts_local falls outside the file's partition date={where.date} ({period})",
                column="ts_local",
                positions=wrong,
            )
    _check_market_order(out, table, ts, ex_codes, ex_values, sym_codes, sym_values, tails)
    return out.problems


def _check_bound(
    out: _Collector,
    name: str,
    bound: Bound,
    values: np.ndarray,
    valid: np.ndarray | None,
    message: str | None,
) -> None:
    if bound is Bound.ANY:
        return
    with np.errstate(invalid="ignore"):
        bad = values <= 0 if bound is Bound.POSITIVE else values < 0
    if valid is not None:
        bad &= valid
    if bad.any():
        kind = ProblemKind.NON_POSITIVE if bound is Bound.POSITIVE else ProblemKind.NEGATIVE
        text = message or ("value must be > 0" if bound is Bound.POSITIVE else "value must be >= 0")
        out.add(kind, text, column=name, positions=np.flatnonzero(bad))


def _check_timestamp_unit(
    out: _Collector, name: str, values: np.ndarray, valid: np.ndarray | None
) -> None:
    bad = (values < TIMESTAMP_MIN_NS) | (values >= TIMESTAMP_MAX_NS)
    if valid is not None:
        bad &= valid
    if bad.any():
        where = np.flatnonzero(bad)
        unit = guess_timestamp_unit(int(values[where[0]]))
        out.add(
            ProblemKind.TIMESTAMP_UNIT,
            f"timestamp outside 2000..2100 in nanoseconds; value {int(values[where[0]])} looks "
            f"like {unit}; the contract stores int64 nanoseconds since the epoch",
            column=name,
            positions=where,
        )


def _check_names(
    out: _Collector,
    column: str,
    codes: np.ndarray,
    values: list[str | None],
    pattern: object,
    wanted: str,
) -> None:
    for code, value in enumerate(values):
        if value is None:
            continue  # reported as a missing value
        if not pattern.match(value):  # type: ignore[attr-defined]
            out.add(
                ProblemKind.BAD_NAME,
                f"{value!r} is not a {wanted}",
                column=column,
                positions=np.flatnonzero(codes == code),
            )


def _check_market_order(
    out: _Collector,
    table: pa.Table,
    ts: np.ndarray,
    ex_codes: np.ndarray,
    ex_values: list[str | None],
    sym_codes: np.ndarray,
    sym_values: list[str | None],
    tails: dict[tuple[str, str], MarketTail] | None,
) -> None:
    """ts_local non-decreasing within each market; no duplicate rows within a market."""
    # Duplicates are judged on the contract columns only, the columns every reader loads.
    contract_names = [c for c in out.spec.column_names if c in table.column_names]
    market = ex_codes * (len(sym_values) + 1) + sym_codes
    if market.size == 0 or bool((market[1:] >= market[:-1]).all()):
        order = np.arange(market.size)  # already grouped by market (what the writer does)
    else:
        order = np.argsort(market, kind="stable")
    m_sorted = market[order]
    ts_sorted = ts[order]
    same_market = np.empty(order.size, dtype=bool)
    same_market[0] = False
    np.equal(m_sorted[1:], m_sorted[:-1], out=same_market[1:])
    prev_ts = np.empty_like(ts_sorted)
    prev_ts[0] = 0
    prev_ts[1:] = ts_sorted[:-1]
    backwards = same_market & (ts_sorted < prev_ts)
    if backwards.any():
        pos = np.sort(order[backwards])
        out.add(
            ProblemKind.TS_BACKWARDS,
            "ts_local goes backwards within a market (exchange, symbol); rows must be in "
            "the order the collector saw them",
            column="ts_local",
            positions=pos,
        )
    same_ts = same_market & (ts_sorted == prev_ts)
    if same_ts.any():
        involved = np.zeros(order.size, dtype=bool)
        involved[same_ts] = True
        involved[np.flatnonzero(same_ts) - 1] = True
        candidates = np.sort(order[involved])
        frame = table.select(contract_names).take(pa.array(candidates)).to_pandas()
        dup = frame.duplicated(keep="first").to_numpy()
        if dup.any():
            out.add(
                ProblemKind.DUPLICATE_ROWS,
                "row repeats an earlier row of the same market exactly (all contract columns)",
                positions=candidates[dup],
            )

    if tails is None:
        return
    # Market boundaries in the sorted order: first and last row of every market.
    starts = np.flatnonzero(~same_market)
    ends = np.append(starts[1:], order.size) - 1
    names = contract_names
    pending: list[tuple[tuple[str, str], int, int, np.ndarray]] = []
    for s, e in zip(starts, ends, strict=True):
        first, last = int(order[s]), int(order[e])
        ex = ex_values[int(ex_codes[first])]
        sym = sym_values[int(sym_codes[first])]
        if ex is None or sym is None:
            continue
        key = (ex, sym)
        tail = tails.get(key)
        first_ts = int(ts[first])
        if tail is not None:
            if first_ts < tail.ts_local:
                out.add(
                    ProblemKind.TS_BACKWARDS,
                    f"ts_local of market {ex}/{sym} goes backwards from the previous file "
                    f"({tail.file}, row {tail.row})",
                    column="ts_local",
                    positions=np.array([first]),
                )
            elif first_ts == tail.ts_local and tail.rows_at_ts:
                head = order[s : e + 1][ts_sorted[s : e + 1] == first_ts]
                rows = table.select(names).take(pa.array(head)).to_pylist()
                dups = [
                    int(i)
                    for i, r in zip(head, rows, strict=True)
                    if tuple(r[c] for c in names) in tail.rows_at_ts
                ]
                if dups:
                    out.add(
                        ProblemKind.DUPLICATE_ROWS,
                        f"row repeats a row of market {ex}/{sym} in the previous file "
                        f"({tail.file})",
                        positions=np.array(dups),
                    )
        last_ts = int(ts[last])
        # Rows sharing the market's last ts_local: the end of the sorted segment.
        k = e
        while k > s and ts_sorted[k - 1] == last_ts:
            k -= 1
        pending.append((key, last_ts, last, order[k : e + 1]))
    # One take for every market's last rows (a take per market costs more than the check).
    if not pending:
        return
    rows = table.select(names).take(pa.array(np.concatenate([p[3] for p in pending]))).to_pylist()
    at = 0
    for key, last_ts, last, idx in pending:
        chunk = rows[at : at + idx.size]
        at += idx.size
        tails[key] = MarketTail(
            ts_local=last_ts,
            file=out.where.file or "<frame>",
            row=int(out.where.rows(np.array([last]))[0]),
            rows_at_ts={tuple(r[c] for c in names) for r in chunk},
        )
