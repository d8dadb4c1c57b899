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


def _wrapped(*paragraphs: str) -> str:
    """Paragraphs filled to 79 columns, for help that keeps its own line breaks."""
    import textwrap

    return "\n\n".join(textwrap.fill(p, 79) for p in paragraphs)


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


def _default_out(path: str) -> Path:
    """A new folder ``results/backtest-<dataset>-<UTC time>[-k]`` (never an existing one)."""
    from datetime import UTC, datetime

    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    base = Path("results") / f"backtest-{Path(path).resolve().name}-{stamp}"
    base.parent.mkdir(parents=True, exist_ok=True)
    for k in range(1, 1000):
        candidate = base if k == 1 else base.with_name(f"{base.name}-{k}")
        try:
            candidate.mkdir()
        except FileExistsError:
            continue
        return candidate
    raise FileExistsError(f"could not create a new results folder next to {base}")


def _fmt(value: float, spec: str) -> str:
    """``value`` formatted, or ``n/a`` when it is undefined (NaN)."""
    return "n/a" if value != value else format(value, spec)


def _cmd_backtest(args: argparse.Namespace) -> int:
    import pandas as pd
    from tqdm import tqdm

    from spreadarb.simulation import prepare

    stages = ["load data", "scan", "simulate", "metrics"]
    if not args.no_save:
        stages += ["write results", "draw tearsheet" if args.plots else ""]
    stages = [s for s in stages if s]
    # disable=None: the bar shows on a terminal only (never in pipes, files or CI logs).
    bar = tqdm(total=len(stages), desc="backtest", unit="stage", disable=args.quiet or None)

    def stage(name: str) -> None:
        bar.set_postfix_str(name)

    try:
        stage("load data")
        config, dataset = _config_and_dataset(args)
        bar.update()
        stage("scan")
        prepared = prepare(dataset, config)
        bar.update()
        stage("simulate")
        result = prepared.result()
        bar.update()
        stage("metrics")
        m = result.metrics
        bar.update()
        out = None
        if not args.no_save:
            stage("write results")
            out = Path(args.out) if args.out else _default_out(args.path)
            result.save(out)
            bar.update()
            if args.plots:
                stage("draw tearsheet")
                from spreadarb.plots import save_figures

                save_figures(result, out)
                bar.update()
    finally:
        bar.close()

    hours = m["days_elapsed"] * 24
    print(
        f"backtest of {args.path}: {len(dataset.symbols)} symbols x "
        f"{len(dataset.exchanges)} exchanges ({dataset.n_markets} markets), {hours:.2f} h, "
        f"queue model {config.queue_model}"
    )
    rows = {
        "cumulative PnL (USD)": _fmt(m["cumulative_pnl"], ",.2f"),
        "realistic APR": _fmt(m["realistic_apr"], ".2%")
        + (" (annualised from < 1 day: not meaningful)" if 0 < m["days_elapsed"] < 1 else ""),
        "win rate": _fmt(m["win_rate"], ".1%")
        + f" ({m['win_count']} of {m['trades_closed']} closed trades)",
        "leg-outs (count, loss USD)": f"{m['leg_out_count']}, "
        + _fmt(m["leg_out_total_loss"], ",.2f"),
        "trades opened / closed / rejected": (
            f"{m['trades_opened']} / {m['trades_closed']} / {m['trades_rejected']}"
        ),
        "PnL: price / funding / fees / slippage": (
            f"{m['price_pnl']:,.2f} / {m['funding_pnl']:,.2f} / {-m['fees']:,.2f} / "
            f"{-m['slippage_cost']:,.2f}"
        ),
        "harder-leg fill rate": _fmt(m["harder_leg_fill_rate"], ".1%"),
        "max drawdown (USD)": _fmt(m["max_drawdown_usd"], ",.2f"),
        "capital utilisation": _fmt(m["capital_utilisation"], ".2%"),
    }
    width = max(len(k) for k in rows)
    for key, value in rows.items():
        print(f"  {key:<{width}}  {value}")
    closed = result.trades[result.trades["status"] == "closed"]
    if len(closed) and args.trades:
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
            shown = closed[cols].head(args.trades)
            print(f"\nclosed trades ({len(shown)} of {len(closed)}):")
            print(shown.to_string(index=False))
    if out is not None:
        print(f"\nresults saved to {out}/ (spreadarb.BacktestResult.load reads them back)")
        if args.plots:
            print(f"tearsheet: {out / 'tearsheet.png'}")
    return EXIT_OK


