"""The contract round-trips: write_table -> files -> load, and the writer's guarantees."""

from __future__ import annotations

import numpy as np
import pandas as pd
import polars as pl
import pyarrow.parquet as pq
import pytest
from conftest import SECOND, T0, ticker_frame, trade_frame

import spreadarb
from spreadarb.data.contract import TABLES, Kind
from spreadarb.data.dataset import numeric_columns


def _expected_market(frame: pd.DataFrame, exchange: str, symbol: str) -> pd.DataFrame:
    sel = frame[(frame["exchange"] == exchange) & (frame["symbol"] == symbol)]
    return sel.reset_index(drop=True)


def test_round_trip_every_column_every_market(small_dataset):
    root, frames = small_dataset
    ds = spreadarb.load(root)
    assert ds.exchanges == ("binance", "okx")
    assert ds.symbols == ("BTC", "ETH")
    assert ds.markets() == [("binance", "BTC"), ("binance", "ETH"), ("okx", "BTC"), ("okx", "ETH")]
    for table, frame in frames.items():
        loaded = ds.table(table)
        assert len(loaded) == len(frame)
        for col in numeric_columns(table):
            assert loaded[col].dtype == TABLES[table].column(col).kind.numpy_dtype
            assert loaded[col].flags.c_contiguous
        for m, (ex, sym) in enumerate(ds.markets()):
            want = _expected_market(frame, ex, sym)
            rows = loaded.rows(m)
            for col in numeric_columns(table):
                np.testing.assert_array_equal(loaded[col][rows], want[col].to_numpy(), err_msg=col)


def test_market_view_is_a_view_of_contiguous_arrays(small_dataset):
    root, frames = small_dataset
    ds = spreadarb.load(root)
    view = ds.market("okx", "ETH")
    want = _expected_market(frames["trades"], "okx", "ETH")
    np.testing.assert_array_equal(view.trades["px"], want["px"].to_numpy())
    assert np.shares_memory(view.trades["px"], ds.trades["px"])
    with pytest.raises(KeyError, match="no market bybit/ETH"):
        ds.market("bybit", "ETH")


