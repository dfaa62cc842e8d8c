"""Find Tardis files in Bronze from their paths alone.

Two layouts are recognised below `<bronze_root>/<subdir>/`:

* Hive: `exchange=<x>/type=<data_type>/date=<YYYY-MM-DD>/symbol=<S>/<anything>.csv[.gz]`
  (the documented `tardis-dev --filename-template`); other `k=v` directories go to `extra`.
* tardis-dev SDK default names `<exchange>_<data_type>_<YYYY-MM-DD>_<symbol>.csv[.gz]`, anywhere.
  Exchanges carry dashes and data types underscores, so the name is split on the date.

Instrument metadata snapshots (`exchange=<x>/type=instruments/date=<d>/instruments.json[.gz]`)
are collected separately; everything else is returned as unrecognized so the core can report it.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from vendors.base import BronzeFile, walk_files
from vendors.tardis.common import US_PER_DAY, day_start_us, normalize_exchange, parse_date

VENDOR = "tardis"
INSTRUMENTS_TYPE = "instruments"
INSTRUMENT_FILE_NAMES = ("instruments.json", "instruments.json.gz")
HIVE_KEYS = ("exchange", "type", "date", "symbol")
# Downloads in progress (the tardis-dev SDK's temp names, our own .part files): not Bronze yet.
IN_FLIGHT_SUFFIXES = (".unconfirmed", ".part")

_KV = re.compile(r"^(?P<key>[A-Za-z_][A-Za-z0-9_]*)=(?P<value>.*)$")
_CSV_NAME = re.compile(r"\.csv(\.gz)?$")
_SDK_NAME = re.compile(
    r"^(?P<exchange>[^_]+)_(?P<data_type>.+?)_(?P<date>\d{4}-\d{2}-\d{2})_(?P<symbol>.+?)\.csv(?:\.gz)?$"
)


@dataclass(frozen=True)
class InstrumentSnapshot:
    """One instruments.json[.gz] file: the raw /v1/instruments/<exchange> answer on `date`."""

    path: Path
    rel_path: str
    exchange: str
    date: dt.date


@dataclass
class ScanResult:
    """Everything under the vendor subtree, split by what the plugin can do with it."""

    files: list[BronzeFile] = field(default_factory=list)
    snapshots: list[InstrumentSnapshot] = field(default_factory=list)
    unrecognized: list[Path] = field(default_factory=list)


@dataclass(frozen=True)
class _PathKeys:
    """What a file's path says about it, before file stats are taken."""

    data_type: str
    exchange: str
    date: dt.date
    symbol: str | None
    extra: dict[str, str]


def scan(bronze_root: Path, subdir: str) -> ScanResult:
    """Walk `<bronze_root>/<subdir>` once and classify every file; files and snapshots sorted by rel_path."""
    root = Path(bronze_root).absolute()
    base = root / subdir
    result = ScanResult()
    for path in walk_files(base):
        if not path.name.endswith(IN_FLIGHT_SUFFIXES):
            _classify_into(result, root, path)
    result.files.sort(key=lambda f: f.rel_path)
    result.snapshots.sort(key=lambda s: s.rel_path)
    return result


def _classify_into(result: ScanResult, root: Path, path: Path) -> None:
    """Route one file to files, snapshots or unrecognized."""
    rel = PurePosixPath(path.relative_to(root).as_posix())
    hive = _hive_pairs(rel)
    if hive.get("type") == INSTRUMENTS_TYPE and "exchange" in hive and "date" in hive:
        snapshot = _snapshot(path, rel, hive)
        if snapshot is None:
            result.unrecognized.append(path)
        else:
            result.snapshots.append(snapshot)
        return
    keys = _hive_keys(rel, hive) if all(k in hive for k in HIVE_KEYS) else _sdk_keys(rel.name)
    if keys is None:
        result.unrecognized.append(path)
    else:
        result.files.append(_bronze_file(path, rel, keys))


def _hive_pairs(rel: PurePosixPath) -> dict[str, str]:
    """`k=v` directory components (the file name itself is never a key)."""
    pairs: dict[str, str] = {}
    for part in rel.parts[:-1]:
        match = _KV.match(part)
        if match:
            pairs[match["key"]] = match["value"]
    return pairs


def _hive_keys(rel: PurePosixPath, hive: dict[str, str]) -> _PathKeys | None:
    """Keys of a Hive-layout CSV; None when the name is not a CSV or the date is invalid."""
    day = parse_date(hive["date"])
    if day is None or not _CSV_NAME.search(rel.name) or not hive["type"]:
        return None
    extra = {k: v for k, v in hive.items() if k not in HIVE_KEYS}
    return _PathKeys(hive["type"], normalize_exchange(hive["exchange"]), day, hive["symbol"], extra)


def _sdk_keys(name: str) -> _PathKeys | None:
    """Keys of a tardis-dev SDK default file name; None when it does not match or the date is invalid."""
    match = _SDK_NAME.match(name)
    if match is None:
        return None
    day = parse_date(match["date"])
    if day is None:
        return None
    return _PathKeys(match["data_type"], normalize_exchange(match["exchange"]), day, match["symbol"], {})


def _snapshot(path: Path, rel: PurePosixPath, hive: dict[str, str]) -> InstrumentSnapshot | None:
    """An instruments snapshot, or None when its name or date is off (reported as unrecognized)."""
    day = parse_date(hive["date"])
    if day is None or rel.name not in INSTRUMENT_FILE_NAMES:
        return None
    return InstrumentSnapshot(path, rel.as_posix(), normalize_exchange(hive["exchange"]), day)


def _bronze_file(path: Path, rel: PurePosixPath, keys: _PathKeys) -> BronzeFile:
    """Attach file stats and the UTC day window to the path keys."""
    stat = path.stat()
    start = day_start_us(keys.date)
    return BronzeFile(
        vendor=VENDOR,
        data_type=keys.data_type,
        path=path,
        rel_path=rel.as_posix(),
        exchange=keys.exchange,
        date=keys.date,
        symbol=keys.symbol,
        size=stat.st_size,
        mtime_ns=stat.st_mtime_ns,
        window_start_us=start,
        window_end_us=start + US_PER_DAY,
        extra=keys.extra,
    )
