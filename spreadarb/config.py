"""Strategy configuration: every threshold, weight, fee and scale in one frozen object.

:class:`StrategyConfig` is the single place where a number the strategy depends on is
defined (SPEC §3-§5). Defaults are the seed's values as resolved by the SPEC; values the
seed and the SPEC leave open (fee tables, metric scales) are documented choices.

The config is immutable, hashable and picklable, so sweeps can use it as a cache key
and ship it to workers. Every value is validated on construction: a bad value raises
:class:`ConfigError` naming the field (dotted for nested fields, e.g.
``weights.funding``) and the allowed range.

Units follow the field names: ``*_usd`` US dollars, ``*_bps`` basis points
(1 bp = 0.01 % = 0.0001), ``*_ms`` milliseconds, ``*_s`` seconds, ``*_h`` hours; funding
rates, fees and slippage are plain fractions (0.0001 = 0.01 % = 1 bp) and ``*_8h``
funding values are per 8 hours.

TOML layout (:meth:`StrategyConfig.to_toml` / :meth:`StrategyConfig.from_toml`); keys left
out take their defaults, unknown keys are an error::

    starting_capital = 20000.0
    max_latency_ms = 200.0
    difficulty_ranking = ["paradex", "hyperliquid", "bitget", "gate", "kucoin", "okx",
                          "bybit", "binance"]

    [weights]
    funding = 9.0

    [scales]
    funding_saturation_8h = 0.0005

    [fees]
    default_taker = 0.0006
    entry_kind = "maker"

    [fees.maker]
    binance = 0.0002

    [fees.taker]
    binance = 0.0005
"""

from __future__ import annotations

import difflib
import math
import numbers
import os
import re
import tomllib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, fields, is_dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any, ClassVar, Literal

from spreadarb._io import atomic_write_text
from spreadarb.venues import EXCHANGE_PATTERN

__all__ = [
    "DEFAULT_DIFFICULTY_RANKING",
    "DEFAULT_MAKER_FEES",
    "DEFAULT_TAKER_FEES",
    "ConfigError",
    "CrossedOnArrival",
    "FeeKind",
    "FeeSchedule",
    "MetricScales",
    "QueueModel",
    "ScoreWeights",
    "StrategyConfig",
]

FeeKind = Literal["maker", "taker"]
"""Liquidity side of a fill: a resting limit order pays ``maker``, a market order ``taker``."""

QueueModel = Literal["fraction", "risk_averse"]
CrossedOnArrival = Literal["taker", "reject"]
"""Name of a queue-position model (SPEC §5)."""


class ConfigError(ValueError):
    """An invalid configuration value; the message names the field and the allowed range."""


# ---------------------------------------------------------------------------------------
# Defaults that are tables rather than single numbers
# ---------------------------------------------------------------------------------------

DEFAULT_DIFFICULTY_RANKING: tuple[str, ...] = (
    "paradex",
    "hyperliquid",
    "bitget",
    "gate",
    "kucoin",
    "okx",
    "bybit",
    "binance",
)
"""The seed's fill-difficulty ranking, hardest first: DEXes, then bitget < gate < kucoin <
okx < bybit < binance (easiest). Venues not listed rank harder than all of these."""

DEFAULT_MAKER_FEES: Mapping[str, float] = MappingProxyType(
    {
        "binance": 0.0002,
        "bybit": 0.0002,
        "okx": 0.0002,
        "kucoin": 0.0002,
        "bitget": 0.0002,
        "gate": 0.0002,
        "hyperliquid": 0.00015,
        "paradex": 0.00002,
    }
)
"""Maker fee per venue, fraction of notional: the public base tier (VIP 0 / tier 0) of each
venue's USDT-margined (USDC for the DEXes) perpetuals, without token or referral discounts.
Paradex: the API ("Pro") schedule, 0.002 % maker / 0.02 % taker, because a strategy trades
through the API; its UI ("Retail") orders are free but speed-bumped. Checked against the
venues' published fee pages; override with ``fees.maker`` / ``fees.taker`` for a VIP tier."""

DEFAULT_TAKER_FEES: Mapping[str, float] = MappingProxyType(
    {
        "binance": 0.0005,
        "bybit": 0.00055,
        "okx": 0.0005,
        "kucoin": 0.0006,
        "bitget": 0.0006,
        "gate": 0.0005,
        "hyperliquid": 0.00045,
        "paradex": 0.0002,
    }
)
"""Taker fee per venue, fraction of notional; same sources as :data:`DEFAULT_MAKER_FEES`."""


# ---------------------------------------------------------------------------------------
# Field rules: declared once per field, checked generically
# ---------------------------------------------------------------------------------------


def _fmt(x: float) -> str:
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    return f"{x:g}"


