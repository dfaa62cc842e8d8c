"""Operating the lake: compaction and vacuum jobs, their schedule, and the `lake_stats` asset.

Thin Dagster wrappers of pointline/maintenance.py and pointline/stats.py. The jobs are op jobs
with run config, so they launch from the UI launchpad and from the command line, e.g.
`dagster job execute -f pointline_defs.py -j compaction_job -c compaction.yaml`; the schedules are
stopped until someone starts them (cron in config/lake.toml [maintenance]).
"""

# No `from __future__ import annotations`: Dagster inspects these type hints at runtime.

import datetime as dt

from dagster import (
    AssetExecutionContext,
    Config,
    DefaultScheduleStatus,
    Failure,
    MaterializeResult,
    MetadataValue,
    Nothing,
    OpExecutionContext,
    Out,
    Output,
    RunConfig,
    ScheduleDefinition,
    asset,
    define_asset_job,
    job,
    op,
)
from pydantic import Field

from pointline.config import maintenance_settings
from pointline.maintenance import CompactionResult, compact_table, existing_tables, vacuum_table
from pointline.schemas import get_table_spec
from pointline.stats import LAKE_STATS, lake_stats, lake_stats_uri, summarize, write_snapshot
from pointline_assets.metadata import iso_us, markdown_table, table_schema
from resources.lake import LakeResource

_MAINTENANCE = maintenance_settings()


def _tables(context: OpExecutionContext, requested: list[str], available: list[str]) -> list[str]:
    """The requested tables (all available ones when none), refusing names the registry does not know."""
    for table in requested:
        try:
            get_table_spec(table)
        except KeyError as exc:
            raise Failure(description=str(exc)) from exc
        if table not in available:
            context.log.warning(f"{table}: not in the lake yet; nothing to do")
    return [t for t in requested if t in available] if requested else available


def _date(text: str, field: str) -> dt.date | None:
    if not text:
        return None
    try:
        return dt.date.fromisoformat(text)
    except ValueError as exc:
        raise Failure(description=f"{field}: {text!r} is not a YYYY-MM-DD date") from exc


# ---- compaction -----------------------------------------------------------------------------
class CompactionConfig(Config):
    tables: list[str] = Field(
        default_factory=list, description="Tables to compact; empty = every partitioned table in the lake."
    )
    start_date: str = Field(default="", description="First date to compact (YYYY-MM-DD, inclusive); empty = any.")
    end_date: str = Field(default="", description="Last date to compact (YYYY-MM-DD, inclusive); empty = any.")
    exchanges: list[str] = Field(
        default_factory=list,
        description="Exchanges to compact; empty = all. Tables without an exchange partition are not filtered.",
    )
    min_files: int = Field(
        default=0,
        description="Compact partitions with more files than this; 0 = config/lake.toml [maintenance] min_files.",
    )


def _compaction_metadata(results: list[CompactionResult]) -> dict:
    done = [r for r in results if r.compacted]
    return {
        "partitions_compacted": len(done),
        "files_before": sum(r.files_before for r in done),
        "files_after": sum(r.files_after for r in done),
        "rows": sum(r.rows or 0 for r in done),
        "partitions": MetadataValue.json(
            [{"table": r.table, "partition": r.partition, "files": [r.files_before, r.files_after]} for r in done]
        ),
    }


@op(out=Out(Nothing), description="Rewrite partitions with many small files into one sorted file each.")
def compact_partitions(context: OpExecutionContext, config: CompactionConfig, lake: LakeResource):
    store = lake.lake()
    start, end = _date(config.start_date, "start_date"), _date(config.end_date, "end_date")
    if start and end and start > end:
        raise Failure(description=f"start_date {start} is after end_date {end}")
    results: list[CompactionResult] = []
    failed: list[str] = []
    for table in _tables(context, config.tables, existing_tables(store)):
        if not get_table_spec(table).partition_by:
            continue
        try:
            done = compact_table(
                store,
                table,
                min_files=config.min_files or None,
                start=start,
                end=end,
                exchanges=config.exchanges or None,
            )
        except Exception as exc:  # keep compacting the other tables; the run fails at the end
            context.log.error(f"{table}: compaction failed: {exc!r}")
            failed.append(f"{table}: {exc!r}")
            continue
        for r in done:
            context.log.info(f"{table} {r.partition}: {r.files_before} -> {r.files_after} file(s), {r.rows} rows")
        results.extend(done)
    if failed:
        raise Failure(description="compaction failed for " + "; ".join(failed), metadata=_compaction_metadata(results))
    yield Output(None, metadata=_compaction_metadata(results))


@job(description="Compact partitions (one sorted file each); run config selects tables, dates and exchanges.")
def compaction_job():
    compact_partitions()


