"""The schema registry: one canonical spec per lake table, declared once.

Every write validates against its spec first (`validate_frame`), `docs/schemas.md` is
rendered from it (`render_markdown`), and tests build frames from it. Nothing else in
the code base declares a table's columns.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import polars as pl

from pointline.numbers import EXACT, RATE

__all__ = [
    "ColumnSpec",
    "TableSpec",
    "SchemaValidationError",
    "TABLES",
    "get_table_spec",
    "validate_frame",
    "render_markdown",
]


class SchemaValidationError(ValueError):
    """A frame does not match its table's canonical spec; nothing was written."""

    def __init__(self, table: str, problems: list[str]):
        self.table = table
        self.problems = problems
        super().__init__(f"{table}: frame does not match the schema registry: " + "; ".join(problems))


@dataclass(frozen=True)
class ColumnSpec:
    name: str
    dtype: pl.DataType
    description: str
    nullable: bool = False
    # True when the core derives the column (trading date, symbol_id, lineage);
    # False when a vendor plugin supplies it (as text, coerced by the core).
    derived: bool = False
    # List columns: the fixed number of elements (e.g. 25 book levels, null-padded).
    length: int | None = None


@dataclass(frozen=True)
class TableSpec:
    name: str
    kind: str  # "event" | "dimension" | "control" | "gold"
    description: str
    columns: tuple[ColumnSpec, ...]
    partition_by: tuple[str, ...] = ()
    sort_by: tuple[str, ...] = ()  # deterministic tie-break order of rows inside a partition
    time_axis: str | None = None  # column whose exchange-local date defines the trading date
    extra: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        names = [c.name for c in self.columns]
        if len(set(names)) != len(names):
            raise ValueError(f"{self.name}: duplicate column names")
        for key in (*self.partition_by, *self.sort_by, *([self.time_axis] if self.time_axis else [])):
            if key not in names:
                raise ValueError(f"{self.name}: key column {key!r} is not a column")

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.columns]

    @property
    def polars_schema(self) -> pl.Schema:
        return pl.Schema({c.name: c.dtype for c in self.columns})

    def column(self, name: str) -> ColumnSpec:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(f"{self.name} has no column {name!r}")

    @property
    def source_columns(self) -> list[ColumnSpec]:
        """Columns a vendor plugin must supply (as text) for this table."""
        return [c for c in self.columns if not c.derived]

    def empty(self) -> pl.DataFrame:
        return pl.DataFrame(schema=self.polars_schema)

    def conform(self, df: pl.DataFrame) -> pl.DataFrame:
        """Select the spec's columns in spec order (after validation)."""
        return df.select(self.names)


def _c(
    name: str,
    dtype: pl.DataType,
    description: str,
    *,
    nullable: bool = False,
    derived: bool = False,
    length: int | None = None,
) -> ColumnSpec:
    return ColumnSpec(name, dtype, description, nullable=nullable, derived=derived, length=length)


def _keys(axis: str) -> tuple[ColumnSpec, ...]:
    return (
        _c("date", pl.Date(), f"Partition: exchange-local trading date of {axis}.", derived=True),
        _c("exchange", pl.String(), "Partition: normalized exchange name (a key of dim_exchange)."),
        _c("symbol", pl.String(), "Exchange-native symbol exactly as the vendor delivered it."),
        _c("symbol_id", pl.Int64(), f"dim_symbol surrogate key, resolved point-in-time at {axis}.", derived=True),
    )


def _event_head() -> tuple[ColumnSpec, ...]:
    return (
        *_keys("ts_local_us"),
        _c("ts_local_us", pl.Int64(), "Arrival (capture) time, UTC microseconds; the time axis."),
        _c("ts_exch_us", pl.Int64(), "Exchange timestamp, UTC microseconds (vendor falls back to arrival)."),
    )


def _equity_tail() -> tuple[ColumnSpec, ...]:
    """Columns equities need and crypto venues do not have (null for crypto rows)."""
    return (
        _c(
            "conditions",
            pl.Int64(),
            "Venue/SIP condition bitfield as delivered (sale or quote conditions); null for crypto.",
            nullable=True,
        ),
        _c(
            "venue",
            pl.String(),
            "Reporting venue (MIC of the exchange or TRF that printed the event); null for crypto.",
            nullable=True,
        ),
        _c(
            "sequence_number",
            pl.Int64(),
            "Feed sequence number (SIP or exchange), for ordering and gap detection; null for crypto.",
            nullable=True,
        ),
    )


def _lineage() -> tuple[ColumnSpec, ...]:
    return (
        _c(
            "file_id",
            pl.Int64(),
            "Lineage: blake2b-8 id of the Bronze file's path relative to the Bronze root.",
            derived=True,
        ),
        _c(
            "file_line",
            pl.Int64(),
            "Lineage: physical 1-based line number of the row in the (decompressed) Bronze file.",
        ),
    )


_EVENT_SORT = ("symbol_id", "ts_local_us", "file_id", "file_line")

TRADES = TableSpec(
    name="trades",
    kind="event",
    description="Every public trade (tick), one row per fill as reported by the venue.",
    columns=(
        *_event_head(),
        _c("trade_id", pl.String(), "Venue trade id; null when the venue gives none.", nullable=True),
        _c("side", pl.String(), "Taker (aggressor) side: buy, sell or unknown."),
        _c("price", EXACT, "Trade price, exact decimal (scale 9)."),
        _c("qty", EXACT, "Trade quantity in the venue's amount unit, exact decimal (scale 9)."),
        *_equity_tail(),
        *_lineage(),
    ),
    partition_by=("date", "exchange"),
    sort_by=_EVENT_SORT,
    time_axis="ts_local_us",
)

QUOTES = TableSpec(
    name="quotes",
    kind="event",
    description="Top of book (best bid and ask) updates.",
    columns=(
        *_event_head(),
        _c("bid_price", EXACT, "Best bid price; null when the bid side is empty.", nullable=True),
        _c("bid_qty", EXACT, "Size at the best bid; null when the bid side is empty.", nullable=True),
        _c("ask_price", EXACT, "Best ask price; null when the ask side is empty.", nullable=True),
        _c("ask_qty", EXACT, "Size at the best ask; null when the ask side is empty.", nullable=True),
        *_equity_tail(),
        *_lineage(),
    ),
    partition_by=("date", "exchange"),
    sort_by=_EVENT_SORT,
    time_axis="ts_local_us",
)

BOOK_LEVELS = 25

BOOK_SNAPSHOT_25 = TableSpec(
    name="book_snapshot_25",
    kind="event",
    description=(
        "Order book snapshots, 25 levels per side as list columns (index 0 = best level); "
        "shallower vendor snapshots are null-padded and say so in `depth`."
    ),
    columns=(
        *_event_head(),
        _c("depth", pl.Int64(), "Levels per side the vendor's snapshot carries (5 or 25); deeper levels are null."),
        *(
            _c(name, pl.List(EXACT), text, length=BOOK_LEVELS)
            for name, text in (
                ("bid_prices", "Bid prices, best (highest) first, strictly descending; null past the book's end."),
                ("bid_qtys", "Sizes at bid_prices, exact; null past the book's end."),
                ("ask_prices", "Ask prices, best (lowest) first, strictly ascending; null past the book's end."),
                ("ask_qtys", "Sizes at ask_prices, exact; null past the book's end."),
            )
        ),
        *_lineage(),
    ),
    partition_by=("date", "exchange"),
    sort_by=_EVENT_SORT,
    time_axis="ts_local_us",
)