@dataclass(frozen=True)
class _Rule:
    """How one scalar field is checked: its kind, allowed range or choices, and unit."""

    kind: Literal["float", "int", "choice", "venues", "fee_map"]
    unit: str = ""
    lo: float = -math.inf
    hi: float = math.inf
    lo_open: bool = False
    hi_open: bool = False
    choices: tuple[str, ...] = ()

    def interval(self) -> str:
        left = "(" if self.lo_open or math.isinf(self.lo) else "["
        right = ")" if self.hi_open or math.isinf(self.hi) else "]"
        return f"{left}{_fmt(self.lo)}, {_fmt(self.hi)}{right}"

    def allowed(self) -> str:
        """Human-readable allowed values, used in error messages."""
        if self.kind == "choice":
            return "one of " + ", ".join(repr(c) for c in self.choices)
        kind = "an integer" if self.kind == "int" else "a number"
        unit = f" ({self.unit})" if self.unit else ""
        return f"{kind} in {self.interval()}{unit}"

    def in_range(self, x: float) -> bool:
        if math.isnan(x):
            return False
        above = x > self.lo if self.lo_open else x >= self.lo
        below = x < self.hi if self.hi_open else x <= self.hi
        return above and below and not math.isinf(x)


def _number(
    default: float,
    unit: str,
    *,
    lo: float = -math.inf,
    hi: float = math.inf,
    lo_open: bool = False,
    hi_open: bool = False,
) -> Any:
    rule = _Rule("float", unit, lo, hi, lo_open, hi_open)
    return field(default=float(default), metadata={"rule": rule})


def _positive(default: float, unit: str) -> Any:
    """A float in (0, inf)."""
    return _number(default, unit, lo=0.0, lo_open=True)


def _integer(default: int, unit: str, *, lo: float, hi: float = math.inf) -> Any:
    return field(default=int(default), metadata={"rule": _Rule("int", unit, lo, hi)})


def _choices(*choices: str) -> dict[str, _Rule]:
    """Field metadata for a string field that must be one of ``choices``."""
    return {"rule": _Rule("choice", choices=choices)}


_FEE_RULE = _Rule("float", "fraction of notional", lo=-0.01, hi=0.01)
_FEE_KINDS: tuple[str, ...] = ("maker", "taker")


def _coerce(value: Any, rule: _Rule, path: str) -> Any:
    """Check ``value`` against ``rule`` and return it as a plain Python value."""
    if rule.kind == "choice":
        if not isinstance(value, str) or value not in rule.choices:
            raise ConfigError(f"{path} must be {rule.allowed()}, got {value!r}")
        return str(value)
    if rule.kind in ("float", "int"):
        # bool is an int subclass but never a sensible number here.
        ok_type = isinstance(value, numbers.Integral if rule.kind == "int" else numbers.Real)
        if isinstance(value, bool) or not ok_type:
            raise ConfigError(
                f"{path} must be {rule.allowed()}, got {type(value).__name__} {value!r}"
            )
        x: float = int(value) if rule.kind == "int" else float(value)
        if not rule.in_range(x):
            raise ConfigError(f"{path} must be {rule.allowed()}, got {x!r}")
        return x
    raise AssertionError(f"unhandled rule kind {rule.kind!r}")  # pragma: no cover


def _check_venue(name: Any, path: str) -> str:
    if not isinstance(name, str) or EXCHANGE_PATTERN.fullmatch(name) is None:
        raise ConfigError(
            f"{path} must hold venue names as in the data's exchange column (lower case, "
            f"matching {EXCHANGE_PATTERN.pattern}), got {name!r}"
        )
    return str(name)


def _check_rules(obj: Any, prefix: str) -> None:
    """Validate and normalise every field of ``obj`` that carries a simple ``_Rule``."""
    for f in fields(obj):
        rule = f.metadata.get("rule")
        if rule is None or rule.kind in ("venues", "fee_map"):
            continue
        value = _coerce(getattr(obj, f.name), rule, prefix + f.name)
        object.__setattr__(obj, f.name, value)


