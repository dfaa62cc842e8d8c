"""A small, format-exact Quant360 delivery for tests and demos: 7z archives as the vendor ships them.

`write_sample_bronze(bronze_root)` writes `<bronze_root>/quant360/<stream>_STK_<SZ|SH>_<YYYYMMDD>.7z`
archives (folder `<archive stem>/` with one `<code>.csv` per security, UTF-8 with header, the
exact columns of each exchange and stream, 17-digit Shanghai times) and returns a manifest of
every row it wrote, so tests compute expectations independently of the plugin.

What it contains on SAMPLE_DATE: SZSE and SSE order_new and tick_new, SZSE L2_new; odd lots
(150 shares); a gap in an SZSE channel's sequence; unknown codes (Side `X`, OrdType `Z`, ExecType
`Q`); events exactly at the phase boundaries (09:25:00.000, 11:30:00.000, 14:57:00.000,
15:00:00.000) and at CST midnight (16:00 UTC the day before); an SSE file whose SecurityID
differs from its file name; and one corrupt (truncated) archive of another day.
"""

from __future__ import annotations

import datetime as dt
import io
from dataclasses import dataclass, field
from pathlib import Path
from zoneinfo import ZoneInfo

import polars as pl

from vendors.base import INSTRUMENT_COLUMNS

SAMPLE_DATE = dt.date(2024, 9, 30)
CORRUPT_DATE = dt.date(2024, 10, 8)
SZ_CHANNEL, SH_CHANNEL = 2011, 1
SZ_GAP = (7, 8)  # missing ApplSeqNum range of SZ_CHANNEL (inclusive)
MISMATCH_FILE, MISMATCH_SECURITY = "600036", "600519"


def _header(text: str) -> list[str]:
    return text.split(",")


COLUMNS = {
    ("szse", "order_new"): _header(
        "ApplSeqNum,Side,OrdType,Price,OrderQty,TransactTime,ChannelNo,ExpirationDays,ExpirationType,"
        "Contactor,ConfirmID,ContactInfo,SendingTime"
    ),
    ("szse", "tick_new"): _header(
        "ApplSeqNum,BidApplSeqNum,OfferApplSeqNum,Price,Qty,ExecType,TransactTime,ChannelNo,SendingTime,Amt"
    ),
    ("sse", "order_new"): _header(
        "SecurityID,TransactTime,OrderNo,Price,Balance,OrderBSFlag,OrdType,OrderIndex,ChannelNo,BizIndex"
    ),
    ("sse", "tick_new"): _header(
        "SecurityID,TradeTime,TradePrice,TradeQty,TradeAmount,BuyNo,SellNo,TradeIndex,ChannelNo,TradeBSFlag,BizIndex"
    ),
    ("szse", "L2_new"): _header(
        "SendingTime,MsgSeqNum,ImageStatus,QuotTime,PreClosePx,OpenPx,HighPx,LowPx,LastPx,ClosePx,Volume,Amount,"
        "AveragePx,BidPrice,BidOrderQty,BidNumOrders,BidOrders,OfferPrice,OfferOrderQty,OfferNumOrders,OfferOrders,"
        "NumTrades,TotalBidQty,WeightedAvgBidPx,TotalOfferQty,WeightedAvgOfferPx,Change1,Change2,TotalLongPosition,"
        "PeRatio1,PeRatio2,UpperLimitPx,LowerLimitPx,WeightedAvgPxChg,PreWeightedAvgPx,TradingPhaseCode,"
        "NoOrdersB1,NoOrdersS1"
    ),
}
BOARD = {"szse": "SZ", "sse": "SH"}
TABLE = {"order_new": "l3_orders", "tick_new": "l3_ticks", "L2_new": "l2_snapshots"}


@dataclass(frozen=True)
class SampleRow:
    """One CSV row written: where it is and what the lake must make of it."""

    table: str
    exchange: str
    archive: str
    symbol: str  # from the file name
    line: int  # physical line in the member (header = 1)
    ts_us: int  # UTC microseconds
    phase: str  # expected trading_phase
    reason: str | None  # expected quarantine reason, None = lands in Silver
    channel: int | None = None
    seq: int | None = None  # channel sequence (SZSE ApplSeqNum, SSE BizIndex)
    qty: str | None = None  # the vendor's quantity text
    raw_code: str | None = None  # the unknown code, for rows quarantined for one


@dataclass
class SampleManifest:
    root: Path  # the vendor folder
    date: dt.date
    archives: dict[str, str] = field(default_factory=dict)  # archive name -> "ok" | "corrupt"
    rows: list[SampleRow] = field(default_factory=list)
    gaps: dict[tuple[str, int], list[tuple[int, int]]] = field(default_factory=dict)

    def frame(self) -> pl.DataFrame:
        return pl.DataFrame([vars(r) for r in self.rows])


