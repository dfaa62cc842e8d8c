"""Golden-file integration test: fixed Bronze in, exactly the checked-in rows out.

The deterministic sample generators write a fixed Bronze tree (Tardis: every data type, the 3
sample exchanges, 1 day, small files; Binance Vision 1h/1d klines for the binance-futures
symbols, with bad rows; CoinGecko snapshots; Tushare security-master snapshots and a Quant360
day of SZSE/SSE archives, unpacked by the real unpack asset), the real assets ingest it (`materialize()` on a
temp lake and a fresh Dagster instance: dim_exchange, dim_symbol, then every table of
EVENT_ASSETS for every partition that has Bronze files), and every Silver table, dim_symbol,
dim_asset_stats and the quarantine table are compared row by row, in stored order, with
`tests/golden/<table>.parquet`. A second lake ingests the same Bronze again, in another
process with another hash seed and one Polars thread, and must hold byte-identical rows. The
instances are Dagster's in-memory ones (what a bare `materialize()` uses): the rows do not
depend on the instance, and a SQLite instance's event-log writes would double the runtime.

A golden file holds the rows of all of a table's partitions, sorted by the partition columns
only (stable: the order inside a partition is the stored order, itself under test). Lineage
(`file_id`, a hash of the Bronze path relative to the Bronze root, and `file_line`) is part of
the data. Comparison is exact: dtypes (Decimal precision and scale included), values, order.

When a change to parsing, rules, resolution or row order is intentional, regenerate the files
with `.venv/bin/python scripts/regen_golden.py` and review what it prints (and the git diff)
before committing them.
"""

from __future__ import annotations

import datetime as dt
import io
import os
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest
from dagster import DagsterInstance, materialize
from polars.testing import assert_frame_equal

from pointline.lake import Lake
from pointline.schemas import get_table_spec
from pointline_assets.dimensions import dim_exchange, dim_symbol
from pointline_assets.events import EVENT_ASSETS, EVENT_TABLES
from pointline_assets.events import partitions_with_files as planned_partitions
from pointline_assets.partitions import partition_key
from pointline_assets.unpack import UNPACK_ASSETS
from resources.lake import LakeResource
from resources.vendors import VendorsResource
from vendors.binance_vision.sample import write_sample_klines
from vendors.coingecko.sample import write_sample_snapshots
from vendors.quant360.sample import write_sample_bronze as write_cn_archives
from vendors.tardis.sample import ALL_DATA_TYPES, SAMPLE_MARKETS, write_sample_bronze
from vendors.tushare.sample import write_sample_snapshots as write_security_master

REPO = Path(__file__).resolve().parents[1]
GOLDEN_DIR = REPO / "tests" / "golden"
REGEN_COMMAND = ".venv/bin/python scripts/regen_golden.py"

# The fixed Bronze inputs. Changing any of these changes every golden file: regenerate.
DAY = dt.date(2024, 5, 1)
TARDIS_ROWS_PER_FILE = 40  # small, so tests/golden stays a few hundred KB
KLINE_EXCHANGE = "binance-futures"
KLINE_SYMBOLS = tuple(m.symbol for m in SAMPLE_MARKETS if m.exchange == KLINE_EXCHANGE)
KLINE_INTERVALS = ("1h", "1d")

# Every table compared with a golden file: dim_symbol, every row-fed table, the quarantine.
GOLDEN_TABLES: tuple[str, ...] = ("dim_symbol", *EVENT_TABLES, "quarantine")
_QUIET = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}  # expected check failures

PartitionKey = tuple[dt.date, str | None]


# ---- building the lake -------------------------------------------------------------------------
def write_bronze(bronze: Path) -> None:
    """The fixed Bronze tree every golden file is derived from (byte-identical on every call)."""
    write_sample_bronze(bronze, start=DAY, days=1, rows_per_file=TARDIS_ROWS_PER_FILE, data_types=ALL_DATA_TYPES)
    write_sample_klines(bronze, {KLINE_EXCHANGE: list(KLINE_SYMBOLS)}, [DAY], KLINE_INTERVALS, bad_rows=True)
    write_sample_snapshots(bronze, days=1, start=DAY)
    write_security_master(bronze)
    write_cn_archives(bronze)


