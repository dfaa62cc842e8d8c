"""pr.sql(): DuckDB over every registered table through the Delta log, read-only."""

from __future__ import annotations

import datetime as dt
import shutil

import duckdb
import polars as pl
import pytest

import pointline.research as pr
from pointline.lake import Lake
from pointline.schemas import TABLES, TableSpec, _c
from tests.research_lake import SZSE, sample_lake, write_shanghai_lake

DAY1 = dt.date(2024, 5, 1)


@pytest.fixture(scope="module")
def research(tmp_path_factory) -> pr.Research:
    return pr.Research(sample_lake(tmp_path_factory))


def test_join_over_silver_and_dimension_tables(research):
    got = research.sql(
        """
        select e.asset_class, d.instrument_type, t.exchange, count(*) as n, sum(t.qty) as qty
        from trades t
        join dim_symbol d using (symbol_id)
        join dim_exchange e on e.exchange = t.exchange
        where t.date = ?
        group by all order by t.exchange""",
        [DAY1],
    )
    trades = research.lake.read("trades").filter(pl.col("date") == DAY1)
    expected = trades.group_by("exchange").agg(pl.len().alias("n"), pl.col("qty").sum()).sort("exchange")
    assert got["exchange"].to_list() == expected["exchange"].to_list()
    assert got["n"].to_list() == expected["n"].to_list()
    assert got["qty"].to_list() == expected["qty"].to_list()  # exact decimal sums
    assert dict(zip(got["exchange"], got["asset_class"], strict=True)) == {
        "binance": "crypto-spot",
        "binance-futures": "crypto-derivatives",
        "deribit": "crypto-derivatives",
    }


def test_every_kind_of_table_is_queryable_by_name(research):
    counts = research.sql(
        """
        select (select count(*) from kline_1h) as bars, (select count(*) from dim_asset_stats) as stats,
               (select count(*) from quarantine) as quarantined, (select count(*) from dq_summary) as checks,
               (select count(*) from validation_log) as files, (select count(*) from options_chain) as options
        """
    ).row(0, named=True)
    lake = research.lake
    for name, table in [
        ("bars", "kline_1h"),
        ("stats", "dim_asset_stats"),
        ("quarantined", "quarantine"),
        ("checks", "dq_summary"),
        ("files", "validation_log"),
        ("options", "options_chain"),
    ]:
        assert counts[name] == lake.read(table).height > 0, name
    # registry tables the lake does not have yet read as empty tables with their schema
    empty = research.sql("select * from kline_5m")
    assert empty.is_empty() and "ts_open_us" in empty.columns
    assert research.sql("select count(*) as n from lake_stats")["n"][0] == 0
    assert research.sql("select symbol from trades where exchange = $ex limit 1", {"ex": "deribit"}).height == 1


def test_sql_reads_through_the_delta_log_not_the_files_on_disk(tmp_path):
    lake_root = write_shanghai_lake(tmp_path / "lake")
    lake = Lake(lake_root)
    part = lake.read("trades").filter(pl.col("date") == DAY1)
    lake.write_partition("trades", part.head(1), {"date": DAY1, "exchange": SZSE})  # rewrite: old file stays on disk
    on_disk = duckdb.sql(f"select count(*) from read_parquet('{lake_root}/silver/trades/**/*.parquet')").fetchall()[0][
        0
    ]
    in_log = lake.read("trades").height
    assert on_disk > in_log  # a glob would double count
    research = pr.Research(lake_root)
    assert research.sql("select count(*) as n from trades")["n"][0] == in_log
    assert research.sql("select count(*) as n from trades where date = ?", [DAY1])["n"][0] == 1


@pytest.mark.parametrize(
    "statement",
    [
        "drop table trades",
        "delete from trades",
        "insert into trades select * from trades",
        "update dim_symbol set is_current = false",
        "create table x as select * from trades",
        "copy (select * from trades) to 'out.parquet'",
        "attach 'x.duckdb'",
        "install delta",
        "load delta",
        "set enable_external_access = true",
        "pragma version",
        "explain select * from trades",
        "select 1; drop table trades",
        "select 1; select 2",
    ],
)
def test_anything_but_one_select_is_refused(research, statement):
    versions = {t: research.lake.version(t) for t in ("trades", "dim_symbol")}
    with pytest.raises(pr.ReadOnlySqlError):
        research.sql(statement)
    assert {t: research.lake.version(t) for t in versions} == versions


def test_a_select_cannot_reach_files_or_python_objects(research, tmp_path):
    lake_files = f"{research.lake.root}/silver/trades/**/*.parquet"
    for query in (
        f"select count(*) from read_parquet('{lake_files}')",
        f"select * from read_csv('{tmp_path}/x.csv')",
        "select * from glob('/etc/*')",
    ):
        with pytest.raises(duckdb.Error, match="disabled"):
            research.sql(query)
    secret = pl.DataFrame({"x": [1]})  # noqa: F841 - a Python variable must not be a table
    with pytest.raises(duckdb.CatalogException):
        research.sql("select * from secret")
    with pytest.raises(duckdb.CatalogException):
        research.sql("select * from no_such_table")


def test_a_new_registry_table_appears_without_code_changes(tmp_path, monkeypatch):
    """Gold tables (being added to the registry elsewhere) become queryable and covered automatically."""
    spec = TableSpec(
        name="gold_probe",
        kind="gold",
        description="test-only Gold table",
        columns=(
            _c("date", pl.Date(), "d"),
            _c("exchange", pl.String(), "e"),
            _c("symbol_id", pl.Int64(), "s"),
            _c("ts_us", pl.Int64(), "t"),
            _c("value", pl.Int64(), "v"),
        ),
        partition_by=("date",),
        sort_by=("symbol_id", "ts_us"),
        time_axis="ts_us",
    )
    monkeypatch.setitem(TABLES, spec.name, spec)
    root = tmp_path / "lake"
    shutil.copytree(write_shanghai_lake(tmp_path / "src"), root)
    lake = Lake(root)
    sid = lake.read("dim_symbol")["symbol_id"][0]
    frame = pl.DataFrame(
        {"date": [DAY1], "exchange": [SZSE], "symbol_id": [sid], "ts_us": [1_714_550_000_000_000], "value": [42]}
    ).cast(spec.polars_schema)  # type: ignore[arg-type]
    lake.write_partition("gold_probe", frame, {"date": DAY1})
    research = pr.Research(root)
    assert research.sql("select value from gold_probe")["value"].to_list() == [42]
    assert "gold_probe" in research.list_tables().filter("exists")["table"].to_list()
    assert "gold_probe" in research.coverage_tables()
    cov = research.data_coverage(SZSE, "000001")
    assert cov.filter(pl.col("table") == "gold_probe").select("date", "rows").rows() == [(DAY1, 1)]
    rows = research.read_table("gold_probe", SZSE, sid, "2024-05-01T00:00", "2024-05-02T00:00")
    assert rows["value"].to_list() == [42]
