"""The loader's screen (spreadarb.data.screen) never lets a contract problem through.

``load`` screens rows while scattering them and only calls ``check_table`` for the
exchanges the screen flags; so on any dataset, ``load`` must fail with exactly the
problems ``validate`` reports for the tables it reads, or succeed when there are none.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from unittest import mock

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from conftest import SECOND, T0, ticker_frame, trade_frame
from hypothesis import given
from hypothesis import strategies as st
from test_validate import good, raw_write

import spreadarb
from spreadarb.data import loader
from spreadarb.data.screen import (
    MAX_EQUAL_RUN,
    market_runs_nb,
    pairs_differ_nb,
    scatter_floats_nb,
    scatter_ints_nb,
    screen_order_nb,
)


def _key(p: spreadarb.DataProblem) -> tuple[object, ...]:
    return (p.kind, p.file, p.table, p.column, p.rows, p.count, p.message)


@contextlib.contextmanager
def _read_path(path: str) -> Iterator[None]:
    """Loads read small datasets column by column in one thread ("by column"); large
    ones in row-group batches with two workers ("in batches"). Force one of them."""
    if path == "by column":
        yield
        return
    with (
        mock.patch.object(loader, "_SMALL_LOAD_ROWS", 0),
        mock.patch.object(loader, "_SMALL_LOAD_BYTES", 0),
    ):
        yield


READ_PATHS = ["by column", "in batches"]


@pytest.fixture(params=READ_PATHS)
def read_path(request: pytest.FixtureRequest) -> Iterator[None]:
    with _read_path(request.param):
        yield


def _load_problems(root) -> list[tuple[object, ...]] | None:
    try:
        spreadarb.load(root)
    except spreadarb.DataError as exc:
        return sorted(map(_key, exc.problems), key=repr)
    return None


def _agree(root) -> None:
    """load fails with validate's problems (market tables only), or loads valid data."""
    expected = sorted((_key(p) for p in spreadarb.validate(root) if p.table != "funding"), key=repr)
    got = _load_problems(root)
    assert got == (expected or None)


def _set(column: str, rows: list[int], value: object) -> Callable[[pd.DataFrame], pd.DataFrame]:
    def change(frame: pd.DataFrame) -> pd.DataFrame:
        frame = frame.copy()
        frame.loc[rows, column] = value
        return frame

    return change


def _dup(frame: pd.DataFrame) -> pd.DataFrame:
    return pd.concat([frame.iloc[:5], frame.iloc[[4]], frame.iloc[5:]]).reset_index(drop=True)


def _same_ts(frame: pd.DataFrame) -> pd.DataFrame:
    frame = frame.copy()
    frame.loc[5, "ts_local"] = frame.loc[4, "ts_local"]
    return frame


def _crossed(frame: pd.DataFrame) -> pd.DataFrame:
    frame = frame.copy()
    frame.loc[8, "bid_px"] = frame.loc[8, "ask_px"]
    return frame


def _unit(frame: pd.DataFrame) -> pd.DataFrame:
    frame = frame.copy()
    frame["ts_exchange"] = frame["ts_exchange"] // 10**6
    return frame


