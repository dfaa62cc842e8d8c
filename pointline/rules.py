"""Row rules of each Silver table: which typed rows are invalid, and why (first failure wins).

Structural rules every table shares (time, exchange, symbol, parsing, required values) live in
`pointline.ingest`; this module holds the value rules a table adds on top, keyed by the
table's name (or table family for `kline_<interval>`), and the reason texts shown in the
quarantine table. docs/quarantine.md lists them all.
"""

from __future__ import annotations

from collections.abc import Callable

import polars as pl

from pointline.schemas import BOOK_LEVELS, TableSpec

Rule = tuple[pl.Expr, str]


def _is_in(col: str, allowed: list[str], reason: str) -> Rule:
    return (~pl.col(col).is_in(allowed), reason)


def _positive(*cols: str) -> list[Rule]:
    """Null-safe: a null value is not a failure (required columns are checked before)."""
    return [(pl.col(c) <= 0, f"non_positive:{c}") for c in cols]


def _not_negative(*cols: str) -> list[Rule]:
    return [(pl.col(c) < 0, f"negative_value:{c}") for c in cols]


def _trade_rules() -> list[Rule]:
    return [_is_in("side", ["buy", "sell", "unknown"], "invalid_side"), *_positive("price", "qty")]


def _quote_rules() -> list[Rule]:
    bid_px, bid_qty, ask_px, ask_qty = (pl.col(c) for c in ("bid_price", "bid_qty", "ask_price", "ask_qty"))
    return [
        (bid_px.is_null() & bid_qty.is_null() & ask_px.is_null() & ask_qty.is_null(), "empty_quote"),
        (bid_px.is_null() != bid_qty.is_null(), "incomplete_side:bid"),
        (ask_px.is_null() != ask_qty.is_null(), "incomplete_side:ask"),
        *_positive("bid_price", "ask_price", "bid_qty", "ask_qty"),
        (bid_px > ask_px, "crossed_quote"),
    ]


def any_level(flat_condition: pl.Expr, pairs: bool = False) -> pl.Expr:
    """Per row: does the condition hold for any level (or adjacent pair of levels) of the fixed-length lists?

    The condition is written over the exploded level values (`_flat`), which is ~20x faster than
    `list.eval` per row; lists always hold exactly BOOK_LEVELS elements (parse_exact_list enforces it).
    """
    per_level = flat_condition.fill_null(False).reshape((-1, BOOK_LEVELS)).arr.to_list()
    return (per_level.list.head(BOOK_LEVELS - 1) if pairs else per_level).list.any()


def level_values(col: str) -> pl.Expr:
    return pl.col(col).explode()


def next_level(col: str) -> pl.Expr:
    """The next level's value (pairs only: the last level's `next` is the following row's first, cut off)."""
    return level_values(col).shift(-1)


def _book_rules() -> list[Rule]:
    rules: list[Rule] = [
        (~pl.col("depth").is_between(1, BOOK_LEVELS), "invalid_depth"),
        (pl.col("bid_prices").list.first().is_null() & pl.col("ask_prices").list.first().is_null(), "empty_book"),
    ]
    for side in ("bid", "ask"):
        px, qty = f"{side}_prices", f"{side}_qtys"
        rules += [
            (any_level(level_values(px).is_null() != level_values(qty).is_null()), f"incomplete_level:{side}"),
            # a present level after an empty one: levels must be contiguous from the best
            (any_level(level_values(px).is_null() & next_level(px).is_not_null(), pairs=True), f"level_gap:{side}"),
            (pl.col(px).list.min() <= 0, f"non_positive:{px}"),
            (pl.col(qty).list.min() < 0, f"negative_value:{qty}"),
        ]
    rules += [
        (any_level(level_values("bid_prices") <= next_level("bid_prices"), pairs=True), "unordered_levels:bid"),
        (any_level(level_values("ask_prices") >= next_level("ask_prices"), pairs=True), "unordered_levels:ask"),
        (pl.col("bid_prices").list.first() >= pl.col("ask_prices").list.first(), "crossed_book"),
    ]
    return rules


