"""Every validator problem, produced by a small crafted bad file, named with file/column/row."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import SECOND, T0, ticker_frame, trade_frame

import spreadarb
from spreadarb import ProblemKind
from spreadarb.cli import main

DATE = "2024-08-08"


def raw_write(
    root: Path,
    table: str,
    frame: pd.DataFrame | pa.Table,
    *,
    exchange: str = "okx",
    date: str = DATE,
    name: str = "bad",
    **write_options: object,
) -> str:
    """Write ``frame`` into the layout as is, bypassing write_table's checks
    (``write_options`` go to ``pq.write_table``)."""
    folder = root / table / f"date={date}" / f"exchange={exchange}"
    folder.mkdir(parents=True, exist_ok=True)
    arrow = (
        frame if isinstance(frame, pa.Table) else pa.Table.from_pandas(frame, preserve_index=False)
    )
    pq.write_table(arrow, folder / f"{name}.parquet", **write_options)  # type: ignore[arg-type]
    return f"{table}/date={date}/exchange={exchange}/{name}.parquet"


def good(n: int = 10) -> tuple[pd.DataFrame, pd.DataFrame]:
    ts = T0 + np.arange(n) * SECOND
    return ticker_frame(ts, "okx", "BTC"), trade_frame(ts, "okx", "BTC")


def dataset(
    root: Path,
    tickers: pd.DataFrame | pa.Table | None = None,
    trades: pd.DataFrame | pa.Table | None = None,
) -> dict[str, str]:
    t, r = good()
    return {
        "tickers": raw_write(root, "tickers", t if tickers is None else tickers),
        "trades": raw_write(root, "trades", r if trades is None else trades),
    }


def only(problems: list[spreadarb.DataProblem], kind: ProblemKind) -> spreadarb.DataProblem:
    matching = [p for p in problems if p.kind is kind]
    assert len(matching) == 1, problems
    return matching[0]


def test_valid_dataset_has_no_problems(tmp_path):
    dataset(tmp_path)
    assert spreadarb.validate(tmp_path) == []


def test_missing_table(tmp_path):
    t, _ = good()
    raw_write(tmp_path, "tickers", t)
    p = only(spreadarb.validate(tmp_path), ProblemKind.MISSING_TABLE)
    assert p.table == "trades" and "trades/" in p.message


def test_missing_column(tmp_path):
    t, _ = good()
    files = dataset(tmp_path, tickers=t.drop(columns=["ask_sz"]))
    p = only(spreadarb.validate(tmp_path), ProblemKind.MISSING_COLUMN)
    assert (p.file, p.column) == (files["tickers"], "ask_sz")


@pytest.mark.parametrize(
    ("column", "dtype"), [("ts_local", np.float64), ("side", np.int32), ("px", np.int64)]
)
def test_wrong_dtype(tmp_path, column, dtype):
    _, r = good()
    r[column] = r[column].astype(dtype)
    files = dataset(tmp_path, trades=r)
    p = only(spreadarb.validate(tmp_path), ProblemKind.WRONG_DTYPE)
    assert (p.file, p.column) == (files["trades"], column)


def test_missing_value_nan_and_null(tmp_path):
    t, _ = good()
    t.loc[3, "bid_px"] = np.nan
    arrow = pa.Table.from_pandas(t, preserve_index=False)
    sym = pa.array(["BTC"] * 5 + [None] + ["BTC"] * 4, pa.string())
    arrow = arrow.set_column(arrow.column_names.index("symbol"), "symbol", sym)
    files = dataset(tmp_path, tickers=arrow)
    problems = [p for p in spreadarb.validate(tmp_path) if p.kind is ProblemKind.MISSING_VALUE]
    assert {(p.file, p.column, p.rows) for p in problems} == {
        (files["tickers"], "bid_px", (3,)),
        (files["tickers"], "symbol", (5,)),
    }


def test_nullable_columns_accept_missing_but_never_inf(tmp_path):
    t, _ = good()
    t.loc[1, "mark_px"] = np.nan
    t.loc[2, "open_interest_usd"] = np.inf
    files = dataset(tmp_path, tickers=t)
    p = only(spreadarb.validate(tmp_path), ProblemKind.NON_FINITE)
    assert (p.file, p.column, p.rows) == (files["tickers"], "open_interest_usd", (2,))


def test_infinite_value(tmp_path):
    t, _ = good()
    t.loc[[4, 7], "ask_px"] = np.inf
    files = dataset(tmp_path, tickers=t)
    p = only(spreadarb.validate(tmp_path), ProblemKind.NON_FINITE)
    assert (p.file, p.column, p.rows, p.count) == (files["tickers"], "ask_px", (4, 7), 2)


@pytest.mark.parametrize(("column", "value"), [("px", 0.0), ("px", -1.0), ("sz", 0.0)])
def test_non_positive_price_or_size(tmp_path, column, value):
    _, r = good()
    r.loc[6, column] = value
    files = dataset(tmp_path, trades=r)
    p = only(spreadarb.validate(tmp_path), ProblemKind.NON_POSITIVE)
    assert (p.file, p.column, p.rows) == (files["trades"], column, (6,))


def test_negative_depth(tmp_path):
    t, _ = good()
    t.loc[0, "bid_depth_usd"] = -5.0
    files = dataset(tmp_path, tickers=t)
    p = only(spreadarb.validate(tmp_path), ProblemKind.NEGATIVE)
    assert (p.file, p.column, p.rows) == (files["tickers"], "bid_depth_usd", (0,))


@pytest.mark.parametrize("gap", [0.0, 0.5])
def test_crossed_book(tmp_path, gap):
    t, _ = good()
    t.loc[8, "bid_px"] = t.loc[8, "ask_px"] + gap
    files = dataset(tmp_path, tickers=t)
    p = only(spreadarb.validate(tmp_path), ProblemKind.CROSSED_BOOK)
    assert (p.file, p.rows) == (files["tickers"], (8,))


def test_ts_local_backwards_within_a_market(tmp_path):
    t, _ = good()
    t.loc[5, "ts_local"] = t.loc[2, "ts_local"]
    # Another market interleaved in the same file does not hide it or cause it.
    other = ticker_frame(T0 + np.arange(10) * SECOND, "okx", "ETH")
    mixed = pd.concat([t, other.iloc[::-1].assign(ts_local=other["ts_local"].to_numpy())])
    files = dataset(tmp_path, tickers=mixed.reset_index(drop=True))
    p = only(spreadarb.validate(tmp_path), ProblemKind.TS_BACKWARDS)
    assert (p.file, p.column, p.rows) == (files["tickers"], "ts_local", (5,))


def test_ts_local_backwards_across_files(tmp_path):
    t, r = good()
    dataset(tmp_path, tickers=t, trades=r)
    later = trade_frame(T0 + np.array([20, 3, 30]) * SECOND, "okx", "BTC")
    # A file named before another one in the same partition is read first.
    name = raw_write(tmp_path, "trades", later.iloc[1:2], name="later")
    p = only(spreadarb.validate(tmp_path), ProblemKind.TS_BACKWARDS)
    assert p.file == name and p.rows == (0,) and "bad.parquet" in p.message


def test_duplicate_rows_within_a_file(tmp_path):
    _, r = good()
    r = pd.concat([r.iloc[:5], r.iloc[[4]], r.iloc[5:]]).reset_index(drop=True)
    files = dataset(tmp_path, trades=r)
    p = only(spreadarb.validate(tmp_path), ProblemKind.DUPLICATE_ROWS)
    assert (p.file, p.rows) == (files["trades"], (5,))


def test_same_time_but_different_rows_are_not_duplicates(tmp_path):
    _, r = good()
    r.loc[5, "ts_local"] = r.loc[4, "ts_local"]
    dataset(tmp_path, trades=r)
    assert spreadarb.validate(tmp_path) == []


def test_duplicate_rows_across_files(tmp_path):
    _, r = good()
    dataset(tmp_path, trades=r)
    name = raw_write(tmp_path, "trades", r.iloc[[9]], name="zz")
    p = only(spreadarb.validate(tmp_path), ProblemKind.DUPLICATE_ROWS)
    assert (p.file, p.rows) == (name, (0,))


def test_funding_interval_not_positive(tmp_path):
    t, _ = good()
    t.loc[[1, 2], "funding_interval_s"] = [0, -28_800]
    files = dataset(tmp_path, tickers=t)
    p = only(spreadarb.validate(tmp_path), ProblemKind.NON_POSITIVE)
    assert (p.file, p.column, p.rows) == (files["tickers"], "funding_interval_s", (1, 2))
    assert "funding interval" in p.message


@pytest.mark.parametrize(
    ("scale", "unit"), [(10**6, "milliseconds"), (10**3, "microseconds"), (10**9, "seconds")]
)
def test_timestamps_in_the_wrong_unit(tmp_path, scale, unit):
    t, _ = good()
    t["next_funding_ts"] = t["next_funding_ts"] // scale
    files = dataset(tmp_path, tickers=t)
    p = only(spreadarb.validate(tmp_path), ProblemKind.TIMESTAMP_UNIT)
    assert (p.file, p.column, p.count) == (files["tickers"], "next_funding_ts", 10)
    assert unit in p.message


def test_bad_side(tmp_path):
    _, r = good()
    r.loc[2, "side"] = 0
    r.loc[3, "side"] = 2
    files = dataset(tmp_path, trades=r)
    p = only(spreadarb.validate(tmp_path), ProblemKind.BAD_SIDE)
    assert (p.file, p.rows) == (files["trades"], (2, 3))


def test_non_canonical_names(tmp_path):
    t, _ = good()
    t.loc[0:2, "symbol"] = "BTCUSDT"
    t["symbol"] = t["symbol"].where(t.index > 0, "btc")
    files = dataset(tmp_path, tickers=t)
    p = only(spreadarb.validate(tmp_path), ProblemKind.BAD_NAME)
    assert (p.file, p.column, p.rows) == (files["tickers"], "symbol", (0,))


def test_rows_outside_their_partition(tmp_path):
    t, r = good()
    r.loc[1, "exchange"] = "binance"
    r.loc[2, "ts_local"] = r.loc[2, "ts_local"] + 86_400 * SECOND  # next day
    r.loc[3:, "ts_local"] = r.loc[3:, "ts_local"] + 86_400 * SECOND
    files = dataset(tmp_path, tickers=t, trades=r)
    problems = [p for p in spreadarb.validate(tmp_path) if p.kind is ProblemKind.PARTITION_MISMATCH]
    assert {(p.file, p.column, p.rows[0]) for p in problems} == {
        (files["trades"], "exchange", 1),
        (files["trades"], "ts_local", 2),
    }


def test_unreadable_and_stray_files(tmp_path):
    dataset(tmp_path)
    folder = tmp_path / "trades" / f"date={DATE}" / "exchange=okx"
    (folder / "broken.parquet").write_bytes(b"PAR1 not really")
    (folder / "notes.csv").write_text("a,b\n")
    (folder / ".part.parquet.tmp").write_bytes(b"")
    (tmp_path / "trades" / "misc").mkdir()
    problems = spreadarb.validate(tmp_path)
    unreadable = only(problems, ProblemKind.UNREADABLE_FILE)
    assert unreadable.file.endswith("broken.parquet")
    stray = {Path(p.file).name for p in problems if p.kind is ProblemKind.STRAY_FILE}
    assert stray == {"notes.csv", ".part.parquet.tmp", "misc"}


def test_every_problem_is_reported_at_once(tmp_path):
    t, r = good()
    t.loc[1, "bid_px"] = -1.0
    t.loc[2, "funding_interval_s"] = 0
    r.loc[3, "side"] = 5
    r["ts_exchange"] = r["ts_exchange"] // 10**6
    dataset(tmp_path, tickers=t, trades=r)
    kinds = sorted(p.kind.value for p in spreadarb.validate(tmp_path))
    assert kinds == ["bad_side", "non_positive", "non_positive", "timestamp_unit"]


def test_load_runs_the_same_checks_and_raises_with_the_list(tmp_path):
    t, _ = good()
    t.loc[4, "ask_px"] = t.loc[4, "bid_px"]
    t.loc[5, "bid_sz"] = 0.0
    dataset(tmp_path, tickers=t)
    with pytest.raises(spreadarb.DataError) as info:
        spreadarb.load(tmp_path)
    assert sorted(p.kind.value for p in info.value.problems) == ["crossed_book", "non_positive"]
    assert {p.rows for p in info.value.problems} == {(4,), (5,)}
    # Row numbers stay those of the file when only part of it is read.
    with pytest.raises(spreadarb.DataError) as info:
        spreadarb.load(tmp_path, start=T0 + 3 * SECOND, end=T0 + 6 * SECOND)
    assert {p.rows for p in info.value.problems} == {(4,), (5,)}
    assert spreadarb.load(tmp_path, start=T0 + 6 * SECOND).n_markets == 1


def test_cli_validate_exit_codes(tmp_path, capsys):
    dataset(tmp_path)
    assert main(["validate", str(tmp_path)]) == 0
    assert "valid, no problems" in capsys.readouterr().out
    t, _ = good()
    t.loc[3, "bid_px"] = np.nan
    raw_write(tmp_path, "tickers", t)
    assert main(["validate", str(tmp_path)]) == 1
    out = capsys.readouterr()
    assert "tickers/date=2024-08-08/exchange=okx/bad.parquet: column 'bid_px': row 3" in out.out
    assert "1 problem" in out.err
    assert main(["validate", str(tmp_path / "nope")]) == 2
