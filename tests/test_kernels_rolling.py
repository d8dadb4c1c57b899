"""Time-window kernels: compiled body, Python body (``.py_func``) and an oracle agree.

Oracles are numpy ``searchsorted``, brute-force numpy masks, pandas (rolling, resample,
an ATR written with pandas) and, for liquidation clusters, pure Python.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from conftest import T0
from hypothesis import given
from hypothesis import strategies as st

from spreadarb.kernels import liquidation, rolling
from spreadarb.kernels.liquidation import liquidation_cluster_distance_nb
from spreadarb.kernels.rolling import (
    asof_index_nb,
    atr_nb,
    bars_nb,
    rolling_count_at_nb,
    rolling_lag_sums_at_nb,
    rolling_mean_at_nb,
    rolling_weighted_moments_at_nb,
    window_bounds_nb,
)

UNIT = 250_000_000  # 0.25 s: timestamps are drawn on this lattice, so ties and edges occur
SPECIAL = (math.nan, math.inf, -math.inf)


def both(kernel, *args):
    """Run the compiled kernel and its Python twin; return both results."""
    return kernel(*args), kernel.py_func(*args)


def assert_same(a, b, *, rtol=1e-12, atol=0.0):
    """Arrays (or tuples of arrays) equal up to tolerance, NaN where the other is NaN."""
    if isinstance(a, tuple):
        assert isinstance(b, tuple) and len(a) == len(b)
        for x, y in zip(a, b, strict=True):
            assert_same(x, y, rtol=rtol, atol=atol)
        return
    a, b = np.asarray(a), np.asarray(b)
    assert a.shape == b.shape
    if a.dtype.kind in "biu":
        assert a.dtype == b.dtype or b.dtype.kind in "biu"
        np.testing.assert_array_equal(a, b)
    else:
        np.testing.assert_allclose(a, b, rtol=rtol, atol=atol, equal_nan=True)


# ---------------------------------------------------------------------------------------
# Strategies
# ---------------------------------------------------------------------------------------


@st.composite
def times(draw, *, max_size=40):
    """Sorted int64 ns timestamps on the UNIT lattice (repeats and gaps), maybe empty."""
    span = draw(st.sampled_from([3, 20, 60]))  # short spans give many repeats
    k = draw(st.lists(st.integers(0, span), max_size=max_size))
    return T0 + UNIT * np.sort(np.asarray(k, dtype=np.int64))


windows = st.one_of(
    st.integers(0, 30).map(lambda k: k * UNIT),  # window edges on the lattice
    st.integers(0, 30 * UNIT),
)


@st.composite
def timelines(draw, *, max_size=40):
    """``(ts, grid, window)``: the grid mixes random times (before, between and after the
    data) with data times and data times plus the window (rows exactly on a window's
    closed end or open start), each maybe nudged by 1 ns."""
    ts = draw(times(max_size=max_size))
    window = draw(windows)
    k = draw(st.lists(st.integers(-10, 75), max_size=20))
    off = draw(st.sampled_from([0, 1, UNIT // 2, UNIT - 1]))
    grid = [T0 + off + UNIT * i for i in k]
    if len(ts):
        picks = draw(st.lists(st.sampled_from(ts.tolist()), max_size=15))
        shifts = draw(
            st.lists(
                st.sampled_from([0, window, -1, 1, window - 1, window + 1]),
                min_size=len(picks),
                max_size=len(picks),
            )
        )
        grid += [t + d for t, d in zip(picks, shifts, strict=True)]
    return ts, np.sort(np.asarray(grid, dtype=np.int64)), window


@st.composite
def floats_with_specials(draw, n, *, lo=-1e6, hi=1e6, subnormal=None):
    """``n`` floats in ``[lo, hi]``, up to three of them replaced by NaN or +-inf."""
    elements = st.floats(lo, hi, allow_subnormal=subnormal)
    x = np.asarray(draw(st.lists(elements, min_size=n, max_size=n)), dtype=np.float64)
    x = x.reshape(n)
    if n:
        for i in draw(st.sets(st.integers(0, n - 1), max_size=3)):
            x[i] = draw(st.sampled_from(SPECIAL))
    return x


def scale_of(x):
    finite = x[np.isfinite(x)]
    return max(1.0, float(np.abs(finite).max())) if finite.size else 1.0


# ---------------------------------------------------------------------------------------
# Module rules
# ---------------------------------------------------------------------------------------

PUBLIC = [getattr(rolling, name) for name in rolling.__all__] + [
    getattr(liquidation, name) for name in liquidation.__all__
]


@pytest.mark.parametrize("kernel", PUBLIC, ids=lambda k: k.__name__)
def test_kernels_are_named_documented_and_have_a_python_twin(kernel):
    assert kernel.__name__.endswith("_nb")
    assert callable(kernel.py_func)
    doc = kernel.__doc__ or ""
    assert "quivalent to" in doc, "the docstring must name the reference implementation"
    assert "Returns\n" in doc and "Parameters\n" in doc


# ---------------------------------------------------------------------------------------
# asof_index_nb, window_bounds_nb, rolling_count_at_nb
# ---------------------------------------------------------------------------------------


@given(case=timelines())
def test_asof_index_matches_searchsorted(case):
    ts, grid, _ = case
    got, py = both(asof_index_nb, ts, grid)
    expected = np.searchsorted(ts, grid, side="right") - 1
    assert got.dtype == np.int64
    assert_same(got, expected)
    assert_same(py, expected)


@given(case=timelines())
def test_window_bounds_and_count_match_searchsorted(case):
    ts, grid, window = case
    start = np.searchsorted(ts, grid - window, side="right")
    stop = np.searchsorted(ts, grid, side="right")
    for got in both(window_bounds_nb, ts, grid, window):
        assert_same(got, (start, stop))
    for got in both(rolling_count_at_nb, ts, grid, window):
        assert got.dtype == np.int64
        assert_same(got, stop - start)


@given(case=timelines(), data=st.data())
def test_lag_sums_match_prefix_sums_over_window_bounds(case, data):
    ts, grid, window = case
    lags = np.array(
        data.draw(st.lists(st.integers(-(10**12), 10**12), min_size=ts.size, max_size=ts.size)),
        dtype=np.int64,
    )
    start = np.searchsorted(ts, grid - window, side="right")
    stop = np.searchsorted(ts, grid, side="right")
    prefix = np.r_[0, np.cumsum(lags)]
    seen = lags[: stop.max(initial=0)]
    for body in (rolling_lag_sums_at_nb, rolling_lag_sums_at_nb.py_func):
        # Added to what is there: a caller pools several row sets.
        sums = np.full(grid.size, 7, dtype=np.int64)
        counts = np.full(grid.size, 2, dtype=np.int64)
        largest = body(ts, ts - lags, grid, window, sums, counts)
        assert_same(sums, prefix[stop] - prefix[start] + 7)
        assert_same(counts, stop - start + 2)
        assert largest == int(np.abs(seen).max(initial=0))


def test_lag_sums_are_exact_when_running_totals_wrap_around():
    # Each window's sum (two lags) fits in int64; the running total, which takes a row
    # in before it lets the oldest out (three lags), wraps around.
    lag = 2**62 - 1
    ts = np.arange(16, dtype=np.int64) * 10
    grid = ts.copy()
    sums = np.zeros(16, dtype=np.int64)
    counts = np.zeros(16, dtype=np.int64)
    # (With JIT disabled the Python body wraps around the same way; numpy warns.)
    with np.errstate(over="ignore"):
        largest = rolling_lag_sums_at_nb(ts, ts - lag, grid, 20, sums, counts)
    assert largest == lag
    assert counts.tolist() == [1] + [2] * 15
    assert sums.tolist() == [lag] + [2 * lag] * 15


def test_window_edges_are_half_open():
    ts = np.array([10, 20, 20, 30], dtype=np.int64)
    grid = np.array([20, 30, 40], dtype=np.int64)
    # (10, 20] holds both rows at 20 but not the one at 10; (20, 30] only the one at 30.
    assert rolling_count_at_nb(ts, grid, 10).tolist() == [2, 1, 0]
    assert rolling_count_at_nb(ts, grid, 0).tolist() == [0, 0, 0]


def test_window_start_saturates_instead_of_wrapping():
    ts = np.array([-(2**63) + 5, 0], dtype=np.int64)
    grid = np.array([-(2**63) + 10, 0], dtype=np.int64)
    for got in both(rolling_count_at_nb, ts, grid, 2**62):
        assert got.tolist() == [1, 1]


def test_lag_sums_reject_bad_arguments():
    z = np.zeros(2, np.int64)
    for body in (rolling_lag_sums_at_nb, rolling_lag_sums_at_nb.py_func):
        with pytest.raises(ValueError, match="window_ns"):
            body(z, z, z, -1, z.copy(), z.copy())
        with pytest.raises(ValueError, match="earlier"):
            body(z, z[:1], z, 1, z.copy(), z.copy())
        with pytest.raises(ValueError, match="sums and counts"):
            body(z, z, z, 1, z[:1].copy(), z.copy())


@pytest.mark.parametrize("kernel", [window_bounds_nb, rolling_count_at_nb])
def test_negative_window_raises(kernel):
    z = np.zeros(1, np.int64)
    for body in (kernel, kernel.py_func):
        with pytest.raises(ValueError, match="window_ns"):
            body(z, z, -1)
    with pytest.raises(ValueError, match="window_ns"):
        rolling_mean_at_nb(z, np.ones(1), z, -1)


# ---------------------------------------------------------------------------------------
# rolling_mean_at_nb
# ---------------------------------------------------------------------------------------


def brute_moments(ts, values, weights, grid, window):
    """(sum_w, mean, std) per grid time from a boolean mask and numpy's weighted stats."""
    m = len(grid)
    sum_w, mean, std = np.zeros(m), np.full(m, np.nan), np.full(m, np.nan)
    use = np.isfinite(values) & np.isfinite(weights) & (weights > 0)
    for k, g in enumerate(grid.tolist()):
        mask = (ts > g - window) & (ts <= g) & use
        if mask.any():
            x, w = values[mask], weights[mask]
            sum_w[k] = w.sum()
            mean[k] = np.average(x, weights=w)
            std[k] = np.sqrt(np.cov(x, aweights=w, ddof=0))
    return sum_w, mean, std


