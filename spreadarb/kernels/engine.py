"""The event-driven execution and portfolio kernel (SPEC §5-§6).

One pass over every ticker and trade of every market in ``ts_local`` order, shared
capital, interleaved with the scan grid (entries and position checks) and with timers
(order timeouts, market-order executions). Records are written into preallocated
structured arrays (``spreadarb.enums``); :mod:`spreadarb.simulation` builds the inputs
and the DataFrames.

Execution model (``docs/execution.md`` explains each choice):

* Clocks. Local time is the backtest clock; ``L`` is the venue's one-way latency at the
  send time. An order sent at local ``t`` reaches the venue ``L`` later, and what the
  venue does from then on is seen here another ``L`` later: so the order can be filled
  by events seen locally in ``[t + 2 L, t + timeout + 2 L)`` (its ``arrive_time`` and
  ``cancel_time``, both local). Working in local time keeps the model right when the
  recorder's clock is offset from the exchange's.
* Limit orders are sent at the own-side touch (buy at the bid, sell at the ask). On
  arrival, if the as-of book already trades through the price, the venue executes the
  order as a taker at the opposite touch (slippage, never beyond the limit, taker fee) or,
  post-only, refuses it. Otherwise it rests. Queue: the
  order fills once the volume traded at its price by the other side, after arrival,
  reaches ``fill_threshold`` x the touch size when it was sent (``risk_averse``:
  threshold 1). A trade through the price, or a quote whose opposite side reaches the
  price, fills it at once. Volume is allocated to our orders in send order, so two of
  our orders never fill from the same traded volume.
* Timeouts. At ``send + timeout`` the cancel is sent; it arrives at ``+ L``; the outcome
  is known at ``send + timeout + 2 L``, when every event that could still have filled
  the order has been seen. A harder leg filled by then proceeds to the easier leg even
  if the fill happened after the timeout was sent (it raced the cancel).
* Market orders (hedges, fallback exits) sent at local ``t`` execute against the book the
  venue had when they arrived, which is seen locally at ``t + 2 L``: the touch of the
  as-of quote at ``t + 2 L``, worsened by the seed's slippage, taker fee.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from spreadarb._jit import jit
from spreadarb.kernels.byref import by_ref

INF = np.iinfo(np.int64).max

# Trade status (spreadarb.enums.TradeStatus)
PENDING = 0
ACTIVE = 1
EXITING = 2
CLOSED = 3
REJECTED = 4
# Exit reasons (spreadarb.enums.ExitReason)
X_NONE = 0
X_STOP_LOSS = 1
X_SPREAD_WIDENING = 2
X_PROFIT_TARGET = 3
X_FUNDING_CONVERGENCE = 4
X_END_OF_DATA = 5
# Order purposes (spreadarb.enums.OrderPurpose)
P_ENTRY_HARDER = 0
P_ENTRY_EASIER = 1
P_ENTRY_HEDGE = 2
P_EXIT_LIMIT = 3
P_EXIT_MARKET = 4
P_END_OF_DATA = 5
# Order status
O_WORKING = 0
O_FILLED = 1
O_CANCELLED = 2
# Rejections (spreadarb.enums.RejectReason)
R_HARDER_LEG_UNFILLED = 0
R_SYMBOL_BUSY = 1
R_POSITION_TOO_SMALL = 2
R_DEPTH = 3
R_UNPROFITABLE = 4
R_NO_BOOK = 5
# Timer kinds of a trade
T_NONE = 0
T_HARD_DECIDE = 1
T_EASY_DECIDE = 2
T_EXIT_DECIDE = 3
# Event kinds
EV_TICKER = 0
EV_TRADE = 1


class EngineParams(NamedTuple):
    """Scalars of the execution model, in kernel units (ns, fractions, USD)."""

    starting_capital: float
    max_position_fraction: float
    depth_size_fraction: float
    depth_multiple: float
    min_position_usd: float
    expected_hold_h: float
    fill_threshold: float
    entry_timeout_ns: int
    leg_timeout_ns: int
    exit_timeout_ns: int
    default_latency_ns: int
    slippage_base: float
    slippage_depth_coef: float
    slippage_cap: float
    max_trades_per_symbol: int
    exit_funding_delta_8h: float
    profit_target_fraction: float
    spread_widening_bps: float
    stop_loss_bps: float
    reject_crossed_on_arrival: bool


class Book(NamedTuple):
    """Flat ticker columns of every market (rows grouped by market)."""

    ts_local: np.ndarray
    ts_exchange: np.ndarray
    bid_px: np.ndarray
    bid_sz: np.ndarray
    ask_px: np.ndarray
    ask_sz: np.ndarray
    bid_depth: np.ndarray
    ask_depth: np.ndarray
    funding_rate: np.ndarray
    funding_interval_s: np.ndarray
    next_funding_ts: np.ndarray


class Prints(NamedTuple):
    """Flat trade columns of every market."""

    ts_local: np.ndarray
    ts_exchange: np.ndarray
    px: np.ndarray
    sz: np.ndarray
    side: np.ndarray


class Candidates(NamedTuple):
    """Opportunities that passed the scan's size-independent filters, by (ts, rank)."""

    ts: np.ndarray
    symbol: np.ndarray
    long_market: np.ndarray
    short_market: np.ndarray
    harder_is_long: np.ndarray
    spread_bps: np.ndarray
    fees_bps: np.ndarray
    funding_cost_bps: np.ndarray
    funding_delta_8h: np.ndarray
    score: np.ndarray
    depth_long: np.ndarray
    depth_short: np.ndarray


class Records(NamedTuple):
    """Preallocated outputs and their fill counters (``counts``: trades, orders,
    leg-outs, rejections, equity)."""

    trades: np.ndarray
    orders: np.ndarray
    leg_outs: np.ndarray
    rejections: np.ndarray
    equity: np.ndarray
    counts: np.ndarray


@jit(refcount=False, internal=True)
def slippage_frac_nb(
    size_usd: float, depth_usd: float, base: float, coef: float, cap: float
) -> float:
    """The seed's slippage (``spreadarb.kernels.scoring.slippage_nb``), kept local so the
    engine's cached machine code never calls a stale copy from another module."""
    if not depth_usd > 0.0:
        return cap
    s = base + coef * size_usd / depth_usd
    return s if s < cap else cap


# Columns of the per-trade working table ``tw`` (int64).
W_TIMER = 0  # local time of the trade's next decision (INF: none)
W_TIMER_KIND = 1
W_HARD = 2  # harder-leg entry limit
W_EASY = 3  # easier-leg entry limit
W_LONG_ENTRY = 4  # order that opened the long leg (the limit, or the hedge after a leg-out)
W_SHORT_ENTRY = 5
W_LONG_EXIT = 6  # exit limit of the long leg
W_SHORT_EXIT = 7
W_LONG_EXIT_MKT = 8  # market order closing the long leg after its exit limit timed out
W_SHORT_EXIT_MKT = 9
W_LONG_FUNDED = 10  # last funding time settled on the long leg
W_SHORT_FUNDED = 11
W_LEGOUT_ENTRY = 12  # leg-out record of the entry (-1: none)
W_LEGOUT_EXIT = 13
N_W = 14


class Working(NamedTuple):
    """Live limit orders in send order, as flat columns (the first ``ints[I_WORKING]``
    entries are live). The per-event fill check reads only these: passing the order
    records and the whole state to it on every event cost more than the check itself."""

    oid: np.ndarray
    market: np.ndarray
    side: np.ndarray
    price: np.ndarray
    arrive: np.ndarray  # local time from which events can fill it
    cancel: np.ndarray  # local time from which they cannot
    target: np.ndarray  # volume at the price that fills it: fill_threshold x queue ahead
    traded: np.ndarray  # volume at the price counted so far
    live_from: np.ndarray  # (n_markets,) earliest arrive of the market's live orders (INF: none)
    live_to: np.ndarray  # (n_markets,) latest cancel of the market's live orders


