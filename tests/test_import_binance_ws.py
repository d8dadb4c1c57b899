"""The Binance websocket importer: real recordings in, a valid dataset out, gaps reported."""

from __future__ import annotations

import argparse
import gzip
import json
import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import spreadarb
from spreadarb.importers import import_binance_ws
from spreadarb.importers.binance_ws import add_cli, canonical_symbol, contract_size_usd

REALDATA = Path(__file__).resolve().parents[1].parent / "shared" / "realdata" / "hftbacktest"
USDM_BTC = REALDATA / "usdm" / "btcusdt_20240808.gz"
CM_BTC = REALDATA / "cm" / "btcusd_perp_20240808.gz"
needs_realdata = pytest.mark.skipif(
    not REALDATA.is_dir(),
    reason=f"real recordings not found at {REALDATA} (shared/realdata is absent on this machine)",
)

T0 = int(pd.Timestamp("2024-08-08T12:00:00", tz="UTC").value)
MS = 1_000_000
EIGHT_H = 8 * 3600 * 10**9


# ---------------------------------------------------------------------------------------
# Real recordings
# ---------------------------------------------------------------------------------------


def _raw_messages(path: Path) -> dict[str, list[tuple[int, dict]]]:
    """bookTicker and trade messages of a recording, with their receive times, in order."""
    out: dict[str, list[tuple[int, dict]]] = {"bookTicker": [], "trade": [], "all": []}
    with gzip.open(path, "rt") as f:
        for line in f:
            ts, _, payload = line.partition(" ")
            msg = json.loads(payload)
            out["all"].append((int(ts), msg))
            event = msg.get("data", {}).get("e")
            if event in ("bookTicker", "trade"):
                out[event].append((int(ts), msg["data"]))
    return out


@pytest.fixture(scope="module")
def real(tmp_path_factory):
    """Both BTC perpetuals (USDⓈ-M and COIN-M) imported together, plus their raw messages."""
    if not REALDATA.is_dir():
        pytest.skip(f"real recordings not found at {REALDATA}")
    out = tmp_path_factory.mktemp("binance_btc")
    summary = import_binance_ws([USDM_BTC, CM_BTC], out)
    return {
        "out": out,
        "summary": summary,
        "dataset": spreadarb.load(out),
        "usdm": _raw_messages(USDM_BTC),
        "cm": _raw_messages(CM_BTC),
    }


@needs_realdata
def test_real_import_is_valid_and_loads(real):
    assert spreadarb.validate(real["out"]) == []
    ds = real["dataset"]
    assert ds.markets() == [("binance", "BTC"), ("binance_cm", "BTC")]
    summary = real["summary"]
    assert [(m.exchange, m.symbol, m.venue_symbol) for m in summary.markets] == [
        ("binance", "BTC", "BTCUSDT"),
        ("binance_cm", "BTC", "BTCUSD_PERP"),
    ]
    assert summary.skipped == {}
    assert summary.gaps == ()
    assert summary.duplicates == 0


