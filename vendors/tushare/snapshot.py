"""Write one Bronze snapshot of `stock_basic`: each record in a JSON envelope, one per line.

Tushare answers `{"code":0,"data":{"fields":[...],"items":[[...], ...]}}`; a record is the
object `dict(zip(fields, item))` with the values exactly as decoded (stock_basic's values are
all text or null). Each line is

    {"schema_version":1,"vendor":"tushare","dataset":"stock_basic","captured_at_us":...,
     "snapshot_ts_us":...,"partitions":{"date":"YYYY-MM-DD"},
     "request":{"api_name":"stock_basic","params":{...},"fields":"..."},"record":{...}}

The token is never part of `request`. Files are gzip with mtime 0 (same input, same bytes),
written atomically (a unique `.part` file, fsync, then a hard link that fails when the
target exists) and never overwritten: a snapshot is evidence of what the API said.
"""

from __future__ import annotations

import errno
import gzip
import io
import json
import os
import secrets
from collections.abc import Iterable, Mapping
from pathlib import Path

from vendors.tushare.layout import DATASET, SCHEMA_VERSION, VENDOR, snapshot_rel_path, utc_date

__all__ = ["envelope_line", "encode_snapshot", "write_snapshot", "write_new_file"]


def envelope_line(record: Mapping[str, object], captured_at_us: int, request: Mapping[str, object]) -> str:
    """One JSONL line (compact, UTF-8 text kept as is)."""
    if "token" in request:
        raise ValueError("the request written to Bronze must not contain the token")
    envelope = {
        "schema_version": SCHEMA_VERSION,
        "vendor": VENDOR,
        "dataset": DATASET,
        "captured_at_us": captured_at_us,
        "snapshot_ts_us": captured_at_us,
        "partitions": {"date": utc_date(captured_at_us).isoformat()},
        "request": dict(request),
        "record": dict(record),
    }
    return json.dumps(envelope, separators=(",", ":"), ensure_ascii=False)


def encode_snapshot(records: Iterable[tuple[Mapping[str, object], Mapping[str, object]]], captured_at_us: int) -> bytes:
    """Gzip bytes of a snapshot from (record, request it came from) pairs; deterministic.

    An empty snapshot is refused: it would look like data yet say nothing.
    """
    lines = [envelope_line(record, captured_at_us, request) + "\n" for record, request in records]
    if not lines:
        raise ValueError("refusing to write an empty stock_basic snapshot (no records)")
    buf = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=buf, mtime=0) as gz:
        gz.write("".join(lines).encode("utf-8"))
    return buf.getvalue()


def write_snapshot(
    bronze_root: Path | str,
    records: Iterable[tuple[Mapping[str, object], Mapping[str, object]]],
    captured_at_us: int,
    subdir: str = VENDOR,
) -> Path:
    """Write the snapshot captured at `captured_at_us`; FileExistsError if that file exists."""
    path = Path(bronze_root) / snapshot_rel_path(captured_at_us, subdir)
    write_new_file(path, encode_snapshot(records, captured_at_us))
    return path


def write_new_file(path: Path, data: bytes) -> None:
    """Create `path` with `data` atomically; never replaces an existing file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    exists = FileExistsError(errno.EEXIST, "snapshot already exists; snapshots are never overwritten", str(path))
    if path.exists():
        raise exists
    part = path.with_name(f"{path.name}.{os.getpid()}-{secrets.token_hex(4)}.part")
    try:
        with part.open("xb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        try:
            os.link(part, path)  # fails on an existing target, unlike rename
        except FileExistsError:
            raise exists from None
        except OSError as exc:  # file systems without hard links
            if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EXDEV):
                raise
            if path.exists():
                raise exists from None
            os.rename(part, path)
    finally:
        part.unlink(missing_ok=True)
    try:
        fd = os.open(path.parent, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
