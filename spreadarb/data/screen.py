"""Kernels of the loader's fast path: screen rows against the contract while scattering them.

:func:`spreadarb.load` copies every file's rows into contiguous per-market arrays. These
kernels do that copy and, in the same pass over each column, count the rows that *might*
break a contract rule. They never say *which* rule or row: a file with any count above
zero makes the loader re-read its exchange's files through
:func:`spreadarb.data.checks.check_table`, the single definition of the rules, which
reports the exact problems (or none, when the screen was only cautious). The screen must
therefore flag every row ``check_table`` would report; it may flag more (for instance
rows with equal values that pandas would still tell apart, such as ``0.0`` and ``-0.0``).
``tests/test_load_screen.py`` checks that on every crafted problem and on random data.

Every kernel is a pure ``@jit`` function; ``kernel.py_func`` is its Python body.
"""

from __future__ import annotations

import numpy as np

from spreadarb._jit import jit

__all__ = [
    "MAX_EQUAL_RUN",
    "market_runs_nb",
    "pairs_differ_nb",
    "scatter_floats_nb",
    "scatter_ints_nb",
    "screen_order_nb",
]

MAX_EQUAL_RUN = 256
"""Longest run of rows sharing one ``ts_local`` in a market that the screen compares pair
by pair (it costs the square of the run); a longer run is flagged, so the exact check
decides."""


@jit
def market_runs_nb(
    codes: np.ndarray, lookup: np.ndarray, fill: np.ndarray, limit: np.ndarray, runs: np.ndarray
) -> int:
    """Give every row the next free row of its market, as runs of consecutive rows.

    A run is ``(first source row, first destination row, length)``: rows of one market
    that follow each other in the file (the writer groups a file's rows by market, so a
    file has about one run per market) and so land next to each other.

    Parameters
    ----------
    codes
        Per row: index into ``lookup`` (the symbol's dictionary code).
    lookup
        Market number of each code, ``-1`` for a market that was not sized.
    fill
        Next free row of every market; advanced in place.
    limit
        End row of every market (``offsets[1:]``): no row is placed at or past it.
    runs
        ``(len(codes), 3)`` int64 output.

    Returns
    -------
    int
        Number of runs written, or ``-1`` if a row could not be placed (unknown code or
        market already full); rows from that one on are not placed.
    """
    n_codes = lookup.size
    n_runs = 0
    prev = -1
    for i in range(codes.size):
        c = codes[i]
        if c < 0 or c >= n_codes:
            return -1
        m = lookup[c]
        if m < 0 or fill[m] >= limit[m]:
            return -1
        if m != prev:
            runs[n_runs, 0] = i
            runs[n_runs, 1] = fill[m]
            runs[n_runs, 2] = 0
            n_runs += 1
            prev = m
        runs[n_runs - 1, 2] += 1
        fill[m] += 1
    return n_runs


@jit(inline=True)
def _copy_runs(values: np.ndarray, runs: np.ndarray, out: np.ndarray) -> None:
    for k in range(runs.shape[0]):
        src = runs[k, 0]
        dst = runs[k, 1]
        for j in range(runs[k, 2]):
            out[dst + j] = values[src + j]


@jit
def scatter_floats_nb(
    values: np.ndarray,
    runs: np.ndarray,
    out: np.ndarray,
    above: float,
    at_least: float,
    nullable: bool,
) -> int:
    """Copy ``values`` to ``out`` along ``runs``, counting values that may break the rule.

    A value passes if it is finite, ``> above`` and ``>= at_least`` (``-inf`` for no
    bound; a price has ``above = 0``, a depth ``at_least = 0``), or if it is NaN in a
    ``nullable`` column (missing values are not bound-checked, as in ``check_table``).

    Returns
    -------
    int
        Number of flagged values.
    """
    bad = 0
    # Branch-free, so that the count vectorises; the copy is a plain block copy.
    for i in range(values.size):
        v = values[i]
        ok = (v > above) & (v >= at_least) & (v < np.inf)
        bad += (not ok) & (not (nullable & (v != v)))
    _copy_runs(values, runs, out)
    return bad


@jit
def scatter_ints_nb(
    values: np.ndarray, runs: np.ndarray, out: np.ndarray, low: int, high: int, zero_ok: bool
) -> int:
    """Copy ``values`` to ``out`` along ``runs``, counting values outside ``[low, high]``
    (or 0 when not ``zero_ok``: the side column's rule is ``+1`` or ``-1``).

    Returns
    -------
    int
        Number of flagged values.
    """
    bad = 0
    for i in range(values.size):
        v = values[i]
        bad += (v < low) | (v > high) | ((v == 0) & (not zero_ok))
    _copy_runs(values, runs, out)
    return bad


@jit
def screen_order_nb(
    ts: np.ndarray,
    bid: np.ndarray,
    ask: np.ndarray,
    first: np.ndarray,
    lo: np.ndarray,
    hi: np.ndarray,
    pairs: np.ndarray,
) -> tuple[int, int]:
    """Screen the rows just scattered for order, crossed books and duplicate candidates.

    Works on the output arrays: market ``k``'s rows ``[lo[k], hi[k])`` were just written,
    its rows ``[first[k], lo[k])`` come from earlier files (so the order and duplicate
    checks run across file boundaries, as ``check_table``'s ``tails`` do).

    Parameters
    ----------
    ts
        Output ``ts_local``.
    bid, ask
        Output ``bid_px`` and ``ask_px`` (tickers), or empty arrays (no book check).
    first, lo, hi
        Per market: first row of the market, first and end row written by this file.
    pairs
        ``(capacity, 2)`` int64 output: row pairs ``(earlier, later)`` of one market that
        share ``ts_local``, to be compared on every column (duplicate candidates).

    Returns
    -------
    (int, int)
        Flagged rows (``ts_local`` going backwards, crossed book, a run of equal
        ``ts_local`` longer than ``MAX_EQUAL_RUN`` or more pairs than ``pairs`` holds),
        and the number of pairs written.
    """
    bad = 0
    n_pairs = 0
    capacity = pairs.shape[0]
    book = bid.size > 0
    for k in range(lo.size):
        a = lo[k]
        b = hi[k]
        if a >= b:
            continue
        if book:
            for r in range(a, b):
                if bid[r] >= ask[r]:
                    bad += 1
        start = max(a, first[k] + 1)
        # First row of the run of equal ts_local that ends at row start - 1.
        run = start - 1
        while run > first[k] and ts[run - 1] == ts[start - 1] and start - run < MAX_EQUAL_RUN:
            run -= 1
        for r in range(start, b):
            t = ts[r]
            p = ts[r - 1]
            if t > p:
                run = r
            elif t < p:
                bad += 1
                run = r
            elif r - run >= MAX_EQUAL_RUN:
                bad += 1
            else:
                for j in range(run, r):
                    if n_pairs == capacity:
                        bad += 1
                        break
                    pairs[n_pairs, 0] = j
                    pairs[n_pairs, 1] = r
                    n_pairs += 1
    return bad, n_pairs


@jit
def pairs_differ_nb(column: np.ndarray, pairs: np.ndarray, differ: np.ndarray) -> None:
    """Mark in ``differ`` the pairs whose two rows differ in ``column`` (NaN equals NaN).

    After every contract column, a pair not marked is a duplicate candidate.
    """
    for k in range(pairs.shape[0]):
        a = column[pairs[k, 0]]
        b = column[pairs[k, 1]]
        if not (a == b or (a != a and b != b)):
            differ[k] = True
