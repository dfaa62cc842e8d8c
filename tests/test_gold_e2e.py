"""Gold end to end through the real assets: sample Bronze -> dims -> trades/kline_1d -> daily_ohlcv and
bars, on temp Delta lakes and a temp Dagster instance. Expected rows come from the independent
reference in tests/gold_reference.py (plain loops over the stored Silver rows)."""

from __future__ import annotations

import datetime as dt
import gzip
import shutil
from decimal import Decimal
from pathlib import Path

import polars as pl
import pytest
from dagster import AssetKey, DagsterInstance, materialize

from pointline.bars import BarSpec
from pointline.lake import Lake
from pointline.schemas import BARS, DAILY_OHLCV
from pointline.trading_day import day_window_us
from pointline_assets.bars import build_bars_asset
from pointline_assets.dimensions import dim_exchange, dim_symbol
from pointline_assets.events import EVENT_ASSETS
from pointline_assets.gold import DATA_VERSION_TAG, daily_ohlcv, latest_materialization
from pointline_assets.partitions import daily_partitions, event_partitions, partition_key
from resources.lake import LakeResource
from resources.vendors import VendorsResource
from tests.gold_reference import reference_bars, reference_daily
from vendors.binance_vision.sample import write_sample_klines
from vendors.tardis.sample import write_sample_bronze

D1, D2, D3 = dt.date(2024, 5, 1), dt.date(2024, 5, 2), dt.date(2024, 5, 3)
DAYS = (D1, D2, D3)
FUT = "binance-futures"
EXCHANGES = ("binance", FUT, "deribit")
trades_asset, kline_1d = EVENT_ASSETS["trades"], EVENT_ASSETS["kline_1d"]


def _checks(result, asset: str) -> dict[str, bool]:
    return {
        e.asset_check_evaluation_data.check_name: e.asset_check_evaluation_data.passed
        for e in result.all_events
        if e.event_type_value == "ASSET_CHECK_EVALUATION" and e.asset_check_evaluation_data.asset_key == AssetKey(asset)
    }


def _materialized(result, asset: str) -> bool:
    return any(
        e.event_specific_data.materialization.asset_key == AssetKey(asset)
        for e in result.get_asset_materialization_events()
    )


def _failure(result) -> str:
    return " ".join(str(e.event_specific_data.error) for e in result.all_events if e.event_type_value == "STEP_FAILURE")


def _data_version(instance: DagsterInstance, asset: str, partition: str) -> str | None:
    record = latest_materialization(instance, asset, partition)
    return None if record is None else record.asset_materialization.tags[DATA_VERSION_TAG]


class Env:
    def __init__(self, root: Path, instance: DagsterInstance):
        self.root = root
        self.instance = instance
        self.lake_res = LakeResource(lake_root=str(root / "lake"), bronze_root=str(root / "bronze"))
        self.resources = {"lake": self.lake_res, "vendors": VendorsResource()}
        self.lake: Lake = self.lake_res.lake()

    def run(self, assets, key, **kw):
        return materialize(list(assets), instance=self.instance, resources=self.resources, partition_key=key, **kw)


def _volume_spec(lake: Lake) -> BarSpec:
    """Volume bars of about a third of each symbol's first-day volume: a few bars a day, most days
    ending with a bar open at midnight."""
    per_symbol = (
        lake.read("trades", (pl.col("exchange") == FUT) & (pl.col("date") == D1))
        .group_by("symbol")
        .agg(pl.col("qty").sum())
    )
    overrides = tuple(sorted((s, (q / 3).quantize(Decimal("0.001"))) for s, q in per_symbol.iter_rows()))
    return BarSpec("e2e_volume", "volume", Decimal(1), overrides)


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    from dagster import instance_for_test

    root = tmp_path_factory.mktemp("gold")
    (root / "home").mkdir()
    with instance_for_test(temp_dir=str(root / "home")) as instance:
        e = Env(root, instance)
        write_sample_bronze(root / "bronze", start=D1, days=3, rows_per_file=1000)
        write_sample_klines(root / "bronze", {FUT: ["BTCUSDT", "ETHUSDT"]}, list(DAYS), ("1d",))
        assert materialize([dim_exchange, dim_symbol], instance=instance, resources=e.resources).success
        for day in DAYS:
            assert e.run([trades_asset, kline_1d], partition_key(day, FUT)).success
            for exchange in ("binance", "deribit"):
                assert e.run([trades_asset], partition_key(day, exchange)).success
        e.specs = [
            BarSpec("e2e_tick", "tick", Decimal(450)),
            _volume_spec(e.lake),
            BarSpec("e2e_1h", "time", Decimal(3600)),
        ]
        e.bar_assets = {s.name: build_bars_asset(s) for s in e.specs}
        # day 2 before day 1: refused, the chain must be built in date order
        e.out_of_order = e.run(e.bar_assets.values(), partition_key(D2, FUT), raise_on_error=False)
        e.bar_results = {day: e.run(e.bar_assets.values(), partition_key(day, FUT)) for day in DAYS}
        e.daily = e.run([daily_ohlcv], D1.isoformat())
        yield e


