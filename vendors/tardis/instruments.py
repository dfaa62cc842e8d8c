"""Tardis instrument metadata snapshots -> one row per instrument version (vendors.base.INSTRUMENT_COLUMNS).

A snapshot is the raw JSON array of `/v1/instruments/<exchange>`. A record's top-level values
are the current ones; each element of `changes` lists values that held UNTIL its `until`.
Versions are cut at availableSince < until_1 < until_2 < ...; a version takes each field from
the earliest change (by until) after the version start that mentions the field, else the
current value. Numbers are parsed as Decimal and rendered without exponent so increments stay
exact text (1E-5 -> 0.00001).
"""

from __future__ import annotations

import gzip
import json
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import polars as pl

from vendors.base import INSTRUMENT_COLUMNS, BronzeFileError
from vendors.tardis.common import GZIP_MAGIC, iso_to_us, normalize_exchange
from vendors.tardis.discovery import InstrumentSnapshot

SOURCE = "tardis"


class _RecordError(ValueError):
    """A record cannot be turned into versions; re-raised as BronzeFileError naming the file."""


def _text(value: Any) -> str | None:
    """Plain text fields (type, currencies)."""
    return None if value is None else str(value)


def _decimal_text(value: Any) -> str | None:
    """Exact decimal text without exponent; unparseable strings pass through verbatim for the core to judge."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise _RecordError(f"expected a number, got {value!r}")
    if isinstance(value, Decimal | int):
        return format(Decimal(value), "f")
    if isinstance(value, str):
        try:
            return format(Decimal(value.strip()), "f")
        except InvalidOperation:
            return value
    raise _RecordError(f"expected a number, got {value!r}")


def _optional_bool(value: Any) -> bool | None:
    """JSON booleans only: a string "false" must not become True."""
    if value is None or isinstance(value, bool):
        return value
    raise _RecordError(f"expected true or false, got {value!r}")


def _optional_us(value: Any) -> int | None:
    """Optional ISO timestamp -> UTC microseconds."""
    if value is None or value == "":
        return None
    try:
        return iso_to_us(value)
    except ValueError as exc:
        raise _RecordError(f"bad timestamp {value!r}: {exc}") from exc


def _required_us(value: Any, name: str) -> int:
    """A timestamp the version windows cannot do without."""
    us = _optional_us(value)
    if us is None:
        raise _RecordError(f"missing {name}")
    return us


# Output column -> (Tardis field, converter). These are the fields a change can override.
_FIELDS: dict[str, tuple[str, Callable[[Any], Any]]] = {
    "instrument_type": ("type", _text),
    "base_asset": ("baseCurrency", _text),
    "quote_asset": ("quoteCurrency", _text),
    "price_increment": ("priceIncrement", _decimal_text),
    "amount_increment": ("amountIncrement", _decimal_text),
    "contract_multiplier": ("contractMultiplier", _decimal_text),
    "expiry_us": ("expiry", _optional_us),
    "option_type": ("optionType", _text),
    "strike": ("strikePrice", _decimal_text),
    "settlement_asset": ("settlementCurrency", _text),
    "is_inverse": ("inverse", _optional_bool),
}
# dim_symbol columns Tardis instrument metadata has no field for (equities, settlement type, ...).
_ABSENT = ("underlying", "settlement_type", "contract_month", "isin", "listing_exchange", "canonical_symbol")


@dataclass(frozen=True)
class _Change:
    until_us: int
    values: dict[str, Any]


@dataclass(frozen=True)
class _Record:
    """One instrument as found in the newest snapshot that lists it."""

    exchange: str
    exchange_symbol: str
    raw: dict[str, Any]


def instrument_versions(snapshots: Iterable[InstrumentSnapshot]) -> pl.DataFrame:
    """All versions of all instruments, newest snapshot per instrument, sorted by the natural key."""
    rows: list[dict[str, Any]] = []
    for snapshot, record in _latest_records(snapshots):
        try:
            rows.extend(_versions(record))
        except _RecordError as exc:
            raise BronzeFileError(snapshot.path, f"instrument {record.exchange_symbol!r}: {exc}") from exc
    frame = pl.DataFrame(rows, schema=INSTRUMENT_COLUMNS, orient="row")
    return frame.sort("exchange", "exchange_symbol", "valid_from_us")


def _latest_records(snapshots: Iterable[InstrumentSnapshot]) -> list[tuple[InstrumentSnapshot, _Record]]:
    """Keep, per (exchange, exchange_symbol), the record of the latest snapshot date (later file wins ties)."""
    latest: dict[tuple[str, str], tuple[InstrumentSnapshot, _Record]] = {}
    for snapshot in sorted(snapshots, key=lambda s: (s.date, s.rel_path)):
        for record in _records(snapshot):
            latest[(record.exchange, record.exchange_symbol)] = (snapshot, record)
    return [latest[key] for key in sorted(latest)]


def _records(snapshot: InstrumentSnapshot) -> list[_Record]:
    """Parse one snapshot file into records; any malformation names the file."""
    data = load_json(snapshot.path)
    if not isinstance(data, list):
        raise BronzeFileError(snapshot.path, f"expected a JSON array of instruments, got {type(data).__name__}")
    records = []
    for index, item in enumerate(data):
        if not isinstance(item, dict):
            raise BronzeFileError(snapshot.path, f"element {index} is not a JSON object")
        symbol = item.get("datasetId") or item.get("id")
        if not isinstance(symbol, str) or not symbol:
            raise BronzeFileError(snapshot.path, f"element {index} has neither 'datasetId' nor 'id'")
        exchange = item.get("exchange")
        exchange = normalize_exchange(exchange) if isinstance(exchange, str) and exchange.strip() else snapshot.exchange
        records.append(_Record(exchange, symbol, item))
    return records


def load_json(path: Path) -> Any:
    """Read `.json` or `.json.gz` with Decimal floats; BronzeFileError on gzip, encoding or JSON damage."""
    try:
        data = path.read_bytes()
        if data[:2] == GZIP_MAGIC:
            data = gzip.decompress(data)
        return json.loads(data.decode("utf-8"), parse_float=Decimal)
    except (EOFError, zlib.error, gzip.BadGzipFile) as exc:
        raise BronzeFileError(path, f"truncated or corrupt gzip ({exc})") from exc
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BronzeFileError(path, f"malformed JSON: {exc}") from exc
    except OSError as exc:
        raise BronzeFileError(path, f"cannot read file: {exc}") from exc


def _versions(record: _Record) -> list[dict[str, Any]]:
    """One row per validity window of the record (see module docstring)."""
    raw = record.raw
    since = _required_us(raw.get("availableSince"), "availableSince")
    until = _optional_us(raw.get("availableTo"))
    changes = _changes(raw.get("changes"))
    starts = _boundaries(since, until, changes)
    rows = []
    for k, start in enumerate(starts):
        end = starts[k + 1] if k + 1 < len(starts) else until
        rows.append(_row(record, start, end, changes))
    return rows


def _changes(value: Any) -> list[_Change]:
    """Changes sorted by until; the sort is stable so equal untils keep the API's order."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise _RecordError(f"'changes' is not a list: {value!r}")
    changes = []
    for item in value:
        if not isinstance(item, dict):
            raise _RecordError(f"change is not an object: {item!r}")
        changes.append(_Change(_required_us(item.get("until"), "change 'until'"), item))
    return sorted(changes, key=lambda c: c.until_us)


def _boundaries(since: int, until: int | None, changes: list[_Change]) -> list[int]:
    """Version starts: availableSince, then each distinct until strictly inside (since, availableTo)."""
    inside = {c.until_us for c in changes if c.until_us > since and (until is None or c.until_us < until)}
    return [since, *sorted(inside)]


def _row(record: _Record, start: int, end: int | None, changes: list[_Change]) -> dict[str, Any]:
    """Field values in force from `start`: the earliest later change naming the field, else current."""
    row: dict[str, Any] = {
        "exchange": record.exchange,
        "exchange_symbol": record.exchange_symbol,
        "valid_from_us": start,
        "valid_until_us": end,
    }
    pending = [c for c in changes if c.until_us > start]
    for column, (key, convert) in _FIELDS.items():
        source = next((c.values for c in pending if key in c.values), record.raw)
        row[column] = convert(source.get(key))
    if row["contract_multiplier"] is None:
        row["contract_multiplier"] = "1"
    row |= dict.fromkeys(_ABSENT)
    row["source"] = SOURCE
    return {name: row[name] for name in INSTRUMENT_COLUMNS}