@needs_realdata
@pytest.mark.parametrize(("key", "exchange"), [("usdm", "binance"), ("cm", "binance_cm")])
def test_real_rows_match_the_raw_messages(real, key, exchange):
    raw = real[key]
    market = real["summary"].market(exchange, "BTC")
    view = real["dataset"].market(exchange, "BTC")
    # One row per message (the recordings have no duplicate rows to merge).
    assert market.tickers == len(raw["bookTicker"]) == view.tickers["ts_local"].size
    assert market.trades == len(raw["trade"]) == view.trades["ts_local"].size
    assert market.ticker_duplicates == market.trade_duplicates == 0

    cs = 100.0 if key == "cm" else None
    t = view.tickers
    ts = np.array([ts for ts, _ in raw["bookTicker"]], dtype=np.int64)
    msgs = [d for _, d in raw["bookTicker"]]
    bid = np.array([float(d["b"]) for d in msgs])
    ask = np.array([float(d["a"]) for d in msgs])
    bid_q = np.array([float(d["B"]) for d in msgs])
    ask_q = np.array([float(d["A"]) for d in msgs])
    np.testing.assert_array_equal(t["ts_local"], ts)
    np.testing.assert_array_equal(t["ts_exchange"], np.array([d["E"] for d in msgs]) * MS)
    np.testing.assert_array_equal(t["bid_px"], bid)
    np.testing.assert_array_equal(t["ask_px"], ask)
    if cs is None:
        np.testing.assert_array_equal(t["bid_sz"], bid_q)
        np.testing.assert_array_equal(t["ask_sz"], ask_q)
    else:  # COIN-M: contracts of 100 USD -> BTC
        np.testing.assert_allclose(t["bid_sz"], bid_q * cs / bid, rtol=1e-12)
        np.testing.assert_allclose(t["ask_sz"], ask_q * cs / ask, rtol=1e-12)
        np.testing.assert_allclose(t["bid_px"] * t["bid_sz"], bid_q * 100.0, rtol=1e-12)

    tr = view.trades
    tmsgs = [d for _, d in raw["trade"]]
    px = np.array([float(d["p"]) for d in tmsgs])
    qty = np.array([float(d["q"]) for d in tmsgs])
    maker = np.array([d["m"] for d in tmsgs])
    np.testing.assert_array_equal(tr["ts_local"], [ts for ts, _ in raw["trade"]])
    np.testing.assert_array_equal(tr["ts_exchange"], np.array([d["T"] for d in tmsgs]) * MS)
    np.testing.assert_array_equal(tr["px"], px)
    np.testing.assert_allclose(tr["sz"], qty if cs is None else qty * cs / px, rtol=1e-12)
    # m true: the buyer was the maker, so the aggressor sold.
    np.testing.assert_array_equal(tr["side"], np.where(maker, -1, 1))
    assert set(np.unique(tr["side"])) == {-1, 1}


@needs_realdata
def test_real_spot_checks(real):
    """A few rows compared by hand with the raw JSON lines."""
    view = real["dataset"].market("binance_cm", "BTC")
    ts, d = real["cm"]["trade"][0]
    row = {k: v[0] for k, v in view.trades.items()}
    assert row["ts_local"] == ts
    assert row["px"] == float(d["p"])
    assert row["sz"] == pytest.approx(float(d["q"]) * 100 / float(d["p"]), rel=1e-12)
    assert row["side"] == (-1 if d["m"] else 1)

    view = real["dataset"].market("binance", "BTC")
    for i in (0, 1000, -1):
        ts, d = real["usdm"]["bookTicker"][i]
        assert view.tickers["ts_local"][i] == ts
        assert view.tickers["ts_exchange"][i] == d["E"] * MS
        assert (view.tickers["bid_px"][i], view.tickers["bid_sz"][i]) == (
            float(d["b"]),
            float(d["B"]),
        )
        assert (view.tickers["ask_px"][i], view.tickers["ask_sz"][i]) == (
            float(d["a"]),
            float(d["A"]),
        )


@needs_realdata
def test_real_depth_and_funding_columns(real):
    summary = real["summary"]
    for exchange in ("binance", "binance_cm"):
        t = real["dataset"].market(exchange, "BTC").tickers
        m = summary.market(exchange, "BTC")
        # Depth within 2 bps is at least the L1 notional, and deeper once the book is synced.
        l1_bid, l1_ask = t["bid_px"] * t["bid_sz"], t["ask_px"] * t["ask_sz"]
        assert np.all(t["bid_depth_usd"] >= l1_bid * (1 - 1e-12))
        assert np.all(t["ask_depth_usd"] >= l1_ask * (1 - 1e-12))
        deeper = (t["bid_depth_usd"] > l1_bid * (1 + 1e-9)).mean()
        assert deeper > 0.5
        # The book syncs once, right after the REST snapshot; only the first rows are L1.
        assert m.snapshots == m.snapshots_used == 1
        assert m.depth_l1_gap == 0
        assert 0 < m.depth_l1_unsynced < 50
        assert m.depth_from_book + m.depth_l1_unsynced == m.tickers
        assert m.diffs == m.diffs_applied + m.diffs_stale
        np.testing.assert_array_equal(
            t["bid_depth_usd"][: m.depth_l1_unsynced], l1_bid[: m.depth_l1_unsynced]
        )
        # No funding stream: placeholders, documented.
        assert m.funding_placeholder_rows == m.tickers
        assert np.all(t["funding_rate"] == 0.0)
        assert np.all(t["funding_interval_s"] == 28_800)
        assert np.all(t["next_funding_ts"] % EIGHT_H == 0)
        wait = t["next_funding_ts"] - t["ts_exchange"]
        assert np.all((wait > 0) & (wait <= EIGHT_H))
        for column in ("mark_px", "predicted_funding_rate", "open_interest_usd"):
            assert np.all(np.isnan(t[column]))


