"""Reading the ``funding`` table: settled funding prints, for funding-only studies."""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import TYPE_CHECKING

import pyarrow as pa

from spreadarb.data.checks import MarketTail, Where, check_table
from spreadarb.data.contract import FUNDING
from spreadarb.data.errors import DataError, DataProblem, ProblemKind
from spreadarb.data.layout import dataset_root, list_files
from spreadarb.data.reader import read_file

if TYPE_CHECKING:
    import pandas as pd

EIGHT_HOURS_S = 28_800


def load_funding(
    path: str | os.PathLike[str],
    *,
    exchanges: str | Iterable[str] | None = None,
    symbols: str | Iterable[str] | None = None,
) -> pd.DataFrame:
    """Read the ``funding`` table of a dataset into a DataFrame, checked against the contract.

    Parameters
    ----------
    path
        Dataset root holding a ``funding/`` table (a funding-only dataset, or a
        market-data dataset with funding prints).
    exchanges, symbols
        Names to keep (one name or a collection); ``None`` keeps all.

    Returns
    -------
    pandas.DataFrame
        One row per print, markets in (exchange, symbol) order and each market's rows in
        stored (time) order: ``ts_local`` (int64 ns, the settlement time), ``time``
        (the same as a UTC datetime), ``exchange``, ``symbol``, ``funding_rate``
        (per interval), ``funding_interval_s`` and ``funding_rate_8h`` (``rate * 28800 /
        funding_interval_s``, SPEC §3).

    Raises
    ------
    FileNotFoundError
        If ``path`` is not a folder.
    DataError
        If the table is absent or a row breaks the contract (every problem listed).
    """
    import pandas as pd

    root = dataset_root(path)
    keep_ex = _names(exchanges)
    keep_sym = _names(symbols)
    files, problems = list_files(root, FUNDING.name, exchanges=keep_ex)
    if not (root / FUNDING.name).is_dir():
        problems.append(
            DataProblem(
                kind=ProblemKind.MISSING_TABLE,
                table=FUNDING.name,
                message="table folder funding/ is missing",
            )
        )
    tails: dict[tuple[str, str], MarketTail] = {}
    pieces: list[pa.Table] = []
    for f in files:
        got = read_file(f, columns=FUNDING.column_names, symbols=keep_sym)
        if isinstance(got, DataProblem):
            problems.append(got)
            continue
        problems.extend(
            check_table(
                got.table,
                FUNDING,
                Where(
                    file=f.relative, row_numbers=got.row_numbers, date=f.date, exchange=f.exchange
                ),
                tails,
            )
        )
        pieces.append(got.table.select(list(FUNDING.column_names)))
    if problems:
        raise DataError(problems, context=f"funding table of {str(root)!r}")
    if pieces:
        frame = pa.concat_tables(pieces).to_pandas()
    else:
        frame = FUNDING.arrow_schema.empty_table().to_pandas()
    frame = frame.sort_values(["exchange", "symbol"], kind="stable").reset_index(drop=True)
    frame.insert(1, "time", pd.to_datetime(frame["ts_local"], unit="ns", utc=True))
    frame["funding_rate_8h"] = frame["funding_rate"] * EIGHT_HOURS_S / frame["funding_interval_s"]
    return frame


def _names(value: str | Iterable[str] | None) -> set[str] | None:
    if value is None:
        return None
    if isinstance(value, str):
        return {value}
    return set(value)
