"""The venues the live system collects, with their Redis key prefixes and funding cadence.

One place names every venue; config, the generator, the importers and the Redis
exporter read it from here. Unknown venues are allowed everywhere (ranked hardest
to fill, see SPEC §5); they simply have no entry here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

EXCHANGE_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_.-]*$")
"""Form of a venue name in the data: lower case, digits, ``_ . -``."""
SYMBOL_PATTERN = re.compile(r"^[A-Z0-9][A-Z0-9_.]*$")
"""Form of a canonical symbol: an upper-case base asset such as ``BTC`` or ``1000PEPE``."""


@dataclass(frozen=True, kw_only=True)
class Venue:
    """Static facts about one venue.

    Attributes
    ----------
    name
        Contract name of the venue, as stored in the ``exchange`` column.
    redis_prefix
        Prefix of the collectors' ticker keys, ``{redis_prefix}:tickers:{symbol}``.
    funding_interval_s
        The venue's usual funding interval in seconds (a market may differ; the
        data's ``funding_interval_s`` column is authoritative).
    is_dex
        Decentralised venue (hardest to fill in the seed's ranking).
    """

    name: str
    redis_prefix: str
    funding_interval_s: int
    is_dex: bool = False


HOUR_S = 3600

VENUES: dict[str, Venue] = {
    v.name: v
    for v in (
        Venue(name="binance", redis_prefix="binance:linear", funding_interval_s=8 * HOUR_S),
        Venue(name="bybit", redis_prefix="bybit:linear", funding_interval_s=8 * HOUR_S),
        Venue(name="kucoin", redis_prefix="kucoin:futures", funding_interval_s=8 * HOUR_S),
        Venue(name="okx", redis_prefix="okx:swap", funding_interval_s=8 * HOUR_S),
        Venue(name="bitget", redis_prefix="bitget:usdt", funding_interval_s=8 * HOUR_S),
        Venue(name="gate", redis_prefix="gate:futures", funding_interval_s=4 * HOUR_S),
        Venue(
            name="hyperliquid",
            redis_prefix="hyperliquid:perps",
            funding_interval_s=1 * HOUR_S,
            is_dex=True,
        ),
        Venue(
            name="paradex", redis_prefix="paradex:perps", funding_interval_s=8 * HOUR_S, is_dex=True
        ),
    )
}

SEED_VENUES: tuple[str, ...] = tuple(VENUES)
"""The eight venues of the seed, in the order of its Redis schema."""
