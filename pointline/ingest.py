"""Bronze -> Silver for one (table, trading date, exchange) partition. Pure: no Dagster, no writes.

`build_partition` takes the staged frames a vendor plugin parsed (text, verbatim) for every
Bronze file that may hold rows of the partition and returns the Silver rows, the quarantined
rows (each with the first rule it failed and its raw values) and per-file accounting in
which rows read = rows written + rows quarantined + rows that belong to a neighbouring
partition of the same file. Nothing is dropped silently.

The core is table-agnostic: it converts each source column by its declared dtype (exact
decimals, decimal lists, integers, floats, booleans, text), derives the trading date from the
table's time axis and applies the table's value rules from `pointline.rules`.

Rule order (first failure wins, so every row has exactly one reason): blank_line,
missing_timestamp, not_an_integer:<axis>, outside_file_window, exchange_mismatch,
missing_symbol, parse problems in column order (not_an_integer / not_a_number / not_exact /
not_a_boolean :<col>), missing_value:<col> for required columns, the table's value rules,
then missing_pit_symbol. See docs/quarantine.md.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import polars as pl

from pointline.ids import file_id
from pointline.numbers import integer, parse_exact, parse_exact_list
from pointline.phases import trading_phase_expr
from pointline.pit import resolve_symbol_ids
from pointline.rules import REASON_TEXT, first_failure, rules_for
from pointline.schemas import QUARANTINE, ColumnSpec, TableSpec
from pointline.trading_day import date_of_us, trading_date_expr
from vendors.base import BronzeFile

REASON = "_reason"
_US_PER_DAY = 86_400_000_000
# Quarantine partition value of tables that are not exchange-scoped (e.g. dim_asset_stats).
NO_EXCHANGE = "global"


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


# ---- the build -----------------------------------------------------------------------
def build_partition(
    spec: TableSpec,
    *,
    date: dt.date,
    exchange: str | None,
    timezone: str,
    staged: Iterable[tuple[BronzeFile, pl.DataFrame]],
    dim_symbol: pl.DataFrame | None,
    phases: pl.DataFrame | None = None,
) -> PartitionBuild:
    """Silver rows, quarantine rows and accounting of one partition from staged vendor frames.

    `exchange` is None for tables that are not exchange-scoped; `dim_symbol` is None for
    tables without a symbol_id. `phases`: the exchange calendar's rows of
    config/trading_phases.csv, for tables with a derived `trading_phase` column.
    """
    silver_parts, quarantine_parts, accounts = [], [], []
    for batch in _batches(staged, spec):
        frame, origin = _with_origin(batch, spec, date, timezone)
        typed = _coerce(frame, spec, origin, exchange, timezone)
        del frame
        if "trading_phase" in spec.names:
            phase_rows = phases if phases is not None else pl.DataFrame()
            typed = typed.with_columns(trading_phase_expr(spec.time_axis, timezone, phase_rows).alias("trading_phase"))
        # rows with no usable time belong to their file's home partition
        in_partition = pl.when(pl.col("_timeless")).then(origin.home).otherwise(pl.col("date") == pl.lit(date))
        mine = _filter_if_needed(typed, typed.select(in_partition).to_series())
        del typed
        mine = _apply_rules(mine, spec, dim_symbol)
        is_bad = mine.get_column(REASON).is_not_null()
        bad = mine.filter(is_bad)
        counts = _batch_counts(mine.select(origin.file_id.alias("_file"), is_bad.alias("_bad")), bad, origin)
        good = _filter_if_needed(spec.conform(mine), ~is_bad)  # only Silver columns are copied
        del mine
        accounts += [_account(file, staged_rows.height, counts) for file, staged_rows in batch]
        silver_parts.append(good)
        quarantine_parts.append(_quarantine_rows(bad, spec, origin, date, exchange))
    silver = pl.concat(silver_parts) if silver_parts else spec.empty()  # Lake.write_partition sorts it
    quarantine = pl.concat(quarantine_parts) if quarantine_parts else QUARANTINE.empty()
    return PartitionBuild(silver=silver, quarantine=quarantine, files=accounts)


# ---- small files in batches --------------------------------------------------------------
# A day of one exchange comes as hundreds of per-symbol files, most of them small; each pass
# through the build costs ~25 ms of fixed work whatever its size (tens of polars calls, the PIT
# setup), so consecutive files with the same staged schema are built together up to this many
# rows. A bigger file is built alone, as it comes (no copy). Per-file accounting is unchanged.
BATCH_ROWS = 250_000


@dataclass(frozen=True)
class _Origin:
    """Where the rows being built come from, as expressions: literals for one file, the per-row
    columns `_origin_*` for a batch of several."""

    file_id: pl.Expr
    rel_path: pl.Expr
    window_start_us: pl.Expr
    window_end_us: pl.Expr
    home: pl.Expr  # the file's cut window starts on the partition's day


def _batches(
    staged: Iterable[tuple[BronzeFile, pl.DataFrame]], spec: TableSpec
) -> Iterator[list[tuple[BronzeFile, pl.DataFrame]]]:
    """Consecutive staged frames grouped while they share a schema and stay under BATCH_ROWS rows.

    A batch that reaches BATCH_ROWS goes at once, before the next file is read: a run of big
    files is still built one file at a time, as it is read.
    """
    batch: list[tuple[BronzeFile, pl.DataFrame]] = []
    rows = 0
    for file, frame in staged:
        frame = _complete(frame, spec, file)
        if batch and (rows + frame.height > BATCH_ROWS or frame.schema != batch[0][1].schema):
            yield batch
            batch, rows = [], 0
        batch.append((file, frame))
        rows += frame.height
        if rows >= BATCH_ROWS:
            yield batch
            batch, rows = [], 0
    if batch:
        yield batch


def _with_origin(
    batch: list[tuple[BronzeFile, pl.DataFrame]], spec: TableSpec, date: dt.date, timezone: str
) -> tuple[pl.DataFrame, _Origin]:
    """The batch as one frame and where its rows come from."""

    def home(file: BronzeFile) -> bool:
        return date_of_us(file.window_start_us, timezone) == date

    if len(batch) == 1:
        file, frame = batch[0]
        return frame, _Origin(
            pl.lit(_file_id(file), dtype=pl.Int64),
            pl.lit(file.rel_path, dtype=pl.String),
            pl.lit(file.window_start_us, dtype=pl.Int64),
            pl.lit(file.window_end_us, dtype=pl.Int64),
            pl.lit(home(file)),
        )
    frame = pl.concat(
        [
            f.with_columns(
                pl.lit(_file_id(file), dtype=pl.Int64).alias("_origin_file_id"),
                pl.lit(file.rel_path, dtype=pl.String).alias("_origin_rel_path"),
                pl.lit(file.window_start_us, dtype=pl.Int64).alias("_origin_window_start_us"),
                pl.lit(file.window_end_us, dtype=pl.Int64).alias("_origin_window_end_us"),
                pl.lit(home(file)).alias("_origin_home"),
            )
            for file, f in batch
        ],
        rechunk=True,
    )
    return frame, _Origin(*(pl.col(f"_origin_{k}") for k in _Origin.__dataclass_fields__))


def _batch_counts(flags: pl.DataFrame, bad: pl.DataFrame, origin: _Origin) -> dict[int, dict]:
    """Per file id: rows in the partition, rows quarantined, and quarantined rows by reason."""
    per_file = flags.group_by("_file").agg(pl.len().alias("mine"), pl.col("_bad").sum().alias("bad"))
    counts = {f: {"mine": m, "bad": b, "reasons": {}} for f, m, b in per_file.iter_rows()}
    if bad.height:
        by_reason = bad.select(origin.file_id.alias("_file"), REASON).group_by("_file", REASON).len()
        for f, reason, n in by_reason.sort("_file", REASON).iter_rows():
            counts[f]["reasons"][reason] = n
    return counts


def _account(file: BronzeFile, rows_read: int, counts: dict[int, dict]) -> FileAccount:
    """A file's accounting: read = written + quarantined + rows that belong to another partition."""
    fid = _file_id(file)
    mine = counts.get(fid, {"mine": 0, "bad": 0, "reasons": {}})
    account = FileAccount(file.rel_path, fid, rows_read=rows_read)
    account.rows_elsewhere = rows_read - mine["mine"]
    account.rows_quarantined = mine["bad"]
    account.rows_written = mine["mine"] - mine["bad"]
    account.quarantined_by_reason = dict(sorted(mine["reasons"].items()))
    return account


