"""load() keeps every row of valid data in order, and reads only what a request needs."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from conftest import SECOND, T0, ticker_frame, trade_frame
from hypothesis import given
from hypothesis import strategies as st

import spreadarb
from spreadarb.data import writer
from spreadarb.data.dataset import numeric_columns

EXCHANGES = ["binance", "okx", "hyperliquid"]
SYMBOLS = ["BTC", "ETH", "SOL"]
HOUR = 3600 * SECOND


@st.composite
def interleaved_rows(draw):
    """Rows of several markets, each market's ts_local non-decreasing, markets interleaved."""
    n = draw(st.integers(1, 60))
    market = draw(st.lists(st.integers(0, 8), min_size=n, max_size=n))
    steps = draw(st.lists(st.integers(0, 6 * HOUR), min_size=n, max_size=n))
    ex = np.array([EXCHANGES[m // 3] for m in market])
    sym = np.array([SYMBOLS[m % 3] for m in market])
    ts = np.empty(n, dtype=np.int64)
    last = {}
    for i, (m, step) in enumerate(zip(market, steps, strict=True)):
        # Repeated ts_local within a market is allowed (steps of 0).
        last[m] = last.get(m, T0) + (step if step % 3 else 0)
        ts[i] = last[m]
    batches = draw(st.integers(1, 3))
    return ts, ex, sym, batches


def _per_market(frame: pd.DataFrame) -> dict[tuple[str, str], pd.DataFrame]:
    return {key: g.reset_index(drop=True) for key, g in frame.groupby(["exchange", "symbol"])}


@given(interleaved_rows(), st.data())
def test_load_never_drops_or_reorders_rows(tmp_path_factory, rows, data):
    ts, ex, sym, batches = rows
    root = tmp_path_factory.mktemp("ds")
    tickers = ticker_frame(ts, ex, sym, seed=int(ts[0] % 1000))
    # Distinct rows even where ts_local repeats: otherwise they would be duplicates.
    tickers["bid_sz"] = np.arange(1, len(ts) + 1, dtype=np.float64)
    trades = trade_frame(ts, ex, sym)
    trades["sz"] = np.arange(1, len(ts) + 1, dtype=np.float64)
    cuts = sorted(
        data.draw(st.lists(st.integers(0, len(ts)), min_size=batches - 1, max_size=batches - 1))
    )
    # Writing in batches (as the exporter does) must not change what is loaded.
    for lo, hi in zip([0, *cuts], [*cuts, len(ts)], strict=True):
        if hi > lo:
            spreadarb.write_table(root, "tickers", tickers.iloc[lo:hi])
            spreadarb.write_table(root, "trades", trades.iloc[lo:hi])
    ds = spreadarb.load(root)
    for name, frame in (("tickers", tickers), ("trades", trades)):
        expected = _per_market(frame)
        table = ds.table(name)
        assert len(table) == len(frame)
        for m, key in enumerate(ds.markets()):
            rows_ = table.rows(m)
            for col in numeric_columns(name):
                np.testing.assert_array_equal(table[col][rows_], expected[key][col].to_numpy())

    # A window and a symbol filter keep exactly the matching rows, in order.
    start = data.draw(st.integers(T0, int(ts.max()) + 1))
    end = data.draw(st.integers(start + 1, int(ts.max()) + 2))
    symbol = data.draw(st.sampled_from(SYMBOLS))
    part = spreadarb.load(root, start=start, end=end, symbols=[symbol])
    keep = tickers[
        (tickers.ts_local >= start) & (tickers.ts_local < end) & (tickers.symbol == symbol)
    ]
    assert len(part.tickers) == len(keep)
    expected = _per_market(keep)
    for m, key in enumerate(part.markets()):
        np.testing.assert_array_equal(
            part.tickers["bid_sz"][part.tickers.rows(m)], expected[key]["bid_sz"].to_numpy()
        )


@pytest.fixture
def multi_day(tmp_path, monkeypatch):
    """2 days x 3 exchanges x 3 symbols at one ticker every 10 s, small row groups."""
    monkeypatch.setattr(writer, "ROW_GROUP_SIZE", 500)
    ts = T0 + np.arange(0, 48 * HOUR, 10 * SECOND)
    for ex in EXCHANGES:
        for sym in SYMBOLS:
            spreadarb.write_table(tmp_path, "tickers", ticker_frame(ts, ex, sym))
            spreadarb.write_table(tmp_path, "trades", trade_frame(ts + 1, ex, sym))
    return tmp_path, ts


def test_pushdown_reads_only_the_needed_files_and_row_groups(multi_day):
    root, _ts = multi_day
    full = spreadarb.load(root)
    start = pd.Timestamp("2024-08-09T10:00", tz="UTC")
    part = spreadarb.load(
        root, start=start, end=start + pd.Timedelta(hours=1), symbols="ETH", exchanges=["okx"]
    )
    stats = part.read_stats
    assert part.markets() == [("okx", "ETH")]
    assert len(part.tickers) == 360 and len(part.trades) == 360
    # Only the 2024-08-09 okx partition of each table is opened.
    assert all("date=2024-08-09/exchange=okx/" in f for f in stats.files)
    assert stats.files_listed == 2 * 3  # one file per symbol was written, per table
    # Footers rule out the BTC and SOL files; in the ETH files only the row groups
    # overlapping the hour are read.
    assert stats.files_read == 2
    assert stats.row_groups_read <= 2 * 2
    assert stats.row_groups_total > 10 * stats.row_groups_read
    assert stats.bytes_read * 50 < full.read_stats.bytes_read
    assert stats.rows_read < 2 * 1000


def test_open_ended_windows(multi_day):
    root, ts = multi_day
    cut = int(ts[100])
    before = spreadarb.load(root, end=cut, exchanges="binance", symbols="BTC")
    after = spreadarb.load(root, start=cut, exchanges="binance", symbols="BTC")
    assert len(before.tickers) == 100 and len(after.tickers) == len(ts) - 100
    assert after.tickers["ts_local"][0] == cut


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"start": 1_723_150_000_000}, "not an int64 nanosecond timestamp"),
        ({"start": "2024-08-09", "end": "2024-08-08"}, "must be after start"),
        ({"start": "not a time"}, "cannot read"),
        ({"symbols": []}, "symbols must be"),
    ],
)
def test_bad_requests_are_refused_clearly(small_dataset, kwargs, message):
    root, _ = small_dataset
    with pytest.raises(ValueError, match=message):
        spreadarb.load(root, **kwargs)


def test_missing_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        spreadarb.load(tmp_path / "absent")


def test_dataset_summary_first_and_last_times_are_each_markets_extremes():
    from pathlib import Path

    ds = spreadarb.load(Path(__file__).resolve().parents[1] / "data" / "sample")
    summary = ds.summary()
    ts = ds.tickers["ts_local"]
    for m in range(ds.n_markets):
        rows = ts[ds.tickers.rows(m)]
        assert summary["tickers"][m] == rows.size
        assert summary["first_ts_local"][m].value == rows.min()
        assert summary["last_ts_local"][m].value == rows.max()