class State(NamedTuple):
    """Mutable working arrays of a simulation (allocated by :func:`new_state`)."""

    cur_tick: np.ndarray  # (n_markets,) as-of ticker row, -1 before the first
    tw: np.ndarray  # (max_trades, N_W) per-trade working table
    open_ids: np.ndarray  # ids of trades not yet closed or rejected
    busy: np.ndarray  # (n_symbols,) open or pending trades per symbol
    wk: Working  # live limit orders
    pending_mkt: np.ndarray  # ids of market orders waiting to execute, limits to arrive
    mkt_due: np.ndarray  # their execution times (local)
    ints: np.ndarray  # [n_open, n_working, n_pending_mkt, next_timer]
    money: np.ndarray  # [available, allocated, realized]


I_OPEN = 0
I_WORKING = 1
I_PENDING = 2
I_NEXT_TIMER = 3
M_AVAILABLE = 0
M_ALLOCATED = 1
M_REALIZED = 2


def new_state(
    n_markets: int, n_symbols: int, max_trades: int, max_orders: int, starting_capital: float
) -> State:
    """Fresh working arrays: no quotes seen, no trades, all capital available.

    Plain numpy, not a kernel: it runs once per backtest, and compiling it cost 0.5-0.7 s
    of a first backtest (the arrays are the same types either way)."""
    tw = np.full((max_trades, N_W), -1, dtype=np.int64)
    tw[:, W_TIMER] = INF
    tw[:, W_TIMER_KIND] = T_NONE
    tw[:, W_LONG_FUNDED] = 0
    tw[:, W_SHORT_FUNDED] = 0
    money = np.zeros(3, dtype=np.float64)
    money[M_AVAILABLE] = starting_capital
    ints = np.zeros(4, dtype=np.int64)
    ints[I_NEXT_TIMER] = INF
    return State(
        cur_tick=np.full(n_markets, -1, dtype=np.int64),
        tw=tw,
        open_ids=np.empty(max_trades, dtype=np.int64),
        busy=np.zeros(n_symbols, dtype=np.int64),
        wk=Working(
            oid=np.empty(max_orders, dtype=np.int64),
            market=np.empty(max_orders, dtype=np.int64),
            side=np.empty(max_orders, dtype=np.int64),
            price=np.empty(max_orders, dtype=np.float64),
            arrive=np.empty(max_orders, dtype=np.int64),
            cancel=np.empty(max_orders, dtype=np.int64),
            target=np.empty(max_orders, dtype=np.float64),
            traded=np.empty(max_orders, dtype=np.float64),
            live_from=np.full(n_markets, INF, dtype=np.int64),
            live_to=np.full(n_markets, INF, dtype=np.int64),
        ),
        pending_mkt=np.empty(max_orders, dtype=np.int64),
        mkt_due=np.empty(max_orders, dtype=np.int64),
        ints=ints,
        money=money,
    )


class Static(NamedTuple):
    """Read-only inputs of a simulation besides the data."""

    grid: np.ndarray
    latency_ns: np.ndarray  # (n_exchanges, len(grid))
    market_exchange: np.ndarray
    fee_maker: np.ndarray  # per market
    fee_taker: np.ndarray


@jit(refcount=False)
def simulate_nb(
    book: Book,
    prints: Prints,
    ev_ts: np.ndarray,
    ev_kind: np.ndarray,
    ev_row: np.ndarray,
    ev_market: np.ndarray,
    sx: Static,
    cand: Candidates,
    p: EngineParams,
    st: State,
    rec: Records,
) -> None:
    """Run the whole simulation, writing ``rec`` (see the module docstring for the model).

    Parameters
    ----------
    book, prints
        Ticker and trade columns of all markets.
    ev_ts, ev_kind, ev_row, ev_market
        The merged event stream: local time, kind (0 ticker, 1 trade), row in ``book``
        or ``prints``, market; sorted by ``ev_ts``. ``ev_ts[e]`` is the row's
        ``ts_local`` (the kernel uses it in place of reading the row's own).
    sx
        Grid (scan and position-check times, increasing), exchange latency on the grid
        (ns; unknown latency replaced by the configured maximum), per-market exchange and
        fees.
    cand
        Entry candidates, sorted by (ts, rank).
    p
        Parameters.
    st
        Working arrays from :func:`new_state`.
    rec
        Outputs; ``rec.counts`` receives the number of rows written to each.
    """
    n_ev = ev_ts.shape[0]
    grid = sx.grid
    m = grid.shape[0]
    n_cand = cand.ts.shape[0]
    # The helpers take the tuples by reference (kernels/byref.py): by value, each call
    # passed some 300 machine arguments, and compiling that was most of the engine's.
    book_r, sx_r, p_r, st_r, rec_r = by_ref(book), by_ref(sx), by_ref(p), by_ref(st), by_ref(rec)
    cand_r = by_ref(cand)
    # Arrays of the hot path, bound once (with reference counting on, each tuple-field
    # read in the loop cost atomic updates; bound locals keep the loop's loads plain).
    ints = st.ints
    cur_tick = st.cur_tick
    # A reference too: the event handlers and the helpers behind them (order removal)
    # then compile once, for the type the other helpers pass.
    wk = st_r.wk
    live_from = wk.live_from
    live_to = wk.live_to
    orders = rec.orders
    next_funding_ts = book.next_funding_ts
    q_ts_exchange = book.ts_exchange
    q_bid = book.bid_px
    q_ask = book.ask_px
    p_ts_exchange = prints.ts_exchange
    p_px = prints.px
    p_sz = prints.sz
    p_side = prints.side
    fee_maker = sx.fee_maker
    # int(0), not 0: numba compiles a callee once per literal argument type, including
    # the transient literal a counter has before type inference widens it to int64 (and
    # once per constant flag: helpers take bool(True), not True, and int(R_...)). It
    # also compiles one per integer width: int() of an int32 or int8 record field keeps
    # its width, so the order senders are called with int(np.int64(...)) arguments (the
    # int() is for mypy) and each compiles once.
    e = int(0)
    g = int(0)
    c = int(0)
    last_t = int(0)
    while True:
        te = ev_ts[e] if e < n_ev else INF
        tg = grid[g] if g < m else INF
        t = min(te, tg, ints[I_NEXT_TIMER])
        if t == INF:
            break
        last_t = t
        gi = g - 1 if g > 0 else 0  # latest grid time <= t, for latencies
        if te <= t:
            # The hot path: most events meet no open trade and no working order.
            mk = ev_market[e]
            row = ev_row[e]
            filled = False
            if ev_kind[e] == EV_TICKER:
                prev = cur_tick[mk]
                if ints[I_OPEN] > 0 and prev >= 0 and next_funding_ts[prev] <= t:
                    # Funding due before this quote is settled with the rate known before it.
                    # The due time is tested here, not only in the callee: the call alone cost
                    # about 0.3 us per quote while a position was open, 10x the hot path.
                    # int64: ev_market is int32 and the grid step passes an int64 (one compile).
                    _settle_funding(int(np.int64(mk)), t, book_r, st_r, rec_r)
                cur_tick[mk] = row
                if live_from[mk] <= t < live_to[mk]:
                    filled = _on_ticker(
                        mk,
                        t,
                        q_ts_exchange[row],
                        q_bid[row],
                        q_ask[row],
                        fee_maker[mk],
                        wk,
                        ints,
                        orders,
                    )
            elif live_from[mk] <= t < live_to[mk]:
                filled = _on_trade(
                    mk,
                    t,
                    p_ts_exchange[row],
                    p_px[row],
                    p_sz[row],
                    p_side[row],
                    fee_maker[mk],
                    wk,
                    ints,
                    orders,
                )
            e += 1
            if not filled:
                continue
            _advance(t, gi, book_r, sx_r, p_r, st_r, rec_r)
        elif st.ints[I_NEXT_TIMER] <= t:
            _execute_market_orders(t, book_r, sx_r, p_r, st_r, rec_r)
            for k in range(st.ints[I_OPEN]):
                tid = st.open_ids[k]
                if st.tw[tid, W_TIMER] <= t:
                    _on_timer(tid, t, gi, book_r, sx_r, p_r, st_r, rec_r)
            _advance(t, gi, book_r, sx_r, p_r, st_r, rec_r)
        else:
            if st.ints[I_OPEN] > 0:
                for mk in range(st.cur_tick.shape[0]):
                    _settle_funding(mk, t, book_r, st_r, rec_r)
            is_last = g == m - 1
            for k in range(st.ints[I_OPEN]):
                tid = st.open_ids[k]
                if rec.trades[tid]["status"] == ACTIVE:
                    reason = X_END_OF_DATA
                    if not is_last:
                        reason = _exit_signal(tid, book_r, p_r, st_r, rec_r)
                    if reason != X_NONE:
                        _start_exit(tid, t, g, reason, book_r, sx_r, p_r, st_r, rec_r)
            while c < n_cand and cand.ts[c] < t:
                c += 1
            while c < n_cand and cand.ts[c] == t:
                if not is_last:
                    _try_entry(c, t, g, cand_r, book_r, sx_r, p_r, st_r, rec_r)
                c += 1
            _record_equity(t, book_r, p_r, st_r, rec_r)
            g += 1
        _release_finished(st_r, rec_r)
        _update_next_timer(st_r)
    _end_of_data(last_t, book_r, sx_r, p_r, st_r, rec_r)
    _release_finished(st_r, rec_r)
    if rec.counts[4] > 0:
        # The last equity point reflects the final settlement.
        _write_equity(
            rec.equity[rec.counts[4] - 1],
            rec.equity[rec.counts[4] - 1]["ts"],
            p.starting_capital,
            st.money,
            st.ints,
            0.0,
        )


