"""The Bybit v5 (cryptofeed recording) importer: real recording in, checked against raw lines."""

from __future__ import annotations

import json
import logging
from collections import Counter, defaultdict
from decimal import Decimal
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import spreadarb
from spreadarb.cli import main
from spreadarb.importers.bybit_ws import import_bybit_ws, receive_ts_ns

REALDATA = Path(__file__).resolve().parents[1].parent / "shared" / "realdata" / "cryptofeed"
BYBIT = REALDATA / "sample_data" / "BYBIT.jsonl.zst"
needs_realdata = pytest.mark.skipif(
    not REALDATA.is_dir(),
    reason=f"real recordings not found at {REALDATA} (shared/realdata is absent on this machine)",
)


def _raw_linear() -> list[tuple[int, dict]]:
    """(receive ns, message) of every linear-endpoint message with a topic, in file order."""
    conns: dict[str, str] = {}
    out = []
    with pa.input_stream(str(BYBIT), compression="zstd") as f:
        for line in f.read().decode().splitlines():
            env = json.loads(line)
            if env["t"] == "connect":
                conns[env["conn"]] = env["addr"]
            if env["t"] != "recv" or not conns[env["conn"]].endswith("/linear"):
                continue
            msg = json.loads(env["data"])
            if "topic" in msg:
                # The envelope's ts, from its own digits (not the float json gives).
                text = line.split('"ts":', 1)[1].split(",", 1)[0]
                out.append((int(Decimal(text) * 10**9), msg))
    return out


def _frame(out: Path, table: str) -> pd.DataFrame:
    paths = sorted((out / table).rglob("*.parquet"))
    return pd.concat([pq.read_table(p).to_pandas() for p in paths], ignore_index=True)


@pytest.fixture(scope="module")
def real(tmp_path_factory):
    if not REALDATA.is_dir():
        pytest.skip(f"real recordings not found at {REALDATA}")
    out = tmp_path_factory.mktemp("bybit")
    summary = import_bybit_ws([BYBIT], out)
    return {
        "out": out,
        "summary": summary,
        "raw": _raw_linear(),
        "tickers": _frame(out, "tickers"),
        "trades": _frame(out, "trades"),
    }


@needs_realdata
def test_real_import_is_valid(real):
    assert spreadarb.validate(real["out"]) == []
    ds = spreadarb.load(real["out"])
    assert ds.markets() == [("bybit", s) for s in ("BTC", "DOGE", "ETH", "SOL")]
    s = real["summary"]
    assert s.gaps == ()
    # Nothing dropped silently: every skipped line or message is counted by reason.
    assert s.skipped == {
        "control message": 17,
        "line connect": 2,
        "line header": 1,
        "line http": 2,
        "line send": 24,
        "spot stream": 681,
        "topic kline": 71,
    }
    assert s.lines == 3256


@needs_realdata
def test_real_row_counts_match_the_raw_messages(real):
    raw = real["raw"]
    tickers = Counter(m["data"]["symbol"] for _, m in raw if m["topic"].startswith("tickers."))
    prints = defaultdict(list)
    for _, m in raw:
        if m["topic"].startswith("publicTrade."):
            prints[m["topic"].split(".")[1]] += m["data"]
    for m in real["summary"].markets:
        venue = m.venue_symbol
        # Every ticker message (4 snapshots + 754 deltas) made one row.
        assert m.tickers == tickers[venue]
        # Trades equal in every contract column were merged; sizes are conserved.
        assert m.trades + m.duplicates.get("trades", 0) == len(prints[venue])
        rows = real["trades"][real["trades"]["symbol"] == m.symbol]
        assert rows["sz"].sum() == pytest.approx(sum(float(t["v"]) for t in prints[venue]))
    assert sum(tickers.values()) == 758


