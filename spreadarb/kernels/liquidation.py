"""Liquidation-cluster kernel: distance from the price to the nearest liquidation cluster.

Same conventions as :mod:`spreadarb.kernels.rolling` (int64 ns timestamps, non-decreasing
``liq_ts`` and ``grid``, half-open windows ``(t - window_ns, t]``, empty inputs allowed).
The module is self-contained on purpose: numba's on-disk cache does not notice when a
jitted function in another file changes, so a kernel here calling one there could run a
stale compiled copy.
"""

from __future__ import annotations

import math

import numpy as np

from spreadarb._jit import jit

__all__ = ["liquidation_cluster_distance_nb"]

_INT64_MIN = -(2**63)


@jit
def liquidation_cluster_distance_nb(
    liq_ts: np.ndarray,
    liq_px: np.ndarray,
    liq_usd: np.ndarray,
    grid: np.ndarray,
    grid_px: np.ndarray,
    window_ns: int,
    bucket_bps: float,
    min_cluster_usd: float,
) -> np.ndarray:
    """Distance, in bps, from ``grid_px[k]`` to the nearest liquidation cluster.

    At each grid time ``t`` the liquidations with ``liq_ts`` in ``(t - window_ns, t]``
    are grouped into log-price buckets of relative width ``bucket_bps``: liquidation
    ``i`` falls in bucket ``floor(log(liq_px[i]) / log(1 + bucket_bps / 1e4))``, and
    bucket ``b`` covers prices ``[q**b, q**(b + 1))`` with ``q = 1 + bucket_bps / 1e4``,
    centre ``q**(b + 0.5)`` (geometric). A bucket whose liquidations in the window total
    ``>= min_cluster_usd`` is a cluster. The result is
    ``min over clusters of |grid_px[k] / centre - 1| * 1e4``.

    Rows with a non-finite or non-positive price or a non-finite notional are skipped.
    The result is NaN when the window holds no cluster or ``grid_px[k]`` is not finite.

    Equivalent to the brute force: for each ``k``, sum ``liq_usd`` per bucket over the
    rows in the window, keep the buckets with a sum ``>= min_cluster_usd``, and take the
    smallest distance to their centres (the test's pure-Python oracle).

    Cost: O(n + m * B) time and O(n) memory, where B is the largest number of distinct
    occupied buckets in one window. Each row's bucket gets a slot of an open-addressing
    table of bucket sums once, up front; liquidations then enter and leave their slot as
    the window slides (O(1) each), and a list of the occupied slots is kept; each grid
    time scans them, unless no bucket is a cluster (a running count makes that O(1)). B
    is small: one window's liquidations span its price range, e.g. a 5 % move in 10 bps
    buckets gives at most about 50 buckets. (Plain arrays rather than a numba typed
    dict: the same work, and about 1.5 s less to compile.)

    Bucket sums are running sums (added on entry, subtracted on exit; a bucket that
    empties leaves the occupied list and its sum restarts from exactly 0), hence exact
    for notionals
    that are whole dollars below 2**53; otherwise a sum within rounding of
    ``min_cluster_usd`` may fall on either side of it.

    Parameters
    ----------
    liq_ts
        Shape ``(n,)``, int64 ns, non-decreasing: liquidation timestamps.
    liq_px
        Shape ``(n,)``, float64: liquidation prices.
    liq_usd
        Shape ``(n,)``, float64: liquidated notionals, USD (``px * sz``).
    grid
        Shape ``(m,)``, int64 ns, non-decreasing: evaluation times.
    grid_px
        Shape ``(m,)``, float64: the price at each grid time (e.g. the mid).
    window_ns
        Look-back, ns, ``>= 0``.
    bucket_bps
        Bucket width, bps of price, finite and ``> 0``.
    min_cluster_usd
        Notional a bucket needs to be a cluster, USD.

    Returns
    -------
    ndarray
        Shape ``(m,)``, float64, bps, ``>= 0``; NaN without a cluster.

    Raises
    ------
    ValueError
        ``window_ns < 0``, ``bucket_bps`` not finite and ``> 0``, or the liquidation
        arrays (or ``grid`` and ``grid_px``) of different lengths.
    """
    w = np.int64(window_ns)
    if w < 0:
        raise ValueError("window_ns must be >= 0")
    if not (math.isfinite(bucket_bps) and bucket_bps > 0.0):
        raise ValueError("bucket_bps must be finite and > 0")
    n = liq_ts.shape[0]
    if liq_px.shape[0] != n or liq_usd.shape[0] != n:
        raise ValueError("liq_ts, liq_px and liq_usd must have the same length")
    m = grid.shape[0]
    if grid_px.shape[0] != m:
        raise ValueError("grid and grid_px must have the same length")
    threshold = float(min_cluster_usd)
    log_q = math.log1p(bucket_bps * 1e-4)

    # np.empty, then a fill: numba compiles np.zeros and np.full as functions of their own
    # for each dtype, 0.1 s each of a cold start (docs/development.md).
    bucket = np.empty(n, dtype=np.int64)
    bucket[:] = 0
    usable = np.empty(n, dtype=np.bool_)
    usable[:] = False
    for i in range(n):
        px = float(liq_px[i])
        if math.isfinite(px) and px > 0.0 and math.isfinite(float(liq_usd[i])):
            usable[i] = True
            bucket[i] = math.floor(math.log(px) / log_q)

    # Open addressing with linear probing, at most half full; keys are never removed (a
    # bucket that empties keeps its slot with 0 rows), so probing needs no tombstones.
    cap = 2
    while cap < 2 * n:
        cap *= 2
    mask = cap - 1
    keys = np.empty(cap, dtype=np.int64)
    keys[:] = 0
    taken = np.empty(cap, dtype=np.bool_)
    taken[:] = False
    slot = np.empty(n, dtype=np.int64)
    slot[:] = 0
    for i in range(n):
        if usable[i]:
            b = bucket[i]
            # Multiplicative hash (odd factor: a bijection of the slots) spreads neighbouring
            # buckets apart; masking first keeps the product from overflowing.
            h = ((b & mask) * 40503) & mask
            while taken[h] and keys[h] != b:
                h = (h + 1) & mask
            taken[h] = True
            keys[h] = b
            slot[i] = h
    usd_by_slot = np.empty(cap, dtype=np.float64)
    usd_by_slot[:] = 0.0
    rows_by_slot = np.empty(cap, dtype=np.int64)
    rows_by_slot[:] = 0
    occupied = np.empty(cap, dtype=np.int64)  # slots with rows in the window
    occupied[:] = 0
    where = np.empty(cap, dtype=np.int64)  # position of a slot in ``occupied``
    where[:] = 0
    n_occupied = 0
    n_clusters = 0
    out = np.empty(m, dtype=np.float64)
    out[:] = np.nan
    lo = 0
    hi = 0
    for k in range(m):
        g = grid[k]
        left = np.int64(_INT64_MIN) if g < _INT64_MIN + w else g - w
        # Liquidations leaving the window.
        while lo < hi and liq_ts[lo] <= left:
            if usable[lo]:
                h = slot[lo]
                old = usd_by_slot[h]
                rows = rows_by_slot[h] - 1
                rows_by_slot[h] = rows
                if rows == 0:
                    usd_by_slot[h] = 0.0
                    still = False
                    # Swap the last occupied slot into this one's place.
                    last = occupied[n_occupied - 1]
                    occupied[where[h]] = last
                    where[last] = where[h]
                    n_occupied -= 1
                else:
                    new = old - float(liq_usd[lo])
                    usd_by_slot[h] = new
                    still = new >= threshold
                if old >= threshold and not still:
                    n_clusters -= 1
            lo += 1
        if lo == hi:
            # Liquidations between two grid times never enter the window at all.
            while hi < n and liq_ts[hi] <= left:
                hi += 1
            lo = hi
        # Liquidations entering the window.
        while hi < n and liq_ts[hi] <= g:
            if usable[hi]:
                h = slot[hi]
                was = False
                old = 0.0
                if rows_by_slot[h] > 0:
                    old = usd_by_slot[h]
                    was = old >= threshold
                else:
                    occupied[n_occupied] = h
                    where[h] = n_occupied
                    n_occupied += 1
                rows_by_slot[h] += 1
                new = old + float(liq_usd[hi])
                usd_by_slot[h] = new
                if new >= threshold and not was:
                    n_clusters += 1
            hi += 1
        p = float(grid_px[k])
        if n_clusters == 0 or not math.isfinite(p):
            continue
        best = math.inf
        for a in range(n_occupied):
            h = occupied[a]
            if usd_by_slot[h] >= threshold:
                centre = math.exp((keys[h] + 0.5) * log_q)
                dist = abs(p / centre - 1.0) * 1e4
                if dist < best:
                    best = dist
        out[k] = best
    return out
