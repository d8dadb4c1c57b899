"""The merged event stream of the engine: every ticker and trade in local-time order."""

from __future__ import annotations

import numpy as np

from spreadarb._jit import jit

#: Events per time window of :func:`merge_part_nb` on average (measured best of
#: 128-16384 on the SPEC §8 day: windows this small keep the sort cheap, larger ones the
#: per-window pass over the runs).
WINDOW_EVENTS = 1024

_INT64_MAX = np.iinfo(np.int64).max
_INT64_MIN = np.iinfo(np.int64).min


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
            # The first row at or after the split (np.searchsorted, side "left"; written out,
            # as numba's compiled 0.4 s longer).
            a = lo
            b = hi
            while a < b:
                mid = (a + b) // 2
                if run_ts[mid] < splits[p]:
                    a = mid + 1
                else:
                    b = mid
            bounds[p + 1, r] = a
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
    rows of every run in tie order, then merges those sorted segments pairwise in passes
    (the left one first on equal times: the stable sort by time). Reads follow the runs,
    writes stay in a window: no pass of random access over the stream. (numba's stable
    argsort of each window was as fast and took 1.5 s longer to compile.)
    """
    n_runs = first.shape[0]
    n_markets = n_runs // 2
    cur = first.copy()
    n = 0
    t_min = _INT64_MAX
    t_max = _INT64_MIN
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
    # A window's events as (time, code) pairs, code = row << bits | run, merged from one
    # pair of arrays into the other and back.
    bits = 1
    while (1 << bits) < n_runs:
        bits += 1
    mask = (1 << bits) - 1
    key_a = np.empty(16, dtype=np.int64)
    code_a = np.empty(16, dtype=np.int64)
    key_b = np.empty(16, dtype=np.int64)
    code_b = np.empty(16, dtype=np.int64)
    seg = np.empty(n_runs + 1, dtype=np.int64)  # the window's sorted segments
    t = t_min
    while pos < end_pos:
        # Every remaining time is >= t; the window is [t, t + width), or the rest.
        t_end = t + width if t_max - t >= width else t_max + 1
        k = 0
        for r in range(n_runs):
            run_ts = ticker_ts if r < n_markets else trade_ts
            j = cur[r]
            e = stop[r]
            while j < e and run_ts[j] < t_end:
                j += 1
            k += j - cur[r]
        if key_a.shape[0] < k:
            key_a = np.empty(k, dtype=np.int64)
            code_a = np.empty(k, dtype=np.int64)
            key_b = np.empty(k, dtype=np.int64)
            code_b = np.empty(k, dtype=np.int64)
        n_seg = 0
        i = 0
        for r in range(n_runs):
            run_ts = ticker_ts if r < n_markets else trade_ts
            j = cur[r]
            e = stop[r]
            seg[n_seg] = i
            while j < e and run_ts[j] < t_end:
                key_a[i] = run_ts[j]
                code_a[i] = (j << bits) | r
                i += 1
                j += 1
            if j > cur[r]:
                n_seg += 1
            cur[r] = j
        seg[n_seg] = k
        while n_seg > 1:
            merged = 0
            for s in range(0, n_seg, 2):
                lo = seg[s]
                mid = seg[s + 1]
                hi = seg[s + 2] if s + 2 <= n_seg else mid
                i = lo
                j = mid
                o = lo
                while i < mid and j < hi:
                    # Stable: on equal times the left segment (earlier in tie order) first.
                    if key_a[j] < key_a[i]:
                        key_b[o] = key_a[j]
                        code_b[o] = code_a[j]
                        j += 1
                    else:
                        key_b[o] = key_a[i]
                        code_b[o] = code_a[i]
                        i += 1
                    o += 1
                while i < mid:
                    key_b[o] = key_a[i]
                    code_b[o] = code_a[i]
                    i += 1
                    o += 1
                while j < hi:
                    key_b[o] = key_a[j]
                    code_b[o] = code_a[j]
                    j += 1
                    o += 1
                seg[merged] = lo
                merged += 1
            seg[merged] = k
            n_seg = merged
            key_a, key_b = key_b, key_a
            code_a, code_b = code_b, code_a
        for i in range(k):
            r = code_a[i] & mask
            ts[pos] = key_a[i]
            kind[pos] = 0 if r < n_markets else 1
            row[pos] = code_a[i] >> bits
            market[pos] = r if r < n_markets else r - n_markets
            pos += 1
        t = t_end
