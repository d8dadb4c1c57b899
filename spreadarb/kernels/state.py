"""As-of rows of a symbol's venues on the scan grid, their median mid and the legs (SPEC §3).

:func:`venue_asof_nb` walks the grid once per venue and records which ticker row is the
as-of quote at every scan time; :func:`spreadarb.state.symbol_state` then evaluates the
rolling statistics of :mod:`spreadarb.kernels.rolling` where each venue is a leg. The
scan kernel reads the ticker columns at those rows for the two legs it picks, so no
per-venue copy of every ticker column on the grid is ever written (on the SPEC §8
day those copies were 1.2 GB per scan). Same conventions as
:mod:`spreadarb.kernels.rolling` (int64 ns, non-decreasing ``ts`` and ``grid``). The
module is self-contained: numba's on-disk cache does not notice when a jitted function
in another file changes.
"""

from __future__ import annotations

import math

import numpy as np

from spreadarb._jit import jit

__all__ = ["choose_pair_nb", "venue_asof_nb"]


# Only venue_asof_nb calls it compiled, so no Python entry point is compiled (0.1 s
# of a cold start); tests run its py_func.
@jit(internal=True)
def choose_pair_nb(bid: np.ndarray, ask: np.ndarray) -> tuple[int, int]:
    """Long venue (lowest ask) and short venue (highest bid) from the venues' quotes.

    Venues without a quote (NaN) are skipped; ties go to the lower venue index. If one
    venue has both the lowest ask and the highest bid, the better of (it long, best
    other bid short) and (best other ask long, it short) by spread is taken. Returns
    ``(-1, -1)`` when fewer than two venues quote.
    """
    n = bid.shape[0]
    lo = -1
    hi = -1
    for j in range(n):
        a = ask[j]
        b = bid[j]
        if math.isnan(a) or math.isnan(b):
            continue
        if lo < 0 or a < ask[lo]:
            lo = j
        if hi < 0 or b > bid[hi]:
            hi = j
    if lo < 0 or lo != hi:
        return lo, hi
    # One venue is best on both sides: pair it with the best other venue.
    other_bid = -1
    other_ask = -1
    for j in range(n):
        if j == lo or math.isnan(ask[j]) or math.isnan(bid[j]):
            continue
        if other_bid < 0 or bid[j] > bid[other_bid]:
            other_bid = j
        if other_ask < 0 or ask[j] < ask[other_ask]:
            other_ask = j
    if other_bid < 0:
        return -1, -1
    if bid[other_bid] - ask[lo] >= bid[lo] - ask[other_ask]:
        return lo, other_bid
    return other_ask, lo


@jit
def venue_asof_nb(
    grid: np.ndarray,
    ts: np.ndarray,
    starts: np.ndarray,
    stops: np.ndarray,
    bid_px: np.ndarray,
    ask_px: np.ndarray,
    rows: np.ndarray,
    median_mid: np.ndarray,
    legs: np.ndarray,
) -> None:
    """As-of ticker row of every venue at every grid time, the median of their mids, and
    the legs.

    Venue ``j`` owns the ticker rows ``starts[j]:stops[j]`` (sorted by ``ts``).
    ``rows[j, k]`` is the last of them with ``ts <= grid[k]``, or -1 when there is none;
    ``median_mid[k]`` is the median over venues of the mids ``0.5 * (bid_px[r] +
    ask_px[r])`` at those rows, NaN mids (no row yet, or a NaN side) left out, NaN when
    none is left; ``legs[:, k]`` is :func:`choose_pair_nb` of the venues' as-of quotes
    (NaN without a row).

    Equivalent to ``r = np.searchsorted(ts[a:b], grid, "right") - 1 + a`` per venue (-1
    where that is below ``a``), ``np.nanmedian`` over venues of the mids gathered at ``r``
    and ``choose_pair_nb`` per grid time. (The median is taken here, from the mids at
    hand, rather than by numpy on a ``(J, m)`` array of them: 0.15 s less CPU on the SPEC
    §8 day for 0.2 s more to compile cold.)

    Parameters
    ----------
    grid
        Shape ``(m,)``, int64 ns, non-decreasing: scan times.
    ts
        Shape ``(n,)``, int64 ns: ticker times, non-decreasing within each venue's rows.
    starts, stops
        Shape ``(J,)``, int64: each venue's ticker rows.
    bid_px, ask_px
        Shape ``(n,)``, float64: ticker quotes.
    rows
        Shape ``(J, m)``, int64: written.
    median_mid
        Shape ``(m,)``, float64: written.
    legs
        Shape ``(2, m)``, int64: written; long venue in row 0, short venue in row 1.

    Returns
    -------
    None
        The results are written into ``rows``, ``median_mid`` and ``legs``.
    """
    n_venues = starts.shape[0]
    m = grid.shape[0]
    for j in range(n_venues):
        first = starts[j]
        stop = stops[j]
        i = first  # rows of the venue with ts <= the current grid time end at i
        for k in range(m):
            g = grid[k]
            while i < stop and ts[i] <= g:
                i += 1
            rows[j, k] = i - 1 if i > first else -1
    size = max(n_venues, 1)
    bid = np.empty(size, dtype=np.float64)
    ask = np.empty(size, dtype=np.float64)
    known = np.empty(size, dtype=np.float64)  # the mids that are not NaN
    for k in range(m):
        count = 0
        for j in range(n_venues):
            r = rows[j, k]
            if r < 0:
                bid[j] = np.nan
                ask[j] = np.nan
                continue
            b = bid_px[r]
            a = ask_px[r]
            bid[j] = b
            ask[j] = a
            mid = 0.5 * (b + a)
            if math.isnan(mid):
                continue
            known[count] = mid
            count += 1
        if count == 0:
            median_mid[k] = np.nan
        else:
            # The middle two by rank (ties by position), counted without branches: the
            # mids come in random order, and sorting them mispredicted most comparisons.
            low_rank = (count - 1) // 2
            high_rank = count // 2
            low = 0.0
            high = 0.0
            for i in range(count):
                x = known[i]
                rank = 0
                for q in range(count):
                    rank += (known[q] < x) | ((known[q] == x) & (q < i))
                low = x if rank == low_rank else low
                high = x if rank == high_rank else high
            median_mid[k] = low if low_rank == high_rank else (low + high) / 2
        lo, hi = choose_pair_nb(bid, ask)
        legs[0, k] = lo
        legs[1, k] = hi
