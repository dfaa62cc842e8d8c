"""reflexivity_bars: the dollar bars of a perpetual with the spot notional over the same window and
open interest / funding as of the bar close (SPEC section 8; docs/gold-contract.md).

Partitioned (date, exchange) like the bars; the exchange is the perpetual's. One partition reads:
- the `bars` partition (bar_spec, date, exchange) of the configured dollar spec (its asset, same
  partition: IdentityPartitionMapping);
- the spot exchange's trades partitions from the local date of the earliest window start to `date`
  (declared: date - 1 .. date of the configured spot exchanges; Dagster has no mapping from one value
  of a dynamic dimension to another, so the exchange dimension names the configured spot
  exchanges: SpecificPartitionsPartitionMapping);
- derivative_ticker (date - 1 .. date, same exchange): the as-of values near midnight come from the
  previous day's last value per field;
- dim_symbol (perpetual and spot pairing).
Every partition read goes through the cross-run blocking guard; a spot partition that is neither
materialized nor in the lake refuses the run (a zero spot notional would be a silent lie).
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
    SpecificPartitionsPartitionMapping,
    TimeWindowPartitionMapping,
    asset,
)

from pointline.bars import BarSpec
from pointline.gold import SourcePartition, data_version
from pointline.lake import Lake
from pointline.reflexivity import (
    REFLEXIVITY_CHECKS,
    REFLEXIVITY_CODE_VERSION,
    SPOT_COLUMNS,
    ReflexivitySettings,
    build_reflexivity,
    check_reflexivity,
    perpetual_bars,
    reflexivity_settings,
    spot_dates,
    ticker_rows,
)
from pointline.schemas import BARS, REFLEXIVITY_BARS, TRADES
from pointline_assets.bars import DAY_AND_PREVIOUS, bars_asset_name
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

REFLEXIVITY_ASSET = "reflexivity_bars"


def spot_trades_mapping(settings: ReflexivitySettings) -> MultiPartitionMapping:
    """trades (date - 1 .. date) of the configured spot exchanges."""
    return MultiPartitionMapping(
        {
            "date": DimensionPartitionMapping(
                "date",
                TimeWindowPartitionMapping(start_offset=-1, end_offset=0, allow_nonexistent_upstream_partitions=True),
            ),
            "exchange": DimensionPartitionMapping(
                "exchange", SpecificPartitionsPartitionMapping(sorted({s for _, s in settings.spot_exchanges}))
            ),
        }
    )


def _has_rows(lake: Lake, table: str, date: dt.date, exchange: str) -> bool:
    if not lake.exists(table):
        return False
    where = (pl.col("date") == date) & (pl.col("exchange") == exchange)
    return lake.scan(table).filter(where).select(pl.len()).collect().item() > 0


def _bars_source(context: AssetExecutionContext, lake: Lake, spec: BarSpec, key: str, date: dt.date, exchange: str):
    """The bars partition's lineage; refuses a partition never built or failing a blocking check."""
    name = bars_asset_name(spec)
    record = latest_materialization(context.instance, name, key)
    values = {"bar_spec": spec.name, "date": date, "exchange": exchange}
    if record is None and not (lake.exists("bars") and not lake.read_partition("bars", values).is_empty()):
        raise Failure(
            description=(
                f"{name} {key} is not materialized: reflexivity_bars reads its bars. Materialize {name} for the "
                "partition first (gold_job runs both, bars first)."
            )
        )
    if record is not None:
        failed = failed_blocking_checks(context.instance, record, name)
        if failed:
            raise Failure(
                description=f"{name} {key}: its latest materialization failed blocking check(s) {failed}; rebuild it.",
                metadata={"blocked_partition": f"{name} {key}", "failed_checks": failed},
            )
    return SourcePartition(name, key, record_data_version(record), lake.version("bars"))


def _spot_sources(
    context: AssetExecutionContext, lake: Lake, spot_exchange: str, dates: list[dt.date]
) -> list[SourcePartition]:
    sources = []
    for day in dates:
        key = str(partition_key(day, spot_exchange))
        if latest_materialization(context.instance, "trades", key) is None and not _has_rows(
            lake, "trades", day, spot_exchange
        ):
            raise Failure(
                description=(
                    f"trades {key} (the spot side of reflexivity_bars) is neither materialized nor in the lake: "
                    "its spot notional would read as 0. Materialize trades for it first (an empty partition is "
                    "fine when the venue had no trades)."
                ),
                metadata={"missing_partition": f"trades {key}"},
            )
        sources.append(source_partition(context.instance, lake, "trades", key))
    return sources


