"""Deterministic sample CoinGecko snapshots in the real Bronze layout, for tests and the demo.

`write_sample_snapshots(bronze_root, days)` writes one snapshot per UTC day (captured at
00:05:00.123456) through the same writer the downloader uses, so layout, envelope and gzip
are format-exact. Records are shaped like CoinGecko's /coins/markets answer (same keys in the
same order, compact JSON, supplies as floats such as `19675962.0`, market caps as integers,
`max_supply` null for uncapped coins, `last_updated` with milliseconds and `Z`).

One sample coin, SAMPLE_UNMAPPED_COIN, is deliberately absent from config/coingecko_assets.csv:
its rows reach the core with a null base_asset and are quarantined, which the demo shows.

Re-running with the same arguments is a no-op (identical files are left alone); a different
file at the same path raises FileExistsError, because snapshots are never overwritten.
CLI: `python -m vendors.coingecko.sample --bronze-root PATH [--start YYYY-MM-DD] [--days N]`.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from vendors.coingecko.assets import coin_to_base
from vendors.coingecko.layout import VENDOR, snapshot_rel_path
from vendors.coingecko.snapshot import encode_snapshot
from vendors.snapshots import day_start_us, write_new_file

__all__ = ["SampleCoin", "SampleSnapshots", "SAMPLE_COINS", "SAMPLE_UNMAPPED_COIN", "write_sample_snapshots", "main"]

SAMPLE_UNMAPPED_COIN = "kaspa"
_CAPTURE_OFFSET_US = 5 * 60 * 1_000_000 + 123_456  # 00:05:00.123456 UTC


@dataclass(frozen=True)
class SampleCoin:
    """A coin's state on the first sample day; later days drift deterministically from it."""

    coin_id: str
    symbol: str
    name: str
    image_id: int
    price: float
    circulating: float
    total: float | None
    max: float | None
    daily_issuance: float  # circulating supply added per day


SAMPLE_COINS: tuple[SampleCoin, ...] = (
    SampleCoin("bitcoin", "btc", "Bitcoin", 1, 60123.45, 19675962.0, 21000000.0, 21000000.0, 450.0),
    SampleCoin("ethereum", "eth", "Ethereum", 279, 3015.27, 120121361.5, 120121361.5, None, 2600.25),
    SampleCoin("solana", "sol", "Solana", 4128, 135.41, 447201324.2, 576771293.6, None, 61000.5),
    SampleCoin("binancecoin", "bnb", "BNB", 825, 583.12, 147583717.8, 147583717.8, 200000000.0, 0.0),
    SampleCoin("tether", "usdt", "Tether", 325, 1.0003, 110803283123.6, 110803283123.6, None, 25000000.0),
    SampleCoin("shiba-inu", "shib", "Shiba Inu", 11939, 2.341e-05, 589264883277007.6, 999982366758290.4, None, 0.0),
    SampleCoin("pepe", "pepe", "Pepe", 29850, 7.61e-06, 420690000000000.0, 420690000000000.0, 420690000000000.0, 0.0),
    SampleCoin(SAMPLE_UNMAPPED_COIN, "kas", "Kaspa", 25751, 0.1241, 23632215817.4, 23632215817.4, 28704026601.0, 1.4e7),
)


@dataclass(frozen=True)
class SampleSnapshots:
    """What was written: one snapshot per day, and the coins the asset map does not know."""

    paths: tuple[Path, ...]
    records: int
    unmapped: tuple[str, ...]


def _sig(value: float, digits: int = 8) -> float:
    """Round to significant digits, as CoinGecko's prices are."""
    return float(f"{value:.{digits}g}")


def _drift(day_index: int, coin_index: int) -> float:
    """A small deterministic daily price move in [-2%, +2%]."""
    return 1 + 0.01 * (((day_index * 7 + coin_index * 3) % 5) - 2)


