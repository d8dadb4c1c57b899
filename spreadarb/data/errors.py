"""Problems found in market data, and the error that carries them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum


class ProblemKind(StrEnum):
    """What is wrong; one value per rule of the data contract."""

    MISSING_TABLE = "missing_table"
    MISSING_COLUMN = "missing_column"
    WRONG_DTYPE = "wrong_dtype"
    MISSING_VALUE = "missing_value"  # null or NaN in a column that must have a value
    NON_FINITE = "non_finite"  # +/-inf
    NON_POSITIVE = "non_positive"  # price, size, interval <= 0
    NEGATIVE = "negative"  # depth, open interest < 0
    CROSSED_BOOK = "crossed_book"  # bid_px >= ask_px
    TS_BACKWARDS = "ts_backwards"  # ts_local decreases within a market
    DUPLICATE_ROWS = "duplicate_rows"
    TIMESTAMP_UNIT = "timestamp_unit"  # not nanoseconds (or absurd)
    BAD_SIDE = "bad_side"  # side not in {+1, -1}
    BAD_NAME = "bad_name"  # exchange / symbol not in canonical form
    PARTITION_MISMATCH = "partition_mismatch"  # row disagrees with its file's date/exchange
    UNREADABLE_FILE = "unreadable_file"
    STRAY_FILE = "stray_file"  # a file or folder outside the layout


MAX_EXAMPLE_ROWS = 10


@dataclass(frozen=True, kw_only=True)
class DataProblem:
    """One problem in a dataset or a frame.

    Attributes
    ----------
    kind
        Which contract rule is broken.
    message
        What is wrong, in words.
    file
        Path of the file (relative to the dataset root), or ``None`` for an
        in-memory frame or a dataset-level problem.
    table
        Contract table concerned, if any.
    column
        Column concerned, if any.
    rows
        Up to ``MAX_EXAMPLE_ROWS`` 0-based row numbers where the problem occurs:
        rows of ``file``, or rows of the frame that was passed in.
    count
        How many rows have the problem in total (0 when not row-specific).
    """

    kind: ProblemKind
    message: str
    file: str | None = None
    table: str | None = None
    column: str | None = None
    rows: tuple[int, ...] = ()
    count: int = 0

    def __str__(self) -> str:
        where = [self.file if self.file is not None else (self.table or "<frame>")]
        if self.column is not None:
            where.append(f"column {self.column!r}")
        if self.rows:
            shown = ", ".join(str(r) for r in self.rows)
            more = f" ({self.count} rows in all)" if self.count > len(self.rows) else ""
            label = "row" if len(self.rows) == 1 else "rows"
            where.append(f"{label} {shown}{more}")
        return f"{': '.join(where)}: [{self.kind.value}] {self.message}"


class DataError(ValueError):
    """Raised when data breaks the contract; ``problems`` lists every problem found."""

    def __init__(self, problems: Sequence[DataProblem], *, context: str = "data") -> None:
        self.problems: list[DataProblem] = list(problems)
        shown = "\n  ".join(str(p) for p in self.problems[:20])
        more = f"\n  ... and {len(self.problems) - 20} more" if len(self.problems) > 20 else ""
        super().__init__(
            f"{context} breaks the data contract ({len(self.problems)} problem"
            f"{'s' if len(self.problems) != 1 else ''}):\n  {shown}{more}"
        )