class _FrozenMap(Mapping[str, float]):
    """A read-only, hashable, picklable ``str -> float`` mapping that keeps insertion order."""

    __slots__ = ("_data",)

    def __init__(self, data: Mapping[str, float]) -> None:
        self._data = dict(data)

    def __getitem__(self, key: str) -> float:
        return self._data[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __hash__(self) -> int:
        return hash(frozenset(self._data.items()))

    def __repr__(self) -> str:
        return repr(self._data)

    def __reduce__(self) -> tuple[Any, ...]:
        return (_FrozenMap, (self._data,))


def _fee_map(value: Any, path: str) -> _FrozenMap:
    if not isinstance(value, Mapping):
        raise ConfigError(
            f"{path} must be a table of venue -> fee, got {type(value).__name__} {value!r}"
        )
    out: dict[str, float] = {}
    for venue, fee in value.items():
        _check_venue(venue, path)
        out[venue] = _coerce(fee, _FEE_RULE, f"{path}.{venue}")
    return _FrozenMap(out)


# ---------------------------------------------------------------------------------------
# Nested groups
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class ScoreWeights:
    """Weights of the six soft metrics in the confidence score (SPEC §3).

    The score is ``round(100 * sum(w_i * s_i) / sum(w_i))`` over sub-scores ``s_i`` in
    [0, 1], so only the ratios matter and a perfect setup scores 100. Weights are
    dimensionless, >= 0, not all zero, with a finite sum.

    Parameters
    ----------
    funding
        Weight of the funding-delta sub-score. Default 9.
    obi
        Weight of the order-book-imbalance sub-score. Default 8.
    oi
        Weight of the open-interest sub-score. Default 7.
    vwap
        Weight of the VWAP-deviation sub-score. Default 6.
    volatility
        Weight of the ATR volatility sub-score. Default 5.
    liquidation
        Weight of the liquidation-cluster-distance sub-score. Default 5.
    """

    _PATH: ClassVar[str] = "weights."

    funding: float = _number(9.0, "dimensionless", lo=0.0)
    obi: float = _number(8.0, "dimensionless", lo=0.0)
    oi: float = _number(7.0, "dimensionless", lo=0.0)
    vwap: float = _number(6.0, "dimensionless", lo=0.0)
    volatility: float = _number(5.0, "dimensionless", lo=0.0)
    liquidation: float = _number(5.0, "dimensionless", lo=0.0)

    def __post_init__(self) -> None:
        _check_rules(self, self._PATH)
        total = self.total
        if not 0.0 < total < math.inf:
            names = ", ".join(self._PATH + f.name for f in fields(self))
            raise ConfigError(
                f"{names} must not all be 0 and their sum must be finite, got sum {total!r}"
            )

    def as_tuple(self) -> tuple[float, float, float, float, float, float]:
        """The weights in metric order: funding, obi, oi, vwap, volatility, liquidation."""
        return (self.funding, self.obi, self.oi, self.vwap, self.volatility, self.liquidation)

    @property
    def total(self) -> float:
        """Sum of the weights (40 by default); the score's denominator."""
        return sum(self.as_tuple())


@dataclass(frozen=True, kw_only=True)
class MetricScales:
    """Scales that map each soft metric to its sub-score in [0, 1] (SPEC §3).

    Each scale is the value of the metric at which its sub-score saturates (reaches 0 or
    1); between, the sub-score is linear in the metric. Windows are in local time.

    Parameters
    ----------
    funding_saturation_8h
        Funding delta, fraction per 8 h, at which the funding sub-score reaches 1; it is
        ``clip(funding_delta_8h / funding_saturation_8h, 0, 1)``. Default 0.0005
        (0.05 % per 8 h, about 55 % a year): five times the entry threshold, a delta that
        is rare and worth full marks.
    obi_scale
        Order-book imbalance, dimensionless in (0, 1], at which the OBI sub-score
        saturates. Per venue ``obi = (bid_depth - ask_depth) / (bid_depth + ask_depth)``;
        the pair's imbalance ``(obi_long - obi_short) / 2`` (bid pressure on the long
        venue, ask pressure on the short venue) maps to
        ``0.5 + 0.5 * clip(imbalance / obi_scale, -1, 1)``. Default 0.5.
    oi_mean_window_s
        Window of the open-interest average the current open interest is compared with,
        seconds. Default 86400 (24 h, the seed's ``oi_24h_avg``).
    oi_ratio_scale
        Relative deviation of open interest from its window average
        (``oi_current / oi_24h_avg - 1``) at which the OI sub-score saturates,
        dimensionless. Default 0.2 (20 %).
    vwap_window_s
        Window of the VWAP and of the price standard deviation around it, seconds.
        Default 3600 (1 h).
    vwap_scale_sd
        VWAP deviation, in standard deviations, at which the VWAP sub-score saturates
        (short leg rich and long leg cheap is good). Default 2.0.
    atr_bar_s
        Bar length for the ATR's true ranges, seconds. Default 60.
    atr_window_bars
        Number of bars the ATR averages over, bars. Default 14 (the classic ATR(14)
        length, as a simple mean of true ranges).
    atr_trend_bars
        The ATR is compared with its value this many bars earlier to decide its trend
        (falling = calming, which is good), bars. Default 14.
    atr_scale_bps
        ATR relative to the mid price, bps, at which the volatility level counts as fully
        bad (sub-score 0 from the level part). Default 25 bps per 60 s bar.
    liquidation_window_s
        Look-back of liquidations used to find clusters, seconds. Default 3600 (1 h).
    liquidation_bucket_bps
        Width of the price buckets liquidations are aggregated in, bps of price.
        Default 10.
    liquidation_cluster_min_usd
        Liquidated notional a bucket needs within the window to count as a cluster, USD.
        Default 100000.
    liquidation_distance_scale_bps
        Distance from the current price to the nearest cluster, bps, at which the
        liquidation sub-score reaches 1 (far is safe; 0 distance scores 0). Default 200
        (2 %). With no liquidation data the sub-score is a neutral 0.5.
    """

    _PATH: ClassVar[str] = "scales."

    funding_saturation_8h: float = _number(
        0.0005, "fraction per 8 h", lo=0.0, hi=0.01, lo_open=True
    )
    obi_scale: float = _number(0.5, "dimensionless", lo=0.0, hi=1.0, lo_open=True)
    oi_mean_window_s: float = _positive(86_400.0, "s")
    oi_ratio_scale: float = _positive(0.2, "dimensionless")
    vwap_window_s: float = _positive(3_600.0, "s")
    vwap_scale_sd: float = _positive(2.0, "standard deviations")
    atr_bar_s: float = _positive(60.0, "s")
    atr_window_bars: int = _integer(14, "bars", lo=1)
    atr_trend_bars: int = _integer(14, "bars", lo=1)
    atr_scale_bps: float = _positive(25.0, "bps")
    liquidation_window_s: float = _positive(3_600.0, "s")
    liquidation_bucket_bps: float = _positive(10.0, "bps")
    liquidation_cluster_min_usd: float = _number(100_000.0, "USD", lo=0.0)
    liquidation_distance_scale_bps: float = _positive(200.0, "bps")

    def __post_init__(self) -> None:
        _check_rules(self, self._PATH)


@dataclass(frozen=True, kw_only=True)
class FeeSchedule:
    """Per-venue trading fees and the fee kinds assumed for projected profit (SPEC §4-§5).

    Fees are fractions of notional (0.0002 = 0.02 % = 2 bps) in [-0.01, 0.01]; negative
    values are maker rebates. In the simulation a limit fill pays the maker fee and a
    market order the taker fee; ``entry_kind`` and ``exit_kind`` only set what the scanner
    assumes when it projects profit.

    Parameters
    ----------
    maker
        Maker fee per venue. Default :data:`DEFAULT_MAKER_FEES`. Replaced as a whole by
        ``from_dict``/``from_toml``; ``replace(**{"fees.maker.binance": x})`` changes one.
    taker
        Taker fee per venue; must list the same venues as ``maker``. Default
        :data:`DEFAULT_TAKER_FEES`.
    default_maker
        Maker fee of a venue missing from ``maker``. Default 0.0002 (the common CEX base
        tier).
    default_taker
        Taker fee of a venue missing from ``taker``. Default 0.0006, the highest base-tier
        taker fee among the seed's venues, so an unknown venue is not flattered.
    entry_kind
        Fee kind assumed for both entry fills in ``projected_profit_usd`` ("maker" or
        "taker"). Default "maker" (entries are limit orders).
    exit_kind
        Fee kind assumed for both exit fills. Default "taker" (exits may have to be
        marketed).
    """

    _PATH: ClassVar[str] = "fees."

    maker: Mapping[str, float] = field(
        default_factory=lambda: _FrozenMap(DEFAULT_MAKER_FEES),
        metadata={"rule": _Rule("fee_map")},
    )
    taker: Mapping[str, float] = field(
        default_factory=lambda: _FrozenMap(DEFAULT_TAKER_FEES),
        metadata={"rule": _Rule("fee_map")},
    )
    default_maker: float = _number(0.0002, "fraction of notional", lo=-0.01, hi=0.01)
    default_taker: float = _number(0.0006, "fraction of notional", lo=-0.01, hi=0.01)
    entry_kind: FeeKind = field(default="maker", metadata=_choices(*_FEE_KINDS))
    exit_kind: FeeKind = field(default="taker", metadata=_choices(*_FEE_KINDS))

    def __post_init__(self) -> None:
        _check_rules(self, self._PATH)
        maker = _fee_map(self.maker, self._PATH + "maker")
        taker = _fee_map(self.taker, self._PATH + "taker")
        if set(maker) != set(taker):
            only_maker = sorted(set(maker) - set(taker))
            only_taker = sorted(set(taker) - set(maker))
            raise ConfigError(
                f"{self._PATH}maker and {self._PATH}taker must list the same venues; "
                f"only in {self._PATH}maker: {only_maker}, only in {self._PATH}taker: "
                f"{only_taker}"
            )
        object.__setattr__(self, "maker", maker)
        object.__setattr__(self, "taker", taker)

    def rate(self, exchange: str, kind: FeeKind) -> float:
        """Fee of ``exchange`` for ``kind`` ("maker" or "taker"), fraction of notional."""
        if kind == "maker":
            return self.maker.get(exchange, self.default_maker)
        if kind == "taker":
            return self.taker.get(exchange, self.default_taker)
        raise ConfigError(f"fee kind must be one of 'maker', 'taker', got {kind!r}")


# ---------------------------------------------------------------------------------------
# The strategy config
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class StrategyConfig:
    """Every parameter of the strategy, validated, immutable and hashable.

    Build it with keywords (``StrategyConfig(min_confidence=60)``), derive variants with
    :meth:`replace` (dotted names reach nested fields), and store it with
    :meth:`to_toml` / :meth:`from_toml`. Integers are accepted for float fields (and
    stored as floats); NaN, infinities and booleans are rejected everywhere.

    Parameters
    ----------
    starting_capital
        Capital at the start of the backtest, USD, > 0. Default 20000.
    max_latency_ms
        An exchange is stale when its rolling mean latency ``ts_local - ts_exchange``
        exceeds this, milliseconds, > 0. Default 200.
    latency_window_s
        Window of that rolling mean, seconds, > 0. Default 10.
    max_quote_age_s
        A market whose last ticker is older than this is stale, seconds, > 0. Default 2.
    latency_penalty
        Points subtracted from the confidence score when a monitored exchange that is not
        a leg is stale, integer in [0, 100]. Default 30.
    min_funding_delta_8h
        Hard constraint: ``funding_delta_8h`` must exceed this, fraction per 8 h, in
        [-0.01, 0.01]. Default 0.0001 (0.01 % per 8 h).
    exit_funding_delta_8h
        Funding-convergence exit: an open position exits when its funding delta falls
        below this, fraction per 8 h, in [-0.01, 0.01] and <= ``min_funding_delta_8h``.
        Default 0.00005 (0.005 % per 8 h).
    expected_hold_h
        Holding time assumed for projected funding income and ``funding_cost_bps``,
        hours, > 0. Default 8.
    scan_interval_s
        Local time between opportunity scans, seconds, > 0. Default 1.
    min_spread_bps
        Minimum entry spread ``spread_bps``, bps, >= 0. Default 5.
    min_confidence
        Minimum ``confidence_score`` to trade, integer in [0, 100]. Default 70.
    min_depth_usd
        Minimum resting depth within 2 bps on each leg, USD, >= 0. Default 50000.
    depth_multiple
        Hard constraint: each leg's depth must be >= this times ``position_size_usd``,
        dimensionless, >= 0. Default 2.
    top_n
        Opportunities kept per scan after ranking, integer >= 1. Default 20.
    weights
        Soft-metric weights, :class:`ScoreWeights` (9/8/7/6/5/5).
    scales
        Soft-metric scales and windows, :class:`MetricScales`.
    difficulty_ranking
        Venues ordered from hardest to easiest to fill; the harder leg is posted first.
        Unknown venues rank harder than every listed one. Default
        :data:`DEFAULT_DIFFICULTY_RANKING`.
    fees
        Per-venue maker/taker fees and the assumed entry/exit fee kinds,
        :class:`FeeSchedule`.
    slippage_base
        Market-order slippage floor, fraction of price, in [0, 0.01]. Default 0.0002.
    slippage_depth_coef
        Slippage added per unit of ``size / depth``, fraction of price, in [0, 0.01].
        Slippage is ``min(slippage_base + slippage_depth_coef * size / depth,
        slippage_cap)``. Default 0.0003.
    slippage_cap
        Slippage ceiling, fraction of price, in [0, 0.01], >= ``slippage_base``.
        Default 0.0005.
    queue_model
        "fraction": a resting order fills once volume traded at its price since it
        reached the exchange is >= ``fill_threshold`` x the depth resting there when it
        arrived. "risk_averse": back of the queue, threshold 1.0 (``fill_threshold`` is
        ignored). A trade through the price fills either at once. Default "fraction".
    fill_threshold
        Queue fraction for the "fraction" model, dimensionless, > 0. Default 0.20.
    crossed_on_arrival
        What the venue does with a limit order whose price the book already trades through
        when the order arrives (the market moved while it travelled). "taker": it executes
        at once at the opposite touch, worsened by the seed's slippage but never beyond the
        limit, taker fee (a plain limit order). "reject": it is cancelled unfilled (a
        post-only order). Default "taker".
    entry_timeout_ms
        Time the harder leg's entry limit order may rest before it is cancelled and the
        opportunity rejected, milliseconds, > 0. Default 500.
    leg_timeout_ms
        Time the easier leg's entry limit order may rest before it is hedged with a
        market order (a leg-out event), milliseconds, > 0. Default 500.
    exit_timeout_ms
        Time exit limit orders may rest before unfilled legs are marketed,
        milliseconds, > 0. Default 500.
    max_position_fraction
        Cap on ``position_size_usd`` as a fraction of available capital, in (0, 1].
        Default 0.5.
    depth_size_fraction
        Cap on ``position_size_usd`` as a fraction of the thinner leg's depth, in (0, 1].
        Default 0.5 (depth / 2).
    min_position_usd
        Smaller positions are skipped, USD, >= 0 and <= ``starting_capital *
        max_position_fraction``. Default 100.
    max_trades_per_symbol
        Open or pending trades allowed per symbol at once, integer >= 1. Default 1.
    position_check_interval_s
        Local time between exit checks of open positions, seconds, > 0. Default 1.
    profit_target_fraction
        Profit-target exit when unrealised PnL >= this x ``projected_profit_usd``,
        dimensionless, > 0. Default 0.9.
    spread_widening_bps
        Spread-widening exit when the closing spread exceeds ``entry_spread_bps`` by this
        much, bps, > 0. Default 50.
    stop_loss_bps
        Stop-loss exit (takes precedence) when the closing spread exceeds
        ``entry_spread_bps`` by this much, bps, > 0 and >= ``spread_widening_bps``.
        Default 100.

    Raises
    ------
    ConfigError
        A value has the wrong type or lies outside its range, or two fields contradict
        each other; the message names the field(s) and the allowed range.
    """

    # Portfolio
    starting_capital: float = _positive(20_000.0, "USD")

    # Freshness and latency (SPEC §3, §4)
    max_latency_ms: float = _positive(200.0, "ms")
    latency_window_s: float = _positive(10.0, "s")
    max_quote_age_s: float = _positive(2.0, "s")
    latency_penalty: int = _integer(30, "score points", lo=0, hi=100)

    # Funding (SPEC §3-§5)
    min_funding_delta_8h: float = _number(0.0001, "fraction per 8 h", lo=-0.01, hi=0.01)
    exit_funding_delta_8h: float = _number(0.00005, "fraction per 8 h", lo=-0.01, hi=0.01)
    expected_hold_h: float = _positive(8.0, "h")

    # Scanner (SPEC §4)
    scan_interval_s: float = _positive(1.0, "s")
    min_spread_bps: float = _number(5.0, "bps", lo=0.0)
    min_confidence: int = _integer(70, "score points", lo=0, hi=100)
    min_depth_usd: float = _number(50_000.0, "USD", lo=0.0)
    depth_multiple: float = _number(2.0, "x position size", lo=0.0)
    top_n: int = _integer(20, "opportunities", lo=1)

    # Scoring (SPEC §3)
    weights: ScoreWeights = field(default_factory=ScoreWeights, metadata={"nested": ScoreWeights})
    scales: MetricScales = field(default_factory=MetricScales, metadata={"nested": MetricScales})

    # Execution (SPEC §5)
    difficulty_ranking: tuple[str, ...] = field(
        default=DEFAULT_DIFFICULTY_RANKING, metadata={"rule": _Rule("venues")}
    )
    fees: FeeSchedule = field(default_factory=FeeSchedule, metadata={"nested": FeeSchedule})
    slippage_base: float = _number(0.0002, "fraction of price", lo=0.0, hi=0.01)
    slippage_depth_coef: float = _number(
        0.0003, "fraction of price per unit size/depth", lo=0.0, hi=0.01
    )
    slippage_cap: float = _number(0.0005, "fraction of price", lo=0.0, hi=0.01)
    queue_model: QueueModel = field(
        default="fraction", metadata=_choices("fraction", "risk_averse")
    )
    fill_threshold: float = _positive(0.20, "fraction of resting depth")
    crossed_on_arrival: CrossedOnArrival = field(
        default="taker", metadata=_choices("taker", "reject")
    )
    entry_timeout_ms: float = _positive(500.0, "ms")
    leg_timeout_ms: float = _positive(500.0, "ms")
    exit_timeout_ms: float = _positive(500.0, "ms")

    # Sizing (SPEC §5)
    max_position_fraction: float = _number(
        0.5, "fraction of available capital", lo=0.0, hi=1.0, lo_open=True
    )
    depth_size_fraction: float = _number(
        0.5, "fraction of the thinner leg's depth", lo=0.0, hi=1.0, lo_open=True
    )
    min_position_usd: float = _number(100.0, "USD", lo=0.0)
    max_trades_per_symbol: int = _integer(1, "trades", lo=1)

    # Exits (SPEC §5)
    position_check_interval_s: float = _positive(1.0, "s")
    profit_target_fraction: float = _positive(0.9, "x projected_profit_usd")
    spread_widening_bps: float = _positive(50.0, "bps")
    stop_loss_bps: float = _positive(100.0, "bps")

    def __post_init__(self) -> None:
        _check_rules(self, "")
        for f in fields(self):
            nested = f.metadata.get("nested")
            if nested is None:
                continue
            value = getattr(self, f.name)
            if isinstance(value, Mapping):
                object.__setattr__(self, f.name, _build(nested, value, f.name + "."))
            elif not isinstance(value, nested):
                raise ConfigError(
                    f"{f.name} must be a {nested.__name__} or a table, "
                    f"got {type(value).__name__} {value!r}"
                )
        object.__setattr__(self, "difficulty_ranking", self._checked_ranking())
        self._check_cross_fields()

    def _checked_ranking(self) -> tuple[str, ...]:
        ranking = self.difficulty_ranking
        if isinstance(ranking, str | bytes) or not isinstance(ranking, list | tuple):
            raise ConfigError(
                "difficulty_ranking must be a list of venue names, hardest first, "
                f"got {type(ranking).__name__} {ranking!r}"
            )
        names = tuple(_check_venue(v, "difficulty_ranking") for v in ranking)
        duplicates = sorted({v for v in names if names.count(v) > 1})
        if duplicates:
            raise ConfigError(f"difficulty_ranking must not repeat a venue, repeats {duplicates}")
        return names

    def _check_cross_fields(self) -> None:
        if self.exit_funding_delta_8h > self.min_funding_delta_8h:
            raise ConfigError(
                f"exit_funding_delta_8h ({self.exit_funding_delta_8h!r}) must be <= "
                f"min_funding_delta_8h ({self.min_funding_delta_8h!r})"
            )
        if self.stop_loss_bps < self.spread_widening_bps:
            raise ConfigError(
                f"stop_loss_bps ({self.stop_loss_bps!r}) must be >= "
                f"spread_widening_bps ({self.spread_widening_bps!r})"
            )
        if self.slippage_base > self.slippage_cap:
            raise ConfigError(
                f"slippage_base ({self.slippage_base!r}) must be <= "
                f"slippage_cap ({self.slippage_cap!r})"
            )
        largest = self.starting_capital * self.max_position_fraction
        if self.min_position_usd > largest:
            raise ConfigError(
                f"min_position_usd ({self.min_position_usd!r}) must be <= starting_capital "
                f"* max_position_fraction ({self.starting_capital!r} * "
                f"{self.max_position_fraction!r} = {largest!r}), or no trade can be sized"
            )

    # --- lookups ---------------------------------------------------------------------

    def fee(self, exchange: str, kind: FeeKind) -> float:
        """Fee of ``exchange`` for a ``kind`` ("maker" or "taker") fill.

        Parameters
        ----------
        exchange
            Venue name as in the data's ``exchange`` column.
        kind
            "maker" for a resting limit fill, "taker" for a market order.

        Returns
        -------
        float
            Fraction of notional; the ``fees.default_*`` value for an unlisted venue.
        """
        return self.fees.rate(exchange, kind)

    def round_trip_fee_bps(self, long_exchange: str, short_exchange: str) -> float:
        """Fees of entering and exiting both legs, bps of one leg's notional.

        Entry fills pay ``fees.entry_kind`` and exit fills ``fees.exit_kind`` on both
        venues, so with the defaults this is ``1e4 * (maker_long + maker_short +
        taker_long + taker_short)``: the ``round_trip_fee_bps`` of SPEC §4.
        """
        entry, exit_ = self.fees.entry_kind, self.fees.exit_kind
        total = math.fsum(
            (
                self.fee(long_exchange, entry),
                self.fee(short_exchange, entry),
                self.fee(long_exchange, exit_),
                self.fee(short_exchange, exit_),
            )
        )
        return total * 1e4

    def difficulty_rank(self, exchange: str) -> int:
        """How hard ``exchange`` is to fill: 0 for the easiest listed venue, higher is harder.

        A listed venue gets ``len(difficulty_ranking) - 1 - position``; an unlisted one
        gets ``len(difficulty_ranking)``, harder than every listed venue. With the
        defaults: binance 0, bybit 1, ..., paradex 7, anything else 8.
        """
        ranking = self.difficulty_ranking
        try:
            return len(ranking) - 1 - ranking.index(exchange)
        except ValueError:
            return len(ranking)

    def harder_leg(self, long_exchange: str, short_exchange: str) -> str:
        """The venue whose leg is posted first: the one with the higher :meth:`difficulty_rank`.

        Ties (two unlisted venues, or one venue on both legs) go to the name that sorts
        first, so the answer does not depend on which venue is long.

        Returns
        -------
        str
            ``long_exchange`` or ``short_exchange``.
        """
        r_long = self.difficulty_rank(long_exchange)
        r_short = self.difficulty_rank(short_exchange)
        if r_long != r_short:
            return long_exchange if r_long > r_short else short_exchange
        return min(long_exchange, short_exchange)

    # --- derivation and serialisation ------------------------------------------------

    def replace(self, **changes: Any) -> StrategyConfig:
        """A copy with ``changes`` applied, validated as a whole.

        Keys are field names; dotted names reach nested fields
        (``replace(**{"weights.funding": 10, "fees.taker.binance": 0.0004})``). A nested
        group may also be given as an instance or as a mapping of the fields to change.
        ``fees.maker`` / ``fees.taker`` given as a mapping replace the whole table.

        Raises
        ------
        ConfigError
            An unknown name (named in the message) or an invalid result.
        """
        data = self.to_dict()
        for key, value in changes.items():
            _assign(data, StrategyConfig, key.split("."), _plain(value), "")
        return StrategyConfig.from_dict(data)

    def to_dict(self) -> dict[str, Any]:
        """The config as nested plain ``dict``/``list``/``float``/``int``/``str`` values."""
        result = _plain(self)
        assert isinstance(result, dict)
        return result

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> StrategyConfig:
        """Build a config from nested mappings such as :meth:`to_dict`'s output.

        Missing keys take their defaults; ``fees.maker`` / ``fees.taker`` are taken as
        whole tables. An unknown key raises :class:`ConfigError` naming it (dotted).
        """
        result = _build(cls, data, "")
        assert isinstance(result, cls)
        return result

    def to_toml(self, path: str | os.PathLike[str]) -> None:
        """Write the config to ``path`` as TOML, atomically (temp file, fsync, rename)."""
        text = "# spreadarb StrategyConfig; units and ranges: spreadarb.config\n"
        text += _toml_dumps(self.to_dict())
        atomic_write_text(Path(path), text)

    @classmethod
    def from_toml(cls, path: str | os.PathLike[str]) -> StrategyConfig:
        """Read a config written by :meth:`to_toml` (or by hand; omitted keys default).

        Raises
        ------
        ConfigError
            Invalid TOML, an unknown key or an invalid value; the message starts with the
            file's path.
        """
        path = Path(path)
        try:
            with path.open("rb") as fh:
                data = tomllib.load(fh)
            return cls.from_dict(data)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path}: invalid TOML: {exc}") from exc
        except ConfigError as exc:
            raise ConfigError(f"{path}: {exc}") from exc


