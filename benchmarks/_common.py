"""Helpers shared by the benchmark scripts: paths, timing, the cached synthetic day."""

from __future__ import annotations

import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
CACHE = ROOT / "benchmarks" / ".cache"
SAMPLE = ROOT / "data" / "sample"

SYNTHETIC_DAY_SYMBOLS: tuple[str, ...] = (
    "BTC",
    "ETH",
    "SOL",
    "XRP",
    "DOGE",
    "ADA",
    "AVAX",
    "LINK",
    "DOT",
    "LTC",
    "BCH",
    "NEAR",
    "APT",
    "ARB",
    "OP",
    "SUI",
    "TIA",
    "INJ",
    "FIL",
    "ATOM",
)
"""The 20 symbols of the SPEC §8 synthetic day (with the generator's 8 seed venues)."""


def time_repeats(fn: Callable[[], object], repeats: int) -> tuple[float, float]:
    """Median wall time of ``repeats`` calls of ``fn`` and the spread (max - min), seconds."""
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), (max(times) - min(times))


def synthetic_day() -> Path:
    """The SPEC §8 synthetic day (8 venues x 20 symbols x 24 h), generated once and cached.

    Written to ``benchmarks/.cache/synthetic-day`` (never committed); a ``.complete``
    marker is written last, so an interrupted generation is redone.
    """
    from spreadarb.data.synth import SynthConfig, generate

    out = CACHE / "synthetic-day"
    done = out / ".complete"
    if not done.exists():
        t0 = time.perf_counter()
        generate(
            out,
            config=SynthConfig(
                seed=42,
                start="2024-08-08T00:00:00",
                hours=24.0,
                symbols=SYNTHETIC_DAY_SYMBOLS,
            ),
            overwrite=True,
        )
        print(f"generated the synthetic day in {time.perf_counter() - t0:.1f} s")
        done.write_text("ok\n")
    return out


def jit_probe_runs(
    probe: str,
    path: Path,
    labels: tuple[str, ...] = ("cold", "cold_again", "cached", "cached_again"),
) -> dict[str, tuple[dict[str, Any], float]]:
    """Run ``python -c probe path`` once per label in fresh processes; returns each run's
    JSON (its last stdout line) and wall time.

    A label starting with ``cold`` gets an empty ``NUMBA_CACHE_DIR`` of its own (every
    kernel compiled); the others share the first cold run's, which it filled (kernels
    loaded from disk). Two of each, as one slow run alone is a busy machine: callers take
    the faster of the two and report both.

    The processes run from the repository root: ``python -c`` puts the working
    directory first on ``sys.path``, so this measures this checkout's spreadarb.
    """
    runs: dict[str, tuple[dict[str, Any], float]] = {}
    with contextlib.ExitStack() as stack:
        first_cold: str | None = None
        for label in labels:
            if label.startswith("cold") or first_cold is None:
                cache_dir = stack.enter_context(tempfile.TemporaryDirectory(prefix="numba-cache-"))
                first_cold = first_cold or cache_dir
            else:
                cache_dir = first_cold
            env = {**os.environ, "NUMBA_CACHE_DIR": cache_dir}
            env.pop("SPREADARB_DISABLE_JIT", None)
            t0 = time.perf_counter()
            out = subprocess.run(
                [sys.executable, "-c", probe, str(path)],
                capture_output=True,
                text=True,
                check=True,
                env=env,
                cwd=ROOT,
            )
            wall = time.perf_counter() - t0
            runs[label] = (json.loads(out.stdout.strip().splitlines()[-1]), wall)
    return runs
