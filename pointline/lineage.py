"""From a Silver row back to its Bronze file and line.

`file_id` is blake2b-8 of the file's path relative to the Bronze root (pointline.ids.file_id),
so the mapping is derived from the Bronze tree itself (Bronze is never modified or deleted)
instead of being kept in a second table that could drift from it.
"""

from __future__ import annotations

import gzip
import io
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

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
    with _open_text(path) as fh:
        for number, text in enumerate(fh, start=1):
            if number == line:
                return text.rstrip("\n")
    raise KeyError(f"{path} has fewer than {line} lines")


@contextmanager
def _open_text(path: Path) -> Iterator[IO[str]]:
    """The decompressed text of a Bronze file: plain, gzip or a single-member zip (e.g. Binance Vision)."""
    if path.suffix == ".gz":
        with gzip.open(path, "rt", encoding="utf-8") as fh:
            yield fh
    elif path.suffix == ".zip":
        with zipfile.ZipFile(path) as archive, archive.open(archive.namelist()[0]) as member:
            yield io.TextIOWrapper(member, encoding="utf-8")
    else:
        with open(path, encoding="utf-8") as fh:
            yield fh
