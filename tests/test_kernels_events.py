"""The event stream merge (``simulation.merge_events`` on ``kernels.events``) against the plain
numpy construction of the event stream."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from spreadarb.kernels.events import (
    first_unsorted_run_nb,
    merge_part_nb,
    run_bounds_nb,
)
from spreadarb.simulation import first_unsorted_run, merge_events


def merge_one_part(tk_ts, tr_ts, tk_off, tr_off, window, python=False):
    """The whole stream as one part, through the compiled kernels or their Python bodies."""
    bounds_fn = run_bounds_nb.py_func if python else run_bounds_nb
    merge_fn = merge_part_nb.py_func if python else merge_part_nb
    n = tk_ts.size + tr_ts.size
    out = (
        np.empty(n, np.int64),
        np.empty(n, np.int8),
        np.empty(n, np.int64),
        np.empty(n, np.int32),
    )
    bounds = bounds_fn(tk_ts, tr_ts, tk_off, tr_off, np.empty(0, np.int64))
    merge_fn(tk_ts, tr_ts, bounds[0], bounds[1], window, *out, 0)
    return out


def numpy_oracle(tk_ts, tr_ts, tk_offsets, tr_offsets):
    """The stream as the stable argsort of four concatenated columns."""
    n_markets = tk_offsets.size - 1
    ts = np.concatenate([tk_ts, tr_ts])
    kind = np.concatenate([np.zeros(tk_ts.size, np.int8), np.ones(tr_ts.size, np.int8)])
    row = np.concatenate([np.arange(tk_ts.size), np.arange(tr_ts.size)]).astype(np.int64)
    market = np.concatenate(
        [
            np.repeat(np.arange(n_markets, dtype=np.int32), np.diff(tk_offsets)),
            np.repeat(np.arange(n_markets, dtype=np.int32), np.diff(tr_offsets)),
        ]
    )
    order = np.argsort(ts, kind="stable")
    return ts[order], kind[order], row[order], market[order]


@st.composite
def markets(draw):
    n_markets = draw(st.integers(1, 6))
    tk_counts = draw(st.lists(st.integers(0, 30), min_size=n_markets, max_size=n_markets))
    tr_counts = draw(st.lists(st.integers(0, 30), min_size=n_markets, max_size=n_markets))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)

    def runs(counts):
        # Sorted within each market, with ties (coarse clock) across and within markets.
        return np.concatenate(
            [np.sort(rng.integers(0, 40, c)) for c in counts] or [np.empty(0, np.int64)]
        ).astype(np.int64)

    tk_off = np.concatenate([[0], np.cumsum(tk_counts)]).astype(np.int64)
    tr_off = np.concatenate([[0], np.cumsum(tr_counts)]).astype(np.int64)
    return runs(tk_counts), runs(tr_counts), tk_off, tr_off


@given(markets(), st.sampled_from([1, 2, 3, 8, 1024]))
def test_merge_equals_the_numpy_construction(data, window):
    tk_ts, tr_ts, tk_off, tr_off = data
    expected = numpy_oracle(tk_ts, tr_ts, tk_off, tr_off)
    assert first_unsorted_run_nb(tk_ts, tr_ts, tk_off, tr_off) == -1
    for python in (False, True):
        got = merge_one_part(tk_ts, tr_ts, tk_off, tr_off, window, python)
        for g, e in zip(got, expected, strict=True):
            assert g.dtype == e.dtype
            np.testing.assert_array_equal(g, e)


def test_empty_stream_and_single_time():
    empty = np.empty(0, np.int64)
    offsets = np.zeros(3, np.int64)
    ts, kind, row, market = merge_events(empty, empty, offsets, offsets, 1)
    assert ts.size == kind.size == row.size == market.size == 0
    same = np.full(5, 7, np.int64)
    got = merge_one_part(same[:3], same[:2], np.array([0, 1, 3]), np.array([0, 2, 2]), 1)
    np.testing.assert_array_equal(got[1], [0, 0, 0, 1, 1])  # tickers first
    np.testing.assert_array_equal(got[3], [0, 1, 1, 0, 0])  # then market, then row
    np.testing.assert_array_equal(got[2], [0, 1, 2, 0, 1])


@pytest.mark.parametrize("find", [first_unsorted_run_nb, first_unsorted_run])
def test_an_unsorted_run_is_found(find):
    tk = np.array([1, 2, 3, 5, 4], np.int64)
    tr = np.array([1, 2], np.int64)
    assert find(tk, tr, np.array([0, 3, 5]), np.array([0, 1, 2])) == 1
    tr_bad = np.array([2, 1], np.int64)
    ok_tk = np.sort(tk)
    assert find(ok_tk, tr_bad, np.array([0, 3, 5]), np.array([0, 2, 2])) == 2
    # A run may start below the end of the one before it.
    assert find(np.array([5, 1], np.int64), tr, np.array([0, 1, 2]), np.array([0, 1, 2])) == -1


@given(markets(), st.lists(st.integers(0, 60), max_size=3), st.booleans())
def test_the_numpy_unsorted_run_check_agrees_with_the_kernel(data, swaps, in_trades):
    """Rows swapped with the next anywhere (within a run, or across two runs' boundary)."""
    tk_ts, tr_ts, tk_off, tr_off = data
    ts = (tr_ts if in_trades else tk_ts).copy()
    for i in swaps:
        if i + 1 < ts.size:
            ts[i], ts[i + 1] = ts[i + 1], ts[i]
    tk, tr = (tk_ts, ts) if in_trades else (ts, tr_ts)
    assert first_unsorted_run(tk, tr, tk_off, tr_off) == first_unsorted_run_nb(
        tk, tr, tk_off, tr_off
    )


@given(markets(), st.integers(1, 5))
def test_merge_in_time_parts_equals_the_single_merge(data, parts):
    tk_ts, tr_ts, tk_off, tr_off = data
    expected = numpy_oracle(tk_ts, tr_ts, tk_off, tr_off)
    got = merge_events(tk_ts, tr_ts, tk_off, tr_off, parts, min_events_per_part=1)
    for g, e in zip(got, expected, strict=True):
        assert g.dtype == e.dtype
        np.testing.assert_array_equal(g, e)


def test_run_bounds_split_every_run_at_the_split_times():
    tk = np.array([1, 3, 3, 9, 2, 5], np.int64)
    tr = np.array([4, 4, 8], np.int64)
    tk_off, tr_off = np.array([0, 4, 6]), np.array([0, 0, 3])
    b = run_bounds_nb(tk, tr, tk_off, tr_off, np.array([3, 8], np.int64))
    # runs: tickers of market 0 and 1, trades of market 0 (empty) and 1
    np.testing.assert_array_equal(b[0], [0, 4, 0, 0])
    np.testing.assert_array_equal(b[1], [1, 5, 0, 0])  # first row with time >= 3
    np.testing.assert_array_equal(b[2], [3, 6, 0, 2])  # first row with time >= 8
    np.testing.assert_array_equal(b[3], [4, 6, 0, 3])