ORDERBOOK_UPDATES = TableSpec(
    name="orderbook_updates",
    kind="event",
    description=(
        "Incremental L2 book updates: the absolute new size of one price level (0 deletes it). "
        "Rows with equal (symbol_id, ts_local_us) are one atomic update, applied in file_line order; "
        "a row with is_snapshot after rows without it starts a new book (discard the old one)."
    ),
    columns=(
        *_event_head(),
        _c("is_snapshot", pl.Boolean(), "True when the row belongs to an initial or re-sent full book snapshot."),
        _c("side", pl.String(), "Book side: bid or ask."),
        _c("price", EXACT, "Price level, exact."),
        _c("qty", EXACT, "New absolute size at the level, exact; 0 removes the level."),
        *_lineage(),
    ),
    partition_by=("date", "exchange"),
    sort_by=_EVENT_SORT,
    time_axis="ts_local_us",
)

DERIVATIVE_TICKER = TableSpec(
    name="derivative_ticker",
    kind="event",
    description="Derivative instrument tickers: mark, index and last price, open interest and funding.",
    columns=(
        *_event_head(),
        _c("last_price", EXACT, "Last traded price.", nullable=True),
        _c("index_price", EXACT, "Underlying index price.", nullable=True),
        _c("mark_price", EXACT, "Mark price used for margining.", nullable=True),
        _c("open_interest", EXACT, "Open interest in the venue's contract unit.", nullable=True),
        _c(
            "funding_rate",
            RATE,
            "Current funding rate (fraction per funding interval), exact to 18 digits.",
            nullable=True,
        ),
        _c(
            "predicted_funding_rate",
            RATE,
            "Predicted next funding rate, exact to 18 digits.",
            nullable=True,
        ),
        _c("funding_ts_us", pl.Int64(), "Time of the next funding event, UTC microseconds.", nullable=True),
        *_lineage(),
    ),
    partition_by=("date", "exchange"),
    sort_by=_EVENT_SORT,
    time_axis="ts_local_us",
)

LIQUIDATIONS = TableSpec(
    name="liquidations",
    kind="event",
    description=(
        "Forced liquidations. side is the liquidation order's side: buy = a short position was "
        "liquidated (bought back), sell = a long position was liquidated (the crypto vendors' common convention)."
    ),
    columns=(
        *_event_head(),
        _c("liq_id", pl.String(), "Venue liquidation id; null when the venue gives none.", nullable=True),
        _c("side", pl.String(), "buy (short liquidated) or sell (long liquidated)."),
        _c("price", EXACT, "Liquidation price, exact."),
        _c("qty", EXACT, "Liquidated quantity in the venue's amount unit, exact."),
        *_lineage(),
    ),
    partition_by=("date", "exchange"),
    sort_by=_EVENT_SORT,
    time_axis="ts_local_us",
)

_GREEK = "model output of the venue, stored as the vendor's double"

OPTIONS_CHAIN = TableSpec(
    name="options_chain",
    kind="event",
    description=(
        "Option chain snapshots (one row per option per update). symbol/symbol_id are the option; "
        "underlying_symbol_id links its underlying through dim_symbol. Prices and sizes are exact; "
        "implied volatilities and greeks are the venue's model outputs, kept as Float64."
    ),
    columns=(
        *_event_head(),
        _c(
            "underlying_symbol_id",
            pl.Int64(),
            "dim_symbol id of the underlying at ts_local_us (dim_symbol.underlying, else underlying_index); "
            "null when the underlying is an index or synthetic future with no dim_symbol row.",
            nullable=True,
            derived=True,
        ),
        _c("underlying_index", pl.String(), "The venue's name of the option's underlying.", nullable=True),
        _c("option_type", pl.String(), "call or put."),
        _c("strike", EXACT, "Strike price, exact."),
        _c("expiry_us", pl.Int64(), "Expiration time, UTC microseconds."),
        _c("open_interest", EXACT, "Open interest.", nullable=True),
        _c("last_price", EXACT, "Last traded price.", nullable=True),
        _c("bid_price", EXACT, "Best bid price.", nullable=True),
        _c("bid_qty", EXACT, "Size at the best bid.", nullable=True),
        _c("bid_iv", pl.Float64(), f"Implied volatility of the bid; {_GREEK}.", nullable=True),
        _c("ask_price", EXACT, "Best ask price.", nullable=True),
        _c("ask_qty", EXACT, "Size at the best ask.", nullable=True),
        _c("ask_iv", pl.Float64(), f"Implied volatility of the ask; {_GREEK}.", nullable=True),
        _c("mark_price", EXACT, "Mark price.", nullable=True),
        _c("mark_iv", pl.Float64(), f"Implied volatility of the mark price; {_GREEK}.", nullable=True),
        _c("underlying_price", EXACT, "Price of the underlying.", nullable=True),
        *(
            _c(g, pl.Float64(), f"Option {g}; {_GREEK}.", nullable=True)
            for g in ("delta", "gamma", "vega", "theta", "rho")
        ),
        *_lineage(),
    ),
    partition_by=("date", "exchange"),
    sort_by=_EVENT_SORT,
    time_axis="ts_local_us",
)

L3_SORT = ("symbol_id", "ts_local_us", "channel_seq", "file_id", "file_line")


def _l3_head() -> tuple[ColumnSpec, ...]:
    """Keys and times of the per-order (L3) tables, whose vendors deliver one exchange time only."""
    only_time = (
        "Exchange time of the event, UTC microseconds; the time axis. L3 feeds that carry one "
        "timestamp only (the exchange's transaction time) put it in both ts_local_us and ts_exch_us."
    )
    return (
        *_keys("ts_local_us"),
        _c("ts_local_us", pl.Int64(), only_time),
        _c("ts_exch_us", pl.Int64(), "Exchange timestamp, UTC microseconds (equal to ts_local_us, see there)."),
        _c(
            "source_symbol",
            pl.String(),
            "The symbol the row itself carries, when the vendor's rows carry one (symbol comes from the "
            "file name); a row whose source_symbol differs from symbol is quarantined (symbol_mismatch).",
            nullable=True,
        ),
        _c("channel", pl.Int64(), "Exchange channel (feed partition) number of the event."),
        _c(
            "channel_seq",
            pl.Int64(),
            "The channel's message sequence number, shared by l3_orders and l3_ticks of the channel: "
            "unique and contiguous per (exchange, channel, date), so a gap means lost messages.",
        ),
        _c(
            "biz_index",
            pl.Int64(),
            "The exchange's business index of the event where it publishes one (ordering across streams).",
            nullable=True,
        ),
    )


def _phase() -> ColumnSpec:
    return _c(
        "trading_phase",
        pl.String(),
        "Trading phase at the time axis in exchange-local time, from config/trading_phases.csv "
        "(the exchange's calendar): opening_call, pre_open, continuous, closing_call or closed; "
        "unknown when the calendar has no phases.",
        derived=True,
    )