def build_reflexivity_asset(settings: ReflexivitySettings, spec: BarSpec) -> AssetsDefinition:
    bars_name = bars_asset_name(spec)
    code_version = f"{REFLEXIVITY_CODE_VERSION}:{settings.fingerprint()}"

    @asset(
        name=REFLEXIVITY_ASSET,
        partitions_def=event_partitions,
        group_name=GOLD_GROUP,
        code_version=code_version,
        deps=[
            AssetDep(AssetKey(bars_name), partition_mapping=IdentityPartitionMapping()),
            AssetDep("trades", partition_mapping=spot_trades_mapping(settings)),
            AssetDep("derivative_ticker", partition_mapping=DAY_AND_PREVIOUS),
            AssetDep("dim_symbol"),
        ],
        description=(
            f"Dollar bars `{spec.name}` on perpetuals with the spot notional of the same window "
            f"(spot exchanges: {dict(settings.spot_exchanges) or 'none'}) and open interest, funding and mark "
            "price as of the bar close. " + REFLEXIVITY_BARS.description
        ),
        metadata={
            **table_metadata(REFLEXIVITY_BARS),
            "bar_spec": spec.name,
            "spot_exchanges": MetadataValue.json(dict(settings.spot_exchanges)),
            "contract": "docs/gold-contract.md",
        },
        kinds={"delta", "polars"},
        check_specs=gold_check_specs(REFLEXIVITY_ASSET, REFLEXIVITY_CHECKS),
        backfill_policy=BackfillPolicy.multi_run(max_partitions_per_run=1),
        freshness_policy=gold_freshness(REFLEXIVITY_ASSET),
    )
    def _reflexivity(context: AssetExecutionContext, lake: LakeResource) -> MaterializeResult:
        date, exchange = split_partition_key(context.partition_key)
        key = str(context.partition_key)
        store = lake.lake()
        timezone = exchange_timezone(store, exchange)
        if not store.exists("dim_symbol"):
            raise Failure(description="dim_symbol is not materialized yet; materialize the dimensions first")
        bars_source = _bars_source(context, store, spec, key, date, exchange)
        values = {"bar_spec": spec.name, "date": date, "exchange": exchange}
        bars = store.read_partition("bars", values) if store.exists("bars") else BARS.empty()
        spot_exchange = settings.spot_exchange_for(exchange)
        dims = store.read("dim_symbol", pl.col("exchange").is_in([exchange, spot_exchange or exchange]))
        perp = perpetual_bars(bars, dims)
        dates = spot_dates(perp, date, timezone) if spot_exchange else []
        spot_sources = _spot_sources(context, store, spot_exchange, dates) if spot_exchange else []
        prev = date - dt.timedelta(days=1)
        ticker_sources = [
            source_partition(context.instance, store, "derivative_ticker", str(partition_key(day, exchange)))
            for day in (prev, date)
        ]

        symbols = sorted(set(perp["symbol"].to_list())) if perp.height else []
        if spot_exchange and dates:
            pairs = perp.select("base_asset", "quote_asset").unique()
            spot_symbols = (
                dims.filter((pl.col("exchange") == spot_exchange) & (pl.col("instrument_type") == "spot"))
                .join(pairs, on=["base_asset", "quote_asset"], how="semi")["exchange_symbol"]
                .unique()
                .to_list()
            )
            where = (
                (pl.col("exchange") == spot_exchange)
                & pl.col("date").is_between(dates[0], dates[-1])
                & pl.col("symbol").is_in(spot_symbols)
                & (pl.col("ts_local_us") >= perp["ts_start_us"].min())
                & (pl.col("ts_local_us") < perp["ts_end_us"].max())
            )
            spot_trades = store.scan("trades").filter(where).select(SPOT_COLUMNS).collect()
        else:
            spot_trades = TRADES.empty().select(SPOT_COLUMNS)
        ticker_scan = store.scan("derivative_ticker")
        ticker = ticker_rows(
            ticker_scan.filter((pl.col("date") == date) & (pl.col("exchange") == exchange)),
            ticker_scan.filter((pl.col("date") == prev) & (pl.col("exchange") == exchange)),
            symbols,
        )
        rows = build_reflexivity(
            bars,
            dims,
            spot_trades,
            ticker,
            date=date,
            exchange=exchange,
            timezone=timezone,
            spot_exchange=spot_exchange,
            source_data_version=bars_source.data_version,
            spot_versions={day: s.data_version for day, s in zip(dates, spot_sources, strict=True)},
            ticker_versions=[s.data_version for s in ticker_sources],
        )
        delta_version = store.write_partition(REFLEXIVITY_ASSET, rows, {"date": date, "exchange": exchange})
        outcomes = check_reflexivity(store, date, exchange, bars, dims, spot_trades, ticker)
        sources = [bars_source, *spot_sources, *ticker_sources]
        version = data_version(code_version, {"date": date.isoformat(), "exchange": exchange}, sources)
        with_spot = rows.filter(pl.col("spot_symbol").is_not_null())
        context.log.info(
            f"reflexivity_bars {key}: {rows.height} perpetual bar(s) of {spec.name}, {with_spot.height} with a spot "
            f"pair on {spot_exchange or 'no spot exchange'} ({spot_trades.height} spot trades read)"
        )
        return gold_result(
            rows,
            uri=store.uri(REFLEXIVITY_ASSET),
            time_column="ts_end_us",
            sources=sources,
            version=version,
            outcomes=outcomes,
            checks=REFLEXIVITY_CHECKS,
            bars=rows.height,
            bars_with_spot=with_spot.height,
            perpetuals=rows["symbol_id"].n_unique(),
            spot_exchange=spot_exchange or "",
            spot_trades_read=spot_trades.height,
            spot_trades_in_windows=int(with_spot["spot_trade_count"].sum() or 0),
            bars_without_open_interest=rows.filter(pl.col("open_interest").is_null()).height,
            delta_version=delta_version,
        )

    return _reflexivity


_CONFIGURED = reflexivity_settings()
REFLEXIVITY_ASSETS: dict[str, AssetsDefinition] = (
    {REFLEXIVITY_ASSET: build_reflexivity_asset(*_CONFIGURED)} if _CONFIGURED is not None else {}
)