# ---- vacuum ---------------------------------------------------------------------------------
class VacuumConfig(Config):
    tables: list[str] = Field(default_factory=list, description="Tables to vacuum; empty = every table in the lake.")
    dry_run: bool = Field(default=True, description="Only list the files that would be deleted.")
    retention_hours: int = Field(
        default=_MAINTENANCE.vacuum_retention_hours,
        description="Keep files the log removed less than this many hours ago (time travel needs them).",
    )
    enforce_retention_duration: bool = Field(
        default=True, description="Refuse a retention below the table's minimum (a week unless configured)."
    )


@op(out=Out(Nothing), description="Delete data files the Delta log removed longer ago than the retention.")
def vacuum_tables(context: OpExecutionContext, config: VacuumConfig, lake: LakeResource):
    store = lake.lake()
    files: dict[str, list[str]] = {}
    for table in _tables(context, config.tables, existing_tables(store)):
        files[table] = vacuum_table(
            store,
            table,
            retention_hours=config.retention_hours,
            dry_run=config.dry_run,
            enforce_retention_duration=config.enforce_retention_duration,
            bronze_root=lake.resolved_bronze_root(),
        )
        verb = "would delete" if config.dry_run else "deleted"
        context.log.info(f"{table}: {verb} {len(files[table])} file(s)")
    yield Output(
        None,
        metadata={
            "dry_run": config.dry_run,
            "retention_hours": config.retention_hours,
            "files": sum(len(f) for f in files.values()),
            "files_by_table": MetadataValue.json({t: len(f) for t, f in files.items()}),
            "sample": MetadataValue.json({t: f[:20] for t, f in files.items() if f}),
        },
    )


@job(description="Vacuum the lake's Delta tables (dry run unless config says dry_run: false). Never touches Bronze.")
def vacuum_job():
    vacuum_tables()


vacuum_schedule = ScheduleDefinition(
    name="vacuum_schedule",
    job=vacuum_job,
    cron_schedule=_MAINTENANCE.vacuum_cron,
    execution_timezone="UTC",
    default_status=DefaultScheduleStatus.STOPPED,
    run_config=RunConfig(
        ops={
            "vacuum_tables": VacuumConfig(
                dry_run=_MAINTENANCE.vacuum_schedule_dry_run, retention_hours=_MAINTENANCE.vacuum_retention_hours
            )
        }
    ),
    description="Weekly vacuum (config/lake.toml [maintenance] vacuum_cron); stopped until started.",
)


# ---- lake stats -----------------------------------------------------------------------------
@asset(
    name="lake_stats",
    group_name="maintenance",
    kinds={"delta", "polars"},
    description=LAKE_STATS.description,
    metadata={"dagster/column_schema": table_schema(LAKE_STATS), "partitioned_by": "snapshot_date"},
)
def lake_stats_asset(context: AssetExecutionContext, lake: LakeResource) -> MaterializeResult:
    store = lake.lake()
    stats = lake_stats(store)
    today = dt.datetime.now(dt.UTC).date()
    version = write_snapshot(store, stats, today)
    summary = summarize(stats)
    context.log.info(f"lake_stats {today}: {summary.height} table(s), {stats.height} partition(s)")
    return MaterializeResult(
        metadata={
            "dagster/row_count": stats.height,
            "dagster/uri": lake_stats_uri(store),
            "snapshot_date": today.isoformat(),
            "delta_version": version,
            "tables": summary.height,
            "partitions": int(summary["partitions"].sum()),
            "rows": int(summary["rows"].sum()),
            "files": int(summary["files"].sum()),
            "bytes": int(summary["bytes"].sum()),
            "time_min": iso_us(summary["time_min_us"].min()) or "",  # type: ignore[arg-type]
            "time_max": iso_us(summary["time_max_us"].max()) or "",  # type: ignore[arg-type]
            "by_table": markdown_table(summary, limit=len(summary) or 1),
        }
    )


lake_stats_job = define_asset_job("lake_stats_job", selection=["lake_stats"], description="Snapshot lake_stats.")
lake_stats_schedule = ScheduleDefinition(
    name="lake_stats_schedule",
    job=lake_stats_job,
    cron_schedule=_MAINTENANCE.lake_stats_cron,
    execution_timezone="UTC",
    default_status=DefaultScheduleStatus.STOPPED,
    description="Daily lake_stats snapshot (config/lake.toml [maintenance] lake_stats_cron); stopped until started.",
)

MAINTENANCE_ASSETS = [lake_stats_asset]
MAINTENANCE_JOBS = [compaction_job, vacuum_job, lake_stats_job]
MAINTENANCE_SCHEDULES = [vacuum_schedule, lake_stats_schedule]
