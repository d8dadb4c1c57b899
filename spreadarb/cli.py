"""The ``spreadarb`` command line."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

EXIT_OK = 0
EXIT_PROBLEMS = 1
EXIT_USAGE = 2


def _split(value: str) -> tuple[str, ...]:
    items = tuple(v.strip() for v in value.split(",") if v.strip())
    if not items:
        raise argparse.ArgumentTypeError("expected a comma-separated list, e.g. BTC,ETH")
    return items


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


def _print_summary(path: str, *, header: str) -> int:
    import pandas as pd

    from spreadarb.data.loader import load

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
    summary = generate(args.out, **overrides)
    print(summary)
    return EXIT_OK


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
        "synth",
        help="generate a synthetic multi-venue dataset",
        description="Generate deterministic synthetic market data in the data "
        "contract (same seed, byte-identical files). Options default to "
        "spreadarb.synth.SynthConfig.",
    )
    p.add_argument("out", help="output dataset folder (created; files are added to it)")
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
    p.set_defaults(func=_cmd_synth)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``spreadarb`` command; returns the exit code."""
    from spreadarb.data.errors import DataError

    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        code: int = args.func(args)
    except FileNotFoundError as exc:
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
