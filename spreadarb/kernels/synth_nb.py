"""Numba kernels of the synthetic market generator (``spreadarb.data.synth``).

Only recursions live here: everything else in the generator is vectorised numpy.
"""

from __future__ import annotations

import numpy as np

from spreadarb._jit import jit


@jit
def ar1_paths(x0: np.ndarray, phi: np.ndarray, eps: np.ndarray) -> np.ndarray:
    """Run independent AR(1) recursions ``x[k, i] = phi[k] * x[k, i-1] + eps[k, i]``.

    Parameters
    ----------
    x0
        Shape ``(k,)``: state before the first step of each series.
    phi
        Shape ``(k,)``: autoregressive coefficient of each series (``|phi| < 1`` for a
        mean-reverting Ornstein-Uhlenbeck process sampled on a grid).
    eps
        Shape ``(k, n)``: innovation of each series at each step (shocks, jumps and
        kicks all enter here).

    Returns
    -------
    ndarray
        Shape ``(k, n)``: the state after each step; ``out[:, -1]`` is the state to
        carry into the next chunk.
    """
    k, n = eps.shape
    out = np.empty((k, n), dtype=np.float64)
    for j in range(k):
        x = x0[j]
        p = phi[j]
        for i in range(n):
            x = p * x + eps[j, i]
            out[j, i] = x
    return out