# ---- bars ------------------------------------------------------------------------------------
def test_bars_refuse_to_start_a_chain_in_the_middle(env):
    result = env.out_of_order
    assert not result.success
    message = _failure(result)
    assert "bars_e2e_tick 2024-05-01|binance-futures is not materialized" in message and "date order" in message
    # time bars on a UTC grid carry nothing across midnight: they need no previous day
    assert _materialized(result, "bars_e2e_1h") and not _materialized(result, "bars_e2e_tick")


def test_every_bars_partition_passes_its_checks(env):
    for day, result in env.bar_results.items():
        assert result.success, day
        for spec in env.specs:
            checks = _checks(result, f"bars_{spec.name}")
            assert checks and all(checks.values()), (day, spec.name, checks)


@pytest.mark.parametrize("name", ["e2e_tick", "e2e_volume", "e2e_1h"])
def test_bars_equal_the_reference_built_over_all_days_at_once(env, name):
    spec = next(s for s in env.specs if s.name == name)
    trades = env.lake.read("trades", pl.col("exchange") == FUT)
    interval = spec.interval_us if spec.kind == "time" else None
    expected, _ = reference_bars(
        trades.to_dicts(), spec.kind, spec.threshold_for, tz="UTC", last_day=D3, interval_us=interval
    )
    stored = env.lake.read("bars", (pl.col("bar_spec") == name) & (pl.col("exchange") == FUT))
    cols = [c for c in BARS.names if c in expected[0]]
    got = stored.select(cols).sort("symbol_id", "bar_id").to_dicts()
    want = sorted(({c: b[c] for c in cols} for b in expected), key=lambda b: (b["symbol_id"], b["bar_id"]))
    assert got == want
    assert len(want) >= 10 and stored["symbol_id"].n_unique() == 4  # SOLUSDT changes symbol_id on day 1


@pytest.mark.parametrize("name", ["e2e_tick", "e2e_volume"])
def test_a_bar_spanning_midnight_is_built_once_with_its_lineage(env, name):
    stored = env.lake.read("bars", (pl.col("bar_spec") == name) & (pl.col("exchange") == FUT))
    spanning = stored.filter(pl.col("start_date") < pl.col("date"))
    assert spanning.height >= 2
    assert stored.select("symbol_id", "bar_id").is_unique().all()
    for bar in spanning.iter_rows(named=True):
        prev = str(partition_key(bar["date"] - dt.timedelta(days=1), FUT))
        assert bar["carry_data_version"] == _data_version(env.instance, f"bars_{name}", prev)
        assert bar["source_data_version"] == _data_version(env.instance, "trades", str(partition_key(bar["date"], FUT)))
        assert bar["ts_start_us"] < day_window_us(bar["date"], "UTC")[0]


def test_rebuilding_a_day_gives_identical_rows_and_leaves_other_days_alone(env):
    def files(day):
        dtable = env.lake.delta_table("bars")
        actions = pl.DataFrame(dtable.get_add_actions(flatten=True))
        return sorted(actions.filter(pl.col("partition.date") == day)["path"].to_list())

    def rows(day):
        return env.lake.read("bars", (pl.col("date") == day) & (pl.col("exchange") == FUT)).sort(
            "bar_spec", "symbol_id", "ts_end_us"
        )

    before = {day: (files(day), rows(day)) for day in DAYS}
    version = _data_version(env.instance, "bars_e2e_volume", str(partition_key(D2, FUT)))
    assert env.run(env.bar_assets.values(), partition_key(D2, FUT)).success
    assert files(D1) == before[D1][0] and files(D3) == before[D3][0]  # not rewritten
    assert files(D2) != before[D2][0] and rows(D2).equals(before[D2][1])  # rewritten, byte-identical rows
    assert _data_version(env.instance, "bars_e2e_volume", str(partition_key(D2, FUT))) == version