def _filter_if_needed(frame: pl.DataFrame, keep: pl.Series) -> pl.DataFrame:
    """`frame.filter(keep)`, without copying every column when every row is kept (the usual case)."""
    return frame if keep.sum() == frame.height else frame.filter(keep)


def _file_id(file: BronzeFile) -> int:
    return file_id(file.rel_path)


def _coerce(frame: pl.DataFrame, spec: TableSpec, origin: _Origin, exchange: str | None, timezone: str) -> pl.DataFrame:
    """Typed columns, the first *structural* failure (time, exchange, symbol, parsing, required values)
    and the trading date.

    `_timeless` marks rows whose time cannot place them in a partition; they are quarantined
    by the file's home partition. Every converted column keeps its raw text as `_raw_<col>`
    for the quarantine table.
    """
    axis = spec.time_axis
    assert axis is not None, f"{spec.name} has no time axis"
    sources = [c for c in spec.source_columns if c.name != "file_line"]
    scalar_text = [c.name for c in sources if c.length is None]
    raw = _empty_as_null(frame, scalar_text)
    converted = _convert_all(raw, [c for c in sources if c.dtype != pl.String])
    raw = raw.with_columns(
        pl.all_horizontal(pl.col(c).is_null() for c in scalar_text).alias("_blank"),
        *[pl.col(c).alias(f"_raw_{c}") for c in converted],
        *[value for value, _ in converted.values()],
        *[problem.alias(f"_problem_{c}") for c, (_, problem) in converted.items()],
    )
    ts = pl.col(axis)
    start, end = origin.window_start_us, origin.window_end_us
    raw = raw.with_columns(ts.clip(start - _US_PER_DAY, end).alias("_ts_axis"))
    time_reason = pl.coalesce(
        pl.when(pl.col("_blank")).then(pl.lit("blank_line")),
        pl.when(pl.col(f"_raw_{axis}").is_null()).then(pl.lit("missing_timestamp")),
        pl.col(f"_problem_{axis}"),
        pl.when((ts < start) | (ts >= end)).then(pl.lit("outside_file_window")),
    )
    structural = [time_reason]
    if exchange is not None and "exchange" in spec.names:
        structural.append(pl.when(pl.col("exchange").ne_missing(exchange)).then(pl.lit("exchange_mismatch")))
    if "symbol" in spec.names:
        structural.append(pl.when(pl.col("symbol").is_null()).then(pl.lit("missing_symbol")))
    structural += [pl.col(f"_problem_{c}") for c in converted if c != axis]
    structural += [
        pl.when(pl.col(c.name).is_null()).then(pl.lit(f"missing_value:{c.name}"))
        for c in sources
        if not c.nullable and c.length is None and c.name not in (axis, "exchange", "symbol")
    ]
    return raw.with_columns(
        pl.coalesce(structural).alias(REASON),
        time_reason.is_not_null().alias("_timeless"),
        origin.file_id.alias("file_id"),
        # rows outside the file window are quarantined by their home partition whatever their date;
        # clipping keeps absurd timestamps away from the timezone conversion (it panics past ~2232)
        trading_date_expr("_ts_axis", timezone).alias("date"),
    ).drop([f"_problem_{c}" for c in converted] + ["_ts_axis", "_blank"])


