"""The synthetic market generator: deterministic multi-venue perpetual-futures data.

``generate(out_dir, seed=1, hours=3, symbols=("BTC", "ETH"))`` writes the three
contract tables (tickers, trades, liquidations) through
:func:`spreadarb.data.writer.write_table` and returns a :class:`SynthSummary`.

Model (every number is a :class:`SynthConfig` field; ``docs/data.md`` has the prose)
--------------------------------------------------------------------------------------
* **Latent price** per symbol: log price on a fine grid (``price_step_ms``) with
  stochastic volatility ``sigma * exp(h)``; ``h`` = market-wide + per-symbol
  Ornstein-Uhlenbeck (OU) log-vol states on the state grid (``state_step_ms``).
  Diffusive returns share a market factor (``market_correlation``). Jumps: market-wide
  and per-symbol Poisson jumps, each kicking the vol state up (vol clustering).
* **Venue mid** = latent price x exp(fast OU basis + slow OU basis around a static
  per-market offset + dislocation). Dislocations: per-market Poisson episodes,
  log-uniform 5..60 bps, plateau lasting seconds to minutes, then exponential decay.
* **Book**: half-spread grows with vol; bid/ask rounded out to the venue's tick
  (``ask >= bid + 1 tick``). 2-bps depth = symbol reference x venue scale x OU noise x
  ``exp(-depth_vol_beta * h)``, thinner during dislocations, with an OU imbalance
  between sides. L1 size = a random fraction of the side's depth.
* **Trades**: Poisson counts per state cell with intensity ``rate * exp(beta * h)``;
  aggressor side leans with the last second's return; lognormal notional; prints at
  the touch, sweeping a few ticks when the notional exceeds the L1 size.
* **Funding** (per 8 h): symbol regime level (Poisson level shifts, smoothed) + beta x
  the venue's slow basis + a static venue offset + OU noise, clipped to a cap;
  reported per the venue's own interval; predicted = rate + OU noise.
* **Liquidations**: Poisson with intensity rising linearly with the excess of the
  trailing ``liq_window_s`` move over ``liq_threshold_z`` sds; side = sign of the
  move (-1: longs liquidated after a drop). Open interest: log OU random walk, minus
  a multiple of the liquidated notional.
* **Feed**: per-venue lognormal latency with a slow OU component, spike episodes
  (hundreds of ms for seconds) and outages (no rows at all); ``ts_local`` is the
  running maximum (FIFO feed) of ``ts_exchange + latency``.

Determinism: every random draw comes from a ``PCG64`` stream keyed by
``(seed, what, chunk index, crc32(symbol), crc32(venue))``; the data of a market does
not depend on which other symbols or venues are generated with it, nor on their
order. Output does depend on ``chunk_s`` (streams are keyed per chunk).
"""

from __future__ import annotations

import datetime as dt
import math
import shutil
import time
import zlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from spreadarb.data.contract import TABLES, TIMESTAMP_MAX_NS, TIMESTAMP_MIN_NS
from spreadarb.kernels.synth_nb import ar1_paths
from spreadarb.venues import EXCHANGE_PATTERN, SEED_VENUES, SYMBOL_PATTERN, VENUES

__all__ = [
    "SYMBOL_PROFILES",
    "VENUE_PROFILES",
    "SymbolProfile",
    "SynthConfig",
    "SynthSummary",
    "VenueProfile",
    "generate",
    "symbol_profile",
    "venue_profile",
]

NS = 1_000_000_000
EIGHT_HOURS_S = 8 * 3600
_SECONDS_PER_YEAR = 365.25 * 86_400.0
_LN2 = math.log(2.0)


# ---------------------------------------------------------------------------------------
# Venue and symbol profiles
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class VenueProfile:
    """Static character of one venue in the generator.

    Attributes
    ----------
    name
        Venue name (lower case), as written in the ``exchange`` column.
    depth_scale
        Multiplier of a symbol's reference 2-bps depth (binance = 1).
    spread_bps
        Baseline quoted spread ``ask - bid`` of a BTC-like market, in bps (before
        rounding to ticks; symbols multiply it by their ``spread_mult``).
    price_sig_digits
        Significant digits of a price: ``tick = 10 ** (floor(log10(p0)) - digits + 1)``
        (6: BTC tick 0.1 at 60,000; 5: tick 1, as on Hyperliquid).
    latency_ms
        Median feed latency outside spikes.
    activity
        Relative trade intensity (the eight seed venues average 1.0).
    oi_share
        Open interest as a fraction of the symbol's reference OI (binance = 1);
        also weights the liquidation rate.
    funding_interval_s
        Funding interval in seconds (from :data:`spreadarb.venues.VENUES`).
    is_dex
        Decentralised venue.
    """

    name: str
    depth_scale: float
    spread_bps: float
    price_sig_digits: int
    latency_ms: float
    activity: float
    oi_share: float
    funding_interval_s: int
    is_dex: bool = False


def _seed_venue(
    name: str, depth: float, spread: float, digits: int, lat: float, act: float, oi: float
) -> VenueProfile:
    v = VENUES[name]
    return VenueProfile(
        name=name,
        depth_scale=depth,
        spread_bps=spread,
        price_sig_digits=digits,
        latency_ms=lat,
        activity=act,
        oi_share=oi,
        funding_interval_s=v.funding_interval_s,
        is_dex=v.is_dex,
    )


VENUE_PROFILES: Mapping[str, VenueProfile] = MappingProxyType(
    {
        p.name: p
        for p in (
            _seed_venue("binance", 1.00, 0.02, 6, 15.0, 1.6, 1.00),
            _seed_venue("bybit", 0.80, 0.03, 6, 20.0, 1.3, 0.70),
            _seed_venue("kucoin", 0.25, 0.15, 6, 40.0, 0.7, 0.20),
            _seed_venue("okx", 0.70, 0.03, 6, 25.0, 1.2, 0.50),
            _seed_venue("bitget", 0.35, 0.10, 6, 35.0, 0.9, 0.40),
            _seed_venue("gate", 0.25, 0.15, 6, 45.0, 0.7, 0.25),
            _seed_venue("hyperliquid", 0.30, 0.30, 5, 100.0, 1.0, 0.30),
            _seed_venue("paradex", 0.10, 1.00, 5, 130.0, 0.6, 0.05),
        )
    }
)
"""Profiles of the eight seed venues: big CEXes deep and fast, DEXes thin and slow."""

_MEAN_SEED_OI_SHARE = float(np.mean([p.oi_share for p in VENUE_PROFILES.values()]))


def _name_uniforms(name: str, n: int) -> np.ndarray:
    """``n`` uniforms in [0, 1) that depend only on ``name`` (not on the seed)."""
    key = zlib.crc32(name.encode())
    return np.random.Generator(np.random.PCG64(key)).random(n)


def venue_profile(name: str) -> VenueProfile:
    """The profile of ``name``: a seed venue's, or one derived from the name's hash.

    Unknown venues are small CEX-like venues: depth scale 0.1-0.3, spread 0.3-1 bps,
    latency 40-120 ms, 5 significant digits, 8 h funding.
    """
    if name in VENUE_PROFILES:
        return VENUE_PROFILES[name]
    u = _name_uniforms(name, 3)
    known = VENUES.get(name)
    return VenueProfile(
        name=name,
        depth_scale=float(0.1 + 0.2 * u[0]),
        spread_bps=float(0.3 + 0.7 * u[1]),
        price_sig_digits=5,
        latency_ms=float(40.0 + 80.0 * u[2]),
        activity=1.0,
        oi_share=0.1,
        funding_interval_s=known.funding_interval_s if known else EIGHT_HOURS_S,
        is_dex=known.is_dex if known else False,
    )


@dataclass(frozen=True, kw_only=True)
class SymbolProfile:
    """Static character of one symbol in the generator.

    Attributes
    ----------
    name
        Canonical base asset (upper case).
    price
        Starting latent price in USD (``SynthConfig.start_prices`` overrides it).
    annual_vol
        Annualised volatility of the latent log price (before ``vol_scale``).
    depth_usd
        Reference 2-bps depth per side in USD on a venue with ``depth_scale`` 1.
    trade_usd
        Median trade notional in USD on a venue with ``depth_scale`` 1.
    oi_usd
        Reference open interest in USD on a venue with ``oi_share`` 1.
    spread_mult
        Multiplier of the venues' baseline spread.
    """

    name: str
    price: float
    annual_vol: float
    depth_usd: float
    trade_usd: float
    oi_usd: float
    spread_mult: float


SYMBOL_PROFILES: Mapping[str, SymbolProfile] = MappingProxyType(
    {
        p.name: p
        for p in (
            SymbolProfile(
                name="BTC",
                price=60_000.0,
                annual_vol=0.55,
                depth_usd=2.5e6,
                trade_usd=2_000.0,
                oi_usd=8e9,
                spread_mult=1.0,
            ),
            SymbolProfile(
                name="ETH",
                price=2_600.0,
                annual_vol=0.70,
                depth_usd=1.5e6,
                trade_usd=1_500.0,
                oi_usd=4e9,
                spread_mult=1.2,
            ),
            SymbolProfile(
                name="SOL",
                price=150.0,
                annual_vol=0.90,
                depth_usd=5e5,
                trade_usd=800.0,
                oi_usd=1.5e9,
                spread_mult=2.0,
            ),
            SymbolProfile(
                name="BNB",
                price=510.0,
                annual_vol=0.60,
                depth_usd=3e5,
                trade_usd=600.0,
                oi_usd=5e8,
                spread_mult=2.0,
            ),
            SymbolProfile(
                name="XRP",
                price=0.57,
                annual_vol=0.80,
                depth_usd=4e5,
                trade_usd=600.0,
                oi_usd=7e8,
                spread_mult=2.5,
            ),
            SymbolProfile(
                name="DOGE",
                price=0.10,
                annual_vol=0.90,
                depth_usd=3e5,
                trade_usd=500.0,
                oi_usd=6e8,
                spread_mult=2.5,
            ),
            SymbolProfile(
                name="AVAX",
                price=21.0,
                annual_vol=0.95,
                depth_usd=1.5e5,
                trade_usd=400.0,
                oi_usd=2e8,
                spread_mult=3.0,
            ),
            SymbolProfile(
                name="LINK",
                price=10.0,
                annual_vol=0.90,
                depth_usd=1.5e5,
                trade_usd=400.0,
                oi_usd=2e8,
                spread_mult=3.0,
            ),
        )
    }
)
"""Profiles of a few majors at plausible August-2024 levels; others come from their names."""


