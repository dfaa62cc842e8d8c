"""Write one Bronze snapshot: the API's records, verbatim, each wrapped in a JSON envelope.

Bronze must hold what CoinGecko sent, so a record is written as the exact JSON text of the
response (never decoded to Python floats and re-encoded). Each line is

    {"schema_version":1,"vendor":"coingecko","dataset":"coins_markets","captured_at_us":...,
     "snapshot_ts_us":...,"partitions":{"date":"YYYY-MM-DD"},"request":{"vs_currency":"usd","ids":[...]},
     "record":<raw record text>}

Files are gzip with mtime 0 and no name (same input, same bytes), written atomically (a
`.part` file, fsync, then a hard link that fails if the target exists) and never overwritten:
a snapshot is evidence of what the API said at that instant.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from pathlib import Path

from vendors.coingecko.layout import DATASET, VENDOR, snapshot_rel_path
from vendors.snapshots import envelope_head, gzip_text, write_new_file

__all__ = ["VS_CURRENCY", "record_id", "envelope_line", "encode_snapshot", "write_snapshot", "write_new_file"]

VS_CURRENCY = "usd"


def _decode_exact(text: str) -> object:
    """Parse JSON keeping every number as its text: nothing here may round a value."""
    return json.loads(text, parse_float=str, parse_int=str, parse_constant=str)


def _one_line(record_raw: str) -> str:
    """The record's text on one line, or ValueError unless it is exactly one JSON object.

    A raw newline can only be insignificant whitespace in valid JSON (strings must escape
    control characters, which the strict parse enforces), so replacing it loses nothing.
    """
    text = record_raw.strip()
    if not isinstance(_decode_exact(text), dict):
        raise ValueError(f"a CoinGecko record must be a JSON object, got {text[:80]!r}")
    return text.replace("\r", " ").replace("\n", " ")


def record_id(record_raw: str) -> str | None:
    """The record's CoinGecko `id`, or None when it has none."""
    value = _decode_exact(record_raw)
    coin = value.get("id") if isinstance(value, dict) else None
    return coin if isinstance(coin, str) else None


def envelope_line(record_raw: str, captured_at_us: int, request_ids: Sequence[str]) -> str:
    """One JSONL line: the envelope with the record's text spliced in verbatim as its last field."""
    head = envelope_head(VENDOR, DATASET, captured_at_us, {"vs_currency": VS_CURRENCY, "ids": list(request_ids)})
    encoded = json.dumps(head, separators=(",", ":"), ensure_ascii=False)
    return f'{encoded[:-1]},"record":{_one_line(record_raw)}}}'


def encode_snapshot(
    records_raw_json: Iterable[str], captured_at_us: int, request_ids: Sequence[str] | None = None
) -> bytes:
    """The gzip bytes of a snapshot file; deterministic for the same arguments.

    `request_ids` are the coin ids that were asked for (default: the records' ids, in order);
    a snapshot without records is refused because it would say nothing yet look like data.
    """
    records = list(records_raw_json)
    if not records:
        raise ValueError("refusing to write an empty CoinGecko snapshot (no records)")
    if request_ids is None:
        request_ids = list(dict.fromkeys(i for i in map(record_id, records) if i is not None))
    return gzip_text("".join(envelope_line(r, captured_at_us, request_ids) + "\n" for r in records))


def write_snapshot(
    bronze_root: Path | str,
    records_raw_json: Iterable[str],
    captured_at_us: int,
    subdir: str = VENDOR,
    *,
    request_ids: Sequence[str] | None = None,
) -> Path:
    """Write the snapshot captured at `captured_at_us` and return its path; FileExistsError if it exists."""
    path = Path(bronze_root) / snapshot_rel_path(captured_at_us, subdir)
    write_new_file(path, encode_snapshot(records_raw_json, captured_at_us, request_ids))
    return path
