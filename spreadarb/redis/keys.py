"""Key discovery: which Redis keys hold which venue's market, found with SCAN (never KEYS)."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from spreadarb.redis.fields import normalize_symbol
from spreadarb.venues import EXCHANGE_PATTERN, VENUES

log = logging.getLogger("spreadarb.redis")

_GLOB_CHARS = frozenset("*?[]\\")


@dataclass(frozen=True, kw_only=True)
class KeyPattern:
    """A key pattern ``PREFIX*`` whose ``*`` is a venue's market name.

    Written ``[venue=]PREFIX*``; without ``venue=`` the venue is the one whose Redis
    prefix ``PREFIX`` starts with (``binance:linear:tickers:*`` is binance), else the
    first ``:``-separated part of the prefix.
    """

    venue: str
    prefix: str

    @property
    def glob(self) -> str:
        """The pattern as given to ``SCAN MATCH`` (the prefix glob-escaped)."""
        escaped = "".join(f"\\{c}" if c in _GLOB_CHARS else c for c in self.prefix)
        return escaped + "*"

    @classmethod
    def parse(cls, text: str) -> KeyPattern:
        """Parse ``[venue=]PREFIX*``.

        Raises
        ------
        ValueError
            If the pattern does not end in a single ``*`` or has other glob characters,
            or the venue is not a valid venue name.
        """
        venue, sep, glob = text.partition("=")
        if not sep:
            venue, glob = "", text
        glob = glob.strip()
        venue = venue.strip()
        prefix = glob[:-1]
        if not glob.endswith("*") or any(c in _GLOB_CHARS for c in prefix):
            raise ValueError(
                f"key pattern {text!r}: expected [venue=]PREFIX* with a single trailing '*' "
                "standing for the market name (e.g. binance:linear:tickers:*)"
            )
        if not venue:
            venue = next(
                (v.name for v in VENUES.values() if prefix.startswith(v.redis_prefix + ":")),
                prefix.split(":", 1)[0],
            )
        if not EXCHANGE_PATTERN.match(venue):
            raise ValueError(
                f"key pattern {text!r}: venue {venue!r} is not a valid venue name "
                "(lower case [a-z0-9_.-]); write it as venue=PREFIX*"
            )
        return cls(venue=venue, prefix=prefix)


def default_patterns(kind: str) -> tuple[str, ...]:
    """``{redis_prefix}:{kind}:*`` for the eight venues of the seed (SPEC §2)."""
    return tuple(f"{v.redis_prefix}:{kind}:*" for v in VENUES.values())


@dataclass(frozen=True)
class MarketKey:
    """A discovered key: its venue, the venue's market name and the canonical symbol."""

    key: bytes
    venue: str
    raw_symbol: str
    symbol: str


def scan_prefixes(client: Any, patterns: Sequence[KeyPattern], *, count: int = 1000) -> list[bytes]:
    """Every key matching one of ``patterns``, sorted, found in **one** SCAN pass.

    With a single pattern the pass uses ``MATCH``; with several, one pass without it
    filtered by prefix here is cheaper than one pass per pattern (SCAN walks the
    whole keyspace whatever it matches).
    """
    prefixes = tuple({p.prefix.encode() for p in patterns})
    if not prefixes:
        return []
    match = patterns[0].glob if len(prefixes) == 1 else None
    found = set()
    for key in client.scan_iter(match=match, count=count):
        raw = key if isinstance(key, bytes) else str(key).encode()
        if raw.startswith(prefixes):
            found.add(raw)
    return sorted(found)


def resolve_keys(
    keys: Iterable[bytes],
    patterns: Sequence[KeyPattern],
    *,
    aliases: Mapping[str, str] | None = None,
    bad_keys: set[bytes] | None = None,
) -> list[MarketKey]:
    """The keys of ``keys`` that match ``patterns``, as markets (venue, symbol).

    A key whose market name does not normalise to a canonical symbol, or whose market
    is already read from another key, is logged once (``bad_keys`` remembers it
    across calls) and left out. The result is sorted by key, so samples list markets
    in a stable order and the same key wins every refresh.
    """
    found: list[MarketKey] = []
    markets: dict[tuple[str, str], bytes] = {}
    for raw_key in sorted(keys):
        pattern = next((p for p in patterns if raw_key.startswith(p.prefix.encode())), None)
        if pattern is None:
            continue
        raw = raw_key.decode("utf-8", "replace")[len(pattern.prefix) :]
        try:
            symbol = normalize_symbol(raw, pattern.venue, aliases)
        except ValueError as exc:
            _warn_once(bad_keys, raw_key, str(exc))
            continue
        other = markets.setdefault((pattern.venue, symbol), raw_key)
        if other != raw_key:
            # Two keys of one market would interleave two feeds: keep the first.
            _warn_once(
                bad_keys,
                raw_key,
                f"market {pattern.venue} {symbol} is already read from key "
                f"{other.decode('utf-8', 'replace')!r}",
            )
            continue
        found.append(MarketKey(raw_key, pattern.venue, raw, symbol))
    return found


def _warn_once(seen: set[bytes] | None, key: bytes, why: str) -> None:
    if seen is None or key not in seen:
        if seen is not None:
            seen.add(key)
        log.warning("skipping key %r: %s", key.decode("utf-8", "replace"), why)
