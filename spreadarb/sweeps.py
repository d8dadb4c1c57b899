"""``spreadarb.sweep`` (this module): many configurations on one dataset, sharing work.

A configuration's backtest has three stages, each depending on less of the config than
the next: market features (:func:`spreadarb.state.feature_params`), the scan
(:func:`spreadarb.scanner.scan_key`) and the engine (everything). The sweep computes each
stage once per distinct value of what it depends on and shares the arrays (no copies)
between the configurations that need them; only the engine runs once per configuration.
Every row equals ``portfolio_metrics(backtest(dataset, config))`` of that configuration
run on its own (tested).

Local sweeps run in threads: the kernels release the GIL (``nogil``), so the engine runs
on every core while the features stay shared. With a ``dask.distributed.Client`` the
configurations are sent in batches and each worker loads the dataset from its path.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from spreadarb._io import atomic_write_text
from spreadarb.config import ConfigError, StrategyConfig
from spreadarb.data.dataset import Dataset
from spreadarb.metrics import portfolio_metrics, venue_latency_statistics
from spreadarb.scanner import scan_key, scan_records
from spreadarb.simulation import (
    Candidates,
    MarketEvents,
    candidate_key,
    entry_candidates,
    market_events,
    prepare,
)
from spreadarb.state import FeatureParams, MarketFeatures, feature_params, market_features

if TYPE_CHECKING:
    import pandas as pd

Grid = Mapping[str, Sequence[Any]] | Sequence[StrategyConfig | Mapping[str, Any]]

#: Columns every sweep row has besides the parameters and the metrics.
ID_COLUMNS = ("config_id", "config_key", "error")


class SweepError(ValueError):
    """A sweep cannot start: a bad grid, a dataset without a path for Dask, a checkpoint
    written for another dataset."""


# ---------------------------------------------------------------------------------------
# The grid
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Point:
    """One configuration of a sweep: its parameters, and the config or why it is invalid."""

    config_id: int
    params: dict[str, Any]
    config: StrategyConfig | None
    error: str | None
    key: str


def _dotted(data: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested mappings to one level with dotted keys; lists become tuples (hashable)."""
    out: dict[str, Any] = {}
    for name, value in data.items():
        key = f"{prefix}{name}"
        if isinstance(value, Mapping):
            out.update(_dotted(value, key + "."))
        elif isinstance(value, list | tuple):
            out[key] = tuple(value)
        else:
            out[key] = value
    return out


def _key(spec: Mapping[str, Any]) -> str:
    text = json.dumps(spec, sort_keys=True, default=str, allow_nan=True)
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def _point(config_id: int, base: StrategyConfig, params: dict[str, Any]) -> Point:
    try:
        config = base.replace(**params) if params else base
    except ConfigError as exc:
        spec = {"base": base.to_dict(), "changes": {k: params[k] for k in sorted(params)}}
        return Point(config_id, params, None, f"ConfigError: {exc}", _key(spec))
    return Point(config_id, params, config, None, _key(config.to_dict()))


