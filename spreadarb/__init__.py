"""spreadarb: backtesting of cross-exchange perpetual-futures spread and funding arbitrage.

Public names::

    spreadarb.load(path, *, start=None, end=None, symbols=None, exchanges=None) -> Dataset
    spreadarb.validate(path) -> list[DataProblem]
    spreadarb.load_funding(path, *, exchanges=None, symbols=None) -> DataFrame
    spreadarb.write_table(root, table, frame, *, name=None) -> list[Path]
    spreadarb.synth.generate(out_dir, *, seed=0, ...)
    spreadarb.StrategyConfig(...)                       frozen, validated; TOML in/out
    spreadarb.scan(dataset, config=None, *, backend="pandas") -> DataFrame
    spreadarb.slippage(size_usd, depth_usd)
    spreadarb.backtest(dataset, config=None) -> BacktestResult
    spreadarb.sweep(dataset, grid, *, base=None, client=None, n_jobs=None, ...) -> DataFrame
    spreadarb.BacktestResult.load(folder)               results saved with result.save(folder)
    spreadarb.plots.tearsheet(result), plot_equity(result, ax=None), ...
    spreadarb.redis.export(out, *, url=..., interval="100ms", ...)   docs/redis.md
"""

from __future__ import annotations

import importlib
from typing import Any

from spreadarb.config import ConfigError, StrategyConfig
from spreadarb.data.dataset import Dataset, MarketTable, MarketView, ReadStats
from spreadarb.data.errors import DataError, DataProblem, ProblemKind
from spreadarb.data.funding import load_funding
from spreadarb.data.loader import load
from spreadarb.data.validate import validate
from spreadarb.data.writer import write_table
from spreadarb.scoring import slippage

__version__ = "0.1.0"

__all__ = [
    "BacktestResult",
    "ConfigError",
    "DataError",
    "DataProblem",
    "Dataset",
    "MarketTable",
    "MarketView",
    "ProblemKind",
    "ReadStats",
    "StrategyConfig",
    "__version__",
    "backtest",
    "load",
    "load_funding",
    "plots",
    "redis",
    "scan",
    "slippage",
    "sweep",
    "synth",
    "validate",
    "write_table",
]

_LAZY_MODULES = {"synth": "spreadarb.synth", "plots": "spreadarb.plots", "redis": "spreadarb.redis"}
_LAZY_FUNCTIONS = {
    "scan": "spreadarb.scanner",
    "backtest": "spreadarb.simulation",
    "BacktestResult": "spreadarb.results",
    "sweep": "spreadarb.sweeps",
}


def __getattr__(name: str) -> Any:
    # Names whose modules pull in numba are imported only when first used.
    if name in _LAZY_MODULES:
        return importlib.import_module(_LAZY_MODULES[name])
    if name in _LAZY_FUNCTIONS:
        return getattr(importlib.import_module(_LAZY_FUNCTIONS[name]), name)
    raise AttributeError(f"module 'spreadarb' has no attribute {name!r}")
