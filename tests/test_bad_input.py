"""Bad input: a clear error or quarantine, never a silent drop, and the lake unchanged on failure."""

from __future__ import annotations

import datetime as dt
import gzip

import polars as pl
import pytest
from dagster import materialize

from pointline_assets.dimensions import dim_exchange, dim_symbol
from pointline_assets.events import quotes, trades
from pointline_assets.partitions import partition_key
from resources.lake import LakeResource
from resources.vendors import VendorsResource
from vendors.tardis.sample import write_sample_bronze

D1 = dt.date(2024, 5, 1)
EXCHANGE = "deribit"
TRADES_REL = "tardis/exchange=deribit/type=trades/date=2024-05-01/symbol=BTC-PERPETUAL/BTC-PERPETUAL.csv.gz"
HEADER = "exchange,symbol,timestamp,local_timestamp,id,side,price,amount"


@pytest.fixture
def env(tmp_path, dagster_instance):
    write_sample_bronze(tmp_path / "bronze", start=D1, days=1, rows_per_file=1000)
    lake_res = LakeResource(lake_root=str(tmp_path / "lake"), bronze_root=str(tmp_path / "bronze"))
    resources = {"lake": lake_res, "vendors": VendorsResource()}
    assert materialize([dim_exchange, dim_symbol], instance=dagster_instance, resources=resources).success

    class Env:
        bronze = tmp_path / "bronze"
        lake = lake_res.lake()

        @staticmethod
        def run(exchange=EXCHANGE, assets=(trades,)):
            return materialize(
                list(assets),
                instance=dagster_instance,
                resources=resources,
                partition_key=partition_key(D1, exchange),
                raise_on_error=False,
            )

    return Env


def _failure_text(result) -> str:
    return "\n".join(
        str(e.event_specific_data.error) for e in result.all_events if e.event_type_value == "STEP_FAILURE"
    )


def _accounting(result) -> list[dict]:
    for event in result.get_asset_materialization_events():
        return event.event_specific_data.materialization.metadata["file_accounting"].value
    raise AssertionError("no materialization")


def _write_gz(path, text: str) -> None:
    path.write_bytes(gzip.compress(text.encode(), mtime=0))


def test_unknown_exchange_is_refused_by_name(env, dagster_instance):
    dagster_instance.add_dynamic_partitions("exchange", ["mars-exchange"])
    result = env.run("mars-exchange")
    assert not result.success
    assert "unknown exchange 'mars-exchange'" in _failure_text(result)
    assert "config/exchanges.csv" in _failure_text(result)


def test_truncated_gzip_fails_naming_the_file_and_leaves_lake_unchanged(env):
    assert env.run().success
    before = env.lake.read("trades")
    path = env.bronze / TRADES_REL
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    result = env.run()
    assert not result.success
    text = _failure_text(result)
    assert "BTC-PERPETUAL.csv.gz" in text and "truncated or corrupt gzip" in text
    assert env.lake.read("trades").equals(before)


def test_missing_header_column_named(env):
    _write_gz(
        env.bronze / TRADES_REL, "exchange,symbol,timestamp,local_timestamp,id,side,price\nderibit,X,1,1,1,buy,1\n"
    )
    result = env.run()
    assert not result.success
    assert "amount" in _failure_text(result) and "BTC-PERPETUAL.csv.gz" in _failure_text(result)


def test_zero_byte_file_is_an_error(env):
    (env.bronze / TRADES_REL).write_bytes(b"")
    result = env.run()
    assert not result.success
    assert "empty file" in _failure_text(result)


def test_header_only_file_writes_zero_rows_for_that_file(env):
    _write_gz(env.bronze / TRADES_REL, HEADER + "\n")
    result = env.run()
    assert result.success
    acct = {a["rel_path"]: a for a in _accounting(result)}[TRADES_REL]
    assert acct["rows_read"] == 0 and acct["rows_written"] == 0