def _independent_depth(
    raw_all: list[tuple[int, dict]], every: int
) -> list[tuple[int, float, float]]:
    """Depth within 2 bps recomputed with plain dicts for every ``every``-th synced ticker."""
    bids: dict[float, float] = {}
    asks: dict[float, float] = {}
    buffered: list[tuple[int, dict]] = []
    synced = False
    last_u = 0
    out = []
    n_ticker = -1
    for ts, msg in raw_all:
        if "lastUpdateId" in msg:
            bids = {float(p): float(q) for p, q in msg["bids"]}
            asks = {float(p): float(q) for p, q in msg["asks"]}
            pending = [d for _, d in buffered if d["u"] >= msg["lastUpdateId"]]
            assert pending[0]["U"] <= msg["lastUpdateId"] <= pending[0]["u"]
            updates = pending
            synced = True
        else:
            d = msg["data"]
            if d["e"] == "bookTicker":
                n_ticker += 1
                if synced and n_ticker % every == 0:
                    b, a = float(d["b"]), float(d["a"])
                    bid = sum(p * q for p, q in bids.items() if b * (1 - 2e-4) <= p < b)
                    ask = sum(p * q for p, q in asks.items() if a < p <= a * (1 + 2e-4))
                    bid += b * float(d["B"])
                    ask += a * float(d["A"])
                    out.append((n_ticker, bid, ask))
                continue
            if d["e"] != "depthUpdate":
                continue
            if not synced:
                buffered.append((ts, d))
                continue
            updates = [d]
        for u in updates:
            if last_u:
                assert u["pu"] == last_u
            last_u = u["u"]
            for side, levels in ((bids, u["b"]), (asks, u["a"])):
                for p, q in levels:
                    if float(q) == 0.0:
                        side.pop(float(p), None)
                    else:
                        side[float(p)] = float(q)
    return out


@needs_realdata
def test_real_depth_matches_an_independent_book(real):
    t = real["dataset"].market("binance", "BTC").tickers
    checks = _independent_depth(real["usdm"]["all"], every=997)
    assert len(checks) > 50
    for i, bid, ask in checks:
        assert t["bid_depth_usd"][i] == pytest.approx(bid, rel=1e-9)
        assert t["ask_depth_usd"][i] == pytest.approx(ask, rel=1e-9)


@needs_realdata
def test_real_markets_overlap(real):
    start, end = real["summary"].common_window([("binance", "BTC"), ("binance_cm", "BTC")])
    assert 340 < (end - start) / 1e9 < 346  # README: the BTC markets overlap for about 344 s
    first, last = real["summary"].time_range()
    assert pd.Timestamp(first, tz="UTC").strftime("%F %H:%M") == "2024-08-08 23:54"
    assert pd.Timestamp(last, tz="UTC").strftime("%F %H:%M") == "2024-08-08 23:59"


@needs_realdata
def test_real_small_flushes_give_the_same_data(real, tmp_path):
    summary = import_binance_ws([CM_BTC], tmp_path, flush_rows=4_000)
    assert len(summary.files) > 4
    assert spreadarb.validate(tmp_path) == []
    small = spreadarb.load(tmp_path).market("binance_cm", "BTC")
    whole = real["dataset"].market("binance_cm", "BTC")
    for table in ("tickers", "trades"):
        for column, values in getattr(whole, table).items():
            np.testing.assert_array_equal(getattr(small, table)[column], values)


@needs_realdata
def test_real_spot_recording_is_refused(tmp_path):
    with pytest.raises(ValueError, match=r"btcusdt_20240808\.gz:1: .*spot"):
        import_binance_ws([REALDATA / "spot" / "btcusdt_20240808.gz"], tmp_path)


# ---------------------------------------------------------------------------------------
# Crafted recordings
# ---------------------------------------------------------------------------------------


def _write(path: Path, lines: list[tuple[int, dict]]) -> Path:
    text = "".join(f"{ts} {json.dumps(msg)}\n" for ts, msg in lines)
    if path.suffix == ".gz":
        path.write_bytes(gzip.compress(text.encode()))
    else:
        path.write_text(text)
    return path


def _stream(symbol: str, kind: str, data: dict) -> dict:
    return {"stream": f"{symbol.lower()}@{kind}", "data": data}