# ------------------------------------------------------------------------------------------
# Orders
# ------------------------------------------------------------------------------------------


@jit(refcount=False, internal=True)
def _latency(gi: int, exchange: int, latency_ns: np.ndarray, default_ns: int) -> int:
    if latency_ns.shape[1] == 0:
        return default_ns
    return int(latency_ns[exchange, gi])


@jit(refcount=False, internal=True)
def _new_order(
    t: int,
    trade_id: int,
    market: int,
    exchange: int,
    side: int,
    is_market: bool,
    purpose: int,
    price: float,
    qty: float,
    queue: float,
    latency: int,
    timeout: int,
    rec: Records,
) -> int:
    oid = rec.counts[1]
    rec.counts[1] += 1
    o = rec.orders[oid]
    o["id"] = oid
    o["trade_id"] = trade_id
    o["market"] = market
    o["exchange"] = exchange
    o["side"] = side
    o["is_market"] = is_market
    o["purpose"] = purpose
    o["status"] = O_WORKING
    o["price"] = price
    o["qty"] = qty
    o["queue_ahead"] = queue
    o["traded_at_price"] = 0.0
    o["send_time"] = t
    # Both in local (observation) time: the order reaches the venue at t + L, and the
    # venue's events from then on are seen here another L later.
    o["arrive_time"] = t + 2 * latency
    o["cancel_time"] = INF if is_market else t + timeout + 2 * latency
    o["fill_time"] = -1
    o["fill_exchange_time"] = -1
    o["fill_price"] = np.nan
    o["slippage"] = 0.0
    o["fee"] = 0.0
    return oid


@jit(refcount=False, internal=True)
def _send_limit(
    t: int,
    gi: int,
    tid: int,
    market: int,
    side: int,
    purpose: int,
    size_usd: float,
    qty: float,
    timeout: int,
    book: Book,
    sx: Static,
    p: EngineParams,
    st: State,
    rec: Records,
) -> int:
    """Post a passive limit at the own-side touch for ``qty`` base units (or, when ``qty``
    is 0, for ``size_usd`` of notional at that price). Returns the order id."""
    row = st.cur_tick[market]
    ex = sx.market_exchange[market]
    lat = _latency(gi, ex, sx.latency_ns, p.default_latency_ns)
    if side > 0:
        price = book.bid_px[row]
        queue = book.bid_sz[row]
    else:
        price = book.ask_px[row]
        queue = book.ask_sz[row]
    if qty <= 0.0:
        qty = size_usd / price
    oid = _new_order(
        t, tid, market, ex, side, bool(False), purpose, price, qty, queue, lat, timeout, rec
    )
    o = rec.orders[oid]
    k = st.ints[I_WORKING]
    st.ints[I_WORKING] += 1
    wk = st.wk
    wk.oid[k] = oid
    wk.market[k] = market
    wk.side[k] = side
    wk.price[k] = price
    wk.arrive[k] = o["arrive_time"]
    wk.cancel[k] = o["cancel_time"]
    wk.target[k] = p.fill_threshold * queue
    wk.traded[k] = 0.0
    _update_live_window(market, wk, st.ints)
    # At arrival the venue matches it against its book first (see _arrive).
    _schedule(oid, t + 2 * lat, st.pending_mkt, st.mkt_due, st.ints)
    return oid


@jit(refcount=False, internal=True)
def _schedule(
    oid: int, due: int, pending_mkt: np.ndarray, mkt_due: np.ndarray, ints: np.ndarray
) -> None:
    """Queue order ``oid`` for the timer at local time ``due`` (execution or arrival)."""
    k = ints[I_PENDING]
    pending_mkt[k] = oid
    mkt_due[k] = due
    ints[I_PENDING] += 1


@jit(refcount=False, internal=True)
def _send_market(
    t: int,
    gi: int,
    tid: int,
    market: int,
    side: int,
    purpose: int,
    qty: float,
    book: Book,
    sx: Static,
    p: EngineParams,
    st: State,
    rec: Records,
) -> int:
    ex = sx.market_exchange[market]
    lat = _latency(gi, ex, sx.latency_ns, p.default_latency_ns)
    row = st.cur_tick[market]
    touch = book.ask_px[row] if side > 0 else book.bid_px[row]
    oid = _new_order(
        t, tid, market, ex, side, bool(True), purpose, touch, qty, 0.0, lat, int(0), rec
    )
    _schedule(oid, t + 2 * lat, st.pending_mkt, st.mkt_due, st.ints)
    return oid


@jit(refcount=False, internal=True)
def _fill(o: np.ndarray, t_local: int, t_exchange: int, price: float, fee_rate: float) -> None:
    o["status"] = O_FILLED
    o["fill_time"] = t_local
    o["fill_exchange_time"] = t_exchange
    o["fill_price"] = price
    o["fee"] = fee_rate * price * o["qty"]


@jit(refcount=False, internal=True)
def _execute_market(
    o: np.ndarray, t: int, book: Book, sx: Static, p: EngineParams, st: State
) -> None:
    """Fill a market order at the as-of touch worsened by the seed's slippage, taker fee."""
    mk = o["market"]
    row = st.cur_tick[mk]
    side = o["side"]
    touch = book.ask_px[row] if side > 0 else book.bid_px[row]
    depth = book.ask_depth[row] if side > 0 else book.bid_depth[row]
    slip = slippage_frac_nb(
        touch * o["qty"], depth, p.slippage_base, p.slippage_depth_coef, p.slippage_cap
    )
    o["price"] = touch
    o["slippage"] = slip
    _fill(o, t, t, touch * (1.0 + slip) if side > 0 else touch * (1.0 - slip), sx.fee_taker[mk])


