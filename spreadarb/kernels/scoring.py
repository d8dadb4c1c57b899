"""Scalar scoring kernels: sub-score mappings, confidence score, slippage (SPEC §3-§4).

Each function works on scalars so the scan kernel can call it per row; the
vectorised public wrappers live in :mod:`spreadarb.scoring`. Every mapping is a
clipped linear ramp; ``docs/strategy.md`` draws them.
"""

from __future__ import annotations

import math

from spreadarb._jit import jit


@jit(inline=True)
def clip01_nb(x: float) -> float:
    """``min(max(x, 0), 1)``; NaN stays NaN."""
    if x < 0.0:
        return 0.0
    if x > 1.0:
        return 1.0
    return x


@jit(inline=True)
def centred_score_nb(x: float, scale: float) -> float:
    """Sub-score ``clip(0.5 + 0.5 * x / scale, 0, 1)``: 0.5 at x = 0, 1 at x >= scale.

    A missing input (NaN) is neutral, 0.5.
    """
    if math.isnan(x):
        return 0.5
    return clip01_nb(0.5 + 0.5 * x / scale)


@jit(inline=True)
def funding_score_nb(funding_delta_8h: float, saturation_8h: float) -> float:
    """``clip(delta / saturation, 0, 1)``: larger delta is better, saturating."""
    if math.isnan(funding_delta_8h):
        return 0.0
    return clip01_nb(funding_delta_8h / saturation_8h)


@jit(inline=True)
def volatility_score_nb(atr_bps: float, atr_falling: bool, atr_scale_bps: float) -> float:
    """Half for a low ATR (``1 - atr_bps / scale``, clipped), half for a falling ATR.

    Missing ATR (too little data) counts as neutral 0.5 for the level part.
    """
    level = 0.5 if math.isnan(atr_bps) else clip01_nb(1.0 - atr_bps / atr_scale_bps)
    return 0.5 * level + (0.5 if atr_falling else 0.0)


@jit(inline=True)
def liquidation_score_nb(
    distance_bps: float, has_liquidation_data: bool, scale_bps: float
) -> float:
    """``clip(distance / scale, 0, 1)``; no cluster in the window scores 1 (nothing nearby);
    no liquidation data at all scores the neutral 0.5 (SPEC §3)."""
    if not has_liquidation_data:
        return 0.5
    if math.isnan(distance_bps):
        return 1.0
    return clip01_nb(distance_bps / scale_bps)


@jit(inline=True)
def weighted_score_nb(
    s_funding: float,
    s_obi: float,
    s_oi: float,
    s_vwap: float,
    s_volatility: float,
    s_liquidation: float,
    w_funding: float,
    w_obi: float,
    w_oi: float,
    w_vwap: float,
    w_volatility: float,
    w_liquidation: float,
) -> int:
    """``round(100 * sum(w_i * s_i) / sum(w_i))`` (SPEC §3), half rounding up.

    Rounding is ``floor(x + 0.5)`` rather than Python's half-to-even, so the score
    never depends on the float formatting of an exact half.
    """
    total = w_funding + w_obi + w_oi + w_vwap + w_volatility + w_liquidation
    acc = (
        w_funding * s_funding
        + w_obi * s_obi
        + w_oi * s_oi
        + w_vwap * s_vwap
        + w_volatility * s_volatility
        + w_liquidation * s_liquidation
    )
    return math.floor(100.0 * acc / total + 0.5)


@jit(inline=True)
def confidence_nb(
    raw_score: int, hard_ok: bool, stale_others: int, all_stale: bool, penalty: int
) -> int:
    """Confidence score after the gatekeepers (SPEC §3-§4, seed's Properties 2 and 8).

    0 when a hard constraint fails or every monitored exchange is stale; else the
    raw score minus ``penalty`` if any other monitored exchange is stale, floored at 0.
    """
    if not hard_ok or all_stale:
        return 0
    score = raw_score - (penalty if stale_others > 0 else 0)
    return score if score > 0 else 0


@jit(inline=True)
def slippage_nb(size_usd: float, depth_usd: float, base: float, coef: float, cap: float) -> float:
    """The seed's slippage: ``min(base + coef * size / depth, cap)`` as a fraction of price.

    Zero or missing depth gives the cap (the worst case), never a division error.
    """
    if not depth_usd > 0.0:
        return cap
    s = base + coef * size_usd / depth_usd
    return s if s < cap else cap