def _cmd_sweep(args: argparse.Namespace) -> int:
    import io

    from spreadarb._io import atomic_write_bytes
    from spreadarb.sweeps import load_grid, sweep

    base, dataset = _config_and_dataset(args)
    grid = load_grid(args.grid)
    client = None
    if args.scheduler:
        from distributed import Client

        client = Client(args.scheduler)
    try:
        frame = sweep(
            dataset,
            grid,
            base=base,
            client=client,
            n_jobs=args.n_jobs,
            progress=not args.no_progress,
            checkpoint=args.checkpoint,
        )
    finally:
        if client is not None:
            client.close()
    failed = frame["error"].notna()
    print(f"swept {len(frame):,} configurations on {args.path}; {int(failed.sum())} failed")
    ok = frame[~failed]
    if len(ok):
        best = ok.sort_values("cumulative_pnl", ascending=False).head(args.top)
        params = [c for c in frame.columns[1 : frame.columns.get_loc("config_key")]]
        cols = [*params, "cumulative_pnl", "realistic_apr", "win_rate", "leg_out_count"]
        print(f"\ntop {len(best)} by cumulative PnL:")
        print(best[cols].to_string(index=False))
    for _, row in frame[failed].head(args.top).iterrows():
        print(f"config {row['config_id']}: {row['error']}")
    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False)
    atomic_write_bytes(Path(args.out), buffer.getvalue())
    print(f"\nwrote {args.out}")
    return EXIT_OK


def _cmd_export_redis(args: argparse.Namespace) -> int:
    import logging

    from spreadarb.redis.exporter import export

    logging.basicConfig(
        level=getattr(logging, args.log_level), format="%(asctime)s %(levelname)s %(message)s"
    )
    fields: dict[str, Any] = {}
    for name in ("flush_rows", "trade_streams", "liquidation_streams"):
        if getattr(args, name) is not None:
            fields[name] = getattr(args, name)
    if args.flush_interval is not None:
        from spreadarb.redis.exporter import parse_duration

        fields["flush_interval_s"] = parse_duration(args.flush_interval, "--flush-interval")
    if args.key_refresh is not None:
        from spreadarb.redis.exporter import parse_duration

        fields["key_refresh_s"] = parse_duration(args.key_refresh, "--key-refresh")
    stats = export(
        args.out,
        url=args.url,
        interval=args.interval,
        duration=args.duration,
        patterns=args.patterns,
        mapping=args.mapping,
        **fields,
    )
    print(f"export-redis: {stats.summary()}")
    return EXIT_OK


