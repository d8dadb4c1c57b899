"""``BacktestResult``: record arrays inside, DataFrames (codes as labels) outside."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any

import numpy as np

from spreadarb.config import StrategyConfig
from spreadarb.enums import (
    EXIT_REASON_LABELS,
    ORDER_PURPOSE_LABELS,
    ORDER_STATUS_LABELS,
    REJECT_REASON_LABELS,
    TRADE_STATUS_LABELS,
)
from spreadarb.frames import records_frame

if TYPE_CHECKING:
    import pandas as pd

NS_PER_DAY = 86_400 * 10**9


@dataclass(frozen=True, eq=False)
class BacktestResult:
    """Everything a backtest produced.

    The ``*_records`` attributes are the kernels' numpy structured arrays; the
    properties without the suffix are pandas DataFrames with exchange, symbol and
    enum codes turned into labels and timestamps into UTC datetimes.
    """

    dataset_exchanges: tuple[str, ...]
    dataset_symbols: tuple[str, ...]
    market_exchange: np.ndarray
    config: StrategyConfig
    trade_records: np.ndarray
    order_records: np.ndarray
    leg_out_records: np.ndarray
    rejection_records: np.ndarray
    equity_records: np.ndarray
    opportunity_records: np.ndarray
    grid: np.ndarray
    latency_ms: np.ndarray  # (n_exchanges, len(grid)); NaN where unknown

    # --- DataFrames -----------------------------------------------------------------

    def _frame(
        self,
        records: np.ndarray,
        *,
        times: tuple[str, ...] = (),
        exchanges: tuple[str, ...] = (),
        symbols: tuple[str, ...] = (),
        codes: dict[str, tuple[str, ...]] | None = None,
    ) -> pd.DataFrame:
        labels: dict[str, Sequence[str]] = dict(codes or {})
        labels.update({col: self.dataset_exchanges for col in exchanges})
        labels.update({col: self.dataset_symbols for col in symbols})
        return records_frame(records, times=times, labels=labels)

    @cached_property
    def trades(self) -> pd.DataFrame:
        """The ledger: one row per trade opened (the seed's ``PaperTrade``)."""
        return self._frame(
            self.trade_records,
            times=(
                "opportunity_ts",
                "entry_time",
                "entry_long_time",
                "entry_short_time",
                "exit_signal_time",
                "exit_time",
            ),
            exchanges=("long_exchange", "short_exchange"),
            symbols=("symbol",),
            codes={"status": TRADE_STATUS_LABELS, "exit_reason": EXIT_REASON_LABELS},
        ).drop(columns=["long_market", "short_market"])

    @cached_property
    def orders(self) -> pd.DataFrame:
        """Every simulated order (the seed's ``SimulatedOrder``)."""
        frame = self._frame(
            self.order_records,
            times=("send_time", "fill_time"),
            exchanges=("exchange",),
            codes={"purpose": ORDER_PURPOSE_LABELS, "status": ORDER_STATUS_LABELS},
        )
        return frame.drop(columns=["market"])

    @cached_property
    def leg_outs(self) -> pd.DataFrame:
        """Every leg-out event (the seed's ``LegOutEvent``)."""
        return self._frame(self.leg_out_records, times=("filled_at", "hedge_time"))

    @cached_property
    def rejections(self) -> pd.DataFrame:
        """Opportunities the backtest did not take, or whose harder leg did not fill."""
        return self._frame(
            self.rejection_records,
            times=("ts",),
            exchanges=("long_exchange", "short_exchange"),
            symbols=("symbol",),
            codes={"reason": REJECT_REASON_LABELS},
        )

    @cached_property
    def equity(self) -> pd.DataFrame:
        """Portfolio state on the position-check grid."""
        return self._frame(self.equity_records, times=("ts",))

    @cached_property
    def opportunities(self) -> pd.DataFrame:
        """The scan's opportunity log (see :func:`spreadarb.scan`)."""
        from spreadarb.scanner import records_to_frame

        return records_to_frame(
            self.opportunity_records, self.dataset_symbols, self.dataset_exchanges
        )

    @cached_property
    def latency(self) -> pd.DataFrame:
        """Exchange latency on the grid (long format): ts, exchange, latency_ms, stale."""
        import pandas as pd

        n_ex, m = self.latency_ms.shape
        lat = self.latency_ms.reshape(-1)
        with np.errstate(invalid="ignore"):
            stale = ~(lat <= self.config.max_latency_ms)
        return pd.DataFrame(
            {
                "ts": pd.to_datetime(np.tile(self.grid, n_ex), unit="ns", utc=True),
                "exchange": pd.Categorical.from_codes(
                    np.repeat(np.arange(n_ex), m),
                    dtype=pd.CategoricalDtype(list(self.dataset_exchanges)),
                ),
                "latency_ms": lat,
                "stale": stale,
            }
        )

    # --- metrics ----------------------------------------------------------------------

    @cached_property
    def metrics(self) -> dict[str, Any]:
        """Portfolio metrics (SPEC §6); formulas in ``docs/execution.md``."""
        from spreadarb.metrics import portfolio_metrics

        return portfolio_metrics(self)

    def summary(self) -> pd.DataFrame:
        """The scalar metrics as a one-column table."""
        import pandas as pd

        scalars = {k: v for k, v in self.metrics.items() if not isinstance(v, dict)}
        return pd.DataFrame({"value": pd.Series(scalars, dtype=object)})
