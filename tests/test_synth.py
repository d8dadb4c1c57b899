"""The synthetic market generator: determinism, the contract, and plausible phenomena."""

from __future__ import annotations

import datetime as dt
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import spreadarb
from spreadarb.data.contract import TABLES
from spreadarb.data.synth import (
    VENUE_PROFILES,
    SynthConfig,
    generate,
    symbol_profile,
    venue_profile,
)
from spreadarb.data.validate import validate
from spreadarb.kernels.synth_nb import ar1_paths
from spreadarb.venues import SEED_VENUES, VENUES

SECOND = 10**9
MINUTE = 60 * SECOND
DEX = ("hyperliquid", "paradex")
SEED = 7


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    """1.5 h, 3 symbols x 8 venues, in 30-minute chunks (state carried across them)."""
    root = tmp_path_factory.mktemp("synth")
    summary = generate(root, seed=SEED, hours=1.5, chunk_s=1800)
    return root, summary, spreadarb.load(root)


def _files(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*.parquet"))


def _mid(view) -> np.ndarray:
    return (view["bid_px"] + view["ask_px"]) / 2.0


def _asof(ts: np.ndarray, values: np.ndarray, at: np.ndarray) -> np.ndarray:
    """Last value at or before each ``at`` (ts sorted; ``at`` after the first ts)."""
    return values[np.searchsorted(ts, at, side="right") - 1]


def _tick(exchange: str, symbol: str) -> float:
    p0 = symbol_profile(symbol).price
    return 10.0 ** (math.floor(math.log10(p0)) - venue_profile(exchange).price_sig_digits + 1)


# -- determinism ------------------------------------------------------------------------


def test_same_seed_gives_byte_identical_files(tmp_path):
    kw = dict(
        seed=3,
        hours=0.25,
        chunk_s=300,
        symbols=("BTC", "ETH"),
        exchanges=("binance", "hyperliquid", "newdex"),
    )
    a = generate(tmp_path / "a", **kw)
    b = generate(tmp_path / "b", **kw)
    files = _files(tmp_path / "a")
    assert files == _files(tmp_path / "b")
    assert len(files) == a.n_files == b.n_files > 0
    for rel in files:
        assert (tmp_path / "a" / rel).read_bytes() == (tmp_path / "b" / rel).read_bytes(), rel
    assert a.rows == b.rows
    c = generate(tmp_path / "c", **{**kw, "seed": 4})
    assert any(
        (tmp_path / "a" / rel).read_bytes() != (tmp_path / "c" / rel).read_bytes()
        for rel in set(files) & set(_files(tmp_path / "c"))
    )
    assert c.n_files > 0


def test_a_market_does_not_depend_on_the_other_markets(tmp_path):
    """Streams are keyed by names: order and selection of the other markets do not matter."""
    kw = dict(seed=11, hours=0.2, chunk_s=240)
    generate(tmp_path / "all", symbols=("ETH", "BTC"), exchanges=("okx", "gate", "binance"), **kw)
    generate(tmp_path / "one", symbols=("BTC",), exchanges=("gate",), **kw)
    whole = spreadarb.load(tmp_path / "all").market("gate", "BTC")
    alone = spreadarb.load(tmp_path / "one").market("gate", "BTC")
    for table in TABLES:
        got, want = getattr(whole, table), getattr(alone, table)
        assert got.keys() == want.keys()
        for column in got:
            np.testing.assert_array_equal(got[column], want[column], err_msg=f"{table}.{column}")


def test_ar1_kernel_matches_its_python_body():
    rng = np.random.default_rng(0)
    x0, phi, eps = rng.normal(size=3), np.array([0.0, 0.5, 0.99]), rng.normal(size=(3, 50))
    out = ar1_paths(x0, phi, eps)
    np.testing.assert_allclose(out, ar1_paths.py_func(x0, phi, eps), rtol=0, atol=1e-12)
    expect = np.empty(50)
    x = x0[2]
    for i in range(50):
        x = phi[2] * x + eps[2, i]
        expect[i] = x
    np.testing.assert_allclose(out[2], expect, rtol=0, atol=1e-12)


# -- the contract -----------------------------------------------------------------------


def test_files_have_exact_contract_dtypes_and_validate(sample):
    root, summary, _ = sample
    assert validate(root) == []
    seen = set()
    for path in sorted(root.rglob("*.parquet")):
        table = path.relative_to(root).parts[0]
        seen.add(table)
        data = pq.read_table(path)
        spec = TABLES[table]
        assert data.column_names[: len(spec.columns)] == list(spec.column_names)
        for column in spec.columns:
            assert data.schema.field(column.name).type == column.kind.arrow_type, column.name
            assert data.column(column.name).null_count == 0, column.name
        for name in ("bid_px", "ask_px", "px", "sz", "mark_px", "funding_rate"):
            if name in data.column_names:
                assert np.isfinite(data.column(name).to_numpy()).all()
    assert seen == set(TABLES)
    assert summary.rows["tickers"] > 0 and summary.rows["trades"] > 0
    assert summary.rows["liquidations"] > 0
    assert summary.end_ns - summary.start_ns == 90 * MINUTE
    assert summary.chunks == 3


def test_row_counts_follow_the_configured_rates(sample):
    _, summary, ds = sample
    seconds, markets = 1.5 * 3600, 24
    assert summary.rows["tickers"] == pytest.approx(seconds * markets * 1.0, rel=0.05)
    # trade intensity follows the (random) volatility: an hour can be busy or quiet
    assert 0.5 < summary.rows["trades"] / (seconds * markets * 2.0) < 2.0
    counts = ds.trades.counts()
    by_venue = {ex: 0 for ex in ds.exchanges}
    for (ex, _), n in zip(ds.markets(), counts, strict=True):
        by_venue[ex] += int(n)
    assert by_venue["binance"] > by_venue["paradex"]  # activity weights


def test_book_is_never_crossed_and_on_the_tick_grid(sample):
    _, _, ds = sample
    for ex, sym in ds:
        v = ds.market(ex, sym).tickers
        tick = _tick(ex, sym)
        assert (v["bid_px"] < v["ask_px"]).all()
        assert (v["ask_px"] - v["bid_px"] >= tick * (1 - 1e-9)).all()
        for col in ("bid_px", "ask_px"):
            k = v[col] / tick
            assert np.abs(k - np.round(k)).max() < 1e-6, (ex, sym, col)
        assert (v["bid_sz"] > 0).all() and (v["ask_sz"] > 0).all()
        assert (v["bid_depth_usd"] >= v["bid_px"] * v["bid_sz"]).all()
        assert (v["ask_depth_usd"] >= v["ask_px"] * v["ask_sz"]).all()
        mark_dev = np.abs(v["mark_px"] / _mid(v) - 1) * 1e4
        assert np.median(mark_dev) < 1.0 and mark_dev.max() < 5.0
        assert (v["open_interest_usd"] > 0).all()


def test_ts_local_is_fifo_and_latency_is_plausible(sample):
    _, _, ds = sample
    medians = {}
    for ex, sym in ds:
        m = ds.market(ex, sym)
        for table in ("tickers", "trades", "liquidations"):
            ts = getattr(m, table)["ts_local"]
            assert (np.diff(ts) > 0).all(), (ex, sym, table)
        for table in ("tickers", "trades"):
            view = getattr(m, table)
            assert (view["ts_local"] >= view["ts_exchange"]).all()
            assert (np.diff(view["ts_exchange"]) >= 0).all()
            assert (view["ts_exchange"] % 1_000_000 == 0).all()  # venues stamp in ms
        lat = (m.tickers["ts_local"] - m.tickers["ts_exchange"]) / 1e6
        medians[ex, sym] = float(np.median(lat))
    for (ex, _), med in medians.items():
        if ex in DEX:
            assert 80 <= med <= 150, (ex, med)
        else:
            assert 10 <= med <= 60, (ex, med)


def test_latency_spikes_and_outages_exist(sample):
    _, _, ds = sample
    spiky_venues, gap_venues = set(), set()
    for ex, sym in ds:
        v = ds.market(ex, sym).tickers
        lat = (v["ts_local"] - v["ts_exchange"]) / 1e6
        spike = lat > 200
        if ex not in DEX:
            assert spike.mean() < 0.05  # episodes, not the normal state
        if spike.any():
            times = v["ts_exchange"][spike]
            # an episode: high latency on rows spanning more than a second
            runs = np.split(times, np.flatnonzero(np.diff(times) > 3 * SECOND) + 1)
            if max(r[-1] - r[0] for r in runs) > SECOND:
                spiky_venues.add(ex)
        gaps = np.diff(v["ts_exchange"])
        if gaps.max() >= 5 * SECOND:
            gap_venues.add(ex)
            # an outage is venue-wide: every symbol of the venue is silent then
            i = int(np.argmax(gaps))
            lo, hi = v["ts_exchange"][i], v["ts_exchange"][i + 1]
            for other in ds.symbols:
                ts = ds.market(ex, other).tickers["ts_exchange"]
                # (the gap also spans up to a ticker interval on either side of the outage)
                inside = (ts > lo + 3 * SECOND) & (ts < hi - 3 * SECOND)
                assert not inside.any(), (ex, sym, other)
    assert len(spiky_venues - set(DEX)) >= 2, spiky_venues
    assert len(gap_venues) >= 1, gap_venues


# -- phenomena --------------------------------------------------------------------------


def _grid(ds, step=SECOND) -> np.ndarray:
    t = ds.tickers["ts_local"]
    return np.arange(t.min() + 10 * SECOND, t.max(), step)


def test_dislocations_open_cross_venue_spreads(sample):
    _, _, ds = sample
    grid = _grid(ds)
    episodes = 0
    for sym in ds.symbols:
        bids, asks = [], []
        for ex in ds.exchanges:
            v = ds.market(ex, sym).tickers
            bids.append(_asof(v["ts_local"], v["bid_px"], grid))
            asks.append(_asof(v["ts_local"], v["ask_px"], grid))
        bid, ask = np.array(bids), np.array(asks)
        mid = np.median((bid + ask) / 2, axis=0)
        spread = (bid.max(axis=0) - ask.min(axis=0)) / mid * 1e4
        assert np.median(spread) < 5.0  # usually no opportunity ...
        assert spread.max() >= 5.0  # ... but there are some
        assert spread.max() < 200.0  # (two opposite dislocations, or a stale quote in a jump)
        wide = spread >= 5.0
        episodes += int(np.count_nonzero(wide[1:] & ~wide[:-1]))
        assert 0.001 < wide.mean() < 0.3
    assert episodes >= 20


def test_depth_levels_and_thinning_in_volatile_moments(sample):
    _, _, ds = sample
    med = {(ex, sym): np.median(ds.market(ex, sym).tickers["bid_depth_usd"]) for ex, sym in ds}
    for ex in ("binance", "bybit", "okx"):
        assert 1e6 <= med[ex, "BTC"] <= 5e6, (ex, med[ex, "BTC"])
    for ex in ds.exchanges:
        if ex not in ("binance", "bybit", "okx"):
            assert med[ex, "BTC"] < med["binance", "BTC"]
        for sym in ("BTC", "ETH"):
            v = ds.market(ex, sym).tickers
            assert np.mean(v["bid_depth_usd"] > 5e4) > 0.75, (ex, sym)
    assert med["paradex", "BTC"] < med["hyperliquid", "BTC"] < med["binance", "BTC"]

    xs, ys = [], []
    for ex, sym in ds:
        v = ds.market(ex, sym).tickers
        minute = (v["ts_local"] - v["ts_local"][0]) // MINUTE
        r2 = np.diff(np.log(_mid(v))) ** 2
        var = np.bincount(minute[1:], r2)
        n = np.bincount(minute)
        depth = np.bincount(minute, np.log(v["bid_depth_usd"] + v["ask_depth_usd"])) / np.maximum(
            n, 1
        )
        ok = n > 30
        lv, ld = np.log(var[ok] + 1e-18), depth[ok]
        xs.append(lv - lv.mean())
        ys.append(ld - ld.mean())
    corr = np.corrcoef(np.concatenate(xs), np.concatenate(ys))[0, 1]
    assert corr < -0.3, corr


def test_trades_are_volatility_driven_two_sided_and_lognormal(sample):
    _, _, ds = sample
    xs, ys = [], []
    for ex, sym in ds:
        m = ds.market(ex, sym)
        tr, tk = m.trades, m.tickers
        assert set(np.unique(tr["side"])) == {-1, 1}
        assert 0.35 < np.mean(tr["side"] == 1) < 0.65
        notional = tr["px"] * tr["sz"]
        assert (notional > 0).all()
        log_n = np.log(notional)
        assert 1.0 < log_n.std() < 2.5  # heavy-tailed sizes
        # prints are near the book: within 2 bps of the last quote's touch
        mid = _asof(
            tk["ts_exchange"], _mid(tk), tr["ts_exchange"][tr["ts_exchange"] > tk["ts_exchange"][0]]
        )
        px = tr["px"][tr["ts_exchange"] > tk["ts_exchange"][0]]
        assert np.median(np.abs(px / mid - 1)) * 1e4 < 5.0
        minute = (tk["ts_local"] - tk["ts_local"][0]) // MINUTE
        var = np.bincount(minute[1:], np.diff(np.log(_mid(tk))) ** 2)
        later = tr["ts_local"][tr["ts_local"] >= tk["ts_local"][0]]
        n_trades = np.bincount((later - tk["ts_local"][0]) // MINUTE, minlength=var.size)
        n_trades = n_trades[: var.size]
        ok = (np.bincount(minute) > 30) & (n_trades > 0)
        lv, lt = np.log(var[ok] + 1e-18), np.log(n_trades[ok])
        xs.append(lv - lv.mean())
        ys.append(lt - lt.mean())
    corr = np.corrcoef(np.concatenate(xs), np.concatenate(ys))[0, 1]
    assert corr > 0.2, corr


def test_funding_intervals_grid_and_cross_venue_deltas(sample):
    _, _, ds = sample
    grid = _grid(ds, 30 * SECOND)
    intervals = set()
    corr_x, corr_y = [], []
    for sym in ds.symbols:
        rates, basis = [], []
        mids = np.array(
            [
                _asof(
                    ds.market(ex, sym).tickers["ts_local"], _mid(ds.market(ex, sym).tickers), grid
                )
                for ex in ds.exchanges
            ]
        )
        ref = np.median(mids, axis=0)
        for k, ex in enumerate(ds.exchanges):
            v = ds.market(ex, sym).tickers
            iv = v["funding_interval_s"]
            assert (iv == VENUES[ex].funding_interval_s).all()
            intervals.add(int(iv[0]))
            nxt = v["next_funding_ts"]
            assert (nxt % (iv * SECOND) == 0).all()  # UTC grid: 00:00, 08:00, 16:00 for 8 h
            wait = nxt - v["ts_exchange"]
            assert ((wait > 0) & (wait <= iv * SECOND)).all()
            rate_8h = v["funding_rate"] * 28_800 / iv
            assert np.abs(rate_8h).max() < 0.0075
            pred_8h = v["predicted_funding_rate"] * 28_800 / iv
            assert np.median(np.abs(pred_8h - rate_8h)) < 1e-4
            assert np.corrcoef(pred_8h, rate_8h)[0, 1] > 0.5
            rates.append(_asof(v["ts_local"], rate_8h, grid))
            basis.append(np.mean((mids[k] - ref) / ref))
        rates_arr = np.array(rates)
        iu = np.triu_indices(len(ds.exchanges), 1)
        delta = np.abs(rates_arr[:, None, :] - rates_arr[None, :, :])[iu]
        assert 5e-5 <= np.median(delta) <= 5e-4, np.median(delta)  # 0.005 .. 0.05 % per 8 h
        assert np.percentile(delta, 90) < 1e-3
        mean_rate = rates_arr.mean(axis=1)
        corr_x.extend(np.array(basis) - np.mean(basis))
        corr_y.extend(mean_rate - mean_rate.mean())
    assert intervals == {3600, 14_400, 28_800}
    # a rich venue (positive basis) tends to have the higher funding rate
    assert np.corrcoef(corr_x, corr_y)[0, 1] > 0.5


@pytest.fixture(scope="module")
def jumpy(tmp_path_factory):
    """Frequent large jumps, so that a short sample surely has many liquidation clusters."""
    root = tmp_path_factory.mktemp("jumpy")
    generate(
        root,
        seed=SEED,
        hours=2.0,
        symbols=("BTC", "ETH"),
        exchanges=("binance", "bybit", "okx"),
        jump_rate_per_hour=10.0,
        jump_sd_bps=60.0,
    )
    return spreadarb.load(root)


def test_liquidations_follow_large_moves(jumpy):
    ds = jumpy
    agree, moves, baseline = [], [], []
    for ex, sym in ds:
        m = ds.market(ex, sym)
        tk, lq = m.tickers, m.liquidations
        ts, mid = tk["ts_local"], _mid(tk)
        grid = ts[0] + MINUTE + np.arange(0, int((ts[-1] - ts[0]) / SECOND) - 60, 5) * SECOND
        baseline.append(np.abs(np.log(_asof(ts, mid, grid) / _asof(ts, mid, grid - MINUTE))))
        at = lq["ts_local"][lq["ts_local"] >= ts[0] + MINUTE]
        if at.size == 0:
            continue
        move = np.log(_asof(ts, mid, at) / _asof(ts, mid, at - MINUTE))
        sides = lq["side"][lq["ts_local"] >= ts[0] + MINUTE]
        assert set(np.unique(sides)) <= {-1, 1}
        agree.append(np.sign(move) == sides)
        moves.append(np.abs(move))
    agree_all, moves_all = np.concatenate(agree), np.concatenate(moves)
    assert agree_all.size >= 30
    assert agree_all.mean() > 0.75  # longs liquidated on drops, shorts on rallies
    assert np.median(moves_all) > 3 * np.median(np.concatenate(baseline))


def test_open_interest_drops_across_liquidation_clusters(jumpy):
    ds = jumpy
    changes, baseline = [], []
    for ex, sym in ds:
        m = ds.market(ex, sym)
        ts, log_oi = m.tickers["ts_local"], np.log(m.tickers["open_interest_usd"])
        lt = m.liquidations["ts_local"]
        for i, t in enumerate(lt):
            first = i == 0 or lt[i - 1] < t - MINUTE
            inside = ts[0] + MINUTE < t < ts[-1] - 2 * MINUTE
            if first and inside and np.count_nonzero((lt >= t) & (lt < t + MINUTE)) >= 5:
                before = log_oi[np.searchsorted(ts, t - 5 * SECOND)]
                after = log_oi[np.searchsorted(ts, t + 90 * SECOND)]
                changes.append(after - before)
        grid = ts[0] + np.arange(60, int((ts[-1] - ts[0]) / SECOND) - 120, 37) * SECOND
        baseline.extend(
            log_oi[np.searchsorted(ts, grid + 95 * SECOND)] - log_oi[np.searchsorted(ts, grid)]
        )
    changes_arr, baseline_arr = np.array(changes), np.array(baseline)
    assert changes_arr.size >= 10
    assert np.mean(changes_arr < 0) > 0.6
    assert changes_arr.mean() < -2 * baseline_arr.std() / math.sqrt(changes_arr.size)


# -- configuration ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"hours": 0}, "hours"),
        ({"hours": float("nan")}, "hours"),
        ({"seed": -1}, "seed"),
        ({"seed": 1.5}, "seed"),
        ({"symbols": ()}, "symbols"),
        ({"symbols": ("BTC", "btc")}, "symbols"),
        ({"exchanges": ("bad venue",)}, "exchanges"),
        ({"start": "not a time"}, "start"),
        ({"start": 1_700_000_000}, "start"),  # seconds, not ns
        ({"ticker_rate_hz": 0.0}, "ticker_rate_hz"),
        ({"l1_fraction": 1.0}, "l1_fraction"),
        ({"market_correlation": 1.5}, "market_correlation"),
        ({"price_step_ms": 300}, "price_step_ms"),
        ({"chunk_s": 90.5}, "chunk_s"),
        ({"dislocation_min_bps": 70.0}, "dislocation_max_bps"),
        ({"start_prices": {"BTC": -1.0}}, "start_prices"),
        ({"max_sweep_ticks": True}, "max_sweep_ticks"),
    ],
)
def test_invalid_config_names_the_field(kwargs, field):
    with pytest.raises(ValueError, match=rf"SynthConfig\.{field}\b"):
        SynthConfig(**kwargs)