def _add_selection(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--start", metavar="TIME", help="first ts_local to load, ISO 8601 (UTC if no zone)"
    )
    p.add_argument("--end", metavar="TIME", help="end of the window (exclusive), ISO 8601")
    p.add_argument(
        "--symbols", type=_split, metavar="LIST", help="comma-separated symbols, e.g. BTC,ETH"
    )
    p.add_argument(
        "--exchanges", type=_split, metavar="LIST", help="comma-separated exchanges, e.g. okx,bybit"
    )


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``spreadarb`` command (also used to render its help)."""
    parser = argparse.ArgumentParser(
        prog="spreadarb",
        description=_wrapped(
            "Backtesting of cross-exchange perpetual-futures spread and funding-rate "
            "arbitrage on Parquet market data (see docs/data.md for the data contract)."
        ),
        epilog="start with:  spreadarb backtest data/sample\n"
        "help on a command:  spreadarb COMMAND --help",
        formatter_class=argparse.RawDescriptionHelpFormatter,
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
        metavar="N",
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
    p.add_argument(
        "--config", metavar="FILE.toml", help="strategy config TOML (default: the seed's values)"
    )
    _add_selection(p)
    p.add_argument(
        "--top", type=int, default=10, metavar="N", help="passing opportunities to print (10)"
    )
    p.add_argument(
        "--out", metavar="FILE.parquet", help="write the opportunity log to this Parquet file"
    )
    p.set_defaults(func=_cmd_scan)

    p = sub.add_parser(
        "backtest",
        help="backtest the strategy on a dataset; print a summary, save results and a tearsheet",
        description=_wrapped(
            "Scan a dataset and simulate the strategy: atomic two-leg entries with "
            "queue-aware passive fills, leg-out hedges, funding and exits "
            "(docs/execution.md).",
            "Prints a summary (PnL, APR, win rate, leg-outs, ...) and the first closed "
            "trades, and saves the result (Parquet tables, config.toml, metrics.json; "
            "spreadarb.BacktestResult.load reads it) with tearsheet.png and one PNG per "
            "figure to --out, by default a new folder under ./results/.",
            "A progress bar by stage shows on a terminal. The first run in a fresh install "
            "also compiles the kernels (about a minute); later runs reuse the compiled code.",
        ),
        epilog="examples:\n"
        "  spreadarb backtest data/sample\n"
        "  spreadarb backtest data/sample --config my.toml --out results/mine\n"
        "  spreadarb backtest data/sample --symbols BTC,ETH --start 2024-08-08T07:30 "
        "--end 2024-08-08T08:30",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("path", help="dataset root folder (see docs/data.md)")
    p.add_argument(
        "--config",
        metavar="FILE.toml",
        help="strategy config TOML, as written by StrategyConfig.to_toml (default: the "
        "seed's values; fields are listed in docs/config.md)",
    )
    _add_selection(p)
    p.add_argument(
        "--out",
        metavar="DIR",
        help="folder to save the result and PNGs to (created if needed; default: a new "
        "folder results/backtest-<dataset>-<UTC time>)",
    )
    p.add_argument("--no-plots", dest="plots", action="store_false", help="do not draw the PNGs")
    p.add_argument("--no-save", action="store_true", help="print the summary only; save nothing")
    p.add_argument(
        "--trades",
        type=int,
        default=10,
        metavar="N",
        help="print the first N closed trades (default 10; 0 for none)",
    )
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_cmd_backtest)

    p = sub.add_parser(
        "sweep",
        help="backtest every configuration of a parameter grid",
        description="Backtest every configuration of a grid (TOML: config fields mapped to "
        "lists of values, or [[configs]] tables of changes) on one dataset, sharing the "
        "market features between configurations; one row per configuration with its "
        "parameters, an error column and every metric, written to --out as Parquet. "
        "See docs/sweeps.md.",
    )
    p.add_argument("path", help="dataset root folder")
    p.add_argument("--grid", required=True, help="grid TOML file")
    p.add_argument("--out", required=True, help="write the results to this Parquet file")
    p.add_argument("--config", help="base strategy config TOML the grid changes")
    _add_selection(p)
    p.add_argument("--n-jobs", type=int, help="threads for a local sweep (default: all cores)")
    p.add_argument(
        "--checkpoint",
        help="folder for finished rows; a rerun with the same folder skips them",
    )
    p.add_argument(
        "--scheduler",
        help="address of a Dask scheduler (e.g. tcp://host:8786) to run the sweep on; "
        "its workers must see PATH",
    )
    p.add_argument("--top", type=int, default=10, help="best configurations to print")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=_cmd_sweep)

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
    p.add_argument("--seed", type=int, metavar="N", help="random seed (default 0)")
    p.add_argument(
        "--start", metavar="TIME", help="start time, ISO 8601, UTC (e.g. 2024-08-08T07:00:00)"
    )
    p.add_argument("--hours", type=float, metavar="H", help="length of the data in hours")
    p.add_argument(
        "--symbols",
        type=_split,
        metavar="LIST",
        help="comma-separated base assets, e.g. BTC,ETH,SOL",
    )
    p.add_argument(
        "--exchanges",
        type=_split,
        metavar="LIST",
        help="comma-separated venues (default: the 8 venues of the seed)",
    )
    p.add_argument(
        "--ticker-rate",
        dest="ticker_rate_hz",
        type=float,
        metavar="HZ",
        help="mean ticker snapshots per second per market",
    )
    p.add_argument(
        "--trade-rate",
        dest="trade_rate_hz",
        type=float,
        metavar="HZ",
        help="mean trades per second per market",
    )
    p.add_argument(
        "--set",
        action="append",
        type=_assignment,
        metavar="FIELD=VALUE",
        help="set any other SynthConfig field, e.g. --set dislocation_rate_per_hour=3 (repeatable)",
    )
    p.set_defaults(func=_cmd_synth)

    p = sub.add_parser(
        "export-redis",
        help="export the collectors' live tickers from Redis to a dataset",
        description="Sample the ticker keys of the collectors ({exchange}:{market}:tickers:"
        "{symbol}) on a fixed cadence and append the snapshots (and the trade and liquidation "
        "streams) to a partitioned Parquet dataset (docs/redis.md). Runs until --duration "
        "ends or SIGINT/SIGTERM, which flush what is buffered.",
    )
    p.add_argument("--url", default="redis://localhost:6379/0", help="redis://HOST:PORT/DB")
    p.add_argument("--out", required=True, help="dataset folder to append to")
    p.add_argument("--interval", default="100ms", help="sampling period (default 100ms)")
    p.add_argument("--duration", help="stop after this long (e.g. 10m, 2h; default: never)")
    p.add_argument(
        "--patterns",
        type=_split,
        help="comma-separated ticker key patterns [venue=]PREFIX* (default: the 8 venues)",
    )
    p.add_argument("--trade-streams", type=_split, help="comma-separated trade stream key patterns")
    p.add_argument(
        "--liquidation-streams",
        type=_split,
        help="comma-separated liquidation stream key patterns",
    )
    p.add_argument("--mapping", help="TOML file overriding the venues' field names")
    p.add_argument("--flush-rows", type=int, help="write when this many rows are buffered")
    p.add_argument("--flush-interval", help="write at least this often (default 60s)")
    p.add_argument("--key-refresh", help="re-discover keys this often (default 10s)")
    p.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    p.set_defaults(func=_cmd_export_redis)
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