@st.composite
def mean_cases(draw):
    ts, grid, window = draw(timelines())
    return ts, draw(floats_with_specials(len(ts))), grid, window


@given(case=mean_cases())
def test_rolling_mean_matches_brute_force(case):
    ts, values, grid, window = case
    expected = brute_moments(ts, values, np.ones_like(values), grid, window)[1]
    atol = 1e-9 * scale_of(values)
    for got in both(rolling_mean_at_nb, ts, values, grid, window):
        assert got.dtype == np.float64 and got.shape == grid.shape
        assert_same(got, expected, rtol=1e-9, atol=atol)


@given(case=mean_cases())
def test_rolling_mean_matches_pandas_at_last_row_of_each_timestamp(case):
    ts, values, _, window = case
    window = max(window, 1)  # pandas needs a positive window
    series = pd.Series(np.where(np.isfinite(values), values, np.nan), index=pd.to_datetime(ts))
    expected = series.rolling(pd.Timedelta(window, "ns"), closed="right").mean().to_numpy()
    last = np.r_[ts[1:] != ts[:-1], True] if len(ts) else np.zeros(0, dtype=bool)
    got = rolling_mean_at_nb(ts, values, ts[last], window)
    assert_same(got, expected[last], rtol=1e-9, atol=1e-9 * scale_of(values))