L3_ORDERS = TableSpec(
    name="l3_orders",
    kind="event",
    description=(
        "Per-order (L3) order events of order-driven exchanges: every order added and, where the "
        "exchange publishes cancels in the order stream, every cancel. Prices exact; quantities in "
        "shares, exact (odd lots stay as delivered)."
    ),
    columns=(
        *_l3_head(),
        _c("order_id", pl.Int64(), "The order's reference number in its channel (what l3_ticks refer to)."),
        _c(
            "order_index",
            pl.Int64(),
            "The exchange's per-symbol order index where it publishes one (ordering).",
            nullable=True,
        ),
        _c("event_kind", pl.String(), "add (new order) or cancel (order withdrawn)."),
        _c("side", pl.String(), "Order side: buy or sell."),
        _c("side_code", pl.String(), "The exchange's raw side code as delivered."),
        _c(
            "order_type",
            pl.String(),
            "market, limit or best_own (priced at the best price of its own side); null when the "
            "exchange does not publish an order type.",
            nullable=True,
        ),
        _c(
            "order_type_code",
            pl.String(),
            "The exchange's raw order-type code (for exchanges that publish cancels in the order "
            "stream this code says add or cancel).",
            nullable=True,
        ),
        _c("price", EXACT, "Order price, exact; 0 or absent meaning for market orders as the exchange sends it."),
        _c("qty", EXACT, "Order quantity in shares (for cancels: the quantity withdrawn), exact."),
        _phase(),
        *_lineage(),
    ),
    partition_by=("date", "exchange"),
    sort_by=L3_SORT,
    time_axis="ts_local_us",
    extra={"sequence_group": "l3"},
)

L3_TICKS = TableSpec(
    name="l3_ticks",
    kind="event",
    description=(
        "Per-order (L3) executions of order-driven exchanges: fills, and cancels where the exchange "
        "publishes them in the execution stream. Each row references the orders of l3_orders it "
        "touched; prices exact, quantities in shares, exact."
    ),
    columns=(
        *_l3_head(),
        _c(
            "trade_index",
            pl.Int64(),
            "The exchange's per-symbol trade index where it publishes one (ordering).",
            nullable=True,
        ),
        _c("event_kind", pl.String(), "fill (a trade) or cancel (an order withdrawn)."),
        _c("exec_type_code", pl.String(), "The exchange's raw execution-type code, when it sends one.", nullable=True),
        _c("bid_order_id", pl.Int64(), "order_id of the buy order involved; 0 when none."),
        _c("ask_order_id", pl.Int64(), "order_id of the sell order involved; 0 when none."),
        _c(
            "aggressor_side",
            pl.String(),
            "Side of the aggressing order of a fill: buy, sell or unknown (exchange flag, or the later "
            "of the two orders); null for cancels.",
            nullable=True,
        ),
        _c("price", EXACT, "Fill price, exact; 0 for cancels."),
        _c("qty", EXACT, "Filled (or cancelled) quantity in shares, exact."),
        _c("amount", EXACT, "Traded value as the exchange reports it, exact.", nullable=True),
        _phase(),
        *_lineage(),
    ),
    partition_by=("date", "exchange"),
    sort_by=L3_SORT,
    time_axis="ts_local_us",
    extra={"sequence_group": "l3"},
)

L2_LEVELS = 10

L2_SNAPSHOTS = TableSpec(
    name="l2_snapshots",
    kind="event",
    description=(
        "Exchange L2 snapshots: 10 levels per side as list columns (index 0 = best level, null past "
        "the book's end) plus the day's running statistics. Prices exact, quantities in shares."
    ),
    columns=(
        *_keys("ts_local_us"),
        _c(
            "ts_local_us",
            pl.Int64(),
            "Send time of the snapshot, UTC microseconds (the exchange time when absent); the time axis.",
        ),
        _c("ts_exch_us", pl.Int64(), "Quote time of the snapshot (exchange), UTC microseconds."),
        _c("snapshot_seq", pl.Int64(), "Message sequence number of the snapshot.", nullable=True),
        _c("image_status", pl.String(), "The exchange's image status code (full or update).", nullable=True),
        _c("trading_phase_code", pl.String(), "The exchange's own trading phase code, raw.", nullable=True),
        *(
            _c(name, EXACT, text, nullable=True)
            for name, text in (
                ("pre_close_price", "Previous close."),
                ("open_price", "Day open."),
                ("high_price", "Day high so far."),
                ("low_price", "Day low so far."),
                ("last_price", "Last trade price."),
                ("close_price", "Close (after the close)."),
                ("volume", "Day volume so far, shares."),
                ("amount", "Day traded value so far."),
                ("total_bid_qty", "Total quantity of all buy orders in the book, shares."),
                ("weighted_avg_bid_price", "Volume-weighted price of all buy orders."),
                ("total_ask_qty", "Total quantity of all sell orders in the book, shares."),
                ("weighted_avg_ask_price", "Volume-weighted price of all sell orders."),
                ("upper_limit_price", "Upper price limit of the day."),
                ("lower_limit_price", "Lower price limit of the day."),
            )
        ),
        _c("num_trades", pl.Int64(), "Number of trades of the day so far.", nullable=True),
        *(
            _c(name, pl.List(EXACT), text, length=L2_LEVELS)
            for name, text in (
                ("bid_price_levels", "Bid prices, best first; null past the book's end."),
                ("bid_qty_levels", "Shares at bid_price_levels; null past the book's end."),
                ("ask_price_levels", "Ask prices, best first; null past the book's end."),
                ("ask_qty_levels", "Shares at ask_price_levels; null past the book's end."),
            )
        ),
        _phase(),
        *_lineage(),
    ),
    partition_by=("date", "exchange"),
    sort_by=("symbol_id", "ts_local_us", "snapshot_seq", "file_id", "file_line"),
    time_axis="ts_local_us",
)


# Interval names of the kline table family: kline_<interval>. Which ones exist as assets is
# configuration (config/lake.toml [klines] intervals).
KLINE_INTERVALS_US: dict[str, int] = {
    "1s": 1_000_000,
    "1m": 60_000_000,
    "3m": 180_000_000,
    "5m": 300_000_000,
    "15m": 900_000_000,
    "30m": 1_800_000_000,
    "1h": 3_600_000_000,
    "2h": 7_200_000_000,
    "4h": 14_400_000_000,
    "6h": 21_600_000_000,
    "8h": 28_800_000_000,
    "12h": 43_200_000_000,
    "1d": 86_400_000_000,
}


def kline_spec(interval: str) -> TableSpec:
    """The `kline_<interval>` table: one bar per symbol and interval, on the bar's open time."""
    if interval not in KLINE_INTERVALS_US:
        raise KeyError(f"unknown kline interval {interval!r}; known: {list(KLINE_INTERVALS_US)}")
    return TableSpec(
        name=f"kline_{interval}",
        kind="event",
        description=(
            f"{interval} OHLCV bars. The time axis is the bar's open time; a bar is only known at "
            "ts_close_us, so point-in-time joins must use ts_close_us."
        ),
        columns=(
            *_keys("ts_open_us"),
            _c("ts_open_us", pl.Int64(), "Bar open time (inclusive), UTC microseconds; the time axis."),
            _c("ts_close_us", pl.Int64(), "Bar close time (exclusive: open + interval), UTC microseconds."),
            _c("open", EXACT, "First trade price in the bar."),
            _c("high", EXACT, "Highest trade price."),
            _c("low", EXACT, "Lowest trade price."),
            _c("close", EXACT, "Last trade price."),
            _c("volume", EXACT, "Traded quantity in the base asset (or contracts)."),
            _c("quote_volume", EXACT, "Traded notional in the quote asset."),
            _c("trade_count", pl.Int64(), "Number of trades in the bar."),
            _c("taker_buy_base_volume", EXACT, "Base volume of taker buys."),
            _c("taker_buy_quote_volume", EXACT, "Quote volume of taker buys."),
            *_lineage(),
        ),
        partition_by=("date", "exchange"),
        sort_by=("symbol_id", "ts_open_us", "file_id", "file_line"),
        time_axis="ts_open_us",
        extra={"interval_us": str(KLINE_INTERVALS_US[interval])},
    )