def symbol_profile(name: str) -> SymbolProfile:
    """The profile of ``name``: a listed major's, or one derived from the name's hash.

    Derived symbols: price log-uniform in 0.01..1000 USD, annual vol 0.8-1.4, depth
    100k-600k USD (log-uniform), trade median 300-700 USD, OI 50M-500M USD.
    """
    if name in SYMBOL_PROFILES:
        return SYMBOL_PROFILES[name]
    u = _name_uniforms(name, 6)
    return SymbolProfile(
        name=name,
        price=float(10 ** (-2.0 + 5.0 * u[0])),
        annual_vol=float(0.8 + 0.6 * u[1]),
        depth_usd=float(1e5 * 6.0 ** u[2]),
        trade_usd=float(300.0 + 400.0 * u[3]),
        oi_usd=float(5e7 * 10.0 ** u[4]),
        spread_mult=float(2.0 + 4.0 * u[5]),
    )


# ---------------------------------------------------------------------------------------
# Configuration
# ---------------------------------------------------------------------------------------

StartLike = str | int | dt.datetime | np.datetime64 | Any


@dataclass(frozen=True, kw_only=True)
class SynthConfig:
    """Every parameter of the synthetic market generator (validated on construction).

    Rates "per market" are per (exchange, symbol); "bps" are 1e-4 of the price;
    funding rates ending in ``_8h`` are fractions per 8 hours. Half-lives are of the
    OU processes' mean reversion. Invalid values raise a ``ValueError`` that names the
    field. ``start`` is normalised to int nanoseconds UTC; ``symbols`` to upper case,
    ``exchanges`` to lower case (a comma-separated string is accepted for both).

    Attributes
    ----------
    seed
        Random seed (int >= 0). Same seed and config: byte-identical files.
    start
        First timestamp (UTC): ISO string, int ns, datetime, ``pd.Timestamp`` or
        ``np.datetime64`` (naive values are UTC).
    hours
        Length of the data in hours.
    symbols, exchanges
        Markets to generate (all symbols on all exchanges). Unknown venues get a
        profile derived from their name (see :func:`venue_profile`).
    ticker_rate_hz
        Mean ticker snapshots per second per market.
    ticker_regularity
        Shape of the gamma-distributed gaps between snapshots (1: Poisson;
        8: a jittered cadence, gaps rarely above 2x the mean).
    trade_rate_hz
        Mean trades per second per market (venues weighted by ``activity``, the
        eight seed venues average exactly this rate at normal volatility).
    chunk_s
        Seconds of data generated and written per step (bounds memory; files are
        named after their chunk). Random streams are keyed per chunk, so changing
        it changes the data.
    price_step_ms
        Grid step of the latent price path.
    state_step_ms
        Grid step of every slower state (vol, basis, depth, funding, OI, latency)
        and of the trade/liquidation intensities.
    exchange_ts_unit_ns
        Resolution of ``ts_exchange`` (venues stamp in milliseconds: 1,000,000).
    start_prices
        Overrides of the starting prices, ``{"BTC": 65000.0}`` (stored as sorted pairs).
    vol_scale
        Multiplier of every symbol's annualised volatility.
    market_correlation
        Correlation of the symbols' diffusive returns (one market factor).
    market_vol_sd, symbol_vol_sd
        Stationary sd of the market-wide and per-symbol log-vol states ``h``.
    vol_half_life_s
        Half-life of the log-vol states.
    jump_rate_per_hour
        Market-wide jumps per hour (every symbol jumps, scaled by its vol).
    symbol_jump_rate_per_hour
        Idiosyncratic jumps per hour per symbol.
    jump_sd_bps
        Sd of a jump of a BTC-like symbol (scaled by ``annual_vol / 0.55``).
    jump_vol_kick
        Increase of the log-vol state per jump sd of jump size.
    basis_sd_bps, basis_half_life_s
        Fast per-venue basis (OU): stationary sd and half-life.
    slow_basis_sd_bps, slow_basis_half_life_s
        Slow per-venue basis (OU around a static offset): sd and half-life; drives
        the venue's funding deviation.
    basis_offset_sd_bps
        Sd of the static per-market basis offset.
    dislocation_rate_per_hour
        Dislocation episodes per hour per market.
    dislocation_min_bps, dislocation_max_bps
        Size range of a dislocation (log-uniform; sign random).
    dislocation_median_s, dislocation_sigma
        Median and log-sd of the plateau length of a dislocation.
    dislocation_min_s, dislocation_max_s
        Clip of the plateau length.
    dislocation_decay_frac
        Time constant of the exponential decay after the plateau, as a fraction
        of the plateau.
    dislocation_depth_factor
        Depth multiplier on the dislocated venue during the plateau.
    spread_vol_beta, spread_noise_sd, spread_half_life_s
        Log half-spread: ``+ beta * h`` plus OU noise (sd, half-life).
    depth_scale
        Global multiplier of 2-bps depth.
    depth_vol_beta
        Log depth falls by this much per unit of the log-vol state (thin books in
        volatile moments).
    depth_noise_sd, depth_half_life_s
        OU noise of log depth.
    imbalance_sd, imbalance_half_life_s
        OU log imbalance between bid and ask depth (bid x e^imb, ask x e^-imb).
    imbalance_dislocation_beta
        Extra ask-heavy (rich venue) or bid-heavy (cheap venue) imbalance during a
        dislocation.
    l1_fraction, l1_fraction_sd
        Median fraction of a side's 2-bps depth resting at L1, and its logit sd.
    trade_vol_beta
        Log trade intensity per unit of the log-vol state.
    trade_size_sigma, trade_size_scale
        Log-sd of the lognormal trade notional, and a multiplier of its median.
    side_momentum_beta
        Logit of P(buy) per sd of the last second's return.
    side_dislocation_beta
        Logit shift of P(buy) against a dislocation (a rich venue gets sold).
    max_sweep_ticks
        Most ticks a single print goes through the touch.
    funding_mean_8h, funding_regime_sd_8h
        Mean and sd of a symbol's funding regime level.
    funding_regime_rate_per_day
        Regime level shifts per day per symbol.
    funding_level_sd_8h, funding_level_half_life_s
        OU wiggle of the symbol level around its regime (the half-life also
        smooths regime shifts).
    funding_basis_beta
        Funding deviation (per 8 h) per unit of the venue's slow basis (a fraction).
    funding_venue_sd_8h
        Sd of a static per-market funding offset.
    funding_noise_sd_8h, funding_noise_half_life_s
        OU noise of a market's funding.
    predicted_noise_sd_8h, predicted_half_life_s
        OU error of ``predicted_funding_rate`` around the current rate.
    funding_cap_8h
        Funding rates are clipped to +/- this (per 8 h).
    mark_noise_bps
        Sd of ``mark_px`` around the mid.
    oi_scale
        Multiplier of the reference open interest.
    oi_vol_per_sqrt_hour, oi_half_life_h
        Log open interest: OU with this diffusion and half-life.
    oi_liquidation_multiplier
        Open interest drops by this multiple of the liquidated notional.
    liq_window_s
        Window of the trailing move that triggers liquidations.
    liq_threshold_z
        Move (in sds of the window's diffusive return) above which liquidations start.
    liq_base_rate_per_hour
        Background liquidations per hour per market (random side).
    liq_trigger_rate_hz
        Triggered liquidations per second per market per sd of excess move.
    liq_size_usd, liq_size_sigma
        Median notional of a liquidation on BTC/binance (other markets: times
        ``sqrt(OI / OI of BTC on binance)``; grown by ``1 + excess move``) and its log-sd.
    liq_slippage_bps
        Liquidation orders print up to this far beyond the touch.
    latency_scale
        Multiplier of the venues' median latencies.
    latency_noise_sd, latency_slow_sd, latency_half_life_s
        Log-latency: per-event noise sd, and a slow OU component (sd, half-life).
    latency_spike_rate_per_hour
        Latency spike episodes per hour per venue (all its markets).
    latency_spike_min_s, latency_spike_max_s
        Length range of a spike episode (log-uniform).
    latency_spike_min_ms, latency_spike_max_ms
        Extra latency during a spike (log-uniform per episode).
    outage_rate_per_hour
        Feed outages per hour per venue: no rows of any table.
    outage_min_s, outage_max_s
        Length range of an outage (log-uniform).
    """

    # -- run --------------------------------------------------------------------------
    seed: int = 0
    start: StartLike = "2024-08-08T07:00:00"
    hours: float = 2.0
    symbols: tuple[str, ...] = ("BTC", "ETH", "SOL")
    exchanges: tuple[str, ...] = SEED_VENUES
    ticker_rate_hz: float = 1.0
    ticker_regularity: float = 8.0
    trade_rate_hz: float = 2.0
    chunk_s: float = 3600.0
    price_step_ms: int = 100
    state_step_ms: int = 1000
    exchange_ts_unit_ns: int = 1_000_000
    start_prices: tuple[tuple[str, float], ...] = ()
    # -- latent price -----------------------------------------------------------------
    vol_scale: float = 1.0
    market_correlation: float = 0.7
    market_vol_sd: float = 0.30
    symbol_vol_sd: float = 0.20
    vol_half_life_s: float = 600.0
    jump_rate_per_hour: float = 1.0
    symbol_jump_rate_per_hour: float = 1.0
    jump_sd_bps: float = 30.0
    jump_vol_kick: float = 0.6
    # -- basis and dislocations -------------------------------------------------------
    basis_sd_bps: float = 0.5
    basis_half_life_s: float = 15.0
    slow_basis_sd_bps: float = 0.6
    slow_basis_half_life_s: float = 3600.0
    basis_offset_sd_bps: float = 0.4
    dislocation_rate_per_hour: float = 1.0
    dislocation_min_bps: float = 5.0
    dislocation_max_bps: float = 60.0
    dislocation_median_s: float = 10.0
    dislocation_sigma: float = 1.0
    dislocation_min_s: float = 2.0
    dislocation_max_s: float = 300.0
    dislocation_decay_frac: float = 0.3
    dislocation_depth_factor: float = 0.7
    # -- book -------------------------------------------------------------------------
    spread_vol_beta: float = 0.5
    spread_noise_sd: float = 0.2
    spread_half_life_s: float = 30.0
    depth_scale: float = 1.0
    depth_vol_beta: float = 1.0
    depth_noise_sd: float = 0.3
    depth_half_life_s: float = 60.0
    imbalance_sd: float = 0.25
    imbalance_half_life_s: float = 20.0
    imbalance_dislocation_beta: float = 0.3
    l1_fraction: float = 0.15
    l1_fraction_sd: float = 0.6
    # -- trades -----------------------------------------------------------------------
    trade_vol_beta: float = 1.0
    trade_size_sigma: float = 1.6
    trade_size_scale: float = 1.0
    side_momentum_beta: float = 0.5
    side_dislocation_beta: float = 0.5
    max_sweep_ticks: int = 10
    # -- funding and open interest ----------------------------------------------------
    funding_mean_8h: float = 1e-4
    funding_regime_sd_8h: float = 1.5e-4
    funding_regime_rate_per_day: float = 3.0
    funding_level_sd_8h: float = 3e-5
    funding_level_half_life_s: float = 1800.0
    funding_basis_beta: float = 2.0
    funding_venue_sd_8h: float = 5e-5
    funding_noise_sd_8h: float = 2e-5
    funding_noise_half_life_s: float = 1800.0
    predicted_noise_sd_8h: float = 2e-5
    predicted_half_life_s: float = 900.0
    funding_cap_8h: float = 0.0075
    mark_noise_bps: float = 0.3
    oi_scale: float = 1.0
    oi_vol_per_sqrt_hour: float = 0.01
    oi_half_life_h: float = 24.0
    oi_liquidation_multiplier: float = 8.0
    # -- liquidations -----------------------------------------------------------------
    liq_window_s: float = 60.0
    liq_threshold_z: float = 2.5
    liq_base_rate_per_hour: float = 1.0
    liq_trigger_rate_hz: float = 0.05
    liq_size_usd: float = 10_000.0
    liq_size_sigma: float = 1.2
    liq_slippage_bps: float = 5.0
    # -- feed latency and outages -----------------------------------------------------
    latency_scale: float = 1.0
    latency_noise_sd: float = 0.3
    latency_slow_sd: float = 0.2
    latency_half_life_s: float = 60.0
    latency_spike_rate_per_hour: float = 1.0
    latency_spike_min_s: float = 2.0
    latency_spike_max_s: float = 30.0
    latency_spike_min_ms: float = 200.0
    latency_spike_max_ms: float = 1500.0
    outage_rate_per_hour: float = 0.5
    outage_min_s: float = 3.0
    outage_max_s: float = 60.0

    def __post_init__(self) -> None:
        _validate(self)

    # -- derived ----------------------------------------------------------------------
    @property
    def start_ns(self) -> int:
        """``start`` as int nanoseconds since the epoch, UTC."""
        start = self.start
        assert isinstance(start, int)  # normalised by __post_init__
        return start

    @property
    def end_ns(self) -> int:
        """End of the generated interval (exclusive), int ns UTC."""
        return self.start_ns + round(self.hours * 3600 * NS)


