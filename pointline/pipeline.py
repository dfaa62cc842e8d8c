"""Ingest one Silver partition end to end: find its Bronze files, build, write, check.

Dagster-free so that tests, benchmarks and a future dry run drive exactly the code the
assets run. The asset in `pointline_assets.events` is a thin wrapper around
`ingest_partition`.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from pointline.ingest import PartitionBuild, build_partition
from pointline.lake import Lake
from pointline.schemas import TableSpec, get_table_spec, validate_frame
from pointline.trading_day import dates_overlapping, day_window_us
from vendors.base import BronzeFile, VendorPlugin

MISSING_SYMBOL = "missing_pit_symbol"


class PartitionInputError(ValueError):
    """The partition cannot be ingested as asked (unknown exchange, missing dimension, ...)."""


@dataclass(frozen=True)
class FileFingerprint:
    rel_path: str
    size: int
    sha256: str


@dataclass
class PartitionReport:
    table: str
    date: dt.date
    exchange: str
    timezone: str
    files: list[FileFingerprint]
    build: PartitionBuild
    data_version: str
    delta_version: int | None

    @property
    def rows_written(self) -> int:
        return self.build.silver.height

    @property
    def rows_quarantined(self) -> int:
        return self.build.quarantine.height

    @property
    def invalid_rows(self) -> int:
        """Quarantined rows that failed a data rule (not the reference-data gap missing_pit_symbol)."""
        return self.rows_quarantined - self.build.quarantined_by_reason.get(MISSING_SYMBOL, 0)

    @property
    def quarantine_rate(self) -> float:
        total = self.rows_written + self.rows_quarantined
        return self.invalid_rows / total if total else 0.0


@dataclass(frozen=True)
class CheckDefinition:
    description: str
    blocking: bool = False  # a failure keeps downstream assets from reading the partition
    warn_only: bool = False  # reported as a warning: the data is right, something is missing
    tables: tuple[str, ...] | None = None  # None: every event table


# The checks every event partition gets, in the order they are reported.
CHECKS: dict[str, CheckDefinition] = {
    "schema_conformance": CheckDefinition("Stored table schema equals the schema registry."),
    "unique_lineage": CheckDefinition("No two rows share a (file_id, file_line) lineage key."),
    "quarantine_rate": CheckDefinition(
        "Share of rows failing data rules is under the threshold in config/lake.toml.", blocking=True
    ),
    "symbol_coverage": CheckDefinition(
        "Every row resolved to a dim_symbol version (else: add instrument metadata, re-run).", warn_only=True
    ),
    "within_trading_day": CheckDefinition("Every row's time axis lies in the partition's exchange-local day."),
    "no_crossed_quotes": CheckDefinition("No stored quote has bid above ask.", tables=("quotes",)),
}


def checks_for(table: str) -> dict[str, CheckDefinition]:
    return {name: c for name, c in CHECKS.items() if c.tables is None or table in c.tables}


@dataclass
class CheckOutcome:
    passed: bool
    description: str
    metadata: dict[str, object]


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def exchange_row(lake: Lake, exchange: str) -> pl.DataFrame:
    """The exchange's dim_exchange row (the table, not the config file: one truth)."""
    if not lake.exists("dim_exchange"):
        raise PartitionInputError("dim_exchange is not materialized yet; materialize the dim_exchange asset first")
    row = lake.read("dim_exchange", pl.col("exchange") == exchange)
    if row.is_empty():
        raise PartitionInputError(
            f"unknown exchange {exchange!r}: not in dim_exchange (add a row to config/exchanges.csv "
            "and materialize dim_exchange)"
        )
    return row


def candidate_files(
    sources: list[tuple[VendorPlugin, str]], bronze_root: Path, date: dt.date, exchange: str, timezone: str
) -> list[tuple[VendorPlugin, BronzeFile]]:
    """Bronze files that may hold rows of (date, exchange): their cut window touches the local day."""
    out = []
    for plugin, data_type in sources:
        for f in plugin.discover(bronze_root):
            ours = f.data_type == data_type and f.exchange == exchange
            if ours and date in dates_overlapping(f.window_start_us, f.window_end_us, timezone):
                out.append((plugin, f))
    return sorted(out, key=lambda pf: pf[1].rel_path)


