"""Where Tushare `stock_basic` snapshots live in Bronze, and the calendar arithmetic they need.

One snapshot file per fetch (all list statuses of all exchanges in one file):

    <bronze_root>/<subdir>/type=stock_basic/date=<YYYY-MM-DD>/snapshot_ts=<us>/tushare_stock_basic_<us>.jsonl.gz

Why this and not SPEC 3.6's `type=dim_symbol_metadata/exchange=<x>/...`:
* `type=` names the vendor's dataset (the API name), not one of our tables: the same file
  feeds both dim_symbol and stock_basic_cn.
* No `exchange=` level: one API answer covers every exchange, and Bronze keeps what was
  fetched as fetched; splitting it by exchange would mean interpreting records before storing
  them and would turn one snapshot into several partial ones.
* `date` is the UTC date of `snapshot_ts`, the partition of stock_basic_cn the file feeds (the
  lake's date-only tables use UTC days), so the path alone routes the file.
* The file name repeats vendor and dataset (SPEC 3.1) so a copied file still says what it is.

The layout (paths, parsing them back, discovery) is vendors/snapshots.py's, shared with the
other snapshot vendors; what is Tushare's own is below.

Exchange scope: Tushare's `exchange` codes map to lake exchanges through VENDOR_EXCHANGES; a
code is in scope only when its lake exchange is also in config/exchanges.csv (dim_exchange),
whose `timezone` column gives the exchange-local calendar (no timezone constant here).
"""

from __future__ import annotations

import datetime as dt
import re
from zoneinfo import ZoneInfo

from pointline.config import load_exchanges
from vendors.snapshots import EPOCH, SnapshotLayout, datetime_to_us

VENDOR = "tushare"
DATA_TYPE = "stock_basic"
DATASET = "stock_basic"
TABLE = "stock_basic_cn"
LAYOUT = SnapshotLayout(VENDOR, DATA_TYPE, prefix="tushare_stock_basic")
snapshot_rel_path = LAYOUT.rel_path  # (snapshot_ts_us, subdir=VENDOR) -> path relative to the Bronze root
# The stock_basic fields requested from the API and kept in each snapshot record, in this order.
FIELDS = (
    "ts_code",
    "symbol",
    "name",
    "area",
    "industry",
    "fullname",
    "enname",
    "cnspell",
    "market",
    "exchange",
    "curr_type",
    "list_status",
    "list_date",
    "delist_date",
    "is_hs",
    "act_name",
    "act_ent_type",
)

# Tushare exchange code -> (lake exchange name as in config/exchanges.csv, ISO 10383 MIC).
VENDOR_EXCHANGES: dict[str, tuple[str, str]] = {
    "SZSE": ("szse", "XSHE"),
    "SSE": ("sse", "XSHG"),
    "BSE": ("bse", "BJSE"),
}
# ts_code suffix -> Tushare exchange code (used only when a record has no `exchange`).
TS_CODE_SUFFIX: dict[str, str] = {"SZ": "SZSE", "SH": "SSE", "BJ": "BSE"}

_YYYYMMDD = re.compile(r"^\d{8}$")


def local_midnight_us(day: dt.date, timezone: str) -> int:
    """Midnight at the start of `day` in `timezone`, as UTC microseconds."""
    return datetime_to_us(dt.datetime.combine(day, dt.time(), tzinfo=ZoneInfo(timezone)))


def local_date(ts_us: int, timezone: str) -> dt.date:
    """The calendar date in `timezone` of a UTC microsecond timestamp."""
    return (EPOCH + dt.timedelta(microseconds=ts_us)).astimezone(ZoneInfo(timezone)).date()


def parse_yyyymmdd(value: object) -> dt.date | None:
    """Tushare dates are `YYYYMMDD` text; None for null, empty or anything else."""
    if not isinstance(value, str) or not _YYYYMMDD.match(value.strip()):
        return None
    text = value.strip()
    try:
        return dt.date(int(text[:4]), int(text[4:6]), int(text[6:]))
    except ValueError:
        return None


def lake_timezones() -> dict[str, str]:
    """{lake exchange: IANA timezone} from config/exchanges.csv (read on every call: it is tiny)."""
    return dict(load_exchanges().select("exchange", "timezone").iter_rows())


def in_scope_exchanges(timezones: dict[str, str] | None = None) -> dict[str, tuple[str, str, str]]:
    """Tushare code -> (lake exchange, MIC, timezone) for codes whose exchange the lake knows."""
    tz = lake_timezones() if timezones is None else timezones
    return {code: (ex, mic, tz[ex]) for code, (ex, mic) in VENDOR_EXCHANGES.items() if ex in tz}


def vendor_exchange_code(record: dict) -> str | None:
    """The record's exchange code (`exchange`, else from the ts_code suffix), upper-cased."""
    code = record.get("exchange")
    if isinstance(code, str) and code.strip():
        return code.strip().upper()
    ts_code = record.get("ts_code")
    if isinstance(ts_code, str) and "." in ts_code:
        return TS_CODE_SUFFIX.get(ts_code.rsplit(".", 1)[1].strip().upper())
    return None
