"""options_surface_grid: end to end through the real asset (sample Bronze with the deribit OPTIONS file ->
dims -> options_chain -> options_surface_grid on temp Delta lakes and a temp Dagster instance), and the
pure build on hand-made rows for the edge cases. Expected rows come from `reference_grid`: plain loops
over the stored options_chain rows, sharing no code with pointline/options_grid.py."""

from __future__ import annotations

import datetime as dt
import functools
from decimal import Decimal
from pathlib import Path

import polars as pl
import pytest
from dagster import AssetKey, DagsterInstance, instance_for_test, materialize

from pointline.config import ConfigError
from pointline.lake import Lake
from pointline.options_grid import (
    OptionsGridSettings,
    build_options_grid,
    chain_tail,
    grid_points,
    load_options_grid_settings,
    parse_options_grid,
)
from pointline.schemas import OPTIONS_CHAIN, OPTIONS_SURFACE_GRID, validate_frame
from pointline_assets.dimensions import dim_exchange, dim_symbol
from pointline_assets.events import EVENT_ASSETS
from pointline_assets.gold import DATA_VERSION_TAG, latest_materialization
from pointline_assets.options_grid import build_options_grid_asset
from pointline_assets.partitions import partition_key
from resources.lake import LakeResource
from resources.vendors import VendorsResource
from tests.gold_reference import local_date, local_midnight_us
from vendors.tardis.sample import write_sample_bronze

D1, D2, D3 = dt.date(2024, 5, 1), dt.date(2024, 5, 2), dt.date(2024, 5, 3)
DAYS = (D1, D2, D3)
EX = "deribit"
MINUTE = 60_000_000
options_chain = EVENT_ASSETS["options_chain"]


# ---- the independent reference ---------------------------------------------------------------
def reference_grid(
    rows: list[dict], day: dt.date, tz: str, step_us: int, max_staleness_us: int | None
) -> dict[tuple[str, int], dict]:
    """{(symbol, grid point): the sampled options_chain row} by plain loops. Grid points: every
    multiple of the step from local midnight (inclusive) to the next (exclusive). At each, per symbol,
    the last row (time, then lineage order) of the day or the day before that arrived strictly
    before the point, unless expired at the point or older than the staleness bound."""
    start, end = local_midnight_us(day, tz), local_midnight_us(day + dt.timedelta(days=1), tz)
    window = [r for r in rows if r["date"] in (day, day - dt.timedelta(days=1))]
    by_symbol: dict[str, list[dict]] = {}
    for r in sorted(window, key=lambda r: (r["ts_local_us"], r["file_id"], r["file_line"])):
        by_symbol.setdefault(r["symbol"], []).append(r)
    point = start + (-start) % step_us
    out = {}
    while point < end:
        for symbol, history in by_symbol.items():
            last = None
            for r in history:
                if r["ts_local_us"] < point:
                    last = r
            if last is None or last["expiry_us"] <= point:
                continue
            if max_staleness_us is not None and point - last["ts_local_us"] > max_staleness_us:
                continue
            out[(symbol, point)] = last
        point += step_us
    return out


def _assert_matches(stored: pl.DataFrame, expected: dict[tuple[str, int], dict]) -> None:
    got = {(r["symbol"], r["ts_grid_us"]): r for r in stored.to_dicts()}
    assert set(got) == set(expected)
    copied = [c for c in OPTIONS_SURFACE_GRID.names if c in OPTIONS_CHAIN.names and c not in ("date", "exchange")]
    for key, row in expected.items():
        assert {c: got[key][c] for c in copied} == {c: row[c] for c in copied}, key
        assert got[key]["source_date"] == row["date"], key


# ---- end to end ------------------------------------------------------------------------------
def _checks(result, asset: str) -> dict[str, bool]:
    return {
        e.asset_check_evaluation_data.check_name: e.asset_check_evaluation_data.passed
        for e in result.all_events
        if e.event_type_value == "ASSET_CHECK_EVALUATION" and e.asset_check_evaluation_data.asset_key == AssetKey(asset)
    }


def _data_version(instance: DagsterInstance, asset: str, partition: str) -> str | None:
    record = latest_materialization(instance, asset, partition)
    return None if record is None else record.asset_materialization.tags[DATA_VERSION_TAG]


class Env:
    def __init__(self, root: Path, instance: DagsterInstance):
        self.root, self.instance = root, instance
        lake_res = LakeResource(lake_root=str(root / "lake"), bronze_root=str(root / "bronze"))
        self.resources = {"lake": lake_res, "vendors": VendorsResource()}
        self.lake: Lake = lake_res.lake()

    def run(self, assets, key, **kw):
        return materialize(list(assets), instance=self.instance, resources=self.resources, partition_key=key, **kw)


