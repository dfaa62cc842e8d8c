"""A CoinGecko snapshot (.jsonl.gz) -> the `dim_asset_stats` staged frame of vendor text.

Every value stays the text CoinGecko sent: lines are parsed with number hooks that return
the number's own text, so "19675962.0" or "1.23456789012345e+18" reach the core unchanged
and the core, not the vendor, decides how to store them. The only conversion is the one the
contract asks of a vendor: `last_updated` (ISO 8601) becomes integer UTC microseconds.

Rows are never dropped: a record whose coin id is not in the asset map gets a null
base_asset, which the core quarantines with its raw values. Only a file that cannot be read
at all (bad gzip, empty, a line that is not an envelope) raises BronzeFileError.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import polars as pl

from pointline.schemas import get_table_spec
from vendors.base import BronzeFileError
from vendors.coingecko.layout import DATA_TYPE, TABLE, VENDOR
from vendors.snapshots import datetime_to_us, read_envelopes

ROUTES: dict[str, str] = {DATA_TYPE: TABLE}

# Staged column <- field of the API record (the same names CoinGecko's /coins/markets uses).
RECORD_FIELDS: dict[str, str] = {
    "coin_id": "id",
    "circulating_supply": "circulating_supply",
    "total_supply": "total_supply",
    "max_supply": "max_supply",
    "market_cap_usd": "market_cap",
    "fully_diluted_valuation_usd": "fully_diluted_valuation",
    "price_usd": "current_price",
}
_OTHER_COLUMNS = ("base_asset", "vendor_updated_us", "snapshot_ts_us", "source", "file_line")
STAGED_COLUMNS: tuple[str, ...] = tuple(c.name for c in get_table_spec(TABLE).source_columns)

# Fail at import, not mid-ingest, when the table spec and this mapping drift apart.
if set(STAGED_COLUMNS) != set(RECORD_FIELDS) | set(_OTHER_COLUMNS):
    raise RuntimeError(f"vendors/coingecko/reader.py does not match {TABLE}'s source columns {STAGED_COLUMNS}")

STAGED_SCHEMA: dict[str, pl.DataType] = {c: (pl.Int64() if c == "file_line" else pl.String()) for c in STAGED_COLUMNS}


def read_table(path: Path, data_type: str, table: str, coin_to_base: dict[str, str]) -> pl.DataFrame:
    """Parse one snapshot into `table`'s staged frame (columns STAGED_COLUMNS, text + file_line)."""
    routed = ROUTES.get(data_type)
    if routed != table:
        target = f"table {routed!r}" if routed else "no table"
        raise BronzeFileError(path, f"data type {data_type!r} feeds {target}; it cannot be read as {table!r}")
    columns: dict[str, list[str | int | None]] = {c: [] for c in STAGED_COLUMNS}
    for line_no, envelope in read_envelopes(path):
        row = _staged_row(path, line_no, envelope, coin_to_base)
        for name in STAGED_COLUMNS:
            columns[name].append(row[name])
    return pl.DataFrame(columns, schema=STAGED_SCHEMA)


def _staged_row(path: Path, line_no: int, envelope: dict[str, object], coin_to_base: dict[str, str]) -> dict:
    """One staged row: the record's fields as text, plus the envelope's time and the line number."""
    record = envelope["record"]
    assert isinstance(record, dict)  # checked by read_envelopes
    row: dict[str, str | int | None] = {col: _text(record.get(key)) for col, key in RECORD_FIELDS.items()}
    coin = record.get("id")
    row["base_asset"] = coin_to_base.get(coin) if isinstance(coin, str) else None
    row["vendor_updated_us"] = iso_to_us_text(record.get("last_updated"))
    row["snapshot_ts_us"] = _text(envelope.get("snapshot_ts_us"))
    row["source"] = VENDOR
    row["file_line"] = line_no
    return row


def _text(value: object) -> str | None:
    """A JSON value as text: numbers are already their own text; null stays null.

    Anything structured (an object or array where a number belongs) is kept as compact JSON
    so the core can show it when it rejects the row.
    """
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def iso_to_us_text(value: object) -> str | None:
    """CoinGecko `last_updated` ("2024-05-01T12:34:56.789Z") -> integer UTC microseconds as text.

    Naive timestamps are UTC (CoinGecko always sends Z). Text that does not parse is returned
    unchanged so the core rejects the row and reports what the vendor sent.
    """
    text = _text(value)
    if text is None:
        return None
    try:
        return str(datetime_to_us(dt.datetime.fromisoformat(text.strip())))
    except (ValueError, OverflowError):
        return text
