"""Tables fed row by row from vendor files: the Silver event tables (trades, quotes, books,
tickers, liquidations, options, klines, ...) and daily vendor snapshots such as dim_asset_stats.
One factory, one asset per table in the schema registry.

Each asset materializes one partition, (date, exchange) or just date for tables that are not
exchange-scoped: it reads every Bronze file that may hold rows of that exchange-local day,
parses, validates, resolves symbol_id point-in-time, quarantines what fails and overwrites
exactly that partition (see pointline.pipeline). Checks run against what was stored and ride
along with the materialization.
"""

# No `from __future__ import annotations`: Dagster inspects these type hints at runtime.

import datetime as dt
from pathlib import Path

from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetExecutionContext,
    AssetsDefinition,
    BackfillPolicy,
    DataVersion,
    Failure,
    FreshnessPolicy,
    MaterializeResult,
    MetadataValue,
    asset,
)

from pointline.checks import CHECKS, check_stored_partition, checks_for
from pointline.config import load_exchanges, settings
from pointline.dq import record_history
from pointline.pipeline import PartitionInputError, PartitionReport, ingest_partition
from pointline.schemas import TABLES, TableSpec, get_table_spec, kline_spec
from pointline.trading_day import dates_overlapping
from pointline_assets.bronze import vendors_feeding
from pointline_assets.dimensions import dim_exchange, dim_symbol
from pointline_assets.metadata import iso_us, markdown_table, table_schema
from pointline_assets.partitions import daily_partitions, event_partitions, split_partition_key
from resources.lake import LakeResource
from resources.vendors import VendorsResource
from vendors.base import BronzeFileError

# Bump when parsing, validation or resolution logic changes: the UI then marks partitions stale.
EVENT_CODE_VERSION = "events-2"


def _freshness(table: str) -> FreshnessPolicy:
    """How late a table may be before the UI flags it (config/lake.toml [freshness])."""
    warn, fail = settings().freshness(table)
    return FreshnessPolicy.time_window(fail_window=dt.timedelta(hours=fail), warn_window=dt.timedelta(hours=warn))


def is_exchange_scoped(spec: TableSpec) -> bool:
    return "exchange" in spec.partition_by


def _upstream(spec: TableSpec) -> list:
    dims = [dim_exchange] if is_exchange_scoped(spec) else []
    return dims + ([dim_symbol] if "symbol_id" in spec.names else [])


def build_event_asset(table: str) -> AssetsDefinition:
    spec = get_table_spec(table)

    @asset(
        name=table,
        partitions_def=event_partitions if is_exchange_scoped(spec) else daily_partitions,
        group_name="silver" if spec.kind == "event" else "dimensions",
        code_version=EVENT_CODE_VERSION,
        deps=[*_upstream(spec), *vendors_feeding(table)],
        description=spec.description,
        metadata={
            "dagster/column_schema": table_schema(spec),
            "partitioned_by": ", ".join(spec.partition_by),
            "sort_order": ", ".join(spec.sort_by),
            "time_axis": spec.time_axis,
        },
        kinds={"delta", "polars"},
        check_specs=[
            AssetCheckSpec(name, asset=table, description=check.description, blocking=check.blocking)
            for name, check in checks_for(table).items()
        ],
        backfill_policy=BackfillPolicy.multi_run(max_partitions_per_run=1),
        freshness_policy=_freshness(table),
    )
    def _event_asset(context: AssetExecutionContext, lake: LakeResource, vendors: VendorsResource) -> MaterializeResult:
        if is_exchange_scoped(spec):
            date, exchange = split_partition_key(context.partition_key)
        else:
            date, exchange = dt.date.fromisoformat(context.partition_key), None
        store = lake.lake()
        try:
            report = ingest_partition(
                store,
                vendors.sources_for(table),
                lake.resolved_bronze_root(),
                table,
                date,
                exchange,
                code_version=EVENT_CODE_VERSION,
            )
        except (PartitionInputError, BronzeFileError) as exc:
            raise Failure(description=str(exc)) from exc
        checks = check_stored_partition(store, report, settings().quarantine_threshold(table))
        try:  # the partition has landed; a history append that fails must not report it as not written
            record_history(store, report, checks, checks_for(table), context.run.run_id)
            history_recorded = True
        except Exception as exc:
            context.log.warning(f"{table} {context.partition_key}: DQ history not recorded: {exc!r}")
            history_recorded = False
        context.log.info(
            f"{table} {context.partition_key}: read {report.build.rows_read}, wrote {report.rows_written}, "
            f"quarantined {report.rows_quarantined} from {len(report.files)} file(s)"
        )
        return MaterializeResult(
            metadata={**_materialization_metadata(report, store.uri(table)), "history_recorded": history_recorded},
            data_version=DataVersion(report.data_version),
            check_results=[
                AssetCheckResult(
                    check_name=name,
                    passed=outcome.passed,
                    severity=AssetCheckSeverity.WARN if CHECKS[name].warn_only else AssetCheckSeverity.ERROR,
                    description=outcome.description,
                    metadata=outcome.metadata,
                )
                for name, outcome in checks.items()
            ],
        )

    return _event_asset