SETTINGS = OptionsGridSettings("10m", "3h")


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    root = tmp_path_factory.mktemp("options_grid")
    (root / "home").mkdir()
    with instance_for_test(temp_dir=str(root / "home")) as instance:
        e = Env(root, instance)
        write_sample_bronze(
            root / "bronze", start=D1, days=3, rows_per_file=600, data_types=("trades", "options_chain")
        )
        assert materialize([dim_exchange, dim_symbol], instance=instance, resources=e.resources).success
        for day in DAYS:
            assert e.run([options_chain], partition_key(day, EX)).success
        e.grid = build_options_grid_asset(SETTINGS)
        # days are independent: any order works (no carry state, the previous day's tail is read)
        e.results = {day: e.run([e.grid], partition_key(day, EX)) for day in (D3, D1, D2)}
        yield e


def test_every_partition_passes_its_checks(env):
    for day, result in env.results.items():
        assert result.success, day
        checks = _checks(result, "options_surface_grid")
        assert set(checks) == {"schema_conformance", "on_the_grid", "asof_not_from_future", "matches_chain"}
        assert all(checks.values()), (day, checks)


def test_rows_equal_the_reference(env):
    chain = env.lake.read("options_chain", pl.col("exchange") == EX).to_dicts()
    stored = env.lake.read("options_surface_grid", pl.col("exchange") == EX)
    for day in DAYS:
        expected = reference_grid(chain, day, "UTC", SETTINGS.step_us, SETTINGS.max_staleness_us)
        assert len(expected) > 1000
        _assert_matches(stored.filter(pl.col("date") == day), expected)
    assert stored["symbol"].n_unique() == 24 and stored["ts_local_us"].lt(stored["ts_grid_us"]).all()


def test_midnight_state_comes_from_the_previous_day_with_its_lineage(env):
    stored = env.lake.read("options_surface_grid", pl.col("exchange") == EX)
    midnight = local_midnight_us(D2, "UTC")
    first = stored.filter(pl.col("ts_grid_us") == midnight)
    assert first.height >= 10 and (first["source_date"] == D1).all()
    assert (first["date"] == D2).all()
    for day in DAYS:
        for source, rows in stored.filter(pl.col("date") == day).group_by("source_date"):
            want = _data_version(env.instance, "options_chain", str(partition_key(source[0], EX)))
            assert rows["source_data_version"].unique().to_list() == [want]
    # the first day has no previous partition: nothing at its midnight
    assert stored.filter(pl.col("ts_grid_us") == local_midnight_us(D1, "UTC")).is_empty()


def test_rebuild_is_identical_and_exchanges_without_options_get_an_empty_partition(env):
    key = partition_key(D2, EX)
    before = env.lake.read("options_surface_grid", pl.col("date") == D2)
    version = _data_version(env.instance, "options_surface_grid", str(key))
    assert env.run([env.grid], key).success
    assert env.lake.read("options_surface_grid", pl.col("date") == D2).equals(before)
    assert _data_version(env.instance, "options_surface_grid", str(key)) == version
    assert env.run([env.grid], partition_key(D2, "binance")).success
    assert env.lake.read("options_surface_grid", pl.col("exchange") == "binance").is_empty()


def test_whole_surface_at_a_time_is_contiguous_and_sorted(env):
    day = env.lake.read("options_surface_grid", pl.col("date") == D2)
    assert day.equals(day.sort(list(OPTIONS_SURFACE_GRID.sort_by)))
    actions = pl.DataFrame(env.lake.delta_table("options_surface_grid").get_add_actions(flatten=True))
    assert actions.filter((pl.col("partition.date") == D2) & (pl.col("partition.exchange") == EX)).height == 1


# ---- the pure build on hand-made rows --------------------------------------------------------
def _row(symbol, ts, line, *, expiry, bid="0.01", file_id=1, tz="UTC") -> dict:
    row = dict.fromkeys(OPTIONS_CHAIN.names)
    row.update(
        date=local_date(ts, tz),
        exchange=EX,
        symbol=symbol,
        symbol_id=hash(symbol) % 1000,
        ts_local_us=ts,
        ts_exch_us=ts - 5,
        option_type="call",
        strike=Decimal(60000),
        expiry_us=expiry,
        bid_price=Decimal(bid),
        bid_iv=55.5,
        file_id=file_id,
        file_line=line,
    )
    return row


def _build(rows: list[dict], day: dt.date, tz: str, settings: OptionsGridSettings) -> pl.DataFrame:
    frame = pl.DataFrame(rows, schema=OPTIONS_CHAIN.polars_schema)
    prev = day - dt.timedelta(days=1)
    out = build_options_grid(
        frame.filter(pl.col("date") == day),
        chain_tail(frame.filter(pl.col("date") == prev).lazy()),
        settings,
        date=day,
        exchange=EX,
        timezone=tz,
        versions={prev: "p", day: "d"},
    )
    validate_frame(out, OPTIONS_SURFACE_GRID)
    return out