DIM_ASSET_STATS = TableSpec(
    name="dim_asset_stats",
    kind="dimension",
    description=(
        "Daily supply and valuation statistics per base asset (a market-data vendor's). The vendor's values "
        "are IEEE doubles, so Float64 stores them losslessly; the base-asset to vendor-id map is data."
    ),
    columns=(
        _c("date", pl.Date(), "Partition: UTC date of the snapshot.", derived=True),
        _c("base_asset", pl.String(), "Base asset code as used in dim_symbol.base_asset (e.g. BTC)."),
        _c("coin_id", pl.String(), "The vendor's id of the asset (e.g. 'bitcoin')."),
        _c("circulating_supply", pl.Float64(), "Circulating supply in units of the asset.", nullable=True),
        _c("total_supply", pl.Float64(), "Total supply.", nullable=True),
        _c("max_supply", pl.Float64(), "Maximum supply; null when uncapped.", nullable=True),
        _c("market_cap_usd", pl.Float64(), "Market capitalisation in USD.", nullable=True),
        _c("fully_diluted_valuation_usd", pl.Float64(), "Fully diluted valuation in USD.", nullable=True),
        _c("price_usd", pl.Float64(), "Price in USD at the vendor's last update.", nullable=True),
        _c(
            "vendor_updated_us",
            pl.Int64(),
            "The vendor's last-update time of the record, UTC microseconds.",
            nullable=True,
        ),
        _c("snapshot_ts_us", pl.Int64(), "When the snapshot was fetched, UTC microseconds; the time axis."),
        _c("source", pl.String(), "Vendor name."),
        *_lineage(),
    ),
    partition_by=("date",),
    sort_by=("base_asset", "snapshot_ts_us", "file_id", "file_line"),
    time_axis="snapshot_ts_us",
)


STOCK_BASIC_CN = TableSpec(
    name="stock_basic_cn",
    kind="dimension",
    description=(
        "CN A-share security master, one row per security per vendor snapshot (listing status and "
        "dates, board, industry, names). Daily partitions keep every snapshot, so 'what was listed, "
        "under which name, as known on day D' is the latest snapshot at or before D. Joins dim_symbol "
        "on (exchange, symbol = exchange_symbol)."
    ),
    columns=(
        _c("date", pl.Date(), "Partition: UTC date of the snapshot.", derived=True),
        _c("exchange", pl.String(), "Normalized exchange name (a key of dim_exchange), from the vendor's code."),
        _c("symbol", pl.String(), "6-digit exchange code, as in dim_symbol.exchange_symbol (e.g. 000001)."),
        _c("ts_code", pl.String(), "The vendor's code with exchange suffix (e.g. 000001.SZ)."),
        _c("name", pl.String(), "Short name (changes with e.g. ST designations)."),
        _c("area", pl.String(), "Region of the company.", nullable=True),
        _c("industry", pl.String(), "Industry classification.", nullable=True),
        _c("fullname", pl.String(), "Full company name.", nullable=True),
        _c("enname", pl.String(), "English name.", nullable=True),
        _c("cnspell", pl.String(), "Pinyin initials of the short name.", nullable=True),
        _c("market", pl.String(), "Board: 主板 (main), 创业板 (ChiNext), 科创板 (STAR), ...", nullable=True),
        _c("curr_type", pl.String(), "Trading currency (CNY).", nullable=True),
        _c("list_status", pl.String(), "L listed, D delisted, P paused."),
        _c("list_date", pl.Date(), "Listing date (exchange-local).", nullable=True),
        _c("delist_date", pl.Date(), "Delisting date (exchange-local); null unless delisted.", nullable=True),
        _c(
            "is_hs",
            pl.String(),
            "Stock Connect eligibility code as delivered (N: not eligible; H, S: one of the two links).",
            nullable=True,
        ),
        _c("act_name", pl.String(), "Actual controller.", nullable=True),
        _c("act_ent_type", pl.String(), "Actual controller's enterprise type.", nullable=True),
        _c("as_of_date", pl.Date(), "Exchange-local date of the snapshot (the day the values are known on)."),
        _c("snapshot_ts_us", pl.Int64(), "When the snapshot was fetched, UTC microseconds; the time axis."),
        _c("source", pl.String(), "Vendor name."),
        *_lineage(),
    ),
    partition_by=("date",),
    sort_by=("exchange", "symbol", "snapshot_ts_us", "file_id", "file_line"),
    time_axis="snapshot_ts_us",
)


# ---- Gold: derived from Silver by the lake's own assets (docs/gold-contract.md) ---------------
# Notional (price x quantity of two scale-9 numbers) needs 18 fractional digits to stay exact.
NOTIONAL = pl.Decimal(38, 18)


def _gold_source() -> ColumnSpec:
    return _c(
        "source_data_version",
        pl.String(),
        "Lineage: Dagster data version of the Silver partition (date, exchange) the row was built from; "
        "null when the Dagster instance never materialized that partition.",
        nullable=True,
        derived=True,
    )


DAILY_OHLCV = TableSpec(
    name="daily_ohlcv",
    kind="gold",
    description=(
        "One daily OHLCV bar per (date, exchange, symbol_id), every exchange in one partition: from "
        "kline_1d where the exchange has a 1d kline for the symbol, else aggregated from trades "
        "(`source` says which). Partitioned by date alone and stored as one sorted file per date, so "
        "all symbols of a day are one small read. Overwritten per date (docs/gold-contract.md)."
    ),
    columns=(
        _c(
            "date",
            pl.Date(),
            "Partition: exchange-local trading date, the date of the Silver partitions the row was built from.",
            derived=True,
        ),
        _c("exchange", pl.String(), "Exchange name (a key of dim_exchange)."),
        _c("symbol", pl.String(), "Exchange-native symbol."),
        _c(
            "symbol_id",
            pl.Int64(),
            "dim_symbol id of the source rows; a symbol whose metadata changed during the day has one "
            "trades-built row per version.",
        ),
        _c(
            "ts_open_us",
            pl.Int64(),
            "Window start, inclusive, UTC microseconds: the kline's open, or local midnight of `date` (trades).",
        ),
        _c(
            "ts_close_us",
            pl.Int64(),
            "Window end, exclusive: the kline's close, or the next local midnight (trades).",
        ),
        _c("open", EXACT, "First trade price of the window (trades: by arrival time, then lineage)."),
        _c("high", EXACT, "Highest trade price."),
        _c("low", EXACT, "Lowest trade price."),
        _c("close", EXACT, "Last trade price."),
        _c("volume", EXACT, "Traded quantity in the venue's amount unit."),
        _c(
            "quote_volume",
            NOTIONAL,
            "Traded notional, exact: the kline's quote volume, or the sum of price x qty over the trades "
            "(for inverse contracts qty is in contracts, so this is not a quote-currency amount).",
        ),
        _c(
            "taker_buy_volume",
            EXACT,
            "Quantity bought by takers (trades with side buy; the kline's taker buy volume).",
        ),
        _c("trade_count", pl.Int64(), "Number of trades."),
        _c("source", pl.String(), "Silver table the row was built from: kline_1d or trades.", derived=True),
        _gold_source(),
    ),
    partition_by=("date",),
    sort_by=("exchange", "symbol", "symbol_id"),
    time_axis="ts_open_us",
)


