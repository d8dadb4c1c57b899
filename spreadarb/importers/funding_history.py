"""Import funding-rate histories (CSV and JSON) into a funding-only dataset.

A funding history is one settled rate per market and funding time, over years: enough
for a funding-only study at 8 h (or 1 h) resolution, not for execution. The output is
the contract's ``funding`` table (docs/data.md): ``ts_local`` = the settlement time (ns,
UTC), ``exchange``, ``symbol``, ``funding_rate`` (per interval) and
``funding_interval_s``; read it back with :func:`spreadarb.load_funding`.

Formats (recognised from the content; the folders of ``shared/realdata``):

``fetcher``
    historical-funding-rates-fetcher: CSV ``Symbol,Date,Funding Rate``, one file per
    symbol and exchange named ``<BASE>-<QUOTE>_<exchange>_<from>_<to>_funding_history.csv``.
    **Time zone quirk:** ``Date`` is naive *local* time of the machine that fetched it,
    UTC+3 without daylight saving, for binance, bybit, htx, kucoin and mexc (their
    API returns epoch times, which the fetcher turned into local time), but UTC for gate
    and dydx (whose APIs return UTC strings). Proof: Binance and Bybit settle at 00/08/16
    UTC and their files say 03/11/19; KuCoin settles at 04/12/20 UTC and its file says
    07/15/23; gate's says 00/08/16. See :data:`FETCHER_UTC_OFFSET_H`.
``optimising``
    optimising-funding-rate-arbitrage: CSV ``time,exchange,crypto,pair,contract,open,
    high,low,close,volume,funding rate``, 8-hourly candles of Binance, Bybit and OKX.
    **Time zone quirk:** ``time`` is naive **Europe/London** local time, with daylight
    saving: 00/08/16 UTC in winter, 01/09/17 in summer. At the autumn change a local
    hour occurs twice (``2023-10-29 01:00``); the importer takes, of the two UTC
    readings, the one on the market's funding grid (00:00 UTC there), and raises if
    neither or both are. Spot rows (no funding) are skipped and counted. ``pair``
    ``<BASE>USDT`` is the linear perpetual (venue ``binance``, ``bybit``, ``okx``),
    ``<BASE>USDCM`` the coin-margined one (venues ``binance_cm``, ``bybit_inverse``,
    ``okx_inverse``, the names the other importers use).
``epoch_json``
    funding-rate-efficient-frontier: JSON list of ``{"coin", "funding_rate", "time"}``
    (``time`` epoch **milliseconds, UTC**), one file per venue and coin named
    ``<venue>_<COIN>_funding_rates.json`` (``hl`` = hyperliquid).

Settlement times are rounded to the nearest whole hour: every venue here settles on
whole hours, and epoch times carry the venue's processing delay (Binance a few ms,
Hyperliquid usually under 2 s, once 111 s: 2025-07-27 12:01:50.963 is the 12:00
print). ``funding_interval_s`` is each market's median spacing between consecutive
prints (8 h; 1 h for dydx and Hyperliquid), unless given.

Several sources may give the same market: their prints are combined in time order; a
print given by more than one source with the same rate is kept once (counted as
``confirmed``), a print whose rate differs between sources keeps the first source's
rate (sources in the order given) and is counted and reported as a ``conflict``.
Histories are small (one row per market and interval), so they are read whole.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from spreadarb.data.contract import FUNDING
from spreadarb.data.writer import write_table
from spreadarb.importers._common import canonical_symbol, check_exchange_name, check_sources, iso

logger = logging.getLogger(__name__)

HOUR_NS = 3600 * 10**9
HOUR_S = 3600

FETCHER_UTC_OFFSET_H: dict[str, int] = {
    "binance": 3,
    "bybit": 3,
    "htx": 3,
    "kucoin": 3,
    "mexc": 3,
    "gate": 0,
    "dydx": 0,
}
"""Hours to subtract from the fetcher's naive ``Date`` to get UTC, per exchange."""

