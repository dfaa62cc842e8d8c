"""Data-quality checks of a stored partition, one registry for every table.

Checks read back what was written (not the in-memory frame), so they test the lake itself.
Each declares which tables it applies to and which stored columns it reads; the asset layer
turns the outcomes into Dagster asset-check results (blocking ones keep downstream assets
away from a bad partition).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field

import polars as pl

from pointline.lake import Lake
from pointline.pipeline import MISSING_SYMBOL, PartitionReport
from pointline.rules import any_level, level_values, next_level
from pointline.schemas import TABLES, TableSpec, get_table_spec, validate_frame
from pointline.trading_day import day_window_us


@dataclass
class CheckOutcome:
    passed: bool
    description: str
    metadata: dict[str, object]


@dataclass(frozen=True)
class CheckContext:
    """What a check may look at: the stored partition's columns, the ingest report, settings."""

    lake: Lake
    spec: TableSpec
    report: PartitionReport
    stored: pl.DataFrame
    max_quarantine_rate: float


@dataclass(frozen=True)
class CheckDefinition:
    description: str
    run: Callable[[CheckContext], CheckOutcome]
    applies: Callable[[TableSpec], bool] = lambda spec: True
    columns: Callable[[TableSpec], list[str]] = lambda spec: []
    blocking: bool = False  # a failure keeps downstream assets from reading the partition
    warn_only: bool = False  # reported as a warning: the data is right, something is missing
    extra: dict[str, str] = field(default_factory=dict)


def _sample(df: pl.DataFrame, n: int = 5) -> str:
    return json.dumps(df.head(n).to_dicts(), default=str)


def _row_id(spec: TableSpec) -> list[str]:
    """Columns that identify an offending row in a sample: symbol (if any), time, line."""
    return [c for c in ("symbol", spec.time_axis, "file_line") if c and c in spec.names]


# ---- the checks ------------------------------------------------------------------------
def _check_schema(ctx: CheckContext) -> CheckOutcome:
    """The stored table's schema (from the Delta log) against the registry."""
    try:
        validate_frame(pl.DataFrame(schema=ctx.lake.scan(ctx.spec.name).collect_schema()), ctx.spec)
        return CheckOutcome(True, "stored partition matches the schema registry", {"columns": len(ctx.spec.columns)})
    except ValueError as exc:
        return CheckOutcome(False, str(exc), {"problems": str(exc)})


def _check_unique_lineage(ctx: CheckContext) -> CheckOutcome:
    # Distinct lines per file against rows per file is exact and ~5x cheaper than hashing every
    # (file_id, file_line) pair; the row-level search only runs when there is a duplicate.
    stored = ctx.stored
    per_file = stored.group_by("file_id").agg(pl.col("file_line").n_unique().alias("lines"), pl.len().alias("rows"))
    if per_file.filter(pl.col("lines") < pl.col("rows")).is_empty():
        dupes = stored.clear()
    else:
        dupes = stored.filter(pl.struct("file_id", "file_line").is_duplicated())
    return CheckOutcome(
        dupes.is_empty(),
        f"{dupes.height} row(s) share a (file_id, file_line) lineage key",
        {"duplicate_rows": dupes.height, "sample": _sample(dupes.select("file_id", *_row_id(ctx.spec)))},
    )


def _check_quarantine_rate(ctx: CheckContext) -> CheckOutcome:
    """Rows failing data rules; symbols missing from dim_symbol are reported by symbol_coverage."""
    report, threshold = ctx.report, ctx.max_quarantine_rate
    reasons = {k: v for k, v in report.build.quarantined_by_reason.items() if k != MISSING_SYMBOL}
    return CheckOutcome(
        report.quarantine_rate <= threshold,
        f"{report.invalid_rows} invalid row(s): rate {report.quarantine_rate:.4%} (threshold {threshold:.2%})",
        {
            "quarantine_rate": report.quarantine_rate,
            "threshold": threshold,
            "rows_invalid": report.invalid_rows,
            "by_reason": json.dumps(reasons),
            "sample": _sample(report.build.quarantine.select("file_line", "bronze_path", "reason", "raw")),
        },
    )


