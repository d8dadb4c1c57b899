"""Figures of a backtest result, one function per figure, and the one-page tearsheet.

Every function takes a :class:`~spreadarb.results.BacktestResult` and an optional
matplotlib ``Axes`` to draw into, and returns the ``Figure``. Figures are built with
``matplotlib.figure.Figure`` rather than ``pyplot``: they are not registered with a GUI
backend or pyplot's figure list, so scripts and servers need no backend and nothing has
to be closed. In IPython and Jupyter a returned figure is displayed as the cell's value
(:func:`_show_in_ipython` teaches IPython to render a ``Figure`` as PNG when no matplotlib
integration has done so).
"""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from spreadarb.enums import OrderPurpose, Reason, TradeStatus

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from spreadarb.results import BacktestResult

GAIN, LOSS, NEUTRAL, LIMIT = "#2a9d8f", "#e76f51", "#457b9d", "#d62828"


def _show_in_ipython() -> None:
    """Register a PNG formatter for ``Figure`` in a running IPython, unless one exists.

    Figures made without pyplot are otherwise shown as ``<Figure size ...>`` in a notebook
    until the inline backend happens to be loaded. IPython is never imported here: if it
    is not running, there is nothing to do.
    """
    import sys

    if "IPython" not in sys.modules:
        return
    from matplotlib.figure import Figure

    shell = sys.modules["IPython"].get_ipython()
    if shell is None:
        return
    formatter = shell.display_formatter.formatters["image/png"]
    try:
        formatter.lookup_by_type(Figure)
    except KeyError:
        formatter.for_type(Figure, lambda fig: figure_png(fig, bbox_inches="tight"))


def _new_figure(figsize: tuple[float, float]) -> Figure:
    from matplotlib.figure import Figure

    _show_in_ipython()
    return Figure(figsize=figsize, layout="constrained")


def _canvas(ax: Axes | None, figsize: tuple[float, float]) -> tuple[Figure, Axes]:
    """The figure and axes to draw on: the caller's, or a new figure with one Axes."""
    if ax is not None:
        return ax.get_figure(root=True), ax  # type: ignore[return-value]
    fig = _new_figure(figsize)
    return fig, fig.add_subplot()


def _times(ns: np.ndarray) -> np.ndarray:
    """int64 ns UTC as naive ``datetime64[ns]`` (matplotlib's date axis; labelled UTC)."""
    return np.asarray(ns, dtype=np.int64).astype("datetime64[ns]")


def _empty(ax: Axes, text: str) -> None:
    """Say on the Axes that there is nothing to draw, so an empty panel is never blank."""
    ax.text(0.5, 0.5, text, transform=ax.transAxes, ha="center", va="center", color="0.4")


def _date_axis(ax: Axes) -> None:
    import matplotlib.dates as mdates

    # minticks=3: with the default (5) a range of 3-4 minutes fits no interval and warns.
    locator = mdates.AutoDateLocator(minticks=3, maxticks=8)
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
    ax.set_xlabel("time (UTC)")


def plot_equity(result: BacktestResult, ax: Axes | None = None) -> Figure:
    """Equity (realised + unrealised at the touch) and its drawdown from the running peak.

    Equity is the line on the left axis; the drawdown (USD, <= 0) is the shaded area on a
    twin right axis. The title states the maximum drawdown and its duration.
    """
    fig, ax = _canvas(ax, (10, 4))
    eq = result.equity_records
    ax.set_title("Equity and drawdown")
    ax.set_ylabel("equity (USD)")
    if eq.size == 0:
        ax.axhline(result.config.starting_capital, color=NEUTRAL, lw=1.0)
        _empty(ax, "no equity points (empty grid)")
        return fig
    x = _times(eq["ts"])
    equity = eq["equity"]
    drawdown = equity - np.maximum.accumulate(equity)
    dd_ax = ax.twinx()
    dd_ax.fill_between(x, drawdown, 0.0, color=LOSS, alpha=0.25, lw=0, label="drawdown")
    dd_ax.set_ylabel("drawdown (USD)", color=LOSS)
    low = float(drawdown.min())
    dd_ax.set_ylim(min(low, -1e-9) * 3.0, 0.0)  # keep the shaded area in the lower third
    ax.plot(x, equity, color=NEUTRAL, lw=1.2, label="equity")
    ax.axhline(result.config.starting_capital, color="0.6", lw=0.8, ls=":", label="start")
    ax.set_zorder(dd_ax.get_zorder() + 1)  # equity line above the shading
    ax.patch.set_visible(False)
    m = result.metrics
    ax.set_title(
        f"Equity and drawdown: max drawdown {m['max_drawdown_usd']:,.2f} USD "
        f"({m['max_drawdown_pct']:.3%}), longest {m['max_drawdown_duration_s'] / 60:,.1f} min"
    )
    ax.legend(loc="upper left", fontsize="small")
    _date_axis(ax)
    return fig