_INT_FIELDS = frozenset(
    {
        "seed",
        "price_step_ms",
        "state_step_ms",
        "exchange_ts_unit_ns",
        "max_sweep_ticks",
    }
)
_SPECIAL_FIELDS = frozenset({"start", "symbols", "exchanges", "start_prices"})

# Rule per numeric field: "any" (finite), ">0", ">=0", "[0,1]", "(0,1)", "(0,1]".
_RULES: dict[str, str] = {
    "seed": ">=0",
    "hours": ">0",
    "ticker_rate_hz": ">0",
    "ticker_regularity": ">0",
    "trade_rate_hz": ">0",
    "chunk_s": ">0",
    "price_step_ms": ">0",
    "state_step_ms": ">0",
    "exchange_ts_unit_ns": ">0",
    "vol_scale": ">=0",
    "market_correlation": "[0,1]",
    "market_vol_sd": ">=0",
    "symbol_vol_sd": ">=0",
    "vol_half_life_s": ">0",
    "jump_rate_per_hour": ">=0",
    "symbol_jump_rate_per_hour": ">=0",
    "jump_sd_bps": ">=0",
    "jump_vol_kick": ">=0",
    "basis_sd_bps": ">=0",
    "basis_half_life_s": ">0",
    "slow_basis_sd_bps": ">=0",
    "slow_basis_half_life_s": ">0",
    "basis_offset_sd_bps": ">=0",
    "dislocation_rate_per_hour": ">=0",
    "dislocation_min_bps": ">0",
    "dislocation_max_bps": ">0",
    "dislocation_median_s": ">0",
    "dislocation_sigma": ">=0",
    "dislocation_min_s": ">0",
    "dislocation_max_s": ">0",
    "dislocation_decay_frac": ">0",
    "dislocation_depth_factor": "(0,1]",
    "spread_vol_beta": ">=0",
    "spread_noise_sd": ">=0",
    "spread_half_life_s": ">0",
    "depth_scale": ">0",
    "depth_vol_beta": ">=0",
    "depth_noise_sd": ">=0",
    "depth_half_life_s": ">0",
    "imbalance_sd": ">=0",
    "imbalance_half_life_s": ">0",
    "imbalance_dislocation_beta": ">=0",
    "l1_fraction": "(0,1)",
    "l1_fraction_sd": ">=0",
    "trade_vol_beta": ">=0",
    "trade_size_sigma": ">=0",
    "trade_size_scale": ">0",
    "side_momentum_beta": ">=0",
    "side_dislocation_beta": ">=0",
    "max_sweep_ticks": ">=0",
    "funding_mean_8h": "any",
    "funding_regime_sd_8h": ">=0",
    "funding_regime_rate_per_day": ">=0",
    "funding_level_sd_8h": ">=0",
    "funding_level_half_life_s": ">0",
    "funding_basis_beta": "any",
    "funding_venue_sd_8h": ">=0",
    "funding_noise_sd_8h": ">=0",
    "funding_noise_half_life_s": ">0",
    "predicted_noise_sd_8h": ">=0",
    "predicted_half_life_s": ">0",
    "funding_cap_8h": ">0",
    "mark_noise_bps": ">=0",
    "oi_scale": ">0",
    "oi_vol_per_sqrt_hour": ">=0",
    "oi_half_life_h": ">0",
    "oi_liquidation_multiplier": ">=0",
    "liq_window_s": ">0",
    "liq_threshold_z": ">=0",
    "liq_base_rate_per_hour": ">=0",
    "liq_trigger_rate_hz": ">=0",
    "liq_size_usd": ">0",
    "liq_size_sigma": ">=0",
    "liq_slippage_bps": ">=0",
    "latency_scale": ">0",
    "latency_noise_sd": ">=0",
    "latency_slow_sd": ">=0",
    "latency_half_life_s": ">0",
    "latency_spike_rate_per_hour": ">=0",
    "latency_spike_min_s": ">0",
    "latency_spike_max_s": ">0",
    "latency_spike_min_ms": ">0",
    "latency_spike_max_ms": ">0",
    "outage_rate_per_hour": ">=0",
    "outage_min_s": ">0",
    "outage_max_s": ">0",
}

_RULE_TEXT = {
    ">0": "> 0",
    ">=0": ">= 0",
    "[0,1]": "in [0, 1]",
    "(0,1)": "in (0, 1)",
    "(0,1]": "in (0, 1]",
    "any": "finite",
}


def _fail(name: str, what: str, value: object) -> ValueError:
    return ValueError(f"SynthConfig.{name} {what}, got {value!r}")


def _set(cfg: SynthConfig, name: str, value: object) -> None:
    object.__setattr__(cfg, name, value)


