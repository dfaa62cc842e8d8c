"""The Bronze sensor, evaluated with build_sensor_context on a real temp instance."""

from __future__ import annotations

import datetime as dt
import gzip
import os

from dagster import AssetKey, build_sensor_context, materialize

from pointline.config import load_exchanges
from pointline_assets.dimensions import dim_exchange, dim_symbol
from pointline_assets.sensors import Cursor, bronze_sensor
from pointline_defs import defs
from resources.lake import LakeResource
from resources.vendors import VendorsResource
from vendors.tardis.sample import write_sample_bronze

D1 = dt.date(2024, 5, 1)


def _tick(instance, resources, cursor):
    """One evaluation as the daemon does it (target and partition keys validated, not a bare call)."""
    # The daemon evaluates ticks with the instance as partition store; the test does the same.
    from dagster._core.definitions.partitions.context import partition_loading_context

    ctx = build_sensor_context(instance=instance, cursor=cursor, resources=resources, definitions=defs)
    with partition_loading_context(dynamic_partitions_store=instance):
        return defs.get_sensor_def(bronze_sensor.name).evaluate_tick(ctx)


def _setup(tmp_path, rows_per_file: int = 100):
    write_sample_bronze(tmp_path / "bronze", start=D1, days=1, rows_per_file=rows_per_file)
    lake = LakeResource(lake_root=str(tmp_path / "lake"), bronze_root=str(tmp_path / "bronze"))
    return {"lake": lake, "vendors": VendorsResource()}


def test_consecutive_days_of_one_exchange_are_one_range_run(tmp_path, dagster_instance):
    """Three days of files landing at once: one single-run backfill range per exchange, not three runs."""
    write_sample_bronze(tmp_path / "bronze", start=D1, days=3, rows_per_file=50)
    resources = {
        "lake": LakeResource(lake_root=str(tmp_path / "lake"), bronze_root=str(tmp_path / "bronze")),
        "vendors": VendorsResource(),
    }
    first = _tick(dagster_instance, resources, None)
    assert materialize([dim_exchange, dim_symbol], instance=dagster_instance, resources=resources).success
    second = _tick(dagster_instance, resources, first.cursor)
    ranges = sorted(
        (r.tags["dagster/asset_partition_range_start"], r.tags["dagster/asset_partition_range_end"], r.partition_key)
        for r in second.run_requests
    )
    assert ranges == [(f"2024-05-01|{x}", f"2024-05-03|{x}", None) for x in ("binance", "binance-futures", "deribit")]


def _settled(tmp_path, instance):
    """Sample Bronze, the first tick, the dimension runs it asked for, and the tick that ingests the files."""
    resources = _setup(tmp_path)
    first = _tick(instance, resources, None)
    assert materialize([dim_exchange, dim_symbol], instance=instance, resources=resources).success
    return resources, _tick(instance, resources, first.cursor)


def test_first_tick_requests_dimensions_and_partitions_then_waits(tmp_path, dagster_instance):
    resources = _setup(tmp_path)
    result = _tick(dagster_instance, resources, None)
    selected = [tuple(k.to_user_string() for k in r.asset_selection) for r in result.run_requests]
    assert selected == [("dim_exchange", "dim_trading_calendar"), ("dim_symbol",)]
    added = result.dynamic_partitions_requests[0]
    assert "binance-futures" in added.partition_keys and len(added.partition_keys) == load_exchanges().height
    assert set(Cursor.load(result.cursor).waiting_for) == {"dim_exchange", "dim_symbol"}


def test_after_dims_land_it_requests_exactly_the_new_partitions(tmp_path, dagster_instance):
    resources = _setup(tmp_path)
    first = _tick(dagster_instance, resources, None)
    assert materialize([dim_exchange, dim_symbol], instance=dagster_instance, resources=resources).success
    second = _tick(dagster_instance, resources, first.cursor)
    keys = sorted(r.partition_key for r in second.run_requests)
    assert keys == ["2024-05-01|binance", "2024-05-01|binance-futures", "2024-05-01|deribit"]
    assert all({k.to_user_string() for k in r.asset_selection} == {"trades", "quotes"} for r in second.run_requests)

    third = _tick(dagster_instance, resources, second.cursor)
    assert not third.run_requests  # nothing changed

    # a vendor correction of one quotes file re-requests only that partition and table
    path = next((tmp_path / "bronze").rglob("type=quotes/date=2024-05-01/symbol=ETH-PERPETUAL/*.csv.gz"))
    text = gzip.decompress(path.read_bytes()).decode().splitlines()
    path.write_bytes(gzip.compress(("\n".join(text[:-1]) + "\n").encode(), mtime=0))
    fourth = _tick(dagster_instance, resources, third.cursor)
    assert [(r.partition_key, [k.to_user_string() for k in r.asset_selection]) for r in fourth.run_requests] == [
        ("2024-05-01|deribit", ["quotes"])
    ]
    assert fourth.run_requests[0].run_key != second.run_requests[-1].run_key