def _orderbook_update_rules() -> list[Rule]:
    return [_is_in("side", ["bid", "ask"], "invalid_side"), *_positive("price"), *_not_negative("qty")]


_TICKER_VALUES = ("last_price", "index_price", "mark_price", "open_interest", "funding_rate", "predicted_funding_rate")


def _derivative_ticker_rules() -> list[Rule]:
    return [
        (pl.all_horizontal(pl.col(c).is_null() for c in _TICKER_VALUES), "empty_ticker"),
        *_positive("last_price", "index_price", "mark_price", "funding_ts_us"),
        *_not_negative("open_interest"),
    ]


def _liquidation_rules() -> list[Rule]:
    return [_is_in("side", ["buy", "sell"], "invalid_side"), *_positive("price", "qty")]


def _options_rules() -> list[Rule]:
    return [
        _is_in("option_type", ["call", "put"], "invalid_option_type"),
        *_positive("strike", "expiry_us"),
        *_not_negative(
            "open_interest",
            "last_price",
            "bid_price",
            "bid_qty",
            "ask_price",
            "ask_qty",
            "mark_price",
            "underlying_price",
        ),
        (pl.col("bid_price").is_null() != pl.col("bid_qty").is_null(), "incomplete_side:bid"),
        (pl.col("ask_price").is_null() != pl.col("ask_qty").is_null(), "incomplete_side:ask"),
    ]


def _l3_common() -> list[Rule]:
    source = pl.col("source_symbol")
    return [
        (source.is_not_null() & (source != pl.col("symbol")), "symbol_mismatch"),
        *_positive("channel_seq"),
        *_not_negative("channel"),
    ]


def _l3_order_rules() -> list[Rule]:
    return [
        *_l3_common(),
        _is_in("event_kind", ["add", "cancel"], "invalid_event_kind"),
        _is_in("side", ["buy", "sell"], "invalid_side"),
        (
            pl.col("order_type").is_not_null() & ~pl.col("order_type").is_in(["market", "limit", "best_own"]),
            "invalid_order_type",
        ),
        *_positive("order_id", "qty"),
        *_not_negative("price"),
    ]


def _l3_tick_rules() -> list[Rule]:
    aggressor = pl.col("aggressor_side")
    return [
        *_l3_common(),
        _is_in("event_kind", ["fill", "cancel"], "invalid_event_kind"),
        (aggressor.is_not_null() & ~aggressor.is_in(["buy", "sell", "unknown"]), "invalid_side"),
        *_positive("qty"),
        *_not_negative("price", "bid_order_id", "ask_order_id"),
    ]


def _l2_snapshot_rules() -> list[Rule]:
    rules: list[Rule] = []
    for side in ("bid", "ask"):
        px, qty = f"{side}_price_levels", f"{side}_qty_levels"
        rules += [
            (
                (pl.col(px).list.drop_nulls().list.len() != pl.col(qty).list.drop_nulls().list.len()),
                f"incomplete_level:{side}",
            ),
            (pl.col(px).list.min() <= 0, f"non_positive:{px}"),
            (pl.col(qty).list.min() < 0, f"negative_value:{qty}"),
        ]
    return rules


def _kline_rules(interval_us: int) -> list[Rule]:
    o, h, low, c = (pl.col(x) for x in ("open", "high", "low", "close"))
    return [
        (pl.col("ts_close_us") - pl.col("ts_open_us") != interval_us, "wrong_bar_length"),
        *_positive("open", "high", "low", "close"),
        (h < low, "high_below_low"),
        ((h < pl.max_horizontal(o, c)) | (low > pl.min_horizontal(o, c)), "ohlc_inconsistent"),
        *_not_negative("volume", "quote_volume", "trade_count", "taker_buy_base_volume", "taker_buy_quote_volume"),
    ]


def _asset_stats_rules() -> list[Rule]:
    return _not_negative(
        "circulating_supply", "total_supply", "max_supply", "market_cap_usd", "fully_diluted_valuation_usd"
    ) + _positive("price_usd")