def _complete(frame: pl.DataFrame, spec: TableSpec, file: BronzeFile) -> pl.DataFrame:
    """Add the nullable source columns a vendor does not supply (as null); a missing required one is a bug."""
    missing = [c for c in spec.source_columns if c.name not in frame.columns]
    required = [c.name for c in missing if not c.nullable]
    if required:
        raise ValueError(f"{file.vendor} plugin staged {file.rel_path} without required column(s) {required}")
    return frame.with_columns(pl.lit(None, dtype=pl.String).alias(c.name) for c in missing)


def _convert_all(raw: pl.DataFrame, cols: list[ColumnSpec]) -> dict[str, tuple[pl.Series, pl.Series]]:
    """`_convert` of every column, several at a time.

    A conversion is a chain of polars calls (distinct values, parse, hash lookup, gather),
    most of which run on one core with the GIL released: two columns in flight keep both
    cores busy. Each column's result is what `_convert` alone gives; the order is kept.
    """
    workers = min(len(cols), pl.thread_pool_size())
    if workers <= 1:
        return {c.name: _convert(raw.get_column(c.name), c) for c in cols}
    with ThreadPoolExecutor(max_workers=workers) as pool:
        results = list(pool.map(lambda c: _convert(raw.get_column(c.name), c), cols))
    return {c.name: result for c, result in zip(cols, results, strict=True)}