def test_touch_without_content_change_requests_nothing(tmp_path, dagster_instance):
    resources, second = _settled(tmp_path, dagster_instance)
    path = next((tmp_path / "bronze").rglob("*.csv.gz"))
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 10_000_000_000))
    third = _tick(dagster_instance, resources, second.cursor)
    assert not third.run_requests


def test_unknown_exchange_files_are_skipped_with_a_warning(tmp_path, dagster_instance, caplog):
    resources, second = _settled(tmp_path, dagster_instance)
    odd = tmp_path / "bronze/tardis/exchange=mars/type=trades/date=2024-05-01/symbol=X/X.csv.gz"
    odd.parent.mkdir(parents=True)
    odd.write_bytes(gzip.compress(b"exchange,symbol,timestamp,local_timestamp,id,side,price,amount\n"))
    third = _tick(dagster_instance, resources, second.cursor)
    assert not third.run_requests
    assert odd.relative_to(tmp_path / "bronze").as_posix() not in Cursor.load(third.cursor).files


def test_new_instrument_metadata_requests_dim_symbol_and_holds_silver(tmp_path, dagster_instance):
    resources, second = _settled(tmp_path, dagster_instance)
    snap = next((tmp_path / "bronze").rglob("instruments.json"))
    new = snap.parent.parent / "date=2024-05-02" / "instruments.json"
    new.parent.mkdir()
    new.write_text(snap.read_text())
    third = _tick(dagster_instance, resources, second.cursor)
    assert [[k.to_user_string() for k in r.asset_selection] for r in third.run_requests] == [["dim_symbol"]]


def test_files_outside_the_partition_range_and_unknown_layouts_are_skipped(tmp_path, dagster_instance):
    resources, second = _settled(tmp_path, dagster_instance)
    header = b"exchange,symbol,timestamp,local_timestamp,id,side,price,amount\n"
    old = tmp_path / "bronze/tardis/exchange=deribit/type=trades/date=2015-01-01/symbol=X/X.csv.gz"
    old.parent.mkdir(parents=True)
    old.write_bytes(gzip.compress(header))
    stray = tmp_path / "bronze/tardis/readme-from-vendor.txt"
    stray.write_text("not data")
    third = _tick(dagster_instance, resources, second.cursor)
    assert not third.run_requests  # the tick does not fail on a key the partitions cannot hold
    assert str(stray) in Cursor.load(third.cursor).unrecognized


def test_a_file_whose_local_day_has_no_partition_yet_does_not_break_the_tick(tmp_path, dagster_instance):
    resources, second = _settled(tmp_path, dagster_instance)
    today = dt.datetime.now(dt.UTC).date().isoformat()  # a UTC-cut file of today touches tomorrow in Shanghai
    late = tmp_path / f"bronze/tardis/exchange=sse/type=trades/date={today}/symbol=600000/600000.csv.gz"
    late.parent.mkdir(parents=True)
    late.write_bytes(gzip.compress(b"exchange,symbol,timestamp,local_timestamp,id,side,price,amount\n"))
    third = _tick(dagster_instance, resources, second.cursor)
    assert [r.partition_key for r in third.run_requests] == [f"{today}|sse"]
    # the file stays unrecorded, so tomorrow's partition is requested once it exists
    assert late.relative_to(tmp_path / "bronze").as_posix() not in Cursor.load(third.cursor).files


def test_content_that_returns_to_an_earlier_state_is_requested_again(tmp_path, dagster_instance):
    resources = _setup(tmp_path)
    cursor = _tick(dagster_instance, resources, None).cursor
    materialize([dim_exchange, dim_symbol], instance=dagster_instance, resources=resources)
    cursor = _tick(dagster_instance, resources, cursor).cursor
    path = next((tmp_path / "bronze").rglob("type=trades/date=2024-05-01/symbol=BTC-PERPETUAL/*.csv.gz"))
    original = path.read_bytes()
    edited = gzip.compress(b"\n".join(gzip.decompress(original).splitlines()[:-1]) + b"\n", mtime=0)
    keys = []
    for content in (edited, original, edited):
        path.write_bytes(content)
        st = path.stat()
        os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000 * (len(keys) + 1)))
        result = _tick(dagster_instance, resources, cursor)
        cursor = result.cursor
        assert len(result.run_requests) == 1
        keys.append(result.run_requests[0].run_key)
    assert len(set(keys)) == 3