ATTRIBUTION: tuple[tuple[str, str, float], ...] = (
    ("price", "price_pnl", 1.0),
    ("funding", "funding_pnl", 1.0),
    ("fees", "fees", -1.0),
    ("slippage", "slippage_cost", -1.0),
    ("leg-outs", "leg_out_total_loss", -1.0),
)
"""(bar label, metric, sign) of the PnL attribution; the bars sum to ``cumulative_pnl``."""


def plot_pnl_attribution(result: BacktestResult, ax: Axes | None = None) -> Figure:
    """The cumulative PnL split into price, funding, fees, slippage and leg-out costs.

    One bar per component (costs negative) and the net bar; they are sums over closed
    trades, so the components add up to the net.
    """
    fig, ax = _canvas(ax, (7, 4))
    m = result.metrics
    labels = [label for label, _, _ in ATTRIBUTION] + ["net"]
    values = [sign * float(m[key]) for _, key, sign in ATTRIBUTION]
    values.append(float(m["cumulative_pnl"]))
    colors = [GAIN if v >= 0 else LOSS for v in values[:-1]] + [NEUTRAL]
    bars = ax.bar(labels, values, color=colors)
    ax.bar_label(bars, labels=[f"{v:,.2f}" for v in values], fontsize="small", padding=2)
    ax.axhline(0.0, color="0.3", lw=0.8)
    ax.set_ylabel("USD")
    ax.set_title(f"PnL attribution over {m['trades_closed']} closed trades")
    ax.margins(y=0.15)
    if m["trades_closed"] == 0:
        _empty(ax, "no closed trades")
    return fig


def plot_spreads(result: BacktestResult, ax: Axes | None = None) -> Figure:
    """Spread at entry and at exit of every closed trade (bps, at the fill prices).

    One column per trade in entry order: a circle at the entry spread, a cross at the exit
    spread, joined by a line coloured by the sign of the trade's net PnL.
    """
    fig, ax = _canvas(ax, (8, 4))
    t = result.trade_records
    closed = t[t["status"] == TradeStatus.CLOSED]
    closed = closed[np.argsort(closed["entry_time"], kind="stable")]
    ax.set_title("Spread at entry and exit per closed trade")
    ax.set_ylabel("spread (bps)")
    ax.set_xlabel("trade id")
    ax.axhline(0.0, color="0.6", lw=0.8)
    if closed.size == 0:
        _empty(ax, "no closed trades")
        return fig
    x = np.arange(closed.size)
    colors = [GAIN if p > 0 else LOSS for p in closed["pnl_net"].tolist()]
    ax.vlines(x, closed["entry_spread_bps"], closed["exit_spread_bps"], colors=colors, lw=1.5)
    ax.scatter(x, closed["entry_spread_bps"], marker="o", color=NEUTRAL, label="entry", zorder=3)
    ax.scatter(x, closed["exit_spread_bps"], marker="x", color="0.2", label="exit", zorder=3)
    ax.set_xticks(x, [str(i) for i in closed["id"].tolist()])
    ax.legend(fontsize="small")
    return fig


def plot_leg_outs(result: BacktestResult, ax: Axes | None = None) -> Figure:
    """Every leg-out: its cost (USD) at the hedge time, entry and exit leg-outs marked
    apart, with the running total on a twin axis."""
    fig, ax = _canvas(ax, (8, 4))
    lo = result.leg_out_records
    lo = lo[np.argsort(lo["hedge_time"], kind="stable")]
    ax.set_ylabel("cost per leg-out (USD)")
    total = float(lo["cost"].sum())
    ax.set_title(f"Leg-outs: {lo.size}, total cost {total:,.2f} USD")
    if lo.size == 0:
        ax.axhline(0.0, color="0.6", lw=0.8)
        _empty(ax, "no leg-outs")
        return fig
    x = _times(lo["hedge_time"])
    for on_exit, marker, label in ((False, "o", "on entry"), (True, "s", "on exit")):
        sel = lo["on_exit"] == on_exit
        if sel.any():
            ax.vlines(x[sel], 0.0, lo["cost"][sel], color=LOSS, lw=1.0)
            ax.scatter(x[sel], lo["cost"][sel], marker=marker, color=LOSS, label=label, zorder=3)
    ax.axhline(0.0, color="0.6", lw=0.8)
    cum_ax = ax.twinx()
    cum_ax.step(x, np.cumsum(lo["cost"]), where="post", color="0.3", lw=1.0, label="cumulative")
    cum_ax.set_ylabel("cumulative (USD)")
    cum_ax.set_ylim(bottom=min(0.0, float(np.cumsum(lo["cost"]).min())))
    handles = ax.get_legend_handles_labels()
    extra = cum_ax.get_legend_handles_labels()
    ax.legend(handles[0] + extra[0], handles[1] + extra[1], fontsize="small", loc="upper left")
    _date_axis(ax)
    return fig