def test_config_normalises_names_and_times():
    cfg = SynthConfig(symbols="btc, eth", exchanges=["Binance", "OKX"], start_prices={"btc": 7e4})
    assert cfg.symbols == ("BTC", "ETH")
    assert cfg.exchanges == ("binance", "okx")
    assert cfg.start_prices == (("BTC", 7e4),)
    ns = int(pd.Timestamp("2024-08-08T07:00:00", tz="UTC").value)
    for start in (
        "2024-08-08T07:00:00",
        "2024-08-08T07:00:00Z",
        ns,
        dt.datetime(2024, 8, 8, 7),
        pd.Timestamp("2024-08-08 09:00", tz="Europe/Paris"),
        np.datetime64("2024-08-08T07:00:00"),
    ):
        assert SynthConfig(start=start).start_ns == ns
    assert SynthConfig().exchanges == SEED_VENUES
    assert SynthConfig(hours=2).end_ns - SynthConfig().start_ns == 2 * 3600 * SECOND
    assert SynthConfig() == SynthConfig(start=ns)


def test_generate_rejects_unknown_overrides_and_existing_data(tmp_path):
    with pytest.raises(TypeError, match="bogus"):
        generate(tmp_path / "x", bogus=1)
    kw = dict(hours=0.05, symbols=("SOL",), exchanges=("gate",), chunk_s=60)
    first = generate(tmp_path / "d", **kw)
    with pytest.raises(FileExistsError, match="overwrite"):
        generate(tmp_path / "d", **kw)
    again = generate(tmp_path / "d", overwrite=True, config=SynthConfig(**kw, seed=9))
    assert again.config.seed == 9 and first.config.seed == 0
    assert _files(tmp_path / "d") == sorted(str(p.relative_to(tmp_path / "d")) for p in again.files)