def test_hashing_budget_spreads_a_large_landing_over_ticks(tmp_path):
    from pointline_assets.sensors import _changed
    from vendors.tardis import TardisPlugin

    write_sample_bronze(tmp_path / "bronze", start=D1, days=1, rows_per_file=100)
    files = [f for f in TardisPlugin().discover(tmp_path / "bronze")]
    budget = sum(f.size for f in files[:3])
    changed, entries, more = _changed(files, {}, budget)
    assert more and len(changed) == 3 and len(entries) == 3
    changed2, entries2, more2 = _changed(files, entries, 1 << 40)
    assert not more2 and {f.rel_path for f in changed2} == {f.rel_path for f in files[3:]}


def test_late_instrument_metadata_heals_quarantined_partitions(tmp_path, dagster_instance):
    import json

    from pointline_assets.events import quotes, trades
    from pointline_assets.partitions import partition_key

    resources = _setup(tmp_path)
    cursor = _tick(dagster_instance, resources, None).cursor
    materialize([dim_exchange, dim_symbol], instance=dagster_instance, resources=resources)
    cursor = _tick(dagster_instance, resources, cursor).cursor
    for exchange in ("binance", "deribit"):
        materialize(
            [trades, quotes],
            instance=dagster_instance,
            resources=resources,
            partition_key=partition_key(D1, exchange),
            raise_on_error=False,
        )
    # binance SOLUSDT was missing from the metadata; a corrected snapshot lands
    snap = tmp_path / "bronze/tardis/exchange=binance/type=instruments/date=2024-05-01/instruments.json"
    records = json.loads(snap.read_text())
    sol = {**records[0], "id": "SOLUSDT", "datasetId": "SOLUSDT", "baseCurrency": "SOL", "changes": []}
    fixed = snap.parent.parent / "date=2024-05-02" / "instruments.json"
    fixed.parent.mkdir()
    fixed.write_text(json.dumps([*records, sol]))
    third = _tick(dagster_instance, resources, cursor)
    assert [[k.to_user_string() for k in r.asset_selection] for r in third.run_requests] == [["dim_symbol"]]
    materialize([dim_symbol], instance=dagster_instance, resources=resources)
    fourth = _tick(dagster_instance, resources, third.cursor)
    requested = {
        (r.partition_key, tuple(sorted(k.to_user_string() for k in r.asset_selection))) for r in fourth.run_requests
    }
    assert requested == {("2024-05-01|binance", ("quotes", "trades"))}  # deribit had nothing to heal


def test_kline_and_asset_stats_files_request_their_own_jobs(tmp_path, dagster_instance):
    """Bars land in the (date, exchange) job, asset-stats snapshots in the UTC-date job, and bar
    intervals that are not configured as tables (config/lake.toml [klines]) are not requested."""
    from vendors.binance_vision.sample import write_sample_klines
    from vendors.coingecko.sample import write_sample_snapshots

    resources, second = _settled(tmp_path, dagster_instance)
    bronze = tmp_path / "bronze"
    write_sample_klines(bronze, {"binance-futures": ["BTCUSDT"]}, [D1], ("1h", "1m"))
    write_sample_snapshots(bronze, days=1, start=D1)
    third = _tick(dagster_instance, resources, second.cursor)
    requested = sorted(
        (r.job_name, r.partition_key, tuple(k.to_user_string() for k in r.asset_selection)) for r in third.run_requests
    )
    assert requested == [
        ("daily_job", "2024-05-01", ("dim_asset_stats",)),
        ("silver_job", "2024-05-01|binance-futures", ("kline_1h",)),
    ]