OPTIMISING_TIME_ZONE = "Europe/London"
OPTIMISING_VENUES = {
    ("binance", "USDT"): "binance",
    ("binance", "USDCM"): "binance_cm",
    ("bybit", "USDT"): "bybit",
    ("bybit", "USDCM"): "bybit_inverse",
    ("okx", "USDT"): "okx",
    ("okx", "USDCM"): "okx_inverse",
}
"""(exchange, pair suffix) of the optimising file -> contract venue."""

JSON_VENUES = {"hl": "hyperliquid", "hyperliquid": "hyperliquid", "binance": "binance"}
"""File-name prefix of the epoch JSON files -> contract venue (others kept as they are)."""

_FETCHER_NAME = re.compile(r"^([A-Za-z0-9]+)-([A-Za-z0-9]+)_([a-z0-9]+)_.*funding_history\.csv$")
_JSON_NAME = re.compile(r"^([a-z0-9]+)_([A-Za-z0-9]+)_funding_rates\.json$")


@dataclass(frozen=True)
class FundingMarketSummary:
    """One market of a funding import.

    Attributes
    ----------
    exchange, symbol
        Contract names.
    rows
        Prints written.
    first_ts, last_ts
        First and last settlement time (ns).
    funding_interval_s
        Interval written for the market.
    sources
        Files that contributed prints.
    confirmed
        Prints given by more than one source with the same rate (kept once).
    conflicts
        Prints whose rate differs between sources (first source kept).
    conflict_examples
        Up to five ``(settlement time, kept rate, other rate, other file)``.
    """

    exchange: str
    symbol: str
    rows: int
    first_ts: int
    last_ts: int
    funding_interval_s: int
    sources: tuple[str, ...]
    confirmed: int
    conflicts: int
    conflict_examples: tuple[tuple[str, float, float, str], ...] = ()

    def __str__(self) -> str:
        return (
            f"{self.exchange}/{self.symbol}: {self.rows:,} prints, {iso(self.first_ts)[:16]} .. "
            f"{iso(self.last_ts)[:16]} UTC, every {self.funding_interval_s / HOUR_S:g} h; "
            f"{len(self.sources)} source(s), {self.confirmed:,} confirmed by another source, "
            f"{self.conflicts:,} conflicts"
        )


@dataclass(frozen=True)
class FundingSummary:
    """What :func:`import_funding_history` read and wrote.

    Attributes
    ----------
    out
        Dataset root.
    sources
        Files read and the format detected for each.
    markets
        One summary per market, sorted by (exchange, symbol).
    skipped
        Source rows not written, by reason (``spot row``: the optimising file's spot
        candles; ``missing rate``: an empty rate).
    files
        Parquet files written.
    elapsed_s
        Wall time.
    """

    out: Path
    sources: tuple[tuple[Path, str], ...]
    markets: tuple[FundingMarketSummary, ...]
    skipped: Mapping[str, int]
    files: tuple[Path, ...] = field(repr=False)
    elapsed_s: float

    @property
    def rows(self) -> int:
        return sum(m.rows for m in self.markets)

    def market(self, exchange: str, symbol: str) -> FundingMarketSummary:
        """The summary of market ``(exchange, symbol)``; ``KeyError`` if absent."""
        for m in self.markets:
            if (m.exchange, m.symbol) == (exchange, symbol):
                return m
        raise KeyError((exchange, symbol))

    def __str__(self) -> str:
        kinds = Counter(k for _, k in self.sources)
        lines = [
            f"imported {len(self.sources)} funding histories "
            f"({', '.join(f'{k} {v}' for k, v in sorted(kinds.items()))}) into {self.out} in "
            f"{self.elapsed_s:.1f} s: {len(self.markets)} market(s), {self.rows:,} prints"
        ]
        lines += [f"  {m}" for m in self.markets]
        if self.skipped:
            lines.append(
                "  skipped: " + ", ".join(f"{k} {v:,}" for k, v in sorted(self.skipped.items()))
            )
        return "\n".join(lines)


# ---------------------------------------------------------------------------------------
# Readers: each returns a frame of (ts, exchange, symbol, funding_rate, row) in UTC ns
# ---------------------------------------------------------------------------------------


