"""options_surface_grid: the options chain sampled on a fixed time grid (docs/gold-contract.md).

Partitioned (date, exchange) like options_chain. One partition reads the options_chain partition of
its day and the tail (last row per contract) of the previous day's partition, for the state at the
first grid points after midnight: DAY_AND_PREVIOUS, the same mapping the bars use for trades. No
state table and no self-dependency: every day is a pure function of two Silver partitions, so days
build in any order. The logic is pointline/options_grid.py.
"""

# No `from __future__ import annotations`: Dagster inspects these type hints at runtime.

import datetime as dt

import polars as pl
from dagster import (
    AssetDep,
    AssetExecutionContext,
    AssetsDefinition,
    BackfillPolicy,
    MaterializeResult,
    asset,
)

from pointline.gold import data_version
from pointline.options_grid import (
    CHAIN_COLUMNS,
    GRID_CHECKS,
    GRID_CODE_VERSION,
    OptionsGridSettings,
    build_options_grid,
    chain_tail,
    check_options_grid,
    grid_points,
    options_grid_settings,
)
from pointline.schemas import OPTIONS_SURFACE_GRID
from pointline_assets.bars import DAY_AND_PREVIOUS
from pointline_assets.gold import (
    GOLD_GROUP,
    exchange_timezone,
    gold_check_specs,
    gold_freshness,
    gold_result,
    source_partition,
)
from pointline_assets.metadata import table_metadata
from pointline_assets.partitions import event_partitions, partition_key, split_partition_key
from resources.lake import LakeResource

OPTIONS_GRID_ASSET = "options_surface_grid"


def build_options_grid_asset(settings: OptionsGridSettings) -> AssetsDefinition:
    code_version = f"{GRID_CODE_VERSION}:{settings.fingerprint()}"

    @asset(
        name=OPTIONS_GRID_ASSET,
        partitions_def=event_partitions,
        group_name=GOLD_GROUP,
        code_version=code_version,
        deps=[AssetDep("options_chain", partition_mapping=DAY_AND_PREVIOUS)],
        description=(
            f"options_chain sampled every {settings.step}"
            + (f" (rows at most {settings.max_staleness} old)" if settings.max_staleness else "")
            + ". "
            + OPTIONS_SURFACE_GRID.description
        ),
        metadata={
            **table_metadata(OPTIONS_SURFACE_GRID),
            "step": settings.step,
            "max_staleness": settings.max_staleness or "",
            "contract": "docs/gold-contract.md",
        },
        kinds={"delta", "polars"},
        check_specs=gold_check_specs(OPTIONS_GRID_ASSET, GRID_CHECKS),
        backfill_policy=BackfillPolicy.multi_run(max_partitions_per_run=1),
        freshness_policy=gold_freshness(OPTIONS_GRID_ASSET),
    )
    def _options_grid(context: AssetExecutionContext, lake: LakeResource) -> MaterializeResult:
        date, exchange = split_partition_key(context.partition_key)
        key = str(context.partition_key)
        store = lake.lake()
        timezone = exchange_timezone(store, exchange)
        prev = date - dt.timedelta(days=1)
        # lineage and the cross-run blocking guard, before reading (docs/gold-contract.md)
        sources = [
            source_partition(context.instance, store, "options_chain", str(partition_key(day, exchange)))
            for day in (prev, date)
        ]
        scan = store.scan("options_chain")
        chain = scan.filter((pl.col("date") == date) & (pl.col("exchange") == exchange)).select(CHAIN_COLUMNS).collect()
        tail = chain_tail(scan.filter((pl.col("date") == prev) & (pl.col("exchange") == exchange)))
        rows = build_options_grid(
            chain,
            tail,
            settings,
            date=date,
            exchange=exchange,
            timezone=timezone,
            versions={prev: sources[0].data_version, date: sources[1].data_version},
        )
        delta_version = store.write_partition(OPTIONS_GRID_ASSET, rows, {"date": date, "exchange": exchange})
        outcomes = check_options_grid(store, settings, date, exchange, timezone, chain, tail)
        version = data_version(code_version, {"date": date.isoformat(), "exchange": exchange}, sources)
        carried = rows.filter(pl.col("source_date") == prev)
        points = len(grid_points(date, timezone, settings.step_us))
        staleness = rows.select((pl.col("ts_grid_us") - pl.col("ts_local_us")).alias("s"))["s"]
        context.log.info(
            f"options_surface_grid {key}: {rows.height} rows, {rows['symbol'].n_unique()} contracts on {points} grid "
            f"points from {chain.height} options_chain rows and the previous day's last {tail.height}"
        )
        return gold_result(
            rows,
            uri=store.uri(OPTIONS_GRID_ASSET),
            time_column="ts_grid_us",
            sources=sources,
            version=version,
            outcomes=outcomes,
            checks=GRID_CHECKS,
            grid_points=points,
            contracts=rows["symbol"].n_unique(),
            chain_rows_read=chain.height,
            previous_day_tail_rows=tail.height,
            rows_from_previous_day=carried.height,
            median_staleness_s=float(staleness.median() or 0) / 1e6 if rows.height else 0.0,  # type: ignore[arg-type]
            max_staleness_s=float(staleness.max() or 0) / 1e6 if rows.height else 0.0,  # type: ignore[arg-type]
            delta_version=delta_version,
        )

    return _options_grid


_CONFIGURED = options_grid_settings()
OPTIONS_GRID_ASSETS: dict[str, AssetsDefinition] = (
    {OPTIONS_GRID_ASSET: build_options_grid_asset(_CONFIGURED)} if _CONFIGURED is not None else {}
)
