"""Tests of spreadarb.config: defaults, validation, derivation and TOML round trips.

The allowed ranges below are written out independently of the implementation's field
metadata, so a changed range or an unvalidated new field makes a test fail.
"""

from __future__ import annotations

import dataclasses
import math
import os
import pickle
import tomllib
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from spreadarb.config import (
    DEFAULT_DIFFICULTY_RANKING,
    ConfigError,
    FeeSchedule,
    MetricScales,
    ScoreWeights,
    StrategyConfig,
    _toml_dumps,
)
from spreadarb.venues import EXCHANGE_PATTERN, SEED_VENUES

INF = math.inf

# (lo, hi, lo_open, hi_open, kind) of every numeric leaf field, by dotted name.
POS = (0.0, INF, True, True, "float")
NONNEG = (0.0, INF, False, True, "float")
FUNDING = (-0.01, 0.01, False, False, "float")
FEE = (-0.01, 0.01, False, False, "float")
SLIP = (0.0, 0.01, False, False, "float")
UNIT = (0.0, 1.0, True, False, "float")
SCORE = (0, 100, False, False, "int")
COUNT = (1, INF, False, True, "int")

NUMERIC: dict[str, tuple[float, float, bool, bool, str]] = {
    "starting_capital": POS,
    "max_latency_ms": POS,
    "latency_window_s": POS,
    "max_quote_age_s": POS,
    "latency_penalty": SCORE,
    "min_funding_delta_8h": FUNDING,
    "exit_funding_delta_8h": FUNDING,
    "expected_hold_h": POS,
    "scan_interval_s": POS,
    "min_spread_bps": NONNEG,
    "min_confidence": SCORE,
    "min_depth_usd": NONNEG,
    "depth_multiple": NONNEG,
    "top_n": COUNT,
    "weights.funding": NONNEG,
    "weights.obi": NONNEG,
    "weights.oi": NONNEG,
    "weights.vwap": NONNEG,
    "weights.volatility": NONNEG,
    "weights.liquidation": NONNEG,
    "scales.funding_saturation_8h": (0.0, 0.01, True, False, "float"),
    "scales.obi_scale": UNIT,
    "scales.oi_mean_window_s": POS,
    "scales.oi_ratio_scale": POS,
    "scales.vwap_window_s": POS,
    "scales.vwap_scale_sd": POS,
    "scales.atr_bar_s": POS,
    "scales.atr_window_bars": COUNT,
    "scales.atr_trend_bars": COUNT,
    "scales.atr_scale_bps": POS,
    "scales.liquidation_window_s": POS,
    "scales.liquidation_bucket_bps": POS,
    "scales.liquidation_cluster_min_usd": NONNEG,
    "scales.liquidation_distance_scale_bps": POS,
    "fees.default_maker": FEE,
    "fees.default_taker": FEE,
    "slippage_base": SLIP,
    "slippage_depth_coef": SLIP,
    "slippage_cap": SLIP,
    "fill_threshold": POS,
    "entry_timeout_ms": POS,
    "leg_timeout_ms": POS,
    "exit_timeout_ms": POS,
    "max_position_fraction": UNIT,
    "depth_size_fraction": UNIT,
    "min_position_usd": NONNEG,
    "max_trades_per_symbol": COUNT,
    "position_check_interval_s": POS,
    "profit_target_fraction": POS,
    "spread_widening_bps": POS,
    "stop_loss_bps": POS,
}

CHOICES: dict[str, tuple[str, ...]] = {
    "queue_model": ("fraction", "risk_averse"),
    "crossed_on_arrival": ("taker", "reject"),
    "fees.entry_kind": ("maker", "taker"),
    "fees.exit_kind": ("maker", "taker"),
}

# Leaves that are not single numbers or choices; tested separately.
SPECIAL = {"difficulty_ranking", "fees.maker", "fees.taker"}