def test_a_changed_bronze_file_marks_exactly_its_silver_partition_stale(tmp_path, dagster_instance):
    """The sensor records a data version per Bronze partition; Dagster's stale status (what the UI
    shows) then flags the Silver partition a corrected file feeds, and only that one."""
    from dagster._core.asset_graph_view.asset_graph_view import AssetGraphView, TemporalContext
    from dagster._core.definitions.data_version import CachingStaleStatusResolver, StaleStatus
    from dagster._time import get_current_datetime

    from pointline_assets.events import EVENT_ASSETS

    def observe_and_run(result, run: bool) -> None:
        for event in result.asset_events:  # what the daemon does with a tick's asset events
            dagster_instance.report_runless_asset_event(event)
        for request in result.run_requests if run else []:
            assets = [EVENT_ASSETS[k.to_user_string()] for k in request.asset_selection]
            assert materialize(
                assets, instance=dagster_instance, resources=resources, partition_key=request.partition_key
            ).success

    def status(table: str, exchange: str) -> StaleStatus:  # as the webserver computes it
        graph = defs.resolve_asset_graph()
        view = AssetGraphView(
            temporal_context=TemporalContext(effective_dt=get_current_datetime(), last_event_id=None),
            instance=dagster_instance,
            asset_graph=graph,
        )
        resolver = CachingStaleStatusResolver(dagster_instance, graph, loading_context=view)
        return resolver.get_status(AssetKey(table), f"2024-05-01|{exchange}")

    resources = _setup(tmp_path, rows_per_file=1000)  # few enough bad rows for the blocking checks to pass
    first = _tick(dagster_instance, resources, None)
    assert materialize([dim_exchange, dim_symbol], instance=dagster_instance, resources=resources).success
    second = _tick(dagster_instance, resources, first.cursor)
    observed = {(e.asset_key.to_user_string(), e.partition) for e in second.asset_events}
    assert ("bronze/tardis/quotes", "2024-05-01|deribit") in observed and len(observed) == 6
    observe_and_run(second, run=True)
    assert status("quotes", "deribit") == StaleStatus.FRESH

    path = next((tmp_path / "bronze").rglob("type=quotes/date=2024-05-01/symbol=ETH-PERPETUAL/*.csv.gz"))
    lines = gzip.decompress(path.read_bytes()).decode().splitlines()
    path.write_bytes(gzip.compress(("\n".join(lines[:-1]) + "\n").encode(), mtime=0))
    third = _tick(dagster_instance, resources, second.cursor)
    assert [(e.asset_key.to_user_string(), e.partition) for e in third.asset_events] == [
        ("bronze/tardis/quotes", "2024-05-01|deribit")
    ]
    observe_and_run(third, run=False)
    assert status("quotes", "deribit") == StaleStatus.STALE
    assert status("trades", "deribit") == StaleStatus.FRESH
    assert status("quotes", "binance") == StaleStatus.FRESH

    observe_and_run(third, run=True)  # the sensor's run request rebuilds it
    assert status("quotes", "deribit") == StaleStatus.FRESH


def test_archives_landing_request_their_unpack_then_their_partitions(tmp_path, dagster_instance):
    """Vendor archives are unpacked by the sensor's own request (once per change of the pending
    set, so an unreadable archive is not retried every tick); the unpacked files then request
    their Silver partitions like any Bronze file."""
    from pointline_assets.unpack import UNPACK_ASSETS
    from vendors.quant360.sample import SAMPLE_DATE
    from vendors.quant360.sample import write_sample_bronze as write_cn_archives

    write_cn_archives(tmp_path / "bronze")
    resources = {
        "lake": LakeResource(lake_root=str(tmp_path / "lake"), bronze_root=str(tmp_path / "bronze")),
        "vendors": VendorsResource(),
    }
    first = _tick(dagster_instance, resources, None)
    unpacks = [r for r in first.run_requests if r.job_name == "unpack_job"]
    assert [[k.to_user_string() for k in r.asset_selection] for r in unpacks] == [["bronze/quant360/unpacked"]]
    assert materialize([dim_exchange, dim_symbol], instance=dagster_instance, resources=resources).success
    second = _tick(dagster_instance, resources, first.cursor)  # nothing unpacked yet, nothing new to ask
    assert not [r for r in second.run_requests if r.job_name == "unpack_job"]
    assert not [r for r in second.run_requests if SAMPLE_DATE.isoformat() in (r.partition_key or "")]

    assert materialize([UNPACK_ASSETS["quant360"]], instance=dagster_instance, resources=resources).success
    third = _tick(dagster_instance, resources, second.cursor)  # the corrupt archive stays pending: no retry
    assert not [r for r in third.run_requests if r.job_name == "unpack_job"]
    cn = sorted(r.partition_key for r in third.run_requests if r.job_name == "silver_job")
    assert cn == [f"{SAMPLE_DATE}|sse", f"{SAMPLE_DATE}|szse"]

    replaced = next(p for p in (tmp_path / "bronze" / "quant360").rglob("order_new_*SZ*.7z"))
    os.utime(replaced, ns=(replaced.stat().st_atime_ns, replaced.stat().st_mtime_ns + 1_000_000_000))
    fourth = _tick(dagster_instance, resources, third.cursor)  # a redelivered archive is unpacked again
    assert [r.job_name for r in fourth.run_requests if r.job_name == "unpack_job"] == ["unpack_job"]