def test_rolling_mean_skips_nan_and_infinite_values():
    ts = np.array([1, 2, 3, 4], dtype=np.int64)
    values = np.array([1.0, np.nan, np.inf, 3.0])
    grid = np.array([1, 2, 3, 4, 100], dtype=np.int64)
    got = rolling_mean_at_nb(ts, values, grid, 3)
    np.testing.assert_array_equal(got, [1.0, 1.0, 1.0, 3.0, np.nan])


def test_rolling_mean_empty_inputs():
    empty_ts, empty_x = np.zeros(0, np.int64), np.zeros(0)
    grid = np.array([0, 5], dtype=np.int64)
    for kernel in (rolling_mean_at_nb, rolling_mean_at_nb.py_func):
        assert np.isnan(kernel(empty_ts, empty_x, grid, 10)).all()
        assert kernel(np.array([1], np.int64), np.ones(1), empty_ts, 10).shape == (0,)


def test_rolling_mean_length_mismatch_raises():
    with pytest.raises(ValueError, match="values"):
        rolling_mean_at_nb(np.zeros(2, np.int64), np.zeros(3), np.zeros(1, np.int64), 1)


# ---------------------------------------------------------------------------------------
# rolling_weighted_moments_at_nb
# ---------------------------------------------------------------------------------------


