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

import json
from collections.abc import Iterable, Mapping
from pathlib import Path

from vendors.snapshots import envelope_head, gzip_text, write_new_file
from vendors.tushare.layout import DATASET, VENDOR, snapshot_rel_path

__all__ = ["envelope_line", "encode_snapshot", "write_snapshot", "write_new_file"]


def envelope_line(record: Mapping[str, object], captured_at_us: int, request: Mapping[str, object]) -> str:
    """One JSONL line (compact, UTF-8 text kept as is)."""
    if "token" in request:
        raise ValueError("the request written to Bronze must not contain the token")
    envelope = {**envelope_head(VENDOR, DATASET, captured_at_us, request), "record": dict(record)}
    return json.dumps(envelope, separators=(",", ":"), ensure_ascii=False)


def encode_snapshot(records: Iterable[tuple[Mapping[str, object], Mapping[str, object]]], captured_at_us: int) -> bytes:
    """Gzip bytes of a snapshot from (record, request it came from) pairs; deterministic.

    An empty snapshot is refused: it would look like data yet say nothing.
    """
    lines = [envelope_line(record, captured_at_us, request) + "\n" for record, request in records]
    if not lines:
        raise ValueError("refusing to write an empty stock_basic snapshot (no records)")
    return gzip_text("".join(lines))


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