# ---- daily_ohlcv -----------------------------------------------------------------------------
def test_daily_ohlcv_equals_the_reference_and_records_its_source(env):
    result = env.daily
    assert result.success
    checks = _checks(result, "daily_ohlcv")
    assert checks and all(checks.values()), checks
    stored = env.lake.read("daily_ohlcv", pl.col("date") == D1)
    trades = env.lake.read("trades", pl.col("date") == D1)
    klines = env.lake.read("kline_1d", pl.col("date") == D1)
    expected = reference_daily(trades.to_dicts(), klines.to_dicts(), lambda ex: day_window_us(D1, "UTC"))
    got = {(r["exchange"], r["symbol_id"]): r for r in stored.to_dicts()}
    assert set(got) == set(expected)
    for key, want in expected.items():
        assert {k: got[key][k] for k in want} == want, key
    sources = {(r["exchange"], r["symbol"]): r["source"] for r in stored.to_dicts()}
    assert sources[(FUT, "BTCUSDT")] == sources[(FUT, "ETHUSDT")] == "kline_1d"
    assert (
        sources[(FUT, "SOLUSDT")]
        == sources[("deribit", "BTC-PERPETUAL")]
        == sources[("binance", "BTCUSDT")]
        == "trades"
    )
    assert set(stored["exchange"]) == set(EXCHANGES)
    # lineage: each row names the data version of the Silver partition it came from
    for row in stored.iter_rows(named=True):
        table = "kline_1d" if row["source"] == "kline_1d" else "trades"
        assert row["source_data_version"] == _data_version(env.instance, table, str(partition_key(D1, row["exchange"])))


def test_all_symbols_of_a_day_are_one_small_sorted_file(env):
    actions = pl.DataFrame(env.lake.delta_table("daily_ohlcv").get_add_actions(flatten=True))
    assert actions.filter(pl.col("partition.date") == D1).height == 1
    day = pl.scan_delta(env.lake.uri("daily_ohlcv")).filter(pl.col("date") == D1).collect()
    assert day.equals(day.sort(list(DAILY_OHLCV.sort_by)))


def test_daily_ohlcv_maps_one_date_to_that_date_of_every_exchange(env):
    from dagster import MultiToSingleDimensionPartitionMapping

    (dep,) = [d for d in daily_ohlcv.specs_by_key[AssetKey("daily_ohlcv")].deps if d.asset_key == AssetKey("trades")]
    assert isinstance(dep.partition_mapping, MultiToSingleDimensionPartitionMapping)
    mapped = dep.partition_mapping.get_upstream_mapped_partitions_result_for_partitions(
        daily_partitions.subset_with_partition_keys([D1.isoformat()]),
        daily_partitions,
        event_partitions,
        dynamic_partitions_store=env.instance,
    )
    keys = {str(k) for k in mapped.partitions_subset.get_partition_keys()}
    exchanges = set(env.instance.get_dynamic_partitions("exchange"))
    assert keys == {f"{D1.isoformat()}|{ex}" for ex in exchanges} and len(keys) > 3


def test_daily_ohlcv_rebuild_is_identical(env):
    before = env.lake.read("daily_ohlcv", pl.col("date") == D1)
    version = _data_version(env.instance, "daily_ohlcv", D1.isoformat())
    assert env.run([daily_ohlcv], D1.isoformat()).success
    assert env.lake.read("daily_ohlcv", pl.col("date") == D1).equals(before)
    assert _data_version(env.instance, "daily_ohlcv", D1.isoformat()) == version


# ---- blocking checks within and across runs, stale carry --------------------------------------
@pytest.fixture
def small(tmp_path, monkeypatch):
    from dagster import instance_for_test

    (tmp_path / "home").mkdir()
    with instance_for_test(temp_dir=str(tmp_path / "home")) as instance:
        e = Env(tmp_path, instance)
        write_sample_bronze(tmp_path / "bronze", start=D1, days=2, rows_per_file=1000)
        assert materialize([dim_exchange, dim_symbol], instance=instance, resources=e.resources).success
        e.spec = BarSpec("small_tick", "tick", Decimal(400))
        e.bars = build_bars_asset(e.spec)
        from pointline.config import config_dir

        strict = tmp_path / "strict_config"
        shutil.copytree(config_dir(), strict)
        toml = strict / "lake.toml"
        toml.write_text(toml.read_text().replace("max_quarantine_rate = 0.01", "max_quarantine_rate = 0.0"))
        e.strict, e.normal = str(strict), str(config_dir())
        e.monkeypatch = monkeypatch
        yield e