def test_files_follow_the_layout_and_hold_all_columns(small_dataset):
    root, _ = small_dataset
    files = sorted(root.glob("*/date=*/exchange=*/*.parquet"))
    assert {f.parts[-4] for f in files} == {"tickers", "trades"}
    assert {f.parts[-3] for f in files} == {"date=2024-08-08", "date=2024-08-09"}
    for f in files:
        table = pq.read_table(f)  # read alone, no partition discovery
        assert table.column_names[: len(TABLES[f.parts[-4]].columns)] == list(
            TABLES[f.parts[-4]].column_names
        )
        assert set(table.column("exchange").to_pylist()) == {f.parts[-2].split("=")[1]}
        days = np.unique(table.column("ts_local").to_numpy() // (86_400 * SECOND))
        assert [str(np.datetime64(int(d), "D")) for d in days] == [f.parts[-3].split("=")[1]]
        assert pq.ParquetFile(f).metadata.row_group(0).column(0).compression == "ZSTD"


def test_writer_accepts_polars_and_lossless_conversions(tmp_path):
    ts = T0 + np.arange(5) * SECOND
    frame = trade_frame(ts, "bybit", "SOL")
    converted = frame.assign(
        ts_local=pd.to_datetime(frame["ts_local"], unit="ns", utc=True),
        side=frame["side"].astype(np.int32),
        sz=frame["sz"].astype(np.float32),
        trade_id=np.arange(5),
    )
    spreadarb.write_table(tmp_path, "trades", pl.from_pandas(converted))
    spreadarb.write_table(tmp_path, "tickers", pl.from_pandas(ticker_frame(ts, "bybit", "SOL")))
    ds = spreadarb.load(tmp_path)
    np.testing.assert_array_equal(ds.trades["ts_local"], ts)
    assert ds.trades["side"].dtype == np.int8
    np.testing.assert_array_equal(
        ds.trades["sz"], frame["sz"].astype(np.float32).astype(np.float64)
    )
    (f,) = tmp_path.glob("trades/*/*/*.parquet")
    assert pq.read_table(f).column("trade_id").to_pylist() == list(range(5)), "extra column kept"


def test_writer_refuses_lossy_conversion_and_names_the_column(tmp_path):
    frame = trade_frame(T0 + np.arange(3) * SECOND, "bybit", "SOL")
    frame["ts_local"] = frame["ts_local"].astype(np.float64)
    with pytest.raises(spreadarb.DataError, match=r"'ts_local'.*cannot be converted") as info:
        spreadarb.write_table(tmp_path, "trades", frame)
    assert info.value.problems[0].kind is spreadarb.ProblemKind.WRONG_DTYPE
    assert not any(tmp_path.rglob("*")), "nothing is written when the frame is refused"


def test_writer_reports_every_problem_with_rows(tmp_path):
    frame = ticker_frame(T0 + np.arange(10) * SECOND, "okx", "BTC")
    frame.loc[2, "bid_px"] = np.nan
    frame.loc[4, "ask_px"] = frame.loc[4, "bid_px"] - 1
    frame.loc[6, "bid_sz"] = -3.0
    frame = frame.drop(columns=["mark_px"])
    with pytest.raises(spreadarb.DataError) as info:
        spreadarb.write_table(tmp_path, "tickers", frame)
    (problem,) = info.value.problems
    assert problem.kind is spreadarb.ProblemKind.MISSING_COLUMN and problem.column == "mark_px"
    frame["mark_px"] = 100.0
    with pytest.raises(spreadarb.DataError) as info:
        spreadarb.write_table(tmp_path, "tickers", frame)
    found = {(p.kind, p.column, p.rows) for p in info.value.problems}
    assert (spreadarb.ProblemKind.MISSING_VALUE, "bid_px", (2,)) in found
    assert (spreadarb.ProblemKind.CROSSED_BOOK, "bid_px", (4,)) in found
    assert (spreadarb.ProblemKind.NON_POSITIVE, "bid_sz", (6,)) in found
    assert "row 2" in str(info.value)


def test_rewriting_the_same_rows_is_idempotent_and_leaves_no_temp_files(tmp_path):
    ts = T0 + np.arange(50) * SECOND
    frame = trade_frame(ts, "gate", "ETH")
    spreadarb.write_table(tmp_path, "tickers", ticker_frame(ts, "gate", "ETH"))
    first = spreadarb.write_table(tmp_path, "trades", frame)
    second = spreadarb.write_table(tmp_path, "trades", frame)
    assert first == second
    assert [p.name for p in tmp_path.rglob(".*")] == []
    assert len(spreadarb.load(tmp_path).trades) == 50


def test_appending_batches_keeps_market_order(tmp_path):
    ts = T0 + np.arange(300) * SECOND
    frame = ticker_frame(ts, "bitget", "BTC")
    for lo in range(0, 300, 100):
        spreadarb.write_table(tmp_path, "tickers", frame.iloc[lo : lo + 100])
    spreadarb.write_table(tmp_path, "trades", trade_frame(ts, "bitget", "BTC"))
    ds = spreadarb.load(tmp_path)
    np.testing.assert_array_equal(ds.tickers["ts_local"], ts)
    np.testing.assert_array_equal(ds.tickers["bid_px"], frame["bid_px"].to_numpy())


def test_missing_values_in_nullable_columns_load_as_nan(tmp_path):
    frame = ticker_frame(T0 + np.arange(4) * SECOND, "paradex", "ETH")
    frame["mark_px"] = [np.nan, 1.0, None, 2.0]
    frame["open_interest_usd"] = np.nan
    spreadarb.write_table(tmp_path, "tickers", frame)
    spreadarb.write_table(tmp_path, "trades", trade_frame(T0 + np.arange(2), "paradex", "ETH"))
    ds = spreadarb.load(tmp_path)
    np.testing.assert_array_equal(ds.tickers["mark_px"], [np.nan, 1.0, np.nan, 2.0])
    assert np.isnan(ds.tickers["open_interest_usd"]).all()


def test_liquidations_table_is_optional_and_empty_when_absent(small_dataset):
    root, _ = small_dataset
    ds = spreadarb.load(root)
    assert len(ds.liquidations) == 0
    assert ds.liquidations.offsets.shape == (ds.n_markets + 1,)
    assert set(ds.liquidations.columns) == set(numeric_columns("liquidations"))


def test_every_contract_kind_has_one_numpy_dtype():
    for spec in TABLES.values():
        for column in spec.columns:
            assert column.kind in Kind
            assert column.kind.numpy_dtype is not None


def test_reprs_are_short_and_informative(small_dataset):
    root, _ = small_dataset
    ds = spreadarb.load(root, start="2024-08-08T23:00", exchanges="okx")
    text = repr(ds)
    assert (
        "2 markets" in text and "exchanges=['okx']" in text and "window=[2024-08-08T23:00" in text
    )
    assert len(text) < 400
    assert repr(ds.trades).startswith("MarketTable('trades', ")
