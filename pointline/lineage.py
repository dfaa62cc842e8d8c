"""From a Silver row back to its Bronze file and line.

`file_id` is blake2b-8 of the file's path relative to the Bronze root (pointline.ids.file_id),
so the mapping is derived from the Bronze tree itself (Bronze is never modified or deleted)
instead of being kept in a second table that could drift from it.
"""

from __future__ import annotations

import gzip
from pathlib import Path

from pointline.ids import file_id
from vendors.base import VendorPlugin


def bronze_files_by_id(plugins: list[VendorPlugin], bronze_root: Path) -> dict[int, Path]:
    """{file_id: absolute path} of every Bronze file the plugins discover."""
    return {file_id(f.rel_path): f.path for p in plugins for f in p.discover(bronze_root)}


def bronze_line(plugins: list[VendorPlugin], bronze_root: Path, fid: int, line: int) -> str:
    """The raw text of physical line `line` (1-based, header = 1) of the Bronze file `fid`."""
    path = bronze_files_by_id(plugins, bronze_root).get(fid)
    if path is None:
        raise KeyError(f"no Bronze file under {bronze_root} has file_id {fid}")
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as fh:
        for number, text in enumerate(fh, start=1):
            if number == line:
                return text.rstrip("\n")
    raise KeyError(f"{path} has fewer than {line} lines")