@st.composite
def weighted_cases(draw):
    ts, grid, window = draw(timelines())
    n = len(ts)
    values = draw(floats_with_specials(n))
    # No subnormal weights: numpy's oracle overflows dividing by their sum.
    weights = draw(floats_with_specials(n, lo=0.0, hi=1e3, subnormal=False))
    if n and draw(st.booleans()):
        weights[draw(st.integers(0, n - 1))] = 0.0
    return ts, values, weights, grid, window


@given(case=weighted_cases())
def test_weighted_moments_match_numpy(case):
    ts, values, weights, grid, window = case
    sum_w, mean, std = brute_moments(ts, values, weights, grid, window)
    scale = scale_of(values)
    for got in both(rolling_weighted_moments_at_nb, ts, values, weights, grid, window):
        assert_same(got[0], sum_w, rtol=1e-9, atol=1e-9 * scale_of(weights))
        assert_same(got[1], mean, rtol=1e-9, atol=1e-9 * scale)
        assert_same(got[2], std, rtol=1e-9, atol=1e-9 * scale)
        assert (got[2][np.isfinite(got[2])] >= 0).all()


@given(case=weighted_cases(), data=st.data())
def test_weighted_moments_at_a_grid_time_do_not_depend_on_the_other_grid_times(case, data):
    # The scan evaluates each venue's VWAP only where it is a leg; that must give the
    # values the whole grid gives, bit for bit.
    ts, values, weights, grid, window = case
    keep = np.asarray(data.draw(st.lists(st.booleans(), min_size=grid.size, max_size=grid.size)))
    keep = keep.reshape(grid.size).astype(bool)
    for kernel in (rolling_weighted_moments_at_nb, rolling_weighted_moments_at_nb.py_func):
        whole = kernel(ts, values, weights, grid, window)
        part = kernel(ts, values, weights, grid[keep], window)
        for a, b in zip(whole, part, strict=True):
            assert a[keep].tobytes() == b.tobytes()


@pytest.mark.parametrize("window", [1, 7, 2**62, 2**63 - 1])
def test_rolling_moments_at_extreme_times(window):
    # Blocks and window starts near both ends of int64 (no row at the smallest int64:
    # a window start saturates there, which the brute force does not model).
    lo, hi = np.iinfo(np.int64).min, np.iinfo(np.int64).max
    ts = np.array([lo + 1, lo + 5, -3, 0, 0, 4, hi - 9, hi], dtype=np.int64)
    values = np.arange(1.0, ts.size + 1)
    grid = np.array([lo, lo + 6, -1, 0, 5, hi - 9, hi - 1, hi], dtype=np.int64)
    expected = brute_moments(ts, values, np.ones_like(values), grid, window)
    for kernel in (rolling_weighted_moments_at_nb, rolling_weighted_moments_at_nb.py_func):
        got = kernel(ts, values, np.ones_like(values), grid, window)
        for column, want in zip(got, expected, strict=True):
            assert_same(column, want)


