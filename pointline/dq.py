"""Data-quality history as data: every ingestion and every check result, appended to Delta tables.

`validation_log` holds one row per (run, partition, Bronze file) with its row accounting and
quarantined symbols; `dq_summary` one row per (run, partition, check). Both are append-only
history (re-ingesting adds rows, never rewrites), so "which symbols were quarantined last week"
or "which partitions failed a check" is one Polars or DuckDB query. Dry runs record nothing.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import time
from typing import TYPE_CHECKING

import polars as pl

from pointline.ingest import NO_EXCHANGE
from pointline.lake import Lake
from pointline.maintenance import maybe_compact_after_ingest
from pointline.schemas import DQ_SUMMARY, VALIDATION_LOG, get_table_spec

log = logging.getLogger(__name__)

if TYPE_CHECKING:
    from pointline.checks import CheckDefinition, CheckOutcome
    from pointline.pipeline import PartitionReport


def _now_us() -> int:
    return time.time_ns() // 1000


def validation_rows(report: PartitionReport, run_id: str, at_us: int) -> pl.DataFrame:
    """One validation_log row per Bronze file the partition read."""
    sha = {f.rel_path: f.sha256 for f in report.files}
    q = report.build.quarantine
    rows = []
    for account in report.build.files:
        mine = q.filter(pl.col("bronze_path") == account.rel_path) if q.height else q
        symbols = dict(mine.group_by("symbol").len().sort("symbol").iter_rows()) if mine.height else {}
        rows.append(
            {
                "table_name": report.table,
                "date": report.date,
                "exchange": report.exchange or NO_EXCHANGE,
                "run_id": run_id,
                "validated_at_us": at_us,
                "bronze_path": account.rel_path,
                "file_id": account.file_id,
                "sha256": sha.get(account.rel_path, ""),
                "rows_read": account.rows_read,
                "rows_written": account.rows_written,
                "rows_quarantined": account.rows_quarantined,
                "rows_elsewhere": account.rows_elsewhere,
                "quarantined_by_reason": json.dumps(account.quarantined_by_reason, sort_keys=True),
                "quarantined_symbols": json.dumps({str(k): v for k, v in symbols.items()}, sort_keys=True),
                "data_version": report.data_version,
            }
        )
    return pl.DataFrame(rows, schema=VALIDATION_LOG.polars_schema)


def summary_rows(
    report: PartitionReport,
    outcomes: dict[str, CheckOutcome],
    checks: dict[str, CheckDefinition],
    run_id: str,
    at_us: int,
) -> pl.DataFrame:
    """One dq_summary row per check result of the partition."""
    axis = get_table_spec(report.table).time_axis
    silver = report.build.silver
    t_min = silver[axis].min() if silver.height else None
    t_max = silver[axis].max() if silver.height else None
    rows = [
        {
            "table_name": report.table,
            "date": report.date,
            "exchange": report.exchange or NO_EXCHANGE,
            "run_id": run_id,
            "checked_at_us": at_us,
            "check_name": name,
            "passed": outcome.passed,
            "severity": "warn" if checks[name].warn_only else "error",
            "blocking": checks[name].blocking,
            "description": outcome.description,
            "metadata": json.dumps(outcome.metadata, sort_keys=True, default=str),
            "rows_written": report.rows_written,
            "rows_quarantined": report.rows_quarantined,
            "time_min_us": t_min,
            "time_max_us": t_max,
        }
        for name, outcome in outcomes.items()
    ]
    return pl.DataFrame(rows, schema=DQ_SUMMARY.polars_schema)


def record_history(
    lake: Lake,
    report: PartitionReport,
    outcomes: dict[str, CheckOutcome],
    checks: dict[str, CheckDefinition],
    run_id: str,
) -> None:
    """Append the partition's ingestion and check results to the history tables (never for dry runs)."""
    if report.dry_run:
        raise ValueError("dry runs record nothing: refusing to write history for a dry-run report")
    at_us = _now_us()
    lake.append("validation_log", validation_rows(report, run_id, at_us))
    lake.append("dq_summary", summary_rows(report, outcomes, checks, run_id, at_us))
    for history in ("validation_log", "dq_summary"):  # one small file per run: compact when configured
        try:
            maybe_compact_after_ingest(lake, history, {"table_name": report.table, "date": report.date})
        except Exception:  # the history is written; a later compaction_job catches up
            log.exception("compacting %s after the run failed", history)


def dq_summary(
    lake: Lake,
    exchange: str | None = None,
    start: dt.date | None = None,
    end: dt.date | None = None,
    *,
    table: str | None = None,
    latest_only: bool = True,
) -> pl.DataFrame:
    """Check results per partition between `start` and `end` (inclusive), newest run per partition
    and check by default; `latest_only=False` returns the full history."""
    if not lake.exists("dq_summary"):
        return DQ_SUMMARY.empty()
    where = pl.lit(True)
    if exchange is not None:
        where &= pl.col("exchange") == exchange
    if start is not None:
        where &= pl.col("date") >= start
    if end is not None:
        where &= pl.col("date") <= end
    if table is not None:
        where &= pl.col("table_name") == table
    history = lake.scan("dq_summary").filter(where)
    if latest_only:
        key = ["table_name", "date", "exchange", "check_name"]
        history = history.filter(pl.col("checked_at_us") == pl.col("checked_at_us").max().over(key))
    return history.sort("table_name", "date", "exchange", "check_name", "checked_at_us").collect()


def quarantined_symbols(lake: Lake, start: dt.date, end: dt.date, exchange: str | None = None) -> pl.DataFrame:
    """Symbols with quarantined rows per (table, date, exchange, reason) in [start, end], from the quarantine table."""
    where = pl.col("date").is_between(start, end)
    if exchange is not None:
        where &= pl.col("exchange") == exchange
    if not lake.exists("quarantine"):
        return pl.DataFrame()
    return (
        lake.scan("quarantine")
        .filter(where)
        .group_by("table_name", "date", "exchange", "symbol", "reason")
        .agg(pl.len().alias("rows"))
        .sort("table_name", "date", "exchange", "symbol", "reason")
        .collect()
    )