def detect_format(path: Path) -> str:
    """``"fetcher"``, ``"optimising"`` or ``"epoch_json"``; ``ValueError`` otherwise."""
    with open(path, "rb") as f:
        head = f.read(4096).decode("utf-8", errors="replace").lstrip("\ufeff")
    first = head.splitlines()[0].strip() if head.strip() else ""
    if first.startswith("["):
        return "epoch_json"
    cols = [c.strip() for c in first.split(",")]
    if cols[:3] == ["Symbol", "Date", "Funding Rate"]:
        return "fetcher"
    if {"time", "exchange", "pair", "contract", "funding rate"} <= set(cols):
        return "optimising"
    raise ValueError(
        f"{path}: not a known funding history (expected a 'Symbol,Date,Funding Rate' CSV, an "
        "optimising-funding-rate-arbitrage CSV or a JSON list of {coin, funding_rate, time}); "
        f"first line: {first[:120]!r}"
    )


def _parse_naive(values: pd.Series, path: Path, column: str) -> pd.Series:
    parsed = pd.to_datetime(values, format="ISO8601", errors="coerce")
    bad = parsed.isna()
    if bad.any():
        i = int(np.flatnonzero(bad.to_numpy())[0])
        raise ValueError(
            f"{path}: row {i + 1} (line {i + 2}), column {column!r}: {values.iloc[i]!r} is not "
            "a date-time"
        )
    return parsed


def _rates(values: pd.Series, path: Path, column: str) -> pd.Series:
    rates = pd.to_numeric(values, errors="coerce")
    bad = rates.isna() & values.notna() & (values.astype(str).str.strip() != "")
    if bad.any():
        i = int(np.flatnonzero(bad.to_numpy())[0])
        raise ValueError(
            f"{path}: row {i + 1}, column {column!r}: {values.iloc[i]!r} is not a number"
        )
    return rates.astype(float)


def _read_fetcher(path: Path, tz_offset_h: float | None, skipped: Counter[str]) -> pd.DataFrame:
    m = _FETCHER_NAME.match(path.name)
    if m is None:
        raise ValueError(
            f"{path}: a historical-funding-rates-fetcher file must be named "
            "<BASE>-<QUOTE>_<exchange>_<from>_<to>_funding_history.csv (the exchange comes "
            "from the name)"
        )
    exchange = m.group(3)
    if tz_offset_h is None:
        if exchange not in FETCHER_UTC_OFFSET_H:
            raise ValueError(
                f"{path}: the time zone of the fetcher's {exchange!r} files is unknown; pass "
                "utc_offset_h= (--utc-offset-h) with the hours to subtract from 'Date'"
            )
        tz_offset_h = FETCHER_UTC_OFFSET_H[exchange]
    raw = pd.read_csv(path, dtype=str, keep_default_na=False)
    local = _parse_naive(raw["Date"], path, "Date")
    ts = (local - pd.Timedelta(hours=tz_offset_h)).to_numpy("datetime64[ns]").astype(np.int64)
    symbols = raw["Symbol"].map(lambda s: canonical_symbol(str(s)))
    return pd.DataFrame(
        {
            "ts": ts,
            "exchange": exchange,
            "symbol": symbols,
            "funding_rate": _rates(raw["Funding Rate"], path, "Funding Rate"),
            "row": np.arange(1, len(raw) + 1),
        }
    )


def _grid_choice(
    dst: pd.Series, std: pd.Series, path: Path, raw_time: pd.Series, step_h: int
) -> np.ndarray:
    """Pick, where a London time is ambiguous, the UTC reading on the funding grid."""
    a = dst.to_numpy("datetime64[ns]").astype(np.int64)
    b = std.to_numpy("datetime64[ns]").astype(np.int64)
    step = step_h * HOUR_S * 10**9
    out = a.copy()
    for i in np.flatnonzero(a != b):
        on_a, on_b = a[i] % step == 0, b[i] % step == 0
        if on_a == on_b:
            raise ValueError(
                f"{path}: row {i + 1}, time {raw_time.iloc[i]!r} is ambiguous in "
                f"{OPTIMISING_TIME_ZONE} and {'both' if on_a else 'neither'} of its UTC "
                f"readings lie on the {step_h} h funding grid"
            )
        out[i] = a[i] if on_a else b[i]
    return out