def _bar_state_columns(*, carry: bool) -> tuple[ColumnSpec, ...]:
    """The window and aggregates a bar has; nullable where an open bar may have no trade yet."""
    open_bar = " (null while the open bar has no trade)" if carry else ""
    return (
        _c("bar_kind", pl.String(), "time, tick, volume or dollar."),
        _c(
            "threshold",
            EXACT,
            "What closes the bar: seconds per bar (time), trades (tick), quantity (volume) or "
            "price x qty (dollar); per symbol when config/lake.toml overrides it.",
        ),
        _c(
            "bar_id",
            pl.Int64(),
            "Window index ts_start_us / interval (time bars); consecutive per (bar_spec, exchange, symbol_id) "
            "from the chain's first bar (tick, volume, dollar)." + (" The id the open bar will get." if carry else ""),
        ),
        _c(
            "ts_start_us",
            pl.Int64(),
            "Window start, inclusive, UTC microseconds (arrival time): the grid start (time bars) or the "
            "previous bar's ts_end_us, so windows tile time; a chain's first bar starts at its first trade.",
        ),
        *(
            ()
            if carry
            else (
                _c(
                    "ts_end_us",
                    pl.Int64(),
                    "Window end, exclusive: the bar-end timestamp and time axis (the bar is known at it). "
                    "Time bars: the grid end; others: the closing trade's ts_local_us + 1. The partition "
                    "date is the local date of ts_end_us - 1.",
                ),
            )
        ),
        _c("ts_first_us", pl.Int64(), f"Arrival time of the first trade{open_bar}.", nullable=carry),
        _c("ts_last_us", pl.Int64(), f"Arrival time of the last trade{open_bar}.", nullable=carry),
        _c(
            "start_date",
            pl.Date(),
            "Trading date of the first trade: before `date` when the bar spans midnight (its trades then "
            f"come from the trades partitions start_date .. date){open_bar}.",
            nullable=carry,
        ),
        _c("open", EXACT, f"First trade price (arrival time, then lineage order){open_bar}.", nullable=carry),
        _c("high", EXACT, f"Highest trade price{open_bar}.", nullable=carry),
        _c("low", EXACT, f"Lowest trade price{open_bar}.", nullable=carry),
        _c("close", EXACT, f"Last trade price{open_bar}.", nullable=carry),
        _c("volume", EXACT, "Sum of trade quantities."),
        _c("buy_volume", EXACT, "Sum of quantities of taker buys (side buy)."),
        _c("dollar_volume", NOTIONAL, "Sum of price x qty, exact (scale 18)."),
        _c("trade_count", pl.Int64(), "Number of trades."),
    )


BARS = TableSpec(
    name="bars",
    kind="gold",
    description=(
        "Time, tick, volume and dollar bars built from trades, one row per closed bar. A bar covers the "
        "half-open window [ts_start_us, ts_end_us) of arrival times; trades sharing a timestamp never "
        "split. Bar specs are data (config/lake.toml [[gold.bars]]) and a partition column. An "
        "information-driven bar open at midnight is carried (bar_carry) and written once, by the "
        "trading day it closes on (docs/gold-contract.md)."
    ),
    columns=(
        _c("bar_spec", pl.String(), "Partition: name of the bar spec in config/lake.toml [[gold.bars]]."),
        _c(
            "date",
            pl.Date(),
            "Partition: exchange-local trading date of the bar's last instant (ts_end_us - 1).",
            derived=True,
        ),
        _c("exchange", pl.String(), "Partition: exchange name (a key of dim_exchange)."),
        _c("symbol", pl.String(), "Exchange-native symbol."),
        _c("symbol_id", pl.Int64(), "dim_symbol id of the trades; each id is its own chain of bars."),
        *_bar_state_columns(carry=False),
        _gold_source(),
        _c(
            "carry_data_version",
            pl.String(),
            "Lineage: for a bar continued from the previous day's bar_carry, the data version of that bars "
            "partition (date - 1); null otherwise.",
            nullable=True,
            derived=True,
        ),
    ),
    partition_by=("bar_spec", "date", "exchange"),
    sort_by=("symbol_id", "ts_end_us"),
    time_axis="ts_end_us",
    extra={"date_rule": "local date of ts_end_us - 1"},
)

BAR_CARRY = TableSpec(
    name="bar_carry",
    kind="gold",
    description=(
        "State of the bars assets, not for research: per (bar_spec, exchange, symbol_id) the bar still "
        "open at the end of `date` (window start and the aggregates of its trades so far). The next "
        "day's build continues it, so a bar spanning midnight is built once. Overwritten with `bars`."
    ),
    columns=(
        _c("bar_spec", pl.String(), "Partition: name of the bar spec."),
        _c("date", pl.Date(), "Partition: trading date at whose end the bar was open.", derived=True),
        _c("exchange", pl.String(), "Partition: exchange name."),
        _c("symbol", pl.String(), "Exchange-native symbol."),
        _c("symbol_id", pl.Int64(), "dim_symbol id (the chain)."),
        *_bar_state_columns(carry=True),
    ),
    partition_by=("bar_spec", "date", "exchange"),
    sort_by=("symbol_id",),
)

