"""Quant360 Bronze discovery: the unpacked members of completely unpacked archives.

Only members listed in a completion marker count (see unpack.py): a half-unpacked archive
contributes nothing until it is finished. Archives themselves are the Bronze of record.
"""

from __future__ import annotations

from pathlib import Path

from vendors.base import BronzeFile
from vendors.quant360 import reader
from vendors.quant360.layout import UNPACKED, VENDOR, day_window_us
from vendors.quant360.unpack import archives, is_complete, read_marker


def scan(bronze_root: Path, subdir: str) -> tuple[list[BronzeFile], list[Path]]:
    """(files, unrecognized) under `<bronze_root>/<subdir>`."""
    root = Path(bronze_root).absolute()
    base = root / subdir
    files: list[BronzeFile] = []
    known = {p for p, _ in archives(base)}
    unrecognized = (
        [
            p
            for p in sorted(base.rglob("*"))
            if p.is_file() and p not in known and p.relative_to(base).parts[0] != UNPACKED
        ]
        if base.is_dir()
        else []
    )
    for path, archive in archives(base):
        if not reader.supported(archive.exchange, archive.stream):
            unrecognized.append(path)
            continue
        if not is_complete(base, path, archive):
            continue
        start, end = day_window_us(archive.date)
        for rel in (read_marker(base, archive) or {}).get("members", []):
            member = base / rel
            if not member.is_file():
                continue
            st = member.stat()
            files.append(
                BronzeFile(
                    vendor=VENDOR,
                    data_type=archive.stream,
                    path=member,
                    rel_path=member.relative_to(root).as_posix(),
                    exchange=archive.exchange,
                    date=archive.date,
                    symbol=member.stem,
                    size=st.st_size,
                    mtime_ns=st.st_mtime_ns,
                    window_start_us=start,
                    window_end_us=end,
                    extra={"market": archive.market, "archive": path.relative_to(root).as_posix()},
                )
            )
    return sorted(files, key=lambda f: f.rel_path), sorted(unrecognized)