@pytest.mark.parametrize("tz", ["UTC", "Asia/Kolkata"])
def test_handmade_edge_cases_equal_the_reference(tz):
    start = local_midnight_us(D2, tz)
    far = start + 10 * 86_400_000_000
    row = functools.partial(_row, tz=tz)
    rows = [
        row("A", start - 7 * MINUTE, 1, expiry=far, bid="0.01", file_id=9),  # the day before
        row("A", start - 3 * 86_400_000_000, 2, expiry=far, file_id=8),  # three days before: never read
        row("B", start - 120 * MINUTE, 3, expiry=far, file_id=9),  # 2 h before midnight: stale at every point
        row("A", start + 20 * MINUTE, 4, expiry=far, bid="0.02"),  # exactly on a grid point: not before it
        row("A", start + 20 * MINUTE, 5, expiry=far, bid="0.03"),  # same microsecond: the last prevails
        row("A", start + 31 * MINUTE, 6, expiry=far, bid="0.04"),
        row("C", start + 5 * MINUTE, 7, expiry=start + 40 * MINUTE),  # expires at 00:40
        row("D", start + 86_400_000_000 - 1, 8, expiry=far),  # the day's last microsecond: no later point
    ]
    settings = OptionsGridSettings("10m", "1h")
    out = _build(rows, D2, tz, settings)
    kept = [r for r in rows if r["date"] == D2 or r["file_line"] in (1, 3)]  # the day and the previous day's tail
    expected = reference_grid(kept, D2, tz, settings.step_us, settings.max_staleness_us)
    _assert_matches(out, expected)
    got = {(r["symbol"], r["ts_grid_us"] - start): r for r in out.to_dicts()}
    a = {offset // MINUTE: r for (s, offset), r in got.items() if s == "A"}
    assert sorted(a)[:5] == [0, 10, 20, 30, 40]
    assert a[0]["bid_price"] == Decimal("0.01") and a[0]["source_date"] == D2 - dt.timedelta(days=1)
    assert a[0]["source_data_version"] == "p" and a[20]["bid_price"] == Decimal("0.01")  # 00:20 row not yet known
    assert a[30]["bid_price"] == Decimal("0.03") and a[30]["file_line"] == 5 and a[40]["file_line"] == 6
    assert a[40]["source_data_version"] == "d"
    assert max(a) == 90  # the 00:31 row is over an hour old after 01:31
    c = sorted(offset // MINUTE for (s, offset) in got if s == "C")
    assert c == [10, 20, 30]  # expired at 00:40
    assert not any(s in ("B", "D") for s, _ in got)
    assert (out["date"] == D2).all()
    assert out["ts_grid_us"].min() == start + (-start) % settings.step_us


def test_without_max_staleness_the_previous_day_bounds_the_lookback():
    start = local_midnight_us(D2, "UTC")
    rows = [
        _row("B", start - 20 * 3_600_000_000, 1, expiry=start + 10**12, file_id=9),
        _row("Z", start - 30 * 3_600_000_000, 2, expiry=start + 10**12, file_id=8),  # two days back
    ]
    out = _build(rows, D2, "UTC", OptionsGridSettings("1h"))
    assert out["symbol"].unique().to_list() == ["B"] and out.height == 24


def test_grid_points_follow_the_exchange_day():
    assert len(grid_points(D2, "UTC", 5 * MINUTE)) == 288
    kolkata = grid_points(D2, "Asia/Kolkata", 60 * MINUTE)  # +05:30: the hours fall at :30 local
    assert len(kolkata) == 24 and all(local_date(t, "Asia/Kolkata") == D2 for t in kolkata)
    assert kolkata[0] == local_midnight_us(D2, "Asia/Kolkata") + 30 * MINUTE
    dst = grid_points(dt.date(2024, 3, 10), "America/New_York", 60 * MINUTE)  # a 23-hour day
    assert len(dst) == 23


def test_options_grid_config_is_data_and_checked():
    loaded = load_options_grid_settings()
    assert loaded is not None and loaded.step_us > 0
    assert parse_options_grid({"step": "250ms"}).step_us == 250_000
    with pytest.raises(ConfigError, match="must divide a day"):
        parse_options_grid({"step": "7m"})
    with pytest.raises(ConfigError, match="is not a duration"):
        parse_options_grid({"step": "5 minutes"})
    with pytest.raises(ConfigError, match="is not a duration"):
        parse_options_grid({"step": "5m", "max_staleness": "soon"})
    with pytest.raises(ConfigError, match="unknown key"):
        parse_options_grid({"step": "5m", "every": "1m"})