def _read_optimising(path: Path, tz: str | None, skipped: Counter[str]) -> pd.DataFrame:
    raw = pd.read_csv(path, dtype=str, keep_default_na=False)
    raw["row"] = np.arange(1, len(raw) + 1)
    perp = raw["contract"] == "perpetual"
    skipped["spot row"] += int((~perp).sum())
    raw = raw[perp].reset_index(drop=True)
    rates = _rates(raw["funding rate"], path, "funding rate")
    local = _parse_naive(raw["time"], path, "time")
    zone = tz or OPTIMISING_TIME_ZONE
    try:
        dst = local.dt.tz_localize(zone, ambiguous=np.ones(len(local), bool), nonexistent="raise")
        std = local.dt.tz_localize(zone, ambiguous=np.zeros(len(local), bool), nonexistent="raise")
    except Exception as exc:  # pytz/zoneinfo errors for times that do not exist
        raise ValueError(f"{path}: time not valid in {zone}: {exc}") from None
    ts = _grid_choice(
        dst.dt.tz_convert("UTC").dt.tz_localize(None),
        std.dt.tz_convert("UTC").dt.tz_localize(None),
        path,
        raw["time"],
        8,
    )
    venues = []
    symbols = []
    for exchange, pair, row in zip(raw["exchange"], raw["pair"], raw["row"], strict=True):
        suffix = "USDCM" if pair.upper().endswith("USDCM") else "USDT"
        venue = OPTIMISING_VENUES.get((exchange.lower(), suffix))
        if venue is None or not pair.upper().endswith(suffix):
            raise ValueError(
                f"{path}: row {row}: perpetual {exchange} {pair} is not one of the file's known "
                "markets (<BASE>USDT or <BASE>USDCM on binance, bybit, okx)"
            )
        venues.append(venue)
        symbols.append(canonical_symbol(pair.upper()[: -len(suffix)]))
    return pd.DataFrame(
        {
            "ts": ts,
            "exchange": venues,
            "symbol": symbols,
            "funding_rate": rates.to_numpy(),
            "row": raw["row"].to_numpy(),
        }
    )


def _read_epoch_json(path: Path, exchange: str | None, skipped: Counter[str]) -> pd.DataFrame:
    m = _JSON_NAME.match(path.name)
    if exchange is None:
        if m is None:
            raise ValueError(
                f"{path}: the venue of an epoch JSON history comes from its name "
                "(<venue>_<COIN>_funding_rates.json); pass exchange= (--exchange)"
            )
        exchange = JSON_VENUES.get(m.group(1), m.group(1))
    try:
        records = json.loads(path.read_text())
    except ValueError as exc:
        raise ValueError(f"{path}: unreadable JSON ({exc})") from None
    if not isinstance(records, list):
        raise ValueError(f"{path}: expected a JSON list of {{coin, funding_rate, time}}")
    ts, symbols, rates = [], [], []
    for i, r in enumerate(records, 1):
        try:
            ts.append(int(r["time"]) * 1_000_000)
            symbols.append(canonical_symbol(str(r["coin"])))
            rates.append(float(r["funding_rate"]))
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(
                f"{path}: record {i}: {exc!r} (expected coin, funding_rate, time)"
            ) from None
    return pd.DataFrame(
        {
            "ts": np.array(ts, dtype=np.int64),
            "exchange": exchange,
            "symbol": symbols,
            "funding_rate": np.array(rates, dtype=float),
            "row": np.arange(1, len(records) + 1),
        }
    )


# ---------------------------------------------------------------------------------------
# Combining
# ---------------------------------------------------------------------------------------


