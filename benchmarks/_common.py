"""Helpers shared by the benchmark scripts: paths, timing, the cached synthetic day."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from pathlib import Path

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