def _check_symbol_coverage(ctx: CheckContext) -> CheckOutcome:
    """Symbols whose rows found no dim_symbol version: a reference-data gap, fixed by adding metadata."""
    missing = ctx.report.build.quarantine.filter(pl.col("reason") == MISSING_SYMBOL)
    by_symbol = dict(missing.group_by("symbol").len().sort("symbol").iter_rows()) if missing.height else {}
    return CheckOutcome(
        not by_symbol,
        f"{len(by_symbol)} symbol(s) without a valid dim_symbol version: {sorted(by_symbol)}"
        if by_symbol
        else "every row resolved to a symbol_id",
        {"unresolved_symbols": json.dumps(by_symbol), "rows": missing.height},
    )


def _check_within_day(ctx: CheckContext) -> CheckOutcome:
    report, axis = ctx.report, ctx.spec.time_axis
    start, end = day_window_us(report.date, report.timezone)
    outside = ctx.stored.filter((pl.col(axis) < start) | (pl.col(axis) >= end))
    return CheckOutcome(
        outside.is_empty(),
        f"{outside.height} row(s) with {axis} outside [{start}, {end})",
        {"rows_outside": outside.height, "sample": _sample(outside.select(_row_id(ctx.spec)))},
    )


def _check_not_crossed(ctx: CheckContext) -> CheckOutcome:
    crossed = ctx.stored.filter(pl.col("bid_price") > pl.col("ask_price"))
    return CheckOutcome(
        crossed.is_empty(),
        f"{crossed.height} crossed quote(s) (bid > ask)",
        {"crossed": crossed.height, "sample": _sample(crossed.select(*_row_id(ctx.spec), "bid_price", "ask_price"))},
    )


def _book_violations() -> dict[str, pl.Expr]:
    """Per stored snapshot: which book invariant it breaks (each a boolean column)."""
    bids, asks = "bid_prices", "ask_prices"
    return {
        "bids_not_descending": any_level(level_values(bids) <= next_level(bids), pairs=True),
        "asks_not_ascending": any_level(level_values(asks) >= next_level(asks), pairs=True),
        "crossed": pl.col(bids).list.first() >= pl.col(asks).list.first(),
        "negative_size": (pl.col("bid_qtys").list.min() < 0) | (pl.col("ask_qtys").list.min() < 0),
    }


def _check_book_levels(ctx: CheckContext) -> CheckOutcome:
    flags = ctx.stored.select(*_row_id(ctx.spec), **{k: v.fill_null(False) for k, v in _book_violations().items()})
    counts = {k: int(flags[k].sum()) for k in _book_violations()}
    bad = flags.filter(pl.any_horizontal(list(counts)))
    return CheckOutcome(
        bad.is_empty(),
        "book invariants hold" if bad.is_empty() else f"{bad.height} snapshot(s) break book invariants: {counts}",
        {**counts, "sample": _sample(bad)},
    )


def _expected_bars(spec: TableSpec, date_start: int, date_end: int) -> int:
    return (date_end - date_start) // int(spec.extra["interval_us"])


def _check_bars_per_day(ctx: CheckContext) -> CheckOutcome:
    """Bars per symbol against the interval's count for the day (a listing or an outage shows here)."""
    start, end = day_window_us(ctx.report.date, ctx.report.timezone)
    expected = _expected_bars(ctx.spec, start, end)
    per_symbol = ctx.stored.group_by("symbol").agg(pl.len().alias("bars")).sort("symbol")
    off = per_symbol.filter(pl.col("bars") != expected)
    return CheckOutcome(
        off.is_empty(),
        f"every symbol has {expected} bars"
        if off.is_empty()
        else f"{off.height} of {per_symbol.height} symbol(s) do not have {expected} bars: "
        + ", ".join(f"{s}={n}" for s, n in off.head(10).iter_rows()),
        {"expected_bars": expected, "bars_per_symbol": json.dumps(dict(per_symbol.iter_rows()))},
    )