def _plain(value: Any) -> Any:
    """Convert config objects to plain builtins (dataclass -> dict, tuple -> list)."""
    if is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in fields(value)}
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def _unknown_key(key: str, prefix: str, name: Any, known: list[str]) -> ConfigError:
    """Error for the unknown ``key``, whose part ``name`` is not a field under ``prefix``."""
    close = difflib.get_close_matches(str(name), known, n=1)
    hint = f"; did you mean {prefix + close[0]!r}?" if close else ""
    return ConfigError(f"unknown config key {key!r}{hint}")


def _build(cls: type, data: Any, prefix: str) -> Any:
    """Instantiate the config group ``cls`` from a mapping, rejecting unknown keys."""
    if isinstance(data, cls):
        return data
    where = prefix.rstrip(".") or "config"
    if not isinstance(data, Mapping):
        raise ConfigError(f"{where} must be a table, got {type(data).__name__} {data!r}")
    known = {f.name: f for f in fields(cls) if f.init}
    kwargs: dict[str, Any] = {}
    for key, value in data.items():
        f = known.get(key) if isinstance(key, str) else None
        if f is None:
            raise _unknown_key(f"{prefix}{key}", prefix, key, list(known))
        nested = f.metadata.get("nested")
        kwargs[key] = _build(nested, value, f"{prefix}{key}.") if nested else value
    return cls(**kwargs)


