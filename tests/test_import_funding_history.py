"""Funding histories: time zones converted, sources agree, a valid funding-only dataset out."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import T0, ticker_frame, trade_frame

import spreadarb
from spreadarb.cli import main
from spreadarb.data.errors import ProblemKind
from spreadarb.importers import import_funding_history
from spreadarb.importers.funding_history import detect_format, read_funding_history

REALDATA = Path(__file__).resolve().parents[1].parent / "shared" / "realdata"
FETCHER = REALDATA / "historical-funding-rates-fetcher"
OPTIMISING = REALDATA / "optimising-funding-rate-arbitrage" / "all_exchanges.csv"
FRONTIER = REALDATA / "funding-rate-efficient-frontier"
needs_realdata = pytest.mark.skipif(
    not REALDATA.is_dir(),
    reason=f"real histories not found at {REALDATA} (shared/realdata is absent on this machine)",
)


def utc(text: str) -> int:
    return int(pd.Timestamp(text, tz="UTC").value)


def _market(frame: pd.DataFrame, exchange: str, symbol: str) -> pd.Series:
    rows = frame[(frame["exchange"] == exchange) & (frame["symbol"] == symbol)]
    return rows.set_index("ts")["funding_rate"]


@pytest.fixture(scope="module")
def sources():
    if not REALDATA.is_dir():
        pytest.skip(f"real histories not found at {REALDATA}")
    fetcher = read_funding_history(
        FETCHER / "BTC-USDT_binance_2020-01-01_2024-01-01_funding_history.csv"
    )
    fetcher_bybit = read_funding_history(
        FETCHER / "BTC-USDT_bybit_2021-01-01_2024-01-01_funding_history.csv"
    )
    optimising = read_funding_history(OPTIMISING)
    frontier = read_funding_history(FRONTIER / "binance_BTC_funding_rates.json")
    return {
        "fetcher": fetcher,
        "fetcher_bybit": fetcher_bybit,
        "optimising": optimising,
        "frontier": frontier,
    }


@needs_realdata
def test_formats_are_detected():
    assert detect_format(FETCHER / "ETH-USDT_gate_2020-01-01_2024-01-01_funding_history.csv") == (
        "fetcher"
    )
    assert detect_format(OPTIMISING) == "optimising"
    assert detect_format(FRONTIER / "hl_ETH_funding_rates.json") == "epoch_json"
    with pytest.raises(ValueError, match="not a known funding history"):
        detect_format(FRONTIER / "hl_BTC_l2_book.jsonl")


@needs_realdata
def test_binance_prints_from_independent_sources_match_exactly(sources):
    """The time-zone proof: after conversion, the same UTC instants carry the same rates."""
    fetcher = _market(sources["fetcher"], "binance", "BTC")  # naive UTC+3
    frontier = _market(sources["frontier"], "binance", "BTC")  # epoch ms, UTC
    optimising = _market(sources["optimising"], "binance", "BTC")  # Europe/London
    for a, b, overlap in (
        (fetcher, frontier, 2190),  # 2022-01-01 .. 2023-12-31
        (optimising, frontier, 1642),  # 2023-01-01 .. 2024-07-01
        (fetcher, optimising, 1095),  # 2023-01-01 .. 2023-12-31
    ):
        common = a.index.intersection(b.index)
        assert len(common) == overlap
        np.testing.assert_array_equal(a[common].to_numpy(), b[common].to_numpy())
    # Every print sits on the 00/08/16 UTC settlement grid.
    for series in (fetcher, frontier, optimising):
        assert (series.index.to_numpy() % (8 * 3600 * 10**9) == 0).all()
    # Bybit too: the fetcher (UTC+3) against the optimising file (London).
    bybit = _market(sources["fetcher_bybit"], "bybit", "BTC")
    bybit_opt = _market(sources["optimising"], "bybit", "BTC")
    common = bybit.index.intersection(bybit_opt.index)
    assert len(common) == 1095
    np.testing.assert_array_equal(bybit[common].to_numpy(), bybit_opt[common].to_numpy())


@needs_realdata
def test_without_the_time_zone_fix_the_sources_disagree(sources):
    naive = read_funding_history(
        FETCHER / "BTC-USDT_binance_2020-01-01_2024-01-01_funding_history.csv", utc_offset_h=0
    )
    a = _market(naive, "binance", "BTC")
    b = _market(sources["frontier"], "binance", "BTC")
    assert len(a.index.intersection(b.index)) == 0  # 03/11/19 o'clock is not a Binance time


@needs_realdata
def test_known_prints_and_daylight_saving(sources):
    fetcher = _market(sources["fetcher"], "binance", "BTC")
    # First line: "BTC-USDT,2020-01-01 03:00:00.000,-0.00012359" (UTC+3).
    assert fetcher.index[0] == utc("2020-01-01 00:00")
    assert fetcher.iloc[0] == -0.00012359
    opt = _market(sources["optimising"], "binance", "BTC")
    # "2023-01-01 00:00:00,binance,bitcoin,BTCUSDT,perpetual,...,0.0001": GMT = UTC.
    assert opt[utc("2023-01-01 00:00")] == 0.0001
    # BST starts 2023-03-26: the file's 09:00 and 17:00 are 08:00 and 16:00 UTC.
    assert opt[utc("2023-03-26 08:00")] == -3.326e-05
    assert opt[utc("2023-03-26 16:00")] == 3.634e-05
    # BST ends 2023-10-29: local 01:00 happens twice; the 00:00 UTC reading is on the grid.
    assert opt[utc("2023-10-29 00:00")] == 0.0001
    assert opt[utc("2023-10-29 08:00")] == 0.0001
    # KuCoin settles at 04/12/20 UTC; its fetcher file says 07/15/23 (UTC+3).
    kucoin = read_funding_history(
        FETCHER / "BTC-USDT_kucoin_2021-01-01_2024-01-01_funding_history.csv"
    )
    hours = pd.to_datetime(kucoin["ts"], unit="ns").dt.hour.unique()
    assert sorted(hours) == [4, 12, 20]
    # gate and dydx are UTC already.
    gate = read_funding_history(FETCHER / "BTC-USDT_gate_2020-01-01_2024-01-01_funding_history.csv")
    assert gate["ts"].iloc[0] == utc("2020-01-01 00:00") and gate["funding_rate"].iloc[0] == 0.0001
    # Hyperliquid's epoch times carry a delay (once 111 s): rounded to the hour.
    hl = read_funding_history(FRONTIER / "hl_BTC_funding_rates.json")
    assert hl["ts"].iloc[0] == utc("2024-01-01 00:00")
    assert (hl["ts"] % (3600 * 10**9) == 0).all()
    assert hl["funding_rate"].iloc[0] == 0.0000617991


@needs_realdata
def test_full_import_is_a_valid_funding_only_dataset(tmp_path):
    out = tmp_path / "funding"
    paths = [
        *sorted(FETCHER.glob("*.csv")),
        OPTIMISING,
        *sorted(FRONTIER.glob("*_funding_rates.json")),
    ]
    summary = import_funding_history(paths, out)
    assert spreadarb.validate(out) == []
    assert len(summary.markets) == 24
    bn = summary.market("binance", "BTC")
    assert (bn.rows, bn.confirmed, bn.conflicts) == (6570, 3832, 0)
    assert bn.funding_interval_s == 28_800
    assert bn.first_ts == utc("2020-01-01 00:00") and bn.last_ts == utc("2025-12-29 16:00")
    assert summary.market("dydx", "ETH").funding_interval_s == 3600
    assert summary.market("hyperliquid", "BTC").funding_interval_s == 3600
    assert summary.market("okx_inverse", "BTC").rows == 1642
    assert sum(m.conflicts for m in summary.markets) == 0
    assert summary.skipped == {"spot row": 9852}
    # Partitioned by year: a handful of files for six years of 24 markets.
    assert len(summary.files) == 35
    frame = spreadarb.load_funding(out, exchanges=["binance", "hyperliquid"], symbols="BTC")
    assert sorted(frame.groupby("exchange").size().items()) == [
        ("binance", 6570),
        ("hyperliquid", 12192),
    ]
    hl = frame[frame["exchange"] == "hyperliquid"]
    assert hl["funding_rate_8h"].iloc[0] == pytest.approx(0.0000617991 * 8)
    assert frame["time"].iloc[0] == pd.Timestamp("2020-01-01", tz="UTC")
    with pytest.raises(ValueError, match="funding-only dataset"):
        spreadarb.load(out)
    with pytest.raises(FileExistsError, match="overwrite"):
        import_funding_history(paths[:1], out)
    again = import_funding_history(paths[:1], out, overwrite=True)
    assert again.rows == 4383


def _json(path: Path, records: list[dict]) -> Path:
    path.write_text(json.dumps(records))
    return path


def test_conflicting_prints_keep_the_first_source_and_are_reported(tmp_path, caplog):
    t = utc("2024-01-01 00:00") // 10**6
    a = _json(
        tmp_path / "binance_BTC_funding_rates.json",
        [
            {"coin": "BTC", "funding_rate": "0.0001", "time": t + 7},
            {"coin": "BTC", "funding_rate": "0.0002", "time": t + 8 * 3600 * 1000},
        ],
    )
    b = _json(
        tmp_path / "binance_XBT_funding_rates.json",
        [
            {"coin": "BTC", "funding_rate": "0.0001", "time": t},
            {"coin": "BTC", "funding_rate": "0.0003", "time": t + 8 * 3600 * 1000 + 20},
        ],
    )
    summary = import_funding_history([a, b], tmp_path / "ds")
    m = summary.market("binance", "BTC")
    assert (m.rows, m.confirmed, m.conflicts) == (2, 1, 1)
    assert m.conflict_examples == (("2024-01-01T08:00", 0.0002, 0.0003, str(b)),)
    assert "differ between sources" in caplog.text
    frame = spreadarb.load_funding(tmp_path / "ds")
    assert frame["funding_rate"].tolist() == [0.0001, 0.0002]


def test_bad_rows_name_the_file_and_row(tmp_path):
    bad = tmp_path / "BTC-USDT_binance_2020-01-01_2024-01-01_funding_history.csv"
    bad.write_text(
        "Symbol,Date,Funding Rate\nBTC-USDT,2020-01-01 03:00:00,0.0001\n"
        "BTC-USDT,2020-01-01 11:00:00,lots\n"
    )
    with pytest.raises(ValueError, match="row 2, column 'Funding Rate': 'lots'"):
        import_funding_history([bad], tmp_path / "ds")
    unknown = tmp_path / "BTC-USDT_newex_2020-01-01_2024-01-01_funding_history.csv"
    unknown.write_text("Symbol,Date,Funding Rate\nBTC-USDT,2020-01-01 03:00:00,0.0001\n")
    with pytest.raises(ValueError, match="time zone of the fetcher's 'newex' files is unknown"):
        import_funding_history([unknown], tmp_path / "ds")
    unknown.write_text(
        "Symbol,Date,Funding Rate\nBTC-USDT,2020-01-01 03:00:00,0.0001\n"
        "BTC-USDT,2020-01-01 11:00:00,\n"
    )
    done = import_funding_history([unknown], tmp_path / "ds", utc_offset_h=3)
    assert done.market("newex", "BTC").first_ts == utc("2020-01-01 00:00")
    assert done.market("newex", "BTC").rows == 1
    assert done.skipped == {"missing rate": 1}


def test_funding_table_is_partitioned_by_year_and_checked(tmp_path):
    t = utc("2023-12-31 16:00") // 10**6
    src = _json(
        tmp_path / "binance_ETH_funding_rates.json",
        [
            {"coin": "ETH", "funding_rate": "0.0001", "time": t},
            {"coin": "ETH", "funding_rate": "-0.0001", "time": t + 8 * 3600 * 1000},
        ],
    )
    out = tmp_path / "ds"
    import_funding_history([src], out)
    files = sorted(p.relative_to(out).as_posix() for p in out.rglob("*.parquet"))
    assert [f.rsplit("/", 1)[0] for f in files] == [
        "funding/date=2023-01-01/exchange=binance",
        "funding/date=2024-01-01/exchange=binance",
    ]
    # A file moved into the wrong year is reported.
    wrong = out / "funding" / "date=2022-01-01" / "exchange=binance"
    wrong.mkdir(parents=True)
    shutil.move(out / files[0], wrong / "x.parquet")
    problems = spreadarb.validate(out)
    assert [p.kind for p in problems] == [ProblemKind.PARTITION_MISMATCH]
    assert "UTC year" in problems[0].message


def test_market_dataset_with_a_funding_table_validates(tmp_path):
    out = tmp_path / "ds"
    ts = T0 + np.arange(3) * 10**9
    spreadarb.write_table(out, "tickers", ticker_frame(ts, "okx", "BTC"))
    spreadarb.write_table(out, "trades", trade_frame(ts, "okx", "BTC"))
    spreadarb.write_table(
        out,
        "funding",
        pd.DataFrame(
            {
                "ts_local": [T0],
                "exchange": ["okx"],
                "symbol": ["BTC"],
                "funding_rate": [1e-4],
                "funding_interval_s": [28_800],
            }
        ),
    )
    assert spreadarb.validate(out) == []
    assert spreadarb.load(out).n_markets == 1
    assert len(spreadarb.load_funding(out)) == 1


@needs_realdata
def test_cli(tmp_path, capsys):
    out = tmp_path / "ds"
    code = main(["import", "funding-history", str(OPTIMISING), "--out", str(out)])
    assert code == 0
    assert "okx_inverse/ETH: 1,642 prints" in capsys.readouterr().out
    assert main(["import", "funding-history", str(OPTIMISING), "--out", str(out)]) == 2
    capsys.readouterr()
    assert main(["validate", str(out)]) == 0
    text = capsys.readouterr().out
    assert "valid, no problems found" in text and "funding-only dataset: 19,704 funding" in text
    assert main(["info", str(out)]) == 0
    assert "okx_inverse" in capsys.readouterr().out


def test_an_empty_funding_only_dataset_is_reported(tmp_path):
    (tmp_path / "funding").mkdir()
    problems = spreadarb.validate(tmp_path)
    assert [(p.kind, p.table) for p in problems] == [(ProblemKind.MISSING_TABLE, "funding")]