def bt(ts: int, b: str, bq: str, a: str, aq: str, symbol: str = "BTCUSDT") -> tuple[int, dict]:
    e = (ts + 1_300 * MS) // MS
    data = {"e": "bookTicker", "u": 1, "s": symbol, "b": b, "B": bq, "a": a, "A": aq}
    return ts, _stream(symbol, "bookTicker", data | {"T": e - 1, "E": e})


def trade(ts: int, p: str, q: str, m: bool, symbol: str = "BTCUSDT") -> tuple[int, dict]:
    e = (ts + 1_300 * MS) // MS
    data = {"e": "trade", "E": e, "T": e, "s": symbol, "t": 1, "p": p, "q": q, "X": "MARKET"}
    return ts, _stream(symbol, "trade", data | {"m": m})


def diff(
    ts: int, first: int, last: int, prev: int, bids=(), asks=(), symbol: str = "BTCUSDT"
) -> tuple[int, dict]:
    e = (ts + 1_300 * MS) // MS
    data = {"e": "depthUpdate", "E": e, "T": e, "s": symbol, "U": first, "u": last}
    data |= {"pu": prev, "b": [list(x) for x in bids], "a": [list(x) for x in asks]}
    return ts, _stream(symbol, "depth@0ms", data)


def snapshot(ts: int, last_id: int, bids, asks, symbol: str | None = None) -> tuple[int, dict]:
    msg = {"lastUpdateId": last_id, "E": 0, "T": 0}
    if symbol:
        msg["symbol"] = symbol
    return ts, msg | {"bids": [list(x) for x in bids], "asks": [list(x) for x in asks]}


BOOK_BIDS = [("100.00", "1"), ("99.99", "2"), ("99.98", "3"), ("99.97", "4")]
BOOK_ASKS = [("100.01", "1"), ("100.02", "2"), ("100.03", "3"), ("100.04", "4")]
S = 10**9


def _gap_file(tmp_path: Path, *, resync: bool) -> Path:
    lines = [
        bt(T0, "100.00", "1", "100.01", "1"),  # before any book: L1
        trade(T0, "100.01", "0.5", False),  # (the contract requires a trades table)
        diff(T0 + 1 * S, 90, 100, 89, bids=[("99.99", "5")]),  # buffered, joins L=95
        snapshot(T0 + 2 * S, 95, BOOK_BIDS, BOOK_ASKS),
        diff(T0 + 3 * S, 101, 110, 100, asks=[("100.02", "6")]),
        bt(T0 + 4 * S, "100.00", "1", "100.01", "1"),  # from the book
        diff(T0 + 5 * S, 120, 130, 115, bids=[("99.98", "7")]),  # gap: pu 115 != 110
        bt(T0 + 6 * S, "100.00", "1", "100.01", "1"),  # L1 (gap)
        diff(T0 + 7 * S, 131, 140, 130, bids=[("99.98", "8")]),
    ]
    if resync:
        lines += [
            snapshot(T0 + 8 * S, 135, BOOK_BIDS, BOOK_ASKS),  # joins the diff 131..140
            bt(T0 + 9 * S, "100.00", "1", "100.01", "1"),  # from the book again
        ]
    else:
        lines += [bt(T0 + 9 * S, "100.00", "1", "100.01", "1")]
    return _write(tmp_path / "gap.gz", lines)


