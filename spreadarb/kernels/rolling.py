"""Generic time-window kernels over columnar tick arrays.

Every public kernel is a pure ``@jit`` function named ``*_nb`` that takes numpy arrays and
scalars and returns new arrays; ``kernel.py_func`` is its Python body. Conventions shared
by all of them:

* Timestamps are int64 nanoseconds. Row timestamps ``ts`` and evaluation times ``grid``
  must be non-decreasing (``ts`` may repeat). This is a precondition, not checked here
  (the loader validates ``ts_local``); unsorted input gives unspecified results.
* A window of length ``window_ns`` at time ``t`` is half-open, ``(t - window_ns, t]``:
  a row stamped exactly ``t`` is in, one stamped exactly ``t - window_ns`` is out, and
  every row sharing a timestamp is in or out together. ``window_ns`` is an integer
  ``>= 0`` (0 gives empty windows); a negative one raises ``ValueError``. ``t - window_ns``
  saturates at the smallest int64 instead of wrapping around.
* Rows whose value (or weight) is not finite are skipped, as if they were absent. This is
  pandas' NaN rule, extended to infinities (the contract rejects them in prices and sizes
  anyway). A statistic over a window with no usable row is NaN.
* Empty inputs are fine: ``n = 0`` rows or ``m = 0`` grid points.
* Cost is O(n + m) time: two pointers walk ``ts`` once while the grid is walked once.
  Memory is the outputs plus, for the rolling moments, 24 bytes per row.

Rolling statistics never subtract a row that leaves the window (which would cancel
catastrophically when a large value leaves small ones behind); they combine summaries of
the rows inside the window only (suffix summaries of the window-long block of time before
and a running prefix of the current one, amortised O(1) per row, see
``_rolling_moments``) with Chan's stable pairwise merge of weighted (sum of weights,
mean, sum of squared deviations) summaries. A rolling statistic at ``t`` depends on the
rows and ``t`` only, not on the other grid times.
"""

from __future__ import annotations

import math

import numpy as np

from spreadarb._jit import jit

__all__ = [
    "asof_index_nb",
    "atr_nb",
    "bars_nb",
    "rolling_count_at_nb",
    "rolling_lag_sums_at_nb",
    "rolling_mean_at_nb",
    "rolling_weighted_moments_at_nb",
    "window_bounds_nb",
]

_INT64_MIN = -(2**63)


@jit(inline=True)
def _window_start(t: np.int64, window_ns: np.int64) -> np.int64:
    """``t - window_ns`` for ``window_ns >= 0``, saturated at the smallest int64."""
    if t < _INT64_MIN + window_ns:
        return np.int64(_INT64_MIN)
    return t - window_ns


