"""Sweep-style peer: vectorbt's signal-level model against ``spreadarb.sweep``, 144 configs.

Usage::

    python benchmarks/bench_vectorbt.py               # both sides, data/sample
    python benchmarks/bench_vectorbt.py --no-cold-jit  # without the cold-compile run

The same data (``data/sample``) and the same grid size as ``bench_sweep.py``'s
``SAMPLE_GRID`` (4 x 4 x 3 x 3 = 144 configurations), measured in the same run, after a
warm-up (JIT excluded from the medians, reported separately):

- **ours**: ``spreadarb.sweep(dataset, SAMPLE_GRID, n_jobs=1|2, progress=False)``, the
  event-driven engine per configuration plus its metrics.
- **vectorbt** (PyPI, in its own virtualenv ``benchmarks/.cache/vbt-venv``, created here
  when missing; never installed into the project's environment), run by ``_vbt_peer.py``
  in a subprocess on what we export from ``spreadarb.scanner.scan_records`` (:func:`export`):
  per symbol, the four directed venue pairs that are most often the scan's best
  opportunity (12 "spread assets" on the scan's 1 s grid, priced as the ratio of the two
  legs' mids), the scan's ``spread_bps`` and ``confidence_score`` where that pair is the
  best, each pair's mid spread, and the two legs' taker fees. All 144 configurations run
  in one ``Portfolio.from_signals`` call of 144 x 12 columns grouped by configuration
  with cash sharing, then total return, max drawdown, Sharpe ratio and trade count per
  configuration. Its first call is reported twice: with its numba cache (vectorbt's
  kernels are ``cache=True``) and, in a second subprocess with an empty
  ``NUMBA_CACHE_DIR``, compiling cold.

The vectorbt grid (:data:`VBT_GRID`) keeps our field where vectorbt has one:
``min_confidence`` (entry filter on the scan's score, same values) and
``spread_widening_bps`` (``sl_stop`` on the spread asset, same values). ``fill_threshold``
(queue position of a passive fill) has no counterpart in a signal model; its four values
are replaced by four entry-spread thresholds. ``stop_loss_bps`` is >= ``spread_widening``
in every configuration of the grid, so in our engine the widening exit (on the same
closing spread) fires no later than the stop; its three values are replaced by three
convergence-exit levels (exit when the pair's spread falls to that many bps). The size
of the grid and of the data is the same; the model is not (see :data:`LEFT_OUT`): the
ratio is the cost of fidelity, not a like-for-like speed comparison.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._common import CACHE, ROOT, SAMPLE, time_repeats
from benchmarks.bench_sweep import SAMPLE_GRID

VENV = CACHE / "vbt-venv"
INPUTS = CACHE / "vbt_inputs.npz"
GRID_JSON = CACHE / "vbt_grid.json"
OUT = CACHE / "bench_vectorbt.json"
PAIRS_PER_SYMBOL = 4

VBT_GRID: dict[str, list[float]] = {
    "min_confidence": [float(c) for c in SAMPLE_GRID["min_confidence"]],
    "entry_spread_bps": [5.0, 8.0, 12.0, 20.0],  # in place of fill_threshold
    "spread_widening_bps": [float(w) for w in SAMPLE_GRID["spread_widening_bps"]],
    "exit_spread_bps": [0.0, 1.0, 2.0],  # in place of stop_loss_bps
}

LEFT_OUT = [
    "per-venue queue-aware passive fills (limit orders resting in each venue's queue, "
    "filled by prints at or through the price, timeouts): vectorbt fills every signal "
    "at the bar's price",
    "order latency (send, arrival and cancel times per venue, stale-venue checks): "
    "vectorbt acts on the bar it signals on",
    "two-venue atomic entry (harder leg first, easier leg only after it fills) and "
    "leg-outs (market hedge of an unfilled leg): vectorbt trades a synthetic ratio "
    "asset in one order",
    "funding settlement per venue (each leg's funding at its own interval and rate): absent",
    "fees per venue and kind (maker for a passive fill, taker for a market order, per "
    "leg) and depth-dependent slippage: vectorbt charges one flat rate per order (the "
    "two legs' taker fees added, slippage 2 x slippage_base)",
    "position sizing from available capital and each leg's depth, profit-target and "
    "funding-convergence exits, opportunities on every venue pair: vectorbt trades a "
    "fixed size on the 4 most frequent best pairs per symbol",
]


def vbt_grid() -> list[dict[str, float]]:
    """The 144 vectorbt configurations, in the order of the product of :data:`VBT_GRID`."""
    from itertools import product

    keys = list(VBT_GRID)
    return [dict(zip(keys, v, strict=True)) for v in product(*VBT_GRID.values())]


def export(ds: Any) -> dict[str, Any]:
    """Write :data:`INPUTS` for ``_vbt_peer.py`` from the scan of ``ds``; returns a summary."""
    from spreadarb import StrategyConfig
    from spreadarb.scanner import scan_records

    cfg = StrategyConfig()
    rec = scan_records(ds, cfg)
    grid = np.unique(rec["ts"])
    n_t, n_s = grid.size, len(ds.symbols)
    rec = rec.reshape(n_t, n_s)  # time-major: (ts, then symbol)
    tk = ds.table("tickers")
    markets = ds.markets()

    def mid(exchange: int, symbol: int) -> np.ndarray:
        m = markets.index((ds.exchanges[exchange], ds.symbols[symbol]))
        a, b = int(tk.offsets[m]), int(tk.offsets[m + 1])
        ts = tk.columns["ts_local"][a:b]
        mids = (tk.columns["bid_px"][a:b] + tk.columns["ask_px"][a:b]) / 2
        k = np.searchsorted(ts, grid, side="right") - 1
        out = np.where(k >= 0, mids[np.maximum(k, 0)], np.nan)
        first = np.flatnonzero(~np.isnan(out))
        out[: first[0]] = out[first[0]]  # before the market's first quote: never traded
        return out

    close, pair_spread, scan_spread, scan_conf, fees, names = [], [], [], [], [], []
    for s in range(n_s):
        r = rec[:, s]
        pairs = Counter(zip(r["long_exchange"].tolist(), r["short_exchange"].tolist(), strict=True))
        for (lo, sh), _ in pairs.most_common(PAIRS_PER_SYMBOL):
            ml, ms = mid(lo, s), mid(sh, s)
            best = (r["long_exchange"] == lo) & (r["short_exchange"] == sh)
            close.append(ml / ms)
            pair_spread.append((ms - ml) / ((ms + ml) / 2) * 1e4)
            scan_spread.append(np.where(best, r["spread_bps"], np.nan))
            scan_conf.append(np.where(best, r["confidence_score"], 0).astype(np.float64))
            le, se = ds.exchanges[lo], ds.exchanges[sh]
            fees.append(cfg.fee(le, "taker") + cfg.fee(se, "taker"))
            names.append(f"{ds.symbols[s]} long {le} short {se}")
    np.savez(
        INPUTS,
        ts=grid,
        close=np.column_stack(close),
        pair_spread_bps=np.column_stack(pair_spread),
        scan_spread_bps=np.column_stack(scan_spread),
        scan_confidence=np.column_stack(scan_conf),
        fees=np.array(fees),
        slippage=np.float64(2 * cfg.slippage_base),
        size_usd=np.float64(cfg.starting_capital * cfg.max_position_fraction),
        capital=np.float64(cfg.starting_capital),
    )
    return {"rows": int(n_t), "assets": names, "fees": fees}


def venv_python() -> Path:
    """The vectorbt virtualenv's interpreter, creating the venv (``pip install vectorbt``)
    when missing."""
    py = VENV / "bin" / "python"
    if not py.exists():
        print(f"creating {VENV} and installing vectorbt into it")
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
        subprocess.run([str(py), "-m", "pip", "install", "-q", "vectorbt"], check=True)
    return py


def run_peer(repeats: int, numba_cache: Path | None = None) -> dict[str, Any]:
    """Run ``_vbt_peer.py`` in the vectorbt venv; ``numba_cache``: a ``NUMBA_CACHE_DIR``
    for the subprocess (an empty one makes its first call compile cold)."""
    GRID_JSON.write_text(json.dumps(vbt_grid()))
    cmd = [
        str(venv_python()),
        str(Path(__file__).resolve().parent / "_vbt_peer.py"),
        str(INPUTS),
        str(GRID_JSON),
        "--repeats",
        str(repeats),
    ]
    env = dict(os.environ)
    if numba_cache is not None:
        env["NUMBA_CACHE_DIR"] = str(numba_cache)
    out = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, env=env)
    if out.returncode != 0:
        raise RuntimeError(f"vectorbt peer failed ({out.returncode}):\n{out.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument(
        "--no-cold-jit",
        action="store_true",
        help="skip the extra vectorbt run with an empty numba cache (cold compile)",
    )
    args = ap.parse_args()
    CACHE.mkdir(parents=True, exist_ok=True)

    import spreadarb
    from spreadarb.scanner import scan_records
    from spreadarb.sweeps import expand_grid

    ds = spreadarb.load(SAMPLE)
    n = sum(p.config is not None for p in expand_grid(SAMPLE_GRID))

    # Ours: warm-up (JIT), then the full grid with 1 and 2 threads.
    t0 = time.perf_counter()
    spreadarb.sweep(ds, {k: v[:1] for k, v in SAMPLE_GRID.items()}, progress=False)
    ours_first_s = time.perf_counter() - t0
    ours: dict[str, dict[str, float]] = {}
    last: list[Any] = []
    for n_jobs in (1, 2):
        t, spread = time_repeats(
            lambda n_jobs=n_jobs: last.append(
                spreadarb.sweep(ds, SAMPLE_GRID, n_jobs=n_jobs, progress=False)
            ),
            args.repeats,
        )
        ours[f"{n_jobs}"] = {"s": t, "spread_s": spread, "configs_per_min": n / t * 60}

    # What vectorbt consumes: the scan (warm) and the export.
    t0 = time.perf_counter()
    summary = export(ds)
    export_s = time.perf_counter() - t0
    scan_s, _ = time_repeats(lambda: scan_records(ds), 1)

    peer: dict[str, Any] | None = None
    peer_error = None
    try:
        peer = run_peer(args.repeats)
        if not args.no_cold_jit:
            import tempfile

            with tempfile.TemporaryDirectory() as tmp:
                peer["first_call_cold_s"] = run_peer(1, Path(tmp))["first_call_s"]
        # JIT = the first call minus a warm run (the first call runs the sweep once too).
        peer["jit_cached_s"] = peer["first_call_s"] - peer["run_s"]
        if "first_call_cold_s" in peer:
            peer["jit_cold_s"] = peer["first_call_cold_s"] - peer["run_s"]
    except Exception as exc:
        peer_error = str(exc)
        print(f"vectorbt peer failed: {exc}")

    print(f"\nvectorbt sweep-style peer on data/sample ({os.cpu_count()} cores)")
    print(f"{'run':<46}{'configs':>8}{'median s':>10}{'spread':>8}{'configs/min':>13}")
    for k, r in ours.items():
        label = f"spreadarb.sweep, {k} thread{'s' if k != '1' else ''}"
        print(
            f"{label:<46}{n:>8}{r['s']:>10.3f}{r['spread_s'] / r['s']:>8.0%}"
            f"{r['configs_per_min']:>13,.0f}"
        )
    ratios: dict[str, float] = {}
    if peer is not None:
        incl = peer["run_s"] + scan_s
        peer["configs_per_min_incl_scan"] = peer["configs"] / incl * 60
        rows = [
            ("vectorbt signals + from_signals + metrics", peer["run_s"], peer["run_spread_s"]),
            ("vectorbt from_signals alone", peer["phases_s"]["from_signals"], None),
            ("vectorbt incl. the scan it consumes", incl, None),
        ]
        for label, t, spread in rows:
            spread_txt = f"{spread / t:>8.0%}" if spread is not None else f"{'':>8}"
            print(
                f"{label:<46}{peer['configs']:>8}{t:>10.3f}{spread_txt}"
                f"{peer['configs'] / t * 60:>13,.0f}"
            )
        print(
            f"  (vectorbt {peer['vectorbt']}, {peer['columns']} columns x {peer['rows']} rows; "
            + ", ".join(f"{k} {v:.2f} s" for k, v in peer["phases_s"].items())
            + ")"
        )
        vb = peer["configs_per_min"]
        ratios = {
            "vectorbt_over_ours_1_thread": vb / ours["1"]["configs_per_min"],
            "vectorbt_over_ours_2_threads": vb / ours["2"]["configs_per_min"],
            "vectorbt_incl_scan_over_ours_2_threads": peer["configs_per_min_incl_scan"]
            / ours["2"]["configs_per_min"],
        }
        print(
            "vectorbt / spreadarb.sweep (configs/min): "
            f"{ratios['vectorbt_over_ours_1_thread']:.1f}x vs 1 thread, "
            f"{ratios['vectorbt_over_ours_2_threads']:.1f}x vs 2 threads "
            f"({ratios['vectorbt_incl_scan_over_ours_2_threads']:.1f}x counting the scan "
            "vectorbt consumes)"
        )
        cold = peer.get("jit_cold_s")
        cold_txt = f", {cold:.1f} s with an empty numba cache" if cold is not None else ""
        print(
            f"JIT (first call - warm run): vectorbt {peer['jit_cached_s']:.1f} s from its "
            f"numba cache (cache=True kernels){cold_txt}; "
            f"spreadarb.sweep warm-up call (one config) {ours_first_s:.1f} s; vectorbt trades "
            f"{peer['trades_total']} ({peer['configs_with_trades']} configs trade)"
        )
    elif peer_error:
        print(f"vectorbt: not run ({peer_error.splitlines()[0]})")
    print("what vectorbt's signal model leaves out that spreadarb's engine includes:")
    for item in LEFT_OUT:
        print(f"  - {item}")

    payload = {
        "machine": {
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "numpy": np.__version__,
        },
        "workload": "data/sample",
        "configs": n,
        "ours_grid": SAMPLE_GRID,
        "vectorbt_grid": VBT_GRID,
        "ours": {
            "first_call_s": ours_first_s,
            "threads": ours,
            "metric_columns": int(last[-1].shape[1]),
            "trades_opened_per_config_median": float(last[-1]["trades_opened"].median()),
            "trades_opened_total": int(last[-1]["trades_opened"].sum()),
        },
        "export": {"s": export_s, "scan_warm_s": scan_s, **summary},
        "vectorbt": peer,
        "vectorbt_error": peer_error,
        "ratios": ratios,
        "left_out_by_vectorbt": LEFT_OUT,
    }
    OUT.write_text(json.dumps(payload, indent=2))
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