def test_sequence_gap_is_reported_and_resynced(tmp_path, caplog):
    src = _gap_file(tmp_path, resync=True)
    with caplog.at_level(logging.WARNING, logger="spreadarb.importers.binance_ws"):
        summary = import_binance_ws([src], tmp_path / "out")
    assert spreadarb.validate(tmp_path / "out") == []
    m = summary.market("binance", "BTC")
    assert m.depth_l1_unsynced == 1
    assert m.depth_l1_gap == 1
    assert m.depth_from_book == 2
    assert m.snapshots == m.snapshots_used == 2
    (gap,) = summary.gaps
    assert gap.reason == "pu_mismatch"
    assert (gap.expected_id, gap.got_id) == (110, 115)
    assert (gap.first_update_id, gap.final_update_id) == (120, 130)
    assert (gap.start_ts_local, gap.end_ts_local) == (T0 + 5 * S, T0 + 8 * S)
    assert gap.resynced and gap.duration_s == 3.0
    assert (gap.source, gap.line) == (str(src), 7)
    assert "sequence gap" in caplog.text and "pu_mismatch" in caplog.text
    assert "gap" in str(summary)

    t = spreadarb.load(tmp_path / "out").market("binance", "BTC").tickers
    # Row 1: L1 (100) + 99.99 x 5 (diff before the snapshot, replayed) + 99.98 x 3 (exactly
    # 2 bps away: inside); 99.97 is 3 bps away. Asks: L1 100.01 + 100.02 x 6 (diff 101..110)
    # + 100.03 x 3 (100.01 + 2 bps = 100.030002). Row 3: the second snapshot plus the
    # buffered diff 131..140 (99.98 -> 8); the diff 120..130 is older than it (stale).
    expected_bid = [100.0, 100 + 99.99 * 5 + 99.98 * 3, 100.0, 100 + 99.99 * 2 + 99.98 * 8]
    np.testing.assert_allclose(t["bid_depth_usd"], expected_bid, rtol=1e-12)
    book_ask = 100.01 + 100.02 * 6 + 100.03 * 3
    np.testing.assert_allclose(t["ask_depth_usd"][:3], [100.01, book_ask, 100.01], rtol=1e-12)
    assert m.diffs_stale == 1


def test_gap_without_resync_lasts_to_the_end(tmp_path):
    summary = import_binance_ws([_gap_file(tmp_path, resync=False)], tmp_path / "out")
    m = summary.market("binance", "BTC")
    assert (m.depth_from_book, m.depth_l1_gap, m.depth_l1_unsynced) == (1, 2, 1)
    (gap,) = m.gaps
    assert not gap.resynced
    assert (gap.start_ts_local, gap.end_ts_local) == (T0 + 5 * S, T0 + 9 * S)
    assert spreadarb.validate(tmp_path / "out") == []


def test_snapshot_that_does_not_join_the_stream_is_a_gap(tmp_path):
    src = _write(
        tmp_path / "a.txt",
        [
            diff(T0, 60, 70, 59),
            snapshot(T0 + S, 50, BOOK_BIDS, BOOK_ASKS),  # diffs 51..59 are missing
            bt(T0 + 2 * S, "100.00", "1", "100.01", "1"),
        ],
    )
    summary = import_binance_ws([src], tmp_path / "out")
    (gap,) = summary.gaps
    assert gap.reason == "snapshot_not_connected"
    assert (gap.expected_id, gap.got_id) == (50, 60)
    assert summary.market("binance", "BTC").depth_l1_gap == 1


def test_missing_snapshot_falls_back_to_l1(tmp_path, caplog):
    src = _write(
        tmp_path / "a.gz",
        [
            diff(T0, 90, 100, 89, bids=[("99.99", "5")]),
            trade(T0, "100.01", "0.5", False),
            bt(T0 + S, "100.00", "2", "100.01", "3"),
            diff(T0 + 2 * S, 101, 110, 100),
            bt(T0 + 3 * S, "100.00", "1", "100.01", "1"),
        ],
    )
    with caplog.at_level(logging.WARNING, logger="spreadarb.importers.binance_ws"):
        summary = import_binance_ws([src], tmp_path / "out")
    m = summary.market("binance", "BTC")
    assert (m.snapshots, m.depth_from_book, m.depth_l1_unsynced) == (0, 0, 2)
    assert summary.gaps == ()
    assert "no REST depth snapshot" in caplog.text
    t = spreadarb.load(tmp_path / "out").market("binance", "BTC").tickers
    np.testing.assert_allclose(t["bid_depth_usd"], [200.0, 100.0])
    np.testing.assert_allclose(t["ask_depth_usd"], [300.03, 100.01])


def test_duplicates_are_merged(tmp_path):
    src = _write(
        tmp_path / "a.gz",
        [
            bt(T0, "100.00", "1", "100.01", "1"),
            bt(T0, "100.00", "2", "100.01", "1"),
            bt(T0, "100.00", "1", "100.01", "1"),  # repeats row 1: the later one is kept
            trade(T0, "100.01", "1", False),
            trade(T0, "100.01", "1", False),
            trade(T0, "100.01", "2", False),  # after merging the two 1s it repeats them
            trade(T0, "100.00", "1", True),
            trade(T0 + 1, "100.01", "1", False),  # another ts_local: not a duplicate
        ],
    )
    summary = import_binance_ws([src], tmp_path / "out")
    m = summary.market("binance", "BTC")
    assert (m.tickers, m.ticker_duplicates) == (2, 1)
    assert (m.trades, m.trade_duplicates) == (3, 2)
    assert spreadarb.validate(tmp_path / "out") == []
    view = spreadarb.load(tmp_path / "out").market("binance", "BTC")
    np.testing.assert_array_equal(view.tickers["bid_sz"], [2.0, 1.0])
    np.testing.assert_array_equal(view.trades["sz"], [4.0, 1.0, 1.0])
    np.testing.assert_array_equal(view.trades["side"], [1, -1, 1])


