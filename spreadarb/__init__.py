"""spreadarb: backtesting of cross-exchange perpetual-futures spread and funding arbitrage.

Public names::

    spreadarb.load(path, *, start=None, end=None, symbols=None, exchanges=None) -> Dataset
    spreadarb.validate(path) -> list[DataProblem]
    spreadarb.write_table(root, table, frame, *, name=None) -> list[Path]
    spreadarb.synth.generate(out_dir, *, seed=0, ...)
"""

from __future__ import annotations

import importlib
from typing import Any

from spreadarb.data.dataset import Dataset, MarketTable, MarketView, ReadStats
from spreadarb.data.errors import DataError, DataProblem, ProblemKind
from spreadarb.data.loader import load
from spreadarb.data.validate import validate
from spreadarb.data.writer import write_table

__version__ = "0.1.0"

__all__ = [
    "DataError",
    "DataProblem",
    "Dataset",
    "MarketTable",
    "MarketView",
    "ProblemKind",
    "ReadStats",
    "__version__",
    "load",
    "synth",
    "validate",
    "write_table",
]

_LAZY_MODULES = {"synth": "spreadarb.synth"}


def __getattr__(name: str) -> Any:
    # The generator pulls in numba; import it only when asked for.
    if name in _LAZY_MODULES:
        return importlib.import_module(_LAZY_MODULES[name])
    raise AttributeError(f"module 'spreadarb' has no attribute {name!r}")
