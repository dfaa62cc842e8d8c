"""Unpack Quant360 7z archives into the plugin's unpacked tree (py7zr; no external 7z binary).

* Idempotent: an archive whose completion marker (`unpacked/_ledger/<archive stem>.json`,
  written last) matches its size and mtime is skipped; a changed archive is unpacked again.
* Restartable: every member is written to a temporary name and renamed into place; the marker
  is only written after the last member, so a crash leaves no marker and the next run redoes the
  archive (leftover temporary files are overwritten, never listed).
* A corrupt archive is reported (name + what is wrong) and the others are still unpacked.
* py7zr can restore 000 permissions from the archive: every written file is made 0644.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

from vendors.base import UnpackReport
from vendors.quant360.layout import LEDGER, UNPACKED, ArchiveName, member_code, parse_archive_name, unpacked_rel

TMP_SUFFIX = ".tmp"


def archives(base: Path) -> list[tuple[Path, ArchiveName]]:
    """Every archive under the vendor subtree (outside the unpacked tree), sorted by path."""
    out = []
    if not base.is_dir():
        return out
    for path in sorted(base.rglob("*.7z")):
        if path.relative_to(base).parts[0] == UNPACKED:
            continue
        name = parse_archive_name(path.name)
        if name is not None:
            out.append((path, name))
    return out


def marker_path(base: Path, archive: ArchiveName) -> Path:
    return base / UNPACKED / LEDGER / f"{archive.stem}.json"


def read_marker(base: Path, archive: ArchiveName) -> dict | None:
    try:
        return json.loads(marker_path(base, archive).read_text())
    except (OSError, ValueError):
        return None


def _identity(path: Path) -> dict:
    st = path.stat()
    return {"size": st.st_size, "mtime_ns": st.st_mtime_ns}


def is_complete(base: Path, path: Path, archive: ArchiveName) -> bool:
    marker = read_marker(base, archive)
    return marker is not None and marker.get("archive") == _identity(path)


def pending_archives(base: Path) -> list[str]:
    """Archives not completely unpacked (no marker, or one for other bytes), as
    "<path relative to base>:<size>:<mtime_ns>", sorted: the Bronze sensor's cheap trigger."""
    out = []
    for path, name in archives(base):
        if not is_complete(base, path, name):
            st = path.stat()
            out.append(f"{path.relative_to(base).as_posix()}:{st.st_size}:{st.st_mtime_ns}")
    return out


def unpack_all(base: Path) -> UnpackReport:
    """Unpack every archive under `base` (the vendor subtree) that is not complete yet."""
    report = UnpackReport()
    for path, archive in archives(base):
        rel = path.relative_to(base).as_posix()
        if is_complete(base, path, archive):
            report.skipped.append(rel)
            continue
        try:
            report.members += unpack_one(base, path, archive)
            report.unpacked.append(rel)
        except Exception as exc:  # a corrupt archive must not stop the others
            report.failed[rel] = f"{path.name}: cannot unpack: {type(exc).__name__}: {exc}"
    return report


def unpack_one(base: Path, path: Path, archive: ArchiveName) -> int:
    """Unpack one archive; returns the number of members written. Raises on a corrupt archive."""
    import py7zr  # imported here: only unpacking needs it

    identity = _identity(path)
    written: list[str] = []
    with tempfile.TemporaryDirectory(dir=base / UNPACKED if (base / UNPACKED).is_dir() else None) as scratch:
        with py7zr.SevenZipFile(path, mode="r") as z:
            names = [n for n in z.getnames() if not n.endswith("/")]
            z.extractall(path=scratch)
        for name in sorted(names):
            member = Path(name)
            code = member_code(member.name)
            if code is None or (len(member.parts) > 1 and member.parts[0] != archive.stem):
                raise ValueError(f"unexpected member {name!r} (want {archive.stem}/<6-digit code>.csv)")
            source = Path(scratch) / name
            if not source.is_file():
                raise ValueError(f"member {name!r} was not extracted")
            rel = unpacked_rel(archive, code)
            target = base / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            tmp = target.with_name(target.name + TMP_SUFFIX)
            os.chmod(source, 0o644)  # py7zr may restore 000 permissions
            shutil.copyfile(source, tmp)
            os.chmod(tmp, 0o644)
            os.replace(tmp, target)  # atomic: a reader never sees half a member
            written.append(rel)
    marker = marker_path(base, archive)
    marker.parent.mkdir(parents=True, exist_ok=True)
    tmp = marker.with_name(marker.name + TMP_SUFFIX)
    tmp.write_text(json.dumps({"archive_name": archive.name, "archive": identity, "members": written}, indent=1))
    os.replace(tmp, marker)
    return len(written)
