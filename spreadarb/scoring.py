"""Vectorised public forms of the scoring formulas (the kernels are scalar, for the scan)."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

SLIPPAGE_BASE = 0.0002
SLIPPAGE_DEPTH_COEF = 0.0003
SLIPPAGE_CAP = 0.0005


def slippage(
    size_usd: npt.ArrayLike,
    depth_usd: npt.ArrayLike,
    *,
    base: float = SLIPPAGE_BASE,
    coef: float = SLIPPAGE_DEPTH_COEF,
    cap: float = SLIPPAGE_CAP,
) -> np.ndarray | float:
    """The seed's realistic slippage, as a fraction of price.

    ``min(base + coef * size_usd / depth_usd, cap)``: 2 bps plus 3 bps per unit of
    size over the depth within 2 bps, capped at 5 bps. Zero, negative or missing depth
    gives the cap. Broadcasts like numpy; returns a float for scalar inputs. Equivalent
    to :func:`spreadarb.kernels.scoring.slippage_nb` element by element.

    Examples
    --------
    >>> float(slippage(10_000, 100_000))
    0.00023
    """
    size = np.asarray(size_usd, dtype=np.float64)
    depth = np.asarray(depth_usd, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        raw = base + coef * size / depth
    out = np.where(depth > 0, np.minimum(raw, cap), cap)
    return float(out) if out.ndim == 0 else out
