"""The Tardis CSV importer, on small files written here in Tardis's documented layouts."""

from __future__ import annotations

import gzip
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

import spreadarb
from spreadarb.cli import main
from spreadarb.importers import import_tardis
from spreadarb.importers._common import canonical_symbol
from spreadarb.importers.tardis import SizeRule, detect_kind, resolve_market

T0 = 1_723_075_200_000_000  # 2024-08-08 00:00:00 UTC, microseconds (Tardis's unit)
FUND_8H = 1_723_104_000_000_000  # 2024-08-08 08:00 UTC, microseconds

BASE = "exchange,symbol,timestamp,local_timestamp"
QUOTES = f"{BASE},ask_amount,ask_price,bid_price,bid_amount"
DERIV = (
    f"{BASE},funding_timestamp,funding_rate,predicted_funding_rate,open_interest,last_price,"
    "index_price,mark_price"
)
PRINTS = f"{BASE},id,side,price,amount"


def book_header(levels: int) -> str:
    cols = [
        f"{side}[{i}].{what}"
        for i in range(levels)
        for side in ("asks", "bids")
        for what in ("price", "amount")
    ]
    return ",".join([BASE, *cols])


# Five levels per side: the bid band ends at 60000 * (1 - 2e-4) = 59988 (inside), the ask
# band at 60001 * (1 + 2e-4) = 60013.0002; level 5 of the bids is empty.
ASKS = [(60001.0, 1.5), (60010.0, 1.0), (60013.0, 2.0), (60014.0, 1.0), (60020.0, 1.0)]
BIDS = [(60000.0, 1.0), (59995.0, 2.0), (59988.0, 0.5), (59987.9, 4.0), (None, None)]
BID_DEPTH = 60000 * 1.0 + 59995 * 2.0 + 59988 * 0.5
ASK_DEPTH = 60001 * 1.5 + 60010 * 1.0 + 60013 * 2.0


def book_row(exchange, symbol, ts, local, asks=ASKS, bids=BIDS):
    cells = [exchange, symbol, str(ts), str(local)]
    for (ap, aa), (bp, ba) in zip(asks, bids, strict=True):
        cells += ["" if v is None else repr(v) for v in (ap, aa, bp, ba)]
    return ",".join(cells)


def write(path: Path, header: str, rows: list[str], *, gz: bool = False) -> Path:
    text = "\n".join([header, *rows]) + "\n"
    if gz:
        with gzip.open(path, "wt") as f:
            f.write(text)
    else:
        path.write_text(text)
    return path