def _names(cfg: SynthConfig, name: str, upper: bool) -> None:
    value = getattr(cfg, name)
    items: Iterable[Any]
    if isinstance(value, str):
        items = value.split(",")
    elif isinstance(value, Iterable):
        items = value
    else:
        raise _fail(name, "must be a sequence of names (or a comma-separated string)", value)
    out: list[str] = []
    pattern = SYMBOL_PATTERN if upper else EXCHANGE_PATTERN
    for item in items:
        if not isinstance(item, str):
            raise _fail(name, f"must contain strings, found {item!r}", value)
        norm = item.strip().upper() if upper else item.strip().lower()
        if not pattern.match(norm):
            kind = "an upper-case base asset such as BTC" if upper else "a lower-case venue name"
            raise _fail(name, f"has {item!r}, which is not {kind}", value)
        if norm in out:
            raise _fail(name, f"lists {norm!r} twice", value)
        out.append(norm)
    if not out:
        raise _fail(name, "must not be empty", value)
    _set(cfg, name, tuple(out))


def _validate(cfg: SynthConfig) -> None:
    known = {f.name for f in fields(cfg)}
    missing = (set(_RULES) | _SPECIAL_FIELDS) ^ known
    assert not missing, f"validation rules out of date: {sorted(missing)}"
    for name, rule in _RULES.items():
        value = getattr(cfg, name)
        if name in _INT_FIELDS:
            if isinstance(value, bool) or not isinstance(value, int | np.integer):
                raise _fail(name, "must be an integer", value)
            number: float = int(value)
            _set(cfg, name, int(value))
        else:
            if isinstance(value, bool) or not isinstance(value, int | float | np.number):
                raise _fail(name, "must be a number", value)
            number = float(value)
            if not math.isfinite(number):
                raise _fail(name, "must be finite", value)
            _set(cfg, name, number)
        ok = {
            "any": True,
            ">0": number > 0,
            ">=0": number >= 0,
            "[0,1]": 0 <= number <= 1,
            "(0,1)": 0 < number < 1,
            "(0,1]": 0 < number <= 1,
        }[rule]
        if not ok:
            raise _fail(name, f"must be {_RULE_TEXT[rule]}", value)

    # start: normalise to int ns
    from spreadarb.data.loader import to_ns

    raw_start = cfg.start
    try:
        start_ns = to_ns(cfg.start, name="SynthConfig.start")
    except (TypeError, ValueError) as exc:
        raise ValueError(f"SynthConfig.start: {exc}") from None
    _set(cfg, "start", start_ns)
    end_ns = start_ns + round(cfg.hours * 3600 * NS)
    if start_ns < TIMESTAMP_MIN_NS:
        raise _fail("start", "must be in 2000..2100", raw_start)
    if end_ns >= TIMESTAMP_MAX_NS:
        raise _fail("hours", "puts the end of the data beyond 2100", cfg.hours)

    _names(cfg, "symbols", upper=True)
    _names(cfg, "exchanges", upper=False)

    prices = cfg.start_prices
    pairs = prices.items() if isinstance(prices, Mapping) else prices
    norm_prices: dict[str, float] = {}
    try:
        for sym, px in pairs:
            if not isinstance(sym, str) or isinstance(px, bool):
                raise TypeError
            p = float(px)
            if not (math.isfinite(p) and p > 0):
                raise _fail("start_prices", f"must be positive, {sym!r} has {px!r}", prices)
            norm_prices[sym.strip().upper()] = p
    except (TypeError, ValueError) as exc:
        if isinstance(exc, ValueError) and str(exc).startswith("SynthConfig."):
            raise
        raise _fail("start_prices", "must map symbol names to prices", prices) from None
    _set(cfg, "start_prices", tuple(sorted(norm_prices.items())))

    # grid consistency
    if cfg.state_step_ms % cfg.price_step_ms:
        raise _fail(
            "price_step_ms", f"must divide state_step_ms={cfg.state_step_ms}", cfg.price_step_ms
        )
    if cfg.state_step_ms > 60_000:
        raise _fail("state_step_ms", "must be at most 60000 (one minute)", cfg.state_step_ms)
    chunk_ms = cfg.chunk_s * 1000.0
    if chunk_ms != round(chunk_ms) or round(chunk_ms) % cfg.state_step_ms or chunk_ms < 60_000:
        raise _fail(
            "chunk_s",
            f"must be >= 60 and a multiple of state_step_ms={cfg.state_step_ms} ms",
            cfg.chunk_s,
        )
    liq_ms = cfg.liq_window_s * 1000.0
    if liq_ms != round(liq_ms) or round(liq_ms) % cfg.state_step_ms:
        raise _fail(
            "liq_window_s",
            f"must be a multiple of state_step_ms={cfg.state_step_ms} ms",
            cfg.liq_window_s,
        )
    for lo, hi in (
        ("dislocation_min_bps", "dislocation_max_bps"),
        ("dislocation_min_s", "dislocation_max_s"),
        ("latency_spike_min_s", "latency_spike_max_s"),
        ("latency_spike_min_ms", "latency_spike_max_ms"),
        ("outage_min_s", "outage_max_s"),
    ):
        if getattr(cfg, lo) > getattr(cfg, hi):
            raise _fail(hi, f"must be >= {lo}={getattr(cfg, lo)!r}", getattr(cfg, hi))


# ---------------------------------------------------------------------------------------
# Summary
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class SynthSummary:
    """What :func:`generate` wrote.

    Attributes
    ----------
    out_dir
        Dataset root.
    config
        The full configuration used.
    rows
        Rows written per table (``tickers``, ``trades``, ``liquidations``).
    files
        Every file written, in writing order.
    start_ns, end_ns
        Generated interval of exchange time ``[start_ns, end_ns)``, int ns UTC.
    chunks
        Number of chunks generated.
    elapsed_s
        Wall time of the generation.
    """

    out_dir: Path
    config: SynthConfig = field(repr=False)
    rows: Mapping[str, int]
    files: tuple[Path, ...] = field(repr=False)
    start_ns: int
    end_ns: int
    chunks: int
    elapsed_s: float

    @property
    def n_files(self) -> int:
        return len(self.files)

    def __str__(self) -> str:
        start = np.datetime64(self.start_ns, "ns")
        end = np.datetime64(self.end_ns, "ns")
        rows = ", ".join(f"{k} {v:,}" for k, v in self.rows.items())
        return (
            f"synthetic dataset {self.out_dir}: {len(self.config.exchanges)} exchanges x "
            f"{len(self.config.symbols)} symbols, {start}..{end} UTC; rows: {rows}; "
            f"{self.n_files} files in {self.elapsed_s:.1f} s"
        )


# ---------------------------------------------------------------------------------------
# Generator internals
# ---------------------------------------------------------------------------------------

# Stream domains (first element of every spawn key).
_D_MARKET_WIDE, _D_VENUE, _D_SYMBOL, _D_MARKET = 1, 2, 3, 4
_D_INIT_WIDE, _D_INIT_VENUE, _D_INIT_SYMBOL, _D_INIT_MARKET = 11, 12, 13, 14

# Rows of the per-market OU block.
_OU_NAMES = ("basis", "slow_basis", "funding", "predicted", "depth", "imbalance", "spread", "oi")
_BASIS, _SLOW, _FUND, _PRED, _DEPTH, _IMB, _SPREAD, _OI = range(len(_OU_NAMES))

_TICKER_COLS = tuple(TABLES["tickers"].column_names)
_TRADE_COLS = tuple(TABLES["trades"].column_names)
_LIQ_COLS = tuple(TABLES["liquidations"].column_names)


def _crc(name: str) -> int:
    return zlib.crc32(name.encode())


def _phi(step_s: float, half_life_s: float) -> float:
    return math.exp(-_LN2 * step_s / half_life_s)


def _expit(x: np.ndarray) -> np.ndarray:
    out: np.ndarray = 1.0 / (1.0 + np.exp(-x))
    return out


def _log_uniform(rng: np.random.Generator, lo: float, hi: float, n: int) -> np.ndarray:
    out: np.ndarray = np.exp(rng.uniform(math.log(lo), math.log(hi), n))
    return out


def _decimals(step: float) -> int:
    return max(0, -math.floor(math.log10(step) + 1e-9))


def _pow10(exponent: int) -> float:
    return float(f"1e{exponent}")


