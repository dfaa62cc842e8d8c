"""Names, paths and windows of Binance Vision kline files, shared by discovery, download and samples.

Binance publishes klines at `https://data.binance.vision/data/<market>/<period>/klines/<SYMBOL>/
<interval>/<SYMBOL>-<interval>-<key>.zip` (+ `.CHECKSUM`), where `key` is `YYYY-MM-DD` for daily
and `YYYY-MM` for monthly files. Bronze keeps the file names and puts them under
`<subdir>/exchange=<exchange>/type=klines/interval=<interval>/symbol=<SYMBOL>/`, keyed by the
lake's exchange name so the path alone says which partition a file feeds.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from pathlib import Path

from pointline.schemas import KLINE_INTERVALS_US

VENDOR = "binance_vision"
DEFAULT_SUBDIR = "binance_vision"
KIND = "klines"
PERIODS = ("daily", "monthly")
CHECKSUM_SUFFIX = ".CHECKSUM"
ZIP_SUFFIX = ".zip"

# Lake exchange name -> Binance Vision market path.
MARKET_PATHS: dict[str, str] = {
    "binance": "spot",
    "binance-futures": "futures/um",
    "binance-coin-futures": "futures/cm",
}

# Kline CSV columns, in Binance's order (https://github.com/binance/binance-public-data).
KLINE_COLUMNS: tuple[str, ...] = (
    "open_time",
    "open",
    "high",
    "low",
    "close",
    "volume",
    "close_time",
    "quote_volume",
    "count",
    "taker_buy_volume",
    "taker_buy_quote_volume",
    "ignore",
)

US_PER_DAY = 86_400_000_000
_EPOCH = dt.date(1970, 1, 1)
_HEX64 = re.compile(r"^[0-9a-fA-F]{64}$")


def data_type(interval: str) -> str:
    """The vendor data type of an interval's files, e.g. `klines_1h`."""
    return f"{KIND}_{interval}"


def routes() -> dict[str, str]:
    """Every kline interval the lake knows feeds its own `kline_<interval>` table."""
    return {data_type(i): f"kline_{i}" for i in KLINE_INTERVALS_US}


def check_interval(interval: str) -> None:
    """Only intervals with a lake table can be stored (Binance's 3d/1w/1mo have none)."""
    if interval not in KLINE_INTERVALS_US:
        raise ValueError(f"unknown kline interval {interval!r}; known: {', '.join(KLINE_INTERVALS_US)}")


def check_exchange(exchange: str) -> None:
    """Binance Vision hosts exactly these three markets."""
    if exchange not in MARKET_PATHS:
        raise ValueError(f"unknown exchange {exchange!r} for Binance Vision; known: {', '.join(MARKET_PATHS)}")


def check_period(period: str) -> None:
    if period not in PERIODS:
        raise ValueError(f"unknown period {period!r}; known: {', '.join(PERIODS)}")


def period_key(day: dt.date, period: str) -> str:
    """The date part of a file name: `2024-05-01` (daily) or `2024-05` (monthly)."""
    return day.isoformat() if period == "daily" else f"{day.year:04d}-{day.month:02d}"


def parse_period_key(text: str) -> tuple[dt.date, str] | None:
    """`YYYY-MM-DD` -> (day, "daily"), `YYYY-MM` -> (1st of month, "monthly"), else None (bad dates too)."""
    if not re.fullmatch(r"\d{4}-\d{2}(-\d{2})?", text):
        return None
    try:
        if len(text) == 10:
            return dt.date.fromisoformat(text), "daily"
        return dt.date.fromisoformat(f"{text}-01"), "monthly"
    except ValueError:
        return None


def zip_name(symbol: str, interval: str, key: str) -> str:
    """Binance's own file name, kept verbatim in Bronze."""
    return f"{symbol}-{interval}-{key}{ZIP_SUFFIX}"


def bronze_dir(bronze_root: Path, subdir: str, exchange: str, interval: str, symbol: str) -> Path:
    """The Bronze folder of one (exchange, interval, symbol)."""
    return (
        Path(bronze_root)
        / subdir
        / f"exchange={exchange}"
        / f"type={KIND}"
        / f"interval={interval}"
        / f"symbol={symbol}"
    )


def remote_path(exchange: str, period: str, symbol: str, interval: str, key: str) -> str:
    """URL path of a file below the Binance Vision base URL (no leading slash)."""
    return f"data/{MARKET_PATHS[exchange]}/{period}/{KIND}/{symbol}/{interval}/{zip_name(symbol, interval, key)}"


def day_start_us(day: dt.date) -> int:
    """UTC midnight of `day` in microseconds: Binance cuts files on UTC open time."""
    return (day - _EPOCH).days * US_PER_DAY


def next_month(day: dt.date) -> dt.date:
    """The 1st of the month after `day`'s month."""
    return dt.date(day.year + day.month // 12, day.month % 12 + 1, 1)


def window_us(day: dt.date, period: str) -> tuple[int, int]:
    """[start, end) in UTC microseconds of the day, or of the whole month, a file covers."""
    if period == "daily":
        start = day_start_us(day)
        return start, start + US_PER_DAY
    first = day.replace(day=1)
    return day_start_us(first), day_start_us(next_month(first))


def period_starts(start: dt.date, end: dt.date, period: str) -> list[dt.date]:
    """Days start..end inclusive (daily), or the 1st of every month they touch (monthly)."""
    if end < start:
        raise ValueError(f"end {end} is before start {start}")
    if period == "daily":
        return [start + dt.timedelta(days=n) for n in range((end - start).days + 1)]
    months, month = [], start.replace(day=1)
    while month <= end:
        months.append(month)
        month = next_month(month)
    return months


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: Path) -> str:
    """Streamed, so a monthly 1s file never has to fit in memory twice."""
    with Path(path).open("rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def parse_checksum(text: str) -> str:
    """The lowercase hex digest of a `.CHECKSUM` file (`<sha256>  <name>`); ValueError when malformed."""
    fields = text.split()
    if not fields or not _HEX64.match(fields[0]):
        raise ValueError(f"not a sha256 CHECKSUM line: {text[:120]!r}")
    return fields[0].lower()


def checksum_text(digest: str, name: str) -> str:
    """A `.CHECKSUM` file as Binance writes it (sha256sum format)."""
    return f"{digest}  {name}\n"