def expand_grid(grid: Grid, base: StrategyConfig | None = None) -> list[Point]:
    """The configurations of a grid, in order, each valid or with its error.

    Parameters
    ----------
    grid
        A mapping of config field names (dotted for nested ones, e.g.
        ``"scales.vwap_window_s"``) to lists of values: every combination, the last name
        varying fastest (``itertools.product`` order). Or a sequence of configurations,
        each a :class:`StrategyConfig` or a mapping of changes to ``base``.
    base
        The config the changes apply to; default ``StrategyConfig()``.

    Returns
    -------
    list of Point
        ``params`` holds the grid's values (for a sequence of configs: every dotted field
        that differs from ``base`` in any of them). An invalid combination gets
        ``config=None`` and the :class:`~spreadarb.config.ConfigError` message.
    """
    base = StrategyConfig() if base is None else base
    if isinstance(grid, Mapping):
        names = list(grid)
        values = []
        for name in names:
            options = grid[name]
            if isinstance(options, str | bytes) or not isinstance(options, Sequence):
                raise SweepError(
                    f"grid[{name!r}] must be a list of values, got {type(options).__name__}"
                    f" {options!r}"
                )
            if len(options) == 0:
                raise SweepError(f"grid[{name!r}] is empty: the grid has no configuration")
            values.append(list(options))
        return [
            _point(i, base, dict(zip(names, combo, strict=True)))
            for i, combo in enumerate(itertools.product(*values))
        ]
    if isinstance(grid, str | bytes) or not isinstance(grid, Sequence):
        raise SweepError(
            "grid must be a mapping of field names to lists of values or a sequence of "
            f"configs, got {type(grid).__name__}"
        )
    points: list[Point] = []
    base_flat = _dotted(base.to_dict())
    differing: dict[str, None] = {}
    flats: list[dict[str, Any] | None] = []
    for item in grid:
        if isinstance(item, StrategyConfig):
            item_flat = _dotted(item.to_dict())
            for name, value in item_flat.items():
                if base_flat.get(name) != value:
                    differing[name] = None
            flats.append(item_flat)
        elif isinstance(item, Mapping):
            for name in item:
                differing[str(name)] = None
            flats.append(None)
        else:
            raise SweepError(
                f"grid[{len(flats)}] must be a StrategyConfig or a mapping of changes, "
                f"got {type(item).__name__}"
            )
    for i, (item, flat) in enumerate(zip(grid, flats, strict=True)):
        if isinstance(item, StrategyConfig):
            assert flat is not None
            params = {name: flat.get(name) for name in differing}
            points.append(Point(i, params, item, None, _key(item.to_dict())))
        else:
            assert isinstance(item, Mapping)
            point = _point(i, base, dict(item))
            params = {name: point.params.get(name, base_flat.get(name)) for name in differing}
            points.append(Point(i, params, point.config, point.error, point.key))
    return points


def load_grid(path: str | os.PathLike[str]) -> Grid:
    """Read a grid from TOML.

    Either every leaf is a list of values, named by its (dotted) config field::

        min_confidence = [60, 70, 80]
        fill_threshold = [0.1, 0.2]
        [scales]
        vwap_window_s = [1800.0, 3600.0]

    or the file is an explicit list of configurations, each a table of changes::

        [[configs]]
        min_confidence = 60
        [[configs]]
        min_confidence = 80
        queue_model = "risk_averse"

    Raises
    ------
    SweepError
        Invalid TOML, or a leaf that is not a list; the message names the file and key.
    """
    import tomllib

    path = Path(path)
    try:
        with path.open("rb") as fh:
            data = tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise SweepError(f"{path}: invalid TOML: {exc}") from exc
    if set(data) == {"configs"}:
        configs = data["configs"]
        if not isinstance(configs, list) or not all(isinstance(c, dict) for c in configs):
            raise SweepError(f"{path}: 'configs' must be an array of tables ([[configs]])")
        return [_dotted_changes(c) for c in configs]
    grid: dict[str, Any] = {}
    for name, values in _dotted_changes(data).items():
        if not isinstance(values, list | tuple):
            raise SweepError(
                f"{path}: {name} = {values!r} must be a list of values to sweep "
                f"(write {name} = [{values!r}] for a single value)"
            )
        grid[name] = list(values)
    if not grid:
        raise SweepError(f"{path}: the grid names no config field")
    return grid


