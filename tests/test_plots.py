"""Every figure renders under Agg without a warning, draws the result's data, and copes
with a result that has no trade at all (pytest turns warnings into errors)."""

from __future__ import annotations

import matplotlib
import numpy as np
import pytest
from matplotlib.collections import PathCollection, PolyCollection
from matplotlib.figure import Figure

from spreadarb import plots

matplotlib.use("Agg")


def render(fig: Figure) -> bytes:
    png = plots.figure_png(fig, dpi=40)
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    return png


def texts(fig: Figure) -> str:
    return " | ".join(t.get_text() for ax in fig.axes for t in ax.texts)


@pytest.mark.parametrize("name", list(plots.FIGURES))
def test_each_figure_renders_on_its_own_and_into_given_axes(crafted, name):
    draw = plots.FIGURES[name]
    fig = draw(crafted)
    assert isinstance(fig, Figure) and fig.axes
    render(fig)
    target = Figure()
    ax = target.add_subplot()
    assert draw(crafted, ax) is target
    render(target)


def test_equity_draws_the_equity_and_the_drawdown(crafted):
    fig = plots.plot_equity(crafted)
    ax, dd_ax = fig.axes[0], fig.axes[1]
    equity = ax.get_lines()[0]
    np.testing.assert_array_equal(
        equity.get_ydata(), [10_000, 10_010, 9_990, 10_005, 10_030, 10_016]
    )
    fill = [c for c in dd_ax.collections if isinstance(c, PolyCollection)]
    assert fill and fill[0].get_paths()[0].vertices[:, 1].min() == pytest.approx(-20.0)
    assert "max drawdown 20.00 USD" in ax.get_title()


def test_attribution_bars_add_up(crafted):
    ax = plots.plot_pnl_attribution(crafted).axes[0]
    heights = [p.get_height() for p in ax.patches]
    assert heights == pytest.approx([40.0, -0.5, -12.0, -1.5, -10.0, 16.0])
    assert sum(heights[:-1]) == pytest.approx(heights[-1])


def test_spreads_show_entry_and_exit_of_each_closed_trade(crafted):
    ax = plots.plot_spreads(crafted).axes[0]
    points = [c for c in ax.collections if isinstance(c, PathCollection)]
    entry, exit_ = (p.get_offsets()[:, 1] for p in points)
    assert entry.tolist() == pytest.approx([20.0, 5.0, 29.7])
    assert exit_.tolist() == pytest.approx([-30.0, 75.0, -9.9])
    assert [t.get_text() for t in ax.get_xticklabels()] == ["0", "1", "2"]


def test_leg_outs_mark_each_event_and_the_running_total(crafted):
    fig = plots.plot_leg_outs(crafted)
    ax, cum_ax = fig.axes
    points = [c for c in ax.collections if isinstance(c, PathCollection)]
    assert [p.get_offsets()[:, 1].tolist() for p in points] == [[6.0], [4.0]]
    assert cum_ax.get_lines()[0].get_ydata().tolist() == [6.0, 10.0]
    assert "2, total cost 10.00 USD" in ax.get_title()


def test_latency_has_one_line_per_venue_and_the_limit(crafted):
    ax = plots.plot_latency(crafted).axes[0]
    lines = {line.get_label(): line for line in ax.get_lines()}
    assert set(lines) == {"aa", "bb", "limit 200 ms"}
    np.testing.assert_array_equal(lines["aa"].get_ydata(), crafted.latency_ms[0])
    assert list(lines["limit 200 ms"].get_ydata()) == [200, 200]


def test_scores_histogram_and_threshold(crafted):
    ax = plots.plot_scores(crafted).axes[0]
    heights = np.array([p.get_height() for p in ax.patches])
    met, failed = heights[: heights.size // 2], heights[heights.size // 2 :]
    # Four rows with a pair: two failed a hard constraint (score 0); 75 and 60 met them.
    assert failed.sum() == 2 and failed[0] == 2
    assert met.sum() == 2
    centres = [
        p.get_x() + p.get_width() / 2 for p, h in zip(ax.patches, heights, strict=True) if h
    ][:2]
    assert centres == pytest.approx([60.5, 74.5], abs=1.0)
    threshold = [line for line in ax.get_lines() if line.get_label() == "threshold 70"]
    assert threshold and list(threshold[0].get_xdata()) == [70, 70]


def test_tearsheet_holds_every_panel(crafted):
    fig = crafted.plot()
    titles = " | ".join(ax.get_title() for ax in fig.axes)
    for word in ("Equity", "Summary", "PnL attribution", "Spread", "Leg-outs", "latency"):
        assert word in titles
    table = next(ax for ax in fig.axes if ax.get_title() == "Summary").tables[0]
    cells = {c.get_text().get_text() for c in table.get_celld().values()}
    assert "16.00" in cells and "66.7% (2/3)" in cells  # cumulative PnL, win rate
    apr = (16 / 10_000) / (300 / 86_400 / 365)
    assert f"{apr:.1%} (< 1 day of data)" in cells
    assert len(render(fig)) > 10_000


def test_figures_of_a_result_without_trades_are_not_blank(crafted_no_trades):
    r = crafted_no_trades
    assert "no closed trades" in texts(plots.plot_spreads(r))
    assert "no leg-outs" in texts(plots.plot_leg_outs(r))
    assert "no closed trades" in texts(plots.plot_pnl_attribution(r))
    equity = plots.plot_equity(r).axes[0].get_lines()[0]
    assert list(equity.get_ydata()) == [10_000.0] * 6
    latency = plots.plot_latency(r).axes[0]
    assert len(latency.get_lines()) == 3
    fig = r.plot()
    render(fig)
    assert len(fig.axes) >= 7


def test_a_result_with_no_data_at_all_still_renders(crafted_no_trades):
    from dataclasses import replace

    r = replace(
        crafted_no_trades,
        equity_records=crafted_no_trades.equity_records[:0],
        opportunity_records=crafted_no_trades.opportunity_records[:0],
        grid=crafted_no_trades.grid[:0],
        latency_ms=np.empty((2, 0)),
    )
    fig = r.plot()
    render(fig)
    assert "no equity points" in texts(fig)
    assert "no scanned opportunities" in texts(fig)
    assert "no latency data" in texts(fig)
