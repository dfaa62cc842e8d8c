"""The Gold assets in the code location: graph Bronze -> Silver -> Gold, partitions and mappings,
blocking checks, jobs."""

from __future__ import annotations

from dagster import (
    AssetKey,
    IdentityPartitionMapping,
    MultiPartitionMapping,
    MultiToSingleDimensionPartitionMapping,
    TimeWindowPartitionMapping,
)

from pointline.bars import BAR_CHECKS, bar_specs
from pointline.gold import DAILY_OHLCV_CHECKS
from pointline.options_grid import GRID_CHECKS
from pointline.reflexivity import REFLEXIVITY_CHECKS
from pointline_assets.bars import BAR_ASSETS
from pointline_assets.options_grid import OPTIONS_GRID_ASSETS
from pointline_assets.reflexivity import REFLEXIVITY_ASSETS
from pointline_defs import defs

ON_GOLD = {"reflexivity_bars", "options_surface_grid"}  # Gold assets with other parents than trades/kline_1d


def test_gold_assets_are_in_the_graph_downstream_of_silver_only():
    graph = defs.resolve_asset_graph()
    bars = {"daily_ohlcv", *(f"bars_{s.name}" for s in bar_specs())}
    gold = bars | ON_GOLD
    assert set(BAR_ASSETS) == bars - {"daily_ohlcv"} and len(BAR_ASSETS) == 4
    assert set(REFLEXIVITY_ASSETS) == {"reflexivity_bars"} and set(OPTIONS_GRID_ASSETS) == {"options_surface_grid"}
    parents_of = {name: {k.to_user_string() for k in graph.get(AssetKey(name)).parent_keys} for name in ON_GOLD}
    assert parents_of["reflexivity_bars"] == {"bars_dollar_1m", "trades", "derivative_ticker", "dim_symbol"}
    assert parents_of["options_surface_grid"] == {"options_chain"}
    for name in ON_GOLD:
        assert graph.get(AssetKey(name)).group_name == "gold"
    for name in bars:
        node = graph.get(AssetKey(name))
        assert node.group_name == "gold"
        parents = {k.to_user_string() for k in node.parent_keys} - {name}
        assert parents <= {"trades", "kline_1d"} and "trades" in parents
    assert {k.to_user_string() for k in graph.get(AssetKey("daily_ohlcv")).parent_keys} == {"trades", "kline_1d"}
    for key in graph.get_all_asset_keys():  # one direction: nothing outside Gold reads Gold
        if key.to_user_string() not in gold:
            assert not {k.to_user_string() for k in graph.get(key).parent_keys} & gold, key


def test_partition_mappings():
    daily = defs.get_assets_def("daily_ohlcv")
    deps = {d.asset_key.to_user_string(): d.partition_mapping for d in daily.specs_by_key[AssetKey("daily_ohlcv")].deps}
    assert all(isinstance(m, MultiToSingleDimensionPartitionMapping) for m in deps.values())
    assert deps["trades"].partition_dimension_name == "date"
    assert daily.partitions_def.get_partition_keys()[0] == "2019-01-01"
    for name, assets_def in BAR_ASSETS.items():
        key = AssetKey(name)
        by_key = {d.asset_key: d.partition_mapping for d in assets_def.specs_by_key[key].deps}
        own, trades = by_key[key], by_key[AssetKey("trades")]  # the previous day (carry), and trades D-1..D
        for mapping, offsets in ((own, (-1, -1)), (trades, (-1, 0))):
            assert isinstance(mapping, MultiPartitionMapping)
            date = mapping.downstream_mappings_by_upstream_dimension["date"].partition_mapping
            exchange = mapping.downstream_mappings_by_upstream_dimension["exchange"].partition_mapping
            assert isinstance(date, TimeWindowPartitionMapping) and (date.start_offset, date.end_offset) == offsets
            assert isinstance(exchange, IdentityPartitionMapping)


def test_gold_checks_are_blocking_and_jobs_resolve():
    graph = defs.resolve_asset_graph()
    for name, expected in (
        ("daily_ohlcv", DAILY_OHLCV_CHECKS),
        *((n, BAR_CHECKS) for n in BAR_ASSETS),
        ("reflexivity_bars", REFLEXIVITY_CHECKS),
        ("options_surface_grid", GRID_CHECKS),
    ):
        checks = {c.name: c for c in defs.get_assets_def(name).check_specs}
        assert set(checks) == set(expected)
        assert all(c.blocking for c in checks.values())
        assert graph.get(AssetKey(name)).partitions_def is not None
    gold_job = defs.resolve_job_def("gold_job")
    assert {k.to_user_string() for k in gold_job.asset_layer.selected_asset_keys} == set(BAR_ASSETS) | ON_GOLD
    daily_job = defs.resolve_job_def("gold_daily_job")
    assert {k.to_user_string() for k in daily_job.asset_layer.selected_asset_keys} == {"daily_ohlcv"}