def test_a_failed_blocking_check_keeps_gold_out_in_the_run_and_in_later_runs(small):
    key = partition_key(D1, FUT)
    small.monkeypatch.setenv("POINTLINE_CONFIG_DIR", small.strict)  # every sample file has a few bad rows
    same_run = small.run([trades_asset, small.bars], key, raise_on_error=False)
    assert not same_run.success and _checks(same_run, "trades")["quarantine_rate"] is False
    assert _materialized(same_run, "trades") and not _materialized(same_run, "bars_small_tick")  # skipped

    later = small.run([small.bars], key, raise_on_error=False)
    assert not later.success and "failed blocking check(s) ['quarantine_rate']" in _failure(later)
    daily = small.run([daily_ohlcv], D1.isoformat(), raise_on_error=False)
    assert not daily.success and "trades 2024-05-01|binance-futures" in _failure(daily)
    assert not small.lake.exists("bars") and not small.lake.exists("daily_ohlcv")

    small.monkeypatch.setenv("POINTLINE_CONFIG_DIR", small.normal)  # the operator relaxes it (or fixes the data)
    assert small.run([trades_asset], key).success
    assert small.run([small.bars], key).success
    assert small.run([daily_ohlcv], D1.isoformat()).success


def test_after_a_range_run_gold_is_blocked_only_where_that_partition_failed(small):
    """A single-run backfill records one evaluation per check for its whole range; the guard reads
    which partitions it failed on, and each partition's own data version from its metadata."""
    small.monkeypatch.setenv("POINTLINE_CONFIG_DIR", small.strict)
    ranged = materialize(
        [trades_asset],
        instance=small.instance,
        resources=small.resources,
        tags={  # binance-coin-futures (no files: passes) .. binance-futures (bad rows: fails)
            "dagster/asset_partition_range_start": "2024-05-01|binance-coin-futures",
            "dagster/asset_partition_range_end": "2024-05-01|binance-futures",
        },
        raise_on_error=False,
    )
    assert not ranged.success and _checks(ranged, "trades")["quarantine_rate"] is False
    small.monkeypatch.setenv("POINTLINE_CONFIG_DIR", small.normal)
    blocked = small.run([small.bars], partition_key(D1, FUT), raise_on_error=False)
    assert not blocked.success and "failed blocking check(s) ['quarantine_rate']" in _failure(blocked)
    clean = small.run([small.bars], partition_key(D1, "binance-coin-futures"))
    assert clean.success
    record = latest_materialization(small.instance, "trades", str(partition_key(D1, "binance-coin-futures")))
    own = record.asset_materialization.metadata["data_version"].value
    inputs = next(
        e.event_specific_data.materialization.metadata["inputs"].value for e in clean.get_asset_materialization_events()
    )
    assert own in str(inputs)  # lineage names the partition's own version, not the range's


def test_a_stale_carry_is_refused_until_the_previous_day_is_rebuilt(small):
    for day in (D1, D2):
        assert small.run([trades_asset, small.bars], partition_key(day, FUT)).success
    # the vendor corrects the first day's file: trades D1 gets a new data version
    path = next(
        (small.root / "bronze").glob(
            "tardis/exchange=binance-futures/type=trades/date=2024-05-01/symbol=BTCUSDT/*.csv.gz"
        )
    )
    lines = gzip.decompress(path.read_bytes()).splitlines(keepends=True)
    path.write_bytes(gzip.compress(b"".join(lines[:-1])))
    assert small.run([trades_asset], partition_key(D1, FUT)).success
    stale = small.run([small.bars], partition_key(D2, FUT), raise_on_error=False)
    assert not stale.success and "its carry is stale" in _failure(stale)
    for day in (D1, D2):  # rebuilding forward in date order fixes it
        assert small.run([small.bars], partition_key(day, FUT)).success
    trades = small.lake.read("trades", pl.col("exchange") == FUT)
    expected, _ = reference_bars(trades.to_dicts(), "tick", small.spec.threshold_for, tz="UTC", last_day=D2)
    stored = small.lake.read("bars", pl.col("exchange") == FUT)
    assert stored.height == len(expected)
    assert sorted(stored.select("symbol_id", "bar_id", "ts_end_us", "volume").rows()) == sorted(
        (b["symbol_id"], b["bar_id"], b["ts_end_us"], b["volume"]) for b in expected
    )