@pytest.fixture
def files(tmp_path):
    """One day of binance-futures BTCUSDT (book_snapshot_5, derivative ticker, trades,
    liquidations) and okex-swap BTC-USDT-SWAP (quotes in contracts, derivative ticker)."""
    d = tmp_path / "src"
    d.mkdir()
    bx = "binance-futures"
    book = write(
        d / "binance-futures_book_snapshot_5_2024-08-08_BTCUSDT.csv.gz",
        book_header(5),
        [
            book_row(bx, "BTCUSDT", T0 + 40, T0 + 50),  # before the first funding: skipped
            book_row(bx, "BTCUSDT", T0 + 90, T0 + 100),  # same local time as the funding row
            book_row(bx, "BTCUSDT", T0 + 999_000, T0 + 1_000_000),
            book_row(  # crossed: skipped
                bx,
                "BTCUSDT",
                T0 + 1_500_000,
                T0 + 1_500_000,
                asks=[(59999.0, 1.0), *ASKS[1:]],
            ),
            book_row(bx, "BTCUSDT", T0 + 1_999_000, T0 + 2_000_000),
        ],
        gz=True,
    )
    deriv = write(
        d / "binance-futures_derivative_ticker_2024-08-08_BTCUSDT.csv",
        DERIV,
        [
            f"{bx},BTCUSDT,{T0 + 80},{T0 + 100},{FUND_8H},0.0001,0.00012,80000,60000.1,"
            "60000.0,60000.2",
            # Empty funding fields keep their previous values.
            f"{bx},BTCUSDT,{T0 + 1_999_500},{T0 + 2_000_000},,,,80010,60010.1,60010.0,60010.0",
        ],
    )
    trades = write(
        d / "binance-futures_trades_2024-08-08_BTCUSDT.csv.gz",
        PRINTS,
        [
            f"{bx},BTCUSDT,{T0 + 10},{T0 + 20},1,buy,60001.0,0.25",
            f"{bx},BTCUSDT,{T0 + 30},{T0 + 40},2,sell,60000.0,0.1",
            # Two prints equal in every contract column: one row, summed size.
            f"{bx},BTCUSDT,{T0 + 30},{T0 + 40},3,sell,60000.0,0.1",
            f"{bx},BTCUSDT,{T0 + 50},{T0 + 60},4,unknown,60000.5,0.3",
        ],
        gz=True,
    )
    liqs = write(
        d / "binance-futures_liquidations_2024-08-08_BTCUSDT.csv",
        PRINTS,
        [
            f"{bx},BTCUSDT,{T0 + 500},{T0 + 600},,buy,60050.0,0.02",
            f"{bx},BTCUSDT,{T0 + 700},{T0 + 800},,sell,59950.0,0.5",
        ],
    )
    okx_quotes = write(
        d / "okex-swap_quotes_2024-08-08_BTC-USDT-SWAP.csv",
        QUOTES,
        [
            f"okex-swap,BTC-USDT-SWAP,{T0 + 200},{T0 + 300},120,60002.5,60002.4,250",
            f"okex-swap,BTC-USDT-SWAP,{T0 + 400},{T0 + 500},,60002.5,60002.4,250",  # one-sided
        ],
    )
    okx_deriv = write(
        d / "okex-swap_derivative_ticker_2024-08-08_BTC-USDT-SWAP.csv",
        DERIV,
        [
            f"okex-swap,BTC-USDT-SWAP,{T0},{T0 + 250},{FUND_8H},-0.00005,,2000000,60002.0,"
            "60001.0,60002.0",
        ],
    )
    return {
        "book": book,
        "deriv": deriv,
        "trades": trades,
        "liqs": liqs,
        "okx_quotes": okx_quotes,
        "okx_deriv": okx_deriv,
    }


def _frame(out: Path, table: str) -> pd.DataFrame:
    paths = sorted((out / table).rglob("*.parquet"))
    return pd.concat([pq.read_table(p).to_pandas() for p in paths], ignore_index=True)


def test_data_types_are_detected_from_headers(files, tmp_path):
    assert detect_kind(files["book"]) == "book_snapshot_5"
    assert detect_kind(files["deriv"]) == "derivative_ticker"
    assert detect_kind(files["trades"]) == "trades"
    assert detect_kind(files["liqs"]) == "liquidations"
    assert detect_kind(files["okx_quotes"]) == "quotes"
    assert detect_kind(Path("x.csv"), book_header(25).split(",")) == "book_snapshot_25"
    ambiguous = write(tmp_path / "prints.csv", PRINTS, [])
    with pytest.raises(ValueError, match="file name must say"):
        detect_kind(ambiguous)
    incremental = write(
        tmp_path / "l2.csv", f"{BASE},is_snapshot,side,price,amount", ["a,b,1,2,true,bid,1,1"]
    )
    with pytest.raises(ValueError, match="incremental_book_L2 is not supported"):
        import_tardis([incremental], tmp_path / "out")