@needs_realdata
def test_real_spot_values(real):
    raw, trades, tickers = real["raw"], real["trades"], real["tickers"]
    # First BTC trade: the first publicTrade.BTCUSDT line of the linear connection.
    ts, msg = next((ts, m) for ts, m in raw if m["topic"] == "publicTrade.BTCUSDT")
    t = msg["data"][0]
    assert (t["S"], t["v"], t["p"], t["T"]) == ("Sell", "0.004", "65114.20", 1786310819680)
    first = trades[trades["symbol"] == "BTC"].iloc[0]
    assert first["ts_local"] == ts == 1_786_310_819_965_676_000
    assert first["ts_exchange"] == 1786310819680 * 1_000_000
    assert (first["px"], first["sz"], first["side"]) == (65114.2, 0.004, -1)

    # A funding print: the BTCUSDT ticker snapshot.
    btc = tickers[tickers["symbol"] == "BTC"].reset_index(drop=True)
    snap_ts, snap = next(
        (ts, m) for ts, m in raw if m["topic"] == "tickers.BTCUSDT" and m["type"] == "snapshot"
    )
    assert snap["data"]["fundingRate"] == "0.0001"
    row = btc.iloc[0]
    assert row["ts_local"] == snap_ts
    assert row["funding_rate"] == 0.0001
    assert row["next_funding_ts"] == 1786320000000 * 1_000_000  # 2026-08-10 00:00 UTC
    assert row["funding_interval_s"] == 28_800
    assert row["mark_px"] == 65117.44
    assert row["open_interest_usd"] == 3899996265.01
    assert (row["bid_px"], row["bid_sz"], row["ask_px"], row["ask_sz"]) == (
        65114.2,
        5.954,
        65114.3,
        10.470,
    )
    assert pd.isna(row["predicted_funding_rate"])

    # Last best bid/ask of every market: the ticker state after its last delta.
    for m in real["summary"].markets:
        state: dict = {}
        for _, msg in raw:
            if msg["topic"] == f"tickers.{m.venue_symbol}":
                state.update({k: v for k, v in msg["data"].items() if v != ""})
        last = tickers[tickers["symbol"] == m.symbol].iloc[-1]
        assert (last["bid_px"], last["ask_px"]) == (
            float(state["bid1Price"]),
            float(state["ask1Price"]),
        )
        assert (last["bid_sz"], last["ask_sz"]) == (
            float(state["bid1Size"]),
            float(state["ask1Size"]),
        )
        assert last["mark_px"] == float(state["markPrice"])


@needs_realdata
def test_real_book_rebuild_agrees_with_recorded_best_prices(real):
    for m in real["summary"].markets:
        assert m.snapshots == 1 and m.depth_l1_gap == 0
        assert m.depth_from_book + m.depth_l1_unsynced == m.tickers
        # The rebuilt book's best bid and ask equal the ticker's bid1/ask1 on (nearly)
        # every row: the two topics are pushed separately, so a row may see the book a
        # push ahead of the ticker.
        assert m.book_agrees >= 0.98 * m.book_checked
    btc = real["summary"].market("bybit", "BTC")
    assert btc.book_agrees == btc.book_checked == 175


@needs_realdata
def test_real_depth_matches_an_independent_book(real):
    """Rebuild BTCUSDT's book here, plainly, and recompute the last row's 2 bps depth."""
    bids: dict[float, float] = {}
    asks: dict[float, float] = {}
    last = real["tickers"][real["tickers"]["symbol"] == "BTC"].iloc[-1]
    for ts, msg in real["raw"]:
        if ts > last["ts_local"]:
            break
        if msg["topic"] != "orderbook.200.BTCUSDT":
            continue
        if msg["type"] == "snapshot":
            bids.clear()
            asks.clear()
        for side, levels in ((bids, msg["data"]["b"]), (asks, msg["data"]["a"])):
            for p, q in levels:
                if float(q) == 0:
                    side.pop(float(p), None)
                else:
                    side[float(p)] = float(q)
    bid, ask = last["bid_px"], last["ask_px"]
    bid_depth = bid * last["bid_sz"] + sum(
        p * q for p, q in bids.items() if bid * (1 - 2e-4) <= p < bid
    )
    ask_depth = ask * last["ask_sz"] + sum(
        p * q for p, q in asks.items() if ask < p <= ask * (1 + 2e-4)
    )
    assert last["bid_depth_usd"] == pytest.approx(bid_depth, rel=1e-12)
    assert last["ask_depth_usd"] == pytest.approx(ask_depth, rel=1e-12)
    assert last["bid_depth_usd"] > bid * last["bid_sz"]