def test_bad_values_and_rows_outside_the_day_are_quarantined_and_counted(env):
    day = 1_714_521_600_000_000
    rows = [
        f"deribit,BTC-PERPETUAL,{day + 1000},{day + 2000},1,buy,60000.5,10",  # good
        f"deribit,BTC-PERPETUAL,{day + 1000},{day + 3000},2,buy,sixty,10",  # not a number
        f"deribit,BTC-PERPETUAL,{day + 1000},{day + 4000},3,sell,60000.5,-10",  # negative amount
        f"deribit,BTC-PERPETUAL,{day + 1000},{day + 3 * 86_400_000_000},4,sell,60000.5,10",  # 3 days off
        f"deribit,BTC-PERPETUAL,{day + 1000},{day + 5000},5,sell,0.0000000001,10",  # beyond 9 decimals
        f"deribit,BTC-PERPETUAL,{day + 1000},noon,6,sell,60000.5,10",  # not an integer
        "",  # blank line
        f"deribit,BTC-PERPETUAL,{day + 1000},{day + 6000},7,buy,60000.5,10",  # good, after the blank line
        f"deribit,BTC-PERPETUAL,{day + 1000},99999999999999999999,8,buy,60000.5,10",  # overflows Int64
        f"deribit,BTC-PERPETUAL,99999999999999999999,{day + 7000},9,buy,60000.5,10",  # exchange ts overflows
    ]
    _write_gz(env.bronze / TRADES_REL, HEADER + "\n" + "\n".join(rows) + "\n")
    result = env.run()
    # 6 of 8 rows are bad: written and quarantined, then the blocking rate check fails the run
    assert not result.success and "quarantine_rate" in _failure_text(result)
    acct = {a["rel_path"]: a for a in _accounting(result)}[TRADES_REL]
    assert acct["rows_read"] == 10 and acct["rows_written"] == 2 and acct["rows_quarantined"] == 8
    q = env.lake.read("quarantine").filter(pl.col("bronze_path") == TRADES_REL).sort("file_line")
    assert dict(zip(q["file_line"], q["reason"], strict=True)) == {
        3: "not_a_number:price",
        4: "non_positive:qty",
        5: "outside_file_window",
        6: "not_exact:price",
        7: "not_an_integer:ts_local_us",
        8: "blank_line",
        10: "not_an_integer:ts_local_us",
        11: "not_an_integer:ts_exch_us",
    }
    written = env.lake.read("trades").filter(pl.col("symbol") == "BTC-PERPETUAL")
    assert sorted(written["file_line"].to_list()) == [2, 9]  # physical lines survive the blank line


def test_failed_quotes_do_not_touch_trades_or_quarantine(env):
    assert env.run(assets=(trades, quotes)).success
    trades_before, q_before = env.lake.read("trades"), env.lake.read("quarantine")
    quotes_rel = TRADES_REL.replace("type=trades", "type=quotes")
    (env.bronze / quotes_rel).write_bytes(b"not gzip at all")
    result = env.run(assets=(quotes,))
    assert not result.success
    assert env.lake.read("trades").equals(trades_before)
    assert (
        env.lake.read("quarantine")
        .sort("table_name", "file_id", "file_line")
        .equals(q_before.sort("table_name", "file_id", "file_line"))
    )


def _data_version(result) -> str:
    for event in result.get_asset_materialization_events():
        return event.event_specific_data.materialization.metadata["data_version"].value
    raise AssertionError("no materialization")


def test_data_version_changes_exactly_when_inputs_or_code_change(env):
    from pointline.pipeline import FileFingerprint, compute_data_version

    first, second = env.run(), env.run()
    assert _data_version(first) == _data_version(second)
    path = env.bronze / TRADES_REL
    lines = gzip.decompress(path.read_bytes()).decode().splitlines()
    _write_gz(path, "\n".join(lines[:-1]) + "\n")  # a vendor correction drops one row
    assert _data_version(env.run()) != _data_version(second)

    files = [FileFingerprint("a.csv.gz", 10, "ab" * 32)]
    dims = [pl.DataFrame({"x": [1]})]
    assert compute_data_version("events-1", "trades", files, dims) == compute_data_version(
        "events-1", "trades", files, dims
    )
    assert compute_data_version("events-2", "trades", files, dims) != compute_data_version(
        "events-1", "trades", files, dims
    )
    assert compute_data_version("events-1", "trades", files, [pl.DataFrame({"x": [2]})]) != compute_data_version(
        "events-1", "trades", files, dims
    )


def test_a_stray_quote_does_not_swallow_the_following_lines(env):
    day = 1_714_521_600_000_000
    rows = [f'deribit,BTC-PERPETUAL,{day + 1000},{day + 2000},"x,buy,60000.5,10']
    rows += [f"deribit,BTC-PERPETUAL,{day + 1000},{day + 3000 + i},{i},buy,60000.5,10" for i in range(3)]
    _write_gz(env.bronze / TRADES_REL, HEADER + "\n" + "\n".join(rows) + "\n")
    result = env.run()
    acct = {a["rel_path"]: a for a in _accounting(result)}[TRADES_REL]
    assert acct["rows_read"] == 4 and acct["rows_written"] == 4
    lines = env.lake.read("trades").filter(pl.col("symbol") == "BTC-PERPETUAL")["file_line"].sort().to_list()
    assert lines == [2, 3, 4, 5]


def test_the_same_dataset_twice_in_bronze_is_refused(env):
    sdk_name = env.bronze / "tardis" / "deribit_trades_2024-05-01_BTC-PERPETUAL.csv.gz"
    sdk_name.write_bytes((env.bronze / TRADES_REL).read_bytes())
    result = env.run()
    assert not result.success
    assert "same dataset" in _failure_text(result) and "deribit_trades_2024-05-01_BTC-PERPETUAL" in _failure_text(
        result
    )


def test_missing_dim_symbol_is_an_error_not_a_quarantine(env):
    import shutil

    shutil.rmtree(env.lake.uri("dim_symbol"))
    result = env.run()
    assert not result.success and "dim_symbol is not materialized" in _failure_text(result)
    assert env.lake.read("quarantine").is_empty()