@jit(refcount=False, internal=True)
def _execute_market_orders(
    t: int, book: Book, sx: Static, p: EngineParams, st: State, rec: Records
) -> None:
    k = int(0)
    while k < st.ints[I_PENDING]:
        if st.mkt_due[k] > t:
            k += 1
            continue
        o = rec.orders[st.pending_mkt[k]]
        if o["is_market"]:
            _execute_market(o, t, book, sx, p, st)
        else:
            _arrive(o, t, book, sx, p, st)
        _remove_at(st.pending_mkt, k, st.ints[I_PENDING])
        _remove_at(st.mkt_due, k, st.ints[I_PENDING])
        st.ints[I_PENDING] -= 1


@jit(refcount=False, internal=True)
def _arrive(o: np.ndarray, t: int, book: Book, sx: Static, p: EngineParams, st: State) -> None:
    """A limit order reaches the venue (seen locally at ``t``, its ``arrive_time``).

    If the venue's book then (the as-of quote at ``t``) already trades through its price,
    the venue executes it at once as a taker: at the opposite touch worsened by the seed's
    slippage, never beyond the limit, taker fee; or, with ``reject_crossed_on_arrival``
    (post-only), cancels it. Otherwise it rests (maker fills later).
    """
    if o["status"] != O_WORKING:
        return
    mk = o["market"]
    row = st.cur_tick[mk]
    if row < 0:
        return
    side = o["side"]
    limit = o["price"]
    touch = book.ask_px[row] if side > 0 else book.bid_px[row]
    if not ((touch <= limit) if side > 0 else (touch >= limit)):
        return
    if p.reject_crossed_on_arrival:
        # Post-only: the venue refuses it rather than let it take liquidity.
        o["status"] = O_CANCELLED
        _drop_working(int(o["id"]), st.wk, st.ints)
        return
    depth = book.ask_depth[row] if side > 0 else book.bid_depth[row]
    slip = slippage_frac_nb(
        touch * o["qty"], depth, p.slippage_base, p.slippage_depth_coef, p.slippage_cap
    )
    px = min(touch * (1.0 + slip), limit) if side > 0 else max(touch * (1.0 - slip), limit)
    o["slippage"] = slip
    _fill(o, t, book.ts_exchange[row], px, sx.fee_taker[mk])
    _drop_working(int(o["id"]), st.wk, st.ints)


@jit(refcount=False, internal=True)
def _drop_working(oid: int, wk: Working, ints: np.ndarray) -> None:
    for k in range(ints[I_WORKING]):
        if wk.oid[k] == oid:
            _remove_working_at(k, wk, ints)
            return


@jit(refcount=False, internal=True)
def _update_live_window(mk: int, wk: Working, ints: np.ndarray) -> None:
    """Recompute the span of local times in which market ``mk``'s orders are live."""
    lo = INF
    hi = -INF
    for k in range(ints[I_WORKING]):
        if wk.market[k] == mk:
            lo = min(lo, wk.arrive[k])
            hi = max(hi, wk.cancel[k])
    wk.live_from[mk] = lo
    wk.live_to[mk] = hi


@jit(refcount=False, internal=True)
def _remove_working_at(k: int, wk: Working, ints: np.ndarray) -> None:
    """Delete live order ``k``, keeping the others in send order."""
    mk = wk.market[k]
    for j in range(k, ints[I_WORKING] - 1):
        wk.oid[j] = wk.oid[j + 1]
        wk.market[j] = wk.market[j + 1]
        wk.side[j] = wk.side[j + 1]
        wk.price[j] = wk.price[j + 1]
        wk.arrive[j] = wk.arrive[j + 1]
        wk.cancel[j] = wk.cancel[j + 1]
        wk.target[j] = wk.target[j + 1]
        wk.traded[j] = wk.traded[j + 1]
    ints[I_WORKING] -= 1
    _update_live_window(mk, wk, ints)


@jit(refcount=False, internal=True)
def _remove_at(a: np.ndarray, k: int, n: int) -> None:
    """Delete ``a[k]`` from the first ``n`` items, keeping their order."""
    for j in range(k, n - 1):
        a[j] = a[j + 1]


@jit(inline=True, refcount=False, internal=True)
def _on_ticker(
    mk: int,
    t_local: int,
    t_exchange: int,
    bid: float,
    ask: float,
    fee_maker: float,
    wk: Working,
    ints: np.ndarray,
    orders: np.ndarray,
) -> bool:
    """A quote whose opposite side reaches a live limit's price fills it at its price.

    Returns whether any order filled."""
    any_fill = False
    k = int(0)  # not a literal: _remove_working_at compiles once
    while k < ints[I_WORKING]:
        if wk.market[k] == mk and wk.arrive[k] <= t_local < wk.cancel[k]:
            price = wk.price[k]
            if (ask <= price) if wk.side[k] > 0 else (bid >= price):
                _fill(orders[wk.oid[k]], t_local, t_exchange, price, fee_maker)
                _remove_working_at(k, wk, ints)
                any_fill = True
                continue
        k += 1
    return any_fill


@jit(inline=True, refcount=False, internal=True)
def _on_trade(
    mk: int,
    t_local: int,
    t_exchange: int,
    px: float,
    size: float,
    aggressor: int,
    fee_maker: float,
    wk: Working,
    ints: np.ndarray,
    orders: np.ndarray,
) -> bool:
    """Allocate a print's volume to the market's live limits in send order (queue model).

    Returns whether any order filled."""
    any_fill = False
    remaining = size
    k = int(0)  # not a literal: _remove_working_at compiles once
    while k < ints[I_WORKING]:
        if wk.market[k] != mk or not (wk.arrive[k] <= t_local < wk.cancel[k]):
            k += 1
            continue
        side = wk.side[k]
        price = wk.price[k]
        filled = (px < price) if side > 0 else (px > price)  # traded through our price
        if not filled and px == price and aggressor == -side and remaining > 0.0:
            target = wk.target[k]
            need = target - wk.traded[k]
            take = remaining if remaining < need else max(need, 0.0)
            wk.traded[k] += take
            orders[wk.oid[k]]["traded_at_price"] = wk.traded[k]
            remaining -= take
            filled = wk.traded[k] >= target
        if filled:
            _fill(orders[wk.oid[k]], t_local, t_exchange, price, fee_maker)
            _remove_working_at(k, wk, ints)
            any_fill = True
        else:
            k += 1
    return any_fill


# The small helpers take the arrays they use, not the whole state or records: the inlined
# event handlers call them with what they hold.
@jit(refcount=False, internal=True)
def _cancel(oid: int, orders: np.ndarray, wk: Working, ints: np.ndarray) -> None:
    """Take a limit off the working list; an unfilled one becomes cancelled."""
    if orders[oid]["status"] == O_WORKING:
        orders[oid]["status"] = O_CANCELLED
    _drop_working(oid, wk, ints)


@jit(refcount=False, internal=True)
def _known_fill(oid: int, t: int, orders: np.ndarray) -> bool:
    return oid >= 0 and orders[oid]["status"] == O_FILLED and (orders[oid]["fill_time"] <= t)


# ------------------------------------------------------------------------------------------
# Trade lifecycle
# ------------------------------------------------------------------------------------------