TICKER_CHANGES = {
    "nan price": _set("bid_px", [3], np.nan),
    "nan in a nullable column": _set("mark_px", [1], np.nan),
    "inf in a nullable column": _set("open_interest_usd", [2], np.inf),
    "-inf": _set("ask_sz", [2], -np.inf),
    "zero size": _set("bid_sz", [0], 0.0),
    "negative depth": _set("ask_depth_usd", [9], -1.0),
    "negative zero depth": _set("ask_depth_usd", [9], -0.0),
    "zero interval": _set("funding_interval_s", [1], 0),
    "next funding in ms": _set("next_funding_ts", [2], T0 // 10**6),
    "crossed": _crossed,
    "backwards": _set("ts_local", [6], T0),
    "next day": _set("ts_local", [9], T0 + 86_400 * SECOND),
    "previous day": _set("ts_local", [0], T0 - 86_400 * SECOND),
    "same ts, different rows": _same_ts,
    "duplicate": _dup,
    "bad symbol": _set("symbol", [0], "btc"),
    "other exchange": _set("exchange", [3], "binance"),
    "bad exchange name": _set("exchange", [3], "OKX"),
    "ts in seconds": _set("ts_local", [4], T0 // 10**9),
}
TRADE_CHANGES = {
    "zero side": _set("side", [2], 0),
    "side 2": _set("side", [2], 2),
    "zero price": _set("px", [6], 0.0),
    "ts_exchange in ms": _unit,
    "duplicate": _dup,
    "nan size": _set("sz", [1], np.nan),
}


@pytest.mark.parametrize("change", TICKER_CHANGES.values(), ids=TICKER_CHANGES.keys())
def test_load_reports_what_validate_reports_tickers(read_path, tmp_path, change):
    t, r = good()
    raw_write(tmp_path, "tickers", change(t))
    raw_write(tmp_path, "trades", r)
    _agree(tmp_path)


@pytest.mark.parametrize("change", TRADE_CHANGES.values(), ids=TRADE_CHANGES.keys())
def test_load_reports_what_validate_reports_trades(read_path, tmp_path, change):
    t, r = good()
    raw_write(tmp_path, "tickers", t)
    raw_write(tmp_path, "trades", change(r))
    _agree(tmp_path)


@pytest.mark.parametrize("case", ["backwards", "duplicate", "same ts", "ok"])
def test_across_files(read_path, tmp_path, case):
    t, r = good()
    raw_write(tmp_path, "tickers", t)
    raw_write(tmp_path, "trades", r, name="a")
    last = r.iloc[[9]].copy()
    if case == "backwards":
        last["ts_local"] -= 5 * SECOND
    elif case == "same ts":
        last["sz"] += 1.0
    elif case == "ok":
        last["ts_local"] += SECOND
    raw_write(tmp_path, "trades", last, name="b")
    _agree(tmp_path)


def test_null_and_unreadable_and_missing_columns(read_path, tmp_path):
    t, r = good()
    raw_write(tmp_path, "tickers", t.drop(columns=["ask_sz"]))
    raw_write(tmp_path, "trades", r.assign(symbol=[None] + ["BTC"] * 9))
    broken = tmp_path / "trades" / "date=2024-08-08" / "exchange=okx" / "zz.parquet"
    broken.write_bytes(b"PAR1 not really")
    _agree(tmp_path)


def test_a_problem_in_one_exchange_is_found_with_the_others_screened(read_path, tmp_path):
    t, r = good()
    for exchange in ("binance", "okx", "bybit"):
        raw_write(tmp_path, "tickers", t.assign(exchange=exchange), exchange=exchange)
        bad = r.assign(exchange=exchange)
        if exchange == "bybit":
            bad.loc[3, "px"] = -1.0
        raw_write(tmp_path, "trades", bad, exchange=exchange)
    _agree(tmp_path)


def test_valid_data_never_takes_the_exact_path(read_path, tmp_path, monkeypatch):
    ts = T0 + np.arange(50) * SECOND
    for ex in ("binance", "okx"):
        for sym in ("BTC", "ETH"):
            spreadarb.write_table(tmp_path, "tickers", ticker_frame(ts, ex, sym))
            spreadarb.write_table(tmp_path, "trades", trade_frame(ts, ex, sym))

    def refuse(*args: object) -> None:
        raise AssertionError("the screen flagged valid data")

    monkeypatch.setattr(loader, "_load_group_checked", refuse)
    ds = spreadarb.load(tmp_path)
    assert len(ds.tickers) == 200 and len(ds.trades) == 200


def test_a_cautious_flag_still_loads_valid_data(tmp_path, monkeypatch):
    """A row repeated across files with a missing mark_px: the contract check compares
    rows across files as Python tuples, where two NaN are different, so it is not a
    duplicate; the screen counts NaN as equal and flags it. The exact path then finds
    nothing and loads the rows as stored."""
    t, r = good()
    t.loc[9, "mark_px"] = np.nan
    arrow = pa.Table.from_pandas(t, preserve_index=False)
    # A NaN stored as NaN, not as null (from_pandas would make it null).
    at = arrow.column_names.index("mark_px")
    arrow = arrow.set_column(at, "mark_px", pa.array(t["mark_px"].to_numpy(), from_pandas=False))
    raw_write(tmp_path, "tickers", arrow)
    raw_write(tmp_path, "tickers", arrow.slice(9), name="zz")
    raw_write(tmp_path, "trades", r)
    assert spreadarb.validate(tmp_path) == []
    calls = []
    checked = loader._load_group_checked

    def spy(*args: object) -> object:
        calls.append(args)
        return checked(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(loader, "_load_group_checked", spy)
    ds = spreadarb.load(tmp_path)
    assert len(calls) == 1
    expected = pd.concat([t, t.iloc[[9]]])
    for column in ("ts_local", "bid_px", "mark_px", "open_interest_usd"):
        np.testing.assert_array_equal(ds.tickers[column], expected[column].to_numpy())
    np.testing.assert_array_equal(ds.trades["px"], r["px"].to_numpy())


@st.composite
def _messy_frames(draw):
    """Ticker and trade frames of two markets with random values at random rows."""
    n = draw(st.integers(1, 30))
    steps = draw(st.lists(st.sampled_from([0, 0, 1, 2, -1]), min_size=n, max_size=n))
    ts = T0 + np.cumsum(np.array(steps, dtype=np.int64)) * SECOND + 5 * SECOND
    sym = draw(st.lists(st.sampled_from(["BTC", "ETH"]), min_size=n, max_size=n))
    t = ticker_frame(ts, "okx", np.array(sym))
    r = trade_frame(ts, "okx", np.array(sym))
    values = st.sampled_from([np.nan, np.inf, -np.inf, 0.0, -0.0, -1.0, 1.0, 101.0])
    for frame, columns in (
        (t, ["bid_px", "ask_px", "bid_sz", "mark_px", "bid_depth_usd", "funding_rate"]),
        (r, ["px", "sz"]),
    ):
        for _ in range(draw(st.integers(0, 3))):
            frame.loc[draw(st.integers(0, n - 1)), draw(st.sampled_from(columns))] = draw(values)
    if draw(st.booleans()):
        r.loc[draw(st.integers(0, n - 1)), "side"] = draw(st.sampled_from([0, 1, -1, 3]))
    if draw(st.booleans()) and n > 1:
        i = draw(st.integers(1, n - 1))
        t.loc[i] = t.loc[i - 1]  # an exact repeat (a duplicate if the market repeats)
    cut = draw(st.integers(0, n))
    return t, r, cut


@pytest.mark.parametrize("path", READ_PATHS)
@given(frames=_messy_frames())
def test_load_agrees_with_validate_on_random_data(tmp_path_factory, path, frames):
    t, r, cut = frames
    root = tmp_path_factory.mktemp("messy")
    # Two files per table: the screen must also see across the file boundary.
    for table, frame in (("tickers", t), ("trades", r)):
        for name, part in (("a", frame.iloc[:cut]), ("b", frame.iloc[cut:])):
            if len(part):
                raw_write(root, table, part.reset_index(drop=True), name=name)
    if not (root / "tickers").exists() or not (root / "trades").exists():
        return
    with _read_path(path):
        _agree(root)


# Twins: the compiled kernels against their Python bodies.


def _runs(rng: np.random.Generator, n: int, n_markets: int):
    codes = np.sort(rng.integers(0, n_markets, n)).astype(np.int32)
    counts = np.bincount(codes, minlength=n_markets)
    offsets = np.concatenate(([0], np.cumsum(counts)))
    return codes, offsets


@pytest.mark.parametrize("seed", range(5))
def test_kernel_twins(seed):
    rng = np.random.default_rng(seed)
    n, n_markets = 200, 4
    codes, offsets = _runs(rng, n, n_markets)
    lookup = np.arange(n_markets, dtype=np.int64)
    got = []
    for kernel in (market_runs_nb, market_runs_nb.py_func):
        fill = offsets[:-1].copy()
        runs = np.empty((n, 3), dtype=np.int64)
        k = kernel(codes, lookup, fill, offsets[1:], runs)
        got.append((k, runs[:k].copy(), fill))
    assert got[0][0] == got[1][0] == np.count_nonzero(np.bincount(codes))
    np.testing.assert_array_equal(got[0][1], got[1][1])
    np.testing.assert_array_equal(got[0][2], offsets[1:])
    runs = got[0][1]

    values = rng.choice([np.nan, np.inf, -np.inf, 0.0, -0.0, -1.0, 2.0], n)
    for above, at_least, nullable in [(0.0, -np.inf, False), (-np.inf, 0.0, True)]:
        outs = [np.zeros(n), np.zeros(n)]
        flags = [
            kernel(values, runs, out, above, at_least, nullable)
            for kernel, out in zip(
                (scatter_floats_nb, scatter_floats_nb.py_func), outs, strict=True
            )
        ]
        missing = np.isnan(values) & (not nullable)
        outside = ~np.isnan(values) & ~((values > above) & (values >= at_least) & (values < np.inf))
        assert flags[0] == flags[1] == int((missing | outside).sum())
        np.testing.assert_array_equal(outs[0], values)
        np.testing.assert_array_equal(outs[1], values)

    ints = rng.integers(-2, 3, n).astype(np.int8)
    outs = [np.zeros(n, np.int8), np.zeros(n, np.int8)]
    flags = [
        kernel(ints, runs, out, -1, 1, False)
        for kernel, out in zip((scatter_ints_nb, scatter_ints_nb.py_func), outs, strict=True)
    ]
    assert flags[0] == flags[1] == int(((ints != 1) & (ints != -1)).sum())
    np.testing.assert_array_equal(outs[0], ints)

    ts = np.sort(rng.integers(0, 40, n)) + T0
    ts[rng.integers(0, n, 3)] -= 5
    bid = rng.uniform(1, 2, n)
    ask = bid + rng.choice([-0.1, 0.0, 0.1, 0.1, 0.1], n)
    first, hi = offsets[:-1], offsets[1:]
    lo = first + (hi - first) // 2
    results = []
    for kernel in (screen_order_nb, screen_order_nb.py_func):
        pairs = np.empty((n * n, 2), dtype=np.int64)
        bad, n_pairs = kernel(ts, bid, ask, first, lo, hi, pairs)
        results.append((bad, pairs[:n_pairs].copy()))
    assert results[0][0] == results[1][0]
    np.testing.assert_array_equal(results[0][1], results[1][1])
    # Reference: every row in [lo, hi) is compared with the one before it in its market.
    expected_bad = 0
    expected_pairs = []
    for m in range(n_markets):
        for r in range(lo[m], hi[m]):
            expected_bad += int(bid[r] >= ask[r])
            if r == first[m]:
                continue
            if ts[r] < ts[r - 1]:
                expected_bad += 1
            elif ts[r] == ts[r - 1]:
                j = r - 1
                while j > first[m] and ts[j - 1] == ts[r]:
                    j -= 1
                expected_pairs += [(k, r) for k in range(j, r)]
    assert results[0][0] == expected_bad
    assert [tuple(p) for p in results[0][1]] == expected_pairs

    column = rng.choice([np.nan, 1.0, 2.0], n)
    pairs = np.array(expected_pairs or [(0, 0)], dtype=np.int64).reshape(-1, 2)
    differ = [np.zeros(len(pairs), bool), np.zeros(len(pairs), bool)]
    pairs_differ_nb(column, pairs, differ[0])
    pairs_differ_nb.py_func(column, pairs, differ[1])
    a, b = column[pairs[:, 0]], column[pairs[:, 1]]
    np.testing.assert_array_equal(differ[0], ~((a == b) | (np.isnan(a) & np.isnan(b))))
    np.testing.assert_array_equal(differ[0], differ[1])


def test_long_runs_and_full_markets_are_flagged():
    n = MAX_EQUAL_RUN + 2
    ts = np.full(n, T0, dtype=np.int64)
    zero = np.zeros(1, dtype=np.int64)
    pairs = np.empty((n * n, 2), dtype=np.int64)
    bad, _ = screen_order_nb(ts, np.empty(0), np.empty(0), zero, zero, np.array([n]), pairs)
    assert bad > 0
    # More pairs than the buffer holds: flagged, not dropped.
    bad, n_pairs = screen_order_nb(
        ts[:10], np.empty(0), np.empty(0), zero, zero, np.array([10]), pairs[:5]
    )
    assert bad > 0 and n_pairs == 5
    codes = np.zeros(3, dtype=np.int32)
    runs = np.empty((3, 3), dtype=np.int64)
    fill = np.zeros(1, dtype=np.int64)
    assert market_runs_nb(codes, np.zeros(1, np.int64), fill, np.array([2]), runs) == -1
    assert market_runs_nb(codes, np.array([-1]), np.zeros(1, np.int64), np.array([9]), runs) == -1


@pytest.mark.parametrize(
    "request_",
    [{}, {"start": T0 + 3 * SECOND, "end": T0 + 250 * SECOND}, {"symbols": "ETH"}],
    ids=["all", "window", "symbol"],
)
def test_both_read_paths_load_the_same_arrays(tmp_path, request_):
    """Small loads read column by column with one worker; large ones with two workers and
    row-group batches. Both give the same arrays (and the same problems), with and
    without a window or a symbol filter, across several row groups."""
    ts = T0 + np.arange(300) * SECOND
    for ex in ("binance", "okx", "bybit"):
        for sym in ("BTC", "ETH"):
            spreadarb.write_table(tmp_path, "tickers", ticker_frame(ts, ex, sym))
            spreadarb.write_table(tmp_path, "trades", trade_frame(ts + 1, ex, sym))
    t, r = good()
    # Several row groups in one file.
    raw_write(tmp_path, "trades", r.assign(exchange="gate"), exchange="gate", row_group_size=3)
    raw_write(tmp_path, "tickers", t.assign(exchange="gate"), exchange="gate", row_group_size=4)
    loaded = {}
    for path in READ_PATHS:
        with (
            _read_path(path),
            mock.patch.object(loader, "read_columns", wraps=loader.read_columns) as by_column,
            mock.patch.object(loader, "read_batches", wraps=loader.read_batches) as in_batches,
        ):
            loaded[path] = spreadarb.load(tmp_path, **request_)
        assert (by_column.called, in_batches.called) == (path == "by column", path != "by column")
    small, large = loaded["by column"], loaded["in batches"]
    assert small.n_markets == large.n_markets > 0
    for name in ("tickers", "trades"):
        assert len(small.table(name)) > 0
        np.testing.assert_array_equal(small.table(name).offsets, large.table(name).offsets)
        for column, values in small.table(name).columns.items():
            np.testing.assert_array_equal(values, large.table(name)[column])
    _agree(tmp_path)
    t, _r = good()
    raw_write(tmp_path, "tickers", t.assign(bid_px=-1.0), exchange="okx", name="zz")
    _agree(tmp_path)