def shanghai_text(day: dt.date, clock: str) -> str:
    """`HH:MM:SS.mmm` on `day` -> 17-digit YYYYMMDDHHMMSSmmm."""
    hms, ms = clock.split(".")
    return day.strftime("%Y%m%d") + hms.replace(":", "") + ms


def utc_us(day: dt.date, clock: str) -> int:
    hms, ms = clock.split(".")
    h, m, s = (int(x) for x in hms.split(":"))
    local = dt.datetime(day.year, day.month, day.day, h, m, s, int(ms) * 1000, tzinfo=ZoneInfo("Asia/Shanghai"))
    return int(local.timestamp()) * 1_000_000 + local.microsecond


def _phase(clock: str) -> str:
    """The expected phase, written out by hand (independent of config/trading_phases.csv parsing)."""
    table = [
        ("09:15:00.000", "09:25:00.001", "opening_call"),
        ("09:25:00.000", "09:30:00.000", "pre_open"),
        ("09:30:00.000", "11:30:00.000", "continuous"),
        ("13:00:00.000", "14:57:00.000", "continuous"),
        ("14:57:00.000", "15:00:00.001", "closing_call"),
    ]
    for start, end, name in table:
        if start <= clock < end:
            return name
    return "closed"


# SZSE channel SZ_CHANNEL, in ApplSeqNum order (shared by orders and ticks); seqs 7..8 are lost.
# (stream, code, clock, fields, reason, raw_code)
_SZ_EVENTS = [
    ("order_new", "000001", "09:15:00.000", {"Side": "1", "OrdType": "2", "Price": "10.50", "OrderQty": "100"}),
    ("order_new", "000002", "09:15:00.000", {"Side": "2", "OrdType": "2", "Price": "20.00", "OrderQty": "150"}),
    ("order_new", "000001", "09:25:00.000", {"Side": "2", "OrdType": "2", "Price": "10.50", "OrderQty": "100"}),
    ("tick_new", "000001", "09:25:00.000", {"Bid": 1, "Offer": 3, "Price": "10.500", "Qty": "100", "ExecType": "F"}),
    ("order_new", "000001", "09:29:59.999", {"Side": "1", "OrdType": "U", "Price": "0.00", "OrderQty": "200"}),
    ("order_new", "000002", "09:30:00.000", {"Side": "1", "OrdType": "1", "Price": "0.00", "OrderQty": "300"}),
    ("order_new", "000001", "10:00:00.000", {"Side": "X", "OrdType": "2", "Price": "10.51", "OrderQty": "100"}),
    ("order_new", "000002", "10:00:01.000", {"Side": "2", "OrdType": "Z", "Price": "20.10", "OrderQty": "100"}),
    ("tick_new", "000001", "11:30:00.000", {"Bid": 5, "Offer": 0, "Price": "0.000", "Qty": "200", "ExecType": "4"}),
    ("order_new", "000002", "13:00:00.000", {"Side": "1", "OrdType": "2", "Price": "20.01", "OrderQty": "150"}),
    ("tick_new", "000002", "14:57:00.000", {"Bid": 12, "Offer": 2, "Price": "20.000", "Qty": "150", "ExecType": "F"}),
    ("tick_new", "000002", "15:00:00.000", {"Bid": 6, "Offer": 2, "Price": "20.000", "Qty": "100", "ExecType": "Q"}),
    ("order_new", "000001", "14:56:59.999", {"Side": "2", "OrdType": "2", "Price": "10.55", "OrderQty": "100"}),
]
# SSE channel SH_CHANNEL, in BizIndex order (shared by orders and ticks).
_SH_EVENTS = [
    ("order_new", "600000", "09:15:00.000", {"No": 1, "Price": "8.00", "Balance": "100", "BS": "B", "OrdType": "A"}),
    ("order_new", "600000", "09:25:00.000", {"No": 2, "Price": "8.00", "Balance": "150", "BS": "S", "OrdType": "A"}),
    ("tick_new", "600000", "09:25:00.000", {"Buy": 1, "Sell": 2, "Price": "8.00", "Qty": "100", "BS": "N"}),
    ("order_new", "600000", "10:00:00.000", {"No": 2, "Price": "8.00", "Balance": "50", "BS": "S", "OrdType": "D"}),
    (
        "order_new",
        MISMATCH_FILE,
        "10:00:01.000",
        {"No": 3, "Price": "1500.00", "Balance": "100", "BS": "B", "OrdType": "A"},
    ),
    ("order_new", "600000", "14:57:00.000", {"No": 4, "Price": "8.01", "Balance": "100", "BS": "S", "OrdType": "A"}),
    ("tick_new", "600000", "14:57:00.000", {"Buy": 1, "Sell": 4, "Price": "8.01", "Qty": "100", "BS": "S"}),
    ("order_new", "600000", "15:00:00.000", {"No": 5, "Price": "8.02", "Balance": "100", "BS": "B", "OrdType": "A"}),
    ("order_new", "600000", "00:00:00.000", {"No": 6, "Price": "8.02", "Balance": "100", "BS": "B", "OrdType": "A"}),
]