def _materialization_metadata(report: PartitionReport, uri: str) -> dict:
    silver = report.build.silver
    spec = get_table_spec(report.table)
    ts = silver[spec.time_axis] if silver.height else None
    return {
        "dagster/row_count": report.rows_written,
        "dagster/uri": uri,
        "rows_read": report.build.rows_read,
        "rows_written": report.rows_written,
        "rows_quarantined": report.rows_quarantined,
        "quarantined_by_reason": MetadataValue.json(report.build.quarantined_by_reason),
        "bronze_files": MetadataValue.json(
            [{"path": f.rel_path, "size": f.size, "sha256": f.sha256} for f in report.files]
        ),
        "file_accounting": MetadataValue.json([vars(a) for a in report.build.files]),
        "shadowed_sources": ", ".join(report.shadowed) or "-",
        "symbols": silver[_key_column(spec)].n_unique() if silver.height else 0,
        "time_min": iso_us(ts.min() if ts is not None else None) or "",
        "time_max": iso_us(ts.max() if ts is not None else None) or "",
        "delta_version": report.delta_version,
        "data_version": report.data_version,
        "preview": markdown_table(silver),
    }


def _key_column(spec: TableSpec) -> str:
    return "symbol_id" if "symbol_id" in spec.names else spec.sort_by[0]


def row_fed_tables() -> tuple[str, ...]:
    """Every table vendors feed row by row: the registry's event tables (klines: the intervals
    config/lake.toml asks for) and the daily snapshot tables."""
    fixed = [n for n, t in TABLES.items() if t.kind == "event" and not n.startswith("kline_")]
    klines = [kline_spec(i).name for i in settings().kline_intervals]
    return (*fixed, *klines, "dim_asset_stats")


EVENT_TABLES = row_fed_tables()
EVENT_ASSETS: dict[str, AssetsDefinition] = {table: build_event_asset(table) for table in EVENT_TABLES}
EXCHANGE_SCOPED_TABLES = tuple(t for t in EVENT_TABLES if is_exchange_scoped(get_table_spec(t)))
DAILY_TABLES = tuple(t for t in EVENT_TABLES if t not in EXCHANGE_SCOPED_TABLES)
trades, quotes = EVENT_ASSETS["trades"], EVENT_ASSETS["quotes"]


def partitions_with_files(plugins: list, bronze_root: Path) -> dict[tuple[dt.date, str | None], set[str]]:
    """(day, exchange or None for date-only tables) -> the row-fed tables that have Bronze files for it.

    The same mapping the Bronze sensor computes from changed files, over the whole tree: what
    `make demo` and the golden-file test materialize.
    """
    timezones = dict(load_exchanges().select("exchange", "timezone").iter_rows())
    planned: dict[tuple[dt.date, str | None], set[str]] = {}
    for plugin in plugins:
        routes = plugin.routes()
        for f in plugin.discover(bronze_root):
            table = routes.get(f.data_type)
            if table not in EVENT_ASSETS:
                continue
            scoped = is_exchange_scoped(get_table_spec(table))
            tz = timezones[f.exchange] if scoped else "UTC"
            for day in dates_overlapping(f.window_start_us, f.window_end_us, tz):
                planned.setdefault((day, f.exchange if scoped else None), set()).add(table)
    return planned
