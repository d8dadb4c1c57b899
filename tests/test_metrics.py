"""Portfolio metrics against hand computations and pandas."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from spreadarb.metrics import (
    holding_time_distribution,
    max_drawdown,
    minute_returns,
    sharpe_ratio,
    sortino_ratio,
)

S = 10**9


def test_max_drawdown_by_hand():
    ts = np.arange(6, dtype=np.int64) * S
    equity = np.array([100.0, 110.0, 99.0, 104.0, 111.0, 105.0])
    usd, frac, duration = max_drawdown(ts, equity)
    assert usd == pytest.approx(11.0)
    assert frac == pytest.approx(11.0 / 110.0)
    # Below the 110 peak from t=1 until it is regained at t=4: 3 s.
    assert duration == pytest.approx(3.0)


def _longest_below_peak_loop(ts, equity):
    """The drawdown duration point by point: each spell below the running peak, from the
    point before it (the peak) to the first point back at the peak or the last point."""
    under = equity - np.maximum.accumulate(equity) < 0
    longest, start = 0, -1
    for i, below in enumerate(under):
        if below and start < 0:
            start = i - 1 if i > 0 else 0
        if start >= 0 and (not below or i == under.size - 1):
            longest = max(longest, int(ts[i] - ts[start]))
            start = -1
    return longest / S


@given(
    st.lists(
        st.tuples(st.integers(1, 10**12), st.sampled_from([-2.0, -1.0, 0.0, 1.0, 2.5])), max_size=40
    ),
    st.floats(-100, 100),
)
def test_max_drawdown_duration_matches_the_point_by_point_walk(steps, first):
    """Ties at the peak (zero steps), spells from the first point and to the last one."""
    ts = np.cumsum([0] + [dt for dt, _ in steps]).astype(np.int64)
    equity = first + np.cumsum([0.0] + [dv for _, dv in steps])
    usd, _, duration = max_drawdown(ts, equity)
    assert duration == _longest_below_peak_loop(ts, equity)
    assert usd == float(-(equity - np.maximum.accumulate(equity)).min())


def test_holding_time_quantiles_are_numpys_one_by_one():
    seconds = np.random.default_rng(3).exponential(600.0, 37)
    got = holding_time_distribution(seconds)
    for key, q in (
        ("min", 0),
        ("p10", 10),
        ("p25", 25),
        ("p50", 50),
        ("p75", 75),
        ("p90", 90),
        ("max", 100),
    ):
        assert got[key] == float(np.percentile(seconds, q))
    assert got["count"] == 37


def test_minute_returns_sample_the_last_point_of_each_minute():
    ts = np.array([0, 30, 59, 60, 119, 180], dtype=np.int64) * S
    equity = np.array([1.0, 2.0, 100.0, 7.0, 110.0, 121.0])
    np.testing.assert_allclose(minute_returns(ts, equity), [0.1, 0.1])


@given(hnp.arrays(np.float64, st.integers(0, 50), elements=st.floats(-0.01, 0.01)))
def test_sharpe_and_sortino_match_pandas(r):
    s = pd.Series(r)
    per_year = 525_600
    sd = s.std(ddof=1) if len(s) > 1 else math.nan
    expected = s.mean() / sd * math.sqrt(per_year) if len(s) > 1 and sd > 0 else math.nan
    got = sharpe_ratio(r, per_year)
    assert (math.isnan(got) and math.isnan(expected)) or got == pytest.approx(expected)
    down = math.sqrt((s.clip(upper=0) ** 2).mean()) if len(s) > 1 else 0.0
    expected_sortino = s.mean() / down * math.sqrt(per_year) if down > 0 else math.nan
    got_sortino = sortino_ratio(r, per_year)
    assert (math.isnan(got_sortino) and math.isnan(expected_sortino)) or (
        got_sortino == pytest.approx(expected_sortino)
    )
