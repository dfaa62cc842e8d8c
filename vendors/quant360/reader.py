"""Quant360 CSV members -> staged text frames of l3_orders, l3_ticks and l2_snapshots.

The plugin maps exchange codes to readable values (unknown codes pass through verbatim so the
core quarantines them with the raw value visible) and converts the 17-digit Shanghai time
`YYYYMMDDHHMMSSmmm` to UTC microseconds as text; everything else stays the vendor's text.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from vendors.base import BronzeFile, BronzeFileError
from vendors.quant360.layout import TIMEZONE

L2_LEVELS = 10

# exchange -> stream -> columns the file must have
REQUIRED: dict[tuple[str, str], tuple[str, ...]] = {
    ("szse", "order_new"): ("ApplSeqNum", "Side", "OrdType", "Price", "OrderQty", "TransactTime", "ChannelNo"),
    ("szse", "tick_new"): (
        "ApplSeqNum",
        "BidApplSeqNum",
        "OfferApplSeqNum",
        "Price",
        "Qty",
        "ExecType",
        "TransactTime",
        "ChannelNo",
    ),
    ("sse", "order_new"): (
        "SecurityID",
        "TransactTime",
        "OrderNo",
        "Price",
        "Balance",
        "OrderBSFlag",
        "OrdType",
        "OrderIndex",
        "ChannelNo",
        "BizIndex",
    ),
    ("sse", "tick_new"): (
        "SecurityID",
        "TradeTime",
        "TradePrice",
        "TradeQty",
        "TradeAmount",
        "BuyNo",
        "SellNo",
        "TradeIndex",
        "ChannelNo",
        "TradeBSFlag",
        "BizIndex",
    ),
    ("szse", "L2_new"): (
        "MsgSeqNum",
        "QuotTime",
        "BidPrice",
        "BidOrderQty",
        "OfferPrice",
        "OfferOrderQty",
    ),
}

SIDE = {"1": "buy", "2": "sell"}  # SZSE Side
BS_FLAG = {"B": "buy", "S": "sell"}  # SSE OrderBSFlag
AGGRESSOR_FLAG = {"B": "buy", "S": "sell", "N": "unknown"}  # SSE TradeBSFlag
ORDER_TYPE = {"1": "market", "2": "limit", "U": "best_own"}  # SZSE OrdType
SSE_ORDER_KIND = {"A": "add", "D": "cancel"}  # SSE OrdType
EXEC_TYPE = {"F": "fill", "4": "cancel"}  # SZSE ExecType


def supported(exchange: str, stream: str) -> bool:
    return (exchange, stream) in REQUIRED


def read_raw(path: Path) -> pl.DataFrame:
    """Every column as text (quoted arrays kept whole); physical line = index + 2 (header)."""
    try:
        return pl.read_csv(path, infer_schema=False, glob=False, encoding="utf8")
    except pl.exceptions.NoDataError:
        raise BronzeFileError(path, "empty file (no header)") from None
    except Exception as exc:  # polars raises several types for malformed CSV
        raise BronzeFileError(path, f"cannot parse CSV: {exc}") from exc


def cst_to_utc_us(values: pl.Series, path: Path | str, lines: pl.Series) -> pl.Series:
    """17-digit Shanghai `YYYYMMDDHHMMSSmmm` -> UTC microseconds as text; empty stays null.

    Anything else raises BronzeFileError naming the file, the line and the value.
    """
    text = values.str.strip_chars()
    frame = pl.DataFrame({"t": text, "line": lines})
    parsed = frame.select(
        pl.when(pl.col("t").str.contains(r"^\d{17}$"))
        .then(
            pl.col("t")
            .str.slice(0, 14)
            .str.strptime(pl.Datetime("ms"), "%Y%m%d%H%M%S", strict=False)
            .dt.replace_time_zone(TIMEZONE, non_existent="null", ambiguous="null")
            .dt.epoch("ms")
            .add(pl.col("t").str.slice(14, 3).cast(pl.Int64, strict=False))
            .mul(1000)
        )
        .alias("us"),
        "t",
        "line",
    )
    bad = parsed.filter(pl.col("t").is_not_null() & (pl.col("t") != "") & pl.col("us").is_null())
    if bad.height:
        line, value = bad.row(0, named=True)["line"], bad.row(0, named=True)["t"]
        raise BronzeFileError(
            path,
            f"line {line}: time {value!r} is not a 17-digit YYYYMMDDHHMMSSmmm Shanghai time "
            f"({bad.height} such line(s))",
        )
    return parsed["us"].cast(pl.String).alias(values.name)


def _map(col: str, mapping: dict[str, str]) -> pl.Expr:
    """Known codes -> readable values; an unknown code passes through verbatim (the core quarantines it)."""
    code = pl.col(col).str.strip_chars()
    return code.replace(mapping)


def _opt(raw: pl.DataFrame, col: str) -> pl.Expr:
    return pl.col(col) if col in raw.columns else pl.lit(None, dtype=pl.String)


def _levels(col: str) -> pl.Expr:
    """`[11.63,11.62,...]` -> list of exactly 10 texts, null-padded."""
    inner = pl.col(col).str.strip_chars().str.strip_prefix("[").str.strip_suffix("]")
    items = (
        pl.when(inner.str.strip_chars() == "")
        .then(pl.lit([], dtype=pl.List(pl.String)))
        .otherwise(inner.str.split(","))
    )
    items = items.list.eval(pl.element().str.strip_chars())
    padding = pl.lit([None] * L2_LEVELS, dtype=pl.List(pl.String))
    return pl.concat_list(items, padding).list.head(L2_LEVELS)


def read_table(file: BronzeFile, table: str) -> pl.DataFrame:
    path = Path(file.path)
    key = (file.exchange, file.data_type)
    if key not in REQUIRED:
        raise BronzeFileError(path, f"no reader for {file.data_type} of {file.exchange}")
    raw = read_raw(path)
    missing = [c for c in REQUIRED[key] if c not in raw.columns]
    if missing:
        raise BronzeFileError(path, f"missing column(s) {missing}; header is {raw.columns}")
    raw = raw.with_row_index("file_line", offset=2).with_columns(pl.col("file_line").cast(pl.Int64))
    lines = raw["file_line"]
    head = [pl.lit(file.exchange).alias("exchange"), pl.lit(file.symbol).alias("symbol"), pl.col("file_line")]
    if file.data_type == "L2_new":
        return _l2(raw, file, path, lines, head)
    time_col = "TradeTime" if key == ("sse", "tick_new") else "TransactTime"
    ts = cst_to_utc_us(raw[time_col], path, lines)
    raw = raw.with_columns(ts.alias("_ts"))
    head += [
        pl.col("_ts").alias("ts_local_us"),
        pl.col("_ts").alias("ts_exch_us"),
        pl.col("ChannelNo").alias("channel"),
    ]
    if file.exchange == "sse":
        head += [
            pl.col("SecurityID").str.strip_chars().str.zfill(6).alias("source_symbol"),
            pl.col("BizIndex").alias("channel_seq"),
            pl.col("BizIndex").alias("biz_index"),
        ]
    else:
        head += [pl.col("ApplSeqNum").alias("channel_seq")]
    if key == ("szse", "order_new"):
        body = [
            pl.col("ApplSeqNum").alias("order_id"),
            pl.lit("add").alias("event_kind"),
            _map("Side", SIDE).alias("side"),
            pl.col("Side").alias("side_code"),
            _map("OrdType", ORDER_TYPE).alias("order_type"),
            pl.col("OrdType").alias("order_type_code"),
            pl.col("Price").alias("price"),
            pl.col("OrderQty").alias("qty"),
        ]
    elif key == ("sse", "order_new"):
        body = [
            pl.col("OrderNo").alias("order_id"),
            pl.col("OrderIndex").alias("order_index"),
            _map("OrdType", SSE_ORDER_KIND).alias("event_kind"),
            _map("OrderBSFlag", BS_FLAG).alias("side"),
            pl.col("OrderBSFlag").alias("side_code"),
            pl.col("OrdType").alias("order_type_code"),
            pl.col("Price").alias("price"),
            pl.col("Balance").alias("qty"),
        ]
    elif key == ("szse", "tick_new"):
        kind = _map("ExecType", EXEC_TYPE)
        bid, ask = (pl.col(c).cast(pl.Int64, strict=False) for c in ("BidApplSeqNum", "OfferApplSeqNum"))
        # the later order (higher reference) is the aggressor
        aggressor = pl.when(kind != "fill").then(None).when(bid > ask).then(pl.lit("buy"))
        aggressor = aggressor.when(bid < ask).then(pl.lit("sell")).otherwise(pl.lit("unknown"))
        body = [
            kind.alias("event_kind"),
            pl.col("ExecType").alias("exec_type_code"),
            pl.col("BidApplSeqNum").alias("bid_order_id"),
            pl.col("OfferApplSeqNum").alias("ask_order_id"),
            aggressor.alias("aggressor_side"),
            pl.col("Price").alias("price"),
            pl.col("Qty").alias("qty"),
            _opt(raw, "Amt").alias("amount"),
        ]
    else:  # sse tick_new: every row is a fill (cancels are in the order stream)
        body = [
            pl.col("TradeIndex").alias("trade_index"),
            pl.lit("fill").alias("event_kind"),
            pl.col("BuyNo").alias("bid_order_id"),
            pl.col("SellNo").alias("ask_order_id"),
            _map("TradeBSFlag", AGGRESSOR_FLAG).alias("aggressor_side"),
            pl.col("TradePrice").alias("price"),
            pl.col("TradeQty").alias("qty"),
            pl.col("TradeAmount").alias("amount"),
        ]
    return raw.select(*head, *body)


_L2_SCALARS = {
    "pre_close_price": "PreClosePx",
    "open_price": "OpenPx",
    "high_price": "HighPx",
    "low_price": "LowPx",
    "last_price": "LastPx",
    "close_price": "ClosePx",
    "volume": "Volume",
    "amount": "Amount",
    "total_bid_qty": "TotalBidQty",
    "weighted_avg_bid_price": "WeightedAvgBidPx",
    "total_ask_qty": "TotalOfferQty",
    "weighted_avg_ask_price": "WeightedAvgOfferPx",
    "upper_limit_price": "UpperLimitPx",
    "lower_limit_price": "LowerLimitPx",
    "num_trades": "NumTrades",
    "snapshot_seq": "MsgSeqNum",
    "image_status": "ImageStatus",
    "trading_phase_code": "TradingPhaseCode",
}


def _l2(raw: pl.DataFrame, file: BronzeFile, path: Path, lines: pl.Series, head: list[pl.Expr]) -> pl.DataFrame:
    quote = cst_to_utc_us(raw["QuotTime"], path, lines)
    sending = cst_to_utc_us(raw["SendingTime"], path, lines) if "SendingTime" in raw.columns else quote
    raw = raw.with_columns(quote.alias("_quote"), sending.fill_null(quote).alias("_sending"))
    for col in ("BidPrice", "BidOrderQty", "OfferPrice", "OfferOrderQty"):
        over = raw.filter(pl.col(col).str.count_matches(",") >= L2_LEVELS)
        if over.height:
            raise BronzeFileError(path, f"line {over['file_line'][0]}: {col} holds more than {L2_LEVELS} levels")
    levels = {
        "bid_price_levels": _levels("BidPrice"),
        "bid_qty_levels": _levels("BidOrderQty"),
        "ask_price_levels": _levels("OfferPrice"),
        "ask_qty_levels": _levels("OfferOrderQty"),
    }
    staged = raw.select(
        *head,
        pl.col("_sending").alias("ts_local_us"),
        pl.col("_quote").alias("ts_exch_us"),
        *[_opt(raw, src).alias(name) for name, src in _L2_SCALARS.items()],
        **levels,
    )
    # An empty level is sent as price 0 and size 0: stored as null ("past the book's end").
    for side in ("bid", "ask"):
        px, qty = f"{side}_price_levels", f"{side}_qty_levels"
        staged = _null_empty_levels(staged, px, qty)
    return staged


def _null_empty_levels(frame: pl.DataFrame, px: str, qty: str) -> pl.DataFrame:
    """Levels with price 0 and size 0 (the exchange's 'no level') become null in both lists."""
    n = frame.height
    if n == 0:
        return frame
    flat = frame.select(pl.col(px).explode().alias("p"), pl.col(qty).explode().alias("q"))
    zero = r"^0+(\.0*)?$"
    empty = flat["p"].str.contains(zero).fill_null(False) & flat["q"].str.contains(zero).fill_null(False)
    flat = flat.with_columns(
        pl.when(empty).then(None).otherwise(pl.col("p")).alias("p"),
        pl.when(empty).then(None).otherwise(pl.col("q")).alias("q"),
    )
    return frame.with_columns(
        flat["p"].reshape((n, L2_LEVELS)).arr.to_list().alias(px),
        flat["q"].reshape((n, L2_LEVELS)).arr.to_list().alias(qty),
    )
