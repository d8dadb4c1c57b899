"""Compiling the engine kernel ahead in a child process (``spreadarb._ahead``)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import spreadarb
from spreadarb import StrategyConfig, _ahead
from spreadarb._jit import JIT_DISABLED
from spreadarb.kernels.engine import simulate_nb
from spreadarb.simulation import backtest, engine_arg_types, loaded_engine_arg_types

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.skipif(JIT_DISABLED, reason="compiles kernels")


def test_engine_arg_types_are_those_of_a_backtest():
    """The child compiles the signature the backtest then calls (else it is wasted)."""
    dataset = spreadarb.load(ROOT / "data" / "sample")
    config = StrategyConfig(min_confidence=50)
    backtest(dataset, config)
    assert engine_arg_types(dataset, config) in simulate_nb.overloads
    # load() starts the compile before it has the data: with the types of any loaded dataset.
    assert loaded_engine_arg_types() in simulate_nb.overloads


_PROBE = """
import numba, numpy as np
from spreadarb import _ahead
from spreadarb.kernels.events import first_unsorted_run_nb as kernel
a = np.zeros(3, np.int64)
o = np.array([0, 3], np.int64)
_ahead.start(kernel, lambda: tuple(numba.typeof(x) for x in (a, a, o, o)))
_ahead.wait(kernel)
kernel(a, a, o, o)
print(kernel.stats.cache_hits.total(), kernel.stats.cache_misses.total())
"""


def _probe(code: str, cache: Path, flag: str) -> str:
    """Stdout of ``python -c code`` in a fresh process with the JIT on, numba's cache in
    ``cache`` and ``SPREADARB_COMPILE_AHEAD=flag``."""
    env = {**os.environ, "NUMBA_CACHE_DIR": str(cache), "SPREADARB_COMPILE_AHEAD": flag}
    env.pop("SPREADARB_DISABLE_JIT", None)
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env, cwd=ROOT
    )
    return out.stdout


@pytest.mark.parametrize(("flag", "expected"), [("1", "1 0"), ("0", "0 1")])
def test_the_child_compiles_into_the_cache_the_parent_loads(tmp_path, flag, expected):
    """With an empty cache the kernel is compiled by the child and loaded from the cache
    by the parent (one hit, no miss); disabled, the parent compiles it (one miss)."""
    assert _probe(_PROBE, tmp_path, flag).split("\n")[-2] == expected


_LOAD_PROBE = """
import sys
import spreadarb
from spreadarb import _ahead
spreadarb.load(sys.argv[1])
for (module, name, _), child in list(_ahead._running.items()):
    print(module, name)
    child.kill()
    child.wait()
"""


@pytest.mark.skipif(_ahead._cores() < 2, reason="compile ahead needs a second core")
def test_load_starts_the_engine_compile(tmp_path):
    """On an empty cache, load() starts the engine's compile (its child is killed here)."""
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path), "SPREADARB_COMPILE_AHEAD": "1"}
    env.pop("SPREADARB_DISABLE_JIT", None)
    out = subprocess.run(
        [sys.executable, "-c", _LOAD_PROBE, str(ROOT / "data" / "sample")],
        capture_output=True,
        text=True,
        check=True,
        env=env,
        cwd=ROOT,
    )
    assert out.stdout.split("\n")[:-1] == ["spreadarb.kernels.engine simulate_nb"]


_MARKER_PROBE = """
import subprocess, sys, time
import numba, numpy as np
from spreadarb import _ahead
from spreadarb.kernels.events import first_unsorted_run_nb as kernel
a = np.zeros(3, np.int64)
o = np.array([0, 3], np.int64)
sig = tuple(numba.typeof(x) for x in (a, a, o, o))
marker = _ahead._marker(kernel, sig)
# Another process's child compiling the kernel: it removes its marker when done.
other = subprocess.Popen(
    [sys.executable, "-c", f"import os, time; time.sleep(1); os.remove({str(marker)!r})"]
)
marker.write_text(str(other.pid))
_ahead.start(kernel, lambda: sig)
print(len(_ahead._running), len(_ahead._foreign))
t0 = time.monotonic()
_ahead.wait(kernel)
print(not marker.exists(), time.monotonic() - t0 > 0.5)
other.wait()
"""


@pytest.mark.skipif(_ahead._cores() < 2, reason="compile ahead needs a second core")
def test_a_child_of_another_process_is_waited_for_not_doubled(tmp_path):
    """While another process's child compiles the kernel (its marker names a live pid),
    no second child starts, and wait() returns once that child is done."""
    assert _probe(_MARKER_PROBE, tmp_path, "1").split("\n")[:-1] == ["0 1", "True True"]