def partitions_with_files(bronze: Path) -> dict[PartitionKey, set[str]]:
    """(day, exchange or None for date-only tables) -> the row-fed tables with Bronze files for it."""
    return planned_partitions(VendorsResource().plugins(), bronze)


def _error_text(error) -> str:
    """A Dagster error and its causes, one line each (the user code's exception is a cause)."""
    lines = []
    while error is not None:
        lines.append(f"{error.cls_name}: {error.message.strip()}")
        error = error.cause
    return "\n    ".join(lines)


def _run_failures(result) -> list[str]:
    """Step failures of a run other than failed blocking checks: the sample files are small and
    full of deliberately bad rows, so `quarantine_rate` fails after the partition was written."""
    return [
        f"{e.step_key}: {_error_text(e.step_failure_data.error) if e.step_failure_data.error else e.message}"
        for e in result.all_events
        if e.event_type_value == "STEP_FAILURE"
        and not (e.step_failure_data.error and e.step_failure_data.error.cls_name == "DagsterAssetCheckFailedError")
    ]


def build_lake(root: Path, bronze: Path, instance: DagsterInstance) -> Lake:
    """Materialize the dimensions and every partition with Bronze files into `root/lake`."""
    lake_res = LakeResource(lake_root=str(root / "lake"), bronze_root=str(bronze))
    resources = {"lake": lake_res, "vendors": VendorsResource()}
    dims = materialize([dim_exchange, dim_symbol], instance=instance, resources=resources, run_config=_QUIET)
    assert dims.success, _run_failures(dims)
    for unpack in UNPACK_ASSETS.values():  # archives -> files discovery sees (the corrupt one is reported)
        assert materialize([unpack], instance=instance, resources=resources, run_config=_QUIET).success
    planned = partitions_with_files(bronze)
    assert planned, f"no Bronze files found under {bronze}"
    for (day, exchange), tables in sorted(planned.items(), key=lambda kv: (kv[0][0], kv[0][1] or "")):
        key = partition_key(day, exchange) if exchange else day.isoformat()
        result = materialize(
            [EVENT_ASSETS[t] for t in sorted(tables)],
            instance=instance,
            resources=resources,
            partition_key=key,
            raise_on_error=False,
            run_config=_QUIET,
        )
        failures = _run_failures(result)
        assert not failures, f"partition {key} ({sorted(tables)}) failed: {failures}"
        materialized = {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()}
        assert materialized == tables, f"partition {key}: materialized {sorted(materialized)}, planned {sorted(tables)}"
    return lake_res.lake()


def stored_rows(lake: Lake, table: str) -> pl.DataFrame:
    """All rows of `table`: partitions in order of their partition values, each in stored order."""
    spec = get_table_spec(table)
    df = lake.read(table)
    if spec.partition_by:
        df = df.sort(list(spec.partition_by), maintain_order=True, nulls_last=True)
    return df.rechunk()


def golden_frames(lake: Lake) -> dict[str, pl.DataFrame]:
    return {table: stored_rows(lake, table) for table in GOLDEN_TABLES}


def golden_path(table: str) -> Path:
    return GOLDEN_DIR / f"{table}.parquet"


def write_golden_file(table: str, df: pl.DataFrame) -> Path:
    """Write one golden file: plain Parquet, one row group, zstd (byte-identical for equal frames)."""
    path = golden_path(table)
    path.parent.mkdir(parents=True, exist_ok=True)
    df.write_parquet(path, compression="zstd", compression_level=19, statistics=False, row_group_size=max(df.height, 1))
    return path


def read_golden_file(table: str) -> pl.DataFrame:
    return pl.read_parquet(golden_path(table))


def build_golden_frames(root: Path) -> dict[str, pl.DataFrame]:
    """Write the fixed Bronze under `root/bronze` and ingest it into `root/lake` on a fresh
    in-memory Dagster instance; returns the rows of every golden table."""
    bronze = root / "bronze"
    write_bronze(bronze)
    with DagsterInstance.ephemeral() as instance:
        return golden_frames(build_lake(root, bronze, instance))


