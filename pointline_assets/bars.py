"""The bars family: one Gold asset per bar spec of config/lake.toml [[gold.bars]] (`bars_<name>`),
all writing the `bars` table (and its carry state `bar_carry`), partitioned like trades.

Each asset materializes one (date, exchange) partition from the trades partition of that day and
the carry its own previous partition left (`bar_carry`): a self-dependency on the previous day, so
a backfill runs the days in order, and a day whose previous day has trades but no bars refuses to
run rather than start a chain in the wrong place (docs/gold-contract.md).
"""

# No `from __future__ import annotations`: Dagster inspects these type hints at runtime.

import datetime as dt

import polars as pl
from dagster import (
    AssetDep,
    AssetExecutionContext,
    AssetKey,
    AssetsDefinition,
    BackfillPolicy,
    DimensionPartitionMapping,
    Failure,
    IdentityPartitionMapping,
    MaterializeResult,
    MetadataValue,
    MultiPartitionMapping,
    TimeWindowPartitionMapping,
    asset,
)

from pointline.bars import BAR_CHECKS, BARS_CODE_VERSION, TRADE_COLUMNS, BarSpec, bar_specs, build_bars, check_bars
from pointline.gold import SourcePartition, data_version
from pointline.lake import Lake
from pointline.schemas import BAR_CARRY, BARS
from pointline_assets.gold import (
    GOLD_GROUP,
    exchange_timezone,
    failed_blocking_checks,
    gold_check_specs,
    gold_freshness,
    gold_result,
    latest_materialization,
    record_data_version,
    source_partition,
)
from pointline_assets.metadata import table_metadata
from pointline_assets.partitions import event_partitions, partition_key, split_partition_key
from resources.lake import LakeResource

TRADES_VERSION_KEY = "trades_data_version"  # materialization metadata: the trades version a partition used


PREVIOUS_DAY = MultiPartitionMapping(
    {
        "date": DimensionPartitionMapping(
            "date",
            TimeWindowPartitionMapping(start_offset=-1, end_offset=-1, allow_nonexistent_upstream_partitions=True),
        ),
        "exchange": DimensionPartitionMapping("exchange", IdentityPartitionMapping()),
    }
)
DAY_AND_PREVIOUS = MultiPartitionMapping(
    {
        "date": DimensionPartitionMapping(
            "date",
            TimeWindowPartitionMapping(start_offset=-1, end_offset=0, allow_nonexistent_upstream_partitions=True),
        ),
        "exchange": DimensionPartitionMapping("exchange", IdentityPartitionMapping()),
    }
)


def bars_asset_name(spec: BarSpec) -> str:
    return f"bars_{spec.name}"


def _has_trades(lake: Lake, date: dt.date, exchange: str) -> bool:
    if not lake.exists("trades"):
        return False
    where = (pl.col("date") == date) & (pl.col("exchange") == exchange)
    return lake.scan("trades").filter(where).select(pl.len()).collect().item() > 0


def _carry_in(
    context: AssetExecutionContext, lake: Lake, spec: BarSpec, date: dt.date, exchange: str, timezone: str
) -> tuple[pl.DataFrame, SourcePartition | None, str]:
    """The carry into `date` (bar_carry of the previous day), its lineage, and why (for metadata).

    The chain starts fresh at the spec's start_date and after a day without any trade of the
    exchange; otherwise the previous day must be built, not blocked and not stale.
    """
    name = bars_asset_name(spec)
    if not spec.carries(date, timezone):
        return BAR_CARRY.empty(), None, "no carry: every time bar of the day starts on the day"
    if spec.start_date is not None and date == spec.start_date:
        return BAR_CARRY.empty(), None, f"chain starts: {date} is the spec's start_date"
    prev = date - dt.timedelta(days=1)
    prev_key = str(partition_key(prev, exchange))
    record = latest_materialization(context.instance, name, prev_key)
    if record is None:
        if not _has_trades(lake, prev, exchange):
            return BAR_CARRY.empty(), None, f"chain starts: no trades on {prev}"
        raise Failure(
            description=(
                f"{name} {prev_key} is not materialized, but {prev} has trades: bars carry the bar open at "
                f"midnight into the next day, so materialize {name} in date order (a backfill does)."
            )
        )
    failed = failed_blocking_checks(context.instance, record, name)
    if failed:
        raise Failure(description=f"{name} {prev_key} failed blocking check(s) {failed}; rebuild it first.")
    used = record.asset_materialization.metadata.get(TRADES_VERSION_KEY)  # type: ignore[union-attr]
    current = record_data_version(latest_materialization(context.instance, "trades", prev_key))
    if used is not None and used.value and current is not None and used.value != current:
        raise Failure(
            description=(
                f"{name} {prev_key} was built from trades version {used.value}, but trades {prev_key} is now "
                f"{current}: its carry is stale. Re-materialize {name} from {prev} onwards, in date order."
            )
        )
    values = {"bar_spec": spec.name, "date": prev, "exchange": exchange}
    carry = lake.read_partition("bar_carry", values) if lake.exists("bar_carry") else BAR_CARRY.empty()
    source = SourcePartition(name, prev_key, record_data_version(record), lake.version("bar_carry"))
    return carry.select(BAR_CARRY.names), source, f"continues {prev}: {carry.height} open bar(s)"


