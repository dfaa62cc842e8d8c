"""Bronze -> Silver for one (table, trading date, exchange) partition. Pure: no Dagster, no writes.

`build_partition` takes the staged frames a vendor plugin parsed (text, verbatim) for every
Bronze file that may hold rows of the partition and returns the Silver rows, the quarantined
rows (each with the first rule it failed and its raw values) and per-file accounting in
which rows read = rows written + rows quarantined + rows that belong to a neighbouring
partition of the same file. Nothing is dropped silently.

Rule order (first failure wins, so every row has exactly one reason):
blank_line, missing_timestamp, not_an_integer:<col>, outside_file_window, exchange_mismatch,
missing_symbol, not_a_number:<col>, not_exact:<col>, then the table's own value rules,
then missing_pit_symbol. See docs/quarantine.md.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import polars as pl

from pointline.ids import file_id
from pointline.numbers import EXACT, integer, parse_exact
from pointline.pit import resolve_symbol_ids
from pointline.schemas import QUARANTINE, TableSpec
from pointline.trading_day import date_of_us, trading_date_expr
from vendors.base import BronzeFile

REASON = "_reason"
_US_PER_DAY = 86_400_000_000
_TS_COLS = ("ts_local_us", "ts_exch_us")


@dataclass
class FileAccount:
    """Row accounting of one Bronze file within one partition."""

    rel_path: str
    file_id: int
    rows_read: int
    rows_written: int = 0
    rows_quarantined: int = 0
    rows_elsewhere: int = 0  # valid rows whose trading date is another partition of this file
    quarantined_by_reason: dict[str, int] = field(default_factory=dict)


@dataclass
class PartitionBuild:
    silver: pl.DataFrame
    quarantine: pl.DataFrame
    files: list[FileAccount]

    @property
    def rows_read(self) -> int:
        return sum(f.rows_read for f in self.files)

    @property
    def quarantined_by_reason(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for f in self.files:
            for reason, n in f.quarantined_by_reason.items():
                out[reason] = out.get(reason, 0) + n
        return dict(sorted(out.items()))


# ---- table rules ---------------------------------------------------------------------
def _missing(col: str) -> pl.Expr:
    return pl.col(col).is_null()


def _trade_rules() -> list[tuple[pl.Expr, str]]:
    return [
        (~pl.col("side").is_in(["buy", "sell", "unknown"]) | _missing("side"), "invalid_side"),
        (_missing("price"), "missing_value:price"),
        (_missing("qty"), "missing_value:qty"),
        (pl.col("price") <= 0, "non_positive:price"),
        (pl.col("qty") <= 0, "non_positive:qty"),
    ]


def _quote_rules() -> list[tuple[pl.Expr, str]]:
    bid_px, bid_qty, ask_px, ask_qty = (pl.col(c) for c in ("bid_price", "bid_qty", "ask_price", "ask_qty"))
    return [
        (bid_px.is_null() & bid_qty.is_null() & ask_px.is_null() & ask_qty.is_null(), "empty_quote"),
        (bid_px.is_null() != bid_qty.is_null(), "incomplete_side:bid"),
        (ask_px.is_null() != ask_qty.is_null(), "incomplete_side:ask"),
        (bid_px <= 0, "non_positive:bid_price"),
        (ask_px <= 0, "non_positive:ask_price"),
        (bid_qty <= 0, "non_positive:bid_qty"),
        (ask_qty <= 0, "non_positive:ask_qty"),
        (bid_px > ask_px, "crossed_quote"),
    ]


TABLE_RULES: dict[str, Callable[[], list[tuple[pl.Expr, str]]]] = {
    "trades": _trade_rules,
    "quotes": _quote_rules,
}

REASON_TEXT = {
    "blank_line": "the line is empty",
    "missing_timestamp": "local_timestamp (arrival time, the time axis) is empty",
    "missing_exchange_timestamp": "the exchange timestamp is empty",
    "not_an_integer": "timestamp is not an integer number of microseconds",
    "outside_file_window": "arrival time lies outside the window the vendor cut this file by",
    "exchange_mismatch": "the row's exchange differs from the file's exchange",
    "missing_symbol": "the row has no symbol",
    "not_a_number": "value is not a decimal number",
    "not_exact": "value has more than 9 fractional digits (or 29 integer digits); it cannot be stored exactly",
    "invalid_side": "side is not one of buy, sell, unknown",
    "missing_value": "required value is empty",
    "non_positive": "value must be greater than zero",
    "empty_quote": "both bid and ask sides are empty",
    "incomplete_side": "a quote side has a price without a size or a size without a price",
    "crossed_quote": "best bid is above best ask",
    "missing_pit_symbol": "no dim_symbol version of (exchange, symbol) is valid at ts_local_us",
}


def _first_failure(rules: list[tuple[pl.Expr, str]]) -> pl.Expr:
    """The first rule that fails (null-safe: a null comparison is not a failure)."""
    return pl.coalesce([pl.when(cond.fill_null(False)).then(pl.lit(name)) for cond, name in rules])


# ---- the build -----------------------------------------------------------------------
def build_partition(
    spec: TableSpec,
    *,
    date: dt.date,
    exchange: str,
    timezone: str,
    staged: Iterable[tuple[BronzeFile, pl.DataFrame]],
    dim_symbol: pl.DataFrame,
) -> PartitionBuild:
    """Silver rows, quarantine rows and accounting of one partition from staged vendor frames."""
    silver_parts, quarantine_parts, accounts = [], [], []
    for file, frame in staged:
        home = date_of_us(file.window_start_us, timezone) == date
        typed = _coerce(frame, spec, file, exchange, timezone)
        # rows with no usable time belong to the file's home partition
        in_partition = pl.when(pl.col("_timeless")).then(pl.lit(home)).otherwise(pl.col("date") == pl.lit(date))
        mine = _filter_if_needed(typed, typed.select(in_partition).to_series())
        del typed
        account = FileAccount(file.rel_path, _file_id(file), rows_read=frame.height)
        account.rows_elsewhere = frame.height - mine.height
        mine = _apply_rules(mine, spec, dim_symbol)
        is_bad = mine.get_column(REASON).is_not_null()
        bad = mine.filter(is_bad)
        good = _filter_if_needed(spec.conform(mine), ~is_bad)  # only Silver columns are copied
        del mine
        account.rows_written, account.rows_quarantined = good.height, bad.height
        account.quarantined_by_reason = dict(sorted(bad.group_by(REASON).len().iter_rows())) if bad.height else {}
        accounts.append(account)
        silver_parts.append(good)
        quarantine_parts.append(_quarantine_rows(bad, spec, file, date, exchange))
    silver = pl.concat(silver_parts) if silver_parts else spec.empty()  # Lake.write_partition sorts it
    quarantine = pl.concat(quarantine_parts) if quarantine_parts else QUARANTINE.empty()
    return PartitionBuild(silver=silver, quarantine=quarantine, files=accounts)


def _filter_if_needed(frame: pl.DataFrame, keep: pl.Series) -> pl.DataFrame:
    """`frame.filter(keep)`, without copying every column when every row is kept (the usual case)."""
    return frame if keep.sum() == frame.height else frame.filter(keep)


def _file_id(file: BronzeFile) -> int:
    return file_id(file.rel_path)


def _coerce(frame: pl.DataFrame, spec: TableSpec, file: BronzeFile, exchange: str, timezone: str) -> pl.DataFrame:
    """Typed columns, the first *structural* failure (time, exchange, symbol, numbers) and the trading date.

    `_timeless` marks rows whose time cannot place them in a partition; they are
    quarantined by the file's home partition. Exact numbers are parsed first (once per
    distinct text, see numbers.parse_exact); the raw text is kept for quarantine.
    """
    text_cols = [c.name for c in spec.source_columns if c.name != "file_line"]
    exact_cols = [c.name for c in spec.source_columns if c.dtype == EXACT]
    raw = _empty_as_null(frame, text_cols)
    parsed = {c: parse_exact(raw.get_column(c)) for c in exact_cols}
    raw = raw.with_columns(
        pl.all_horizontal(pl.col(c).is_null() for c in text_cols).alias("_blank"),
        *[pl.col(c).alias(f"_raw_{c}") for c in (*exact_cols, *_TS_COLS)],
        *[value for value, _ in parsed.values()],
        *[problem.alias(f"_problem_{c}") for c, (_, problem) in parsed.items()],
        *[integer(c) for c in _TS_COLS],
    )
    ts_local = pl.col("ts_local_us")
    raw = raw.with_columns(ts_local.clip(file.window_start_us - _US_PER_DAY, file.window_end_us).alias("_ts_axis"))
    time_reason = pl.coalesce(
        pl.when(pl.col("_blank")).then(pl.lit("blank_line")),
        pl.when(pl.col("_raw_ts_local_us").is_null()).then(pl.lit("missing_timestamp")),
        _integer_problem("ts_local_us"),
        pl.when((ts_local < file.window_start_us) | (ts_local >= file.window_end_us)).then(
            pl.lit("outside_file_window")
        ),
    )
    reason = pl.coalesce(
        time_reason,
        pl.when(pl.col("_raw_ts_exch_us").is_null()).then(pl.lit("missing_exchange_timestamp")),
        _integer_problem("ts_exch_us"),
        pl.when(pl.col("exchange").ne_missing(exchange)).then(pl.lit("exchange_mismatch")),
        pl.when(pl.col("symbol").is_null()).then(pl.lit("missing_symbol")),
        *[pl.col(f"_problem_{c}") for c in exact_cols],
    )
    return raw.with_columns(
        reason.alias(REASON),
        time_reason.is_not_null().alias("_timeless"),
        pl.lit(_file_id(file), dtype=pl.Int64).alias("file_id"),
        # rows outside the file window are quarantined by their home partition whatever their date;
        # clipping keeps absurd timestamps away from the timezone conversion (it panics past ~2232)
        trading_date_expr("_ts_axis", timezone).alias("date"),
    ).drop([f"_problem_{c}" for c in exact_cols] + ["_ts_axis", "_blank"])


def _integer_problem(col: str) -> pl.Expr:
    """Raw text present but the Int64 cast failed (not an integer, or it overflows)."""
    return pl.when(pl.col(f"_raw_{col}").is_not_null() & pl.col(col).is_null()).then(pl.lit(f"not_an_integer:{col}"))


def _empty_as_null(frame: pl.DataFrame, cols: list[str]) -> pl.DataFrame:
    """Empty text means missing; only columns that hold an empty string are rewritten."""
    has_empty = frame.select((pl.col(c) == "").any() for c in cols).row(0)
    return frame.with_columns(pl.col(c).replace("", None) for c, empty in zip(cols, has_empty, strict=True) if empty)


def _apply_rules(rows: pl.DataFrame, spec: TableSpec, dim_symbol: pl.DataFrame) -> pl.DataFrame:
    """Table value rules, then point-in-time symbol resolution for rows still valid."""
    rules = TABLE_RULES[spec.name]()
    rows = rows.with_columns(pl.coalesce(pl.col(REASON), _first_failure(rules)).alias(REASON))
    ids = resolve_symbol_ids(rows.select("exchange", "symbol", "ts_local_us"), dim_symbol)
    rows = rows.with_columns(ids.alias("symbol_id"))
    missing = pl.col("symbol_id").is_null() & pl.col(REASON).is_null()
    return rows.with_columns(
        pl.when(missing).then(pl.lit("missing_pit_symbol")).otherwise(pl.col(REASON)).alias(REASON)
    )


def _quarantine_rows(
    bad: pl.DataFrame, spec: TableSpec, file: BronzeFile, date: dt.date, exchange: str
) -> pl.DataFrame:
    if bad.is_empty():
        return QUARANTINE.empty()
    raw_cols = [c.name for c in spec.source_columns if c.name != "file_line"]
    raw = pl.struct([pl.col(f"_raw_{c}").alias(c) if f"_raw_{c}" in bad.columns else pl.col(c) for c in raw_cols])
    rule = pl.col(REASON).str.split(":").list.first()
    detail_text = rule.replace_strict(REASON_TEXT, default="see reason", return_dtype=pl.String)
    column = pl.col(REASON).str.split(":").list.get(1, null_on_oob=True)
    detail = pl.when(column.is_not_null()).then(pl.format("{}: {}", column, detail_text)).otherwise(detail_text)
    return bad.select(
        pl.lit(spec.name).alias("table_name"),
        pl.lit(date).alias("date"),
        pl.lit(exchange).alias("exchange"),
        pl.lit(_file_id(file), dtype=pl.Int64).alias("file_id"),
        pl.col("file_line").cast(pl.Int64),
        pl.lit(file.rel_path).alias("bronze_path"),
        pl.col(REASON).alias("reason"),
        detail.alias("detail"),
        pl.col("symbol"),
        pl.col("ts_local_us"),
        raw.struct.json_encode().alias("raw"),
    ).cast(QUARANTINE.polars_schema)  # type: ignore[arg-type]