def _dotted_changes(data: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """TOML tables to dotted field names; lists stay lists (they are the swept values)."""
    out: dict[str, Any] = {}
    for name, value in data.items():
        if isinstance(value, Mapping):
            out.update(_dotted_changes(value, f"{prefix}{name}."))
        else:
            out[f"{prefix}{name}"] = value
    return out


# ---------------------------------------------------------------------------------------
# One configuration
# ---------------------------------------------------------------------------------------


def flat_metrics(metrics: Mapping[str, Any]) -> dict[str, Any]:
    """:func:`~spreadarb.metrics.portfolio_metrics` as one level, nested keys dotted."""
    return _dotted(metrics)


@dataclass
class _Shared:
    """What the configurations of one dataset share: features per params, scan records per
    scan key (kept while a configuration still needs them), the market events."""

    dataset: Dataset
    events: MarketEvents
    features: dict[FeatureParams, MarketFeatures] = field(default_factory=dict)
    scans: dict[tuple[Any, ...], np.ndarray] = field(default_factory=dict)
    # Per candidate key (a scan key and the harder legs), freed with their scan.
    candidates: dict[tuple[Any, ...], Candidates] = field(default_factory=dict)
    # Per feature set, like the features: the venues' latency statistics of the metrics.
    latency: dict[FeatureParams, dict[str, dict[str, float]]] = field(default_factory=dict)
    scan_users: dict[tuple[Any, ...], int] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    key_locks: dict[Any, threading.Lock] = field(default_factory=dict)

    def _once(self, key: Any, store: dict[Any, Any], make: Callable[[], Any]) -> Any:
        with self.lock:
            if key in store:
                return store[key]
            key_lock = self.key_locks.setdefault(key, threading.Lock())
        with key_lock:
            with self.lock:
                if key in store:
                    return store[key]
            value = make()
            with self.lock:
                store[key] = value
            return value

    def market_features(self, config: StrategyConfig) -> MarketFeatures:
        params = feature_params(config)
        return self._once(params, self.features, lambda: market_features(self.dataset, params))

    def expect(self, configs: Iterable[StrategyConfig]) -> None:
        """Count the future users of each scan key, so its records can be freed after."""
        with self.lock:
            for config in configs:
                key = scan_key(config, self.dataset.exchanges)
                self.scan_users[key] = self.scan_users.get(key, 0) + 1

    def run(self, config: StrategyConfig) -> dict[str, Any]:
        # (scan key, harder legs): the scan key is computed once for both stores.
        cand_key = candidate_key(config, self.dataset.exchanges)
        key = cand_key[0]
        try:
            features = self.market_features(config)
            records = self._once(
                key, self.scans, lambda: scan_records(self.dataset, config, features=features)
            )
            candidates = self._once(
                cand_key,
                self.candidates,
                lambda: entry_candidates(records, self.dataset, config),
            )
            result = prepare(
                self.dataset,
                config,
                features=features,
                events=self.events,
                opportunities=records,
                candidates=candidates,
            ).result()
        finally:
            with self.lock:
                left = self.scan_users.get(key, 1) - 1
                self.scan_users[key] = left
                if left <= 0:
                    self.scans.pop(key, None)
                    self.scan_users.pop(key, None)
                    self.key_locks.pop(key, None)
                    for done in [k for k in self.candidates if k[0] == key]:
                        del self.candidates[done]
                        self.key_locks.pop(done, None)
        latency = self._once(
            feature_params(config), self.latency, lambda: venue_latency_statistics(result)
        )
        return flat_metrics(portfolio_metrics(result, latency=latency))

    def drop_features(self, keep: set[FeatureParams]) -> None:
        with self.lock:
            for params in list(self.features):
                if params not in keep:
                    del self.features[params]
                    self.latency.pop(params, None)


def _outcome(shared: _Shared, point: Point) -> dict[str, Any]:
    """The row of one point: its metrics, or the error it raised (never raised here)."""
    if point.config is None:
        return {"error": point.error}
    try:
        return {"error": None, **shared.run(point.config)}
    except Exception as exc:  # a failing configuration is reported in its row
        return {"error": f"{type(exc).__name__}: {exc}"}


# ---------------------------------------------------------------------------------------
# Dataset identity (checkpoints and Dask workers must see the same data)
# ---------------------------------------------------------------------------------------


def dataset_fingerprint(dataset: Dataset) -> dict[str, Any]:
    """What identifies a loaded dataset: its source, window, markets and rows per table."""
    return {
        "root": str(Path(dataset.root).resolve()),
        "start_ns": dataset.start_ns,
        "end_ns": dataset.end_ns,
        "exchanges": list(dataset.exchanges),
        "symbols": list(dataset.symbols),
        "markets": [list(m) for m in dataset.markets()],
        "rows": {
            name: dataset.table(name).counts().tolist()
            for name in ("tickers", "trades", "liquidations")
        },
    }


# ---------------------------------------------------------------------------------------
# Checkpoint: a folder of atomically written JSON-lines parts
# ---------------------------------------------------------------------------------------


class Checkpoint:
    """Finished rows of a sweep, appended as parts (``part-000001.jsonl``, ...).

    Each part is written whole and atomically (temp file, fsync, rename), so an
    interrupted sweep leaves only complete parts. ``meta.json`` holds the dataset's
    fingerprint; a checkpoint is refused for another dataset. Floats round-trip exactly
    (JSON with ``NaN``/``Infinity`` tokens, Python's shortest repr).
    """

    def __init__(self, path: str | os.PathLike[str], fingerprint: Mapping[str, Any]) -> None:
        self.path = Path(path)
        if self.path.exists() and not self.path.is_dir():
            raise SweepError(f"checkpoint {self.path} exists and is not a folder")
        self.path.mkdir(parents=True, exist_ok=True)
        meta = self.path / "meta.json"
        if meta.exists():
            stored = json.loads(meta.read_text())
            if stored.get("dataset") != fingerprint:
                raise SweepError(
                    f"checkpoint {self.path} was written for another dataset "
                    f"({stored.get('dataset', {}).get('root')!r}, other window, markets or "
                    "rows); use a new checkpoint path"
                )
        else:
            atomic_write_text(meta, json.dumps({"dataset": fingerprint}, indent=1) + "\n")
        self.rows: dict[str, dict[str, Any]] = {}
        self._seq = 0
        for part in sorted(self.path.glob("part-*.jsonl")):
            self._seq = max(self._seq, int(part.stem.split("-")[1]))
            for n, line in enumerate(part.read_text().splitlines(), start=1):
                try:
                    row = json.loads(line)
                    self.rows[row["config_key"]] = row
                except (json.JSONDecodeError, KeyError, TypeError) as exc:
                    raise SweepError(f"checkpoint part {part}, line {n}: not a sweep row") from exc
        self._pending: list[dict[str, Any]] = []

    def add(self, row: dict[str, Any]) -> None:
        self._pending.append(row)

    def flush(self) -> None:
        if not self._pending:
            return
        self._seq += 1
        text = "".join(json.dumps(r, default=_json_default) + "\n" for r in self._pending)
        atomic_write_text(self.path / f"part-{self._seq:06d}.jsonl", text)
        for row in self._pending:
            self.rows[row["config_key"]] = row
        self._pending = []


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, tuple):
        return list(value)
    raise TypeError(f"cannot write {type(value).__name__} to a checkpoint")


