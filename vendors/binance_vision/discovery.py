"""Find Binance Vision kline files in Bronze from their paths alone.

The one recognised layout below `<bronze_root>/<subdir>/` is
`exchange=<exchange>/type=klines/interval=<interval>/symbol=<SYMBOL>/<SYMBOL>-<interval>-<key>.zip`
with `key` = `YYYY-MM-DD` (daily) or `YYYY-MM` (monthly), each optionally beside its
`<zip name>.CHECKSUM`. The folder keys and the file name must agree; anything else (other
files, unknown exchanges or intervals, invalid dates, leftover `.part` downloads) is
unrecognized so the core can report it instead of guessing.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from pointline.schemas import KLINE_INTERVALS_US
from vendors.base import BronzeFile, walk_files
from vendors.binance_vision.layout import (
    CHECKSUM_SUFFIX,
    KIND,
    MARKET_PATHS,
    VENDOR,
    ZIP_SUFFIX,
    data_type,
    parse_period_key,
    window_us,
)

_FOLDER_KEYS = ("exchange", "type", "interval", "symbol")


@dataclass
class ScanResult:
    """Kline zips, recognised checksum files and everything else under the vendor subtree."""

    files: list[BronzeFile] = field(default_factory=list)
    checksums: list[Path] = field(default_factory=list)
    unrecognized: list[Path] = field(default_factory=list)


@dataclass(frozen=True)
class PathKeys:
    exchange: str
    interval: str
    symbol: str
    date: dt.date
    period: str


def scan(bronze_root: Path, subdir: str) -> ScanResult:
    """Walk `<bronze_root>/<subdir>` once and classify every file; all lists sorted."""
    root = Path(bronze_root).absolute()
    base = root / subdir
    result = ScanResult()
    for path in walk_files(base):
        _classify_into(result, root, base, path)
    result.files.sort(key=lambda f: f.rel_path)
    result.checksums.sort()
    result.unrecognized.sort()
    return result


def _classify_into(result: ScanResult, root: Path, base: Path, path: Path) -> None:
    """Route one file to files, checksums or unrecognized."""
    rel = PurePosixPath(path.relative_to(base).as_posix())
    name = rel.name
    is_checksum = name.endswith(ZIP_SUFFIX + CHECKSUM_SUFFIX)
    zip_name = name.removesuffix(CHECKSUM_SUFFIX) if is_checksum else name
    keys = path_keys(rel.parent, zip_name)
    if keys is None:
        result.unrecognized.append(path)
    elif is_checksum:
        result.checksums.append(path)
    else:
        result.files.append(_bronze_file(path, root, keys))


def path_keys(folder: PurePosixPath, zip_name: str) -> PathKeys | None:
    """Keys of `<folder>/<zip_name>` relative to the vendor subtree; None unless it is exactly the layout."""
    pairs = [part.partition("=") for part in folder.parts]
    if [key for key, eq, _ in pairs if eq] != list(_FOLDER_KEYS) or len(pairs) != len(_FOLDER_KEYS):
        return None
    exchange, kind, interval, symbol = (value for _, _, value in pairs)
    if exchange not in MARKET_PATHS or kind != KIND or interval not in KLINE_INTERVALS_US or not symbol:
        return None
    prefix = f"{symbol}-{interval}-"
    if not (zip_name.startswith(prefix) and zip_name.endswith(ZIP_SUFFIX)):
        return None
    parsed = parse_period_key(zip_name[len(prefix) : -len(ZIP_SUFFIX)])
    if parsed is None:
        return None
    day, period = parsed
    return PathKeys(exchange, interval, symbol, day, period)


def _bronze_file(path: Path, root: Path, keys: PathKeys) -> BronzeFile:
    """Attach file stats and the UTC day (or month) window to the path keys."""
    stat = path.stat()
    start, end = window_us(keys.date, keys.period)
    return BronzeFile(
        vendor=VENDOR,
        data_type=data_type(keys.interval),
        path=path,
        rel_path=path.relative_to(root).as_posix(),
        exchange=keys.exchange,
        date=keys.date,
        symbol=keys.symbol,
        size=stat.st_size,
        mtime_ns=stat.st_mtime_ns,
        window_start_us=start,
        window_end_us=end,
        extra={"interval": keys.interval, "period": keys.period},
    )
