"""The as-of kernel of the scan against numpy's searchsorted and a pair oracle.

The oracle is what :func:`spreadarb.state.symbol_state` computed with numpy before the
kernel existed: an as-of index by ``np.searchsorted`` per venue, the venues' mids
gathered there and their median over venues (``np.median`` of the known ones). Results
must be bit-identical (the scan's golden outputs depend on them), so arrays are compared
exactly, NaN equal to NaN.
"""

from __future__ import annotations

from unittest import mock

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from spreadarb.kernels import state as vs
from spreadarb.kernels.state import choose_pair_nb, venue_asof_nb

UNIT = 250_000_000


def pair_oracle(bid: np.ndarray, ask: np.ndarray) -> tuple[int, int]:
    """Lowest ask long, highest bid short (first venue on ties); one venue best on both
    sides pairs with the best other venue on whichever side gives the wider spread."""
    quoted = [j for j in range(bid.size) if not (np.isnan(bid[j]) or np.isnan(ask[j]))]
    if len(quoted) < 2:
        return (quoted[0], quoted[0]) if quoted else (-1, -1)
    lo = min(quoted, key=lambda j: (ask[j], j))
    hi = min(quoted, key=lambda j: (-bid[j], j))
    if lo != hi:
        return lo, hi
    others = [j for j in quoted if j != lo]
    other_bid = min(others, key=lambda j: (-bid[j], j))
    other_ask = min(others, key=lambda j: (ask[j], j))
    if bid[other_bid] - ask[lo] >= bid[lo] - ask[other_ask]:
        return lo, other_bid
    return other_ask, lo


prices = st.floats(0.5, 2e5, allow_nan=False) | st.just(np.nan)


@st.composite
def symbols(draw):
    """Tickers of 0-4 venues stored one after the other, and a grid."""
    n_venues = draw(st.integers(0, 4))
    ts_parts, counts = [], []
    for _ in range(n_venues):
        n = draw(st.integers(0, 12))
        ts_parts.append(
            np.sort(np.array(draw(st.lists(st.integers(0, 40), min_size=n, max_size=n)), np.int64))
            * UNIT
        )
        counts.append(n)
    n = sum(counts)
    ts = np.concatenate(ts_parts) if ts_parts else np.empty(0, np.int64)
    stops = np.cumsum(np.array(counts, dtype=np.int64))
    starts = stops - np.array(counts, dtype=np.int64)
    # Few distinct prices, so ties between venues (and equal mids) are common.
    level = st.sampled_from([99.0, 100.0, 100.5, 101.0]) | prices
    bid = np.array(draw(st.lists(level, min_size=n, max_size=n)), dtype=np.float64)
    ask = np.array(draw(st.lists(level, min_size=n, max_size=n)), dtype=np.float64)
    m = draw(st.integers(0, 30))
    start = draw(st.integers(-3, 10))
    grid = (start + np.arange(m, dtype=np.int64)) * (2 * UNIT)
    return grid, ts, starts, stops, bid, ask


@given(symbols())
def test_venue_asof_matches_searchsorted_and_the_pair_oracle(symbol):
    grid, ts, starts, stops, bid, ask = symbol
    n_venues, m = starts.size, grid.size
    expected_rows = np.full((n_venues, m), -1, dtype=np.int64)
    for j in range(n_venues):
        a, b = int(starts[j]), int(stops[j])
        idx = np.searchsorted(ts[a:b], grid, side="right") - 1
        expected_rows[j] = np.where(idx >= 0, idx + a, -1)
    known = expected_rows >= 0
    at = np.where(known, expected_rows, 0)
    venue_bid = np.where(known, bid[at] if bid.size else np.nan, np.nan)
    venue_ask = np.where(known, ask[at] if ask.size else np.nan, np.nan)
    mids = 0.5 * (venue_bid + venue_ask)
    expected_median = np.full(m, np.nan)
    for k in range(m):
        known_mids = mids[:, k][~np.isnan(mids[:, k])]
        if known_mids.size:
            expected_median[k] = np.median(known_mids)
    expected_legs = np.array(
        [pair_oracle(venue_bid[:, k], venue_ask[:, k]) for k in range(m)], dtype=np.int64
    ).T.reshape(2, m)
    # A venue alone is no pair.
    alone = expected_legs[0] == expected_legs[1]
    expected_legs[:, alone] = -1
    for kernel in (venue_asof_nb, venue_asof_nb.py_func):
        rows = np.full((n_venues, m), -7, dtype=np.int64)
        median = np.full(m, -7.0)
        legs = np.full((2, m), -7, dtype=np.int64)
        # choose_pair_nb has no Python entry point: the Python body calls its twin.
        twin = choose_pair_nb.py_func if kernel is venue_asof_nb.py_func else choose_pair_nb
        with mock.patch.object(vs, "choose_pair_nb", twin):
            kernel(grid, ts, starts, stops, bid, ask, rows, median, legs)
        np.testing.assert_array_equal(rows, expected_rows)
        np.testing.assert_array_equal(median, expected_median)
        np.testing.assert_array_equal(legs, expected_legs)


@given(
    st.lists(
        st.tuples(
            st.sampled_from([99.0, 100.0, 101.0]) | prices,
            st.sampled_from([99.5, 100.5, 101.5]) | prices,
        ),
        min_size=0,
        max_size=6,
    )
)
def test_choose_pair_matches_the_oracle(quotes):
    bid = np.array([q[0] for q in quotes], dtype=np.float64)
    ask = np.array([q[1] for q in quotes], dtype=np.float64)
    expected = pair_oracle(bid, ask)
    if expected[0] == expected[1]:
        expected = (-1, -1)
    # Compiled, it is checked through venue_asof_nb (it has no Python entry point).
    assert tuple(choose_pair_nb.py_func(bid, ask)) == expected


def test_module_kernels_are_documented_with_a_python_twin():
    for kernel in (vs.venue_asof_nb, vs.choose_pair_nb):
        assert kernel.__name__.endswith("_nb") and callable(kernel.py_func)
    doc = vs.venue_asof_nb.__doc__ or ""
    assert "quivalent to" in doc and "Parameters\n" in doc and "Returns\n" in doc


@given(
    st.lists(st.tuples(st.integers(-3, 40), prices), min_size=0, max_size=40),
    st.integers(-2, 5),
    st.sampled_from([UNIT, 3 * UNIT]),
    st.integers(0, 12),
)
def test_numpy_bars_match_the_bars_kernel(rows, start, bar_ns, n_bars):
    from spreadarb.kernels.rolling import bars_nb
    from spreadarb.state import bars_hlc

    rows.sort(key=lambda r: r[0])
    ts = np.array([r[0] for r in rows], dtype=np.int64) * UNIT
    price = np.array([r[1] for r in rows], dtype=np.float64)
    _, high, low, close, _ = bars_nb(ts, price, start * UNIT, bar_ns, n_bars)
    for got, expected in zip(
        bars_hlc(ts, price, start * UNIT, bar_ns, n_bars), (high, low, close), strict=True
    ):
        np.testing.assert_array_equal(got, expected)