def test_ts_local_going_backwards_raises(tmp_path):
    src = _write(
        tmp_path / "a.gz",
        [
            trade(T0 + S, "100.01", "1", False),
            bt(T0, "100.00", "1", "100.01", "1"),  # another table: fine
            trade(T0, "100.01", "1", False),  # earlier than the previous trade
        ],
    )
    with pytest.raises(ValueError, match=r"a\.gz:3: ts_local .* trades row .* backwards"):
        import_binance_ws([src], tmp_path / "out")


def test_coin_margined_sizes_and_names(tmp_path):
    assert canonical_symbol("BTCUSDT") == ("BTC", False)
    assert canonical_symbol("1000PEPEUSDT") == ("1000PEPE", False)
    assert canonical_symbol("ethusd_perp") == ("ETH", True)
    with pytest.raises(ValueError, match="BTCUSD_240927"):
        canonical_symbol("BTCUSD_240927")
    assert contract_size_usd("BTC") == 100.0
    assert contract_size_usd("ETH") == 10.0
    assert contract_size_usd("ETH", {"ETH": 5}) == 5.0

    src = _write(
        tmp_path / "cm.gz",
        [
            bt(T0, "2500.00", "100", "2500.01", "3", symbol="ETHUSD_PERP"),
            trade(T0 + 1, "2500.00", "7", True, symbol="ETHUSD_PERP"),
            bt(T0 + 2, "60000.0", "6", "60000.1", "1", symbol="BTCUSD_PERP"),
        ],
    )
    summary = import_binance_ws([src], tmp_path / "out")
    assert {(m.exchange, m.symbol, m.contract_size_usd) for m in summary.markets} == {
        ("binance_cm", "BTC", 100.0),
        ("binance_cm", "ETH", 10.0),
    }
    ds = spreadarb.load(tmp_path / "out")
    eth = ds.market("binance_cm", "ETH")
    assert eth.tickers["bid_sz"][0] == pytest.approx(100 * 10 / 2500)
    assert eth.tickers["bid_depth_usd"][0] == pytest.approx(1000.0)
    assert eth.trades["sz"][0] == pytest.approx(7 * 10 / 2500)
    assert eth.trades["side"][0] == -1
    assert ds.market("binance_cm", "BTC").tickers["bid_sz"][0] == pytest.approx(600 / 60000)


def test_symbol_filter_exchange_and_collisions(tmp_path):
    lines = [
        bt(T0, "100.00", "1", "100.01", "1", symbol="BTCUSDT"),
        bt(T0 + 1, "10.00", "1", "10.01", "1", symbol="ETHUSDT"),
        bt(T0 + 2, "100.00", "1", "100.01", "1", symbol="BTCUSDC"),
    ]
    src = _write(tmp_path / "a.gz", lines)
    with pytest.raises(ValueError, match="BTCUSDC and BTCUSDT would both be market binance/BTC"):
        import_binance_ws([src], tmp_path / "x")
    summary = import_binance_ws([src], tmp_path / "eth", symbol="eth")
    assert [m.venue_symbol for m in summary.markets] == ["ETHUSDT"]
    assert summary.skipped == {"other symbol": 2}
    summary = import_binance_ws([src], tmp_path / "usdc", symbol="BTCUSDC", exchange="binance_usdc")
    assert [(m.exchange, m.symbol) for m in summary.markets] == [("binance_usdc", "BTC")]
    with pytest.raises(ValueError, match="invalid exchange name"):
        import_binance_ws([src], tmp_path / "y", exchange="Binance")
    with pytest.raises(FileNotFoundError):
        import_binance_ws([tmp_path / "missing.gz"], tmp_path / "y")


