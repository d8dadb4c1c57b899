"""The fused per-venue state kernel against the numpy expressions it replaced.

The oracle is what :func:`spreadarb.state.symbol_state` computed column by column
before the kernel existed: an as-of index by ``np.searchsorted``, a gather per column
(NaN before the first ticker), then the same arithmetic on whole arrays. Results must
be bit-identical (the scan's golden outputs depend on it), so arrays are compared
exactly, NaN equal to NaN.
"""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from spreadarb.kernels import state as vs
from spreadarb.kernels.state import venue_state_nb

UNIT = 250_000_000
EIGHT_HOURS_S = 8 * 3600


def _gather(values: np.ndarray, idx: np.ndarray) -> np.ndarray:
    out = np.full(idx.size, np.nan)
    ok = idx >= 0
    out[ok] = values[idx[ok]]
    return out


def reference(grid, tk, vwap, sd, atr, falling, bar_start, bar_ns):
    """The numpy code of ``symbol_state`` for one venue (before the fused kernel)."""
    ts = tk["ts"]
    m = grid.size
    idx = np.searchsorted(ts, grid, side="right") - 1
    out = np.full((vs.N_FIELDS, m), np.nan)
    bid = out[vs.BID] = _gather(tk["bid"], idx)
    ask = out[vs.ASK] = _gather(tk["ask"], idx)
    out[vs.BID_DEPTH] = _gather(tk["bid_depth"], idx)
    out[vs.ASK_DEPTH] = _gather(tk["ask_depth"], idx)
    to_8h = EIGHT_HOURS_S / tk["interval"]
    out[vs.FUNDING_8H] = _gather(tk["funding"] * to_8h, idx)
    out[vs.PREDICTED_8H] = _gather(tk["predicted"] * to_8h, idx)
    out[vs.OI] = _gather(tk["oi"], idx)
    known = idx >= 0
    age = np.full(m, np.nan)
    age[known] = (grid[known] - ts[idx[known]]).astype(np.float64)
    out[vs.QUOTE_AGE_NS] = age
    mid = out[vs.MID] = 0.5 * (bid + ask)
    with np.errstate(all="ignore"):
        out[vs.VWAP_DEV] = np.where(sd > 0, (mid - vwap) / sd, np.nan)
    atr_falling = np.zeros(m, dtype=bool)
    if atr.size:
        done = (grid - bar_start) // bar_ns - 1
        ok = done >= 0
        b = np.where(ok, done, 0)
        with np.errstate(all="ignore"):
            out[vs.ATR_BPS] = np.where(ok, atr[b] / mid * 1e4, np.nan)
        atr_falling = ok & falling[b]
    return out, atr_falling


prices = st.floats(0.5, 2e5, allow_nan=False) | st.just(np.nan)


@st.composite
def venues(draw):
    n = draw(st.integers(0, 25))
    ts = np.sort(np.array(draw(st.lists(st.integers(0, 40), min_size=n, max_size=n)), np.int64))
    ts *= UNIT

    def col(strategy):
        return np.array(draw(st.lists(strategy, min_size=n, max_size=n)), dtype=np.float64)

    tk = {
        "ts": ts,
        "bid": col(prices),
        "ask": col(prices),
        "bid_depth": col(st.floats(0, 1e7)),
        "ask_depth": col(st.floats(0, 1e7)),
        "funding": col(st.floats(-1e-2, 1e-2)),
        "predicted": col(st.floats(-1e-2, 1e-2) | st.just(np.nan)),
        "oi": col(st.floats(0, 1e9) | st.just(np.nan)),
        "interval": np.array(
            draw(st.lists(st.sampled_from([3600, 14400, 28800]), min_size=n, max_size=n)),
            dtype=np.int64,
        ),
    }
    m = draw(st.integers(0, 30))
    start = draw(st.integers(-3, 10))
    grid = (start + np.arange(m, dtype=np.int64)) * (2 * UNIT)
    vwap = np.array(draw(st.lists(prices, min_size=m, max_size=m)), dtype=np.float64)
    sd = np.array(
        draw(st.lists(st.floats(0, 50) | st.just(np.nan), min_size=m, max_size=m)),
        dtype=np.float64,
    )
    bar_ns = draw(st.sampled_from([UNIT, 3 * UNIT, 8 * UNIT]))
    bar_start = (int(ts[0]) // bar_ns) * bar_ns if n else 0
    n_bars = max(0, (int(grid[-1]) - bar_start) // bar_ns + 1) if (n and m) else 0
    atr = np.array(
        draw(st.lists(st.floats(0, 100) | st.just(np.nan), min_size=n_bars, max_size=n_bars)),
        dtype=np.float64,
    )
    falling = np.array(
        draw(st.lists(st.booleans(), min_size=n_bars, max_size=n_bars)), dtype=np.bool_
    )
    return grid, tk, vwap, sd, atr, falling, bar_start, bar_ns


@given(venues(), st.integers(0, 2))
def test_venue_state_matches_the_numpy_expressions(venue, j):
    grid, tk, vwap, sd, atr, falling, bar_start, bar_ns = venue
    expected, expected_falling = reference(grid, tk, vwap, sd, atr, falling, bar_start, bar_ns)
    for kernel in (venue_state_nb, venue_state_nb.py_func):
        out = np.full((vs.N_FIELDS, 3, grid.size), -7.0)
        out_falling = np.zeros((3, grid.size), dtype=bool)
        # The Python twin divides numpy scalars, which warn on overflow (a subnormal
        # deviation) where the compiled body silently gives inf, as the reference does.
        with np.errstate(all="ignore"):
            kernel(
                grid,
                tk["ts"],
                tk["bid"],
                tk["ask"],
                tk["bid_depth"],
                tk["ask_depth"],
                tk["funding"],
                tk["predicted"],
                tk["interval"],
                tk["oi"],
                vwap,
                sd,
                atr,
                falling,
                bar_start,
                bar_ns,
                out,
                out_falling,
                j,
            )
        np.testing.assert_array_equal(out[:, j], expected)
        np.testing.assert_array_equal(out_falling[j], expected_falling)
        others = [r for r in range(3) if r != j]
        assert (out[:, others] == -7.0).all()  # only row j is written


def test_module_kernels_are_documented_with_a_python_twin():
    for kernel in (vs.venue_state_nb,):
        assert kernel.__name__.endswith("_nb") and callable(kernel.py_func)
        doc = kernel.__doc__ or ""
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
