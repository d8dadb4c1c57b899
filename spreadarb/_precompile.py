"""The engine kernel compiled in a second process while this one prepares its inputs.

A user's first backtest with an empty numba cache compiles every kernel it uses, one after
the other (numba compiles under the GIL): the loader's, the scan's, the event merge's and
last the engine's, about half of the whole. The engine's argument types do not depend on
the data, only on the data contract's dtypes. So the first :func:`spreadarb.simulation.prepare`
of a process whose on-disk cache lacks the engine starts a Python process that compiles it
into that cache (:func:`compile_engine`), goes on with the scan here, and waits for that
process just before the kernel call, which then loads the engine from the cache. With two
cores, the first backtest's wall time loses the shorter of the two branches.

Anything unusual falls back to compiling here, as without this module: JIT disabled, a
numba without the cache index this reads, a process that fails or is not done within
:data:`WAIT_S`.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import numpy as np

WAIT_S = 600.0
"""How long the kernel call waits for the compiling process at most."""

_lock = threading.Lock()
_started: subprocess.Popen[bytes] | None = None
_checked = False


def engine_example() -> tuple[Any, ...]:
    """Arguments of :func:`~spreadarb.kernels.engine.simulate_nb` with the types of every
    real call and no rows (a test compares their numba types with a real call's)."""
    from spreadarb.config import StrategyConfig
    from spreadarb.data.contract import TABLES
    from spreadarb.enums import (
        equity_dt,
        leg_out_dt,
        opportunity_dt,
        order_dt,
        rejection_dt,
        trade_dt,
    )
    from spreadarb.kernels.engine import Book, Prints, Records, Static, new_state
    from spreadarb.simulation import engine_params, entry_candidates

    def column(table: str, name: str) -> np.ndarray:
        return np.empty(0, dtype=TABLES[table].column(name).kind.numpy_dtype)

    config = StrategyConfig()
    book = Book(
        *(
            column("tickers", name)
            for name in (
                "ts_local",
                "ts_exchange",
                "bid_px",
                "bid_sz",
                "ask_px",
                "ask_sz",
                "bid_depth_usd",
                "ask_depth_usd",
                "funding_rate",
                "funding_interval_s",
                "next_funding_ts",
            )
        )
    )
    prints = Prints(*(column("trades", n) for n in ("ts_local", "ts_exchange", "px", "sz", "side")))
    # The merged event stream's columns (simulation.merge_events): ts, kind, row, market.
    events = (
        np.empty(0, np.int64),
        np.empty(0, np.int8),
        np.empty(0, np.int64),
        np.empty(0, np.int32),
    )
    static = Static(
        grid=np.empty(0, np.int64),
        latency_ns=np.empty((0, 0), np.int64),
        market_exchange=np.empty(0, np.int64),
        fee_maker=np.empty(0, np.float64),
        fee_taker=np.empty(0, np.float64),
    )
    candidates = entry_candidates(np.empty(0, opportunity_dt), _empty_dataset(), config)
    records = Records(
        trades=np.zeros(1, trade_dt),
        orders=np.zeros(8, order_dt),
        leg_outs=np.zeros(2, leg_out_dt),
        rejections=np.zeros(1, rejection_dt),
        equity=np.zeros(0, equity_dt),
        counts=np.zeros(5, np.int64),
    )
    # The Python body: the same arrays, without loading a compiled kernel for the types.
    state = getattr(new_state, "py_func", new_state)(0, 0, 1, 8, config.starting_capital)
    return (book, prints, *events, static, candidates, engine_params(config), state, records)


def _empty_dataset() -> Any:
    from spreadarb.data.dataset import Dataset, MarketTable

    return Dataset(
        root=Path("."),
        exchanges=(),
        symbols=(),
        market_exchange=np.empty(0, np.int32),
        market_symbol=np.empty(0, np.int32),
        tickers=MarketTable.empty("tickers", 0),
        trades=MarketTable.empty("trades", 0),
        liquidations=MarketTable.empty("liquidations", 0),
    )


def engine_signature() -> tuple[Any, ...]:
    """The numba types of :func:`engine_example`: the engine's one signature."""
    import numba

    return tuple(numba.typeof(a) for a in engine_example())


def compile_engine() -> None:
    """Compile the engine for :func:`engine_signature` into numba's on-disk cache."""
    from spreadarb.kernels.engine import simulate_nb

    dispatcher: Any = simulate_nb
    dispatcher.compile(engine_signature())


def _engine_cached() -> bool | None:
    """Whether numba's cache holds the engine for this machine and source (``None``: the
    engine is compiled in this process already, or this cannot be told)."""
    from spreadarb.kernels.engine import simulate_nb

    dispatcher: Any = simulate_nb
    try:
        if dispatcher.signatures:
            return None
        cache = dispatcher._cache
        key = cache._index_key(engine_signature(), dispatcher.targetctx.codegen())
        return key in cache._cache_file._load_index()
    except Exception:  # any numba internals mismatch: behave as without this module
        return None


def start() -> None:
    """Start compiling the engine in another process if this process will need it and the
    cache does not have it; once per process, cheap afterwards."""
    global _started, _checked
    with _lock:
        if _checked:
            return
        _checked = True
        from spreadarb._jit import JIT_DISABLED

        if JIT_DISABLED or (os.cpu_count() or 1) < 2 or _engine_cached() is not False:
            return
        # The same spreadarb as this process's, wherever it was imported from.
        package_parent = str(Path(__file__).resolve().parent.parent)
        paths = [package_parent, os.environ.get("PYTHONPATH", "")]
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in paths if p)}
        _started = subprocess.Popen(
            [sys.executable, "-c", "from spreadarb._precompile import compile_engine as c; c()"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )


def wait() -> None:
    """Wait for the process :func:`start` started, if any (the engine is then in the
    cache; if it failed, the kernel call compiles it here)."""
    process = _started
    if process is None or process.returncode is not None:
        return
    try:
        process.wait(timeout=WAIT_S)  # thread-safe: every sweep thread may wait here
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