# ---------------------------------------------------------------------------------------
# Small recordings written here
# ---------------------------------------------------------------------------------------

S0 = 1786310819.0


def _recording(path: Path, messages: list[tuple[float, dict]], *, spot: bool = False) -> Path:
    lines = [
        {"t": "header", "format": 2, "exchange": "BYBIT"},
        {"t": "connect", "conn": "c1", "ts": S0, "addr": "wss://stream.bybit.com/v5/public/linear"},
        {"t": "connect", "conn": "c2", "ts": S0, "addr": "wss://stream.bybit.com/v5/public/spot"},
    ]
    for ts, msg in messages:
        lines.append({"t": "recv", "conn": "c1", "ts": ts, "data": json.dumps(msg)})
    if spot:
        lines.append({"t": "recv", "conn": "c2", "ts": S0 + 9, "data": json.dumps({"topic": "x"})})
    path.write_text("\n".join(json.dumps(x) for x in lines) + "\n")
    return path


def _ticker(kind: str, ms: int, **fields: str) -> dict:
    return {"topic": "tickers.BTCUSDT", "type": kind, "data": fields, "ts": ms}


def _book(kind: str, u: int, bids: list, asks: list) -> dict:
    return {
        "topic": "orderbook.50.BTCUSDT",
        "type": kind,
        "ts": 1,
        "data": {"s": "BTCUSDT", "b": bids, "a": asks, "u": u},
    }


FULL = {
    "bid1Price": "100.00",
    "bid1Size": "2",
    "ask1Price": "100.01",
    "ask1Size": "3",
    "markPrice": "100.005",
    "fundingRate": "-0.0002",
    "nextFundingTime": "1786320000000",
    "fundingIntervalHour": "4",
    "openInterest": "10",
}


def test_sequence_gap_is_reported_and_resynced(tmp_path, caplog):
    ms = 1786310818000
    book = [["100.00", "2"], ["99.99", "5"]], [["100.01", "3"], ["100.02", "1"]]
    src = _recording(
        tmp_path / "rec.jsonl",
        [
            (S0 + 0.1, _ticker("snapshot", ms, **FULL)),  # no book yet: L1 depth
            (S0 + 0.2, _book("snapshot", 1, *book)),
            (S0 + 0.3, _book("delta", 2, [["99.99", "6"]], [])),
            (S0 + 0.4, _ticker("delta", ms + 100, bid1Size="2")),  # from the book
            (S0 + 0.5, _book("delta", 4, [["99.99", "7"]], [])),  # u 3 is missing: a gap
            (S0 + 0.6, _ticker("delta", ms + 200, markPrice="100.006")),  # L1 (gap)
            (S0 + 0.7, _book("snapshot", 10, *book)),  # resync
            (S0 + 0.8, _ticker("delta", ms + 300, ask1Size="4")),
        ],
        spot=True,
    )
    out = tmp_path / "ds"
    with caplog.at_level(logging.WARNING):
        summary = import_bybit_ws([src], out)
    assert "order-book sequence gap (expected u 3, got 4)" in caplog.text
    m = summary.market("bybit", "BTC")
    (gap,) = m.gaps
    assert (gap.expected_id, gap.got_id, gap.resynced) == (3, 4, True)
    assert gap.start_ts_local == receive_ts_ns(S0 + 0.5)
    assert gap.end_ts_local == receive_ts_ns(S0 + 0.7)
    assert gap.line == 8 and gap.source == str(src)
    assert (m.depth_l1_unsynced, m.depth_from_book, m.depth_l1_gap) == (1, 2, 1)
    assert summary.skipped["spot stream"] == 1
    t = _frame(out, "tickers")
    assert t["bid_depth_usd"].tolist() == pytest.approx(
        [200.0, 200.0 + 99.99 * 6, 200.0, 200.0 + 99.99 * 5]
    )
    assert t["ask_depth_usd"].tolist() == pytest.approx(
        [300.03, 300.03 + 100.02, 300.03, 400.04 + 100.02]
    )
    assert (t["funding_interval_s"] == 14_400).all()
    assert t["open_interest_usd"].tolist() == pytest.approx([1000.05, 1000.05, 1000.06, 1000.06])
    # The recording has no trades: the only problem is the absent required table.
    assert [p.table for p in spreadarb.validate(out)] == ["trades"]


