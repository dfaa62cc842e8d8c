"""Dry run: walk the whole ingestion for chosen partitions and report, writing nothing at all.

Discovery, parsing, validation, point-in-time resolution and quarantine decisions all run;
no Delta commit, no quarantine rows, no DQ history. It is an op job rather than a mode of the
assets so that Dagster never records a materialization for a partition that was not written.

From the UI: Launchpad of `dry_run_job`. From the command line:

    dagster job execute -f pointline_defs.py -j dry_run_job -c dry_run.yaml

with `ops: {dry_run_ingest: {config: {tables: [trades], dates: [2024-05-01], exchanges: [binance]}}}`.
"""

# No `from __future__ import annotations`: Dagster inspects these type hints at runtime.

import datetime as dt
import json

from dagster import Config, MetadataValue, OpExecutionContext, Output, job, op
from pydantic import Field

from pointline.pipeline import PartitionInputError, PartitionReport, ingest_partition
from pointline.schemas import get_table_spec
from pointline_assets.events import EVENT_CODE_VERSION, EVENT_TABLES, is_exchange_scoped
from resources.lake import LakeResource
from resources.vendors import VendorsResource
from vendors.base import BronzeFileError


class DryRunConfig(Config):
    tables: list[str] = Field(default_factory=lambda: ["trades", "quotes"], description="Tables to walk")
    dates: list[str] = Field(description="Trading dates, YYYY-MM-DD")
    exchanges: list[str] = Field(default_factory=list, description="Exchanges (ignored for date-only tables)")


def _summary(report: PartitionReport) -> dict:
    quarantine = report.build.quarantine
    symbols = dict(quarantine.group_by("symbol").len().sort("symbol").iter_rows()) if quarantine.height else {}
    return {
        "files": [f.rel_path for f in report.files],
        "rows_read": report.build.rows_read,
        "rows_would_write": report.rows_written,
        "rows_would_quarantine": report.rows_quarantined,
        "quarantined_by_reason": report.build.quarantined_by_reason,
        "quarantined_symbols": {str(k): v for k, v in symbols.items()},
        "shadowed_sources": report.shadowed,
        "schema_problems": report.schema_problems,
    }


def dry_run_partitions(lake: LakeResource, vendors: VendorsResource, config: DryRunConfig) -> dict[str, dict]:
    """{`table date|exchange`: what a real run would do, or the error it would fail with}."""
    out: dict[str, dict] = {}
    store = lake.lake()
    for table in config.tables:
        if table not in EVENT_TABLES:
            raise ValueError(f"unknown table {table!r}; known: {list(EVENT_TABLES)}")
        scoped = is_exchange_scoped(get_table_spec(table))
        if scoped and not config.exchanges:
            raise ValueError(f"{table} is partitioned by exchange: name the exchanges to walk")
        for date_text in config.dates:
            date = dt.date.fromisoformat(date_text)
            for exchange in config.exchanges if scoped else [None]:
                key = f"{table} {date_text}|{exchange}" if exchange else f"{table} {date_text}"
                try:
                    report = ingest_partition(
                        store,
                        vendors.sources_for(table),
                        lake.resolved_bronze_root(),
                        table,
                        date,
                        exchange,
                        code_version=EVENT_CODE_VERSION,
                        dry_run=True,
                    )
                    out[key] = _summary(report)
                except (PartitionInputError, BronzeFileError) as exc:
                    out[key] = {"error": str(exc)}
    return out


@op(description="Walk ingestion for the configured partitions and report; writes nothing.")
def dry_run_ingest(
    context: OpExecutionContext, config: DryRunConfig, lake: LakeResource, vendors: VendorsResource
) -> Output[dict]:
    results = dry_run_partitions(lake, vendors, config)
    for key, result in results.items():
        if "error" in result:
            context.log.warning(f"{key}: would fail: {result['error']}")
        else:
            context.log.info(
                f"{key}: {len(result['files'])} file(s), read {result['rows_read']}, would write "
                f"{result['rows_would_write']}, would quarantine {result['rows_would_quarantine']} "
                f"{result['quarantined_by_reason']}"
            )
    return Output(results, metadata={"partitions": MetadataValue.json(json.loads(json.dumps(results)))})


@job(description="Dry run of ingestion: discovery, parsing, validation, PIT, quarantine decisions; no writes.")
def dry_run_job():
    dry_run_ingest()