def _sequence_siblings(spec: TableSpec) -> list[str]:
    """Tables sharing the spec's per-channel sequence space (TableSpec.extra['sequence_group'])."""
    group = spec.extra.get("sequence_group")
    return [name for name, t in TABLES.items() if group and t.extra.get("sequence_group") == group]


def _quarantined_sequence(quarantine: pl.DataFrame) -> pl.DataFrame:
    """(channel, channel_seq) of quarantined rows, from their raw values: they were delivered, not lost."""
    if quarantine.is_empty():
        return pl.DataFrame(schema={"channel": pl.Int64, "channel_seq": pl.Int64})
    return quarantine.select(
        pl.col("raw").str.json_path_match("$.channel").cast(pl.Int64, strict=False).alias("channel"),
        pl.col("raw").str.json_path_match("$.channel_seq").cast(pl.Int64, strict=False).alias("channel_seq"),
    ).drop_nulls()


def sequence_gaps(seqs: pl.DataFrame) -> dict[int, list[tuple[int, int]]]:
    """{channel: [(first missing, last missing), ...]} of (channel, channel_seq) rows."""
    out: dict[int, list[tuple[int, int]]] = {}
    ordered = seqs.unique().sort("channel", "channel_seq")
    gaps = ordered.with_columns(pl.col("channel_seq").shift(1).over("channel").alias("_prev")).filter(
        pl.col("channel_seq") - pl.col("_prev") > 1
    )
    for channel, seq, prev in gaps.select("channel", "channel_seq", "_prev").iter_rows():
        out.setdefault(channel, []).append((prev + 1, seq - 1))
    return out


def _check_sequence(ctx: CheckContext) -> CheckOutcome:
    """Per (exchange, channel, day): the channel's sequence numbers, over every stored table of the
    sequence group and their quarantined rows, have no holes. A hole is a run of lost messages."""
    report = ctx.report
    parts = [ctx.stored.select("channel", "channel_seq"), _quarantined_sequence(report.build.quarantine)]
    where = (pl.col("date") == report.date) & (pl.col("exchange") == report.exchange)
    checked = [ctx.spec.name]
    for other in _sequence_siblings(ctx.spec):
        if other == ctx.spec.name or not ctx.lake.exists(other):
            continue
        parts.append(ctx.lake.scan(other).filter(where).select("channel", "channel_seq").collect())
        checked.append(other)
    if ctx.lake.exists("quarantine"):
        q = ctx.lake.scan("quarantine").filter(where & pl.col("table_name").is_in(checked[1:])).select("raw")
        parts.append(_quarantined_sequence(q.collect()))
    gaps = sequence_gaps(pl.concat([p.cast({"channel": pl.Int64, "channel_seq": pl.Int64}) for p in parts]))
    missing = sum(end - start + 1 for ranges in gaps.values() for start, end in ranges)
    text = "; ".join(f"channel {c}: " + ", ".join(f"{a}-{b}" for a, b in r) for c, r in sorted(gaps.items()))
    return CheckOutcome(
        not gaps,
        f"{missing} sequence number(s) missing (lost messages) over {', '.join(checked)}: {text}"
        if gaps
        else f"channel sequences contiguous over {', '.join(checked)}",
        {"gaps": json.dumps({str(c): r for c, r in gaps.items()}), "missing": missing, "tables": ", ".join(checked)},
    )


def _check_tick_references(ctx: CheckContext) -> CheckOutcome:
    """Fills carry a price and both order references; cancels exactly one reference."""
    bid, ask = pl.col("bid_order_id") > 0, pl.col("ask_order_id") > 0
    kind = pl.col("event_kind")
    bad = ctx.stored.filter(
        ((kind == "fill") & ((pl.col("price") <= 0) | ~bid | ~ask)) | ((kind == "cancel") & (bid == ask))
    )
    return CheckOutcome(
        bad.is_empty(),
        "fills reference both orders with a price, cancels exactly one order"
        if bad.is_empty()
        else f"{bad.height} fill(s)/cancel(s) with inconsistent order references or price",
        {"rows": bad.height, "sample": _sample(bad)},
    )


