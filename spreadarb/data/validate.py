"""``spreadarb.validate``: every contract problem of a dataset folder, at once."""

from __future__ import annotations

import os

from spreadarb.data.checks import MarketTail, Where, check_table
from spreadarb.data.contract import ALL_TABLES
from spreadarb.data.errors import DataProblem, ProblemKind
from spreadarb.data.layout import (
    dataset_root,
    is_funding_only,
    list_files,
    missing_table,
    root_problems,
)
from spreadarb.data.reader import read_file


def validate(path: str | os.PathLike[str]) -> list[DataProblem]:
    """Check a whole dataset folder against the data contract.

    Reads one file at a time (bounded memory), all columns, and reports every
    problem found, each naming its file, column and rows: missing tables or
    columns, wrong dtypes, missing or infinite values, non-positive prices and
    sizes, crossed books, ``ts_local`` going backwards within a market (also
    across files), duplicate rows, non-positive funding intervals, timestamps in
    the wrong unit, rows outside their file's partition, unreadable and stray
    files.

    Returns
    -------
    list of DataProblem
        Empty when the dataset is valid.

    Raises
    ------
    FileNotFoundError
        If ``path`` is not a folder.
    """
    root = dataset_root(path)
    problems = root_problems(root)
    for name, spec in ALL_TABLES.items():
        if not (root / name).is_dir():
            problems.extend(p for p in [missing_table(root, name)] if p is not None)
            continue
        files, layout_problems = list_files(root, name)
        problems.extend(layout_problems)
        if not files and (spec.required or is_funding_only(root)):
            problems.append(
                DataProblem(
                    kind=ProblemKind.MISSING_TABLE,
                    table=name,
                    message=f"table folder {name}/ holds no data files",
                )
            )
        tails: dict[tuple[str, str], MarketTail] = {}
        for f in files:
            got = read_file(f)
            if isinstance(got, DataProblem):
                problems.append(got)
                continue
            problems.extend(
                check_table(
                    got.table, spec, Where(file=f.relative, date=f.date, exchange=f.exchange), tails
                )
            )
    return problems
