"""Trading phase of an event from its exchange-local time of day, as configured data.

config/trading_phases.csv lists, per calendar (the `calendar` column of dim_exchange), the
phases of a trading day as local [start, end) windows (or [start, end] with end_inclusive).
The first matching row wins; a time no row covers is `closed`; a calendar without rows gives
`unknown`. No exchange is named here.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl

from pointline.config import ConfigError, config_dir

CLOSED = "closed"
UNKNOWN = "unknown"
_COLUMNS = ("calendar", "phase", "start", "end", "end_inclusive")
_US_PER_DAY = 86_400_000_000


def load_trading_phases(path: Path | None = None) -> pl.DataFrame:
    """The phase table with `start_us`/`end_us` (microseconds since local midnight), in file order."""
    path = path or config_dir() / "trading_phases.csv"
    try:
        df = pl.read_csv(path, comment_prefix="#", schema_overrides={c: pl.String for c in _COLUMNS})
    except Exception as exc:  # polars raises several types for malformed CSV
        raise ConfigError(f"{path}: cannot read trading phases: {exc}") from exc
    missing = [c for c in _COLUMNS if c not in df.columns]
    if missing:
        raise ConfigError(f"{path}: missing column(s) {missing}")
    rows = []
    for line, row in enumerate(df.select(_COLUMNS).iter_rows(named=True), start=2):
        try:
            start, end = (_time_us(row[k]) for k in ("start", "end"))
        except (TypeError, ValueError):
            raise ConfigError(f"{path}:{line}: start/end must be HH:MM[:SS[.ffffff]]") from None
        inclusive = (row["end_inclusive"] or "false").strip().lower()
        if inclusive not in ("true", "false") or end < start or not row["phase"] or not row["calendar"]:
            raise ConfigError(f"{path}:{line}: need calendar, phase, start <= end and end_inclusive true/false")
        rows.append(
            {
                "calendar": row["calendar"].strip(),
                "phase": row["phase"].strip(),
                "start_us": start,
                "end_us": end + (1 if inclusive == "true" else 0),
            }
        )
    schema = {"calendar": pl.String, "phase": pl.String, "start_us": pl.Int64, "end_us": pl.Int64}
    return pl.DataFrame(rows, schema=schema)


def _time_us(text: str) -> int:
    t = dt.time.fromisoformat(text.strip())
    return ((t.hour * 60 + t.minute) * 60 + t.second) * 1_000_000 + t.microsecond


def phases_for(phases: pl.DataFrame, calendar: str | None) -> pl.DataFrame:
    return phases.filter(pl.col("calendar") == calendar)


def trading_phase_expr(ts_col: str, timezone: str, phases: pl.DataFrame) -> pl.Expr:
    """Phase name of a UTC-microsecond column from the rows of one calendar (see phases_for)."""
    if phases.is_empty():
        return pl.lit(UNKNOWN)
    local = pl.from_epoch(pl.col(ts_col), time_unit="us").dt.replace_time_zone("UTC").dt.convert_time_zone(timezone)
    of_day = local.dt.replace_time_zone(None).cast(pl.Int64) % _US_PER_DAY
    expr = pl.when(pl.lit(False)).then(pl.lit(CLOSED))
    for phase, start, end in phases.select("phase", "start_us", "end_us").iter_rows():
        expr = expr.when((of_day >= start) & (of_day < end)).then(pl.lit(phase))
    return expr.otherwise(pl.lit(CLOSED))