def _security_master_rules() -> list[Rule]:
    listed, delisted = pl.col("list_date"), pl.col("delist_date")
    return [
        (~pl.col("symbol").str.contains(r"^\d{6}$"), "invalid_symbol"),
        _is_in("list_status", ["L", "D", "P"], "invalid_list_status"),
        (delisted < listed, "delisted_before_listed"),
    ]


_TABLE_RULES: dict[str, Callable[[], list[Rule]]] = {
    "trades": _trade_rules,
    "quotes": _quote_rules,
    "book_snapshot_25": _book_rules,
    "orderbook_updates": _orderbook_update_rules,
    "derivative_ticker": _derivative_ticker_rules,
    "liquidations": _liquidation_rules,
    "options_chain": _options_rules,
    "l3_orders": _l3_order_rules,
    "l3_ticks": _l3_tick_rules,
    "l2_snapshots": _l2_snapshot_rules,
    "dim_asset_stats": _asset_stats_rules,
    "stock_basic_cn": _security_master_rules,
}


def rules_for(spec: TableSpec) -> list[Rule]:
    """The value rules of a table, in the order they are applied."""
    if spec.name.startswith("kline_"):
        return _kline_rules(int(spec.extra["interval_us"]))
    if spec.name not in _TABLE_RULES:
        raise KeyError(f"no row rules declared for table {spec.name!r} (pointline/rules.py)")
    return _TABLE_RULES[spec.name]()


def first_failure(rules: list[Rule]) -> pl.Expr:
    """The first rule that fails (null-safe: a null comparison is not a failure)."""
    if not rules:
        return pl.lit(None, dtype=pl.String)
    return pl.coalesce([pl.when(cond.fill_null(False)).then(pl.lit(name)) for cond, name in rules])


REASON_TEXT = {
    "blank_line": "the line is empty",
    "missing_timestamp": "the time-axis timestamp (e.g. local_timestamp, the arrival time) is empty",
    "not_an_integer": "timestamp or count is not an integer",
    "not_a_boolean": "value is not true or false",
    "not_a_date": "value is not a calendar date (YYYY-MM-DD)",
    "outside_file_window": "the time axis lies outside the window the vendor cut this file by",
    "exchange_mismatch": "the row's exchange differs from the file's exchange",
    "missing_symbol": "the row has no symbol",
    "not_a_number": "value is not a decimal number",
    "not_exact": "value has more fractional (or integer) digits than the column stores; it is not rounded",
    "missing_value": "required value is empty",
    "invalid_side": "side is not one of the table's allowed values (an unknown raw code is kept verbatim)",
    "invalid_option_type": "option type is not call or put",
    "invalid_symbol": "security code is not 6 digits",
    "invalid_list_status": "listing status is not L (listed), D (delisted) or P (paused)",
    "delisted_before_listed": "delisting date is before the listing date",
    "invalid_event_kind": "event kind (the vendor's raw code, kept verbatim when unknown) is not one of the table's",
    "invalid_order_type": "order type (the vendor's raw code, kept verbatim when unknown) is not one of the table's",
    "symbol_mismatch": "the symbol inside the row differs from the symbol of its file",
    "invalid_depth": "snapshot depth is not between 1 and 25",
    "non_positive": "value must be greater than zero",
    "negative_value": "value must not be negative",
    "empty_quote": "both bid and ask sides are empty",
    "empty_book": "the snapshot has no level on either side",
    "empty_ticker": "every ticker value is empty",
    "incomplete_side": "a quote side has a price without a size or a size without a price",
    "incomplete_level": "a book level has a price without a size or a size without a price",
    "level_gap": "a book level follows an empty level",
    "unordered_levels": "bid prices are not strictly descending or ask prices not strictly ascending",
    "crossed_quote": "best bid is above best ask",
    "crossed_book": "best bid is at or above best ask",
    "wrong_bar_length": "bar close minus open differs from the table's interval",
    "high_below_low": "bar high is below its low",
    "ohlc_inconsistent": "open or close lies outside the bar's high-low range",
    "missing_pit_symbol": "no dim_symbol version of (exchange, symbol) is valid at the row's time",
}