def _has(*cols: str) -> Callable[[TableSpec], bool]:
    return lambda spec: all(c in spec.names for c in cols)


# The checks, in the order they are reported.
CHECKS: dict[str, CheckDefinition] = {
    "schema_conformance": CheckDefinition("Stored table schema equals the schema registry.", _check_schema),
    "unique_lineage": CheckDefinition(
        "No two rows share a (file_id, file_line) lineage key.",
        _check_unique_lineage,
        columns=lambda spec: ["file_id", *_row_id(spec)],
    ),
    "quarantine_rate": CheckDefinition(
        "Share of rows failing data rules is under the threshold in config/lake.toml.",
        _check_quarantine_rate,
        blocking=True,
    ),
    "symbol_coverage": CheckDefinition(
        "Every row resolved to a dim_symbol version (else: add instrument metadata, re-run).",
        _check_symbol_coverage,
        applies=_has("symbol_id"),
        warn_only=True,
    ),
    "within_trading_day": CheckDefinition(
        "Every row's time axis lies in the partition's exchange-local day.",
        _check_within_day,
        columns=_row_id,
    ),
    "no_crossed_quotes": CheckDefinition(
        "No stored quote has bid above ask.",
        _check_not_crossed,
        applies=lambda spec: spec.name == "quotes",
        columns=lambda spec: [*_row_id(spec), "bid_price", "ask_price"],
    ),
    "book_levels_ordered": CheckDefinition(
        "Bids strictly descending, asks strictly ascending, best bid below best ask, no negative sizes.",
        _check_book_levels,
        applies=_has("bid_prices", "ask_prices"),
        columns=lambda spec: [*_row_id(spec), "bid_prices", "bid_qtys", "ask_prices", "ask_qtys"],
    ),
    "bars_per_symbol_day": CheckDefinition(
        "Every symbol has the interval's number of bars for the day (reported per symbol).",
        _check_bars_per_day,
        applies=lambda spec: spec.name.startswith("kline_"),
        columns=lambda spec: ["symbol"],
        warn_only=True,
    ),
    "channel_sequence_contiguous": CheckDefinition(
        "Per channel and day, sequence numbers (shared by the tables of the sequence group, quarantined rows "
        "included) have no gaps; gaps are listed as ranges (lost messages).",
        _check_sequence,
        applies=lambda spec: "sequence_group" in spec.extra,
        columns=lambda spec: ["channel", "channel_seq"],
        warn_only=True,
    ),
    "tick_order_references": CheckDefinition(
        "Fills have a price and both order references; cancels reference exactly one order.",
        _check_tick_references,
        applies=_has("event_kind", "bid_order_id", "ask_order_id"),
        columns=lambda spec: [*_row_id(spec), "event_kind", "bid_order_id", "ask_order_id", "price"],
    ),
}


def checks_for(table: str) -> dict[str, CheckDefinition]:
    spec = get_table_spec(table)
    return {name: c for name, c in CHECKS.items() if c.applies(spec)}


def check_stored_partition(lake: Lake, report: PartitionReport, max_quarantine_rate: float) -> dict[str, CheckOutcome]:
    """Run every check of the table on the partition as stored."""
    spec = get_table_spec(report.table)
    wanted = checks_for(report.table)
    columns = sorted({c for check in wanted.values() for c in check.columns(spec)}, key=spec.names.index)
    where = pl.col("date") == report.date
    if report.exchange is not None:
        where &= pl.col("exchange") == report.exchange
    stored = lake.scan(report.table).filter(where).select(columns).collect()
    ctx = CheckContext(lake, spec, report, stored, max_quarantine_rate)
    return {name: check.run(ctx) for name, check in wanted.items()}