def test_weighted_moments_keep_precision_on_large_prices_with_tiny_variance():
    # BTC-like prices that step up by 100 every 1000 trades (60000 -> 62000) with a
    # 0.01 noise: E[x**2] - E[x]**2 would lose every digit, and running sums shifted by a
    # fixed reference such as values[0] about 3.
    rng = np.random.default_rng(1)
    n = 20_000
    ts = T0 + np.cumsum(rng.integers(0, 3 * UNIT // 10, n)).astype(np.int64)
    price = 60_000.0 + 100.0 * (np.arange(n) // 1000) + rng.normal(0, 0.01, n)
    size = rng.uniform(0.001, 2.0, n)
    grid = ts[::37]
    window = 200 * UNIT // 10
    sum_w, mean, std = brute_moments(ts, price, size, grid, window)
    got = rolling_weighted_moments_at_nb(ts, price, size, grid, window)
    assert np.nanmin(std) < 0.02  # most windows sit inside one level
    assert_same(got[0], sum_w, rtol=1e-10)
    assert_same(got[1], mean, rtol=1e-13)
    assert_same(got[2], std, rtol=1e-8)


def test_weighted_moments_of_constant_values_have_zero_std():
    ts = np.arange(5, dtype=np.int64)
    price = np.full(5, 60_000.1)
    out = rolling_weighted_moments_at_nb(ts, price, np.ones(5), ts, 3)
    np.testing.assert_array_equal(out[2], np.zeros(5))
    np.testing.assert_array_equal(out[1], price)


def test_weighted_moments_empty_window_is_zero_weight_and_nan():
    ts = np.array([10], dtype=np.int64)
    out = rolling_weighted_moments_at_nb(
        ts, np.array([5.0]), np.array([0.0]), np.array([10, 20], np.int64), 100
    )
    assert out[0].tolist() == [0.0, 0.0]
    assert np.isnan(out[1]).all() and np.isnan(out[2]).all()


# ---------------------------------------------------------------------------------------
# bars_nb
# ---------------------------------------------------------------------------------------


def pandas_bars(ts, price, start, bar, n_bars):
    labels = pd.to_datetime(start + bar * np.arange(n_bars, dtype=np.int64))
    inside = (ts >= start) & (ts < start + n_bars * bar)
    series = pd.Series(
        np.where(np.isfinite(price), price, np.nan)[inside], index=pd.to_datetime(ts[inside])
    )
    resampler = series.resample(pd.Timedelta(bar, "ns"), origin=pd.Timestamp(start))
    ohlc = resampler.ohlc().reindex(labels)
    count = resampler.count().reindex(labels, fill_value=0)
    return (
        *(ohlc[c].to_numpy(dtype=np.float64) for c in ("open", "high", "low", "close")),
        count.to_numpy(dtype=np.int64),
    )


@st.composite
def bar_cases(draw):
    ts = draw(times())
    price = draw(floats_with_specials(len(ts), lo=1.0, hi=1e5))
    start = T0 + draw(st.integers(-10, 70)) * UNIT + draw(st.sampled_from([0, 1, UNIT // 3]))
    bar = draw(st.sampled_from([1, UNIT, 3 * UNIT, 7 * UNIT + 13]))
    n_bars = draw(st.integers(0, 30))
    return ts, price, start, bar, n_bars


@given(case=bar_cases())
def test_bars_match_pandas_resample(case):
    expected = pandas_bars(*case)
    for got in both(bars_nb, *case):
        assert got[4].dtype == np.int64
        assert_same(got, expected, rtol=0.0)


def test_bars_bad_arguments_raise():
    ts, px = np.zeros(1, np.int64), np.ones(1)
    with pytest.raises(ValueError, match="bar_ns"):
        bars_nb(ts, px, 0, 0, 3)
    with pytest.raises(ValueError, match="n_bars"):
        bars_nb(ts, px, 0, 1, -1)
    assert [a.shape for a in bars_nb(ts, px, 0, 1, 0)] == [(0,)] * 5


# ---------------------------------------------------------------------------------------
# atr_nb
# ---------------------------------------------------------------------------------------


def pandas_atr(high, low, close, n, n_trend):
    bars = pd.DataFrame({"high": high, "low": low, "close": close})
    ne = bars[np.isfinite(bars.to_numpy()).all(axis=1)]
    prev = ne["close"].shift(1)
    tr = np.fmax(ne["high"], prev) - np.fmin(ne["low"], prev)
    atr = tr.rolling(n, min_periods=1).mean().reindex(bars.index).ffill()
    falling = atr < atr.shift(n_trend)
    return atr.to_numpy(dtype=np.float64), falling.to_numpy(dtype=bool)


@st.composite
def atr_cases(draw):
    n_bars = draw(st.integers(0, 40))
    close = np.asarray(draw(st.lists(st.floats(50, 150), min_size=n_bars, max_size=n_bars)))
    up = np.asarray(draw(st.lists(st.floats(0, 5), min_size=n_bars, max_size=n_bars)))
    down = np.asarray(draw(st.lists(st.floats(0, 5), min_size=n_bars, max_size=n_bars)))
    close = close.reshape(n_bars)
    high, low = close + up.reshape(n_bars), close - down.reshape(n_bars)
    if n_bars:
        for b in draw(st.sets(st.integers(0, n_bars - 1), max_size=n_bars)):
            high[b] = low[b] = close[b] = np.nan
    return high, low, close, draw(st.integers(1, 6)), draw(st.integers(1, 6))


@given(case=atr_cases())
def test_atr_matches_pandas(case):
    expected = pandas_atr(*case)
    for atr, falling in both(atr_nb, *case):
        assert atr.dtype == np.float64 and falling.dtype == np.bool_
        assert_same(atr, expected[0], rtol=1e-9, atol=1e-12)
        np.testing.assert_array_equal(falling, expected[1])


def test_atr_by_hand():
    nan = np.nan
    high = np.array([nan, 11.0, 12.0, nan, 12.5, 12.0])
    low = np.array([nan, 10.0, 11.5, nan, 12.0, 11.9])
    close = np.array([nan, 10.5, 12.0, nan, 12.2, 12.0])
    atr, falling = atr_nb(high, low, close, 2, 1)
    # TRs: 1.0 (first: high - low), 1.5 (12 - 10.5), 0.5 (12.5 - 12), 0.3 (12.2 - 11.9)
    np.testing.assert_allclose(atr, [nan, 1.0, 1.25, 1.25, 1.0, 0.4])
    assert falling.tolist() == [False, False, False, False, True, True]


def test_atr_bad_arguments_raise():
    x = np.ones(3)
    with pytest.raises(ValueError, match="n must"):
        atr_nb(x, x, x, 0, 1)
    with pytest.raises(ValueError, match="n_trend"):
        atr_nb(x, x, x, 1, 0)
    with pytest.raises(ValueError, match="same length"):
        atr_nb(x, x, np.ones(2), 1, 1)


# ---------------------------------------------------------------------------------------
# liquidation_cluster_distance_nb
# ---------------------------------------------------------------------------------------


def brute_cluster_distance(liq_ts, px, usd, grid, grid_px, window, bucket_bps, min_usd):
    log_q = math.log1p(bucket_bps * 1e-4)
    out = []
    for g, p in zip(grid.tolist(), grid_px.tolist(), strict=True):
        sums: dict[int, float] = {}
        for t, x, u in zip(liq_ts.tolist(), px.tolist(), usd.tolist(), strict=True):
            if g - window < t <= g and math.isfinite(x) and x > 0 and math.isfinite(u):
                b = math.floor(math.log(x) / log_q)
                sums[b] = sums.get(b, 0.0) + u
        clusters = [b for b, s in sums.items() if s >= min_usd]
        if not clusters or not math.isfinite(p):
            out.append(math.nan)
        else:
            out.append(min(abs(p / math.exp((b + 0.5) * log_q) - 1) * 1e4 for b in clusters))
    return np.asarray(out, dtype=np.float64)


@st.composite
def liquidation_cases(draw):
    liq_ts, grid, window = draw(timelines(max_size=30))
    n = len(liq_ts)
    px = draw(floats_with_specials(n, lo=95.0, hi=105.0))
    if n and draw(st.booleans()):
        px[draw(st.integers(0, n - 1))] = draw(st.sampled_from([0.0, -1.0]))
    # Whole-dollar notionals: the bucket sums are exact, so the oracle's order of
    # summation cannot move a sum across the threshold.
    usd = 1000.0 * np.asarray(
        draw(st.lists(st.integers(0, 60), min_size=n, max_size=n)), dtype=np.float64
    ).reshape(n)
    grid_px = draw(floats_with_specials(len(grid), lo=90.0, hi=110.0))
    return (
        liq_ts,
        px,
        usd,
        grid,
        grid_px,
        window,
        draw(st.sampled_from([1.0, 10.0, 25.0, 100.0])),
        draw(st.sampled_from([0.0, 1000.0, 30_000.0, 60_000.0, 150_000.0])),
    )


@given(case=liquidation_cases())
def test_liquidation_cluster_distance_matches_brute_force(case):
    expected = brute_cluster_distance(*case)
    for got in both(liquidation_cluster_distance_nb, *case):
        assert got.dtype == np.float64 and got.shape == case[3].shape
        assert_same(got, expected, rtol=1e-9, atol=1e-9)


def test_liquidation_cluster_distance_by_hand():
    liq_ts = np.array([0, 10, 20], dtype=np.int64)
    px = np.array([100.0, 100.02, 110.0])
    usd = np.array([60_000.0, 60_000.0, 500_000.0])
    grid = np.array([5, 15, 25, 35], dtype=np.int64)
    grid_px = np.full(4, 101.0)
    got = liquidation_cluster_distance_nb(liq_ts, px, usd, grid, grid_px, 20, 10.0, 100_000.0)
    log_q = math.log1p(1e-3)
    near = math.exp((math.floor(math.log(100.0) / log_q) + 0.5) * log_q)
    far = math.exp((math.floor(math.log(110.0) / log_q) + 0.5) * log_q)
    # t=5: 60k alone is no cluster; t=15: both rows at ~100 make one; t=25: the 100 row
    # at 0 has left (window (5, 25]), the 110 one is a cluster; t=35: only the 110 one.
    assert np.isnan(got[0])
    assert got[1] == pytest.approx(abs(101.0 / near - 1) * 1e4)
    assert got[2] == pytest.approx(abs(101.0 / far - 1) * 1e4)
    assert got[3] == pytest.approx(abs(101.0 / far - 1) * 1e4)


def test_liquidation_cluster_distance_bad_arguments_raise():
    z, f = np.zeros(1, np.int64), np.ones(1)
    with pytest.raises(ValueError, match="window_ns"):
        liquidation_cluster_distance_nb(z, f, f, z, f, -1, 10.0, 0.0)
    with pytest.raises(ValueError, match="bucket_bps"):
        liquidation_cluster_distance_nb(z, f, f, z, f, 1, 0.0, 0.0)
    with pytest.raises(ValueError, match="grid_px"):
        liquidation_cluster_distance_nb(z, f, f, z, np.ones(2), 1, 10.0, 0.0)


# ---------------------------------------------------------------------------------------
# Cost: linear in n + m, whatever the window
# ---------------------------------------------------------------------------------------
