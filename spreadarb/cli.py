"""The ``spreadarb`` command line."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

EXIT_OK = 0
EXIT_PROBLEMS = 1
EXIT_USAGE = 2


def _split(value: str) -> tuple[str, ...]:
    items = tuple(v.strip() for v in value.split(",") if v.strip())
    if not items:
        raise argparse.ArgumentTypeError("expected a comma-separated list, e.g. BTC,ETH")
    return items


def _assignment(text: str) -> tuple[str, object]:
    """``FIELD=VALUE`` with VALUE read as a Python literal (number, string, tuple)."""
    import ast

    key, sep, raw = text.partition("=")
    if not sep or not key.strip():
        raise argparse.ArgumentTypeError(f"expected FIELD=VALUE, got {text!r}")
    try:
        value: object = ast.literal_eval(raw.strip())
    except (ValueError, SyntaxError):
        value = raw.strip()
    return key.strip(), value


def _cmd_validate(args: argparse.Namespace) -> int:
    from spreadarb.data.validate import validate

    problems = validate(args.path)
    if problems:
        for p in problems[: args.max_problems]:
            print(p)
        hidden = len(problems) - args.max_problems
        if hidden > 0:
            print(f"... and {hidden} more (raise --max-problems to see them)")
        print(
            f"\n{len(problems)} problem{'s' if len(problems) != 1 else ''} in {args.path}",
            file=sys.stderr,
        )
        return EXIT_PROBLEMS
    return _print_summary(args.path, header=f"{args.path}: valid, no problems found")


def _print_funding_summary(path: str, *, header: str) -> int:
    """Summary of a funding-only dataset: prints per market and their time range."""
    from spreadarb.data.funding import load_funding

    frame = load_funding(path)
    print(header)
    print(f"funding-only dataset: {len(frame):,} funding prints")
    per_market = frame.groupby(["exchange", "symbol"]).agg(
        prints=("ts_local", "size"),
        first=("time", "min"),
        last=("time", "max"),
        interval_s=("funding_interval_s", "median"),
    )
    print(per_market.to_string())
    return EXIT_OK


def _print_summary(path: str, *, header: str) -> int:
    import pandas as pd

    from spreadarb.data.layout import is_funding_only
    from spreadarb.data.loader import load

    if is_funding_only(Path(path)):
        return _print_funding_summary(path, header=header)
    dataset = load(path)
    summary = dataset.summary()
    print(header)
    print(
        f"{dataset.n_markets} markets: {len(dataset.exchanges)} exchanges "
        f"({', '.join(dataset.exchanges)}) x {len(dataset.symbols)} symbols "
        f"({', '.join(dataset.symbols)})"
    )
    print(
        f"rows: tickers {len(dataset.tickers):,}, trades {len(dataset.trades):,}, "
        f"liquidations {len(dataset.liquidations):,}"
    )
    if len(dataset.tickers):
        first, last = summary["first_ts_local"].min(), summary["last_ts_local"].max()
        print(f"time: {first} .. {last} ({(last - first) / pd.Timedelta(hours=1):.2f} h)")
    per_exchange = summary.groupby("exchange")[["tickers", "trades", "liquidations"]].sum()
    print(per_exchange.to_string())
    return EXIT_OK


def _cmd_info(args: argparse.Namespace) -> int:
    return _print_summary(args.path, header=str(args.path))


def _cmd_synth(args: argparse.Namespace) -> int:
    from spreadarb.data.synth import generate

    overrides = {
        key: getattr(args, key)
        for key in (
            "seed",
            "start",
            "hours",
            "symbols",
            "exchanges",
            "ticker_rate_hz",
            "trade_rate_hz",
        )
        if getattr(args, key) is not None
    }
    for key, value in args.set or ():
        overrides[key] = value
    summary = generate(args.out, overwrite=args.overwrite, progress=True, **overrides)
    print(summary)
    return EXIT_OK


def _config_and_dataset(args: argparse.Namespace) -> tuple[Any, Any]:
    """The strategy config (``--config`` or the defaults) and the selected dataset."""
    from spreadarb.config import StrategyConfig
    from spreadarb.data.loader import load

    config = StrategyConfig.from_toml(args.config) if args.config else StrategyConfig()
    dataset = load(
        args.path, start=args.start, end=args.end, symbols=args.symbols, exchanges=args.exchanges
    )
    return config, dataset


def _cmd_scan(args: argparse.Namespace) -> int:
    import pandas as pd

    from spreadarb.scanner import scan

    config, dataset = _config_and_dataset(args)
    frame = scan(dataset, config)
    n_times = frame["ts"].nunique()
    passed = frame[frame["passed"]]
    print(
        f"scanned {len(frame):,} (scan time, symbol) rows: {n_times:,} scan times x "
        f"{len(dataset.symbols)} symbols; {len(passed):,} passed"
    )
    print("\nfirst failing reason:")
    print(frame["reason"].value_counts().to_string())
    if len(passed):
        cols = [
            "ts",
            "symbol",
            "long_exchange",
            "short_exchange",
            "spread_bps",
            "funding_delta_8h",
            "confidence_score",
            "position_size_usd",
            "projected_profit_after_slippage",
        ]
        top = passed.sort_values(
            ["confidence_score", "projected_profit_after_slippage"], ascending=False
        ).head(args.top)
        with pd.option_context("display.width", 200, "display.max_columns", 20):
            print(f"\ntop {len(top)} passing opportunities:")
            print(top[cols].to_string(index=False))
    if args.out:
        import io

        from spreadarb._io import atomic_write_bytes

        buffer = io.BytesIO()
        frame.to_parquet(buffer, index=False)
        atomic_write_bytes(Path(args.out), buffer.getvalue())
        print(f"\nwrote {args.out}")
    return EXIT_OK


def _cmd_backtest(args: argparse.Namespace) -> int:
    import pandas as pd

    from spreadarb.simulation import backtest

    config, dataset = _config_and_dataset(args)
    result = backtest(dataset, config)
    m = result.metrics
    print(f"backtest of {args.path}: {dataset.n_markets} markets, {m['days_elapsed'] * 24:.2f} h")
    rows = {
        "cumulative PnL (USD)": f"{m['cumulative_pnl']:,.2f}",
        "realistic APR": f"{m['realistic_apr']:.2%}",
        "trades opened / closed / rejected": (
            f"{m['trades_opened']} / {m['trades_closed']} / {m['trades_rejected']}"
        ),
        "win rate": f"{m['win_rate']:.1%}",
        "leg-outs (count, loss USD)": f"{m['leg_out_count']}, {m['leg_out_total_loss']:,.2f}",
        "PnL: price / funding / fees / slippage": (
            f"{m['price_pnl']:,.2f} / {m['funding_pnl']:,.2f} / {-m['fees']:,.2f} / "
            f"{-m['slippage_cost']:,.2f}"
        ),
        "capital utilisation": f"{m['capital_utilisation']:.2%}",
    }
    width = max(len(k) for k in rows)
    for key, value in rows.items():
        print(f"  {key:<{width}}  {value}")
    if args.out:
        print(f"  saved to {result.save(args.out)}")
    closed = result.trades[result.trades["status"] == "closed"]
    if len(closed):
        cols = [
            "symbol",
            "long_exchange",
            "short_exchange",
            "entry_time",
            "exit_reason",
            "position_size_usd",
            "entry_spread_bps",
            "exit_spread_bps",
            "leg_out_cost",
            "pnl_net",
        ]
        with pd.option_context("display.width", 200, "display.max_columns", 20):
            print("\nclosed trades:")
            print(closed[cols].to_string(index=False))
    return EXIT_OK


def _add_selection(p: argparse.ArgumentParser) -> None:
    p.add_argument("--start", help="first ts_local to load, ISO 8601 (UTC if no zone)")
    p.add_argument("--end", help="end of the window (exclusive), ISO 8601")
    p.add_argument("--symbols", type=_split, help="comma-separated symbols, e.g. BTC,ETH")
    p.add_argument("--exchanges", type=_split, help="comma-separated exchanges")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``spreadarb`` command (also used to render its help)."""
    parser = argparse.ArgumentParser(
        prog="spreadarb",
        description="Backtesting of cross-exchange perpetual-futures spread and funding-rate "
        "arbitrage on Parquet market data (see docs/data.md for the data contract).",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser(
        "validate",
        help="check a dataset against the data contract",
        description="Check every file of a dataset folder against the data "
        "contract and report every problem (file, column, rows, what is wrong). "
        "Exit code 1 when problems exist; otherwise print a summary.",
    )
    p.add_argument("path", help="dataset root folder (ROOT/<table>/date=.../exchange=.../)")
    p.add_argument(
        "--max-problems",
        type=int,
        default=200,
        help="print at most this many problems (default 200)",
    )
    p.set_defaults(func=_cmd_validate)

    p = sub.add_parser(
        "info",
        help="summarise a dataset (markets, rows, time range)",
        description="Load a dataset and print its markets, row counts and time range.",
    )
    p.add_argument("path", help="dataset root folder")
    p.set_defaults(func=_cmd_info)

    p = sub.add_parser(
        "scan",
        help="scan a dataset for arbitrage opportunities",
        description="Run the opportunity scanner (SPEC §3-§4) over a dataset: at every scan "
        "time and symbol, the best pair, its metrics, score, sizing and the first reason it "
        "was rejected. Prints the rejection counts and the best opportunities; --out saves "
        "the full log as Parquet.",
    )
    p.add_argument("path", help="dataset root folder")
    p.add_argument("--config", help="strategy config TOML (default: the seed's values)")
    _add_selection(p)
    p.add_argument("--top", type=int, default=10, help="passing opportunities to print")
    p.add_argument("--out", help="write the opportunity log to this Parquet file")
    p.set_defaults(func=_cmd_scan)

    p = sub.add_parser(
        "backtest",
        help="backtest the strategy on a dataset",
        description="Scan a dataset and simulate the strategy: atomic two-leg entries with "
        "queue-aware passive fills, leg-out hedges, funding and exits (docs/execution.md). "
        "Prints the portfolio metrics and the closed trades.",
    )
    p.add_argument("path", help="dataset root folder")
    p.add_argument("--config", help="strategy config TOML (default: the seed's values)")
    _add_selection(p)
    p.add_argument("--out", help="save the result to this folder (BacktestResult.load reads it)")
    p.set_defaults(func=_cmd_backtest)

    p = sub.add_parser(
        "import",
        help="import recordings from other tools into the data contract",
        description="Convert recordings into a dataset in the data contract "
        "(docs/importing.md). Formats: binance-ws, bybit-ws, tardis, funding-history.",
    )
    from spreadarb.importers.binance_ws import add_cli

    formats = p.add_subparsers(dest="importer", required=True, metavar="FORMAT")
    add_cli(formats)
    from spreadarb.importers.tardis import add_cli as add_tardis_cli

    add_tardis_cli(formats)
    from spreadarb.importers.bybit_ws import add_cli as add_bybit_cli

    add_bybit_cli(formats)
    from spreadarb.importers.funding_history import add_cli as add_funding_cli

    add_funding_cli(formats)

    p = sub.add_parser(
        "synth",
        help="generate a synthetic multi-venue dataset",
        description="Generate deterministic synthetic market data in the data "
        "contract (same seed, byte-identical files). Options default to "
        "spreadarb.synth.SynthConfig.",
    )
    p.add_argument("out", help="output dataset folder (created if needed)")
    p.add_argument(
        "--overwrite", action="store_true", help="replace the tables of an existing dataset in OUT"
    )
    p.add_argument("--seed", type=int, help="random seed (default 0)")
    p.add_argument("--start", help="start time, ISO 8601, UTC (e.g. 2024-08-08T07:00:00)")
    p.add_argument("--hours", type=float, help="length of the data in hours")
    p.add_argument("--symbols", type=_split, help="comma-separated base assets, e.g. BTC,ETH,SOL")
    p.add_argument(
        "--exchanges",
        type=_split,
        help="comma-separated venues (default: the 8 venues of the seed)",
    )
    p.add_argument(
        "--ticker-rate",
        dest="ticker_rate_hz",
        type=float,
        help="mean ticker snapshots per second per market",
    )
    p.add_argument(
        "--trade-rate", dest="trade_rate_hz", type=float, help="mean trades per second per market"
    )
    p.add_argument(
        "--set",
        action="append",
        type=_assignment,
        metavar="FIELD=VALUE",
        help="set any other SynthConfig field, e.g. --set dislocation_rate_per_hour=3 (repeatable)",
    )
    p.set_defaults(func=_cmd_synth)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``spreadarb`` command; returns the exit code."""
    from spreadarb.data.errors import DataError

    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        code: int = args.func(args)
    except BrokenPipeError:
        # The reader of our output went away (e.g. `| head`): not an error of ours.
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK
    except (FileNotFoundError, FileExistsError) as exc:
        print(f"spreadarb: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except DataError as exc:
        print(f"spreadarb: {exc}", file=sys.stderr)
        return EXIT_PROBLEMS
    except ValueError as exc:
        print(f"spreadarb: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    return code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
