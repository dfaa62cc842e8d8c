"""Quant360 names and paths: archive names, the unpacked tree, CST days.

Archives (Bronze, never modified) sit anywhere under `<bronze_root>/<subdir>/` except the
unpacked tree and are named `<stream>_<market>_<SZ|SH>_<YYYYMMDD>.7z`. Their members are
unpacked to `<subdir>/unpacked/exchange=<szse|sse>/type=<stream>/date=<YYYY-MM-DD>/symbol=<code>/<code>.csv`.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from zoneinfo import ZoneInfo

VENDOR = "quant360"
UNPACKED = "unpacked"
LEDGER = "_ledger"  # completion markers, one per archive, written last
TIMEZONE = "Asia/Shanghai"
EXCHANGES = {"SZ": "szse", "SH": "sse"}
STREAMS = ("order_new", "tick_new", "L2_new")
ROUTES = {"order_new": "l3_orders", "tick_new": "l3_ticks", "L2_new": "l2_snapshots"}

ARCHIVE_NAME = re.compile(
    r"^(?P<stream>order_new|tick_new|L2_new|L1_new)_(?P<market>STK|ConFI)_(?P<board>SZ|SH)_(?P<date>\d{8})\.7z$"
)
_MEMBER_NAME = re.compile(r"^(?P<code>\d{1,6})\.csv$")


@dataclass(frozen=True)
class ArchiveName:
    name: str
    stream: str
    market: str
    exchange: str
    date: dt.date

    @property
    def stem(self) -> str:
        return self.name.removesuffix(".7z")


def parse_archive_name(name: str) -> ArchiveName | None:
    m = ARCHIVE_NAME.match(name)
    if not m:
        return None
    try:
        date = dt.datetime.strptime(m["date"], "%Y%m%d").date()
    except ValueError:
        return None
    return ArchiveName(name, m["stream"], m["market"], EXCHANGES[m["board"]], date)


def member_code(member_name: str) -> str | None:
    """`000001.csv` -> `000001` (zero-padded to 6 digits); None for anything else."""
    m = _MEMBER_NAME.match(member_name)
    return m["code"].zfill(6) if m else None


def unpacked_rel(archive: ArchiveName, code: str) -> str:
    """Member path below the vendor subtree."""
    return (
        f"{UNPACKED}/exchange={archive.exchange}/type={archive.stream}/date={archive.date.isoformat()}"
        f"/symbol={code}/{code}.csv"
    )


_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def day_window_us(day: dt.date) -> tuple[int, int]:
    """[CST midnight, next CST midnight) in UTC microseconds: Quant360 cuts files by trading day."""
    zone = ZoneInfo(TIMEZONE)
    start = dt.datetime.combine(day, dt.time(), tzinfo=zone)
    end = start + dt.timedelta(days=1)
    return (int((start - _EPOCH).total_seconds()) * 1_000_000, int((end - _EPOCH).total_seconds()) * 1_000_000)
