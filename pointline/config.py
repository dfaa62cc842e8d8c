"""Configuration as data: the files under `config/` (or $POINTLINE_CONFIG_DIR).

Exchanges, timezones, asset classes, partition range and quality thresholds live in
data files so that adding an exchange or changing a threshold is an edit, not a release.
"""

from __future__ import annotations

import datetime as dt
import os
import tomllib
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import polars as pl

REPO_ROOT = Path(__file__).resolve().parents[1]


def config_dir() -> Path:
    return Path(os.environ.get("POINTLINE_CONFIG_DIR", REPO_ROOT / "config"))


class ConfigError(ValueError):
    """A configuration file is malformed; the message names the file, row and field."""


@dataclass(frozen=True)
class LakeSettings:
    partition_start: dt.date
    max_quarantine_rate: float
    table_quarantine_rates: dict[str, float]
    max_row_group_size: int
    kline_intervals: tuple[str, ...] = ("1h", "1d")
    # Freshness: hours after which a table's latest materialization counts as late (warn, fail).
    freshness_hours: tuple[float, float] = (26.0, 36.0)
    table_freshness_hours: dict[str, tuple[float, float]] = field(default_factory=dict)

    def freshness(self, table: str) -> tuple[float, float]:
        """(warn, fail) hours for `table`; per-table overrides in config/lake.toml [freshness.tables]."""
        return self.table_freshness_hours.get(table, self.freshness_hours)

    def quarantine_threshold(self, table: str) -> float:
        return self.table_quarantine_rates.get(table, self.max_quarantine_rate)


def load_settings(path: Path | None = None) -> LakeSettings:
    path = path or config_dir() / "lake.toml"
    with open(path, "rb") as fh:
        raw = tomllib.load(fh)
    try:
        quality = raw.get("quality", {})
        return LakeSettings(
            partition_start=dt.date.fromisoformat(raw["partitions"]["start_date"]),
            max_quarantine_rate=float(quality.get("max_quarantine_rate", 0.01)),
            table_quarantine_rates={k: float(v) for k, v in quality.get("tables", {}).items()},
            max_row_group_size=int(raw.get("storage", {}).get("max_row_group_size", 65536)),
            kline_intervals=tuple(raw.get("klines", {}).get("intervals", ["1h", "1d"])),
            freshness_hours=_hours(raw.get("freshness", {})) or (26.0, 36.0),
            table_freshness_hours={t: _hours(v) for t, v in raw.get("freshness", {}).get("tables", {}).items()},
        )
    except (KeyError, ValueError, TypeError) as exc:
        raise ConfigError(f"{path}: {exc!r}") from exc


def _hours(section: dict) -> tuple[float, float] | None:
    """A {warn_after_hours, fail_after_hours} table -> (warn, fail); None when absent."""
    if "fail_after_hours" not in section:
        return None
    fail = float(section["fail_after_hours"])
    return float(section.get("warn_after_hours", fail)), fail


_EXCHANGE_DTYPES = {
    "exchange": pl.String,
    "exchange_id": pl.Int16,
    "asset_class": pl.String,
    "timezone": pl.String,
    "calendar": pl.String,
    "is_active": pl.Boolean,
    "description": pl.String,
}