def test_profiles_cover_seed_venues_and_derive_unknown_names():
    assert set(VENUE_PROFILES) == set(SEED_VENUES)
    for name, prof in VENUE_PROFILES.items():
        assert prof.funding_interval_s == VENUES[name].funding_interval_s
    assert np.mean([p.activity for p in VENUE_PROFILES.values()]) == pytest.approx(1.0)
    assert venue_profile("somedex") == venue_profile("somedex")
    assert venue_profile("somedex").funding_interval_s == 28_800
    assert symbol_profile("BTC").price == 60_000.0
    pepe = symbol_profile("1000PEPE")
    assert pepe == symbol_profile("1000PEPE") and 0.01 <= pepe.price <= 1000.0


@settings(max_examples=6, deadline=None)
@given(
    seed=st.integers(0, 2**32),
    minute_of_day=st.integers(0, 1439),
    chunk_minutes=st.integers(1, 5),
    ticker_rate=st.sampled_from([0.5, 1.0, 4.0]),
    trade_rate=st.sampled_from([0.2, 1.0, 5.0]),
)
def test_invariants_hold_for_any_config(
    tmp_path_factory, seed, minute_of_day, chunk_minutes, ticker_rate, trade_rate
):
    """Crossing midnight, odd chunking and rates: the output always validates."""
    root = tmp_path_factory.mktemp("prop")
    start = pd.Timestamp("2024-03-01", tz="UTC") + pd.Timedelta(minutes=minute_of_day)
    summary = generate(
        root,
        seed=seed,
        start=start,
        hours=0.12,
        chunk_s=60 * chunk_minutes,
        symbols=("DOGE", "ZZZ"),
        exchanges=("kucoin", "hyperliquid"),
        ticker_rate_hz=ticker_rate,
        trade_rate_hz=trade_rate,
        dislocation_rate_per_hour=30.0,
        latency_spike_rate_per_hour=30.0,
        outage_rate_per_hour=10.0,
    )
    assert validate(root) == []
    ds = spreadarb.load(root)
    assert len(ds.tickers) == summary.rows["tickers"] > 0
    assert len(ds.trades) == summary.rows["trades"]
    for ex, sym in ds:
        v = ds.market(ex, sym).tickers
        assert (v["bid_px"] < v["ask_px"]).all()
        assert (v["ts_exchange"] >= summary.start_ns).all()
        assert (v["ts_exchange"] < summary.end_ns).all()