# ---- reporting a difference --------------------------------------------------------------------
def _rows_equal(actual: pl.DataFrame, expected: pl.DataFrame) -> pl.Series:
    """Per row of the common prefix: every column equal (nulls equal nulls)."""
    n = min(actual.height, expected.height)
    a, e = actual.head(n), expected.head(n)
    masks = [a[c].eq_missing(e[c]).fill_null(False) for c in a.columns]
    return pl.DataFrame(masks).select(pl.all_horizontal(pl.all())).to_series() if masks else pl.Series([], dtype=bool)


def _window(df: pl.DataFrame, label: str, start: int, length: int, columns: list[str]) -> pl.DataFrame:
    rows = df.select(columns).slice(start, length).with_row_index("row", offset=start)
    return rows.select(pl.lit(label).alias("compared"), pl.all())


def describe_difference(
    table: str,
    actual: pl.DataFrame,
    expected: pl.DataFrame,
    context: int = 2,
    names: tuple[str, str] = ("golden", "actual"),
) -> str:
    """A short, human-readable account of how `actual` differs from `expected` (empty if equal):
    the schema difference, or the row counts, how many rows differ and the first differing rows
    (the table's key columns and the columns that differ, each expected row above its actual
    row). `names` labels the two sides (expected, actual)."""
    golden, actual_name = names
    if actual.schema != expected.schema:
        exp, act = dict(expected.schema), dict(actual.schema)
        lines = [
            f"  column {col!r}: {golden} {exp.get(col)}, {actual_name} {act.get(col)}"
            for col in dict.fromkeys([*exp, *act])
            if exp.get(col) != act.get(col)
        ]
        if list(exp) != list(act) and set(exp) == set(act):
            lines.append(f"  column order: {golden} {list(exp)}, {actual_name} {list(act)}")
        return f"{table}: schema differs ({golden} vs {actual_name})\n" + "\n".join(lines)
    common = min(actual.height, expected.height)
    same = _rows_equal(actual, expected)
    differing = (~same).arg_true()
    if differing.is_empty() and actual.height == expected.height:
        return ""
    first = differing[0] if differing.len() else common
    counts = f"{golden} {expected.height}, {actual_name} {actual.height}"
    lines = [f"  rows: {counts}; {differing.len()} of the first {common} differ"]
    spec = get_table_spec(table)
    keys = [c for c in (*spec.partition_by, *spec.sort_by) if c in actual.columns]
    if first < common:
        a, e = actual.head(common), expected.head(common)
        per_column = {c: n for c in a.columns if (n := int((~a[c].eq_missing(e[c]).fill_null(False)).sum()))}
        lines.append(f"  differing values per column (first {common} rows): {per_column}")
        cols = [c for c in actual.columns if not actual[c].slice(first, 1).eq_missing(expected[c].slice(first, 1))[0]]
        lines.append(f"  first differing row: {first}, columns {cols}")
    else:
        cols = actual.columns
        lines.append(f"  rows agree up to row {first}, then one side has more rows")
    show = list(dict.fromkeys([*keys, *cols]))
    start, length = max(0, first - context), 2 * context + 1
    window = pl.concat(
        [_window(expected, golden, start, length, show), _window(actual, actual_name, start, length, show)]
    ).sort("row", maintain_order=True)
    with pl.Config(tbl_cols=-1, tbl_rows=-1, fmt_str_lengths=80, fmt_table_cell_list_len=6, tbl_width_chars=1000):
        lines.append(str(window))
    return f"{table}: rows differ ({golden} vs {actual_name})\n" + "\n".join(lines)


def _ipc_bytes(df: pl.DataFrame) -> bytes:
    """The rows as bytes in a canonical Arrow layout (one chunk, no views, no compression)."""
    buf = io.BytesIO()
    df.rechunk().write_ipc(buf, compression="uncompressed", compat_level=pl.CompatLevel.oldest())
    return buf.getvalue()