@jit
def asof_index_nb(ts: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """Index of the last row at or before each grid time (an as-of join).

    Equivalent to ``np.searchsorted(ts, grid, side="right") - 1``.

    Parameters
    ----------
    ts
        Shape ``(n,)``, int64 ns, non-decreasing: row timestamps.
    grid
        Shape ``(m,)``, int64 ns, non-decreasing: evaluation times.

    Returns
    -------
    ndarray
        Shape ``(m,)``, int64: the largest ``i`` with ``ts[i] <= grid[k]`` (the last of
        a run of equal timestamps), or -1 when every row is later than ``grid[k]``.
    """
    n = ts.shape[0]
    m = grid.shape[0]
    out = np.empty(m, dtype=np.int64)
    j = 0  # rows with ts <= the current grid time
    for k in range(m):
        g = grid[k]
        while j < n and ts[j] <= g:
            j += 1
        out[k] = j - 1
    return out


@jit
def window_bounds_nb(
    ts: np.ndarray, grid: np.ndarray, window_ns: int
) -> tuple[np.ndarray, np.ndarray]:
    """Row range of each window: rows ``start[k]:stop[k]`` have ts in ``(g - w, g]``.

    Equivalent to ``(np.searchsorted(ts, grid - window_ns, side="right"),
    np.searchsorted(ts, grid, side="right"))``.

    Parameters
    ----------
    ts
        Shape ``(n,)``, int64 ns, non-decreasing: row timestamps.
    grid
        Shape ``(m,)``, int64 ns, non-decreasing: window end times.
    window_ns
        Window length, ns, ``>= 0``.

    Returns
    -------
    start, stop : ndarray
        Shape ``(m,)``, int64 each, both non-decreasing; ``start[k] == stop[k]`` for an
        empty window.

    Raises
    ------
    ValueError
        ``window_ns < 0``.
    """
    w = np.int64(window_ns)
    if w < 0:
        raise ValueError("window_ns must be >= 0")
    n = ts.shape[0]
    m = grid.shape[0]
    start = np.empty(m, dtype=np.int64)
    stop = np.empty(m, dtype=np.int64)
    lo = 0
    hi = 0
    for k in range(m):
        g = grid[k]
        left = _window_start(g, w)
        while lo < n and ts[lo] <= left:
            lo += 1
        if hi < lo:
            hi = lo
        while hi < n and ts[hi] <= g:
            hi += 1
        start[k] = lo
        stop[k] = hi
    return start, stop


@jit
def rolling_count_at_nb(ts: np.ndarray, grid: np.ndarray, window_ns: int) -> np.ndarray:
    """Number of rows with ts in ``(grid[k] - window_ns, grid[k]]``.

    Counts rows, whatever their values (a row with a NaN value still counts here, unlike
    in :func:`rolling_mean_at_nb`). Equivalent to
    ``np.searchsorted(ts, grid, "right") - np.searchsorted(ts, grid - window_ns, "right")``.

    Parameters
    ----------
    ts
        Shape ``(n,)``, int64 ns, non-decreasing: row timestamps.
    grid
        Shape ``(m,)``, int64 ns, non-decreasing: window end times.
    window_ns
        Window length, ns, ``>= 0``.

    Returns
    -------
    ndarray
        Shape ``(m,)``, int64; 0 for an empty window.

    Raises
    ------
    ValueError
        ``window_ns < 0``.
    """
    start, stop = window_bounds_nb(ts, grid, window_ns)
    return stop - start


@jit
def rolling_lag_sums_at_nb(
    ts: np.ndarray,
    earlier: np.ndarray,
    grid: np.ndarray,
    window_ns: int,
    sums: np.ndarray,
    counts: np.ndarray,
) -> int:
    """Add each window's sum of ``ts - earlier`` to ``sums`` and its row count to ``counts``.

    For every grid time ``g``, the rows with ts in ``(g - window_ns, g]`` add their lags
    ``ts[i] - earlier[i]`` to ``sums[k]`` and their number to ``counts[k]``: a caller
    pools several row sets (an exchange's markets) by calling it once per set. int64
    arithmetic wraps around, so ``sums[k]`` is exact whenever the true total fits in
    int64 (checked by the caller with the returned bound). Equivalent to ``start, stop =
    window_bounds_nb(ts, grid, window_ns)``, ``prefix = np.r_[0, np.cumsum(ts -
    earlier)]``, ``sums += prefix[stop] - prefix[start]`` and ``counts += stop - start``,
    in one pass and no temporary arrays.

    Parameters
    ----------
    ts
        Shape ``(n,)``, int64 ns, non-decreasing: row timestamps (``ts_local``).
    earlier
        Shape ``(n,)``, int64 ns: the time each row is lagged from (``ts_exchange``).
    grid
        Shape ``(m,)``, int64 ns, non-decreasing: window end times.
    window_ns
        Window length, ns, ``>= 0``.
    sums, counts
        Shape ``(m,)``, int64: added to in place.

    Returns
    -------
    int
        The largest ``|ts[i] - earlier[i]|`` over the rows in some window (0 if none).

    Raises
    ------
    ValueError
        ``window_ns < 0``, or arrays of mismatched lengths.
    """
    w = np.int64(window_ns)
    if w < 0:
        raise ValueError("window_ns must be >= 0")
    n = ts.shape[0]
    m = grid.shape[0]
    if earlier.shape[0] != n:
        raise ValueError("earlier must have the same length as ts")
    if sums.shape[0] != m or counts.shape[0] != m:
        raise ValueError("sums and counts must have the length of grid")
    largest = np.int64(0)
    total = np.int64(0)  # lags of rows lo:hi
    lo = 0
    hi = 0
    for k in range(m):
        g = grid[k]
        left = _window_start(g, w)
        while hi < n and ts[hi] <= g:
            lag = ts[hi] - earlier[hi]
            if lag > largest:
                largest = lag
            elif -lag > largest:
                largest = -lag
            total += lag
            hi += 1
        while lo < hi and ts[lo] <= left:
            total -= ts[lo] - earlier[lo]
            lo += 1
        sums[k] += total
        counts[k] += hi - lo
    return int(largest)


@jit(inline=True)
def _usable_row(
    values: np.ndarray, weights: np.ndarray, unit_weights: bool, i: int
) -> tuple[float, float, bool]:
    """Value, weight and whether row ``i`` takes part (finite value, finite weight > 0)."""
    x = float(values[i])
    wt = 1.0 if unit_weights else float(weights[i])
    return x, wt, math.isfinite(x) and math.isfinite(wt) and wt > 0.0


@jit(inline=True)
def _merge(
    w_a: float, mean_a: float, m2_a: float, w_b: float, mean_b: float, m2_b: float
) -> tuple[float, float, float]:
    """Chan et al.'s pairwise merge of two weighted (sum of weights, mean, M2) summaries.

    ``M2 = sum(w * (x - mean)**2)``. Only sums of non-negative terms and a difference of
    means appear, so nothing cancels catastrophically; an empty side (weight 0) is the
    identity.
    """
    if w_b == 0.0:
        return w_a, mean_a, m2_a
    if w_a == 0.0:
        return w_b, mean_b, m2_b
    w = w_a + w_b
    delta = mean_b - mean_a
    frac = w_b / w
    return w, mean_a + delta * frac, m2_a + m2_b + delta * delta * (w_a * frac)


@jit
def _rolling_moments(
    ts: np.ndarray,
    values: np.ndarray,
    weights: np.ndarray,
    grid: np.ndarray,
    window_ns: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Shared body of the rolling mean and the rolling weighted moments.

    ``weights`` of length 0 means unit weights (the rolling mean). The flag is decided
    from the array, not passed as a constant, so numba compiles one specialisation for
    both callers instead of one per literal value (cold JIT time).

    Time is cut into blocks ``(b * w, (b + 1) * w]`` of one window length ``w``, aligned
    to the epoch, so a window ``(t - w, t]`` is a suffix of the block before ``t``'s
    block and a prefix of ``t``'s block. The prefix is one running summary that rows join
    on the right; for the block before, the summary of every suffix is computed once,
    right to left, when time enters the next block. A window's summary is the merge of
    the two, so no row is ever subtracted (a large value that has left the window cannot
    spoil the precision of the small ones that remain) and each row is merged at most
    twice: O(n + m). Blocks that no grid time needs are skipped.

    Each summary depends only on the rows and on ``t``, not on which other grid times
    are evaluated: evaluating at a subset of the grid gives bit-identical values there
    (the scan evaluates each venue only where it is a leg of the pair).
    """
    w = np.int64(window_ns)
    if w < 0:
        raise ValueError("window_ns must be >= 0")
    n = ts.shape[0]
    if values.shape[0] != n:
        raise ValueError("values must have the same length as ts")
    unit_weights = weights.shape[0] == 0
    if not unit_weights and weights.shape[0] != n:
        raise ValueError("weights must have the same length as ts")
    m = grid.shape[0]
    # np.empty, then a fill: numba compiles np.zeros and np.full as functions of their own
    # for each dtype, 0.1 s each of a cold start (docs/development.md).
    sum_w = np.empty(m, dtype=np.float64)
    sum_w[:] = 0.0
    mean = np.empty(m, dtype=np.float64)
    mean[:] = np.nan
    std = np.empty(m, dtype=np.float64)
    std[:] = np.nan
    if w == 0:
        return sum_w, mean, std  # every window (t, t] is empty

    # Suffix summaries of the block before the current one, row i at i - base. Sized
    # for every row: sizing them to the largest block needed a pre-pass over the rows,
    # and growing them kept numba from hoisting their loads (2.5x slower). 24 bytes a
    # row, alive for the call.
    cap = max(n, 1)
    front_w = np.empty(cap, dtype=np.float64)
    front_mean = np.empty(cap, dtype=np.float64)
    front_m2 = np.empty(cap, dtype=np.float64)
    back_w = 0.0
    back_mean = 0.0
    back_m2 = 0.0
    lo = 0  # first row of the window
    split = 0  # first row of the current block; front rows are base:split
    hi = 0  # rows with ts <= t
    base = 0
    block_end = np.int64(0)  # rows with ts <= block_end are before the current block
    for k in range(m):
        g = grid[k]
        left = _window_start(g, w)
        r = g % w  # in [0, w): numba's % of integers is Python's
        end = _window_start(g, r) if r != 0 else left  # g - r, saturated like left
        if k == 0 or end != block_end:
            before = _window_start(end, w)  # the previous block is (before, end]
            start = split if k > 0 and before == block_end else hi
            while start < n and ts[start] <= before:
                start += 1
            stop = max(start, hi)
            while stop < n and ts[stop] <= end:
                stop += 1
            acc_w = 0.0
            acc_mean = 0.0
            acc_m2 = 0.0
            base = start
            for i in range(stop - 1, start - 1, -1):
                x, wt, ok = _usable_row(values, weights, unit_weights, i)
                if ok:
                    acc_w, acc_mean, acc_m2 = _merge(wt, x, 0.0, acc_w, acc_mean, acc_m2)
                front_w[i - base] = acc_w
                front_mean[i - base] = acc_mean
                front_m2[i - base] = acc_m2
            lo = start
            split = stop
            hi = stop
            block_end = end
            back_w = 0.0
            back_mean = 0.0
            back_m2 = 0.0
        # Rows of the current block are all later than t - w: lo stays in the front.
        while lo < split and ts[lo] <= left:
            lo += 1
        while hi < n and ts[hi] <= g:
            x, wt, ok = _usable_row(values, weights, unit_weights, hi)
            if ok:
                back_w, back_mean, back_m2 = _merge(back_w, back_mean, back_m2, wt, x, 0.0)
            hi += 1
        tot_w = back_w
        tot_mean = back_mean
        tot_m2 = back_m2
        if lo < split:
            j = lo - base
            tot_w, tot_mean, tot_m2 = _merge(
                front_w[j], front_mean[j], front_m2[j], back_w, back_mean, back_m2
            )
        if tot_w > 0.0:
            sum_w[k] = tot_w
            mean[k] = tot_mean
            std[k] = math.sqrt(tot_m2 / tot_w) if tot_m2 > 0.0 else 0.0
    return sum_w, mean, std


@jit
def rolling_mean_at_nb(
    ts: np.ndarray, values: np.ndarray, grid: np.ndarray, window_ns: int
) -> np.ndarray:
    """Mean of ``values`` over the rows with ts in ``(grid[k] - window_ns, grid[k]]``.

    Non-finite values are skipped; a window with no finite value gives NaN. Equivalent to
    ``values[(ts > g - window_ns) & (ts <= g) & np.isfinite(values)].mean()`` per grid
    time ``g``; at ``g = ts[i]`` with ``i`` the last row of its timestamp, to pandas'
    ``pd.Series(values, index=pd.to_datetime(ts)).rolling(pd.Timedelta(window_ns, "ns"),
    closed="right").mean().iloc[i]`` (infinities replaced by NaN). Unlike pandas, every
    row sharing the timestamp ``g`` is in the window, not only those before row ``i``.

    Parameters
    ----------
    ts
        Shape ``(n,)``, int64 ns, non-decreasing: row timestamps.
    values
        Shape ``(n,)``: the values to average.
    grid
        Shape ``(m,)``, int64 ns, non-decreasing: window end times.
    window_ns
        Window length, ns, ``>= 0``.

    Returns
    -------
    ndarray
        Shape ``(m,)``, float64; NaN for a window without a finite value.

    Raises
    ------
    ValueError
        ``window_ns < 0`` or ``values`` not as long as ``ts``.
    """
    return _rolling_moments(ts, values, np.empty(0, dtype=np.float64), grid, window_ns)[1]


@jit
def rolling_weighted_moments_at_nb(
    ts: np.ndarray, values: np.ndarray, weights: np.ndarray, grid: np.ndarray, window_ns: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Weighted sum of weights, mean and standard deviation over ``(g - window_ns, g]``.

    With ``values = price`` and ``weights = size`` the mean is the VWAP and the standard
    deviation is that of price around the VWAP, so ``(price - mean) / std`` is the VWAP
    deviation in standard deviations. The deviation is the population one (``ddof=0``):
    ``sqrt(sum(w * (x - mean)**2) / sum(w))``.

    A row takes part when its value and weight are finite and its weight is > 0; other
    rows are skipped. Equivalent to ``(w.sum(),
    np.average(x, weights=w), np.sqrt(np.cov(x, aweights=w, ddof=0)))`` per grid time
    ``g``, with ``x, w`` the values and weights of the rows in ``(g - window_ns, g]`` that
    take part, and to ``(0.0, nan, nan)`` when no row does.

    Accuracy: the summaries track the mean and the squared deviations from it directly
    (never ``E[x**2] - E[x]**2``) and only ever combine rows inside the window, so
    prices around 60000 with a standard deviation of 1e-2 keep about 9 significant
    digits of the deviation, and equal values give a deviation of exactly 0.

    Parameters
    ----------
    ts
        Shape ``(n,)``, int64 ns, non-decreasing: row timestamps.
    values
        Shape ``(n,)``: the values (e.g. trade prices).
    weights
        Shape ``(n,)``: their weights, ``>= 0`` (e.g. trade sizes).
    grid
        Shape ``(m,)``, int64 ns, non-decreasing: window end times.
    window_ns
        Window length, ns, ``>= 0``.

    Returns
    -------
    sum_w : ndarray
        Shape ``(m,)``, float64: sum of the weights taking part; 0.0 for an empty window.
    mean : ndarray
        Shape ``(m,)``, float64: weighted mean; NaN for an empty window.
    std : ndarray
        Shape ``(m,)``, float64: weighted population standard deviation, ``>= 0``; NaN
        for an empty window.

    Raises
    ------
    ValueError
        ``window_ns < 0``, or ``values`` or ``weights`` not as long as ``ts``.
    """
    if values.shape[0] == ts.shape[0] and weights.shape[0] != ts.shape[0]:
        raise ValueError("weights must have the same length as ts")
    # With no rows, empty weights read as unit weights: the result is the same.
    return _rolling_moments(ts, values, weights, grid, window_ns)


@jit
def bars_nb(
    ts: np.ndarray, price: np.ndarray, start_ns: int, bar_ns: int, n_bars: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """OHLC bars of a price series on a fixed grid of ``n_bars`` bars.

    Bar ``b`` covers ``[start_ns + b * bar_ns, start_ns + (b + 1) * bar_ns)`` (closed on
    the left, unlike the rolling windows: bars partition time). Rows outside
    ``[start_ns, start_ns + n_bars * bar_ns)`` and rows with a non-finite price are
    ignored. Equivalent to pandas'
    ``s.resample(pd.Timedelta(bar_ns, "ns"), origin=pd.Timestamp(start_ns)).ohlc()`` and
    ``.count()`` on ``s = pd.Series(price, index=pd.to_datetime(ts))`` restricted to that
    range, reindexed to all ``n_bars`` bar starts.

    Parameters
    ----------
    ts
        Shape ``(n,)``, int64 ns, non-decreasing: row timestamps.
    price
        Shape ``(n,)``: prices.
    start_ns
        Start of the first bar, int64 ns.
    bar_ns
        Bar length, ns, ``> 0``.
    n_bars
        Number of bars, ``>= 0``.

    Returns
    -------
    open, high, low, close : ndarray
        Shape ``(n_bars,)``, float64: first, largest, smallest and last finite price of
        each bar; NaN for a bar without one.
    count : ndarray
        Shape ``(n_bars,)``, int64: number of finite prices in each bar.

    Raises
    ------
    ValueError
        ``bar_ns <= 0``, ``n_bars < 0`` or ``price`` not as long as ``ts``.
    """
    bar = np.int64(bar_ns)
    start = np.int64(start_ns)
    nb = np.int64(n_bars)
    if bar <= 0:
        raise ValueError("bar_ns must be > 0")
    if nb < 0:
        raise ValueError("n_bars must be >= 0")
    n = ts.shape[0]
    if price.shape[0] != n:
        raise ValueError("price must have the same length as ts")
    open_ = np.empty(nb, dtype=np.float64)
    open_[:] = np.nan
    high = np.empty(nb, dtype=np.float64)
    high[:] = np.nan
    low = np.empty(nb, dtype=np.float64)
    low[:] = np.nan
    close = np.empty(nb, dtype=np.float64)
    close[:] = np.nan
    count = np.empty(nb, dtype=np.int64)
    count[:] = 0
    for i in range(n):
        t = ts[i]
        if t < start:
            continue
        b = (t - start) // bar
        if b >= nb:
            break  # ts is sorted: every later row is past the last bar too
        x = float(price[i])
        if not math.isfinite(x):
            continue
        if count[b] == 0:
            open_[b] = x
            high[b] = x
            low[b] = x
        else:
            if x > high[b]:
                high[b] = x
            if x < low[b]:
                low[b] = x
        close[b] = x
        count[b] += 1
    return open_, high, low, close, count


@jit
def atr_nb(
    high: np.ndarray, low: np.ndarray, close: np.ndarray, n: int, n_trend: int
) -> tuple[np.ndarray, np.ndarray]:
    """Average true range over the last ``n`` non-empty bars, and whether it is falling.

    A bar is empty when its high, low or close is not finite (``bars_nb`` gives NaN for
    a bar without trades). The true range of a non-empty bar is
    ``max(high, prev_close) - min(low, prev_close)`` where ``prev_close`` is the close of
    the latest earlier non-empty bar (empty bars carry it forward); the first non-empty
    bar has no previous close and its true range is ``high - low``. ``atr[b]`` is the
    simple (not Wilder-smoothed) mean of the true ranges of the last ``n`` non-empty bars
    at or before ``b``, or of all of them while there are fewer than ``n``; an empty bar
    therefore repeats the previous bar's ATR, and the ATR is NaN until the first
    non-empty bar. ``falling[b]`` is ``atr[b] < atr[b - n_trend]``; it is False for
    ``b < n_trend`` and wherever either ATR is NaN.

    Equivalent to this pandas code, with ``df`` the bars and ``ne = df.dropna()``:
    ``tr = np.fmax(ne.high, ne.close.shift()) - np.fmin(ne.low, ne.close.shift())``,
    ``atr = tr.rolling(n, min_periods=1).mean().reindex(df.index).ffill()`` and
    ``falling = atr < atr.shift(n_trend)``.

    Parameters
    ----------
    high, low, close
        Shape ``(n_bars,)``, float64: bar highs, lows and closes (e.g. from
        :func:`bars_nb`).
    n
        Number of non-empty bars averaged, ``>= 1``.
    n_trend
        Lag, in bars, of the ATR compared with to decide the trend, ``>= 1``.

    Returns
    -------
    atr : ndarray
        Shape ``(n_bars,)``, float64, price units.
    falling : ndarray
        Shape ``(n_bars,)``, bool.

    Raises
    ------
    ValueError
        ``n < 1``, ``n_trend < 1`` or the three inputs of different lengths.
    """
    if n < 1:
        raise ValueError("n must be >= 1")
    if n_trend < 1:
        raise ValueError("n_trend must be >= 1")
    n_bars = close.shape[0]
    if high.shape[0] != n_bars or low.shape[0] != n_bars:
        raise ValueError("high, low and close must have the same length")
    atr = np.empty(n_bars, dtype=np.float64)
    atr[:] = np.nan
    falling = np.empty(n_bars, dtype=np.bool_)
    falling[:] = False
    # True ranges of the non-empty bars, averaged over the last n without subtracting
    # (a two-stack scheme; _rolling_moments splits at fixed blocks instead, as its windows
    # are in time): trs[lo:hi] is the window, suffix[i] = sum(trs[i:mid]) for the front
    # part and back = sum(trs[mid:hi]).
    trs = np.empty(n_bars, dtype=np.float64)
    suffix = np.empty(n_bars, dtype=np.float64)
    lo = 0
    mid = 0
    hi = 0
    back = 0.0
    prev_close = 0.0
    current = np.nan
    for b in range(n_bars):
        h = float(high[b])
        lw = float(low[b])
        c = float(close[b])
        if math.isfinite(h) and math.isfinite(lw) and math.isfinite(c):
            # The first non-empty bar has no previous close: its range is high - low.
            tr = max(h, prev_close) - min(lw, prev_close) if hi > 0 else h - lw
            prev_close = c
            trs[hi] = tr
            hi += 1
            back += tr
            if hi - lo > n:
                if lo == mid:
                    acc = 0.0
                    for i in range(hi - 1, mid - 1, -1):
                        acc += trs[i]
                        suffix[i] = acc
                    mid = hi
                    back = 0.0
                lo += 1
            total = back + suffix[lo] if lo < mid else back
            current = total / (hi - lo)
        atr[b] = current
        if b >= n_trend:
            falling[b] = atr[b] < atr[b - n_trend]
    return atr, falling