def load_exchanges(path: Path | None = None) -> pl.DataFrame:
    """Read and check config/exchanges.csv; the rows become dim_exchange."""
    path = path or config_dir() / "exchanges.csv"
    try:
        df = pl.read_csv(path, schema_overrides=_EXCHANGE_DTYPES)
    except Exception as exc:  # polars raises several types for malformed CSV
        raise ConfigError(f"{path}: cannot read exchanges file: {exc}") from exc
    missing = [c for c in _EXCHANGE_DTYPES if c not in df.columns]
    if missing:
        raise ConfigError(f"{path}: missing column(s) {missing}")
    df = df.select(list(_EXCHANGE_DTYPES)).with_columns(
        pl.col("exchange").str.strip_chars().str.to_lowercase(), pl.col("calendar").str.strip_chars()
    )
    for key in ("exchange", "exchange_id"):
        dupes = df.filter(pl.col(key).is_duplicated())[key].unique().to_list()
        if dupes:
            raise ConfigError(f"{path}: duplicate {key} value(s) {dupes}")
    for line, (name, tz) in enumerate(df.select("exchange", "timezone").iter_rows(), start=2):
        try:
            ZoneInfo(tz)
        except (ZoneInfoNotFoundError, ValueError, TypeError):
            raise ConfigError(f"{path}:{line}: exchange {name!r} has unknown timezone {tz!r}") from None
    nulls = [
        c for c in ("exchange", "exchange_id", "asset_class", "timezone", "calendar", "is_active") if df[c].null_count()
    ]
    if nulls:
        raise ConfigError(f"{path}: empty value(s) in required column(s) {nulls}")
    from pointline.calendars import calendar_problem  # imports exchange_calendars only when a name needs it

    for line, (name, code) in enumerate(df.select("exchange", "calendar").iter_rows(), start=2):
        problem = calendar_problem(code)
        if problem:
            raise ConfigError(f"{path}:{line}: exchange {name!r}: {problem}")
    return df.sort("exchange_id")


@lru_cache(maxsize=8)
def _cached_settings(path: str) -> LakeSettings:
    return load_settings(Path(path))


def settings() -> LakeSettings:
    return _cached_settings(str(config_dir() / "lake.toml"))


_ROUTING_COLUMNS = ("table", "exchange", "vendor", "data_type")


def load_routing(path: Path | None = None) -> pl.DataFrame:
    """config/routing.csv: which source wins when several deliver rows for one partition.

    Rows are (table, exchange or `*`, vendor, data_type or `*`), in preference order: the
    first row whose source has files for the partition wins, rows naming the exchange
    before `*` rows.
    """
    path = path or config_dir() / "routing.csv"
    if not path.exists():
        return pl.DataFrame(schema=dict.fromkeys(_ROUTING_COLUMNS, pl.String))
    try:
        df = pl.read_csv(path, infer_schema=False, comment_prefix="#")
    except Exception as exc:  # polars raises several types for malformed CSV
        raise ConfigError(f"{path}: cannot read routing file: {exc}") from exc
    missing = [c for c in _ROUTING_COLUMNS if c not in df.columns]
    if missing:
        raise ConfigError(f"{path}: missing column(s) {missing}; expected {list(_ROUTING_COLUMNS)}")
    df = df.select(pl.col(_ROUTING_COLUMNS).str.strip_chars())
    empty = df.filter(pl.any_horizontal(pl.col(_ROUTING_COLUMNS).is_null() | (pl.col(_ROUTING_COLUMNS) == "")))
    if empty.height:
        raise ConfigError(f"{path}: {empty.height} row(s) with an empty field, e.g. {empty.row(0)}")
    return df


# ---- maintenance: compaction and retention ([maintenance] of config/lake.toml) --------------
_MAINTENANCE_KEYS = {
    "compact_after_ingest",
    "min_files",
    "vacuum_cron",
    "vacuum_retention_hours",
    "vacuum_schedule_dry_run",
    "lake_stats_cron",
    "tables",
}
_MAINTENANCE_TABLE_KEYS = {"compact_after_ingest", "min_files"}


@dataclass(frozen=True)
class MaintenanceSettings:
    """How the lake is kept tidy. Compaction after ingest is off unless the file turns it on, lake-wide
    or per table, because it rewrites a partition the ingest has just written (extra I/O per run)."""

    compact_after_ingest: bool = False
    min_files: int = 8
    table_compact_after_ingest: dict[str, bool] = field(default_factory=dict)
    table_min_files: dict[str, int] = field(default_factory=dict)
    vacuum_cron: str = "0 3 * * 0"
    vacuum_retention_hours: int = 168
    vacuum_schedule_dry_run: bool = False
    lake_stats_cron: str = "30 0 * * *"

    def compacts_after_ingest(self, table: str) -> bool:
        return self.table_compact_after_ingest.get(table, self.compact_after_ingest)

    def min_files_for(self, table: str) -> int:
        return self.table_min_files.get(table, self.min_files)


