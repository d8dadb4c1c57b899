"""Redis: export the collectors' live tickers to the dataset, write results to strategy keys.

Public names::

    spreadarb.redis.export(out, *, url=..., interval="100ms", duration=None, ...) -> ExportStats
    spreadarb.redis.ExportConfig, ExportStats, Exporter
    spreadarb.redis.FieldMapping (per-venue field names; TOML overrides)
    spreadarb.redis.to_redis(result, client, *, prefix="strategy")

See ``docs/redis.md``. Needs the ``redis`` package (``pip install spreadarb[redis]``).
"""

from __future__ import annotations

from spreadarb.redis.exporter import ExportConfig, Exporter, ExportStats, export, parse_duration
from spreadarb.redis.fields import FieldMapping, FieldSpec, MalformedValue, normalize_symbol
from spreadarb.redis.keys import KeyPattern, default_patterns
from spreadarb.redis.strategy_keys import to_redis

__all__ = [
    "ExportConfig",
    "ExportStats",
    "Exporter",
    "FieldMapping",
    "FieldSpec",
    "KeyPattern",
    "MalformedValue",
    "default_patterns",
    "export",
    "normalize_symbol",
    "parse_duration",
    "to_redis",
]