def _refuse_duplicate_files(files: list[tuple[VendorPlugin, BronzeFile]]) -> None:
    """The same dataset delivered twice (e.g. a Hive-layout copy and an SDK-named copy) would double rows."""
    seen: dict[tuple, str] = {}
    for plugin, f in files:
        key = (plugin.name, f.data_type, f.exchange, f.date, f.symbol)
        if key in seen:
            raise PartitionInputError(
                f"{f.rel_path} and {seen[key]} are the same dataset ({f.data_type} {f.exchange} {f.date} {f.symbol}); "
                "keep one of them in Bronze"
            )
        seen[key] = f.rel_path


def compute_data_version(code_version: str, table: str, files: list[FileFingerprint], dims: list[pl.DataFrame]) -> str:
    """Changes exactly when the Bronze inputs, the relevant dimension rows or the code version change."""
    digest = hashlib.sha256(f"{code_version}|{table}".encode())
    for f in sorted(files, key=lambda f: f.rel_path):
        digest.update(f"|{f.rel_path}|{f.sha256}".encode())
    for dim in dims:
        digest.update(dim.write_csv().encode())
    return digest.hexdigest()[:32]


def ingest_partition(
    lake: Lake,
    sources: list[tuple[VendorPlugin, str]],
    bronze_root: Path,
    table: str,
    date: dt.date,
    exchange: str,
    *,
    code_version: str,
) -> PartitionReport:
    """Build and write one partition of `table` and its quarantine; all or nothing."""
    spec = get_table_spec(table)
    exchange_info = exchange_row(lake, exchange)
    timezone = exchange_info["timezone"][0]
    if not lake.exists("dim_symbol"):
        raise PartitionInputError("dim_symbol is not materialized yet; materialize the dim_symbol asset first")
    dim_symbol = lake.read("dim_symbol", pl.col("exchange") == exchange)
    files = candidate_files(sources, bronze_root, date, exchange, timezone)
    _refuse_duplicate_files(files)
    values = {"date": date, "exchange": exchange}
    if not files and _partition_has_rows(lake, table, values):
        raise PartitionInputError(
            f"{table} {date}|{exchange}: no Bronze files found under {bronze_root} but the partition holds rows; "
            "refusing to empty it (is the Bronze root right?)"
        )
    fingerprints = [FileFingerprint(f.rel_path, f.size, sha256_file(f.path)) for _, f in files]
    # Read lazily, one file at a time: a file's staged frame is freed once it is built.
    staged = ((f, plugin.read_events(f, table)) for plugin, f in files)
    build = build_partition(spec, date=date, exchange=exchange, timezone=timezone, staged=staged, dim_symbol=dim_symbol)
    del staged
    version = compute_data_version(code_version, table, fingerprints, [dim_symbol, exchange_info])
    with lake.transaction():
        lake.write_partition("quarantine", build.quarantine, {"table_name": table, **values})
        delta_version = lake.write_partition(table, build.silver, values)
    return PartitionReport(table, date, exchange, timezone, fingerprints, build, version, delta_version)


def _partition_has_rows(lake: Lake, table: str, values: dict) -> bool:
    if not lake.exists(table):
        return False
    where = pl.all_horizontal([pl.col(k) == pl.lit(v) for k, v in values.items()])
    return lake.scan(table).filter(where).select(pl.len()).collect().item() > 0


# ---- checks on the stored partition --------------------------------------------------
def _sample(df: pl.DataFrame, n: int = 5) -> str:
    return json.dumps(df.head(n).to_dicts(), default=str)


