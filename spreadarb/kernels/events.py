"""The merged event stream of the engine: every ticker and trade in local-time order."""

from __future__ import annotations

import numpy as np

from spreadarb._jit import jit

#: Events per time window of :func:`merge_events_nb` on average (measured best of
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
def merge_events_nb(
    ticker_ts: np.ndarray,
    trade_ts: np.ndarray,
    ticker_offsets: np.ndarray,
    trade_offsets: np.ndarray,
    window_events: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Merge every market's ticker and trade runs into one stream in local-time order.

    Equivalent to the stable argsort of ``concat(ticker_ts, trade_ts)`` (ties: tickers
    before trades, then market order, then row order) applied to the columns time, kind
    (0 ticker, 1 trade), row (within its table) and market; each run (a market's rows
    of one table, CSR ``offsets``) must be non-decreasing in time
    (:func:`first_unsorted_run_nb`).

    Time is cut into windows of about ``window_events`` events; each window takes the next
    rows of every run in tie order, then a stable sort by time orders the window. Reads
    follow the runs, writes stay in a window: no pass of random access over the stream.

    Returns
    -------
    ts, kind, row, market
        int64, int8, int64, int32 arrays, one item per ticker and trade.
    """
    n_markets = ticker_offsets.shape[0] - 1
    n_runs = 2 * n_markets
    n = ticker_ts.shape[0] + trade_ts.shape[0]
    ts = np.empty(n, dtype=np.int64)
    kind = np.empty(n, dtype=np.int8)
    row = np.empty(n, dtype=np.int64)
    market = np.empty(n, dtype=np.int32)
    if n == 0:
        return ts, kind, row, market
    cur = np.empty(n_runs, dtype=np.int64)
    end = np.empty(n_runs, dtype=np.int64)
    t_min = np.iinfo(np.int64).max
    t_max = np.iinfo(np.int64).min
    for m in range(n_markets):
        cur[m] = ticker_offsets[m]
        end[m] = ticker_offsets[m + 1]
        cur[n_markets + m] = trade_offsets[m]
        end[n_markets + m] = trade_offsets[m + 1]
        if end[m] > cur[m]:
            t_min = min(t_min, ticker_ts[cur[m]])
            t_max = max(t_max, ticker_ts[end[m] - 1])
        if end[n_markets + m] > cur[n_markets + m]:
            t_min = min(t_min, trade_ts[cur[n_markets + m]])
            t_max = max(t_max, trade_ts[end[n_markets + m] - 1])
    n_windows = max(1, n // max(1, window_events))
    width = max(1, (t_max - t_min) // n_windows + 1)
    buf_ts = np.empty(16, dtype=np.int64)
    buf_kind = np.empty(16, dtype=np.int8)
    buf_row = np.empty(16, dtype=np.int64)
    buf_market = np.empty(16, dtype=np.int32)
    pos = 0
    t = t_min
    while pos < n:
        # Every remaining time is >= t; the window is [t, t + width), or the rest.
        t_end = t + width if t_max - t >= width else t_max + 1
        start = pos
        for r in range(n_runs):
            j = cur[r]
            e = end[r]
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
    return ts, kind, row, market
