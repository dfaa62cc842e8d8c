"""Tushare snapshots (.jsonl.gz): discovery from paths, envelope reading, the stock_basic_cn staged frame.

Values stay the vendor's text. The conversions a vendor owes the core are the only ones made:
the exchange code becomes the lake exchange name, `YYYYMMDD` dates become ISO `YYYY-MM-DD`
text (a date that does not parse is passed on verbatim, so the core quarantines it and shows
it), and the snapshot's exchange-local date is added as `as_of_date`.

Rows of exchanges the lake does not cover (an exchange code whose lake exchange is not in
config/exchanges.csv; today all three Tushare codes are in it) would be left out: outside the
lake's scope rather than bad data. Adding the exchange to config/exchanges.csv brings them in
(the file is part of every partition's data version).
A record whose exchange cannot be told at all stays in with a null exchange and is quarantined.
"""

from __future__ import annotations

import gzip
import json
import os
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from pointline.schemas import get_table_spec
from vendors.base import BronzeFile, BronzeFileError
from vendors.tushare.layout import (
    DATA_TYPE,
    TABLE,
    US_PER_DAY,
    VENDOR,
    VENDOR_EXCHANGES,
    SnapshotKeys,
    day_start_us,
    in_scope_exchanges,
    local_date,
    parse_snapshot_path,
    parse_yyyymmdd,
    vendor_exchange_code,
)

ROUTES: dict[str, str] = {DATA_TYPE: TABLE}

# Staged text columns taken verbatim from the record (same names as Tushare's fields).
TEXT_FIELDS = (
    "ts_code",
    "name",
    "area",
    "industry",
    "fullname",
    "enname",
    "cnspell",
    "market",
    "curr_type",
    "list_status",
    "is_hs",
    "act_name",
    "act_ent_type",
)
DATE_FIELDS = ("list_date", "delist_date")
_OTHER = ("exchange", "symbol", "as_of_date", "snapshot_ts_us", "source", "file_line")
STAGED_COLUMNS: tuple[str, ...] = tuple(c.name for c in get_table_spec(TABLE).source_columns)
if set(STAGED_COLUMNS) != set(TEXT_FIELDS) | set(DATE_FIELDS) | set(_OTHER):
    raise RuntimeError(f"vendors/tushare/reader.py does not match {TABLE}'s source columns {STAGED_COLUMNS}")
STAGED_SCHEMA: dict[str, pl.DataType] = {c: (pl.Int64() if c == "file_line" else pl.String()) for c in STAGED_COLUMNS}


# ---------------------------------------------------------------------------- discovery


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
    """A snapshot as a BronzeFile: not exchange-scoped (it covers all exchanges); window = its UTC day."""
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


# ---------------------------------------------------------------------------- envelopes


def read_envelopes(path: Path) -> list[tuple[int, dict[str, object]]]:
    """(physical 1-based line, envelope) for every non-blank line; numbers stay text."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise BronzeFileError(path, f"cannot open file: {exc}") from exc
    if not data:
        raise BronzeFileError(path, "empty file (0 bytes); expected a gzip-compressed JSONL snapshot")
    try:
        text = gzip.decompress(data)
    except gzip.BadGzipFile as exc:
        raise BronzeFileError(path, f"not a gzip file ({exc})") from exc
    except (EOFError, zlib.error) as exc:
        raise BronzeFileError(path, f"truncated or corrupt gzip ({exc})") from exc
    out = [(n, _envelope(path, n, raw)) for n, raw in enumerate(text.split(b"\n"), start=1) if raw.strip()]
    if not out:
        raise BronzeFileError(path, "snapshot holds no records (the gzip decompresses to nothing)")
    return out


def _envelope(path: Path, line_no: int, raw: bytes) -> dict[str, object]:
    try:
        value = json.loads(raw.decode("utf-8"), parse_float=str, parse_int=str, parse_constant=str)
    except UnicodeDecodeError as exc:
        raise BronzeFileError(path, f"line {line_no} is not valid UTF-8 (byte {exc.start})") from exc
    except json.JSONDecodeError as exc:
        raise BronzeFileError(path, f"line {line_no} is not valid JSON: {exc.msg} (column {exc.colno})") from exc
    if not isinstance(value, dict):
        raise BronzeFileError(path, f"line {line_no} is not a snapshot envelope (a JSON object)")
    if value.get("schema_version") != "1":
        raise BronzeFileError(path, f"line {line_no}: unsupported schema_version {value.get('schema_version')!r}")
    if not isinstance(value.get("record"), dict):
        raise BronzeFileError(path, f"line {line_no}: envelope has no 'record' object")
    if not isinstance(value.get("snapshot_ts_us"), str) or not value["snapshot_ts_us"].isdigit():
        raise BronzeFileError(path, f"line {line_no}: envelope has no integer 'snapshot_ts_us'")
    return value


# ---------------------------------------------------------------------------- stock_basic_cn


def read_table(path: Path, data_type: str, table: str, timezones: dict[str, str] | None = None) -> pl.DataFrame:
    """Parse one snapshot into `table`'s staged frame (STAGED_COLUMNS: text + file_line)."""
    routed = ROUTES.get(data_type)
    if routed != table:
        target = f"table {routed!r}" if routed else "no table"
        raise BronzeFileError(path, f"data type {data_type!r} feeds {target}; it cannot be read as {table!r}")
    scope = in_scope_exchanges(timezones)
    columns: dict[str, list[str | int | None]] = {c: [] for c in STAGED_COLUMNS}
    for line_no, envelope in read_envelopes(path):
        row = _staged_row(line_no, envelope, scope)
        if row is None:
            continue
        for name in STAGED_COLUMNS:
            columns[name].append(row[name])
    return pl.DataFrame(columns, schema=STAGED_SCHEMA)


def _staged_row(line_no: int, envelope: dict, scope: dict[str, tuple[str, str, str]]) -> dict | None:
    record = envelope["record"]
    code = vendor_exchange_code(record)
    if code in VENDOR_EXCHANGES and code not in scope:
        return None  # an exchange the lake does not cover (module docstring)
    exchange, timezone = (scope[code][0], scope[code][2]) if code in scope else (None, None)
    snapshot_ts_us = str(envelope["snapshot_ts_us"])
    row: dict[str, str | int | None] = {f: _text(record.get(f)) for f in TEXT_FIELDS}
    row |= {f: iso_date_text(record.get(f)) for f in DATE_FIELDS}
    row["exchange"] = exchange
    row["symbol"] = _text(record.get("symbol"))
    row["as_of_date"] = local_date(int(snapshot_ts_us), timezone).isoformat() if timezone else None
    row["snapshot_ts_us"] = snapshot_ts_us
    row["source"] = VENDOR
    row["file_line"] = line_no
    return row


def _text(value: object) -> str | None:
    if value is None or isinstance(value, str):
        return value
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def iso_date_text(value: object) -> str | None:
    """`20240930` -> `2024-09-30`; empty -> None; anything else verbatim (the core rejects it)."""
    text = _text(value)
    if text is None or not text.strip():
        return None
    day = parse_yyyymmdd(text)
    return day.isoformat() if day else text
