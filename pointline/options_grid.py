"""options_surface_grid: the options chain sampled on a fixed time grid (no Dagster import).

Semantics (docs/gold-contract.md, docs/join-semantics.md):
- Grid points are the multiples of `step` (config/lake.toml [gold.options_grid]; anchored at the Unix
  epoch, like time bars and klines) inside the exchange-local day [local midnight, next local
  midnight): the partition `date` is the trading date of the grid point.
- At each grid point t every contract (exchange-native `symbol`) gets its last options_chain row with
  ts_local_us < t (strictly before: a row arriving at t is not known at t), among rows of one
  microsecond the last in lineage order (file_id, file_line). The row is copied as stored, with its
  own ts_local_us (staleness = t - ts_local_us) and its lineage.
- A contract is absent at t when it has no row yet, when its row is older than `max_staleness`, or
  when it has expired (expiry_us <= t).
- Carry over midnight: the state at 00:00 comes from the previous trading day. A partition reads the
  day's rows and the *tail* of the previous day's partition (the last row per contract); nothing
  older. So a partition is a pure function of two options_chain partitions, days are independent
  (build them in any order), and no row is ever older than the start of the previous day.
"""

from __future__ import annotations

import datetime as dt
import re
import tomllib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import polars as pl

from pointline.config import ConfigError, config_dir
from pointline.gold import CheckOutcome, GoldCheck, check_stored_schema, sample
from pointline.lake import Lake
from pointline.schemas import OPTIONS_SURFACE_GRID
from pointline.trading_day import day_window_us, trading_date_expr

__all__ = [
    "GRID_CHECKS",
    "GRID_CODE_VERSION",
    "CHAIN_COLUMNS",
    "OptionsGridSettings",
    "build_options_grid",
    "chain_tail",
    "check_options_grid",
    "grid_points",
    "load_options_grid_settings",
    "options_grid_settings",
    "parse_duration_us",
]

# Bump when the sampling logic changes: every partition's data version changes with it.
GRID_CODE_VERSION = "options-grid-1"

_US_PER_DAY = 86_400_000_000
_UNITS_US = {"us": 1, "ms": 1_000, "s": 1_000_000, "m": 60_000_000, "h": 3_600_000_000}
_DURATION = re.compile(r"^([1-9][0-9]*)(us|ms|s|m|h)$")
_ORDER = ["ts_local_us", "file_id", "file_line"]

# options_chain columns the grid copies (everything but date and exchange, which are the partition's)
CHAIN_COLUMNS = [
    c
    for c in OPTIONS_SURFACE_GRID.names
    if c not in ("date", "exchange", "ts_grid_us", "source_date", "source_data_version")
]


def parse_duration_us(text: object, where: str) -> int:
    """`"5m"`, `"1s"`, `"250ms"` -> microseconds; ConfigError otherwise."""
    match = _DURATION.match(str(text).strip()) if isinstance(text, str) else None
    if not match:
        raise ConfigError(f"{where}: {text!r} is not a duration like '1m', '5m', '1s', '500ms' or '1h'")
    return int(match.group(1)) * _UNITS_US[match.group(2)]


@dataclass(frozen=True)
class OptionsGridSettings:
    """The grid: `step` between points and the optional `max_staleness` of a sampled row (text as configured)."""

    step: str
    max_staleness: str | None = None

    @property
    def step_us(self) -> int:
        return parse_duration_us(self.step, "step")

    @property
    def max_staleness_us(self) -> int | None:
        return None if self.max_staleness is None else parse_duration_us(self.max_staleness, "max_staleness")

    def fingerprint(self) -> str:
        """Everything that changes the grid's rows (part of the code version)."""
        return f"step={self.step}:max_staleness={self.max_staleness or ''}"


def parse_options_grid(raw: dict, where: str = "[gold.options_grid]") -> OptionsGridSettings:
    known = {"step", "max_staleness"}
    unknown = sorted(set(raw) - known)
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {unknown}; known: {sorted(known)}")
    if "step" not in raw:
        raise ConfigError(f'{where}: step is required, e.g. step = "5m"')
    step = str(raw["step"])
    step_us = parse_duration_us(raw["step"], f"{where} step")
    if _US_PER_DAY % step_us:
        raise ConfigError(f"{where} step: {step!r} must divide a day (24h), so every day has the same grid")
    staleness = raw.get("max_staleness")
    if staleness is not None:
        parse_duration_us(staleness, f"{where} max_staleness")
        staleness = str(staleness)
    return OptionsGridSettings(step, staleness)


def load_options_grid_settings(path: Path | None = None) -> OptionsGridSettings | None:
    """[gold.options_grid] of config/lake.toml; None when the section is absent (no asset)."""
    path = path or config_dir() / "lake.toml"
    with open(path, "rb") as fh:
        raw = tomllib.load(fh).get("gold", {}).get("options_grid")
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: gold.options_grid must be a table")
    return parse_options_grid(raw, f"{path}: [gold.options_grid]")


@lru_cache(maxsize=8)
def _cached(path: str) -> OptionsGridSettings | None:
    return load_options_grid_settings(Path(path))