def build_bars_asset(spec: BarSpec) -> AssetsDefinition:
    name = bars_asset_name(spec)
    code_version = f"{BARS_CODE_VERSION}:{spec.fingerprint()}"

    @asset(
        name=name,
        partitions_def=event_partitions,
        group_name=GOLD_GROUP,
        code_version=code_version,
        deps=[
            AssetDep("trades", partition_mapping=DAY_AND_PREVIOUS),
            AssetDep(AssetKey(name), partition_mapping=PREVIOUS_DAY),  # the carry: days build in order
        ],
        description=(
            f"{spec.kind} bars `{spec.name}` (threshold {spec.threshold}"
            + (f", {len(spec.overrides)} per-symbol override(s)" if spec.overrides else "")
            + f") in the `bars` table, bar_spec = '{spec.name}'. "
            + BARS.description
        ),
        metadata={
            **table_metadata(BARS),
            "bar_spec": spec.name,
            "bar_kind": spec.kind,
            "threshold": str(spec.threshold),
            "contract": "docs/gold-contract.md",
        },
        kinds={"delta", "polars"},
        check_specs=gold_check_specs(name, BAR_CHECKS),
        backfill_policy=BackfillPolicy.multi_run(max_partitions_per_run=1),
        freshness_policy=gold_freshness("bars"),
    )
    def _bars_asset(context: AssetExecutionContext, lake: LakeResource) -> MaterializeResult:
        date, exchange = split_partition_key(context.partition_key)
        if spec.start_date is not None and date < spec.start_date:
            raise Failure(description=f"{name}: no bars before the spec's start_date {spec.start_date}")
        store = lake.lake()
        timezone = exchange_timezone(store, exchange)
        trades_source = source_partition(context.instance, store, "trades", str(context.partition_key))
        carry_in, carry_source, carry_note = _carry_in(context, store, spec, date, exchange, timezone)
        where = (pl.col("date") == date) & (pl.col("exchange") == exchange)
        trades = store.scan("trades").filter(where).select(TRADE_COLUMNS).collect()
        try:
            build = build_bars(
                trades,
                carry_in,
                spec,
                date=date,
                exchange=exchange,
                timezone=timezone,
                source_data_version=trades_source.data_version,
                carry_data_version=carry_source.data_version if carry_source else None,
            )
        except ValueError as exc:
            raise Failure(description=str(exc)) from exc
        values = {"bar_spec": spec.name, "date": date, "exchange": exchange}
        with store.transaction():
            versions = store.write_partitions([("bars", build.bars, values), ("bar_carry", build.carry, values)])
        outcomes = check_bars(store, spec, date, exchange, timezone, trades, carry_in)
        sources = [trades_source, *([carry_source] if carry_source else [])]
        version = data_version(code_version, {"date": date.isoformat(), "exchange": exchange}, sources)
        spanning = build.bars.filter(pl.col("start_date") < date).height
        context.log.info(
            f"{name} {context.partition_key}: {build.bars.height} bars ({spanning} from the previous day's carry), "
            f"{build.carry.height} open at the end of the day, from {build.trades} trades; {carry_note}"
        )
        return gold_result(
            build.bars,
            uri=store.uri("bars"),
            time_column="ts_end_us",
            sources=sources,
            version=version,
            outcomes=outcomes,
            checks=BAR_CHECKS,
            bars=build.bars.height,
            bars_spanning_midnight=spanning,
            open_at_end_of_day=build.carry.filter(pl.col("trade_count") > 0).height,
            carry_in=carry_note,
            trades=build.trades,
            symbols=build.bars["symbol_id"].n_unique(),
            **{TRADES_VERSION_KEY: trades_source.data_version or ""},
            delta_versions=MetadataValue.json({"bars": versions[0], "bar_carry": versions[1]}),
        )

    return _bars_asset


BAR_SPECS: tuple[BarSpec, ...] = bar_specs()
BAR_ASSETS: dict[str, AssetsDefinition] = {bars_asset_name(s): build_bars_asset(s) for s in BAR_SPECS}