# ---------------------------------------------------------------------------------------
# Executors
# ---------------------------------------------------------------------------------------


def _by_features(points: Sequence[Point]) -> list[list[Point]]:
    """Points grouped by feature params (first-seen order), each group by scan key."""
    groups: dict[Any, list[Point]] = {}
    for p in points:
        k = feature_params(p.config) if p.config is not None else None
        groups.setdefault(k, []).append(p)
    return list(groups.values())


def _run_local(
    dataset: Dataset, points: Sequence[Point], n_jobs: int
) -> Iterator[tuple[Point, dict[str, Any]]]:
    shared = _Shared(dataset=dataset, events=market_events(dataset))
    with ThreadPoolExecutor(max_workers=n_jobs, thread_name_prefix="spreadarb-sweep") as pool:
        for group in _by_features(points):
            valid = [p.config for p in group if p.config is not None]
            shared.expect(valid)
            if valid:
                # Features once per group, before the configurations race for them.
                shared.market_features(valid[0])
            # Configurations sharing a scan run together, so its records are freed early.
            by_scan: dict[Any, list[Point]] = {}
            for p in group:
                k = None if p.config is None else scan_key(p.config, dataset.exchanges)
                by_scan.setdefault(k, []).append(p)
            scan_order = [p for same in by_scan.values() for p in same]
            futures: dict[Future[dict[str, Any]], Point] = {
                pool.submit(_outcome, shared, p): p for p in scan_order
            }
            try:
                for future in as_completed(futures):
                    yield futures[future], future.result()
            finally:
                for future in futures:
                    future.cancel()
            shared.drop_features(set())