def plot_latency(result: BacktestResult, ax: Axes | None = None) -> Figure:
    """Each venue's rolling feed latency on the grid, with the ``max_latency_ms`` line.

    Gaps in a line are grid times with no latency (no tickers in the window).
    """
    fig, ax = _canvas(ax, (10, 4))
    limit = float(result.config.max_latency_ms)
    ax.set_title("Exchange latency (rolling mean of ts_local - ts_exchange)")
    ax.set_ylabel("latency (ms)")
    if result.grid.size and result.latency_ms.size:
        x = _times(result.grid)
        for e, name in enumerate(result.dataset_exchanges):
            ax.plot(x, result.latency_ms[e], lw=0.8, label=name)
        _date_axis(ax)
    else:
        _empty(ax, "no latency data")
    ax.axhline(limit, color=LIMIT, ls="--", lw=1.2, label=f"limit {limit:g} ms")
    ax.legend(fontsize="x-small", ncol=3, loc="upper right")
    return fig


def plot_scores(result: BacktestResult, ax: Axes | None = None) -> Figure:
    """Distribution of the scan's confidence score, with the ``min_confidence`` threshold.

    Rows are scan times x symbols that had a pair of venues. Rows that failed a hard
    constraint have a score of 0 by construction (the seed's gatekeeper) and are stacked
    apart from the rest.
    """
    fig, ax = _canvas(ax, (7, 4))
    opp = result.opportunity_records
    opp = opp[opp["reason"] != Reason.NO_PAIR]
    threshold = result.config.min_confidence
    ax.set_title("Opportunity confidence scores")
    ax.set_xlabel("confidence score")
    ax.set_ylabel("scan rows")
    hard = np.isin(opp["reason"], [Reason.DEPTH, Reason.LATENCY, Reason.FUNDING_DELTA])
    bins = (np.arange(0, 103, 2) - 0.5).tolist()
    if opp.size:
        ax.hist(
            [opp["confidence_score"][~hard], opp["confidence_score"][hard]],
            bins=bins,
            stacked=True,
            color=[NEUTRAL, "0.75"],
            label=[f"hard constraints met ({int((~hard).sum()):,})", f"failed ({hard.sum():,})"],
        )
    else:
        _empty(ax, "no scanned opportunities")
    passed = int((opp["reason"] == Reason.PASSED).sum())
    ax.axvline(threshold, color=LIMIT, ls="--", lw=1.2, label=f"threshold {threshold}")
    ax.set_xlim(-1, 101)
    ax.legend(fontsize="small", title=f"{passed:,} rows passed every filter")
    return fig


FIGURES: dict[str, Callable[..., Figure]] = {
    "equity": plot_equity,
    "pnl_attribution": plot_pnl_attribution,
    "spreads": plot_spreads,
    "leg_outs": plot_leg_outs,
    "latency": plot_latency,
    "scores": plot_scores,
}
"""File stem -> figure function; :meth:`BacktestResult.save` with ``plots=True`` writes
each as ``<stem>.png`` beside ``tearsheet.png``."""