def _csv(header: list[str], rows: list[dict]) -> bytes:
    out = io.StringIO()
    out.write(",".join(header) + "\n")
    for row in rows:
        out.write(",".join(_quote(str(row.get(c, ""))) for c in header) + "\n")
    return out.getvalue().encode("utf-8")


def _quote(text: str) -> str:
    return f'"{text}"' if "," in text else text


def _write_archive(path: Path, members: dict[str, bytes]) -> None:
    import py7zr

    stem = path.name.removesuffix(".7z")
    with py7zr.SevenZipFile(path, mode="w") as z:
        for code, data in sorted(members.items()):
            z.writestr(data, f"{stem}/{code}.csv")


def archive_name(stream: str, exchange: str, day: dt.date) -> str:
    return f"{stream}_STK_{BOARD[exchange]}_{day.strftime('%Y%m%d')}.7z"


def write_sample_bronze(bronze_root: Path, subdir: str = "quant360", day: dt.date = SAMPLE_DATE) -> SampleManifest:
    base = Path(bronze_root) / subdir
    base.mkdir(parents=True, exist_ok=True)
    manifest = SampleManifest(root=base, date=day)
    files: dict[tuple[str, str], dict[str, list[dict]]] = {}  # (exchange, stream) -> code -> rows

    def add(exchange: str, stream: str, code: str, row: dict, expect: dict) -> None:
        members = files.setdefault((exchange, stream), {})
        rows = members.setdefault(code, [])
        rows.append(row)
        manifest.rows.append(
            SampleRow(
                table=TABLE[stream],
                exchange=exchange,
                archive=archive_name(stream, exchange, day),
                symbol=code,
                line=len(rows) + 1,
                **expect,
            )
        )

    seq = 0
    for stream, code, clock, f in _SZ_EVENTS:
        seq += 1
        if seq == SZ_GAP[0]:
            seq = SZ_GAP[1] + 1
        t = shanghai_text(day, clock)
        reason, raw = None, None
        if stream == "order_new":
            row = {
                "ApplSeqNum": seq,
                "Side": f["Side"],
                "OrdType": f["OrdType"],
                "Price": f["Price"],
                "OrderQty": f["OrderQty"],
                "TransactTime": t,
                "ChannelNo": SZ_CHANNEL,
                "ExpirationDays": 0,
                "ExpirationType": 0,
                "SendingTime": t,
            }
            if f["Side"] not in ("1", "2"):
                reason, raw = "invalid_side", f["Side"]
            elif f["OrdType"] not in ("1", "2", "U"):
                reason, raw = "invalid_order_type", f["OrdType"]
            qty = f["OrderQty"]
        else:
            row = {
                "ApplSeqNum": seq,
                "BidApplSeqNum": f["Bid"],
                "OfferApplSeqNum": f["Offer"],
                "Price": f["Price"],
                "Qty": f["Qty"],
                "ExecType": f["ExecType"],
                "TransactTime": t,
                "ChannelNo": SZ_CHANNEL,
                "SendingTime": t,
                "Amt": "",
            }
            if f["ExecType"] not in ("F", "4"):
                reason, raw = "invalid_event_kind", f["ExecType"]
            qty = f["Qty"]
        expect = {
            "ts_us": utc_us(day, clock),
            "phase": _phase(clock),
            "reason": reason,
            "channel": SZ_CHANNEL,
            "seq": seq,
            "qty": qty,
            "raw_code": raw,
        }
        add("szse", stream, code, row, expect)
    manifest.gaps[("szse", SZ_CHANNEL)] = [SZ_GAP]

    trade_index = 0
    for biz, (stream, code, clock, f) in enumerate(_SH_EVENTS, start=1):
        t = shanghai_text(day, clock)
        security = MISMATCH_SECURITY if code == MISMATCH_FILE else code
        reason = "symbol_mismatch" if code == MISMATCH_FILE else None
        raw = None
        if stream == "order_new":
            row = {
                "SecurityID": security,
                "TransactTime": t,
                "OrderNo": f["No"],
                "Price": f["Price"],
                "Balance": f["Balance"],
                "OrderBSFlag": f["BS"],
                "OrdType": f["OrdType"],
                "OrderIndex": f["No"],
                "ChannelNo": SH_CHANNEL,
                "BizIndex": biz,
            }
            if reason is None and f["BS"] not in ("B", "S"):
                reason, raw = "invalid_side", f["BS"]
            qty = f["Balance"]
        else:
            trade_index += 1
            row = {
                "SecurityID": security,
                "TradeTime": t,
                "TradePrice": f["Price"],
                "TradeQty": f["Qty"],
                "TradeAmount": str(float(f["Price"]) * int(f["Qty"])),
                "BuyNo": f["Buy"],
                "SellNo": f["Sell"],
                "TradeIndex": trade_index,
                "ChannelNo": SH_CHANNEL,
                "TradeBSFlag": f["BS"],
                "BizIndex": biz,
            }
            qty = f["Qty"]
        expect = {
            "ts_us": utc_us(day, clock),
            "phase": _phase(clock),
            "reason": reason,
            "channel": SH_CHANNEL,
            "seq": biz,
            "qty": qty,
            "raw_code": raw,
        }
        add("sse", stream, code, row, expect)
    manifest.gaps[("sse", SH_CHANNEL)] = []

    for i, (clock, depth) in enumerate((("09:25:00.000", 10), ("10:00:00.000", 3), ("15:00:00.000", 10)), start=1):
        bids = [f"{10.50 - 0.01 * k:.3f}" for k in range(depth)] + ["0.000"] * (10 - depth)
        asks = [f"{10.51 + 0.01 * k:.3f}" for k in range(depth)] + ["0.000"] * (10 - depth)
        qtys = ["150"] + ["1000"] * (depth - 1) + ["0"] * (10 - depth)
        counts = ["1"] * depth + ["0"] * (10 - depth)
        t = shanghai_text(day, clock)
        row = {
            "SendingTime": t,
            "MsgSeqNum": i,
            "ImageStatus": 1,
            "QuotTime": t,
            "PreClosePx": "10.480",
            "OpenPx": "10.500",
            "HighPx": "10.550",
            "LowPx": "10.450",
            "LastPx": "10.500",
            "ClosePx": "0.000",
            "Volume": "123450",
            "Amount": "1296225.000",
            "AveragePx": "10.500",
            "BidPrice": "[" + ",".join(bids) + "]",
            "BidOrderQty": "[" + ",".join(qtys) + "]",
            "BidNumOrders": "[" + ",".join(counts) + "]",
            "BidOrders": "[]",
            "OfferPrice": "[" + ",".join(asks) + "]",
            "OfferOrderQty": "[" + ",".join(qtys) + "]",
            "OfferNumOrders": "[" + ",".join(counts) + "]",
            "OfferOrders": "[]",
            "NumTrades": 42,
            "TotalBidQty": "50000",
            "WeightedAvgBidPx": "10.300",
            "TotalOfferQty": "60000",
            "WeightedAvgOfferPx": "10.700",
            "UpperLimitPx": "11.530",
            "LowerLimitPx": "9.430",
            "TradingPhaseCode": "T0",
        }
        expect = {"ts_us": utc_us(day, clock), "phase": _phase(clock), "reason": None, "seq": i, "qty": qtys[0]}
        add("szse", "L2_new", "000001", row, expect)

    for (exchange, stream), members in files.items():
        name = archive_name(stream, exchange, day)
        header = COLUMNS[(exchange, stream)]
        _write_archive(base / name, {code: _csv(header, rows) for code, rows in members.items()})
        manifest.archives[name] = "ok"

    # One corrupt archive of another day: a valid archive cut in half.
    corrupt = base / archive_name("order_new", "szse", CORRUPT_DATE)
    _write_archive(corrupt, {"000001": _csv(COLUMNS[("szse", "order_new")], [{"ApplSeqNum": 1}])})
    data = corrupt.read_bytes()
    corrupt.write_bytes(data[: len(data) // 2])
    manifest.archives[corrupt.name] = "corrupt"
    return manifest


def sample_instruments() -> pl.DataFrame:
    """Instrument versions (vendors.base.INSTRUMENT_COLUMNS) for the sample's symbols, listed long ago.

    Quant360 publishes no metadata; tests turn this into dim_symbol rows (pointline.scd2.versions_to_dim).
    """
    listed = utc_us(dt.date(2000, 1, 4), "00:00:00.000")
    codes = {"szse": ["000001", "000002"], "sse": ["600000", MISMATCH_FILE, MISMATCH_SECURITY]}
    rows = []
    for exchange, symbols in codes.items():
        for code in symbols:
            rows.append(
                {
                    "exchange": exchange,
                    "exchange_symbol": code,
                    "valid_from_us": listed,
                    "valid_until_us": None,
                    "instrument_type": "spot",
                    "base_asset": code,
                    "quote_asset": "CNY",
                    "price_increment": "0.01",
                    "amount_increment": "100",
                    "contract_multiplier": "1",
                    "source": "test",
                }
            )
    return pl.DataFrame(rows, schema=INSTRUMENT_COLUMNS)
