"""``BacktestResult``: record arrays inside, DataFrames (codes as labels) outside."""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

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
    import polars as pl
    from matplotlib.figure import Figure

NS_PER_DAY = 86_400 * 10**9


@dataclass(frozen=True, eq=False)
class BacktestResult:
    """Everything a backtest produced.

    The ``*_records`` attributes are the kernels' numpy structured arrays; the
    properties without the suffix are pandas DataFrames with exchange, symbol and
    enum codes turned into labels and timestamps into UTC datetimes: ``trades``,
    ``orders``, ``leg_outs``, ``rejections``, ``equity``, ``latency``,
    ``opportunities``, and the derived ``events`` (the seed's monitoring log) and
    ``daily``. :meth:`to_polars` gives them as polars, :attr:`metrics` the portfolio
    metrics, :meth:`summary` the scalar ones as a table, :meth:`plot` a tearsheet;
    :meth:`save` and :meth:`load` write and read a folder. See ``docs/metrics.md``.
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

    @cached_property
    def events(self) -> pd.DataFrame:
        """The event log: one row per item the seed's monitoring module logs.

        Kinds (column ``event``, in tie-break order): ``entry``, ``exit`` (prices,
        profit, reason), ``leg_out`` (the leg that filled, the hedge), ``rejected_opportunity``
        (a scan row that failed a hard constraint, with the value and the limit),
        ``rejected_entry`` (a candidate the engine did not take or whose harder leg did not
        fill), ``risk_violation`` (stop loss or spread widening, with the limit),
        ``latency_violation`` (one row per episode of a venue above ``max_latency_ms``, with
        its peak and duration) and ``data_problem`` (feed gaps, clock offsets, symbols
        without a pair of venues). Columns and their meaning per kind: ``docs/metrics.md``.
        """
        from spreadarb.events import events_frame

        return events_frame(self)

    @cached_property
    def daily(self) -> pd.DataFrame:
        """Per UTC day (the seed's ``strategy:metrics:daily``): trades, win rate, PnL and
        its attribution, leg-outs, rejected entries, equity at the end of the day.

        A closed trade's PnL, fees, funding and leg-outs count on the day it closed, so
        the ``pnl`` column sums to ``metrics["cumulative_pnl"]``.
        """
        from spreadarb.events import daily_frame

        return daily_frame(self)

    TABLES: ClassVar[tuple[str, ...]] = (
        "trades",
        "orders",
        "leg_outs",
        "rejections",
        "equity",
        "latency",
        "opportunities",
        "events",
        "daily",
    )
    """Names of the DataFrame properties (the keys of :meth:`to_polars`)."""

    def to_polars(self) -> PolarsTables:
        """Every table as a polars DataFrame, converted on first access.

        Returns
        -------
        PolarsTables
            A read-only mapping from each name of :attr:`TABLES` to a ``polars.DataFrame``
            with the same columns as the pandas property (categoricals stay categorical,
            times are ``Datetime("ns", "UTC")``; ``daily``'s date index becomes a ``date``
            column). ``result.to_polars()["trades"]``.
        """
        return PolarsTables(self)

    # --- plots ------------------------------------------------------------------------

    def plot(self) -> Figure:
        """A one-page tearsheet (:func:`spreadarb.plots.tearsheet`)."""
        from spreadarb.plots import tearsheet

        return tearsheet(self)

    # --- metrics ----------------------------------------------------------------------

    @cached_property
    def metrics(self) -> dict[str, Any]:
        """Portfolio metrics (SPEC §6); every formula in ``docs/metrics.md``."""
        from spreadarb.metrics import portfolio_metrics

        return portfolio_metrics(self)

    # --- persistence ------------------------------------------------------------------

    # record attribute prefix -> file stem
    _RECORDS: ClassVar[dict[str, str]] = {
        "trade": "trades",
        "order": "orders",
        "leg_out": "leg_outs",
        "rejection": "rejections",
        "equity": "equity",
        "opportunity": "opportunities",
    }

    def save(self, directory: str | os.PathLike[str], *, plots: bool = False) -> Path:
        """Write the result to ``directory``: every record table as Parquet (exact, as
        stored), the grid and latencies, the config as TOML, metrics as JSON, and the
        event log and daily table as labelled Parquet (``events.parquet``,
        ``daily.parquet``, for other tools; :meth:`load` recomputes them).

        Each file is written atomically. :meth:`load` reads it back byte for byte.

        Parameters
        ----------
        directory
            Created if needed; files of an earlier save are replaced.
        plots
            Also write the tearsheet and every figure of :mod:`spreadarb.plots` as PNG
            (``tearsheet.png``, ``equity.png``, ...; :data:`spreadarb.plots.FIGURES`).

        Returns
        -------
        Path
            ``directory``.
        """
        import json

        import pyarrow as pa

        from spreadarb._io import atomic_write_text

        out = Path(directory)
        out.mkdir(parents=True, exist_ok=True)
        for name, stem in self._RECORDS.items():
            records = getattr(self, f"{name}_records")
            _write_parquet(out / f"{stem}.parquet", _records_table(records))
        n_ex = len(self.dataset_exchanges)
        latency = {"ts": self.grid}
        for e, exchange in enumerate(self.dataset_exchanges):
            latency[exchange] = self.latency_ms[e] if n_ex else np.empty(0)
        _write_parquet(out / "latency.parquet", pa.table(latency))
        # The derived tables, with labels, for readers other than spreadarb; load()
        # recomputes them from the records rather than reading these.
        _write_parquet(
            out / "events.parquet", pa.Table.from_pandas(self.events, preserve_index=False)
        )
        _write_parquet(out / "daily.parquet", pa.Table.from_pandas(self.daily.reset_index()))
        self.config.to_toml(out / "config.toml")
        meta = {
            "exchanges": list(self.dataset_exchanges),
            "symbols": list(self.dataset_symbols),
            "market_exchange": self.market_exchange.tolist(),
            "format": 1,
        }
        atomic_write_text(out / "result.json", json.dumps(meta, indent=2) + "\n")
        # Strict JSON: a metric that is undefined (NaN) is written as null.
        atomic_write_text(
            out / "metrics.json", json.dumps(_json_safe(self.metrics), indent=2) + "\n"
        )
        if plots:
            from spreadarb.plots import save_figures

            save_figures(self, out)
        return out

    @classmethod
    def load(cls, directory: str | os.PathLike[str]) -> BacktestResult:
        """Read a result written by :meth:`save`."""
        import json

        import pyarrow.parquet as pq

        from spreadarb.enums import (
            equity_dt,
            leg_out_dt,
            opportunity_dt,
            order_dt,
            rejection_dt,
            trade_dt,
        )

        src = Path(directory)
        meta_path = src / "result.json"
        if not meta_path.is_file():
            raise FileNotFoundError(f"{str(src)!r} holds no saved backtest result (no result.json)")
        meta = json.loads(meta_path.read_text())
        dtypes = {
            "trade": trade_dt,
            "order": order_dt,
            "leg_out": leg_out_dt,
            "rejection": rejection_dt,
            "equity": equity_dt,
            "opportunity": opportunity_dt,
        }
        records = {
            f"{name}_records": _table_records(pq.read_table(src / f"{stem}.parquet"), dtypes[name])
            for name, stem in cls._RECORDS.items()
        }
        latency = pq.read_table(src / "latency.parquet")
        exchanges = tuple(meta["exchanges"])
        grid = latency.column("ts").to_numpy()
        latency_ms = (
            np.stack([latency.column(e).to_numpy() for e in exchanges])
            if exchanges
            else np.empty((0, grid.size))
        )
        return cls(
            dataset_exchanges=exchanges,
            dataset_symbols=tuple(meta["symbols"]),
            market_exchange=np.asarray(meta["market_exchange"], dtype=np.int32),
            config=StrategyConfig.from_toml(src / "config.toml"),
            grid=grid,
            latency_ms=latency_ms,
            **records,
        )

    def summary(self) -> pd.DataFrame:
        """The scalar metrics as a one-column table."""
        import pandas as pd

        scalars = {k: v for k, v in self.metrics.items() if not isinstance(v, dict)}
        return pd.DataFrame({"value": pd.Series(scalars, dtype=object)})

    def to_redis(self, client: Any, *, prefix: str = "strategy", **options: Any) -> dict[str, int]:
        """Write the seed's ``strategy:*`` keys (see :func:`spreadarb.redis.to_redis`)."""
        from spreadarb.redis.strategy_keys import to_redis

        return to_redis(self, client, prefix=prefix, **options)


class PolarsTables(Mapping[str, "pl.DataFrame"]):
    """The tables of a :class:`BacktestResult` as polars DataFrames (see
    :meth:`BacktestResult.to_polars`); each is converted once, on first access."""

    def __init__(self, result: BacktestResult) -> None:
        self._result = result
        self._cache: dict[str, pl.DataFrame] = {}

    def __getitem__(self, name: str) -> pl.DataFrame:
        if name not in BacktestResult.TABLES:
            raise KeyError(f"{name!r} is not a table; tables: {', '.join(BacktestResult.TABLES)}")
        if name not in self._cache:
            import polars as pl

            frame = getattr(self._result, name)
            if name == "daily":
                frame = frame.reset_index()
            self._cache[name] = pl.from_pandas(frame)
        return self._cache[name]

    def __iter__(self) -> Iterator[str]:
        return iter(BacktestResult.TABLES)

    def __len__(self) -> int:
        return len(BacktestResult.TABLES)

    def __repr__(self) -> str:
        return f"PolarsTables({', '.join(BacktestResult.TABLES)})"


def _records_table(records: np.ndarray) -> Any:
    """A structured array as an Arrow table, one column per field, values unchanged."""
    import pyarrow as pa

    names = records.dtype.names or ()
    return pa.table({name: np.ascontiguousarray(records[name]) for name in names})


def _table_records(table: Any, dtype: np.dtype) -> np.ndarray:
    """Inverse of :func:`_records_table`; refuses a table whose columns differ."""
    names = dtype.names or ()
    if tuple(table.column_names) != names:
        raise ValueError(f"saved table has columns {table.column_names}, expected {list(names)}")
    out = np.empty(table.num_rows, dtype=dtype)
    for name in names:
        out[name] = table.column(name).to_numpy()
    return out


def _write_parquet(path: Path, table: Any) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from spreadarb._io import atomic_write_bytes

    sink = pa.BufferOutputStream()
    pq.write_table(table, sink, compression="zstd")
    atomic_write_bytes(path, sink.getvalue().to_pybytes())


def _json_safe(value: Any) -> Any:
    """Metrics as strict JSON values: NaN and infinities become ``None``."""
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value