@jit(refcount=False, internal=True)
def _try_entry(
    c: int,
    t: int,
    gi: int,
    cand: Candidates,
    book: Book,
    sx: Static,
    p: EngineParams,
    st: State,
    rec: Records,
) -> None:
    """Size the candidate with the available capital, then post its harder leg."""
    sym = cand.symbol[c]
    ml = cand.long_market[c]
    ms = cand.short_market[c]
    available = st.money[M_AVAILABLE]
    reason = -1
    size = 0.0
    if st.busy[sym] >= p.max_trades_per_symbol:
        reason = R_SYMBOL_BUSY
    elif st.cur_tick[ml] < 0 or st.cur_tick[ms] < 0:
        reason = R_NO_BOOK
    else:
        spread = cand.spread_bps[c]
        edge = spread - cand.fees_bps[c] - cand.funding_cost_bps[c]
        size = min(
            edge / spread * available,
            p.max_position_fraction * available,
            p.depth_size_fraction * min(cand.depth_long[c], cand.depth_short[c]),
        )
        slip_l = slippage_frac_nb(
            size, cand.depth_long[c], p.slippage_base, p.slippage_depth_coef, p.slippage_cap
        )
        slip_s = slippage_frac_nb(
            size, cand.depth_short[c], p.slippage_base, p.slippage_depth_coef, p.slippage_cap
        )
        projected = (
            size * (spread - cand.fees_bps[c]) / 1e4
            + size * cand.funding_delta_8h[c] * p.expected_hold_h / 8.0
        )
        if size < p.min_position_usd:
            reason = R_POSITION_TOO_SMALL
        elif (
            cand.depth_long[c] < p.depth_multiple * size
            or cand.depth_short[c] < p.depth_multiple * size
        ):
            reason = R_DEPTH
        elif not projected - size * 2.0 * (slip_l + slip_s) > 0.0:
            reason = R_UNPROFITABLE
    if reason >= 0:
        _reject(
            t,
            sym,
            sx.market_exchange[ml],
            sx.market_exchange[ms],
            reason,
            int(-1),
            rec.rejections,
            rec.counts,
        )
        return
    tid = rec.counts[0]
    rec.counts[0] += 1
    tr = rec.trades[tid]
    tr["id"] = tid
    tr["symbol"] = sym
    tr["long_exchange"] = sx.market_exchange[ml]
    tr["short_exchange"] = sx.market_exchange[ms]
    tr["long_market"] = ml
    tr["short_market"] = ms
    tr["harder_leg_is_long"] = cand.harder_is_long[c]
    tr["status"] = PENDING
    tr["opportunity_ts"] = t
    tr["entry_time"] = -1
    tr["entry_long_time"] = -1
    tr["entry_short_time"] = -1
    tr["exit_signal_time"] = -1
    tr["exit_time"] = -1
    tr["entry_long_price"] = np.nan
    tr["entry_short_price"] = np.nan
    tr["long_qty"] = 0.0
    tr["short_qty"] = 0.0
    tr["entry_spread_bps"] = np.nan
    tr["position_size_usd"] = size
    tr["funding_delta_entry"] = cand.funding_delta_8h[c]
    tr["projected_profit_usd"] = projected
    tr["confidence_score"] = cand.score[c]
    tr["exit_long_price"] = np.nan
    tr["exit_short_price"] = np.nan
    tr["exit_spread_bps"] = np.nan
    tr["exit_reason"] = X_NONE
    tr["price_pnl"] = 0.0
    tr["funding_pnl"] = 0.0
    tr["fees"] = 0.0
    tr["slippage_cost"] = 0.0
    tr["actual_profit_usd"] = 0.0
    tr["leg_out_cost"] = 0.0
    tr["pnl_net"] = 0.0
    tr["leg_out_count"] = 0
    # Capital is reserved while the entry is pending (SPEC §5).
    st.money[M_AVAILABLE] -= size
    st.money[M_ALLOCATED] += size
    st.busy[sym] += 1
    st.open_ids[st.ints[I_OPEN]] = tid
    st.ints[I_OPEN] += 1
    harder = ml if cand.harder_is_long[c] else ms
    side = 1 if cand.harder_is_long[c] else -1
    oid = _send_limit(
        t,
        gi,
        tid,
        int(np.int64(harder)),
        int(np.int64(side)),
        int(P_ENTRY_HARDER),
        size,
        0.0,
        p.entry_timeout_ns,
        book,
        sx,
        p,
        st,
        rec,
    )
    st.tw[tid, W_HARD] = oid
    st.tw[tid, W_TIMER] = rec.orders[oid]["cancel_time"]
    st.tw[tid, W_TIMER_KIND] = T_HARD_DECIDE


@jit(refcount=False, internal=True)
def _reject(
    t: int,
    sym: int,
    ex_long: int,
    ex_short: int,
    reason: int,
    trade_id: int,
    rejections: np.ndarray,
    counts: np.ndarray,
) -> None:
    r = rejections[counts[3]]
    counts[3] += 1
    r["ts"] = t
    r["symbol"] = sym
    r["long_exchange"] = ex_long
    r["short_exchange"] = ex_short
    r["reason"] = reason
    r["trade_id"] = trade_id


@jit(refcount=False, internal=True)
def _leg_entry_column(o: np.ndarray) -> int:
    return W_LONG_ENTRY if o["side"] > 0 else W_SHORT_ENTRY


@jit(refcount=False, internal=True)
def _advance(
    t: int, gi: int, book: Book, sx: Static, p: EngineParams, st: State, rec: Records
) -> None:
    """Move trades on once the fills they wait for are known at local time ``t``."""
    tw = st.tw
    for k in range(st.ints[I_OPEN]):
        tid = st.open_ids[k]
        tr = rec.trades[tid]
        status = tr["status"]
        if status == PENDING:
            h = tw[tid, W_HARD]
            if tw[tid, W_EASY] < 0:
                if _known_fill(h, t, rec.orders):
                    # Harder leg in (possibly learned after its timeout): post the easier.
                    _cancel(h, rec.orders, st.wk, st.ints)
                    tw[tid, _leg_entry_column(rec.orders[h])] = h
                    easier = tr["short_market"] if tr["harder_leg_is_long"] else tr["long_market"]
                    side = -1 if tr["harder_leg_is_long"] else 1
                    oid = _send_limit(
                        t,
                        gi,
                        tid,
                        int(np.int64(easier)),
                        int(np.int64(side)),
                        int(P_ENTRY_EASIER),
                        tr["position_size_usd"],
                        0.0,
                        p.leg_timeout_ns,
                        book,
                        sx,
                        p,
                        st,
                        rec,
                    )
                    tw[tid, W_EASY] = oid
                    tw[tid, W_TIMER] = rec.orders[oid]["cancel_time"]
                    tw[tid, W_TIMER_KIND] = T_EASY_DECIDE
            else:
                eo = tw[tid, W_EASY]
                if tw[tid, W_LEGOUT_ENTRY] < 0 and _known_fill(eo, t, rec.orders):
                    _cancel(eo, rec.orders, st.wk, st.ints)
                    tw[tid, _leg_entry_column(rec.orders[eo])] = eo
                if _known_fill(tw[tid, W_LONG_ENTRY], t, rec.orders) and _known_fill(
                    tw[tid, W_SHORT_ENTRY], t, rec.orders
                ):
                    _activate(tid, t, sx, st, rec)
        elif status == EXITING:
            long_done = _known_fill(_exit_order(tid, bool(True), st.tw), t, rec.orders)
            short_done = _known_fill(_exit_order(tid, bool(False), st.tw), t, rec.orders)
            if long_done and short_done:
                _cancel(tw[tid, W_LONG_EXIT], rec.orders, st.wk, st.ints)
                _cancel(tw[tid, W_SHORT_EXIT], rec.orders, st.wk, st.ints)
                _close(tid, t, sx, st, rec)


@jit(refcount=False, internal=True)
def _exit_order(tid: int, long_leg: bool, tw: np.ndarray) -> int:
    """The order that closes a leg: the exit market order if one was sent, else the limit."""
    mkt = tw[tid, W_LONG_EXIT_MKT if long_leg else W_SHORT_EXIT_MKT]
    if mkt >= 0:
        return mkt
    return tw[tid, W_LONG_EXIT if long_leg else W_SHORT_EXIT]


