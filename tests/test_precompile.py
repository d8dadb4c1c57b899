"""The engine compiled in a second process during a first backtest (spreadarb._precompile)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numba
import pytest

import spreadarb
from spreadarb import _precompile
from spreadarb.simulation import prepare

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "data" / "sample"


def test_the_example_has_the_types_of_a_real_call():
    """The process compiles the signature a real backtest calls, or it would be wasted."""
    run = prepare(spreadarb.load(SAMPLE))
    state, rec = run.buffers()
    real = (run.book, run.prints, *run.events, run.static, run.candidates, run.params, state, rec)
    assert tuple(numba.typeof(a) for a in real) == _precompile.engine_signature()


_CHILD = """
import json, sys
import spreadarb
from spreadarb import _precompile
from spreadarb.kernels.engine import simulate_nb
before = _precompile._engine_cached()
_precompile.start()
spawned = _precompile._started is not None
_precompile.wait()
code = None if _precompile._started is None else _precompile._started.returncode
after = _precompile._engine_cached()
result = spreadarb.backtest(spreadarb.load(sys.argv[1]))
print(json.dumps({
    "before": before, "spawned": spawned, "code": code, "after": after,
    "hits": sum(simulate_nb.stats.cache_hits.values()),
    "misses": sum(simulate_nb.stats.cache_misses.values()),
    "trades": len(result.trades),
}))
"""


@pytest.mark.slow
def test_a_cold_cache_compiles_the_engine_in_another_process(tmp_path):
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path / "cache")}
    env.pop("SPREADARB_DISABLE_JIT", None)

    def child() -> dict[str, object]:
        out = subprocess.run(
            [sys.executable, "-c", _CHILD, str(SAMPLE)],
            capture_output=True,
            text=True,
            check=True,
            env=env,
            cwd=ROOT,
        )
        return json.loads(out.stdout.strip().splitlines()[-1])

    cold = child()
    # Empty cache: the other process compiled the engine into it; this one loaded it.
    assert cold["before"] is False and cold["spawned"] and cold["code"] == 0
    assert cold["after"] is True and cold["hits"] == 1 and cold["misses"] == 0
    warm = child()
    # Warm cache: nothing started; the engine is loaded from the cache.
    assert warm["before"] is True and not warm["spawned"]
    assert warm["hits"] == 1 and warm["misses"] == 0
    here = spreadarb.backtest(spreadarb.load(SAMPLE))
    assert warm["trades"] == cold["trades"] == len(here.trades) > 0
