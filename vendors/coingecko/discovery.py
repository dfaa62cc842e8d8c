"""Find CoinGecko snapshot files in Bronze from their paths alone (see layout.py for the layout)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from vendors.base import BronzeFile
from vendors.coingecko.layout import DATA_TYPE, US_PER_DAY, VENDOR, SnapshotKeys, day_start_us, parse_snapshot_path


@dataclass
class ScanResult:
    """The vendor subtree split into snapshot files and everything else (reported, never ingested)."""

    files: list[BronzeFile] = field(default_factory=list)
    unrecognized: list[Path] = field(default_factory=list)


def scan(bronze_root: Path, subdir: str) -> ScanResult:
    """Walk `<bronze_root>/<subdir>` once; files sorted by rel_path, unrecognized sorted by path."""
    root = Path(bronze_root).absolute()
    base = root / subdir
    result = ScanResult()
    if not base.is_dir():
        return result
    for dirpath, dirnames, filenames in os.walk(base):
        dirnames.sort()
        for name in sorted(filenames):
            path = Path(dirpath) / name
            keys = parse_snapshot_path(path.relative_to(base).parts)
            if keys is None:
                result.unrecognized.append(path)
            else:
                result.files.append(_bronze_file(root, path, keys))
    result.files.sort(key=lambda f: f.rel_path)
    result.unrecognized.sort()
    return result


def _bronze_file(root: Path, path: Path, keys: SnapshotKeys) -> BronzeFile:
    """A snapshot as a BronzeFile: not exchange-scoped, its window is the snapshot's UTC day."""
    stat = path.stat()
    start = day_start_us(keys.date)
    return BronzeFile(
        vendor=VENDOR,
        data_type=DATA_TYPE,
        path=path,
        rel_path=path.relative_to(root).as_posix(),
        exchange="",
        date=keys.date,
        symbol=None,
        size=stat.st_size,
        mtime_ns=stat.st_mtime_ns,
        window_start_us=start,
        window_end_us=start + US_PER_DAY,
        extra={"snapshot_ts_us": str(keys.snapshot_ts_us)},
    )