@jit(refcount=False, internal=True)
def _activate(tid: int, t: int, sx: Static, st: State, rec: Records) -> None:
    tr = rec.trades[tid]
    lo = rec.orders[st.tw[tid, W_LONG_ENTRY]]
    so = rec.orders[st.tw[tid, W_SHORT_ENTRY]]
    tr["status"] = ACTIVE
    tr["entry_time"] = t
    tr["entry_long_time"] = lo["fill_time"]
    tr["entry_short_time"] = so["fill_time"]
    tr["entry_long_price"] = lo["fill_price"]
    tr["entry_short_price"] = so["fill_price"]
    tr["long_qty"] = lo["qty"]
    tr["short_qty"] = so["qty"]
    mid = 0.5 * (lo["fill_price"] + so["fill_price"])
    tr["entry_spread_bps"] = (so["fill_price"] - lo["fill_price"]) / mid * 1e4
    lr = st.tw[tid, W_LEGOUT_ENTRY]
    if lr >= 0:
        hedge = so if rec.leg_outs[lr]["filled_leg_is_long"] else lo
        _complete_leg_out(rec.leg_outs[lr], hedge, sx.fee_maker[hedge["market"]], rec.trades)
    st.tw[tid, W_TIMER] = INF
    st.tw[tid, W_TIMER_KIND] = T_NONE


@jit(refcount=False, internal=True)
def _complete_leg_out(
    lo_rec: np.ndarray, hedge: np.ndarray, maker_fee: float, trades: np.ndarray
) -> None:
    """Hedge price and cost of a leg-out: worse price than intended, plus the taker fee
    paid over the maker fee the limit would have paid."""
    lo_rec["hedge_time"] = hedge["fill_time"]
    lo_rec["hedge_price"] = hedge["fill_price"]
    qty = hedge["qty"]
    intended = lo_rec["intended_price"]
    lo_rec["cost"] = (
        hedge["side"] * (hedge["fill_price"] - intended) * qty
        + hedge["fee"]
        - maker_fee * intended * qty
    )
    trade = trades[lo_rec["trade_id"]]
    trade["leg_out_cost"] += lo_rec["cost"]


@jit(refcount=False, internal=True)
def _new_leg_out(
    tid: int,
    on_exit: bool,
    filled_leg_is_long: bool,
    filled_at: int,
    intended: float,
    qty: float,
    rec: Records,
) -> int:
    k = rec.counts[2]
    rec.counts[2] += 1
    r = rec.leg_outs[k]
    r["trade_id"] = tid
    r["on_exit"] = on_exit
    r["filled_leg_is_long"] = filled_leg_is_long
    r["filled_at"] = filled_at
    r["hedge_time"] = -1
    r["intended_price"] = intended
    r["hedge_price"] = np.nan
    r["qty"] = qty
    r["cost"] = np.nan  # known once the hedge has executed
    rec.trades[tid]["leg_out_count"] += 1
    return k


@jit(refcount=False, internal=True)
def _on_timer(
    tid: int, t: int, gi: int, book: Book, sx: Static, p: EngineParams, st: State, rec: Records
) -> None:
    """A decision is due: the cancel of a timed-out limit has been acknowledged."""
    tw = st.tw
    tr = rec.trades[tid]
    kind = tw[tid, W_TIMER_KIND]
    tw[tid, W_TIMER] = INF
    tw[tid, W_TIMER_KIND] = T_NONE
    if kind == T_HARD_DECIDE:
        h = tw[tid, W_HARD]
        if not _known_fill(h, t, rec.orders):
            _cancel(h, rec.orders, st.wk, st.ints)
            tr["status"] = REJECTED
            _reject(
                tr["opportunity_ts"],
                int(np.int64(tr["symbol"])),
                int(np.int64(tr["long_exchange"])),
                int(np.int64(tr["short_exchange"])),
                int(R_HARDER_LEG_UNFILLED),
                tid,
                rec.rejections,
                rec.counts,
            )
    elif kind == T_EASY_DECIDE:
        eo = tw[tid, W_EASY]
        if not _known_fill(eo, t, rec.orders):
            # Leg-out: the harder leg is in, the easier one is not. Hedge it at market.
            _cancel(eo, rec.orders, st.wk, st.ints)
            o = rec.orders[eo]
            h = rec.orders[tw[tid, W_HARD]]
            tw[tid, W_LEGOUT_ENTRY] = _new_leg_out(
                tid,
                bool(False),
                h["side"] > 0,
                h["fill_time"],
                o["price"],
                o["qty"],
                rec,
            )
            hedge = _send_market(
                t,
                gi,
                tid,
                int(np.int64(o["market"])),
                int(np.int64(o["side"])),
                int(P_ENTRY_HEDGE),
                o["qty"],
                book,
                sx,
                p,
                st,
                rec,
            )
            tw[tid, _leg_entry_column(o)] = hedge
    elif kind == T_EXIT_DECIDE:
        for long_leg in (True, False):
            lim = tw[tid, W_LONG_EXIT if long_leg else W_SHORT_EXIT]
            if not _known_fill(lim, t, rec.orders):
                _cancel(lim, rec.orders, st.wk, st.ints)
                o = rec.orders[lim]
                other = tw[tid, W_SHORT_EXIT if long_leg else W_LONG_EXIT]
                if _known_fill(other, t, rec.orders):
                    # Exit leg-out: the other leg's exit filled, this one did not.
                    tw[tid, W_LEGOUT_EXIT] = _new_leg_out(
                        tid,
                        bool(True),
                        not long_leg,
                        rec.orders[other]["fill_time"],
                        o["price"],
                        o["qty"],
                        rec,
                    )
                mkt = _send_market(
                    t,
                    gi,
                    tid,
                    int(np.int64(o["market"])),
                    int(np.int64(o["side"])),
                    int(P_EXIT_MARKET),
                    o["qty"],
                    book,
                    sx,
                    p,
                    st,
                    rec,
                )
                tw[tid, W_LONG_EXIT_MKT if long_leg else W_SHORT_EXIT_MKT] = mkt


@jit(refcount=False, internal=True)
def _close_spread_bps(tid: int, book: Book, st: State, rec: Records) -> float:
    """Spread at the prices that would close the position: short ask vs long bid."""
    tr = rec.trades[tid]
    bid_long = book.bid_px[st.cur_tick[tr["long_market"]]]
    ask_short = book.ask_px[st.cur_tick[tr["short_market"]]]
    return (ask_short - bid_long) / (0.5 * (ask_short + bid_long)) * 1e4


@jit(refcount=False, internal=True)
def _unrealized(tid: int, book: Book, st: State, rec: Records) -> float:
    """PnL if both open legs were closed at the touch now, after fees paid and funding."""
    tr = rec.trades[tid]
    total = tr["funding_pnl"]
    lo = st.tw[tid, W_LONG_ENTRY]
    so = st.tw[tid, W_SHORT_ENTRY]
    if lo >= 0 and rec.orders[lo]["status"] == O_FILLED:
        o = rec.orders[lo]
        total += o["qty"] * (book.bid_px[st.cur_tick[o["market"]]] - o["fill_price"]) - o["fee"]
    if so >= 0 and rec.orders[so]["status"] == O_FILLED:
        o = rec.orders[so]
        total += o["qty"] * (o["fill_price"] - book.ask_px[st.cur_tick[o["market"]]]) - o["fee"]
    return total


@jit(refcount=False, internal=True)
def _funding_8h(row: int, book: Book) -> float:
    return book.funding_rate[row] * 28_800.0 / book.funding_interval_s[row]