REFLEXIVITY_BARS = TableSpec(
    name="reflexivity_bars",
    kind="gold",
    description=(
        "Dollar bars on perpetuals with the spot market beside them: every bar of a perpetual in the "
        "`bars` dollar spec named by config/lake.toml [gold.reflexivity], the notional traded on the "
        "paired spot instrument (same base and quote asset on the spot exchange configured for the "
        "perpetual's exchange) over the same half-open window [ts_start_us, ts_end_us), and open "
        "interest, funding rate and mark price as of the bar close (the last derivative_ticker value "
        "strictly before ts_end_us, with its own time). Overwritten per (date, exchange) "
        "(docs/gold-contract.md)."
    ),
    columns=(
        _c(
            "date",
            pl.Date(),
            "Partition: the bar's `bars` date, the exchange-local trading date of its last instant (ts_end_us - 1).",
            derived=True,
        ),
        _c("exchange", pl.String(), "Partition: the perpetual's exchange (a key of dim_exchange)."),
        _c("symbol", pl.String(), "Exchange-native symbol of the perpetual."),
        _c("symbol_id", pl.Int64(), "dim_symbol id of the perpetual (its chain of bars in `bars`)."),
        _c("bar_spec", pl.String(), "The dollar bar spec of `bars` the bar comes from ([gold.reflexivity] bar_spec)."),
        _c("bar_id", pl.Int64(), "The bar's id in `bars` (consecutive per chain)."),
        _c("ts_start_us", pl.Int64(), "Window start, inclusive, UTC microseconds (arrival time), as in `bars`."),
        _c(
            "ts_end_us",
            pl.Int64(),
            "Window end, exclusive: the bar-end timestamp and time axis; spot sums and as-of values are taken "
            "against it.",
        ),
        _c("start_date", pl.Date(), "Trading date of the bar's first perpetual trade (bars.start_date)."),
        _c("duration_us", pl.Int64(), "ts_end_us - ts_start_us, microseconds."),
        _c("open", EXACT, "First perpetual trade price of the bar."),
        _c("high", EXACT, "Highest perpetual trade price."),
        _c("low", EXACT, "Lowest perpetual trade price."),
        _c("close", EXACT, "Last perpetual trade price."),
        _c("volume", EXACT, "Perpetual quantity traded, in the venue's amount unit."),
        _c(
            "perp_notional",
            NOTIONAL,
            "Sum of price x qty over the perpetual trades (bars.dollar_volume), exact; for inverse contracts qty "
            "is in contracts or USD, so it is not a quote-currency amount.",
        ),
        _c("trade_count", pl.Int64(), "Number of perpetual trades."),
        _c("threshold", EXACT, "The dollar threshold that closed the bar (bars.threshold)."),
        _c("base_asset", pl.String(), "Base asset of the perpetual (dim_symbol); the pairing key.", nullable=True),
        _c("quote_asset", pl.String(), "Quote asset of the perpetual (dim_symbol); the pairing key.", nullable=True),
        _c(
            "spot_exchange",
            pl.String(),
            "Spot exchange paired with the perpetual's exchange ([gold.reflexivity.spot_exchanges]); null when "
            "none is configured.",
            nullable=True,
        ),
        _c(
            "spot_symbol",
            pl.String(),
            "Exchange symbol of the spot instrument with the perpetual's base and quote asset, valid at "
            "ts_end_us - 1; null when there is none.",
            nullable=True,
        ),
        _c("spot_symbol_id", pl.Int64(), "dim_symbol id of that spot version; null when none.", nullable=True),
        _c(
            "spot_volume",
            EXACT,
            "Spot quantity traded in [ts_start_us, ts_end_us); 0 without spot trades; null without a spot instrument.",
            nullable=True,
        ),
        _c(
            "spot_notional",
            NOTIONAL,
            "Sum of price x qty of the spot trades in [ts_start_us, ts_end_us), exact (scale 18); 0 without spot "
            "trades; null without a spot instrument.",
            nullable=True,
        ),
        _c(
            "spot_trade_count",
            pl.Int64(),
            "Number of spot trades in the window; null without a spot instrument.",
            nullable=True,
        ),
        _c(
            "speculation_ratio",
            pl.Float64(),
            "perp_notional / spot_notional (a ratio, as Float64); null when the spot notional is null or 0, or "
            "the perpetual is inverse (its notional is not in the quote currency).",
            nullable=True,
        ),
        _c(
            "open_interest",
            EXACT,
            "Last non-null derivative_ticker open interest strictly before ts_end_us (this or the previous "
            "trading day); null when none.",
            nullable=True,
        ),
        _c(
            "open_interest_ts_us",
            pl.Int64(),
            "ts_local_us of the ticker row open_interest came from (staleness = ts_end_us - this).",
            nullable=True,
        ),
        _c(
            "funding_rate",
            RATE,
            "Last non-null derivative_ticker funding rate strictly before ts_end_us (same lookback).",
            nullable=True,
        ),
        _c("funding_rate_ts_us", pl.Int64(), "ts_local_us of the ticker row funding_rate came from.", nullable=True),
        _c(
            "mark_price",
            EXACT,
            "Last non-null derivative_ticker mark price strictly before ts_end_us (same lookback).",
            nullable=True,
        ),
        _c("mark_price_ts_us", pl.Int64(), "ts_local_us of the ticker row mark_price came from.", nullable=True),
        _c(
            "source_data_version",
            pl.String(),
            "Lineage: data version of the `bars` partition (bar_spec, date, exchange) the bar was read from; null "
            "when the Dagster instance never materialized it.",
            nullable=True,
            derived=True,
        ),
        _c(
            "spot_data_versions",
            pl.List(pl.String()),
            "Lineage: data versions of the spot trades partitions summed, one per date from the local date of "
            "ts_start_us to `date` (element null when never materialized by this instance); null without a spot "
            "instrument.",
            nullable=True,
            derived=True,
        ),
        _c(
            "ticker_data_versions",
            pl.List(pl.String()),
            "Lineage: data versions of the derivative_ticker partitions read, [date - 1, date] (element null when "
            "never materialized by this instance).",
            derived=True,
        ),
    ),
    partition_by=("date", "exchange"),
    sort_by=("symbol_id", "ts_end_us"),
    time_axis="ts_end_us",
    extra={"date_rule": "local date of ts_end_us - 1"},
)

OPTIONS_SURFACE_GRID = TableSpec(
    name="options_surface_grid",
    kind="gold",
    description=(
        "The options chain sampled on a fixed time grid (config/lake.toml [gold.options_grid] step, anchored "
        "at the Unix epoch): at each grid point of the exchange-local day, one row per live contract with its "
        "last options_chain row strictly before the point (this or the previous trading day), that row's own "
        "times kept so staleness is visible, optionally bounded by max_staleness. Sorted by grid point, so the "
        "whole surface at a time is one contiguous read. Overwritten per (date, exchange) (docs/gold-contract.md)."
    ),
    columns=(
        _c("date", pl.Date(), "Partition: exchange-local trading date of ts_grid_us.", derived=True),
        _c("exchange", pl.String(), "Partition: exchange name (a key of dim_exchange)."),
        _c(
            "ts_grid_us",
            pl.Int64(),
            "Grid point, UTC microseconds: a multiple of the step; the time axis. The row is what was known "
            "strictly before it.",
            derived=True,
        ),
        _c("symbol", pl.String(), "Exchange-native option symbol: the contract (rows are sampled per symbol)."),
        _c("symbol_id", pl.Int64(), "dim_symbol id of the sampled options_chain row."),
        _c("underlying_symbol_id", pl.Int64(), "options_chain.underlying_symbol_id of the row.", nullable=True),
        _c("underlying_index", pl.String(), "The venue's name of the option's underlying.", nullable=True),
        _c("option_type", pl.String(), "call or put."),
        _c("strike", EXACT, "Strike price, exact."),
        _c("expiry_us", pl.Int64(), "Expiration, UTC microseconds; after ts_grid_us (expired contracts drop out)."),
        _c(
            "ts_local_us",
            pl.Int64(),
            "Arrival time of the sampled row, < ts_grid_us; staleness = ts_grid_us - ts_local_us.",
        ),
        _c("ts_exch_us", pl.Int64(), "Exchange timestamp of the sampled row."),
        *(
            _c(c.name, c.dtype, c.description, nullable=True)
            for c in OPTIONS_CHAIN.columns
            if c.name
            in (
                "open_interest",
                "last_price",
                "bid_price",
                "bid_qty",
                "bid_iv",
                "ask_price",
                "ask_qty",
                "ask_iv",
                "mark_price",
                "mark_iv",
                "underlying_price",
                "delta",
                "gamma",
                "vega",
                "theta",
                "rho",
            )
        ),
        _c(
            "source_date",
            pl.Date(),
            "Lineage: the options_chain partition date the row came from (`date`, or `date` - 1 for the state "
            "carried over midnight).",
            derived=True,
        ),
        _c("file_id", pl.Int64(), "Lineage: file_id of the sampled options_chain row.", derived=True),
        _c("file_line", pl.Int64(), "Lineage: file_line of the sampled options_chain row."),
        _c(
            "source_data_version",
            pl.String(),
            "Lineage: data version of the options_chain partition (source_date, exchange); null when the Dagster "
            "instance never materialized it.",
            nullable=True,
            derived=True,
        ),
    ),
    partition_by=("date", "exchange"),
    sort_by=("ts_grid_us", "expiry_us", "strike", "option_type", "symbol"),
    time_axis="ts_grid_us",
)