def _assign(node: dict[str, Any], cls: type, parts: list[str], value: Any, prefix: str) -> None:
    """Set the dotted name ``prefix + ".".join(parts)`` in ``node``, the plain dict of ``cls``."""
    known = {f.name: f for f in fields(cls)}
    name, rest = parts[0], parts[1:]
    f = known.get(name)
    if f is None:
        raise _unknown_key(prefix + ".".join(parts), prefix, name, list(known))
    nested = f.metadata.get("nested")
    rule = f.metadata.get("rule")
    if nested is not None:
        if rest:
            _assign(node[name], nested, rest, value, f"{prefix}{name}.")
        elif isinstance(value, Mapping):
            for sub_key, sub_value in value.items():
                _assign(node[name], nested, str(sub_key).split("."), sub_value, f"{prefix}{name}.")
        else:
            node[name] = value
    elif rest and rule is not None and rule.kind == "fee_map":
        # Venue names may contain dots: everything after the table name is the venue.
        node[name] = {**node[name], ".".join(rest): value}
    elif rest:
        raise ConfigError(
            f"unknown config key {prefix + '.'.join(parts)!r}: {prefix + name} has no sub-fields"
        )
    else:
        node[name] = value


# ---------------------------------------------------------------------------------------
# TOML output (tomllib reads; the standard library has no writer)
# ---------------------------------------------------------------------------------------

