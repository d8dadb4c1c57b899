"""The merged event stream of the engine: every ticker and trade in local-time order."""

from __future__ import annotations

import numpy as np

from spreadarb._jit import jit

#: Events per time window of :func:`merge_part_nb` on average (measured best of
#: 128-16384 on the SPEC §8 day: windows this small keep the sort cheap, larger ones the
#: per-window pass over the runs).
WINDOW_EVENTS = 1024


@jit
def first_unsorted_run_nb(
    ticker_ts: np.ndarray,
    trade_ts: np.ndarray,
    ticker_offsets: np.ndarray,
    trade_offsets: np.ndarray,
) -> int:
    """The first run (market ``m`` of tickers, or ``n_markets + m`` of trades) whose times
    decrease somewhere; -1 when every run is non-decreasing (the loader guarantees it)."""
    n_markets = ticker_offsets.shape[0] - 1
    for m in range(n_markets):
        for j in range(ticker_offsets[m] + 1, ticker_offsets[m + 1]):
            if ticker_ts[j] < ticker_ts[j - 1]:
                return m
        for j in range(trade_offsets[m] + 1, trade_offsets[m + 1]):
            if trade_ts[j] < trade_ts[j - 1]:
                return n_markets + m
    return -1


@jit
def run_bounds_nb(
    ticker_ts: np.ndarray,
    trade_ts: np.ndarray,
    ticker_offsets: np.ndarray,
    trade_offsets: np.ndarray,
    splits: np.ndarray,
) -> np.ndarray:
    """Row bounds of every run at each split time: ``bounds[p, r]`` is the first row of
    run ``r`` (tickers of market ``m`` at ``r = m``, trades at ``n_markets + m``) whose
    time is >= ``splits[p - 1]``; ``bounds[0]`` are the runs' starts and
    ``bounds[len(splits) + 1]`` their ends. ``splits`` must be increasing.

    Part ``p`` of the stream is rows ``bounds[p, r] .. bounds[p + 1, r]`` of every run:
    the events with ``splits[p - 1] <= ts < splits[p]``.
    """
    n_markets = ticker_offsets.shape[0] - 1
    n_parts = splits.shape[0] + 1
    bounds = np.empty((n_parts + 1, 2 * n_markets), dtype=np.int64)
    for r in range(2 * n_markets):
        if r < n_markets:
            run_ts = ticker_ts
            lo = ticker_offsets[r]
            hi = ticker_offsets[r + 1]
        else:
            run_ts = trade_ts
            lo = trade_offsets[r - n_markets]
            hi = trade_offsets[r - n_markets + 1]
        bounds[0, r] = lo
        bounds[n_parts, r] = hi
        for p in range(splits.shape[0]):
            bounds[p + 1, r] = lo + np.searchsorted(run_ts[lo:hi], splits[p])
    return bounds


@jit
def merge_part_nb(
    ticker_ts: np.ndarray,
    trade_ts: np.ndarray,
    first: np.ndarray,
    stop: np.ndarray,
    window_events: int,
    ts: np.ndarray,
    kind: np.ndarray,
    row: np.ndarray,
    market: np.ndarray,
    pos: int,
) -> None:
    """Merge rows ``first[r] .. stop[r]`` of every run (see :func:`run_bounds_nb`) into
    the output columns time, kind (0 ticker, 1 trade), row (within its table) and market,
    from index ``pos`` on, in local-time order.

    Equivalent to the stable argsort of the part's times in run order (ties: tickers
    before trades, then market order, then row order); each run must be non-decreasing
    in time (:func:`first_unsorted_run_nb`).

    Time is cut into windows of about ``window_events`` events; each window takes the next
    rows of every run in tie order, then a stable sort by time orders the window. Reads
    follow the runs, writes stay in a window: no pass of random access over the stream.
    """
    n_runs = first.shape[0]
    n_markets = n_runs // 2
    cur = first.copy()
    n = 0
    t_min = np.iinfo(np.int64).max
    t_max = np.iinfo(np.int64).min
    for r in range(n_runs):
        if stop[r] > cur[r]:
            n += stop[r] - cur[r]
            run_ts = ticker_ts if r < n_markets else trade_ts
            t_min = min(t_min, run_ts[cur[r]])
            t_max = max(t_max, run_ts[stop[r] - 1])
    if n == 0:
        return
    end_pos = pos + n
    n_windows = max(1, n // max(1, window_events))
    width = max(1, (t_max - t_min) // n_windows + 1)
    buf_ts = np.empty(16, dtype=np.int64)
    buf_kind = np.empty(16, dtype=np.int8)
    buf_row = np.empty(16, dtype=np.int64)
    buf_market = np.empty(16, dtype=np.int32)
    t = t_min
    while pos < end_pos:
        # Every remaining time is >= t; the window is [t, t + width), or the rest.
        t_end = t + width if t_max - t >= width else t_max + 1
        start = pos
        for r in range(n_runs):
            j = cur[r]
            e = stop[r]
            if r < n_markets:
                while j < e and ticker_ts[j] < t_end:
                    ts[pos] = ticker_ts[j]
                    kind[pos] = 0
                    row[pos] = j
                    market[pos] = r
                    pos += 1
                    j += 1
            else:
                while j < e and trade_ts[j] < t_end:
                    ts[pos] = trade_ts[j]
                    kind[pos] = 1
                    row[pos] = j
                    market[pos] = r - n_markets
                    pos += 1
                    j += 1
            cur[r] = j
        k = pos - start
        if k > 1:
            # Stable: equal times keep the tie order they were gathered in.
            order = np.argsort(ts[start:pos], kind="mergesort")
            if buf_ts.shape[0] < k:
                buf_ts = np.empty(k, dtype=np.int64)
                buf_kind = np.empty(k, dtype=np.int8)
                buf_row = np.empty(k, dtype=np.int64)
                buf_market = np.empty(k, dtype=np.int32)
            for i in range(k):
                q = start + order[i]
                buf_ts[i] = ts[q]
                buf_kind[i] = kind[q]
                buf_row[i] = row[q]
                buf_market[i] = market[q]
            for i in range(k):
                ts[start + i] = buf_ts[i]
                kind[start + i] = buf_kind[i]
                row[start + i] = buf_row[i]
                market[start + i] = buf_market[i]
        t = t_end
