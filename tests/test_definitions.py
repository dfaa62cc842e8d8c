"""The whole code location loads, with the graph, groups, checks and sensor users rely on."""

from __future__ import annotations

from dagster import AssetKey, DefaultSensorStatus, Definitions

from pointline_defs import defs


def test_definitions_load():
    Definitions.validate_loadable(defs)
    graph = defs.resolve_asset_graph()
    keys = {k.to_user_string() for k in graph.get_all_asset_keys()}
    assert {"bronze/tardis/trades", "bronze/tardis/instruments", "dim_exchange", "dim_symbol", "trades"} <= keys


def test_graph_flows_bronze_to_dims_to_silver():
    graph = defs.resolve_asset_graph()
    trades = graph.get(AssetKey("trades"))
    bronze_trades = AssetKey(["bronze", "tardis", "trades"])
    assert set(trades.parent_keys) == {AssetKey("dim_exchange"), AssetKey("dim_symbol"), bronze_trades}
    assert graph.get(bronze_trades).partitions_def == trades.partitions_def  # one Bronze partition per Silver one
    dim_symbol_parents = set(graph.get(AssetKey("dim_symbol")).parent_keys)
    assert {AssetKey(["bronze", v, "instruments"]) for v in ("tardis", "tushare")} <= dim_symbol_parents
    assert AssetKey(["bronze", "coingecko", "instruments"]) not in dim_symbol_parents  # no instrument metadata
    assert set(graph.get(AssetKey("kline_1h")).parent_keys) >= {AssetKey(["bronze", "binance_vision", "kline_1h"])}
    groups = {k.to_user_string(): graph.get(k).group_name for k in graph.get_all_asset_keys()}
    assert groups["bronze/tardis/quotes"] == "bronze" and groups["dim_symbol"] == "dimensions"
    assert groups["quotes"] == "silver"


def test_silver_assets_are_partitioned_and_checked():
    graph = defs.resolve_asset_graph()
    for table in ("trades", "quotes"):
        node = graph.get(AssetKey(table))
        assert node.partitions_def is not None
        assert node.partitions_def.get_partition_key_from_str("2024-05-01|binance").keys_by_dimension == {
            "date": "2024-05-01",
            "exchange": "binance",
        }
        checks = (
            {c.name: c for c in graph.get_check_specs(AssetKey(table))}
            if hasattr(graph, "get_check_specs")
            else {c.name: c for c in defs.get_assets_def(table).check_specs}
        )
        assert {"schema_conformance", "unique_lineage", "quarantine_rate", "within_trading_day"} <= set(checks)
        assert checks["quarantine_rate"].blocking
    assert "no_crossed_quotes" in {c.name for c in defs.get_assets_def("quotes").check_specs}


def test_sensor_runs_by_default():
    sensor = defs.get_sensor_def("bronze_sensor")
    assert sensor.default_status == DefaultSensorStatus.RUNNING


def test_silver_assets_carry_the_freshness_policy_from_config():
    """Late tables show in the UI: every row-fed asset has the [freshness] windows of config/lake.toml."""
    import datetime as dt

    from pointline.config import settings
    from pointline_assets.events import EVENT_ASSETS

    warn, fail = settings().freshness("trades")
    assert (warn, fail) == (26.0, 36.0)
    for table, asset in EVENT_ASSETS.items():
        (spec,) = asset.specs
        policy = spec.freshness_policy
        assert policy is not None, table
        assert policy.fail_window.to_timedelta() == dt.timedelta(hours=settings().freshness(table)[1])
        assert policy.warn_window.to_timedelta() == dt.timedelta(hours=settings().freshness(table)[0])


def test_freshness_overrides_per_table(tmp_path):
    from pointline.config import config_dir, load_settings

    text = (config_dir() / "lake.toml").read_text(encoding="utf-8")
    text += "\n[freshness.tables.kline_1d]\nwarn_after_hours = 48\nfail_after_hours = 72\n"
    (tmp_path / "lake.toml").write_text(text)
    loaded = load_settings(tmp_path / "lake.toml")
    assert loaded.freshness("kline_1d") == (48.0, 72.0) and loaded.freshness("trades") == (26.0, 36.0)