def _convert(text: pl.Series, col: ColumnSpec) -> tuple[pl.Series, pl.Series]:
    """(typed values, problem reason or null) of one staged text column, by its declared dtype."""
    name, dtype = col.name, col.dtype
    if isinstance(dtype, pl.List):
        return parse_exact_list(text, col.length or 0, dtype.inner)  # type: ignore[arg-type]
    if isinstance(dtype, pl.Decimal):
        return parse_exact(text, dtype)
    frame = text.to_frame()
    if dtype == pl.Int64:
        value = frame.select(integer(name)).to_series()
        reason = f"not_an_integer:{name}"
    elif dtype == pl.Float64:
        value = text.cast(pl.Float64, strict=False)
        reason = f"not_a_number:{name}"
    elif dtype == pl.Boolean:
        value = text.str.to_lowercase().replace_strict({"true": True, "false": False}, default=None)
        reason = f"not_a_boolean:{name}"
    elif dtype == pl.Date:  # vendors convert their date notation to ISO YYYY-MM-DD text
        value = text.str.to_date("%Y-%m-%d", strict=False)
        reason = f"not_a_date:{name}"
    else:
        raise TypeError(f"column {name}: no conversion from vendor text to {dtype}")
    problem = pl.select(
        pl.when(pl.lit(text).is_not_null() & pl.lit(value).is_null()).then(pl.lit(reason)).otherwise(None)
    ).to_series()
    return value.alias(name), problem.alias(name)


def _empty_as_null(frame: pl.DataFrame, cols: list[str]) -> pl.DataFrame:
    """Empty text means missing; only columns that hold an empty string are rewritten."""
    has_empty = frame.select((pl.col(c) == "").any() for c in cols).row(0)
    return frame.with_columns(pl.col(c).replace("", None) for c, empty in zip(cols, has_empty, strict=True) if empty)


def _apply_rules(rows: pl.DataFrame, spec: TableSpec, dim_symbol: pl.DataFrame | None) -> pl.DataFrame:
    """Table value rules, then point-in-time symbol resolution for rows still valid."""
    rows = rows.with_columns(pl.coalesce(pl.col(REASON), first_failure(rules_for(spec))).alias(REASON))
    if "symbol_id" not in spec.names:
        return rows
    assert dim_symbol is not None, f"{spec.name} resolves symbols but no dim_symbol was given"
    axis = spec.time_axis
    ids = resolve_symbol_ids(rows.select("exchange", "symbol", axis), dim_symbol, ts_col=axis)
    rows = rows.with_columns(ids.alias("symbol_id"))
    missing = pl.col("symbol_id").is_null() & pl.col(REASON).is_null()
    rows = rows.with_columns(
        pl.when(missing).then(pl.lit("missing_pit_symbol")).otherwise(pl.col(REASON)).alias(REASON)
    )
    if "underlying_symbol_id" in spec.names:
        rows = rows.with_columns(_underlying_ids(rows, dim_symbol, axis).alias("underlying_symbol_id"))
    return rows


def _underlying_ids(rows: pl.DataFrame, dim_symbol: pl.DataFrame, axis: str) -> pl.Series:
    """The underlying's symbol_id at the row's time: dim_symbol.underlying of the option's version
    when that resolves, else the row's own underlying_index; null when neither names an instrument
    of the exchange (an index, a synthetic future)."""
    declared = dim_symbol.select("symbol_id", pl.col("underlying").alias("_declared"))
    keys = rows.select("symbol_id", "exchange", "underlying_index", axis).join(
        declared, on="symbol_id", how="left", maintain_order="left"
    )

    def resolve(symbol: str) -> pl.Series:
        lookup = keys.select("exchange", pl.col(symbol).alias("symbol"), axis)
        return resolve_symbol_ids(lookup, dim_symbol, ts_col=axis)

    return resolve("_declared").fill_null(resolve("underlying_index")).alias("underlying_symbol_id")


def _quarantine_rows(
    bad: pl.DataFrame, spec: TableSpec, origin: _Origin, date: dt.date, exchange: str | None
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
        pl.lit(exchange or NO_EXCHANGE).alias("exchange"),
        origin.file_id.alias("file_id"),
        pl.col("file_line").cast(pl.Int64),
        origin.rel_path.alias("bronze_path"),
        pl.col(REASON).alias("reason"),
        detail.alias("detail"),
        pl.col("symbol") if "symbol" in spec.names else pl.lit(None, dtype=pl.String).alias("symbol"),
        pl.col(spec.time_axis).alias("ts_axis_us"),
        raw.struct.json_encode().alias("raw"),
    ).cast(QUARANTINE.polars_schema)  # type: ignore[arg-type]