# SPEC §3-§5 values (and the documented choices for what the SPEC leaves open).
EXPECTED_DEFAULTS: dict[str, Any] = {
    "starting_capital": 20_000.0,
    "max_latency_ms": 200.0,
    "latency_window_s": 10.0,
    "max_quote_age_s": 2.0,
    "latency_penalty": 30,
    "min_funding_delta_8h": 0.0001,
    "exit_funding_delta_8h": 0.00005,
    "expected_hold_h": 8.0,
    "scan_interval_s": 1.0,
    "min_spread_bps": 5.0,
    "min_confidence": 70,
    "min_depth_usd": 50_000.0,
    "depth_multiple": 2.0,
    "top_n": 20,
    "weights.funding": 9.0,
    "weights.obi": 8.0,
    "weights.oi": 7.0,
    "weights.vwap": 6.0,
    "weights.volatility": 5.0,
    "weights.liquidation": 5.0,
    "scales.funding_saturation_8h": 0.0005,
    "scales.obi_scale": 0.5,
    "scales.oi_mean_window_s": 86_400.0,
    "scales.oi_ratio_scale": 0.2,
    "scales.vwap_window_s": 3_600.0,
    "scales.vwap_scale_sd": 2.0,
    "scales.atr_bar_s": 60.0,
    "scales.atr_window_bars": 14,
    "scales.atr_trend_bars": 14,
    "scales.atr_scale_bps": 25.0,
    "scales.liquidation_window_s": 3_600.0,
    "scales.liquidation_bucket_bps": 10.0,
    "scales.liquidation_cluster_min_usd": 100_000.0,
    "scales.liquidation_distance_scale_bps": 200.0,
    "difficulty_ranking": [
        "paradex",
        "hyperliquid",
        "bitget",
        "gate",
        "kucoin",
        "okx",
        "bybit",
        "binance",
    ],
    "fees.maker": {
        "binance": 0.0002,
        "bybit": 0.0002,
        "okx": 0.0002,
        "kucoin": 0.0002,
        "bitget": 0.0002,
        "gate": 0.0002,
        "hyperliquid": 0.00015,
        "paradex": 0.00002,
    },
    "fees.taker": {
        "binance": 0.0005,
        "bybit": 0.00055,
        "okx": 0.0005,
        "kucoin": 0.0006,
        "bitget": 0.0006,
        "gate": 0.0005,
        "hyperliquid": 0.00045,
        "paradex": 0.0002,
    },
    "fees.default_maker": 0.0002,
    "fees.default_taker": 0.0006,
    "fees.entry_kind": "maker",
    "fees.exit_kind": "taker",
    "slippage_base": 0.0002,
    "slippage_depth_coef": 0.0003,
    "slippage_cap": 0.0005,
    "queue_model": "fraction",
    "fill_threshold": 0.20,
    "crossed_on_arrival": "taker",
    "entry_timeout_ms": 500.0,
    "leg_timeout_ms": 500.0,
    "exit_timeout_ms": 500.0,
    "max_position_fraction": 0.5,
    "depth_size_fraction": 0.5,
    "min_position_usd": 100.0,
    "max_trades_per_symbol": 1,
    "position_check_interval_s": 1.0,
    "profit_target_fraction": 0.9,
    "spread_widening_bps": 50.0,
    "stop_loss_bps": 100.0,
}