def _iso_ms(ts_us: int) -> str:
    """UTC microseconds -> CoinGecko's `2024-05-01T00:04:31.512Z`."""
    moment = dt.datetime(1970, 1, 1, tzinfo=dt.UTC) + dt.timedelta(microseconds=ts_us)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def sample_record(coin: SampleCoin, coin_index: int, day_index: int, captured_at_us: int) -> str:
    """One /coins/markets record as CoinGecko's compact JSON text."""
    price = _sig(coin.price * _drift(day_index, coin_index))
    previous = _sig(coin.price * _drift(day_index - 1, coin_index))
    circulating = coin.circulating + coin.daily_issuance * day_index
    total = None if coin.total is None else max(coin.total + coin.daily_issuance * day_index, circulating)
    market_cap = round(price * circulating)
    fdv_supply = coin.max if coin.max is not None else total
    record = {
        "id": coin.coin_id,
        "symbol": coin.symbol,
        "name": coin.name,
        "image": f"https://coin-images.coingecko.com/coins/images/{coin.image_id}/large/{coin.coin_id}.png",
        "current_price": price,
        "market_cap": market_cap,
        "market_cap_rank": coin_index + 1,
        "fully_diluted_valuation": None if fdv_supply is None else round(price * fdv_supply),
        "total_volume": round(market_cap * 0.031),
        "high_24h": _sig(max(price, previous) * 1.012),
        "low_24h": _sig(min(price, previous) * 0.988),
        "price_change_24h": _sig(price - previous),
        "price_change_percentage_24h": _sig((price - previous) / previous * 100, 6),
        "market_cap_change_24h": _sig((price - previous) * circulating, 10),
        "market_cap_change_percentage_24h": _sig((price - previous) / previous * 100, 6),
        "circulating_supply": circulating,
        "total_supply": total,
        "max_supply": coin.max,
        "ath": _sig(coin.price * 1.21),
        "ath_change_percentage": _sig((price / (coin.price * 1.21) - 1) * 100, 6),
        "ath_date": "2024-03-14T07:10:36.635Z",
        "atl": _sig(coin.price * 0.0021),
        "atl_change_percentage": _sig((price / (coin.price * 0.0021) - 1) * 100, 8),
        "atl_date": "2020-03-13T02:22:55.044Z",
        "roi": None,
        "last_updated": _iso_ms(captured_at_us - (17 + 11 * coin_index) * 1_000_000 - 488_000),
    }
    return json.dumps(record, separators=(",", ":"))


def write_sample_snapshots(
    bronze_root: Path | str,
    days: int = 2,
    assets: Sequence[SampleCoin] = SAMPLE_COINS,
    *,
    start: dt.date = dt.date(2024, 5, 1),
    subdir: str = VENDOR,
    asset_map: Path | str | None = None,
) -> SampleSnapshots:
    """Write one snapshot per day from `start` under `<bronze_root>/<subdir>/` and describe them.

    `unmapped` lists the sample coins missing from the asset map (`asset_map`, default the config CSV).
    """
    if days < 1:
        raise ValueError("days must be >= 1")
    if not assets:
        raise ValueError("assets must name at least one coin")
    paths: list[Path] = []
    for day_index in range(days):
        captured = day_start_us(start + dt.timedelta(days=day_index)) + _CAPTURE_OFFSET_US
        records = [sample_record(coin, i, day_index, captured) for i, coin in enumerate(assets)]
        path = Path(bronze_root) / snapshot_rel_path(captured, subdir)
        data = encode_snapshot(records, captured, [c.coin_id for c in assets])
        if not (path.is_file() and path.read_bytes() == data):
            write_new_file(path, data)
        paths.append(path)
    known = coin_to_base(asset_map)
    unmapped = tuple(c.coin_id for c in assets if c.coin_id not in known)
    return SampleSnapshots(tuple(paths), days * len(assets), unmapped)


def main(argv: list[str] | None = None) -> int:
    """CLI: write the sample snapshots and list them."""
    parser = argparse.ArgumentParser(
        prog="python -m vendors.coingecko.sample",
        description="Write deterministic sample CoinGecko snapshots under BRONZE_ROOT/coingecko/.",
    )
    parser.add_argument("--bronze-root", type=Path, required=True)
    parser.add_argument("--start", type=dt.date.fromisoformat, default=dt.date(2024, 5, 1), help="YYYY-MM-DD")
    parser.add_argument("--days", type=int, default=2)
    args = parser.parse_args(argv)
    result = write_sample_snapshots(args.bronze_root, args.days, start=args.start)
    for path in result.paths:
        print(path)
    print(f"{result.records} record(s); not in the asset map (quarantined on ingest): {', '.join(result.unmapped)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