@dataclass
class _Episodes:
    """Episodes (dislocations, spikes, outages) in absolute ns, carried across chunks."""

    start: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))
    end: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))
    value: np.ndarray = field(default_factory=lambda: np.empty(0))  # size (signed) / extra ms
    plateau_end: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))
    tau_s: np.ndarray = field(default_factory=lambda: np.empty(0))

    def add(
        self,
        start: np.ndarray,
        end: np.ndarray,
        value: np.ndarray,
        plateau_end: np.ndarray | None = None,
        tau_s: np.ndarray | None = None,
    ) -> None:
        self.start = np.concatenate([self.start, start])
        self.end = np.concatenate([self.end, end])
        self.value = np.concatenate([self.value, value])
        self.plateau_end = np.concatenate(
            [self.plateau_end, end if plateau_end is None else plateau_end]
        )
        self.tau_s = np.concatenate([self.tau_s, np.ones(len(start)) if tau_s is None else tau_s])

    def prune(self, before_ns: int) -> None:
        keep = self.end > before_ns
        self.start, self.end, self.value = self.start[keep], self.end[keep], self.value[keep]
        self.plateau_end, self.tau_s = self.plateau_end[keep], self.tau_s[keep]

    def mask(self, t_ns: np.ndarray) -> np.ndarray:
        """Events inside any episode."""
        inside = np.zeros(t_ns.size, dtype=bool)
        for s, e in zip(self.start, self.end, strict=True):
            lo, hi = np.searchsorted(t_ns, [s, e])
            inside[lo:hi] = True
        return inside

    def box_sum(self, t_ns: np.ndarray) -> np.ndarray:
        """Sum of ``value`` over the episodes each event is in (t_ns sorted)."""
        out = np.zeros(t_ns.size)
        for s, e, v in zip(self.start, self.end, self.value, strict=True):
            lo, hi = np.searchsorted(t_ns, [s, e])
            out[lo:hi] += v
        return out

    def profile(self, t_ns: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Dislocation profile at sorted times: (size sum, weight sum, signed weight sum).

        Weight is 1 on the plateau and ``exp(-(t - plateau_end) / tau)`` after it.
        """
        size = np.zeros(t_ns.size)
        weight = np.zeros(t_ns.size)
        signed = np.zeros(t_ns.size)
        for s, e, v, pe, tau in zip(
            self.start, self.end, self.value, self.plateau_end, self.tau_s, strict=True
        ):
            lo, hi = np.searchsorted(t_ns, [s, e])
            if hi <= lo:
                continue
            t = t_ns[lo:hi]
            w = np.where(t < pe, 1.0, np.exp(-(t - pe).astype(np.float64) / (tau * NS)))
            size[lo:hi] += v * w
            weight[lo:hi] += w
            signed[lo:hi] += math.copysign(1.0, v) * w
        return size, weight, signed


@dataclass
class _VenueState:
    profile: VenueProfile
    latency_slow: float
    spikes: _Episodes = field(default_factory=_Episodes)
    outages: _Episodes = field(default_factory=_Episodes)


@dataclass
class _SymbolState:
    profile: SymbolProfile
    sigma: float  # diffusive sd per sqrt(second)
    jump_scale: float  # jump sd multiplier (annual_vol / 0.55)
    lot: float
    lot_decimals: int
    x_fine_tail: np.ndarray  # last r fine log prices
    x_cell_tail: np.ndarray  # last W+1 end-of-cell log prices
    h: float  # idiosyncratic log-vol state
    funding_level: float
    funding_target: float


@dataclass
class _MarketState:
    venue: VenueProfile
    tick: float
    tick_decimals: int
    basis_offset: float
    funding_offset: float
    ou: np.ndarray  # (len(_OU_NAMES),) current OU states
    next_ticker_ns: int
    last_local: dict[str, int]
    dislocations: _Episodes = field(default_factory=_Episodes)


@dataclass
class _Chunk:
    index: int
    c0: int
    c1: int
    n_cells: int
    cell_len_s: np.ndarray  # (n_cells,)


@dataclass
class _SymbolPaths:
    """Symbol-level paths of one chunk."""

    x_fine: np.ndarray  # (n_fine,) log price
    x_fine_ext: np.ndarray  # (r + n_fine,) with the previous chunk's tail
    h: np.ndarray  # (n_cells,) total log-vol state
    move_z: np.ndarray  # (n_cells,) trailing liq-window move before each cell, in sds
    move_sign: np.ndarray  # (n_cells,) sign of that move
    funding_level: np.ndarray  # (n_cells,)


class _Generator:
    def __init__(self, cfg: SynthConfig) -> None:
        self.cfg = cfg
        self.step_s = cfg.state_step_ms / 1000.0
        self.step_ns = cfg.state_step_ms * 1_000_000
        self.fine_s = cfg.price_step_ms / 1000.0
        self.r = cfg.state_step_ms // cfg.price_step_ms
        self.window_cells = round(cfg.liq_window_s * 1000) // cfg.state_step_ms
        self.chunk_ns = round(cfg.chunk_s * NS)
        self.hv_var = cfg.market_vol_sd**2 + cfg.symbol_vol_sd**2
        # Mean lift of the vol states by jump kicks: rate x mean kick x mean life of a kick.
        kick_life = cfg.jump_vol_kick * math.sqrt(2.0 / math.pi) * cfg.vol_half_life_s / _LN2
        self.h_shift_market = cfg.jump_rate_per_hour / 3600.0 * kick_life
        self.h_shift_symbol = cfg.symbol_jump_rate_per_hour / 3600.0 * kick_life
        self.log_mgf_vol = self._log_mgf_h(2.0) / 2.0
        self.log_mgf_trade = self._log_mgf_h(cfg.trade_vol_beta)
        self.prices = dict(cfg.start_prices)
        self.sym_index = {s: i for i, s in enumerate(sorted(cfg.symbols))}
        self.ex_index = {e: i for i, e in enumerate(sorted(cfg.exchanges))}
        self.sym_names = pa.array(sorted(cfg.symbols), pa.string())
        self.ex_names = pa.array(sorted(cfg.exchanges), pa.string())
        self._init_state()

    def _log_mgf_h(self, beta: float) -> float:
        """``log E[exp(beta * h)]`` of the centred stationary log-vol state ``h``.

        ``h`` = Gaussian OU part (variance ``hv_var``) + shot noise of jump kicks
        ``k |Z| exp(-t / T)`` arriving at rate ``L`` (minus its mean). Campbell's
        formula: ``log E = beta^2 var / 2 + L T int_0^1 (E[exp(beta k |Z| u)] - 1) / u du
        - beta E[kicks]``, by Gauss quadrature. Used so that the diffusive variance and
        the trade intensity average to their configured values.
        """
        cfg = self.cfg
        rate = (cfg.jump_rate_per_hour + cfg.symbol_jump_rate_per_hour) / 3600.0
        life = cfg.vol_half_life_s / _LN2
        z, wz = np.polynomial.hermite_e.hermegauss(64)
        wz = wz / wz.sum()
        u, wu = np.polynomial.legendre.leggauss(64)
        u, wu = 0.5 * (u + 1.0), 0.5 * wu
        a = beta * cfg.jump_vol_kick * np.abs(z)[None, :] * u[:, None]
        inner = (np.expm1(a) @ wz) / u
        shot = rate * life * float(inner @ wu)
        mean = self.h_shift_market + self.h_shift_symbol
        return 0.5 * beta**2 * self.hv_var + shot - beta * mean

    # -- random streams ---------------------------------------------------------------
    def rng(self, *key: int) -> np.random.Generator:
        seq = np.random.SeedSequence(self.cfg.seed, spawn_key=key)
        return np.random.Generator(np.random.PCG64(seq))

    # -- initial state ----------------------------------------------------------------
    def _init_state(self) -> None:
        cfg = self.cfg
        self.h_market = self.rng(_D_INIT_WIDE).normal(self.h_shift_market, cfg.market_vol_sd)
        self.venues: dict[str, _VenueState] = {}
        for v in cfg.exchanges:
            g = self.rng(_D_INIT_VENUE, _crc(v))
            self.venues[v] = _VenueState(
                profile=venue_profile(v), latency_slow=g.normal(0.0, cfg.latency_slow_sd)
            )
        self.symbols: dict[str, _SymbolState] = {}
        self.markets: dict[tuple[str, str], _MarketState] = {}
        for s in cfg.symbols:
            prof = symbol_profile(s)
            p0 = self.prices.get(s, prof.price)
            g = self.rng(_D_INIT_SYMBOL, _crc(s))
            h0 = g.normal(self.h_shift_symbol, cfg.symbol_vol_sd)
            target = cfg.funding_mean_8h + cfg.funding_regime_sd_8h * g.standard_normal()
            level = target + cfg.funding_level_sd_8h * g.standard_normal()
            lot = _pow10(math.floor(math.log10(10.0 / p0)))
            x0 = math.log(p0)
            self.symbols[s] = _SymbolState(
                profile=prof,
                sigma=prof.annual_vol * cfg.vol_scale / math.sqrt(_SECONDS_PER_YEAR),
                jump_scale=prof.annual_vol * cfg.vol_scale / 0.55,
                lot=lot,
                lot_decimals=_decimals(lot),
                x_fine_tail=np.full(self.r, x0),
                x_cell_tail=np.full(self.window_cells + 1, x0),
                h=h0,
                funding_level=level,
                funding_target=target,
            )
            for v in cfg.exchanges:
                vp = self.venues[v].profile
                g = self.rng(_D_INIT_MARKET, _crc(s), _crc(v))
                tick = _pow10(math.floor(math.log10(p0)) - vp.price_sig_digits + 1)
                sds = self._ou_sd()
                offset = cfg.basis_offset_sd_bps * 1e-4 * g.standard_normal()
                self.markets[(s, v)] = _MarketState(
                    venue=vp,
                    tick=tick,
                    tick_decimals=_decimals(tick),
                    basis_offset=offset,
                    funding_offset=cfg.funding_venue_sd_8h * g.standard_normal(),
                    ou=sds * g.standard_normal(len(_OU_NAMES)),
                    next_ticker_ns=cfg.start_ns + int(g.random() * NS / cfg.ticker_rate_hz),
                    last_local={"tickers": 0, "trades": 0, "liquidations": 0},
                )

    def _ou_sd(self) -> np.ndarray:
        cfg = self.cfg
        oi_sd = cfg.oi_vol_per_sqrt_hour * math.sqrt(cfg.oi_half_life_h / (2 * _LN2))
        return np.array(
            [
                cfg.basis_sd_bps * 1e-4,
                cfg.slow_basis_sd_bps * 1e-4,
                cfg.funding_noise_sd_8h,
                cfg.predicted_noise_sd_8h,
                cfg.depth_noise_sd,
                cfg.imbalance_sd,
                cfg.spread_noise_sd,
                oi_sd,
            ]
        )

    def _ou_phi(self) -> np.ndarray:
        cfg = self.cfg
        hl = np.array(
            [
                cfg.basis_half_life_s,
                cfg.slow_basis_half_life_s,
                cfg.funding_noise_half_life_s,
                cfg.predicted_half_life_s,
                cfg.depth_half_life_s,
                cfg.imbalance_half_life_s,
                cfg.spread_half_life_s,
                cfg.oi_half_life_h * 3600.0,
            ]
        )
        return np.asarray(np.exp(-_LN2 * self.step_s / hl))

    # -- chunks -----------------------------------------------------------------------
    def chunks(self) -> list[_Chunk]:
        cfg = self.cfg
        out = []
        c0, k = cfg.start_ns, 0
        while c0 < cfg.end_ns:
            c1 = min(c0 + self.chunk_ns, cfg.end_ns)
            n_cells = -(-(c1 - c0) // self.step_ns)
            lens = np.full(n_cells, self.step_s)
            lens[-1] = ((c1 - c0) - (n_cells - 1) * self.step_ns) / NS
            out.append(_Chunk(index=k, c0=c0, c1=c1, n_cells=n_cells, cell_len_s=lens))
            c0, k = c1, k + 1
        return out

    def run_chunk(self, ch: _Chunk) -> dict[str, pa.Table]:
        h_market, market_jumps, z_market = self._market_wide(ch)
        lat_paths = {v: self._venue_chunk(ch, v) for v in sorted(self.cfg.exchanges)}
        parts: dict[str, list[dict[str, np.ndarray]]] = {
            "tickers": [],
            "trades": [],
            "liquidations": [],
        }
        codes: dict[str, list[tuple[int, int, int]]] = {k: [] for k in parts}
        for s in sorted(self.cfg.symbols):
            paths = self._symbol_chunk(ch, s, h_market, market_jumps, z_market)
            for v in sorted(self.cfg.exchanges):
                out = self._market_chunk(ch, s, v, paths, lat_paths[v])
                for table, cols in out.items():
                    n = len(cols["ts_local"])
                    if n:
                        parts[table].append(cols)
                        codes[table].append((self.ex_index[v], self.sym_index[s], n))
        return {t: self._to_arrow(t, parts[t], codes[t]) for t in parts}

    def _to_arrow(
        self, table: str, parts: list[dict[str, np.ndarray]], codes: list[tuple[int, int, int]]
    ) -> pa.Table:
        names = TABLES[table].column_names
        if not parts:
            return pa.table({c: [] for c in names}).cast(TABLES[table].arrow_schema)
        ex = np.repeat(np.array([c[0] for c in codes]), [c[2] for c in codes])
        sym = np.repeat(np.array([c[1] for c in codes]), [c[2] for c in codes])
        arrays = []
        for c in names:
            if c == "exchange":
                arrays.append(pc.take(self.ex_names, pa.array(ex)))
            elif c == "symbol":
                arrays.append(pc.take(self.sym_names, pa.array(sym)))
            else:
                arrays.append(pa.array(np.concatenate([p[c] for p in parts])))
        return pa.Table.from_arrays(arrays, schema=TABLES[table].arrow_schema)

    # -- market-wide ------------------------------------------------------------------
    def _market_wide(
        self, ch: _Chunk
    ) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray], np.ndarray]:
        cfg = self.cfg
        g = self.rng(_D_MARKET_WIDE, ch.index)
        n, nf = ch.n_cells, ch.n_cells * self.r
        dur_s = (ch.c1 - ch.c0) / NS
        phi = _phi(self.step_s, cfg.vol_half_life_s)
        eps = cfg.market_vol_sd * math.sqrt(1 - phi**2) * g.standard_normal(n)
        nj = g.poisson(cfg.jump_rate_per_hour * dur_s / 3600.0)
        j_t = np.sort(g.random(nj)) * dur_s
        j_size = cfg.jump_sd_bps * 1e-4 * g.standard_normal(nj)
        z = g.standard_normal(nf)
        j_fine = np.minimum((j_t / self.fine_s).astype(np.int64), nf - 1)
        if cfg.jump_sd_bps > 0:
            np.add.at(
                eps, j_fine // self.r, cfg.jump_vol_kick * np.abs(j_size) / (cfg.jump_sd_bps * 1e-4)
            )
        h = ar1_paths(np.array([self.h_market]), np.array([phi]), eps[None, :])[0]
        self.h_market = float(h[-1])
        return h, (j_fine, j_size), z

    # -- venue-level ------------------------------------------------------------------
    def _venue_chunk(self, ch: _Chunk, v: str) -> np.ndarray:
        cfg = self.cfg
        st = self.venues[v]
        g = self.rng(_D_VENUE, ch.index, _crc(v))
        n = ch.n_cells
        dur_s = (ch.c1 - ch.c0) / NS
        phi = _phi(self.step_s, cfg.latency_half_life_s)
        eps = cfg.latency_slow_sd * math.sqrt(1 - phi**2) * g.standard_normal(n)
        slow = ar1_paths(np.array([st.latency_slow]), np.array([phi]), eps[None, :])[0]
        st.latency_slow = float(slow[-1])
        st.spikes.prune(ch.c0)
        st.outages.prune(ch.c0)
        k = g.poisson(cfg.latency_spike_rate_per_hour * dur_s / 3600.0)
        s0 = ch.c0 + (np.sort(g.random(k)) * dur_s * NS).astype(np.int64)
        length = _log_uniform(g, cfg.latency_spike_min_s, cfg.latency_spike_max_s, k)
        extra = _log_uniform(g, cfg.latency_spike_min_ms, cfg.latency_spike_max_ms, k)
        st.spikes.add(s0, s0 + (length * NS).astype(np.int64), extra)
        k = g.poisson(cfg.outage_rate_per_hour * dur_s / 3600.0)
        o0 = ch.c0 + (np.sort(g.random(k)) * dur_s * NS).astype(np.int64)
        length = _log_uniform(g, cfg.outage_min_s, cfg.outage_max_s, k)
        st.outages.add(o0, o0 + (length * NS).astype(np.int64), np.zeros(k))
        return slow

    # -- symbol-level -----------------------------------------------------------------
    def _symbol_chunk(
        self,
        ch: _Chunk,
        s: str,
        h_market: np.ndarray,
        market_jumps: tuple[np.ndarray, np.ndarray],
        z_market: np.ndarray,
    ) -> _SymbolPaths:
        cfg = self.cfg
        st = self.symbols[s]
        g = self.rng(_D_SYMBOL, ch.index, _crc(s))
        n, nf, r = ch.n_cells, ch.n_cells * self.r, self.r
        dur_s = (ch.c1 - ch.c0) / NS
        # idiosyncratic vol state and jumps
        phi = _phi(self.step_s, cfg.vol_half_life_s)
        eps = cfg.symbol_vol_sd * math.sqrt(1 - phi**2) * g.standard_normal(n)
        nj = g.poisson(cfg.symbol_jump_rate_per_hour * dur_s / 3600.0)
        j_t = np.sort(g.random(nj)) * dur_s
        j_size = cfg.jump_sd_bps * 1e-4 * g.standard_normal(nj)
        j_fine = np.minimum((j_t / self.fine_s).astype(np.int64), nf - 1)
        if cfg.jump_sd_bps > 0:
            np.add.at(
                eps, j_fine // r, cfg.jump_vol_kick * np.abs(j_size) / (cfg.jump_sd_bps * 1e-4)
            )
        h_sym = ar1_paths(np.array([st.h]), np.array([phi]), eps[None, :])[0]
        st.h = float(h_sym[-1])
        # centred log-vol state: E[h] ~ 0 with the jump kicks included
        h = h_market + h_sym - (self.h_shift_market + self.h_shift_symbol)
        # latent log price on the fine grid
        z = g.standard_normal(nf)
        rho = cfg.market_correlation
        shocks = rho * z_market + math.sqrt(1.0 - rho**2) * z
        sig_cell = st.sigma * np.exp(h - self.log_mgf_vol)
        dx = np.repeat(sig_cell, r) * math.sqrt(self.fine_s) * shocks
        mj_fine, mj_size = market_jumps
        np.add.at(dx, mj_fine, mj_size * st.jump_scale)
        np.add.at(dx, j_fine, j_size * st.jump_scale)
        x = st.x_fine_tail[-1] + np.cumsum(dx)
        x_ext = np.concatenate([st.x_fine_tail, x])
        st.x_fine_tail = x[-r:].copy()
        # trailing move before each state cell (liquidation trigger)
        w = self.window_cells
        ends = x[r - 1 :: r]
        xe = np.concatenate([st.x_cell_tail, ends])  # xe[w + 1 + j] = end of cell j
        move = xe[w : w + n] - xe[:n]  # start of cell j minus w cells earlier
        st.x_cell_tail = xe[-(w + 1) :].copy()
        move_z = move / (max(st.sigma, 1e-12) * math.sqrt(cfg.liq_window_s))
        # funding regime level (per 8 h)
        k = g.poisson(cfg.funding_regime_rate_per_day * dur_s / 86_400.0)
        shift_cells = np.sort(g.integers(0, n, k))
        new_targets = cfg.funding_mean_8h + cfg.funding_regime_sd_8h * g.standard_normal(k)
        targets = np.concatenate([[st.funding_target], new_targets])
        target = targets[np.searchsorted(shift_cells, np.arange(n), side="right")]
        fphi = _phi(self.step_s, cfg.funding_level_half_life_s)
        feps = (1 - fphi) * target + cfg.funding_level_sd_8h * math.sqrt(
            1 - fphi**2
        ) * g.standard_normal(n)
        level = ar1_paths(np.array([st.funding_level]), np.array([fphi]), feps[None, :])[0]
        st.funding_level = float(level[-1])
        st.funding_target = float(targets[-1])
        return _SymbolPaths(
            x_fine=x,
            x_fine_ext=x_ext,
            h=h,
            move_z=move_z,
            move_sign=np.sign(move),
            funding_level=level,
        )

    # -- one market -------------------------------------------------------------------
    def _market_chunk(
        self, ch: _Chunk, s: str, v: str, sp: _SymbolPaths, latency_slow: np.ndarray
    ) -> dict[str, dict[str, np.ndarray]]:
        cfg = self.cfg
        st = self.markets[(s, v)]
        sym = self.symbols[s]
        ven = self.venues[v]
        vp = st.venue
        g = self.rng(_D_MARKET, ch.index, _crc(s), _crc(v))
        n = ch.n_cells
        dur_s = (ch.c1 - ch.c0) / NS
        cell_start = np.arange(n) * self.step_s

        # 1. OU block
        phi = self._ou_phi()
        sd = self._ou_sd()
        eps = (sd * np.sqrt(1 - phi**2))[:, None] * g.standard_normal((len(_OU_NAMES), n))
        # 2. dislocations
        st.dislocations.prune(ch.c0)
        k = g.poisson(cfg.dislocation_rate_per_hour * dur_s / 3600.0)
        d0 = ch.c0 + (np.sort(g.random(k)) * dur_s * NS).astype(np.int64)
        size = _log_uniform(g, cfg.dislocation_min_bps, cfg.dislocation_max_bps, k) * 1e-4
        size *= np.where(g.random(k) < 0.5, -1.0, 1.0)
        plateau = np.clip(
            cfg.dislocation_median_s * np.exp(cfg.dislocation_sigma * g.standard_normal(k)),
            cfg.dislocation_min_s,
            cfg.dislocation_max_s,
        )
        tau = cfg.dislocation_decay_frac * plateau
        pe = d0 + (plateau * NS).astype(np.int64)
        st.dislocations.add(d0, pe + (6.0 * tau * NS).astype(np.int64), size, pe, tau)
        # 3. ticker times (gamma renewal process, carried across chunks)
        t_tick = self._renewal(g, st, ch, dur_s)
        # 4. trade times
        beta = cfg.trade_vol_beta
        lam = cfg.trade_rate_hz * vp.activity * np.exp(beta * sp.h - self.log_mgf_trade)
        t_trade = self._poisson_times(g, lam * ch.cell_len_s, cell_start, ch.cell_len_s)
        # 5. liquidation times
        excess = np.maximum(np.abs(sp.move_z) - cfg.liq_threshold_z, 0.0)
        weight = vp.oi_share / _MEAN_SEED_OI_SHARE
        base = cfg.liq_base_rate_per_hour / 3600.0 * weight
        trig = cfg.liq_trigger_rate_hz * excess * weight
        counts = g.poisson((base + trig) * ch.cell_len_s)
        cells = np.repeat(np.arange(n), counts)
        t_liq = cell_start[cells] + g.random(cells.size) * ch.cell_len_s[cells]
        order = np.argsort(t_liq, kind="stable")
        t_liq, cells = t_liq[order], cells[order]
        p_trig = trig[cells] / np.maximum(base + trig[cells], 1e-300)
        u_side = g.random(cells.size)
        random_side = np.where(g.random(cells.size) < 0.5, -1.0, 1.0)
        move_sign = sp.move_sign[cells]
        liq_side = np.where((u_side < p_trig) & (move_sign != 0), move_sign, random_side)
        oi_ref = sym.profile.oi_usd * vp.oi_share * cfg.oi_scale
        liq_notional = (
            cfg.liq_size_usd
            * math.sqrt(sym.profile.oi_usd * vp.oi_share / SYMBOL_PROFILES["BTC"].oi_usd)
            * (1.0 + excess[cells])
            * np.exp(cfg.liq_size_sigma * g.standard_normal(cells.size))
        )
        liq_slip = cfg.liq_slippage_bps * 1e-4 * g.random(cells.size)

        # OU paths; open interest drops by a multiple of the liquidated notional
        drop = np.bincount(cells, weights=liq_notional, minlength=n)
        eps[_OI] -= cfg.oi_liquidation_multiplier * drop / (oi_ref * math.exp(st.ou[_OI]))
        paths = ar1_paths(st.ou, phi, eps)
        st.ou = paths[:, -1].copy()

        ctx = _BookContext(self, ch, sym, st, sp, paths)
        out: dict[str, dict[str, np.ndarray]] = {}

        # tickers
        tk = ctx.book(t_tick)
        n_t = t_tick.size
        l1 = math.log(cfg.l1_fraction / (1 - cfg.l1_fraction))
        f_bid = _expit(l1 + cfg.l1_fraction_sd * g.standard_normal(n_t))
        f_ask = _expit(l1 + cfg.l1_fraction_sd * g.standard_normal(n_t))
        bid_sz = _round_lot(sym, f_bid * tk.bid_depth / tk.bid_px)
        ask_sz = _round_lot(sym, f_ask * tk.ask_depth / tk.ask_px)
        mark = tk.mid * np.exp(cfg.mark_noise_bps * 1e-4 * g.standard_normal(n_t))
        j = tk.cell
        f8 = np.clip(
            sp.funding_level[j]
            + cfg.funding_basis_beta * paths[_SLOW, j]
            + cfg.funding_basis_beta * st.basis_offset
            + st.funding_offset
            + paths[_FUND, j],
            -cfg.funding_cap_8h,
            cfg.funding_cap_8h,
        )
        pred8 = np.clip(f8 + paths[_PRED, j], -cfg.funding_cap_8h, cfg.funding_cap_8h)
        interval = vp.funding_interval_s
        scale = interval / EIGHT_HOURS_S
        ts_ex_t, ts_loc_t = self._stamps(g, ch, ven, t_tick, latency_slow)
        keep = ~ven.outages.mask(tk.t_ns)
        interval_ns = interval * NS
        cols = {
            "ts_local": ts_loc_t,
            "ts_exchange": ts_ex_t,
            "bid_px": tk.bid_px,
            "bid_sz": bid_sz,
            "ask_px": tk.ask_px,
            "ask_sz": ask_sz,
            "bid_depth_usd": np.maximum(tk.bid_depth, tk.bid_px * bid_sz),
            "ask_depth_usd": np.maximum(tk.ask_depth, tk.ask_px * ask_sz),
            "mark_px": mark,
            "funding_rate": np.round(f8 * scale, 8),
            "funding_interval_s": np.full(n_t, interval, dtype=np.int64),
            "next_funding_ts": (ts_ex_t // interval_ns + 1) * interval_ns,
            "predicted_funding_rate": np.round(pred8 * scale, 8),
            "open_interest_usd": oi_ref * np.exp(paths[_OI, j]),
        }
        out["tickers"] = self._finish(st, "tickers", cols, keep)

        # trades
        tr = ctx.book(t_trade)
        n_tr = t_trade.size
        notional = (
            sym.profile.trade_usd
            * math.sqrt(vp.depth_scale)
            * cfg.trade_size_scale
            * np.exp(cfg.trade_size_sigma * g.standard_normal(n_tr))
        )
        ret1 = sp.x_fine_ext[tr.fine + self.r] - sp.x_fine_ext[tr.fine]
        logit = (
            cfg.side_momentum_beta * ret1 / max(sym.sigma, 1e-12)
            - cfg.side_dislocation_beta * tr.disl_signed
        )
        side = np.where(g.random(n_tr) < _expit(logit), 1, -1).astype(np.int8)
        buy = side > 0
        depth_side = np.where(buy, tr.ask_depth, tr.bid_depth)
        l1_usd = cfg.l1_fraction * depth_side
        ticks_2bps = np.maximum(2e-4 * tr.mid / st.tick, 1.0)
        per_tick = depth_side / ticks_2bps
        extra = np.where(notional > l1_usd, np.ceil((notional - l1_usd) / per_tick), 0.0)
        extra = np.minimum(extra, cfg.max_sweep_ticks)
        k_px = np.where(buy, tr.ask_k + extra, np.maximum(tr.bid_k - extra, 1.0))
        px = np.round(k_px * st.tick, st.tick_decimals)
        ts_ex_tr, ts_loc_tr = self._stamps(g, ch, ven, t_trade, latency_slow)
        keep = ~ven.outages.mask(tr.t_ns)
        cols = {
            "ts_local": ts_loc_tr,
            "ts_exchange": ts_ex_tr,
            "px": px,
            "sz": _round_lot(sym, notional / px),
            "side": side,
        }
        out["trades"] = self._finish(st, "trades", cols, keep)

        # liquidations
        lq = ctx.book(t_liq)
        sell = liq_side < 0
        k_liq = np.where(
            sell,
            np.maximum(np.floor(lq.bid_px * (1 - liq_slip) / st.tick), 1.0),
            np.ceil(lq.ask_px * (1 + liq_slip) / st.tick),
        )
        lpx = np.round(k_liq * st.tick, st.tick_decimals)
        _, ts_loc_l = self._stamps(g, ch, ven, t_liq, latency_slow)
        keep = ~ven.outages.mask(lq.t_ns)
        cols = {
            "ts_local": ts_loc_l,
            "px": lpx,
            "sz": _round_lot(sym, liq_notional / lpx),
            "side": liq_side.astype(np.int8),
        }
        out["liquidations"] = self._finish(st, "liquidations", cols, keep)
        return out

    def _renewal(
        self, g: np.random.Generator, st: _MarketState, ch: _Chunk, dur_s: float
    ) -> np.ndarray:
        cfg = self.cfg
        shape = cfg.ticker_regularity
        scale = 1.0 / (shape * cfg.ticker_rate_hz)
        t_next = (st.next_ticker_ns - ch.c0) / NS
        batch = int(cfg.ticker_rate_hz * dur_s * 1.1) + 16
        pieces = []
        while t_next < dur_s:
            arr = t_next + np.concatenate([[0.0], np.cumsum(g.gamma(shape, scale, batch))])
            pieces.append(arr[:-1])
            t_next = float(arr[-1])
        times = np.concatenate(pieces) if pieces else np.empty(0)
        inside = times < dur_s
        after = times[~inside]
        nxt = float(after[0]) if after.size else t_next
        st.next_ticker_ns = ch.c0 + int(nxt * NS)
        return times[inside]

    def _poisson_times(
        self,
        g: np.random.Generator,
        mean_counts: np.ndarray,
        cell_start: np.ndarray,
        cell_len: np.ndarray,
    ) -> np.ndarray:
        counts = g.poisson(mean_counts)
        cells = np.repeat(np.arange(counts.size), counts)
        t = cell_start[cells] + g.random(cells.size) * cell_len[cells]
        return np.sort(t)

    def _stamps(
        self,
        g: np.random.Generator,
        ch: _Chunk,
        ven: _VenueState,
        t_rel: np.ndarray,
        latency_slow: np.ndarray,
    ) -> tuple[np.ndarray, np.ndarray]:
        """(ts_exchange, raw ts_local) of events at relative times ``t_rel`` (sorted)."""
        cfg = self.cfg
        t_ns = ch.c0 + (t_rel * NS).astype(np.int64)
        cell = np.minimum((t_rel / self.step_s).astype(np.int64), ch.n_cells - 1)
        z = g.standard_normal(t_rel.size)
        lat_ms = (
            ven.profile.latency_ms
            * cfg.latency_scale
            * np.exp(latency_slow[cell] + cfg.latency_noise_sd * z)
        )
        spike = ven.spikes.box_sum(t_ns)
        lat_ms = lat_ms + spike * np.exp(0.25 * z)
        unit = cfg.exchange_ts_unit_ns
        ts_exchange = t_ns // unit * unit
        ts_local = t_ns + (lat_ms * 1e6).astype(np.int64)
        return ts_exchange, ts_local

    def _finish(
        self, st: _MarketState, table: str, cols: dict[str, np.ndarray], keep: np.ndarray
    ) -> dict[str, np.ndarray]:
        """Drop outage rows; make ts_local a FIFO feed's receive times, carried across chunks.

        ``ts_local[i] = max(raw[i], ts_local[i - 1] + 1 ns)``: a running maximum (a
        delayed message holds back the ones behind it) that also keeps the collector's
        clock strictly increasing within a market, so no two rows are identical.
        """
        cols = {k: v[keep] for k, v in cols.items()}
        ts = cols["ts_local"]
        if ts.size:
            idx = np.arange(ts.size, dtype=np.int64)
            ts = np.maximum(np.maximum.accumulate(ts - idx), st.last_local[table] + 1) + idx
            cols["ts_local"] = ts
            st.last_local[table] = int(ts[-1])
        return cols


def _round_lot(sym: _SymbolState, qty: np.ndarray) -> np.ndarray:
    """Round base-unit sizes to the symbol's lot, at least one lot."""
    lots = np.maximum(np.round(qty / sym.lot), 1.0)
    out: np.ndarray = np.round(lots * sym.lot, sym.lot_decimals)
    return out


@dataclass
class _Book:
    t_ns: np.ndarray
    fine: np.ndarray
    cell: np.ndarray
    mid: np.ndarray
    bid_k: np.ndarray
    ask_k: np.ndarray
    bid_px: np.ndarray
    ask_px: np.ndarray
    bid_depth: np.ndarray
    ask_depth: np.ndarray
    disl_signed: np.ndarray


class _BookContext:
    """Evaluates one market's book at arbitrary (sorted) event times of a chunk."""

    def __init__(
        self,
        gen: _Generator,
        ch: _Chunk,
        sym: _SymbolState,
        st: _MarketState,
        sp: _SymbolPaths,
        paths: np.ndarray,
    ) -> None:
        cfg = gen.cfg
        self.gen, self.ch, self.st, self.sp, self.paths = gen, ch, st, sp, paths
        vp = st.venue
        self.half_spread0 = 0.5e-4 * vp.spread_bps * sym.profile.spread_mult
        self.log_depth0 = math.log(sym.profile.depth_usd * vp.depth_scale * cfg.depth_scale)
        self.log_disl_depth = math.log(cfg.dislocation_depth_factor)

    def book(self, t_rel: np.ndarray) -> _Book:
        gen, ch, st, sp, paths = self.gen, self.ch, self.st, self.sp, self.paths
        cfg = gen.cfg
        n_fine = sp.x_fine.size
        fine = np.minimum((t_rel / gen.fine_s).astype(np.int64), n_fine - 1)
        cell = fine // gen.r
        t_ns = ch.c0 + (t_rel * NS).astype(np.int64)
        size, weight, signed = st.dislocations.profile(t_ns)
        h = sp.h[cell]
        log_mid = (
            sp.x_fine[fine] + paths[_BASIS, cell] + paths[_SLOW, cell] + st.basis_offset + size
        )
        mid = np.exp(log_mid)
        hs = self.half_spread0 * np.exp(cfg.spread_vol_beta * h + paths[_SPREAD, cell])
        tick = st.tick
        bid_k = np.maximum(np.floor(mid * (1.0 - hs) / tick), 1.0)
        ask_k = np.maximum(np.ceil(mid * (1.0 + hs) / tick), bid_k + 1.0)
        log_depth = (
            self.log_depth0
            + paths[_DEPTH, cell]
            - cfg.depth_vol_beta * h
            + self.log_disl_depth * np.minimum(weight, 1.0)
        )
        imb = paths[_IMB, cell] - cfg.imbalance_dislocation_beta * signed
        return _Book(
            t_ns=t_ns,
            fine=fine,
            cell=cell,
            mid=mid,
            bid_k=bid_k,
            ask_k=ask_k,
            bid_px=np.round(bid_k * tick, st.tick_decimals),
            ask_px=np.round(ask_k * tick, st.tick_decimals),
            bid_depth=np.exp(log_depth + imb),
            ask_depth=np.exp(log_depth - imb),
            disl_signed=signed,
        )


# ---------------------------------------------------------------------------------------
# Public entry point
# ---------------------------------------------------------------------------------------


def _file_stem(c0: int) -> str:
    return "synth-" + str(np.datetime64(c0, "s")).replace("-", "").replace(":", "")


def generate(
    out_dir: str | Path,
    *,
    config: SynthConfig | None = None,
    overwrite: bool = False,
    progress: bool = False,
    **overrides: Any,
) -> SynthSummary:
    """Generate a synthetic dataset into ``out_dir`` and return what was written.

    Parameters
    ----------
    out_dir
        Dataset root (created if needed).
    config
        Full configuration (default: ``SynthConfig()``).
    overwrite
        If ``out_dir`` already holds contract tables, delete those table folders
        first. Without it, an ``out_dir`` with data raises ``FileExistsError`` (two
        generations mixed in one folder would not be a valid dataset).
    progress
        Show a progress bar over chunks (tqdm).
    **overrides
        ``SynthConfig`` fields replacing those of ``config``, e.g. ``seed=1,
        hours=3, symbols=("BTC", "ETH")``.

    Returns
    -------
    SynthSummary

    Raises
    ------
    TypeError
        For an override that is not a ``SynthConfig`` field.
    ValueError
        For an invalid parameter (the message names the field).
    FileExistsError
        If ``out_dir`` already contains data and ``overwrite`` is false.
    """
    from spreadarb.data.writer import write_table

    names = {f.name for f in fields(SynthConfig)}
    unknown = sorted(set(overrides) - names)
    if unknown:
        raise TypeError(
            f"generate() got unknown SynthConfig field(s) {', '.join(unknown)}; "
            f"valid fields: {', '.join(sorted(names))}"
        )
    cfg = config if config is not None else SynthConfig()
    if overrides:
        cfg = replace(cfg, **overrides)

    root = Path(out_dir)
    existing = [root / t for t in TABLES if (root / t).exists()]
    if existing:
        if not overwrite:
            raise FileExistsError(
                f"{root} already contains data ({', '.join(p.name for p in existing)}); "
                "choose an empty folder or pass overwrite=True"
            )
        for p in existing:
            shutil.rmtree(p)
    root.mkdir(parents=True, exist_ok=True)

    t0 = time.perf_counter()
    gen = _Generator(cfg)
    chunks = gen.chunks()
    iterator: Iterable[_Chunk] = chunks
    if progress:
        from tqdm import tqdm

        iterator = tqdm(chunks, desc="synth", unit="chunk")
    rows = {t: 0 for t in TABLES}
    files: list[Path] = []
    for ch in iterator:
        tables = gen.run_chunk(ch)
        for table, data in tables.items():
            if data.num_rows:
                files.extend(write_table(root, table, data, name=_file_stem(ch.c0)))
                rows[table] += data.num_rows
    return SynthSummary(
        out_dir=root,
        config=cfg,
        rows=MappingProxyType(rows),
        files=tuple(files),
        start_ns=cfg.start_ns,
        end_ns=cfg.end_ns,
        chunks=len(chunks),
        elapsed_s=time.perf_counter() - t0,
    )
