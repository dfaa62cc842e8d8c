"""Ingest one Silver partition end to end: find its Bronze files, build, write, check.

Dagster-free so that tests, benchmarks and a future dry run drive exactly the code the
assets run. The asset in `pointline_assets.events` is a thin wrapper around
`ingest_partition`.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from pointline.config import load_routing
from pointline.ingest import NO_EXCHANGE, PartitionBuild, build_partition
from pointline.lake import Lake
from pointline.maintenance import maybe_compact_after_ingest
from pointline.phases import load_trading_phases, phases_for
from pointline.schemas import QUARANTINE, SchemaValidationError, TableSpec, get_table_spec, validate_frame
from pointline.trading_day import dates_overlapping
from vendors.base import BronzeFile, VendorPlugin

MISSING_SYMBOL = "missing_pit_symbol"
log = logging.getLogger(__name__)
UTC = "UTC"


class PartitionInputError(ValueError):
    """The partition cannot be ingested as asked (unknown exchange, missing dimension, ...)."""


@dataclass(frozen=True)
class FileFingerprint:
    rel_path: str
    size: int
    sha256: str


@dataclass
class PartitionReport:
    table: str
    date: dt.date
    exchange: str | None  # None: the table is not exchange-scoped
    timezone: str
    files: list[FileFingerprint]
    build: PartitionBuild
    data_version: str
    delta_version: int | None
    shadowed: list[str] = field(default_factory=list)  # sources that lost to config/routing.csv
    dry_run: bool = False  # True: nothing was written; delta_version is None
    schema_problems: list[str] = field(default_factory=list)  # what validation would refuse (dry runs)

    @property
    def rows_written(self) -> int:
        return self.build.silver.height

    @property
    def rows_quarantined(self) -> int:
        return self.build.quarantine.height

    @property
    def invalid_rows(self) -> int:
        """Quarantined rows that failed a data rule (not the reference-data gap missing_pit_symbol)."""
        return self.rows_quarantined - self.build.quarantined_by_reason.get(MISSING_SYMBOL, 0)

    @property
    def quarantine_rate(self) -> float:
        total = self.rows_written + self.rows_quarantined
        return self.invalid_rows / total if total else 0.0


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def exchange_row(lake: Lake, exchange: str) -> pl.DataFrame:
    """The exchange's dim_exchange row (the table, not the config file: one truth)."""
    if not lake.exists("dim_exchange"):
        raise PartitionInputError("dim_exchange is not materialized yet; materialize the dim_exchange asset first")
    row = lake.read("dim_exchange", pl.col("exchange") == exchange)
    if row.is_empty():
        raise PartitionInputError(
            f"unknown exchange {exchange!r}: not in dim_exchange (add a row to config/exchanges.csv "
            "and materialize dim_exchange)"
        )
    return row


def candidate_files(
    sources: list[tuple[VendorPlugin, str]], bronze_root: Path, date: dt.date, exchange: str | None, timezone: str
) -> list[tuple[VendorPlugin, BronzeFile]]:
    """Bronze files that may hold rows of (date, exchange): their cut window touches the local day."""
    out = []
    for plugin, data_type in sources:
        for f in plugin.discover(bronze_root):
            ours = f.data_type == data_type and (exchange is None or f.exchange == exchange)
            if ours and date in dates_overlapping(f.window_start_us, f.window_end_us, timezone):
                out.append((plugin, f))
    return sorted(out, key=lambda pf: pf[1].rel_path)


def choose_source(
    files: list[tuple[VendorPlugin, BronzeFile]], table: str, date: dt.date, exchange: str | None
) -> tuple[list[tuple[VendorPlugin, BronzeFile]], list[str]]:
    """One source (vendor, data type) per partition: the files it delivered and the sources it shadows.

    Two sources for the same rows (two vendors, or Tardis' 5- and 25-level book snapshots)
    would double them, so several sources are refused unless config/routing.csv says which wins.
    """
    by_source: dict[str, list[tuple[VendorPlugin, BronzeFile]]] = {}
    for plugin, f in files:
        by_source.setdefault(f"{plugin.name}/{f.data_type}", []).append((plugin, f))
    if len(by_source) <= 1:
        return files, []
    for vendor, data_type in _routing_preferences(table, exchange):
        winners = [s for s in by_source if s.split("/", 1)[0] == vendor and data_type in ("*", s.split("/", 1)[1])]
        if winners:
            chosen = winners[0]
            return by_source[chosen], sorted(s for s in by_source if s != chosen)
    found = "; ".join(f"{s}: {len(fs)} file(s), e.g. {fs[0][1].rel_path}" for s, fs in sorted(by_source.items()))
    raise PartitionInputError(
        f"{table} {date}|{exchange or '-'}: {len(by_source)} sources deliver rows for this partition ({found}); "
        f"add a row `{table},{exchange or '*'},<vendor>,<data_type or *>` to config/routing.csv to say which wins"
    )


def _routing_preferences(table: str, exchange: str | None) -> list[tuple[str, str]]:
    """(vendor, data_type) in preference order: rows for this exchange first, then `*` rows."""
    routing = load_routing().filter(pl.col("table") == table)
    exact = routing.filter(pl.col("exchange") == (exchange or "*"))
    wildcard = routing.filter(pl.col("exchange") == "*") if exchange else routing.clear()
    return [(r["vendor"], r["data_type"]) for r in pl.concat([exact, wildcard]).iter_rows(named=True)]