# ---- the tests ---------------------------------------------------------------------------------
# The second ingest runs in its own interpreter, with another hash seed and a single Polars
# thread: rows whose order depends on set iteration, hash seeds or thread scheduling differ.
_SECOND_INGEST = """
import importlib.util
import sys
from pathlib import Path

from dagster import DagsterInstance

spec = importlib.util.spec_from_file_location("golden_test", sys.argv[3])
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
build_lake, golden_frames = module.build_lake, module.golden_frames

root, bronze = Path(sys.argv[1]), Path(sys.argv[2])
with DagsterInstance.ephemeral() as instance:
    frames = golden_frames(build_lake(root, bronze, instance))
(root / "rows").mkdir()
for table, df in frames.items():
    df.write_ipc(root / "rows" / f"{table}.arrow", compression="uncompressed")
"""


def ingest_in_subprocess(root: Path, bronze: Path) -> dict[str, pl.DataFrame]:
    env = {**os.environ, "PYTHONHASHSEED": "4242", "POLARS_MAX_THREADS": "1"}
    proc = subprocess.run(
        [sys.executable, "-c", _SECOND_INGEST, str(root), str(bronze), __file__],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert proc.returncode == 0, f"the second ingest failed:\n{proc.stderr[-4000:]}"
    rows = root / "rows"
    return {table: pl.read_ipc(io.BytesIO((rows / f"{table}.arrow").read_bytes())) for table in GOLDEN_TABLES}


@pytest.fixture(scope="module")
def lakes(tmp_path_factory) -> tuple[dict[str, pl.DataFrame], dict[str, pl.DataFrame]]:
    """The same fixed Bronze ingested twice into two lakes: here, and in a second process."""
    root = tmp_path_factory.mktemp("golden")
    first = build_golden_frames(root / "a")
    second = ingest_in_subprocess(root / "b", root / "a" / "bronze")
    return first, second


@pytest.mark.parametrize("table", GOLDEN_TABLES)
def test_table_matches_golden_file(lakes, table):
    path = golden_path(table)
    if not path.is_file():
        pytest.fail(
            f"golden file {path.relative_to(REPO)} is missing: run `{REGEN_COMMAND}`, "
            "review what it reports, and commit tests/golden/",
            pytrace=False,
        )
    actual, expected = lakes[0][table], read_golden_file(table)
    assert actual.height > 0, f"{table}: write_bronze() feeds it no rows; extend the fixed Bronze, then regenerate"
    hint = f"\nIf the change is intended, run `{REGEN_COMMAND}` and review what it reports."
    try:
        assert_frame_equal(
            actual, expected, check_dtypes=True, check_column_order=True, check_row_order=True, check_exact=True
        )
    except AssertionError as exc:
        first_line = str(exc).splitlines()[0] if str(exc) else ""
        diff = describe_difference(table, actual, expected) or f"{table}: differs from the golden file"
        raise AssertionError(f"{diff}\n  assert_frame_equal: {first_line}{hint}") from None
    # assert_frame_equal and this row-wise comparison must agree (e.g. on NaN and nulls)
    diff = describe_difference(table, actual, expected)
    assert not diff, diff + hint


def test_no_stray_golden_files():
    stray = sorted(p.name for p in GOLDEN_DIR.glob("*.parquet") if p.stem not in GOLDEN_TABLES)
    assert not stray, f"golden files of no compared table: {stray}; run `{REGEN_COMMAND}`"


@pytest.mark.parametrize("table", GOLDEN_TABLES)
def test_stored_order_follows_the_sort_keys(lakes, table):
    """Inside each partition rows are stored in the table's tie-break order, so a regeneration
    cannot check in a broken order."""
    spec = get_table_spec(table)
    rows = lakes[0][table]
    keys = [*spec.partition_by, *spec.sort_by]
    assert keys and rows.equals(rows.sort(keys, maintain_order=True)), f"{table}: not stored in order of {keys}"


@pytest.mark.parametrize("table", GOLDEN_TABLES)
def test_ingest_is_deterministic(lakes, table):
    first, second = lakes[0][table], lakes[1][table]
    assert _ipc_bytes(first) == _ipc_bytes(second), describe_difference(
        table, second, first, names=("first ingest", "second ingest")
    ) or (f"{table}: equal rows but different bytes")
