"""Importers: turn recordings from other tools into datasets in the data contract.

Every importer streams its sources (bounded memory) and writes through
:func:`spreadarb.write_table`, so its output passes :func:`spreadarb.validate`.

- :func:`import_binance_ws`: raw Binance futures websocket recordings
  (``<receive_ts_ns> <raw JSON>`` per line: ``bookTicker``, ``trade``, ``depth@0ms``
  diffs, REST depth snapshots, optionally ``markPrice`` and ``forceOrder``).
- :func:`import_bybit_ws`: cryptofeed-style raw Bybit v5 recordings (tickers, order
  book snapshots and deltas, trades, liquidations).
- :func:`import_funding_history`: funding-rate histories (CSV / JSON) into a funding-only
  dataset.
- :func:`import_tardis`: Tardis.dev CSV files (quotes, book snapshots, trades,
  derivative ticker, liquidations).
"""

from __future__ import annotations

from spreadarb.importers._common import canonical_symbol
from spreadarb.importers.binance_ws import (
    ImportSummary,
    MarketSummary,
    SequenceGap,
    import_binance_ws,
)
from spreadarb.importers.bybit_ws import BybitMarketSummary, BybitSummary, import_bybit_ws
from spreadarb.importers.funding_history import (
    FundingMarketSummary,
    FundingSummary,
    import_funding_history,
)
from spreadarb.importers.tardis import TardisMarketSummary, TardisSummary, import_tardis

__all__ = [
    "BybitMarketSummary",
    "BybitSummary",
    "FundingMarketSummary",
    "FundingSummary",
    "ImportSummary",
    "MarketSummary",
    "SequenceGap",
    "TardisMarketSummary",
    "TardisSummary",
    "canonical_symbol",
    "import_binance_ws",
    "import_bybit_ws",
    "import_funding_history",
    "import_tardis",
]