def _refuse_duplicate_files(files: list[tuple[VendorPlugin, BronzeFile]]) -> None:
    """The same dataset delivered twice would double rows: e.g. a Hive-layout copy and an SDK-named
    copy of one Tardis day, or a monthly kline file beside the daily files of that month."""
    last: dict[tuple, BronzeFile] = {}
    for _, f in sorted(files, key=lambda pf: (pf[1].window_start_us, pf[1].rel_path)):
        key = (f.vendor, f.data_type, f.exchange, f.symbol)
        prev = last.get(key)
        if prev is not None and f.window_start_us < prev.window_end_us:
            raise PartitionInputError(
                f"{f.rel_path} and {prev.rel_path} hold the same dataset for overlapping periods "
                f"({f.data_type} {f.exchange or '-'} {f.symbol}); keep one of them in Bronze"
            )
        if prev is None or f.window_end_us > prev.window_end_us:
            last[key] = f


def compute_data_version(code_version: str, table: str, files: list[FileFingerprint], dims: list[pl.DataFrame]) -> str:
    """Changes exactly when the Bronze inputs, the relevant dimension rows or the code version change."""
    digest = hashlib.sha256(f"{code_version}|{table}".encode())
    for f in sorted(files, key=lambda f: f.rel_path):
        digest.update(f"|{f.rel_path}|{f.sha256}".encode())
    for dim in dims:
        digest.update(dim.write_csv().encode())
    return digest.hexdigest()[:32]


def ingest_partition(
    lake: Lake,
    sources: list[tuple[VendorPlugin, str]],
    bronze_root: Path,
    table: str,
    date: dt.date,
    exchange: str | None,
    *,
    code_version: str,
    dry_run: bool = False,
) -> PartitionReport:
    """Build and write one partition of `table` and its quarantine; all or nothing.

    `exchange` is None for tables that are not partitioned by exchange (their days are UTC).
    With `dry_run` every step runs (discovery, parsing, validation, PIT resolution, quarantine
    decisions) but nothing is written: the report says what a real run would do.
    """
    spec = get_table_spec(table)
    if (exchange is None) == ("exchange" in spec.partition_by):
        raise PartitionInputError(f"{table} is partitioned by {list(spec.partition_by)}; got exchange={exchange!r}")
    dims: list[pl.DataFrame] = []
    timezone = UTC
    phases = None
    if exchange is not None:
        exchange_info = exchange_row(lake, exchange)
        timezone = exchange_info["timezone"][0]
        dims.append(exchange_info)
        if "trading_phase" in spec.names:
            phases = phases_for(load_trading_phases(), exchange_info["calendar"][0])
            dims.append(phases)
    dim_symbol = None
    if "symbol_id" in spec.names:
        if not lake.exists("dim_symbol"):
            raise PartitionInputError("dim_symbol is not materialized yet; materialize the dim_symbol asset first")
        dim_symbol = lake.read("dim_symbol", pl.col("exchange") == exchange)
        dims.append(dim_symbol)
    files, shadowed = choose_source(
        candidate_files(sources, bronze_root, date, exchange, timezone), table, date, exchange
    )
    _refuse_duplicate_files(files)
    values: dict = {"date": date} | ({"exchange": exchange} if exchange is not None else {})
    if not files and _partition_has_rows(lake, table, values):
        raise PartitionInputError(
            f"{table} {date}|{exchange or '-'}: no Bronze files found under {bronze_root} but the partition "
            "holds rows; refusing to empty it (is the Bronze root right?)"
        )
    fingerprints = [FileFingerprint(f.rel_path, f.size, sha256_file(f.path)) for _, f in files]
    fingerprints += _config_fingerprints({plugin for plugin, _ in files})
    # Read lazily, one file at a time: a file's staged frame is freed once it is built.
    staged = ((f, plugin.read_events(f, table)) for plugin, f in files)
    build = build_partition(
        spec, date=date, exchange=exchange, timezone=timezone, staged=staged, dim_symbol=dim_symbol, phases=phases
    )
    del staged
    version = compute_data_version(code_version, table, fingerprints, dims)
    report = PartitionReport(table, date, exchange, timezone, fingerprints, build, version, None, shadowed)
    if dry_run:
        report.dry_run = True
        report.schema_problems = _schema_problems(build, spec)
        return report
    quarantine_values = {"table_name": table, "date": date, "exchange": exchange or NO_EXCHANGE}
    with lake.transaction():
        _, report.delta_version = lake.write_partitions(
            [("quarantine", build.quarantine, quarantine_values), (table, build.silver, values)]
        )
    try:  # the partition has landed: compaction (off unless config/lake.toml says so) must not fail the run
        maybe_compact_after_ingest(lake, table, values)
    except Exception:
        log.exception("%s %s: compaction after ingest failed; the partition is written", table, values)
    return report


def _schema_problems(build: PartitionBuild, spec: TableSpec) -> list[str]:
    """What write_partition's validation would refuse, without writing."""
    problems = []
    for frame, frame_spec in ((build.silver, spec), (build.quarantine, QUARANTINE)):
        try:
            validate_frame(frame, frame_spec)
        except SchemaValidationError as exc:
            problems += [f"{frame_spec.name}: {p}" for p in exc.problems]
    return problems


def _config_fingerprints(plugins: set[VendorPlugin]) -> list[FileFingerprint]:
    """Vendor configuration that shapes the staged rows (the optional `config_files` hook)."""
    paths = sorted({p for plugin in plugins for p in getattr(plugin, "config_files", list)()})
    return [FileFingerprint(f"config:{p.name}", p.stat().st_size, sha256_file(p)) for p in paths]


def _partition_has_rows(lake: Lake, table: str, values: dict) -> bool:
    if not lake.exists(table):
        return False
    where = pl.all_horizontal([pl.col(k) == pl.lit(v) for k, v in values.items()])
    return lake.scan(table).filter(where).select(pl.len()).collect().item() > 0