def flatten(data: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Dotted leaves of a to_dict() result; the fee tables count as leaves."""
    out: dict[str, Any] = {}
    for key, value in data.items():
        path = prefix + key
        if isinstance(value, dict) and path not in SPECIAL:
            out.update(flatten(value, path + "."))
        else:
            out[path] = value
    return out


def nest(flat: dict[str, Any]) -> dict[str, Any]:
    """Inverse of flatten."""
    out: dict[str, Any] = {}
    for path, value in flat.items():
        *parents, leaf = path.split(".")
        node = out
        for p in parents:
            node = node.setdefault(p, {})
        node[leaf] = value
    return out


def interval_text(lo: float, hi: float, lo_open: bool, hi_open: bool) -> str:
    def fmt(x: float) -> str:
        return "inf" if x == INF else f"{x:g}"

    return f"{'(' if lo_open else '['}{fmt(lo)}, {fmt(hi)}{')' if hi_open else ']'}"


def bad_values(lo: float, hi: float, lo_open: bool, hi_open: bool, kind: str) -> list[Any]:
    values: list[Any] = ["1", None, True]
    if kind == "float":
        values += [math.nan, INF, -INF]
        values.append(lo if lo_open else lo - 1.0)
        if hi != INF:
            values.append(hi + 1.0)
    else:
        values += [1.5, lo - 1]
        if hi != INF:
            values.append(hi + 1)
    return values


# ---------------------------------------------------------------------------------------
# Defaults
# ---------------------------------------------------------------------------------------


def test_every_leaf_field_is_covered_by_these_tests() -> None:
    leaves = set(flatten(StrategyConfig().to_dict()))
    assert leaves == set(NUMERIC) | set(CHOICES) | SPECIAL
    assert leaves == set(EXPECTED_DEFAULTS)


def test_defaults_equal_the_spec() -> None:
    flat = flatten(StrategyConfig().to_dict())
    for path, expected in EXPECTED_DEFAULTS.items():
        assert flat[path] == expected, path
        assert type(flat[path]) is type(expected), path


def test_default_types_match_their_kind() -> None:
    flat = flatten(StrategyConfig().to_dict())
    for path, (*_, kind) in NUMERIC.items():
        assert type(flat[path]) is (int if kind == "int" else float), path


def test_default_tables_cover_every_seed_venue() -> None:
    cfg = StrategyConfig()
    assert set(cfg.difficulty_ranking) == set(SEED_VENUES)
    assert set(cfg.fees.maker) == set(SEED_VENUES) == set(cfg.fees.taker)
    assert cfg.difficulty_ranking == DEFAULT_DIFFICULTY_RANKING


def test_default_weights_sum_to_40_and_keep_metric_order() -> None:
    weights = StrategyConfig().weights
    assert weights.total == 40.0
    assert weights.as_tuple() == (9.0, 8.0, 7.0, 6.0, 5.0, 5.0)


def test_fields_are_keyword_only() -> None:
    with pytest.raises(TypeError):
        StrategyConfig(20_000.0)  # type: ignore[call-arg]


def test_frozen() -> None:
    cfg = StrategyConfig()
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.starting_capital = 1.0  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.weights.funding = 1.0  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.fees.default_taker = 0.0  # type: ignore[misc]
    with pytest.raises(TypeError):
        cfg.fees.maker["binance"] = 0.0  # type: ignore[index]


def test_hashable_comparable_and_picklable() -> None:
    a = StrategyConfig()
    b = StrategyConfig.from_dict(a.to_dict())
    assert a == b and hash(a) == hash(b)
    assert len({a, b, a.replace(top_n=5)}) == 2
    assert pickle.loads(pickle.dumps(a)) == a
    changed = a.replace(**{"fees.maker.binance": 0.0001})
    assert changed != a
    assert pickle.loads(pickle.dumps(changed)) == changed


# ---------------------------------------------------------------------------------------
# Validation
# ---------------------------------------------------------------------------------------

INVALID_CASES = (
    [
        pytest.param(path, value, interval_text(*rule[:4]), id=f"{path}={value!r}")
        for path, rule in NUMERIC.items()
        for value in bad_values(*rule)
    ]
    + [
        pytest.param(
            "fees.maker.binance", value, "[-0.01, 0.01]", id=f"fees.maker.binance={value!r}"
        )
        for value in (0.02, -0.02, math.nan, "0.0002")
    ]
    + [
        pytest.param("fees.taker.okx", value, "[-0.01, 0.01]", id=f"fees.taker.okx={value!r}")
        for value in (0.05, INF)
    ]
)


@pytest.mark.parametrize(("path", "value", "interval"), INVALID_CASES)
def test_invalid_numeric_value_names_field_and_range(path: str, value: Any, interval: str) -> None:
    with pytest.raises(ConfigError) as info:
        StrategyConfig().replace(**{path: value})
    message = str(info.value)
    assert path in message
    assert interval in message


@pytest.mark.parametrize(
    ("path", "value"),
    [(path, value) for path in CHOICES for value in ("", "fifo", "Maker", 1, None)],
)
def test_invalid_choice_names_field_and_choices(path: str, value: Any) -> None:
    with pytest.raises(ConfigError) as info:
        StrategyConfig().replace(**{path: value})
    message = str(info.value)
    assert path in message
    for choice in CHOICES[path]:
        assert repr(choice) in message


@pytest.mark.parametrize("path", sorted(NUMERIC))
def test_direct_construction_validates_too(path: str) -> None:
    lo, _, lo_open, _, _ = NUMERIC[path]
    bad = lo if lo_open else lo - 1
    group, _, name = path.rpartition(".")
    cls = {
        "": StrategyConfig,
        "weights": ScoreWeights,
        "scales": MetricScales,
        "fees": FeeSchedule,
    }[group]
    with pytest.raises(ConfigError, match=path.replace(".", r"\.")):
        cls(**{name: bad})


@pytest.mark.parametrize("path", sorted(NUMERIC))
def test_closed_bounds_are_accepted(path: str) -> None:
    lo, hi, lo_open, hi_open, kind = NUMERIC[path]
    # Partners that keep cross-field rules satisfied at the extremes.
    partners = {
        "min_funding_delta_8h": {"exit_funding_delta_8h": -0.01},
        "exit_funding_delta_8h": {"min_funding_delta_8h": 0.01},
        "slippage_base": {"slippage_cap": 0.01},
        "slippage_cap": {"slippage_base": 0.0},
    }.get(path, {})
    for bound, is_open in ((lo, lo_open), (hi, hi_open)):
        if is_open or math.isinf(bound):
            continue
        value = int(bound) if kind == "int" else bound
        cfg = StrategyConfig().replace(**partners, **{path: value})
        assert flatten(cfg.to_dict())[path] == value


@pytest.mark.parametrize(
    ("changes", "names"),
    [
        ({"exit_funding_delta_8h": 0.0002}, ["exit_funding_delta_8h", "min_funding_delta_8h"]),
        ({"min_funding_delta_8h": 0.00001}, ["exit_funding_delta_8h", "min_funding_delta_8h"]),
        ({"stop_loss_bps": 40.0}, ["stop_loss_bps", "spread_widening_bps"]),
        ({"spread_widening_bps": 150.0}, ["stop_loss_bps", "spread_widening_bps"]),
        ({"slippage_base": 0.001}, ["slippage_base", "slippage_cap"]),
        ({"slippage_cap": 0.0001}, ["slippage_base", "slippage_cap"]),
        (
            {"min_position_usd": 10_001.0},
            ["min_position_usd", "starting_capital", "max_position_fraction"],
        ),
        (
            {"starting_capital": 150.0},
            ["min_position_usd", "starting_capital", "max_position_fraction"],
        ),
        (
            {
                "weights": {
                    "funding": 0,
                    "obi": 0,
                    "oi": 0,
                    "vwap": 0,
                    "volatility": 0,
                    "liquidation": 0,
                }
            },
            ["weights.funding", "weights.liquidation"],
        ),
        (
            {"weights.funding": 1e308, "weights.obi": 1e308},
            ["weights.funding", "weights.liquidation", "finite"],
        ),
        ({"fees.maker.newdex": 0.0001}, ["fees.maker", "fees.taker", "newdex"]),
    ],
)
def test_cross_field_rules_name_every_field_involved(
    changes: dict[str, Any], names: list[str]
) -> None:
    with pytest.raises(ConfigError) as info:
        StrategyConfig().replace(**changes)
    for name in names:
        assert name in str(info.value)


def test_stop_loss_equal_to_widening_is_allowed() -> None:
    cfg = StrategyConfig(spread_widening_bps=80.0, stop_loss_bps=80.0)
    assert cfg.stop_loss_bps == cfg.spread_widening_bps


@pytest.mark.parametrize(
    "ranking",
    [
        "binance",
        ["binance", "binance"],
        ["Binance"],
        [""],
        ["bin ance"],
        [1, 2],
        {"binance": 1},
    ],
)
def test_invalid_difficulty_ranking(ranking: Any) -> None:
    with pytest.raises(ConfigError, match="difficulty_ranking"):
        StrategyConfig().replace(difficulty_ranking=ranking)


@pytest.mark.parametrize("table", ["fees.maker", "fees.taker"])
@pytest.mark.parametrize("value", [[0.0002], 0.0002, {"Binance": 0.0002}, {"": 0.0}])
def test_invalid_fee_table(table: str, value: Any) -> None:
    with pytest.raises(ConfigError, match=table.replace(".", r"\.")):
        StrategyConfig().replace(**{table: value})


def test_nested_group_of_wrong_type() -> None:
    with pytest.raises(ConfigError, match="weights"):
        StrategyConfig(weights=3)  # type: ignore[arg-type]


def test_ints_and_numpy_scalars_become_plain_python_values() -> None:
    cfg = StrategyConfig().replace(
        starting_capital=50_000,
        top_n=np.int64(5),
        min_spread_bps=np.float64(7.5),
        **{"weights.obi": np.float32(2.5), "scales.atr_window_bars": np.int32(20)},
    )
    assert type(cfg.starting_capital) is float and cfg.starting_capital == 50_000.0
    assert type(cfg.top_n) is int and cfg.top_n == 5
    assert type(cfg.min_spread_bps) is float
    assert type(cfg.weights.obi) is float and cfg.weights.obi == 2.5
    assert type(cfg.scales.atr_window_bars) is int
    assert tomllib.loads(_toml_dumps(cfg.to_dict()))["top_n"] == 5


def test_lists_become_tuples_and_mappings_become_groups() -> None:
    cfg = StrategyConfig(
        difficulty_ranking=["okx", "binance"],  # type: ignore[arg-type]
        weights={"funding": 1.0},  # type: ignore[arg-type]
    )
    assert cfg.difficulty_ranking == ("okx", "binance")
    assert cfg.weights == ScoreWeights(funding=1.0)


# ---------------------------------------------------------------------------------------
# Lookups
# ---------------------------------------------------------------------------------------


def test_fee_lookup_and_unknown_venue_default() -> None:
    cfg = StrategyConfig()
    assert cfg.fee("binance", "maker") == 0.0002
    assert cfg.fee("bybit", "taker") == 0.00055
    assert cfg.fee("hyperliquid", "maker") == 0.00015
    assert cfg.fee("somedex", "maker") == cfg.fees.default_maker == 0.0002
    assert cfg.fee("somedex", "taker") == cfg.fees.default_taker == 0.0006
    with pytest.raises(ConfigError, match="maker"):
        cfg.fee("binance", "limit")  # type: ignore[arg-type]


def test_round_trip_fee_uses_entry_and_exit_kinds() -> None:
    cfg = StrategyConfig()
    # maker in on both legs, taker out on both legs
    expected = 1e4 * (0.0002 + 0.0002 + 0.0005 + 0.00055)
    assert cfg.round_trip_fee_bps("binance", "bybit") == pytest.approx(expected)
    all_taker = cfg.replace(**{"fees.entry_kind": "taker"})
    assert all_taker.round_trip_fee_bps("binance", "bybit") == pytest.approx(
        1e4 * 2 * (0.0005 + 0.00055)
    )


def test_difficulty_rank_values() -> None:
    cfg = StrategyConfig()
    assert cfg.difficulty_rank("binance") == 0
    assert cfg.difficulty_rank("bybit") == 1
    assert cfg.difficulty_rank("paradex") == 7
    assert cfg.difficulty_rank("newdex") == 8


@pytest.mark.parametrize("harder", DEFAULT_DIFFICULTY_RANKING)
@pytest.mark.parametrize("easier", DEFAULT_DIFFICULTY_RANKING)
def test_harder_leg_follows_the_seed_ranking(harder: str, easier: str) -> None:
    order = list(DEFAULT_DIFFICULTY_RANKING)
    if order.index(harder) >= order.index(easier):
        return
    cfg = StrategyConfig()
    assert cfg.harder_leg(harder, easier) == harder
    assert cfg.harder_leg(easier, harder) == harder


def test_harder_leg_seed_examples_and_unknown_venues() -> None:
    cfg = StrategyConfig()
    # The seed: binance is never the harder leg.
    for other in SEED_VENUES[1:]:
        assert cfg.harder_leg("binance", other) == other
        assert cfg.harder_leg(other, "binance") == other
    # DEXes are harder than every CEX; bitget < gate < kucoin < okx < bybit < binance.
    assert cfg.harder_leg("bitget", "hyperliquid") == "hyperliquid"
    assert cfg.harder_leg("gate", "bitget") == "bitget"
    assert cfg.harder_leg("okx", "kucoin") == "kucoin"
    assert cfg.harder_leg("paradex", "hyperliquid") == "paradex"
    # Unknown venues are harder than every known one.
    for venue in SEED_VENUES:
        assert cfg.harder_leg(venue, "newdex") == "newdex"
        assert cfg.harder_leg("newdex", venue) == "newdex"
    # Two unknown venues: the name that sorts first, whichever leg it is.
    assert cfg.harder_leg("zeta", "alpha") == "alpha"
    assert cfg.harder_leg("alpha", "zeta") == "alpha"
    assert cfg.harder_leg("okx", "okx") == "okx"


def test_harder_leg_with_a_custom_ranking() -> None:
    cfg = StrategyConfig(difficulty_ranking=("binance", "okx"))
    assert cfg.harder_leg("okx", "binance") == "binance"
    assert cfg.harder_leg("okx", "bybit") == "bybit"  # no longer listed: hardest


@given(
    a=st.from_regex(EXCHANGE_PATTERN, fullmatch=True),
    b=st.from_regex(EXCHANGE_PATTERN, fullmatch=True),
)
def test_harder_leg_is_one_of_the_legs_and_symmetric(a: str, b: str) -> None:
    cfg = StrategyConfig()
    result = cfg.harder_leg(a, b)
    assert result in (a, b)
    assert cfg.harder_leg(b, a) == result
    other = b if result == a else a
    assert cfg.difficulty_rank(result) >= cfg.difficulty_rank(other)


# ---------------------------------------------------------------------------------------
# replace / from_dict
# ---------------------------------------------------------------------------------------


def test_replace_with_dotted_names() -> None:
    base = StrategyConfig()
    cfg = base.replace(
        min_confidence=60,
        **{
            "weights.funding": 12,
            "scales.obi_scale": 0.25,
            "fees.taker.binance": 0.0004,
            "fees.maker.binance": 0.00018,
            "fees.entry_kind": "taker",
        },
    )
    assert cfg.min_confidence == 60
    assert cfg.weights.funding == 12.0 and cfg.weights.obi == 8.0
    assert cfg.scales.obi_scale == 0.25
    assert cfg.fee("binance", "taker") == 0.0004
    assert cfg.fee("binance", "maker") == 0.00018
    assert cfg.fee("okx", "taker") == 0.0005
    assert cfg.fees.entry_kind == "taker"
    assert base == StrategyConfig()  # the original is untouched


def test_replace_adds_a_venue_to_both_fee_tables() -> None:
    cfg = StrategyConfig().replace(**{"fees.maker.dydx": 0.0001, "fees.taker.dydx": 0.0005})
    assert cfg.fee("dydx", "taker") == 0.0005
    assert list(cfg.fees.maker)[-1] == "dydx"


def test_replace_with_venue_containing_a_dot() -> None:
    cfg = StrategyConfig().replace(**{"fees.maker.dex.v2": 0.0, "fees.taker.dex.v2": 0.0003})
    assert cfg.fee("dex.v2", "taker") == 0.0003


def test_replace_nested_group_by_instance_or_partial_mapping() -> None:
    base = StrategyConfig()
    weights = ScoreWeights(funding=1, obi=1, oi=1, vwap=1, volatility=1, liquidation=1)
    assert base.replace(weights=weights).weights == weights
    partial = base.replace(weights={"obi": 3.0}, scales={"vwap_scale_sd": 1.5})
    assert partial.weights == dataclasses.replace(base.weights, obi=3.0)
    assert partial.scales.vwap_scale_sd == 1.5
    assert partial.scales.atr_bar_s == base.scales.atr_bar_s
    # A fee table given as a mapping replaces the table.
    fees = base.replace(fees={"maker": {"okx": 0.0001}, "taker": {"okx": 0.0003}}).fees
    assert dict(fees.maker) == {"okx": 0.0001}
    assert fees.default_taker == base.fees.default_taker


@pytest.mark.parametrize(
    ("key", "shown"),
    [
        ("min_confidnce", "'min_confidence'"),
        ("weights.fundng", "'weights.funding'"),
        ("scales.obi", "scales.obi"),
        ("fees.makers.binance", "fees.makers.binance"),
        ("nope.deeper", "nope.deeper"),
        ("top_n.value", "top_n.value"),
    ],
)
def test_replace_unknown_name_raises_naming_it(key: str, shown: str) -> None:
    with pytest.raises(ConfigError, match="unknown config key") as info:
        StrategyConfig().replace(**{key: 1})
    assert key in str(info.value)
    assert shown in str(info.value)


def test_replace_validates_the_result() -> None:
    with pytest.raises(ConfigError, match="stop_loss_bps"):
        StrategyConfig().replace(spread_widening_bps=200.0)
    ok = StrategyConfig().replace(spread_widening_bps=200.0, stop_loss_bps=300.0)
    assert ok.stop_loss_bps == 300.0


def test_from_dict_fills_missing_keys_with_defaults() -> None:
    cfg = StrategyConfig.from_dict({"top_n": 5, "weights": {"funding": 1}, "fees": {}})
    assert cfg == StrategyConfig(top_n=5, weights=ScoreWeights(funding=1.0))
    assert StrategyConfig.from_dict({}) == StrategyConfig()


@pytest.mark.parametrize(
    ("data", "key"),
    [
        ({"top_nn": 5}, "top_nn"),
        ({"weights": {"funding": 1, "extra": 2}}, "weights.extra"),
        ({"scales": {"vwap_window": 60}}, "scales.vwap_window"),
        ({"fees": {"maker_fees": {}}}, "fees.maker_fees"),
        ({1: 2}, "1"),
    ],
)
def test_from_dict_unknown_key_raises_naming_it(data: dict[Any, Any], key: str) -> None:
    with pytest.raises(ConfigError, match="unknown config key") as info:
        StrategyConfig.from_dict(data)
    assert key in str(info.value)


def test_from_dict_nested_must_be_a_table() -> None:
    with pytest.raises(ConfigError, match="weights must be a table"):
        StrategyConfig.from_dict({"weights": 9})


# ---------------------------------------------------------------------------------------
# TOML
# ---------------------------------------------------------------------------------------


def test_toml_round_trip_of_defaults(tmp_path: Path) -> None:
    path = tmp_path / "strategy.toml"
    cfg = StrategyConfig()
    cfg.to_toml(path)
    text = path.read_text(encoding="utf-8")
    assert "[weights]" in text and "[fees.maker]" in text
    assert StrategyConfig.from_toml(path) == cfg
    assert StrategyConfig.from_toml(str(path)) == cfg


def test_hand_written_toml_with_ints_and_omissions(tmp_path: Path) -> None:
    path = tmp_path / "short.toml"
    path.write_text(
        'starting_capital = 5000\nmin_confidence = 60\nqueue_model = "risk_averse"\n'
        "[weights]\nfunding = 10\n"
        "[fees.maker]\nbinance = 0.0001\n[fees.taker]\nbinance = 0.0004\n",
        encoding="utf-8",
    )
    cfg = StrategyConfig.from_toml(path)
    assert cfg.starting_capital == 5000.0 and type(cfg.starting_capital) is float
    assert cfg.min_confidence == 60
    assert cfg.queue_model == "risk_averse"
    assert cfg.weights.funding == 10.0 and cfg.weights.obi == 8.0
    assert dict(cfg.fees.taker) == {"binance": 0.0004}
    assert cfg.fee("okx", "taker") == cfg.fees.default_taker


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("top_nn = 5\n", "top_nn"),
        ("[weights]\nfundng = 1.0\n", "weights.fundng"),
        ("[scales]\n[scales.extra]\nx = 1\n", "scales.extra"),
        ("[portfolio]\nstarting_capital = 1.0\n", "portfolio"),
    ],
)
def test_unknown_toml_key_raises_naming_key_and_file(tmp_path: Path, text: str, key: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError, match="unknown config key") as info:
        StrategyConfig.from_toml(path)
    assert repr(key) in str(info.value)
    assert str(path) in str(info.value)


def test_invalid_toml_value_and_syntax_name_the_file(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text("top_n = 0\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="top_n") as info:
        StrategyConfig.from_toml(path)
    assert str(path) in str(info.value)
    path.write_text("top_n = = 3\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="invalid TOML") as info:
        StrategyConfig.from_toml(path)
    assert str(path) in str(info.value)


def test_to_toml_replaces_atomically_and_leaves_no_temp_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "strategy.toml"
    StrategyConfig().to_toml(path)
    StrategyConfig(top_n=3).to_toml(path)  # overwrite
    assert StrategyConfig.from_toml(path).top_n == 3
    assert sorted(p.name for p in tmp_path.iterdir()) == ["strategy.toml"]
    assert path.stat().st_mode & 0o777 == 0o644

    def fail(src: str, dst: str) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", fail)
    with pytest.raises(OSError, match="disk full"):
        StrategyConfig(top_n=7).to_toml(path)
    monkeypatch.undo()
    assert StrategyConfig.from_toml(path).top_n == 3  # old file intact
    assert sorted(p.name for p in tmp_path.iterdir()) == ["strategy.toml"]


# --- hypothesis: valid configs round-trip exactly ---------------------------------------

VENUE = st.from_regex(EXCHANGE_PATTERN, fullmatch=True)


def numeric_value(rule: tuple[float, float, bool, bool, str]) -> st.SearchStrategy[Any]:
    lo, hi, lo_open, hi_open, kind = rule
    if kind == "int":
        return st.integers(
            min_value=int(lo) + int(lo_open), max_value=10**9 if hi == INF else int(hi)
        )
    return st.floats(
        min_value=lo,
        max_value=None if hi == INF else hi,
        exclude_min=lo_open,
        exclude_max=hi_open and hi != INF,
        allow_nan=False,
        allow_infinity=False,
    )


@st.composite
def valid_configs(draw: st.DrawFn) -> StrategyConfig:
    flat: dict[str, Any] = {path: draw(numeric_value(rule)) for path, rule in NUMERIC.items()}
    flat.update({path: draw(st.sampled_from(options)) for path, options in CHOICES.items()})
    flat["difficulty_ranking"] = draw(st.lists(VENUE, unique=True, max_size=10))
    venues = draw(st.lists(VENUE, unique=True, max_size=10))
    fee = numeric_value(FEE)
    flat["fees.maker"] = {v: draw(fee) for v in venues}
    flat["fees.taker"] = {v: draw(fee) for v in venues}
    # Repair cross-field rules rather than filtering (keeps hypothesis fast).
    flat["exit_funding_delta_8h"] = min(flat["exit_funding_delta_8h"], flat["min_funding_delta_8h"])
    flat["stop_loss_bps"] = max(flat["stop_loss_bps"], flat["spread_widening_bps"])
    flat["slippage_base"] = min(flat["slippage_base"], flat["slippage_cap"])
    flat["min_position_usd"] = min(
        flat["min_position_usd"], flat["starting_capital"] * flat["max_position_fraction"]
    )
    weights = [path for path in NUMERIC if path.startswith("weights.")]
    if not 0 < sum(flat[path] for path in weights) < INF:
        flat.update({path: 1.0 for path in weights})
    return StrategyConfig.from_dict(nest(flat))


@pytest.fixture(scope="module")
def toml_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("toml")


@settings(max_examples=200, deadline=None)
@given(cfg=valid_configs())
def test_toml_round_trip_is_exact(cfg: StrategyConfig, toml_dir: Path) -> None:
    path = toml_dir / "cfg.toml"
    cfg.to_toml(path)
    back = StrategyConfig.from_toml(path)
    assert back == cfg
    # Exact: same float bits (repr distinguishes -0.0, ordering of tables is kept).
    assert repr(back.to_dict()) == repr(cfg.to_dict())
    assert exact(back.to_dict()) == exact(cfg.to_dict())
    assert hash(back) == hash(cfg)


@settings(max_examples=100, deadline=None)
@given(cfg=valid_configs())
def test_dict_round_trip_and_replace_identity(cfg: StrategyConfig) -> None:
    assert StrategyConfig.from_dict(cfg.to_dict()) == cfg
    assert cfg.replace() == cfg
    assert cfg.replace(**flatten(cfg.to_dict())) == cfg


# --- hypothesis: the TOML emitter on arbitrary nested data ------------------------------


def exact(value: Any) -> Any:
    """A comparable form that tells floats apart by their bits (and ignores key order)."""
    if isinstance(value, float):
        return ("float", value.hex())
    if isinstance(value, dict):
        return ("dict", sorted((k, exact(v)) for k, v in value.items()))
    if isinstance(value, list):
        return ("list", [exact(v) for v in value])
    return (type(value).__name__, value)


TOML_SCALARS = (
    st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.floats(allow_nan=False)
    | st.text()
)
TOML_VALUES = st.recursive(
    TOML_SCALARS,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(), children, max_size=4)
    ),
    max_leaves=25,
)


@settings(max_examples=300, deadline=None)
@given(data=st.dictionaries(st.text(), TOML_VALUES, max_size=6))
def test_toml_emitter_round_trips_arbitrary_tables(data: dict[str, Any]) -> None:
    text = _toml_dumps(data)
    back = tomllib.loads(text)
    assert back == data
    assert exact(back) == exact(data)  # same float bits, -0.0 included


def test_toml_emitter_special_cases() -> None:
    data = {
        "a.b": {"": 1, "c d": [1.5, "x", [True, {"k": -0.0}]]},
        "inf": [math.inf, -math.inf],
        "ctl": 'tab\tnewline\n quote" back\\ del\x7f nul\x00 é',
        "empty": {},
        "big": 1e300,
        "tiny": 5e-324,
    }
    assert tomllib.loads(_toml_dumps(data)) == data
    with pytest.raises(ValueError, match="64-bit"):
        _toml_dumps({"x": 2**63})
    with pytest.raises(TypeError):
        _toml_dumps({"x": object()})