def _typed(path: Path, where: str, key: str, value: object, kind: type, minimum: int = 0) -> object:
    """`value` when it has the TOML type `kind` (no coercion: `"false"` is not a boolean)."""
    if (kind is int and isinstance(value, bool)) or not isinstance(value, kind):
        raise ConfigError(f"{path}: [{where}] {key} must be a {kind.__name__}, got {value!r}")
    if kind is int and value < minimum:  # type: ignore[operator]
        raise ConfigError(f"{path}: [{where}] {key} must be at least {minimum}, got {value!r}")
    return value


def _cron(path: Path, key: str, value: object) -> str:
    text = _typed(path, "maintenance", key, value, str)
    if len(str(text).split()) != 5:
        raise ConfigError(f"{path}: [maintenance] {key} must be a 5-field cron expression, got {text!r}")
    return str(text)


def load_maintenance_settings(path: Path | None = None) -> MaintenanceSettings:
    """Read [maintenance] and [maintenance.tables.<table>] from lake.toml; defaults when absent.

    Unknown keys and table names are errors: a misspelt override would otherwise be ignored silently.
    """
    from pointline.schemas import get_table_spec  # the registry, to reject unknown table names

    path = path or config_dir() / "lake.toml"
    with open(path, "rb") as fh:
        raw = tomllib.load(fh).get("maintenance", {})
    unknown = sorted(set(raw) - _MAINTENANCE_KEYS)
    if unknown:
        raise ConfigError(f"{path}: [maintenance] unknown key(s) {unknown}; known: {sorted(_MAINTENANCE_KEYS)}")
    defaults = MaintenanceSettings()
    compact: dict[str, bool] = {}
    min_files: dict[str, int] = {}
    for table, overrides in raw.get("tables", {}).items():
        where = f"maintenance.tables.{table}"
        try:
            get_table_spec(table)
        except KeyError:
            raise ConfigError(f"{path}: [{where}] names no table of the registry") from None
        bad = sorted(set(overrides) - _MAINTENANCE_TABLE_KEYS)
        if bad:
            raise ConfigError(f"{path}: [{where}] unknown key(s) {bad}; known: {sorted(_MAINTENANCE_TABLE_KEYS)}")
        if "compact_after_ingest" in overrides:
            compact[table] = _typed(path, where, "compact_after_ingest", overrides["compact_after_ingest"], bool)
        if "min_files" in overrides:
            min_files[table] = _typed(path, where, "min_files", overrides["min_files"], int, 1)

    def get(key: str, kind: type, minimum: int = 0) -> object:
        return _typed(path, "maintenance", key, raw[key], kind, minimum) if key in raw else getattr(defaults, key)

    return MaintenanceSettings(
        compact_after_ingest=get("compact_after_ingest", bool),  # type: ignore[arg-type]
        min_files=get("min_files", int, 1),  # type: ignore[arg-type]
        table_compact_after_ingest=compact,
        table_min_files=min_files,
        vacuum_cron=_cron(path, "vacuum_cron", raw.get("vacuum_cron", defaults.vacuum_cron)),
        vacuum_retention_hours=get("vacuum_retention_hours", int),  # type: ignore[arg-type]
        vacuum_schedule_dry_run=get("vacuum_schedule_dry_run", bool),  # type: ignore[arg-type]
        lake_stats_cron=_cron(path, "lake_stats_cron", raw.get("lake_stats_cron", defaults.lake_stats_cron)),
    )


@lru_cache(maxsize=8)
def _cached_maintenance(path: str) -> MaintenanceSettings:
    return load_maintenance_settings(Path(path))


def maintenance_settings() -> MaintenanceSettings:
    return _cached_maintenance(str(config_dir() / "lake.toml"))


def default_lake_root() -> str:
    """$POINTLINE_LAKE_ROOT, else ./lake under the repository (what the lake resource falls back to)."""
    return os.environ.get("POINTLINE_LAKE_ROOT") or str(REPO_ROOT / "lake")


def default_bronze_root() -> Path:
    """$POINTLINE_BRONZE_ROOT, else ./bronze under the repository (what the lake resource falls back to)."""
    return Path(os.environ.get("POINTLINE_BRONZE_ROOT") or REPO_ROOT / "bronze")