def _summary_rows(result: BacktestResult) -> list[tuple[str, str]]:
    m = result.metrics

    def pct(v: float) -> str:
        return "n/a" if v != v else f"{v:.1%}"

    def num(v: float, fmt: str = ",.2f") -> str:
        return "n/a" if v != v else format(v, fmt)

    orders = result.order_records
    return [
        ("cumulative PnL (USD)", num(m["cumulative_pnl"])),
        ("final equity (USD)", num(m["final_equity"])),
        (
            "realistic APR",
            pct(m["realistic_apr"]) + (" (< 1 day of data)" if m["days_elapsed"] < 1 else ""),
        ),
        ("period (h)", num(m["days_elapsed"] * 24)),
        (
            "trades opened/closed/rejected",
            f"{m['trades_opened']}/{m['trades_closed']}/{m['trades_rejected']}",
        ),
        ("win rate", f"{pct(m['win_rate'])} ({m['win_count']}/{m['trades_closed']})"),
        ("average profit (USD)", num(m["average_profit"])),
        ("leg-outs (count / USD)", f"{m['leg_out_count']} / {num(m['leg_out_total_loss'])}"),
        ("leg-out loss rate", pct(m["leg_out_loss_rate"])),
        ("harder-leg fill rate", pct(m["harder_leg_fill_rate"])),
        ("capital utilisation", pct(m["capital_utilisation"])),
        ("max drawdown (USD)", num(m["max_drawdown_usd"])),
        (
            "Sharpe / Sortino (1-min, ann.)",
            f"{num(m['sharpe'])} / {num(m['sortino'])}"
            + (" (< 1 day of data)" if m["days_elapsed"] < 1 else ""),
        ),
        ("median holding time (s)", num(m["holding_time_median_s"], ",.1f")),
        (
            "orders sent",
            f"{orders.size} ({int((orders['purpose'] == OrderPurpose.ENTRY_HEDGE).sum())} hedges)",
        ),
    ]


def plot_summary(result: BacktestResult, ax: Axes | None = None) -> Figure:
    """The headline metrics as a two-column table (the tearsheet's text panel)."""
    from matplotlib.transforms import Bbox

    fig, ax = _canvas(ax, (6, 4))
    rows = _summary_rows(result)
    ax.axis("off")
    table = ax.table(
        cellText=[list(r) for r in rows],
        colLabels=["metric", "value"],
        bbox=Bbox.from_bounds(0.0, 0.0, 1.0, 0.94),
    )
    table.auto_set_font_size(False)
    table.set_fontsize(8.5)
    table.scale(1.0, 1.15)
    for (_row, col), cell in table.get_celld().items():
        cell.set_edgecolor("0.85")
        if col == 1:
            cell.set_text_props(ha="right")
    ax.set_title("Summary")
    return fig


def tearsheet(result: BacktestResult) -> Figure:
    """One page: equity and drawdown, summary table, PnL attribution, spreads per trade,
    leg-outs, latency per venue and the score distribution."""
    fig = _new_figure((15, 17))
    grid = fig.add_gridspec(4, 2, height_ratios=[1.1, 1.0, 1.0, 1.0])
    plot_equity(result, fig.add_subplot(grid[0, :]))
    plot_summary(result, fig.add_subplot(grid[1, 0]))
    plot_pnl_attribution(result, fig.add_subplot(grid[1, 1]))
    plot_spreads(result, fig.add_subplot(grid[2, 0]))
    plot_leg_outs(result, fig.add_subplot(grid[2, 1]))
    plot_latency(result, fig.add_subplot(grid[3, 0]))
    plot_scores(result, fig.add_subplot(grid[3, 1]))
    symbols = ", ".join(result.dataset_symbols)
    eq = result.equity_records
    period = ""
    if eq.size:
        first, last = _times(eq["ts"][[0, -1]])
        period = f", {str(first)[:19]} to {str(last)[:19]} UTC"
    fig.suptitle(
        f"spreadarb backtest: {symbols} on {len(result.dataset_exchanges)} venues{period} "
        f"(queue model {result.config.queue_model})",
        fontsize="x-large",
    )
    return fig


def figure_png(fig: Figure, *, dpi: int = 100, bbox_inches: str | None = None) -> bytes:
    """A figure rendered as PNG bytes (Agg)."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi, bbox_inches=bbox_inches)
    return buffer.getvalue()


def save_figures(result: BacktestResult, directory: Path) -> list[Path]:
    """Write ``tearsheet.png`` and one PNG per entry of :data:`FIGURES`, each atomically."""
    from spreadarb._io import atomic_write_bytes

    written = []
    for stem, draw in {"tearsheet": tearsheet, **FIGURES}.items():
        path = directory / f"{stem}.png"
        atomic_write_bytes(path, figure_png(draw(result)))
        written.append(path)
    return written


__all__ = [
    "FIGURES",
    "plot_equity",
    "plot_latency",
    "plot_leg_outs",
    "plot_pnl_attribution",
    "plot_scores",
    "plot_spreads",
    "plot_summary",
    "save_figures",
    "tearsheet",
]