def options_grid_settings() -> OptionsGridSettings | None:
    return _cached(str(config_dir() / "lake.toml"))


# ---- building ------------------------------------------------------------------------------
def grid_points(date: dt.date, timezone: str, step_us: int) -> list[int]:
    """Multiples of step_us inside the exchange-local day [local midnight, next local midnight)."""
    start, end = day_window_us(date, timezone)
    first = -(-start // step_us) * step_us
    return list(range(first, end, step_us))


def chain_tail(chain: pl.LazyFrame) -> pl.DataFrame:
    """The last row per contract (symbol) of an options_chain partition: latest ts_local_us, then
    the last in lineage order. Two lazy passes that read only the rows at each contract's last time."""
    last = chain.group_by("symbol").agg(pl.col("ts_local_us").max())
    return (
        chain.join(last, on=["symbol", "ts_local_us"], how="semi")
        .select(CHAIN_COLUMNS)
        .sort("symbol", *_ORDER)
        .group_by("symbol", maintain_order=True)
        .last()
        .select(CHAIN_COLUMNS)
        .collect()
    )


def _rows(chain: pl.DataFrame, tail: pl.DataFrame, date: dt.date) -> pl.DataFrame:
    """The day's rows and the previous day's tail, one per (symbol, microsecond): the last in lineage order."""
    rows = pl.concat(
        [
            tail.select(CHAIN_COLUMNS).with_columns(pl.lit(date - dt.timedelta(days=1)).alias("source_date")),
            chain.select(CHAIN_COLUMNS).with_columns(pl.lit(date).alias("source_date")),
        ]
    )
    return rows.sort("symbol", *_ORDER, maintain_order=True).unique(
        subset=["symbol", "ts_local_us"], keep="last", maintain_order=True
    )


def build_options_grid(
    chain: pl.DataFrame,
    tail: pl.DataFrame,
    settings: OptionsGridSettings,
    *,
    date: dt.date,
    exchange: str,
    timezone: str,
    versions: dict[dt.date, str | None],
) -> pl.DataFrame:
    """options_surface_grid rows of (date, exchange).

    `chain` is the options_chain partition (date, exchange) (at least CHAIN_COLUMNS), `tail` the last
    row per symbol of the previous day's partition (`chain_tail`); `versions` maps those two dates to
    the partitions' data versions (lineage)."""
    rows = _rows(chain, tail, date)
    points = pl.Series("ts_grid_us", grid_points(date, timezone, settings.step_us), dtype=pl.Int64)
    if rows.is_empty() or points.is_empty():
        return OPTIONS_SURFACE_GRID.empty()
    spine = rows.select(pl.col("symbol").unique().sort()).join(points.to_frame(), how="cross").sort("ts_grid_us")
    right = rows.with_columns(pl.col("ts_local_us").alias("_ts")).sort("_ts")
    sampled = spine.join_asof(
        right,
        left_on="ts_grid_us",
        right_on="_ts",
        by="symbol",
        strategy="backward",
        allow_exact_matches=False,  # strictly before the grid point
        check_sortedness=False,
    ).filter(pl.col("file_id").is_not_null() & (pl.col("expiry_us") > pl.col("ts_grid_us")))
    if settings.max_staleness_us is not None:
        sampled = sampled.filter(pl.col("ts_grid_us") - pl.col("ts_local_us") <= settings.max_staleness_us)
    lineage = pl.DataFrame(
        {"source_date": list(versions), "source_data_version": list(versions.values())},
        schema={"source_date": pl.Date, "source_data_version": pl.String},
    )
    out = sampled.join(lineage, on="source_date", how="left").with_columns(
        pl.lit(date).alias("date"), pl.lit(exchange).alias("exchange")
    )
    return (
        out.select(OPTIONS_SURFACE_GRID.names)
        .cast(OPTIONS_SURFACE_GRID.polars_schema)  # type: ignore[arg-type]
        .sort(list(OPTIONS_SURFACE_GRID.sort_by))
    )


# ---- checks of a stored partition ----------------------------------------------------------
GRID_CHECKS: dict[str, GoldCheck] = {
    "schema_conformance": GoldCheck("Stored options_surface_grid schema equals the schema registry."),
    "on_the_grid": GoldCheck(
        "Every ts_grid_us is a multiple of the step inside the partition's exchange-local day; one row per "
        "(symbol, grid point)."
    ),
    "asof_not_from_future": GoldCheck(
        "Every sampled row arrived strictly before its grid point, from this or the previous trading day, "
        "within max_staleness, and the contract had not expired at the grid point."
    ),
    "matches_chain": GoldCheck(
        "Recomputed independently from the stored options_chain rows: every (contract, grid point) that has a "
        "last row before it is present and no other, and each row equals that options_chain row."
    ),
}


def _expected_points(rows: pl.DataFrame, points: np.ndarray, settings: OptionsGridSettings) -> pl.DataFrame:
    """(symbol, ts_grid_us, file_id, file_line) by binary search per contract (not an as-of join)."""
    staleness = settings.max_staleness_us
    out: list[tuple[str, int, int, int]] = []
    for (symbol,), part in rows.sort("symbol", *_ORDER, maintain_order=True).group_by("symbol", maintain_order=True):
        ts = part["ts_local_us"].to_numpy()
        ids, lines, expiry = part["file_id"].to_list(), part["file_line"].to_list(), part["expiry_us"].to_list()
        # the last row with ts < t: one before the first row with ts >= t (ties: the last of them)
        idx = np.searchsorted(ts, points, side="left") - 1
        for t, i in zip(points.tolist(), idx.tolist(), strict=True):
            if i < 0 or expiry[i] <= t or (staleness is not None and t - int(ts[i]) > staleness):
                continue
            out.append((str(symbol), t, ids[i], lines[i]))
    return pl.DataFrame(
        out,
        schema={"symbol": pl.String, "ts_grid_us": pl.Int64, "file_id": pl.Int64, "file_line": pl.Int64},
        orient="row",
    )


def check_options_grid(
    lake: Lake,
    settings: OptionsGridSettings,
    date: dt.date,
    exchange: str,
    timezone: str,
    chain: pl.DataFrame,
    tail: pl.DataFrame,
) -> dict[str, CheckOutcome]:
    """Every GRID_CHECKS check of the stored partition against the options_chain rows it was built from."""
    stored = lake.read_partition("options_surface_grid", {"date": date, "exchange": exchange})
    step = settings.step_us
    start, end = day_window_us(date, timezone)
    off = stored.filter(
        (pl.col("ts_grid_us") % step != 0)
        | (pl.col("ts_grid_us") < start)
        | (pl.col("ts_grid_us") >= end)
        | (trading_date_expr("ts_grid_us", timezone) != pl.col("date"))
    )
    dupes = stored.filter(pl.struct("symbol", "ts_grid_us").is_duplicated())

    prev_start = day_window_us(date - dt.timedelta(days=1), timezone)[0]
    future = stored.filter(
        (pl.col("ts_local_us") >= pl.col("ts_grid_us"))
        | (pl.col("ts_local_us") < prev_start)
        | (pl.col("expiry_us") <= pl.col("ts_grid_us"))
        | ~pl.col("source_date").is_in([date, date - dt.timedelta(days=1)])
        | (
            (pl.col("ts_grid_us") - pl.col("ts_local_us") > settings.max_staleness_us)
            if settings.max_staleness_us is not None
            else pl.lit(False)
        )
    )

    rows = pl.concat([tail.select(CHAIN_COLUMNS), chain.select(CHAIN_COLUMNS)])
    expected = _expected_points(rows, np.asarray(grid_points(date, timezone, step), dtype=np.int64), settings)
    keys = ["symbol", "ts_grid_us", "file_id", "file_line"]
    missing = expected.join(stored.select(keys), on=keys, how="anti")
    extra = stored.select(keys).join(expected, on=keys, how="anti")
    values = [c for c in CHAIN_COLUMNS if c not in ("symbol", "file_id", "file_line")]
    by_lineage = rows.unique(subset=["file_id", "file_line"], keep="last")
    joined = stored.select("symbol", "ts_grid_us", "file_id", "file_line", *values).join(
        by_lineage.select("file_id", "file_line", *values), on=["file_id", "file_line"], how="left", suffix="_chain"
    )
    differ = joined.filter(pl.any_horizontal([pl.col(c).ne_missing(pl.col(f"{c}_chain")) for c in values]))
    contracts = stored["symbol"].n_unique()
    return {
        "schema_conformance": check_stored_schema(lake, OPTIONS_SURFACE_GRID),
        "on_the_grid": CheckOutcome(
            off.is_empty() and dupes.is_empty(),
            f"{off.height} row(s) off the grid or outside the day, {dupes.height} duplicate (symbol, grid point)"
            if off.height or dupes.height
            else f"{stored['ts_grid_us'].n_unique()} grid point(s) of step {settings.step}, one row per contract",
            {"off_grid": off.height, "duplicates": dupes.height, "sample": sample(off.select("symbol", "ts_grid_us"))},
        ),
        "asof_not_from_future": CheckOutcome(
            future.is_empty(),
            f"{future.height} row(s) not strictly before their grid point, too stale, expired or from another day"
            if future.height
            else "every row arrived before its grid point, within the lookback and staleness bound",
            {"bad_rows": future.height, "sample": sample(future.select("symbol", "ts_grid_us", "ts_local_us"))},
        ),
        "matches_chain": CheckOutcome(
            missing.is_empty() and extra.is_empty() and differ.is_empty(),
            f"{missing.height} expected row(s) missing, {extra.height} unexpected, {differ.height} differing from "
            "options_chain"
            if missing.height or extra.height or differ.height
            else f"every row is the last options_chain row before its grid point ({stored.height} rows, "
            f"{contracts} contracts)",
            {
                "rows": stored.height,
                "expected": expected.height,
                "missing": missing.height,
                "unexpected": extra.height,
                "differing": differ.height,
                "sample": sample(pl.concat([missing, extra])),
            },
        ),
    }