def test_full_import_values(files, tmp_path):
    out = tmp_path / "ds"
    summary = import_tardis(list(files.values()), out)
    assert spreadarb.validate(out) == []
    ds = spreadarb.load(out)
    assert ds.markets() == [("binance", "BTC"), ("okx", "BTC")]

    tickers = _frame(out, "tickers")
    bn = tickers[tickers["exchange"] == "binance"].reset_index(drop=True)
    # Rows at 100 us (same local time as the funding row), 1 s and 2 s; the first
    # (before any funding) and the crossed one are skipped.
    assert bn["ts_local"].tolist() == [(T0 + x) * 1000 for x in (100, 1_000_000, 2_000_000)]
    assert bn["ts_exchange"].tolist() == [(T0 + x) * 1000 for x in (90, 999_000, 1_999_000)]
    assert bn["bid_px"].tolist() == [60000.0] * 3
    assert bn["ask_px"].tolist() == [60001.0] * 3
    assert bn["bid_sz"].tolist() == [1.0] * 3
    assert bn["ask_sz"].tolist() == [1.5] * 3
    assert bn["bid_depth_usd"].tolist() == pytest.approx([BID_DEPTH] * 3, rel=1e-12)
    assert bn["ask_depth_usd"].tolist() == pytest.approx([ASK_DEPTH] * 3, rel=1e-12)
    assert bn["funding_rate"].tolist() == [0.0001] * 3
    assert bn["predicted_funding_rate"].tolist() == [0.00012] * 3
    assert bn["next_funding_ts"].tolist() == [FUND_8H * 1000] * 3
    assert bn["funding_interval_s"].tolist() == [28_800] * 3
    assert bn["mark_px"].tolist() == [60000.2, 60000.2, 60010.0]
    assert bn["open_interest_usd"].tolist() == pytest.approx(
        [80000 * 60000.2, 80000 * 60000.2, 80010 * 60010.0]
    )

    ok = tickers[tickers["exchange"] == "okx"].reset_index(drop=True)
    assert len(ok) == 1
    # OKX quotes its BTC-USDT-SWAP amounts in contracts of 0.01 BTC.
    assert ok.loc[0, "bid_sz"] == pytest.approx(2.5)
    assert ok.loc[0, "ask_sz"] == pytest.approx(1.2)
    assert ok.loc[0, "bid_depth_usd"] == pytest.approx(60002.4 * 2.5)
    assert ok.loc[0, "funding_rate"] == -0.00005
    assert np.isnan(ok.loc[0, "predicted_funding_rate"])
    assert ok.loc[0, "open_interest_usd"] == pytest.approx(2_000_000 * 0.01 * 60002.0)

    trades = _frame(out, "trades")
    assert trades["ts_local"].tolist() == [(T0 + 20) * 1000, (T0 + 40) * 1000]
    assert trades["side"].tolist() == [1, -1]
    assert trades["sz"].tolist() == pytest.approx([0.25, 0.2])
    assert trades["ts_exchange"].tolist() == [(T0 + 10) * 1000, (T0 + 30) * 1000]

    liqs = _frame(out, "liquidations")
    assert liqs["side"].tolist() == [1, -1]  # buy: a short was liquidated
    assert liqs["px"].tolist() == [60050.0, 59950.0]

    bm = summary.market("binance", "BTC")
    assert bm.l1_source == "book_snapshot_5"
    assert bm.tickers == 3 and bm.trades == 2 and bm.liquidations == 2
    assert dict(bm.skipped) == {"before_funding": 1, "crossed_quote": 1, "unknown_side": 1}
    assert dict(bm.duplicates) == {"trades": 1}
    assert bm.derivative_updates == 2
    assert bm.first_ts_local == (T0 + 20) * 1000
    om = summary.market("okx", "BTC")
    assert dict(om.skipped) == {"one_sided_quote": 1}
    assert om.size_rule == SizeRule(base_per_contract=0.01)
    assert summary.rows_read == {
        "book_snapshot_5": 5,
        "derivative_ticker": 3,
        "trades": 4,
        "liquidations": 2,
        "quotes": 2,
    }
    text = str(summary)
    assert "before_funding 1" in text and "okx/BTC" in text


