"""Per-venue market state on the scan grid, fused into one pass per market (SPEC §3).

:func:`spreadarb.state.symbol_state` computes the rolling statistics of a market with
the kernels of :mod:`spreadarb.kernels.rolling`; these kernels then walk the grid once
and write every as-of and derived value of the market at once, instead of one numpy
gather or expression (and one temporary array) per value. Same conventions as
:mod:`spreadarb.kernels.rolling` (int64 ns, non-decreasing ``ts`` and ``grid``). The
module is self-contained: numba's on-disk cache does not notice when a jitted function
in another file changes.
"""

from __future__ import annotations

import numpy as np

from spreadarb._jit import jit

__all__ = ["venue_state_nb"]

EIGHT_HOURS_S = 8 * 3600

# Rows of the ``out`` block of venue_state_nb.
BID = 0
ASK = 1
BID_DEPTH = 2
ASK_DEPTH = 3
FUNDING_8H = 4
PREDICTED_8H = 5
OI = 6
QUOTE_AGE_NS = 7
VWAP_DEV = 8
ATR_BPS = 9
MID = 10
N_FIELDS = 11


@jit
def venue_state_nb(
    grid: np.ndarray,
    ts: np.ndarray,
    bid_px: np.ndarray,
    ask_px: np.ndarray,
    bid_depth: np.ndarray,
    ask_depth: np.ndarray,
    funding_rate: np.ndarray,
    predicted_rate: np.ndarray,
    funding_interval_s: np.ndarray,
    open_interest: np.ndarray,
    vwap: np.ndarray,
    vwap_sd: np.ndarray,
    atr: np.ndarray,
    atr_falling: np.ndarray,
    bar_start: int,
    bar_ns: int,
    out: np.ndarray,
    out_falling: np.ndarray,
    j: int,
) -> None:
    """As-of state of one venue at every grid time, written to row ``j`` of ``out``.

    With ``i`` the last ticker at or before ``grid[k]`` (none: every value NaN):
    ``out[BID, j, k] = bid_px[i]``, likewise the ask, depths and open interest;
    ``out[FUNDING_8H, j, k] = funding_rate[i] * (8 h / funding_interval_s[i])`` (and
    the predicted rate); ``out[QUOTE_AGE_NS, j, k] = float(grid[k] - ts[i])``;
    ``mid = 0.5 * (bid + ask)`` in ``out[MID]``; the VWAP deviation
    ``(mid - vwap[k]) / vwap_sd[k]`` where ``vwap_sd[k] > 0`` (else NaN); and, from the
    last bar complete at ``grid[k]``, ``b = (grid[k] - bar_start) // bar_ns - 1``,
    ``out[ATR_BPS, j, k] = atr[b] / mid * 1e4`` and ``out_falling[j, k] = atr_falling[b]``
    (NaN and False while no bar is complete, or without bars: ``atr`` empty).

    Equivalent to the numpy expressions it replaced (the test's oracle):
    ``idx = np.searchsorted(ts, grid, "right") - 1``, each column gathered at ``idx``
    (NaN where ``idx < 0``), then the same arithmetic column-wise; every value is
    bit-identical to them.

    Parameters
    ----------
    grid
        Shape ``(m,)``, int64 ns, non-decreasing: scan times.
    ts
        Shape ``(n,)``, int64 ns, non-decreasing: the venue's ticker times.
    bid_px, ask_px, bid_depth, ask_depth, funding_rate, predicted_rate, open_interest
        Shape ``(n,)``, float64: the venue's ticker columns.
    funding_interval_s
        Shape ``(n,)``, int64: funding interval of each ticker, seconds.
    vwap, vwap_sd
        Shape ``(m,)``, float64: rolling VWAP and price sd at the grid times.
    atr, atr_falling
        Shape ``(n_bars,)``: ATR of the venue's mid bars and whether it is falling; bar
        ``b`` starts at ``bar_start + b * bar_ns``. Empty when the venue has no bars.
    bar_start, bar_ns
        Start of bar 0 and bar length, int64 ns.
    out
        Shape ``(N_FIELDS, J, m)``, float64: written at ``[:, j, :]``.
    out_falling
        Shape ``(J, m)``, bool: written at ``[j, :]``.
    j
        The venue's row.

    Returns
    -------
    None
        The results are written into ``out`` and ``out_falling``.
    """
    n = ts.shape[0]
    m = grid.shape[0]
    has_bars = atr.shape[0] > 0
    nan = np.nan
    i = 0  # tickers with ts <= the current grid time
    for k in range(m):
        g = grid[k]
        while i < n and ts[i] <= g:
            i += 1
        # Bars complete at g; while none is (or without bars) the ATR is unknown.
        done = (g - bar_start) // bar_ns - 1 if has_bars else -1
        out_falling[j, k] = atr_falling[done] if done >= 0 else False
        if i == 0:
            for f in range(N_FIELDS):
                out[f, j, k] = nan
            continue
        r = i - 1
        bid = bid_px[r]
        ask = ask_px[r]
        out[BID, j, k] = bid
        out[ASK, j, k] = ask
        out[BID_DEPTH, j, k] = bid_depth[r]
        out[ASK_DEPTH, j, k] = ask_depth[r]
        to_8h = EIGHT_HOURS_S / funding_interval_s[r]
        out[FUNDING_8H, j, k] = funding_rate[r] * to_8h
        out[PREDICTED_8H, j, k] = predicted_rate[r] * to_8h
        out[OI, j, k] = open_interest[r]
        out[QUOTE_AGE_NS, j, k] = float(g - ts[r])
        mid = 0.5 * (bid + ask)
        out[MID, j, k] = mid
        sd = vwap_sd[k]
        out[VWAP_DEV, j, k] = (mid - vwap[k]) / sd if sd > 0.0 else nan
        out[ATR_BPS, j, k] = atr[done] / mid * 1e4 if done >= 0 else nan
