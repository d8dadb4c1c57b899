"""Portfolio metrics against hand computations and pandas."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from spreadarb.metrics import max_drawdown, minute_returns, sharpe_ratio, sortino_ratio

S = 10**9


def test_max_drawdown_by_hand():
    ts = np.arange(6, dtype=np.int64) * S
    equity = np.array([100.0, 110.0, 99.0, 104.0, 111.0, 105.0])
    usd, frac, duration = max_drawdown(ts, equity)
    assert usd == pytest.approx(11.0)
    assert frac == pytest.approx(11.0 / 110.0)
    # Below the 110 peak from t=1 until it is regained at t=4: 3 s.
    assert duration == pytest.approx(3.0)


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