def read_funding_history(
    path: str | os.PathLike[str],
    *,
    utc_offset_h: float | None = None,
    time_zone: str | None = None,
    exchange: str | None = None,
    skipped: Counter[str] | None = None,
) -> pd.DataFrame:
    """One history file as a frame of prints in UTC, before combining.

    Returns
    -------
    pandas.DataFrame
        ``ts`` (int64 ns, UTC, rounded to the hour), ``exchange``, ``symbol``,
        ``funding_rate``, ``row`` (1-based row or record number in the file), ``source``.
    """
    p = Path(path)
    kind = detect_format(p)
    counter = skipped if skipped is not None else Counter()
    if kind == "fetcher":
        frame = _read_fetcher(p, utc_offset_h, counter)
    elif kind == "optimising":
        frame = _read_optimising(p, time_zone, counter)
    else:
        frame = _read_epoch_json(p, exchange, counter)
    if exchange is not None:
        frame["exchange"] = exchange
    missing = frame["funding_rate"].isna()
    if missing.any():
        counter["missing rate"] += int(missing.sum())
        frame = frame[~missing].reset_index(drop=True)
    frame["ts"] = (frame["ts"] + HOUR_NS // 2) // HOUR_NS * HOUR_NS
    frame["source"] = str(p)
    return frame


def _interval(ts: np.ndarray) -> int:
    spacing = np.diff(np.unique(ts))
    if spacing.size == 0:
        return 8 * HOUR_S
    hours = max(1, round(float(np.median(spacing)) / (HOUR_S * 1e9)))
    return int(hours * HOUR_S)


def import_funding_history(
    sources: Sequence[str | os.PathLike[str]],
    out: str | os.PathLike[str],
    *,
    utc_offset_h: float | None = None,
    time_zone: str | None = None,
    exchange: str | None = None,
    funding_interval_s: int | None = None,
    overwrite: bool = False,
) -> FundingSummary:
    """Import funding histories into the ``funding`` table of a funding-only dataset.

    See the module docstring for the formats and their time-zone quirks.

    Parameters
    ----------
    sources
        History files (any mix of the supported formats). Where two give the same
        print with different rates, the earlier source in this order wins.
    out
        Dataset root. Its ``funding/`` table must not exist yet unless ``overwrite``.
    utc_offset_h
        Hours to subtract from a fetcher file's naive ``Date`` (default: per exchange,
        :data:`FETCHER_UTC_OFFSET_H`).
    time_zone
        IANA time zone of the optimising file's ``time`` (default Europe/London).
    exchange
        Venue name for every print (default: from the file).
    funding_interval_s
        Interval of every market (default: each market's median print spacing).
    overwrite
        Replace an existing ``funding/`` table.

    Returns
    -------
    FundingSummary

    Raises
    ------
    ValueError
        For an unknown format, a value that does not parse (naming the file and row), an
        ambiguous local time off the funding grid.
    FileExistsError
        If ``out/funding`` exists and ``overwrite`` is false.
    """
    started = time.perf_counter()
    paths = check_sources(sources)
    if exchange is not None:
        check_exchange_name(exchange)
    if funding_interval_s is not None and funding_interval_s <= 0:
        raise ValueError(f"funding_interval_s must be > 0, got {funding_interval_s}")
    root = Path(out)
    table_dir = root / FUNDING.name
    if table_dir.exists():
        if not overwrite:
            raise FileExistsError(
                f"{table_dir} exists: pass overwrite=True (--overwrite) to replace it"
            )
        import shutil

        shutil.rmtree(table_dir)
    skipped: Counter[str] = Counter()
    frames = []
    kinds = []
    for order, path in enumerate(paths):
        kinds.append((path, detect_format(path)))
        frame = read_funding_history(
            path,
            utc_offset_h=utc_offset_h,
            time_zone=time_zone,
            exchange=exchange,
            skipped=skipped,
        )
        frame["order"] = order
        frames.append(frame)
    prints = pd.concat(frames, ignore_index=True)
    for venue in prints["exchange"].unique():
        check_exchange_name(str(venue))
    prints = prints.sort_values(["exchange", "symbol", "ts", "order", "row"], kind="stable")
    summaries = []
    kept = []
    for (venue, symbol), g in prints.groupby(["exchange", "symbol"], sort=True):
        first = ~g["ts"].duplicated(keep="first")
        winners = g[first]
        others = g[~first].merge(
            winners[["ts", "funding_rate", "source"]], on="ts", suffixes=("", "_kept")
        )
        same = others["funding_rate"] == others["funding_rate_kept"]
        conflicts = others[~same]
        head = conflicts.head(5)
        examples = tuple(
            (iso(int(t))[:16], float(kept_rate), float(rate), str(src))
            for t, kept_rate, rate, src in zip(
                head["ts"].to_numpy(),
                head["funding_rate_kept"].to_numpy(),
                head["funding_rate"].to_numpy(),
                head["source"].to_numpy(),
                strict=True,
            )
        )
        if len(conflicts):
            logger.warning(
                "%s/%s: %d prints differ between sources (the first source's rate is kept), "
                "e.g. %s",
                venue,
                symbol,
                len(conflicts),
                examples[0],
            )
        interval = funding_interval_s or _interval(winners["ts"].to_numpy())
        out_rows = pd.DataFrame(
            {
                "ts_local": winners["ts"].to_numpy(np.int64),
                "exchange": venue,
                "symbol": symbol,
                "funding_rate": winners["funding_rate"].to_numpy(float),
                "funding_interval_s": np.int64(interval),
            }
        )
        kept.append(out_rows)
        summaries.append(
            FundingMarketSummary(
                exchange=str(venue),
                symbol=str(symbol),
                rows=len(out_rows),
                first_ts=int(out_rows["ts_local"].iloc[0]),
                last_ts=int(out_rows["ts_local"].iloc[-1]),
                funding_interval_s=interval,
                sources=tuple(dict.fromkeys(g["source"])),
                confirmed=int(same.sum()),
                conflicts=len(conflicts),
                conflict_examples=examples,
            )
        )
    written = write_table(root, FUNDING.name, pd.concat(kept, ignore_index=True)) if kept else []
    summary = FundingSummary(
        out=root,
        sources=tuple(kinds),
        markets=tuple(summaries),
        skipped=dict(skipped),
        files=tuple(written),
        elapsed_s=time.perf_counter() - started,
    )
    logger.info("%s", summary)
    return summary


def _cmd(args: argparse.Namespace) -> int:
    summary = import_funding_history(
        args.sources,
        args.out,
        utc_offset_h=args.utc_offset_h,
        time_zone=args.time_zone,
        exchange=args.exchange,
        funding_interval_s=args.funding_interval_s,
        overwrite=args.overwrite,
    )
    print(summary)
    return 0


def add_cli(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``funding-history`` on the ``import`` command's subparsers."""
    p: argparse.ArgumentParser = subparsers.add_parser(
        "funding-history",
        help="import funding-rate histories (CSV / JSON) into a funding-only dataset",
        description="Import funding-rate histories (historical-funding-rates-fetcher CSV, "
        "optimising-funding-rate-arbitrage CSV, epoch-ms JSON) into the funding table of a "
        "funding-only dataset, with each source's time zone converted to UTC (see "
        "docs/importing.md). Prints given by several sources are combined.",
    )
    p.add_argument("sources", nargs="+", metavar="SRC", help="history files")
    p.add_argument("--out", required=True, metavar="DATASET", help="dataset root folder")
    p.add_argument(
        "--utc-offset-h", type=float, help="hours to subtract from fetcher 'Date' values"
    )
    p.add_argument("--time-zone", help="IANA zone of the optimising file (default Europe/London)")
    p.add_argument("--exchange", help="venue name for every print (default: from the file)")
    p.add_argument("--funding-interval-s", type=int, help="interval of every market, seconds")
    p.add_argument("--overwrite", action="store_true", help="replace an existing funding table")
    p.set_defaults(func=_cmd)
    return p


__all__ = [
    "FETCHER_UTC_OFFSET_H",
    "FundingMarketSummary",
    "FundingSummary",
    "add_cli",
    "detect_format",
    "import_funding_history",
    "read_funding_history",
]
