"""Where CoinGecko snapshots live in Bronze, shared by the writer, the sample and discovery.

One snapshot file per fetch:

    <bronze_root>/<subdir>/type=asset_stats/date=<YYYY-MM-DD>/snapshot_ts=<us>/coingecko_markets_<us>.jsonl.gz

`date` is the UTC date of `snapshot_ts` (the table's time axis), so a path alone says which
`dim_asset_stats` partition the file feeds.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from pathlib import PurePosixPath

VENDOR = "coingecko"
DATA_TYPE = "asset_stats"
DATASET = "coins_markets"
TABLE = "dim_asset_stats"
SCHEMA_VERSION = 1
US_PER_DAY = 86_400_000_000

_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_ONE_US = dt.timedelta(microseconds=1)
_DATE_DIR = re.compile(r"^date=(\d{4}-\d{2}-\d{2})$")
_SNAPSHOT_DIR = re.compile(r"^snapshot_ts=(\d{1,19})$")
_FILE_NAME = re.compile(r"^coingecko_markets_(\d{1,19})\.jsonl\.gz$")


@dataclass(frozen=True)
class SnapshotKeys:
    """What a snapshot's path says: its UTC date and capture time."""

    date: dt.date
    snapshot_ts_us: int


def utc_date(ts_us: int) -> dt.date:
    """UTC calendar date of a microsecond timestamp (the partition a snapshot belongs to)."""
    return (_EPOCH + dt.timedelta(microseconds=ts_us)).date()


def day_start_us(day: dt.date) -> int:
    """UTC midnight of `day` in microseconds."""
    return (day - _EPOCH.date()).days * US_PER_DAY


def datetime_to_us(value: dt.datetime) -> int:
    """An aware datetime (naive = UTC) as integer microseconds, without float rounding."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return (value - _EPOCH) // _ONE_US


def snapshot_rel_path(snapshot_ts_us: int, subdir: str = VENDOR) -> PurePosixPath:
    """Path of the snapshot captured at `snapshot_ts_us`, relative to the Bronze root."""
    if snapshot_ts_us < 0:
        raise ValueError(f"snapshot_ts_us must be >= 0, got {snapshot_ts_us}")
    day = utc_date(snapshot_ts_us).isoformat()
    return PurePosixPath(
        subdir,
        f"type={DATA_TYPE}",
        f"date={day}",
        f"snapshot_ts={snapshot_ts_us}",
        f"coingecko_markets_{snapshot_ts_us}.jsonl.gz",
    )


def parse_snapshot_path(parts: tuple[str, ...]) -> SnapshotKeys | None:
    """Keys of a path below the vendor subdir, or None unless it is exactly the snapshot layout.

    The name, the `snapshot_ts=` directory and the `date=` directory must agree: a file whose
    date is not the UTC date of its timestamp would feed the wrong partition, so it is reported.
    """
    if len(parts) != 4 or parts[0] != f"type={DATA_TYPE}":
        return None
    date_m, snap_m, name_m = _DATE_DIR.match(parts[1]), _SNAPSHOT_DIR.match(parts[2]), _FILE_NAME.match(parts[3])
    if date_m is None or snap_m is None or name_m is None or snap_m[1] != name_m[1]:
        return None
    ts_us = int(snap_m[1])
    try:
        day = dt.date.fromisoformat(date_m[1])
        if utc_date(ts_us) != day:
            return None
    except (ValueError, OverflowError):  # impossible date, or a timestamp beyond year 9999
        return None
    return SnapshotKeys(day, ts_us)