# Worker-side cache for Dask: one dataset (and its shared stages) per worker process.
_WORKER_LOCK = threading.Lock()
_WORKER_STATE: dict[str, Any] = {}


def _worker_shared(fingerprint: Mapping[str, Any]) -> _Shared:
    from spreadarb.data.loader import load

    key = json.dumps(fingerprint, sort_keys=True)
    with _WORKER_LOCK:
        shared = _WORKER_STATE.get(key)
        if shared is None:
            _WORKER_STATE.clear()
            dataset = load(
                fingerprint["root"],
                start=fingerprint["start_ns"],
                end=fingerprint["end_ns"],
                symbols=fingerprint["symbols"],
                exchanges=fingerprint["exchanges"],
            )
            seen = dataset_fingerprint(dataset)
            if seen != dict(fingerprint):
                raise SweepError(
                    f"the worker loaded other data from {fingerprint['root']!r} than the "
                    "client holds (changed files, or a path that differs between machines)"
                )
            shared = _Shared(dataset=dataset, events=market_events(dataset))
            _WORKER_STATE[key] = shared
    return shared


def _run_batch(
    fingerprint: Mapping[str, Any], batch: Sequence[tuple[int, dict[str, Any]]]
) -> list[tuple[int, dict[str, Any]]]:
    """A Dask task: backtest each config of the batch on the worker's copy of the data."""
    shared = _worker_shared(fingerprint)
    configs = [(i, StrategyConfig.from_dict(d)) for i, d in batch]
    shared.expect(c for _, c in configs)
    out = []
    for i, config in configs:
        point = Point(i, {}, config, None, "")
        out.append((i, _outcome(shared, point)))
    return out


def _run_dask(
    client: Any, dataset: Dataset, points: Sequence[Point], batch_size: int | None
) -> Iterator[tuple[Point, dict[str, Any]]]:
    from distributed import as_completed

    fingerprint = dataset_fingerprint(dataset)
    if not Path(fingerprint["root"]).is_dir():
        raise SweepError(
            f"dataset root {fingerprint['root']!r} is not a folder: Dask workers load the "
            "dataset from its path, so sweep a dataset loaded with spreadarb.load"
        )
    by_id = {p.config_id: p for p in points}
    invalid = [p for p in points if p.config is None]
    for p in invalid:
        yield p, {"error": p.error}
    valid = [p for group in _by_features(points) for p in group if p.config is not None]
    if not valid:
        return
    n_workers = max(1, len(client.scheduler_info().get("workers", {})))
    size = batch_size or max(1, min(64, math.ceil(len(valid) / (4 * n_workers))))
    futures = []
    for start in range(0, len(valid), size):
        chunk = valid[start : start + size]
        payload = [(p.config_id, p.config.to_dict()) for p in chunk if p.config is not None]
        futures.append(client.submit(_run_batch, fingerprint, payload, pure=False))
    try:
        for future in as_completed(futures):
            for config_id, outcome in future.result():
                yield by_id[config_id], outcome
    finally:
        client.cancel(futures)


# ---------------------------------------------------------------------------------------
# The public entry point
# ---------------------------------------------------------------------------------------