@jit(refcount=False, internal=True)
def _exit_signal(tid: int, book: Book, p: EngineParams, st: State, rec: Records) -> int:
    """Exit reason at a position check (stop loss first), or ``X_NONE``."""
    tr = rec.trades[tid]
    spread = _close_spread_bps(tid, book, st, rec)
    if spread > tr["entry_spread_bps"] + p.stop_loss_bps:
        return X_STOP_LOSS
    if spread > tr["entry_spread_bps"] + p.spread_widening_bps:
        return X_SPREAD_WIDENING
    if _unrealized(tid, book, st, rec) >= p.profit_target_fraction * tr["projected_profit_usd"]:
        return X_PROFIT_TARGET
    delta = _funding_8h(st.cur_tick[tr["short_market"]], book) - _funding_8h(
        st.cur_tick[tr["long_market"]], book
    )
    if delta < p.exit_funding_delta_8h:
        return X_FUNDING_CONVERGENCE
    return X_NONE


@jit(refcount=False, internal=True)
def _start_exit(
    tid: int,
    t: int,
    gi: int,
    reason: int,
    book: Book,
    sx: Static,
    p: EngineParams,
    st: State,
    rec: Records,
) -> None:
    tr = rec.trades[tid]
    tr["status"] = EXITING
    tr["exit_reason"] = reason
    tr["exit_signal_time"] = t
    tw = st.tw
    if reason == X_END_OF_DATA:
        # No data left to fill a resting order: close both legs at market.
        tw[tid, W_LONG_EXIT_MKT] = _send_market(
            t,
            gi,
            tid,
            int(np.int64(tr["long_market"])),
            int(-1),
            int(P_END_OF_DATA),
            tr["long_qty"],
            book,
            sx,
            p,
            st,
            rec,
        )
        tw[tid, W_SHORT_EXIT_MKT] = _send_market(
            t,
            gi,
            tid,
            int(np.int64(tr["short_market"])),
            int(1),
            int(P_END_OF_DATA),
            tr["short_qty"],
            book,
            sx,
            p,
            st,
            rec,
        )
        return
    lo = _send_limit(
        t,
        gi,
        tid,
        int(np.int64(tr["long_market"])),
        int(-1),
        int(P_EXIT_LIMIT),
        0.0,
        tr["long_qty"],
        p.exit_timeout_ns,
        book,
        sx,
        p,
        st,
        rec,
    )
    so = _send_limit(
        t,
        gi,
        tid,
        int(np.int64(tr["short_market"])),
        int(1),
        int(P_EXIT_LIMIT),
        0.0,
        tr["short_qty"],
        p.exit_timeout_ns,
        book,
        sx,
        p,
        st,
        rec,
    )
    tw[tid, W_LONG_EXIT] = lo
    tw[tid, W_SHORT_EXIT] = so
    tw[tid, W_TIMER] = max(rec.orders[lo]["cancel_time"], rec.orders[so]["cancel_time"])
    tw[tid, W_TIMER_KIND] = T_EXIT_DECIDE


@jit(refcount=False, internal=True)
def _leg_terms(
    entry: np.ndarray,
    exit_: np.ndarray,
    hedged_entry: bool,
    entry_intended: float,
    hedged_exit: bool,
    exit_intended: float,
    maker_entry: float,
    maker_exit: float,
) -> tuple[float, float, float, float]:
    """Reference entry/exit prices, fees and slippage of one leg for the decomposition.

    A leg-out hedge counts at its intended limit price with the maker fee (its extra
    cost is in ``leg_out_cost``); any other market order counts at the touch, its
    slippage separately; a limit counts at its fill price and fee."""
    if hedged_entry:
        px_in = entry_intended
        fee = maker_entry * entry_intended * float(entry["qty"])
        slip = 0.0
    elif entry["is_market"]:
        px_in = float(entry["price"])
        fee = float(entry["fee"])
        slip = float(abs(entry["fill_price"] - entry["price"]) * entry["qty"])
    else:
        px_in = float(entry["fill_price"])
        fee = float(entry["fee"])
        slip = 0.0
    if hedged_exit:
        px_out = exit_intended
        fee += maker_exit * exit_intended * float(exit_["qty"])
    elif exit_["is_market"]:
        px_out = float(exit_["price"])
        fee += float(exit_["fee"])
        slip += float(abs(exit_["fill_price"] - exit_["price"]) * exit_["qty"])
    else:
        px_out = float(exit_["fill_price"])
        fee += float(exit_["fee"])
    return px_in, px_out, fee, slip


@jit(refcount=False, internal=True)
def _close(tid: int, t: int, sx: Static, st: State, rec: Records) -> None:
    """Book a closed trade: the PnL decomposition of SPEC §6."""
    tw = st.tw
    tr = rec.trades[tid]
    le = rec.orders[tw[tid, W_LONG_ENTRY]]
    se = rec.orders[tw[tid, W_SHORT_ENTRY]]
    lx = rec.orders[_exit_order(tid, bool(True), st.tw)]
    sx_ = rec.orders[_exit_order(tid, bool(False), st.tw)]
    lr_in = tw[tid, W_LEGOUT_ENTRY]
    lr_out = tw[tid, W_LEGOUT_EXIT]
    long_hedged_in = lr_in >= 0 and not rec.leg_outs[lr_in]["filled_leg_is_long"]
    short_hedged_in = lr_in >= 0 and rec.leg_outs[lr_in]["filled_leg_is_long"]
    long_hedged_out = lr_out >= 0 and not rec.leg_outs[lr_out]["filled_leg_is_long"]
    short_hedged_out = lr_out >= 0 and rec.leg_outs[lr_out]["filled_leg_is_long"]
    if lr_out >= 0:
        hedge = lx if long_hedged_out else sx_
        _complete_leg_out(rec.leg_outs[lr_out], hedge, sx.fee_maker[hedge["market"]], rec.trades)
    ml = le["market"]
    ms = se["market"]
    l_in, l_out, l_fee, l_slip = _leg_terms(
        le,
        lx,
        long_hedged_in,
        rec.leg_outs[lr_in]["intended_price"] if long_hedged_in else 0.0,
        long_hedged_out,
        rec.leg_outs[lr_out]["intended_price"] if long_hedged_out else 0.0,
        sx.fee_maker[ml],
        sx.fee_maker[ml],
    )
    s_in, s_out, s_fee, s_slip = _leg_terms(
        se,
        sx_,
        short_hedged_in,
        rec.leg_outs[lr_in]["intended_price"] if short_hedged_in else 0.0,
        short_hedged_out,
        rec.leg_outs[lr_out]["intended_price"] if short_hedged_out else 0.0,
        sx.fee_maker[ms],
        sx.fee_maker[ms],
    )
    tr["price_pnl"] = le["qty"] * (l_out - l_in) + se["qty"] * (s_in - s_out)
    tr["fees"] = l_fee + s_fee
    tr["slippage_cost"] = l_slip + s_slip
    tr["actual_profit_usd"] = tr["price_pnl"] + tr["funding_pnl"] - tr["fees"] - tr["slippage_cost"]
    tr["pnl_net"] = tr["actual_profit_usd"] - tr["leg_out_cost"]
    tr["exit_time"] = t
    tr["exit_long_price"] = lx["fill_price"]
    tr["exit_short_price"] = sx_["fill_price"]
    mid = 0.5 * (lx["fill_price"] + sx_["fill_price"])
    tr["exit_spread_bps"] = (sx_["fill_price"] - lx["fill_price"]) / mid * 1e4
    tr["status"] = CLOSED


