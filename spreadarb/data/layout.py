"""Finding the files of a dataset in its partition layout, in their canonical order."""

from __future__ import annotations

import os
import re
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path

from spreadarb.data.contract import ALL_TABLES, FUNDING, PARQUET_SUFFIX, TABLES
from spreadarb.data.errors import DataProblem, ProblemKind

_DATE_DIR = re.compile(r"^date=(\d{4}-\d{2}-\d{2})$")
_EXCHANGE_DIR = re.compile(r"^exchange=(.+)$")


@dataclass(frozen=True)
class PartitionFile:
    """One data file and the partition its path puts it in."""

    path: Path
    relative: str
    table: str
    date: str
    exchange: str


def list_files(
    root: Path,
    table: str,
    *,
    dates: Collection[str] | None = None,
    exchanges: Collection[str] | None = None,
) -> tuple[list[PartitionFile], list[DataProblem]]:
    """Files of ``table`` under ``root`` in canonical order, and layout problems met.

    Canonical order is (date, exchange, file name); a market's rows are the
    concatenation of its rows in this order. Partitions outside ``dates`` /
    ``exchanges`` are skipped without being opened (partition pruning). Hidden
    files (such as a writer's temporary file) are not data: they are reported as
    stray, never read.
    """
    base = root / table
    files: list[PartitionFile] = []
    problems: list[DataProblem] = []
    if not base.is_dir():
        return files, problems

    def stray(path: Path, why: str) -> None:
        problems.append(
            DataProblem(
                kind=ProblemKind.STRAY_FILE,
                table=table,
                file=str(path.relative_to(root)),
                message=why,
            )
        )

    for date_dir in sorted(base.iterdir()):
        m = _DATE_DIR.match(date_dir.name)
        if not date_dir.is_dir() or m is None:
            stray(date_dir, "not a date=YYYY-MM-DD partition folder")
            continue
        date = m.group(1)
        if dates is not None and date not in dates:
            continue
        for ex_dir in sorted(date_dir.iterdir()):
            me = _EXCHANGE_DIR.match(ex_dir.name)
            if not ex_dir.is_dir() or me is None:
                stray(ex_dir, "not an exchange=<venue> partition folder")
                continue
            exchange = me.group(1)
            if exchanges is not None and exchange not in exchanges:
                continue
            for path in sorted(ex_dir.iterdir()):
                if path.name.startswith("."):
                    stray(
                        path,
                        "hidden file (a leftover temporary file from an interrupted "
                        "write?); not data, never read",
                    )
                elif not path.is_file() or path.suffix != PARQUET_SUFFIX:
                    stray(path, f"not a {PARQUET_SUFFIX} file")
                else:
                    files.append(
                        PartitionFile(
                            path=path,
                            relative=str(path.relative_to(root)),
                            table=table,
                            date=date,
                            exchange=exchange,
                        )
                    )
    return files, problems


def dataset_root(path: str | os.PathLike[str]) -> Path:
    """``path`` as a dataset root; ``FileNotFoundError`` if it is not a folder."""
    root = Path(path)
    if not root.is_dir():
        raise FileNotFoundError(f"dataset folder {str(root)!r} does not exist")
    return root


def is_funding_only(root: Path) -> bool:
    """Whether ``root`` is a funding-only dataset: a ``funding/`` folder and no market table."""
    return (root / FUNDING.name).is_dir() and not any((root / t).is_dir() for t in TABLES)


def missing_table(root: Path, table: str) -> DataProblem | None:
    """The problem of a required table whose folder is absent, else ``None``.

    A funding-only dataset (see :func:`is_funding_only`) requires no market table.
    """
    if (root / table).is_dir() or not ALL_TABLES[table].required or is_funding_only(root):
        return None
    return DataProblem(
        kind=ProblemKind.MISSING_TABLE,
        table=table,
        message=f"required table folder {table}/ is missing",
    )


def root_problems(root: Path) -> list[DataProblem]:
    """Entries at the top of a dataset that are not contract tables."""
    return [
        DataProblem(
            kind=ProblemKind.STRAY_FILE,
            file=entry.name,
            message=f"not a contract table folder (expected one of {', '.join(ALL_TABLES)})",
        )
        for entry in sorted(root.iterdir())
        if entry.name not in ALL_TABLES
        and not entry.name.startswith(".")
        and entry.name not in ("README.md", "_SUCCESS")
    ]
