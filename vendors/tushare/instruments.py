"""stock_basic snapshots -> dim_symbol versions (vendors.base.INSTRUMENT_COLUMNS).

Mapping (one instrument per (exchange, 6-digit symbol), the code the exchange feeds use):
  exchange          lake exchange of the record's `exchange` (SZSE -> szse, SSE -> sse, BSE -> bse); codes
                    whose exchange is not in config/exchanges.csv are left out
  exchange_symbol   `symbol` (6 digits, e.g. 000001)
  instrument_type   "equity"
  base_asset        `name` (the security's short name: a rename, e.g. an ST designation, is a
                    new version)
  quote_asset       `curr_type` (CNY)
  price_increment   0.01
  amount_increment  100 shares (board lot); 200 on the STAR board (科创板, 688xxx/689xxx)
  contract_mult.    1
  listing_exchange  MIC of the exchange (XSHE, XSHG, BJSE)
  canonical_symbol  `ts_code` (000001.SZ): unique across the three exchanges, unlike the 6 digits

Validity windows, all from the exchange-local calendar (timezone from config/exchanges.csv):
* A listing starts at local midnight of `list_date` (2024-09-30 -> 2024-09-29T16:00Z for
  Asia/Shanghai), so every event of the first trading day resolves; UTC midnight would start
  eight hours into the local day.
* A delisted record (`list_status` D with `delist_date`) ends at local midnight after
  `delist_date` (exclusive): the delisting day itself still resolves. Without `delist_date`
  it ends at the first snapshot that reported it delisted.
* Paused (P) stays open: the security still exists and may resume.
* A record missing from a later snapshot is NOT closed (a partial fetch must not delist).
* History: the newest snapshot listing an instrument supplies list/delist dates (latest
  knowledge); every change of a tracked value between consecutive snapshots starts a new
  version at the capture time of the first snapshot showing it. Changes seen before the
  listing start collapse into the first version. dim_symbol's SCD2 rebuild (pointline/scd2.py)
  cuts the windows and merges versions that do not differ.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from vendors.base import INSTRUMENT_COLUMNS
from vendors.tushare.layout import (
    in_scope_exchanges,
    lake_timezones,
    local_midnight_us,
    parse_yyyymmdd,
    vendor_exchange_code,
)
from vendors.tushare.reader import read_envelopes

log = logging.getLogger(__name__)

SOURCE = "tushare"
INSTRUMENT_TYPE = "equity"
PRICE_INCREMENT = "0.01"
BOARD_LOT = "100"
STAR_LOT = "200"
STAR_MARKET = "科创板"
STAR_PREFIXES = ("688", "689")
# Attributes compared between snapshots (the version-defining values of a record).
_TRACKED = ("base_asset", "quote_asset", "amount_increment")


@dataclass(frozen=True)
class _Seen:
    """One instrument's record in one snapshot."""

    snapshot_ts_us: int
    record: dict[str, Any]


def lot_size(symbol: str, market: str | None) -> str:
    """Board lot in shares: 200 on the STAR board, else 100."""
    return STAR_LOT if market == STAR_MARKET or symbol.startswith(STAR_PREFIXES) else BOARD_LOT


def instrument_versions(paths: Iterable[Path], timezones: dict[str, str] | None = None) -> pl.DataFrame:
    """All versions of all in-scope instruments seen in the snapshot files, sorted by natural key."""
    scope = in_scope_exchanges(lake_timezones() if timezones is None else timezones)
    history: dict[tuple[str, str], list[_Seen]] = {}
    for path in paths:
        for _, envelope in read_envelopes(path):
            record = envelope["record"]
            code = vendor_exchange_code(record)
            symbol = record.get("symbol")
            if code not in scope or not isinstance(symbol, str) or not symbol.strip():
                continue
            ts = int(str(envelope["snapshot_ts_us"]))
            history.setdefault((code, symbol.strip()), []).append(_Seen(ts, record))
    rows: list[dict[str, Any]] = []
    for (code, symbol), seen in sorted(history.items(), key=lambda kv: (scope[kv[0][0]][0], kv[0][1])):
        exchange, mic, timezone = scope[code]
        rows.extend(_versions(exchange, symbol, mic, timezone, sorted(seen, key=lambda s: s.snapshot_ts_us)))
    return pl.DataFrame(rows, schema=INSTRUMENT_COLUMNS, orient="row").sort(
        "exchange", "exchange_symbol", "valid_from_us"
    )


def _attributes(symbol: str, record: dict[str, Any]) -> dict[str, Any]:
    name, ts_code = record.get("name"), record.get("ts_code")
    return {
        "base_asset": name.strip() if isinstance(name, str) and name.strip() else symbol,
        "canonical_symbol": ts_code.strip() if isinstance(ts_code, str) and ts_code.strip() else None,
        "quote_asset": (record.get("curr_type") or "CNY").strip(),
        "amount_increment": lot_size(symbol, record.get("market")),
    }


def _window(seen: list[_Seen], timezone: str) -> tuple[int, int | None]:
    """[start, end) of the listing from the newest record's dates (see module docstring)."""
    latest = seen[-1].record
    list_date = parse_yyyymmdd(latest.get("list_date"))
    start = local_midnight_us(list_date, timezone) if list_date else seen[0].snapshot_ts_us
    end = None
    if str(latest.get("list_status") or "").strip().upper() == "D":
        delist = parse_yyyymmdd(latest.get("delist_date"))
        if delist is not None:
            end = local_midnight_us(delist + dt.timedelta(days=1), timezone)
        else:
            end = next(s.snapshot_ts_us for s in seen if str(s.record.get("list_status")).strip().upper() == "D")
    return start, end


def _versions(exchange: str, symbol: str, mic: str, timezone: str, seen: list[_Seen]) -> list[dict[str, Any]]:
    start, end = _window(seen, timezone)
    if end is not None and end <= start:
        log.warning("%s %s: delisting (%s) is not after the listing start (%s); left out", exchange, symbol, end, start)
        return []
    # (version start, attributes): the first record's values from the listing, then one per change.
    cuts: list[tuple[int, dict[str, Any]]] = [(start, _attributes(symbol, seen[0].record))]
    for s in seen[1:]:
        attrs = _attributes(symbol, s.record)
        if attrs == cuts[-1][1]:
            continue
        at = max(s.snapshot_ts_us, start)
        if end is not None and at >= end:
            break  # observed after the window closed: nothing trades then
        if at == cuts[-1][0]:
            cuts[-1] = (at, attrs)  # changed before the listing began: the later value holds
        else:
            cuts.append((at, attrs))
    rows = []
    for k, (from_us, attrs) in enumerate(cuts):
        last = k == len(cuts) - 1
        row = {
            "exchange": exchange,
            "exchange_symbol": symbol,
            "valid_from_us": from_us,
            "valid_until_us": end if last else None,
            "instrument_type": INSTRUMENT_TYPE,
            "price_increment": PRICE_INCREMENT,
            "contract_multiplier": "1",
            "listing_exchange": mic,
            "source": SOURCE,
            **attrs,
        }
        rows.append({c: row.get(c) for c in INSTRUMENT_COLUMNS})
    return rows