QUARANTINE = TableSpec(
    name="quarantine",
    kind="control",
    description="Every Bronze row that did not reach Silver, with the rule it failed and its raw values.",
    columns=(
        _c("table_name", pl.String(), "Partition: the Silver table the row was meant for."),
        _c("date", pl.Date(), "Partition: trading date of the partition that read the row."),
        _c("exchange", pl.String(), "Partition: exchange of that partition."),
        _c("file_id", pl.Int64(), "Lineage: id of the Bronze file (see trades.file_id)."),
        _c("file_line", pl.Int64(), "Lineage: physical line of the row in the Bronze file."),
        _c("bronze_path", pl.String(), "Bronze file path relative to the Bronze root."),
        _c("reason", pl.String(), "Rule that failed (see docs/quarantine.md)."),
        _c("detail", pl.String(), "Human-readable explanation of the failure."),
        _c("symbol", pl.String(), "Symbol as delivered, when the row had one.", nullable=True),
        _c("ts_axis_us", pl.Int64(), "The row's time-axis value (e.g. ts_local_us) when it parsed.", nullable=True),
        _c("raw", pl.String(), "The row's raw vendor values as a JSON object of strings."),
    ),
    partition_by=("table_name", "date", "exchange"),
    sort_by=("file_id", "file_line"),
)

VALIDATION_LOG = TableSpec(
    name="validation_log",
    kind="control",
    description=(
        "Ingestion history: one row per (run, partition, Bronze file) with the file's row accounting. "
        "Append-only; dry runs record nothing."
    ),
    columns=(
        _c("table_name", pl.String(), "Partition: the table ingested."),
        _c("date", pl.Date(), "Partition: trading date of the ingested partition."),
        _c("exchange", pl.String(), "Exchange of the partition ('global' for tables not exchange-scoped)."),
        _c("run_id", pl.String(), "Dagster run id (or another caller's id) that ingested the partition."),
        _c("validated_at_us", pl.Int64(), "When the partition was written, UTC microseconds."),
        _c("bronze_path", pl.String(), "Bronze file path relative to the Bronze root."),
        _c("file_id", pl.Int64(), "Lineage id of the Bronze file."),
        _c("sha256", pl.String(), "Content hash of the Bronze file as ingested."),
        _c("rows_read", pl.Int64(), "Rows the file holds (for this partition's read)."),
        _c("rows_written", pl.Int64(), "Rows of the file written to this partition."),
        _c("rows_quarantined", pl.Int64(), "Rows of the file quarantined by this partition."),
        _c("rows_elsewhere", pl.Int64(), "Valid rows of the file that belong to a neighbouring partition."),
        _c("quarantined_by_reason", pl.String(), "JSON object {reason: rows}."),
        _c("quarantined_symbols", pl.String(), "JSON object {symbol: rows} of the file's quarantined rows."),
        _c("data_version", pl.String(), "Data version of the partition the run produced."),
    ),
    partition_by=("table_name", "date"),
    sort_by=("exchange", "validated_at_us", "bronze_path"),
)

DQ_SUMMARY = TableSpec(
    name="dq_summary",
    kind="control",
    description="Check history: one row per (run, partition, check) with its outcome. Append-only.",
    columns=(
        _c("table_name", pl.String(), "Partition: the table checked."),
        _c("date", pl.Date(), "Partition: trading date of the checked partition."),
        _c("exchange", pl.String(), "Exchange of the partition ('global' for tables not exchange-scoped)."),
        _c("run_id", pl.String(), "Dagster run id (or another caller's id)."),
        _c("checked_at_us", pl.Int64(), "When the check ran, UTC microseconds."),
        _c("check_name", pl.String(), "Check (see pointline/checks.py)."),
        _c("passed", pl.Boolean(), "Whether the check passed."),
        _c("severity", pl.String(), "error (blocking or failing) or warn (reported, data still right)."),
        _c("blocking", pl.Boolean(), "True when a failure keeps downstream assets from the partition."),
        _c("description", pl.String(), "The check's one-line outcome."),
        _c("metadata", pl.String(), "The check's metadata as a JSON object."),
        _c("rows_written", pl.Int64(), "Rows in the partition after the run."),
        _c("rows_quarantined", pl.Int64(), "Rows quarantined by the run."),
        _c("time_min_us", pl.Int64(), "Smallest time-axis value written.", nullable=True),
        _c("time_max_us", pl.Int64(), "Largest time-axis value written.", nullable=True),
    ),
    partition_by=("table_name", "date"),
    sort_by=("exchange", "checked_at_us", "check_name"),
)


LAKE_STATS = TableSpec(
    name="lake_stats",
    kind="control",
    description=(
        "Daily snapshot of the lake's size per table and partition, read from the Delta log "
        "(no data scan): rows, files, bytes and the time-axis range. One partition per snapshot_date."
    ),
    columns=(
        _c("snapshot_date", pl.Date(), "Partition: UTC date the snapshot was taken."),
        _c("table", pl.String(), "Lake table (a name of the schema registry)."),
        _c(
            "partition",
            pl.String(),
            "Hive-style partition key, e.g. date=2024-05-01/exchange=binance; empty for unpartitioned tables.",
        ),
        _c("date", pl.Date(), "The partition's date; null when the table is not partitioned by date.", nullable=True),
        _c(
            "exchange",
            pl.String(),
            "The partition's exchange; null when the table is not exchange-scoped.",
            nullable=True,
        ),
        _c("rows", pl.Int64(), "Rows (sum of numRecords); null when a file has no statistics.", nullable=True),
        _c("files", pl.Int64(), "Data files of the partition in the current version."),
        _c("bytes", pl.Int64(), "Bytes of those files."),
        _c(
            "time_min_us",
            pl.Int64(),
            "Smallest time-axis value (UTC microseconds); null without a time axis or statistics.",
            nullable=True,
        ),
        _c("time_max_us", pl.Int64(), "Largest time-axis value (UTC microseconds); null likewise.", nullable=True),
    ),
    partition_by=("snapshot_date",),
    sort_by=("table", "partition"),
)


DIM_EXCHANGE = TableSpec(
    name="dim_exchange",
    kind="dimension",
    description="Exchanges known to the lake, loaded from config/exchanges.csv.",
    columns=(
        _c("exchange", pl.String(), "Normalized exchange name (primary key)."),
        _c("exchange_id", pl.Int16(), "Stable small integer id."),
        _c("asset_class", pl.String(), "Hierarchical asset class, e.g. crypto-spot, crypto-derivatives, stocks-cn."),
        _c("timezone", pl.String(), "IANA timezone that defines the exchange's trading date."),
        _c(
            "calendar",
            pl.String(),
            "Trading calendar: an exchange_calendars name (XSHG, XNYS, CMES, ...) or 24/7 (every day open).",
        ),
        _c("is_active", pl.Boolean(), "False for legacy or defunct venues."),
        _c("description", pl.String(), "Free text.", nullable=True),
    ),
    sort_by=("exchange_id",),
)