def check_stored_partition(lake: Lake, report: PartitionReport, max_quarantine_rate: float) -> dict[str, CheckOutcome]:
    """Checks read back what was written (not the in-memory frame), so they test the lake itself."""
    spec = get_table_spec(report.table)
    where = (pl.col("date") == report.date) & (pl.col("exchange") == report.exchange)
    axis = spec.time_axis or "ts_local_us"
    wanted = checks_for(report.table)
    columns = ["file_id", "file_line", "symbol", axis]
    if "no_crossed_quotes" in wanted:
        columns += ["bid_price", "ask_price"]
    stored = lake.scan(report.table).filter(where).select(columns).collect()
    run = {
        "schema_conformance": lambda: _check_schema(lake, spec),
        "unique_lineage": lambda: _check_unique_lineage(stored),
        "quarantine_rate": lambda: _check_quarantine_rate(report, max_quarantine_rate),
        "symbol_coverage": lambda: _check_symbol_coverage(report),
        "within_trading_day": lambda: _check_within_day(stored, spec, report.date, report.timezone),
        "no_crossed_quotes": lambda: _check_not_crossed(stored),
    }
    return {name: run[name]() for name in wanted}


def _check_schema(lake: Lake, spec: TableSpec) -> CheckOutcome:
    """The stored table's schema (from the Delta log) against the registry."""
    try:
        validate_frame(pl.DataFrame(schema=lake.scan(spec.name).collect_schema()), spec)
        return CheckOutcome(True, "stored partition matches the schema registry", {"columns": len(spec.columns)})
    except ValueError as exc:
        return CheckOutcome(False, str(exc), {"problems": str(exc)})


def _check_unique_lineage(stored: pl.DataFrame) -> CheckOutcome:
    # Distinct lines per file against rows per file is exact and ~5x cheaper than hashing every
    # (file_id, file_line) pair; the row-level search only runs when there is a duplicate.
    per_file = stored.group_by("file_id").agg(pl.col("file_line").n_unique().alias("lines"), pl.len().alias("rows"))
    if per_file.filter(pl.col("lines") < pl.col("rows")).is_empty():
        dupes = stored.clear()
    else:
        dupes = stored.filter(pl.struct("file_id", "file_line").is_duplicated())
    return CheckOutcome(
        dupes.is_empty(),
        f"{dupes.height} row(s) share a (file_id, file_line) lineage key",
        {"duplicate_rows": dupes.height, "sample": _sample(dupes.select("file_id", "file_line", "symbol"))},
    )


def _check_quarantine_rate(report: PartitionReport, threshold: float) -> CheckOutcome:
    """Rows failing data rules; symbols missing from dim_symbol are reported by symbol_coverage."""
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


def _check_symbol_coverage(report: PartitionReport) -> CheckOutcome:
    """Symbols whose rows found no dim_symbol version: a reference-data gap, fixed by adding metadata."""
    missing = report.build.quarantine.filter(pl.col("reason") == MISSING_SYMBOL)
    by_symbol = dict(missing.group_by("symbol").len().sort("symbol").iter_rows()) if missing.height else {}
    return CheckOutcome(
        not by_symbol,
        f"{len(by_symbol)} symbol(s) without a valid dim_symbol version: {sorted(by_symbol)}"
        if by_symbol
        else "every row resolved to a symbol_id",
        {"unresolved_symbols": json.dumps(by_symbol), "rows": missing.height},
    )


def _check_within_day(stored: pl.DataFrame, spec: TableSpec, date: dt.date, timezone: str) -> CheckOutcome:
    start, end = day_window_us(date, timezone)
    axis = spec.time_axis or "ts_local_us"
    outside = stored.filter((pl.col(axis) < start) | (pl.col(axis) >= end))
    return CheckOutcome(
        outside.is_empty(),
        f"{outside.height} row(s) with {axis} outside [{start}, {end})",
        {"rows_outside": outside.height, "sample": _sample(outside.select("symbol", axis, "file_line"))},
    )


def _check_not_crossed(stored: pl.DataFrame) -> CheckOutcome:
    crossed = stored.filter(pl.col("bid_price") > pl.col("ask_price"))
    return CheckOutcome(
        crossed.is_empty(),
        f"{crossed.height} crossed quote(s) (bid > ask)",
        {
            "crossed": crossed.height,
            "sample": _sample(crossed.select("symbol", "ts_local_us", "bid_price", "ask_price")),
        },
    )