def sweep(
    dataset: Dataset,
    grid: Grid,
    *,
    base: StrategyConfig | None = None,
    client: Any = None,
    n_jobs: int | None = None,
    progress: bool = True,
    checkpoint: str | os.PathLike[str] | None = None,
    batch_size: int | None = None,
) -> pd.DataFrame:
    """Backtest every configuration of a grid on one dataset; one row per configuration.

    Parameters
    ----------
    dataset
        From :func:`spreadarb.load`.
    grid
        Config field names (dotted for nested ones) mapped to lists of values (every
        combination), or a sequence of configs (:class:`StrategyConfig` or mappings of
        changes to ``base``); see :func:`expand_grid`.
    base
        The config the grid changes; default ``StrategyConfig()``.
    client
        A ``dask.distributed.Client``: run on its cluster, in batches of ``batch_size``
        configurations. Workers load the dataset from ``dataset.root`` (a path they must
        see, e.g. a shared file system) and check they got the same rows.
    n_jobs
        Threads for a local sweep; default every core (``os.cpu_count()``).
    progress
        Show a progress bar (configurations done, rate, ETA) on stderr.
    checkpoint
        A folder: finished rows are appended to it as they finish (every few seconds), and
        a rerun with the same folder skips the configurations already in it.
    batch_size
        Configurations per Dask task; default about four tasks per worker, at most 64.

    Returns
    -------
    pandas.DataFrame
        In grid order: ``config_id``, the grid's parameters, ``config_key`` (a hash of the
        whole config), ``error`` (None, or why the configuration failed: an invalid
        combination or an exception in its run; the sweep goes on) and every metric of
        :func:`~spreadarb.metrics.portfolio_metrics` (nested ones dotted, e.g.
        ``scan_rejections.low_confidence``). Identical to running :func:`spreadarb.backtest`
        on each configuration one by one.
    """
    import pandas as pd

    points = expand_grid(grid, base)
    if n_jobs is None:
        n_jobs = os.cpu_count() or 1
    if not isinstance(n_jobs, int) or isinstance(n_jobs, bool) or n_jobs < 1:
        raise SweepError(f"n_jobs must be a positive integer, got {n_jobs!r}")
    store = Checkpoint(checkpoint, dataset_fingerprint(dataset)) if checkpoint else None
    rows: dict[int, dict[str, Any]] = {}
    todo = []
    for p in points:
        done = store.rows.get(p.key) if store is not None else None
        if done is not None:
            rows[p.config_id] = done
        else:
            todo.append(p)
    bar = _progress(len(points), len(points) - len(todo), enabled=progress)
    runner = (
        _run_dask(client, dataset, todo, batch_size)
        if client is not None
        else _run_local(dataset, todo, n_jobs)
    )
    last_flush = time.monotonic()
    try:
        for point, outcome in runner:
            row = {"config_key": point.key, **outcome}
            rows[point.config_id] = row
            if store is not None:
                store.add(row)
                if time.monotonic() - last_flush > 2.0:
                    store.flush()
                    last_flush = time.monotonic()
            bar.update(1)
    finally:
        if store is not None:
            store.flush()
        bar.close()
    return _frame(points, rows, pd)


def _frame(points: Sequence[Point], rows: Mapping[int, dict[str, Any]], pd: Any) -> pd.DataFrame:
    param_names: dict[str, None] = {}
    for p in points:
        param_names.update(dict.fromkeys(p.params))
    metric_names: dict[str, None] = {}
    for p in points:
        metric_names.update(
            dict.fromkeys(k for k in rows[p.config_id] if k not in ("config_key", "error"))
        )
    records = []
    for p in points:
        row = rows[p.config_id]
        record: dict[str, Any] = {"config_id": p.config_id}
        record.update({name: p.params.get(name) for name in param_names})
        record["config_key"] = p.key
        record["error"] = row.get("error")
        record.update({name: row.get(name, math.nan) for name in metric_names})
        records.append(record)
    columns = ["config_id", *param_names, "config_key", "error", *metric_names]
    return pd.DataFrame.from_records(records, columns=columns)


class _NoBar:
    def update(self, n: int) -> None:
        pass

    def close(self) -> None:
        pass


def _progress(total: int, done: int, *, enabled: bool) -> Any:
    if not enabled:
        return _NoBar()
    from tqdm import tqdm

    return tqdm(total=total, initial=done, unit="config", desc="sweep", dynamic_ncols=True)