DIM_SYMBOL = TableSpec(
    name="dim_symbol",
    kind="dimension",
    description="SCD Type 2 instrument master: one row per (exchange, exchange_symbol, validity window).",
    columns=(
        _c(
            "symbol_id",
            pl.Int64(),
            "blake2b-8 of 'exchange|exchange_symbol|valid_from_us' (docs/decisions/0002-symbol-id.md).",
        ),
        _c("exchange", pl.String(), "Natural key part 1: exchange name."),
        _c("exchange_symbol", pl.String(), "Natural key part 2: exchange-native symbol."),
        _c("valid_from_us", pl.Int64(), "Validity window start, inclusive, UTC microseconds."),
        _c("valid_until_us", pl.Int64(), "Validity window end, exclusive; 2^63-1 when open."),
        _c("is_current", pl.Boolean(), "True for the open (latest) version of a live instrument."),
        _c("instrument_type", pl.String(), "spot, perpetual, future, option, ...", nullable=True),
        _c("base_asset", pl.String(), "Base asset code.", nullable=True),
        _c("quote_asset", pl.String(), "Quote asset code.", nullable=True),
        _c("price_increment", EXACT, "Tick size, exact.", nullable=True),
        _c("amount_increment", EXACT, "Quantity step, exact.", nullable=True),
        _c("contract_multiplier", EXACT, "Contract multiplier (1 for spot).", nullable=True),
        _c("expiry_us", pl.Int64(), "Expiry for dated contracts, UTC microseconds.", nullable=True),
        _c(
            "underlying",
            pl.String(),
            "Exchange symbol of the underlying instrument (options, futures on a listed instrument).",
            nullable=True,
        ),
        _c("option_type", pl.String(), "Options: call or put.", nullable=True),
        _c("strike", EXACT, "Options: strike price, exact.", nullable=True),
        _c("settlement_type", pl.String(), "Derivatives: cash or physical.", nullable=True),
        _c("settlement_asset", pl.String(), "Asset the contract settles (and margins) in.", nullable=True),
        _c(
            "is_inverse",
            pl.Boolean(),
            "Crypto derivatives: true when quoted in the base asset (inverse).",
            nullable=True,
        ),
        _c("contract_month", pl.String(), "Futures: delivery month as YYYY-MM.", nullable=True),
        _c("isin", pl.String(), "Equities: ISIN.", nullable=True),
        _c("listing_exchange", pl.String(), "Equities: MIC of the primary listing venue.", nullable=True),
        _c(
            "canonical_symbol",
            pl.String(),
            "The vendor-neutral name researchers use when the feed's symbol is ambiguous across venues "
            "(e.g. a ts_code-style '000001.SZ'); null where the exchange symbol is already unique.",
            nullable=True,
        ),
        _c("source", pl.String(), "Where this version came from: a vendor name or 'override'."),
    ),
    sort_by=("exchange", "exchange_symbol", "valid_from_us"),
)

DIM_TRADING_CALENDAR = TableSpec(
    name="dim_trading_calendar",
    kind="dimension",
    description=(
        "One row per exchange and exchange-local calendar day: session type and session times from the "
        "exchange's calendar in dim_exchange (pointline/calendars.py). Days past a calendar's known "
        "holiday data have no row: a missing day is unknown, never assumed to trade."
    ),
    columns=(
        _c("exchange", pl.String(), "Exchange name (a key of dim_exchange)."),
        _c("date", pl.Date(), "Exchange-local calendar date (the session label for exchange_calendars)."),
        _c("calendar", pl.String(), "Calendar the row came from (dim_exchange.calendar)."),
        _c("session_type", pl.String(), "regular, early_close, holiday or weekend."),
        _c("is_trading_day", pl.Boolean(), "True for regular and early_close sessions."),
        _c(
            "open_us",
            pl.Int64(),
            "Session open, UTC microseconds (may fall on the previous local day for overnight "
            "sessions, e.g. CME Globex); local midnight for 24/7; null on non-trading days.",
            nullable=True,
        ),
        _c(
            "close_us",
            pl.Int64(),
            "Session close, UTC microseconds (earlier on early_close days); the next local midnight "
            "for 24/7; null on non-trading days.",
            nullable=True,
        ),
        _c("break_start_us", pl.Int64(), "Lunch break start, UTC microseconds; null without a break.", nullable=True),
        _c("break_end_us", pl.Int64(), "Lunch break end, UTC microseconds; null without a break.", nullable=True),
    ),
    sort_by=("exchange", "date"),
)

# Kline intervals registered by default; config/lake.toml decides which become assets.
DEFAULT_KLINE_INTERVALS = ("1h", "1d")

TABLES: dict[str, TableSpec] = {
    t.name: t
    for t in (
        TRADES,
        QUOTES,
        BOOK_SNAPSHOT_25,
        ORDERBOOK_UPDATES,
        DERIVATIVE_TICKER,
        LIQUIDATIONS,
        OPTIONS_CHAIN,
        L3_ORDERS,
        L3_TICKS,
        L2_SNAPSHOTS,
        *(kline_spec(i) for i in DEFAULT_KLINE_INTERVALS),
        DIM_ASSET_STATS,
        STOCK_BASIC_CN,
        DAILY_OHLCV,
        BARS,
        BAR_CARRY,
        REFLEXIVITY_BARS,
        OPTIONS_SURFACE_GRID,
        QUARANTINE,
        VALIDATION_LOG,
        DQ_SUMMARY,
        LAKE_STATS,
        DIM_EXCHANGE,
        DIM_SYMBOL,
        DIM_TRADING_CALENDAR,
    )
}


def get_table_spec(name: str) -> TableSpec:
    """The spec of a lake table; any `kline_<interval>` of KLINE_INTERVALS_US is a table too."""
    if name in TABLES:
        return TABLES[name]
    if name.startswith("kline_") and name.removeprefix("kline_") in KLINE_INTERVALS_US:
        return kline_spec(name.removeprefix("kline_"))
    raise KeyError(f"unknown table {name!r}; known: {sorted(TABLES)} and kline_<interval>")


def validate_frame(df: pl.DataFrame, spec: TableSpec) -> None:
    """Raise SchemaValidationError naming every missing, unexpected, mistyped or null-violating column."""
    problems: list[str] = []
    actual = df.schema
    for col in spec.columns:
        if col.name not in actual:
            problems.append(f"missing column {col.name!r} ({col.dtype})")
        elif actual[col.name] != col.dtype:
            problems.append(f"column {col.name!r} has type {actual[col.name]}, expected {col.dtype}")
    for name in actual:
        if name not in spec.names:
            problems.append(f"unexpected column {name!r}")
    if not problems:
        required = [c.name for c in spec.columns if not c.nullable]
        nulls = df.select(pl.col(required).null_count()).row(0) if required and df.height else ()
        for name, n in zip(required, nulls, strict=False):
            if n:
                problems.append(f"column {name!r} is not nullable but has {n} null(s)")
    if problems:
        raise SchemaValidationError(spec.name, problems)


def render_markdown() -> str:
    """docs/schemas.md, generated; `python -m pointline.schemas > docs/schemas.md` refreshes it."""
    lines = [
        "# Lake table schemas",
        "",
        "Generated from `pointline/schemas.py` by `make docs`; do not edit by hand (a test fails when stale).",
        "Exact numbers are `Decimal(38, 9)`: see `docs/decisions/0001-exact-numbers.md`.",
        "",
    ]
    for spec in TABLES.values():
        lines += [f"## `{spec.name}` ({spec.kind})", "", spec.description, ""]
        lines.append(f"- partitioned by: {', '.join(f'`{p}`' for p in spec.partition_by) or 'unpartitioned'}")
        lines.append(f"- row order (tie-break keys): {', '.join(f'`{k}`' for k in spec.sort_by) or '-'}")
        if spec.time_axis:
            lines.append(f"- time axis: `{spec.time_axis}`")
        lines += ["", "| column | type | nullable | source | description |", "|---|---|---|---|---|"]
        for c in spec.columns:
            src = "derived" if c.derived else "vendor"
            lines.append(f"| `{c.name}` | {c.dtype} | {'yes' if c.nullable else 'no'} | {src} | {c.description} |")
        lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    print(render_markdown(), end="")