@jit(refcount=False, internal=True)
def _settle_funding(mk: int, t: int, book: Book, st: State, rec: Records) -> None:
    """Funding of market ``mk`` due by ``t``, on every leg held there at settlement.

    The rate is that of the latest quote before the settlement (SPEC §5, docs/data.md);
    a long pays ``rate * qty * mid``, a short receives it.
    """
    row = st.cur_tick[mk]
    if row < 0:
        return
    due = book.next_funding_ts[row]
    if due > t:
        return
    tw = st.tw
    for k in range(st.ints[I_OPEN]):
        tid = st.open_ids[k]
        for long_leg in (True, False):
            entry = tw[tid, W_LONG_ENTRY if long_leg else W_SHORT_ENTRY]
            if entry < 0:
                continue
            o = rec.orders[entry]
            if o["market"] != mk or o["status"] != O_FILLED or o["fill_time"] > due:
                continue
            col = W_LONG_FUNDED if long_leg else W_SHORT_FUNDED
            if tw[tid, col] >= due:
                continue
            out = _exit_order(tid, long_leg, st.tw)
            if (
                out >= 0
                and rec.orders[out]["status"] == O_FILLED
                and (rec.orders[out]["fill_time"] <= due)
            ):
                continue
            mid = 0.5 * (book.bid_px[row] + book.ask_px[row])
            payment = book.funding_rate[row] * o["qty"] * mid
            rec.trades[tid]["funding_pnl"] += -payment if long_leg else payment
            tw[tid, col] = due


@jit(refcount=False, internal=True)
def _write_equity(
    r: np.ndarray,
    t: int,
    starting_capital: float,
    money: np.ndarray,
    ints: np.ndarray,
    unrealized: float,
) -> None:
    r["ts"] = t
    r["available_capital"] = money[M_AVAILABLE]
    r["allocated"] = money[M_ALLOCATED]
    r["realized_pnl"] = money[M_REALIZED]
    r["unrealized_pnl"] = unrealized
    r["equity"] = starting_capital + money[M_REALIZED] + unrealized
    r["open_trades"] = ints[I_OPEN]


@jit(refcount=False, internal=True)
def _record_equity(t: int, book: Book, p: EngineParams, st: State, rec: Records) -> None:
    unrealized = 0.0
    for k in range(st.ints[I_OPEN]):
        unrealized += _unrealized(st.open_ids[k], book, st, rec)
    _write_equity(rec.equity[rec.counts[4]], t, p.starting_capital, st.money, st.ints, unrealized)
    rec.counts[4] += 1


@jit(refcount=False, internal=True)
def _release_finished(st: State, rec: Records) -> None:
    """Closed or rejected trades give their capital back (with their PnL)."""
    k = int(0)
    while k < st.ints[I_OPEN]:
        tid = st.open_ids[k]
        tr = rec.trades[tid]
        if tr["status"] == CLOSED or tr["status"] == REJECTED:
            st.money[M_AVAILABLE] += tr["position_size_usd"]
            st.money[M_ALLOCATED] -= tr["position_size_usd"]
            if tr["status"] == CLOSED:
                st.money[M_AVAILABLE] += tr["pnl_net"]
                st.money[M_REALIZED] += tr["pnl_net"]
            st.busy[tr["symbol"]] -= 1
            _remove_at(st.open_ids, k, st.ints[I_OPEN])
            st.ints[I_OPEN] -= 1
        else:
            k += 1


@jit(refcount=False, internal=True)
def _update_next_timer(st: State) -> None:
    nxt = INF
    for k in range(st.ints[I_OPEN]):
        t = st.tw[st.open_ids[k], W_TIMER]
        if t < nxt:
            nxt = t
    for k in range(st.ints[I_PENDING]):
        if st.mkt_due[k] < nxt:
            nxt = st.mkt_due[k]
    st.ints[I_NEXT_TIMER] = nxt


@jit(refcount=False, internal=True)
def _end_of_data(t: int, book: Book, sx: Static, p: EngineParams, st: State, rec: Records) -> None:
    """The data is over: market orders still waiting execute at the last books; legs
    still open are closed at market (reason end of data); entries never filled are
    rejected."""
    gi = sx.grid.shape[0] - 1 if sx.grid.shape[0] > 0 else 0
    for k in range(st.ints[I_PENDING]):
        o = rec.orders[st.pending_mkt[k]]
        if o["is_market"]:
            _execute_market(o, t, book, sx, p, st)
        # A limit still on its way never reached the venue within the data.
    st.ints[I_PENDING] = 0
    tw = st.tw
    for k in range(st.ints[I_OPEN]):
        tid = st.open_ids[k]
        tr = rec.trades[tid]
        for col in (W_HARD, W_EASY, W_LONG_EXIT, W_SHORT_EXIT):
            if tw[tid, col] >= 0:
                _cancel(tw[tid, col], rec.orders, st.wk, st.ints)
        le = tw[tid, W_LONG_ENTRY]
        se = tw[tid, W_SHORT_ENTRY]
        long_in = _known_fill(le, INF - 1, rec.orders)
        short_in = _known_fill(se, INF - 1, rec.orders)
        if tr["status"] == PENDING and not long_in and not short_in:
            tr["status"] = REJECTED
            _reject(
                tr["opportunity_ts"],
                int(np.int64(tr["symbol"])),
                int(np.int64(tr["long_exchange"])),
                int(np.int64(tr["short_exchange"])),
                int(R_HARDER_LEG_UNFILLED),
                tid,
                rec.rejections,
                rec.counts,
            )
            continue
        if tr["status"] == PENDING:
            # One leg in, data over before the other: hedge it at the last book. The
            # intended price is the easier limit's, or the touch it would have been posted at.
            h = rec.orders[tw[tid, W_HARD]]
            missing_long = not long_in
            mk = tr["long_market"] if missing_long else tr["short_market"]
            row = st.cur_tick[mk]
            if tw[tid, W_EASY] >= 0:
                intended = rec.orders[tw[tid, W_EASY]]["price"]
                qty = rec.orders[tw[tid, W_EASY]]["qty"]
            else:
                intended = book.bid_px[row] if missing_long else book.ask_px[row]
                qty = tr["position_size_usd"] / intended
            tw[tid, W_LEGOUT_ENTRY] = _new_leg_out(
                tid, bool(False), not missing_long, h["fill_time"], intended, qty, rec
            )
            hedge = _send_market(
                t,
                gi,
                tid,
                int(np.int64(mk)),
                int(1 if missing_long else -1),
                int(P_ENTRY_HEDGE),
                qty,
                book,
                sx,
                p,
                st,
                rec,
            )
            _execute_market(rec.orders[hedge], t, book, sx, p, st)
            tw[tid, W_LONG_ENTRY if missing_long else W_SHORT_ENTRY] = hedge
            _activate(tid, t, sx, st, rec)
            tr["exit_reason"] = X_END_OF_DATA
            tr["exit_signal_time"] = t
        for long_leg in (True, False):
            out = _exit_order(tid, long_leg, st.tw)
            if out >= 0 and rec.orders[out]["status"] == O_FILLED:
                continue
            entry = rec.orders[tw[tid, W_LONG_ENTRY if long_leg else W_SHORT_ENTRY]]
            mkt = _send_market(
                t,
                gi,
                tid,
                int(np.int64(entry["market"])),
                int(np.int64(-entry["side"])),
                int(P_END_OF_DATA),
                entry["qty"],
                book,
                sx,
                p,
                st,
                rec,
            )
            _execute_market(rec.orders[mkt], t, book, sx, p, st)
            tw[tid, W_LONG_EXIT_MKT if long_leg else W_SHORT_EXIT_MKT] = mkt
        st.ints[I_PENDING] = 0
        if tr["exit_reason"] == X_NONE:
            tr["exit_reason"] = X_END_OF_DATA
            tr["exit_signal_time"] = t
        _close(tid, t, sx, st, rec)