def test_mark_price_and_liquidations(tmp_path):
    mark = {
        "e": "markPriceUpdate",
        "E": 1,
        "s": "BTCUSDT",
        "p": "100.005",
        "i": "100.0",
        "P": "100.0",
        "r": "0.00012",
        "T": (T0 + 4 * 3600 * S) // MS,
    }
    force = {
        "e": "forceOrder",
        "E": 1,
        "o": {"s": "BTCUSDT", "S": "SELL", "o": "LIMIT", "q": "0.5", "p": "99.0"}
        | {"ap": "99.50", "X": "FILLED", "l": "0.5", "z": "0.5", "T": 1},
    }
    src = _write(
        tmp_path / "a.gz",
        [
            bt(T0, "100.00", "1", "100.01", "1"),
            trade(T0, "100.01", "0.5", False),
            (T0 + 1, _stream("btcusdt", "markPrice@1s", mark)),
            bt(T0 + 2, "100.00", "1", "100.01", "1"),
            (T0 + 3, _stream("btcusdt", "forceOrder", force)),
            (T0 + 4, _stream("btcusdt", "aggTrade", {"e": "aggTrade", "s": "BTCUSDT"})),
        ],
    )
    summary = import_binance_ws([src], tmp_path / "out")
    m = summary.market("binance", "BTC")
    assert (m.funding_placeholder_rows, m.mark_price_updates, m.liquidations) == (1, 1, 1)
    assert summary.skipped == {"event aggTrade": 1}
    assert spreadarb.validate(tmp_path / "out") == []
    view = spreadarb.load(tmp_path / "out").market("binance", "BTC")
    t = view.tickers
    assert np.isnan(t["mark_px"][0]) and t["mark_px"][1] == 100.005
    np.testing.assert_array_equal(t["funding_rate"], [0.0, 0.00012])
    assert t["next_funding_ts"][1] == T0 + 4 * 3600 * S
    assert t["next_funding_ts"][0] == int(pd.Timestamp("2024-08-08T16:00", tz="UTC").value)
    liq = view.liquidations
    assert (liq["px"][0], liq["sz"][0], liq["side"][0]) == (99.5, 0.5, -1)


def test_snapshot_without_symbol_is_attributed_to_its_file(tmp_path):
    """A USDⓈ-M snapshot names no symbol: it belongs to the file's only market."""
    src = _write(
        tmp_path / "a.gz",
        [
            snapshot(T0, 95, BOOK_BIDS, BOOK_ASKS),  # before any message names the market
            diff(T0 + S, 90, 100, 89),
            bt(T0 + 2 * S, "100.00", "1", "100.01", "1"),
        ],
    )
    m = import_binance_ws([src], tmp_path / "out").market("binance", "BTC")
    assert (m.snapshots_used, m.depth_from_book) == (1, 1)

    two = _write(
        tmp_path / "b.gz",
        [
            diff(T0, 90, 100, 89),
            diff(T0 + 1, 90, 100, 89, symbol="ETHUSDT"),
            snapshot(T0 + S, 95, BOOK_BIDS, BOOK_ASKS),
        ],
    )
    summary = import_binance_ws([two], tmp_path / "out2")
    assert summary.skipped == {"unattributed snapshot": 1}


def test_cli_command(tmp_path, capsys):
    parser = argparse.ArgumentParser(prog="spreadarb")
    sub = parser.add_subparsers(dest="command", required=True)
    importers = sub.add_parser("import").add_subparsers(dest="importer", required=True)
    add_cli(importers)
    src = _gap_file(tmp_path, resync=True)
    args = parser.parse_args(["import", "binance-ws", str(src), "--out", str(tmp_path / "o")])
    assert args.func(args) == 0
    printed = capsys.readouterr().out
    assert "binance/BTC (BTCUSDT" in printed and "pu_mismatch" in printed
    assert spreadarb.validate(tmp_path / "o") == []


def test_reimport_is_a_noop_and_plain_text_is_read(tmp_path):
    lines = [bt(T0, "100.00", "1", "100.01", "1"), trade(T0 + 1, "100.01", "1", False)]
    src = _write(tmp_path / "a.txt", lines)  # not gzip
    first = import_binance_ws([src], tmp_path / "out")
    again = import_binance_ws([src], tmp_path / "out")
    assert first.files == again.files
    assert len(list((tmp_path / "out").rglob("*.parquet"))) == 2
    assert spreadarb.validate(tmp_path / "out") == []