_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")
_ESCAPES = {
    '"': '\\"',
    "\\": "\\\\",
    "\b": "\\b",
    "\t": "\\t",
    "\n": "\\n",
    "\f": "\\f",
    "\r": "\\r",
}
_INT64 = (-(2**63), 2**63 - 1)


def _toml_str(text: str) -> str:
    out = []
    for ch in text:
        if ch in _ESCAPES:
            out.append(_ESCAPES[ch])
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\u{ord(ch):04X}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def _toml_key(key: str) -> str:
    return key if _BARE_KEY.fullmatch(key) else _toml_str(key)


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, numbers.Integral):
        if not _INT64[0] <= int(value) <= _INT64[1]:
            raise ValueError(f"TOML integers are 64-bit, cannot write {value!r}")
        return str(int(value))
    if isinstance(value, numbers.Real):
        x = float(value)
        if math.isnan(x):
            return "nan"
        if math.isinf(x):
            return "inf" if x > 0 else "-inf"
        return repr(x)  # shortest repr that round-trips; always has '.', 'e' or both
    if isinstance(value, str):
        return _toml_str(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, Mapping):
        items = ", ".join(f"{_toml_key(k)} = {_toml_value(v)}" for k, v in value.items())
        return "{" + (f" {items} " if items else "") + "}"
    raise TypeError(f"cannot write {type(value).__name__} {value!r} as TOML")


def _toml_dumps(data: Mapping[str, Any]) -> str:
    """TOML text for nested mappings of scalars, strings and lists.

    Scalars of a table are written before its sub-tables, each sub-table under its own
    ``[dotted.header]``; lists are inline arrays (tables inside lists inline tables).
    ``tomllib.loads(_toml_dumps(d)) == d`` for any such ``d`` with string keys.
    """
    lines: list[str] = []

    def emit(table: Mapping[str, Any], path: tuple[str, ...]) -> None:
        for key in table:
            if not isinstance(key, str):
                raise TypeError(f"TOML keys are strings, got {key!r}")
        if path:
            if lines:
                lines.append("")
            lines.append("[" + ".".join(_toml_key(k) for k in path) + "]")
        for key, value in table.items():
            if not isinstance(value, Mapping):
                lines.append(f"{_toml_key(key)} = {_toml_value(value)}")
        for key, value in table.items():
            if isinstance(value, Mapping):
                emit(value, (*path, key))

    emit(data, ())
    return "\n".join(lines) + "\n"