def test_small_blocks_and_file_order_give_the_same_dataset(files, tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    import_tardis(list(files.values()), a)
    import_tardis(list(reversed(files.values())), b, block_size=200, flush_rows=1)
    for table in ("tickers", "trades", "liquidations"):
        pd.testing.assert_frame_equal(_frame(a, table), _frame(b, table))


def test_best_l1_source_wins_and_lower_one_is_counted(files, tmp_path):
    quotes = write(
        tmp_path / "binance-futures_quotes_2024-08-08_BTCUSDT.csv",
        QUOTES,
        [f"binance-futures,BTCUSDT,{T0 + 150},{T0 + 160},1.5,60001.0,60000.0,1.0"],
    )
    summary = import_tardis([quotes, files["book"], files["deriv"]], tmp_path / "ds")
    m = summary.market("binance", "BTC")
    assert m.l1_source == "book_snapshot_5"
    assert m.skipped["lower_priority_l1"] == 1
    assert m.tickers == 3


def test_without_derivative_ticker_funding_is_a_counted_placeholder(files, tmp_path):
    out = tmp_path / "ds"
    summary = import_tardis([files["book"], files["trades"]], out)
    m = summary.market("binance", "BTC")
    assert m.funding_placeholder_rows == 4 and m.tickers == 4
    t = _frame(out, "tickers")
    assert (t["funding_rate"] == 0.0).all()
    assert (t["next_funding_ts"] == FUND_8H * 1000).all()
    assert t["mark_px"].isna().all()
    assert "placeholder" in str(summary)
    assert spreadarb.validate(out) == []


def test_bad_values_name_file_row_and_column(tmp_path):
    bad = write(
        tmp_path / "bybit_trades_2024-08-08_BTCUSDT.csv",
        PRINTS,
        [
            f"bybit,BTCUSDT,{T0},{T0 + 1},a,buy,60000,1",
            f"bybit,BTCUSDT,{T0},{T0 + 2},b,buy,sixty,1",
        ],
    )
    with pytest.raises(ValueError, match=r"row 2 \(line 3\), column 'price': 'sixty'"):
        import_tardis([bad], tmp_path / "out")
    empty_ts = write(
        tmp_path / "bybit_trades_2024-08-09_BTCUSDT.csv",
        PRINTS,
        [f"bybit,BTCUSDT,{T0},,a,buy,60000,1"],
    )
    with pytest.raises(ValueError, match=r"row 1 .*empty 'local_timestamp'"):
        import_tardis([empty_ts], tmp_path / "out")
    short = write(
        tmp_path / "bybit_trades_2024-08-10_BTCUSDT.csv",
        PRINTS,
        [f"bybit,BTCUSDT,{T0},{T0 + 1},a,buy,60000,1", f"bybit,BTCUSDT,{T0},{T0 + 2},b,buy"],
    )
    with pytest.raises(
        ValueError,
        match=r"bybit_trades_2024-08-10_BTCUSDT.csv: unreadable CSV .*"
        "Expected 8 columns, got 6",
    ):
        import_tardis([short], tmp_path / "out")


def test_local_time_going_backwards_raises(tmp_path):
    src = write(
        tmp_path / "bybit_trades_2024-08-08_BTCUSDT.csv",
        PRINTS,
        [
            f"bybit,BTCUSDT,{T0},{T0 + 10},a,buy,60000,1",
            f"bybit,BTCUSDT,{T0},{T0 + 5},b,buy,60000,1",
        ],
    )
    with pytest.raises(ValueError, match=r"row 2: ts_local .* earlier than the previous row"):
        import_tardis([src], tmp_path / "out")


@pytest.mark.parametrize(
    ("tardis", "symbol", "expected"),
    [
        ("binance-futures", "BTCUSDT", ("binance", "BTC", SizeRule())),
        ("binance-delivery", "ETHUSD_PERP", ("binance_cm", "ETH", SizeRule(usd_per_contract=10))),
        ("bybit", "1000PEPEUSDT", ("bybit", "1000PEPE", SizeRule())),
        ("bybit", "BTCUSD", ("bybit_inverse", "BTC", SizeRule(usd_per_contract=1))),
        ("okex-swap", "ETH-USDT-SWAP", ("okx", "ETH", SizeRule(base_per_contract=0.1))),
        ("okex-swap", "BTC-USD-SWAP", ("okx_inverse", "BTC", SizeRule(usd_per_contract=100))),
        ("kucoin-futures", "XBTUSDTM", ("kucoin", "BTC", SizeRule(base_per_contract=0.001))),
        ("gate-io-futures", "BTC_USDT", ("gate", "BTC", SizeRule(base_per_contract=0.0001))),
        ("bitget-futures", "SOLUSDT", ("bitget", "SOL", SizeRule())),
        ("hyperliquid", "BTC", ("hyperliquid", "BTC", SizeRule())),
        ("deribit", "BTC-PERPETUAL", ("deribit", "BTC", SizeRule(usd_per_contract=1))),
        ("bitmex", "XBTUSD", ("bitmex", "BTC", SizeRule(usd_per_contract=1))),
        ("some-dex", "BTC-USD-PERP", ("some-dex", "BTC", SizeRule())),
    ],
)
def test_names_and_size_rules(tardis, symbol, expected):
    assert resolve_market(tardis, symbol) == expected


def test_unknown_contract_size_is_refused_and_can_be_given():
    with pytest.raises(ValueError, match="--contract-size SOL-USDT-SWAP="):
        resolve_market("okex-swap", "SOL-USDT-SWAP")
    assert resolve_market("okex-swap", "SOL-USDT-SWAP", contract_sizes={"SOL-USDT-SWAP": 1})[
        2
    ] == SizeRule(base_per_contract=1.0)
    assert resolve_market("deribit", "ETH-PERPETUAL", exchanges={"deribit": "drb"})[0] == "drb"
    for venue_symbol in (
        "BTC-USDT-SWAP",
        "XBTUSDTM",
        "BTC_USDT",
        "BTC-USD-PERP",
        "BTC/USDT:USDT",
        "BTCPERP",
        "XBTUSD",
        "btcusdt",
        "BTC",
    ):
        assert canonical_symbol(venue_symbol) == "BTC"
    assert canonical_symbol("1000PEPEUSDT") == "1000PEPE"
    assert canonical_symbol("ETHUSDM") == "ETH"
    with pytest.raises(ValueError, match="cannot derive a canonical base asset"):
        canonical_symbol("USDT")


def test_cli_imports_and_reports(files, tmp_path, capsys):
    out = tmp_path / "ds"
    code = main(["import", "tardis", *map(str, files.values()), "--out", str(out), "--no-progress"])
    assert code == 0
    text = capsys.readouterr().out
    assert "binance/BTC" in text and "tickers 4" in text  # 3 binance + 1 okx
    assert main(["validate", str(out)]) == 0
    sol = write(
        tmp_path / "okex-swap_trades_2024-08-08_SOL-USDT-SWAP.csv",
        PRINTS,
        [f"okex-swap,SOL-USDT-SWAP,{T0},{T0 + 1},a,buy,150.0,3"],
    )
    assert main(["import", "tardis", str(sol), "--out", str(tmp_path / "x"), "--no-progress"]) == 2
    assert "--contract-size SOL-USDT-SWAP=" in capsys.readouterr().err
    args = ["--contract-size", "SOL-USDT-SWAP=1", "--exchange-map", "okex-swap=okx2"]
    assert main(["import", "tardis", str(sol), "--out", str(tmp_path / "x"), *args]) == 0
    assert "okx2/SOL (okex-swap SOL-USDT-SWAP, base units)" in capsys.readouterr().out
    bad = main(["import", "tardis", str(tmp_path / "missing.csv"), "--out", str(out)])
    assert bad == 2
    assert "does not exist" in capsys.readouterr().err


def test_cli_subprocess_help():
    import subprocess

    done = subprocess.run(
        [sys.executable, "-m", "spreadarb.cli", "import", "tardis", "--help"],
        capture_output=True,
        text=True,
        check=True,
        env={**__import__("os").environ, "PYTHONPATH": str(Path(__file__).parents[1])},
    )
    assert "--contract-size" in done.stdout and "--no-progress" in done.stdout


def test_progress_bar_is_off_without_a_terminal(files, tmp_path, capsys):
    from spreadarb.importers._common import progress_bar

    assert progress_bar(10, "x", False) is None
    bar = progress_bar(10, "x", True)
    assert bar.disable  # pytest captures stderr: not a terminal
    bar.close()
    import_tardis(list(files.values()), tmp_path / "ds", progress=True)
    assert capsys.readouterr().err == ""


def _big_trades(path: Path, n: int) -> Path:
    ts = T0 + np.arange(n, dtype=np.int64) * 1000
    frame = pd.DataFrame(
        {
            "exchange": "binance-futures",
            "symbol": "BTCUSDT",
            "timestamp": ts,
            "local_timestamp": ts + 7,
            "id": np.arange(n),
            "side": np.where(np.arange(n) % 2 == 0, "buy", "sell"),
            "price": 60000.0 + (np.arange(n) % 100) * 0.1,
            "amount": 0.001 + (np.arange(n) % 7) * 0.001,
        }
    )
    frame.to_csv(path, index=False)
    return path


def test_memory_does_not_grow_with_the_input(tmp_path):
    """Streaming: Python memory held during an import does not scale with the file's rows."""
    import gc
    import tracemalloc

    peaks = []
    for n in (20_000, 80_000):
        src = _big_trades(tmp_path / f"binance-futures_trades_{n}.csv", n)
        gc.collect()
        tracemalloc.start()
        summary = import_tardis([src], tmp_path / f"ds{n}", flush_rows=5_000, block_size=64 << 10)
        peaks.append(tracemalloc.get_traced_memory()[1])
        tracemalloc.stop()
        assert summary.market("binance", "BTC").trades == n
    # Holding 80,000 trades as Python rows would take over 200 bytes a row (17 MB); the
    # import peaks at a few MB (blocks, the writer's buffer, garbage awaiting collection),
    # and four times the rows do not make four times the peak.
    assert peaks[1] < 8_000_000, peaks
    assert peaks[1] < 2 * peaks[0], peaks


def test_book_snapshot_25_of_an_inverse_contract(tmp_path):
    """binance-delivery BTCUSD_PERP: amounts are 100-USD contracts, converted per level."""
    asks = [(60001.0 + i, 10.0) for i in range(25)]  # band ends at 60013.0002: 13 levels
    bids = [(60000.0 - i, 20.0) for i in range(20)] + [(None, None)] * 5
    src = write(
        tmp_path / "binance-delivery_book_snapshot_25_2024-08-08_BTCUSD_PERP.csv",
        book_header(25),
        [book_row("binance-delivery", "BTCUSD_PERP", T0, T0 + 5, asks=asks, bids=bids)],
    )
    out = tmp_path / "ds"
    summary = import_tardis([src], out)
    m = summary.market("binance_cm", "BTC")
    assert m.size_rule == SizeRule(usd_per_contract=100.0)
    row = _frame(out, "tickers").iloc[0]
    assert row["bid_sz"] == pytest.approx(20 * 100 / 60000.0)
    assert row["ask_sz"] == pytest.approx(10 * 100 / 60001.0)
    # Within 2 bps: bids 60000 .. 59988 (13 levels), asks 60001 .. 60013 (13 levels); each
    # level's notional is its contracts x 100 USD.
    assert row["bid_depth_usd"] == pytest.approx(13 * 20 * 100)
    assert row["ask_depth_usd"] == pytest.approx(13 * 10 * 100)
    assert m.funding_placeholder_rows == 1