def test_trades_liquidations_and_incomplete_tickers(tmp_path):
    ms = 1786310818000
    trade = {"T": ms, "s": "BTCUSDT", "S": "Buy", "v": "0.5", "p": "100.01", "BT": False}
    src = _recording(
        tmp_path / "rec.jsonl",
        [
            (S0 + 0.1, _ticker("delta", ms, bid1Price="100")),  # incomplete: counted
            (S0 + 0.2, {"topic": "publicTrade.BTCUSDT", "type": "snapshot", "data": [trade]}),
            (
                S0 + 0.3,
                {
                    "topic": "publicTrade.BTCUSDT",
                    "type": "snapshot",
                    "data": [{**trade, "BT": True}, {**trade, "S": "Sell", "p": "100.00"}],
                },
            ),
            (
                S0 + 0.4,
                {
                    "topic": "allLiquidation.BTCUSDT",
                    "type": "snapshot",
                    "data": [{"T": ms, "s": "BTCUSDT", "S": "Buy", "v": "1.5", "p": "99.5"}],
                },
            ),
            (S0 + 0.5, {"success": True, "op": "subscribe"}),
        ],
    )
    out = tmp_path / "ds"
    summary = import_bybit_ws([src], out)
    m = summary.market("bybit", "BTC")
    assert dict(m.skipped) == {"ticker_incomplete": 1, "block_trade": 1}
    assert summary.skipped["control message"] == 1
    trades = _frame(out, "trades")
    assert trades["side"].tolist() == [1, -1]
    assert trades["px"].tolist() == [100.01, 100.0]
    liq = _frame(out, "liquidations")
    assert liq["side"].tolist() == [-1]  # Buy: a long position was liquidated
    assert liq["sz"].tolist() == [1.5]


def test_backwards_time_and_bad_lines_name_the_line(tmp_path):
    ms = 1786310818000
    src = _recording(
        tmp_path / "rec.jsonl",
        [
            (S0 + 0.2, _ticker("snapshot", ms, **FULL)),
            (S0 + 0.1, _ticker("delta", ms, bid1Size="1")),
        ],
    )
    with pytest.raises(ValueError, match=r"rec\.jsonl:5: ts_local .* earlier"):
        import_bybit_ws([src], tmp_path / "a")
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"t": "header"}\n{not json\n')
    with pytest.raises(ValueError, match=r"bad\.jsonl:2: unreadable line"):
        import_bybit_ws([bad], tmp_path / "b")


def test_receive_time_is_exact():
    assert receive_ts_ns("1786310819.526357") == 1_786_310_819_526_357_000
    assert receive_ts_ns("1786310819.5265942") == 1_786_310_819_526_594_200
    with pytest.raises(ValueError, match="not a number of seconds"):
        receive_ts_ns("soon")


@needs_realdata
def test_cli(tmp_path, capsys):
    out = tmp_path / "ds"
    assert main(["import", "bybit-ws", str(BYBIT), "--out", str(out), "--no-progress"]) == 0
    text = capsys.readouterr().out
    assert "bybit/BTC (BTCUSDT): tickers 185" in text and "spot stream 681" in text
