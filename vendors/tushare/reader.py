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

import json
from pathlib import Path

import polars as pl

from pointline.schemas import get_table_spec
from vendors import snapshots
from vendors.base import BronzeFileError
from vendors.tushare.layout import (
    DATA_TYPE,
    FIELDS,
    TABLE,
    VENDOR,
    VENDOR_EXCHANGES,
    in_scope_exchanges,
    local_date,
    parse_yyyymmdd,
    vendor_exchange_code,
)

ROUTES: dict[str, str] = {DATA_TYPE: TABLE}

DATE_FIELDS = ("list_date", "delist_date")
_MAPPED = ("exchange",)  # the lake exchange, through the vendor's exchange map
# Staged text columns taken verbatim from the record (same names as Tushare's fields).
TEXT_FIELDS = tuple(f for f in FIELDS if f not in (*DATE_FIELDS, *_MAPPED))
_OTHER = (*_MAPPED, "as_of_date", "snapshot_ts_us", "source", "file_line")
STAGED_COLUMNS: tuple[str, ...] = tuple(c.name for c in get_table_spec(TABLE).source_columns)
if set(STAGED_COLUMNS) != set(TEXT_FIELDS) | set(DATE_FIELDS) | set(_OTHER):
    raise RuntimeError(f"vendors/tushare/reader.py does not match {TABLE}'s source columns {STAGED_COLUMNS}")
STAGED_SCHEMA: dict[str, pl.DataType] = {c: (pl.Int64() if c == "file_line" else pl.String()) for c in STAGED_COLUMNS}


def read_envelopes(path: Path) -> list[tuple[int, dict[str, object]]]:
    """(physical 1-based line, envelope) for every non-blank line; numbers stay text.

    Every envelope must carry an integer `snapshot_ts_us` (the as-of date comes from it).
    """
    return snapshots.read_envelopes(path, require_snapshot_ts=True)


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
